/*
 * hf/safetensors.c — opening and validating safetensors files.
 *
 * Layout of a file:  [u64 LE header_len N][N bytes JSON header][data region]
 * The header maps tensor name -> {dtype, shape, data_offsets: [begin, end]}
 * (offsets relative to the data region) plus an optional "__metadata__"
 * object of strings. Everything is validated before a single tensor byte is
 * used: the header length against the file and the 100 MB cap, the JSON
 * (depth-checked, see jsonfile.h), every dtype and shape (no overflow), and
 * the offsets — sorted by begin they must tile the data region exactly:
 * no overlaps, no holes, no trailing bytes, each range exactly
 * dtype size x elements. This matches the reference Rust implementation,
 * which refuses the same files.
 *
 * Tensors are views: into the read-only map (hf_st_open), into the
 * caller's image (hf_st_open_memory), or, after hf_st_copy_to_memory(),
 * into one 2 MiB-aligned huge-page buffer that the file was read into.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hf/error.h"
#include "hf/jsonfile.h"
#include "hf/safetensors.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "hubrt reads safetensors (little-endian) data in place: a little-endian host is required"
#endif

#define ST_MAX_HEADER 100000000ull         /* 100 MB, as the reference implementation */
#define ST_MAX_EXACT (1ull << 53)          /* larger JSON numbers are not exact in a double */
#define ST_HUGE_PAGE ((size_t)2 << 20)
#define ST_TENSOR_ALIGN 64                 /* tensors in the COPY buffer start on cache lines */

struct hf_st_file {
    char *name;              /* the path (or the caller's name), for messages */
    const uint8_t *base;     /* the file image; NULL once copied to memory */
    size_t size;             /* bytes of the image */
    int mapped;              /* base is our own mmap */
    uint64_t data_start;     /* 8 + header length */
    int n;
    hf_tensor *tensors;   /* [n], in data-offset order */
    uint64_t *begin;         /* [n] data_offsets[0] of each tensor */
    int *by_name;            /* [n] indices sorted by name, for bsearch */
    char *names;             /* the tensor names, NUL-separated */
    void *copy;              /* COPY storage (NULL for views) */
};

static const size_t dtype_sizes[HUBRT_DTYPE_COUNT] = {
    [HUBRT_DTYPE_BOOL] = 1, [HUBRT_DTYPE_U8] = 1,      [HUBRT_DTYPE_I8] = 1,
    [HUBRT_DTYPE_F8_E5M2] = 1, [HUBRT_DTYPE_F8_E4M3] = 1, [HUBRT_DTYPE_I16] = 2,
    [HUBRT_DTYPE_U16] = 2, [HUBRT_DTYPE_F16] = 2,     [HUBRT_DTYPE_BF16] = 2,
    [HUBRT_DTYPE_I32] = 4, [HUBRT_DTYPE_U32] = 4,     [HUBRT_DTYPE_F32] = 4,
    [HUBRT_DTYPE_F64] = 8, [HUBRT_DTYPE_I64] = 8,     [HUBRT_DTYPE_U64] = 8,
};

static const char *const dtype_names[HUBRT_DTYPE_COUNT] = {
    "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16",
    "BF16", "I32", "U32", "F32", "F64", "I64", "U64",
};

const char *hf_dtype_name(hubrt_dtype dtype)
{
    return (unsigned)dtype < HUBRT_DTYPE_COUNT ? dtype_names[dtype] : NULL;
}

size_t hf_dtype_size(hubrt_dtype dtype)
{
    return (unsigned)dtype < HUBRT_DTYPE_COUNT ? dtype_sizes[dtype] : 0;
}

static int dtype_from_name(const char *s)
{
    for (int d = 0; d < HUBRT_DTYPE_COUNT; d++) {
        const char *name = hf_dtype_name((hubrt_dtype)d);
        if (name && !strcmp(name, s)) return d;
    }
    return -1;
}

/* A JSON number that is an exact non-negative integer (<= 2^53). */
static int json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0) || d > (double)ST_MAX_EXACT || d != floor(d)) return -1;
    *out = (uint64_t)d;
    return 0;
}

/* Describes a bad JSON number/value for a message. */
static const char *json_kind(const cJSON *v)
{
    if (!v) return "missing";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "invalid";
}

static void st_free(hf_st_file *f)
{
    if (!f) return;
    if (f->mapped && f->base) munmap((void *)f->base, f->size);
    free(f->copy);
    free(f->tensors);
    free(f->begin);
    free(f->by_name);
    free(f->names);
    free(f->name);
    free(f);
}

