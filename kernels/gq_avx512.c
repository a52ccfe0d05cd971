/*
 * kernels/gq_avx512.c — AVX-512 matmul for group-quantised weights
 * (HK_GQ4, HK_GQ8; layout in kernels/gq.h), exact in f32.
 *
 * Every weight is dequantised without rounding: for int4, each 4-row group
 * builds one 16-entry table per row and scale group, t[k] = (k - zero) *
 * scale (an exact difference and an exact product), and vpermps looks the
 * codes up in it (vpermps reads only the low 4 bits of each lane, so the
 * codes need shifting but no masking; 16-bit shifts reach the low word's
 * nibbles, one 32-bit shift the high word's). int8 widens the codes and
 * applies code * scale - zero * scale with one fmsub (also exact). The
 * products with x are summed in f32 by FMA, two accumulators per output
 * (even and odd 16-channel vectors).
 *
 * On Zen 4 the int4 GEMV is bound by the shuffle unit (a vpermps and most
 * of a shift per 16 weights), not by memory: see the bench-kernels lines.
 *
 * GEMV (decode) streams the 4 interleaved rows of a group; GEMM (prefill)
 * dequantises a block of rows into f32 once, then runs 3 x-rows × 4 w-rows
 * register tiles over it. Both add each output's products in the same
 * order (vector by vector, even/odd accumulators, one final reduction), so
 * a row of y has the same bits on either path, for any batch size.
 */
#include <immintrin.h>
#include <stdlib.h>

#include "kernels/gq.h"

#define XSTACK 16384 /* floats of x kept on the stack; longer rows use the heap */

/* 64-byte aligned heap memory (freed with free). */
static void *alloc64(size_t bytes)
{
    void *p = NULL;
    return posix_memalign(&p, 64, bytes ? bytes : 64) == 0 ? p : NULL;
}

/*
 * The activation row as the layout wants it: x itself when the channels are
 * in order and fill whole chunks, else gathered through perm (or copied)
 * into buf, zero-padded to kp.
 */
static const float *layout_x(const hk_weight *w, const float *x, float *buf)
{
    size_t cols = (size_t)w->cols, kp = hk_gq_kp(w->cols);
    const int32_t *perm = hk_gq_perm(w);
    if (!perm && kp == cols) return x;
    if (perm)
        for (size_t j = 0; j < cols; j++) buf[j] = x[perm[j]];
    else
        memcpy(buf, x, cols * sizeof(float));
    for (size_t j = cols; j < kp; j++) buf[j] = 0.0f;
    return buf;
}

/*
 * The scale/zero stream runs at a sixteenth of the codes' rate, too slowly
 * for the hardware prefetchers to follow: each row group asks for the next
 * one's ng * 32 bytes up front.
 */
static inline void prefetch_meta(const float *m, size_t ng)
{
    for (size_t b = 0; b < ng * 32; b += 64) _mm_prefetch((const char *)m + b, _MM_HINT_T0);
}

static inline float finish(__m512 even, __m512 odd, const float *bias, int o)
{
    return _mm512_reduce_add_ps(_mm512_add_ps(even, odd)) + (bias ? bias[o] : 0.0f);
}

/* ---- int4 ---------------------------------------------------------------- */

/* Row u's table for the scale group whose meta (4 x {scale, zero}) is at m. */
#define GQ4_TABLE(m, u) _mm512_mul_ps(_mm512_sub_ps(iota, _mm512_set1_ps((m)[2 * (u) + 1])), _mm512_set1_ps((m)[2 * (u)]))
/* The 4 rows' tables. */
#define GQ4_TABLES(m)                                                                           \
    do {                                                                                        \
        t0 = GQ4_TABLE(m, 0);                                                                   \
        t1 = GQ4_TABLE(m, 1);                                                                   \
        t2 = GQ4_TABLE(m, 2);                                                                   \
        t3 = GQ4_TABLE(m, 3);                                                                   \
    } while (0)

/* Next 16-channel vector: new tables when it starts a scale group. */
#define GQ4_GROUP_STEP()                                                                        \
    do {                                                                                        \
        if (left == 0) {                                                                        \
            GQ4_TABLES(mp);                                                                     \
            mp += 8;                                                                            \
            left = gv;                                                                          \
        }                                                                                       \
        left--;                                                                                 \
    } while (0)

