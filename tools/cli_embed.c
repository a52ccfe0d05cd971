/*
 * tools/cli_embed.c — `run-model embed` (sentence embeddings) and
 * `run-model fill-mask` (top-k predictions for each mask token), both on
 * encoder models (BERT) through the public API.
 *
 *   embed:     text -> hubrt_embed() -> [f, f, ...]
 *   fill-mask: text -> ids -> hubrt_encode() MLM logits [n][vocab] ->
 *              softmax at each mask position -> the k most likely ids
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "tools/cli.h"

/* ---- embed -------------------------------------------------------------- */

static void embed_help(FILE *f)
{
    fprintf(f,
        "usage: run-model embed -m DIR (-p TEXT | --jsonl) [--pooling mean|cls|max|last] [--normalize]\n"
        "\n"
        "Prints the sentence embedding of TEXT as a JSON array of floats.\n"
        "\n"
        "  -m, --model DIR     encoder model directory (BERT), or org/name in the local HF cache\n"
        "  -p, --prompt TEXT   the text to embed\n"
        "      --jsonl         read {\"text\": ...} lines on stdin, write one array per line, in order\n"
        "                      (lines already waiting are embedded together, up to 256 at once)\n"
        "      --pooling MODE  mean (over every token), cls ([CLS] hidden state), max or last;\n"
        "                      default: the sentence-transformers config (modules.json,\n"
        "                      1_Pooling/config.json) when the directory has one, else mean\n"
        "      --normalize     L2-normalise the vector (a sentence-transformers Normalize\n"
        "                      module does this by default)\n"
        "  -t, --threads N     threads (default: physical cores)\n"
        "      --quant q8|q4   quantise weights on load (lossy)\n"
        "  -q, --quiet         no progress line on stderr\n"
        "  -h, --help          this help\n"
        "\n"
        "Exit status: 0 success, 1 error, 2 usage error.\n");
}

static void print_vector(const float *v, int n)
{
    fputc('[', stdout);
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", stdout);
        cli_json_float(stdout, v[i]);
    }
    fputs("]\n", stdout);
}

/* Lines of --jsonl embedded together (hubrt_embed_batch packs them into passes). */
enum { JSONL_CHUNK = 256 };

/*
 * Embeds texts[0..n-1] (stdin lines first_line ...) and prints one array per
 * text, in order. When the batch fails, the texts are redone one by one so
 * the error names its line and the lines before it are still printed, as
 * with one hubrt_embed per line. CLI_OK or CLI_ERROR.
 */
static int embed_chunk(hubrt_model *m, char **texts, int n, long first_line, hubrt_pooling pooling,
                       int normalize, float *out, int dim)
{
    static const char *CMD = "embed";
    if (n == 0) return CLI_OK;
    int h = hubrt_embed_batch(m, (const char *const *)texts, n, pooling, normalize, out, dim);
    if (h >= 0) {
        for (int i = 0; i < n; i++) print_vector(out + (size_t)i * dim, h);
        return CLI_OK;
    }
    for (int i = 0; i < n; i++) {
        h = hubrt_embed(m, texts[i], pooling, normalize, out, dim);
        if (h < 0) return cli_error(CMD, "stdin line %ld: %s", first_line + i, hubrt_last_error());
        print_vector(out, h);
    }
    return cli_error(CMD, "stdin lines %ld-%ld: %s", first_line, first_line + n - 1, hubrt_last_error());
}

/* 1 when stdin has more to read right now (data, EOF or an error): no wait. */
static int input_ready(void)
{
    struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
    return poll(&p, 1, 0) != 0;
}

/* --jsonl state: the texts waiting for their batch. */
typedef struct jsonl_state {
    hubrt_model *m;
    hubrt_pooling pooling;
    int normalize, dim;
    char *texts[JSONL_CHUNK];
    int n;
    long first;   /* stdin line of texts[0] */
    float *out;   /* [JSONL_CHUNK][dim] */
} jsonl_state;

/* Embeds and prints the waiting texts; CLI_OK or CLI_ERROR. */
static int jsonl_flush(jsonl_state *st)
{
    int rc = embed_chunk(st->m, st->texts, st->n, st->first, st->pooling, st->normalize, st->out, st->dim);
    for (int i = 0; i < st->n; i++) free(st->texts[i]);
    st->first += st->n;
    st->n = 0;
    fflush(stdout);
    return rc;
}

