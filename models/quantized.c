/*
 * models/quantized.c — linear layers as the checkpoint stores them: a float
 * "<name>.weight", or pre-quantised tensors read the way their format
 * defines them (config.json's quantization_config, hf/config.h) and repacked
 * losslessly as HK_GQ4 / HK_GQ8 weights (kernels/gq.h).
 *
 * The formats (../shared/quantized/README.md lists the code they follow).
 * b bits per code, 32/b codes per int32 word, value j at bits [j*b, (j+1)*b):
 *   GPTQ    qweight I32 [in*b/32, out]  codes packed along the input
 *           qzeros  I32 [G, out*b/32]   zeros packed along the output; format v1
 *                                        stores zero - 1 (the loader adds 1 to each value)
 *           scales  F16 [G, out]
 *           g_idx   I32 [in]            each input channel's group (act-order)
 *   AWQ     qweight I32 [in, out/8]     packed along the output, nibble j holding
 *                                        column 8c + [0,2,4,6,1,3,5,7][j]
 *           qzeros  I32 [G, out/8]      the same order; the zero itself
 *           scales  F16 [G, out]
 *   compressed-tensors (pack-quantized)
 *           weight_packed     I32 [out, in*b/32]  codes offset by 2^(b-1), along the input
 *           weight_scale      F16/BF16 [out, G]   ([out, 1] for the channel strategy)
 *           weight_shape      I64 [2] = [out, in]
 *           weight_zero_point I32 [out*b/32, G]   (asymmetric) offset likewise, along the output
 *           weight_g_idx      I32 [in]            (actorder group)
 * G = ceil(in / group_size) groups (1 for group_size -1). Every weight is
 * scale * (code - zero) with code and zero taken unsigned (the
 * compressed-tensors offset cancels out). Every tensor's dtype, shape and
 * values are checked against the config before use.
 *
 * Act-order (g_idx not i / group_size): the input channels are sorted by
 * group once here (the weight keeps that order and gathers x through it,
 * kernels/gq.h), so every group is contiguous for the kernels.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/family.h"
#include "hf/error.h"
#include "hf/safetensors.h"

typedef enum { LIN_MISSING, LIN_FLOAT, LIN_QWEIGHT, LIN_PACKED } lin_storage;

/* A pre-quantised layer read into codes, scales and zeros, channels in the layout's order. */
typedef struct qlayer {
    int rows, cols, bits, ng;
    int32_t *perm;      /* layout position -> input channel, or NULL (groups already in order) */
    uint8_t *codes;     /* [rows][cols] */
    float *scales;      /* [rows][ng] */
    int32_t *zeros;     /* [rows][ng] */
    const hf_tensor *t[6];
    int nt;
} qlayer;

static void qlayer_free(qlayer *L)
{
    free(L->perm);
    free(L->codes);
    free(L->scales);
    free(L->zeros);
    memset(L, 0, sizeof *L);
}

/* "<name>.<part>" through md_find's prefixes; required: an error when missing. */
static const hf_tensor *find_part(md_ctx *c, const char *name, const char *part, int required)
{
    char full[256];
    snprintf(full, sizeof full, "%s.%s", name, part);
    return md_find(c, full, required);
}

static lin_storage storage_of(md_ctx *c, const char *name)
{
    if (find_part(c, name, "weight", 0)) return LIN_FLOAT;
    if (find_part(c, name, "qweight", 0)) return LIN_QWEIGHT;
    if (find_part(c, name, "weight_packed", 0)) return LIN_PACKED;
    return LIN_MISSING;
}

static void shape_text(const hf_tensor *t, char *buf, size_t cap)
{
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < t->ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/*
 * t has dtype dt (or F16/BF16 when dt is HUBRT_DTYPE_F16 and halfs is set)
 * and shape [d0] (d1 < 0) or [d0, d1]; `what` explains the expected shape.
 */
static int check_tensor(const hf_tensor *t, hubrt_dtype dt, int halfs, int64_t d0, int64_t d1, const char *what)
{
    const char *file = t->file ? t->file : "?";
    int dt_ok = t->dtype == dt || (halfs && t->dtype == HUBRT_DTYPE_BF16);
    if (!dt_ok) {
        const char *dn = hf_dtype_name(t->dtype);
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': dtype %s, expected %s%s", file, t->name,
                            dn ? dn : "?", hf_dtype_name(dt), halfs ? " or BF16" : "");
    }
    int ndim = d1 < 0 ? 1 : 2;
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
        char got[96];
        shape_text(t, got, sizeof got);
        if (ndim == 1)
            return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': shape %s, expected [%lld] (%s)", file, t->name,
                                got, (long long)d0, what);
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': shape %s, expected [%lld, %lld] (%s)", file,
                            t->name, got, (long long)d0, (long long)d1, what);
    }
    return 0;
}

