/*
 * tools/serve_routes.c — the endpoints of `run-model serve`, in OpenAI's
 * request and response shapes: request fields are checked (a wrong type or
 * range is a 400 naming the field), prompts tokenized or rendered through
 * the chat template, the work queued on the engine, and the results written
 * as JSON or as server-sent events.
 *
 * Unknown request fields are ignored (clients send many); known fields with
 * the wrong type, and features hubrt does not have (n > 1, logprobs), are
 * refused rather than ignored.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <cJSON.h>

#include "tools/serve.h"

#define WAIT_MS 50 /* how often a waiting request checks that its client is still there */
#define MAX_EMBED_INPUTS 2048

/* ---- replies --------------------------------------------------------------- */

static const char *error_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 500: return "server_error";
    case 503: return "server_error";
    default: return "invalid_request_error";
    }
}

static void reply_json(serve_reply *out, int status, cJSON *root)
{
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) {
        out->status = 503;
        out->body = strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"code\":null}}");
        out->len = out->body ? strlen(out->body) : 0;
        out->content_type = "application/json";
        return;
    }
    out->status = status;
    out->body = text;
    out->len = strlen(text);
    out->content_type = "application/json";
}

/* An error object {"message", "type", "code"} for msg (cleaned to valid UTF-8). */
static cJSON *error_object(int status, const char *code, const char *msg)
{
    cJSON *e = cJSON_CreateObject();
    char *clean = utf8_clean(msg, strlen(msg));
    cJSON_AddStringToObject(e, "message", clean ? clean : "error");
    free(clean);
    cJSON_AddStringToObject(e, "type", error_type(status));
    if (code) cJSON_AddStringToObject(e, "code", code);
    else cJSON_AddNullToObject(e, "code");
    return e;
}

void route_error(serve_reply *out, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "error", error_object(status, code, msg));
    reply_json(out, status, root);
}

/* A string field added as valid UTF-8 (the text is cleaned first). */
static void add_text(cJSON *obj, const char *name, const char *s, size_t n)
{
    char *clean = utf8_clean(s ? s : "", s ? n : 0);
    cJSON_AddStringToObject(obj, name, clean ? clean : "");
    free(clean);
}

/* ---- request fields ---------------------------------------------------------- */

/* Absent or null: 0. Present: 1. Wrong type or range: -1 with the 400 in out. */
static int field_number(const cJSON *root, const char *name, double lo, double hi, double *v, serve_reply *out)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!f || cJSON_IsNull(f)) return 0;
    if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble) || f->valuedouble < lo || f->valuedouble > hi) {
        route_error(out, 400, "invalid_value", "'%s' must be a number in [%g, %g]", name, lo, hi);
        return -1;
    }
    *v = f->valuedouble;
    return 1;
}

static int field_int(const cJSON *root, const char *name, double lo, double hi, long long *v, serve_reply *out)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!f || cJSON_IsNull(f)) return 0;
    if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble) || f->valuedouble != floor(f->valuedouble) ||
        f->valuedouble < lo || f->valuedouble > hi) {
        route_error(out, 400, "invalid_value", "'%s' must be an integer in [%.0f, %.0f]", name, lo, hi);
        return -1;
    }
    *v = (long long)f->valuedouble;
    return 1;
}

static int field_bool(const cJSON *root, const char *name, int *v, serve_reply *out)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!f || cJSON_IsNull(f)) return 0;
    if (!cJSON_IsBool(f)) {
        route_error(out, 400, "invalid_type", "'%s' must be a boolean", name);
        return -1;
    }
    *v = cJSON_IsTrue(f);
    return 1;
}

static int field_string(const cJSON *root, const char *name, const char **v, serve_reply *out)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!f || cJSON_IsNull(f)) return 0;
    if (!cJSON_IsString(f)) {
        route_error(out, 400, "invalid_type", "'%s' must be a string", name);
        return -1;
    }
    *v = f->valuestring;
    return 1;
}

