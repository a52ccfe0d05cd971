/*
 * tools/cli.h — the run-model commands and their shared helpers.
 *
 * Each command lives in tools/cli_<command>.c and returns the process exit
 * status: 0 success, 1 error (one line on stderr naming the problem),
 * 2 usage error. Only tools/ may exit or print. The commands use the
 * library through include/hubrt.h alone.
 */
#ifndef TOOLS_CLI_H
#define TOOLS_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "include/hubrt.h"

enum { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2 };

int cli_generate(int argc, char **argv);
int cli_embed(int argc, char **argv);
int cli_fill_mask(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_detokenize(int argc, char **argv);
int cli_logits(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_chat(int argc, char **argv);
int cli_template(int argc, char **argv);
int cli_serve(int argc, char **argv);

/* "run-model <cmd>: message" on stderr; returns CLI_ERROR. */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Usage error: the message, then "see run-model <cmd> --help"; returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Parses "1,2,3" (the value of option opt) into a malloc'd array (*n ids).
 * Returns 0, or -1 with a message on stderr naming the option and bad item.
 */
int cli_parse_ids(const char *cmd, const char *opt, const char *text, int32_t **ids, int *n);
/* Parses a whole-string int/float option value; 0 or -1 (message printed). */
int cli_parse_int(const char *cmd, const char *opt, const char *text, long min, long max, long *out);
int cli_parse_float(const char *cmd, const char *opt, const char *text, double *out);

/* ---- shared by generate / embed / fill-mask / bench (tools/cli_common.c) ---- */
/*
 * Loads a model like hubrt_model_load(); when loading takes more than a
 * second (and quiet is 0) a progress line goes to stderr, then the time it
 * took. On failure prints "run-model <cmd>: <hubrt_last_error()>" and
 * returns NULL. *seconds (may be NULL) receives the load time.
 */
hubrt_model *cli_load_model(const char *cmd, const char *path, const hubrt_load_params *lp, int quiet,
                            double *seconds);
/* Parses "q8" / "q4" / "none" for --quant; 0 or -1 (message printed). */
int cli_parse_quant(const char *cmd, const char *text, hubrt_quant *out);
/* Writes s as a JSON string literal (quotes included); invalid UTF-8 becomes U+FFFD. */
void cli_json_string(FILE *f, const char *s);
/* Writes a float as a JSON number (%.9g: round-trips float32; NaN/inf become null). */
void cli_json_float(FILE *f, double v);
/*
 * hubrt_tokenize into *ids, a malloc'd buffer of *cap ids (NULL / 0 to
 * start) grown as needed, so one buffer serves many texts. Returns the
 * number of ids or a negative status (HUBRT_ERR_NOMEM when growing fails,
 * else hubrt_last_error() has the message); the caller frees *ids.
 */
int cli_tokenize_grow(const hubrt_model *m, const char *text, int add_special, int32_t **ids, int *cap);
/* Tokenizes text into a malloc'd array (*n ids); prints the error and returns -1 on failure. */
int cli_tokenize_text(const char *cmd, const hubrt_model *m, const char *text, int add_special,
                      int32_t **ids, int *n);
/* A whole file ("-" = stdin) as a malloc'd NUL-terminated string; NULL with the error printed. */
char *cli_read_text(const char *cmd, const char *path);
/* The session's per-op profile table (hubrt_session_profile_report) on stderr. */
void cli_print_profile(const hubrt_session *s);
/* Seconds on the monotonic clock. */
double cli_now(void);

/* ---- sampling options of generate and chat (tools/cli_sampling.c) ---- */
typedef struct cli_sampling {
    long n_predict, top_k, repeat_last_n;   /* -1 / -1 / -2 = not given */
    double temp, top_p, min_p, repeat_penalty; /* -1 = not given */
    long long seed;                         /* -1 = random */
    const char *stop;
    int ignore_eos;
} cli_sampling;
/* Every option unset. */
void cli_sampling_init(cli_sampling *o);
/* The options' --help lines. */
void cli_sampling_usage(FILE *f);
/*
 * When argv[*i] is a sampling option, consumes it and its value (advancing
 * *i) and returns 1; 0 when it is not one; -1 on a bad value (usage error
 * printed).
 */
int cli_sampling_parse(const char *cmd, int argc, char **argv, int *i, cli_sampling *o);
/* The model's defaults (generation_config.json) overridden by the options
 * into *sp. 0, or -1 with the error printed. */
int cli_sampling_params(const char *cmd, const hubrt_model *m, const cli_sampling *o, hubrt_sample_params *sp);
/* The settings on stderr (--verbose). */
void cli_sampling_print(const hubrt_sample_params *sp);

/* ---- chat templates (tools/cli_chat.c) ---- */
/*
 * The model's chat template applied to messages_json (a JSON array) with
 * add_generation_prompt, as a malloc'd string; NULL with the error printed.
 */
char *cli_chat_render(const char *cmd, const hubrt_model *m, const char *messages_json, int add_generation_prompt);
/* The same for one user message (after a system message when system is not NULL), with the generation prompt. */
char *cli_chat_prompt(const char *cmd, const hubrt_model *m, const char *system, const char *user);

/* Appends s[0..n) and a NUL to the growing string *buf (*len bytes of *cap); 0, or -1 when out of memory. */
int cli_text_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n);

#endif
