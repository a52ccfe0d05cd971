/*
 * kernels/kernels.c — the public hk_* entry points: ISA choice (once, from
 * CPUID and HUBRT_ISA), weight views/repacking/quantisation, and the team
 * split of every kernel (see "team-callable" in kernels.h).
 *
 * Each entry point takes the calling thread's share of the work with
 * hk_team_range() (all of it outside a parallel region), runs the fast path
 * of the chosen ISA (or the scalar reference) on it, and ends with an
 * `omp barrier` (a no-op outside a region) so the next kernel sees the
 * whole result.
 */
#include <math.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "kernels/ref.h"
#include "kernels/gq.h"

/* ---------------- ISA choice ---------------- */

static int g_isa = -1;      /* the level in use; -1 until first asked */
static int g_isa_max = -1;  /* what the CPU supports */

static int cpu_level(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("f16c"))
        return HK_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("f16c"))
        return HK_ISA_AVX2;
    return HK_ISA_SCALAR;
}

static int isa_from_name(const char *s)
{
    if (!s) return -1;
    if (!strcmp(s, "scalar")) return HK_ISA_SCALAR;
    if (!strcmp(s, "avx2")) return HK_ISA_AVX2;
    if (!strcmp(s, "avx512")) return HK_ISA_AVX512;
    return -1;
}

/* Several threads may race here on first use; they all compute the same value. */
int hk_isa_level(void)
{
    int l = __atomic_load_n(&g_isa, __ATOMIC_ACQUIRE);
    if (l >= 0) return l;
    int max = cpu_level();
    __atomic_store_n(&g_isa_max, max, __ATOMIC_RELEASE);
    l = isa_from_name(getenv("HUBRT_ISA"));
    if (l < 0 || l > max) l = max; /* unknown or unsupported: the best we have */
    __atomic_store_n(&g_isa, l, __ATOMIC_RELEASE);
    return l;
}

int hk_cpu_has_vnni(void)
{
    __builtin_cpu_init();
    return hk_isa_level() >= HK_ISA_AVX512 && __builtin_cpu_supports("avx512vnni");
}

const char *hk_isa_name(void)
{
    static const char *names[] = {"scalar", "avx2", "avx512"};
    return names[hk_isa_level()];
}

int hk_set_isa(const char *name)
{
    hk_isa_level();
    int l = isa_from_name(name);
    if (l < 0 || l > g_isa_max) return -1;
    __atomic_store_n(&g_isa, l, __ATOMIC_RELEASE);
    return 0;
}

/* ---------------- conversions ---------------- */

uint16_t hk_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

uint16_t hk_f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);       /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);      /* overflow -> inf */
    if (a < 0x38800000u) {                                         /* subnormal or zero */
        if (a < 0x33000000u) return (uint16_t)sign;
        uint32_t man = (a & 0x7fffffu) | 0x800000u;
        int shift = 113 - (int)(a >> 23) + 13;                       /* 14..24 */
        uint32_t r = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((a >> 13) - (112u << 10)), rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1))) r++;
    return (uint16_t)(sign | r);
}

/* ---------------- weights ---------------- */

void hk_weight_view(hk_weight *w, hk_wtype type, int rows, int cols, const void *data)
{
    memset(w, 0, sizeof *w);
    w->type = type;
    w->rows = rows;
    w->cols = cols;
    w->data = data;
}

/*
 * 64-byte aligned memory; big blocks (repacked/quantised weights) 2 MiB
 * aligned with transparent huge pages asked for: the GEMV streams them, and
 * hardware prefetchers stop at page boundaries (4 KiB pages cut a sequential
 * stream every 4 KiB and cost TLB misses).
 */
static void *alloc64(size_t n)
{
    void *p = NULL;
    size_t align = n >= ((size_t)4 << 20) ? ((size_t)2 << 20) : 64;
    if (posix_memalign(&p, align, n ? n : 64) != 0) return NULL;
    if (align > 64) madvise(p, (n + align - 1) & ~(align - 1), MADV_HUGEPAGE);
    return p;
}

size_t hk_weight_repack_size(const hk_weight *w)
{
    if ((w->type != HK_F32 && w->type != HK_F16 && w->type != HK_BF16) || w->interleaved) return 0;
    size_t rl = hk_runlen(w->type), nrun = ((size_t)w->cols + rl - 1) / rl;
    return ((size_t)(w->rows + 3) & ~(size_t)3) * nrun * rl * hk_wtype_size(w->type);
}

