/*
 * tests/test_kernels.c — every kernel's fast paths against its scalar
 * reference (kernels/ref_*.c), for every ISA this CPU has (switched in
 * process with hk_set_isa), on random inputs whose sizes are not multiples
 * of any vector width, and once more called by a 2-thread OpenMP team
 * (the "team-callable" contract).
 *
 * Tolerances (max |fast - ref| over the output, relative to max |ref|
 * unless noted), all f32 accumulation:
 *   matmul f32/f16/bf16 weights  2e-5 of sum_j |x_j w_j| (+1) per output
 *                                (bf16/f16 are widened exactly, so only
 *                                the summation order differs)
 *   quantised matmul vs its ref  1e-5  (same integers; scale order differs)
 *   matmul of n rows vs each     exact (batch invariance: every row as alone,
 *   row alone                    for every dtype, layout, ISA and team)
 *   quantised vs f32 matmul      Q8 2e-2, Q4 2e-1 (reported, see below)
 *   attention                    2e-5 absolute (outputs are averages of v)
 *   norms, rope                  1e-5 relative per element + 1e-6 absolute
 *   gelu/gelu_tanh/silu/tanh     2e-6 absolute + 1e-5 relative
 *   add, embedding, to_f32       exact
 *   add + rms/layer norm, qkv split, kv store, mul, relu, copy, interleaved
 *   embedding                    exact (the fast paths do the reference's
 *                                arithmetic)
 *   swiglu                       as silu_mul; exactly hk_silu_mul on the halves
 *   packed-sequence attention    2e-5 absolute, as attention
 *   group-quantised (GQ4/GQ8)    every dequantised weight exact (checked
 *                                against scale*(code-zero) in double);
 *                                matmul as f32 (2e-5 of sum |x w|) vs the
 *                                reference and vs an f32 matmul over the
 *                                dequantised weights; AVX-512 GEMV and GEMM
 *                                give the same bits for each row
 */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/ref.h"
#include "kernels/gq.h"
#include "tests/test.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}
static void fill(float *p, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++) p[i] = frand() * scale;
}
static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* max |a-b| / max(max |b|, floor) */
static double rel_err(const float *a, const float *b, size_t n, double floor)
{
    double md = 0, mb = floor;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= md)) md = d; /* NaN propagates as a failure */
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / mb;
}
/* max over i of |a-b| / (atol + rtol |b|): <= 1 passes */
static double elem_err(const float *a, const float *b, size_t n, double atol, double rtol)
{
    double w = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (atol + rtol * fabs(b[i]));
        if (!(e <= w)) w = e;
    }
    return w;
}

static const char *dtname(hk_wtype t)
{
    static const char *n[] = {"f32", "f16", "bf16", "q8", "q4", "gq4", "gq8"};
    return n[t];
}

/* Stores f32 values as dtype t (rounded), and rounds src to what was stored. */
static void *store_as(hk_wtype t, float *src, size_t n)
{
    if (t == HK_F32) {
        float *p = xmalloc(n * 4);
        memcpy(p, src, n * 4);
        return p;
    }
    uint16_t *p = xmalloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        p[i] = t == HK_BF16 ? hk_f32_to_bf16(src[i]) : hk_f32_to_f16(src[i]);
        src[i] = t == HK_BF16 ? hk_bf16_to_f32(p[i]) : hk_f16_to_f32(p[i]);
    }
    return p;
}

static int isa_ok;

/* ---------------- matmul ---------------- */

static void test_matmul_case_l(hk_wtype t, int n, int rows, int cols, int with_bias, int team, int ilv)
{
    size_t wn = (size_t)rows * (size_t)cols;
    float *wf = xmalloc(wn * 4), *x = xmalloc((size_t)n * cols * 4), *bias = xmalloc((size_t)rows * 4);
    float *y = xmalloc((size_t)n * rows * 4), *yr = xmalloc((size_t)n * rows * 4);
    fill(wf, wn, 1.0f);
    fill(x, (size_t)n * cols, 1.0f);
    fill(bias, (size_t)rows, 1.0f);
    void *data = store_as(t, wf, wn);
    hk_weight w, wl;
    hk_weight_view(&w, t, rows, cols, data);
    hk_ref_matmul(x, n, &w, with_bias ? bias : NULL, yr);
    wl = w;
    if (ilv) TEST_CHECK(hk_weight_repack(&wl, &w) == 0 && wl.interleaved, "hk_weight_repack");
    for (size_t i = 0; i < (size_t)n * rows; i++) y[i] = NAN;
    if (team) {
#pragma omp parallel num_threads(2)
        hk_matmul(x, n, &wl, with_bias ? bias : NULL, y);
    } else {
        hk_matmul(x, n, &wl, with_bias ? bias : NULL, y);
    }
    if (ilv) hk_weight_free(&wl);
    /* error bound per output: tol * sum_j |x_j w_j| (the scale of rounding) */
    size_t es0 = t == HK_F32 ? 4 : 2;
    float *xa = xmalloc((size_t)n * cols * 4), *ya = xmalloc((size_t)n * rows * 4);
    unsigned char *da = xmalloc(wn * es0);
    for (size_t i = 0; i < (size_t)n * cols; i++) xa[i] = fabsf(x[i]);
    memcpy(da, data, wn * es0);
    for (size_t i = 0; i < wn; i++) da[i * es0 + es0 - 1] &= 0x7f; /* clear the sign bit */
    hk_weight wa;
    hk_weight_view(&wa, t, rows, cols, da);
    hk_ref_matmul(xa, n, &wa, NULL, ya);
    double e = 0;
    for (size_t i = 0; i < (size_t)n * rows; i++) {
        double d = fabs((double)y[i] - yr[i]) / (ya[i] + 1.0);
        if (!(d <= e)) e = d;
    }
    free(xa); free(ya); free(da);
    TEST_CHECK(e <= 2e-5, "[%s] matmul %s%s n=%d %dx%d bias=%d team=%d: rel err %.3g > 2e-5",
               hk_isa_name(), dtname(t), ilv ? " interleaved" : "", n, rows, cols, with_bias, team, e);
    free(data);
    free(wf);
    free(x);
    free(bias);
    free(y);
    free(yr);
}

static void test_matmul_case(hk_wtype t, int n, int rows, int cols, int with_bias, int team)
{
    test_matmul_case_l(t, n, rows, cols, with_bias, team, 0);
    if (n <= 7 || team) /* hk_weight_repack's layout (GEMV, and GEMM via the packing) */
        test_matmul_case_l(t, n, rows, cols, with_bias, team, 1);
}

static void test_matmul(void)
{
    static const int colsv[] = {1, 7, 33, 100, 4097};
    static const int rowsv[] = {1, 7, 33, 100};
    static const int nv[] = {1, 2, 7, 33};
    for (int t = HK_F32; t <= HK_BF16; t++)
        for (int ci = 0; ci < 5; ci++)
            for (int ri = 0; ri < 4; ri++)
                for (int ni = 0; ni < 4; ni++) {
                    int cols = colsv[ci], rows = rowsv[ri], n = nv[ni];
                    if (cols == 4097 && (rows > 33 || n > 7)) continue; /* keep the test fast */
                    test_matmul_case((hk_wtype)t, n, rows, cols, (ri + ni) & 1, 0);
                }
    /* big enough for the GEMM path's blocking, with ragged edges */
    for (int t = HK_F32; t <= HK_BF16; t++) {
        test_matmul_case((hk_wtype)t, 37, 150, 300, 1, 0);
        test_matmul_case((hk_wtype)t, 37, 150, 300, 1, 1);
        test_matmul_case((hk_wtype)t, 1, 300, 513, 0, 1);
        test_matmul_case((hk_wtype)t, 3, 300, 513, 1, 1);
    }
}

/* ---------------- quantised ---------------- */

