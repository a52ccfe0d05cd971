/*
 * kernels/gemv_avx512.c — AVX-512 matmul for f32/f16/bf16 weights:
 * y[i][o] = x[i]·W[o] (+bias[o]) for n activation rows and W rows [o0, o1),
 * every output computed by the same arithmetic whatever n is (the batch
 * invariance of hk_matmul, kernels.h):
 *
 *   acc = 16 f32 lanes, zero; for each chunk c of 32 columns, in order:
 *     acc = fma(x_lo, w_lo, acc);  acc = fma(x_hi, w_hi, acc)
 *   f32/f16: lo = columns 32c .. 32c+15, hi = 32c+16 .. 32c+31;
 *   bf16:    lo = the even columns 32c, 32c+2, ..., hi = the odd ones (one
 *            64-byte load of bf16 gives both: shift left 16 / mask the top);
 *   columns past cols are zeros;
 *   y = (the pairwise lane tree of _mm512_reduce_add_ps over acc) + bias[o].
 *
 * The activation rows are first copied into that lane order (zero-padded
 * to whole chunks), once per call. Then tiles of up to 4 activation rows x
 * 4 weight rows: 16 accumulators, each weight chunk widened once (bf16:
 * shift / and, f16: vcvtph2ps, both exact) for 4 rows, each x chunk loaded
 * once for 4 weight rows; a 4x4 tile's 16 sums come out of one transposing
 * add tree that pairs lanes exactly as _mm512_reduce_add_ps does. Weight
 * rows go in blocks that stay in L2 while every row block of x passes over
 * them, so each weight is read from memory once per call: a decode batch of
 * n rows costs about one GEMV's memory traffic. A tile of 2 or more rows
 * computes long enough per weight byte that the hardware prefetchers fall
 * behind, so it prefetches the weight stream into L2 itself (a 1-row tile
 * keeps to the hardware's, which are faster there).
 */
#include <immintrin.h>
#include <stdlib.h>

#include "kernels/internal.h"
#include "kernels/math_avx512.h"
#include "kernels/ref.h"

#define MR 4 /* activation rows per tile */
#define NR 4 /* weight rows per tile (one interleaved group) */

/* Chunks of 32 columns in a row of cols. */
static inline size_t chunks_of(int cols) { return ((size_t)cols + 31) / 32; }

/*
 * x row (cols floats) into the lane order above: nch chunks of [lo 16 | hi
 * 16], zero-padded.
 */
static void prepare_row(hk_wtype t, const float *x, size_t cols, size_t nch, float *xs)
{
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (size_t c = 0; c < nch; c++) {
        size_t j = 32 * c, l0 = cols > j ? cols - j : 0, l1 = cols > j + 16 ? cols - j - 16 : 0;
        __m512 a = _mm512_maskz_loadu_ps((__mmask16)(l0 >= 16 ? 0xffff : (1u << l0) - 1), x + j);
        __m512 b = _mm512_maskz_loadu_ps((__mmask16)(l1 >= 16 ? 0xffff : (1u << l1) - 1), x + j + 16);
        if (t == HK_BF16) {
            _mm512_store_ps(xs + j, _mm512_permutex2var_ps(a, ie, b));
            _mm512_store_ps(xs + j + 16, _mm512_permutex2var_ps(a, io, b));
        } else {
            _mm512_store_ps(xs + j, a);
            _mm512_store_ps(xs + j + 16, b);
        }
    }
}

/*
 * Where weight row u of a tile has chunk c. Plain rows: row[u] + c * 64
 * bytes (f32: two 64-byte halves); interleaved (kernels/internal.h): the
 * group's runs, 256 bytes per run of the 4 rows (f32: a chunk is 2 runs).
 */
typedef struct wtile {
    const char *row[NR]; /* plain: each row's start; interleaved: row[0] = the group's start */
    int ilv;
} wtile;

/*
 * Weight row u, chunk c widened into (lo, hi). m16/m32 mask the columns of
 * a ragged last chunk (plain layout); mhi masks an f32 hi half that has no
 * run (interleaved, odd number of runs).
 */
