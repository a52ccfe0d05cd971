/*
 * kernels/gemv_avx512.c — AVX-512 GEMV (one activation row, decode):
 * y[o] = dot(x, W[o]) (+bias) for W rows [o0, o1), W f32/f16/bf16.
 *
 * Decode is bound by reading W once, so the loop streams 4 weight rows at a
 * time (4 independent read streams keep the prefetchers busy, x is loaded
 * once per 4 rows) and widens bf16 (shift left 16, exact) or f16
 * (vcvtph2ps, exact) in registers; accumulation is f32 with 2 accumulators
 * per row. Ragged column counts use masked loads.
 */
#include <immintrin.h>

#include "kernels/internal.h"

/* 16 weights at p (element offset j) widened to f32; mask m for the tail. */
static inline __m512 load_w(hk_wtype t, const void *row, size_t j, __mmask16 m)
{
    if (t == HK_F32) return _mm512_maskz_loadu_ps(m, (const float *)row + j);
    __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)row + j);
    if (t == HK_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
static inline __m512 load_w_full(hk_wtype t, const void *row, size_t j)
{
    if (t == HK_F32) return _mm512_loadu_ps((const float *)row + j);
    __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)row + j));
    if (t == HK_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* The type is a compile-time constant in each instance, so the branches in
 * load_w fold away. */
static inline __attribute__((always_inline)) void gemv_t(hk_wtype t, const float *x, const hk_weight *w,
                                                         const float *bias, float *y, int o0, int o1)
{
    size_t K = (size_t)w->cols, es = t == HK_F32 ? 4 : 2;
    const char *base = (const char *)w->data;
    size_t kfull = K & ~(size_t)31;
    __mmask16 m0, m1;
    {
        size_t r = K - kfull; /* 0..31 left after the unrolled loop */
        m0 = (__mmask16)(r >= 16 ? 0xffff : (1u << r) - 1);
        m1 = (__mmask16)(r > 16 ? (1u << (r - 16)) - 1 : 0);
    }
    int o = o0;
    for (; o + 4 <= o1; o += 4) {
        const void *r0 = base + (size_t)o * K * es, *r1 = base + (size_t)(o + 1) * K * es;
        const void *r2 = base + (size_t)(o + 2) * K * es, *r3 = base + (size_t)(o + 3) * K * es;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        size_t j = 0;
        for (; j < kfull; j += 32) {
            __m512 x0 = _mm512_loadu_ps(x + j), x1 = _mm512_loadu_ps(x + j + 16);
            a0 = _mm512_fmadd_ps(x0, load_w_full(t, r0, j), a0);
            a1 = _mm512_fmadd_ps(x0, load_w_full(t, r1, j), a1);
            a2 = _mm512_fmadd_ps(x0, load_w_full(t, r2, j), a2);
            a3 = _mm512_fmadd_ps(x0, load_w_full(t, r3, j), a3);
            b0 = _mm512_fmadd_ps(x1, load_w_full(t, r0, j + 16), b0);
            b1 = _mm512_fmadd_ps(x1, load_w_full(t, r1, j + 16), b1);
            b2 = _mm512_fmadd_ps(x1, load_w_full(t, r2, j + 16), b2);
            b3 = _mm512_fmadd_ps(x1, load_w_full(t, r3, j + 16), b3);
        }
        if (j < K) {
            __m512 x0 = _mm512_maskz_loadu_ps(m0, x + j), x1 = _mm512_maskz_loadu_ps(m1, x + j + 16);
            a0 = _mm512_fmadd_ps(x0, load_w(t, r0, j, m0), a0);
            a1 = _mm512_fmadd_ps(x0, load_w(t, r1, j, m0), a1);
            a2 = _mm512_fmadd_ps(x0, load_w(t, r2, j, m0), a2);
            a3 = _mm512_fmadd_ps(x0, load_w(t, r3, j, m0), a3);
            if (m1) {
                b0 = _mm512_fmadd_ps(x1, load_w(t, r0, j + 16, m1), b0);
                b1 = _mm512_fmadd_ps(x1, load_w(t, r1, j + 16, m1), b1);
                b2 = _mm512_fmadd_ps(x1, load_w(t, r2, j + 16, m1), b2);
                b3 = _mm512_fmadd_ps(x1, load_w(t, r3, j + 16, m1), b3);
            }
        }
        y[o] = _mm512_reduce_add_ps(_mm512_add_ps(a0, b0)) + (bias ? bias[o] : 0.0f);
        y[o + 1] = _mm512_reduce_add_ps(_mm512_add_ps(a1, b1)) + (bias ? bias[o + 1] : 0.0f);
        y[o + 2] = _mm512_reduce_add_ps(_mm512_add_ps(a2, b2)) + (bias ? bias[o + 2] : 0.0f);
        y[o + 3] = _mm512_reduce_add_ps(_mm512_add_ps(a3, b3)) + (bias ? bias[o + 3] : 0.0f);
    }
    for (; o < o1; o++) {
        const void *r0 = base + (size_t)o * K * es;
        __m512 a0 = _mm512_setzero_ps(), b0 = a0;
        size_t j = 0;
        for (; j < kfull; j += 32) {
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + j), load_w_full(t, r0, j), a0);
            b0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + j + 16), load_w_full(t, r0, j + 16), b0);
        }
        if (j < K) {
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m0, x + j), load_w(t, r0, j, m0), a0);
            if (m1) b0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, x + j + 16), load_w(t, r0, j + 16, m1), b0);
        }
        y[o] = _mm512_reduce_add_ps(_mm512_add_ps(a0, b0)) + (bias ? bias[o] : 0.0f);
    }
}

void hk_gemv_avx512(const float *x, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    switch (w->type) {
    case HK_F32: gemv_t(HK_F32, x, w, bias, y, o0, o1); break;
    case HK_F16: gemv_t(HK_F16, x, w, bias, y, o0, o1); break;
    case HK_BF16: gemv_t(HK_BF16, x, w, bias, y, o0, o1); break;
    default: break;
    }
}
