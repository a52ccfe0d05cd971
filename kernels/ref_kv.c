/*
 * kernels/ref_kv.c — scalar references for the kernels that write the KV
 * cache ([n_kv_heads][kv_stride][head_dim], row i at position pos0 + i):
 * the plain store, and the split of fused q|k|v projections with RoPE.
 */
#include <math.h>

#include "kernels/ref.h"

void hk_ref_kv_store(const float *x, int n, int n_kv_heads, int head_dim, int pos0, float *cache, int kv_stride)
{
    size_t hd = (size_t)head_dim;
    for (int i = 0; i < n; i++)
        for (int h = 0; h < n_kv_heads; h++) {
            const float *src = x + ((size_t)i * (size_t)n_kv_heads + (size_t)h) * hd;
            float *dst = cache + ((size_t)h * (size_t)kv_stride + (size_t)(pos0 + i)) * hd;
            for (size_t j = 0; j < hd; j++) dst[j] = src[j];
        }
}

/* Where head h (of n_heads q, then n_kv_heads k, then n_kv_heads v) of row i goes. */
static float *qkv_dst(float *q, float *k_cache, float *v_cache, int kv_stride, int n_heads, int n_kv_heads,
                      int head_dim, int pos, int i, int h)
{
    size_t hd = (size_t)head_dim;
    if (h < n_heads) return q + ((size_t)i * (size_t)n_heads + (size_t)h) * hd;
    if (h < n_heads + n_kv_heads) return k_cache + ((size_t)(h - n_heads) * (size_t)kv_stride + (size_t)pos) * hd;
    return v_cache + ((size_t)(h - n_heads - n_kv_heads) * (size_t)kv_stride + (size_t)pos) * hd;
}

void hk_ref_qkv_split(const float *qkv, int n, int n_heads, int n_kv_heads, int head_dim, int pos0,
                      const float *inv_freq, float *q, float *k_cache, float *v_cache, int kv_stride)
{
    int half = head_dim / 2, nh = n_heads + 2 * n_kv_heads;
    for (int i = 0; i < n; i++) {
        int pos = pos0 + i;
        for (int h = 0; h < nh; h++) {
            const float *src = qkv + ((size_t)i * (size_t)nh + (size_t)h) * (size_t)head_dim;
            float *dst = qkv_dst(q, k_cache, v_cache, kv_stride, n_heads, n_kv_heads, head_dim, pos, i, h);
            for (int j = 0; j < head_dim; j++) dst[j] = src[j];
            if (!inv_freq || h >= n_heads + n_kv_heads) continue; /* v: no RoPE */
            for (int j = 0; j < half; j++) { /* rotate-half, as hk_ref_rope */
                float a = (float)pos * inv_freq[j], c = cosf(a), s = sinf(a);
                float x0 = src[j], x1 = src[j + half];
                dst[j] = x0 * c - x1 * s;
                dst[j + half] = x1 * c + x0 * s;
            }
        }
    }
}
