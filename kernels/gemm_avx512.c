/*
 * kernels/gemm_avx512.c — AVX-512 blocked GEMM for prefill:
 * y[i][o] = x[i]·W[o] (+bias[o]) for i < n, o in [o0, o1); W f32/f16/bf16,
 * or Q8/Q4 dequantised while packing (x stays f32: prefill with quantised
 * weights runs at GEMM speed, more exactly than the int8-activation GEMV).
 *
 * BLIS-style: for each block of KC inputs and NC outputs, W[o][k] is
 * widened to f32 (exact) and packed transposed into panels Bp[k][32] (a
 * 16x16 in-register transpose), then a 12x32 register-tile micro-kernel
 * (24 zmm accumulators; per k: 2 panel loads, 12 broadcasts of x, 24 FMAs)
 * runs over all rows of x. x rows are read in place (KC floats of 12 rows
 * stay in L1 across the NC/32 panels); y is the accumulator across K
 * blocks. Packing costs rows*K per call, amortised over n rows.
 */
#include <immintrin.h>
#include <stdlib.h>

#include "kernels/internal.h"

#define MR 12
#define NR 32
#define KC 256
#define NC 128

/* 16 values of W row o from column j (a multiple of 16) as f32; Q8/Q4 dequantised. */
static inline __m512 row16(hk_wtype t, const hk_weight *w, int o, size_t j, __mmask16 m)
{
    if (t == HK_Q8) {
        size_t qi = hk_qidx(w, o, (int)(j / 32));
        const int8_t *blk = (const int8_t *)w->data + qi * 32;
        __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, blk + (j & 31))));
        return _mm512_mul_ps(v, _mm512_set1_ps(w->scales[qi]));
    }
    if (t == HK_Q4) { /* byte e of a block: element e (low nibble), e+16 (high) */
        size_t qi = hk_qidx(w, o, (int)(j / 32));
        const uint8_t *blk = (const uint8_t *)w->data + qi * 16;
        __m128i v = _mm_maskz_loadu_epi8(m, blk);
        __m128i nib = (j & 16) ? _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0x0f))
                               : _mm_and_si128(v, _mm_set1_epi8(0x0f));
        __m512i q = _mm512_sub_epi32(_mm512_cvtepu8_epi32(nib), _mm512_set1_epi32(8));
        return _mm512_maskz_mul_ps(m, _mm512_cvtepi32_ps(q), _mm512_set1_ps(w->scales[qi]));
    }
    size_t es = t == HK_F32 ? 4 : 2;
    const void *row = (const char *)w->data + (size_t)o * (size_t)w->cols * es;
    if (w->interleaved) { /* j..j+15 lie in one 64-byte run */
        row = (const char *)w->data + hk_ilv_idx(w, o, j) * es;
        j = 0;
    }
    if (t == HK_F32) return _mm512_maskz_loadu_ps(m, (const float *)row + j);
    __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)row + j);
    if (t == HK_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* In-register transpose of a 16x16 f32 tile. */
static inline void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) { /* rows 4g..4g+3: u[4g+e] holds element e of each lane */
        u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    _Pragma("GCC unroll 4") for (int e = 0; e < 4; e++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0x88);
        __m512 v1 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0xDD);
        __m512 v2 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0x88);
        __m512 v3 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0xDD);
        r[e] = _mm512_shuffle_f32x4(v0, v2, 0x88);      /* column e */
        r[8 + e] = _mm512_shuffle_f32x4(v0, v2, 0xDD);  /* column 8+e */
        r[4 + e] = _mm512_shuffle_f32x4(v1, v3, 0x88);  /* column 4+e */
        r[12 + e] = _mm512_shuffle_f32x4(v1, v3, 0xDD); /* column 12+e */
    }
}

/*
 * Packs W rows [ob, ob+nc) (rows >= o_end are zero), columns [kb, kb+kc),
 * as panels of 32 rows: Bp[p][k][32].
 */
static inline __attribute__((always_inline)) void pack_b(hk_wtype t, const hk_weight *w, int ob, int nc,
                                                         int o_end, int kb, int kc, float *Bp)
{
    int npan = (nc + NR - 1) / NR;
    for (int p = 0; p < npan; p++) {
        float *dst = Bp + (size_t)p * KC * NR;
        for (int half = 0; half < 2; half++) {
            int r0 = ob + p * NR + half * 16;
            for (int k = 0; k < kc; k += 16) {
                int left = kc - k;
                __mmask16 m = (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1);
                __m512 r[16];
                _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) {
                    int o = r0 + i;
                    r[i] = o < o_end ? row16(t, w, o, (size_t)(kb + k), m) : _mm512_setzero_ps();
                }
                transpose16(r);
                int kn = left >= 16 ? 16 : left;
                for (int j = 0; j < kn; j++) _mm512_store_ps(dst + (size_t)(k + j) * NR + half * 16, r[j]);
            }
        }
    }
}

