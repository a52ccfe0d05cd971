/*
 * bench/bench-kernels.c — times hubrt's kernels next to this machine's limits.
 *
 *   build/bench-kernels [--json] [-t N] [--quick] [--filter WORD] [--cputime] [--best]
 *
 * First it measures the limits itself: memory read bandwidth (STREAM-like,
 * each thread reading its part of a 1 GiB array as 4 parallel streams, the
 * way a GEMV reads 4 weight rows, and as one sequential stream, the way it
 * reads row-interleaved weights; the higher is the limit) and the FP32 FMA
 * peak (independent AVX-512 or AVX2 FMA chains). Then it times matmul on the
 * shapes of real models — GEMV (1 row, decode), decode batches (4, 8, 16
 * rows: one pass for several sequences) and GEMM (128 and 512 rows,
 * prefill) per weight dtype, OpenBLAS sgemm beside the f32 GEMM, and for
 * pre-quantised GPTQ-style int4/int8 weights (gq4/gq8: group 128, exact f32
 * maths) — and attention at 512 and 2048 positions, checking each against
 * the scalar reference before timing it.
 *
 * GEMV and decode batches read their weights from a pool of copies larger
 * than the L3 cache so every call streams from memory, as decode does. Each
 * line gives ms per call, GB/s (bytes of weights/KV read), GFLOP/s and the
 * percentage of the limit that bounds the kernel (bandwidth for GEMV and
 * decode attention, FMA peak for GEMM and prefill attention, the tighter of
 * the two for a decode batch). Then the kernels the executor calls
 * once per node (residual add + norm, q|k|v split, KV store, SwiGLU,
 * mul/relu/copy, embedding rows, packed-sequence attention, a decode step
 * of several sequences' attention one call each and in one call); see
 * bench_add_norm for how their rates read. --json prints one object per line.
 */
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <cblas.h>

#include "kernels/kernels.h"
#include "kernels/ref.h"
#include "kernels/gq.h"

static int g_json, g_threads = 1, g_quick, g_best;
static const char *g_filter;
static double g_bw, g_peak; /* GB/s, GFLOP/s */

/*
 * --cputime: time with the process's CPU clock divided by the thread count
 * (for tuning on a busy machine; with -t 1 it ignores time the thread spent
 * descheduled). Default: wall clock.
 */
static clockid_t g_clock = CLOCK_MONOTONIC;

static double now(void)
{
    struct timespec ts;
    clock_gettime(g_clock, &ts);
    if (g_clock == CLOCK_PROCESS_CPUTIME_ID)
        return (ts.tv_sec + ts.tv_nsec * 1e-9) / g_threads;
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Big buffers are 2 MiB-aligned with transparent huge pages asked for, as
 * the runtime loads weights (4 KiB pages cost TLB misses when streaming). */
static void *xalloc(size_t n)
{
    void *p = NULL;
    size_t align = n >= ((size_t)4 << 20) ? ((size_t)2 << 20) : 64;
    if (posix_memalign(&p, align, n ? n : 64) != 0) {
        fprintf(stderr, "bench-kernels: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    if (align > 64) madvise(p, (n + align - 1) & ~(align - 1), MADV_HUGEPAGE);
    return p;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

/* ---------------- limits ---------------- */

/*
 * Reads n floats as 4 parallel streams the way a GEMV reads 4 weight rows:
 * the range is cut into 32 KiB pieces, each read as 4 rows of 8 KiB at once.
 */
__attribute__((target("avx512f"))) static double read_sum(const float *p, size_t n)
{
    const size_t row = 2048; /* floats per "row" */
    __m512 a = _mm512_setzero_ps(), b = a, c = a, d = a, e = a, f = a, g = a, h = a;
    for (size_t base = 0; base + 4 * row <= n; base += 4 * row) {
        const float *r = p + base;
        for (size_t i = 0; i < row; i += 32) {
            a = _mm512_add_ps(a, _mm512_load_ps(r + i));
            b = _mm512_add_ps(b, _mm512_load_ps(r + row + i));
            c = _mm512_add_ps(c, _mm512_load_ps(r + 2 * row + i));
            d = _mm512_add_ps(d, _mm512_load_ps(r + 3 * row + i));
            e = _mm512_add_ps(e, _mm512_load_ps(r + i + 16));
            f = _mm512_add_ps(f, _mm512_load_ps(r + row + i + 16));
            g = _mm512_add_ps(g, _mm512_load_ps(r + 2 * row + i + 16));
            h = _mm512_add_ps(h, _mm512_load_ps(r + 3 * row + i + 16));
        }
    }
    a = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d)),
                      _mm512_add_ps(_mm512_add_ps(e, f), _mm512_add_ps(g, h)));
    return _mm512_reduce_add_ps(a);
}
/* One sequential stream (8 accumulators), as a GEMV over interleaved rows reads. */
__attribute__((target("avx512f"))) static double read_seq(const float *p, size_t n)
{
    __m512 a = _mm512_setzero_ps(), b = a, c = a, d = a, e = a, f = a, g = a, h = a;
    for (size_t i = 0; i + 128 <= n; i += 128) {
        a = _mm512_add_ps(a, _mm512_load_ps(p + i));
        b = _mm512_add_ps(b, _mm512_load_ps(p + i + 16));
        c = _mm512_add_ps(c, _mm512_load_ps(p + i + 32));
        d = _mm512_add_ps(d, _mm512_load_ps(p + i + 48));
        e = _mm512_add_ps(e, _mm512_load_ps(p + i + 64));
        f = _mm512_add_ps(f, _mm512_load_ps(p + i + 80));
        g = _mm512_add_ps(g, _mm512_load_ps(p + i + 96));
        h = _mm512_add_ps(h, _mm512_load_ps(p + i + 112));
    }
    a = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d)),
                      _mm512_add_ps(_mm512_add_ps(e, f), _mm512_add_ps(g, h)));
    return _mm512_reduce_add_ps(a);
}

