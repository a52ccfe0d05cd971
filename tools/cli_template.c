/*
 * tools/cli_template.c — `run-model template`: renders one conversation
 * through a chat template and prints exactly the text.
 *
 * The conversation is a JSON object in the format of the conformance cases
 * (../shared/chat_templates/cases.jsonl): "messages", optional "tools",
 * "add_generation_prompt" and "vars" (extra variables); other members are
 * ignored. With --template FILE the template sees messages, tools (when
 * present), add_generation_prompt and every member of vars; with -m DIR it
 * goes through hubrt_chat_apply (the model's template and special tokens,
 * vars on top). Members are passed on as their JSON text, so numbers keep
 * their spelling (1.0 stays a float).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "tools/cli.h"

static const char *CMD = "template";

static void usage(FILE *f)
{
    fprintf(f,
        "usage: run-model template (--template FILE.jinja | -m DIR) --case CASE.json\n"
        "\n"
        "Renders one conversation through a chat template and prints exactly the rendered\n"
        "text (nothing added). CASE.json is one JSON object as in the conformance cases:\n"
        "{\"messages\": [...], \"tools\": [...], \"add_generation_prompt\": true,\n"
        " \"vars\": {\"bos_token\": \"<s>\", \"enable_thinking\": false}} (tools and vars optional).\n"
        "\n"
        "      --template FILE    the Jinja template to render\n"
        "  -m, --model DIR        use the model's chat template and special tokens instead\n"
        "      --chat-template F  with -m: the template in file F instead of the model's\n"
        "      --case FILE        the conversation ('-' = stdin)\n"
        "  -h, --help             this help\n"
        "\n"
        "HUBRT_NOW=YYYY-MM-DDTHH:MM:SS in the environment pins strftime_now's clock.\n"
        "Exit status: 0 success, 1 error (a template error is one line on stderr; for\n"
        "raise_exception, the template's own message), 2 usage error.\n");
}

/* ---- the raw JSON text of an object's members ------------------------------ */

typedef struct span {
    const char *p;
    size_t n;
} span;

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

/* The end of the JSON value at p (the text is valid JSON). */
static const char *skip_value(const char *p)
{
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++)
            if (*p == '\\' && p[1]) p++;
        return *p ? p + 1 : p;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (*p) {
            if (*p == '"') {
                p = skip_value(p);
                continue;
            }
            if (*p == '{' || *p == '[') depth++;
            else if (*p == '}' || *p == ']') depth--;
            p++;
            if (depth == 0) break;
        }
        return p;
    }
    while (*p && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') p++;
    return p;
}

/* The text of member key of the JSON object at obj (valid JSON), or {NULL, 0}. */
static span member(const char *obj, const char *key)
{
    span none = {NULL, 0};
    const char *p = skip_ws(obj);
    if (*p != '{') return none;
    p = skip_ws(p + 1);
    size_t klen = strlen(key);
    while (*p == '"') {
        const char *k = p + 1, *kend = skip_value(p);
        p = skip_ws(kend);
        if (*p != ':') return none;
        const char *v = skip_ws(p + 1), *vend = skip_value(v);
        if ((size_t)(kend - 1 - k) == klen && !memcmp(k, key, klen)) return (span){v, (size_t)(vend - v)};
        p = skip_ws(vend);
        if (*p == ',') p = skip_ws(p + 1);
    }
    return none;
}

/* A malloc'd NUL-terminated copy of a span. */
static char *span_dup(span s)
{
    char *d = malloc(s.n + 1);
    if (d) {
        memcpy(d, s.p, s.n);
        d[s.n] = 0;
    }
    return d;
}

