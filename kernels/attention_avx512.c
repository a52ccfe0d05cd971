/*
 * kernels/attention_avx512.c — AVX-512 attention over the KV cache.
 *
 * Per work item (query row, head), keys are visited in blocks of 16 with an
 * online softmax, flash-style: 16 scores at a time (dot products along
 * head_dim, summed across lanes with one 16x16 transpose), masked by
 * causality/window/padding, then running max m, running sum l and the
 * output accumulator (head_dim floats, in place in `out`) are rescaled when
 * m grows. Nothing of size n_kv is stored. Keys outside [jlo, jhi) — the
 * causal/window range — are never read. head_dim up to 256 (else the
 * reference runs).
 */
#include <immintrin.h>
#include <math.h>

#include "kernels/internal.h"
#include "kernels/math_avx512.h"
#include "kernels/ref.h"

/* Sums of 16 vectors: lane j of the result = sum of the lanes of t[j]. */
static inline __m512 hsum16(__m512 t[16])
{
    /* a tree of in-lane and cross-lane adds: 8 + 4 + 2 + 1 shuffle/add pairs */
    __m512 a[8], b[4], c[2];
    for (int i = 0; i < 8; i++) /* pairs: lanes 0-7 of t[2i]+shuffle, interleaved by 128-bit halves */
        a[i] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], 0x44),
                             _mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], 0xEE));
    /* a[i]: lanes 0-7 hold (t[2i] lo256 + hi256), lanes 8-15 (t[2i+1] lo + hi) */
    for (int i = 0; i < 4; i++)
        b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0xDD));
    /* b[i]: each 128-bit lane q holds a 4-float partial of t[4i + q] */
    for (int i = 0; i < 2; i++)
        c[i] = _mm512_add_ps(_mm512_shuffle_ps(b[2 * i], b[2 * i + 1], 0x44),
                             _mm512_shuffle_ps(b[2 * i], b[2 * i + 1], 0xEE));
    /* c[i], lane q: [t[4(2i)+q] two partials, t[4(2i+1)+q] two partials] */
    __m512 d = _mm512_add_ps(_mm512_shuffle_ps(c[0], c[1], 0x88), _mm512_shuffle_ps(c[0], c[1], 0xDD));
    /* d, 128-bit lane q: [t[q], t[4+q], t[8+q], t[12+q]] -> reorder to t[0..15] */
    const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(idx, d);
}

static void attn_item(const float *qr, const float *kb, const float *vb, float *o, const hk_attn_params *p,
                      int qp)
{
    int hd = p->head_dim, nch = (hd + 15) / 16;
    __mmask16 mlast = (__mmask16)((hd & 15) ? (1u << (hd & 15)) - 1 : 0xffff);
    __m512 q[16], acc[16];
    for (int c = 0; c < nch; c++) {
        q[c] = _mm512_mul_ps(_mm512_maskz_loadu_ps(c == nch - 1 ? mlast : 0xffff, qr + c * 16),
                             _mm512_set1_ps(p->scale));
        acc[c] = _mm512_setzero_ps();
    }
    int jhi = p->n_kv, jlo = 0;
    if (p->causal && qp + 1 < jhi) jhi = qp + 1;
    if (p->window > 0 && qp - p->window + 1 > jlo) jlo = qp - p->window + 1;
    float m = -INFINITY, l = 0;
    for (int j0 = jlo; j0 < jhi; j0 += 16) {
        int nk = jhi - j0 < 16 ? jhi - j0 : 16;
        __mmask16 valid = (__mmask16)(nk == 16 ? 0xffff : (1u << nk) - 1);
        if (p->key_mask) {
            __m128i km = _mm_maskz_loadu_epi8(valid, p->key_mask + j0);
            valid &= _mm_cmpneq_epi8_mask(km, _mm_setzero_si128());
            if (!valid) continue;
        }
        __m512 t[16];
        for (int jj = 0; jj < 16; jj++) {
            __m512 s = _mm512_setzero_ps();
            if (valid & (1u << jj)) {
                const float *kr = kb + (size_t)(j0 + jj) * (size_t)hd;
                for (int c = 0; c < nch; c++)
                    s = _mm512_fmadd_ps(q[c], _mm512_maskz_loadu_ps(c == nch - 1 ? mlast : 0xffff, kr + c * 16), s);
            }
            t[jj] = s;
        }
        __m512 s = hsum16(t);
        s = _mm512_mask_blend_ps(valid, _mm512_set1_ps(-INFINITY), s);
        float mb = _mm512_reduce_max_ps(s);
        if (mb > m) { /* the running max grows: rescale what we have */
            float corr = expf(m - mb);
            l *= corr;
            __m512 cv = _mm512_set1_ps(corr);
            for (int c = 0; c < nch; c++) acc[c] = _mm512_mul_ps(acc[c], cv);
            m = mb;
        }
        __m512 e = _mm512_maskz_mov_ps(valid, hk_exp512(_mm512_sub_ps(s, _mm512_set1_ps(m))));
        l += _mm512_reduce_add_ps(e);
        float pe[16];
        _mm512_storeu_ps(pe, e);
        for (int jj = 0; jj < nk; jj++) {
            if (!(valid & (1u << jj))) continue;
            const float *vr = vb + (size_t)(j0 + jj) * (size_t)hd;
            __m512 pj = _mm512_set1_ps(pe[jj]);
            for (int c = 0; c < nch; c++)
                acc[c] = _mm512_fmadd_ps(pj, _mm512_maskz_loadu_ps(c == nch - 1 ? mlast : 0xffff, vr + c * 16), acc[c]);
        }
    }
    __m512 il = _mm512_set1_ps(l > 0 ? 1.0f / l : 0.0f);
    for (int c = 0; c < nch; c++)
        _mm512_mask_storeu_ps(o + c * 16, c == nch - 1 ? mlast : 0xffff, _mm512_mul_ps(acc[c], il));
}

void hk_attention_avx512(const float *q, const float *k_cache, const float *v_cache, float *out,
                         const hk_attn_params *p, size_t it0, size_t it1)
{
    int hd = p->head_dim, group = p->n_heads / p->n_kv_heads;
    if (hd > 256) {
        hk_ref_attention_items(q, k_cache, v_cache, out, p, it0, it1);
        return;
    }
    size_t qstride = (size_t)p->n_heads * (size_t)hd;
    for (size_t it = it0; it < it1; it++) {
        int i = (int)(it / (size_t)p->n_heads), h = (int)(it % (size_t)p->n_heads), kvh = h / group;
        attn_item(q + (size_t)i * qstride + (size_t)h * hd,
                  k_cache + (size_t)kvh * (size_t)p->kv_stride * (size_t)hd,
                  v_cache + (size_t)kvh * (size_t)p->kv_stride * (size_t)hd,
                  out + (size_t)i * qstride + (size_t)h * hd, p, p->q_pos0 + i);
    }
}