/* Indices of vector k of a chunk from its dwords c (low word) and h = c >> 16 (high word). */
#define SRLW(v, n) _mm512_srli_epi16(v, n)

/*
 * The int4 GEMV for VPG 16-channel vectors per scale group: 1, 2 or 4 (the
 * tables are rebuilt at fixed steps of a chunk), 8 (group a multiple of
 * 128: at chunk starts, every group / 128 chunks), or 0 for any other group
 * size (a countdown before every vector). VPG is a constant in each
 * instance, so the tests fold away.
 */
static inline __attribute__((always_inline)) void gemv4_t(const int VPG, const float *xp, const hk_weight *w,
                                                          const float *bias, float *y, int o0, int o1)
{
    size_t nch = hk_gq_kp(w->cols) / HK_GQ_CHUNK, ng = hk_gq_meta_groups(w->cols, w->gq.group);
    const int gv = w->gq.group / 16, cpg = VPG == 8 ? gv / 8 : 1; /* chunks per group (VPG 8) */
    const uint8_t *codes = (const uint8_t *)w->data;
    const float *meta = hk_gq_meta(w);
    const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int o = o0; o < o1; o += 4) {
        const uint8_t *cp = codes + (size_t)(o >> 2) * nch * 256;
        const float *mp = meta + (size_t)(o >> 2) * ng * 8;
        __m512 a0e = _mm512_setzero_ps(), a0o = a0e, a1e = a0e, a1o = a0e, a2e = a0e, a2o = a0e, a3e = a0e,
               a3o = a0e, t0 = a0e, t1 = a0e, t2 = a0e, t3 = a0e;
        int left = 0, cleft = 0;
        if (o + 4 < o1) prefetch_meta(mp + ng * 8, ng); /* the next row group's */
        __m512 n0 = a0e, n1 = a0e, n2 = a0e, n3 = a0e; /* VPG 8: the next group's tables */
        if (VPG == 8) {
            n0 = GQ4_TABLE(mp, 0);
            n1 = GQ4_TABLE(mp, 1);
            n2 = GQ4_TABLE(mp, 2);
            n3 = GQ4_TABLE(mp, 3);
            mp += 8;
        }
        for (size_t c = 0; c < nch; c++, cp += 256) {
            const float *xc = xp + c * HK_GQ_CHUNK;
            __m512i c0 = _mm512_load_si512(cp), c1 = _mm512_load_si512(cp + 64);
            __m512i c2 = _mm512_load_si512(cp + 128), c3 = _mm512_load_si512(cp + 192);
            if (VPG == 8 && cleft-- == 0) { /* this chunk's tables, built ahead */
                t0 = n0; t1 = n1; t2 = n2; t3 = n3;
                cleft = cpg - 1;
                if (c + (size_t)cpg < nch) {
                    n0 = GQ4_TABLE(mp, 0);
                    n1 = GQ4_TABLE(mp, 1);
                    n2 = GQ4_TABLE(mp, 2);
                    n3 = GQ4_TABLE(mp, 3);
                    mp += 8;
                }
            }
#define STEP(k, P, i0, i1, i2, i3)                                                              \
            {                                                                                   \
                if (VPG == 0) {                                                                 \
                    GQ4_GROUP_STEP();                                                           \
                } else if (VPG < 8 && (k) % (VPG ? VPG : 1) == 0) {                             \
                    GQ4_TABLES(mp);                                                             \
                    mp += 8;                                                                    \
                }                                                                               \
                __m512 xv = _mm512_loadu_ps(xc + 16 * (k));                                     \
                __asm__("" : "+v"(xv)); /* one load for the 4 rows, not 4 folded ones */         \
                a0##P = _mm512_fmadd_ps(xv, _mm512_permutexvar_ps(i0, t0), a0##P);              \
                a1##P = _mm512_fmadd_ps(xv, _mm512_permutexvar_ps(i1, t1), a1##P);              \
                a2##P = _mm512_fmadd_ps(xv, _mm512_permutexvar_ps(i2, t2), a2##P);              \
                a3##P = _mm512_fmadd_ps(xv, _mm512_permutexvar_ps(i3, t3), a3##P);              \
            }
            STEP(0, e, c0, c1, c2, c3)
            STEP(1, o, SRLW(c0, 4), SRLW(c1, 4), SRLW(c2, 4), SRLW(c3, 4))
            STEP(2, e, SRLW(c0, 8), SRLW(c1, 8), SRLW(c2, 8), SRLW(c3, 8))
            STEP(3, o, SRLW(c0, 12), SRLW(c1, 12), SRLW(c2, 12), SRLW(c3, 12))
            c0 = _mm512_srli_epi32(c0, 16);
            c1 = _mm512_srli_epi32(c1, 16);
            c2 = _mm512_srli_epi32(c2, 16);
            c3 = _mm512_srli_epi32(c3, 16);
            STEP(4, e, c0, c1, c2, c3)
            STEP(5, o, SRLW(c0, 4), SRLW(c1, 4), SRLW(c2, 4), SRLW(c3, 4))
            STEP(6, e, SRLW(c0, 8), SRLW(c1, 8), SRLW(c2, 8), SRLW(c3, 8))
            STEP(7, o, SRLW(c0, 12), SRLW(c1, 12), SRLW(c2, 12), SRLW(c3, 12))
#undef STEP
        }
        y[o] = finish(a0e, a0o, bias, o);
        if (o + 1 < o1) y[o + 1] = finish(a1e, a1o, bias, o + 1);
        if (o + 2 < o1) y[o + 2] = finish(a2e, a2o, bias, o + 2);
        if (o + 3 < o1) y[o + 3] = finish(a3e, a3o, bias, o + 3);
    }
}