/* One stdin line (without its '\n'); CLI_OK or CLI_ERROR. */
static int jsonl_line(jsonl_state *st, char *line, size_t len, long lineno)
{
    static const char *CMD = "embed";
    while (len && line[len - 1] == '\r') len--;
    cJSON *obj = cJSON_ParseWithLength(line, len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "text");
    if (!cJSON_IsObject(obj) || !cJSON_IsString(t) || !t->valuestring) {
        cJSON_Delete(obj);
        /* the lines before it are still embedded and printed */
        int rc = jsonl_flush(st);
        return rc == CLI_OK ? cli_error(CMD, "stdin line %ld: expected a JSON object {\"text\": \"...\"}", lineno)
                            : rc;
    }
    if (st->n == 0) st->first = lineno;
    st->texts[st->n] = strdup(t->valuestring);
    cJSON_Delete(obj);
    if (!st->texts[st->n]) return cli_error(CMD, "out of memory");
    if (++st->n == JSONL_CHUNK) return jsonl_flush(st);
    return CLI_OK;
}

/*
 * --jsonl: {"text": ...} lines in, one array per line out, in order. Lines
 * are embedded in batches of up to JSONL_CHUNK, but a batch never waits for
 * input that has not arrived: when stdin has nothing more ready, the texts
 * so far are embedded and printed (a client writing one line and reading
 * the answer keeps working).
 */
static int embed_jsonl(hubrt_model *m, hubrt_pooling pooling, int normalize, int dim)
{
    static const char *CMD = "embed";
    jsonl_state st;
    memset(&st, 0, sizeof st);
    st.m = m;
    st.pooling = pooling;
    st.normalize = normalize;
    st.dim = dim;
    st.first = 1;
    st.out = malloc((size_t)JSONL_CHUNK * (size_t)dim * sizeof *st.out);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    long lineno = 0;
    int rc = CLI_OK, eof = 0;
    if (!st.out || !buf) rc = cli_error(CMD, "out of memory");
    while (rc == CLI_OK && !eof) {
        if (len == cap) { /* a line longer than the buffer: grow it */
            char *g = cap < ((size_t)1 << 40) ? realloc(buf, cap * 2) : NULL;
            if (!g) { rc = cli_error(CMD, "stdin line %ld: out of memory", lineno + 1); break; }
            buf = g;
            cap *= 2;
        }
        ssize_t got = read(STDIN_FILENO, buf + len, cap - len);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) { rc = cli_error(CMD, "reading stdin: %s", strerror(errno)); break; }
        if (got == 0) eof = 1;
        len += (size_t)got;
        size_t start = 0;
        for (;;) {
            char *nl = memchr(buf + start, '\n', len - start);
            if (!nl && !(eof && start < len)) break; /* at EOF a last line may lack its '\n' */
            size_t end = nl ? (size_t)(nl - buf) : len;
            rc = jsonl_line(&st, buf + start, end - start, ++lineno);
            start = nl ? end + 1 : len;
            if (rc != CLI_OK) break;
        }
        memmove(buf, buf + start, len - start);
        len -= start;
        if (rc == CLI_OK && st.n > 0 && (eof || !input_ready())) rc = jsonl_flush(&st);
    }
    for (int i = 0; i < st.n; i++) free(st.texts[i]);
    fflush(stdout);
    free(buf);
    free(st.out);
    return rc;
}

int cli_embed(int argc, char **argv)