/* Parses the body as a JSON object; NULL with the 400 in out. */
static cJSON *parse_body(const char *body, size_t len, serve_reply *out)
{
    if (len == 0) {
        route_error(out, 400, "invalid_json", "the request body is empty; expected a JSON object");
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        route_error(out, 400, "invalid_json", "the request body is not valid JSON (near byte %zu)", at);
        return NULL;
    }
    while (end && (size_t)(end - body) < len && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t')) end++;
    if (end && (size_t)(end - body) < len) {
        cJSON_Delete(root);
        route_error(out, 400, "invalid_json", "the request body has data after the JSON value (byte %zu)",
                    (size_t)(end - body));
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        route_error(out, 400, "invalid_json", "the request body must be a JSON object");
        return NULL;
    }
    return root;
}

/* The "model" field: absent or the served id; else 404 (or 400 for a wrong type). */
static int check_model(serve_server *s, const cJSON *root, serve_reply *out)
{
    const char *m = NULL;
    int rc = field_string(root, "model", &m, out);
    if (rc < 0) return -1;
    if (rc && strcmp(m, s->model_id)) {
        char *clean = utf8_clean(m, strlen(m) > 200 ? 200 : strlen(m));
        route_error(out, 404, "model_not_found", "the model '%s' does not exist; this server serves '%s'",
                    clean ? clean : "?", s->model_id);
        free(clean);
        return -1;
    }
    return 0;
}

/* Tokenizes text into a malloc'd array; the count, or -1 with the 400 in out. */
static int tokenize_text(serve_server *s, const char *text, int add_special, int32_t **ids, serve_reply *out)
{
    int cap = 256;
    *ids = NULL;
    for (;;) {
        int32_t *g = realloc(*ids, (size_t)cap * sizeof *g);
        if (!g) {
            free(*ids);
            *ids = NULL;
            route_error(out, 503, "out_of_memory", "out of memory tokenizing the text");
            return -1;
        }
        *ids = g;
        int n = hubrt_tokenize(s->model, text, add_special, *ids, cap);
        if (n < 0) {
            free(*ids);
            *ids = NULL;
            route_error(out, 400, n == HUBRT_ERR_INVALID_UTF8 ? "invalid_utf8" : "tokenize_failed", "%s",
                        hubrt_last_error());
            return -1;
        }
        if (n <= cap) return n;
        cap = n;
    }
}

/* A JSON array of token ids into a malloc'd array; the count, or -1 with the 400 in out. */
static int parse_ids(serve_server *s, const cJSON *arr, const char *what, int32_t **ids, serve_reply *out)
{
    int n = cJSON_GetArraySize(arr);
    *ids = malloc((size_t)(n ? n : 1) * sizeof **ids);
    if (!*ids) {
        route_error(out, 503, "out_of_memory", "out of memory");
        return -1;
    }
    int vocab = s->info.n_logits > 0 ? s->info.n_logits : s->info.vocab_size;
    int i = 0;
    for (const cJSON *t = arr->child; t; t = t->next, i++) {
        if (!cJSON_IsNumber(t) || t->valuedouble != floor(t->valuedouble) || t->valuedouble < 0 ||
            t->valuedouble >= vocab) {
            free(*ids);
            *ids = NULL;
            route_error(out, 400, "invalid_value", "%s: item %d must be a token id in [0, %d)", what, i, vocab);
            return -1;
        }
        (*ids)[i] = (int32_t)t->valuedouble;
    }
    return n;
}

static int is_id_array(const cJSON *a)
{
    if (!cJSON_IsArray(a) || !a->child) return 0;
    for (const cJSON *t = a->child; t; t = t->next)
        if (!cJSON_IsNumber(t)) return 0;
    return 1;
}

/* ---- generation requests --------------------------------------------------- */

typedef struct gen_request {
    int chat;
    int stream, include_usage, echo;
    char *echo_text;
    long long max_tokens;           /* -1: the default */
    hubrt_sample_params sp;
    double frequency_penalty, presence_penalty;
    int ignore_eos;
    char *stops[SERVE_MAX_STOP];
    int n_stops;
} gen_request;

static void gen_request_free(gen_request *g)
{
    free(g->echo_text);
    for (int i = 0; i < g->n_stops; i++) free(g->stops[i]);
}

static uint64_t random_seed(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v) v = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL;
    return v;
}