int hk_weight_repack_into(hk_weight *dst, const hk_weight *w, void *memv)
{
    hk_weight src = *w; /* dst may be w */
    size_t total = hk_weight_repack_size(&src);
    if (!total)
        return -1;
    char *mem = memv;
    size_t es = hk_wtype_size(src.type), rl = hk_runlen(src.type);
    size_t rows = (size_t)src.rows, cols = (size_t)src.cols, nrun = (cols + rl - 1) / rl;
    memset(mem, 0, total); /* padding rows and columns */
    hk_weight lay = src;
    lay.interleaved = 1;
#pragma omp parallel for schedule(static)
    for (long ol = 0; ol < (long)rows; ol++) {
        const char *row = (const char *)src.data + (size_t)ol * cols * es;
        for (size_t r = 0; r < nrun; r++) {
            size_t j0 = r * rl, n = cols - j0 < rl ? cols - j0 : rl;
            memcpy(mem + hk_ilv_idx(&lay, (int)ol, j0) * es, row + j0 * es, n * es);
        }
    }
    memset(dst, 0, sizeof *dst);
    dst->type = src.type;
    dst->rows = src.rows;
    dst->cols = src.cols;
    dst->data = mem;
    dst->interleaved = 1;
    return 0;
}

int hk_weight_repack(hk_weight *dst, const hk_weight *w)
{
    size_t total = hk_weight_repack_size(w);
    if (!total)
        return -1;
    char *mem = alloc64(total);
    if (!mem)
        return -1;
    if (hk_weight_repack_into(dst, w, mem) != 0) {
        free(mem);
        return -1;
    }
    dst->owned = mem;
    dst->owned_size = total;
    return 0;
}

/* Bytes of a quantised copy: blocks (rows padded to 4, blocks to whole runs), then scales. */
static size_t quant_sizes(const hk_weight *src, hk_wtype qtype, size_t *qbytes)
{
    size_t rows = (size_t)src->rows, nb = (size_t)hk_qblocks(src->cols);
    size_t bpg = (size_t)hk_qbpg(qtype), nblk = ((rows + 3) & ~(size_t)3) * ((nb + bpg - 1) / bpg * bpg);
    *qbytes = (nblk * (qtype == HK_Q8 ? HK_QBLOCK : HK_QBLOCK / 2) + 63) & ~(size_t)63;
    return *qbytes + nblk * sizeof(float);
}

/* Bytes a quantised copy of src takes, or 0 when the types do not fit. */
static size_t quantize_size(const hk_weight *src, hk_wtype qtype)
{
    if ((qtype != HK_Q8 && qtype != HK_Q4) ||
        (src->type != HK_F32 && src->type != HK_F16 && src->type != HK_BF16))
        return 0;
    size_t qbytes;
    return quant_sizes(src, qtype, &qbytes);
}

/* The quantised copy in mem (quantize_size bytes, 64-byte aligned). */
static int quantize_into(hk_weight *dst, const hk_weight *srcw, hk_wtype qtype, void *memv)
{
    hk_weight srcv = *srcw; /* dst may be src */
    const hk_weight *src = &srcv;
    if (!quantize_size(src, qtype))
        return -1;
    size_t rows = (size_t)src->rows, cols = (size_t)src->cols, nb = (size_t)hk_qblocks(src->cols), qbytes;
    size_t total = quant_sizes(src, qtype, &qbytes);
    char *mem = memv;
    memset(mem, 0, total); /* the padding: zero blocks with scale 0 */
    float *scales = (float *)(mem + qbytes);
    hk_weight lay; /* for hk_qidx while filling */
    memset(&lay, 0, sizeof lay);
    lay.type = qtype;
    lay.rows = src->rows;
    lay.cols = src->cols;
    size_t es = hk_wtype_size(src->type);
    /* rows in parallel (this runs once, at load); each block of 32 widened first */
#pragma omp parallel for schedule(static)
    for (long ol = 0; ol < (long)rows; ol++) {
        size_t o = (size_t)ol;
        const char *row = (const char *)src->data + o * cols * es;
        for (size_t b = 0; b < nb; b++) {
            float v[HK_QBLOCK], amax = 0, vmax = 0;
            size_t c0 = b * HK_QBLOCK, cn = cols - c0 < HK_QBLOCK ? cols - c0 : HK_QBLOCK;
            if (src->interleaved) {
                for (size_t e = 0; e < cn; e++) v[e] = hk_w_elem(src, (int)o, c0 + e);
            } else if (src->type == HK_F32) {
                memcpy(v, (const float *)row + c0, cn * sizeof(float));
            } else {
                const uint16_t *h = (const uint16_t *)row + c0;
                if (src->type == HK_BF16)
                    for (size_t e = 0; e < cn; e++) v[e] = hk_bf16_to_f32(h[e]);
                else
                    for (size_t e = 0; e < cn; e++) v[e] = hk_f16_to_f32(h[e]);
            }
            for (size_t e = cn; e < HK_QBLOCK; e++) v[e] = 0.0f;
            for (int e = 0; e < HK_QBLOCK; e++)
                if (fabsf(v[e]) > amax) { amax = fabsf(v[e]); vmax = v[e]; }
            size_t qi = hk_qidx(&lay, (int)o, (int)b);
            if (qtype == HK_Q8) {
                float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
                int8_t *q = (int8_t *)mem + qi * HK_QBLOCK;
                for (int e = 0; e < HK_QBLOCK; e++) {
                    int t = (int)lrintf(v[e] * id);
                    q[e] = (int8_t)(t > 127 ? 127 : t < -127 ? -127 : t);
                }
                scales[qi] = d;
            } else { /* the largest magnitude maps to -8 exactly (as ggml's Q4_0) */
                float d = vmax / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
                uint8_t *q = (uint8_t *)mem + qi * (HK_QBLOCK / 2);
                for (int e = 0; e < 16; e++) {
                    int lo = (int)lrintf(v[e] * id) + 8, hi = (int)lrintf(v[e + 16] * id) + 8;
                    lo = lo < 0 ? 0 : lo > 15 ? 15 : lo;
                    hi = hi < 0 ? 0 : hi > 15 ? 15 : hi;
                    q[e] = (uint8_t)(lo | (hi << 4));
                }
                scales[qi] = d;
            }
        }
    }
    memset(dst, 0, sizeof *dst);
    dst->type = qtype;
    dst->rows = src->rows;
    dst->cols = src->cols;
    dst->data = mem;
    dst->scales = scales;
    return 0;
}