__attribute__((target("avx2"))) static double read_sum2(const float *p, size_t n)
{
    size_t q = n / 4;
    __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
    for (size_t i = 0; i + 8 <= q; i += 8) {
        a = _mm256_add_ps(a, _mm256_load_ps(p + i));
        b = _mm256_add_ps(b, _mm256_load_ps(p + q + i));
        c = _mm256_add_ps(c, _mm256_load_ps(p + 2 * q + i));
        d = _mm256_add_ps(d, _mm256_load_ps(p + 3 * q + i));
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
    return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}

/*
 * Memory read bandwidth, best of several passes over 1 GiB: each thread
 * reads its part as 4 parallel streams (4 rows of a GEMV) and, in other
 * passes, as one sequential stream; the higher is the limit (*four and *seq
 * get both).
 */
static double measure_bw(double *four, double *seq)
{
    size_t bytes = (size_t)1 << 30, n = bytes / 4;
    float *p = xalloc(bytes);
#pragma omp parallel for num_threads(g_threads) schedule(static)
    for (size_t i = 0; i < n; i++) p[i] = (float)(i & 255);
    double best[2] = {0, 0}, sink = 0;
    int avx512 = __builtin_cpu_supports("avx512f");
    for (int rep = 0; rep < (g_quick ? 6 : 12); rep++) {
        int mode = avx512 ? rep & 1 : 0;
        double t0 = now();
#pragma omp parallel num_threads(g_threads) reduction(+ : sink)
        {
            int nt = omp_get_num_threads(), id = omp_get_thread_num();
            size_t chunk = (n / nt) & ~(size_t)8191;
            const float *q = p + chunk * id;
            sink += mode ? read_seq(q, chunk) : avx512 ? read_sum(q, chunk) : read_sum2(q, chunk);
        }
        double t = now() - t0, gbs = bytes / t / 1e9;
        if (gbs > best[mode]) best[mode] = gbs;
    }
    if (sink == 12345.0) printf(" ");
    free(p);
    *four = best[0];
    *seq = best[1];
    return best[0] > best[1] ? best[0] : best[1];
}

/* 24 (12) independent FMA chains, written out so they live in registers. */
#define FMA_CHAINS(F, a) F(a##0) F(a##1) F(a##2) F(a##3) F(a##4) F(a##5) F(a##6) F(a##7) \
    F(a##8) F(a##9) F(a##10) F(a##11)
__attribute__((target("avx512f"))) static double fma_loop512(long iters)
{
    __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
#define DECL(v) __m512 v = _mm512_set1_ps(1.0f + 0.001f * __COUNTER__);
    FMA_CHAINS(DECL, a) FMA_CHAINS(DECL, b)
#define STEP(v) v = _mm512_fmadd_ps(v, m, c);
    for (long k = 0; k < iters; k++) {
        FMA_CHAINS(STEP, a) FMA_CHAINS(STEP, b)
        __asm__ volatile("" ::: "memory");
    }
    __m512 s = _mm512_setzero_ps();
#define SUM(v) s = _mm512_add_ps(s, v);
    FMA_CHAINS(SUM, a) FMA_CHAINS(SUM, b)
    return _mm512_reduce_add_ps(s);
}
#undef DECL
#undef SUM
__attribute__((target("avx2,fma"))) static double fma_loop256(long iters)
{
    __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
#define DECL(v) __m256 v = _mm256_set1_ps(1.0f + 0.001f * __COUNTER__);
#undef STEP
#define STEP(v) v = _mm256_fmadd_ps(v, m, c);
    FMA_CHAINS(DECL, a)
    for (long k = 0; k < iters; k++) {
        FMA_CHAINS(STEP, a)
        __asm__ volatile("" ::: "memory");
    }
    __m256 s = _mm256_setzero_ps();
#define SUM(v) s = _mm256_add_ps(s, v);
    FMA_CHAINS(SUM, a)
    float t[8];
    _mm256_storeu_ps(t, s);
    return t[0];
}

static double measure_peak(void)
{
    int avx512 = __builtin_cpu_supports("avx512f");
    long iters = 1000000; /* ~0.1 s a rep: short, so some reps run undisturbed */
    double best = 0, sink = 0;
    for (int rep = 0; rep < (g_quick ? 5 : 10); rep++) {
        double t0 = now();
#pragma omp parallel num_threads(g_threads) reduction(+ : sink)
        sink += avx512 ? fma_loop512(iters) : fma_loop256(iters);
        double t = now() - t0;
        double flops = (double)iters * g_threads * (avx512 ? 24 * 16 * 2 : 12 * 8 * 2);
        if (flops / t / 1e9 > best) best = flops / t / 1e9;
    }
    if (sink == 12345.0) printf(" ");
    return best;
}

/* ---------------- reporting ---------------- */

/* bound: 1 = read bandwidth, 0 = FMA peak, 2 = whichever allows less (a decode batch) */
static void report(const char *kernel, const char *dtype, const char *shape, int rows, double ms,
                   double bytes, double flops, int bound)
{
    double gbps = bytes / (ms * 1e-3) / 1e9, gflops = flops / (ms * 1e-3) / 1e9;
    int bw_bound = bound == 2 ? bytes / g_bw > flops / g_peak : bound;
    double pct = bw_bound ? 100 * gbps / g_bw : 100 * gflops / g_peak;
    if (g_json)
        printf("{\"kernel\": \"%s\", \"dtype\": \"%s\", \"shape\": \"%s\", \"rows\": %d, \"threads\": %d, "
               "\"ms\": %.4f, \"gbps\": %.2f, \"gflops\": %.2f, \"pct_of_limit\": %.1f}\n",
               kernel, dtype, shape, rows, g_threads, ms, gbps, gflops, pct);
    else
        printf("%-10s %-5s %-12s rows=%-4d t=%d %9.4f ms %8.2f GB/s %8.2f GFLOP/s %6.1f%% of %s\n", kernel,
               dtype, shape, rows, g_threads, ms, gbps, gflops, pct, bw_bound ? "read BW" : "FMA peak");
    fflush(stdout);
}

static int selected(const char *kernel, const char *dtype, const char *shape)
{
    if (!g_filter) return 1;
    return strstr(kernel, g_filter) || strstr(dtype, g_filter) || strstr(shape, g_filter);
}

/* ---------------- matmul ---------------- */

static const char *dtname(hk_wtype t)
{
    static const char *n[] = {"f32", "f16", "bf16", "q8", "q4", "gq4", "gq8"};
    return n[t];
}

/* A weight of shape rows x cols in dtype t, from random f32 values. */
static void make_weight(hk_weight *w, hk_wtype t, int rows, int cols, void **mem)
{
    size_t n = (size_t)rows * cols;
    hk_wtype st = t == HK_Q8 || t == HK_Q4 ? HK_F32 : t;
    size_t es = st == HK_F32 ? 4 : 2;
    void *d = xalloc(n * es);
    for (size_t i = 0; i < n; i++) {
        float f = frand() * 0.1f;
        if (st == HK_F32) ((float *)d)[i] = f;
        else ((uint16_t *)d)[i] = st == HK_BF16 ? hk_f32_to_bf16(f) : hk_f32_to_f16(f);
    }
    hk_weight_view(w, st, rows, cols, d);
    *mem = d;
    if (st != t) {
        hk_weight q;
        if (hk_weight_quantize(&q, w, t) != 0) {
            fprintf(stderr, "bench-kernels: quantise failed\n");
            exit(1);
        }
        free(d);
        *mem = NULL;
        *w = q;
    }
}

static size_t weight_bytes(const hk_weight *w)
{
    if (w->owned && (w->type == HK_Q8 || w->type == HK_Q4)) {
        size_t nb = (size_t)(w->cols + 31) / 32;
        return (size_t)w->rows * nb * (w->type == HK_Q8 ? 36 : 20);
    }
    return (size_t)w->rows * w->cols * (w->type == HK_F32 ? 4 : 2);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/*
 * Times calls of one kernel inside one parallel region, each call alone
 * (a barrier before it), and returns the median call in ms: these vCPUs
 * are shared, and calls during which a thread was descheduled (often
 * several ms) must not count. --best reports the fastest call instead (for
 * tuning on a busy machine; on calls of a few microseconds it is biased
 * low by clock jitter, so it is not the default).
 */
#define TIME_CALLS(min_s, call, result_ms)                                          \
    do {                                                                            \
        int cap_ = 4096, cnt_ = 0;                                                  \
        double *ts_ = xalloc(sizeof(double) * cap_), start_ = now();                \
        int stop_ = 0;                                                              \
        _Pragma("omp parallel num_threads(g_threads)")                              \
        for (int r_ = 0;; r_++) {                                                   \
            double t0_ = 0;                                                         \
            _Pragma("omp barrier")                                                  \
            if (stop_) break;                                                       \
            _Pragma("omp master") t0_ = now();                                      \
            call;                                                                   \
            _Pragma("omp master") {                                                 \
                double t1_ = now();                                                 \
                ts_[cnt_++] = t1_ - t0_;                                            \
                if (cnt_ == cap_ || (t1_ - start_ > (min_s) && cnt_ >= 5)) stop_ = 1; \
            }                                                                       \
        }                                                                           \
        qsort(ts_, (size_t)cnt_, sizeof(double), cmp_double);                       \
        result_ms = ts_[g_best ? 0 : cnt_ / 2] * 1e3;                               \
        free(ts_);                                                                  \
    } while (0)

static double time_matmul(const float *x, int n, hk_weight *ws, int nw, float *y, double min_s)
{
    double ms;
    TIME_CALLS(min_s, hk_matmul(x, n, &ws[r_ % nw], NULL, y), ms);
    return ms;
}

static int check_matmul(const float *x, int n, const hk_weight *w, const float *y, const char *what)
{
    /* reference on a few output columns at both ends (a full scalar GEMM is slow) */
    int cols[8] = {0, 1, 2, 3, w->rows - 4, w->rows - 3, w->rows - 2, w->rows - 1};
    float *yr = xalloc((size_t)n * w->rows * 4);
    int bad = 0;
    /* quantised weights meet x quantised to int8 too */
    int quant = w->type == HK_Q8 || w->type == HK_Q4, nb = (w->cols + 31) / 32;
    hk_qact xa = {.nb = nb, .q = xalloc((size_t)nb * 32), .d = xalloc((size_t)nb * 4), .sum = xalloc((size_t)nb * 4)};
    for (int c = 0; c < 8; c++) {
        if (cols[c] < 0) continue;
        if (!quant) {
            hk_ref_matmul_rows(x, n, w, NULL, yr, cols[c], cols[c] + 1);
        } else { /* quantised: the same int8 activation as the kernel */
            for (int i = 0; i < n; i++) {
                hk_quantize_act_ref(x + (size_t)i * w->cols, w->cols, &xa);
                hk_ref_qgemv(&xa, w, NULL, yr + (size_t)i * w->rows, cols[c], cols[c] + 1);
            }
        }
        for (int i = 0; i < n; i++) {
            float a = y[(size_t)i * w->rows + cols[c]], b = yr[(size_t)i * w->rows + cols[c]];
            if (!(fabs(a - b) <= 1e-4 * (fabs(b) + 0.1))) bad++;
        }
    }
    free(xa.q); free(xa.d); free(xa.sum);
    free(yr);
    if (bad) fprintf(stderr, "bench-kernels: %s: %d outputs differ from the reference\n", what, bad);
    return bad == 0;
}

/* OpenBLAS sgemm on the same f32 problem, each thread its slice of W rows (as a team would). */
static void blas_slice(const float *x, int n, const hk_weight *w, float *y)
{
    size_t lo, hi;
    hk_team_range((size_t)w->rows, 32, &lo, &hi);
    if (lo < hi)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int)(hi - lo), w->cols, 1.0f, x, w->cols,
                    (const float *)w->data + lo * (size_t)w->cols, w->cols, 0.0f, y + lo, w->rows);
#pragma omp barrier
}

static double time_blas(const float *x, int n, const hk_weight *w, float *y, double min_s)
{
    double ms;
    TIME_CALLS(min_s, blas_slice(x, n, w, y), ms);
    return ms;
}

/*
 * rows = 1: GEMV (decode); 4..16: a decode batch, the weights still read
 * from memory once per call, so the bound is the read bandwidth or the FMA
 * peak, whichever is tighter; 128, 512: prefill. Float weights in the
 * models' interleaved layout from 4 rows on (gemv-ilv), plain and
 * interleaved at 1 row, plain for prefill; quantised weights have one layout.
 */
static void bench_matmul(int rows, int cols)
{
    char shape[32];
    snprintf(shape, sizeof shape, "%dx%d", rows, cols);
    static const hk_wtype types[] = {HK_F32, HK_BF16, HK_F16, HK_Q8, HK_Q4};
    static const int nrows[] = {1, 4, 8, 16, 128, 512};
    for (int ti = 0; ti < 5; ti++) {
        hk_wtype t = types[ti];
        int quant = t == HK_Q8 || t == HK_Q4;
        for (int ni = 0; ni < 6; ni++) {
            int n = nrows[ni], stream = n <= 16;
            if (g_quick && (n == 4 || n == 16 || n == 128)) continue;
            const char *kname = n == 1 || quant ? (n <= 16 ? "gemv" : "gemm") : n <= 16 ? "gemv-ilv" : "gemm";
            if (!selected(kname, dtname(t), shape)) continue;
            /* streaming sizes: enough copies that the pool is larger than the caches */
            hk_weight w0;
            void *mem0;
            make_weight(&w0, t, rows, cols, &mem0);
            size_t wb = weight_bytes(&w0);
            int nw = 1;
            if (stream) {
                size_t pool = (size_t)(g_quick ? 128 : 192) << 20; /* > 3x L3 */
                nw = (int)((pool + wb - 1) / wb);
                if (nw > 512) nw = 512;
            }
            hk_weight *ws = xalloc(sizeof(hk_weight) * nw);
            void **mems = xalloc(sizeof(void *) * nw);
            ws[0] = w0;
            mems[0] = mem0;
            for (int i = 1; i < nw; i++) { /* copies: same values, own memory */
                ws[i] = w0;
                void *c = xalloc(w0.owned ? w0.owned_size : wb);
                memcpy(c, w0.owned ? w0.owned : w0.data, w0.owned ? w0.owned_size : wb);
                ws[i].owned = c;
                ws[i].data = c;
                if (w0.scales) ws[i].scales = (const float *)((char *)c + ((const char *)w0.scales - (const char *)w0.owned));
                mems[i] = NULL;
            }
            float *x = xalloc((size_t)n * cols * 4), *y = xalloc((size_t)n * rows * 4);
            for (size_t i = 0; i < (size_t)n * cols; i++) x[i] = frand();
            int plain = quant || n == 1 || !stream;
            if (plain) {
#pragma omp parallel num_threads(g_threads)
                hk_matmul(x, n, &ws[0], NULL, y);
                if (check_matmul(x, n, &ws[0], y, shape)) {
                    double ms = time_matmul(x, n, ws, nw, y, g_quick ? 0.1 : 0.3);
                    report(kname, dtname(t), shape, n, ms, (double)wb, 2.0 * n * rows * cols, stream ? 2 : 0);
                    if (t == HK_F32 && !stream && hk_isa_level() >= 2) { /* the alternative, side by side */
                        ms = time_blas(x, n, &ws[0], y, g_quick ? 0.1 : 0.3);
                        report("gemm-blas", dtname(t), shape, n, ms, (double)wb, 2.0 * n * rows * cols, 0);
                    }
                }
            }
            if (!quant && stream) {
                /* the same weights repacked (rows interleaved: one read stream) */
                hk_weight *wr = xalloc(sizeof(hk_weight) * nw);
                int ok = 1;
                for (int i = 0; i < nw; i++) ok &= hk_weight_repack(&wr[i], &ws[i]) == 0;
                if (ok) {
#pragma omp parallel num_threads(g_threads)
                    hk_matmul(x, n, &wr[0], NULL, y);
                    if (check_matmul(x, n, &wr[0], y, shape)) {
                        double ms = time_matmul(x, n, wr, nw, y, g_quick ? 0.1 : 0.3);
                        report("gemv-ilv", dtname(t), shape, n, ms, (double)wb, 2.0 * n * rows * cols, 2);
                    }
                }
                for (int i = 0; i < nw; i++) hk_weight_free(&wr[i]);
                free(wr);
            }
            for (int i = 0; i < nw; i++) {
                if (ws[i].owned) free(ws[i].owned);
                free(mems[i]);
            }
            free(ws); free(mems); free(x); free(y);
        }
    }
}


/* ---------------- group-quantised (pre-quantised checkpoints) ---------------- */

/*
 * GPTQ-style weights repacked (HK_GQ4 / HK_GQ8, kernels/gq.h): random codes,
 * scales and zeros, group 128. GEMV reads from a pool of copies larger than
 * the caches (as decode does); bytes = codes + scales/zeros, the weight's
 * whole size. Checked against the scalar reference first.
 */
static void bench_gq(int rows, int cols, int bits)
{
    char shape[32], dt[8];
    snprintf(shape, sizeof shape, "%dx%d", rows, cols);
    snprintf(dt, sizeof dt, "gq%d", bits);
    hk_gq_params p = {bits, 128, 0};
    size_t bytes = hk_gq_size(rows, cols, &p);
    int ng = (cols + 127) / 128, qmax = (1 << bits) - 1;
    uint8_t *codes = xalloc((size_t)rows * cols);
    float *scales = xalloc((size_t)rows * ng * 4);
    int32_t *zeros = xalloc((size_t)rows * ng * 4);
    for (size_t i = 0; i < (size_t)rows * cols; i++) codes[i] = (uint8_t)((int)((frand() + 1) * 0.5f * (qmax + 1)) & qmax);
    for (size_t i = 0; i < (size_t)rows * ng; i++) {
        scales[i] = 0.01f * (frand() + 1.5f);
        zeros[i] = (qmax + 1) / 2;
    }
    static const int nrows[] = {1, 128, 512};
    for (int ni = 0; ni < 3; ni++) {
        int n = nrows[ni];
        if (g_quick && n == 128) continue;
        const char *kname = n == 1 ? "gemv" : "gemm";
        if (!selected(kname, dt, shape)) continue;
        int nw = 1;
        if (n == 1) {
            size_t pool = (size_t)(g_quick ? 128 : 192) << 20;
            nw = (int)((pool + bytes - 1) / bytes);
            if (nw > 512) nw = 512;
        }
        hk_weight *ws = xalloc(sizeof(hk_weight) * nw);
        for (int i = 0; i < nw; i++) {
            hk_gq_init(&ws[i], rows, cols, &p, xalloc(bytes));
            if (i == 0) hk_gq_set_rows(&ws[0], 0, rows, codes, scales, zeros);
            else memcpy((void *)ws[i].data, ws[0].data, bytes);
        }
        float *x = xalloc((size_t)n * cols * 4), *y = xalloc((size_t)n * rows * 4);
        for (size_t i = 0; i < (size_t)n * cols; i++) x[i] = frand();
#pragma omp parallel num_threads(g_threads)
        hk_matmul(x, n, &ws[0], NULL, y);
        if (check_matmul(x, n, &ws[0], y, shape)) {
            double ms = time_matmul(x, n, ws, nw, y, g_quick ? 0.1 : 0.3);
            report(kname, dt, shape, n, ms, (double)bytes, 2.0 * n * rows * cols, n == 1);
        }
        for (int i = 0; i < nw; i++) free((void *)ws[i].data);
        free(ws); free(x); free(y);
    }
    free(codes); free(scales); free(zeros);
}

/* ---------------- attention ---------------- */

static void bench_attention(int n_q, int n_kv, int H, int KV, int hd)
{
    char shape[48];
    snprintf(shape, sizeof shape, "q%d/kv%d/h%d:%d/d%d", n_q, n_kv, H, KV, hd);
    if (!selected("attention", "f32", shape)) return;
    hk_attn_params p = {0};
    p.n_q = n_q; p.n_heads = H; p.n_kv_heads = KV; p.head_dim = hd;
    p.q_pos0 = n_kv - n_q; p.n_kv = n_kv; p.kv_stride = n_kv; p.causal = 1;
    p.scale = 1.0f / sqrtf((float)hd);
    size_t qn = (size_t)n_q * H * hd, cn = (size_t)KV * n_kv * hd;
    float *q = xalloc(qn * 4), *k = xalloc(cn * 4), *v = xalloc(cn * 4), *o = xalloc(qn * 4), *r = xalloc(qn * 4);
    for (size_t i = 0; i < qn; i++) q[i] = frand();
    for (size_t i = 0; i < cn; i++) { k[i] = frand(); v[i] = frand(); }
#pragma omp parallel num_threads(g_threads)
    hk_attention(q, k, v, o, &p);
    /* reference on the last query row's heads (and the first row's) */
    size_t items = (size_t)n_q * H;
    hk_ref_attention_items(q, k, v, r, &p, 0, (size_t)H);
    hk_ref_attention_items(q, k, v, r, &p, items - H, items);
    double e = 0;
    for (size_t i = 0; i < (size_t)H * hd; i++) {
        e = fmax(e, fabs(o[i] - r[i]));
        e = fmax(e, fabs(o[qn - 1 - i] - r[qn - 1 - i]));
    }
    if (!(e <= 1e-4)) {
        fprintf(stderr, "bench-kernels: attention %s differs from the reference by %g\n", shape, e);
    } else {
        double ms;
        TIME_CALLS(g_quick ? 0.1 : 0.3, hk_attention(q, k, v, o, &p), ms);
        /* keys seen: causal triangle over the query rows */
        double seen = 0;
        for (int i = 0; i < n_q; i++) seen += p.q_pos0 + i + 1;
        double flops = 4.0 * seen * hd * H, bytes = 2.0 * cn * 4;
        report("attention", "f32", shape, n_q, ms, bytes, flops, n_q == 1);
    }
    free(q); free(k); free(v); free(o); free(r);
}

/*
 * A decode step of n sequences (one query row each, n_kv cached keys, each
 * its own cache): one hk_attention call per sequence, as a lone session
 * does, against one hk_attention_seqs call for all (bit-identical results,
 * the work of all shared out at once). Bound by reading the n caches.
 */
static void bench_attention_seqs(int n, int n_kv, int H, int KV, int hd)
{
    char shape[64];
    snprintf(shape, sizeof shape, "%dx(q1/kv%d/h%d:%d/d%d)", n, n_kv, H, KV, hd);
    if (!selected("attention-seqs", "f32", shape)) return;
    size_t qn = (size_t)H * hd, cn = (size_t)KV * n_kv * hd;
    hk_attn_seq *s = xalloc(sizeof *s * (size_t)n);
    float *ref = xalloc(qn * 4);
    int ok = 1;
    for (int i = 0; i < n; i++) {
        float *q = xalloc(qn * 4), *k = xalloc(cn * 4), *v = xalloc(cn * 4), *o = xalloc(qn * 4);
        for (size_t j = 0; j < qn; j++) q[j] = frand();
        for (size_t j = 0; j < cn; j++) { k[j] = frand(); v[j] = frand(); }
        hk_attn_seq one = {q, k, v, o, {0}};
        one.p.n_q = 1; one.p.n_heads = H; one.p.n_kv_heads = KV; one.p.head_dim = hd;
        one.p.q_pos0 = n_kv - 1; one.p.n_kv = n_kv; one.p.kv_stride = n_kv; one.p.causal = 1;
        one.p.scale = 1.0f / sqrtf((float)hd);
        s[i] = one;
    }
#pragma omp parallel num_threads(g_threads)
    hk_attention_seqs(s, n);
    for (int i = 0; i < n && ok; i++) {
#pragma omp parallel num_threads(g_threads)
        hk_attention(s[i].q, s[i].k_cache, s[i].v_cache, ref, &s[i].p);
        ok = memcmp(ref, s[i].out, qn * 4) == 0;
    }
    if (!ok) {
        fprintf(stderr, "bench-kernels: attention-seqs %s differs from hk_attention per sequence\n", shape);
    } else {
        double ms, flops = 4.0 * n * n_kv * hd * H, bytes = 2.0 * n * cn * 4;
        TIME_CALLS(g_quick ? 0.1 : 0.3, for (int i_ = 0; i_ < n; i_++)
                       hk_attention(s[i_].q, s[i_].k_cache, s[i_].v_cache, s[i_].out, &s[i_].p), ms);
        report("attention-each", "f32", shape, n, ms, bytes, flops, 1);
        TIME_CALLS(g_quick ? 0.1 : 0.3, hk_attention_seqs(s, n), ms);
        report("attention-seqs", "f32", shape, n, ms, bytes, flops, 1);
    }
    for (int i = 0; i < n; i++) {
        free((void *)s[i].q); free((void *)s[i].k_cache); free((void *)s[i].v_cache); free(s[i].out);
    }
    free(s);
    free(ref);
}

/* ---------------- the executor's per-node kernels ---------------- */

/*
 * These work on activations, which a forward pass keeps in cache: GB/s
 * counts bytes read plus bytes written, so above 100% of the memory read
 * limit means the data came from cache. FLOPs are nominal per element.
 * Each is checked against its reference first (exactly where the kernel is
 * bit-identical to it).
 */
static float *rand_floats(size_t n, float scale)
{
    float *p = xalloc(n * 4);
    for (size_t i = 0; i < n; i++) p[i] = frand() * scale;
    return p;
}

static int check_close(const char *what, const float *a, const float *b, size_t n, double tol)
{
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs((double)a[i] - b[i]) / (1.0 + fabs(b[i])));
    if (tol == 0 ? memcmp(a, b, n * 4) != 0 : !(e <= tol)) {
        fprintf(stderr, "bench-kernels: %s differs from the reference (%g)\n", what, e);
        return 0;
    }
    return 1;
}

