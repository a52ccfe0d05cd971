/*
 * tools/cli_logits.c — `run-model logits`: one forward pass over ids or text,
 * written as float32 safetensors for comparison with transformers.
 *
 *   causal LMs: logits [seq, vocab]
 *   encoders:   last_hidden_state [seq, hidden], pooler_output [hidden] when
 *               the checkpoint has a pooler, logits [seq, vocab] with an MLM
 *               head ([labels] for sequence classification)
 *
 * The file writer is here rather than in the library: writing result files
 * is this command's job, and hubrt's API stays about running models.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cli.h"

static const char CMD[] = "logits";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: run-model logits -m DIR (--ids 1,2,3 [--type-ids 0,0,1] | -p TEXT [--pair TEXT])\n"
            "                        --out FILE.safetensors [-t THREADS] [--quant q8|q4]\n"
            "\n"
            "Runs one forward pass and writes float32 tensors in safetensors format:\n"
            "  causal LMs:  logits [seq, vocab]\n"
            "  encoders:    last_hidden_state [seq, hidden], pooler_output [hidden] (when the\n"
            "               checkpoint has a pooler), logits [seq, vocab] (MLM head) or\n"
            "               [labels] (sequence classification)\n"
            "\n"
            "  -m, --model DIR     the model directory or org/name\n"
            "  --ids LIST          token ids, comma-separated (no tokenizer needed)\n"
            "  --type-ids LIST     token type ids for encoders (default all 0)\n"
            "  -p, --prompt TEXT   text, tokenized with special tokens\n"
            "  --pair TEXT         second text of a sentence pair (encoders)\n"
            "  --out FILE          the safetensors file to write\n"
            "  -t, --threads N     threads (default: physical cores)\n"
            "  --quant q8|q4       quantise the weights on load (lossy)\n"
            "  -h, --help          this text\n"
            "\n"
            "Exit status: 0 success, 1 error (one line on stderr), 2 usage error.\n");
}

/* One f32 tensor of the output file: a fixed name, rank 1 or 2. */
typedef struct out_tensor {
    const char *name;
    int ndim;
    int64_t shape[2];
    const float *data;
} out_tensor;

