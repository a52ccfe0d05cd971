/*
 * chat/template.h — chat templates: a Jinja engine that renders a model's
 * `chat_template` exactly as transformers' apply_chat_template does
 * (jinja2 3.1 in an ImmutableSandboxedEnvironment with trim_blocks,
 * lstrip_blocks and the loopcontrols extension; a `tojson` filter equal to
 * Python's json.dumps(ensure_ascii=False, ...); the globals raise_exception()
 * and strftime_now()).
 *
 *     ct_template *t;
 *     if (ct_compile(src, len, &t) != 0) ... hubrt_last_error() ...
 *     ct_context *cx = ct_context_new();
 *     ct_context_set_json(cx, "messages", messages_json, strlen(messages_json));
 *     ct_context_set_bool(cx, "add_generation_prompt", 1);
 *     ct_context_set_string(cx, "bos_token", "<s>", 3);
 *     char *text; size_t n;
 *     if (ct_render(t, cx, NULL, &text, &n) == 0) { ... free(text); }
 *
 * Templates are untrusted input: the engine reads no file, environment or
 * clock (unless asked for the time by strftime_now) and stops with a clear
 * error at its limits (output size, loop iterations and calls, recursion
 * depth, work). Every function returns 0 or a negative hubrt_status with the
 * message set for hubrt_last_error():
 *   HUBRT_ERR_INVALID_ARG  the template called raise_exception(msg): the
 *                          message is exactly msg (e.g. "Conversation roles
 *                          must alternate user/assistant/...")
 *   HUBRT_ERR_FORMAT       a template syntax error, or an error evaluating it
 *                          (an undefined value used, a type error), with the
 *                          template line; or context JSON that does not parse
 *   HUBRT_ERR_RANGE        a limit of ct_options was reached
 *   HUBRT_ERR_INVALID_UTF8 a template or string variable that is not UTF-8
 *   HUBRT_ERR_UNSUPPORTED  a jinja2 feature chat templates have no use for
 *                          (the filters pprint, random, urlize, ...)
 *   HUBRT_ERR_NOMEM        an allocation failed
 * A compiled template is read-only: one may be rendered from several threads
 * at once, each with its own context (a context's values are shared with the
 * render using them, so one context serves one render at a time).
 * Depends on hf/error.h (the messages) and utf8proc (case mapping).
 */
#ifndef CHAT_TEMPLATE_H
#define CHAT_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

/* Limits and clock of one render. Zero fields take the defaults. */
typedef struct ct_options {
    size_t max_output;   /* bytes of rendered text, and of any one string value (default 64 MiB) */
    uint64_t max_steps;  /* loop iterations + calls (default 10,000,000) */
    int max_depth;       /* nesting of macro calls (default 200) */
    uint64_t max_work;   /* work: bytes of strings built + 16 per list item built or scanned (default 4 GiB) */
    int clock_pinned;    /* nonzero: strftime_now() formats `now` instead of the current local time */
    int64_t now;         /* seconds since 1970-01-01, read as a UTC wall-clock time */
} ct_options;

/* "YYYY-MM-DDTHH:MM:SS" (or a space for the T) as ct_options.now; 0 or
 * HUBRT_ERR_INVALID_ARG. For pinning the clock, e.g. from HUBRT_NOW. */
int ct_time_from_iso(const char *text, int64_t *now);

typedef struct ct_template ct_template;
typedef struct ct_context ct_context;

/* Parses a template (UTF-8; "\r\n" and "\r" read as "\n", one trailing newline
 * dropped, as jinja2 does). */
int ct_compile(const char *source, size_t len, ct_template **out);
void ct_template_free(ct_template *t);

/* The variables a template sees (besides the globals range, dict, namespace,
 * raise_exception, strftime_now, ...). Setting a name again replaces it. */
ct_context *ct_context_new(void);
void ct_context_free(ct_context *cx);
/* `json` is one JSON value (object, array, string, number, ...): integers and
 * floats stay distinct as in Python (1 prints "1", 1.0 prints "1.0"). */
int ct_context_set_json(ct_context *cx, const char *name, const char *json, size_t len);
/* Every member of a JSON object becomes a variable. */
int ct_context_set_object_json(ct_context *cx, const char *json, size_t len);
int ct_context_set_string(ct_context *cx, const char *name, const char *s, size_t len);
int ct_context_set_bool(ct_context *cx, const char *name, int value);

/* Renders into a malloc'd NUL-terminated string (*out_len excludes the NUL;
 * the text may hold NULs only if the data did). opt may be NULL. */
int ct_render(const ct_template *t, const ct_context *cx, const ct_options *opt,
              char **out, size_t *out_len);
/* ct_compile + ct_render + ct_template_free in one call. */
int ct_render_source(const char *source, size_t len, const ct_context *cx,
                     const ct_options *opt, char **out, size_t *out_len);

#endif