static void gemv4(const float *xp, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    int gv = w->gq.group / 16; /* vectors per group */
    if (gv % 8 == 0) gemv4_t(8, xp, w, bias, y, o0, o1);
    else if (gv == 4) gemv4_t(4, xp, w, bias, y, o0, o1);
    else if (gv == 2) gemv4_t(2, xp, w, bias, y, o0, o1);
    else if (gv == 1) gemv4_t(1, xp, w, bias, y, o0, o1);
    else gemv4_t(0, xp, w, bias, y, o0, o1);
}

/* Rows o..o+3 (one row group) dequantised into wd[4][kp], with the GEMV's tables. */
static void dequant4(const hk_weight *w, int o, float *wd)
{
    size_t kp = hk_gq_kp(w->cols), nch = kp / HK_GQ_CHUNK, ng = hk_gq_meta_groups(w->cols, w->gq.group);
    const int gv = w->gq.group / 16;
    const uint8_t *cp = (const uint8_t *)w->data + (size_t)(o >> 2) * nch * 256;
    const float *mp = hk_gq_meta(w) + (size_t)(o >> 2) * ng * 8;
    const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512 t0 = _mm512_setzero_ps(), t1 = t0, t2 = t0, t3 = t0;
    int left = 0;
    for (size_t c = 0; c < nch; c++, cp += 256) {
        float *d = wd + c * HK_GQ_CHUNK;
        __m512i c0 = _mm512_load_si512(cp), c1 = _mm512_load_si512(cp + 64);
        __m512i c2 = _mm512_load_si512(cp + 128), c3 = _mm512_load_si512(cp + 192);
#define STEP(k, i0, i1, i2, i3)                                                                 \
        {                                                                                       \
            GQ4_GROUP_STEP();                                                                   \
            _mm512_store_ps(d + 16 * (k), _mm512_permutexvar_ps(i0, t0));                       \
            _mm512_store_ps(d + kp + 16 * (k), _mm512_permutexvar_ps(i1, t1));                  \
            _mm512_store_ps(d + 2 * kp + 16 * (k), _mm512_permutexvar_ps(i2, t2));              \
            _mm512_store_ps(d + 3 * kp + 16 * (k), _mm512_permutexvar_ps(i3, t3));              \
        }
        STEP(0, c0, c1, c2, c3)
        STEP(1, SRLW(c0, 4), SRLW(c1, 4), SRLW(c2, 4), SRLW(c3, 4))
        STEP(2, SRLW(c0, 8), SRLW(c1, 8), SRLW(c2, 8), SRLW(c3, 8))
        STEP(3, SRLW(c0, 12), SRLW(c1, 12), SRLW(c2, 12), SRLW(c3, 12))
        c0 = _mm512_srli_epi32(c0, 16);
        c1 = _mm512_srli_epi32(c1, 16);
        c2 = _mm512_srli_epi32(c2, 16);
        c3 = _mm512_srli_epi32(c3, 16);
        STEP(4, c0, c1, c2, c3)
        STEP(5, SRLW(c0, 4), SRLW(c1, 4), SRLW(c2, 4), SRLW(c3, 4))
        STEP(6, SRLW(c0, 8), SRLW(c1, 8), SRLW(c2, 8), SRLW(c3, 8))
        STEP(7, SRLW(c0, 12), SRLW(c1, 12), SRLW(c2, 12), SRLW(c3, 12))
#undef STEP
    }
}