static void bench_add_norm(int layer, int n, int d)
{
    char shape[32];
    snprintf(shape, sizeof shape, "%d", d);
    const char *kname = layer ? "add+ln" : "add+rms";
    if (!selected(kname, "f32", shape)) return;
    size_t tot = (size_t)n * d;
    float *x = rand_floats(tot, 1), *xr = xalloc(tot * 4), *dl = rand_floats(tot, 1), *w = rand_floats((size_t)d, 1);
    float *b = rand_floats((size_t)d, 1), *y = xalloc(tot * 4), *yr = xalloc(tot * 4);
    memcpy(xr, x, tot * 4);
    if (layer) {
        hk_ref_add_layernorm(xr, dl, n, d, w, b, 1e-5f, yr);
#pragma omp parallel num_threads(g_threads)
        hk_add_layernorm(x, dl, n, d, w, b, 1e-5f, y);
    } else {
        hk_ref_add_rmsnorm(xr, dl, n, d, w, 1e-5f, yr);
#pragma omp parallel num_threads(g_threads)
        hk_add_rmsnorm(x, dl, n, d, w, 1e-5f, y);
    }
    if (check_close(kname, y, yr, tot, 0)) {
        double ms;
        if (layer) TIME_CALLS(g_quick ? 0.05 : 0.2, hk_add_layernorm(x, dl, n, d, w, b, 1e-5f, y), ms);
        else TIME_CALLS(g_quick ? 0.05 : 0.2, hk_add_rmsnorm(x, dl, n, d, w, 1e-5f, y), ms);
        report(kname, "f32", shape, n, ms, 4.0 * tot * 4, (layer ? 8.0 : 5.0) * tot, 1);
    }
    free(x); free(xr); free(dl); free(w); free(b); free(y); free(yr);
}

