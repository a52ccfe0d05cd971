/*
 * tests/test_runtime_threads.c — one loaded causal LM shared by several
 * threads, as hubrt.h promises: a model is read-only after load, each thread
 * uses its own sessions. Threads tokenize and generate at the same time and
 * every result must be bit for bit what a single thread computes alone, also
 * with several sessions per call (hubrt_forward_batch, each thread its own).
 * (Encoders shared by threads: tests/test_runtime_readonly.c.)
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

/* ---- causal LM: greedy generation in concurrent sessions --------------- */

typedef struct gen_result {
    int32_t prompt[MAX_IDS];
    int n_prompt;
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
    out->n_prompt = hubrt_tokenize(m, prompt, 1, out->prompt, MAX_IDS);
    if (out->n_prompt < 0 || out->n_prompt > MAX_IDS) return -1;
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
            if (g.n_prompt != j->ref[t].n_prompt ||
                memcmp(g.prompt, j->ref[t].prompt, (size_t)g.n_prompt * sizeof *g.prompt) ||
                g.n != j->ref[t].n || memcmp(g.ids, j->ref[t].ids, (size_t)g.n * sizeof *g.ids) ||
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

/* ---- causal LM: several sessions per call, in concurrent threads ---------- */

#define BATCH_SEQS 3

typedef struct batch_result {
    int32_t ids[BATCH_SEQS][GEN_TOKENS];
} batch_result;

static int32_t argmax(const float *x, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Greedy continuations of texts first .. first + BATCH_SEQS - 1 together: one hubrt_forward_batch per step. */
static int batch_generate(hubrt_model *m, int first, batch_result *out)
{
    hubrt_model_info info;
    if (hubrt_model_get_info(m, &info) != HUBRT_OK) return -1;
    int32_t prompt[BATCH_SEQS][MAX_IDS], next[BATCH_SEQS];
    hubrt_session *s[BATCH_SEQS] = {NULL};
    hubrt_batch_item items[BATCH_SEQS];
    float *logits = malloc((size_t)BATCH_SEQS * (size_t)info.n_logits * sizeof(float));
    int rc = logits ? 0 : -1;
    for (int k = 0; k < BATCH_SEQS && rc == 0; k++) {
        int n = hubrt_tokenize(m, texts[(first + k) % N_TEXTS], 1, prompt[k], MAX_IDS);
        s[k] = hubrt_session_new(m, 128);
        if (n <= 0 || n > MAX_IDS || !s[k]) rc = -1;
        hubrt_batch_item it = {s[k], prompt[k], n, logits + (size_t)k * (size_t)info.n_logits};
        items[k] = it;
    }
    for (int step = 0; step < GEN_TOKENS && rc == 0; step++) {
        rc = hubrt_forward_batch(items, BATCH_SEQS);
        for (int k = 0; k < BATCH_SEQS && rc == 0; k++) {
            next[k] = argmax(items[k].last_logits, info.n_logits);
            out->ids[k][step] = next[k];
            items[k].ids = &next[k];
            items[k].n = 1;
        }
    }
    for (int k = 0; k < BATCH_SEQS; k++) hubrt_session_free(s[k]);
    free(logits);
    return rc;
}

typedef struct batch_job {
    hubrt_model *m;
    const batch_result *ref;
    int worker;
    int mismatches, errors;
} batch_job;

static void *batch_worker(void *arg)
{
    batch_job *j = arg;
    batch_result b;
    for (int round = 0; round < N_ROUNDS; round++)
        for (int k = 0; k < N_TEXTS; k += 2) {
            int first = (k + j->worker + round) % N_TEXTS;
            if (batch_generate(j->m, first, &b) != 0) { j->errors++; continue; }
            if (memcmp(&b, &j->ref[first], sizeof b) != 0) j->mismatches++;
        }
    return NULL;
}

static void test_batch(const char *shared)
{
    hubrt_model *m = load(shared, "stories260K");
    if (!m) return;
    batch_result ref[N_TEXTS];
    int ok = 1;
    for (int t = 0; t < N_TEXTS && ok; t++) {
        ok = batch_generate(m, t, &ref[t]) == 0;
        TEST_CHECK(ok, "batch generation from text %d: %s", t, hubrt_last_error());
    }
    if (ok) {
        pthread_t th[N_WORKERS];
        batch_job jobs[N_WORKERS];
        for (int w = 0; w < N_WORKERS; w++) {
            jobs[w] = (batch_job){m, ref, w, 0, 0};
            TEST_CHECK(pthread_create(&th[w], NULL, batch_worker, &jobs[w]) == 0, "pthread_create");
        }
        for (int w = 0; w < N_WORKERS; w++) {
            pthread_join(th[w], NULL);
            TEST_CHECK(jobs[w].errors == 0, "batch worker %d: %d errors", w, jobs[w].errors);
            TEST_CHECK(jobs[w].mismatches == 0, "batch worker %d: %d batched generations differ from one "
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
    test_generation(shared);
    test_batch(shared);
    return test_finish();
}