/* The sampling and length fields shared by chat and completions; 0 or -1 with the 400 in out. */
static int parse_generation(serve_server *s, const cJSON *root, gen_request *g, serve_reply *out)
{
    if (hubrt_sample_model_params(s->model, &g->sp) != HUBRT_OK) g->sp = hubrt_sample_default_params();
    long long n = 1, top_k = 0, seed = 0, max_tokens = -1;
    double temp = 0, top_p = 1, min_p = 0, repeat = 1;
    int rc, any_sampling = 0, logprobs = 0;
    if ((rc = field_int(root, "n", 1, 1e9, &n, out)) < 0) return -1;
    if (n != 1) {
        route_error(out, 400, "unsupported_value", "'n' must be 1: hubrt returns one choice per request");
        return -1;
    }
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(root, "logprobs");
    if (lp && !cJSON_IsNull(lp)) {
        if (!cJSON_IsBool(lp) && !cJSON_IsNumber(lp)) {
            route_error(out, 400, "invalid_type", "'logprobs' must be a boolean or an integer");
            return -1;
        }
        logprobs = cJSON_IsTrue(lp) || (cJSON_IsNumber(lp) && lp->valuedouble != 0);
    }
    if (logprobs) {
        route_error(out, 400, "unsupported_value", "'logprobs' is not supported by this server");
        return -1;
    }
    const char *mt_name = g->chat && cJSON_GetObjectItemCaseSensitive(root, "max_completion_tokens")
                              && !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "max_completion_tokens"))
                              ? "max_completion_tokens" : "max_tokens";
    if ((rc = field_int(root, mt_name, 1, 1e9, &max_tokens, out)) < 0) return -1;
    g->max_tokens = rc ? max_tokens : -1;
    if ((rc = field_number(root, "temperature", 0, 100, &temp, out)) < 0) return -1;
    int has_temp = rc;
    if ((rc = field_number(root, "top_p", 0, 1, &top_p, out)) < 0) return -1;
    if (rc && top_p <= 0) {
        route_error(out, 400, "invalid_value", "'top_p' must be in (0, 1]");
        return -1;
    }
    if (rc) { g->sp.top_p = (float)top_p; any_sampling = 1; }
    if ((rc = field_int(root, "top_k", 0, 1e9, &top_k, out)) < 0) return -1;
    if (rc) { g->sp.top_k = (int32_t)top_k; any_sampling = 1; }
    if ((rc = field_number(root, "min_p", 0, 1, &min_p, out)) < 0) return -1;
    if (rc) { g->sp.min_p = (float)min_p; any_sampling = 1; }
    if ((rc = field_int(root, "seed", -9.2e18, 9.2e18, &seed, out)) < 0) return -1;
    g->sp.seed = rc ? (uint64_t)seed : random_seed();
    if (rc) any_sampling = 1;
    if (has_temp) g->sp.temperature = (float)temp;
    else if (any_sampling && g->sp.temperature == 0) g->sp.temperature = 1.0f; /* as run-model generate */
    if ((rc = field_number(root, "frequency_penalty", -2, 2, &g->frequency_penalty, out)) < 0) return -1;
    if ((rc = field_number(root, "presence_penalty", -2, 2, &g->presence_penalty, out)) < 0) return -1;
    if ((rc = field_number(root, "repeat_penalty", 1e-6, 1e6, &repeat, out)) < 0) return -1;
    if (rc) g->sp.repeat_penalty = (float)repeat;
    if ((rc = field_bool(root, "ignore_eos", &g->ignore_eos, out)) < 0) return -1;
    if ((rc = field_bool(root, "stream", &g->stream, out)) < 0) return -1;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so)) {
            route_error(out, 400, "invalid_type", "'stream_options' must be an object");
            return -1;
        }
        if (field_bool(so, "include_usage", &g->include_usage, out) < 0) return -1;
    }
    if (!g->chat && field_bool(root, "echo", &g->echo, out) < 0) return -1;

    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (stop && !cJSON_IsNull(stop)) {
        const cJSON *items = cJSON_IsArray(stop) ? stop->child : stop;
        int count = cJSON_IsArray(stop) ? cJSON_GetArraySize(stop) : 1;
        if (count > SERVE_MAX_STOP) {
            route_error(out, 400, "invalid_value", "'stop' has %d strings; at most %d are allowed", count, SERVE_MAX_STOP);
            return -1;
        }
        for (const cJSON *t = items; t; t = cJSON_IsArray(stop) ? t->next : NULL) {
            if (!cJSON_IsString(t)) {
                route_error(out, 400, "invalid_type", "'stop' must be a string or an array of strings");
                return -1;
            }
            if (!*t->valuestring) continue; /* an empty stop string never matches */
            if (!(g->stops[g->n_stops] = strdup(t->valuestring))) {
                route_error(out, 503, "out_of_memory", "out of memory");
                return -1;
            }
            g->n_stops++;
        }
    }
    return 0;
}

/* ---- chat templates ------------------------------------------------------------ */

/*
 * Renders the conversation of a chat request through the model's template:
 * the rendered prompt (malloc'd), or NULL with the error reply in out.
 */
static char *render_chat(serve_server *s, const cJSON *root, int add_generation_prompt, serve_reply *out)
{
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!cJSON_IsArray(messages) || !messages->child) {
        route_error(out, 400, "invalid_value", "'messages' must be a non-empty array of messages");
        return NULL;
    }
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    const cJSON *vars = cJSON_GetObjectItemCaseSensitive(root, "chat_template_kwargs");
    if (tools && !cJSON_IsNull(tools) && !cJSON_IsArray(tools)) {
        route_error(out, 400, "invalid_type", "'tools' must be an array of tools");
        return NULL;
    }
    if (vars && !cJSON_IsNull(vars) && !cJSON_IsObject(vars)) {
        route_error(out, 400, "invalid_type", "'chat_template_kwargs' must be an object");
        return NULL;
    }
    /* the messages as templates expect them: content a string (text parts joined) */
    cJSON *msgs = cJSON_Duplicate(messages, 1);
    int i = 0;
    for (cJSON *m = msgs ? msgs->child : NULL; m; m = m->next, i++) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role)) {
            route_error(out, 400, "invalid_value", "'messages' item %d must be an object with a string 'role'", i);
            goto fail;
        }
        if (!content || cJSON_IsString(content) || cJSON_IsNull(content)) continue;
        if (!cJSON_IsArray(content)) {
            route_error(out, 400, "invalid_type", "'messages' item %d: 'content' must be a string or an array of parts", i);
            goto fail;
        }
        size_t len = 0;
        for (const cJSON *p = content->child; p; p = p->next) {
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(p, "text");
            if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") || !cJSON_IsString(text)) {
                route_error(out, 400, "unsupported_value",
                            "'messages' item %d: only text content parts ({\"type\": \"text\", \"text\": ...}) are supported", i);
                goto fail;
            }
            len += strlen(text->valuestring) + 1;
        }
        char *joined = malloc(len + 1), *w = joined;
        if (!joined) {
            route_error(out, 503, "out_of_memory", "out of memory");
            goto fail;
        }
        *w = 0;
        for (const cJSON *p = content->child; p; p = p->next) {
            const char *t = cJSON_GetObjectItemCaseSensitive(p, "text")->valuestring;
            w += sprintf(w, "%s%s", w == joined ? "" : "\n", t);
        }
        cJSON_ReplaceItemInObjectCaseSensitive(m, "content", cJSON_CreateString(joined));
        free(joined);
    }
    char *messages_json = msgs ? cJSON_PrintUnformatted(msgs) : NULL;
    char *tools_json = cJSON_IsArray(tools) ? cJSON_PrintUnformatted(tools) : NULL;
    char *vars_json = cJSON_IsObject(vars) ? cJSON_PrintUnformatted(vars) : NULL;
    cJSON_Delete(msgs);
    msgs = NULL;
    char *prompt = NULL;
    if (!messages_json || (cJSON_IsArray(tools) && !tools_json) || (cJSON_IsObject(vars) && !vars_json)) {
        route_error(out, 503, "out_of_memory", "out of memory");
    } else {
        hubrt_chat_params cp = {messages_json, tools_json, vars_json, add_generation_prompt};
        int len = hubrt_chat_apply(s->model, &cp, NULL, 0);
        if (len >= 0 && (prompt = malloc((size_t)len + 1)) != NULL) len = hubrt_chat_apply(s->model, &cp, prompt, (size_t)len + 1);
        if (len >= 0 && !prompt) route_error(out, 503, "out_of_memory", "out of memory");
        else if (len < 0) {
            free(prompt);
            prompt = NULL;
            if (len == HUBRT_ERR_UNSUPPORTED)
                route_error(out, 400, "no_chat_template", "this model has no chat template: use /v1/completions (%s)",
                            hubrt_last_error());
            else if (len == HUBRT_ERR_NOMEM) route_error(out, 503, "out_of_memory", "out of memory");
            else route_error(out, 400, "chat_template_error", "%s", hubrt_last_error());
        }
    }
    free(messages_json);
    free(tools_json);
    free(vars_json);
    return prompt;
