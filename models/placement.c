/*
 * models/placement.c — where a family's weights go (models/family.h): the
 * placement choice, the huge-page weight arena, matrices stacked,
 * interleaved, quantised or transposed into it, embedding tables, and small
 * vectors widened to f32; all owned by the model (md_family_free).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <omp.h>

#include "models/family.h"
#include "hf/error.h"

/* ---- the choice ---------------------------------------------------------- */

/* An environment switch that is on unless set to "0". */
static int env_on(const char *name)
{
    const char *e = getenv(name);
    return !(e && !strcmp(e, "0"));
}

md_placement md_placement_choose(const md_source *src)
{
    md_placement p;
    p.arena = src->storage != HUBRT_STORAGE_MMAP;
    p.source_mapped = src->storage != HUBRT_STORAGE_COPY;
    p.interleave = env_on("HUBRT_INTERLEAVE");
    /* an explicit mmap asks for views: nothing copied, as the
     * mmap-vs-copy comparison measures */
    p.fuse = p.arena && env_on("HUBRT_FUSE");
    return p;
}

/* ---- ownership ----------------------------------------------------------- */

static int push_ptr(void ***arr, int *n, int *cap, void *p)
{
    if (*n == *cap) {
        int nc = *cap ? 2 * *cap : 64;
        void **na = realloc(*arr, (size_t)nc * sizeof *na);
        if (!na) return -1;
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = p;
    return 0;
}

void *md_alloc(md_ctx *c, size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory (%zu bytes)", c->src->dir, bytes);
        return NULL;
    }
    if (push_ptr(&c->fs->blocks, &c->fs->n_blocks, &c->fs->cap_blocks, p) != 0) {
        free(p);
        hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory", c->src->dir);
        return NULL;
    }
    return p;
}

static hk_weight *new_weight(md_ctx *c)
{
    hk_weight *w = calloc(1, sizeof *w);
    if (!w || push_ptr((void ***)&c->fs->weights, &c->fs->n_weights, &c->fs->cap_weights, w) != 0) {
        free(w);
        hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory", c->src->dir);
        return NULL;
    }
    return w;
}

/*
 * Memory for weights the model builds itself (stacked q|k|v, gate|up): a
 * bump allocator over 2 MiB-aligned chunks with MADV_HUGEPAGE, so they are
 * streamed from huge pages like the loader's COPY storage and no partly used
 * huge page is wasted per weight. Chunks are freed with the model.
 */