static float half_value(const hf_tensor *t, size_t i)
{
    uint16_t h = ((const uint16_t *)t->data)[i];
    if (t->dtype == HUBRT_DTYPE_BF16) {
        uint32_t u = (uint32_t)h << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    /* IEEE half, exactly (subnormals included) */
    int e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), e - 25);
    return (h & 0x8000) ? -v : v;
}

/* Scales [rows][ng] from a float tensor read as scale(g, o) = data[g*sg + o*so]; finite only. */
static int read_scales(const hf_tensor *t, qlayer *L, size_t sg, size_t so)
{
    for (int o = 0; o < L->rows; o++)
        for (int g = 0; g < L->ng; g++) {
            size_t i = (size_t)g * sg + (size_t)o * so;
            float s = half_value(t, i);
            if (!isfinite(s))
                return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': element %zu is not finite (a scale)",
                                    t->file ? t->file : "?", t->name, i);
            L->scales[(size_t)o * (size_t)L->ng + (size_t)g] = s;
        }
    return 0;
}

/*
 * The layout order from a g_idx tensor ([cols] I32, each channel's group in
 * [0, ng)): NULL when it is i / group_size throughout; else the channels
 * sorted by group (stably), which needs every group to hold group_size
 * channels (the last the rest), as act-order writes them.
 */
static int group_order(const hf_tensor *tg, int cols, int group, int ng, int32_t **perm)
{
    const char *file = tg->file ? tg->file : "?";
    const int32_t *g = tg->data;
    int in_order = 1;
    *perm = NULL;
    for (int i = 0; i < cols; i++) {
        if (g[i] < 0 || g[i] >= ng)
            return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': element %d = %d is outside the groups "
                                "[0, %d)", file, tg->name, i, (int)g[i], ng);
        if (g[i] != (group > 0 ? i / group : 0)) in_order = 0;
    }
    if (in_order) return 0;
    int *start = calloc((size_t)ng + 1, sizeof *start);
    int32_t *p = malloc((size_t)cols * sizeof *p);
    if (!start || !p) {
        free(start);
        free(p);
        return hf_set_error(HUBRT_ERR_NOMEM, "%s: tensor '%s': out of memory", file, tg->name);
    }
    for (int i = 0; i < cols; i++) start[g[i] + 1]++;
    for (int k = 0; k < ng; k++) {
        int want = cols - k * group < group ? cols - k * group : group;
        if (start[k + 1] != want) {
            int got = start[k + 1];
            free(start);
            free(p);
            return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: tensor '%s': group %d has %d input channels, expected %d "
                                "(act-order groups hold group_size channels each)", file, tg->name, k, got, want);
        }
        start[k + 1] += start[k];
    }
    for (int i = 0; i < cols; i++) p[start[g[i]]++] = i;
    free(start);
    *perm = p;
    return 0;
}

static int alloc_layer(md_ctx *c, const char *name, qlayer *L)
{
    L->codes = malloc((size_t)L->rows * (size_t)L->cols);
    L->scales = malloc((size_t)L->rows * (size_t)L->ng * sizeof(float));
    L->zeros = malloc((size_t)L->rows * (size_t)L->ng * sizeof(int32_t));
    if (!L->codes || !L->scales || !L->zeros)
        return hf_set_error(HUBRT_ERR_NOMEM, "%s: layer '%s': out of memory unpacking", c->src->dir, name);
    return 0;
}

/* pos[i]: the layout position of input channel i (perm's inverse), or NULL for the identity. */
static int *positions(const qlayer *L)
{
    if (!L->perm) return NULL;
    int *pos = malloc((size_t)L->cols * sizeof *pos);
    if (pos)
        for (int j = 0; j < L->cols; j++) pos[L->perm[j]] = j;
    return pos;
}

