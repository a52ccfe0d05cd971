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
 * Q8 takes 2 blocks per zmm; Q4 takes 4 blocks (64 bytes of nibbles) per
 * step, its activation laid out to match (hk_qact_prepare_avx512).
 */
#include <immintrin.h>
#include <math.h>

#include "kernels/internal.h"
#define PFD 8 /* prefetch distance in rows (two 4-row groups ahead) */



/* Builds the lane layouts the kernels want from xa->q/d/sum (once per call);
 * blocks are padded with zeros up to a multiple of 4. */
void hk_qact_prepare_avx512(hk_qact *xa, hk_wtype type)
{
    int nb = xa->nb, nb4 = (nb + 3) & ~3;
    int off = type == HK_Q8 ? 128 : 8;
    for (int b = 0; b < nb4; b++) {
        float d = b < nb ? xa->d[b] : 0.0f;
        xa->cx[b] = b < nb ? (float)off * d * (float)xa->sum[b] : 0.0f;
        const int8_t *src = xa->q + (size_t)b * 32;
        if (type == HK_Q8) { /* a zmm = blocks (2p, 2p+1): lanes 0-7 and 8-15 */
            int pair = b >> 1, second = b & 1;
            for (int l = 0; l < 8; l++) xa->dxe[(size_t)pair * 16 + second * 8 + l] = d;
            for (int e = 0; e < 32; e++) xa->qp[(size_t)pair * 64 + second * 32 + e] = b < nb ? src[e] : 0;
        } else { /* two zmm per 4 blocks: first halves of blocks 4g..4g+3, then second halves */
            int g = b >> 2, k = b & 3;
            for (int l = 0; l < 4; l++) xa->dxe[(size_t)g * 16 + k * 4 + l] = d;
            for (int e = 0; e < 32; e++)
                xa->qp[(size_t)g * 128 + (e < 16 ? 0 : 64) + k * 16 + (e & 15)] = b < nb ? src[e] : 0;
        }
    }
}

/* Q8 rows: 2 blocks (64 bytes) per step; 4 rows share the x loads. */
static void qgemv_q8(const hk_qact *xa, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    int nb = xa->nb;
    size_t rowbytes = (size_t)nb * 32;
    const uint8_t *base = (const uint8_t *)w->data;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const __m512i i8 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    int o = o0;
    for (; o < o1; o += 4) {
        int nr = o1 - o < 4 ? o1 - o : 4;
        const uint8_t *r[4];
        const float *sc[4];
        __m512 acc[4], cor[4];
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
            int uu = u < nr ? u : 0; /* rows past the end repeat row 0 (results dropped) */
            r[u] = base + (size_t)(o + uu) * rowbytes;
            sc[u] = w->scales + (size_t)(o + uu) * nb;
            acc[u] = _mm512_setzero_ps();
            cor[u] = _mm512_setzero_ps();
        }
        int pf = o + 4 + PFD <= o1; /* rows are short (1-2 KB): fetch the next group's bytes as we go */
        for (int b = 0; b < nb; b += 2) {
            int single = b + 1 == nb;
            __m512i xq = _mm512_loadu_si512(xa->qp + (size_t)b * 32);
            __m512 dx = _mm512_loadu_ps(xa->dxe + (size_t)b * 8);
            if (pf) {
                _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
                    _mm_prefetch((const char *)r[u] + PFD * rowbytes + (size_t)b * 32, _MM_HINT_T0);
                    if ((b & 15) == 0) _mm_prefetch((const char *)(sc[u] + PFD * (size_t)nb + b), _MM_HINT_T0);
                }
            }
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
                __m512i wq = single ? _mm512_maskz_loadu_epi8(0xffffffffull, r[u] + (size_t)b * 32)
                                    : _mm512_loadu_si512(r[u] + (size_t)b * 32);
                __m128 s2 = single ? _mm_load_ss(sc[u] + b) : _mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(sc[u] + b)));
                __m512i dp = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_xor_si512(wq, flip), xq);
                __m512 s = _mm512_mul_ps(dx, _mm512_permutexvar_ps(i8, _mm512_castps128_ps512(s2)));
                acc[u] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dp), s, acc[u]);
            }
        }
        for (int b = 0; b < nb; b += 16) { /* the offset correction: sum_b dw[b] * cx[b] */
            __mmask16 m = (__mmask16)(nb - b >= 16 ? 0xffff : (1u << (nb - b)) - 1);
            __m512 cx = _mm512_maskz_loadu_ps(m, xa->cx + b);
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++)
                cor[u] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, sc[u] + b), cx, cor[u]);
        }
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++)
            if (u < nr) y[o + u] = _mm512_reduce_add_ps(_mm512_sub_ps(acc[u], cor[u])) + (bias ? bias[o + u] : 0.0f);
    }
}