int hk_weight_quantize(hk_weight *dst, const hk_weight *src, hk_wtype qtype)
{
    size_t total = quantize_size(src, qtype);
    if (!total)
        return -1;
    char *mem = alloc64(total);
    if (!mem)
        return -1;
    if (quantize_into(dst, src, qtype, mem) != 0) {
        free(mem);
        return -1;
    }
    dst->owned = mem;
    dst->owned_size = total;
    return 0;
}

void hk_weight_free(hk_weight *w)
{
    if (!w) return;
    free(w->owned);
    memset(w, 0, sizeof *w);
}

/* ---------------- matmul ---------------- */

/*
 * Batch invariance (kernels.h): every path computes output row i from row i
 * of x alone, by arithmetic that does not depend on n, on the team or on
 * the slice of W rows a thread gets. AVX-512 runs tiles of rows through its
 * GEMV's arithmetic (gemv_avx512.c, qgemv_avx512.c); AVX2 and the scalar
 * reference go row by row over blocks of W rows that stay in cache.
 */

/* W rows per block for the row-by-row paths: about 256 KiB, whole groups of 4. */
static int block_rows(const hk_weight *w)
{
    size_t row = w->type == HK_Q8 || w->type == HK_Q4 ? (size_t)hk_qblocks(w->cols) * 36
                                                      : (size_t)w->cols * hk_wtype_size(w->type);
    size_t r = (((size_t)256 << 10) / (row ? row : 1)) & ~(size_t)3;
    return r < 4 ? 4 : r > (1u << 20) ? 1 << 20 : (int)r;
}

/* Carves the hk_qact arrays out of buf (hk_qact_bytes(cols) bytes, 64-aligned). */
static void qact_carve(hk_qact *xa, unsigned char *buf, int cols)
{
    size_t nb2 = (size_t)((hk_qblocks(cols) + 3) & ~3), off = 0; /* rounded up to 4 */
#define CARVE(field, type, count)                         \
    xa->field = (type *)(buf + off);                      \
    off += ((count) * sizeof(type) + 63) & ~(size_t)63;
    CARVE(q, int8_t, nb2 * 32)
    CARVE(qp, int8_t, nb2 * 32)
    CARVE(d, float, nb2)
    CARVE(sum, int32_t, nb2)
    CARVE(cx, float, nb2)
    CARVE(dxe, float, nb2 * 8)
    CARVE(cxe, float, nb2 * 8)
#undef CARVE
}

/* Quantised rows [0, n) against W rows [o0, o1), their activations already quantised. */
static void qmatmul_prepared(const hk_qact *const *xa, int n, const hk_weight *w, const float *bias, float *y,
                             int o0, int o1, int vnni)
{
    if (vnni) {
        hk_qgemv_rows_vnni(xa, n, w, bias, y, o0, o1);
        return;
    }
    int ob_rows = block_rows(w);
    for (int ob = o0; ob < o1; ob += ob_rows) {
        int oe = o1 - ob < ob_rows ? o1 : ob + ob_rows;
        for (int i = 0; i < n; i++) hk_ref_qgemv(xa[i], w, bias, y + (size_t)i * (size_t)w->rows, ob, oe);
    }
}

/*
 * Quantised matmul: int8 activations against the int8/int4 blocks. Each
 * thread quantises every row itself (cols work per row, small next to the
 * dots), so no shared scratch or extra barrier is needed.
 */