/* Outputs are unpacked 64 at a time: the words read and the code rows written stay in cache. */
#define OUT_TILE 64

static int read_gptq(md_ctx *c, const char *name, qlayer *L)
{
    const hf_quant_config *q = &c->src->cfg->quant;
    const int b = q->bits, pack = 32 / b, rows = L->rows, cols = L->cols;
    const uint32_t mask = (1u << b) - 1;
    const hf_tensor *tq = find_part(c, name, "qweight", 1), *tz = find_part(c, name, "qzeros", 1);
    const hf_tensor *ts = find_part(c, name, "scales", 1), *tg = find_part(c, name, "g_idx", 0);
    if (!tq || !tz || !ts) return HUBRT_ERR_FORMAT;
    char what[160];
    if (cols % pack || rows % pack)
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': a %dx%d layer cannot be %d-bit GPTQ (both sizes must "
                            "be multiples of %d)", tq->file, tq->name, rows, cols, b, pack);
    L->ng = q->group_size > 0 ? (cols + q->group_size - 1) / q->group_size : 1;
    snprintf(what, sizeof what, "%d-bit GPTQ: [in*%d/32, out]", b, b);
    int rc = check_tensor(tq, HUBRT_DTYPE_I32, 0, cols / pack, rows, what);
    snprintf(what, sizeof what, "%d-bit GPTQ, group_size %d: [groups, out*%d/32]", b, q->group_size, b);
    if (!rc) rc = check_tensor(tz, HUBRT_DTYPE_I32, 0, L->ng, rows / pack, what);
    snprintf(what, sizeof what, "GPTQ, group_size %d: [groups, out]", q->group_size);
    if (!rc) rc = check_tensor(ts, HUBRT_DTYPE_F16, 1, L->ng, rows, what);
    if (!rc && tg) rc = check_tensor(tg, HUBRT_DTYPE_I32, 0, cols, -1, "GPTQ g_idx: [in]");
    if (!rc && tg) rc = group_order(tg, cols, q->group_size, L->ng, &L->perm);
    if (!rc) rc = alloc_layer(c, name, L);
    if (rc) return rc;
    int *pos = positions(L);
    if (L->perm && !pos) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory", c->src->dir);
    const uint32_t *qw = tq->data, *qz = tz->data;
    for (int o0 = 0; o0 < rows; o0 += OUT_TILE) {
        int o1 = o0 + OUT_TILE < rows ? o0 + OUT_TILE : rows;
        for (int r = 0; r < cols / pack; r++)
            for (int o = o0; o < o1; o++) {
                uint32_t word = qw[(size_t)r * (size_t)rows + (size_t)o];
                uint8_t *dst = L->codes + (size_t)o * (size_t)cols;
                for (int j = 0; j < pack; j++) {
                    int i = r * pack + j;
                    dst[pos ? pos[i] : i] = (uint8_t)((word >> (b * j)) & mask);
                }
            }
    }
    free(pos);
    for (int g = 0; g < L->ng; g++)
        for (int o = 0; o < rows; o++) {
            uint32_t word = qz[(size_t)g * (size_t)(rows / pack) + (size_t)(o / pack)];
            L->zeros[(size_t)o * (size_t)L->ng + (size_t)g] = (int32_t)((word >> (b * (o % pack))) & mask) + q->zero_offset;
        }
    L->bits = b;
    L->t[0] = tq; L->t[1] = tz; L->t[2] = ts; L->nt = 3;
    if (tg) L->t[L->nt++] = tg;
    return read_scales(ts, L, (size_t)rows, 1);
}

