/*
 * kernels/gq.h — the layout of group-quantised weights (HK_GQ4, HK_GQ8;
 * built with hk_gq_init, kernels.h) and the entry points the GQ kernels
 * share. Internal to kernels/, tests and bench-kernels.
 *
 * One block of memory (w->data), 64-byte aligned parts:
 *   codes  rows in groups of 4 (padded with zero rows), each group's rows
 *          interleaved per chunk of 128 layout channels (cols padded to
 *          kp = a multiple of 128 with code 0), so a GEMV over 4 rows reads
 *          one sequential stream:
 *            chunk c of row group rg starts at (rg * nch + c) * 4 * CB,
 *            row o%4 of it CB bytes further per row (CB = 64 for int4, 128 for int8).
 *          int4: the 64 bytes are 16 dwords; nibble k (bits 4k..4k+3) of
 *          dword l is channel 128c + 16k + l, so shifting a dword right by
 *          4k brings 16 channels' codes into the low bits of 16 lanes.
 *          int8: byte b is channel 128c + b.
 *   meta   per row group and scale group (over kp: padding groups have zero
 *          meta), per row of the 4: two f32, scale and zero. The weight
 *            (code - zero) * scale
 *          is exactly representable (a f16/bf16 scale times an integer of
 *          at most 9 bits), so every path computes it without rounding: the
 *          difference is exact, and so is the product.
 *          meta[((rg * ng + g) * 4 + o%4) * 2 + {0: scale, 1: zero}].
 *   perm   (permuted only) int32 [cols]: perm[j] = the input channel at
 *          layout position j; x is gathered as x[perm[j]].
 *
 * Groups: layout channels [g*group, (g+1)*group) share a scale and zero;
 * group is a multiple of 16 (each 16-lane vector lies in one group), or kp
 * when one group spans the row.
 */
#ifndef KERNELS_GQ_H
#define KERNELS_GQ_H

#include "kernels/internal.h"

#define HK_GQ_CHUNK 128 /* layout channels per chunk */

static inline int hk_is_gq(const hk_weight *w) { return w->type == HK_GQ4 || w->type == HK_GQ8; }
static inline size_t hk_gq_kp(int cols) { return ((size_t)cols + HK_GQ_CHUNK - 1) & ~(size_t)(HK_GQ_CHUNK - 1); }
static inline size_t hk_gq_chunk_bytes(int bits) { return bits == 4 ? 64 : 128; } /* one row's chunk */
static inline size_t hk_gq_codes_bytes(int rows, int cols, int bits)
{
    return ((size_t)(rows + 3) / 4) * (hk_gq_kp(cols) / HK_GQ_CHUNK) * 4 * hk_gq_chunk_bytes(bits);
}
/* Groups of a row: the checkpoint's (over cols), and the layout's (over the padded kp: the
 * kernels walk whole chunks, so the padding channels' groups exist too, with zero meta). */
static inline size_t hk_gq_ngroups(int cols, int group) { return ((size_t)cols + (size_t)group - 1) / (size_t)group; }
static inline size_t hk_gq_meta_groups(int cols, int group) { return (hk_gq_kp(cols) + (size_t)group - 1) / (size_t)group; }
static inline size_t hk_gq_meta_bytes(int rows, int cols, int group)
{
    return (((size_t)(rows + 3) / 4) * hk_gq_meta_groups(cols, group) * 4 * 2 * sizeof(float) + 63) & ~(size_t)63;
}

static inline const float *hk_gq_meta(const hk_weight *w)
{
    return (const float *)((const char *)w->data + hk_gq_codes_bytes(w->rows, w->cols, w->gq.bits));
}
static inline const int32_t *hk_gq_perm(const hk_weight *w)
{
    if (!w->gq.permuted) return NULL;
    return (const int32_t *)((const char *)hk_gq_meta(w) + hk_gq_meta_bytes(w->rows, w->cols, w->gq.group));
}
/* Meta of row o, group g: [0] scale, [1] zero. */
static inline const float *hk_gq_meta_at(const hk_weight *w, int o, size_t g)
{
    size_t ng = hk_gq_meta_groups(w->cols, w->gq.group);
    return hk_gq_meta(w) + (((size_t)(o >> 2) * ng + g) * 4 + (size_t)(o & 3)) * 2;
}
/* Byte offset of row o's chunk c in the codes. */
static inline size_t hk_gq_chunk_off(const hk_weight *w, int o, size_t c)
{
    size_t nch = hk_gq_kp(w->cols) / HK_GQ_CHUNK;
    return (((size_t)(o >> 2) * nch + c) * 4 + (size_t)(o & 3)) * hk_gq_chunk_bytes(w->gq.bits);
}
/* The code of row o at layout channel j. */
static inline int hk_gq_code(const hk_weight *w, int o, size_t j)
{
    const uint8_t *chunk = (const uint8_t *)w->data + hk_gq_chunk_off(w, o, j / HK_GQ_CHUNK);
    size_t r = j % HK_GQ_CHUNK;
    if (w->gq.bits == 8) return chunk[r];
    size_t lane = r % 16, k = r / 16;
    uint32_t d = (uint32_t)chunk[lane * 4] | (uint32_t)chunk[lane * 4 + 1] << 8 |
                 (uint32_t)chunk[lane * 4 + 2] << 16 | (uint32_t)chunk[lane * 4 + 3] << 24;
    return (int)((d >> (4 * k)) & 15);
}
/* The dequantised weight of row o at layout channel j: (code - zero) * scale, exact. */
static inline float hk_gq_elem(const hk_weight *w, int o, size_t j)
{
    const float *m = hk_gq_meta_at(w, o, j / (size_t)w->gq.group);
    return ((float)hk_gq_code(w, o, j) - m[1]) * m[0];
}

/* Team-callable matmul for GQ weights (hk_matmul's branch for them). */
void hk_gq_matmul(const float *x, int n, const hk_weight *w, const float *bias, float *y);
/* Scalar reference: rows [o0, o1) of y = x·Wᵀ (+bias), W dequantised element by element. */
void hk_ref_gq_matmul_rows(const float *x, int n, const hk_weight *w, const float *bias, float *y,
                           int o0, int o1);
/*
 * AVX-512: rows [o0, o1) (o0 a multiple of 4). n < HK_GQ_GEMM_MIN_ROWS: a
 * GEMV per row of x; else dequantised blocks and a register-tiled GEMM.
 * Both sum every output in the same order, so a row's result is the same
 * bits whichever path (and batch size) computes it.
 */
#define HK_GQ_GEMM_MIN_ROWS 4
void hk_gq_rows_avx512(const float *x, int n, const hk_weight *w, const float *bias, float *y, int o0, int o1);
/* The GEMV alone (n rows one by one) and the GEMM alone, for tests and the bench. */
void hk_gq_gemv_avx512(const float *x, int n, const hk_weight *w, const float *bias, float *y, int o0, int o1);
void hk_gq_gemm_avx512(const float *x, int n, const hk_weight *w, const float *bias, float *y, int o0, int o1);

#endif