/* Q4 rows: 4 blocks (64 bytes of nibbles) per step, low nibbles against the
 * first halves of the blocks and high nibbles against the second halves;
 * lanes 4k..4k+3 then hold block k's dot. */
static void qgemv_q4(const hk_qact *xa, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    int nb = xa->nb;
    size_t rowbytes = (size_t)nb * 16;
    const uint8_t *base = (const uint8_t *)w->data;
    const __m512i lo4 = _mm512_set1_epi8(0x0f);
    const __m512i i4 = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    int o = o0;
    for (; o < o1; o += 4) {
        int nr = o1 - o < 4 ? o1 - o : 4;
        const uint8_t *r[4];
        const float *sc[4];
        __m512 acc[4], cor[4];
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
            int uu = u < nr ? u : 0;
            r[u] = base + (size_t)(o + uu) * rowbytes;
            sc[u] = w->scales + (size_t)(o + uu) * nb;
            acc[u] = _mm512_setzero_ps();
            cor[u] = _mm512_setzero_ps();
        }
        int pf = o + 4 + PFD <= o1;
        for (int b = 0; b < nb; b += 4) {
            int left = nb - b;
            __mmask64 mw = left >= 4 ? ~0ull : (1ull << (16 * left)) - 1;
            __mmask8 ms = (__mmask8)(left >= 4 ? 0xf : (1u << left) - 1);
            __m512i xl = _mm512_loadu_si512(xa->qp + (size_t)b * 32);
            __m512i xh = _mm512_loadu_si512(xa->qp + (size_t)b * 32 + 64);
            __m512 dx = _mm512_loadu_ps(xa->dxe + (size_t)b * 4);
            if (pf) {
                _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
                    _mm_prefetch((const char *)r[u] + PFD * rowbytes + (size_t)b * 16, _MM_HINT_T0);
                    if ((b & 15) == 0) _mm_prefetch((const char *)(sc[u] + PFD * (size_t)nb + b), _MM_HINT_T0);
                }
            }
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
                __m512i v = _mm512_maskz_loadu_epi8(mw, r[u] + (size_t)b * 16);
                __m512i lo = _mm512_and_si512(v, lo4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4);
                __m512i dp = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xl), hi, xh);
                __m512 s = _mm512_mul_ps(dx, _mm512_permutexvar_ps(i4, _mm512_castps128_ps512(_mm_maskz_loadu_ps(ms, sc[u] + b))));
                acc[u] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dp), s, acc[u]);
            }
        }
        for (int b = 0; b < nb; b += 16) {
            __mmask16 m = (__mmask16)(nb - b >= 16 ? 0xffff : (1u << (nb - b)) - 1);
            __m512 cx = _mm512_maskz_loadu_ps(m, xa->cx + b);
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++)
                cor[u] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, sc[u] + b), cx, cor[u]);
        }
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++)
            if (u < nr) y[o + u] = _mm512_reduce_add_ps(_mm512_sub_ps(acc[u], cor[u])) + (bias ? bias[o + u] : 0.0f);
    }
}

void hk_qgemv_vnni(const hk_qact *xa, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    if (w->type == HK_Q8) qgemv_q8(xa, w, bias, y, o0, o1);
    else qgemv_q4(xa, w, bias, y, o0, o1);
}