static void bench_qkv_split(int n, int H, int KV, int hd, int rope)
{
    char shape[40];
    snprintf(shape, sizeof shape, "h%d:%d/d%d%s", H, KV, hd, rope ? "/rope" : "");
    if (!selected("qkv_split", "f32", shape)) return;
    int W = (H + 2 * KV) * hd, stride = n;
    size_t qn = (size_t)n * H * hd, cn = (size_t)KV * stride * hd;
    float *qkv = rand_floats((size_t)n * W, 1), *inv = xalloc((size_t)hd / 2 * 4 + 4);
    hk_rope_inv_freq(inv, hd, 10000.0f);
    const float *ip = rope ? inv : NULL;
    float *q = xalloc(qn * 4), *k = xalloc(cn * 4), *v = xalloc(cn * 4);
    float *qr = xalloc(qn * 4), *kr = xalloc(cn * 4), *vr = xalloc(cn * 4);
    hk_ref_qkv_split(qkv, n, H, KV, hd, 0, ip, qr, kr, vr, stride);
#pragma omp parallel num_threads(g_threads)
    hk_qkv_split(qkv, n, H, KV, hd, 0, ip, q, k, v, stride);
    if (check_close("qkv_split q", q, qr, qn, 0) && check_close("qkv_split k", k, kr, cn, 0) &&
        check_close("qkv_split v", v, vr, cn, 0)) {
        double ms;
        TIME_CALLS(g_quick ? 0.05 : 0.2, hk_qkv_split(qkv, n, H, KV, hd, 0, ip, q, k, v, stride), ms);
        report("qkv_split", "f32", shape, n, ms, 2.0 * n * W * 4, rope ? 3.0 * n * (H + KV) * hd : 0, 1);
    }
    free(qkv); free(inv); free(q); free(k); free(v); free(qr); free(kr); free(vr);
}