static void qmatmul(const float *x, int n, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    size_t bytes = hk_qact_bytes(w->cols), K = (size_t)w->cols;
    int vnni = hk_cpu_has_vnni();
    _Alignas(64) unsigned char stackbuf[32768];
    hk_qact stack_xa[4];
    const hk_qact *stack_ptr[4];
    size_t need = (size_t)n * (bytes + sizeof(hk_qact) + sizeof(hk_qact *));
    unsigned char *buf = need <= sizeof stackbuf && n <= 4 ? stackbuf : alloc64(need);
    if (!buf) { /* no memory for every row: one at a time (the same arithmetic) */
        for (int i = 0; i < n; i++) {
            unsigned char *one = bytes <= sizeof stackbuf ? stackbuf : NULL;
            if (!one) {
                hk_ref_matmul_rows(x + (size_t)i * K, 1, w, bias, y + (size_t)i * (size_t)w->rows, o0, o1);
                continue;
            }
            qact_carve(&stack_xa[0], one, w->cols);
            hk_quantize_act_ref(x + (size_t)i * K, w->cols, &stack_xa[0]);
            if (vnni) hk_qact_prepare_avx512(&stack_xa[0], w->type);
            stack_ptr[0] = &stack_xa[0];
            qmatmul_prepared(stack_ptr, 1, w, bias, y + (size_t)i * (size_t)w->rows, o0, o1, vnni);
        }
        return;
    }
    hk_qact *xa = buf == stackbuf ? stack_xa : (hk_qact *)(buf + (size_t)n * bytes);
    const hk_qact **ptr = buf == stackbuf ? stack_ptr : (const hk_qact **)(xa + n);
    for (int i = 0; i < n; i++) {
        qact_carve(&xa[i], buf + (size_t)i * bytes, w->cols);
        hk_quantize_act_ref(x + (size_t)i * K, w->cols, &xa[i]);
        if (vnni) hk_qact_prepare_avx512(&xa[i], w->type);
        ptr[i] = &xa[i];
    }
    qmatmul_prepared(ptr, n, w, bias, y, o0, o1, vnni);
    if (buf != stackbuf) free(buf);
}

/* f32/f16/bf16 weights, W rows [o0, o1) of every row. */
static void fmatmul(const float *x, int n, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    int l = hk_isa_level();
    if (l >= HK_ISA_AVX512) {
        hk_gemv_rows_avx512(x, n, w, bias, y, o0, o1);
        return;
    }
    int ob_rows = block_rows(w);
    for (int ob = o0; ob < o1; ob += ob_rows) {
        int oe = o1 - ob < ob_rows ? o1 : ob + ob_rows;
        if (l < HK_ISA_AVX2) {
            hk_ref_matmul_rows(x, n, w, bias, y, ob, oe);
            continue;
        }
        for (int i = 0; i < n; i++)
            (w->interleaved ? hk_gemv_ilv_avx2 : hk_gemv_avx2)(x + (size_t)i * (size_t)w->cols, w, bias,
                                                               y + (size_t)i * (size_t)w->rows, ob, oe);
    }
}

void hk_matmul(const float *x, int n, const hk_weight *w, const float *bias, float *y)
{
    if (hk_is_gq(w)) { /* pre-quantised hub checkpoints: kernels/gq.c */
        hk_gq_matmul(x, n, w, bias, y);
        return;
    }
    size_t lo, hi;
    hk_team_range((size_t)w->rows, 16, &lo, &hi); /* whole groups of 4 W rows per thread */
    if (lo < hi) {
        if (w->type == HK_Q8 || w->type == HK_Q4) qmatmul(x, n, w, bias, y, (int)lo, (int)hi);
        else fmatmul(x, n, w, bias, y, (int)lo, (int)hi);
    }
#pragma omp barrier
}

/* ---------------- attention ---------------- */

/*
 * Decode with fewer work units (tiles) than 2x the team: flash-decoding.
 * Each thread runs every head over its own slice of the visible keys into
 * partials on its own stack (m, l, acc per head), publishes a pointer to
 * them through a slot array on one thread's stack (broadcast with
 * copyprivate, so concurrent teams never share anything), and after a
 * barrier each thread combines a share of the heads. Only for long enough
 * key ranges: below ~SPLIT_MIN_KEYS per thread the extra barrier and the
 * K re-transposes of short slices cost more than the idle thread.
 */
#define SPLIT_MAX_THREADS 64
#define SPLIT_PART_FLOATS 8448 /* n_heads * (head_dim + 2) limit: 33 KiB of stack */
#define SPLIT_MIN_KEYS 128