fail:
    cJSON_Delete(msgs);
    return NULL;
}

/* ---- generation: queue, wait, answer ---------------------------------------- */

struct serve_stream {
    serve_server *srv;
    serve_job *job;
    serve_client client;
    int chat, include_usage, n_prompt;
    char id[64];
    long long created;
    char *echo_text;            /* completions with echo: the first chunk's text */
    size_t taken;
    int started, finished;
    char *buf;                  /* event bytes not yet handed to the HTTP layer */
    size_t len, pos, cap;
};

static cJSON *usage_object(int prompt, int completion)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", completion);
    cJSON_AddNumberToObject(u, "total_tokens", prompt + completion);
    return u;
}

/* The envelope of a response or chunk: id, object, created, model. */
static cJSON *envelope(serve_server *s, const char *id, const char *object, long long created)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "id", id);
    cJSON_AddStringToObject(r, "object", object);
    cJSON_AddNumberToObject(r, "created", (double)created);
    cJSON_AddStringToObject(r, "model", s->model_id);
    return r;
}

static int http_status_of(int engine_status)
{
    return engine_status == 499 ? 0 : engine_status;
}

/* Waits for a non-streaming job; 0 when done, -1 when the client left (the job is cancelled). */
static int wait_done(serve_server *s, serve_job *j, const serve_client *client)
{
    while (!engine_wait(s->engine, j, WAIT_MS, NULL, NULL, NULL))
        if (client && client->gone(client->ctx)) {
            engine_cancel(s->engine, j);
            return -1;
        }
    return 0;
}

static int submit(serve_server *s, serve_job *j, serve_reply *out)
{
    int rc = engine_submit(s->engine, j);
    if (rc == ENGINE_QUEUE_FULL) {
        route_error(out, 503, "queue_full", "the server is busy: every slot is taken and the queue is full; retry later");
        return -1;
    }
    if (rc == ENGINE_CLOSED) {
        route_error(out, 503, "shutting_down", "the server is shutting down");
        return -1;
    }
    return 0;
}

static void generation_reply(serve_server *s, gen_request *g, serve_job *j, const serve_client *client,
                             serve_reply *out)
{
    char id[64];
    long long created = (long long)time(NULL);
    serve_make_id(id, sizeof id, g->chat ? "chatcmpl" : "cmpl");
    if (g->stream) {
        serve_stream *st = calloc(1, sizeof *st);
        if (!st) {
            route_error(out, 503, "out_of_memory", "out of memory");
            return;
        }
        j->refs++; /* the stream's reference (the job is not shared yet); the caller drops its own */
        if (submit(s, j, out)) {
            j->refs--;
            free(st);
            return;
        }
        st->srv = s;
        st->job = j;
        st->chat = g->chat;
        st->include_usage = g->include_usage;
        st->n_prompt = j->n_prompt;
        memcpy(st->id, id, sizeof id);
        st->created = created;
        st->echo_text = g->echo_text;
        g->echo_text = NULL;
        out->status = 200;
        out->stream = st;
        out->content_type = "text/event-stream";
        return;
    }
    if (submit(s, j, out)) return;
    if (wait_done(s, j, client)) {
        out->status = 0; /* the client is gone: nothing to write */
        return;
    }
    if (j->error_status) {
        int st = http_status_of(j->error_status);
        if (!st) out->status = 0;
        else route_error(out, st, NULL, "%s", j->error);
        return;
    }
    cJSON *r = envelope(s, id, g->chat ? "chat.completion" : "text_completion", created);
    cJSON *choices = cJSON_AddArrayToObject(r, "choices");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    if (g->chat) {
        cJSON *m = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        add_text(m, "content", j->text, j->len);
    } else {
        size_t el = g->echo_text ? strlen(g->echo_text) : 0;
        char *t = malloc(el + j->len + 1);
        if (t) {
            if (el) memcpy(t, g->echo_text, el);
            if (j->len) memcpy(t + el, j->text, j->len);
            t[el + j->len] = 0;
        }
        add_text(c, "text", t ? t : "", t ? el + j->len : 0);
        free(t);
    }
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddStringToObject(c, "finish_reason", j->finish_reason);
    cJSON_AddItemToObject(r, "usage", usage_object(j->n_prompt, j->n_generated));
    reply_json(out, 200, r);
}

