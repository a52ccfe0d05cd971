/*
 * kernels/internal.h — what the kernel files share and models never see:
 * dtype conversions, how a team-callable kernel splits its work among the
 * OpenMP team, the Q8/Q4 block layout, and the fast-path entry points each
 * kernels/NAME_avx2.c / NAME_avx512.c file provides (chosen in kernels/kernels.c).
 */
#ifndef KERNELS_INTERNAL_H
#define KERNELS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <omp.h>

#include "kernels/kernels.h"

#define HK_QBLOCK 32 /* elements per Q8/Q4 block */

/* ISA levels, in increasing order of capability. */
enum { HK_ISA_SCALAR = 0, HK_ISA_AVX2 = 1, HK_ISA_AVX512 = 2 };
int hk_isa_level(void);

/* bf16 -> f32 is exact: the bf16 bits are the top half of the f32. */
static inline float hk_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* IEEE half -> f32, exact, in portable C (subnormals, inf, NaN included). */
static inline float hk_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ffu, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400u));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* f32 -> IEEE half, round to nearest even (used by tests and conversions). */
uint16_t hk_f32_to_f16(float f);
/* f32 -> bf16, round to nearest even. */
uint16_t hk_f32_to_bf16(float f);

/* Element j of a stored float row (f32/f16/bf16). */
static inline float hk_load_elem(hk_wtype t, const void *p, size_t j)
{
    switch (t) {
    case HK_F32: return ((const float *)p)[j];
    case HK_F16: return hk_f16_to_f32(((const uint16_t *)p)[j]);
    case HK_BF16: return hk_bf16_to_f32(((const uint16_t *)p)[j]);
    default: return 0.0f;
    }
}

static inline size_t hk_wtype_size(hk_wtype t)
{
    return t == HK_F32 ? 4 : 2; /* quantised types have their own layout */
}

/*
 * Interleaved float weights (hk_weight_repack): rows in groups of 4, each
 * row's columns in runs of RL = 64 bytes (16 f32 or 32 f16/bf16); run r of
 * rows 4g..4g+3 follow one another. Element (o, j) is at
 *   ((g*nrun + j/RL)*4 + o%4)*RL + j%RL,  g = o/4, nrun = ceil(cols/RL);
 * rows are padded to a multiple of 4 and columns to whole runs with zeros.
 */
static inline size_t hk_runlen(hk_wtype t) { return 64 / hk_wtype_size(t); }
static inline size_t hk_ilv_idx(const hk_weight *w, int o, size_t j)
{
    size_t rl = hk_runlen(w->type), nrun = ((size_t)w->cols + rl - 1) / rl;
    return (((size_t)(o >> 2) * nrun + j / rl) * 4 + (size_t)(o & 3)) * rl + j % rl;
}
/* Element (o, j) of a float weight in either layout, widened. */
static inline float hk_w_elem(const hk_weight *w, int o, size_t j)
{
    size_t i = w->interleaved ? hk_ilv_idx(w, o, j) : (size_t)o * (size_t)w->cols + j;
    return hk_load_elem(w->type, w->data, i);
}

/*
 * Q8/Q4 layout (owned memory, see hk_weight_quantize). nb = ceil(cols/32)
 * blocks per row (the last zero-padded). A block is 32 int8 (Q8, value =
 * q * scale) or 16 bytes (Q4: byte j holds element j in its low nibble and
 * element j+16 in its high nibble, value = (nib - 8) * scale).
 * Rows are interleaved in groups of 4 so a GEMV over 4 rows reads one
 * sequential stream: within group g = o/4, blocks go in runs of BPG (2 for
 * Q8, 4 for Q4 = 64 bytes, one zmm), the 4 rows' runs one after another:
 *   block (o, b) is number ((g*nbg + b/BPG)*4 + o%4)*BPG + b%BPG,
 *   nbg = ceil(nb/BPG); its bytes start at that number * 32 (Q8) or * 16
 *   (Q4), and its scale is hk_weight.scales[that number].
 * Rows are padded to a multiple of 4 and blocks to a multiple of BPG with
 * zeros (scale 0).
 */
static inline int hk_qbpg(hk_wtype t) { return t == HK_Q8 ? 2 : 4; }
static inline size_t hk_qidx(const hk_weight *w, int o, int b)
{
    size_t bpg = (size_t)hk_qbpg(w->type), nb = (size_t)((w->cols + 31) / 32), nbg = (nb + bpg - 1) / bpg;
    return (((size_t)(o >> 2) * nbg + (size_t)b / bpg) * 4 + (size_t)(o & 3)) * bpg + (size_t)b % bpg;
}
static inline int hk_qblocks(int cols) { return (cols + HK_QBLOCK - 1) / HK_QBLOCK; }

/*
 * Team work split: the calling thread's share [*lo, *hi) of [0, n) in
 * chunks of `align` (so vector kernels keep aligned starts). Works inside a
 * parallel region (each thread its part) and outside (one thread, all).
 */
static inline void hk_team_range(size_t n, size_t align, size_t *lo, size_t *hi)
{
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    size_t chunks = (n + align - 1) / align;
    size_t c0 = chunks * (size_t)t / (size_t)nt, c1 = chunks * (size_t)(t + 1) / (size_t)nt;
    *lo = c0 * align < n ? c0 * align : n;
    *hi = c1 * align < n ? c1 * align : n;
}