static inline __attribute__((always_inline)) void load_w(hk_wtype t, const wtile *wt, int u, size_t c,
                                                         __mmask32 m32, __mmask16 m16lo, __mmask16 m16hi,
                                                         __m512 *lo, __m512 *hi)
{
    if (t == HK_F32) {
        const float *p0, *p1;
        if (wt->ilv) {
            p0 = (const float *)(wt->row[0] + (2 * c) * 256 + (size_t)u * 64);
            p1 = (const float *)(wt->row[0] + (2 * c + 1) * 256 + (size_t)u * 64);
        } else {
            p0 = (const float *)(wt->row[u] + c * 128);
            p1 = p0 + 16;
        }
        *lo = _mm512_maskz_loadu_ps(m16lo, p0);
        *hi = _mm512_maskz_loadu_ps(m16hi, p1);
        return;
    }
    const char *p = wt->ilv ? wt->row[0] + c * 256 + (size_t)u * 64 : wt->row[u] + c * 64;
    __m512i v = _mm512_maskz_loadu_epi16(m32, p);
    if (t == HK_F16) {
        *lo = _mm512_cvtph_ps(_mm512_castsi512_si256(v));
        *hi = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(v, 1));
    } else {
        *lo = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
        *hi = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000u)));
    }
}

/* Bytes ahead of the weight stream a tile of 2+ rows prefetches into L2. */
#define PREFETCH_AHEAD 16384

/* Chunk c of every row of a tile into acc (masks all ones but in a ragged last chunk). */
static inline __attribute__((always_inline)) void tile_step(hk_wtype t, const int mr, const int nr, const float *xs,
                                                            size_t xstride, const wtile *wt, size_t c, __mmask32 m32,
                                                            __mmask16 m16lo, __mmask16 m16hi, __m512 acc[MR][NR])
{
    if (mr > 1) { /* the bytes of chunk c, PREFETCH_AHEAD further on */
        const size_t cb = t == HK_F32 ? 128 : 64; /* bytes of a chunk of one row */
        if (wt->ilv) {
            const char *p = wt->row[0] + c * 4 * cb + PREFETCH_AHEAD;
            for (size_t b = 0; b < 4 * cb; b += 64) _mm_prefetch(p + b, _MM_HINT_T1);
        } else {
            _Pragma("GCC unroll 4") for (int u = 0; u < nr; u++)
                for (size_t b = 0; b < cb; b += 64) _mm_prefetch(wt->row[u] + c * cb + PREFETCH_AHEAD / 4 + b, _MM_HINT_T1);
        }
    }
    __m512 xl[MR], xh[MR];
    _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++) {
        xl[i] = _mm512_load_ps(xs + (size_t)i * xstride + 32 * c);
        xh[i] = _mm512_load_ps(xs + (size_t)i * xstride + 32 * c + 16);
    }
    _Pragma("GCC unroll 4") for (int u = 0; u < nr; u++) {
        __m512 wl, wh;
        load_w(t, wt, u, c, m32, m16lo, m16hi, &wl, &wh);
        _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++) {
            acc[i][u] = _mm512_fmadd_ps(xl[i], wl, acc[i][u]);
            acc[i][u] = _mm512_fmadd_ps(xh[i], wh, acc[i][u]);
        }
    }
}

/* A tile call's chunks (nfull unmasked, then the ragged last with the masks) and where its sums go. */
typedef struct tile_job {
    size_t xstride, nch, nfull;
    __mmask32 m32;
    __mmask16 m16lo, m16hi;
    const float *bias;
    float *y;          /* row 0 of the tile's activation rows */
    size_t ystride;
    int o, nst;        /* first weight row, how many sums to store (<= nr) */
} tile_job;