/*
 * Builds the job of a chat or completion request from its prompt ids (taken
 * over) and answers it.
 */
static void run_generation(serve_server *s, gen_request *g, int32_t *ids, int n, const serve_client *client,
                           serve_reply *out)
{
    int ctx = engine_ctx(s->engine);
    if (n <= 0) {
        free(ids);
        route_error(out, 400, "empty_prompt", "the prompt gives no tokens");
        return;
    }
    if (n > ctx) {
        free(ids);
        route_error(out, 400, "context_length_exceeded",
                    "the prompt has %d tokens, more than the context of %d tokens per slot (--ctx)", n, ctx);
        return;
    }
    serve_job *j = job_new(JOB_GENERATE);
    if (!j) {
        free(ids);
        route_error(out, 503, "out_of_memory", "out of memory");
        return;
    }
    j->prompt = ids;
    j->n_prompt = n;
    long long room = (long long)ctx - n + 1; /* the last token is sampled, never fed */
    long long want = g->max_tokens >= 0 ? g->max_tokens : g->chat ? room : 16;
    j->max_tokens = (int)(want < room ? want : room);
    j->ignore_eos = g->ignore_eos;
    j->frequency_penalty = (float)g->frequency_penalty;
    j->presence_penalty = (float)g->presence_penalty;
    for (int i = 0; i < g->n_stops; i++) j->stops[i] = g->stops[i];
    j->n_stops = g->n_stops;
    g->n_stops = 0;
    j->sampler = hubrt_sampler_new(s->model, &g->sp);
    if (!j->sampler) {
        route_error(out, 400, "invalid_value", "%s", hubrt_last_error());
        job_free(j);
        return;
    }
    j->detok = hubrt_detok_stream_new(s->model, 1);
    if (j->detok) { /* primed with the prompt so the first piece continues it (" Lily", not "Lily") */
        char scratch[256];
        for (int i = 0; i < n; i++) hubrt_detok_stream_push(j->detok, ids[i], scratch, sizeof scratch);
    }
    generation_reply(s, g, j, client, out);
    engine_release(s->engine, j);
}

static int need_lm(serve_server *s, serve_reply *out)
{
    if (s->info.kind == HUBRT_MODEL_CAUSAL_LM) return 0;
    route_error(out, 400, "model_not_generative",
                "%s is an encoder, not a causal LM: it serves /v1/embeddings, not text generation",
                s->info.architecture && *s->info.architecture ? s->info.architecture : s->info.family);
    return -1;
}

static void handle_completions(serve_server *s, const cJSON *root, const serve_client *client, serve_reply *out)
{
    if (check_model(s, root, out) || need_lm(s, out)) return;
    gen_request g = {0};
    g.chat = 0;
    if (parse_generation(s, root, &g, out)) goto done;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && !is_id_array(p)) p = p->child; /* ["text"] or [[ids]] */
    int32_t *ids = NULL;
    int n;
    if (cJSON_IsString(p)) {
        if ((n = tokenize_text(s, p->valuestring, 1, &ids, out)) < 0) goto done;
        if (g.echo && !(g.echo_text = strdup(p->valuestring))) {
            free(ids);
            route_error(out, 503, "out_of_memory", "out of memory");
            goto done;
        }
    } else if (is_id_array(p)) {
        if ((n = parse_ids(s, p, "'prompt'", &ids, out)) < 0) goto done;
        if (g.echo) {
            int len = hubrt_detokenize(s->model, ids, n, 1, NULL, 0);
            g.echo_text = malloc(len > 0 ? (size_t)len + 1 : 1);
            if (g.echo_text) {
                g.echo_text[0] = 0;
                if (len > 0) hubrt_detokenize(s->model, ids, n, 1, g.echo_text, (size_t)len + 1);
            }
        }
    } else if (cJSON_IsArray(p) && cJSON_GetArraySize(p) > 1) {
        route_error(out, 400, "unsupported_value", "'prompt' holds %d prompts; this server takes one per request",
                    cJSON_GetArraySize(p));
        goto done;
    } else {
        route_error(out, 400, "invalid_type", "'prompt' must be a string or an array of token ids");
        goto done;
    }
    run_generation(s, &g, ids, n, client, out);
done:
    gen_request_free(&g);
}

static void handle_chat(serve_server *s, const cJSON *root, const serve_client *client, serve_reply *out)
{
    if (check_model(s, root, out) || need_lm(s, out)) return;
    gen_request g = {0};
    g.chat = 1;
    if (parse_generation(s, root, &g, out)) goto done;
    char *prompt = render_chat(s, root, 1, out);
    if (!prompt) goto done;
    int32_t *ids = NULL;
    int n = tokenize_text(s, prompt, 0, &ids, out); /* the template wrote the special tokens */
    free(prompt);
    if (n < 0) goto done;
    run_generation(s, &g, ids, n, client, out);
done:
    gen_request_free(&g);
}

