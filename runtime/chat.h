/*
 * runtime/chat.h — a model's chat templates and special-token variables,
 * read and compiled once by hubrt_model_load (runtime/chat_config.c) for
 * hubrt_chat_apply (runtime/chat.c). Internal.
 *
 * Where the template comes from, first found wins:
 *   1. hubrt_load_params.chat_template_file (run-model --chat-template FILE)
 *   2. DIR/chat_template.jinja (transformers lets it clobber the config's)
 *   3. DIR/tokenizer_config.json "chat_template": a string, or a list of
 *      {"name", "template"} (named templates: "default", "tool_use", ...)
 *   4. DIR/chat_template.json "chat_template" (a processor's file), same forms
 * The variables bos_token, eos_token, unk_token, pad_token, sep_token,
 * cls_token and mask_token come from tokenizer_config.json (a string or an
 * AddedToken object {"content": ...}); a legacy config without
 * added_tokens_decoder takes them from special_tokens_map.json, as
 * transformers does.
 *
 * A problem in these files does not fail the load (chat is one use of a
 * model among several): it is kept and reported by hubrt_chat_apply.
 */
#ifndef RUNTIME_CHAT_H
#define RUNTIME_CHAT_H

#include <limits.h>
#include <stdint.h>

#include "chat/template.h"

/* One named template, compiled at load. */
typedef struct rt_chat_template {
    char *name;                 /* "default" for a single template */
    ct_template *compiled;      /* NULL when it failed to compile */
    int status;                 /* its compile status (0 = compiled) */
    char *error;                /* its compile error, naming the file */
} rt_chat_template;

enum { RT_CHAT_N_TOKENS = 7 };

typedef struct rt_chat_config {
    char source[PATH_MAX + 64];          /* where the templates came from (messages name it) */
    rt_chat_template *templates;
    int n_templates;
    int status;                          /* a file that failed to read or parse (0 = none) */
    char *error;                         /* its message */
    char *tokens[RT_CHAT_N_TOKENS];      /* special-token strings, NULL when unset */
    int clock_pinned;                    /* HUBRT_NOW at load */
    int64_t now;
    int now_status;                      /* HUBRT_NOW set but malformed */
    char *now_error;
} rt_chat_config;

/* The variable names of rt_chat_config.tokens, in order. */
extern const char *const rt_chat_token_names[RT_CHAT_N_TOKENS];

/*
 * Reads dir's chat templates (or override_file's, when not NULL) and
 * special tokens into *c. Returns 0, or a negative status only when the
 * override file cannot be read (an explicit argument); every other problem
 * is kept in *c for hubrt_chat_apply.
 */
int rt_chat_config_load(const char *dir, const char *override_file, rt_chat_config *c);
void rt_chat_config_free(rt_chat_config *c);

/*
 * HUBRT_NOW=YYYY-MM-DDTHH:MM:SS from the environment into *opt's clock:
 * 0 (unset leaves the clock alone), or HUBRT_ERR_INVALID_ARG naming the
 * value.
 */
int rt_chat_clock_from_env(ct_options *opt);

#endif
