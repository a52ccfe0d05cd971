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

/*
 * bf16 with full 64-byte loads: a 32-bit lane holds elements (2i, 2i+1);
 * shifting left 16 gives element 2i as f32 and masking the low half gives
 * element 2i+1, so x is split once into even/odd halves (xe/xo, [K/2]
 * rounded up to 16, zero-padded) and each 64 bytes of W costs 1 load,
 * 1 shift, 1 and and 2 FMAs.
 */
static void gemv_bf16_pairs(const float *xe, const float *xo, const hk_weight *w, const float *bias,
                            float *y, int o0, int o1)
{
    size_t K = (size_t)w->cols, kp = (K + 1) / 2; /* lanes (pairs) per row */
    const uint16_t *base = (const uint16_t *)w->data;
    size_t full = kp & ~(size_t)15;
    size_t rem = K - full * 2; /* 0..31 elements left */
    __mmask32 mt = (__mmask32)(rem >= 32 ? 0xffffffffu : (1u << rem) - 1);
    const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);
    int o = o0;
    for (; o + 4 <= o1; o += 4) {
        const uint16_t *r0 = base + (size_t)o * K, *r1 = r0 + K, *r2 = r1 + K, *r3 = r2 + K;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        size_t i = 0;
#define BF16_STEP(LOAD)                                                                        \
        {                                                                                      \
            __m512 e = _mm512_loadu_ps(xe + i), d = _mm512_loadu_ps(xo + i);                   \
            __m512i v0 = LOAD(r0), v1 = LOAD(r1), v2 = LOAD(r2), v3 = LOAD(r3);                \
            a0 = _mm512_fmadd_ps(e, _mm512_castsi512_ps(_mm512_slli_epi32(v0, 16)), a0);       \
            b0 = _mm512_fmadd_ps(d, _mm512_castsi512_ps(_mm512_and_si512(v0, hi)), b0);        \
            a1 = _mm512_fmadd_ps(e, _mm512_castsi512_ps(_mm512_slli_epi32(v1, 16)), a1);       \
            b1 = _mm512_fmadd_ps(d, _mm512_castsi512_ps(_mm512_and_si512(v1, hi)), b1);        \
            a2 = _mm512_fmadd_ps(e, _mm512_castsi512_ps(_mm512_slli_epi32(v2, 16)), a2);       \
            b2 = _mm512_fmadd_ps(d, _mm512_castsi512_ps(_mm512_and_si512(v2, hi)), b2);        \
            a3 = _mm512_fmadd_ps(e, _mm512_castsi512_ps(_mm512_slli_epi32(v3, 16)), a3);       \
            b3 = _mm512_fmadd_ps(d, _mm512_castsi512_ps(_mm512_and_si512(v3, hi)), b3);        \
        }
#define LOAD_FULL(r) _mm512_loadu_si512((r) + 2 * i)
#define LOAD_TAIL(r) _mm512_maskz_loadu_epi16(mt, (r) + 2 * i)
        for (; i < full; i += 16) BF16_STEP(LOAD_FULL)
        if (rem) BF16_STEP(LOAD_TAIL)
        y[o] = _mm512_reduce_add_ps(_mm512_add_ps(a0, b0)) + (bias ? bias[o] : 0.0f);
        y[o + 1] = _mm512_reduce_add_ps(_mm512_add_ps(a1, b1)) + (bias ? bias[o + 1] : 0.0f);
        y[o + 2] = _mm512_reduce_add_ps(_mm512_add_ps(a2, b2)) + (bias ? bias[o + 2] : 0.0f);
        y[o + 3] = _mm512_reduce_add_ps(_mm512_add_ps(a3, b3)) + (bias ? bias[o + 3] : 0.0f);
    }
    for (; o < o1; o++) {
        const uint16_t *r0 = base + (size_t)o * K;
        __m512 a0 = _mm512_setzero_ps(), b0 = a0;
        for (size_t i = 0; i < full + (rem ? 16 : 0); i += 16) {
            __m512i v0 = i < full ? _mm512_loadu_si512(r0 + 2 * i) : _mm512_maskz_loadu_epi16(mt, r0 + 2 * i);
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(xe + i), _mm512_castsi512_ps(_mm512_slli_epi32(v0, 16)), a0);
            b0 = _mm512_fmadd_ps(_mm512_loadu_ps(xo + i), _mm512_castsi512_ps(_mm512_and_si512(v0, hi)), b0);
        }
        y[o] = _mm512_reduce_add_ps(_mm512_add_ps(a0, b0)) + (bias ? bias[o] : 0.0f);
    }
#undef BF16_STEP
#undef LOAD_FULL
#undef LOAD_TAIL
}

void hk_gemv_avx512(const float *x, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    if (w->type == HK_BF16 && w->cols <= 16384) {
        size_t kp = ((size_t)w->cols + 1) / 2, kp16 = (kp + 15) & ~(size_t)15;
        _Alignas(64) float xe[8192], xo[8192];
        const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        size_t K = (size_t)w->cols;
        for (size_t i = 0; i < kp16; i += 16) { /* x[2i .. 2i+32) -> 16 even, 16 odd */
            size_t j = 2 * i, l0 = K > j ? K - j : 0, l1 = K > j + 16 ? K - j - 16 : 0;
            __m512 a = _mm512_maskz_loadu_ps((__mmask16)(l0 >= 16 ? 0xffff : (1u << l0) - 1), x + j);
            __m512 b = _mm512_maskz_loadu_ps((__mmask16)(l1 >= 16 ? 0xffff : (1u << l1) - 1), x + j + 16);
            _mm512_store_ps(xe + i, _mm512_permutex2var_ps(a, ie, b));
            _mm512_store_ps(xo + i, _mm512_permutex2var_ps(a, io, b));
        }
        gemv_bf16_pairs(xe, xo, w, bias, y, o0, o1);
        return;
    }
    switch (w->type) {
    case HK_F32: gemv_t(HK_F32, x, w, bias, y, o0, o1); break;
    case HK_F16: gemv_t(HK_F16, x, w, bias, y, o0, o1); break;
    case HK_BF16: gemv_t(HK_BF16, x, w, bias, y, o0, o1); break;
    default: break;
    }
}

