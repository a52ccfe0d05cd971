/*
 * kernels/ops_avx512.c — AVX-512 versions of the small kernels: activations,
 * silu·up, add, mul, relu, rmsnorm, layernorm, residual add + norm, RoPE,
 * the q|k|v split, dtype widening. Each works on the slice of rows/elements
 * kernels/kernels.c gives the calling thread; ragged ends use masked
 * loads/stores. The plain norms reduce in f32 with 2-4 accumulators (the
 * tests hold them to 1e-5 of the double reference); the add + norm kernels,
 * RoPE and the split do exactly the reference's arithmetic (bit-identical).
 */
#include <math.h>

#include "kernels/internal.h"
#include "kernels/math_avx512.h"

static inline __mmask16 tail_mask(size_t left)
{
    return (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1);
}

/* Applies f to x[0..n) in place, 16 at a time. */
#define MAP_INPLACE(name, EXPR)                                         \
    void name(float *x, size_t n)                                       \
    {                                                                   \
        for (size_t i = 0; i < n; i += 16) {                            \
            __mmask16 m = tail_mask(n - i);                             \
            __m512 v = _mm512_maskz_loadu_ps(m, x + i);                 \
            _mm512_mask_storeu_ps(x + i, m, (EXPR));                    \
        }                                                               \
    }

static inline __m512 gelu_v(__m512 v)
{
    __m512 h = _mm512_mul_ps(v, _mm512_set1_ps(0.5f));
    return _mm512_fmadd_ps(h, hk_erf512(_mm512_mul_ps(v, _mm512_set1_ps(0.70710678118654752f))), h);
}
static inline __m512 gelu_tanh_v(__m512 v)
{
    __m512 u = _mm512_mul_ps(_mm512_set1_ps(0.79788456080286536f),
                             _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(0.044715f), v), _mm512_mul_ps(v, v), v));
    __m512 h = _mm512_mul_ps(v, _mm512_set1_ps(0.5f));
    return _mm512_fmadd_ps(h, hk_tanh512(u), h);
}
static inline __m512 silu_v(__m512 v)
{
    __m512 e = hk_exp512(_mm512_sub_ps(_mm512_setzero_ps(), v));
    return _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

MAP_INPLACE(hk_gelu_avx512, gelu_v(v))
MAP_INPLACE(hk_gelu_tanh_avx512, gelu_tanh_v(v))
MAP_INPLACE(hk_silu_avx512, silu_v(v))
MAP_INPLACE(hk_tanh_avx512, hk_tanh512(v))

void hk_silu_mul_avx512(const float *gate, const float *up, float *out, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 g = _mm512_maskz_loadu_ps(m, gate + i), u = _mm512_maskz_loadu_ps(m, up + i);
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(silu_v(g), u));
    }
}

void hk_add_avx512(const float *a, const float *b, float *out, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(out + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
    }
}

void hk_mul_avx512(const float *a, const float *b, float *out, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
    }
}

/* max(x, +0) returns its second operand for NaN and for -0, as the reference. */
MAP_INPLACE(hk_relu_avx512, _mm512_max_ps(v, _mm512_setzero_ps()))

void hk_rmsnorm_avx512(const float *x, int n, int d, const float *w, float eps, float *y)
{
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * (size_t)d;
        float *yr = y + (size_t)r * (size_t)d;
        __m512 s0 = _mm512_setzero_ps(), s1 = s0;
        int j = 0;
        for (; j + 32 <= d; j += 32) {
            __m512 a = _mm512_loadu_ps(xr + j), b = _mm512_loadu_ps(xr + j + 16);
            s0 = _mm512_fmadd_ps(a, a, s0);
            s1 = _mm512_fmadd_ps(b, b, s1);
        }
        for (; j < d; j += 16) {
            __m512 a = _mm512_maskz_loadu_ps(tail_mask((size_t)(d - j)), xr + j);
            s0 = _mm512_fmadd_ps(a, a, s0);
        }
        float ss = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
        __m512 sc = _mm512_set1_ps(1.0f / sqrtf(ss / (float)d + eps));
        for (j = 0; j < d; j += 16) {
            __mmask16 m = tail_mask((size_t)(d - j));
            __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, xr + j), sc);
            if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + j));
            _mm512_mask_storeu_ps(yr + j, m, v);
        }
    }
}

