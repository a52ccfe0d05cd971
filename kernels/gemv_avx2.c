/*
 * kernels/gemv_avx2.c — AVX2+FMA GEMV (one activation row, decode):
 * y[o] = dot(x, W[o]) (+bias) for W rows [o0, o1), W f32/f16/bf16.
 * Same plan as gemv_avx512.c with 8-wide vectors: 4 weight rows streamed at
 * once, bf16/f16 widened exactly in registers, f32 accumulation; the ragged
 * end of a row is done in scalar code.
 */
#include <immintrin.h>

#include "kernels/internal.h"

static inline __m256 load8(hk_wtype t, const void *row, size_t j)
{
    if (t == HK_F32) return _mm256_loadu_ps((const float *)row + j);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)row + j));
    if (t == HK_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __attribute__((always_inline)) void gemv_t(hk_wtype t, const float *x, const hk_weight *w,
                                                         const float *bias, float *y, int o0, int o1)
{
    size_t K = (size_t)w->cols, es = t == HK_F32 ? 4 : 2;
    const char *base = (const char *)w->data;
    size_t kfull = K & ~(size_t)15;
    int o = o0;
    for (; o + 4 <= o1; o += 4) {
        const void *r[4];
        for (int u = 0; u < 4; u++) r[u] = base + (size_t)(o + u) * K * es;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        size_t j = 0;
        for (; j < kfull; j += 16) {
            __m256 x0 = _mm256_loadu_ps(x + j), x1 = _mm256_loadu_ps(x + j + 8);
            a0 = _mm256_fmadd_ps(x0, load8(t, r[0], j), a0);
            a1 = _mm256_fmadd_ps(x0, load8(t, r[1], j), a1);
            a2 = _mm256_fmadd_ps(x0, load8(t, r[2], j), a2);
            a3 = _mm256_fmadd_ps(x0, load8(t, r[3], j), a3);
            b0 = _mm256_fmadd_ps(x1, load8(t, r[0], j + 8), b0);
            b1 = _mm256_fmadd_ps(x1, load8(t, r[1], j + 8), b1);
            b2 = _mm256_fmadd_ps(x1, load8(t, r[2], j + 8), b2);
            b3 = _mm256_fmadd_ps(x1, load8(t, r[3], j + 8), b3);
        }
        float s[4] = {hsum8(_mm256_add_ps(a0, b0)), hsum8(_mm256_add_ps(a1, b1)),
                      hsum8(_mm256_add_ps(a2, b2)), hsum8(_mm256_add_ps(a3, b3))};
        for (; j < K; j++)
            for (int u = 0; u < 4; u++) s[u] += x[j] * hk_load_elem(t, r[u], j);
        for (int u = 0; u < 4; u++) y[o + u] = s[u] + (bias ? bias[o + u] : 0.0f);
    }
    for (; o < o1; o++) {
        const void *r0 = base + (size_t)o * K * es;
        __m256 a0 = _mm256_setzero_ps(), b0 = a0;
        size_t j = 0;
        for (; j < kfull; j += 16) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), load8(t, r0, j), a0);
            b0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j + 8), load8(t, r0, j + 8), b0);
        }
        float s = hsum8(_mm256_add_ps(a0, b0));
        for (; j < K; j++) s += x[j] * hk_load_elem(t, r0, j);
        y[o] = s + (bias ? bias[o] : 0.0f);
    }
}

void hk_gemv_avx2(const float *x, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    switch (w->type) {
    case HK_F32: gemv_t(HK_F32, x, w, bias, y, o0, o1); break;
    case HK_F16: gemv_t(HK_F16, x, w, bias, y, o0, o1); break;
    case HK_BF16: gemv_t(HK_BF16, x, w, bias, y, o0, o1); break;
    default: break;
    }
}

/*
 * GEMV over interleaved weights (hk_weight_repack, layout in
 * kernels/internal.h): 4 rows at a time, one 64-byte run of each per step,
 * read as one sequential stream. Runs are zero-padded; x beyond cols is
 * never loaded (the last run's x is copied into a zero-padded buffer).
 */
void hk_gemv_ilv_avx2(const float *x, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    size_t K = (size_t)w->cols, rl = hk_runlen(w->type), nrun = (K + rl - 1) / rl, es = hk_wtype_size(w->type);
    int a = (o0 + 3) & ~3;
    for (int o = o0; o < a && o < o1; o++) { /* rows before the first whole group */
        float s = 0;
        for (size_t j = 0; j < K; j++) s += x[j] * hk_w_elem(w, o, j);
        y[o] = s + (bias ? bias[o] : 0.0f);
    }
    float xt[32] = {0}; /* the last run's x, zero-padded */
    size_t jl = (nrun - 1) * rl;
    memcpy(xt, x + jl, (K - jl) * sizeof(float));
    const char *data = (const char *)w->data;
    for (int o = a; o < o1; o += 4) {
        int nr = o1 - o < 4 ? o1 - o : 4;
        const char *gp = data + (size_t)(o >> 2) * nrun * 256;
        __m256 acc[4], acc2[4];
        for (int u = 0; u < 4; u++) acc[u] = acc2[u] = _mm256_setzero_ps();
        for (size_t r = 0; r < nrun; r++) {
            const float *xr = r + 1 < nrun ? x + r * rl : xt;
            const char *ch = gp + r * 256;
            for (size_t c = 0; c < rl; c += 16) { /* 16 values = 2 vectors per row */
                __m256 x0 = _mm256_loadu_ps(xr + c), x1 = _mm256_loadu_ps(xr + c + 8);
                for (int u = 0; u < 4; u++) {
                    const char *p = ch + u * 64 + c * es;
                    acc[u] = _mm256_fmadd_ps(x0, load8(w->type, p, 0), acc[u]);
                    acc2[u] = _mm256_fmadd_ps(x1, load8(w->type, p, 8), acc2[u]);
                }
            }
        }
        for (int u = 0; u < nr; u++) y[o + u] = hsum8(_mm256_add_ps(acc[u], acc2[u])) + (bias ? bias[o + u] : 0.0f);
    }
}