/* ---- int8 ---------------------------------------------------------------- */

/* The 4 rows' scale and zero * scale (exact) for the scale group whose meta is at m. */
#define GQ8_GROUP_STEP()                                                                        \
    do {                                                                                        \
        if (left == 0) {                                                                        \
            s0 = _mm512_set1_ps(mp[0]); z0 = _mm512_mul_ps(s0, _mm512_set1_ps(mp[1]));          \
            s1 = _mm512_set1_ps(mp[2]); z1 = _mm512_mul_ps(s1, _mm512_set1_ps(mp[3]));          \
            s2 = _mm512_set1_ps(mp[4]); z2 = _mm512_mul_ps(s2, _mm512_set1_ps(mp[5]));          \
            s3 = _mm512_set1_ps(mp[6]); z3 = _mm512_mul_ps(s3, _mm512_set1_ps(mp[7]));          \
            mp += 8;                                                                            \
            left = gv;                                                                          \
        }                                                                                       \
        left--;                                                                                 \
    } while (0)

/* 16 codes at p as f32, dequantised with (s, z): code*scale - zero*scale. */
#define GQ8_W(p, s, z) \
    _mm512_fmsub_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_load_si128((const __m128i *)(p)))), s, z)

static void gemv8(const float *xp, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    size_t nch = hk_gq_kp(w->cols) / HK_GQ_CHUNK, ng = hk_gq_meta_groups(w->cols, w->gq.group);
    const int gv = w->gq.group / 16;
    const uint8_t *codes = (const uint8_t *)w->data;
    const float *meta = hk_gq_meta(w);
    for (int o = o0; o < o1; o += 4) {
        const uint8_t *cp = codes + (size_t)(o >> 2) * nch * 512;
        const float *mp = meta + (size_t)(o >> 2) * ng * 8;
        __m512 a0e = _mm512_setzero_ps(), a0o = a0e, a1e = a0e, a1o = a0e, a2e = a0e, a2o = a0e, a3e = a0e,
               a3o = a0e, s0 = a0e, s1 = a0e, s2 = a0e, s3 = a0e, z0 = a0e, z1 = a0e, z2 = a0e, z3 = a0e;
        int left = 0;
        if (o + 4 < o1) prefetch_meta(mp + ng * 8, ng);
        for (size_t c = 0; c < nch; c++, cp += 512) {
            const float *xc = xp + c * HK_GQ_CHUNK;
#define STEP(k, P)                                                                              \
            {                                                                                   \
                GQ8_GROUP_STEP();                                                               \
                __m512 xv = _mm512_loadu_ps(xc + 16 * (k));                                     \
                __asm__("" : "+v"(xv));                                                         \
                a0##P = _mm512_fmadd_ps(xv, GQ8_W(cp + 16 * (k), s0, z0), a0##P);               \
                a1##P = _mm512_fmadd_ps(xv, GQ8_W(cp + 128 + 16 * (k), s1, z1), a1##P);         \
                a2##P = _mm512_fmadd_ps(xv, GQ8_W(cp + 256 + 16 * (k), s2, z2), a2##P);         \
                a3##P = _mm512_fmadd_ps(xv, GQ8_W(cp + 384 + 16 * (k), s3, z3), a3##P);         \
            }
            STEP(0, e) STEP(1, o) STEP(2, e) STEP(3, o) STEP(4, e) STEP(5, o) STEP(6, e) STEP(7, o)
#undef STEP
        }
        y[o] = finish(a0e, a0o, bias, o);
        if (o + 1 < o1) y[o + 1] = finish(a1e, a1o, bias, o + 1);
        if (o + 2 < o1) y[o + 2] = finish(a2e, a2o, bias, o + 2);
        if (o + 3 < o1) y[o + 3] = finish(a3e, a3o, bias, o + 3);
    }
}