static void test_quant_case(hk_wtype qt, hk_wtype src_t, int n, int rows, int cols, int team, int report)
{
    size_t wn = (size_t)rows * cols;
    float *wf = xmalloc(wn * 4), *x = xmalloc((size_t)n * cols * 4), *bias = xmalloc((size_t)rows * 4);
    float *y = xmalloc((size_t)n * rows * 4), *yr = xmalloc((size_t)n * rows * 4), *yf = xmalloc((size_t)n * rows * 4);
    fill(wf, wn, 0.5f);
    fill(x, (size_t)n * cols, 1.0f);
    fill(bias, (size_t)rows, 1.0f);
    void *data = store_as(src_t, wf, wn);
    hk_weight w, q, wl;
    hk_weight_view(&w, src_t, rows, cols, data);
    TEST_CHECK(hk_weight_quantize(&q, &w, qt) == 0, "quantize");
    /* the same from the interleaved layout */
    if (hk_weight_repack(&wl, &w) == 0) {
        hk_weight q2;
        TEST_CHECK(hk_weight_quantize(&q2, &wl, qt) == 0 && q2.owned_size == q.owned_size &&
                   memcmp(q2.owned, q.owned, q.owned_size) == 0, "quantising an interleaved weight differs");
        hk_weight_free(&q2);
        hk_weight_free(&wl);
    }
    /* reference: quantise x per row, integer dots (hk_ref_qgemv) */
    int nb = (cols + 31) / 32;
    hk_qact xa;
    xa.q = xmalloc((size_t)nb * 32);
    xa.d = xmalloc((size_t)nb * 4);
    xa.sum = xmalloc((size_t)nb * 4);
    for (int i = 0; i < n; i++) {
        hk_quantize_act_ref(x + (size_t)i * cols, cols, &xa);
        hk_ref_qgemv(&xa, &q, bias, yr + (size_t)i * rows, 0, rows);
    }
    if (team) {
#pragma omp parallel num_threads(2)
        hk_matmul(x, n, &q, bias, y);
    } else {
        hk_matmul(x, n, &q, bias, y);
    }
    double e = rel_err(y, yr, (size_t)n * rows, 1e-3);
    TEST_CHECK(e <= 1e-5, "[%s] %s matmul n=%d %dx%d team=%d: rel err vs ref %.3g > 1e-5",
               hk_isa_name(), dtname(qt), n, rows, cols, team, e);
    hk_ref_matmul(x, n, &w, bias, yf);
    double ef = rel_err(y, yf, (size_t)n * rows, 1e-3), lim = qt == HK_Q8 ? 2e-2 : 2e-1;
    TEST_CHECK(ef <= lim, "[%s] %s vs f32 rel err %.3g > %.3g", hk_isa_name(), dtname(qt), ef, lim);
    if (report)
        printf("measured error of %s (from %s, x also int8) vs f32, %dx%d: max|diff|/max|y| = %.4f\n",
               dtname(qt), dtname(src_t), rows, cols, ef);
    free(xa.q);
    free(xa.d);
    free(xa.sum);
    hk_weight_free(&q);
    free(data);
    free(wf);
    free(x);
    free(bias);
    free(y);
    free(yr);
    free(yf);
}

static void test_quant(int report)
{
    static const int colsv[] = {1, 7, 33, 100, 4097};
    for (int qt = HK_Q8; qt <= HK_Q4; qt++) {
        for (int ci = 0; ci < 5; ci++) {
            test_quant_case((hk_wtype)qt, HK_F32, 1, 33, colsv[ci], 0, 0);
            test_quant_case((hk_wtype)qt, HK_BF16, 2, 7, colsv[ci], 1, 0);
        }
        test_quant_case((hk_wtype)qt, HK_F16, 1, 300, 2048, 1, report);
        test_quant_case((hk_wtype)qt, HK_F32, 3, 100, 513, 0, 0);
        test_quant_case((hk_wtype)qt, HK_F32, 13, 100, 513, 0, 0);  /* GEMM path */
        test_quant_case((hk_wtype)qt, HK_BF16, 37, 70, 300, 1, 0);
    }
}

/* ---------------- batch invariance ---------------- */

/*
 * hk_matmul on n rows gives every row bit for bit what it gives that row
 * alone (1 row, no team), whatever n, the team, the dtype or the layout:
 * several sequences may share one matmul (kernels.h).
 */
/* Every row of hk_matmul(w) at several n and team sizes equals that row alone. */
static void check_invariance(const hk_weight *w, const char *label)
{
    enum { N = 37 };
    const int rows = w->rows, cols = w->cols;
    float *x = xmalloc((size_t)N * cols * 4), *bias = xmalloc((size_t)rows * 4);
    float *one = xmalloc((size_t)N * rows * 4), *y = xmalloc((size_t)N * rows * 4);
    fill(x, (size_t)N * cols, 1.0f);
    fill(bias, (size_t)rows, 1.0f);
    for (int i = 0; i < N; i++) /* each row alone, serially */
        hk_matmul(x + (size_t)i * cols, 1, w, i & 1 ? bias : NULL, one + (size_t)i * rows);
    static const int ns[] = {1, 2, 3, 4, 5, 8, 13, 16, N};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
        for (int team = 1; team <= 3; team++) {
            int n = ns[k], bad = 0;
            /* rows alternate with and without bias: two calls, as a model's nodes would not, but
             * the bias must not change the other rows either; so compare bias rows to bias rows */
            for (int pass = 0; pass < 2; pass++) {
                for (size_t i = 0; i < (size_t)n * rows; i++) y[i] = NAN;
                const float *b = pass ? bias : NULL;
#pragma omp parallel num_threads(team)
                hk_matmul(x, n, w, b, y);
                for (int i = 0; i < n; i++)
                    if ((i & 1) == pass && memcmp(y + (size_t)i * rows, one + (size_t)i * rows, (size_t)rows * 4) != 0)
                        bad++;
            }
            TEST_CHECK(bad == 0, "[%s] %s %dx%d: %d of %d rows differ from the row alone (n=%d, team %d)",
                       hk_isa_name(), label, rows, cols, bad, n, n, team);
        }
    free(x); free(bias); free(one); free(y);
}

static void test_matmul_invariance_case(hk_wtype t, int ilv, int rows, int cols)
{
    float *wf = xmalloc((size_t)rows * cols * 4);
    fill(wf, (size_t)rows * cols, 0.5f);
    hk_wtype st = t == HK_Q8 || t == HK_Q4 ? HK_BF16 : t;
    void *data = store_as(st, wf, (size_t)rows * cols);
    hk_weight w0, w;
    hk_weight_view(&w0, st, rows, cols, data);
    int ok = 1;
    if (t != st) ok = hk_weight_quantize(&w, &w0, t) == 0;
    else if (ilv) ok = hk_weight_repack(&w, &w0) == 0;
    else w = w0;
    TEST_CHECK(ok, "invariance: weight setup");
    if (ok) {
        char label[64];
        snprintf(label, sizeof label, "%s%s", dtname(t), ilv ? " interleaved" : "");
        check_invariance(&w, label);
        if (t != st || ilv) hk_weight_free(&w);
    }
    free(data); free(wf);
}

/* The same for group-quantised weights (pre-quantised checkpoints). */
static void test_gq_invariance_case(int bits, int group, int rows, int cols)
{
    hk_gq_params p = {bits, group, 0};
    size_t size = hk_gq_size(rows, cols, &p);
    void *mem = size ? aligned_alloc(64, (size + 63) / 64 * 64) : NULL;
    hk_weight w;
    int ok = mem && hk_gq_init(&w, rows, cols, &p, mem) == 0;
    TEST_CHECK(ok, "invariance: GQ%d weight setup", bits);
    if (ok) {
        int ng = hk_gq_groups(&w);
        uint8_t *codes = xmalloc((size_t)rows * cols);
        float *scales = xmalloc((size_t)rows * ng * 4);
        int32_t *zeros = xmalloc((size_t)rows * ng * 4);
        for (size_t i = 0; i < (size_t)rows * cols; i++) codes[i] = (uint8_t)((i * 2654435761u >> 7) % (1u << bits));
        for (size_t i = 0; i < (size_t)rows * ng; i++) {
            scales[i] = 0.01f + (float)(i % 17) * 0.003f;
            zeros[i] = (int32_t)(i % (1u << bits));
        }
        hk_gq_set_rows(&w, 0, rows, codes, scales, zeros);
        char label[32];
        snprintf(label, sizeof label, "GQ%d g%d", bits, group);
        check_invariance(&w, label);
        free(codes); free(scales); free(zeros);
    }
    free(mem);
}