/* C[mr][ncol] (+)= A[mr][kc] · Bp[kc][32]; first: C starts at 0; bias on last. */
static inline __attribute__((always_inline)) void micro(int mr, int kc, const float *A, size_t lda,
                                                        const float *Bp, float *C, size_t ldc, __mmask16 m0,
                                                        __mmask16 m1, int first, const float *bias)
{
    __m512 c0[MR], c1[MR];
    _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) {
        if (r >= mr) break;
        if (first) {
            c0[r] = _mm512_setzero_ps();
            c1[r] = _mm512_setzero_ps();
        } else {
            c0[r] = _mm512_maskz_loadu_ps(m0, C + r * ldc);
            c1[r] = _mm512_maskz_loadu_ps(m1, C + r * ldc + 16);
        }
    }
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(Bp + (size_t)k * NR), b1 = _mm512_load_ps(Bp + (size_t)k * NR + 16);
        _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) {
            if (r >= mr) break;
            __m512 a = _mm512_set1_ps(A[r * lda + (size_t)k]);
            c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
        }
    }
    __m512 bb0 = _mm512_setzero_ps(), bb1 = bb0;
    if (bias) {
        bb0 = _mm512_maskz_loadu_ps(m0, bias);
        bb1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    }
    _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) {
        if (r >= mr) break;
        _mm512_mask_storeu_ps(C + r * ldc, m0, _mm512_add_ps(c0[r], bb0));
        _mm512_mask_storeu_ps(C + r * ldc + 16, m1, _mm512_add_ps(c1[r], bb1));
    }
}

/* One instance per row count so the tile stays in registers. */
#define MICRO_CASE(M) \
    case M: micro(M, kc, A, lda, Bp, C, ldc, m0, m1, first, bias); break;
static void micro_any(int mr, int kc, const float *A, size_t lda, const float *Bp, float *C, size_t ldc,
                      __mmask16 m0, __mmask16 m1, int first, const float *bias)
{
    switch (mr) {
        MICRO_CASE(12) MICRO_CASE(11) MICRO_CASE(10) MICRO_CASE(9) MICRO_CASE(8) MICRO_CASE(7)
        MICRO_CASE(6) MICRO_CASE(5) MICRO_CASE(4) MICRO_CASE(3) MICRO_CASE(2) MICRO_CASE(1)
    default: break;
    }
}

static void pack_any(const hk_weight *w, int ob, int nc, int o_end, int kb, int kc, float *Bp)
{
    switch (w->type) {
    case HK_F32: pack_b(HK_F32, w, ob, nc, o_end, kb, kc, Bp); break;
    case HK_F16: pack_b(HK_F16, w, ob, nc, o_end, kb, kc, Bp); break;
    case HK_Q8: pack_b(HK_Q8, w, ob, nc, o_end, kb, kc, Bp); break;
    case HK_Q4: pack_b(HK_Q4, w, ob, nc, o_end, kb, kc, Bp); break;
    case HK_BF16: pack_b(HK_BF16, w, ob, nc, o_end, kb, kc, Bp); break;
    default: break;
    }
}

int hk_gemm_avx512(const float *x, int n, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    float *Bp = NULL;
    if (posix_memalign((void **)&Bp, 64, sizeof(float) * KC * NC) != 0) return -1;
    size_t K = (size_t)w->cols, ldc = (size_t)w->rows;
    for (int kb = 0; kb < (int)K; kb += KC) {
        int kc = (int)K - kb < KC ? (int)K - kb : KC;
        int first = kb == 0, last = kb + kc == (int)K;
        for (int ob = o0; ob < o1; ob += NC) {
            int nc = o1 - ob < NC ? o1 - ob : NC;
            pack_any(w, ob, nc, o1, kb, kc, Bp);
            for (int i = 0; i < n; i += MR) {
                int mr = n - i < MR ? n - i : MR;
                for (int p = 0; p * NR < nc; p++) {
                    int oc = ob + p * NR, left = o1 - oc;
                    __mmask16 m0 = (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1);
                    __mmask16 m1 = (__mmask16)(left >= 32 ? 0xffff : left > 16 ? (1u << (left - 16)) - 1 : 0);
                    micro_any(mr, kc, x + (size_t)i * K + kb, K, Bp + (size_t)p * KC * NR,
                              y + (size_t)i * ldc + oc, ldc, m0, m1, first, last && bias ? bias + oc : NULL);
                }
            }
        }
    }
    free(Bp);
    return 0;
}
