/*
 * tools/cli_chat.c — `run-model chat`: a conversation through the model's
 * chat template.
 *
 * Each user line is added to the history, the whole conversation is
 * rendered with the generation prompt and tokenized without adding special
 * tokens (the template writes them), and the reply is streamed and added to
 * the history. When the session's KV cache holds a prefix of the new
 * prompt's ids (the earlier turns rendered the same), only the rest is
 * prefilled; otherwise the session starts over from the whole prompt.
 * On a terminal it prompts with "> "; with stdin not a terminal it reads
 * one user message per line and prints one reply per message (each
 * followed by a newline; with --json, one JSON object per line).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "tools/cli.h"

static const char *CMD = "chat";

enum { DEFAULT_CTX = 8192 }; /* tokens of conversation when --ctx is not given */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: run-model chat -m DIR [--system TEXT] [--chat-template FILE] [options]\n"
        "\n"
        "A conversation with a chat model: each line read from stdin is a user message,\n"
        "put through the model's chat template with the history so far; the reply is\n"
        "streamed to stdout. '/reset' starts over (keeping --system), '/exit' or end of\n"
        "input quits. On a terminal it prompts with '> '; from a pipe it prints one\n"
        "reply per message, each followed by a newline.\n"
        "\n"
        "  -m, --model DIR        hub-format model directory, or org/name in the local HF cache\n"
        "      --system TEXT      a system message at the start of the conversation\n"
        "      --chat-template F  the Jinja template in file F instead of the model's\n"
        "  -n, --n-predict N      new tokens per reply at most (default: until EOS or the\n"
        "                         context is full)\n");
    cli_sampling_usage(f);
    fprintf(f,
        "  -c, --ctx N            context in tokens for the whole conversation (default: the\n"
        "                         model's, at most 8192)\n"
        "  -t, --threads N        threads (default: physical cores)\n"
        "      --quant q8|q4      quantise weights on load (lossy; default: stored dtype)\n"
        "      --json             each reply as one line of JSON instead of streamed text:\n"
        "                         {\"reply\", \"new_ids\", \"stop_reason\", \"prompt_tokens\",\n"
        "                          \"reused_tokens\"} (tokens of the prompt already in the KV cache)\n"
        "  -v, --verbose          per reply on stderr: tokens prefilled / reused from the\n"
        "                         KV cache, speeds, stop reason\n"
        "  -q, --quiet            no load progress on stderr\n"
        "  -h, --help             this help\n"
        "\n"
        "Exit status: 0 success, 1 error (from a pipe: the first failing message), 2 usage error.\n");
}

char *cli_chat_render(const char *cmd, const hubrt_model *m, const char *messages_json, int add_generation_prompt)
{
    hubrt_chat_params cp = {messages_json, NULL, NULL, add_generation_prompt};
    size_t cap = 16384;
    for (int attempt = 0; attempt < 2; attempt++) {
        char *buf = malloc(cap);
        if (!buf) break;
        int len = hubrt_chat_apply(m, &cp, buf, cap);
        if (len < 0) {
            free(buf);
            cli_error(cmd, "%s", hubrt_last_error());
            return NULL;
        }
        if ((size_t)len < cap) return buf;
        free(buf);
        cap = (size_t)len + 1;
    }
    cli_error(cmd, "out of memory");
    return NULL;
}

/* Appends {"role": role, "content": content} to the array msgs; 0 or -1. */
static int add_message(cJSON *msgs, const char *role, const char *content)
{
    cJSON *msg = cJSON_CreateObject();
    if (!msg || !cJSON_AddStringToObject(msg, "role", role) || !cJSON_AddStringToObject(msg, "content", content)) {
        cJSON_Delete(msg);
        return -1;
    }
    cJSON_AddItemToArray(msgs, msg);
    return 0;
}

/* msgs rendered with the generation prompt, malloc'd; NULL with the error printed. */
static char *render_messages(const char *cmd, const hubrt_model *m, const cJSON *msgs)
{
    char *json = cJSON_PrintUnformatted(msgs);
    if (!json) {
        cli_error(cmd, "out of memory");
        return NULL;
    }
    char *text = cli_chat_render(cmd, m, json, 1);
    free(json);
    return text;
}

