/*
 * tests/test_runtime_nomem.c — every allocation failure is survived, as
 * SQLite's and Lua's test allocators check: for N = 1, 2, 3, ... the Nth
 * allocation of an operation fails (all others succeed) until a run
 * completes. Each failing run must end with HUBRT_ERR_NOMEM (never a crash,
 * a wrong status or, under `make asan`, a leak), and what was created must
 * still work or be freeable.
 *
 * The hook: this binary is linked with -Wl,--wrap for malloc, calloc,
 * realloc, aligned_alloc, posix_memalign and strdup (Makefile), so every
 * allocation libhubrt makes passes through __wrap_* below, cJSON's too
 * (hf/jsonfile.c gives cJSON allocation hooks of libhubrt's own).
 * (Allocations inside other libraries — sentencepiece, PCRE2, OpenMP — are
 * theirs to handle.)
 *
 * Operations: model load for each family (llama, gpt2, bert), quantised
 * (q8), sharded (../shared), tokenizer-only; a session + greedy generation;
 * embeddings, single and batched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hf/error.h"
#include "include/hubrt.h"
#include "tests/fixtures/test_model.h"
#include "tests/test.h"

/* ---- the failing allocator ---------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
char *__real_strdup(const char *s);

static long fail_at = -1; /* the allocation (counted from 1) that fails; -1: none */
static long n_allocs;     /* allocations since arm() */
static int failed_one;    /* the armed failure happened */

static int should_fail(void)
{
    if (fail_at < 0) return 0;
    if (++n_allocs != fail_at) return 0;
    failed_one = 1;
    return 1;
}

void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return should_fail() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t align, size_t n) { return should_fail() ? NULL : __real_aligned_alloc(align, n); }
char *__wrap_strdup(const char *s) { return should_fail() ? NULL : __real_strdup(s); }
int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
    return should_fail() ? 12 /* ENOMEM */ : __real_posix_memalign(p, align, n);
}

static void arm(long n) { fail_at = n; n_allocs = 0; failed_one = 0; }
static void disarm(void) { fail_at = -1; }

/* ---- fixtures ----------------------------------------------------------- */

static char tmpdir[] = "/tmp/hubrt-test-nomem-XXXXXX";

/* A WordLevel tokenizer.json of vocab tokens "t0".."t<vocab-1>" split on spaces. */
static int write_tokenizer(const char *dir, int vocab)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "{\"model\":{\"type\":\"WordLevel\",\"unk_token\":\"t0\",\"vocab\":{");
    for (int i = 0; i < vocab; i++) fprintf(f, "%s\"t%d\":%d", i ? "," : "", i, i);
    fprintf(f, "}},\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"},"
               "\"decoder\":{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":false}}");
    return fclose(f);
}

static const char *make_model(const char *family, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s/%s", tmpdir, family);
    test_model_spec s = test_model_default(family);
    int ok = test_model_write(dir, &s) == 0 && write_tokenizer(dir, s.vocab) == 0;
    TEST_CHECK(ok, "fixture %s: %s", family, hubrt_last_error());
    return ok ? dir : NULL;
}

/* ---- the sweep ---------------------------------------------------------- */

/* One operation: 0 when it completed, a negative status when it failed. */
typedef int (*op_fn)(const void *arg);

/*
 * Runs op with the 1st, 2nd, ... allocation failing until a run completes
 * without reaching its failure. Every failed run must report NOMEM.
 */
static void sweep(const char *what, op_fn op, const void *arg)
{
    long runs = 0, wrong = 0, survived = 0;
    long first_wrong = -1;
    int last_status = 0;
    char first_msg[200] = "";
    for (long n = 1;; n++) {
        hf_clear_error();
        arm(n);
        int rc = op(arg);
        disarm();
        runs++;
        if (!failed_one) {
            TEST_CHECK(rc == 0, "%s: the run without a failure (N = %ld) failed: %s", what, n, hubrt_last_error());
            break;
        }
        if (rc == 0) { survived++; continue; } /* a failure that was worked around */
        if (rc != HUBRT_ERR_NOMEM) {
            if (wrong++ == 0) {
                first_wrong = n;
                last_status = rc;
                snprintf(first_msg, sizeof first_msg, "%s", hubrt_last_error());
            }
        }
        if (n > 200000) { TEST_CHECK(0, "%s: no run completed within 200000 allocations", what); break; }
    }
    TEST_CHECK(wrong == 0, "%s: %ld of %ld runs failed with another status than NOMEM (first at N = %ld: %d, '%s')",
               what, wrong, runs, first_wrong, last_status, first_msg);
    printf("  %-28s %6ld allocations swept, %ld failures worked around\n", what, runs - 1, survived);
}