static int read_awq(md_ctx *c, const char *name, qlayer *L)
{
    static const int order[8] = {0, 4, 1, 5, 2, 6, 3, 7}; /* AutoAWQ's AWQ_REVERSE_ORDER */
    const hf_quant_config *q = &c->src->cfg->quant;
    const int rows = L->rows, cols = L->cols, words = rows / 8;
    const hf_tensor *tq = find_part(c, name, "qweight", 1), *tz = find_part(c, name, "qzeros", 1);
    const hf_tensor *ts = find_part(c, name, "scales", 1);
    if (!tq || !tz || !ts) return HUBRT_ERR_FORMAT;
    if (rows % 8)
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': %d outputs cannot be AWQ (a multiple of 8 is packed)",
                            tq->file, tq->name, rows);
    L->ng = q->group_size > 0 ? (cols + q->group_size - 1) / q->group_size : 1;
    char what[160];
    int rc = check_tensor(tq, HUBRT_DTYPE_I32, 0, cols, words, "AWQ gemm: [in, out/8]");
    snprintf(what, sizeof what, "AWQ gemm, group_size %d: [groups, out/8]", q->group_size);
    if (!rc) rc = check_tensor(tz, HUBRT_DTYPE_I32, 0, L->ng, words, what);
    snprintf(what, sizeof what, "AWQ gemm, group_size %d: [groups, out]", q->group_size);
    if (!rc) rc = check_tensor(ts, HUBRT_DTYPE_F16, 1, L->ng, rows, what);
    if (!rc) rc = alloc_layer(c, name, L);
    if (rc) return rc;
    const uint32_t *qw = tq->data, *qz = tz->data;
    for (int w0 = 0; w0 < words; w0 += OUT_TILE / 8) {
        int w1 = w0 + OUT_TILE / 8 < words ? w0 + OUT_TILE / 8 : words;
        for (int i = 0; i < cols; i++)
            for (int w = w0; w < w1; w++) {
                uint32_t word = qw[(size_t)i * (size_t)words + (size_t)w];
                for (int k = 0; k < 8; k++)
                    L->codes[(size_t)(8 * w + k) * (size_t)cols + (size_t)i] = (uint8_t)((word >> (4 * order[k])) & 15);
            }
    }
    for (int g = 0; g < L->ng; g++)
        for (int w = 0; w < words; w++) {
            uint32_t word = qz[(size_t)g * (size_t)words + (size_t)w];
            for (int k = 0; k < 8; k++)
                L->zeros[(size_t)(8 * w + k) * (size_t)L->ng + (size_t)g] = (int32_t)((word >> (4 * order[k])) & 15);
        }
    L->bits = 4;
    L->t[0] = tq; L->t[1] = tz; L->t[2] = ts; L->nt = 3;
    return read_scales(ts, L, (size_t)rows, 1);
}