/* Whether hk_attention splits p's keys among a team of nt (given its tile count). */
static int split_decode_applies(const hk_attn_params *p, int nt, size_t tiles)
{
    if (!tiles || p->n_q != 1 || nt < 2 || nt > SPLIT_MAX_THREADS || tiles >= 2 * (size_t)nt) return 0;
    if ((size_t)p->n_heads * (size_t)(p->head_dim + 2) > SPLIT_PART_FLOATS) return 0;
    int qp = p->q_pos0, jhi = p->n_kv, jlo = 0;
    if (p->causal && qp + 1 < jhi) jhi = qp + 1;
    if (p->window > 0 && qp - p->window + 1 > jlo) jlo = qp - p->window + 1;
    return jhi - jlo >= SPLIT_MIN_KEYS * nt;
}

/* The split: every thread of the team, which split_decode_applies() chose. */
static void attention_split_decode(const float *q, const float *k_cache, const float *v_cache, float *out,
                                   const hk_attn_params *p)
{
    int nt = omp_get_num_threads(), hd = p->head_dim;
    int qp = p->q_pos0, jhi = p->n_kv, jlo = 0;
    if (p->causal && qp + 1 < jhi) jhi = qp + 1;
    if (p->window > 0 && qp - p->window + 1 > jlo) jlo = qp - p->window + 1;
    _Alignas(64) float part[SPLIT_PART_FLOATS];
    float *slots_mine[SPLIT_MAX_THREADS];
    float **slots = NULL;
#pragma omp single copyprivate(slots)
    slots = slots_mine;
    int t = omp_get_thread_num();
    /* key slices in whole 64-key blocks, so block boundaries match the unsplit walk */
    int nb = (jhi - jlo + 63) / 64;
    int b0 = (int)((long)nb * t / nt), b1 = (int)((long)nb * (t + 1) / nt);
    int klo = jlo + 64 * b0, khi = jlo + 64 * b1 < jhi ? jlo + 64 * b1 : jhi;
    hk_attention_split_part_avx512(q, k_cache, v_cache, p, klo, khi, part);
    slots[t] = part;
#pragma omp barrier
    size_t lo, hi;
    hk_team_range((size_t)p->n_heads, 1, &lo, &hi);
    for (size_t h = lo; h < hi; h++) {
        size_t off = h * (size_t)(hd + 2);
        float m = -INFINITY, l = 0;
        for (int u = 0; u < nt; u++)
            if (slots[u][off] > m) m = slots[u][off];
        float *o = out + h * (size_t)hd;
        for (int d = 0; d < hd; d++) o[d] = 0;
        if (m == -INFINITY) continue; /* no visible key at all: zeros */
        for (int u = 0; u < nt; u++) {
            const float *pp = slots[u] + off;
            if (pp[1] <= 0) continue;
            float c = expf(pp[0] - m);
            l += pp[1] * c;
            for (int d = 0; d < hd; d++) o[d] += c * pp[2 + d];
        }
        float il = l > 0 ? 1.0f / l : 0.0f;
        for (int d = 0; d < hd; d++) o[d] *= il;
    }
    /* partials live on every thread's stack until all have combined */
#pragma omp barrier
}

/*
 * How a team of nt runs p: split keys (decode over a long cache, few
 * tiles), tiles of query vectors sharing each K/V block (prefill, or many
 * heads per kv head), or (row, head) items. *units: the tiles or items,
 * each computed the same way by whichever thread gets it.
 */
typedef enum { ATTN_SPLIT, ATTN_TILES, ATTN_ITEMS } attn_mode;
static attn_mode attention_plan(const hk_attn_params *p, int nt, size_t *units)
{
    size_t tiles = hk_isa_level() >= HK_ISA_AVX512 ? hk_attention_tiles_avx512(p) : 0;
    *units = 0;
    if (split_decode_applies(p, nt, tiles)) return ATTN_SPLIT;
    if (tiles >= (size_t)nt && (p->n_q >= 4 || p->n_heads / p->n_kv_heads >= 3)) {
        *units = tiles;
        return ATTN_TILES;
    }
    *units = (size_t)p->n_q * (size_t)p->n_heads;
    return ATTN_ITEMS;
}

/* Units [lo, hi) of a tiles or items plan. */
static void attention_units(attn_mode m, const float *q, const float *k_cache, const float *v_cache, float *out,
                            const hk_attn_params *p, size_t lo, size_t hi)
{
    if (m == ATTN_TILES) hk_attention_tiles_run_avx512(q, k_cache, v_cache, out, p, lo, hi);
    else if (hk_isa_level() >= HK_ISA_AVX512) hk_attention_avx512(q, k_cache, v_cache, out, p, lo, hi);
    else hk_ref_attention_items(q, k_cache, v_cache, out, p, lo, hi);
}