#define WCHUNK_BYTES ((size_t)64 << 20)
static void *weight_alloc(md_ctx *c, size_t bytes)
{
    md_family *fs = c->fs;
    size_t need = (bytes + 63) & ~(size_t)63;
    if (!fs->wchunk || fs->wchunk_size - fs->wchunk_used < need) {
        size_t size = need > WCHUNK_BYTES ? need : WCHUNK_BYTES;
        size = (size + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
        void *p = aligned_alloc(2u << 20, size);
        if (!p) return NULL;
        madvise(p, size, MADV_HUGEPAGE);
        if (push_ptr(&fs->blocks, &fs->n_blocks, &fs->cap_blocks, p) != 0) { free(p); return NULL; }
        fs->wchunk = p;
        fs->wchunk_size = size;
        fs->wchunk_used = 0;
    }
    void *p = fs->wchunk + fs->wchunk_used;
    fs->wchunk_used += need;
    return p;
}

hk_weight *md_new_weight(md_ctx *c)
{
    return new_weight(c);
}

void *md_weight_alloc(md_ctx *c, size_t bytes)
{
    void *p = weight_alloc(c, bytes);
    if (!p) hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory (%zu bytes of weights)", c->src->dir, bytes);
    return p;
}

/* ---- matrices ------------------------------------------------------------ */

/* Replaces *w by its quantised copy when the load params ask for it. */
static int maybe_quantize(md_ctx *c, hk_weight *w, const char *name)
{
    hubrt_quant q = c->src->quant;
    if (q == HUBRT_QUANT_NONE) return 0;
    hk_weight src = *w, dst;
    memset(&dst, 0, sizeof dst);
    if (hk_weight_quantize(&dst, &src, q == HUBRT_QUANT_Q8 ? HK_Q8 : HK_Q4) != 0)
        return hf_set_error(HUBRT_ERR_NOMEM, "%s: tensor '%s': out of memory quantising",
                               c->src->dir, name);
    hk_weight_free(&src);
    *w = dst;
    return 0;
}

const hk_weight *md_matrix(md_ctx *c, const hf_tensor *t, int rows, int cols)
{
    if (md_check(t, rows, cols) != 0) return NULL;
    hk_weight *w = new_weight(c);
    if (!w) return NULL;
    hk_weight_view(w, md_wtype(t), rows, cols, t->data);
    if (maybe_quantize(c, w, t->name) != 0) return NULL;
    if (w->type == HK_Q8 || w->type == HK_Q4) {
        if (t != c->keep) md_release(t);
    }
    return w;
}

/* Drops the resident pages wholly inside [p, p + bytes) (see md_release). */
static void release_range(const void *p, size_t bytes)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || !p || bytes < (size_t)page) return;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t b = ((uintptr_t)p + bytes) & ~(uintptr_t)(page - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Rows per copy step: about 1 MiB of source, whole groups of 4. */
static int chunk_rows(const hk_weight *part)
{
    size_t row_bytes = (size_t)part->cols * (part->type == HK_F32 ? 4 : 2);
    size_t r = ((size_t)1 << 20) / (row_bytes ? row_bytes : 1);
    r &= ~(size_t)3;
    return r < 4 ? 4 : r > (size_t)INT32_MAX ? INT32_MAX & ~3 : (int)r;
}

/*
 * Places the stacked [sum rows][cols] matrix made of parts[i] (plain row-major
 * views, same dtype) as w: quantised (owned), or in the weight arena,
 * interleaved or plain. Copies go about 1 MiB at a time, each source piece
 * released right after when release[i] (NULL: none), so a big matrix (an
 * LM head of a hundred MB or more) is never resident twice. 0 or -1 (out
 * of memory).
 */
static int place_stacked_team(md_ctx *c, hk_weight *w, const hk_weight *parts, int np,
                              const int *release, const char *name);
static int place_stacked(md_ctx *c, hk_weight *w, const hk_weight *parts, int np,
                         const int *release, const char *name)
{
    /* hk_weight_repack_into opens an OpenMP team per call: a few hundred
     * short regions, each ending in a wait for teammates that a busy machine
     * may have descheduled. The copy is memory-bound anyway: run it on the
     * loading thread alone. */
    int keep = omp_get_max_threads();
    omp_set_num_threads(1);
    int rc = place_stacked_team(c, w, parts, np, release, name);
    omp_set_num_threads(keep);
    return rc;
}

static int place_stacked_team(md_ctx *c, hk_weight *w, const hk_weight *parts, int np,
                              const int *release, const char *name)
{
    hk_wtype type = parts[0].type;
    int cols = parts[0].cols;
    size_t es = type == HK_F32 ? 4 : 2, row_bytes = (size_t)cols * es, total_rows = 0;
    int aligned = 1; /* every part but the last a whole number of 4-row groups */
    for (int i = 0; i < np; i++) {
        total_rows += (size_t)parts[i].rows;
        if (i < np - 1 && parts[i].rows % 4) aligned = 0;
    }
    hk_weight stacked;
    hk_weight_view(&stacked, type, (int)total_rows, cols, NULL);
    int quant = c->src->quant != HUBRT_QUANT_NONE, ilv = !quant && c->place.interleave;
    if (!quant && (aligned || !ilv)) {
        /* straight into the arena, chunk by chunk. Interleaved: group-major,
         * so rows [r0, r1) with r0 % 4 == 0 are one contiguous piece of the
         * image, at r0 / 4 groups */
        size_t size = ilv ? hk_weight_repack_size(&stacked) : total_rows * row_bytes;
        unsigned char *mem = weight_alloc(c, size);
        if (!mem) return -1;
        size_t off = 0;
        for (int i = 0; i < np; i++) {
            const unsigned char *src = parts[i].data;
            for (int r0 = 0, step = chunk_rows(&parts[i]); r0 < parts[i].rows; r0 += step) {
                int nr = parts[i].rows - r0 < step ? parts[i].rows - r0 : step;
                const unsigned char *piece = src + (size_t)r0 * row_bytes;
                if (ilv) {
                    hk_weight v, tmp;
                    hk_weight_view(&v, type, nr, cols, piece);
                    if (hk_weight_repack_into(&tmp, &v, mem + off) != 0) return -1;
                    off += hk_weight_repack_size(&v);
                } else {
                    memcpy(mem + off, piece, (size_t)nr * row_bytes);
                    off += (size_t)nr * row_bytes;
                }
                if (release && release[i]) release_range(piece, (size_t)nr * row_bytes);
            }
        }
        hk_weight_view(w, type, (int)total_rows, cols, mem);
        w->interleaved = ilv;
        return 0;
    }
    /* quantised, or interleaved with an unaligned part: one contiguous temporary */
    unsigned char *buf = malloc(total_rows * row_bytes);
    if (!buf) return -1;
    size_t off = 0;
    for (int i = 0; i < np; i++) {
        memcpy(buf + off, parts[i].data, (size_t)parts[i].rows * row_bytes);
        if (release && release[i]) release_range(parts[i].data, (size_t)parts[i].rows * row_bytes);
        off += (size_t)parts[i].rows * row_bytes;
    }
    hk_weight_view(w, type, (int)total_rows, cols, buf);
    if (ilv) {
        unsigned char *mem = weight_alloc(c, hk_weight_repack_size(w));
        int rc = mem ? hk_weight_repack_into(w, w, mem) : -1;
        free(buf);
        return rc;
    }
    w->owned = buf;
    w->owned_size = total_rows * row_bytes;
    return maybe_quantize(c, w, name) != 0 ? -1 : 0;
}

const hk_weight *md_matrix_conv1d(md_ctx *c, const hf_tensor *t, int in, int total_out,
                                   int col0, int out)
{
    if (md_check(t, in, total_out) != 0) return NULL;
    if (col0 < 0 || out <= 0 || col0 + out > total_out) {
        hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': column slice out of range", t->file, t->name);
        return NULL;
    }
    hk_wtype type = md_wtype(t);
    size_t es = type == HK_F32 ? 4 : 2;
    /* transposed into a temporary, then placed (quantised / interleaved) like any matrix */
    size_t bytes = (size_t)in * (size_t)out * es;
    unsigned char *dst = malloc(bytes);
    hk_weight *w = dst ? new_weight(c) : NULL;
    if (!w) {
        free(dst);
        hf_set_error(HUBRT_ERR_NOMEM, "%s: tensor '%s': out of memory", t->file, t->name);
        return NULL;
    }
    /* dst[o][i] = src[i][col0 + o], in 32x32 tiles so both sides stay in
     * cache; typed element moves rather than a memcpy call per element */
    const unsigned char *src = t->data;
    size_t ti = (size_t)total_out, ni = (size_t)in;
    for (int i0 = 0; i0 < in; i0 += 32)
        for (int o0 = 0; o0 < out; o0 += 32) {
            int i1 = i0 + 32 < in ? i0 + 32 : in, o1 = o0 + 32 < out ? o0 + 32 : out;
            if (es == 4) {
                const uint32_t *s4 = (const uint32_t *)src + col0;
                uint32_t *d4 = (uint32_t *)dst;
                for (int o = o0; o < o1; o++)
                    for (int i = i0; i < i1; i++) d4[(size_t)o * ni + (size_t)i] = s4[(size_t)i * ti + (size_t)o];
            } else {
                const uint16_t *s2 = (const uint16_t *)src + col0;
                uint16_t *d2 = (uint16_t *)dst;
                for (int o = o0; o < o1; o++)
                    for (int i = i0; i < i1; i++) d2[(size_t)o * ni + (size_t)i] = s2[(size_t)i * ti + (size_t)o];
            }
        }
    hk_weight part;
    hk_weight_view(&part, type, out, in, dst);
    int rc = place_stacked(c, w, &part, 1, NULL, t->name);
    free(dst);
    if (rc != 0) {
        hf_set_error(HUBRT_ERR_NOMEM, "%s: tensor '%s': out of memory", t->file, t->name);
        return NULL;
    }
    return w;
}

const hk_weight *md_matrix_concat(md_ctx *c, const hf_tensor *const *ts, const int *rows, int nt, int cols)
{
    size_t total_rows = 0;
    hk_weight parts[8];
    if (nt < 1 || nt > 8) {
        hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: %d matrices to stack", c->src->dir, nt);
        return NULL;
    }
    for (int i = 0; i < nt; i++) {
        if (md_check(ts[i], rows[i], cols) != 0) return NULL;
        if (ts[i]->dtype != ts[0]->dtype) {
            hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: tensor '%s': dtype differs from '%s'",
                            ts[i]->file, ts[i]->name, ts[0]->name);
            return NULL;
        }
        total_rows += (size_t)rows[i];
        hk_weight_view(&parts[i], md_wtype(ts[i]), rows[i], cols, ts[i]->data);
    }
    if (total_rows > (size_t)INT32_MAX) {
        hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: tensor '%s': too many rows", ts[0]->file, ts[0]->name);
        return NULL;
    }
    /* the copy replaces the stored tensors; the embedding table (c->keep) is
     * still read by row at run time: from a file map it refaults, so only
     * COPY memory must keep it */
    int release[8];
    for (int i = 0; i < nt; i++) release[i] = ts[i] != c->keep || c->place.source_mapped;
    hk_weight *w = new_weight(c);
    if (!w || place_stacked(c, w, parts, nt, release, ts[0]->name) != 0) {
        if (w) hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory placing '%s'", c->src->dir, ts[0]->name);
        return NULL;
    }
    for (int i = 0; i < nt; i++)
        if (release[i]) md_release(ts[i]); /* the edge pages the pieces left */
    return w;
}

