/*
 * tests/test_runtime_threads.c — one loaded model shared by several threads,
 * as hubrt.h promises: a model is read-only after load, each thread uses its
 * own sessions. Threads embed, encode, tokenize and generate at the same time
 * and every result must be bit for bit what a single thread computes alone.
 *
 * Each pass runs an OpenMP team of HUBRT_TEST_TEAM threads (default 2: teams
 * inside concurrent threads); `make tsan` runs this binary under
 * ThreadSanitizer with teams of one (libgomp itself is not instrumented).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/hubrt.h"
#include "tests/test.h"

#define N_WORKERS 4
#define N_ROUNDS 3
#define MAX_IDS 256
#define GEN_TOKENS 16

static const char *const texts[] = {
    "A cat sat on the mat.",
    "The quick brown fox jumps over the lazy dog.",
    "hello world",
    "Once upon a time there was a little girl who liked to play in the park with her friends.",
    "tokenizers should agree with each other",
    "x",
};
#define N_TEXTS ((int)(sizeof texts / sizeof texts[0]))

static int team_size(void)
{
    const char *e = getenv("HUBRT_TEST_TEAM");
    int n = e ? atoi(e) : 2;
    return n >= 1 && n <= 64 ? n : 2;
}

static hubrt_model *load(const char *shared, const char *name)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models/%s", shared, name);
    hubrt_load_params p = hubrt_load_default_params();
    p.n_threads = team_size();
    hubrt_model *m = hubrt_model_load(dir, &p);
    TEST_CHECK(m != NULL, "load %s: %s", name, hubrt_last_error());
    return m;
}

/* ---- encoder: embeddings, hidden states and ids from several threads ---- */

typedef struct enc_ref {
    int dim, hidden;
    float emb[N_TEXTS][1024];
    int n_ids[N_TEXTS];
    int32_t ids[N_TEXTS][MAX_IDS];
    float *hid[N_TEXTS];       /* [n_ids][hidden] */
} enc_ref;

typedef struct enc_job {
    hubrt_model *m;
    const enc_ref *ref;
    int worker;
    int mismatches, errors;
    char first_error[256];
} enc_job;

static void note_error(enc_job *j, const char *what)
{
    if (j->errors++ == 0) snprintf(j->first_error, sizeof j->first_error, "%s: %s", what, hubrt_last_error());
}

static void *enc_worker(void *arg)
{
    enc_job *j = arg;
    const enc_ref *r = j->ref;
    float emb[1024];
    int32_t ids[MAX_IDS];
    float *hid = malloc((size_t)MAX_IDS * (size_t)r->hidden * sizeof(float));
    if (!hid) { j->errors++; return NULL; }
    for (int round = 0; round < N_ROUNDS; round++)
        for (int k = 0; k < N_TEXTS; k++) {
            int t = (k + j->worker + round) % N_TEXTS; /* each thread in its own order */
            int n = hubrt_tokenize(j->m, texts[t], 1, ids, MAX_IDS);
            if (n != r->n_ids[t] || memcmp(ids, r->ids[t], (size_t)n * sizeof *ids)) j->mismatches++;
            if (hubrt_embed(j->m, texts[t], HUBRT_POOLING_MEAN, 1, emb, r->dim) != r->hidden) note_error(j, "embed");
            else if (memcmp(emb, r->emb[t], (size_t)r->hidden * sizeof(float))) j->mismatches++;
            if (n > 0 && n <= MAX_IDS) {
                if (hubrt_encode(j->m, ids, NULL, n, hid, NULL, NULL) != 0) note_error(j, "encode");
                else if (memcmp(hid, r->hid[t], (size_t)n * (size_t)r->hidden * sizeof(float))) j->mismatches++;
            }
        }
    free(hid);
    return NULL;
}

