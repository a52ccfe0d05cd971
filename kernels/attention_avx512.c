/*
 * kernels/attention_avx512.c — AVX-512 attention over the KV cache.
 *
 * Per work item (query row, head), keys are visited in blocks of 64 with an
 * online softmax, flash-style: 16 scores at a time (dot products along
 * head_dim, summed across lanes with one 16x16 transpose), masked by
 * causality/window/padding, then running max m, running sum l and the
 * output accumulator (head_dim floats, in registers) are rescaled when
 * m grows. Nothing of size n_kv is stored. Keys outside [jlo, jhi) — the
 * causal/window range — are never read. head_dim up to 256 (else the
 * reference runs).
 *
 * Prefill (many query rows) works on tiles instead: up to 32 query vectors
 * (rows x heads of one GQA group) share each 64-key block, whose K is
 * transposed once into KT[d][64] so every score vector is head_dim plain
 * FMAs (no cross-lane sums), and whose V rows are reused from L1.
 *
 * Decode with few kv heads on a team splits the keys instead (kernels.c):
 * the same tiles over one key slice leave raw (m, l, acc) partials.
 */
#include <immintrin.h>
#include <limits.h>
#include <math.h>

#include "kernels/internal.h"
#include "kernels/math_avx512.h"
#include "kernels/ref.h"

/*
 * One (query row, head) against its kv head, keys in blocks of 64: scores
 * of 16 keys at a time as dot products along head_dim (nch chunks of 16)
 * summed across lanes by hk_hsum16_512, one max/rescale per block, then P·V with
 * two accumulator sets (even / odd keys) so consecutive FMAs into the same
 * register do not wait on each other. always_inline with a constant nch
 * (and full = head_dim is a multiple of 16) lets the common head_dims run
 * fully unrolled without masks.
 */