const hk_weight *md_matrix_owned(md_ctx *c, const hf_tensor *t, int rows, int cols)
{
    /* the tied embedding in COPY memory stays one copy (a view); from a file
     * map it is copied like any matrix, the lookups refaulting rows */
    if (!c->place.arena || (t == c->keep && !c->place.source_mapped))
        return md_matrix(c, t, rows, cols);
    return md_matrix_concat(c, &t, &rows, 1, cols);
}

/* ---- embedding tables ---------------------------------------------------- */

md_table md_table_view(const hf_tensor *t)
{
    md_table tab = {md_wtype(t), t->data, (int)t->shape[1], 0};
    return tab;
}

int md_embed_table(md_ctx *c, const hf_tensor *t, const hk_weight *tied_head, md_table *tab)
{
    *tab = md_table_view(t);
    /* explicit mmap: a view; COPY memory: the loader's copy is the one copy */
    if (!c->place.arena || !c->place.source_mapped) return 0;
    if (tied_head && tied_head->type == tab->type && tied_head->rows == t->shape[0] &&
        tied_head->cols == tab->d) {
        tab->data = tied_head->data; /* the head's arena copy, in its layout */
        tab->interleaved = tied_head->interleaved;
        return 0;
    }
    /* untied (or quantised head): the table into the arena as plain rows,
     * so lookups never map file pages (each would map a 64 KiB fault-around
     * window, and resident memory would grow with use) */
    unsigned char *mem = weight_alloc(c, t->n_bytes);
    if (!mem)
        return hf_set_error(HUBRT_ERR_NOMEM, "%s: tensor '%s': out of memory", c->src->dir, t->name);
    const size_t step = (size_t)1 << 20;
    for (size_t off = 0; off < t->n_bytes; off += step) {
        size_t n = t->n_bytes - off < step ? t->n_bytes - off : step;
        memcpy(mem + off, (const unsigned char *)t->data + off, n);
        release_range((const unsigned char *)t->data + off, n);
    }
    md_release(t);
    tab->data = mem;
    return 0;
}

