/*
 * bench/bench-model.c — whole-model speed: prefill (pp) and decode (tg)
 * tokens/s of a causal LM with random ids, or an encoder pass, plus load
 * time and peak RSS. The ids are random, so any hub-format model directory
 * works without a tokenizer (e.g. one made by make-model).
 *
 *   build/bench-model -m DIR [-p 512] [-n 128] [-t 2] [-r 3] [--storage mmap|copy|auto]
 *                     [--quant q8|q4] [--profile] [-c CONTEXT]
 *
 * -c sizes the session's KV cache (0: the model's whole context; default
 * just what the run needs): peak RSS shows whether an unused context costs
 * memory (it should not: KV pages become resident as positions fill).
 * The targets to compare with are in ../shared/docs/targets.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#include "include/hubrt.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process: with one thread, a load-independent
 * proxy for wall time on a busy machine (time spent descheduled is excluded). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    int pp = 512, tg = 128, reps = 3, profile = 0, ctx = -1;
    hubrt_load_params lp = hubrt_load_default_params();
    lp.no_tokenizer = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--profile")) { profile = 1; continue; }
        if (!v) { fprintf(stderr, "bench-model: '%s' needs a value\n", a); return 2; }
        i++;
        if (!strcmp(a, "-m")) dir = v;
        else if (!strcmp(a, "-p")) pp = atoi(v);
        else if (!strcmp(a, "-n")) tg = atoi(v);
        else if (!strcmp(a, "-r")) reps = atoi(v);
        else if (!strcmp(a, "-c")) ctx = atoi(v);
        else if (!strcmp(a, "-t")) lp.n_threads = atoi(v);
        else if (!strcmp(a, "--storage"))
            lp.storage = !strcmp(v, "mmap") ? HUBRT_STORAGE_MMAP : !strcmp(v, "copy") ? HUBRT_STORAGE_COPY : HUBRT_STORAGE_AUTO;
        else if (!strcmp(a, "--quant"))
            lp.quant = !strcmp(v, "q8") ? HUBRT_QUANT_Q8 : !strcmp(v, "q4") ? HUBRT_QUANT_Q4 : HUBRT_QUANT_NONE;
        else { fprintf(stderr, "bench-model: unknown option '%s'\n", a); return 2; }
    }
    if (!dir || pp < 1 || tg < 0 || reps < 1) {
        fprintf(stderr, "usage: bench-model -m DIR [-p 512] [-n 128] [-t T] [-r 3] "
                        "[--storage mmap|copy|auto] [--quant q8|q4] [--profile] [-c CONTEXT]\n");
        return 2;
    }
    double t0 = now();
    hubrt_model *m = hubrt_model_load(dir, &lp);
    if (!m) { fprintf(stderr, "bench-model: %s\n", hubrt_last_error()); return 1; }
    double load_s = now() - t0;
    hubrt_model_info info;
    if (hubrt_model_get_info(m, &info) != HUBRT_OK) { fprintf(stderr, "bench-model: %s\n", hubrt_last_error()); return 1; }
    int vocab = info.n_logits;
    int32_t *ids = malloc((size_t)pp * sizeof *ids);
    float *logits = malloc((size_t)(vocab > 0 ? vocab : 1) * sizeof(float));
    uint64_t rng = 12345;
    for (int i = 0; i < pp; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((rng >> 33) % (uint64_t)info.vocab_size);
    }
    if (info.kind != HUBRT_MODEL_CAUSAL_LM) {
        /* encoder: one pass of pp tokens */
        float *hid = malloc((size_t)pp * info.hidden_size * sizeof(float));
        double best = 1e9, sum = 0;
        for (int r = 0; r < reps + 1; r++) {
            double a = now();
            if (hubrt_encode(m, ids, NULL, pp, hid, NULL, NULL) != 0) {
                fprintf(stderr, "bench-model: %s\n", hubrt_last_error());
                return 1;
            }
            double d = now() - a;
            if (r) { sum += d; if (d < best) best = d; } /* first pass warms up */
        }
        printf("%s: encoder %d tokens: %.1f tok/s (mean), %.1f (best); load %.2f s; peak RSS %.1f MB\n",
               dir, pp, pp * reps / sum, pp / best, load_s, peak_rss_mb());
        free(hid);
        free(ids); free(logits);
        hubrt_model_free(m);
        return 0;
    }
    if (ctx < 0) ctx = pp + tg + 1 < info.max_positions ? pp + tg + 1 : info.max_positions;
    hubrt_session *s = hubrt_session_new(m, ctx);
    if (!s) { fprintf(stderr, "bench-model: %s\n", hubrt_last_error()); return 1; }
    /* warm-up: touches the weights and the KV pages */
    hubrt_forward(s, ids, pp < 16 ? pp : 16, NULL, logits);
    double pp_sum = 0, tg_sum = 0, pp_cpu = 0, tg_cpu = 0;
    for (int r = 0; r < reps; r++) {
        hubrt_session_reset(s);
        if (profile && r == reps - 1) hubrt_session_set_profile(s, 1);
        double a = now(), ca = cpu_now();
        if (hubrt_forward(s, ids, pp, NULL, logits) != 0) {
            fprintf(stderr, "bench-model: %s\n", hubrt_last_error());
            return 1;
        }
        double b = now(), cb = cpu_now();
        if (profile && r == reps - 1) {
            static char rep[1 << 14];
            hubrt_session_profile_report(s, rep, sizeof rep);
            fprintf(stderr, "--- prefill %d\n%s", pp, rep);
            hubrt_session_set_profile(s, 1);
        }
        for (int i = 0; i < tg; i++) {
            int32_t next = ids[(i * 7) % pp];
            if (hubrt_forward(s, &next, 1, NULL, logits) != 0) {
                fprintf(stderr, "bench-model: %s\n", hubrt_last_error());
                return 1;
            }
        }
        double c = now(), cc = cpu_now();
        pp_cpu += cb - ca;
        tg_cpu += cc - cb;
        if (profile && r == reps - 1) {
            static char rep[1 << 14];
            hubrt_session_profile_report(s, rep, sizeof rep);
            fprintf(stderr, "--- decode %d\n%s", tg, rep);
        }
        pp_sum += b - a;
        tg_sum += c - b;
    }
    printf("%s: threads %d, storage %s, quant %d: pp%d %.1f tok/s, tg%d %.1f tok/s; load %.2f s; "
           "peak RSS %.1f MB\n", dir, lp.n_threads, lp.storage == HUBRT_STORAGE_MMAP ? "mmap" :
           lp.storage == HUBRT_STORAGE_COPY ? "copy" : "auto", (int)lp.quant, pp, pp * reps / pp_sum,
           tg, tg ? tg * reps / tg_sum : 0.0, load_s, peak_rss_mb());
    if (lp.n_threads == 1)
        printf("  per CPU second (1 thread; excludes time descheduled on a busy machine): "
               "pp%d %.1f tok/s, tg%d %.1f tok/s\n", pp, pp * reps / pp_cpu, tg, tg ? tg * reps / tg_cpu : 0.0);
    hubrt_session_free(s);
    hubrt_model_free(m);
    free(ids);
    free(logits);
    return 0;
}