static void bench_kv_store(int n, int KV, int hd)
{
    char shape[32];
    snprintf(shape, sizeof shape, "kv%d/d%d", KV, hd);
    if (!selected("kv_store", "f32", shape)) return;
    size_t tot = (size_t)n * KV * hd;
    float *x = rand_floats(tot, 1), *c = xalloc(tot * 4), *cr = xalloc(tot * 4);
    hk_ref_kv_store(x, n, KV, hd, 0, cr, n);
#pragma omp parallel num_threads(g_threads)
    hk_kv_store(x, n, KV, hd, 0, c, n);
    if (check_close("kv_store", c, cr, tot, 0)) {
        double ms;
        TIME_CALLS(g_quick ? 0.05 : 0.2, hk_kv_store(x, n, KV, hd, 0, c, n), ms);
        report("kv_store", "f32", shape, n, ms, 2.0 * tot * 4, 0, 1);
    }
    free(x); free(c); free(cr);
}

static void bench_swiglu(int n, int d)
{
    char shape[32];
    snprintf(shape, sizeof shape, "%d", d);
    if (!selected("swiglu", "f32", shape)) return;
    size_t tot = (size_t)n * d;
    float *gu = rand_floats(2 * tot, 4), *o = xalloc(tot * 4), *r = xalloc(tot * 4);
    hk_ref_swiglu(gu, n, d, r);
#pragma omp parallel num_threads(g_threads)
    hk_swiglu(gu, n, d, o);
    if (check_close("swiglu", o, r, tot, 1e-5)) {
        double ms;
        TIME_CALLS(g_quick ? 0.05 : 0.2, hk_swiglu(gu, n, d, o), ms);
        report("swiglu", "f32", shape, n, ms, 3.0 * tot * 4, 5.0 * tot, 1);
    }
    free(gu); free(o); free(r);
}