static void test_matmul_invariance(void)
{
    static const int shapes[][2] = {{37, 100}, {64, 33}, {70, 513}, {16, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        for (int t = HK_F32; t <= HK_BF16; t++)
            for (int ilv = 0; ilv <= 1; ilv++) test_matmul_invariance_case((hk_wtype)t, ilv, shapes[s][0], shapes[s][1]);
        test_matmul_invariance_case(HK_Q8, 1, shapes[s][0], shapes[s][1]);
        test_matmul_invariance_case(HK_Q4, 1, shapes[s][0], shapes[s][1]);
    }
    test_gq_invariance_case(4, 128, 70, 512);
    test_gq_invariance_case(8, 32, 37, 96);
    test_gq_invariance_case(4, 16, 64, 33);
}

/* ---------------- several sequences per call ---------------- */

/*
 * hk_attention_seqs / hk_qkv_split_seqs give every sequence bit for bit what
 * hk_attention / hk_qkv_split give it alone on the same team (1-3 threads):
 * decode rows over short and long caches (long enough to split its keys on
 * a team), prefill from 0 and continuing, a sliding window; ragged heads.
 */
static void test_seqs_case(int H, int KV, int hd)
{
    enum { NS = 6 };
    static const struct { int n_q, pos0, window; } sq[NS] = {
        {1, 39, 0}, {1, 600, 0}, {20, 0, 0}, {7, 30, 0}, {1, 100, 16}, {3, 5, 0}};
    size_t qw = (size_t)H * hd, in_w = (size_t)(H + 2 * KV) * hd;
    float *q[NS], *kc[NS], *vc[NS], *ref[NS], *out[NS], *qkv[NS];
    int stride[NS];
    for (int i = 0; i < NS; i++) {
        stride[i] = sq[i].pos0 + sq[i].n_q + 3;
        size_t cn = (size_t)KV * stride[i] * hd;
        q[i] = xmalloc((size_t)sq[i].n_q * qw * 4);
        qkv[i] = xmalloc((size_t)sq[i].n_q * in_w * 4);
        kc[i] = xmalloc(cn * 4);
        vc[i] = xmalloc(cn * 4);
        ref[i] = xmalloc((size_t)sq[i].n_q * qw * 4);
        out[i] = xmalloc((size_t)sq[i].n_q * qw * 4);
        fill(q[i], (size_t)sq[i].n_q * qw, 1.0f);
        fill(qkv[i], (size_t)sq[i].n_q * in_w, 1.0f);
        fill(kc[i], cn, 1.0f);
        fill(vc[i], cn, 1.0f);
    }
    hk_attn_seq as[NS];
    for (int i = 0; i < NS; i++) {
        memset(&as[i], 0, sizeof as[i]);
        as[i].q = q[i];
        as[i].k_cache = kc[i];
        as[i].v_cache = vc[i];
        as[i].out = out[i];
        as[i].p.n_q = sq[i].n_q;
        as[i].p.n_heads = H;
        as[i].p.n_kv_heads = KV;
        as[i].p.head_dim = hd;
        as[i].p.q_pos0 = sq[i].pos0;
        as[i].p.n_kv = sq[i].pos0 + sq[i].n_q;
        as[i].p.kv_stride = stride[i];
        as[i].p.causal = 1;
        as[i].p.window = sq[i].window;
        as[i].p.scale = 1.0f / sqrtf((float)hd);
    }
    float inv[512];
    hk_rope_inv_freq(inv, hd, 10000.0f);
    for (int team = 1; team <= 3; team++) {
        int bad = 0;
        for (int i = 0; i < NS; i++) {
#pragma omp parallel num_threads(team)
            hk_attention(q[i], kc[i], vc[i], ref[i], &as[i].p);
            for (size_t k = 0; k < (size_t)sq[i].n_q * qw; k++) out[i][k] = NAN;
        }
#pragma omp parallel num_threads(team)
        hk_attention_seqs(as, NS);
        for (int i = 0; i < NS; i++) bad += memcmp(out[i], ref[i], (size_t)sq[i].n_q * qw * 4) != 0;
        TEST_CHECK(bad == 0, "[%s] attention_seqs H=%d KV=%d hd=%d team %d: %d of %d sequences differ from "
                   "hk_attention alone", hk_isa_name(), H, KV, hd, team, bad, NS);
        /* q|k|v split: q rows and the cache rows at each sequence's positions */
        bad = 0;
        hk_qkv_seq qs[NS];
        float *kc2[NS], *vc2[NS];
        for (int i = 0; i < NS; i++) {
            size_t cn = (size_t)KV * stride[i] * hd;
            kc2[i] = xmalloc(cn * 4);
            vc2[i] = xmalloc(cn * 4);
            memcpy(kc2[i], kc[i], cn * 4);
            memcpy(vc2[i], vc[i], cn * 4);
#pragma omp parallel num_threads(team)
            hk_qkv_split(qkv[i], sq[i].n_q, H, KV, hd, sq[i].pos0, inv, ref[i], kc[i], vc[i], stride[i]);
            hk_qkv_seq one = {qkv[i], sq[i].n_q, sq[i].pos0, out[i], kc2[i], vc2[i], stride[i]};
            qs[i] = one;
        }
#pragma omp parallel num_threads(team)
        hk_qkv_split_seqs(qs, NS, H, KV, hd, inv);
        for (int i = 0; i < NS; i++) {
            size_t cn = (size_t)KV * stride[i] * hd;
            bad += memcmp(out[i], ref[i], (size_t)sq[i].n_q * qw * 4) != 0 || memcmp(kc2[i], kc[i], cn * 4) != 0 ||
                   memcmp(vc2[i], vc[i], cn * 4) != 0;
            free(kc2[i]);
            free(vc2[i]);
        }
        TEST_CHECK(bad == 0, "[%s] qkv_split_seqs H=%d KV=%d hd=%d team %d: %d of %d sequences differ", hk_isa_name(),
                   H, KV, hd, team, bad, NS);
    }
    for (int i = 0; i < NS; i++) {
        free(q[i]); free(qkv[i]); free(kc[i]); free(vc[i]); free(ref[i]); free(out[i]);
    }
}

static void test_seqs(void)
{
    test_seqs_case(9, 3, 64);  /* SmolLM2's heads */
    test_seqs_case(4, 2, 12);  /* ragged head_dim */
    test_seqs_case(8, 8, 16);  /* one query head per kv head */
}

/* ---------------- group-quantised (pre-quantised checkpoints) ---------------- */

/* max over outputs of |a - b| / (sum_j |x_j w_j| + 1): the matmul tests' measure */
static double matmul_err(const float *x, int n, const float *wdense, int rows, int cols, const float *a,
                         const float *b)
{
    double e = 0;
    for (int i = 0; i < n; i++)
        for (int o = 0; o < rows; o++) {
            double mag = 1;
            for (int j = 0; j < cols; j++) mag += fabs((double)x[(size_t)i * cols + j] * wdense[(size_t)o * cols + j]);
            double d = fabs((double)a[(size_t)i * rows + o] - b[(size_t)i * rows + o]) / mag;
            if (!(d <= e)) e = d;
        }
    return e;
}

/*
 * A random GQ weight (codes, f16 scales of both signs, zeros up to 2^bits)
 * and its dense f32 twin wdense[rows][cols] in the input channels' order.
 */
static void make_gq(hk_weight *w, void **mem, float **wdense, int rows, int cols, int bits, int group, int permuted)
{
    hk_gq_params p = {bits, group, permuted};
    size_t bytes = hk_gq_size(rows, cols, &p);
    TEST_CHECK(bytes > 0, "hk_gq_size(%d, %d, bits %d, group %d)", rows, cols, bits, group);
    void *m = NULL;
    if (posix_memalign(&m, 64, bytes) != 0) exit(1);
    TEST_CHECK(hk_gq_init(w, rows, cols, &p, m) == 0, "hk_gq_init");
    int ng = hk_gq_groups(w), qmax = (1 << bits) - 1;
    TEST_CHECK(ng == (group >= cols ? 1 : (cols + group - 1) / group), "groups %d", ng);
    uint8_t *codes = xmalloc((size_t)rows * cols);
    float *scales = xmalloc((size_t)rows * ng * 4);
    int32_t *zeros = xmalloc((size_t)rows * ng * 4), *perm = xmalloc((size_t)cols * 4);
    for (size_t i = 0; i < (size_t)rows * cols; i++) codes[i] = (uint8_t)((int)((frand() + 1.0f) * 0.5f * (float)(qmax + 1)) & qmax);
    for (size_t i = 0; i < (size_t)rows * ng; i++) {
        scales[i] = hk_f16_to_f32(hk_f32_to_f16(frand() * 0.05f));
        zeros[i] = (int32_t)((frand() + 1.0f) * 0.5f * (float)(qmax + 2));
        if (zeros[i] > qmax + 1) zeros[i] = qmax + 1;
    }
    for (int j = 0; j < cols; j++) perm[j] = j;
    if (permuted) /* a random permutation */
        for (int j = cols - 1; j > 0; j--) {
            int k = (int)((frand() + 1.0f) * 0.5f * (float)(j + 1));
            if (k > j) k = j;
            int32_t t = perm[j]; perm[j] = perm[k]; perm[k] = t;
        }
    /* set in two calls to cover row offsets */
    int half = rows / 2;
    hk_gq_set_rows(w, 0, half, codes, scales, zeros);
    hk_gq_set_rows(w, half, rows - half, codes + (size_t)half * cols, scales + (size_t)half * ng, zeros + (size_t)half * ng);
    hk_gq_set_perm(w, perm);
    float *wd = xmalloc((size_t)rows * cols * 4);
    int bad = 0;
    for (int o = 0; o < rows; o++)
        for (int j = 0; j < cols; j++) {
            int g = j / (group >= cols ? cols : group);
            double want = (double)scales[(size_t)o * ng + g] * (codes[(size_t)o * cols + j] - zeros[(size_t)o * ng + g]);
            if (hk_gq_code(w, o, (size_t)j) != codes[(size_t)o * cols + j] || (double)hk_gq_elem(w, o, (size_t)j) != want) bad++;
            wd[(size_t)o * cols + perm[j]] = (float)want;
        }
    TEST_CHECK(bad == 0, "gq%d %dx%d group %d: %d weights not exactly scale*(code-zero)", bits, rows, cols, group, bad);
    bad = 0;
    for (int o = 0; o < rows; o += 3)
        for (int i = 0; i < cols; i += 5) bad += hk_gq_weight(w, o, i) != wd[(size_t)o * cols + i];
    TEST_CHECK(bad == 0, "hk_gq_weight: %d differ", bad);
    free(codes); free(scales); free(zeros); free(perm);
    *mem = m;
    *wdense = wd;
}

static void test_gq_case(int n, int rows, int cols, int bits, int group, int permuted, int with_bias, int team)
{
    hk_weight w, wf;
    void *mem;
    float *wd;
    make_gq(&w, &mem, &wd, rows, cols, bits, group, permuted);
    hk_weight_view(&wf, HK_F32, rows, cols, wd);
    float *x = xmalloc((size_t)n * cols * 4), *bias = xmalloc((size_t)rows * 4);
    float *y = xmalloc((size_t)n * rows * 4), *yr = xmalloc((size_t)n * rows * 4), *yf = xmalloc((size_t)n * rows * 4);
    fill(x, (size_t)n * cols, 1.0f);
    fill(bias, (size_t)rows, 1.0f);
    const float *b = with_bias ? bias : NULL;
    for (size_t i = 0; i < (size_t)n * rows; i++) y[i] = NAN;
    if (team) {
#pragma omp parallel num_threads(2)
        hk_matmul(x, n, &w, b, y);
    } else {
        hk_matmul(x, n, &w, b, y);
    }
    hk_ref_matmul(x, n, &w, b, yr);
    hk_ref_matmul(x, n, &wf, b, yf);
    double e = matmul_err(x, n, wd, rows, cols, y, yr), ef = matmul_err(x, n, wd, rows, cols, y, yf);
    TEST_CHECK(e <= 2e-5 && ef <= 2e-5, "[%s] gq%d n=%d %dx%d group %d perm %d bias %d team %d: err vs ref %.3g, vs f32 %.3g",
               hk_isa_name(), bits, n, rows, cols, group, permuted, with_bias, team, e, ef);
    if (!strcmp(hk_isa_name(), "avx512")) {
        /* the same bits from the GEMV (row by row) and the GEMM, and from one row alone */
        float *yv = xmalloc((size_t)n * rows * 4), *yg = xmalloc((size_t)n * rows * 4), *y1 = xmalloc((size_t)rows * 4);
        hk_gq_gemv_avx512(x, n, &w, b, yv, 0, rows);
        hk_gq_gemm_avx512(x, n, &w, b, yg, 0, rows);
        hk_matmul(x + (size_t)(n - 1) * cols, 1, &w, b, y1);
        TEST_CHECK(memcmp(yv, yg, (size_t)n * rows * 4) == 0 && memcmp(yv, y, (size_t)n * rows * 4) == 0 &&
                   memcmp(y1, y + (size_t)(n - 1) * rows, (size_t)rows * 4) == 0,
                   "gq%d n=%d %dx%d group %d perm %d: GEMV, GEMM and the one-row pass differ in bits", bits, n, rows,
                   cols, group, permuted);
        free(yv); free(yg); free(y1);
    }
    free(x); free(bias); free(y); free(yr); free(yf); free(wd); free(mem);
}

static void test_gq(void)
{
    static const int colsv[] = {16, 100, 128, 300, 1024};
    static const int rowsv[] = {1, 7, 33, 100};
    static const int groups[] = {16, 32, 64, 128, -1};
    for (int bits = 4; bits <= 8; bits += 4)
        for (int ci = 0; ci < 5; ci++)
            for (int gi = 0; gi < 5; gi++) {
                int cols = colsv[ci], group = groups[gi] < 0 ? cols : groups[gi];
                if (group > cols && groups[gi] > 0) continue;
                int rows = rowsv[(ci + gi) % 4], perm = (ci + gi + bits) % 3 == 0;
                test_gq_case(1, rows, cols, bits, group, perm, gi & 1, 0);
                test_gq_case(5, rows, cols, bits, group, !perm, !(gi & 1), (ci & 1));
            }
    /* rows longer than the GEMV's column blocks, every way a block can start (at a
     * group's start, inside a group; groups of 1, 2, 4, 3, 8k vectors, one group) */
    static const int long_groups[] = {16, 32, 48, 64, 384, 3072, 5000};
    for (int gi = 0; gi < 7; gi++) {
        test_gq_case(1, 9, 5000, 4, long_groups[gi], gi & 1, 1, 0);
        test_gq_case(5, 9, 5000, 4, long_groups[gi], !(gi & 1), 0, gi & 1);
    }
    /* team splits, GEMM blocking over many rows, a long row (heap x) */
    test_gq_case(2, 300, 513, 4, 64, 1, 1, 1);
    test_gq_case(13, 300, 513, 8, 32, 0, 1, 1);
    test_gq_case(37, 150, 300, 4, 16, 1, 0, 1);
    test_gq_case(1, 9, 20000, 4, 128, 1, 1, 1);
    test_gq_case(4, 9, 20000, 8, 20000, 0, 0, 0);
    /* what the layout refuses */
    hk_gq_params p3 = {3, 128, 0}, pg = {4, 24, 0}, ok = {4, 5000, 0};
    TEST_CHECK(hk_gq_size(8, 256, &p3) == 0 && hk_gq_size(8, 256, &pg) == 0 && hk_gq_size(8, 256, &ok) > 0,
               "hk_gq_size accepts 3 bits or a group of 24");
}

/* ---------------- attention ---------------- */

static void test_attn_case(int n_q, int n_heads, int n_kv_heads, int hd, int q_pos0, int n_kv,
                           int causal, int window, int use_mask, int team)
{
    hk_attn_params p = {0};
    p.n_q = n_q;
    p.n_heads = n_heads;
    p.n_kv_heads = n_kv_heads;
    p.head_dim = hd;
    p.q_pos0 = q_pos0;
    p.n_kv = n_kv;
    p.kv_stride = n_kv + 3;
    p.causal = causal;
    p.window = window;
    p.scale = 1.0f / sqrtf((float)hd);
    size_t qn = (size_t)n_q * n_heads * hd, cn = (size_t)n_kv_heads * p.kv_stride * hd;
    float *q = xmalloc(qn * 4), *k = xmalloc(cn * 4), *v = xmalloc(cn * 4);
    float *o = xmalloc(qn * 4), *orf = xmalloc(qn * 4);
    uint8_t *mask = xmalloc((size_t)n_kv);
    fill(q, qn, 2.0f);
    /* unused cache slots hold NaN: reading them would show */
    for (size_t i = 0; i < cn; i++) {
        size_t pos = (i / hd) % (size_t)p.kv_stride;
        k[i] = pos < (size_t)n_kv ? frand() * 2.0f : NAN;
        v[i] = pos < (size_t)n_kv ? frand() : NAN;
    }
    for (int j = 0; j < n_kv; j++) mask[j] = (j % 5) != 3;
    p.key_mask = use_mask ? mask : NULL;
    hk_ref_attention(q, k, v, orf, &p);
    if (team) {
#pragma omp parallel num_threads(2)
        hk_attention(q, k, v, o, &p);
    } else {
        hk_attention(q, k, v, o, &p);
    }
    double e = 0;
    for (size_t i = 0; i < qn; i++) {
        double d = fabs((double)o[i] - orf[i]);
        if (!(d <= e)) e = d;
    }
    TEST_CHECK(e <= 2e-5, "[%s] attention n_q=%d heads=%d/%d hd=%d pos0=%d n_kv=%d causal=%d window=%d "
               "mask=%d team=%d: max abs err %.3g > 2e-5", hk_isa_name(), n_q, n_heads, n_kv_heads, hd,
               q_pos0, n_kv, causal, window, use_mask, team, e);
    free(q);
    free(k);
    free(v);
    free(o);
    free(orf);
    free(mask);
}

static void test_attention(void)
{
    static const int gqa[][2] = {{4, 4}, {4, 2}, {8, 2}, {4, 1}}; /* ratios 1, 2, 4, n_heads */
    static const int hds[] = {64, 33, 7};
    for (int g = 0; g < 4; g++)
        for (int hi = 0; hi < 3; hi++) {
            int H = gqa[g][0], K = gqa[g][1], hd = hds[hi];
            test_attn_case(1, H, K, hd, 99, 100, 1, 0, 0, 0);      /* decode */
            test_attn_case(33, H, K, hd, 0, 33, 1, 0, 0, 0);       /* prefill */
            test_attn_case(7, H, K, hd, 26, 33, 1, 0, 0, 1);       /* prefill after a prefix */
            test_attn_case(33, H, K, hd, 0, 33, 0, 0, 1, 0);       /* bidirectional + padding */
            test_attn_case(33, H, K, hd, 0, 33, 1, 8, 0, 1);       /* sliding window */
            test_attn_case(7, H, K, hd, 93, 100, 1, 16, 1, 0);     /* window + mask */
        }
    /* head sizes with their own unrolled per-head paths (32, 64, 128) and stories260K's 8;
     * one query head per kv head (GPT-2/BERT) decoding with window + padding mask;
     * SmolLM2's 9 heads over 3 kv heads */
    static const int hds2[] = {8, 32, 128};
    for (int hi = 0; hi < 3; hi++) {
        test_attn_case(1, 4, 4, hds2[hi], 130, 131, 1, 0, 0, 0);
        test_attn_case(1, 4, 4, hds2[hi], 129, 131, 1, 40, 1, 0);
        test_attn_case(1, 8, 2, hds2[hi], 130, 131, 1, 0, 0, 1);
        test_attn_case(40, 4, 4, hds2[hi], 0, 40, 1, 0, 0, 0);
    }
    test_attn_case(1, 12, 12, 64, 1000, 1001, 1, 0, 0, 1);
    test_attn_case(3, 12, 12, 64, 60, 63, 0, 0, 1, 0);
    test_attn_case(1, 9, 3, 64, 77, 78, 1, 0, 0, 0);
    test_attn_case(20, 9, 3, 64, 0, 20, 1, 0, 0, 1);
    test_attn_case(1, 4, 2, 64, 4096, 4097, 1, 0, 0, 0);  /* long decode */
    test_attn_case(1, 4, 2, 64, 4096, 4097, 1, 0, 0, 1);
    test_attn_case(100, 4, 1, 64, 0, 100, 1, 0, 0, 1);
    /* decode on a team of 2 with few kv heads (split keys when long enough):
     * SmolLM2's 9/3 and MQA 4/1, contexts 300, 1001, 2048, window and mask */
    static const int dec[][2] = {{9, 3}, {4, 1}, {8, 1}};
    static const int ctx[] = {300, 1001, 2048};
    for (int g = 0; g < 3; g++)
        for (int c = 0; c < 3; c++) {
            int H = dec[g][0], K = dec[g][1], n = ctx[c];
            test_attn_case(1, H, K, 64, n - 1, n, 1, 0, 0, 1);
            test_attn_case(1, H, K, 64, n - 1, n, 1, 0, 1, 1);
            test_attn_case(1, H, K, 64, n - 1, n, 1, 700, 0, 1);
            test_attn_case(1, H, K, 64, n - 1, n, 1, 300, 1, 1);
            test_attn_case(1, H, K, g == 2 ? 128 : 33, n - 5, n, 1, 0, 1, 1);
            test_attn_case(1, H, K, 64, n - 1, n, 0, 0, 1, 1);
        }
    test_attn_case(5, 4, 2, 64, 0, 100, 0, 0, 1, 1);
    /* every key masked: zeros, not NaN */
    {
        hk_attn_params p = {0};
        p.n_q = 1; p.n_heads = 2; p.n_kv_heads = 1; p.head_dim = 8; p.n_kv = 3; p.kv_stride = 3;
        p.scale = 0.3f;
        uint8_t mask[3] = {0, 0, 0};
        p.key_mask = mask;
        float q[16], k[24], v[24], o[16];
        fill(q, 16, 1); fill(k, 24, 1); fill(v, 24, 1);
        hk_attention(q, k, v, o, &p);
        int ok = 1;
        for (int i = 0; i < 16; i++) ok &= o[i] == 0.0f;
        TEST_CHECK(ok, "[%s] fully masked attention row is not zeros", hk_isa_name());
    }
}

/* ---------------- small kernels ---------------- */

static const size_t sizes[] = {1, 7, 33, 100, 4097};

static void test_elementwise(int team)
{
    typedef void (*ew)(float *, size_t);
    static const struct { const char *name; ew fast, ref; float scale; } ops[] = {
        {"gelu", hk_gelu, hk_ref_gelu, 6}, {"gelu_tanh", hk_gelu_tanh, hk_ref_gelu_tanh, 6},
        {"silu", hk_silu, hk_ref_silu, 12}, {"tanh", hk_tanh, hk_ref_tanh, 6},
    };
    for (size_t s = 0; s < 5; s++) {
        size_t n = sizes[s];
        float *a = xmalloc(n * 4), *b = xmalloc(n * 4), *c = xmalloc(n * 4), *r = xmalloc(n * 4);
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            fill(a, n, ops[k].scale);
            if (n > 4) { a[0] = 0; a[1] = -30; a[2] = 30; a[3] = 1e-8f; }
            memcpy(r, a, n * 4);
            ops[k].ref(r, n);
            if (team) {
#pragma omp parallel num_threads(2)
                ops[k].fast(a, n);
            } else {
                ops[k].fast(a, n);
            }
            double e = elem_err(a, r, n, 2e-6, 1e-5);
            TEST_CHECK(e <= 1, "[%s] %s n=%zu team=%d: err %.3g x tolerance", hk_isa_name(), ops[k].name, n, team, e);
        }
        fill(a, n, 8); fill(b, n, 3);
        hk_ref_silu_mul(a, b, r, n);
        if (team) {
#pragma omp parallel num_threads(2)
            hk_silu_mul(a, b, c, n);
        } else {
            hk_silu_mul(a, b, c, n);
        }
        TEST_CHECK(elem_err(c, r, n, 2e-6, 1e-5) <= 1, "[%s] silu_mul n=%zu", hk_isa_name(), n);
        memcpy(c, a, n * 4);
        hk_silu_mul(c, b, c, n); /* aliasing out = gate */
        TEST_CHECK(elem_err(c, r, n, 2e-6, 1e-5) <= 1, "[%s] silu_mul in place n=%zu", hk_isa_name(), n);
        hk_ref_add(a, b, r, n);
        memcpy(c, a, n * 4);
        if (team) {
#pragma omp parallel num_threads(2)
            hk_add(c, b, c, n);
        } else {
            hk_add(c, b, c, n);
        }
        TEST_CHECK(memcmp(c, r, n * 4) == 0, "[%s] add n=%zu", hk_isa_name(), n);
        free(a); free(b); free(c); free(r);
    }
}