/* Appends printf output to header[*len]; 0, or -1 when it does not fit. */
static int put(char *header, size_t cap, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int put(char *header, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(header + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= cap - *len) return -1;
    *len += (size_t)k;
    return 0;
}

/*
 * Writes tensors as a safetensors file: an 8-byte little-endian header
 * length, the JSON header (names, "F32", shapes, byte ranges) padded with
 * spaces so the data starts 8-aligned, then the raw little-endian floats.
 * 0, or -1 with the message printed.
 */
static int write_safetensors(const char *path, const out_tensor *t, int n)
{
    char header[1024];
    size_t len = 0;
    uint64_t off = 0;
    int bad = put(header, sizeof header, &len, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n && !bad; i++) {
        uint64_t bytes = sizeof(float);
        for (int d = 0; d < t[i].ndim; d++) bytes *= (uint64_t)t[i].shape[d];
        bad |= put(header, sizeof header, &len, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[", t[i].name);
        for (int d = 0; d < t[i].ndim && !bad; d++)
            bad |= put(header, sizeof header, &len, d ? ",%" PRId64 : "%" PRId64, t[i].shape[d]);
        bad |= put(header, sizeof header, &len, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, off + bytes);
        off += bytes;
    }
    bad |= put(header, sizeof header, &len, "}");
    while (!bad && (8 + len) % 8) bad |= put(header, sizeof header, &len, " ");
    if (bad) return cli_error(CMD, "%s: safetensors header too long", path), -1;
    FILE *f = fopen(path, "wb");
    if (!f) return cli_error(CMD, "%s: cannot create: %s", path, strerror(errno)), -1;
    unsigned char len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (unsigned char)((uint64_t)len >> (8 * k));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(header, 1, len, f) == len;
    for (int i = 0; ok && i < n; i++) {
        size_t count = 1;
        for (int d = 0; d < t[i].ndim; d++) count *= (size_t)t[i].shape[d];
        ok = fwrite(t[i].data, sizeof(float), count, f) == count;
    }
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        int e = errno;
        remove(path);
        return cli_error(CMD, "%s: write failed: %s", path, strerror(e)), -1;
    }
    return 0;
}

int cli_logits(int argc, char **argv)
{
    const char *model = NULL, *ids_s = NULL, *types_s = NULL, *prompt = NULL, *pair = NULL, *out = NULL;
    hubrt_load_params lp = hubrt_load_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return CLI_OK; }
        if (i + 1 >= argc) return cli_usage(CMD, "unknown option or missing value: '%s'", a);
        const char *v = argv[++i];
        long n;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--ids")) ids_s = v;
        else if (!strcmp(a, "--type-ids")) types_s = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) prompt = v;
        else if (!strcmp(a, "--pair")) pair = v;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o")) out = v;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (cli_parse_int(CMD, a, v, 1, 1024, &n)) return CLI_USAGE;
            lp.n_threads = (int)n;
        } else if (!strcmp(a, "--quant")) {
            if (cli_parse_quant(CMD, v, &lp.quant)) return CLI_USAGE;
        } else {
            return cli_usage(CMD, "unknown option '%s'", a);
        }
    }
    if (!model) return cli_usage(CMD, "-m DIR is required");
    if (!out) return cli_usage(CMD, "--out FILE is required");
    if (!!ids_s == !!prompt) return cli_usage(CMD, "give exactly one of --ids and -p");
    if (pair && !prompt) return cli_usage(CMD, "--pair needs -p");
    if (types_s && !ids_s) return cli_usage(CMD, "--type-ids needs --ids");

    int32_t *ids = NULL, *types = NULL;
    int n = 0, n_types = 0;
    if (ids_s && cli_parse_ids(CMD, "--ids", ids_s, &ids, &n)) return CLI_USAGE;
    if (types_s && cli_parse_ids(CMD, "--type-ids", types_s, &types, &n_types)) { free(ids); return CLI_USAGE; }
    if (types && n_types != n) {
        free(ids); free(types);
        return cli_usage(CMD, "--type-ids has %d items, --ids has %d", n_types, n);
    }
    if (ids && n == 0) { free(ids); free(types); return cli_usage(CMD, "--ids is empty"); }

    if (ids) lp.no_tokenizer = 1;
    hubrt_model *m = cli_load_model(CMD, model, &lp, 1, NULL);
    if (!m) { free(ids); free(types); return CLI_ERROR; }
    int rc = CLI_ERROR;
    float *logits = NULL, *hidden = NULL, *pooled = NULL;
    hubrt_session *s = NULL;
    hubrt_model_info info;
    if (hubrt_model_get_info(m, &info) != 0) { cli_error(CMD, "%s", hubrt_last_error()); goto done; }
    if (info.kind == HUBRT_MODEL_TOKENIZER_ONLY) { cli_error(CMD, "%s has no weights", model); goto done; }

    if (prompt) {
        if (pair) {
            int need = hubrt_tokenize_pair(m, prompt, pair, 1, NULL, NULL, 0);
            if (need < 0) { cli_error(CMD, "%s", hubrt_last_error()); goto done; }
            ids = malloc((size_t)(need ? need : 1) * sizeof *ids);
            types = malloc((size_t)(need ? need : 1) * sizeof *types);
            if (!ids || !types) { cli_error(CMD, "out of memory"); goto done; }
            n = hubrt_tokenize_pair(m, prompt, pair, 1, ids, types, need);
            if (n < 0) { cli_error(CMD, "%s", hubrt_last_error()); goto done; }
        } else if (cli_tokenize_text(CMD, m, prompt, 1, &ids, &n) != 0) {
            goto done;
        }
        if (n == 0) { cli_error(CMD, "the text gives no tokens"); goto done; }
    }

    const int nl = info.n_logits;
    out_tensor t[3];
    int nt = 0;
    memset(t, 0, sizeof t);
    if (info.kind == HUBRT_MODEL_CAUSAL_LM) {
        logits = malloc((size_t)n * (size_t)nl * sizeof(float));
        if (!logits) { cli_error(CMD, "out of memory"); goto done; }
        s = hubrt_session_new(m, 0);
        if (!s || hubrt_forward(s, ids, n, logits, NULL) != HUBRT_OK) {
            cli_error(CMD, "%s", hubrt_last_error());
            goto done;
        }
        t[nt++] = (out_tensor){"logits", 2, {n, nl}, logits};
    } else {
        int per_seq = info.logits_per_sequence; /* classifier: one row of labels */
        hidden = malloc((size_t)n * (size_t)info.hidden_size * sizeof(float));
        if (info.has_pooler) pooled = malloc((size_t)info.hidden_size * sizeof(float));
        if (nl > 0) logits = malloc((size_t)(per_seq ? 1 : n) * (size_t)nl * sizeof(float));
        if (!hidden || (info.has_pooler && !pooled) || (nl > 0 && !logits)) {
            cli_error(CMD, "out of memory");
            goto done;
        }
        if (hubrt_encode(m, ids, types, n, hidden, pooled, logits) != HUBRT_OK) {
            cli_error(CMD, "%s", hubrt_last_error());
            goto done;
        }
        if (logits) {
            if (per_seq) t[nt++] = (out_tensor){"logits", 1, {nl}, logits};
            else t[nt++] = (out_tensor){"logits", 2, {n, nl}, logits};
        }
        t[nt++] = (out_tensor){"last_hidden_state", 2, {n, info.hidden_size}, hidden};
        if (pooled) t[nt++] = (out_tensor){"pooler_output", 1, {info.hidden_size}, pooled};
    }
    if (write_safetensors(out, t, nt) != 0) goto done;
    rc = CLI_OK;
done:
    hubrt_session_free(s);
    hubrt_model_free(m);
    free(ids); free(types); free(logits); free(hidden); free(pooled);
    return rc;
}