/* mul, relu and copy over n floats. */
static void bench_elementwise(size_t n)
{
    char shape[32];
    snprintf(shape, sizeof shape, "%zu", n);
    float *a = rand_floats(n, 1), *b = rand_floats(n, 1), *o = xalloc(n * 4), *r = xalloc(n * 4);
    double ms;
    if (selected("mul", "f32", shape)) {
        hk_ref_mul(a, b, r, n);
#pragma omp parallel num_threads(g_threads)
        hk_mul(a, b, o, n);
        if (check_close("mul", o, r, n, 0)) {
            TIME_CALLS(g_quick ? 0.05 : 0.2, hk_mul(a, b, o, n), ms);
            report("mul", "f32", shape, 1, ms, 3.0 * n * 4, (double)n, 1);
        }
    }
    if (selected("relu", "f32", shape)) {
        memcpy(o, a, n * 4);
        memcpy(r, a, n * 4);
        hk_ref_relu(r, n);
#pragma omp parallel num_threads(g_threads)
        hk_relu(o, n);
        if (check_close("relu", o, r, n, 0)) {
            TIME_CALLS(g_quick ? 0.05 : 0.2, hk_relu(o, n), ms);
            report("relu", "f32", shape, 1, ms, 2.0 * n * 4, (double)n, 1);
        }
    }
    if (selected("copy", "f32", shape)) {
#pragma omp parallel num_threads(g_threads)
        hk_copy(a, o, n);
        if (check_close("copy", o, a, n, 0)) {
            TIME_CALLS(g_quick ? 0.05 : 0.2, hk_copy(a, o, n), ms);
            report("copy", "f32", shape, 1, ms, 2.0 * n * 4, 0, 1);
        }
    }
    free(a); free(b); free(o); free(r);
}