static void test_rows(int team)
{
    static const int dims[] = {1, 7, 33, 100, 4097};
    for (int di = 0; di < 5; di++) {
        int d = dims[di], n = 5;
        size_t tot = (size_t)n * d;
        float *x = xmalloc(tot * 4), *y = xmalloc(tot * 4), *r = xmalloc(tot * 4);
        float *w = xmalloc((size_t)d * 4), *b = xmalloc((size_t)d * 4);
        fill(x, tot, 3); fill(w, (size_t)d, 1); fill(b, (size_t)d, 1);
        for (size_t i = 0; i < tot; i++) x[i] += 0.5f; /* a non-zero mean */
        hk_ref_layernorm(x, n, d, w, b, 1e-5f, r);
        if (team) {
#pragma omp parallel num_threads(2)
            hk_layernorm(x, n, d, w, b, 1e-5f, y);
        } else {
            hk_layernorm(x, n, d, w, b, 1e-5f, y);
        }
        TEST_CHECK(elem_err(y, r, tot, 1e-6, 1e-5) <= 1, "[%s] layernorm d=%d team=%d", hk_isa_name(), d, team);
        hk_ref_rmsnorm(x, n, d, w, 1e-6f, r);
        if (team) {
#pragma omp parallel num_threads(2)
            hk_rmsnorm(x, n, d, w, 1e-6f, y);
        } else {
            hk_rmsnorm(x, n, d, w, 1e-6f, y);
        }
        TEST_CHECK(elem_err(y, r, tot, 1e-6, 1e-5) <= 1, "[%s] rmsnorm d=%d team=%d", hk_isa_name(), d, team);
        free(x); free(y); free(r); free(w); free(b);
    }
    /* rope: head dims 64, 128, 6 (rotate-half pairs), positions past 2000 */
    static const int hds[] = {64, 128, 6};
    for (int hi = 0; hi < 3; hi++) {
        int hd = hds[hi], H = 3, n = 7;
        size_t tot = (size_t)n * H * hd;
        float *x = xmalloc(tot * 4), *r = xmalloc(tot * 4), inv[64];
        hk_rope_inv_freq(inv, hd, 10000.0f);
        fill(x, tot, 2);
        memcpy(r, x, tot * 4);
        hk_ref_rope(r, n, H, hd, 2000, inv);
        if (team) {
#pragma omp parallel num_threads(2)
            hk_rope(x, n, H, hd, 2000, inv);
        } else {
            hk_rope(x, n, H, hd, 2000, inv);
        }
        TEST_CHECK(elem_err(x, r, tot, 1e-6, 1e-5) <= 1, "[%s] rope hd=%d team=%d", hk_isa_name(), hd, team);
        free(x); free(r);
    }
}

