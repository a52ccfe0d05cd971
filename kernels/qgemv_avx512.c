/*
 * kernels/qgemv_avx512.c — Q8/Q4 GEMV with AVX512-VNNI (vpdpbusd).
 *
 * The activation row is quantised once per call to int8 blocks of 32 (with
 * its own f32 scale, hk_qact). vpdpbusd multiplies unsigned by signed bytes,
 * so the weights are made unsigned by an offset — Q8: q+128 (one xor),
 * Q4: the stored nibble (q+8) — and the offset comes back out per block as
 * off * sum(x_q), folded into one f32 correction per block (cx[b]):
 *   y[o] = sum_b dw[o][b] * (dx[b] * dot_u(b) - cx[b]),  cx[b] = off*dx[b]*sum_b(x_q)
 * One zmm covers two blocks; the int32 lanes are scaled in f32 by a vector
 * of per-lane (dx*dw) and accumulated; 4 weight rows share each x load.
 */
#include <immintrin.h>
#include <math.h>

#include "kernels/internal.h"

/* Builds the lane layouts the kernel wants from xa->q/d/sum (done once per call). */
void hk_qact_prepare_avx512(hk_qact *xa, hk_wtype type)
{
    int nb = xa->nb, nb2 = (nb + 1) & ~1;
    int off = type == HK_Q8 ? 128 : 8;
    for (int b = 0; b < nb2; b++) {
        float d = b < nb ? xa->d[b] : 0.0f;
        xa->cx[b] = b < nb ? (float)off * d * (float)xa->sum[b] : 0.0f;
        int pair = b >> 1, second = b & 1;
        float *de = xa->dxe + (size_t)pair * 16;
        if (type == HK_Q8) { /* lanes 0-7 block 2p, 8-15 block 2p+1 */
            for (int l = 0; l < 8; l++) de[second * 8 + l] = d;
        } else {             /* lanes [b lo, b+1 lo, b hi, b+1 hi] x4 each */
            for (int l = 0; l < 4; l++) de[second * 4 + l] = de[8 + second * 4 + l] = d;
        }
        int8_t *dst = xa->qp + (size_t)pair * 64;
        const int8_t *src = xa->q + (size_t)b * 32;
        for (int e = 0; e < 32; e++) {
            int8_t v = b < nb ? src[e] : 0;
            if (type == HK_Q8) dst[second * 32 + e] = v;
            else dst[(e < 16 ? 0 : 32) + second * 16 + (e & 15)] = v; /* matches [lo_b, lo_b1, hi_b, hi_b1] */
        }
    }
}

/* Weight bytes of the pair of blocks starting at block b of a row, as u8 in lane order. */
static inline __m512i load_wq(hk_wtype t, const uint8_t *row, int b, int single)
{
    if (t == HK_Q8) {
        __m512i w = single ? _mm512_maskz_loadu_epi8(0xffffffffull, row + (size_t)b * 32)
                           : _mm512_loadu_si512(row + (size_t)b * 32);
        return _mm512_xor_si512(w, _mm512_set1_epi8((char)0x80));
    }
    __m256i v = single ? _mm256_maskz_loadu_epi8(0xffffu, row + (size_t)b * 16)
                       : _mm256_loadu_si256((const __m256i *)(row + (size_t)b * 16));
    __m256i m = _mm256_set1_epi8(0x0f);
    __m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); /* [lo_b, lo_b1, hi_b, hi_b1] */
}

/* dw for blocks b, b+1 spread over the lanes (see hk_qact_prepare_avx512). */
static inline __m512 load_ws(hk_wtype t, const float *sc, int b, int single)
{
    __m128 s2 = single ? _mm_load_ss(sc + b) : _mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(sc + b)));
    const __m512i i8 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const __m512i i4 = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1);
    return _mm512_permutexvar_ps(t == HK_Q8 ? i8 : i4, _mm512_castps128_ps512(s2));
}

