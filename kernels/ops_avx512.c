/*
 * kernels/ops_avx512.c — AVX-512 versions of the small kernels: activations,
 * silu·up, add, rmsnorm, layernorm, softmax, RoPE, dtype widening. Each
 * works on the slice of rows/elements kernels/kernels.c gives the calling
 * thread; ragged ends use masked loads/stores. Reductions are f32 with
 * 2-4 accumulators (the tests hold them to 1e-5 of the double reference).
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

void hk_softmax_avx512(float *x, int n, int d)
{
    for (int r = 0; r < n; r++) {
        float *xr = x + (size_t)r * (size_t)d;
        __m512 mx = _mm512_set1_ps(-INFINITY);
        for (int j = 0; j < d; j += 16)
            mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail_mask((size_t)(d - j)), xr + j));
        float m = _mm512_reduce_max_ps(mx);
        if (m == -INFINITY) { /* fully masked row */
            for (int j = 0; j < d; j++) xr[j] = 0;
            continue;
        }
        __m512 mv = _mm512_set1_ps(m), s = _mm512_setzero_ps();
        for (int j = 0; j < d; j += 16) {
            __mmask16 k = tail_mask((size_t)(d - j));
            __m512 e = _mm512_maskz_mov_ps(k, hk_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, xr + j), mv)));
            /* exp(-inf - m): the clamp in hk_exp512 leaves a tiny non-zero; masked scores must be 0 */
            e = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(k, xr + j), _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ), e);
            s = _mm512_add_ps(s, e);
            _mm512_mask_storeu_ps(xr + j, k, e);
        }
        __m512 is = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(s));
        for (int j = 0; j < d; j += 16) {
            __mmask16 k = tail_mask((size_t)(d - j));
            _mm512_mask_storeu_ps(xr + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, xr + j), is));
        }
    }
}

/* cos/sin once per row (head_dim/2 values, the same float math as the
 * reference), then every head rotated with them. */
void hk_rope_avx512(float *x, int n, int n_heads, int head_dim, int pos0, const float *inv_freq)
{
    int half = head_dim / 2;
    float cs[512], sn[512];
    if (half > 512) return; /* kernels.c sends larger head dims to the reference */
    for (int i = 0; i < n; i++) {
        float pos = (float)(pos0 + i);
        for (int j = 0; j < half; j++) {
            float a = pos * inv_freq[j];
            cs[j] = cosf(a);
            sn[j] = sinf(a);
        }
        for (int h = 0; h < n_heads; h++) {
            float *v = x + ((size_t)i * (size_t)n_heads + (size_t)h) * (size_t)head_dim;
            for (int j = 0; j < half; j += 16) {
                __mmask16 m = tail_mask((size_t)(half - j));
                __m512 x0 = _mm512_maskz_loadu_ps(m, v + j), x1 = _mm512_maskz_loadu_ps(m, v + half + j);
                __m512 c = _mm512_maskz_loadu_ps(m, cs + j), s = _mm512_maskz_loadu_ps(m, sn + j);
                _mm512_mask_storeu_ps(v + j, m, _mm512_sub_ps(_mm512_mul_ps(x0, c), _mm512_mul_ps(x1, s)));
                _mm512_mask_storeu_ps(v + half + j, m, _mm512_add_ps(_mm512_mul_ps(x1, c), _mm512_mul_ps(x0, s)));
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