{
    static const char *CMD = "embed";
    const char *model_path = NULL, *text = NULL;
    int jsonl = 0, normalize = 0, quiet = 0;
    long threads = 0;
    hubrt_pooling pooling = HUBRT_POOLING_DEFAULT;
    hubrt_quant quant = HUBRT_QUANT_NONE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { embed_help(stdout); return CLI_OK; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-p") || !strcmp(a, "--prompt") ||
                 !strcmp(a, "--pooling") || !strcmp(a, "-t") || !strcmp(a, "--threads") || !strcmp(a, "--quant")) {
            if (!has_value) return cli_usage(CMD, "%s needs a value", a);
            const char *v = argv[++i];
            if (a[1] == 'm' || !strcmp(a, "--model")) model_path = v;
            else if (a[1] == 'p' || !strcmp(a, "--prompt")) text = v;
            else if (!strcmp(a, "--pooling")) {
                if (!strcmp(v, "mean")) pooling = HUBRT_POOLING_MEAN;
                else if (!strcmp(v, "cls")) pooling = HUBRT_POOLING_CLS;
                else if (!strcmp(v, "max")) pooling = HUBRT_POOLING_MAX;
                else if (!strcmp(v, "last")) pooling = HUBRT_POOLING_LAST;
                else return cli_usage(CMD, "--pooling expects mean, cls, max or last, got '%s'", v);
            } else if (!strcmp(a, "--quant")) {
                if (cli_parse_quant(CMD, v, &quant)) return CLI_USAGE;
            } else if (cli_parse_int(CMD, a, v, 0, 4096, &threads)) return CLI_USAGE;
        } else if (!strcmp(a, "--jsonl")) jsonl = 1;
        else if (!strcmp(a, "--normalize")) normalize = 1;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = 1;
        else if (a[0] == '-') return cli_usage(CMD, "unknown option '%s'", a);
        else return cli_usage(CMD, "unexpected argument '%s'", a);
    }
    if (!model_path) return cli_usage(CMD, "-m DIR is required");
    if (!text && !jsonl) return cli_usage(CMD, "give -p TEXT or --jsonl");
    if (text && jsonl) return cli_usage(CMD, "give -p or --jsonl, not both");

    hubrt_load_params lp = hubrt_load_default_params();
    lp.n_threads = (int)threads;
    lp.quant = quant;
    hubrt_model *m = cli_load_model(CMD, model_path, &lp, quiet, NULL);
    if (!m) return CLI_ERROR;
    hubrt_model_info info;
    int rc = CLI_ERROR;
    float *vec = NULL;
    char *line = NULL;
    if (hubrt_model_get_info(m, &info) != HUBRT_OK) {
        cli_error(CMD, "%s", hubrt_last_error());
        goto done;
    }
    int dim = info.hidden_size > 0 ? info.hidden_size : 1;
    vec = malloc((size_t)dim * sizeof *vec);
    if (!vec) {
        cli_error(CMD, "out of memory");
        goto done;
    }
    if (text) {
        int n = hubrt_embed(m, text, pooling, normalize, vec, dim);
        if (n < 0) {
            cli_error(CMD, "%s", hubrt_last_error());
            goto done;
        }
        print_vector(vec, n);
        rc = CLI_OK;
        goto done;
    }
    /* --jsonl: one {"text": ...} object per line in, one array per line out */
    rc = embed_jsonl(m, pooling, normalize, dim);
done:
    free(line);
    free(vec);
    hubrt_model_free(m);
    return rc;
}

/* ---- fill-mask ---------------------------------------------------------- */

static void fill_mask_help(FILE *f)
{
    fprintf(f,
        "usage: run-model fill-mask -m DIR -p \"The capital of France is [MASK].\" [--top-k K]\n"
        "\n"
        "For each mask token in the text, prints the K most likely tokens as JSON:\n"
        "  [{\"position\": i, \"predictions\": [{\"id\", \"token\", \"score\"}, ...]}, ...]\n"
        "position is the index in the token ids (with [CLS]); score is the softmax probability.\n"
        "\n"
        "  -m, --model DIR    masked-LM model directory (BERT), or org/name in the local HF cache\n"
        "  -p, --prompt TEXT  text with one or more mask tokens ([MASK], or <mask>)\n"
        "      --top-k K      predictions per mask (default 5)\n"
        "  -t, --threads N    threads (default: physical cores)\n"
        "  -q, --quiet        no progress line on stderr\n"
        "  -h, --help         this help\n"
        "\n"
        "Exit status: 0 success, 1 error, 2 usage error.\n");
}

typedef struct scored {
    int32_t id;
    float p;
} scored;