void hf_st_close(hf_st_file *f) { st_free(f); }

static int cmp_by_begin(const void *a, const void *b, void *ctx)
{
    const hf_st_file *sort_ctx = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    uint64_t x = sort_ctx->begin[i], y = sort_ctx->begin[j];
    if (x != y) return x < y ? -1 : 1;
    /* zero-size tensors first at a shared offset, then stable by index */
    size_t p = sort_ctx->tensors[i].n_bytes, q = sort_ctx->tensors[j].n_bytes;
    if (p != q) return p < q ? -1 : 1;
    return i < j ? -1 : i > j;
}

static int cmp_by_name(const void *a, const void *b, void *ctx)
{
    const hf_st_file *sort_ctx = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    return strcmp(sort_ctx->tensors[i].name, sort_ctx->tensors[j].name);
}

/* Shape "[2, 3]" into buf for messages. */
static const char *shape_str(const hf_tensor *t, char *buf, size_t cap)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int d = 0; d < t->ndim && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, d ? ", %" PRId64 : "%" PRId64, t->shape[d]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
    return buf;
}

/*
 * Parses one tensor entry into t (name not yet set) and its offsets.
 * fname and tname are for messages.
 */
static int parse_entry(const cJSON *e, const char *fname, const char *tname, uint64_t data_size,
                       hf_tensor *t, uint64_t *begin_out)
{
    if (!cJSON_IsObject(e))
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': entry is %s, not an object",
                               fname, tname, json_kind(e));
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    if (!cJSON_IsString(dt))
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': 'dtype' is %s, not a string",
                               fname, tname, json_kind(dt));
    int d = dtype_from_name(dt->valuestring);
    if (d < 0)
        return hf_set_error(HUBRT_ERR_FORMAT,
                               "%s: tensor '%s': unknown dtype '%.40s' (expected one of BOOL U8 I8 "
                               "F8_E5M2 F8_E4M3 I16 U16 F16 BF16 I32 U32 F32 F64 I64 U64)",
                               fname, tname, dt->valuestring);
    t->dtype = (hubrt_dtype)d;

    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    if (!cJSON_IsArray(shape))
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': 'shape' is %s, not an array",
                               fname, tname, json_kind(shape));
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > HF_MAX_DIMS)
        return hf_set_error(HUBRT_ERR_UNSUPPORTED,
                               "%s: tensor '%s': rank %d exceeds the limit of %d dimensions",
                               fname, tname, ndim, HF_MAX_DIMS);
    t->ndim = ndim;
    uint64_t n_el = 1;
    int overflow = 0;
    int k = 0;
    for (const cJSON *v = shape->child; v; v = v->next, k++) {
        uint64_t dim;
        if (json_uint(v, &dim) != 0) {
            if (cJSON_IsNumber(v) && v->valuedouble < 0)
                return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': shape[%d] is negative (%g)",
                                       fname, tname, k, v->valuedouble);
            if (cJSON_IsNumber(v) && v->valuedouble > (double)ST_MAX_EXACT)
                return hf_set_error(HUBRT_ERR_FORMAT,
                                       "%s: tensor '%s': shape[%d] = %g: shape product overflows",
                                       fname, tname, k, v->valuedouble);
            if (cJSON_IsNumber(v))
                return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': shape[%d] is not an integer (%g)",
                                       fname, tname, k, v->valuedouble);
            return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': shape[%d] is %s, not a non-negative integer",
                                   fname, tname, k, json_kind(v));
        }
        t->shape[k] = (int64_t)dim;
        if (__builtin_mul_overflow(n_el, dim, &n_el) || n_el > (uint64_t)INT64_MAX) overflow = 1;
    }
    uint64_t n_bytes = 0;
    if (overflow || __builtin_mul_overflow(n_el, (uint64_t)dtype_sizes[d], &n_bytes) ||
        n_bytes > (uint64_t)SIZE_MAX / 2) {
        char sb[256];
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': shape product overflows (shape %s)",
                               fname, tname, shape_str(t, sb, sizeof sb));
    }
    t->n_elements = (int64_t)n_el;
    t->n_bytes = (size_t)n_bytes;

    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!offs)
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': data_offsets missing", fname, tname);
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return hf_set_error(HUBRT_ERR_FORMAT,
                               "%s: tensor '%s': data_offsets must be an array [begin, end]", fname, tname);
    uint64_t b, en;
    if (json_uint(offs->child, &b) != 0 || json_uint(offs->child->next, &en) != 0)
        return hf_set_error(HUBRT_ERR_FORMAT,
                               "%s: tensor '%s': data_offsets must be non-negative integers", fname, tname);
    if (en < b)
        return hf_set_error(HUBRT_ERR_FORMAT,
                               "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] are reversed",
                               fname, tname, b, en);
    if (en > data_size)
        return hf_set_error(HUBRT_ERR_FORMAT,
                               "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                               "] out of range (the data region is %" PRIu64 " bytes)",
                               fname, tname, b, en, data_size);
    if (en - b != n_bytes) {
        char sb[256];
        return hf_set_error(HUBRT_ERR_FORMAT,
                               "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                               " bytes but dtype %s x shape %s needs %" PRIu64,
                               fname, tname, b, en, en - b, hf_dtype_name(t->dtype),
                               shape_str(t, sb, sizeof sb), n_bytes);
    }
    *begin_out = b;
    return 0;
}