static inline __attribute__((always_inline)) void attn_item_n(const float *qr, const float *kb, const float *vb,
                                                              float *o, const hk_attn_params *p, int qp,
                                                              __m512 *q, __m512 *acc0, __m512 *acc1,
                                                              const int nch, const int full)
{
    int hd = p->head_dim;
    __mmask16 mlast = (__mmask16)(full ? 0xffff : (hd & 15) ? (1u << (hd & 15)) - 1 : 0xffff);
#define CHM(c) ((c) == nch - 1 ? mlast : (__mmask16)0xffff)
    _Pragma("GCC unroll 16") for (int c = 0; c < nch; c++) {
        q[c] = _mm512_mul_ps(_mm512_maskz_loadu_ps(CHM(c), qr + c * 16), _mm512_set1_ps(p->scale));
        acc0[c] = _mm512_setzero_ps();
        acc1[c] = _mm512_setzero_ps();
    }
    int jhi = p->n_kv, jlo = 0;
    if (p->causal && qp + 1 < jhi) jhi = qp + 1;
    if (p->window > 0 && qp - p->window + 1 > jlo) jlo = qp - p->window + 1;
    float m = -INFINITY, l = 0;
    _Alignas(64) float pe[64];
    for (int j0 = jlo; j0 < jhi; j0 += 64) {
        int nk = jhi - j0 < 64 ? jhi - j0 : 64;
        __mmask16 vm[4];
        __m512 s[4];
        uint64_t bits = 0;
        _Pragma("GCC unroll 4") for (int b = 0; b < 4; b++) {
            int left = nk - b * 16;
            vm[b] = (__mmask16)(left >= 16 ? 0xffff : left > 0 ? (1u << left) - 1 : 0);
            if (p->key_mask && vm[b]) {
                __m128i km = _mm_maskz_loadu_epi8(vm[b], p->key_mask + j0 + b * 16);
                vm[b] &= _mm_cmpneq_epi8_mask(km, _mm_setzero_si128());
            }
            bits |= (uint64_t)vm[b] << (16 * b);
            s[b] = _mm512_set1_ps(-INFINITY);
            if (!vm[b]) continue;
            __m512 t[16];
            _Pragma("GCC unroll 16") for (int jj = 0; jj < 16; jj++) {
                __m512 a = _mm512_setzero_ps();
                if (vm[b] & (1u << jj)) {
                    const float *kr = kb + (size_t)(j0 + b * 16 + jj) * (size_t)hd;
                    _Pragma("GCC unroll 16") for (int c = 0; c < nch; c++) a = _mm512_fmadd_ps(q[c], _mm512_maskz_loadu_ps(CHM(c), kr + c * 16), a);
                }
                t[jj] = a;
            }
            s[b] = _mm512_mask_blend_ps(vm[b], s[b], hk_hsum16_512(t));
        }
        if (!bits) continue;
        float mb = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(s[0], s[1]), _mm512_max_ps(s[2], s[3])));
        if (mb > m) { /* the running max grows: rescale what we have */
            __m512 cv = _mm512_set1_ps(expf(m - mb));
            l *= _mm512_cvtss_f32(cv);
            _Pragma("GCC unroll 16") for (int c = 0; c < nch; c++) {
                acc0[c] = _mm512_mul_ps(acc0[c], cv);
                acc1[c] = _mm512_mul_ps(acc1[c], cv);
            }
            m = mb;
        }
        __m512 mv = _mm512_set1_ps(m), sum = _mm512_setzero_ps();
        _Pragma("GCC unroll 4") for (int b = 0; b < 4; b++) {
            __m512 e = _mm512_maskz_mov_ps(vm[b], hk_exp512(_mm512_sub_ps(s[b], mv)));
            sum = _mm512_add_ps(sum, e);
            _mm512_store_ps(pe + b * 16, e);
        }
        l += _mm512_reduce_add_ps(sum);
        /* masked keys are skipped (never read), the rest alternate between acc0 and acc1 */
        const float *vr = vb + (size_t)j0 * (size_t)hd;
        int jj = 0;
        for (; jj + 1 < nk; jj += 2, vr += 2 * (size_t)hd) {
            if (bits >> jj & 1) {
                __m512 pj = _mm512_set1_ps(pe[jj]);
                _Pragma("GCC unroll 16") for (int c = 0; c < nch; c++) acc0[c] = _mm512_fmadd_ps(pj, _mm512_maskz_loadu_ps(CHM(c), vr + c * 16), acc0[c]);
            }
            if (bits >> (jj + 1) & 1) {
                __m512 pj = _mm512_set1_ps(pe[jj + 1]);
                _Pragma("GCC unroll 16") for (int c = 0; c < nch; c++)
                    acc1[c] = _mm512_fmadd_ps(pj, _mm512_maskz_loadu_ps(CHM(c), vr + hd + c * 16), acc1[c]);
            }
        }
        if (jj < nk && (bits >> jj & 1)) {
            __m512 pj = _mm512_set1_ps(pe[jj]);
            _Pragma("GCC unroll 16") for (int c = 0; c < nch; c++) acc0[c] = _mm512_fmadd_ps(pj, _mm512_maskz_loadu_ps(CHM(c), vr + c * 16), acc0[c]);
        }
    }
    __m512 il = _mm512_set1_ps(l > 0 ? 1.0f / l : 0.0f);
    _Pragma("GCC unroll 16") for (int c = 0; c < nch; c++)
        _mm512_mask_storeu_ps(o + c * 16, CHM(c), _mm512_mul_ps(_mm512_add_ps(acc0[c], acc1[c]), il));
#undef CHM
}

/* The caller owns q/acc0/acc1, sized exactly nch, so that after inlining they
 * are small local arrays GCC keeps in registers (fixed [16] arrays get spilled). */
#define ITEM_N(NCH, FULL)                                                      \
    do {                                                                       \
        __m512 q_[NCH], a0_[NCH], a1_[NCH];                                    \
        attn_item_n(qr, kb, vb, o, p, qp, q_, a0_, a1_, NCH, FULL);            \
    } while (0)

static void attn_item(const float *qr, const float *kb, const float *vb, float *o, const hk_attn_params *p,
                      int qp)
{
    switch (p->head_dim) { /* constant chunk counts for the common head sizes */
    case 64: ITEM_N(4, 1); break;
    case 128: ITEM_N(8, 1); break;
    case 32: ITEM_N(2, 1); break;
    case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 8: /* tiny heads (stories260K: 8) */
    case 9: case 10: case 11: case 12: case 13: case 14: case 15: case 16:
        ITEM_N(1, 0);
        break;
    default: {
        __m512 q_[16], a0_[16], a1_[16];
        attn_item_n(qr, kb, vb, o, p, qp, q_, a0_, a1_, (p->head_dim + 15) / 16, 0);
        break;
    }
    }
}
#undef ITEM_N

/* In-register transpose of a 16x16 f32 tile (as in gemm_avx512.c). */
static inline void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    _Pragma("GCC unroll 16") for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    _Pragma("GCC unroll 16") for (int g = 0; g < 4; g++) {
        u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    _Pragma("GCC unroll 16") for (int e = 0; e < 4; e++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0x88);
        __m512 v1 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0xDD);
        __m512 v2 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0x88);
        __m512 v3 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0xDD);
        r[e] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        r[8 + e] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
        r[4 + e] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        r[12 + e] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
    }
}

