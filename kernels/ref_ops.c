/*
 * kernels/ref_ops.c — scalar references for the small kernels: norms, RoPE,
 * activations, softmax, residual add, embedding lookup, dtype widening.
 * Reductions accumulate in double: these are the ground truth the tests use.
 */
#include <math.h>

#include "kernels/ref.h"

void hk_ref_layernorm(const float *x, int n, int d, const float *w, const float *b, float eps, float *y)
{
    for (int i = 0; i < n; i++) {
        const float *xr = x + (size_t)i * (size_t)d;
        float *yr = y + (size_t)i * (size_t)d;
        double mean = 0, var = 0;
        for (int j = 0; j < d; j++) mean += xr[j];
        mean /= d;
        for (int j = 0; j < d; j++) var += (xr[j] - mean) * (xr[j] - mean);
        var /= d;
        float r = (float)(1.0 / sqrt(var + eps)), mf = (float)mean;
        for (int j = 0; j < d; j++)
            yr[j] = (xr[j] - mf) * r * (w ? w[j] : 1.0f) + (b ? b[j] : 0.0f);
    }
}

void hk_ref_rmsnorm(const float *x, int n, int d, const float *w, float eps, float *y)
{
    for (int i = 0; i < n; i++) {
        const float *xr = x + (size_t)i * (size_t)d;
        float *yr = y + (size_t)i * (size_t)d;
        double ss = 0;
        for (int j = 0; j < d; j++) ss += (double)xr[j] * xr[j];
        float r = (float)(1.0 / sqrt(ss / d + eps));
        for (int j = 0; j < d; j++) yr[j] = xr[j] * r * (w ? w[j] : 1.0f);
    }
}

/* Rotate-half: pairs (j, j + head_dim/2) rotate by angle pos * inv_freq[j]. */
void hk_ref_rope(float *x, int n, int n_heads, int head_dim, int pos0, const float *inv_freq)
{
    int half = head_dim / 2;
    for (int i = 0; i < n; i++) {
        float pos = (float)(pos0 + i);
        for (int h = 0; h < n_heads; h++) {
            float *v = x + ((size_t)i * (size_t)n_heads + (size_t)h) * (size_t)head_dim;
            for (int j = 0; j < half; j++) {
                float a = pos * inv_freq[j], c = cosf(a), s = sinf(a);
                float x0 = v[j], x1 = v[j + half];
                v[j] = x0 * c - x1 * s;
                v[j + half] = x1 * c + x0 * s;
            }
        }
    }
}

void hk_rope_inv_freq(float *inv_freq, int head_dim, float theta)
{
    for (int i = 0; i < head_dim / 2; i++)
        inv_freq[i] = (float)(1.0 / pow((double)theta, (double)(2 * i) / (double)head_dim));
}

void hk_ref_gelu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void hk_ref_gelu_tanh(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
    }
}

void hk_ref_silu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}

void hk_ref_tanh(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
}

void hk_ref_silu_mul(const float *gate, const float *up, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void hk_ref_add(const float *a, const float *b, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* A row that is all -inf (fully masked) becomes all zeros, not NaN. */
void hk_ref_softmax(float *x, int n, int d)
{
    for (int i = 0; i < n; i++) {
        float *r = x + (size_t)i * (size_t)d;
        float m = -INFINITY;
        for (int j = 0; j < d; j++) if (r[j] > m) m = r[j];
        if (m == -INFINITY) {
            for (int j = 0; j < d; j++) r[j] = 0;
            continue;
        }
        double s = 0;
        for (int j = 0; j < d; j++) { r[j] = expf(r[j] - m); s += r[j]; }
        float is = (float)(1.0 / s);
        for (int j = 0; j < d; j++) r[j] *= is;
    }
}

void hk_ref_to_f32(hk_wtype type, const void *src, float *dst, size_t n)
{
    if (type == HK_F32) {
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i++) dst[i] = hk_load_elem(type, src, i);
}

void hk_ref_embedding(hk_wtype type, const void *table, int d, const int32_t *ids, int n, float *out)
{
    size_t es = hk_wtype_size(type);
    for (int i = 0; i < n; i++)
        hk_ref_to_f32(type, (const char *)table + (size_t)ids[i] * (size_t)d * es,
                      out + (size_t)i * (size_t)d, (size_t)d);
}