static int check_metadata(const cJSON *m, const char *fname)
{
    if (!cJSON_IsObject(m))
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: __metadata__ is %s, not an object", fname,
                               json_kind(m));
    for (const cJSON *v = m->child; v; v = v->next)
        if (!cJSON_IsString(v))
            return hf_set_error(HUBRT_ERR_FORMAT, "%s: __metadata__ value '%s' is %s, not a string",
                                   fname, v->string ? v->string : "", json_kind(v));
    return 0;
}

/* Validates the image and fills f (name, base, size already set). */
static int st_parse(hf_st_file *f)
{
    const char *fname = f->name;
    if (f->size < 8)
        return hf_set_error(HUBRT_ERR_FORMAT,
                               "%s: file is %zu bytes, shorter than the 8-byte header length "
                               "(truncated?)", fname, f->size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f->base[i];
    if (hlen > ST_MAX_HEADER)
        return hf_set_error(HUBRT_ERR_FORMAT,
                               "%s: header length %" PRIu64 " exceeds the 100 MB limit", fname, hlen);
    if (hlen > f->size - 8)
        return hf_set_error(HUBRT_ERR_FORMAT,
                               "%s: header length %" PRIu64 " runs past the end of the file "
                               "(%zu bytes; truncated?)", fname, hlen, f->size);
    f->data_start = 8 + hlen;
    uint64_t data_size = f->size - f->data_start;

    const char *text = (const char *)f->base + 8;
    size_t tlen = (size_t)hlen;
    while (tlen && text[0] == ' ') text++, tlen--;
    if (tlen == 0 || text[0] != '{')
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: header is not a JSON object", fname);
    char label[512];
    snprintf(label, sizeof label, "%s: header", fname);
    cJSON *root = NULL;
    int rc = hf_json_parse(text, tlen, label, &root);
    if (rc) return rc;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: header is not a JSON object", fname);
    }

    int n = 0;
    size_t names_bytes = 0;
    int n_meta = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (++n_meta > 1) {
                cJSON_Delete(root);
                return hf_set_error(HUBRT_ERR_FORMAT, "%s: duplicate __metadata__ entry", fname);
            }
            if ((rc = check_metadata(e, fname))) {
                cJSON_Delete(root);
                return rc;
            }
            continue;
        }
        n++;
        names_bytes += strlen(e->string) + 1;
    }
    f->n = n;
    f->tensors = calloc(n ? (size_t)n : 1, sizeof *f->tensors);
    f->begin = calloc(n ? (size_t)n : 1, sizeof *f->begin);
    f->by_name = calloc(n ? (size_t)n : 1, sizeof *f->by_name);
    f->names = malloc(names_bytes ? names_bytes : 1);
    int *order = calloc(n ? (size_t)n : 1, sizeof *order);
    hf_tensor *tmp = calloc(n ? (size_t)n : 1, sizeof *tmp);
    if (!f->tensors || !f->begin || !f->by_name || !f->names || !order || !tmp) {
        cJSON_Delete(root);
        rc = hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory for %d tensors", fname, n);
        free(order);
        free(tmp);
        return rc;
    }

    /* Parse entries in header order into tmp (names into the pool). */
    uint64_t *tbegin = f->begin; /* header order for now, permuted below */
    char *pool = f->names;
    int i = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) continue;
        size_t len = strlen(e->string) + 1;
        memcpy(pool, e->string, len);
        tmp[i].name = pool;
        tmp[i].file = f->name;
        pool += len;
        if ((rc = parse_entry(e, fname, e->string, data_size, &tmp[i], &tbegin[i]))) {
            cJSON_Delete(root);
            free(order);
            free(tmp);
            return rc;
        }
        i++;
    }
    cJSON_Delete(root);

    /* Duplicates: cJSON keeps every key, so sort names and compare neighbours. */
    memcpy(f->tensors, tmp, (size_t)n * sizeof *tmp);
    for (i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof *order, cmp_by_name, f);
    for (i = 1; i < n; i++)
        if (!strcmp(tmp[order[i]].name, tmp[order[i - 1]].name)) {
            rc = hf_set_error(HUBRT_ERR_FORMAT, "%s: duplicate tensor name '%s'", fname,
                                   tmp[order[i]].name);
            free(order);
            free(tmp);
            return rc;
        }

    /* Tiling: sorted by begin, each range starts where the previous ended. */
    for (i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof *order, cmp_by_begin, f);
    uint64_t expect = 0;
    const char *prev = NULL;
    uint64_t prev_b = 0;
    for (i = 0; i < n; i++) {
        const hf_tensor *t = &tmp[order[i]];
        uint64_t b = tbegin[order[i]], en = b + t->n_bytes;
        if (b < expect) {
            rc = hf_set_error(HUBRT_ERR_FORMAT,
                                   "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                                   "] overlap tensor '%s' [%" PRIu64 ", %" PRIu64 "]",
                                   fname, t->name, b, en, prev, prev_b, expect);
            free(order);
            free(tmp);
            return rc;
        }
        if (b > expect) {
            rc = hf_set_error(HUBRT_ERR_FORMAT,
                                   "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                                   "] leave a hole: bytes [%" PRIu64 ", %" PRIu64
                                   ") of the data region belong to no tensor",
                                   fname, t->name, b, en, expect, b);
            free(order);
            free(tmp);
            return rc;
        }
        expect = en;
        prev = t->name;
        prev_b = b;
    }
    if (expect != data_size) {
        rc = hf_set_error(HUBRT_ERR_FORMAT,
                               "%s: bytes [%" PRIu64 ", %" PRIu64 ") at the end of the data region "
                               "belong to no tensor (a hole, or the file has trailing data)",
                               fname, expect, data_size);
        free(order);
        free(tmp);
        return rc;
    }

    /* Final order: by data offset (file order). */
    uint64_t *sorted_begin = malloc((n ? (size_t)n : 1) * sizeof *sorted_begin);
    if (!sorted_begin) {
        rc = hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory", fname);
        free(order);
        free(tmp);
        return rc;
    }
    for (i = 0; i < n; i++) {
        f->tensors[i] = tmp[order[i]];
        sorted_begin[i] = tbegin[order[i]];
        f->tensors[i].data = f->base + f->data_start + sorted_begin[i];
    }
    free(f->begin);
    f->begin = sorted_begin;
    for (i = 0; i < n; i++) f->by_name[i] = i;
    qsort_r(f->by_name, (size_t)n, sizeof *f->by_name, cmp_by_name, f);
    free(order);
    free(tmp);
    return 0;
}