static int cmp_scored(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

int cli_fill_mask(int argc, char **argv)
{
    static const char *CMD = "fill-mask";
    const char *model_path = NULL, *text = NULL;
    long top_k = 5, threads = 0;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fill_mask_help(stdout); return CLI_OK; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (i + 1 >= argc) return cli_usage(CMD, "%s needs a value", a);
            model_path = argv[++i];
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (i + 1 >= argc) return cli_usage(CMD, "%s needs a value", a);
            text = argv[++i];
        } else if (!strcmp(a, "--top-k")) {
            if (i + 1 >= argc) return cli_usage(CMD, "%s needs a value", a);
            if (cli_parse_int(CMD, a, argv[++i], 1, 1L << 20, &top_k)) return CLI_USAGE;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (i + 1 >= argc) return cli_usage(CMD, "%s needs a value", a);
            if (cli_parse_int(CMD, a, argv[++i], 0, 4096, &threads)) return CLI_USAGE;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = 1;
        else if (a[0] == '-') return cli_usage(CMD, "unknown option '%s'", a);
        else return cli_usage(CMD, "unexpected argument '%s'", a);
    }
    if (!model_path) return cli_usage(CMD, "-m DIR is required");
    if (!text) return cli_usage(CMD, "-p TEXT with a mask token is required");

    hubrt_load_params lp = hubrt_load_default_params();
    lp.n_threads = (int)threads;
    hubrt_model *m = cli_load_model(CMD, model_path, &lp, quiet, NULL);
    if (!m) return CLI_ERROR;
    int rc = CLI_ERROR;
    int32_t *ids = NULL;
    float *logits = NULL;
    scored *cand = NULL;
    int n = 0;
    hubrt_model_info info;
    if (hubrt_model_get_info(m, &info) != HUBRT_OK) {
        cli_error(CMD, "%s", hubrt_last_error());
        goto done;
    }
    int32_t mask = hubrt_token_id(m, "[MASK]");
    if (mask < 0) mask = hubrt_token_id(m, "<mask>");
    if (mask < 0) {
        cli_error(CMD, "the tokenizer has no mask token ([MASK] or <mask>)");
        goto done;
    }
    if (cli_tokenize_text(CMD, m, text, 1, &ids, &n)) goto done;
    int n_masks = 0;
    for (int i = 0; i < n; i++) n_masks += ids[i] == mask;
    if (n_masks == 0) {
        cli_error(CMD, "the text has no %s token", hubrt_token_text(m, mask));
        goto done;
    }
    const int V = info.n_logits; /* the MLM head's row width */
    if (V <= 0 || V < info.vocab_size || info.kind != HUBRT_MODEL_ENCODER) {
        cli_error(CMD, "%s has no masked-LM head (fill-mask needs an encoder such as BertForMaskedLM)",
                  info.architecture && *info.architecture ? info.architecture : "the model");
        goto done;
    }
    logits = malloc((size_t)n * (size_t)V * sizeof *logits);
    cand = malloc((size_t)V * sizeof *cand);
    if (!logits || !cand) {
        cli_error(CMD, "out of memory for [%d][%d] logits", n, V);
        goto done;
    }
    if (hubrt_encode(m, ids, NULL, n, NULL, NULL, logits) < 0) {
        cli_error(CMD, "%s", hubrt_last_error());
        goto done;
    }
    int k = top_k < V ? (int)top_k : V;
    fputc('[', stdout);
    int first = 1;
    for (int pos = 0; pos < n; pos++) {
        if (ids[pos] != mask) continue;
        const float *row = logits + (size_t)pos * V;
        float mx = -INFINITY;
        for (int j = 0; j < V; j++) mx = fmaxf(mx, row[j]);
        double z = 0;
        for (int j = 0; j < V; j++) z += exp((double)row[j] - mx);
        for (int j = 0; j < V; j++) {
            cand[j].id = j;
            cand[j].p = (float)(exp((double)row[j] - mx) / z);
        }
        qsort(cand, (size_t)V, sizeof *cand, cmp_scored);
        printf("%s{\"position\": %d, \"predictions\": [", first ? "" : ", ", pos);
        first = 0;
        for (int j = 0; j < k; j++) {
            const char *tok = hubrt_token_text(m, cand[j].id);
            printf("%s{\"id\": %d, \"token\": ", j ? ", " : "", (int)cand[j].id);
            cli_json_string(stdout, tok ? tok : "");
            printf(", \"score\": ");
            cli_json_float(stdout, cand[j].p);
            fputc('}', stdout);
        }
        fputs("]}", stdout);
    }
    fputs("]\n", stdout);
    fflush(stdout);
    rc = CLI_OK;
done:
    free(cand);
    free(logits);
    free(ids);
    hubrt_model_free(m);
    return rc;
}
