/*
 * tests/test_models_storage.c — every way of placing the weights gives the
 * same model: AUTO (file map copied into the interleaved huge-page arena),
 * COPY (read into memory first; a tied embedding then stays one view), MMAP
 * (views) and HUBRT_INTERLEAVE=0 (plain rows in the arena). Logits of a
 * prompt and of the next decode step are compared against AUTO's, for one
 * model per family, tied and untied heads (../shared/models).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "include/hubrt.h"
#include "tests/test.h"

enum { N_PROMPT = 6, N_MODES = 4 };

/* Logits of a 6-token prompt then one decode step (causal), or of an encoder
 * pass; out holds 2 rows (causal) or N_PROMPT rows. 0 or -1. */
static int run(const char *dir, int mode, float *out, int *width, int *rows)
{
    hubrt_load_params lp = hubrt_load_default_params();
    lp.no_tokenizer = 1;
    lp.n_threads = 1;
    if (mode == 1) lp.storage = HUBRT_STORAGE_COPY;
    if (mode == 2) lp.storage = HUBRT_STORAGE_MMAP;
    if (mode == 3) setenv("HUBRT_INTERLEAVE", "0", 1);
    hubrt_model *m = hubrt_model_load(dir, &lp);
    unsetenv("HUBRT_INTERLEAVE");
    TEST_CHECK(m != NULL, "%s mode %d: load: %s", dir, mode, hubrt_last_error());
    if (!m) return -1;
    hubrt_model_info info;
    if (hubrt_model_get_info(m, &info) != HUBRT_OK) memset(&info, 0, sizeof info);
    int v = info.n_logits, rc = -1;
    *width = v;
    *rows = N_PROMPT;
    int32_t ids[N_PROMPT] = {1, 5, 9, 13, 7, 3};
    if (info.kind == HUBRT_MODEL_CAUSAL_LM) {
        *rows = 2;
        hubrt_session *s = hubrt_session_new(m, 16);
        if (s && hubrt_forward(s, ids, N_PROMPT, NULL, out) == 0 &&
            hubrt_forward(s, &ids[2], 1, NULL, out + v) == 0)
            rc = 0;
        hubrt_session_free(s);
    } else if (hubrt_encode(m, ids, NULL, N_PROMPT, NULL, NULL, out) == 0) {
        rc = 0;
    }
    TEST_CHECK(rc == 0, "%s mode %d: run: %s", dir, mode, hubrt_last_error());
    hubrt_model_free(m);
    return rc;
}

static void check_model(const char *shared, const char *name)
{
    static const char *const modes[N_MODES] = {"auto", "copy", "mmap", "plain rows"};
    char dir[1024];
    snprintf(dir, sizeof dir, "%.500s/models/%.400s", shared, name);
    size_t cap = (size_t)N_PROMPT * 65536;
    float *ref = malloc(cap * sizeof(float)), *got = malloc(cap * sizeof(float));
    int w = 0, rows = 0;
    if (!ref || !got || run(dir, 0, ref, &w, &rows) != 0 || w <= 0 || w > 65536) {
        TEST_CHECK(ref && got && w > 0 && w <= 65536, "%s: auto run", name);
        free(ref); free(got);
        return;
    }
    size_t n = (size_t)w * (size_t)rows; /* encoders: all rows; causal: the 2 rows written */
    for (int mode = 1; mode < N_MODES; mode++) {
        int w2 = 0, rows2 = 0;
        memset(got, 0, cap * sizeof(float));
        if (run(dir, mode, got, &w2, &rows2) != 0) continue;
        TEST_CHECK(w2 == w, "%s %s: logits width %d vs %d", name, modes[mode], w2, w);
        double worst = 0, scale = 0;
        for (size_t i = 0; i < n; i++) {
            double d = fabs((double)got[i] - ref[i]);
            if (!(d <= worst)) worst = d; /* NaN sticks */
            if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
        }
        printf("%-12s %-10s vs auto: max |dlogit| %.2e over %zu logits\n", name, modes[mode], worst, n);
        TEST_CHECK(worst <= 1e-4 * (scale > 1 ? scale : 1), "%s %s vs auto: max |dlogit| %.3g (scale %.3g)",
                   name, modes[mode], worst, scale);
    }
    free(ref);
    free(got);
}