/* ---- streaming ------------------------------------------------------------------- */

static int stream_put(serve_stream *st, const char *s, size_t n)
{
    if (st->len + n > st->cap) {
        size_t cap = st->cap ? st->cap : 1024;
        while (cap < st->len + n) cap *= 2;
        char *g = realloc(st->buf, cap);
        if (!g) return -1;
        st->buf = g;
        st->cap = cap;
    }
    memcpy(st->buf + st->len, s, n);
    st->len += n;
    return 0;
}

/* Appends "data: <json>\n\n" and frees root. */
static int stream_event(serve_stream *st, cJSON *root)
{
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) return -1;
    int rc = stream_put(st, "data: ", 6) || stream_put(st, text, strlen(text)) || stream_put(st, "\n\n", 2);
    free(text);
    return rc ? -1 : 0;
}

/* A chunk with one choice: a delta of text (NULL: none) and a finish reason (NULL: null). */
static int stream_chunk(serve_stream *st, const char *text, size_t n, int role, const char *finish)
{
    cJSON *r = envelope(st->srv, st->id, st->chat ? "chat.completion.chunk" : "text_completion", st->created);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(r, "choices"), c);
    cJSON_AddNumberToObject(c, "index", 0);
    if (st->chat) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        if (role) cJSON_AddStringToObject(d, "role", "assistant");
        if (text) add_text(d, "content", text, n);
    } else {
        add_text(c, "text", text ? text : "", text ? n : 0);
    }
    cJSON_AddNullToObject(c, "logprobs");
    if (finish) cJSON_AddStringToObject(c, "finish_reason", finish);
    else cJSON_AddNullToObject(c, "finish_reason");
    if (st->include_usage) cJSON_AddNullToObject(r, "usage");
    return stream_event(st, r);
}

/* The end of a stream: the finish chunk, the usage chunk, [DONE]; or an error event. */
static int stream_end(serve_stream *st)
{
    serve_job *j = st->job;
    if (j->error_status) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddItemToObject(r, "error", error_object(j->error_status, NULL, j->error));
        return stream_event(st, r);
    }
    if (stream_chunk(st, st->chat ? NULL : "", 0, 0, j->finish_reason)) return -1;
    if (st->include_usage) {
        cJSON *r = envelope(st->srv, st->id, st->chat ? "chat.completion.chunk" : "text_completion", st->created);
        cJSON_AddArrayToObject(r, "choices");
        cJSON_AddItemToObject(r, "usage", usage_object(st->n_prompt, j->n_generated));
        if (stream_event(st, r)) return -1;
    }
    return stream_put(st, "data: [DONE]\n\n", 14);
}

void stream_set_client(serve_stream *st, const serve_client *client)
{
    st->client = *client;
}

ssize_t stream_read(serve_stream *st, char *buf, size_t max)
{
    serve_engine *e = st->srv->engine;
    while (st->pos == st->len) {
        if (st->finished) return -1;
        st->pos = st->len = 0;
        if (!st->started) { /* the first chunk: the role (chat) or the echoed prompt */
            st->started = 1;
            int rc = st->chat ? stream_chunk(st, "", 0, 1, NULL)
                              : st->echo_text ? stream_chunk(st, st->echo_text, strlen(st->echo_text), 0, NULL) : 0;
            if (rc) return -2;
            continue;
        }
        char *piece = NULL;
        size_t n = 0;
        int done = engine_wait(e, st->job, WAIT_MS, &st->taken, &piece, &n);
        int rc = n ? stream_chunk(st, piece, n, 0, NULL) : 0;
        free(piece);
        if (!rc && done) {
            rc = stream_end(st);
            st->finished = 1;
        }
        if (rc) {
            engine_cancel(e, st->job);
            return -2;
        }
        if (!n && !done && st->client.gone && st->client.gone(st->client.ctx)) {
            engine_cancel(e, st->job);
            return -2;
        }
    }
    size_t n = st->len - st->pos < max ? st->len - st->pos : max;
    memcpy(buf, st->buf + st->pos, n);
    st->pos += n;
    return (ssize_t)n;
}

void stream_free(serve_stream *st)
{
    if (!st) return;
    engine_cancel(st->srv->engine, st->job); /* no-op when it has finished */
    engine_release(st->srv->engine, st->job);
    free(st->echo_text);
    free(st->buf);
    free(st);
}

/* ---- embeddings ---------------------------------------------------------------- */