void hk_layernorm_avx512(const float *x, int n, int d, const float *w, const float *b, float eps, float *y)
{
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * (size_t)d;
        float *yr = y + (size_t)r * (size_t)d;
        __m512 s = _mm512_setzero_ps();
        for (int j = 0; j < d; j += 16) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(tail_mask((size_t)(d - j)), xr + j));
        float mean = _mm512_reduce_add_ps(s) / (float)d;
        __m512 mv = _mm512_set1_ps(mean), v2 = _mm512_setzero_ps();
        for (int j = 0; j < d; j += 16) {
            __mmask16 m = tail_mask((size_t)(d - j));
            __m512 c = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, xr + j), mv);
            v2 = _mm512_fmadd_ps(c, c, v2);
        }
        float var = _mm512_reduce_add_ps(v2) / (float)d;
        __m512 sc = _mm512_set1_ps(1.0f / sqrtf(var + eps));
        for (int j = 0; j < d; j += 16) {
            __mmask16 m = tail_mask((size_t)(d - j));
            __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xr + j), mv), sc);
            if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + j));
            if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + j));
            _mm512_mask_storeu_ps(yr + j, m, v);
        }
    }
}

/*
 * x += delta over a row, and the sum hk_ref_add_*norm takes (of squares or
 * of values) in its order: lane k of one 8-double accumulator is the
 * reference's partial k (columns j % 8 == k, in order), the d % 8 last
 * columns go to partial 0, partials combined pairwise. Products of floats
 * are exact in double, so mul + add rounds as the reference does.
 */
static double add_row_sum(float *xr, const float *dr, int d, int squares)
{
    __m512d acc = _mm512_setzero_pd();
    int j = 0;
    for (; j + 8 <= d; j += 8) {
        __m256 v = _mm256_add_ps(_mm256_loadu_ps(xr + j), _mm256_loadu_ps(dr + j));
        _mm256_storeu_ps(xr + j, v);
        __m512d v64 = _mm512_cvtps_pd(v);
        acc = _mm512_add_pd(acc, squares ? _mm512_mul_pd(v64, v64) : v64);
    }
    double p[8];
    _mm512_storeu_pd(p, acc);
    for (; j < d; j++) {
        xr[j] += dr[j];
        p[0] += squares ? (double)xr[j] * xr[j] : (double)xr[j];
    }
    return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

void hk_add_rmsnorm_avx512(float *x, const float *delta, int n, int d, const float *w, float eps, float *y)
{
    for (int r = 0; r < n; r++) {
        float *xr = x + (size_t)r * (size_t)d, *yr = y + (size_t)r * (size_t)d;
        double ss = add_row_sum(xr, delta + (size_t)r * (size_t)d, d, 1);
        __m512 sc = _mm512_set1_ps((float)(1.0 / sqrt(ss / (double)d + eps)));
        for (int j = 0; j < d; j += 16) {
            __mmask16 m = tail_mask((size_t)(d - j));
            __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, xr + j), sc);
            if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + j));
            _mm512_mask_storeu_ps(yr + j, m, v);
        }
    }
}

void hk_add_layernorm_avx512(float *x, const float *delta, int n, int d, const float *w, const float *b,
                             float eps, float *y)
{
    for (int r = 0; r < n; r++) {
        float *xr = x + (size_t)r * (size_t)d, *yr = y + (size_t)r * (size_t)d;
        double mean = add_row_sum(xr, delta + (size_t)r * (size_t)d, d, 0) / (double)d;
        /* squared deviations in double, the same 8-lane order (no FMA: c*c is rounded first) */
        __m512d mv = _mm512_set1_pd(mean), acc = _mm512_setzero_pd();
        int j = 0;
        for (; j + 8 <= d; j += 8) {
            __m512d c = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(xr + j)), mv);
            acc = _mm512_add_pd(acc, _mm512_mul_pd(c, c));
        }
        double q[8];
        _mm512_storeu_pd(q, acc);
        for (; j < d; j++) q[0] += (xr[j] - mean) * (xr[j] - mean);
        double var = (((q[0] + q[1]) + (q[2] + q[3])) + ((q[4] + q[5]) + (q[6] + q[7]))) / (double)d;
        __m512 sc = _mm512_set1_ps((float)(1.0 / sqrt(var + eps))), mf = _mm512_set1_ps((float)mean);
        for (j = 0; j < d; j += 16) {
            __mmask16 m = tail_mask((size_t)(d - j));
            __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xr + j), mf), sc);
            if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + j));
            if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + j));
            _mm512_mask_storeu_ps(yr + j, m, v);
        }
    }
}