/* ---- fast-path entry points (a range of output rows/columns each) ---- */

/* Quantised matmul works on each activation row quantised once per call. */
typedef struct hk_qact {
    int nb;               /* blocks of 32 */
    int8_t *q;            /* [nb*32] activation quantised to int8 */
    float *d;             /* [nb] its scale per block */
    int32_t *sum;         /* [nb] sum of q over the block (for offset tricks) */
    /* filled by hk_qact_prepare_avx512 (VNNI path), nb4 = nb rounded up to 4: */
    int8_t *qp;           /* [nb4*32] q in the kernel's lane order */
    float *dxe;           /* [nb4*8] d spread over the lanes */
    float *cx;            /* [nb4] offset correction per block */
    float *cxe;           /* [nb4*8] cx spread over the block's lanes (cx / lanes) */
} hk_qact;
/* Bytes hk_qact needs for cols (all arrays, each 64-aligned). */
static inline size_t hk_qact_bytes(int cols)
{
    size_t nb4 = (size_t)((hk_qblocks(cols) + 3) & ~3);
    return nb4 * 32 * 2 + nb4 * 4 * 3 + nb4 * 32 * 2 + 7 * 64;
}
void hk_quantize_act_ref(const float *x, int cols, hk_qact *xa);

/* AVX2 (kernels/NAME_avx2.c): y[o] = dot(x, W[o]) (+bias[o]) for o in [o0, o1), one row x [cols] */
void hk_gemv_avx2(const float *x, const hk_weight *w, const float *bias, float *y, int o0, int o1);
void hk_gemv_ilv_avx2(const float *x, const hk_weight *w, const float *bias, float *y, int o0, int o1);
/* AVX-512 (kernels/NAME_avx512.c) */
void hk_attention_avx512(const float *q, const float *k_cache, const float *v_cache, float *out,
                         const hk_attn_params *p, size_t it0, size_t it1);
void hk_gelu_avx512(float *x, size_t n);
void hk_gelu_tanh_avx512(float *x, size_t n);
void hk_silu_avx512(float *x, size_t n);
void hk_tanh_avx512(float *x, size_t n);
void hk_silu_mul_avx512(const float *gate, const float *up, float *out, size_t n);
void hk_add_avx512(const float *a, const float *b, float *out, size_t n);
void hk_mul_avx512(const float *a, const float *b, float *out, size_t n);
void hk_relu_avx512(float *x, size_t n);
void hk_rmsnorm_avx512(const float *x, int n, int d, const float *w, float eps, float *y);
void hk_layernorm_avx512(const float *x, int n, int d, const float *w, const float *b, float eps, float *y);
/* Bit-identical to hk_ref_add_rmsnorm / hk_ref_add_layernorm (same summation order). */
void hk_add_rmsnorm_avx512(float *x, const float *delta, int n, int d, const float *w, float eps, float *y);
void hk_add_layernorm_avx512(float *x, const float *delta, int n, int d, const float *w, const float *b,
                             float eps, float *y);
/* Largest head_dim the AVX-512 RoPE paths take (cos/sin on the stack); larger ones run the reference. */
#define HK_ROPE_MAX_HEAD_DIM 1024
void hk_rope_avx512(float *x, int n, int n_heads, int head_dim, int pos0, const float *inv_freq);
/* Bit-identical to hk_ref_qkv_split; head_dim <= HK_ROPE_MAX_HEAD_DIM. */
void hk_qkv_split_avx512(const float *qkv, int n, int n_heads, int n_kv_heads, int head_dim, int pos0,
                         const float *inv_freq, float *q, float *k_cache, float *v_cache, int kv_stride);
void hk_to_f32_avx512(hk_wtype type, const void *src, float *dst, size_t n);
void hk_qact_prepare_avx512(hk_qact *xa, hk_wtype type);
/*
 * Q8/Q4 matmul of n prepared activation rows (xa[i]: quantised, then
 * hk_qact_prepare_avx512) against W rows [o0, o1), o0 a multiple of 4:
 * y[i][o] (row stride w->rows), each row as it would be alone.
 */
void hk_qgemv_rows_vnni(const hk_qact *const *xa, int n, const hk_weight *w, const float *bias, float *y,
                        int o0, int o1);
int hk_cpu_has_vnni(void);
/* Prefill attention in tiles (kernels/attention_avx512.c): how many, and a range of them. */
size_t hk_attention_tiles_avx512(const hk_attn_params *p);
void hk_attention_tiles_run_avx512(const float *q, const float *k_cache, const float *v_cache, float *out,
                                   const hk_attn_params *p, size_t t0, size_t t1);
/*
 * Split-key decode (n_q = 1): every head over keys [klo, khi) only, into
 * part[n_heads][head_dim + 2] = (running max m, sum l, unnormalised acc[head_dim]).
 */
void hk_attention_split_part_avx512(const float *q, const float *k_cache, const float *v_cache,
                                    const hk_attn_params *p, int klo, int khi, float *part);
/*
 * f32/f16/bf16 matmul of n rows x [n][cols] against W rows [o0, o1), either
 * layout, o0 a multiple of 4: y[i][o] (row stride w->rows), each row by the
 * GEMV arithmetic of kernels/gemv_avx512.c whatever n is.
 */
void hk_gemv_rows_avx512(const float *x, int n, const hk_weight *w, const float *bias, float *y, int o0, int o1);

#endif