typedef struct load_arg {
    const char *dir;
    hubrt_load_params p;
} load_arg;

static int op_load(const void *arg)
{
    const load_arg *a = arg;
    hubrt_model *m = hubrt_model_load(a->dir, &a->p);
    if (!m) return hf_error_status() == HUBRT_ERR_NOMEM ? HUBRT_ERR_NOMEM : -100;
    hubrt_model_free(m);
    return 0;
}

/* Operations on an already loaded model (allocations counted from the call). */
typedef struct model_arg {
    hubrt_model *m;
} model_arg;

static int op_generate(const void *arg)
{
    const model_arg *a = arg;
    hubrt_session *s = hubrt_session_new(a->m, 32);
    if (!s) return hf_error_status() == HUBRT_ERR_NOMEM ? HUBRT_ERR_NOMEM : -100;
    hubrt_sample_params sp = hubrt_sample_default_params();
    sp.max_new_tokens = 4;
    sp.ignore_eos = 1;
    hubrt_generation g;
    int rc = hubrt_generate(s, "t1 t2 t3", &sp, NULL, NULL, &g);
    if (rc == 0 && g.n_new != 4) rc = -101;
    /* the session stays usable after a failed call */
    if (rc == HUBRT_ERR_NOMEM) {
        disarm();
        hubrt_session_reset(s);
        float *logits = malloc((size_t)97 * sizeof(float));
        int32_t id = 5;
        if (!logits || hubrt_forward(s, &id, 1, NULL, logits) != 0) rc = -102;
        free(logits);
    }
    hubrt_session_free(s);
    return rc;
}

static int op_embed(const void *arg)
{
    const model_arg *a = arg;
    float out[4][64];
    int rc = hubrt_embed(a->m, "t1 t2 t3 t4", HUBRT_POOLING_MEAN, 1, out[0], 64);
    if (rc < 0) return rc;
    const char *texts[3] = {"t5 t6", "t7", "t8 t9 t10 t11"};
    rc = hubrt_embed_batch(a->m, texts, 3, HUBRT_POOLING_CLS, 0, out[1], 64);
    return rc < 0 ? rc : 0;
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        TEST_CHECK(0, "mkdtemp");
        return test_finish();
    }
    char llama[600], gpt2[600], bert[600];
    const char *dl = make_model("llama", llama, sizeof llama);
    const char *dg = make_model("gpt2", gpt2, sizeof gpt2);
    const char *db = make_model("bert", bert, sizeof bert);
    hubrt_load_params one = hubrt_load_default_params();
    one.n_threads = 1;

    if (dl) {
        load_arg a = {dl, one};
        sweep("load llama", op_load, &a);
        a.p.quant = HUBRT_QUANT_Q8;
        sweep("load llama --quant q8", op_load, &a);
        a.p = one;
        a.p.tokenizer_only = 1;
        sweep("load tokenizer only", op_load, &a);
        hubrt_model *m = hubrt_model_load(dl, &one);
        TEST_CHECK(m != NULL, "load llama: %s", hubrt_last_error());
        if (m) {
            model_arg ma = {m};
            sweep("session + generate", op_generate, &ma);
            hubrt_model_free(m);
        }
    }
    if (dg) {
        load_arg a = {dg, one};
        sweep("load gpt2", op_load, &a);
    }
    if (db) {
        load_arg a = {db, one};
        sweep("load bert", op_load, &a);
        hubrt_model *m = hubrt_model_load(db, &one);
        TEST_CHECK(m != NULL, "load bert: %s", hubrt_last_error());
        if (m) {
            model_arg ma = {m};
            sweep("embed + embed_batch", op_embed, &ma);
            hubrt_model_free(m);
        }
    }
    const char *shared = test_shared_dir();
    if (shared) {
        char sharded[600];
        snprintf(sharded, sizeof sharded, "%s/models/llama-tiny-f16-sharded", shared);
        load_arg a = {sharded, one};
        a.p.no_tokenizer = 1;
        sweep("load sharded (weights)", op_load, &a);
    } else {
        TEST_SKIP("no ../shared: the sharded checkpoint is not swept");
    }
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_finish();
}