/* ---- vectors and pages --------------------------------------------------- */

const float *md_vector_concat(md_ctx *c, const float *const *vs, const int *lens, int n)
{
    int any = 0;
    size_t total = 0;
    for (int i = 0; i < n; i++) { any |= vs[i] != NULL; total += (size_t)lens[i]; }
    if (!any) return NULL;
    float *out = md_alloc(c, total * sizeof(float)); /* zeroed: a missing part is a zero bias */
    if (!out) return NULL;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        if (vs[i]) memcpy(out + off, vs[i], (size_t)lens[i] * sizeof(float));
        off += (size_t)lens[i];
    }
    return out;
}

void md_release(const hf_tensor *t)
{
    /* Only whole pages inside the tensor: neighbours may share the edge pages.
     * A read-only file map refaults from the file; the COPY memory would read
     * back as zeros, which is why only tensors nobody reads again come here. */
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || !t->data || t->n_bytes < (size_t)page) return;
    uintptr_t a = ((uintptr_t)t->data + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t b = ((uintptr_t)t->data + t->n_bytes) & ~(uintptr_t)(page - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Elements [off, off + len) of a checked float tensor widened to f32 (owned); NULL on failure. */
static const float *vector_slice(md_ctx *c, const hf_tensor *t, int64_t off, int64_t len)
{
    if (off < 0 || len <= 0 || off + len > t->n_elements) {
        hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': slice out of range", t->file, t->name);
        return NULL;
    }
    float *v = md_alloc(c, (size_t)len * sizeof(float));
    if (!v) return NULL;
    hk_wtype type = md_wtype(t);
    size_t es = type == HK_F32 ? 4 : 2;
    hk_to_f32(type, (const unsigned char *)t->data + (size_t)off * es, v, (size_t)len);
    return v;
}

const float *md_checked_vector(md_ctx *c, const hf_tensor *t, int len, int *err)
{
    if (!t || md_check(t, len, -1) != 0) { *err = 1; return NULL; }
    const float *v = vector_slice(c, t, 0, len);
    if (!v) *err = 1;
    return v;
}

const float *md_req_vector(md_ctx *c, const char *name, int len, int *err)
{
    return md_checked_vector(c, md_find(c, name, 1), len, err);
}
