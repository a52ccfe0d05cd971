/*
 * kernels/math_avx512.h — vector exp/erf/tanh and a 16-way horizontal sum
 * for the AVX-512 files only (included from kernels/NAME_avx512.c, which
 * are built with AVX-512 flags).
 * Accuracy: exp ~2e-7 relative; erf ~2e-7 absolute (Abramowitz-Stegun
 * 7.1.26); tanh ~2e-7 absolute.
 */
#ifndef KERNELS_MATH_AVX512_H
#define KERNELS_MATH_AVX512_H

#include <immintrin.h>

/*
 * Sums of 16 vectors: lane j of the result = _mm512_reduce_add_ps(t[j]), bit
 * for bit — the same pairs of lanes are added in the same order (l + l+8,
 * then l + l+4, l + l+2, l + l+1), only 16 sums at once in 15 adds.
 */
static inline __m512 hk_hsum16_512(const __m512 t[16])
{
    __m512 a[8], b[4], c[2];
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) /* a[i]: lanes 0-7 from t[2i], 8-15 from t[2i+1] */
        a[i] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], 0x44),
                             _mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], 0xEE));
    _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) /* b[i]: each 128-bit lane q a 4-float partial of t[4i + q] */
        b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0xDD));
    _Pragma("GCC unroll 2") for (int i = 0; i < 2; i++)
        c[i] = _mm512_add_ps(_mm512_shuffle_ps(b[2 * i], b[2 * i + 1], 0x44),
                             _mm512_shuffle_ps(b[2 * i], b[2 * i + 1], 0xEE));
    __m512 d = _mm512_add_ps(_mm512_shuffle_ps(c[0], c[1], 0x88), _mm512_shuffle_ps(c[0], c[1], 0xDD));
    /* d, 128-bit lane q: [t[q], t[4+q], t[8+q], t[12+q]] -> reorder to t[0..15] */
    const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(idx, d);
}

/* exp(x): Cody-Waite range reduction, degree-6 polynomial, 2^n by vscalefps
 * (so very negative x gives 0 and large x gives inf, no bit tricks). */
static inline __m512 hk_exp512(__m512 x)
{
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
    x = _mm512_min_ps(x, _mm512_set1_ps(89.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500E-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/* erf(x) = sign(x) (1 - poly(t) e^{-x^2}), t = 1/(1 + 0.3275911|x|). */
static inline __m512 hk_erf512(__m512 x)
{
    __m512 a = _mm512_abs_ps(x);
    __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(a, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    p = _mm512_mul_ps(p, t);
    __m512 e = hk_exp512(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), a), a));
    __m512 y = _mm512_fnmadd_ps(p, e, _mm512_set1_ps(1.0f));
    /* copy the sign of x */
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(y),
        _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u))));
}

/* tanh(x) = sign(x) (1 - 2 / (e^{2|x|} + 1)); |x| < 0.004: x - x^3/3. */
static inline __m512 hk_tanh512(__m512 x)
{
    __m512 a = _mm512_abs_ps(x);
    __m512 e = hk_exp512(_mm512_add_ps(a, a));
    __m512 y = _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
    __m512 small = _mm512_fnmadd_ps(_mm512_mul_ps(a, _mm512_mul_ps(a, a)), _mm512_set1_ps(1.0f / 3.0f), a);
    y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_set1_ps(0.004f), _CMP_LT_OQ), y, small);
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(y),
        _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u))));
}

#endif
