/*
 * kernels/qgemv_avx512.c — Q8/Q4 matmul with AVX512-VNNI (vpdpbusd), for
 * any number of activation rows, each row computed exactly as alone (the
 * batch invariance of hk_matmul).
 *
 * Each activation row is quantised to int8 blocks of 32 (with its own f32
 * scale, hk_qact). vpdpbusd multiplies unsigned by signed bytes, so the
 * weights are made unsigned by an offset — Q8: q+128 (one xor), Q4: the
 * stored nibble (q+8) — and the offset comes back out per block as
 * off * sum(x_q), folded into one f32 correction per block (cx[b]):
 *   y[o] = sum_b dw[o][b] * (dx[b] * dot_u(b) - cx[b]),  cx[b] = off*dx[b]*sum_b(x_q)
 * The offset comes out per lane (cx[b] shared over the block's lanes), the
 * lanes are scaled by dw and accumulated in f32 in block order, and the 16
 * lanes summed by _mm512_reduce_add_ps's pairwise tree.
 * Tiles of up to 4 activation rows x one 4-row weight group (the
 * row-interleaved layout of kernels/internal.h: one sequential stream):
 * each weight step is loaded and made unsigned once for all rows, and
 * weight rows go in blocks that stay in L2 while every row block passes,
 * so a decode batch reads the weights from memory once.
 * Q8 takes 2 blocks per zmm; Q4 takes 4 blocks (64 bytes of nibbles) per
 * step, its activation laid out to match (hk_qact_prepare_avx512).
 */
#include <immintrin.h>

#include "kernels/internal.h"
#include "kernels/math_avx512.h"

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

#define MR 4 /* activation rows per tile */

/*
 * Q8, one 4-row group against mr activation rows, 2 blocks (64 bytes) per
 * weight row per step. With the interleaved layout the 4 rows' bytes are
 * one sequential stream (and the next group follows on), so the
 * prefetchers see a single stream; each weight step is made unsigned and
 * its scales spread once for all mr rows.
 */
static inline __attribute__((always_inline)) void tile_q8(const int mr, const hk_qact *const *xa, const hk_weight *w,
                                                          int o, __m512 acc[MR][4])
{
    int nb = xa[0]->nb, nbg = (nb + 1) / 2;
    const uint8_t *gp = (const uint8_t *)w->data + (size_t)(o >> 2) * (size_t)nbg * 256;
    const float *sg = w->scales + (size_t)(o >> 2) * (size_t)nbg * 8;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const __m512i idx[4] = {
        _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
        _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3),
        _mm512_setr_epi32(4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5),
        _mm512_setr_epi32(6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7)};
    _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++)
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) acc[i][u] = _mm512_setzero_ps();
    for (int bp = 0; bp < nbg; bp++) {
        __m512 s8 = _mm512_castps256_ps512(_mm256_loadu_ps(sg + (size_t)bp * 8)); /* [row][2 blocks] */
        const uint8_t *chunk = gp + (size_t)bp * 256;
        __m512i wq[4];
        __m512 sc[4];
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
            wq[u] = _mm512_xor_si512(_mm512_loadu_si512(chunk + u * 64), flip);
            sc[u] = _mm512_permutexvar_ps(idx[u], s8);
        }
        _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++) {
            __m512i xq = _mm512_loadu_si512(xa[i]->qp + (size_t)bp * 64);
            __m512 dx = _mm512_loadu_ps(xa[i]->dxe + (size_t)bp * 16), cx = _mm512_loadu_ps(xa[i]->cxe + (size_t)bp * 16);
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
                __m512i dp = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq[u], xq);
                __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(dp), dx, cx); /* dx*dot_u - offset share */
                acc[i][u] = _mm512_fmadd_ps(sc[u], t, acc[i][u]);
            }
        }
    }
}

/*
 * Q4, one 4-row group against mr activation rows, 4 blocks (64 bytes of
 * nibbles) per weight row per step; low nibbles against the first halves
 * of the 4 blocks, high nibbles against the second halves (the activation
 * is laid out to match), so lanes 4k..4k+3 hold block k's dot.
 */