#define TQ 32 /* query vectors per tile: each K block transposed once serves them all */
#define BK 64 /* keys per block (4 vectors of 16) */

/* A tile: rows [i0, i0+nr) x heads [h0, h0+nh) of one kv head (nr*nh <= TQ). */
static void attn_tile(const float *q, const float *kb, const float *vb, float *out, const hk_attn_params *p,
                      int i0, int nr, int h0, int nh, int klo, int khi, float *part)
{
    int hd = p->head_dim, nch = (hd + 15) / 16, nqv = nr * nh;
    size_t qstride = (size_t)p->n_heads * (size_t)hd;
    _Alignas(64) float qs[TQ][256], acc[TQ][256], KT[256][BK], pe[TQ][BK];
    float m[TQ], l[TQ];
    int qp[TQ];
    __mmask16 mlast = (__mmask16)((hd & 15) ? (1u << (hd & 15)) - 1 : 0xffff);
    for (int v = 0; v < nqv; v++) {
        int i = i0 + v / nh, h = h0 + v % nh;
        const float *qr = q + (size_t)i * qstride + (size_t)h * hd;
        for (int c = 0; c < nch; c++) {
            __mmask16 mc = c == nch - 1 ? mlast : 0xffff;
            _mm512_store_ps(&qs[v][c * 16], _mm512_mul_ps(_mm512_maskz_loadu_ps(mc, qr + c * 16), _mm512_set1_ps(p->scale)));
            _mm512_store_ps(&acc[v][c * 16], _mm512_setzero_ps());
        }
        m[v] = -INFINITY;
        l[v] = 0;
        qp[v] = p->q_pos0 + i;
    }
    for (int v = nqv; v < ((nqv + 3) & ~3) && v < TQ; v++) /* padding vectors of the last score group */
        for (int c = 0; c < nch; c++) _mm512_store_ps(&qs[v][c * 16], _mm512_setzero_ps());
    /* the union of the rows' visible ranges */
    int qfirst = p->q_pos0 + i0, qlast = p->q_pos0 + i0 + nr - 1;
    int jhi = p->n_kv, jlo = 0;
    if (p->causal && qlast + 1 < jhi) jhi = qlast + 1;
    if (p->window > 0 && qfirst - p->window + 1 > jlo) jlo = qfirst - p->window + 1;
    if (klo > jlo) jlo = klo; /* a key range of a split decode call */
    if (khi < jhi) jhi = khi;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int j0 = jlo; j0 < jhi; j0 += BK) {
        int nk = jhi - j0 < BK ? jhi - j0 : BK, nsub = (nk + 15) / 16;
        __mmask16 base[BK / 16];
        int any = 0;
        for (int b = 0; b < BK / 16; b++) {
            int left = nk - b * 16;
            base[b] = (__mmask16)(left >= 16 ? 0xffff : left > 0 ? (1u << left) - 1 : 0);
            if (p->key_mask && base[b]) {
                __m128i km = _mm_maskz_loadu_epi8(base[b], p->key_mask + j0 + b * 16);
                base[b] &= _mm_cmpneq_epi8_mask(km, _mm_setzero_si128());
            }
            any |= base[b];
        }
        if (!any) continue;
        /* KT[d][jj] = K[j0+jj][d] */
        for (int b = 0; b < nsub; b++)
            for (int c = 0; c < nch; c++) {
                __mmask16 mc = c == nch - 1 ? mlast : 0xffff;
                __m512 r[16];
                _Pragma("GCC unroll 16") for (int jj = 0; jj < 16; jj++) {
                    int j = b * 16 + jj;
                    r[jj] = j < nk ? _mm512_maskz_loadu_ps(mc, kb + (size_t)(j0 + j) * hd + c * 16) : _mm512_setzero_ps();
                }
                transpose16(r);
                _Pragma("GCC unroll 16") for (int t = 0; t < 16; t++) _mm512_store_ps(&KT[c * 16 + t][b * 16], r[t]);
            }
        for (int v = nqv; v < ((nqv + 3) & ~3) && v < TQ; v++) /* padding of the last group of 4 */
            for (int b = 0; b < BK / 16; b++) _mm512_store_ps(&pe[v][b * 16], _mm512_setzero_ps());
        /*
         * Scores of 4 query vectors at once: 4 x 4 accumulators, so the FMA
         * chains (latency 4) never stall and each KT row load serves 4
         * vectors. Padding vectors of the last group have qs = 0.
         */
        for (int v0 = 0; v0 < nqv; v0 += 4) {
            int nv = nqv - v0 < 4 ? nqv - v0 : 4;
            __m512 s[4][BK / 16];
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++)
                _Pragma("GCC unroll 4") for (int b = 0; b < BK / 16; b++) s[u][b] = _mm512_setzero_ps();
            for (int d = 0; d < hd; d++) {
                __m512 kt[BK / 16];
                _Pragma("GCC unroll 4") for (int b = 0; b < BK / 16; b++) kt[b] = _mm512_load_ps(&KT[d][b * 16]);
                _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
                    __m512 qd = _mm512_set1_ps(qs[v0 + u][d]);
                    _Pragma("GCC unroll 4") for (int b = 0; b < BK / 16; b++) s[u][b] = _mm512_fmadd_ps(qd, kt[b], s[u][b]);
                }
            }
            _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
                if (u >= nv) break;
                int v = v0 + u;
                __mmask16 vm[BK / 16];
                uint64_t all = 0;
                _Pragma("GCC unroll 4") for (int b = 0; b < BK / 16; b++) {
                    __m512i jv = _mm512_add_epi32(_mm512_set1_epi32(j0 + b * 16), iota);
                    vm[b] = base[b];
                    if (p->causal) vm[b] &= _mm512_cmple_epi32_mask(jv, _mm512_set1_epi32(qp[v]));
                    if (p->window > 0) vm[b] &= _mm512_cmpgt_epi32_mask(jv, _mm512_set1_epi32(qp[v] - p->window));
                    all |= (uint64_t)vm[b] << (16 * b);
                }
                if (!all) {
                    for (int b = 0; b < BK / 16; b++) _mm512_store_ps(&pe[v][b * 16], _mm512_setzero_ps());
                    continue;
                }
                __m512 mx = _mm512_set1_ps(-INFINITY);
                _Pragma("GCC unroll 4") for (int b = 0; b < BK / 16; b++) {
                    s[u][b] = _mm512_mask_blend_ps(vm[b], _mm512_set1_ps(-INFINITY), s[u][b]);
                    mx = _mm512_max_ps(mx, s[u][b]);
                }
                float mb = _mm512_reduce_max_ps(mx);
                if (mb > m[v]) {
                    float corr = expf(m[v] - mb);
                    l[v] *= corr;
                    __m512 cv = _mm512_set1_ps(corr);
                    for (int c = 0; c < nch; c++)
                        _mm512_store_ps(&acc[v][c * 16], _mm512_mul_ps(_mm512_load_ps(&acc[v][c * 16]), cv));
                    m[v] = mb;
                }
                __m512 sum = _mm512_setzero_ps(), mv = _mm512_set1_ps(m[v]);
                _Pragma("GCC unroll 4") for (int b = 0; b < BK / 16; b++) {
                    __m512 e = _mm512_maskz_mov_ps(vm[b], hk_exp512(_mm512_sub_ps(s[u][b], mv)));
                    sum = _mm512_add_ps(sum, e);
                    _mm512_store_ps(&pe[v][b * 16], e);
                }
                l[v] += _mm512_reduce_add_ps(sum);
            }
        }
        /*
         * acc[v] += P[v][:] · V[j0:j0+nk] as a small matrix product: 4 query
         * vectors x 4 chunks of 16 in 16 registers; each V row is loaded once
         * per group. Keys a query does not see have P = 0 (their V rows are
         * valid cache entries, < n_kv).
         */
        for (int v0 = 0; v0 < nqv; v0 += 4) {
            int nv = nqv - v0 < 4 ? nqv - v0 : 4;
            for (int c0 = 0; c0 < nch; c0 += 4) {
                __mmask16 cm[4];
                __m512 a[4][4];
                _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) {
                    cm[c] = c0 + c < nch ? (c0 + c == nch - 1 ? mlast : 0xffff) : 0;
                    _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++)
                        a[u][c] = u < nv ? _mm512_load_ps(&acc[v0 + u][(c0 + c) * 16 & 255]) : _mm512_setzero_ps();
                }
                for (int jj = 0; jj < nk; jj++) {
                    const float *vr = vb + (size_t)(j0 + jj) * hd + c0 * 16;
                    __m512 vv[4];
                    _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) vv[c] = _mm512_maskz_loadu_ps(cm[c], vr + c * 16);
                    _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++) {
                        __m512 pv = _mm512_set1_ps(pe[v0 + u][jj]);
                        _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) a[u][c] = _mm512_fmadd_ps(pv, vv[c], a[u][c]);
                    }
                }
                _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)
                    _Pragma("GCC unroll 4") for (int u = 0; u < 4; u++)
                        if (u < nv && cm[c]) _mm512_store_ps(&acc[v0 + u][(c0 + c) * 16], a[u][c]);
            }
        }
    }
    if (part) { /* split keys (nr = 1): raw (m, l, acc) per head, combined later */
        for (int v = 0; v < nqv; v++) {
            float *pp = part + (size_t)(h0 + v) * (size_t)(hd + 2);
            pp[0] = m[v];
            pp[1] = l[v];
            for (int c = 0; c < nch; c++)
                _mm512_mask_storeu_ps(pp + 2 + c * 16, c == nch - 1 ? mlast : 0xffff, _mm512_load_ps(&acc[v][c * 16]));
        }
        return;
    }
    for (int v = 0; v < nqv; v++) {
        int i = i0 + v / nh, h = h0 + v % nh;
        float *o = out + (size_t)i * qstride + (size_t)h * hd;
        __m512 il = _mm512_set1_ps(l[v] > 0 ? 1.0f / l[v] : 0.0f);
        for (int c = 0; c < nch; c++)
            _mm512_mask_storeu_ps(o + c * 16, c == nch - 1 ? mlast : 0xffff, _mm512_mul_ps(_mm512_load_ps(&acc[v][c * 16]), il));
    }
}