static void test_embedding(void)
{
    for (int t = HK_F32; t <= HK_BF16; t++) {
        int d = 33, V = 50, n = 7;
        float *tab = xmalloc((size_t)V * d * 4), *o = xmalloc((size_t)n * d * 4), *r = xmalloc((size_t)n * d * 4);
        fill(tab, (size_t)V * d, 1);
        void *st = store_as((hk_wtype)t, tab, (size_t)V * d);
        int32_t ids[7] = {0, 49, 3, 3, 17, 48, 1};
        hk_ref_embedding((hk_wtype)t, st, d, ids, n, r);
#pragma omp parallel num_threads(2)
        hk_embedding((hk_wtype)t, st, d, ids, n, o);
        TEST_CHECK(memcmp(o, r, (size_t)n * d * 4) == 0, "[%s] embedding %s", hk_isa_name(), dtname((hk_wtype)t));
        int ok = 1;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) ok &= o[i * d + j] == tab[ids[i] * d + j];
        TEST_CHECK(ok, "[%s] embedding %s does not widen exactly", hk_isa_name(), dtname((hk_wtype)t));
        hk_to_f32((hk_wtype)t, st, o, (size_t)n * d);
        TEST_CHECK(memcmp(o, tab, (size_t)n * d * 4) == 0, "[%s] to_f32 %s", hk_isa_name(), dtname((hk_wtype)t));
        free(st); free(tab); free(o); free(r);
    }
}

/*
 * A decoder block as the executor runs it: one 2-thread parallel region for
 * the whole chain, each kernel relying on the previous one's closing
 * barrier. Compared with the same chain through the references.
 */
