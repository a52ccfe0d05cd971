/*
 * tests/test_runtime_own_loop.c — the public pieces for callers that run
 * their own loop (as run-model serve does):
 *
 *   - hubrt_sampler_*: a loop of hubrt_forward + hubrt_sampler_sample /
 *     accept picks exactly the ids hubrt_generate picks, greedy and seeded
 *     (with top-k/top-p/min-p and a repetition penalty), on stories260K;
 *     bad params fail with a message naming the field;
 *   - hubrt_embed_ids: embeddings of pre-tokenized inputs equal
 *     hubrt_embed_batch of the texts bit for bit (same packing), on
 *     bert-tiny; empty, over-long and out-of-vocab inputs are refused naming
 *     the input; a causal LM is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/hubrt.h"
#include "tests/test.h"

typedef struct ids_out {
    int32_t ids[256];
    int n;
} ids_out;

static int collect(const char *piece, int32_t id, void *user)
{
    (void)piece;
    ids_out *o = user;
    if (o->n < 256) o->ids[o->n++] = id;
    return 0;
}

/* The ids hubrt_generate picks, against a loop over hubrt_forward and the public sampler. */
static void compare_loop(hubrt_model *m, const hubrt_sample_params *sp, const char *what)
{
    static const char *prompt = "Once upon a time";
    hubrt_model_info info;
    hubrt_model_get_info(m, &info);
    hubrt_session *s = hubrt_session_new(m, 256);
    ids_out want = {0};
    int rc = s ? hubrt_generate(s, prompt, sp, collect, &want, NULL) : -1;
    TEST_CHECK(rc == 0 && want.n == sp->max_new_tokens, "%s: hubrt_generate: %s", what, hubrt_last_error());

    int32_t prompt_ids[64];
    int n = hubrt_tokenize(m, prompt, 1, prompt_ids, 64);
    float *logits = malloc((size_t)info.n_logits * sizeof *logits);
    hubrt_sampler *smp = hubrt_sampler_new(m, sp);
    TEST_CHECK(smp != NULL && logits != NULL && n > 0, "%s: hubrt_sampler_new: %s", what, hubrt_last_error());
    if (!smp || !logits || n <= 0 || !s) goto done;
    hubrt_session_reset(s);
    for (int i = 0; i < n; i++) hubrt_sampler_accept(smp, prompt_ids[i]);
    rc = hubrt_forward(s, prompt_ids, n, NULL, logits);
    ids_out got = {0};
    while (rc == 0 && got.n < sp->max_new_tokens) {
        int32_t id = hubrt_sampler_sample(smp, logits);
        if (id < 0) break;
        hubrt_sampler_accept(smp, id);
        got.ids[got.n++] = id;
        rc = hubrt_forward(s, &id, 1, NULL, logits);
    }
    int same = 0;
    while (same < got.n && same < want.n && got.ids[same] == want.ids[same]) same++;
    TEST_CHECK(got.n == want.n && same == got.n,
               "%s: the own loop picks hubrt_generate's %d ids (got %d, first difference at %d)", what, want.n, got.n,
               same);
done:
    hubrt_sampler_free(smp);
    hubrt_session_free(s);
    free(logits);
}

static void test_sampler(const char *shared)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/models/stories260K", shared);
    hubrt_model *m = hubrt_model_load(dir, NULL);
    TEST_CHECK(m != NULL, "load stories260K: %s", hubrt_last_error());
    if (!m) return;
    hubrt_sample_params sp = hubrt_sample_default_params();
    sp.max_new_tokens = 48;
    sp.ignore_eos = 1;
    compare_loop(m, &sp, "greedy");
    sp.temperature = 0.9f;
    sp.top_k = 40;
    sp.top_p = 0.9f;
    sp.min_p = 0.02f;
    sp.repeat_penalty = 1.3f;
    sp.seed = 7;
    compare_loop(m, &sp, "seeded sampling");
    sp.seed = 8;
    sp.repeat_last_n = -1;
    compare_loop(m, &sp, "another seed, unbounded penalty window");

    sp.top_p = 1.5f;
    hubrt_sampler *bad = hubrt_sampler_new(m, &sp);
    TEST_CHECK(!bad && strstr(hubrt_last_error(), "top_p"), "top_p 1.5 refused naming the field: %s", hubrt_last_error());
    hubrt_sampler_free(bad);
    TEST_CHECK(hubrt_sampler_new(NULL, &sp) == NULL && hubrt_sampler_sample(NULL, NULL) == HUBRT_ERR_INVALID_ARG,
               "NULL arguments refused");
    hubrt_sampler_accept(NULL, 1); /* allowed, does nothing */
    hubrt_sampler_free(NULL);
    hubrt_model_free(m);
}