char *cli_chat_prompt(const char *cmd, const hubrt_model *m, const char *system, const char *user)
{
    cJSON *msgs = cJSON_CreateArray();
    if (!msgs || (system && add_message(msgs, "system", system)) || add_message(msgs, "user", user)) {
        cJSON_Delete(msgs);
        cli_error(cmd, "out of memory");
        return NULL;
    }
    char *text = render_messages(cmd, m, msgs);
    cJSON_Delete(msgs);
    return text;
}

/* ---- the conversation ---------------------------------------------------- */

typedef struct chat {
    const hubrt_model *m;
    hubrt_session *s;
    int ctx;                  /* the session's context in tokens */
    const char *system;
    cJSON *history;           /* the messages so far */
    int32_t *cached;          /* the ids in the session's KV cache, in order */
    int n_cached, cap_cached;
    int32_t *ids;             /* the current prompt's ids (tokenizer buffer) */
    int cap_ids;
    hubrt_sample_params sp;
    int turn;
    int verbose, json;
    char *reply;              /* the reply being generated */
    size_t reply_len, reply_cap;
    int32_t *new_ids;         /* its ids */
    int n_new, cap_new;
    int oom;
} chat;

static int grow_ids(int32_t **ids, int *cap, int need)
{
    if (need <= *cap) return 0;
    int c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    int32_t *g = realloc(*ids, (size_t)c * sizeof *g);
    if (!g) return -1;
    *ids = g;
    *cap = c;
    return 0;
}

static int on_token(const char *piece, int32_t id, void *user)
{
    chat *c = user;
    if (grow_ids(&c->new_ids, &c->cap_new, c->n_new + 1)) { c->oom = 1; return 1; }
    c->new_ids[c->n_new++] = id;
    size_t n = strlen(piece);
    if (!n) return 0;
    if (cli_text_append(&c->reply, &c->reply_len, &c->reply_cap, piece, n)) { c->oom = 1; return 1; }
    if (!c->json) {
        fwrite(piece, 1, n, stdout);
        fflush(stdout);
    }
    return 0;
}

/* Starts the conversation over: the system message only, an empty cache. */
static int chat_reset(chat *c)
{
    cJSON_Delete(c->history);
    c->history = cJSON_CreateArray();
    if (!c->history || (c->system && add_message(c->history, "system", c->system))) return -1;
    hubrt_session_reset(c->s);
    c->n_cached = 0;
    return 0;
}

static void drop_last_message(chat *c)
{
    int n = cJSON_GetArraySize(c->history);
    if (n > 0) cJSON_DeleteItemFromArray(c->history, n - 1);
}

/* After a failed turn: the user message is dropped and the cache forgotten. Returns -1. */
static int turn_failed(chat *c)
{
    drop_last_message(c);
    hubrt_session_reset(c->s);
    c->n_cached = 0;
    return -1;
}

static const char *reason_name(hubrt_stop_reason r)
{
    return r == HUBRT_STOP_EOS ? "eos" : r == HUBRT_STOP_LENGTH ? "length" : "stop";
}

/* One user message -> one streamed reply. 0, or -1 with the error printed
 * (the message is then not kept in the history). */