/* n rows gathered from a [V][d] table, plain and interleaved (a tied LM head). */
static void bench_embedding(hk_wtype t, int V, int d, int n)
{
    char shape[32];
    snprintf(shape, sizeof shape, "%dx%d", V, d);
    if (!selected("embed", dtname(t), shape)) return;
    hk_weight w, il;
    void *mem;
    make_weight(&w, t, V, d, &mem);
    if (hk_weight_repack(&il, &w) != 0) {
        fprintf(stderr, "bench-kernels: repack failed\n");
        exit(1);
    }
    int32_t *ids = xalloc((size_t)n * 4);
    for (int i = 0; i < n; i++) ids[i] = (int32_t)((frand() + 1.0f) * 0.5f * (float)V) % V;
    float *o = xalloc((size_t)n * d * 4), *r = xalloc((size_t)n * d * 4);
    double bytes = (double)n * d * (hk_wtype_size(t) + 4), ms;
    hk_ref_embedding(t, w.data, d, ids, n, r);
#pragma omp parallel num_threads(g_threads)
    hk_embedding(t, w.data, d, ids, n, o);
    if (check_close("embedding", o, r, (size_t)n * d, 0)) {
        TIME_CALLS(g_quick ? 0.05 : 0.2, hk_embedding(t, w.data, d, ids, n, o), ms);
        report("embed", dtname(t), shape, n, ms, bytes, 0, 1);
    }
#pragma omp parallel num_threads(g_threads)
    hk_embedding_interleaved(t, il.data, d, ids, n, o);
    if (check_close("embedding_interleaved", o, r, (size_t)n * d, 0)) {
        TIME_CALLS(g_quick ? 0.05 : 0.2, hk_embedding_interleaved(t, il.data, d, ids, n, o), ms);
        report("embed-ilv", dtname(t), shape, n, ms, bytes, 0, 1);
    }
    hk_weight_free(&il);
    free(mem); free(ids); free(o); free(r);
}