/* The template's context: {"messages": .., "tools": .., "add_generation_prompt": .., vars' members}. */
static char *build_context(const char *case_text, int add_generation_prompt)
{
    span msgs = member(case_text, "messages"), tools = member(case_text, "tools"), vars = member(case_text, "vars");
    size_t cap = msgs.n + tools.n + vars.n + 128, len = 0;
    char *ctx = malloc(cap);
    if (!ctx) return NULL;
    len += (size_t)snprintf(ctx + len, cap - len, "{\"add_generation_prompt\": %s",
                            add_generation_prompt ? "true" : "false");
    if (msgs.p) len += (size_t)snprintf(ctx + len, cap - len, ", \"messages\": %.*s", (int)msgs.n, msgs.p);
    if (tools.p) len += (size_t)snprintf(ctx + len, cap - len, ", \"tools\": %.*s", (int)tools.n, tools.p);
    if (vars.p) {
        /* vars' members, without its braces */
        const char *in = skip_ws(vars.p + 1), *end = vars.p + vars.n - 1;
        while (end > in && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r')) end--;
        if (end > in) len += (size_t)snprintf(ctx + len, cap - len, ", %.*s", (int)(end - in), in);
    }
    snprintf(ctx + len, cap - len, "}");
    return ctx;
}

/* The error of the last call as one line (a raise_exception message may hold newlines). */
static int template_error(void)
{
    char *msg = strdup(hubrt_last_error());
    if (msg)
        for (char *p = msg; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
    cli_error(CMD, "%s", msg ? msg : hubrt_last_error());
    free(msg);
    return CLI_ERROR;
}

int cli_template(int argc, char **argv)
{
    const char *template_path = NULL, *model_path = NULL, *case_path = NULL, *chat_template = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define NEED_VALUE() \
        do { if (i + 1 >= argc) return cli_usage(CMD, "%s needs a value", a); } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return CLI_OK; }
        else if (!strcmp(a, "--template")) { NEED_VALUE(); template_path = argv[++i]; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { NEED_VALUE(); model_path = argv[++i]; }
        else if (!strcmp(a, "--chat-template")) { NEED_VALUE(); chat_template = argv[++i]; }
        else if (!strcmp(a, "--case")) { NEED_VALUE(); case_path = argv[++i]; }
        else if (a[0] == '-' && a[1]) return cli_usage(CMD, "unknown option '%s'", a);
        else return cli_usage(CMD, "unexpected argument '%s'", a);
#undef NEED_VALUE
    }
    if (!template_path == !model_path) return cli_usage(CMD, "give one of --template FILE and -m DIR");
    if (chat_template && !model_path) return cli_usage(CMD, "--chat-template goes with -m");
    if (!case_path) return cli_usage(CMD, "--case FILE is required");

    char *case_text = cli_read_text(CMD, case_path);
    if (!case_text) return CLI_ERROR;
    int rc = CLI_ERROR;
    char *source = NULL, *context = NULL, *text = NULL, *msgs = NULL, *tools = NULL, *vars = NULL;
    hubrt_model *m = NULL;
    cJSON *c = cJSON_Parse(case_text);
    if (!cJSON_IsObject(c)) {
        cli_error(CMD, "%s: not a JSON object", case_path);
        goto done;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, "messages");
    if (v && !cJSON_IsArray(v)) {
        cli_error(CMD, "%s: \"messages\" must be an array", case_path);
        goto done;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(c, "tools")) && !cJSON_IsArray(v) && !cJSON_IsNull(v)) {
        cli_error(CMD, "%s: \"tools\" must be an array", case_path);
        goto done;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(c, "vars")) && !cJSON_IsObject(v)) {
        cli_error(CMD, "%s: \"vars\" must be an object", case_path);
        goto done;
    }
    int add_gen = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "add_generation_prompt"));

    int len = 0;
    size_t cap = 65536;
    if (template_path) {
        if (!(source = cli_read_text(CMD, template_path))) goto done;
        if (!(context = build_context(case_text, add_gen))) {
            cli_error(CMD, "out of memory");
            goto done;
        }
        for (;;) {
            if (!(text = malloc(cap))) break;
            len = hubrt_template_render(source, strlen(source), context, text, cap);
            if (len < 0 || (size_t)len < cap) break;
            free(text);
            text = NULL;
            cap = (size_t)len + 1;
        }
    } else {
        hubrt_load_params lp = hubrt_load_default_params();
        lp.tokenizer_only = 1; /* the template needs no weights */
        lp.chat_template_file = chat_template;
        if (!(m = cli_load_model(CMD, model_path, &lp, 1, NULL))) goto done;
        span ms = member(case_text, "messages"), ts = member(case_text, "tools"), vs = member(case_text, "vars");
        msgs = ms.p ? span_dup(ms) : strdup("[]");
        tools = ts.p && strncmp(ts.p, "null", 4) ? span_dup(ts) : NULL;
        vars = vs.p ? span_dup(vs) : NULL;
        if (!msgs || (ts.p && strncmp(ts.p, "null", 4) && !tools) || (vs.p && !vars)) {
            cli_error(CMD, "out of memory");
            goto done;
        }
        hubrt_chat_params cp = {msgs, tools, vars, add_gen};
        for (;;) {
            if (!(text = malloc(cap))) break;
            len = hubrt_chat_apply(m, &cp, text, cap);
            if (len < 0 || (size_t)len < cap) break;
            free(text);
            text = NULL;
            cap = (size_t)len + 1;
        }
    }
    if (!text) {
        cli_error(CMD, "out of memory");
        goto done;
    }
    if (len < 0) {
        template_error();
        goto done;
    }
    if (fwrite(text, 1, (size_t)len, stdout) != (size_t)len || fflush(stdout) != 0) {
        cli_error(CMD, "writing the output failed");
        goto done;
    }
    rc = CLI_OK;
done:
    cJSON_Delete(c);
    hubrt_model_free(m);
    free(case_text);
    free(source);
    free(context);
    free(text);
    free(msgs);
    free(tools);
    free(vars);
    return rc;
}