static hf_st_file *st_new(const char *name)
{
    hf_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->name = strdup(name ? name : "(memory)"))) {
        free(f);
        hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory", name ? name : "(memory)");
        return NULL;
    }
    return f;
}

hf_st_file *hf_st_open_memory(const void *data, size_t size, const char *name)
{
    if (!data && size) {
        hf_set_error(HUBRT_ERR_INVALID_ARG, "hf_st_open_memory: NULL data");
        return NULL;
    }
    hf_st_file *f = st_new(name);
    if (!f) return NULL;
    static const uint8_t empty[1];
    f->base = data ? data : empty;
    f->size = size;
    if (st_parse(f)) {
        st_free(f);
        return NULL;
    }
    return f;
}

hf_st_file *hf_st_open(const char *path)
{
    if (!path) {
        hf_set_error(HUBRT_ERR_INVALID_ARG, "hf_st_open: NULL path");
        return NULL;
    }
    struct stat st;
    int fd = hf_open_regular(path, &st);
    if (fd < 0) return NULL;
    hf_st_file *f = st_new(path);
    if (!f) {
        close(fd);
        return NULL;
    }
    f->size = (size_t)st.st_size;
    static const uint8_t empty[8];
    if (f->size < 8) {
        /* too short to map usefully; st_parse reports it */
        f->base = empty;
    } else {
        void *p = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            hf_set_error(HUBRT_ERR_IO, "%s: cannot map %zu bytes: %s", path, f->size,
                            strerror(errno));
            close(fd);
            st_free(f);
            return NULL;
        }
        f->base = p;
        f->mapped = 1;
    }
    close(fd);
    if (st_parse(f)) {
        st_free(f);
        return NULL;
    }
    return f;
}