void hk_attention(const float *q, const float *k_cache, const float *v_cache, float *out,
                  const hk_attn_params *p)
{
    size_t units, lo, hi;
    attn_mode m = attention_plan(p, omp_get_num_threads(), &units);
    if (m == ATTN_SPLIT) {
        attention_split_decode(q, k_cache, v_cache, out, p);
        return;
    }
    hk_team_range(units, 1, &lo, &hi);
    if (lo < hi) attention_units(m, q, k_cache, v_cache, out, p, lo, hi);
#pragma omp barrier
}

/*
 * Each sequence planned as hk_attention plans it for this team; the split
 * ones run in turn (they need the whole team), the units of all the others
 * are shared out at once. A unit's result does not depend on the thread,
 * so every sequence gets what hk_attention gives it.
 */
void hk_attention_seqs(const hk_attn_seq *s, int n)
{
    int nt = omp_get_num_threads();
    size_t total = 0, units;
    for (int i = 0; i < n; i++) {
        if (attention_plan(&s[i].p, nt, &units) == ATTN_SPLIT)
            attention_split_decode(s[i].q, s[i].k_cache, s[i].v_cache, s[i].out, &s[i].p);
        total += units;
    }
    size_t lo, hi, off = 0;
    hk_team_range(total, 1, &lo, &hi);
    for (int i = 0; i < n && off < hi; i++, off += units) {
        attn_mode m = attention_plan(&s[i].p, nt, &units);
        size_t a = lo > off ? lo - off : 0, b = hi - off < units ? hi - off : units;
        if (m != ATTN_SPLIT && a < b) attention_units(m, s[i].q, s[i].k_cache, s[i].v_cache, s[i].out, &s[i].p, a, b);
    }
#pragma omp barrier
}

/*
 * Packed sequences. Many small ones: each thread takes whole sequences (a
 * share of the sum of len², the cost) and runs them in a team of one, with
 * one barrier at the end instead of one per sequence. When one sequence
 * costs more than a thread's share, the whole team runs each in turn.
 */
void hk_attention_segments(const float *q, const float *k_cache, const float *v_cache, float *out,
                           const hk_attn_params *p, int n_seg, const int *seg_start)
{
    int T = omp_get_num_threads(), t = omp_get_thread_num();
    size_t qstride = (size_t)p->n_heads * (size_t)p->head_dim;
    double total = 0, big = 0;
    for (int s = 0; s < n_seg; s++) {
        double c = (double)(seg_start[s + 1] - seg_start[s]);
        total += c * c;
        if (c * c > big) big = c * c;
    }
    int split = T > 1 && big * T <= total;
    double acc = 0;
    for (int s = 0; s < n_seg; s++) {
        int s0 = seg_start[s], len = seg_start[s + 1] - s0;
        double c = (double)len * (double)len;
        int mine = (int)((acc + c / 2) / total * T); /* the thread owning this cost midpoint */
        acc += c;
        if (len <= 0 || (split && (mine < T ? mine : T - 1) != t)) continue;
        hk_attn_params ps = *p;
        ps.n_q = ps.n_kv = len;
        ps.q_pos0 = 0;
        ps.key_mask = p->key_mask ? p->key_mask + s0 : NULL;
        size_t ko = (size_t)s0 * (size_t)p->head_dim; /* position s0 of each kv head */
        const float *qs = q + (size_t)s0 * qstride;
        float *os = out + (size_t)s0 * qstride;
        if (split) {
#pragma omp parallel num_threads(1)
            hk_attention(qs, k_cache + ko, v_cache + ko, os, &ps);
        } else {
            hk_attention(qs, k_cache + ko, v_cache + ko, os, &ps);
        }
    }
    if (split) {
#pragma omp barrier
    }
}

/* ---------------- norms, rope ---------------- */

static int use512(void) { return hk_isa_level() >= HK_ISA_AVX512; }

void hk_layernorm(const float *x, int n, int d, const float *w, const float *b, float eps, float *y)
{
    size_t lo, hi;
    hk_team_range((size_t)n, 1, &lo, &hi);
    if (lo < hi)
        (use512() ? hk_layernorm_avx512 : hk_ref_layernorm)(x + lo * (size_t)d, (int)(hi - lo), d, w, b, eps,
                                                           y + lo * (size_t)d);
#pragma omp barrier
}

void hk_rmsnorm(const float *x, int n, int d, const float *w, float eps, float *y)
{
    size_t lo, hi;
    hk_team_range((size_t)n, 1, &lo, &hi);
    if (lo < hi)
        (use512() ? hk_rmsnorm_avx512 : hk_ref_rmsnorm)(x + lo * (size_t)d, (int)(hi - lo), d, w, eps,
                                                       y + lo * (size_t)d);
#pragma omp barrier
}