static int chat_turn(chat *c, const char *text)
{
    if (add_message(c->history, "user", text)) return cli_error(CMD, "out of memory"), -1;
    char *prompt = render_messages(CMD, c->m, c->history);
    if (!prompt) {
        drop_last_message(c);
        return -1;
    }
    int n = cli_tokenize_grow(c->m, prompt, 0, &c->ids, &c->cap_ids);
    free(prompt);
    if (n < 0) {
        cli_error(CMD, "%s", n == HUBRT_ERR_NOMEM ? "out of memory" : hubrt_last_error());
        drop_last_message(c);
        return -1;
    }
    if (n >= c->ctx) {
        cli_error(CMD, "the conversation has %d tokens, the context %d: /reset to start over", n, c->ctx);
        drop_last_message(c);
        return -1;
    }
    /* the cached ids still begin the prompt: prefill only what follows */
    int reuse = c->n_cached > 0 && c->n_cached < n &&
                !memcmp(c->cached, c->ids, (size_t)c->n_cached * sizeof *c->ids);
    if (!reuse) {
        hubrt_session_reset(c->s);
        c->n_cached = 0;
    }
    int from = c->n_cached;
    hubrt_sample_params sp = c->sp;
    if (sp.max_new_tokens > c->ctx - n) sp.max_new_tokens = c->ctx - n;
    sp.seed += (uint64_t)c->turn++; /* a fresh stream per reply, reproducible with --seed */
    c->reply_len = 0;
    c->n_new = 0;
    hubrt_generation g;
    int st = hubrt_generate_ids(c->s, c->ids + from, n - from, &sp, on_token, c, &g);
    if (!c->json) {
        fputc('\n', stdout);
        fflush(stdout);
    }
    if (st < 0 || c->oom) {
        cli_error(CMD, "%s", c->oom ? "out of memory" : hubrt_last_error());
        return turn_failed(c);
    }
    /* the session now holds the prompt and the reply's ids (all that fit) */
    int n_past = hubrt_session_n_past(c->s);
    if (grow_ids(&c->cached, &c->cap_cached, n + c->n_new)) return cli_error(CMD, "out of memory"), turn_failed(c);
    memcpy(c->cached, c->ids, (size_t)n * sizeof *c->ids);
    if (c->n_new) memcpy(c->cached + n, c->new_ids, (size_t)c->n_new * sizeof *c->new_ids);
    c->n_cached = n_past < n + c->n_new ? n_past : n + c->n_new;
    if (add_message(c->history, "assistant", c->reply_len ? c->reply : ""))
        return cli_error(CMD, "out of memory"), turn_failed(c);
    if (c->json) {
        printf("{\"reply\": ");
        cli_json_string(stdout, c->reply_len ? c->reply : "");
        printf(", \"new_ids\": [");
        for (int i = 0; i < c->n_new; i++) printf("%s%d", i ? ", " : "", (int)c->new_ids[i]);
        printf("], \"stop_reason\": \"%s\", \"prompt_tokens\": %d, \"reused_tokens\": %d}\n",
               reason_name(g.stop_reason), n, from);
        fflush(stdout);
    }
    if (c->verbose) {
        double pf = g.prefill_seconds > 0 ? g.n_prompt / g.prefill_seconds : 0;
        double dc = g.n_new > 1 && g.decode_seconds > 0 ? (g.n_new - 1) / g.decode_seconds : 0;
        fprintf(stderr, "run-model chat: prompt %d tokens (%d prefilled, %d reused), %.1f tok/s | reply %d tokens, "
                "%.1f tok/s | stop: %s\n", n, n - from, from, pf, g.n_new, dc, reason_name(g.stop_reason));
    }
    return 0;
}