static void handle_embeddings(serve_server *s, const cJSON *root, const serve_client *client, serve_reply *out)
{
    if (check_model(s, root, out)) return;
    if (s->info.kind != HUBRT_MODEL_ENCODER) {
        route_error(out, 400, "model_not_embedding",
                    "%s is a causal LM; /v1/embeddings needs an encoder model (BERT / sentence-transformers)",
                    s->info.architecture && *s->info.architecture ? s->info.architecture : s->info.family);
        return;
    }
    const char *format = "float";
    long long dims = 0;
    if (field_string(root, "encoding_format", &format, out) < 0) return;
    if (strcmp(format, "float") && strcmp(format, "base64")) {
        route_error(out, 400, "invalid_value", "'encoding_format' must be \"float\" or \"base64\"");
        return;
    }
    int rc = field_int(root, "dimensions", 1, 1e9, &dims, out);
    if (rc < 0) return;
    if (rc && dims != s->info.hidden_size) {
        route_error(out, 400, "unsupported_value", "'dimensions' must be %d (the model's size) when given",
                    s->info.hidden_size);
        return;
    }
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "input");
    int single = cJSON_IsString(in) || is_id_array(in);
    if (!single && (!cJSON_IsArray(in) || !in->child)) {
        route_error(out, 400, "invalid_type",
                    "'input' must be a string, an array of strings, an array of token ids or an array of those");
        return;
    }
    int count = single ? 1 : cJSON_GetArraySize(in);
    if (count > MAX_EMBED_INPUTS) {
        route_error(out, 400, "invalid_value", "'input' has %d items; at most %d are allowed", count, MAX_EMBED_INPUTS);
        return;
    }
    serve_job *j = job_new(JOB_EMBED);
    if (!j || !(j->inputs = calloc((size_t)count, sizeof *j->inputs)) ||
        !(j->n_inputs = calloc((size_t)count, sizeof *j->n_inputs))) {
        job_free(j);
        route_error(out, 503, "out_of_memory", "out of memory");
        return;
    }
    int limit = s->info.max_positions, total = 0;
    const cJSON *item = single ? in : in->child;
    for (int i = 0; i < count; i++, item = item->next) {
        char what[64];
        snprintf(what, sizeof what, "'input' item %d", i);
        int n;
        if (cJSON_IsString(item)) n = tokenize_text(s, item->valuestring, 1, &j->inputs[i], out);
        else if (is_id_array(item)) n = parse_ids(s, item, what, &j->inputs[i], out);
        else {
            route_error(out, 400, "invalid_type", "%s must be a string or an array of token ids", what);
            n = -1;
        }
        j->n_in = i + 1;
        if (n < 0) goto fail;
        if (n == 0 || (limit > 0 && n > limit)) {
            route_error(out, 400, "context_length_exceeded", "%s has %d tokens; the model takes 1 to %d", what, n, limit);
            goto fail;
        }
        j->n_inputs[i] = n;
        total += n;
        if (single) break;
    }
    if (submit(s, j, out)) goto fail;
    if (wait_done(s, j, client)) {
        out->status = 0;
        engine_release(s->engine, j);
        return;
    }
    if (j->error_status) {
        int st = http_status_of(j->error_status);
        if (!st) out->status = 0;
        else route_error(out, st, NULL, "%s", j->error);
        engine_release(s->engine, j);
        return;
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(r, "data");
    for (int i = 0; i < j->n_in; i++) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddItemToArray(data, d);
        cJSON_AddStringToObject(d, "object", "embedding");
        cJSON_AddNumberToObject(d, "index", i);
        const float *v = j->embeddings + (size_t)i * (size_t)j->dim;
        if (!strcmp(format, "base64")) { /* little-endian float32, as OpenAI sends it */
            char *b64 = base64_encode(v, (size_t)j->dim * sizeof *v);
            cJSON_AddStringToObject(d, "embedding", b64 ? b64 : "");
            free(b64);
        } else {
            cJSON *arr = cJSON_AddArrayToObject(d, "embedding");
            for (int k = 0; k < j->dim; k++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(isfinite(v[k]) ? v[k] : 0));
        }
    }
    cJSON_AddStringToObject(r, "model", s->model_id);
    cJSON *u = cJSON_AddObjectToObject(r, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", total);
    cJSON_AddNumberToObject(u, "total_tokens", total);
    engine_release(s->engine, j);
    reply_json(out, 200, r);
    return;
fail:
    job_free(j);
}

/* ---- tokenizer endpoints ------------------------------------------------------------ */

static void handle_tokenize(serve_server *s, const cJSON *root, serve_reply *out)
{
    const char *content = NULL;
    int add_special = 0, rc = field_string(root, "content", &content, out);
    if (rc < 0) return;
    if (!rc) {
        route_error(out, 400, "missing_field", "'content' (a string) is required");
        return;
    }
    if (field_bool(root, "add_special", &add_special, out) < 0) return;
    int32_t *ids = NULL;
    int n = tokenize_text(s, content, add_special, &ids, out);
    if (n < 0) return;
    cJSON *r = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(r, "tokens");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
    free(ids);
    reply_json(out, 200, r);
}

static void handle_detokenize(serve_server *s, const cJSON *root, serve_reply *out)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "tokens");
    if (!cJSON_IsArray(t)) {
        route_error(out, 400, "invalid_type", "'tokens' must be an array of token ids");
        return;
    }
    int32_t *ids = NULL;
    int n = parse_ids(s, t, "'tokens'", &ids, out);
    if (n < 0) return;
    int len = n ? hubrt_detokenize(s->model, ids, n, 0, NULL, 0) : 0;
    char *text = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (len < 0 || !text) {
        free(ids);
        free(text);
        if (len < 0) route_error(out, 400, "invalid_value", "%s", hubrt_last_error());
        else route_error(out, 503, "out_of_memory", "out of memory");
        return;
    }
    text[0] = 0;
    if (n) hubrt_detokenize(s->model, ids, n, 0, text, (size_t)len + 1);
    free(ids);
    cJSON *r = cJSON_CreateObject();
    add_text(r, "content", text, (size_t)len);
    free(text);
    reply_json(out, 200, r);
}

