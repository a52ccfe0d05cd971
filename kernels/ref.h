/*
 * kernels/ref.h — the scalar reference twin of every kernel (hk_ref_*), and
 * the hooks tests and bench/bench-kernels use (ISA switch, owned repacking).
 *
 * Plain, serial C that reads like the formula: the tests compare each fast
 * path against these, and HUBRT_ISA=scalar runs them (split among the team
 * by the public entry points in kernels/kernels.c). Shapes as in kernels.h.
 * Models include kernels/kernels.h only.
 */
#ifndef KERNELS_REF_H
#define KERNELS_REF_H

#include "kernels/kernels.h"
#include "kernels/internal.h"

/* The ISA the fast paths use: "scalar", "avx2", "avx512". */
const char *hk_isa_name(void);
/*
 * Forces the ISA ("scalar", "avx2", "avx512") at run time, as HUBRT_ISA does
 * at start-up (tests switch paths in one process). Returns 0, or -1 when the
 * name is unknown or this CPU lacks it (nothing changes). Not thread-safe:
 * call it outside parallel regions.
 */
int hk_set_isa(const char *name);
/* hk_weight_repack_into into memory it allocates and owns; 0, or -1. */
int hk_weight_repack(hk_weight *dst, const hk_weight *w);

/* y[i][o] = x[i]·W[o] (+bias[o]) for all i < n, o in [o0, o1); any wtype. */
void hk_ref_matmul_rows(const float *x, int n, const hk_weight *w, const float *bias,
                        float *y, int o0, int o1);
void hk_ref_matmul(const float *x, int n, const hk_weight *w, const float *bias, float *y);

/*
 * Quantised GEMV reference: x is quantised to int8 blocks of 32 (hk_qact),
 * dotted with the Q8/Q4 blocks in integers, scaled in f32 per block.
 */
void hk_ref_qgemv(const hk_qact *xa, const hk_weight *w, const float *bias, float *y, int o0, int o1);

/* Attention for work items [it0, it1) of n_q*n_heads (item = row*n_heads + head). */
void hk_ref_attention_items(const float *q, const float *k_cache, const float *v_cache,
                            float *out, const hk_attn_params *p, size_t it0, size_t it1);
void hk_ref_attention(const float *q, const float *k_cache, const float *v_cache, float *out,
                      const hk_attn_params *p);
void hk_ref_attention_segments(const float *q, const float *k_cache, const float *v_cache, float *out,
                               const hk_attn_params *p, int n_seg, const int *seg_start);

void hk_ref_layernorm(const float *x, int n, int d, const float *w, const float *b, float eps, float *y);
void hk_ref_rmsnorm(const float *x, int n, int d, const float *w, float eps, float *y);
void hk_ref_rope(float *x, int n, int n_heads, int head_dim, int pos0, const float *inv_freq);
void hk_ref_gelu(float *x, size_t n);
void hk_ref_gelu_tanh(float *x, size_t n);
void hk_ref_silu(float *x, size_t n);
void hk_ref_tanh(float *x, size_t n);
void hk_ref_silu_mul(const float *gate, const float *up, float *out, size_t n);
void hk_ref_add(const float *a, const float *b, float *out, size_t n);
void hk_ref_mul(const float *a, const float *b, float *out, size_t n);
void hk_ref_relu(float *x, size_t n);
void hk_ref_copy(const float *src, float *dst, size_t n);
void hk_ref_gather_rows(const float *src, int width, const int32_t *rows, int n, float *dst);
void hk_ref_swiglu(const float *gate_up, int n, int d, float *out);
void hk_ref_add_rmsnorm(float *x, const float *delta, int n, int d, const float *w, float eps, float *y);
void hk_ref_add_layernorm(float *x, const float *delta, int n, int d, const float *w, const float *b,
                          float eps, float *y);
void hk_ref_kv_store(const float *x, int n, int n_kv_heads, int head_dim, int pos0, float *cache, int kv_stride);
void hk_ref_qkv_split(const float *qkv, int n, int n_heads, int n_kv_heads, int head_dim, int pos0,
                      const float *inv_freq, float *q, float *k_cache, float *v_cache, int kv_stride);
void hk_ref_embedding(hk_wtype type, const void *table, int d, const int32_t *ids, int n, float *out);
void hk_ref_embedding_interleaved(hk_wtype type, const void *table, int d, const int32_t *ids, int n, float *out);
void hk_ref_to_f32(hk_wtype type, const void *src, float *dst, size_t n);

#endif