int cli_chat(int argc, char **argv)
{
    const char *model_path = NULL, *system = NULL, *chat_template = NULL;
    long threads = 0, ctx = 0;
    int verbose = 0, quiet = 0, json = 0;
    hubrt_quant quant = HUBRT_QUANT_NONE;
    cli_sampling so;
    cli_sampling_init(&so);
    for (int i = 1, k; i < argc; i++) {
        const char *a = argv[i];
#define NEED_VALUE() \
        do { if (i + 1 >= argc) return cli_usage(CMD, "%s needs a value", a); } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return CLI_OK; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { NEED_VALUE(); model_path = argv[++i]; }
        else if (!strcmp(a, "--system")) { NEED_VALUE(); system = argv[++i]; }
        else if (!strcmp(a, "--chat-template")) { NEED_VALUE(); chat_template = argv[++i]; }
        else if ((k = cli_sampling_parse(CMD, argc, argv, &i, &so)) != 0) {
            if (k < 0) return CLI_USAGE;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
            NEED_VALUE();
            if (cli_parse_int(CMD, a, argv[++i], 1, 1L << 30, &ctx)) return CLI_USAGE;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            NEED_VALUE();
            if (cli_parse_int(CMD, a, argv[++i], 0, 4096, &threads)) return CLI_USAGE;
        } else if (!strcmp(a, "--quant")) {
            NEED_VALUE();
            if (cli_parse_quant(CMD, argv[++i], &quant)) return CLI_USAGE;
        } else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) verbose = 1;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = 1;
        else if (a[0] == '-') return cli_usage(CMD, "unknown option '%s'", a);
        else return cli_usage(CMD, "unexpected argument '%s'", a);
#undef NEED_VALUE
    }
    if (!model_path) return cli_usage(CMD, "-m DIR is required");

    hubrt_load_params lp = hubrt_load_default_params();
    lp.n_threads = (int)threads;
    lp.quant = quant;
    lp.chat_template_file = chat_template;
    hubrt_model *m = cli_load_model(CMD, model_path, &lp, quiet, NULL);
    if (!m) return CLI_ERROR;
    int rc = CLI_ERROR;
    chat c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.system = system;
    c.verbose = verbose;
    c.json = json;
    char *line = NULL;
    size_t line_cap = 0;

    hubrt_model_info info;
    if (hubrt_model_get_info(m, &info) != HUBRT_OK) {
        cli_error(CMD, "%s", hubrt_last_error());
        goto done;
    }
    if (info.kind != HUBRT_MODEL_CAUSAL_LM || hubrt_vocab_size(m) <= 0) {
        cli_error(CMD, "%s: chat needs a causal LM with a tokenizer", info.dir);
        goto done;
    }
    /* a model without a template fails now, not at the first message */
    hubrt_chat_params probe = {"[]", NULL, NULL, 1};
    if (hubrt_chat_apply(m, &probe, NULL, 0) == HUBRT_ERR_UNSUPPORTED) {
        cli_error(CMD, "%s", hubrt_last_error());
        goto done;
    }
    if (ctx > info.max_positions && info.max_positions > 0) {
        cli_error(CMD, "--ctx %ld is more than the model's context of %d", ctx, info.max_positions);
        goto done;
    }
    /* the KV cache is allocated for the whole conversation up front: a long-context
     * model's full window would reserve tens of GB */
    c.ctx = ctx ? (int)ctx : info.max_positions < DEFAULT_CTX ? info.max_positions : DEFAULT_CTX;
    if (cli_sampling_params(CMD, m, &so, &c.sp)) goto done;
    c.sp.max_new_tokens = so.n_predict >= 0 ? (int32_t)so.n_predict : c.ctx; /* per reply, capped by the room left */
    if (verbose) cli_sampling_print(&c.sp);
    if (!(c.s = hubrt_session_new(m, c.ctx))) {
        cli_error(CMD, "%s", hubrt_last_error());
        goto done;
    }
    if (chat_reset(&c)) {
        cli_error(CMD, "out of memory");
        goto done;
    }

    int tty = isatty(0);
    if (tty && !quiet) fprintf(stderr, "run-model chat: type a message; /reset starts over, /exit quits\n");
    rc = CLI_OK;
    for (;;) {
        if (tty && !json) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        ssize_t got = getline(&line, &line_cap, stdin);
        if (got < 0) break;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        if (got == 0) continue;
        if (!strcmp(line, "/exit")) break;
        if (!strcmp(line, "/reset")) {
            if (chat_reset(&c)) {
                rc = cli_error(CMD, "out of memory");
                break;
            }
            continue;
        }
        if (strlen(line) != (size_t)got) {
            cli_error(CMD, "the message contains a NUL byte");
            if (!tty) { rc = CLI_ERROR; break; }
            continue;
        }
        if (chat_turn(&c, line) && !tty) {
            rc = CLI_ERROR; /* from a pipe the replies would no longer match the messages */
            break;
        }
    }
    if (tty && !json) fputc('\n', stdout);
done:
    free(line);
    cJSON_Delete(c.history);
    free(c.cached);
    free(c.ids);
    free(c.reply);
    free(c.new_ids);
    hubrt_session_free(c.s);
    hubrt_model_free(m);
    return rc;
}