static void handle_apply_template(serve_server *s, const cJSON *root, serve_reply *out)
{
    int add_gen = 1;
    if (field_bool(root, "add_generation_prompt", &add_gen, out) < 0) return;
    char *prompt = render_chat(s, root, add_gen, out);
    if (!prompt) return;
    cJSON *r = cJSON_CreateObject();
    add_text(r, "prompt", prompt, strlen(prompt));
    free(prompt);
    reply_json(out, 200, r);
}

/* ---- GET endpoints ----------------------------------------------------------------- */

static cJSON *model_object(serve_server *s)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", s->model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)s->created);
    cJSON_AddStringToObject(m, "owned_by", "hubrt");
    return m;
}

static void handle_models(serve_server *s, const char *path, serve_reply *out)
{
    const char *prefix = "/v1/models/";
    if (!strncmp(path, prefix, strlen(prefix))) {
        const char *id = path + strlen(prefix);
        if (strcmp(id, s->model_id)) {
            char *clean = utf8_clean(id, strlen(id) > 200 ? 200 : strlen(id));
            route_error(out, 404, "model_not_found", "the model '%s' does not exist", clean ? clean : "?");
            free(clean);
            return;
        }
        reply_json(out, 200, model_object(s));
        return;
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "object", "list");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(r, "data"), model_object(s));
    reply_json(out, 200, r);
}

static void handle_metrics(serve_server *s, serve_reply *out)
{
    serve_engine_stats st = {0};
    if (atomic_load(&s->ready)) engine_stats(s->engine, &st);
    char *text = metrics_render(&s->metrics, &st);
    if (!text) {
        route_error(out, 503, "out_of_memory", "out of memory");
        return;
    }
    out->status = 200;
    out->body = text;
    out->len = strlen(text);
    out->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* ---- routing ---------------------------------------------------------------------- */

static const struct route {
    const char *path;
    int prefix;               /* 1: path is a prefix (/v1/models/{id}) */
    serve_endpoint ep;
    const char *method;       /* GET also answers HEAD */
} routes[] = {
    {"/health", 0, EP_HEALTH, "GET"},
    {"/v1/models", 0, EP_MODELS, "GET"},
    {"/v1/models/", 1, EP_MODELS, "GET"},
    {"/v1/chat/completions", 0, EP_CHAT, "POST"},
    {"/v1/completions", 0, EP_COMPLETIONS, "POST"},
    {"/v1/embeddings", 0, EP_EMBEDDINGS, "POST"},
    {"/tokenize", 0, EP_TOKENIZE, "POST"},
    {"/detokenize", 0, EP_DETOKENIZE, "POST"},
    {"/apply-template", 0, EP_APPLY_TEMPLATE, "POST"},
    {"/metrics", 0, EP_METRICS, "GET"},
};

serve_endpoint route_match(const char *path, const char *method, int *method_ok, const char **allow)
{
    *method_ok = 0;
    *allow = NULL;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const struct route *r = &routes[i];
        int hit = r->prefix ? !strncmp(path, r->path, strlen(r->path)) && path[strlen(r->path)]
                            : !strcmp(path, r->path);
        if (!hit) continue;
        int get = !strcmp(r->method, "GET");
        *method_ok = !strcmp(method, r->method) || (get && !strcmp(method, "HEAD"));
        *allow = get ? "GET, HEAD" : "POST";
        return r->ep;
    }
    return EP_OTHER;
}

void route_handle(serve_server *s, serve_endpoint ep, const char *path, const char *body, size_t len,
                  const serve_client *client, serve_reply *out)
{
    memset(out, 0, sizeof *out);
    if (ep == EP_HEALTH) {
        int ready = atomic_load(&s->ready), stopping = atomic_load(&s->stopping);
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "status", stopping ? "stopping" : ready ? "ok" : "loading");
        reply_json(out, ready && !stopping ? 200 : 503, r);
        return;
    }
    if (ep == EP_METRICS) {
        handle_metrics(s, out);
        return;
    }
    if (!atomic_load(&s->ready)) {
        route_error(out, 503, "loading", "the model is still loading");
        return;
    }
    if (ep == EP_MODELS) {
        handle_models(s, path, out);
        return;
    }
    cJSON *root = parse_body(body, len, out);
    if (!root) return;
    switch (ep) {
    case EP_CHAT: handle_chat(s, root, client, out); break;
    case EP_COMPLETIONS: handle_completions(s, root, client, out); break;
    case EP_EMBEDDINGS: handle_embeddings(s, root, client, out); break;
    case EP_TOKENIZE: handle_tokenize(s, root, out); break;
    case EP_DETOKENIZE: handle_detokenize(s, root, out); break;
    case EP_APPLY_TEMPLATE: handle_apply_template(s, root, out); break;
    default: route_error(out, 404, "not_found", "no such endpoint"); break;
    }
    cJSON_Delete(root);
}
