/*
 * kernels/math_avx512.h — vector exp/erf/tanh for the AVX-512 files only
 * (included from kernels/NAME_avx512.c, which are built with AVX-512 flags).
 * Accuracy: exp ~2e-7 relative; erf ~2e-7 absolute (Abramowitz-Stegun
 * 7.1.26); tanh ~2e-7 absolute.
 */
#ifndef KERNELS_MATH_AVX512_H
#define KERNELS_MATH_AVX512_H

#include <immintrin.h>

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