static int read_compressed(md_ctx *c, const char *name, qlayer *L)
{
    const hf_quant_config *q = &c->src->cfg->quant;
    const int b = q->bits, pack = 32 / b, rows = L->rows, cols = L->cols;
    const int npk = (cols + pack - 1) / pack, nzr = (rows + pack - 1) / pack;
    const uint32_t mask = (1u << b) - 1;
    const hf_tensor *tp = find_part(c, name, "weight_packed", 1), *ts = find_part(c, name, "weight_scale", 1);
    const hf_tensor *tsh = find_part(c, name, "weight_shape", 1), *tz = find_part(c, name, "weight_zero_point", !q->sym);
    const hf_tensor *tg = find_part(c, name, "weight_g_idx", q->act_order);
    if (!tp || !ts || !tsh || (!q->sym && !tz) || (q->act_order && !tg)) return HUBRT_ERR_FORMAT;
    L->ng = q->group_size > 0 ? (cols + q->group_size - 1) / q->group_size : 1;
    char what[160];
    /* weight_shape: [out, in] as int64 (int32 accepted) */
    int rc = 0;
    if (tsh->ndim != 1 || tsh->shape[0] != 2 || (tsh->dtype != HUBRT_DTYPE_I64 && tsh->dtype != HUBRT_DTYPE_I32)) {
        char got[96];
        shape_text(tsh, got, sizeof got);
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': %s %s, expected I64 [2] ([out, in])", tsh->file,
                            tsh->name, hf_dtype_name(tsh->dtype), got);
    }
    int64_t so = tsh->dtype == HUBRT_DTYPE_I64 ? ((const int64_t *)tsh->data)[0] : ((const int32_t *)tsh->data)[0];
    int64_t si = tsh->dtype == HUBRT_DTYPE_I64 ? ((const int64_t *)tsh->data)[1] : ((const int32_t *)tsh->data)[1];
    if (so != rows || si != cols)
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': [%lld, %lld], but config.json makes this layer [%d, %d]",
                            tsh->file, tsh->name, (long long)so, (long long)si, rows, cols);
    snprintf(what, sizeof what, "%d-bit pack-quantized: [out, in*%d/32]", b, b);
    rc = check_tensor(tp, HUBRT_DTYPE_I32, 0, rows, npk, what);
    snprintf(what, sizeof what, "pack-quantized, %s: [out, groups]", q->group_size > 0 ? "group strategy" : "channel strategy");
    if (!rc) rc = check_tensor(ts, HUBRT_DTYPE_F16, 1, rows, L->ng, what);
    snprintf(what, sizeof what, "%d-bit pack-quantized zero points: [out*%d/32, groups]", b, b);
    if (!rc && tz) rc = check_tensor(tz, HUBRT_DTYPE_I32, 0, nzr, L->ng, what);
    if (!rc && tg) rc = check_tensor(tg, HUBRT_DTYPE_I32, 0, cols, -1, "weight_g_idx: [in]");
    if (!rc && tg) rc = group_order(tg, cols, q->group_size, L->ng, &L->perm);
    if (!rc) rc = alloc_layer(c, name, L);
    if (rc) return rc;
    int *pos = positions(L);
    if (L->perm && !pos) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory", c->src->dir);
    const uint32_t *wp = tp->data;
    for (int o = 0; o < rows; o++) {
        uint8_t *dst = L->codes + (size_t)o * (size_t)cols;
        for (int i = 0; i < cols; i++) {
            uint32_t word = wp[(size_t)o * (size_t)npk + (size_t)(i / pack)];
            dst[pos ? pos[i] : i] = (uint8_t)((word >> (b * (i % pack))) & mask);
        }
    }
    free(pos);
    const uint32_t *zp = tz ? tz->data : NULL;
    for (int o = 0; o < rows; o++)
        for (int g = 0; g < L->ng; g++) {
            int32_t z = (int32_t)1 << (b - 1); /* symmetric: zero point 0, offset like the codes */
            if (zp) z = (int32_t)((zp[(size_t)(o / pack) * (size_t)L->ng + (size_t)g] >> (b * (o % pack))) & mask);
            L->zeros[(size_t)o * (size_t)L->ng + (size_t)g] = z;
        }
    L->bits = b;
    L->t[0] = tp; L->t[1] = ts; L->t[2] = tsh; L->nt = 3;
    if (tz) L->t[L->nt++] = tz;
    if (tg) L->t[L->nt++] = tg;
    return read_scales(ts, L, 1, (size_t)L->ng);
}

/* The quantised layer `name` ([rows][cols], stored as s) read and checked into L. */
static int read_layer(md_ctx *c, const char *name, lin_storage s, int rows, int cols, qlayer *L)
{
    const hf_quant_config *q = &c->src->cfg->quant;
    memset(L, 0, sizeof *L);
    L->rows = rows;
    L->cols = cols;
    const hf_tensor *t = find_part(c, name, s == LIN_QWEIGHT ? "qweight" : "weight_packed", 1);
    const char *file = t && t->file ? t->file : c->src->dir;
    int rc;
    if (q->method == HF_QUANT_NONE)
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s' is quantised, but config.json has no "
                            "quantization_config saying how", file, t ? t->name : name);
    if (s == LIN_QWEIGHT && q->method == HF_QUANT_GPTQ) rc = read_gptq(c, name, L);
    else if (s == LIN_QWEIGHT && q->method == HF_QUANT_AWQ) rc = read_awq(c, name, L);
    else if (s == LIN_PACKED && q->method == HF_QUANT_COMPRESSED) rc = read_compressed(c, name, L);
    else
        rc = hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s' is stored as %s, but config.json's "
                          "quantization_config says %s", file, t ? t->name : name,
                          s == LIN_QWEIGHT ? "GPTQ/AWQ (qweight)" : "compressed-tensors (weight_packed)",
                          hf_quant_method_name(q->method));
    if (rc) qlayer_free(L);
    return rc;
}

/* Layers that can share one weight: the same bits, groups and channel order. */
static int same_layout(const qlayer *a, const qlayer *b)
{
    if (a->bits != b->bits || a->ng != b->ng || a->cols != b->cols || !a->perm != !b->perm) return 0;
    return !a->perm || !memcmp(a->perm, b->perm, (size_t)a->cols * sizeof(int32_t));
}

