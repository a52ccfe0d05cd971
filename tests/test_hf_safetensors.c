/*
 * tests/test_hf_safetensors.c — the safetensors loader and the weights folder
 * logic on fixtures this test writes itself (in a mkdtemp folder):
 *   - one valid file per dtype (all 15), views and the COPY storage;
 *   - handcrafted corrupt files, one per fault the loader must catch, each
 *     expecting its own error text (and truncation in each file region);
 *   - directories: single file, sharded index (and its faults), pickle-only
 *     folders refused with the "provide safetensors" message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "include/hubrt.h"
#include "hf/error.h"
#include "hf/safetensors.h"
#include "tests/test.h"

static char tmpdir[256];

/* ---- fixture writers ------------------------------------------------------ */

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

/*
 * An image: u64 LE hlen (or the given override), the header text, then
 * data_len data bytes (byte i = i*7+3). Caller frees *out.
 */
static size_t make_image(const char *header, uint64_t hlen_override, size_t data_len, uint8_t **out)
{
    size_t hl = strlen(header);
    size_t n = 8 + hl + data_len;
    uint8_t *b = malloc(n);
    uint64_t hlen = hlen_override ? hlen_override : hl;
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(b + 8, header, hl);
    for (size_t i = 0; i < data_len; i++) b[8 + hl + i] = (uint8_t)(i * 7 + 3);
    *out = b;
    return n;
}