/*
 * Rotate-half RoPE of one head: dst[j] = x0 c - x1 s, dst[j+half] = x1 c + x0 s
 * with x0 = src[j], x1 = src[j+half] (dst may be src). Separate multiplies
 * and adds, no FMA: the reference's rounding.
 */
static inline void rotate_half(const float *src, float *dst, int half, const float *cs, const float *sn)
{
    for (int j = 0; j < half; j += 16) {
        __mmask16 m = tail_mask((size_t)(half - j));
        __m512 x0 = _mm512_maskz_loadu_ps(m, src + j), x1 = _mm512_maskz_loadu_ps(m, src + half + j);
        __m512 c = _mm512_maskz_loadu_ps(m, cs + j), s = _mm512_maskz_loadu_ps(m, sn + j);
        _mm512_mask_storeu_ps(dst + j, m, _mm512_sub_ps(_mm512_mul_ps(x0, c), _mm512_mul_ps(x1, s)));
        _mm512_mask_storeu_ps(dst + half + j, m, _mm512_add_ps(_mm512_mul_ps(x1, c), _mm512_mul_ps(x0, s)));
    }
}

/* cos/sin of (float)pos * inv_freq[j] for j < half, the reference's float math. */
static void rope_angles(int pos, int half, const float *inv_freq, float *cs, float *sn)
{
    float fp = (float)pos;
    for (int j = 0; j < half; j++) {
        float a = fp * inv_freq[j];
        cs[j] = cosf(a);
        sn[j] = sinf(a);
    }
}

/* cos/sin once per row (head_dim/2 values), then every head rotated with them. */
void hk_rope_avx512(float *x, int n, int n_heads, int head_dim, int pos0, const float *inv_freq)
{
    int half = head_dim / 2;
    float cs[HK_ROPE_MAX_HEAD_DIM / 2], sn[HK_ROPE_MAX_HEAD_DIM / 2];
    if (half > HK_ROPE_MAX_HEAD_DIM / 2) return; /* kernels.c sends larger head dims to the reference */
    for (int i = 0; i < n; i++) {
        rope_angles(pos0 + i, half, inv_freq, cs, sn);
        for (int h = 0; h < n_heads; h++) {
            float *v = x + ((size_t)i * (size_t)n_heads + (size_t)h) * (size_t)head_dim;
            rotate_half(v, v, half, cs, sn);
        }
    }
}

/* Row by row: cos/sin once per row, q heads to q, k and v heads to their cache slots. */
void hk_qkv_split_avx512(const float *qkv, int n, int n_heads, int n_kv_heads, int head_dim, int pos0,
                         const float *inv_freq, float *q, float *k_cache, float *v_cache, int kv_stride)
{
    int half = head_dim / 2, nh = n_heads + 2 * n_kv_heads;
    size_t hd = (size_t)head_dim;
    float cs[HK_ROPE_MAX_HEAD_DIM / 2], sn[HK_ROPE_MAX_HEAD_DIM / 2];
    if (half > HK_ROPE_MAX_HEAD_DIM / 2) return; /* kernels.c sends larger head dims to the reference */
    for (int i = 0; i < n; i++) {
        int pos = pos0 + i;
        if (inv_freq) rope_angles(pos, half, inv_freq, cs, sn);
        const float *src = qkv + (size_t)i * (size_t)nh * hd;
        for (int h = 0; h < nh; h++, src += hd) {
            float *dst;
            if (h < n_heads) dst = q + ((size_t)i * (size_t)n_heads + (size_t)h) * hd;
            else if (h < n_heads + n_kv_heads) dst = k_cache + ((size_t)(h - n_heads) * (size_t)kv_stride + (size_t)pos) * hd;
            else dst = v_cache + ((size_t)(h - n_heads - n_kv_heads) * (size_t)kv_stride + (size_t)pos) * hd;
            if (inv_freq && h < n_heads + n_kv_heads) {
                rotate_half(src, dst, half, cs, sn);
                if (head_dim & 1) dst[hd - 1] = src[hd - 1]; /* an odd last element is not rotated */
            } else {
                memcpy(dst, src, hd * sizeof(float));
            }
        }
    }
}

void hk_to_f32_avx512(hk_wtype type, const void *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v;
        if (type == HK_F32) {
            v = _mm512_maskz_loadu_ps(m, (const float *)src + i);
        } else {
            __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)src + i);
            v = type == HK_F16 ? _mm512_cvtph_ps(h)
                               : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
        }
        _mm512_mask_storeu_ps(dst + i, m, v);
    }
}