static inline __attribute__((always_inline)) void tile_q4(const int mr, const hk_qact *const *xa, const hk_weight *w,
                                                          int o, __m512 acc[MR][4])
{
    int nb = xa[0]->nb, nbg = (nb + 3) / 4;
    const uint8_t *gp = (const uint8_t *)w->data + (size_t)(o >> 2) * (size_t)nbg * 256;
    const float *sg = w->scales + (size_t)(o >> 2) * (size_t)nbg * 16;
    const __m512i lo4 = _mm512_set1_epi8(0x0f);
    const __m512i idx[4] = {
        _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
        _mm512_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7),
        _mm512_setr_epi32(8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11),
        _mm512_setr_epi32(12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15)};
    _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++)
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) acc[i][u] = _mm512_setzero_ps();
    for (int bq = 0; bq < nbg; bq++) {
        __m512 s16 = _mm512_loadu_ps(sg + (size_t)bq * 16); /* [row][4 blocks] */
        const uint8_t *chunk = gp + (size_t)bq * 256;
        __m512i wl[4], wh[4];
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
            __m512i v = _mm512_loadu_si512(chunk + u * 64);
            wl[u] = _mm512_and_si512(v, lo4);
            wh[u] = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo4);
        }
        _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++) {
            __m512i xl = _mm512_loadu_si512(xa[i]->qp + (size_t)bq * 128);
            __m512i xh = _mm512_loadu_si512(xa[i]->qp + (size_t)bq * 128 + 64);
            __m512 dx = _mm512_loadu_ps(xa[i]->dxe + (size_t)bq * 16), cx = _mm512_loadu_ps(xa[i]->cxe + (size_t)bq * 16);
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
                __m512i dp = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), wl[u], xl), wh[u], xh);
                __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(dp), dx, cx);
                acc[i][u] = _mm512_fmadd_ps(_mm512_permutexvar_ps(idx[u], s16), t, acc[i][u]);
            }
        }
    }
}

/* y[i][o + u] = sum(acc[i][u]) + bias for u < nst. */
static inline __attribute__((always_inline)) void store_tile(const int mr, __m512 acc[MR][4], const float *bias,
                                                             float *y, size_t ystride, int o, int nst)
{
    if (mr == MR) {
        __m512 tt[16];
        _Pragma("GCC unroll 4") for (int i = 0; i < MR; i++)
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) tt[i * 4 + u] = acc[i][u];
        __m512 s = hk_hsum16_512(tt); /* lane i*4 + u */
        __mmask8 m = (__mmask8)((1u << nst) - 1);
        __m128 b = bias ? _mm_maskz_loadu_ps(m, bias + o) : _mm_setzero_ps();
        _mm_mask_storeu_ps(y + o, m, _mm_add_ps(_mm512_castps512_ps128(s), b));
        _mm_mask_storeu_ps(y + ystride + o, m, _mm_add_ps(_mm512_extractf32x4_ps(s, 1), b));
        _mm_mask_storeu_ps(y + 2 * ystride + o, m, _mm_add_ps(_mm512_extractf32x4_ps(s, 2), b));
        _mm_mask_storeu_ps(y + 3 * ystride + o, m, _mm_add_ps(_mm512_extractf32x4_ps(s, 3), b));
        return;
    }
    _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++)
        _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++)
            if (u < nst) y[(size_t)i * ystride + (size_t)(o + u)] = _mm512_reduce_add_ps(acc[i][u]) + (bias ? bias[o + u] : 0.0f);
}

#define QTILE(KIND, M)                                   \
    do {                                                 \
        __m512 acc[MR][4];                               \
        tile_##KIND(M, xa, w, o, acc);                   \
        store_tile(M, acc, bias, y, ystride, o, nst);    \
    } while (0)

static void tile_any(int mr, const hk_qact *const *xa, const hk_weight *w, const float *bias, float *y,
                     size_t ystride, int o, int nst)
{
    if (w->type == HK_Q8) {
        switch (mr) {
        case 4: QTILE(q8, 4); break;
        case 3: QTILE(q8, 3); break;
        case 2: QTILE(q8, 2); break;
        default: QTILE(q8, 1); break;
        }
    } else {
        switch (mr) {
        case 4: QTILE(q4, 4); break;
        case 3: QTILE(q4, 3); break;
        case 2: QTILE(q4, 2); break;
        default: QTILE(q4, 1); break;
        }
    }
}
#undef QTILE

void hk_qgemv_rows_vnni(const hk_qact *const *xa, int n, const hk_weight *w, const float *bias, float *y,
                        int o0, int o1)
{
    size_t ystride = (size_t)w->rows;
    /* weight rows per block: about 256 KiB of blocks, whole groups of 4 */
    size_t row_bytes = (size_t)hk_qblocks(w->cols) * (w->type == HK_Q8 ? 36 : 20);
    int ob_rows = (int)(((size_t)256 << 10) / row_bytes) & ~3;
    if (ob_rows < 4) ob_rows = 4;
    for (int ob = o0; ob < o1; ob += ob_rows) {
        int oe = o1 - ob < ob_rows ? o1 : ob + ob_rows;
        for (int i = 0; i < n; i += MR) {
            int mr = n - i < MR ? n - i : MR;
            for (int o = ob; o < oe; o += 4) /* whole groups (padding rows are zeros) */
                tile_any(mr, xa + i, w, bias, y + (size_t)i * ystride, ystride, o, oe - o < 4 ? oe - o : 4);
        }
    }
}