/* An encoder batch: n_seg sequences of len rows packed together (block-diagonal attention). */
static void bench_attention_segments(int n_seg, int len, int H, int hd)
{
    char shape[48];
    snprintf(shape, sizeof shape, "%dx%d/h%d/d%d", n_seg, len, H, hd);
    if (!selected("attn-seg", "f32", shape)) return;
    int n = n_seg * len, *seg = xalloc(sizeof(int) * (size_t)(n_seg + 1));
    for (int s = 0; s <= n_seg; s++) seg[s] = s * len;
    hk_attn_params p = {0};
    p.n_q = n; p.n_heads = H; p.n_kv_heads = H; p.head_dim = hd; p.kv_stride = n;
    p.scale = 1.0f / sqrtf((float)hd);
    size_t qn = (size_t)n * H * hd;
    float *q = rand_floats(qn, 1), *k = rand_floats(qn, 1), *v = rand_floats(qn, 1);
    float *o = xalloc(qn * 4), *r = xalloc(qn * 4);
    hk_ref_attention_segments(q, k, v, r, &p, n_seg, seg);
#pragma omp parallel num_threads(g_threads)
    hk_attention_segments(q, k, v, o, &p, n_seg, seg);
    if (check_close("attention_segments", o, r, qn, 1e-4)) {
        double ms;
        TIME_CALLS(g_quick ? 0.1 : 0.3, hk_attention_segments(q, k, v, o, &p, n_seg, seg), ms);
        double flops = 4.0 * n_seg * (double)len * len * hd * H;
        report("attn-seg", "f32", shape, n, ms, 4.0 * qn * 4, flops, 0);
    }
    free(seg); free(q); free(k); free(v); free(o); free(r);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) g_json = 1;
        else if (!strcmp(argv[i], "--quick")) g_quick = 1;
        else if (!strcmp(argv[i], "--cputime")) g_clock = CLOCK_PROCESS_CPUTIME_ID;
        else if (!strcmp(argv[i], "--best")) g_best = 1;
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) g_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--filter") && i + 1 < argc) g_filter = argv[++i];
        else {
            fprintf(stderr, "usage: bench-kernels [--json] [-t N] [--quick] [--filter WORD] [--cputime] [--best]\n");
            return 2;
        }
    }
    if (g_threads < 1) g_threads = 1;
    double bw4, bw1;
    g_bw = measure_bw(&bw4, &bw1);
    g_peak = measure_peak();
    if (g_json)
    { /* the limits as records of the same shape (kernel "limit_read" / "limit_fma") */
        printf("{\"kernel\": \"limit_read\", \"dtype\": \"f32\", \"shape\": \"1GiB\", \"rows\": 0, \"threads\": %d, "
               "\"ms\": 0, \"gbps\": %.2f, \"gflops\": 0, \"pct_of_limit\": 100, \"read_4streams_gbps\": %.2f, "
               "\"read_1stream_gbps\": %.2f, \"isa\": \"%s\"}\n", g_threads, g_bw, bw4, bw1, hk_isa_name());
        printf("{\"kernel\": \"limit_fma\", \"dtype\": \"f32\", \"shape\": \"-\", \"rows\": 0, \"threads\": %d, "
               "\"ms\": 0, \"gbps\": 0, \"gflops\": %.2f, \"pct_of_limit\": 100, \"isa\": \"%s\"}\n",
               g_threads, g_peak, hk_isa_name());
    }
    else
        printf("machine limits, %d thread(s): memory read %.2f GB/s (4 streams %.2f, 1 stream %.2f), "
               "FP32 FMA peak %.1f GFLOP/s; kernels use %s\n",
               g_threads, g_bw, bw4, bw1, g_peak, hk_isa_name());
    static const int shapes[][2] = {
        {2048, 2048}, {256, 2048}, {5632, 2048}, {2048, 5632},   /* TinyLlama-1.1B */
        {576, 576}, {1536, 576}, {576, 1536},                    /* SmolLM2-135M */
        {2304, 768}, {3072, 768}, {768, 3072},                   /* GPT-2 */
        {768, 768},                                              /* BERT-base (+ GPT-2's MLP shapes) */
    };
    int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    for (int s = 0; s < nshapes; s++) {
        if (g_quick && s != 0 && s != 2 && s != 4) continue;
        bench_matmul(shapes[s][0], shapes[s][1]);
    }
    /* pre-quantised GPTQ-style int4 / int8 on TinyLlama's and SmolLM2's shapes */
    static const int gq_shapes[][2] = {{2048, 2048}, {5632, 2048}, {2048, 5632}, {1536, 576}};
    for (int s = 0; s < 4; s++)
        for (int bits = 4; bits <= 8; bits += 4) {
            if (g_quick && (s == 2 || bits == 8)) continue;
            bench_gq(gq_shapes[s][0], gq_shapes[s][1], bits);
        }
    bench_attention(1, 512, 32, 4, 64);
    bench_attention(1, 2048, 32, 4, 64);
    bench_attention(1, 2048, 9, 3, 64); /* SmolLM2: 3 kv heads (split keys on 2 threads) */
    bench_attention(1, 2048, 8, 1, 64); /* multi-query decode */
    bench_attention(512, 512, 32, 4, 64);
    if (!g_quick) bench_attention(512, 2048, 32, 4, 64);
    /* one query head per kv head (GPT-2 small, BERT-base): the per-head decode path */
    bench_attention(1, 512, 12, 12, 64);
    bench_attention(1, 1024, 12, 12, 64);
    bench_attention(512, 512, 12, 12, 64);
    /* a decode step of 8 sequences: SmolLM2's heads, short and long caches */
    bench_attention_seqs(8, 200, 9, 3, 64);
    bench_attention_seqs(8, 1024, 9, 3, 64);
    /* the per-node kernels at decode (1 row) and prefill (512 rows) sizes */
    static const int node_rows[] = {1, 512};
    for (int i = 0; i < 2; i++) {
        int n = node_rows[i];
        bench_add_norm(0, n, 2048);                /* TinyLlama */
        bench_add_norm(1, n, 768);                 /* GPT-2 / BERT-base */
        bench_qkv_split(n, 32, 4, 64, 1);          /* TinyLlama */
        bench_qkv_split(n, 12, 12, 64, 0);         /* GPT-2: no RoPE */
        bench_kv_store(n, 4, 64);
        bench_swiglu(n, 5632);
    }
    bench_elementwise((size_t)512 * 3072);       /* BERT-base MLP activations */
    bench_embedding(HK_BF16, 8192, 2048, 512);
    bench_embedding(HK_F32, 8192, 576, 512);
    bench_attention_segments(32, 16, 12, 64);    /* 32 short sentences, BERT-base heads */
    bench_attention_segments(4, 128, 12, 64);
    return 0;
}