static void test_team_chain(void)
{
    enum { N = 9, D = 96, H = 6, KV = 2, HD = 16, F = 160 };
    float *x = xmalloc(N * D * 4), *wn = xmalloc(D * 4), *wq = xmalloc(D * D * 4), *wk = xmalloc(KV * HD * D * 4);
    float *wo = xmalloc(D * D * 4), *wg = xmalloc(F * D * 4), *wu = xmalloc(F * D * 4), *wd = xmalloc(D * F * 4);
    fill(x, N * D, 1); fill(wn, D, 1); fill(wq, D * D, 0.2f); fill(wk, KV * HD * D, 0.2f); fill(wo, D * D, 0.2f);
    fill(wg, F * D, 0.2f); fill(wu, F * D, 0.2f); fill(wd, D * F, 0.2f);
    uint16_t *wq16 = store_as(HK_BF16, wq, D * D); /* one bf16 weight in the chain */
    hk_weight Wq, Wk, Wo, Wg, Wu, Wd;
    hk_weight_view(&Wq, HK_BF16, D, D, wq16);
    hk_weight_view(&Wk, HK_F32, KV * HD, D, wk);
    hk_weight_view(&Wo, HK_F32, D, D, wo);
    hk_weight_view(&Wg, HK_F32, F, D, wg);
    hk_weight_view(&Wu, HK_F32, F, D, wu);
    hk_weight_view(&Wd, HK_F32, D, F, wd);
    float inv[HD / 2];
    hk_rope_inv_freq(inv, HD, 10000.0f);
    hk_attn_params p = {0};
    p.n_q = N; p.n_heads = H; p.n_kv_heads = KV; p.head_dim = HD; p.n_kv = N; p.kv_stride = N;
    p.causal = 1; p.scale = 0.25f;
    float *out[2];
    for (int pass = 0; pass < 2; pass++) {
        float *xn = xmalloc(N * D * 4), *q = xmalloc(N * D * 4), *kc = xmalloc(KV * N * HD * 4);
        float *kr = xmalloc(N * KV * HD * 4), *att = xmalloc(N * D * 4), *o = xmalloc(N * D * 4);
        float *g = xmalloc(N * F * 4), *u = xmalloc(N * F * 4), *y = xmalloc(N * D * 4);
        if (pass == 0) {
            hk_ref_rmsnorm(x, N, D, wn, 1e-5f, xn);
            hk_ref_matmul(xn, N, &Wq, NULL, q);
            hk_ref_matmul(xn, N, &Wk, NULL, kr);
            hk_ref_rope(q, N, H, HD, 0, inv);
            hk_ref_rope(kr, N, KV, HD, 0, inv);
            for (int i = 0; i < N; i++) /* [N][KV][HD] -> cache [KV][N][HD]; V = K here */
                for (int h = 0; h < KV; h++) memcpy(kc + ((size_t)h * N + i) * HD, kr + ((size_t)i * KV + h) * HD, HD * 4);
            hk_ref_attention(q, kc, kc, att, &p);
            hk_ref_matmul(att, N, &Wo, NULL, o);
            hk_ref_add(o, x, o, N * D);
            hk_ref_matmul(o, N, &Wg, NULL, g);
            hk_ref_matmul(o, N, &Wu, NULL, u);
            hk_ref_silu_mul(g, u, g, N * F);
            hk_ref_matmul(g, N, &Wd, NULL, y);
        } else {
#pragma omp parallel num_threads(2)
            {
                hk_rmsnorm(x, N, D, wn, 1e-5f, xn);
                hk_matmul(xn, N, &Wq, NULL, q);
                hk_matmul(xn, N, &Wk, NULL, kr);
                hk_rope(q, N, H, HD, 0, inv);
                hk_rope(kr, N, KV, HD, 0, inv);
#pragma omp for
                for (int i = 0; i < N; i++)
                    for (int h = 0; h < KV; h++) memcpy(kc + ((size_t)h * N + i) * HD, kr + ((size_t)i * KV + h) * HD, HD * 4);
                hk_attention(q, kc, kc, att, &p);
                hk_matmul(att, N, &Wo, NULL, o);
                hk_add(o, x, o, N * D);
                hk_matmul(o, N, &Wg, NULL, g);
                hk_matmul(o, N, &Wu, NULL, u);
                hk_silu_mul(g, u, g, N * F);
                hk_matmul(g, N, &Wd, NULL, y);
            }
        }
        out[pass] = y;
        free(xn); free(q); free(kc); free(kr); free(att); free(o); free(g); free(u);
    }
    double e = rel_err(out[1], out[0], N * D, 1e-3);
    TEST_CHECK(e <= 1e-4, "[%s] decoder block chained in one 2-thread region: rel err %.3g > 1e-4", hk_isa_name(), e);
    free(out[0]); free(out[1]);
    free(x); free(wn); free(wq); free(wk); free(wo); free(wg); free(wu); free(wd); free(wq16);
}

/* hk_weight_repack_into lays weights in caller memory, the same bytes as the owned copy. */
static void test_into(void)
{
    int rows = 13, cols = 70;
    float *wf = xmalloc((size_t)rows * cols * 4), x[70], y1[13], y2[13];
    fill(wf, (size_t)rows * cols, 1);
    fill(x, 70, 1);
    uint16_t *d = store_as(HK_BF16, wf, (size_t)rows * cols);
    hk_weight w, a, b;
    hk_weight_view(&w, HK_BF16, rows, cols, d);
    size_t n = hk_weight_repack_size(&w);
    void *mem = NULL;
    TEST_CHECK(n > 0 && posix_memalign(&mem, 64, n) == 0, "repack size");
    TEST_CHECK(hk_weight_repack_into(&a, &w, mem) == 0 && a.data == mem && !a.owned && a.interleaved, "repack_into");
    TEST_CHECK(hk_weight_repack(&b, &w) == 0 && b.owned_size == n && memcmp(b.data, mem, n) == 0, "repack vs into");
    hk_matmul(x, 1, &a, NULL, y1);
    hk_ref_matmul(x, 1, &w, NULL, y2);
    TEST_CHECK(rel_err(y1, y2, 13, 1e-3) <= 2e-5, "[%s] GEMV on repack_into memory", hk_isa_name());
    hk_weight_free(&a); /* must not free mem */
    hk_weight_free(&b);
    hk_weight q8;
    TEST_CHECK(hk_weight_quantize(&q8, &w, HK_F32) == -1 && hk_weight_quantize(&q8, &w, HK_BF16) == -1,
               "quantising to a float type is refused");
    hk_weight ww;
    hk_weight_view(&ww, HK_Q8, rows, cols, d);
    TEST_CHECK(hk_weight_repack_size(&ww) == 0 && hk_weight_repack(&a, &ww) == -1, "repacking a Q8 weight is refused");
    free(mem);
    free(d);
    free(wf);
}

/* ---------------- kernels the executor calls per node ---------------- */

/* Runs stmt on a 2-thread team (team = 1) or on the calling thread alone. */
#define ON_TEAM(team, stmt)                       \
    do {                                          \
        if (team) {                               \
            _Pragma("omp parallel num_threads(2)") \
            stmt;                                 \
        } else {                                  \
            stmt;                                 \
        }                                         \
    } while (0)

/*
 * Residual add + norm: bit-identical to the reference (same summation
 * order on every path), and the reference within rounding of add then the
 * plain norm.
 */
static void test_add_norm(int team)
{
    static const int dims[] = {1, 7, 8, 33, 100, 4097};
    for (int di = 0; di < 6; di++)
        for (int kind = 0; kind < 2; kind++)
            for (int with_w = 0; with_w < 2; with_w++) {
                int d = dims[di], n = 5;
                size_t tot = (size_t)n * d;
                float *x0 = xmalloc(tot * 4), *dl = xmalloc(tot * 4), *xf = xmalloc(tot * 4), *xr = xmalloc(tot * 4);
                float *y = xmalloc(tot * 4), *yr = xmalloc(tot * 4), *yp = xmalloc(tot * 4);
                float *w = xmalloc((size_t)d * 4), *b = xmalloc((size_t)d * 4);
                fill(x0, tot, 3); fill(dl, tot, 1); fill(w, (size_t)d, 1); fill(b, (size_t)d, 1);
                for (size_t i = 0; i < tot; i++) x0[i] += 0.5f; /* a non-zero mean */
                const float *wp = with_w ? w : NULL, *bp = with_w ? b : NULL;
                memcpy(xf, x0, tot * 4);
                memcpy(xr, x0, tot * 4);
                if (kind == 0) {
                    hk_ref_add_rmsnorm(xr, dl, n, d, wp, 1e-6f, yr);
                    ON_TEAM(team, hk_add_rmsnorm(xf, dl, n, d, wp, 1e-6f, y));
                } else {
                    hk_ref_add_layernorm(xr, dl, n, d, wp, bp, 1e-5f, yr);
                    ON_TEAM(team, hk_add_layernorm(xf, dl, n, d, wp, bp, 1e-5f, y));
                }
                const char *name = kind ? "add_layernorm" : "add_rmsnorm";
                TEST_CHECK(memcmp(y, yr, tot * 4) == 0 && memcmp(xf, xr, tot * 4) == 0,
                           "[%s] %s d=%d w=%d team=%d differs from the reference", hk_isa_name(), name, d, with_w, team);
                /* the reference against the formula: add, then the plain norm */
                hk_ref_add(x0, dl, x0, tot);
                TEST_CHECK(memcmp(x0, xr, tot * 4) == 0, "%s d=%d: residual is not x + delta", name, d);
                if (kind == 0) hk_ref_rmsnorm(x0, n, d, wp, 1e-6f, yp);
                else hk_ref_layernorm(x0, n, d, wp, bp, 1e-5f, yp);
                TEST_CHECK(elem_err(yr, yp, tot, 1e-6, 1e-5) <= 1, "%s d=%d w=%d: reference is not the norm", name, d, with_w);
                free(x0); free(dl); free(xf); free(xr); free(y); free(yr); free(yp); free(w); free(b);
            }
}

