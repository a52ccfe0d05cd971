/*
 * kernels/qgemv_avx512.c — Q8/Q4 GEMV with AVX512-VNNI (vpdpbusd).
 *
 * The activation row is quantised once per call to int8 blocks of 32 (with
 * its own f32 scale, hk_qact). vpdpbusd multiplies unsigned by signed bytes,
 * so the weights are made unsigned by an offset — Q8: q+128 (one xor),
 * Q4: the stored nibble (q+8) — and the offset comes back out per block as
 * off * sum(x_q), folded into one f32 correction per block (cx[b]):
 *   y[o] = sum_b dw[o][b] * (dx[b] * dot_u(b) - cx[b]),  cx[b] = off*dx[b]*sum_b(x_q)
 * The offset comes out per lane (cx[b] shared over the block's lanes), and
 * the lanes are scaled by dw and accumulated in f32; 4 weight rows share
 * each x load, and read one sequential stream (the row-interleaved layout
 * of kernels/internal.h).
 * Q8 takes 2 blocks per zmm; Q4 takes 4 blocks (64 bytes of nibbles) per
 * step, its activation laid out to match (hk_qact_prepare_avx512).
 */
#include <immintrin.h>
#include <math.h>

#include "kernels/internal.h"
#include "kernels/ref.h"



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
            for (int l = 0; l < 8; l++) {
                xa->dxe[(size_t)pair * 16 + second * 8 + l] = d;
                xa->cxe[(size_t)pair * 16 + second * 8 + l] = xa->cx[b] / 8.0f;
            }
            for (int e = 0; e < 32; e++) xa->qp[(size_t)pair * 64 + second * 32 + e] = b < nb ? src[e] : 0;
        } else { /* two zmm per 4 blocks: first halves of blocks 4g..4g+3, then second halves */
            int g = b >> 2, k = b & 3;
            for (int l = 0; l < 4; l++) {
                xa->dxe[(size_t)g * 16 + k * 4 + l] = d;
                xa->cxe[(size_t)g * 16 + k * 4 + l] = xa->cx[b] / 4.0f;
            }
            for (int e = 0; e < 32; e++)
                xa->qp[(size_t)g * 128 + (e < 16 ? 0 : 64) + k * 16 + (e & 15)] = b < nb ? src[e] : 0;
        }
    }
}

/*
 * Q8: 4 rows at a time, 2 blocks (64 bytes) per row per step. With the
 * interleaved layout the 4 rows' bytes are one sequential stream (and the
 * next group follows on), so the prefetchers see a single stream.
 */
static void qgemv_q8(const hk_qact *xa, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    int nb = xa->nb, nbg = (nb + 1) / 2;
    const uint8_t *data = (const uint8_t *)w->data;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const __m512i idx[4] = {
        _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
        _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3),
        _mm512_setr_epi32(4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5),
        _mm512_setr_epi32(6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7)};
    for (int o = o0; o < o1; o += 4) {
        int nr = o1 - o < 4 ? o1 - o : 4;
        const uint8_t *gp = data + (size_t)(o >> 2) * (size_t)nbg * 256;
        const float *sg = w->scales + (size_t)(o >> 2) * (size_t)nbg * 8;
        __m512 acc[4];
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) acc[u] = _mm512_setzero_ps();
        for (int bp = 0; bp < nbg; bp++) {
            __m512i xq = _mm512_loadu_si512(xa->qp + (size_t)bp * 64);
            __m512 dx = _mm512_loadu_ps(xa->dxe + (size_t)bp * 16), cx = _mm512_loadu_ps(xa->cxe + (size_t)bp * 16);
            __m512 s8 = _mm512_castps256_ps512(_mm256_loadu_ps(sg + (size_t)bp * 8)); /* [row][2 blocks] */
            const uint8_t *chunk = gp + (size_t)bp * 256;
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
                __m512i wq = _mm512_xor_si512(_mm512_loadu_si512(chunk + u * 64), flip);
                __m512i dp = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq, xq);
                __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(dp), dx, cx); /* dx*dot_u - offset share */
                acc[u] = _mm512_fmadd_ps(_mm512_permutexvar_ps(idx[u], s8), t, acc[u]);
            }
        }
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++)
            if (u < nr) y[o + u] = _mm512_reduce_add_ps(acc[u]) + (bias ? bias[o + u] : 0.0f);
    }
}

/*
 * Q4: 4 rows at a time, 4 blocks (64 bytes of nibbles) per row per step;
 * low nibbles against the first halves of the 4 blocks, high nibbles
 * against the second halves (the activation is laid out to match), so
 * lanes 4k..4k+3 hold block k's dot.
 */
static void qgemv_q4(const hk_qact *xa, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    int nb = xa->nb, nbg = (nb + 3) / 4;
    const uint8_t *data = (const uint8_t *)w->data;
    const __m512i lo4 = _mm512_set1_epi8(0x0f);
    const __m512i idx[4] = {
        _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
        _mm512_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7),
        _mm512_setr_epi32(8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11),
        _mm512_setr_epi32(12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15)};
    for (int o = o0; o < o1; o += 4) {
        int nr = o1 - o < 4 ? o1 - o : 4;
        const uint8_t *gp = data + (size_t)(o >> 2) * (size_t)nbg * 256;
        const float *sg = w->scales + (size_t)(o >> 2) * (size_t)nbg * 16;
        __m512 acc[4];
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) acc[u] = _mm512_setzero_ps();
        for (int bq = 0; bq < nbg; bq++) {
            __m512i xl = _mm512_loadu_si512(xa->qp + (size_t)bq * 128);
            __m512i xh = _mm512_loadu_si512(xa->qp + (size_t)bq * 128 + 64);
            __m512 dx = _mm512_loadu_ps(xa->dxe + (size_t)bq * 16), cx = _mm512_loadu_ps(xa->cxe + (size_t)bq * 16);
            __m512 s16 = _mm512_loadu_ps(sg + (size_t)bq * 16); /* [row][4 blocks] */
            const uint8_t *chunk = gp + (size_t)bq * 256;
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
                __m512i v = _mm512_loadu_si512(chunk + u * 64);
                __m512i lo = _mm512_and_si512(v, lo4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4);
                __m512i dp = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xl), hi, xh);
                __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(dp), dx, cx);
                acc[u] = _mm512_fmadd_ps(_mm512_permutexvar_ps(idx[u], s16), t, acc[u]);
            }
        }
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++)
            if (u < nr) y[o + u] = _mm512_reduce_add_ps(acc[u]) + (bias ? bias[o + u] : 0.0f);
    }
}

void hk_qgemv_vnni(const hk_qact *xa, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    int a = (o0 + 3) & ~3; /* the kernels start at a 4-row group */
    if (a > o1) a = o1;
    if (a > o0) hk_ref_qgemv(xa, w, bias, y, o0, a);
    if (w->type == HK_Q8) qgemv_q8(xa, w, bias, y, a, o1);
    else qgemv_q4(xa, w, bias, y, a, o1);
}