/* The layers stacked into one HK_GQ4/HK_GQ8 weight in the arena; their tensors' pages released. */
static const hk_weight *repack(md_ctx *c, const qlayer *L, int n, const char *name)
{
    const hf_quant_config *q = &c->src->cfg->quant;
    int rows = 0, cols = L[0].cols;
    for (int i = 0; i < n; i++) rows += L[i].rows;
    hk_gq_params p = {L[0].bits, L[0].ng == 1 ? cols : q->group_size, L[0].perm != NULL};
    size_t bytes = hk_gq_size(rows, cols, &p);
    if (!bytes) {
        hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: layer '%s': group_size %d is not supported (hubrt's kernels need "
                     "groups of a multiple of 16 input channels)", c->src->dir, name, q->group_size);
        return NULL;
    }
    void *mem = md_weight_alloc(c, bytes);
    hk_weight *w = mem ? md_new_weight(c) : NULL;
    if (!w || hk_gq_init(w, rows, cols, &p, mem) != 0) return NULL;
    int off = 0;
    for (int i = 0; i < n; i++) {
        hk_gq_set_rows(w, off, L[i].rows, L[i].codes, L[i].scales, L[i].zeros);
        off += L[i].rows;
        for (int k = 0; k < L[i].nt; k++) {
            c->fs->gq_file_bytes += (int64_t)L[i].t[k]->n_bytes;
            md_release(L[i].t[k]); /* read once, never again */
        }
    }
    if (L[0].perm) hk_gq_set_perm(w, L[0].perm);
    c->fs->gq_weights += (int64_t)rows * cols;
    c->fs->gq_bytes += (int64_t)bytes;
    return w;
}

/* The missing-layer error: the float name, and the quantised ones the config allows. */
static const hk_weight *missing(md_ctx *c, const char *name)
{
    if (c->src->cfg->quant.method == HF_QUANT_NONE) {
        find_part(c, name, "weight", 1); /* md_find's message */
        return NULL;
    }
    hf_set_error(HUBRT_ERR_FORMAT, "%s: linear layer '%s%s' not found in the weight files (no .weight, .qweight or "
                 ".weight_packed tensor)", c->src->dir, c->prefixes[0], name);
    return NULL;
}

const hk_weight *md_linear(md_ctx *c, const char *name, int rows, int cols, int owned)
{
    lin_storage s = storage_of(c, name);
    if (s == LIN_MISSING) return missing(c, name);
    if (s == LIN_FLOAT) {
        const hf_tensor *t = find_part(c, name, "weight", 1);
        return owned ? md_matrix_owned(c, t, rows, cols) : md_matrix(c, t, rows, cols);
    }
    qlayer L;
    if (read_layer(c, name, s, rows, cols, &L) != 0) return NULL;
    const hk_weight *w = repack(c, &L, 1, name);
    qlayer_free(&L);
    return w;
}

const hk_weight *md_linear_concat(md_ctx *c, const char *const *names, const int *rows, int n, int cols,
                                  int *separate)
{
    *separate = 0;
    if (n < 1 || n > 8) {
        hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: %d layers to stack", c->src->dir, n);
        return NULL;
    }
    lin_storage s[8];
    for (int i = 0; i < n; i++) {
        s[i] = storage_of(c, names[i]);
        if (s[i] == LIN_MISSING) return missing(c, names[i]);
        if (s[i] != s[0]) { /* some float, some quantised: one matmul each */
            *separate = 1;
            return NULL;
        }
    }
    if (s[0] == LIN_FLOAT) {
        const hf_tensor *ts[8];
        for (int i = 0; i < n; i++) ts[i] = find_part(c, names[i], "weight", 1);
        return md_matrix_concat(c, ts, rows, n, cols);
    }
    qlayer L[8];
    memset(L, 0, sizeof L);
    const hk_weight *w = NULL;
    int i, rc = 0;
    for (i = 0; i < n && !rc; i++) rc = read_layer(c, names[i], s[i], rows[i], cols, &L[i]);
    if (!rc) {
        for (i = 1; i < n && same_layout(&L[0], &L[i]); i++) {}
        if (i < n) *separate = 1; /* e.g. act-order with each projection's own channel order */
        else w = repack(c, L, n, names[0]);
    }
    for (i = 0; i < n; i++) qlayer_free(&L[i]);
    return w;
}

int md_linear_quantised(md_ctx *c, const char *name)
{
    lin_storage s = storage_of(c, name);
    return s == LIN_QWEIGHT || s == LIN_PACKED;
}