int hf_st_count(const hf_st_file *f) { return f ? f->n : 0; }

const hf_tensor *hf_st_tensor(const hf_st_file *f, int i)
{
    if (!f || i < 0 || i >= f->n) return NULL;
    return &f->tensors[i];
}

const hf_tensor *hf_st_find(const hf_st_file *f, const char *name)
{
    if (!f || !name) return NULL;
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const hf_tensor *t = &f->tensors[f->by_name[mid]];
        int c = strcmp(name, t->name);
        if (!c) return t;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const char *hf_st_name(const hf_st_file *f) { return f ? f->name : NULL; }

uint64_t hf_st_file_size(const hf_st_file *f) { return f ? (uint64_t)f->size : 0; }

static size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

/* pread all of [off, off+n) into dst; 0 or -1 with errno. */
static int pread_full(int fd, void *dst, size_t n, uint64_t off)
{
    uint8_t *p = dst;
    while (n) {
        size_t chunk = n > ((size_t)1 << 30) ? (size_t)1 << 30 : n;
        ssize_t r = pread(fd, p, chunk, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r == 0) errno = EIO; /* file shrank */
            return -1;
        }
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

int hf_st_copy_to_memory(hf_st_file *f)
{
    if (!f) return hf_set_error(HUBRT_ERR_INVALID_ARG, "hf_st_copy_to_memory: NULL file");
    if (f->copy || !f->base) return 0; /* already copied */
    size_t total = 0;
    for (int i = 0; i < f->n; i++) {
        size_t next;
        if (__builtin_add_overflow(align_up(total, ST_TENSOR_ALIGN), f->tensors[i].n_bytes, &next))
            return hf_set_error(HUBRT_ERR_NOMEM, "%s: weights too large to copy", f->name);
        total = next;
    }
    if (total == 0) return 0; /* nothing to copy: keep the (tiny) views */
    size_t cap = align_up(total, ST_HUGE_PAGE);
    uint8_t *buf = aligned_alloc(ST_HUGE_PAGE, cap);
    if (!buf)
        return hf_set_error(HUBRT_ERR_NOMEM, "%s: cannot allocate %zu bytes for the weights",
                               f->name, cap);
    /* Huge pages cut TLB misses when decode streams every weight (targets.md). */
    (void)madvise(buf, cap, MADV_HUGEPAGE);

    int fd = -1;
    if (f->mapped) {
        fd = open(f->name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            free(buf);
            return hf_set_error(HUBRT_ERR_IO, "%s: cannot reopen to copy: %s", f->name,
                                   strerror(errno));
        }
    }
    size_t off = 0;
    for (int i = 0; i < f->n; i++) {
        hf_tensor *t = &f->tensors[i];
        off = align_up(off, ST_TENSOR_ALIGN);
        uint64_t src = f->data_start + f->begin[i];
        if (fd >= 0) {
            /* pread, not memcpy from the map: file pages never become our RSS */
            if (pread_full(fd, buf + off, t->n_bytes, src) != 0) {
                int e = errno;
                close(fd);
                free(buf);
                return hf_set_error(HUBRT_ERR_IO, "%s: tensor '%s': read failed: %s", f->name,
                                       t->name, strerror(e));
            }
        } else if (t->n_bytes) {
            memcpy(buf + off, f->base + src, t->n_bytes);
        }
        off += t->n_bytes;
    }
    if (fd >= 0) close(fd);
    off = 0;
    for (int i = 0; i < f->n; i++) {
        off = align_up(off, ST_TENSOR_ALIGN);
        f->tensors[i].data = buf + off;
        off += f->tensors[i].n_bytes;
    }
    if (f->mapped) munmap((void *)f->base, f->size);
    f->mapped = 0;
    f->base = NULL;
    f->copy = buf;
    return 0;
}