/*
 * Prefill tiles: for each kv head, rows in blocks of br = max(1, TQ/group)
 * and the group's heads in chunks of hn = min(group, TQ, or 8 for n_q < 4). Tile t of
 * [0, hk_attention_tiles(p)) -> (kv head, row block, head chunk).
 */
static void tile_shape(const hk_attn_params *p, int *br, int *hn, int *nrb, int *nhc)
{
    int group = p->n_heads / p->n_kv_heads;
    /* decode-sized calls keep at most 8 heads per tile: more tiles for the team (MQA) */
    int cap = p->n_q < 4 ? 8 : TQ;
    *hn = group < cap ? group : cap;
    *br = TQ / *hn;
    *nrb = (p->n_q + *br - 1) / *br;
    *nhc = (group + *hn - 1) / *hn;
}

size_t hk_attention_tiles_avx512(const hk_attn_params *p)
{
    int br, hn, nrb, nhc;
    if (p->head_dim > 256) return 0;
    tile_shape(p, &br, &hn, &nrb, &nhc);
    return (size_t)p->n_kv_heads * (size_t)nrb * (size_t)nhc;
}

void hk_attention_tiles_run_avx512(const float *q, const float *k_cache, const float *v_cache, float *out,
                                   const hk_attn_params *p, size_t t0, size_t t1)
{
    int br, hn, nrb, nhc, group = p->n_heads / p->n_kv_heads, hd = p->head_dim;
    tile_shape(p, &br, &hn, &nrb, &nhc);
    for (size_t t = t0; t < t1; t++) {
        int hc = (int)(t % (size_t)nhc), rb = (int)((t / (size_t)nhc) % (size_t)nrb);
        int kvh = (int)(t / ((size_t)nhc * (size_t)nrb));
        int i0 = rb * br, nr = p->n_q - i0 < br ? p->n_q - i0 : br;
        int h0 = kvh * group + hc * hn, nh = group - hc * hn < hn ? group - hc * hn : hn;
        attn_tile(q, k_cache + (size_t)kvh * (size_t)p->kv_stride * (size_t)hd,
                  v_cache + (size_t)kvh * (size_t)p->kv_stride * (size_t)hd, out, p, i0, nr, h0, nh, 0, INT_MAX,
                  NULL);
    }
}

void hk_attention_split_part_avx512(const float *q, const float *k_cache, const float *v_cache,
                                    const hk_attn_params *p, int klo, int khi, float *part)
{
    int br, hn, nrb, nhc, group = p->n_heads / p->n_kv_heads, hd = p->head_dim;
    tile_shape(p, &br, &hn, &nrb, &nhc);
    for (int kvh = 0; kvh < p->n_kv_heads; kvh++)
        for (int hc = 0; hc < nhc; hc++) {
            int h0 = kvh * group + hc * hn, nh = group - hc * hn < hn ? group - hc * hn : hn;
            attn_tile(q, k_cache + (size_t)kvh * (size_t)p->kv_stride * (size_t)hd,
                      v_cache + (size_t)kvh * (size_t)p->kv_stride * (size_t)hd, NULL, p, 0, 1, h0, nh, klo, khi,
                      part);
        }
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