/* A KV cache [kv][stride][hd] filled with NaN: slots nobody writes stay NaN in both results. */
static float *nan_cache(size_t n)
{
    float *c = xmalloc(n * 4);
    for (size_t i = 0; i < n; i++) c[i] = NAN;
    return c;
}

static void test_kv_case(int n, int H, int KV, int hd, int pos0, int rope, int team)
{
    int stride = pos0 + n + 3, W = (H + 2 * KV) * hd;
    size_t cn = (size_t)KV * stride * hd, qn = (size_t)n * H * hd;
    float *qkv = xmalloc((size_t)n * W * 4), *inv = xmalloc((size_t)(hd / 2 + 1) * 4);
    fill(qkv, (size_t)n * W, 2);
    hk_rope_inv_freq(inv, hd, 10000.0f);
    const float *ip = rope ? inv : NULL;
    float *q = xmalloc(qn * 4), *qr = xmalloc(qn * 4), *qu = xmalloc(qn * 4);
    float *kc = nan_cache(cn), *vc = nan_cache(cn), *kr = nan_cache(cn), *vr = nan_cache(cn);
    float *ku = nan_cache(cn), *vu = nan_cache(cn);
    hk_ref_qkv_split(qkv, n, H, KV, hd, pos0, ip, qr, kr, vr, stride);
    ON_TEAM(team, hk_qkv_split(qkv, n, H, KV, hd, pos0, ip, q, kc, vc, stride));
    TEST_CHECK(memcmp(q, qr, qn * 4) == 0 && memcmp(kc, kr, cn * 4) == 0 && memcmp(vc, vr, cn * 4) == 0,
               "[%s] qkv_split n=%d heads=%d/%d hd=%d pos0=%d rope=%d team=%d differs from the reference",
               hk_isa_name(), n, H, KV, hd, pos0, rope, team);
    /* the same as the unfused nodes: split, hk_rope on q and k, hk_kv_store of k and v */
    float *kx = xmalloc((size_t)n * KV * hd * 4), *vx = xmalloc((size_t)n * KV * hd * 4);
    for (int i = 0; i < n; i++) {
        memcpy(qu + (size_t)i * H * hd, qkv + (size_t)i * W, (size_t)H * hd * 4);
        memcpy(kx + (size_t)i * KV * hd, qkv + (size_t)i * W + (size_t)H * hd, (size_t)KV * hd * 4);
        memcpy(vx + (size_t)i * KV * hd, qkv + (size_t)i * W + (size_t)(H + KV) * hd, (size_t)KV * hd * 4);
    }
    if (rope) {
        ON_TEAM(team, hk_rope(qu, n, H, hd, pos0, inv));
        ON_TEAM(team, hk_rope(kx, n, KV, hd, pos0, inv));
    }
    ON_TEAM(team, hk_kv_store(kx, n, KV, hd, pos0, ku, stride));
    ON_TEAM(team, hk_kv_store(vx, n, KV, hd, pos0, vu, stride));
    TEST_CHECK(memcmp(q, qu, qn * 4) == 0 && memcmp(kc, ku, cn * 4) == 0 && memcmp(vc, vu, cn * 4) == 0,
               "[%s] qkv_split n=%d heads=%d/%d hd=%d rope=%d team=%d differs from split + rope + kv_store",
               hk_isa_name(), n, H, KV, hd, rope, team);
    /* kv_store against its reference */
    hk_ref_kv_store(vx, n, KV, hd, pos0, kr, stride);
    ON_TEAM(team, hk_kv_store(vx, n, KV, hd, pos0, kc, stride));
    TEST_CHECK(memcmp(kc, kr, cn * 4) == 0, "[%s] kv_store n=%d kv=%d hd=%d team=%d", hk_isa_name(), n, KV, hd, team);
    free(qkv); free(inv); free(q); free(qr); free(qu); free(kc); free(vc); free(kr); free(vr); free(ku); free(vu);
    free(kx); free(vx);
}

static void test_kv(int team)
{
    static const int gqa[][2] = {{4, 4}, {4, 2}, {8, 2}, {4, 1}, {9, 3}};
    static const int hds[] = {8, 64, 128, 6, 34};
    for (int g = 0; g < 5; g++)
        for (int hi = 0; hi < 5; hi++)
            for (int rope = 0; rope < 2; rope++) {
                test_kv_case(1, gqa[g][0], gqa[g][1], hds[hi], 0, rope, team);    /* decode at 0 */
                test_kv_case(7, gqa[g][0], gqa[g][1], hds[hi], 2000, rope, team); /* after a prefix */
            }
    test_kv_case(3, 2, 1, 7, 5, 0, team); /* odd head size, no RoPE */
}

/* SwiGLU from [n][2d]: per element the same as hk_silu_mul on the halves; the reference within tolerance. */
static void test_swiglu(int team)
{
    static const int dims[] = {1, 7, 33, 100, 4097};
    for (int di = 0; di < 5; di++)
        for (int n = 1; n <= 5; n += 4) {
            int d = dims[di];
            size_t tot = (size_t)n * d;
            float *gu = xmalloc(tot * 8), *o = xmalloc(tot * 4), *r = xmalloc(tot * 4);
            float *g = xmalloc(tot * 4), *u = xmalloc(tot * 4), *h = xmalloc(tot * 4);
            fill(gu, tot * 2, 8);
            hk_ref_swiglu(gu, n, d, r);
            ON_TEAM(team, hk_swiglu(gu, n, d, o));
            TEST_CHECK(elem_err(o, r, tot, 2e-6, 1e-5) <= 1, "[%s] swiglu n=%d d=%d team=%d", hk_isa_name(), n, d, team);
            for (int i = 0; i < n; i++) {
                memcpy(g + (size_t)i * d, gu + (size_t)i * 2 * d, (size_t)d * 4);
                memcpy(u + (size_t)i * d, gu + (size_t)i * 2 * d + d, (size_t)d * 4);
            }
            hk_silu_mul(g, u, h, tot);
            TEST_CHECK(memcmp(o, h, tot * 4) == 0, "[%s] swiglu n=%d d=%d team=%d differs from silu_mul on the halves",
                       hk_isa_name(), n, d, team);
            free(gu); free(o); free(r); free(g); free(u); free(h);
        }
}

/* mul, relu (NaN and -0 included) and copy: exact. */
static void test_mul_relu_copy(int team)
{
    for (size_t s = 0; s < 5; s++) {
        size_t n = sizes[s];
        float *a = xmalloc(n * 4), *b = xmalloc(n * 4), *c = xmalloc(n * 4), *r = xmalloc(n * 4);
        fill(a, n, 4); fill(b, n, 4);
        hk_ref_mul(a, b, r, n);
        ON_TEAM(team, hk_mul(a, b, c, n));
        TEST_CHECK(memcmp(c, r, n * 4) == 0, "[%s] mul n=%zu team=%d", hk_isa_name(), n, team);
        memcpy(c, a, n * 4);
        ON_TEAM(team, hk_mul(c, b, c, n)); /* in place */
        TEST_CHECK(memcmp(c, r, n * 4) == 0, "[%s] mul in place n=%zu team=%d", hk_isa_name(), n, team);
        if (n > 4) { a[0] = NAN; a[1] = -0.0f; a[2] = INFINITY; a[3] = -INFINITY; }
        memcpy(r, a, n * 4);
        memcpy(c, a, n * 4);
        hk_ref_relu(r, n);
        ON_TEAM(team, hk_relu(c, n));
        TEST_CHECK(memcmp(c, r, n * 4) == 0, "[%s] relu n=%zu team=%d", hk_isa_name(), n, team);
        int ok = 1;
        for (size_t i = 0; i < n; i++) ok &= r[i] == (a[i] > 0 ? a[i] : 0.0f) && !signbit(r[i]);
        TEST_CHECK(ok, "relu reference n=%zu: not max(x, +0)", n);
        for (size_t i = 0; i < n; i++) c[i] = NAN;
        ON_TEAM(team, hk_copy(a, c, n));
        hk_ref_copy(a, r, n);
        TEST_CHECK(memcmp(c, a, n * 4) == 0 && memcmp(r, a, n * 4) == 0, "[%s] copy n=%zu team=%d", hk_isa_name(), n, team);
        /* rows of a [n/w][w] matrix, picked out of order and repeated */
        int w = n < 13 ? 1 : (int)(n % 13) + 1, nr = (int)(n / (size_t)w), pick[7], np = nr < 7 ? nr : 7;
        for (int k = 0; k < 7; k++) pick[k] = (k * 5 + 3) % nr;
        for (size_t i = 0; i < n; i++) c[i] = r[i] = NAN;
        ON_TEAM(team, hk_gather_rows(a, w, pick, np, c));
        hk_ref_gather_rows(a, w, pick, np, r);
        int same = memcmp(c, r, (size_t)np * (size_t)w * 4) == 0;
        for (int k = 0; k < np; k++) same &= memcmp(r + (size_t)k * w, a + (size_t)pick[k] * w, (size_t)w * 4) == 0;
        TEST_CHECK(same, "[%s] gather_rows n=%zu w=%d team=%d", hk_isa_name(), n, w, team);
        free(a); free(b); free(c); free(r);
    }
}