static void test_embed_ids(const char *shared)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/models/bert-tiny", shared);
    hubrt_model *m = hubrt_model_load(dir, NULL);
    TEST_CHECK(m != NULL, "load bert-tiny: %s", hubrt_last_error());
    if (!m) return;
    const char *texts[] = {"A cat sat on the mat.", "hello", "", "The quick brown fox jumps over the lazy dog."};
    enum { N = 4, H = 64 };
    int32_t ids[N][64];
    const int32_t *ptrs[N];
    int n_ids[N];
    for (int i = 0; i < N; i++) {
        n_ids[i] = hubrt_tokenize(m, texts[i], 1, ids[i], 64);
        ptrs[i] = ids[i];
    }
    float want[N][H], got[N][H];
    int a = hubrt_embed_batch(m, texts, N, HUBRT_POOLING_DEFAULT, 0, &want[0][0], H);
    int b = hubrt_embed_ids(m, ptrs, n_ids, N, HUBRT_POOLING_DEFAULT, 0, &got[0][0], H);
    TEST_CHECK(a == H && b == H && !memcmp(want, got, sizeof want),
               "hubrt_embed_ids equals hubrt_embed_batch bit for bit (%d, %d): %s", a, b, hubrt_last_error());
    b = hubrt_embed_ids(m, ptrs, n_ids, N, HUBRT_POOLING_CLS, 1, &got[0][0], H);
    a = hubrt_embed_batch(m, texts, N, HUBRT_POOLING_CLS, 1, &want[0][0], H);
    TEST_CHECK(a == H && b == H && !memcmp(want, got, sizeof want), "and with CLS pooling, normalised");

    int zero = 0;
    TEST_CHECK(hubrt_embed_ids(m, ptrs, &zero, 1, HUBRT_POOLING_DEFAULT, 0, &got[0][0], H) == HUBRT_ERR_RANGE &&
               strstr(hubrt_last_error(), "input 0"), "an input with no ids: %s", hubrt_last_error());
    static int32_t longer[600];
    for (int i = 0; i < 600; i++) longer[i] = 1000 + i;
    const int32_t *lp[] = {ids[0], longer};
    int ln[] = {n_ids[0], 600};
    TEST_CHECK(hubrt_embed_ids(m, lp, ln, 2, HUBRT_POOLING_DEFAULT, 0, &got[0][0], H) == HUBRT_ERR_RANGE &&
               strstr(hubrt_last_error(), "input 1") && strstr(hubrt_last_error(), "512"),
               "an input over the positions names the input and the limit: %s", hubrt_last_error());
    int32_t bad_id[] = {101, 999999, 102};
    const int32_t *bp[] = {bad_id};
    int bn[] = {3};
    TEST_CHECK(hubrt_embed_ids(m, bp, bn, 1, HUBRT_POOLING_DEFAULT, 0, &got[0][0], H) == HUBRT_ERR_RANGE,
               "an id outside the vocabulary: %s", hubrt_last_error());
    TEST_CHECK(hubrt_embed_ids(m, ptrs, n_ids, 0, HUBRT_POOLING_DEFAULT, 0, &got[0][0], H) == H,
               "no inputs: nothing to do");
    TEST_CHECK(hubrt_embed_ids(m, NULL, n_ids, 1, HUBRT_POOLING_DEFAULT, 0, &got[0][0], H) == HUBRT_ERR_INVALID_ARG,
               "NULL ids refused");
    hubrt_model_free(m);

    snprintf(dir, sizeof dir, "%s/models/stories260K", shared);
    m = hubrt_model_load(dir, NULL);
    TEST_CHECK(m && hubrt_embed_ids(m, ptrs, n_ids, 1, HUBRT_POOLING_DEFAULT, 0, &got[0][0], H) ==
                        HUBRT_ERR_UNSUPPORTED, "a causal LM is refused: %s", hubrt_last_error());
    hubrt_model_free(m);
}

int main(void)
{
    const char *shared = test_shared_dir();
    if (!shared) {
        TEST_SKIP("../shared missing: needs models/stories260K and models/bert-tiny");
        return test_finish();
    }
    test_sampler(shared);
    test_embed_ids(shared);
    return test_finish();
}