/* y[i][o + u] = sum(acc[i][u]) + bias[o + u] for u < nst (a tile of mr x nr sums). */
static inline __attribute__((always_inline)) void store_tile(const int mr, const int nr, __m512 acc[MR][NR],
                                                             const tile_job *j)
{
    const float *bias = j->bias;
    float *y = j->y;
    size_t ys = j->ystride;
    int o = j->o, nst = j->nst;
    if (mr == MR && nr == NR) {
        __m512 tt[16];
        _Pragma("GCC unroll 4") for (int i = 0; i < MR; i++)
            _Pragma("GCC unroll 4") for (int u = 0; u < NR; u++) tt[i * NR + u] = acc[i][u];
        __m512 s = hk_hsum16_512(tt); /* lane i*4 + u */
        __mmask8 m = (__mmask8)((1u << nst) - 1);
        __m128 b = bias ? _mm_maskz_loadu_ps(m, bias + o) : _mm_setzero_ps();
        _mm_mask_storeu_ps(y + o, m, _mm_add_ps(_mm512_castps512_ps128(s), b));
        _mm_mask_storeu_ps(y + ys + o, m, _mm_add_ps(_mm512_extractf32x4_ps(s, 1), b));
        _mm_mask_storeu_ps(y + 2 * ys + o, m, _mm_add_ps(_mm512_extractf32x4_ps(s, 2), b));
        _mm_mask_storeu_ps(y + 3 * ys + o, m, _mm_add_ps(_mm512_extractf32x4_ps(s, 3), b));
        return;
    }
    _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++)
        _Pragma("GCC unroll 4") for (int u = 0; u < nr; u++)
            if (u < nst) y[(size_t)i * ys + (size_t)(o + u)] = _mm512_reduce_add_ps(acc[i][u]) + (bias ? bias[o + u] : 0.0f);
}

/*
 * One tile, one instance per (type, rows, weight rows): mr activation rows
 * (prepared, xs + i * xstride) x nr weight rows (wt), then its sums.
 * Constant mr/nr after inlining keep acc in registers.
 */
static inline __attribute__((always_inline)) void run_tile(hk_wtype t, const int mr, const int nr, const float *xs,
                                                           const wtile *wt, const tile_job *j)
{
    __m512 acc[MR][NR];
    _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++)
        _Pragma("GCC unroll 4") for (int u = 0; u < nr; u++) acc[i][u] = _mm512_setzero_ps();
    for (size_t c = 0; c < j->nfull; c++)
        tile_step(t, mr, nr, xs, j->xstride, wt, c, 0xffffffffu, 0xffff, 0xffff, acc);
    if (j->nfull < j->nch) tile_step(t, mr, nr, xs, j->xstride, wt, j->nfull, j->m32, j->m16lo, j->m16hi, acc);
    store_tile(mr, nr, acc, j);
}

#define TILE_TYPE(NAME, T)                                                               \
    static void NAME(int mr, int nr, const float *xs, const wtile *wt, const tile_job *j) \
    {                                                                                    \
        if (nr == NR) {                                                                  \
            switch (mr) {                                                                \
            case 4: run_tile(T, 4, NR, xs, wt, j); break;                                \
            case 3: run_tile(T, 3, NR, xs, wt, j); break;                                \
            case 2: run_tile(T, 2, NR, xs, wt, j); break;                                \
            default: run_tile(T, 1, NR, xs, wt, j); break;                               \
            }                                                                            \
        } else {                                                                         \
            switch (mr) {                                                                \
            case 4: run_tile(T, 4, 1, xs, wt, j); break;                                 \
            case 3: run_tile(T, 3, 1, xs, wt, j); break;                                 \
            case 2: run_tile(T, 2, 1, xs, wt, j); break;                                 \
            default: run_tile(T, 1, 1, xs, wt, j); break;                                \
            }                                                                            \
        }                                                                                \
    }
TILE_TYPE(tile_f32, HK_F32)
TILE_TYPE(tile_f16, HK_F16)
TILE_TYPE(tile_bf16, HK_BF16)
#undef TILE_TYPE

/* Weight rows per block: about 256 KiB of weights, at most 64 rows, whole groups of 4. */
static int block_rows(const hk_weight *w)
{
    size_t row = (size_t)w->cols * hk_wtype_size(w->type);
    size_t r = ((size_t)256 << 10) / (row ? row : 1);
    r &= ~(size_t)3;
    return r < 4 ? 4 : r > 64 ? 64 : (int)r;
}