/* Rows of a table in the interleaved layout: the same values as from the plain table. */
static void test_embedding_interleaved(int team)
{
    static const int dims[] = {7, 33, 64, 100};
    for (int t = HK_F32; t <= HK_BF16; t++)
        for (int di = 0; di < 4; di++) {
            int d = dims[di], V = 50, n = 9;
            float *tab = xmalloc((size_t)V * d * 4), *o = xmalloc((size_t)n * d * 4), *r = xmalloc((size_t)n * d * 4);
            float *p = xmalloc((size_t)n * d * 4);
            fill(tab, (size_t)V * d, 1);
            void *st = store_as((hk_wtype)t, tab, (size_t)V * d);
            hk_weight w, il;
            hk_weight_view(&w, (hk_wtype)t, V, d, st);
            TEST_CHECK(hk_weight_repack(&il, &w) == 0, "repack");
            int32_t ids[9] = {0, 49, 3, 3, 17, 48, 1, 2, 47};
            hk_ref_embedding_interleaved((hk_wtype)t, il.data, d, ids, n, r);
            ON_TEAM(team, hk_embedding_interleaved((hk_wtype)t, il.data, d, ids, n, o));
            hk_ref_embedding((hk_wtype)t, st, d, ids, n, p);
            TEST_CHECK(memcmp(o, r, (size_t)n * d * 4) == 0 && memcmp(r, p, (size_t)n * d * 4) == 0,
                       "[%s] embedding_interleaved %s d=%d team=%d", hk_isa_name(), dtname((hk_wtype)t), d, team);
            hk_weight_free(&il);
            free(st); free(tab); free(o); free(r); free(p);
        }
}

/* Packed sequences: block-diagonal attention, against the reference. */
static void test_segments_case(int n_seg, const int *lens, int H, int KV, int hd, int causal, int use_mask, int team)
{
    int seg_start[33], n = 0;
    seg_start[0] = 0;
    for (int s = 0; s < n_seg; s++) seg_start[s + 1] = n += lens[s];
    hk_attn_params p = {0};
    p.n_q = n; p.n_heads = H; p.n_kv_heads = KV; p.head_dim = hd;
    p.kv_stride = n + 5; p.causal = causal; p.scale = 1.0f / sqrtf((float)hd);
    p.q_pos0 = 1000; p.n_kv = 7; /* not used by the segments kernel */
    size_t qn = (size_t)n * H * hd, cn = (size_t)KV * p.kv_stride * hd;
    float *q = xmalloc(qn * 4), *k = xmalloc(cn * 4), *v = xmalloc(cn * 4), *o = xmalloc(qn * 4), *r = xmalloc(qn * 4);
    uint8_t *mask = xmalloc((size_t)n + 1);
    fill(q, qn, 2);
    for (size_t i = 0; i < cn; i++) { /* slots past the n rows hold NaN: reading them would show */
        int pos = (int)((i / hd) % (size_t)p.kv_stride);
        k[i] = pos < n ? frand() * 2 : NAN;
        v[i] = pos < n ? frand() : NAN;
    }
    for (int j = 0; j < n; j++) mask[j] = (j % 4) != 2;
    p.key_mask = use_mask ? mask : NULL;
    hk_ref_attention_segments(q, k, v, r, &p, n_seg, seg_start);
    for (size_t i = 0; i < qn; i++) o[i] = NAN;
    ON_TEAM(team, hk_attention_segments(q, k, v, o, &p, n_seg, seg_start));
    double e = 0;
    for (size_t i = 0; i < qn; i++) {
        double d = fabs((double)o[i] - r[i]);
        if (!(d <= e)) e = d;
    }
    TEST_CHECK(e <= 2e-5, "[%s] attention_segments n_seg=%d n=%d heads=%d/%d hd=%d causal=%d mask=%d team=%d: "
               "max abs err %.3g", hk_isa_name(), n_seg, n, H, KV, hd, causal, use_mask, team, e);
    /* a sequence alone gives the same as in the batch (the reference, sequence 1) */
    if (n_seg > 1 && lens[1] > 0) {
        hk_attn_params p1 = p;
        p1.n_q = p1.n_kv = lens[1];
        p1.q_pos0 = 0;
        p1.key_mask = use_mask ? mask + seg_start[1] : NULL;
        size_t ko = (size_t)seg_start[1] * hd;
        float *o1 = xmalloc((size_t)lens[1] * H * hd * 4);
        hk_ref_attention(q + (size_t)seg_start[1] * H * hd, k + ko, v + ko, o1, &p1);
        TEST_CHECK(memcmp(o1, r + (size_t)seg_start[1] * H * hd, (size_t)lens[1] * H * hd * 4) == 0,
                   "attention_segments reference: sequence 1 differs from running it alone");
        free(o1);
    }
    free(q); free(k); free(v); free(o); free(r); free(mask);
}

static void test_segments(int team)
{
    static const int mixed[] = {5, 9, 1, 0, 13}, one[] = {40}, heavy[] = {3, 30, 4};
    static const int many[] = {6, 7, 6, 5, 6, 8, 6, 6, 7, 6, 5, 6};
    static const int hd_gqa[][3] = {{8, 4, 4}, {64, 4, 2}, {33, 8, 2}, {64, 12, 12}};
    for (int c = 0; c < 4; c++) {
        int hd = hd_gqa[c][0], H = hd_gqa[c][1], KV = hd_gqa[c][2];
        test_segments_case(5, mixed, H, KV, hd, 0, 1, team);
        test_segments_case(1, one, H, KV, hd, 0, 0, team);
        test_segments_case(3, heavy, H, KV, hd, 1, 0, team); /* one sequence heavier than a thread's share */
        test_segments_case(12, many, H, KV, hd, 0, 1, team); /* whole sequences per thread */
        test_segments_case(12, many, H, KV, hd, 1, 0, team);
    }
}

static void test_conversions(void)
{
    /* f16 round trip of every half value (NaN stays NaN) */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = hk_f16_to_f32((uint16_t)h);
        uint16_t back = hk_f32_to_f16(f);
        if (isnan(f) ? !isnan(hk_f16_to_f32(back)) : back != h) bad++;
    }
    TEST_CHECK(bad == 0, "f16 round trip: %d values differ", bad);
    TEST_CHECK(hk_f16_to_f32(0x3c00) == 1.0f && hk_f16_to_f32(0xc000) == -2.0f &&
               hk_f16_to_f32(0x0001) == ldexpf(1, -24), "f16 decoding");
    TEST_CHECK(hk_f32_to_bf16(1.0f) == 0x3f80 && hk_bf16_to_f32(0xbf80) == -1.0f, "bf16");
}

int main(void)
{
    /* HUBRT_ISA is read once, at the first kernel call (unless already set outside) */
    const char *env = getenv("HUBRT_ISA");
    if (!env) {
        setenv("HUBRT_ISA", "scalar", 1);
        TEST_CHECK(strcmp(hk_isa_name(), "scalar") == 0, "HUBRT_ISA=scalar gave %s", hk_isa_name());
    } else {
        TEST_CHECK(strcmp(hk_isa_name(), env) == 0 || !strcmp(hk_isa_name(), "avx512") || !strcmp(hk_isa_name(), "avx2"),
                   "HUBRT_ISA=%s gave %s", env, hk_isa_name());
    }
    TEST_CHECK(hk_set_isa("sse9") == -1, "hk_set_isa accepts an unknown ISA");
    test_conversions();
    static const char *isas[] = {"scalar", "avx2", "avx512"};
    for (int i = 0; i < 3; i++) {
        if (hk_set_isa(isas[i]) != 0) {
            TEST_SKIP("this CPU has no %s: that path is not tested here", isas[i]);
            continue;
        }
        isa_ok++;
        test_matmul();
        test_quant(i == 2);
        test_matmul_invariance();
        test_seqs();
        test_gq();
        test_attention();
        test_elementwise(0);
        test_elementwise(1);
        test_rows(0);
        test_rows(1);
        test_embedding();
        test_team_chain();
        test_into();
        for (int team = 0; team < 2; team++) {
            test_add_norm(team);
            test_kv(team);
            test_swiglu(team);
            test_mul_relu_copy(team);
            test_embedding_interleaved(team);
            test_segments(team);
        }
    }
    return test_finish();
}