static int copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = a ? fopen(to, "wb") : NULL;
    int ok = a && b;
    char buf[65536];
    size_t k;
    while (ok && (k = fread(buf, 1, sizeof buf, a)) > 0) ok = fwrite(buf, 1, k, b) == k;
    if (a) fclose(a);
    if (b && fclose(b) != 0) ok = 0;
    return ok ? 0 : -1;
}

/*
 * stories260K (f32) rewritten with a header 2 bytes longer: every tensor
 * then sits 2 bytes off its alignment in the file map. AUTO then reads the
 * file into memory (every tensor on a cache line) instead of copying typed
 * elements from the map; the logits equal the original's.
 */
static void check_misaligned(const char *shared)
{
    char src[1024], dir[] = "/tmp/hubrt_test_misaligned_XXXXXX", path[1200], from[1200];
    snprintf(src, sizeof src, "%.500s/models/stories260K", shared);
    if (!mkdtemp(dir)) { TEST_CHECK(0, "mkdtemp"); return; }
    snprintf(from, sizeof from, "%s/config.json", src);
    snprintf(path, sizeof path, "%s/config.json", dir);
    int ok = copy_file(from, path) == 0;
    snprintf(from, sizeof from, "%s/model.safetensors", src);
    FILE *f = fopen(from, "rb");
    unsigned char *data = NULL;
    long size = 0;
    if (f && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 8 && fseek(f, 0, SEEK_SET) == 0 &&
        (data = malloc((size_t)size)) && fread(data, 1, (size_t)size, f) == (size_t)size) {
        uint64_t hl = 0;
        for (int i = 7; i >= 0; i--) hl = hl << 8 | data[i];
        if (hl + 8 <= (uint64_t)size) {
            uint64_t nl = hl + 2;
            unsigned char len[8];
            for (int i = 0; i < 8; i++) len[i] = (unsigned char)(nl >> (8 * i));
            snprintf(path, sizeof path, "%s/model.safetensors", dir);
            FILE *o = fopen(path, "wb");
            ok = ok && o && fwrite(len, 1, 8, o) == 8 && fwrite(data + 8, 1, hl, o) == hl &&
                 fwrite("  ", 1, 2, o) == 2 &&
                 fwrite(data + 8 + hl, 1, (size_t)size - 8 - hl, o) == (size_t)size - 8 - hl;
            if (o && fclose(o) != 0) ok = 0;
        } else {
            ok = 0;
        }
    } else {
        ok = 0;
    }
    if (f) fclose(f);
    free(data);
    TEST_CHECK(ok, "misaligned copy of stories260K written to %s", dir);
    float *ref = malloc(2 * 65536 * sizeof(float)), *got = malloc(2 * 65536 * sizeof(float));
    int w = 0, w2 = 0, rows = 0, rows2 = 0;
    if (ok && ref && got && run(src, 0, ref, &w, &rows) == 0 && run(dir, 0, got, &w2, &rows2) == 0) {
        int same = w == w2 && rows == 2 && rows2 == 2;
        for (size_t i = 0; same && i < (size_t)w * 2; i++) same = ref[i] == got[i];
        TEST_CHECK(same, "misaligned tensors (read into memory) give the same logits");
    }
    free(ref);
    free(got);
    snprintf(path, sizeof path, "%s/config.json", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    remove(path);
    rmdir(dir);
}

int main(void)
{
    const char *shared = test_shared_dir();
    if (!shared) {
        TEST_SKIP("../shared/models not found: no reference models to load");
        return test_finish();
    }
    /* untied bf16 llama, tied f32 llama, tied bf16 qwen2, gpt2 (Conv1D), bert MLM */
    static const char *const names[] = {"llama-tiny", "stories260K", "qwen2-tiny", "gpt2-tiny", "bert-tiny"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) check_model(shared, names[i]);
    check_misaligned(shared);
    return test_finish();
}