/* The rows of prepared x (n of them, xstride floats apart) against W rows [o0, o1). */
static void rows_prepared(const float *xs, size_t xstride, int n, const hk_weight *w, const float *bias,
                          float *y, int o0, int o1)
{
    size_t K = (size_t)w->cols, nch = chunks_of(w->cols), es = hk_wtype_size(w->type);
    void (*fn)(int, int, const float *, const wtile *, const tile_job *) =
        w->type == HK_F32 ? tile_f32 : w->type == HK_F16 ? tile_f16 : tile_bf16;
    tile_job j;
    j.xstride = xstride;
    j.nch = nch;
    j.bias = bias;
    j.ystride = (size_t)w->rows;
    /* the ragged last chunk: plain rows mask their columns; interleaved runs are zero-padded,
     * but an f32 chunk whose second run does not exist has its hi half masked off */
    size_t rem = K % 32, nrun = (K + hk_runlen(w->type) - 1) / hk_runlen(w->type);
    j.nfull = nch;
    j.m32 = 0xffffffffu;
    j.m16lo = j.m16hi = 0xffff;
    if (!w->interleaved && rem) {
        j.nfull = nch - 1;
        j.m32 = (__mmask32)((1u << rem) - 1);
        j.m16lo = (__mmask16)(rem >= 16 ? 0xffff : (1u << rem) - 1);
        j.m16hi = (__mmask16)(rem > 16 ? (1u << (rem - 16)) - 1 : 0);
    } else if (w->interleaved && w->type == HK_F32 && (nrun & 1)) {
        j.nfull = nch - 1;
        j.m16hi = 0;
    }
    const char *base = (const char *)w->data;
    int ob_rows = block_rows(w);
    for (int ob = o0; ob < o1; ob += ob_rows) {
        int oe = o1 - ob < ob_rows ? o1 : ob + ob_rows;
        for (int i = 0; i < n; i += MR) {
            int mr = n - i < MR ? n - i : MR;
            const float *xi = xs + (size_t)i * xstride;
            j.y = y + (size_t)i * j.ystride;
            for (int o = ob; o < oe; o += j.nst) {
                wtile wt;
                wt.ilv = w->interleaved;
                int nr;
                if (w->interleaved) { /* whole groups (padding rows are zeros), stores cut at oe */
                    wt.row[0] = base + (size_t)(o >> 2) * nrun * 256;
                    nr = NR;
                } else {
                    nr = oe - o >= NR ? NR : 1;
                    for (int u = 0; u < nr; u++) wt.row[u] = base + (size_t)(o + u) * K * es;
                }
                j.o = o;
                j.nst = oe - o < nr ? oe - o : nr;
                fn(mr, nr, xi, &wt, &j);
            }
        }
    }
}

void hk_gemv_rows_avx512(const float *x, int n, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    size_t K = (size_t)w->cols, nch = chunks_of(w->cols), xstride = nch * 32;
    _Alignas(64) float stackbuf[8192];
    size_t need = (size_t)n * xstride;
    float *xs = need <= 8192 ? stackbuf : NULL;
    if (!xs && posix_memalign((void **)&xs, 64, need * sizeof(float)) != 0) xs = NULL;
    if (xs) {
        for (int i = 0; i < n; i++) prepare_row(w->type, x + (size_t)i * K, K, nch, xs + (size_t)i * xstride);
        rows_prepared(xs, xstride, n, w, bias, y, o0, o1);
        if (xs != stackbuf) free(xs);
        return;
    }
    /* no memory for all rows: one row at a time (the same arithmetic), or when
     * a row is wider than the stack buffer, the scalar reference */
    for (int i = 0; i < n; i++) {
        if (xstride <= 8192) {
            prepare_row(w->type, x + (size_t)i * K, K, nch, stackbuf);
            rows_prepared(stackbuf, xstride, 1, w, bias, y + (size_t)i * (size_t)w->rows, o0, o1);
        } else {
            hk_ref_matmul_rows(x + (size_t)i * K, 1, w, bias, y + (size_t)i * (size_t)w->rows, o0, o1);
        }
    }
}