static void path_in(char *buf, size_t cap, const char *dir, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

/* Writes header + data to tmpdir/name; returns the path in a static buffer. */
static const char *write_st(const char *name, const char *header, size_t data_len)
{
    static char path[512];
    uint8_t *img;
    size_t n = make_image(header, 0, data_len, &img);
    path_in(path, sizeof path, tmpdir, name);
    write_bytes(path, img, n);
    free(img);
    return path;
}

/* ---- valid files ------------------------------------------------------------ */

static void test_every_dtype(void)
{
    for (int d = 0; d < HUBRT_DTYPE_COUNT; d++) {
        const char *dn = hubrt_dtype_name((hubrt_dtype)d);
        size_t es = hf_dtype_size((hubrt_dtype)d);
        TEST_CHECK(dn && es >= 1 && es <= 8, "dtype %d has a name and a size", d);
        if (!dn) continue;
        char header[256], name[64];
        size_t nb = 6 * es;
        snprintf(header, sizeof header,
                 "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"%s\",\"shape\":[2,3],"
                 "\"data_offsets\":[0,%zu]}}",
                 dn, nb);
        snprintf(name, sizeof name, "dtype_%s.safetensors", dn);
        const char *path = write_st(name, header, nb);
        hf_st_file *f = hf_st_open(path);
        TEST_CHECK(f != NULL, "%s opens: %s", name, hubrt_last_error());
        if (!f) continue;
        const hf_tensor *t = hf_st_find(f, "w");
        TEST_CHECK(hf_st_count(f) == 1 && t, "%s: one tensor 'w'", name);
        if (t) {
            TEST_CHECK(t->dtype == (hubrt_dtype)d, "%s: dtype parsed", name);
            TEST_CHECK(t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3, "%s: shape", name);
            TEST_CHECK(t->n_elements == 6 && t->n_bytes == nb, "%s: sizes", name);
            int same = 1;
            for (size_t i = 0; i < nb; i++) same &= ((const uint8_t *)t->data)[i] == (uint8_t)(i * 7 + 3);
            TEST_CHECK(same, "%s: data bytes are the file's", name);
            TEST_CHECK(!strcmp(t->file, path), "%s: tensor knows its file", name);
        }
        TEST_CHECK(hf_st_find(f, "x") == NULL, "%s: absent name not found", name);
        hf_st_close(f);
    }
    TEST_CHECK(hubrt_dtype_name(HUBRT_DTYPE_COUNT) == NULL, "dtype name out of range is NULL");
    TEST_CHECK(hf_dtype_size(HUBRT_DTYPE_COUNT) == 0, "dtype size out of range is 0");
}

static void test_multi_and_copy(void)
{
    /* three tensors out of header order, a scalar and a zero-size one */
    const char *header =
        "{\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[8,20]},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[20,28]},"
        "\"z\":{\"dtype\":\"BF16\",\"shape\":[0,5],\"data_offsets\":[28,28]}}   ";
    const char *path = write_st("multi.safetensors", header, 28);
    hf_st_file *f = hf_st_open(path);
    TEST_CHECK(f != NULL, "multi opens: %s", hubrt_last_error());
    if (!f) return;
    TEST_CHECK(hf_st_count(f) == 4, "4 tensors");
    const hf_tensor *t0 = hf_st_tensor(f, 0), *t1 = hf_st_tensor(f, 1);
    TEST_CHECK(t0 && !strcmp(t0->name, "a") && t1 && !strcmp(t1->name, "b"),
               "tensors are in data-offset order");
    const hf_tensor *s = hf_st_find(f, "s"), *z = hf_st_find(f, "z");
    TEST_CHECK(s && s->ndim == 0 && s->n_elements == 1 && s->n_bytes == 8, "scalar tensor");
    TEST_CHECK(z && z->n_elements == 0 && z->n_bytes == 0, "zero-size tensor");
    TEST_CHECK(hf_st_tensor(f, 4) == NULL && hf_st_tensor(f, -1) == NULL, "index bounds");
    const hf_tensor *b = hf_st_find(f, "b");
    uint8_t before[12];
    memcpy(before, b->data, 12);
    TEST_CHECK(hf_st_copy_to_memory(f) == 0, "copy to memory: %s", hubrt_last_error());
    b = hf_st_find(f, "b");
    TEST_CHECK(memcmp(before, b->data, 12) == 0, "copied data equals the file's");
    int aligned = 1;
    for (int i = 0; i < hf_st_count(f); i++)
        aligned &= ((uintptr_t)hf_st_tensor(f, i)->data % 64) == 0;
    TEST_CHECK(aligned, "copied tensors are 64-byte aligned");
    TEST_CHECK(hf_st_copy_to_memory(f) == 0, "a second copy is a no-op");
    hf_st_close(f);

    /* the same image from memory, copied too */
    uint8_t *img;
    size_t n = make_image(header, 0, 28, &img);
    f = hf_st_open_memory(img, n, "mem");
    TEST_CHECK(f && hf_st_count(f) == 4, "open_memory works");
    if (f) {
        TEST_CHECK(hf_st_copy_to_memory(f) == 0, "copy from memory image");
        TEST_CHECK(((const uint8_t *)hf_st_find(f, "a")->data)[1] == 10, "copied memory data");
        hf_st_close(f);
    }
    free(img);

    /* an empty file (no tensors) is valid */
    f = hf_st_open(write_st("empty.safetensors", "{}", 0));
    TEST_CHECK(f && hf_st_count(f) == 0, "'{}' with no data is a valid empty file");
    hf_st_close(f);
    hf_st_close(NULL);
}

/* ---- corrupt files ---------------------------------------------------------- */

typedef struct corrupt_case {
    const char *what;
    const char *header;    /* NULL: raw bytes below */
    uint64_t hlen;         /* 0: the header's length */
    size_t data_len;
    const char *expect;    /* substring of the error */
} corrupt_case;

#define T1(dt, shape, offs) "{\"t\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" offs "}}"

static const corrupt_case CASES[] = {
    {"header length over 100 MB", "{}", 100000001ull, 0, "exceeds the 100 MB limit"},
    {"header length beyond the file", "{}", 4096, 0, "runs past the end of the file"},
    {"empty header", "", 0, 0, "not a JSON object"},
    {"header is an array", "[1, 2]", 0, 0, "header is not a JSON object"},
    {"header is a string", "\"abc\"", 0, 0, "header is not a JSON object"},
    {"header is broken JSON", "{\"t\": {\"dtype\": ", 0, 0, "not valid JSON"},
    {"text after the header object", "{} x", 0, 0, "unexpected text after the JSON value"},
    {"NUL byte inside the header", "{}\0", 3, 0, "NUL byte"},
    {"entry not an object", "{\"t\": 5}", 0, 0, "tensor 't': entry is a number, not an object"},
    {"dtype missing", "{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4, "'dtype' is missing"},
    {"dtype not a string", "{\"t\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4,
     "'dtype' is a number"},
    {"unknown dtype", T1("Q4_0", "[4]", "[0,4]"), 0, 4, "tensor 't': unknown dtype 'Q4_0'"},
    {"lower-case dtype", T1("f32", "[1]", "[0,4]"), 0, 4, "unknown dtype 'f32'"},
    {"shape missing", "{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 0, 4, "'shape' is missing"},
    {"shape not an array", T1("F32", "4", "[0,16]"), 0, 16, "'shape' is a number"},
    {"negative dim", T1("F32", "[2,-3]", "[0,24]"), 0, 24, "tensor 't': shape[1] is negative"},
    {"non-integer dim", T1("F32", "[2.5]", "[0,10]"), 0, 10, "shape[0] is not an integer (2.5)"},
    {"string dim", T1("F32", "[\"2\"]", "[0,8]"), 0, 8, "shape[0] is a string"},
    {"rank over 8", T1("U8", "[1,1,1,1,1,1,1,1,1]", "[0,1]"), 0, 1, "rank 9 exceeds the limit of 8"},
    {"shape product overflows", T1("F32", "[4294967296,4294967296,4294967296]", "[0,4]"), 0, 4,
     "shape product overflows"},
    {"byte size overflows", T1("F64", "[1125899906842624,1024]", "[0,8]"), 0, 8, "tensor 't': shape product overflows (shape [1125899906842624, 1024])"},
    {"dim beyond 2^53", T1("U8", "[1e300]", "[0,1]"), 0, 1, "shape product overflows"},
    {"data_offsets missing", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 0, 4, "tensor 't': data_offsets missing"},
    {"data_offsets one number", T1("F32", "[1]", "[4]"), 0, 4, "data_offsets must be an array [begin, end]"},
    {"data_offsets not an array", T1("F32", "[1]", "\"0-4\""), 0, 4, "data_offsets must be an array"},
    {"data_offsets negative", T1("F32", "[1]", "[-4,0]"), 0, 4, "must be non-negative integers"},
    {"data_offsets fractional", T1("F32", "[1]", "[0,4.5]"), 0, 4, "must be non-negative integers"},
    {"data_offsets reversed", T1("F32", "[1]", "[8,4]"), 0, 8, "data_offsets [8, 4] are reversed"},
    {"data_offsets out of range", T1("F32", "[4]", "[0,16]"), 0, 8, "data_offsets [0, 16] out of range"},
    {"data_offsets size mismatch", T1("F32", "[3]", "[0,8]"), 0, 8, "hold 8 bytes but dtype F32 x shape [3] needs 12"},
    {"overlapping tensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     0, 12, "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]"},
    {"same range twice",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     0, 8, "overlap tensor"},
    {"hole between tensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
     0, 20, "leave a hole: bytes [8, 12)"},
    {"hole at the start", T1("F32", "[1]", "[4,8]"), 0, 8, "leave a hole: bytes [0, 4)"},
    {"trailing bytes after the last tensor", T1("F32", "[1]", "[0,4]"), 0, 9,
     "bytes [4, 9) at the end of the data region belong to no tensor"},
    {"duplicate tensor names",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     0, 8, "duplicate tensor name 'a'"},
    {"duplicate __metadata__", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, 0, "duplicate __metadata__"},
    {"__metadata__ not an object", "{\"__metadata__\":[1]}", 0, 0, "__metadata__ is an array, not an object"},
    {"__metadata__ value not a string", "{\"__metadata__\":{\"format\":1}}", 0, 0,
     "__metadata__ value 'format' is a number, not a string"},
};

static void test_corrupt(void)
{
    int n_cases = 0;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const corrupt_case *c = &CASES[i];
        uint8_t *img;
        size_t hl = c->hlen ? c->hlen : strlen(c->header);
        /* for the NUL case the header text is "{}\0" (3 bytes): copy by hlen */
        size_t n;
        if (c->hlen && c->hlen < 64) {
            n = 8 + hl + c->data_len;
            img = calloc(1, n);
            for (int k = 0; k < 8; k++) img[k] = (uint8_t)((uint64_t)hl >> (8 * k));
            memcpy(img + 8, c->header, hl);
        } else {
            n = make_image(c->header, c->hlen, c->data_len, &img);
        }
        char name[64];
        snprintf(name, sizeof name, "corrupt_%02zu.safetensors", i);
        char path[512];
        path_in(path, sizeof path, tmpdir, name);
        write_bytes(path, img, n);
        hf_clear_error();
        hf_st_file *f = hf_st_open(path);
        TEST_CHECK(f == NULL, "%s: must be refused", c->what);
        TEST_CHECK(strstr(hubrt_last_error(), c->expect) != NULL, "%s: expected '%s', got '%s'", c->what,
                   c->expect, hubrt_last_error());
        TEST_CHECK(strstr(hubrt_last_error(), name) != NULL, "%s: message names the file", c->what);
        TEST_CHECK(hf_error_status() == HUBRT_ERR_FORMAT || hf_error_status() == HUBRT_ERR_UNSUPPORTED,
                   "%s: a format status", c->what);
        hf_st_close(f);
        /* and the same bytes from memory */
        f = hf_st_open_memory(img, n, "mem");
        TEST_CHECK(f == NULL && strstr(hubrt_last_error(), c->expect), "%s (memory): got '%s'", c->what,
                   hubrt_last_error());
        hf_st_close(f);
        free(img);
        n_cases++;
    }
    TEST_CHECK(n_cases >= 20, "at least 20 corrupt cases (%d)", n_cases);

    /* JSON nested absurdly deep, inside __metadata__ and as a tensor entry */
    char deep[4096];
    size_t o = (size_t)snprintf(deep, sizeof deep, "{\"__metadata__\":{\"x\":");
    for (int k = 0; k < 200; k++) deep[o++] = '[';
    for (int k = 0; k < 200; k++) deep[o++] = ']';
    snprintf(deep + o, sizeof deep - o, "}}");
    hf_st_file *f = hf_st_open(write_st("deep.safetensors", deep, 0));
    TEST_CHECK(!f && strstr(hubrt_last_error(), "nested more than 64 levels"), "deep nesting: '%s'",
               hubrt_last_error());
    hf_st_close(f);
    /* brackets inside strings do not count as nesting */
    o = (size_t)snprintf(deep, sizeof deep, "{\"__metadata__\":{\"x\":\"");
    for (int k = 0; k < 200; k++) deep[o++] = '[';
    snprintf(deep + o, sizeof deep - o, "\\\"\"}}");
    f = hf_st_open(write_st("brackets_in_string.safetensors", deep, 0));
    TEST_CHECK(f != NULL, "brackets inside a string are fine: %s", hubrt_last_error());
    hf_st_close(f);

    /* truncation in each region of a valid two-tensor file */
    const char *header =
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
        "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[16,24]}}";
    uint8_t *img;
    size_t n = make_image(header, 0, 24, &img);
    size_t hl = strlen(header);
    struct {
        const char *region;
        size_t keep;
        const char *expect;
    } cuts[] = {
        {"empty file", 0, "shorter than the 8-byte header length"},
        {"inside the 8-byte length", 5, "shorter than the 8-byte header length"},
        {"right after the length", 8, "runs past the end of the file"},
        {"inside the header", 8 + hl / 2, "runs past the end of the file"},
        {"right after the header", 8 + hl, "out of range"},
        {"inside the first tensor", 8 + hl + 10, "out of range"},
        {"inside the last tensor", n - 1, "tensor 'b': data_offsets [16, 24] out of range"},
    };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char name[64], path[512];
        snprintf(name, sizeof name, "truncated_%zu.safetensors", i);
        path_in(path, sizeof path, tmpdir, name);
        write_bytes(path, img, cuts[i].keep);
        f = hf_st_open(path);
        TEST_CHECK(!f && strstr(hubrt_last_error(), cuts[i].expect), "truncated %s: expected '%s', got '%s'",
                   cuts[i].region, cuts[i].expect, hubrt_last_error());
        hf_st_close(f);
    }
    /* the untruncated file is fine */
    char path[512];
    path_in(path, sizeof path, tmpdir, "untruncated.safetensors");
    write_bytes(path, img, n);
    f = hf_st_open(path);
    TEST_CHECK(f && hf_st_count(f) == 2, "the whole file opens: %s", hubrt_last_error());
    hf_st_close(f);
    free(img);

    /* not a file at all */
    f = hf_st_open(tmpdir);
    TEST_CHECK(!f && hf_error_status() == HUBRT_ERR_IO, "a directory is refused with IO");
    path_in(path, sizeof path, tmpdir, "does_not_exist.safetensors");
    f = hf_st_open(path);
    TEST_CHECK(!f && hf_error_status() == HUBRT_ERR_IO && strstr(hubrt_last_error(), "does_not_exist"),
               "a missing file is IO and named");
    TEST_CHECK(hf_st_open(NULL) == NULL && hf_st_open_memory(NULL, 5, "x") == NULL, "NULL args");

    /* every truncation of a valid file fails cleanly (no crash, a message) */
    n = make_image(header, 0, 24, &img);
    int clean = 1;
    for (size_t keep = 0; keep < n; keep++) {
        f = hf_st_open_memory(img, keep, "cut");
        clean &= f == NULL && hubrt_last_error()[0];
        hf_st_close(f);
    }
    TEST_CHECK(clean, "every strict prefix of a valid file is refused with a message");
    /* every single-byte flip in the header either parses or fails with a message */
    int ok = 1;
    for (size_t pos = 0; pos < 8 + hl; pos++) {
        uint8_t save = img[pos];
        img[pos] ^= 0x5a;
        hf_clear_error();
        f = hf_st_open_memory(img, n, "flip");
        ok &= f != NULL || hubrt_last_error()[0];
        hf_st_close(f);
        img[pos] = save;
    }
    TEST_CHECK(ok, "byte flips in the header never pass silently without a message");
    free(img);
}

/* ---- model directories ------------------------------------------------------ */

static void make_dir(char *out, size_t cap, const char *name)
{
    path_in(out, cap, tmpdir, name);
    mkdir(out, 0755);
}

static const char *write_in(const char *dir, const char *name, const char *header, size_t data_len)
{
    static char path[600];
    uint8_t *img;
    size_t n = make_image(header, 0, data_len, &img);
    path_in(path, sizeof path, dir, name);
    write_bytes(path, img, n);
    free(img);
    return path;
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[600];
    path_in(path, sizeof path, dir, name);
    write_bytes(path, text, strlen(text));
}

static const char *SHARD_A =
    "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
    "\"y\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[8,16]}}";
static const char *SHARD_B = "{\"z\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]}}";

static void test_weights_dirs(void)
{
    char d[512];
    /* single file, both storage modes */
    make_dir(d, sizeof d, "single");
    write_in(d, "model.safetensors", SHARD_A, 16);
    for (int mode = 0; mode < 3; mode++) {
        hf_weights *w = hf_weights_open(d, (hubrt_weight_storage)mode);
        TEST_CHECK(w != NULL, "single-file dir opens (storage %d): %s", mode, hubrt_last_error());
        if (!w) continue;
        TEST_CHECK(hf_weights_count(w) == 2 && hf_weights_n_files(w) == 1, "counts");
        const hf_tensor *y = hf_weights_find(w, "y");
        TEST_CHECK(y && y->dtype == HUBRT_DTYPE_BF16 && ((const uint8_t *)y->data)[0] == (uint8_t)(8 * 7 + 3),
                   "tensor y data (storage %d)", mode);
        int64_t size = 0;
        const char *fn = hf_weights_file(w, 0, &size);
        TEST_CHECK(fn && !strcmp(fn, "model.safetensors") && size == (int64_t)(8 + strlen(SHARD_A) + 16),
                   "file name and size");
        TEST_CHECK(hf_weights_file(w, 1, NULL) == NULL && hf_weights_tensor(w, 2) == NULL,
                   "bounds");
        TEST_CHECK(hf_weights_find(w, "nope") == NULL, "absent tensor");
        hf_weights_close(w);
    }
    TEST_CHECK(hf_weights_open(d, (hubrt_weight_storage)9) == NULL, "bad storage mode refused");

    /* sharded */
    make_dir(d, sizeof d, "sharded");
    write_in(d, "model-00001-of-00002.safetensors", SHARD_A, 16);
    write_in(d, "model-00002-of-00002.safetensors", SHARD_B, 6);
    write_text(d, "model.safetensors.index.json",
               "{\"metadata\":{\"total_size\":22},\"weight_map\":{"
               "\"x\":\"model-00001-of-00002.safetensors\",\"y\":\"model-00001-of-00002.safetensors\","
               "\"z\":\"model-00002-of-00002.safetensors\"}}");
    hf_weights *w = hf_weights_open(d, HUBRT_STORAGE_COPY);
    TEST_CHECK(w && hf_weights_count(w) == 3 && hf_weights_n_files(w) == 2, "sharded opens: %s",
               hubrt_last_error());
    if (w) {
        const hf_tensor *z = hf_weights_find(w, "z");
        TEST_CHECK(z && z->dtype == HUBRT_DTYPE_F16 && strstr(z->file, "00002"), "z from shard 2");
        hf_weights_close(w);
    }

    struct {
        const char *what, *index, *expect;
    } bad[] = {
        {"missing shard",
         "{\"weight_map\":{\"x\":\"model-00001-of-00002.safetensors\",\"q\":\"model-00009.safetensors\"}}",
         "shard 'model-00009.safetensors' (holding tensor 'q') is missing"},
        {"tensor not in its shard",
         "{\"weight_map\":{\"x\":\"model-00002-of-00002.safetensors\"}}",
         "tensor 'x' is mapped to shard 'model-00002-of-00002.safetensors', which does not contain it"},
        {"shard name with a path", "{\"weight_map\":{\"x\":\"../single/model.safetensors\"}}",
         "must be a file name in the model directory"},
        {"no weight_map", "{\"metadata\":{}}", "no 'weight_map' object"},
        {"empty weight_map", "{\"weight_map\":{}}", "weight_map is empty"},
        {"index not JSON", "{\"weight_map\":", "not valid JSON"},
        {"shard value not a string", "{\"weight_map\":{\"x\":1}}", "must be a file name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(d, "model.safetensors.index.json", bad[i].index);
        w = hf_weights_open(d, HUBRT_STORAGE_MMAP);
        TEST_CHECK(!w && strstr(hubrt_last_error(), bad[i].expect), "%s: expected '%s', got '%s'",
                   bad[i].what, bad[i].expect, hubrt_last_error());
        hf_weights_close(w);
    }
    /* a tensor stored in two shards */
    write_in(d, "model-00002-of-00002.safetensors", SHARD_A, 16);
    write_text(d, "model.safetensors.index.json",
               "{\"weight_map\":{\"x\":\"model-00001-of-00002.safetensors\","
               "\"y\":\"model-00002-of-00002.safetensors\"}}");
    w = hf_weights_open(d, HUBRT_STORAGE_MMAP);
    TEST_CHECK(!w && strstr(hubrt_last_error(), "is stored twice"), "duplicate across shards: '%s'",
               hubrt_last_error());
    /* a corrupt shard names the shard */
    write_in(d, "model-00002-of-00002.safetensors", "{\"y\":{\"dtype\":\"F32\"}}", 0);
    w = hf_weights_open(d, HUBRT_STORAGE_MMAP);
    TEST_CHECK(!w && strstr(hubrt_last_error(), "model-00002-of-00002.safetensors") &&
                   strstr(hubrt_last_error(), "'shape' is missing"),
               "corrupt shard: '%s'", hubrt_last_error());

    /* pickle only: refused, never read */
    make_dir(d, sizeof d, "pickle_bin");
    write_text(d, "pytorch_model.bin", "PK\x03\x04 not really a zip");
    w = hf_weights_open(d, HUBRT_STORAGE_AUTO);
    TEST_CHECK(!w && strstr(hubrt_last_error(), "provide safetensors") &&
                   strstr(hubrt_last_error(), "pytorch_model.bin") &&
                   hf_error_status() == HUBRT_ERR_UNSUPPORTED,
               "pytorch_model.bin refused: '%s'", hubrt_last_error());
    make_dir(d, sizeof d, "pickle_pt");
    write_text(d, "weights.pt", "x");
    w = hf_weights_open(d, HUBRT_STORAGE_AUTO);
    TEST_CHECK(!w && strstr(hubrt_last_error(), "provide safetensors"), "*.pt refused: '%s'",
               hubrt_last_error());
    make_dir(d, sizeof d, "nothing");
    w = hf_weights_open(d, HUBRT_STORAGE_AUTO);
    TEST_CHECK(!w && strstr(hubrt_last_error(), "no weights found") && hf_error_status() == HUBRT_ERR_IO,
               "empty dir: '%s'", hubrt_last_error());
    make_dir(d, sizeof d, "oddname");
    write_in(d, "weights.safetensors", SHARD_B, 6);
    w = hf_weights_open(d, HUBRT_STORAGE_AUTO);
    TEST_CHECK(!w && strstr(hubrt_last_error(), "found weights.safetensors"), "odd name: '%s'",
               hubrt_last_error());
    TEST_CHECK(hf_weights_open(NULL, HUBRT_STORAGE_AUTO) == NULL, "NULL dir");
    hf_weights_close(NULL);
}

/* Shared models: every file opens, and COPY equals MMAP byte for byte. */
static void test_shared_models(void)
{
    const char *shared = test_shared_dir();
    if (!shared) {
        TEST_SKIP("../shared missing: shared-model weight checks skipped");
        return;
    }
    const char *models[] = {"stories260K", "llama-tiny-f16-sharded", "bert-tiny"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        char d[512];
        snprintf(d, sizeof d, "%s/models/%s", shared, models[i]);
        hf_weights *a = hf_weights_open(d, HUBRT_STORAGE_MMAP);
        hf_weights *b = hf_weights_open(d, HUBRT_STORAGE_COPY);
        TEST_CHECK(a && b, "%s opens in both modes: %s", models[i], hubrt_last_error());
        if (a && b) {
            int same = hf_weights_count(a) == hf_weights_count(b) && hf_weights_count(a) > 0;
            for (int k = 0; same && k < hf_weights_count(a); k++) {
                const hf_tensor *x = hf_weights_tensor(a, k);
                const hf_tensor *y = hf_weights_find(b, x->name);
                same = y && y->n_bytes == x->n_bytes && !memcmp(x->data, y->data, x->n_bytes);
            }
            TEST_CHECK(same, "%s: COPY storage equals the file", models[i]);
        }
        hf_weights_close(a);
        hf_weights_close(b);
    }
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hubrt-test-st-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_every_dtype();
    test_multi_and_copy();
    test_corrupt();
    test_weights_dirs();
    test_shared_models();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", tmpdir);
    return test_finish();
}
