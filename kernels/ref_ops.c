/*
 * kernels/ref_ops.c — scalar references for the small kernels: norms (alone
 * and after a residual add), RoPE, activations, SwiGLU, elementwise add /
 * mul / copy, embedding lookups, dtype widening. Reductions accumulate in
 * double: these are the ground truth the tests use.
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

void hk_ref_mul(const float *a, const float *b, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = a[i] * b[i];
}

/* NaN and -0 become +0 (the comparison is false for them). */
void hk_ref_relu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0;
}

void hk_ref_copy(const float *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = src[i];
}

void hk_ref_gather_rows(const float *src, int width, const int32_t *rows, int n, float *dst)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < width; j++) dst[(size_t)i * (size_t)width + (size_t)j] = src[(size_t)rows[i] * (size_t)width + (size_t)j];
}

void hk_ref_swiglu(const float *gate_up, int n, int d, float *out)
{
    for (int i = 0; i < n; i++) {
        const float *g = gate_up + (size_t)i * 2 * (size_t)d, *u = g + d;
        hk_ref_silu_mul(g, u, out + (size_t)i * (size_t)d, (size_t)d);
    }
}

/*
 * x += delta, then the sum the norm needs (of squares for RMS, of values for
 * LayerNorm) in double, as 8 partial sums: partial k takes columns j with
 * j % 8 == k in order, the last d % 8 columns go to partial 0, and the
 * partials are combined pairwise. This order is part of the kernel: every
 * path follows it, so all ISAs give bit-identical results.
 */
static double add_and_sum(float *x, const float *delta, size_t d, int squares)
{
    double p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t j = 0;
    for (; j + 8 <= d; j += 8)
        for (int k = 0; k < 8; k++) {
            x[j + k] += delta[j + k];
            p[k] += squares ? (double)x[j + k] * x[j + k] : (double)x[j + k];
        }
    for (; j < d; j++) {
        x[j] += delta[j];
        p[0] += squares ? (double)x[j] * x[j] : (double)x[j];
    }
    return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

void hk_ref_add_rmsnorm(float *x, const float *delta, int n, int d, const float *w, float eps, float *y)
{
    for (int i = 0; i < n; i++) {
        float *xr = x + (size_t)i * (size_t)d, *yr = y + (size_t)i * (size_t)d;
        double ss = add_and_sum(xr, delta + (size_t)i * (size_t)d, (size_t)d, 1);
        float r = (float)(1.0 / sqrt(ss / (double)d + eps));
        for (int j = 0; j < d; j++) yr[j] = w ? xr[j] * r * w[j] : xr[j] * r;
    }
}

void hk_ref_add_layernorm(float *x, const float *delta, int n, int d, const float *w, const float *b,
                          float eps, float *y)
{
    for (int i = 0; i < n; i++) {
        float *xr = x + (size_t)i * (size_t)d, *yr = y + (size_t)i * (size_t)d;
        double mean = add_and_sum(xr, delta + (size_t)i * (size_t)d, (size_t)d, 0) / (double)d;
        double q[8] = {0, 0, 0, 0, 0, 0, 0, 0}; /* squared deviations, in the same order */
        int j = 0;
        for (; j + 8 <= d; j += 8)
            for (int k = 0; k < 8; k++) {
                double c = xr[j + k] - mean;
                q[k] += c * c;
            }
        for (; j < d; j++) q[0] += (xr[j] - mean) * (xr[j] - mean);
        double var = (((q[0] + q[1]) + (q[2] + q[3])) + ((q[4] + q[5]) + (q[6] + q[7]))) / (double)d;
        float r = (float)(1.0 / sqrt(var + eps)), mf = (float)mean;
        for (j = 0; j < d; j++) {
            float v = (xr[j] - mf) * r;
            if (w) v *= w[j];
            yr[j] = b ? v + b[j] : v;
        }
    }
}

void hk_ref_embedding_interleaved(hk_wtype type, const void *table, int d, const int32_t *ids, int n, float *out)
{
    hk_weight lay; /* the layout hk_ilv_idx reads: type and row length */
    hk_weight_view(&lay, type, 0, d, table);
    lay.interleaved = 1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) out[(size_t)i * (size_t)d + (size_t)j] = hk_w_elem(&lay, ids[i], (size_t)j);
}