static void dequant8(const hk_weight *w, int o, float *wd)
{
    size_t kp = hk_gq_kp(w->cols), nch = kp / HK_GQ_CHUNK, ng = hk_gq_meta_groups(w->cols, w->gq.group);
    const int gv = w->gq.group / 16;
    const uint8_t *cp = (const uint8_t *)w->data + (size_t)(o >> 2) * nch * 512;
    const float *mp = hk_gq_meta(w) + (size_t)(o >> 2) * ng * 8;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, z0 = s0, z1 = s0, z2 = s0, z3 = s0;
    int left = 0;
    for (size_t c = 0; c < nch; c++, cp += 512) {
        float *d = wd + c * HK_GQ_CHUNK;
        _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {
            GQ8_GROUP_STEP();
            _mm512_store_ps(d + 16 * k, GQ8_W(cp + 16 * k, s0, z0));
            _mm512_store_ps(d + kp + 16 * k, GQ8_W(cp + 128 + 16 * k, s1, z1));
            _mm512_store_ps(d + 2 * kp + 16 * k, GQ8_W(cp + 256 + 16 * k, s2, z2));
            _mm512_store_ps(d + 3 * kp + 16 * k, GQ8_W(cp + 384 + 16 * k, s3, z3));
        }
    }
}

/* ---- entry points -------------------------------------------------------- */

void hk_gq_gemv_avx512(const float *x, int n, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    size_t kp = hk_gq_kp(w->cols), rows = (size_t)w->rows;
    _Alignas(64) float stackbuf[XSTACK];
    float *buf = kp <= XSTACK ? stackbuf : alloc64(kp * sizeof(float));
    if (!buf) { /* no memory for the gathered x: the reference */
        hk_ref_gq_matmul_rows(x, n, w, bias, y, o0, o1);
        return;
    }
    for (int i = 0; i < n; i++) {
        const float *xp = layout_x(w, x + (size_t)i * (size_t)w->cols, buf);
        if (w->gq.bits == 4) gemv4(xp, w, bias, y + (size_t)i * rows, o0, o1);
        else gemv8(xp, w, bias, y + (size_t)i * rows, o0, o1);
    }
    if (buf != stackbuf) free(buf);
}

/*
 * MR rows of x (xr[0..MR)) against 4 dequantised rows (wd, row stride kp)
 * over channels [k0, k1), continuing the even/odd accumulators kept in acc
 * ([MR][4][2] vectors; zeroed by the caller before the first range). The
 * sums run vector by vector as the GEMV's do; only where they wait between
 * ranges differs (memory instead of registers), which changes no bit.
 */
static inline __attribute__((always_inline)) void tile(int MR, const float *const *xr, const float *wd,
                                                       size_t kp, size_t k0, size_t k1, __m512 *acc)
{
    __m512 e[3][4], d[3][4];
    _Pragma("GCC unroll 3") for (int i = 0; i < MR; i++)
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
            e[i][j] = acc[(i * 4 + j) * 2];
            d[i][j] = acc[(i * 4 + j) * 2 + 1];
        }
    /* each x and w vector loaded once into a register (the empty asm keeps the
     * compiler from folding a load into every FMA that uses it) */
    for (size_t v = k0; v < k1; v += 32) {
        __m512 xv[3];
        _Pragma("GCC unroll 3") for (int i = 0; i < MR; i++) {
            xv[i] = _mm512_loadu_ps(xr[i] + v);
            __asm__("" : "+v"(xv[i]));
        }
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
            __m512 w0 = _mm512_load_ps(wd + (size_t)j * kp + v);
            __asm__("" : "+v"(w0));
            _Pragma("GCC unroll 3") for (int i = 0; i < MR; i++) e[i][j] = _mm512_fmadd_ps(xv[i], w0, e[i][j]);
        }
        _Pragma("GCC unroll 3") for (int i = 0; i < MR; i++) {
            xv[i] = _mm512_loadu_ps(xr[i] + v + 16);
            __asm__("" : "+v"(xv[i]));
        }
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
            __m512 w1 = _mm512_load_ps(wd + (size_t)j * kp + v + 16);
            __asm__("" : "+v"(w1));
            _Pragma("GCC unroll 3") for (int i = 0; i < MR; i++) d[i][j] = _mm512_fmadd_ps(xv[i], w1, d[i][j]);
        }
    }
    _Pragma("GCC unroll 3") for (int i = 0; i < MR; i++)
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
            acc[(i * 4 + j) * 2] = e[i][j];
            acc[(i * 4 + j) * 2 + 1] = d[i][j];
        }
}

