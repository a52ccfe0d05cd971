/*
 * tools/cli_bench.c — `run-model bench`: prefill and decode speed of a
 * model, like llama-bench's pp/tg tests.
 *
 * One load (timed), one untimed warm-up, then -r repetitions of: reset the
 * session, prefill -p tokens in one hubrt_forward() call, decode -n tokens
 * one at a time (each the argmax of the previous logits, so the work is what
 * greedy generation does, minus the tokenizer). Prints the mean and the
 * sample standard deviation over the repetitions, the load time and the
 * process's peak RSS. Encoders (BERT) have no decode: prefill is one
 * hubrt_encode() of -p tokens and the decode figures are 0.
 *
 * --batch N runs N sequences together, as a server would: N sessions with
 * different prompts, prefilled in one hubrt_forward_batch() call, then -n
 * decode steps, each one hubrt_forward_batch() of N single tokens. Decode
 * speed is then reported per sequence and in total (N x per sequence), and
 * prefill in total.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tools/cli.h"

static const char *CMD = "bench";

static void usage(FILE *f)
{
    fprintf(f,
        "usage: run-model bench -m DIR [-p 128] [-n 128] [-t THREADS] [-r 3] [--batch N] [--json]\n"
        "\n"
        "Measures prefill (prompt) and decode (one token at a time) speed.\n"
        "\n"
        "  -m, --model DIR   model directory, or org/name in the local HF cache\n"
        "  -p N              prompt tokens to prefill (default 128)\n"
        "  -n N              tokens to decode after the prompt (default 128; 0 = none)\n"
        "  -t, --threads N   threads (default: physical cores)\n"
        "  -r N              repetitions (default 3); mean and spread are over these\n"
        "      --batch N     N sequences at once (default 1), prefilled together and decoded\n"
        "                    together one token each per step (hubrt_forward_batch); decode\n"
        "                    speed per sequence and in total, prefill in total (causal LMs)\n"
        "      --quant q8|q4 quantise weights on load (lossy)\n"
        "      --json        one JSON object: {\"model\", \"threads\", \"batch\", \"prefill_tokens\",\n"
        "                    \"prefill_tok_s\", \"prefill_tok_s_sd\", \"decode_tokens\",\n"
        "                    \"decode_tok_s\", \"decode_tok_s_sd\", \"decode_tok_s_total\",\n"
        "                    \"decode_tok_s_total_sd\", \"load_s\", \"peak_rss_mb\", \"reps\"}\n"
        "                    (per sequence: decode_tok_s; all sequences: decode_tok_s_total,\n"
        "                    prefill_tok_s; prefill_tokens and decode_tokens are per sequence)\n"
        "      --profile     per-op time table (all timed passes) on stderr\n"
        "  -q, --quiet       no progress line on stderr\n"
        "  -h, --help        this help\n"
        "\n"
        "Exit status: 0 success, 1 error, 2 usage error.\n");
}

static void mean_sd(const double *x, int n, double *mean, double *sd)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    *mean = n ? s / n : 0;
    double v = 0;
    for (int i = 0; i < n; i++) v += (x[i] - *mean) * (x[i] - *mean);
    *sd = n > 1 ? sqrt(v / (n - 1)) : 0;
}

static int32_t argmax(const float *x, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

int cli_bench(int argc, char **argv)
{
    const char *model_path = NULL;
    long n_prompt = 128, n_gen = 128, threads = 0, reps = 3, batch = 1;
    int json = 0, quiet = 0, profile = 0;
    hubrt_quant quant = HUBRT_QUANT_NONE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return CLI_OK; }
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--profile")) profile = 1;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = 1;
        else if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-p") || !strcmp(a, "-n") ||
                 !strcmp(a, "-t") || !strcmp(a, "--threads") || !strcmp(a, "-r") || !strcmp(a, "--quant") ||
                 !strcmp(a, "--batch")) {
            if (i + 1 >= argc) return cli_usage(CMD, "%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_path = v;
            else if (!strcmp(a, "--quant")) { if (cli_parse_quant(CMD, v, &quant)) return CLI_USAGE; }
            else if (!strcmp(a, "-p")) { if (cli_parse_int(CMD, a, v, 1, 1 << 20, &n_prompt)) return CLI_USAGE; }
            else if (!strcmp(a, "-n")) { if (cli_parse_int(CMD, a, v, 0, 1 << 20, &n_gen)) return CLI_USAGE; }
            else if (!strcmp(a, "-r")) { if (cli_parse_int(CMD, a, v, 1, 1000, &reps)) return CLI_USAGE; }
            else if (!strcmp(a, "--batch")) { if (cli_parse_int(CMD, a, v, 1, 256, &batch)) return CLI_USAGE; }
            else if (cli_parse_int(CMD, a, v, 0, 4096, &threads)) return CLI_USAGE;
        } else if (a[0] == '-') return cli_usage(CMD, "unknown option '%s'", a);
        else return cli_usage(CMD, "unexpected argument '%s'", a);
    }
    if (!model_path) return cli_usage(CMD, "-m DIR is required");

    hubrt_load_params lp = hubrt_load_default_params();
    lp.n_threads = (int)threads;
    lp.quant = quant;
    lp.no_tokenizer = 1; /* ids only: the tokenizer is not part of the benchmark */
    double load_s = 0;
    hubrt_model *m = cli_load_model(CMD, model_path, &lp, quiet, &load_s);
    if (!m) return CLI_ERROR;

    int rc = CLI_ERROR;
    hubrt_session **ss = NULL; /* [batch] */
    hubrt_batch_item *items = NULL;
    int32_t *ids = NULL, *next = NULL;
    float *buf = NULL;
    double *pp = NULL, *tg = NULL;
    hubrt_model_info info;
    if (hubrt_model_get_info(m, &info) != HUBRT_OK) {
        cli_error(CMD, "%s", hubrt_last_error());
        goto done;
    }
    const int encoder = info.kind == HUBRT_MODEL_ENCODER;
    if (encoder && batch > 1) {
        cli_error(CMD, "--batch needs a causal LM; %s is an encoder", info.architecture);
        goto done;
    }
    if (encoder) n_gen = 0;
    if (info.max_positions > 0 && n_prompt + n_gen > info.max_positions) {
        cli_error(CMD, "-p %ld + -n %ld tokens exceed the model's context of %d", n_prompt, n_gen, info.max_positions);
        goto done;
    }
    const int n_logits = info.n_logits;
    const int V = n_logits > 0 ? n_logits : 1; /* the LM head's row width */
    const int H = info.hidden_size > 0 ? info.hidden_size : 1;
    const int B = (int)batch;
    ids = malloc((size_t)B * (size_t)n_prompt * sizeof *ids);
    next = malloc((size_t)B * sizeof *next);
    /* decoders need last_logits [B][V]; encoders hidden [n_prompt][H] */
    size_t buf_n = encoder ? (size_t)n_prompt * (size_t)H : (size_t)B * (size_t)V;
    buf = malloc(buf_n * sizeof *buf);
    ss = calloc((size_t)B, sizeof *ss);
    items = calloc((size_t)B, sizeof *items);
    pp = calloc((size_t)reps, sizeof *pp);
    tg = calloc((size_t)reps, sizeof *tg);
    if (!ids || !next || !buf || !ss || !items || !pp || !tg) {
        cli_error(CMD, "out of memory");
        goto done;
    }
    /* fixed, vocabulary-spread prompts, one per sequence (a real one would need the tokenizer) */
    for (long b = 0; b < B; b++)
        for (long i = 0; i < n_prompt; i++)
            ids[b * n_prompt + i] = (int32_t)(1 + ((i + 131 * b) * 7919 + 13) % (V > 1 ? V - 1 : 1));

    for (int b = 0; b < B && !encoder; b++) {
        ss[b] = hubrt_session_new(m, (int)(n_prompt + n_gen));
        if (!ss[b]) {
            cli_error(CMD, "%s", hubrt_last_error());
            goto done;
        }
    }
    for (long r = -1; r < reps; r++) { /* r = -1: warm-up, not counted */
        long np = r < 0 ? (n_prompt < 8 ? n_prompt : 8) : n_prompt;
        long ng = r < 0 ? (n_gen < 2 ? n_gen : 2) : n_gen;
        int st;
        double t0 = cli_now();
        if (encoder) {
            st = hubrt_encode(m, ids, NULL, (int)np, buf, NULL, NULL);
        } else if (B == 1) {
            hubrt_session_reset(ss[0]);
            st = hubrt_forward(ss[0], ids, (int)np, NULL, buf);
        } else {
            for (int b = 0; b < B; b++) {
                hubrt_session_reset(ss[b]);
                items[b].session = ss[b];
                items[b].ids = ids + (size_t)b * (size_t)n_prompt;
                items[b].n = (int)np;
                items[b].last_logits = buf + (size_t)b * (size_t)V;
            }
            st = hubrt_forward_batch(items, B);
        }
        double t1 = cli_now();
        for (long j = 0; st >= 0 && j < ng; j++) {
            for (int b = 0; b < B; b++) {
                next[b] = argmax(buf + (size_t)b * (size_t)V, V);
                items[b].ids = next + b;
                items[b].n = 1;
            }
            st = B == 1 ? hubrt_forward(ss[0], next, 1, NULL, buf) : hubrt_forward_batch(items, B);
        }
        double t2 = cli_now();
        if (st < 0) {
            cli_error(CMD, "%s", hubrt_last_error());
            goto done;
        }
        if (r < 0 && profile && ss[0] && hubrt_session_set_profile(ss[0], 1) != HUBRT_OK) { /* after the warm-up */
            cli_error(CMD, "%s", hubrt_last_error());
            goto done;
        }
        if (r >= 0) {
            pp[r] = t1 > t0 ? (double)B * np / (t1 - t0) : 0;
            tg[r] = ng > 0 && t2 > t1 ? ng / (t2 - t1) : 0;
        }
    }
    double pp_mean, pp_sd, tg_mean, tg_sd;
    mean_sd(pp, (int)reps, &pp_mean, &pp_sd);
    mean_sd(tg, (int)reps, &tg_mean, &tg_sd);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
    const int n_threads = info.n_threads;

    if (json) {
        printf("{\"model\": ");
        cli_json_string(stdout, info.dir ? info.dir : model_path);
        printf(", \"threads\": %d, \"batch\": %d, \"prefill_tokens\": %ld, \"prefill_tok_s\": ", n_threads, B,
               n_prompt);
        cli_json_float(stdout, pp_mean);
        printf(", \"prefill_tok_s_sd\": ");
        cli_json_float(stdout, pp_sd);
        printf(", \"decode_tokens\": %ld, \"decode_tok_s\": ", n_gen);
        cli_json_float(stdout, tg_mean);
        printf(", \"decode_tok_s_sd\": ");
        cli_json_float(stdout, tg_sd);
        printf(", \"decode_tok_s_total\": ");
        cli_json_float(stdout, B * tg_mean);
        printf(", \"decode_tok_s_total_sd\": ");
        cli_json_float(stdout, B * tg_sd);
        printf(", \"load_s\": ");
        cli_json_float(stdout, load_s);
        printf(", \"peak_rss_mb\": ");
        cli_json_float(stdout, rss_mb);
        printf(", \"reps\": %ld}\n", reps);
    } else {
        printf("model    %s (%s, %.2fM params)\n", info.dir ? info.dir : model_path,
               info.architecture ? info.architecture : "?", info.n_params / 1e6);
        printf("threads  %d | load %.3f s | peak RSS %.1f MB | %ld repetitions\n", n_threads, load_s, rss_mb, reps);
        if (B > 1) printf("batch    %d sequences, prompts and decode steps together\n", B);
        printf("prefill  %5ld tokens  %10.1f ± %.1f tok/s%s\n", n_prompt, pp_mean, pp_sd, B > 1 ? " in total" : "");
        if (encoder) printf("decode   n/a (encoder)\n");
        else printf("decode   %5ld tokens  %10.1f ± %.1f tok/s%s\n", n_gen, tg_mean, tg_sd, B > 1 ? " per sequence" : "");
        if (B > 1) printf("decode   total       %10.1f ± %.1f tok/s (%d sequences)\n", B * tg_mean, B * tg_sd, B);
    }
    if (profile) {
        if (ss[0]) cli_print_profile(ss[0]);
        else fprintf(stderr, "run-model bench: --profile needs a causal LM session (encoders are not profiled)\n");
    }
    rc = CLI_OK;
done:
    for (int b = 0; ss && b < batch; b++) hubrt_session_free(ss[b]);
    free(ss);
    free(items);
    free(pp);
    free(tg);
    free(buf);
    free(ids);
    free(next);
    hubrt_model_free(m);
    return rc;
}