static inline __attribute__((always_inline)) void qgemv_t(hk_wtype t, const hk_qact *xa, const hk_weight *w,
                                                          const float *bias, float *y, int o0, int o1)
{
    int nb = xa->nb;
    size_t rowbytes = (size_t)nb * (t == HK_Q8 ? 32 : 16);
    const uint8_t *base = (const uint8_t *)w->data;
    int o = o0;
    for (; o + 4 <= o1; o += 4) {
        const uint8_t *r[4];
        const float *sc[4];
        __m512 acc[4], cor[4];
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
            r[u] = base + (size_t)(o + u) * rowbytes;
            sc[u] = w->scales + (size_t)(o + u) * nb;
            acc[u] = _mm512_setzero_ps();
            cor[u] = _mm512_setzero_ps();
        }
        for (int b = 0; b < nb; b += 2) {
            int single = b + 1 == nb;
            __m512i xq = _mm512_loadu_si512(xa->qp + (size_t)b * 32);
            __m512 dx = _mm512_loadu_ps(xa->dxe + (size_t)b * 8);
            /* rows are short (1-2 KB): fetch the next 4-row group's bytes now,
             * so each group does not pay the prefetcher's ramp-up */
            if (o + 8 <= o1) {
                size_t pb = t == HK_Q8 ? (size_t)b * 32 : (size_t)b * 16;
                _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++)
                    _mm_prefetch((const char *)r[u] + 4 * rowbytes + pb, _MM_HINT_T0);
                if ((b & 15) == 0)
                    _mm_prefetch((const char *)(sc[0] + 4 * (size_t)nb + b), _MM_HINT_T0);
            }
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
                __m512i dp = _mm512_dpbusd_epi32(_mm512_setzero_si512(), load_wq(t, r[u], b, single), xq);
                __m512 s = _mm512_mul_ps(dx, load_ws(t, sc[u], b, single));
                acc[u] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dp), s, acc[u]);
            }
        }
        /* the offset correction: sum_b dw[b] * cx[b] */
        for (int b = 0; b < nb; b += 16) {
            __mmask16 m = (__mmask16)(nb - b >= 16 ? 0xffff : (1u << (nb - b)) - 1);
            __m512 cx = _mm512_maskz_loadu_ps(m, xa->cx + b);
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) cor[u] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, sc[u] + b), cx, cor[u]);
        }
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++)
            y[o + u] = _mm512_reduce_add_ps(_mm512_sub_ps(acc[u], cor[u])) + (bias ? bias[o + u] : 0.0f);
    }
    for (; o < o1; o++) {
        const uint8_t *r0 = base + (size_t)o * rowbytes;
        const float *s0 = w->scales + (size_t)o * nb;
        __m512 acc = _mm512_setzero_ps(), cor = acc;
        for (int b = 0; b < nb; b += 2) {
            int single = b + 1 == nb;
            __m512i dp = _mm512_dpbusd_epi32(_mm512_setzero_si512(), load_wq(t, r0, b, single),
                                             _mm512_loadu_si512(xa->qp + (size_t)b * 32));
            __m512 s = _mm512_mul_ps(_mm512_loadu_ps(xa->dxe + (size_t)b * 8), load_ws(t, s0, b, single));
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dp), s, acc);
        }
        for (int b = 0; b < nb; b += 16) {
            __mmask16 m = (__mmask16)(nb - b >= 16 ? 0xffff : (1u << (nb - b)) - 1);
            cor = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, s0 + b), _mm512_maskz_loadu_ps(m, xa->cx + b), cor);
        }
        y[o] = _mm512_reduce_add_ps(_mm512_sub_ps(acc, cor)) + (bias ? bias[o] : 0.0f);
    }
}

void hk_qgemv_vnni(const hk_qact *xa, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    if (w->type == HK_Q8) qgemv_t(HK_Q8, xa, w, bias, y, o0, o1);
    else qgemv_t(HK_Q4, xa, w, bias, y, o0, o1);
}