/* Dequantised rows per block: about 256 KiB of f32 (stays in L2), whole row groups. */
static int block_rows(size_t kp, int span)
{
    size_t r = ((size_t)256 << 10) / (kp * sizeof(float));
    r &= ~(size_t)3;
    if (r < 4) r = 4;
    if (r > 64) r = 64;
    size_t s = ((size_t)span + 3) & ~(size_t)3;
    return (int)(r < s ? r : s);
}

/* Channels per pass over a block: the x tile and each 4-row slice of it stay in L1. */
#define GEMM_KC 512

/*
 * For each block of rows (dequantised once), each tile of 3 x rows walks
 * the channels in passes of GEMM_KC over every 4-row slice of the block,
 * the tiles' accumulators waiting in acc between passes.
 */
void hk_gq_gemm_avx512(const float *x, int n, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    size_t kp = hk_gq_kp(w->cols), cols = (size_t)w->cols, rows = (size_t)w->rows;
    int nb = block_rows(kp, o1 - o0);
    int direct = !w->gq.permuted && kp == cols; /* x rows used in place, else gathered once */
    float *wd = alloc64((size_t)nb * kp * sizeof(float));
    float *xt = direct ? NULL : alloc64((size_t)n * kp * sizeof(float));
    __m512 *acc = alloc64((size_t)(nb / 4) * 24 * sizeof(__m512));
    if (!wd || (!direct && !xt) || !acc) {
        free(wd);
        free(xt);
        free(acc);
        hk_gq_gemv_avx512(x, n, w, bias, y, o0, o1);
        return;
    }
    for (int i = 0; !direct && i < n; i++) layout_x(w, x + (size_t)i * cols, xt + (size_t)i * kp);
    for (int ob = o0; ob < o1; ob += nb) {
        int nrow = o1 - ob < nb ? o1 - ob : nb, nslice = (nrow + 3) / 4;
        for (int r = 0; r < nrow; r += 4) {
            if (w->gq.bits == 4) dequant4(w, ob + r, wd + (size_t)r * kp);
            else dequant8(w, ob + r, wd + (size_t)r * kp);
        }
        for (int i = 0; i < n; i += 3) {
            int mr = n - i < 3 ? n - i : 3;
            const float *xr[3];
            for (int a = 0; a < mr; a++) xr[a] = direct ? x + (size_t)(i + a) * cols : xt + (size_t)(i + a) * kp;
            for (size_t a = 0; a < (size_t)nslice * 24; a++) acc[a] = _mm512_setzero_ps();
            for (size_t k0 = 0; k0 < kp; k0 += GEMM_KC) {
                size_t k1 = k0 + GEMM_KC < kp ? k0 + GEMM_KC : kp;
                for (int sl = 0; sl < nslice; sl++) {
                    const float *wr = wd + (size_t)sl * 4 * kp;
                    __m512 *as = acc + (size_t)sl * 24;
                    if (mr == 3) tile(3, xr, wr, kp, k0, k1, as);
                    else if (mr == 2) tile(2, xr, wr, kp, k0, k1, as);
                    else tile(1, xr, wr, kp, k0, k1, as);
                }
            }
            for (int sl = 0; sl < nslice; sl++)
                for (int a = 0; a < mr; a++)
                    for (int j = 0; j < 4 && sl * 4 + j < nrow; j++) {
                        int o = ob + sl * 4 + j;
                        const __m512 *as = acc + (size_t)sl * 24 + (size_t)(a * 4 + j) * 2;
                        y[(size_t)(i + a) * rows + (size_t)o] = finish(as[0], as[1], bias, o);
                    }
        }
    }
    free(wd);
    free(xt);
    free(acc);
}

void hk_gq_rows_avx512(const float *x, int n, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    if (n < HK_GQ_GEMM_MIN_ROWS) hk_gq_gemv_avx512(x, n, w, bias, y, o0, o1);
    else hk_gq_gemm_avx512(x, n, w, bias, y, o0, o1);
}