static void test_encoder(const char *shared)
{
    hubrt_model *m = load(shared, "bert-tiny");
    if (!m) return;
    hubrt_model_info info;
    hubrt_model_get_info(m, &info);
    enc_ref *r = calloc(1, sizeof *r);
    TEST_CHECK(r != NULL, "alloc");
    if (!r) { hubrt_model_free(m); return; }
    r->hidden = info.hidden_size;
    r->dim = 1024;
    TEST_CHECK(r->hidden > 0 && r->hidden <= r->dim, "bert-tiny hidden size %d", r->hidden);
    int ok = r->hidden > 0 && r->hidden <= r->dim;
    /* the single-thread answers */
    for (int t = 0; t < N_TEXTS && ok; t++) {
        r->n_ids[t] = hubrt_tokenize(m, texts[t], 1, r->ids[t], MAX_IDS);
        ok = r->n_ids[t] > 0 && r->n_ids[t] <= MAX_IDS;
        TEST_CHECK(ok, "tokenize '%s': %d", texts[t], r->n_ids[t]);
        if (!ok) break;
        ok = hubrt_embed(m, texts[t], HUBRT_POOLING_MEAN, 1, r->emb[t], r->dim) == r->hidden;
        TEST_CHECK(ok, "embed '%s': %s", texts[t], hubrt_last_error());
        r->hid[t] = malloc((size_t)r->n_ids[t] * (size_t)r->hidden * sizeof(float));
        ok = ok && r->hid[t] && hubrt_encode(m, r->ids[t], NULL, r->n_ids[t], r->hid[t], NULL, NULL) == 0;
        TEST_CHECK(ok, "encode '%s': %s", texts[t], hubrt_last_error());
    }
    if (ok) {
        pthread_t th[N_WORKERS];
        enc_job jobs[N_WORKERS];
        for (int w = 0; w < N_WORKERS; w++) {
            jobs[w] = (enc_job){m, r, w, 0, 0, ""};
            TEST_CHECK(pthread_create(&th[w], NULL, enc_worker, &jobs[w]) == 0, "pthread_create");
        }
        for (int w = 0; w < N_WORKERS; w++) {
            pthread_join(th[w], NULL);
            TEST_CHECK(jobs[w].errors == 0, "encoder worker %d: %d errors (%s)", w, jobs[w].errors,
                       jobs[w].first_error);
            TEST_CHECK(jobs[w].mismatches == 0, "encoder worker %d: %d results differ from one thread's",
                       w, jobs[w].mismatches);
        }
    }
    for (int t = 0; t < N_TEXTS; t++) free(r->hid[t]);
    free(r);
    hubrt_model_free(m);
}

/* ---- causal LM: greedy generation in concurrent sessions --------------- */

typedef struct gen_result {
    int32_t ids[GEN_TOKENS + 1];
    int n;
    char text[1024];
    size_t len;
} gen_result;

static int collect(const char *piece, int32_t id, void *user)
{
    gen_result *g = user;
    if (g->n < GEN_TOKENS + 1) g->ids[g->n++] = id;
    size_t l = strlen(piece);
    if (g->len + l < sizeof g->text) {
        memcpy(g->text + g->len, piece, l + 1);
        g->len += l;
    }
    return 0;
}

static int generate(hubrt_model *m, const char *prompt, gen_result *out)
{
    memset(out, 0, sizeof *out);
    hubrt_session *s = hubrt_session_new(m, 128);
    if (!s) return -1;
    hubrt_sample_params sp = hubrt_sample_default_params();
    sp.temperature = 0;
    sp.max_new_tokens = GEN_TOKENS;
    sp.ignore_eos = 1;
    int rc = hubrt_generate(s, prompt, &sp, collect, out, NULL);
    hubrt_session_free(s);
    return rc;
}

typedef struct gen_job {
    hubrt_model *m;
    const gen_result *ref;
    int worker;
    int mismatches, errors;
} gen_job;

static void *gen_worker(void *arg)
{
    gen_job *j = arg;
    gen_result g;
    for (int round = 0; round < N_ROUNDS; round++)
        for (int k = 0; k < N_TEXTS; k++) {
            int t = (k + j->worker + round) % N_TEXTS;
            if (generate(j->m, texts[t], &g) != 0) { j->errors++; continue; }
            if (g.n != j->ref[t].n || memcmp(g.ids, j->ref[t].ids, (size_t)g.n * sizeof *g.ids) ||
                strcmp(g.text, j->ref[t].text))
                j->mismatches++;
        }
    return NULL;
}

static void test_generation(const char *shared)
{
    hubrt_model *m = load(shared, "stories260K");
    if (!m) return;
    gen_result ref[N_TEXTS];
    int ok = 1;
    for (int t = 0; t < N_TEXTS && ok; t++) {
        ok = generate(m, texts[t], &ref[t]) == 0 && ref[t].n == GEN_TOKENS;
        TEST_CHECK(ok, "generate '%s': %d tokens (%s)", texts[t], ref[t].n, hubrt_last_error());
    }
    if (ok) {
        pthread_t th[N_WORKERS];
        gen_job jobs[N_WORKERS];
        for (int w = 0; w < N_WORKERS; w++) {
            jobs[w] = (gen_job){m, ref, w, 0, 0};
            TEST_CHECK(pthread_create(&th[w], NULL, gen_worker, &jobs[w]) == 0, "pthread_create");
        }
        for (int w = 0; w < N_WORKERS; w++) {
            pthread_join(th[w], NULL);
            TEST_CHECK(jobs[w].errors == 0, "generation worker %d: %d errors", w, jobs[w].errors);
            TEST_CHECK(jobs[w].mismatches == 0, "generation worker %d: %d generations differ from one "
                       "thread's", w, jobs[w].mismatches);
        }
    }
    hubrt_model_free(m);
}

int main(void)
{
    const char *shared = test_shared_dir();
    if (!shared) {
        TEST_SKIP("shared models missing: no shared-model thread tests");
        return test_finish();
    }
    test_encoder(shared);
    test_generation(shared);
    return test_finish();
}