void hk_add_rmsnorm(float *x, const float *delta, int n, int d, const float *w, float eps, float *y)
{
    size_t lo, hi, o;
    hk_team_range((size_t)n, 1, &lo, &hi);
    o = lo * (size_t)d;
    if (lo < hi) (use512() ? hk_add_rmsnorm_avx512 : hk_ref_add_rmsnorm)(x + o, delta + o, (int)(hi - lo), d, w, eps, y + o);
#pragma omp barrier
}

void hk_add_layernorm(float *x, const float *delta, int n, int d, const float *w, const float *b,
                      float eps, float *y)
{
    size_t lo, hi, o;
    hk_team_range((size_t)n, 1, &lo, &hi);
    o = lo * (size_t)d;
    if (lo < hi)
        (use512() ? hk_add_layernorm_avx512 : hk_ref_add_layernorm)(x + o, delta + o, (int)(hi - lo), d, w, b, eps, y + o);
#pragma omp barrier
}

void hk_rope(float *x, int n, int n_heads, int head_dim, int pos0, const float *inv_freq)
{
    size_t lo, hi;
    hk_team_range((size_t)n, 1, &lo, &hi);
    if (lo < hi)
        (use512() && head_dim <= HK_ROPE_MAX_HEAD_DIM ? hk_rope_avx512 : hk_ref_rope)(
            x + lo * (size_t)n_heads * (size_t)head_dim, (int)(hi - lo), n_heads, head_dim, pos0 + (int)lo, inv_freq);
#pragma omp barrier
}

/* ---------------- KV cache writes ---------------- */

/* By rows: each row's cos/sin are computed once and used by every head. */
void hk_qkv_split(const float *qkv, int n, int n_heads, int n_kv_heads, int head_dim, int pos0,
                  const float *inv_freq, float *q, float *k_cache, float *v_cache, int kv_stride)
{
    size_t lo, hi;
    hk_team_range((size_t)n, 1, &lo, &hi);
    size_t in_row = (size_t)(n_heads + 2 * n_kv_heads) * (size_t)head_dim, q_row = (size_t)n_heads * (size_t)head_dim;
    if (lo < hi)
        (use512() && head_dim <= HK_ROPE_MAX_HEAD_DIM ? hk_qkv_split_avx512 : hk_ref_qkv_split)(
            qkv + lo * in_row, (int)(hi - lo), n_heads, n_kv_heads, head_dim, pos0 + (int)lo, inv_freq,
            q + lo * q_row, k_cache, v_cache, kv_stride);
#pragma omp barrier
}

/* The rows of every sequence shared out at once; each row as hk_qkv_split computes it. */
void hk_qkv_split_seqs(const hk_qkv_seq *s, int n, int n_heads, int n_kv_heads, int head_dim, const float *inv_freq)
{
    size_t total = 0, lo, hi, off = 0;
    for (int i = 0; i < n; i++) total += (size_t)s[i].n;
    hk_team_range(total, 1, &lo, &hi);
    size_t in_row = (size_t)(n_heads + 2 * n_kv_heads) * (size_t)head_dim, q_row = (size_t)n_heads * (size_t)head_dim;
    void (*fn)(const float *, int, int, int, int, int, const float *, float *, float *, float *, int) =
        use512() && head_dim <= HK_ROPE_MAX_HEAD_DIM ? hk_qkv_split_avx512 : hk_ref_qkv_split;
    for (int i = 0; i < n && off < hi; off += (size_t)s[i].n, i++) {
        size_t a = lo > off ? lo - off : 0, b = hi - off < (size_t)s[i].n ? hi - off : (size_t)s[i].n;
        if (a < b)
            fn(s[i].qkv + a * in_row, (int)(b - a), n_heads, n_kv_heads, head_dim, s[i].pos0 + (int)a, inv_freq,
               s[i].q + a * q_row, s[i].k_cache, s[i].v_cache, s[i].kv_stride);
    }
#pragma omp barrier
}

/* By (row, head) items, so that one row (decode) is shared too. */
void hk_kv_store(const float *x, int n, int n_kv_heads, int head_dim, int pos0, float *cache, int kv_stride)
{
    size_t lo, hi, hd = (size_t)head_dim;
    hk_team_range((size_t)n * (size_t)n_kv_heads, 1, &lo, &hi);
    for (size_t it = lo; it < hi; it++) {
        size_t i = it / (size_t)n_kv_heads, h = it % (size_t)n_kv_heads;
        memcpy(cache + (h * (size_t)kv_stride + (size_t)pos0 + i) * hd, x + it * hd, hd * sizeof(float));
    }
#pragma omp barrier
}

/* ---------------- elementwise ---------------- */