/*
 * GEMV over interleaved weights (hk_weight_repack): 4 rows at a time, each
 * step one 64-byte run of each of the 4 rows, which follow one another in
 * memory, so the whole slice of rows is one sequential stream. Zero-padded
 * runs meet zero (or masked) x, so ragged column counts need no tail code.
 */
void hk_gemv_ilv_avx512(const float *x, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    size_t K = (size_t)w->cols, rl = hk_runlen(w->type), nrun = (K + rl - 1) / rl;
    if (w->type == HK_BF16 && K > 16384) { /* beyond the x split's stack buffers */
        for (int o = o0; o < o1; o++) {
            float s = 0;
            for (size_t j = 0; j < K; j++) s += x[j] * hk_w_elem(w, o, j);
            y[o] = s + (bias ? bias[o] : 0.0f);
        }
        return;
    }
    int a = (o0 + 3) & ~3; /* rows before the first whole group: plain dots */
    for (int o = o0; o < a && o < o1; o++) {
        float s = 0;
        for (size_t j = 0; j < K; j++) s += x[j] * hk_w_elem(w, o, j);
        y[o] = s + (bias ? bias[o] : 0.0f);
    }
    const char *data = (const char *)w->data;
    _Alignas(64) float xe[8192], xo[8192];
    if (w->type == HK_BF16) { /* x as even/odd halves, nrun*16 of each */
        const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        for (size_t i = 0; i < nrun * 16; i += 16) {
            size_t j = 2 * i, l0 = K > j ? K - j : 0, l1 = K > j + 16 ? K - j - 16 : 0;
            __m512 va = _mm512_maskz_loadu_ps((__mmask16)(l0 >= 16 ? 0xffff : (1u << l0) - 1), x + j);
            __m512 vb = _mm512_maskz_loadu_ps((__mmask16)(l1 >= 16 ? 0xffff : (1u << l1) - 1), x + j + 16);
            _mm512_store_ps(xe + i, _mm512_permutex2var_ps(va, ie, vb));
            _mm512_store_ps(xo + i, _mm512_permutex2var_ps(va, io, vb));
        }
    }
    const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);
    for (int o = a; o < o1; o += 4) {
        int nr = o1 - o < 4 ? o1 - o : 4;
        const char *gp = data + (size_t)(o >> 2) * nrun * 256;
        __m512 acc[4], acc2[4];
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) acc[u] = acc2[u] = _mm512_setzero_ps();
        if (w->type == HK_BF16) {
            for (size_t r = 0; r < nrun; r++) {
                __m512 e = _mm512_load_ps(xe + r * 16), d = _mm512_load_ps(xo + r * 16);
                const char *ch = gp + r * 256;
                _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
                    __m512i v = _mm512_loadu_si512(ch + u * 64);
                    acc[u] = _mm512_fmadd_ps(e, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)), acc[u]);
                    acc2[u] = _mm512_fmadd_ps(d, _mm512_castsi512_ps(_mm512_and_si512(v, hi)), acc2[u]);
                }
            }
        } else if (w->type == HK_F16) {
            for (size_t r = 0; r < nrun; r++) {
                size_t j = r * 32, l0 = K - j, l1 = K > j + 16 ? K - j - 16 : 0;
                __m512 x0 = _mm512_maskz_loadu_ps((__mmask16)(l0 >= 16 ? 0xffff : (1u << l0) - 1), x + j);
                __m512 x1 = _mm512_maskz_loadu_ps((__mmask16)(l1 >= 16 ? 0xffff : (1u << l1) - 1), x + j + 16);
                const char *ch = gp + r * 256;
                _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
                    __m512i v = _mm512_loadu_si512(ch + u * 64);
                    acc[u] = _mm512_fmadd_ps(x0, _mm512_cvtph_ps(_mm512_castsi512_si256(v)), acc[u]);
                    acc2[u] = _mm512_fmadd_ps(x1, _mm512_cvtph_ps(_mm512_extracti64x4_epi64(v, 1)), acc2[u]);
                }
            }
        } else { /* f32: runs of 16, two per step into two accumulators */
            for (size_t r = 0; r < nrun; r += 2) {
                size_t j = r * 16, l0 = K - j, l1 = K > j + 16 ? K - j - 16 : 0;
                __m512 x0 = _mm512_maskz_loadu_ps((__mmask16)(l0 >= 16 ? 0xffff : (1u << l0) - 1), x + j);
                __m512 x1 = _mm512_maskz_loadu_ps((__mmask16)(l1 >= 16 ? 0xffff : (1u << l1) - 1), x + j + 16);
                const char *ch = gp + r * 256;
                int two = r + 1 < nrun;
                _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
                    acc[u] = _mm512_fmadd_ps(x0, _mm512_loadu_ps((const float *)(ch + u * 64)), acc[u]);
                    if (two) acc2[u] = _mm512_fmadd_ps(x1, _mm512_loadu_ps((const float *)(ch + 256 + u * 64)), acc2[u]);
                }
            }
        }
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++)
            if (u < nr) y[o + u] = _mm512_reduce_add_ps(_mm512_add_ps(acc[u], acc2[u])) + (bias ? bias[o + u] : 0.0f);
    }
}