/* Elementwise kernels split in 64-float chunks (whole cache lines per thread). */
#define ELEMWISE(name)                                                      \
    void hk_##name(float *x, size_t n)                                      \
    {                                                                       \
        size_t lo, hi;                                                      \
        hk_team_range(n, 64, &lo, &hi);                                     \
        if (lo < hi) (use512() ? hk_##name##_avx512 : hk_ref_##name)(x + lo, hi - lo); \
        _Pragma("omp barrier")                                              \
    }
ELEMWISE(gelu)
ELEMWISE(gelu_tanh)
ELEMWISE(silu)
ELEMWISE(tanh)

void hk_silu_mul(const float *gate, const float *up, float *out, size_t n)
{
    size_t lo, hi;
    hk_team_range(n, 64, &lo, &hi);
    if (lo < hi) (use512() ? hk_silu_mul_avx512 : hk_ref_silu_mul)(gate + lo, up + lo, out + lo, hi - lo);
#pragma omp barrier
}

ELEMWISE(relu)

void hk_add(const float *a, const float *b, float *out, size_t n)
{
    size_t lo, hi;
    hk_team_range(n, 64, &lo, &hi);
    if (lo < hi) (use512() ? hk_add_avx512 : hk_ref_add)(a + lo, b + lo, out + lo, hi - lo);
#pragma omp barrier
}

void hk_mul(const float *a, const float *b, float *out, size_t n)
{
    size_t lo, hi;
    hk_team_range(n, 64, &lo, &hi);
    if (lo < hi) (use512() ? hk_mul_avx512 : hk_ref_mul)(a + lo, b + lo, out + lo, hi - lo);
#pragma omp barrier
}

void hk_copy(const float *src, float *dst, size_t n)
{
    size_t lo, hi;
    hk_team_range(n, 64, &lo, &hi);
    if (lo < hi) memcpy(dst + lo, src + lo, (hi - lo) * sizeof(float));
#pragma omp barrier
}

/* Whole rows per thread. */
void hk_gather_rows(const float *src, int width, const int32_t *rows, int n, float *dst)
{
    size_t lo, hi, w = (size_t)width;
    hk_team_range((size_t)n, 1, &lo, &hi);
    for (size_t i = lo; i < hi; i++) memcpy(dst + i * w, src + (size_t)rows[i] * w, w * sizeof(float));
#pragma omp barrier
}

/*
 * The team splits the n*d outputs in 64-float chunks (one row is shared
 * too); each thread walks the rows its range touches. silu·up is computed
 * per element, so the split does not change any value.
 */
void hk_swiglu(const float *gate_up, int n, int d, float *out)
{
    size_t lo, hi, dd = (size_t)d;
    hk_team_range((size_t)n * dd, 64, &lo, &hi);
    void (*fn)(const float *, const float *, float *, size_t) = use512() ? hk_silu_mul_avx512 : hk_ref_silu_mul;
    for (size_t k = lo; k < hi;) {
        size_t i = k / dd, j = k % dd, m = dd - j < hi - k ? dd - j : hi - k;
        const float *g = gate_up + i * 2 * dd + j;
        fn(g, g + dd, out + k, m);
        k += m;
    }
#pragma omp barrier
}

static void to_f32_any(hk_wtype type, const void *src, float *dst, size_t n)
{
    (use512() ? hk_to_f32_avx512 : hk_ref_to_f32)(type, src, dst, n);
}

void hk_embedding(hk_wtype type, const void *table, int d, const int32_t *ids, int n, float *out)
{
    size_t lo, hi, es = hk_wtype_size(type);
    hk_team_range((size_t)n, 1, &lo, &hi);
    for (size_t i = lo; i < hi; i++)
        to_f32_any(type, (const char *)table + (size_t)ids[i] * (size_t)d * es, out + i * (size_t)d, (size_t)d);
#pragma omp barrier
}

/* A row of an interleaved table is a series of 64-byte runs (kernels/internal.h), widened run by run. */
void hk_embedding_interleaved(hk_wtype type, const void *table, int d, const int32_t *ids, int n, float *out)
{
    hk_weight lay; /* the layout: type and row length */
    hk_weight_view(&lay, type, 0, d, table);
    lay.interleaved = 1;
    size_t lo, hi, es = hk_wtype_size(type), rl = hk_runlen(type), dd = (size_t)d;
    hk_team_range((size_t)n, 1, &lo, &hi);
    for (size_t i = lo; i < hi; i++)
        for (size_t j0 = 0; j0 < dd; j0 += rl)
            to_f32_any(type, (const char *)table + hk_ilv_idx(&lay, ids[i], j0) * es, out + i * dd + j0,
                       dd - j0 < rl ? dd - j0 : rl);
#pragma omp barrier
}

void hk_to_f32(hk_wtype type, const void *src, float *dst, size_t n)
{
    size_t lo, hi;
    hk_team_range(n, 64, &lo, &hi);
    if (lo < hi) to_f32_any(type, (const char *)src + lo * hk_wtype_size(type), dst + lo, hi - lo);
#pragma omp barrier
}
