/*
 * tests/test_models.c — the three families against transformers' outputs.
 *
 * For every model in ../shared/models and every case in its
 * reference/cases.json: the stored logits rows within 1e-4 (1e-4 relative
 * where |logit| > 10), BERT's last_hidden_state and pooler_output within
 * 2e-5, the argmax at every position, and every greedy generation token for
 * token (a greedy loop over hubrt_forward from the cases' input_ids, so no
 * tokenizer is involved). Also: incremental decoding equals the full pass,
 * range errors leave the session unchanged, BERT's padding mask, and tiny
 * random models (tests/fixtures/test_model.c) through the bad-tensor error paths.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cJSON.h>

#include "include/hubrt.h"
#include "models/family.h"
#include "tests/fixtures/test_model.h"
#include "hf/safetensors.h"
#include "runtime/session.h"
#include "tests/test.h"
#include "tests/test_util.h"

/* An int array from a JSON array; *n its length. */
static int32_t *json_ints(const cJSON *arr, int *n)
{
    *n = cJSON_GetArraySize(arr);
    int32_t *v = malloc((size_t)(*n ? *n : 1) * sizeof *v);
    if (!v) return NULL;
    for (int i = 0; i < *n; i++) v[i] = (int32_t)cJSON_GetArrayItem(arr, i)->valuedouble;
    return v;
}

/* What the model is (kind, logits width, ...); zeroed when the call fails. */
static hubrt_model_info info_of(const hubrt_model *m)
{
    hubrt_model_info info;
    if (hubrt_model_get_info(m, &info) != HUBRT_OK) memset(&info, 0, sizeof info);
    return info;
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Worst |a - b| over n values, counting values outside tolerance. */
typedef struct cmp { double worst; long bad; } cmp;

static void compare(cmp *c, const float *got, const float *want, size_t n, double atol, double rtol_big)
{
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= c->worst)) c->worst = d; /* NaN counts as worst */
        double tol = atol;
        if (rtol_big > 0 && fabs(want[i]) > 10) tol = fmax(atol, rtol_big * fabs(want[i]));
        if (!(d <= tol)) c->bad++;
    }
}

typedef struct model_stats {
    cmp logits, hidden, pooled, incr;
    int argmax_bad, gen_bad, gen_total;
} model_stats;

static void test_causal_case(hubrt_model *m, const char *name, const cJSON *cs, hf_st_file *ref,
                             int vocab, model_stats *st)
{
    int n = 0, n_rows = 0, n_am = 0;
    int id = cJSON_GetObjectItem(cs, "id")->valueint;
    int32_t *ids = json_ints(cJSON_GetObjectItem(cs, "input_ids"), &n);
    int32_t *rows = json_ints(cJSON_GetObjectItem(cs, "logit_rows"), &n_rows);
    int32_t *am = json_ints(cJSON_GetObjectItem(cs, "argmax_per_position"), &n_am);
    float *logits = malloc((size_t)n * (size_t)vocab * sizeof(float));
    float *last = malloc((size_t)vocab * sizeof(float));
    hubrt_session *s = hubrt_session_new(m, 0);
    TEST_CHECK(s != NULL, "%s: session: %s", name, hubrt_last_error());
    if (!s || !ids || !rows || !am || !logits || !last) goto done;
    int rc = hubrt_forward(s, ids, n, logits, NULL);
    TEST_CHECK(rc == HUBRT_OK, "%s case %d: forward: %s", name, id, hubrt_last_error());
    TEST_CHECK(hubrt_session_n_past(s) == n, "%s case %d: n_past %d != %d", name, id,
               hubrt_session_n_past(s), n);
    char tname[64];
    snprintf(tname, sizeof tname, "case%d.logits", id);
    const hf_tensor *t = hf_st_find(ref, tname);
    TEST_CHECK(t && t->dtype == HUBRT_DTYPE_F32 && t->ndim == 2 && t->shape[0] == n_rows &&
               t->shape[1] == vocab, "%s: %s missing or misshapen", name, tname);
    if (t && t->ndim == 2 && t->shape[0] == n_rows && t->shape[1] == vocab) {
        cmp c = {0, 0};
        for (int r = 0; r < n_rows; r++)
            if (rows[r] >= 0 && rows[r] < n)
                compare(&c, logits + (size_t)rows[r] * vocab, (const float *)t->data + (size_t)r * vocab,
                        (size_t)vocab, 1e-4, 1e-4);
        TEST_CHECK(c.bad == 0, "%s case %d: %ld logits outside tolerance (worst %.3g)", name, id, c.bad, c.worst);
        if (c.worst > st->logits.worst) st->logits.worst = c.worst;
    }
    TEST_CHECK(n_am == n, "%s case %d: argmax_per_position length", name, id);
    int bad = 0;
    for (int i = 0; i < n && i < n_am; i++) bad += argmax(logits + (size_t)i * vocab, vocab) != am[i];
    TEST_CHECK(bad == 0, "%s case %d: argmax differs at %d positions", name, id, bad);
    st->argmax_bad += bad;

    /* incremental: one token at a time equals the full pass (the first and the
     * long case: enough to cover every model, cheap enough under ASan) */
    if (id != 0 && id != 5) goto two_pass;
    hubrt_session_reset(s);
    TEST_CHECK(hubrt_session_n_past(s) == 0, "%s: reset", name);
    cmp ci = {0, 0};
    for (int i = 0; i < n; i++) {
        rc = hubrt_forward(s, ids + i, 1, NULL, last);
        if (rc != HUBRT_OK) break;
        compare(&ci, last, logits + (size_t)i * vocab, (size_t)vocab, 1e-4, 1e-4);
    }
    TEST_CHECK(rc == HUBRT_OK && ci.bad == 0, "%s case %d: incremental vs full: rc %d, %ld bad, worst %.3g",
               name, id, rc, ci.bad, ci.worst);
    if (ci.worst > st->incr.worst) st->incr.worst = ci.worst;
two_pass:
    /* prefill half, then the rest in one more pass */
    if (n >= 4) {
        hubrt_session_reset(s);
        int h = n / 2;
        rc = hubrt_forward(s, ids, h, NULL, NULL);
        if (rc == HUBRT_OK) rc = hubrt_forward(s, ids + h, n - h, NULL, last);
        cmp c2 = {0, 0};
        compare(&c2, last, logits + (size_t)(n - 1) * vocab, (size_t)vocab, 1e-4, 1e-4);
        TEST_CHECK(rc == HUBRT_OK && c2.bad == 0, "%s case %d: two-pass prefill differs (worst %.3g)",
                   name, id, c2.worst);
    }
done:
    hubrt_session_free(s);
    free(ids); free(rows); free(am); free(logits); free(last);
}

static void test_generation(hubrt_model *m, const char *name, const cJSON *g, int vocab, model_stats *st)
{
    int n = 0, n_new = 0;
    int32_t *ids = json_ints(cJSON_GetObjectItem(g, "input_ids"), &n);
    int32_t *want = json_ints(cJSON_GetObjectItem(g, "new_ids"), &n_new);
    float *last = malloc((size_t)vocab * sizeof(float));
    hubrt_session *s = hubrt_session_new(m, 0);
    if (!ids || !want || !last || !s) {
        TEST_CHECK(0, "%s: generation setup: %s", name, hubrt_last_error());
        goto done;
    }
    int rc = hubrt_forward(s, ids, n, NULL, last), same = 0;
    for (int i = 0; i < n_new && rc == HUBRT_OK; i++) {
        int32_t next = argmax(last, vocab);
        if (next != want[i]) break;
        same++;
        rc = hubrt_forward(s, &next, 1, NULL, last);
    }
    TEST_CHECK(rc == HUBRT_OK && same == n_new, "%s: greedy generation matches %d of %d tokens (%s)",
               name, same, n_new, rc ? hubrt_last_error() : "ok");
    st->gen_total++;
    st->gen_bad += same != n_new;
done:
    hubrt_session_free(s);
    free(ids); free(want); free(last);
}

static void test_bert_case(hubrt_model *m, const char *name, const cJSON *cs, hf_st_file *ref,
                           int vocab, int hidden, model_stats *st)
{
    int n = 0, n_t = 0, n_rows = 0, n_am = 0;
    int id = cJSON_GetObjectItem(cs, "id")->valueint;
    int32_t *ids = json_ints(cJSON_GetObjectItem(cs, "input_ids"), &n);
    int32_t *types = json_ints(cJSON_GetObjectItem(cs, "token_type_ids"), &n_t);
    int32_t *rows = json_ints(cJSON_GetObjectItem(cs, "logit_rows"), &n_rows);
    int32_t *am = json_ints(cJSON_GetObjectItem(cs, "argmax_per_position"), &n_am);
    float *logits = malloc((size_t)n * (size_t)vocab * sizeof(float));
    float *hid = malloc((size_t)n * (size_t)hidden * sizeof(float));
    float *pooled = malloc((size_t)hidden * sizeof(float));
    if (!ids || !types || !rows || !am || !logits || !hid || !pooled || n_t != n) {
        TEST_CHECK(0, "%s case %d: setup", name, id);
        goto done;
    }
    int rc = hubrt_encode(m, ids, types, n, hid, pooled, logits);
    TEST_CHECK(rc == HUBRT_OK, "%s case %d: encode: %s", name, id, hubrt_last_error());
    char tname[64];
    snprintf(tname, sizeof tname, "case%d.logits", id);
    const hf_tensor *t = hf_st_find(ref, tname);
    if (t && t->ndim == 2 && t->shape[0] == n_rows && t->shape[1] == vocab) {
        cmp c = {0, 0};
        for (int r = 0; r < n_rows; r++)
            if (rows[r] >= 0 && rows[r] < n)
                compare(&c, logits + (size_t)rows[r] * vocab, (const float *)t->data + (size_t)r * vocab,
                        (size_t)vocab, 1e-4, 1e-4);
        TEST_CHECK(c.bad == 0, "%s case %d: %ld logits outside tolerance (worst %.3g)", name, id, c.bad, c.worst);
        if (c.worst > st->logits.worst) st->logits.worst = c.worst;
    } else {
        TEST_CHECK(0, "%s: %s missing or misshapen", name, tname);
    }
    snprintf(tname, sizeof tname, "case%d.last_hidden_state", id);
    t = hf_st_find(ref, tname);
    if (t && t->ndim == 2 && t->shape[0] == n && t->shape[1] == hidden) {
        cmp c = {0, 0};
        compare(&c, hid, t->data, (size_t)n * hidden, 2e-5, 0);
        TEST_CHECK(c.bad == 0, "%s case %d: last_hidden_state: %ld outside 2e-5 (worst %.3g)", name, id, c.bad, c.worst);
        if (c.worst > st->hidden.worst) st->hidden.worst = c.worst;
    } else {
        TEST_CHECK(0, "%s: %s missing or misshapen", name, tname);
    }
    snprintf(tname, sizeof tname, "case%d.pooler_output", id);
    t = hf_st_find(ref, tname);
    if (t && t->ndim == 1 && t->shape[0] == hidden) {
        cmp c = {0, 0};
        compare(&c, pooled, t->data, (size_t)hidden, 2e-5, 0);
        TEST_CHECK(c.bad == 0, "%s case %d: pooler_output: %ld outside 2e-5 (worst %.3g)", name, id, c.bad, c.worst);
        if (c.worst > st->pooled.worst) st->pooled.worst = c.worst;
    } else {
        TEST_CHECK(0, "%s: %s missing or misshapen", name, tname);
    }
    int bad = 0;
    for (int i = 0; i < n && i < n_am; i++) bad += argmax(logits + (size_t)i * vocab, vocab) != am[i];
    TEST_CHECK(bad == 0 && n_am == n, "%s case %d: argmax differs at %d positions", name, id, bad);
    st->argmax_bad += bad;

    /* padding: the same input padded with 3 masked [PAD] keys gives the same
     * hidden states at the real positions */
    {
        int np = n + 3;
        int32_t *pids = malloc((size_t)np * sizeof *pids), *ptypes = malloc((size_t)np * sizeof *ptypes);
        uint8_t *mask = malloc((size_t)np);
        float *phid = malloc((size_t)np * hidden * sizeof(float));
        if (pids && ptypes && mask && phid) {
            for (int i = 0; i < np; i++) {
                pids[i] = i < n ? ids[i] : 0;
                ptypes[i] = i < n ? types[i] : 0;
                mask[i] = i < n;
            }
            rc = rt_encode_masked(m, pids, ptypes, mask, np, phid, NULL, NULL);
            cmp c = {0, 0};
            compare(&c, phid, hid, (size_t)n * hidden, 2e-5, 0);
            TEST_CHECK(rc == HUBRT_OK && c.bad == 0, "%s case %d: padded + masked differs (worst %.3g)",
                       name, id, c.worst);
        }
        free(pids); free(ptypes); free(mask); free(phid);
    }
done:
    free(ids); free(types); free(rows); free(am); free(logits); free(hid); free(pooled);
}

static void test_shared_model(const char *shared, const char *name)
{
    char dir[1024], path[1200];
    if (strlen(shared) + strlen(name) > 900) return;
    snprintf(dir, sizeof dir, "%.400s/models/%.400s", shared, name);
    snprintf(path, sizeof path, "%s/reference/cases.json", dir);
    char *text = test_read_file(path, NULL);
    if (!text) return; /* not a reference model dir */
    cJSON *root = cJSON_Parse(text);
    free(text);
    TEST_CHECK(root != NULL, "%s: cases.json does not parse", name);
    if (!root) return;
    snprintf(path, sizeof path, "%s/reference/expected.safetensors", dir);
    hf_st_file *ref = hf_st_open(path);
    TEST_CHECK(ref != NULL, "%s: %s", name, hubrt_last_error());
    hubrt_load_params lp = hubrt_load_default_params();
    lp.no_tokenizer = 1;
    /* one model per family runs with a 2-thread team (work splitting, barriers);
     * the rest with 1 thread, which keeps the suite fast on a busy machine */
    lp.n_threads = !strcmp(name, "bert-tiny") || !strcmp(name, "gpt2-tiny") || !strcmp(name, "llama-tiny") ? 2 : 1;
    /* explicit mmap storage takes the unfused path (views, separate q/k/v,
     * RoPE and KV-store nodes): two of the LLaMA-family models go that way */
    int unfused = !strcmp(name, "llama-tiny-f16-sharded") || !strcmp(name, "mistral-tiny-swa");
    if (unfused) lp.storage = HUBRT_STORAGE_MMAP;
    hubrt_model *m = ref ? hubrt_model_load(dir, &lp) : NULL;
    TEST_CHECK(m != NULL, "%s: load: %s", name, hubrt_last_error());
    if (!m) { cJSON_Delete(root); hf_st_close(ref); return; }
    hubrt_model_info info = info_of(m);
    int vocab = info.n_logits;
    model_stats st;
    memset(&st, 0, sizeof st);
    const cJSON *cases = cJSON_GetObjectItem(root, "cases"), *cs;
    int n_cases = 0;
    int causal = info.kind == HUBRT_MODEL_CAUSAL_LM;
    TEST_CHECK((info.kind == HUBRT_MODEL_ENCODER) == !strcmp(info.family, "bert") && info.n_logits >= info.vocab_size &&
               !info.logits_per_sequence && info.n_threads == lp.n_threads && (!causal || !info.has_pooler),
               "%s: info: kind %d, n_logits %d (vocab %d), per-sequence logits %d, threads %d, pooler %d", name,
               (int)info.kind, info.n_logits, info.vocab_size, info.logits_per_sequence, info.n_threads,
               info.has_pooler);
    cJSON_ArrayForEach(cs, cases) {
        if (causal) test_causal_case(m, name, cs, ref, vocab, &st);
        else test_bert_case(m, name, cs, ref, vocab, info.hidden_size, &st);
        n_cases++;
    }
    const cJSON *gens = cJSON_GetObjectItem(root, "generation"), *g;
    cJSON_ArrayForEach(g, gens) test_generation(m, name, g, vocab, &st);
    printf("%-24s %s%d cases: worst |dlogits| %.2e", name, unfused ? "(mmap, unfused) " : "", n_cases, st.logits.worst);
    if (causal) printf(", incremental vs full %.2e, greedy %d/%d identical", st.incr.worst,
                       st.gen_total - st.gen_bad, st.gen_total);
    else printf(", hidden %.2e, pooled %.2e", st.hidden.worst, st.pooled.worst);
    printf(", argmax mismatches %d\n", st.argmax_bad);

    /* range errors leave the session unchanged */
    if (causal) {
        hubrt_session *s = hubrt_session_new(m, 8);
        TEST_CHECK(s != NULL, "%s: session(8): %s", name, hubrt_last_error());
        if (s) {
            int32_t ok_ids[5] = {1, 2, 3, 4, 5}, bad_id = vocab, neg = -1;
            TEST_CHECK(hubrt_forward(s, ok_ids, 5, NULL, NULL) == HUBRT_OK, "%s: forward 5", name);
            TEST_CHECK(hubrt_forward(s, ok_ids, 4, NULL, NULL) == HUBRT_ERR_RANGE &&
                       strstr(hubrt_last_error(), "context"), "%s: overflow: %s", name, hubrt_last_error());
            TEST_CHECK(hubrt_forward(s, &bad_id, 1, NULL, NULL) == HUBRT_ERR_RANGE &&
                       strstr(hubrt_last_error(), "vocab"), "%s: id == vocab: %s", name, hubrt_last_error());
            TEST_CHECK(hubrt_forward(s, &neg, 1, NULL, NULL) == HUBRT_ERR_RANGE, "%s: id -1", name);
            TEST_CHECK(hubrt_session_n_past(s) == 5, "%s: n_past changed by failed calls", name);
            TEST_CHECK(hubrt_forward(s, ok_ids, 3, NULL, NULL) == HUBRT_OK && hubrt_session_n_past(s) == 8,
                       "%s: filling the context exactly", name);
            TEST_CHECK(hubrt_forward(NULL, ok_ids, 1, NULL, NULL) == HUBRT_ERR_INVALID_ARG, "NULL session");
            TEST_CHECK(hubrt_encode(m, ok_ids, NULL, 1, NULL, NULL, NULL) == HUBRT_ERR_UNSUPPORTED,
                       "%s: encode on a causal LM", name);
            hubrt_session_free(s);
        }
        TEST_CHECK(hubrt_session_new(m, info.max_positions + 1) == NULL, "%s: session beyond context", name);
    } else {
        int32_t ids[3] = {101, 2000, 102}, bad_types[3] = {0, 5, 0}, bad[1] = {vocab};
        TEST_CHECK(hubrt_encode(m, bad, NULL, 1, NULL, NULL, NULL) == HUBRT_ERR_RANGE, "%s: encode id", name);
        TEST_CHECK(hubrt_encode(m, ids, bad_types, 3, NULL, NULL, NULL) == HUBRT_ERR_RANGE, "%s: type id", name);
        int32_t *many = calloc((size_t)info.max_positions + 1, sizeof *many);
        if (many)
            TEST_CHECK(hubrt_encode(m, many, NULL, info.max_positions + 1, NULL, NULL, NULL) == HUBRT_ERR_RANGE,
                       "%s: too long", name);
        free(many);
        TEST_CHECK(hubrt_session_new(m, 0) == NULL, "%s: session on an encoder", name);
    }
    hubrt_model_free(m);
    hf_st_close(ref);
    cJSON_Delete(root);
}

/* dir's model without its tokenizer (these tests feed ids), on n_threads. */
static hubrt_model *load_no_tokenizer(const char *dir, int n_threads)
{
    hubrt_load_params lp = hubrt_load_default_params();
    lp.no_tokenizer = 1;
    lp.n_threads = n_threads;
    return hubrt_model_load(dir, &lp);
}

/* A prompt longer than a pass (512 rows) runs as several passes: the same
 * logits as another split of the same prompt. */
static void test_long_prompt(const char *shared)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%.900s/models/stories260K", shared);
    hubrt_model *m = load_no_tokenizer(dir, 1);
    if (!m) { TEST_CHECK(0, "long prompt: load: %s", hubrt_last_error()); return; }
    enum { N = 700 };
    int V = info_of(m).n_logits;
    int32_t *ids = malloc(N * sizeof *ids);
    float *a = malloc((size_t)N * V * sizeof(float)), *b = malloc((size_t)N * V * sizeof(float));
    hubrt_session *s = hubrt_session_new(m, 0);
    if (ids && a && b && s) {
        for (int i = 0; i < N; i++) ids[i] = 1 + (i * 31) % (V - 1);
        int rc = hubrt_forward(s, ids, N, a, NULL); /* passes of 512 + 188 */
        TEST_CHECK(rc == 0 && hubrt_session_n_past(s) == N, "long prompt: %s", hubrt_last_error());
        hubrt_session_reset(s);
        rc = hubrt_forward(s, ids, 350, b, NULL);
        if (rc == 0) rc = hubrt_forward(s, ids + 350, N - 350, b + (size_t)350 * V, NULL);
        cmp c = {0, 0};
        compare(&c, a, b, (size_t)N * V, 1e-4, 1e-4);
        TEST_CHECK(rc == 0 && c.bad == 0, "long prompt: 512+188 vs 350+350 split differ (worst %.3g)", c.worst);
    }
    hubrt_session_free(s);
    hubrt_model_free(m);
    free(ids); free(a); free(b);
}

/* Greedy continuation of stories260K's "Once upon a time" (trained weights):
 * how many of 24 tokens a quantised model keeps, printed. */
static void test_quant_greedy(const char *shared)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%.900s/models/stories260K", shared);
    int32_t prompt[5] = {1, 403, 407, 261, 378}; /* "Once upon a time" (cases.json generation[0]) */
    int32_t gen[3][24];
    for (int mode = 0; mode <= 2; mode++) {
        hubrt_load_params lp = hubrt_load_default_params();
        lp.no_tokenizer = 1;
        lp.n_threads = 1;
        lp.quant = (hubrt_quant)mode;
        hubrt_model *m = hubrt_model_load(dir, &lp);
        hubrt_session *s = m ? hubrt_session_new(m, 64) : NULL;
        int V = m ? info_of(m).n_logits : 0;
        float *last = malloc((size_t)(V > 0 ? V : 1) * sizeof(float));
        int rc = s && last ? hubrt_forward(s, prompt, 5, NULL, last) : -1;
        for (int i = 0; i < 24 && rc == 0; i++) {
            gen[mode][i] = argmax(last, V);
            rc = hubrt_forward(s, &gen[mode][i], 1, NULL, last);
        }
        TEST_CHECK(rc == 0, "stories260K quant %d: %s", mode, hubrt_last_error());
        free(last);
        hubrt_session_free(s);
        hubrt_model_free(m);
        if (rc) return;
    }
    for (int mode = 1; mode <= 2; mode++) {
        int same = 0;
        while (same < 24 && gen[mode][same] == gen[0][same]) same++;
        printf("stories260K %s: greedy continuation equal to f32 for the first %d of 24 tokens\n",
               mode == 1 ? "q8" : "q4", same);
    }
}

/* Q8/Q4 accuracy on llama-tiny: printed, and loosely bounded. */
static void test_quant(const char *shared)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%.900s/models/llama-tiny", shared);
    hubrt_load_params lp = hubrt_load_default_params();
    lp.no_tokenizer = 1;
    lp.n_threads = 1;
    hubrt_model *m = hubrt_model_load(dir, &lp);
    if (!m) { TEST_CHECK(0, "quant: load: %s", hubrt_last_error()); return; }
    int32_t ids[16];
    for (int i = 0; i < 16; i++) ids[i] = 1 + (i * 997) % 31999;
    int vocab = info_of(m).n_logits;
    float *ref = malloc((size_t)16 * vocab * sizeof(float)), *q = malloc((size_t)16 * vocab * sizeof(float));
    hubrt_session *s = hubrt_session_new(m, 0);
    if (s && ref && q && hubrt_forward(s, ids, 16, ref, NULL) == HUBRT_OK) {
        for (int mode = HUBRT_QUANT_Q8; mode <= HUBRT_QUANT_Q4; mode++) {
            lp.quant = (hubrt_quant)mode;
            hubrt_model *mq = hubrt_model_load(dir, &lp);
            hubrt_session *sq = mq ? hubrt_session_new(mq, 0) : NULL;
            int rc = sq ? hubrt_forward(sq, ids, 16, q, NULL) : -1;
            TEST_CHECK(rc == HUBRT_OK, "quant %d: %s", mode, hubrt_last_error());
            if (rc == HUBRT_OK) {
                double worst = 0, sum = 0;
                int same = 0;
                for (int i = 0; i < 16; i++) {
                    for (int j = 0; j < vocab; j++) {
                        double d = fabs(q[(size_t)i * vocab + j] - ref[(size_t)i * vocab + j]);
                        if (d > worst) worst = d;
                        sum += d;
                    }
                    same += argmax(q + (size_t)i * vocab, vocab) == argmax(ref + (size_t)i * vocab, vocab);
                }
                printf("llama-tiny %s: max |dlogits| %.3g, mean %.3g, argmax equal %d/16\n",
                       mode == HUBRT_QUANT_Q8 ? "q8" : "q4", worst, sum / (16.0 * vocab), same);
                /* random tiny weights are hard on 4 bits; these bounds catch breakage, not quality */
                TEST_CHECK(worst < (mode == HUBRT_QUANT_Q8 ? 1.0 : 10.0), "quant %d: error %.3g too large", mode, worst);
            }
            hubrt_session_free(sq);
            hubrt_model_free(mq);
        }
    }
    hubrt_session_free(s);
    hubrt_model_free(m);
    free(ref);
    free(q);
}

/* RoPE frequencies with rope_scaling, against transformers' values (computed
 * with its _compute_llama3_parameters in float32 for Llama 3.1's settings). */
static void test_rope_scaling(void)
{
    hf_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rope_theta = 500000.0f;
    cfg.rope_type = HF_ROPE_LLAMA3;
    cfg.rope_factor = 8.0f;
    cfg.rope_low_freq_factor = 1.0f;
    cfg.rope_high_freq_factor = 4.0f;
    cfg.rope_original_max_positions = 8192;
    float inv[64];
    md_rope_frequencies(&cfg, 128, inv);
    static const struct { int i; double want; } llama3[] = {
        {0, 1.0}, {20, 0.016560440883040428}, {28, 0.0032114461064338684},
        {29, 0.002166570876236268}, {32, 0.0005248461610030915}, {35, 9.556212171446532e-05},
        {40, 3.428102354519069e-05}, {63, 3.068925877869333e-07}};
    for (size_t k = 0; k < sizeof llama3 / sizeof llama3[0]; k++) {
        double got = inv[llama3[k].i], want = llama3[k].want;
        TEST_CHECK(fabs(got - want) <= 2e-6 * want, "llama3 inv_freq[%d] = %.9g, want %.9g", llama3[k].i, got, want);
    }
    cfg.rope_type = HF_ROPE_LINEAR;
    cfg.rope_factor = 4.0f;
    md_rope_frequencies(&cfg, 128, inv);
    TEST_CHECK(fabs(inv[40] - 0.00027424818836152554 / 4) <= 1e-6 * 0.00027424818836152554,
               "linear inv_freq[40] = %.9g", inv[40]);
    cfg.rope_type = HF_ROPE_DEFAULT;
    md_rope_frequencies(&cfg, 128, inv);
    TEST_CHECK(fabs(inv[40] - 0.00027424818836152554) <= 1e-6 * 0.00027424818836152554,
               "default inv_freq[40] = %.9g", inv[40]);
}

/* BertForSequenceClassification: logits = pooler_output · Wcᵀ + bc. */
static void test_seq_cls(const char *root)
{
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/bert-cls", root);
    test_model_spec sp = test_model_default("bert");
    sp.n_labels = 3;
    int rc = test_model_write(dir, &sp);
    TEST_CHECK(rc == 0, "write bert-cls: %s", hubrt_last_error());
    if (rc) return;
    hubrt_model *m = load_no_tokenizer(dir, 1);
    TEST_CHECK(m != NULL, "bert-cls load: %s", hubrt_last_error());
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    hf_st_file *f = hf_st_open(path);
    if (!m || !f) { hubrt_model_free(m); hf_st_close(f); return; }
    hubrt_model_info info = info_of(m);
    TEST_CHECK(info.kind == HUBRT_MODEL_ENCODER && info.n_logits == 3 && info.logits_per_sequence == 1 &&
               info.has_pooler == 1, "bert-cls: kind %d, n_logits %d, per sequence %d, pooler %d", (int)info.kind,
               info.n_logits, info.logits_per_sequence, info.has_pooler);
    int32_t ids[6] = {2, 17, 5, 33, 8, 3};
    float pooled[32], logits[3];
    rc = hubrt_encode(m, ids, NULL, 6, NULL, pooled, logits);
    TEST_CHECK(rc == 0, "bert-cls encode: %s", hubrt_last_error());
    const hf_tensor *w = hf_st_find(f, "classifier.weight"), *b = hf_st_find(f, "classifier.bias");
    if (rc == 0 && w && b) {
        for (int k = 0; k < 3; k++) {
            double want = ((const float *)b->data)[k];
            for (int j = 0; j < 32; j++) want += (double)pooled[j] * ((const float *)w->data)[k * 32 + j];
            TEST_CHECK(fabs(want - logits[k]) < 1e-5, "bert-cls logit %d: %g vs %g", k, logits[k], want);
        }
    }
    hf_st_close(f);
    hubrt_model_free(m);
}

/* Tiny random models: they run, and bad tensors give errors naming them. */
static void test_random_models(void)
{
    char tmpl[] = "/tmp/hubrt_test_models_XXXXXX";
    char *root = mkdtemp(tmpl);
    TEST_CHECK(root != NULL, "mkdtemp");
    if (!root) return;
    static const struct { const char *family, *bad; } fams[] = {
        {"llama", "model.layers.1.self_attn.k_proj.weight"},
        {"mistral", "model.layers.0.mlp.down_proj.weight"},
        {"qwen2", "model.layers.0.self_attn.k_proj.weight"},
        {"gpt2", "transformer.h.1.mlp.c_fc.weight"},
        {"bert", "bert.encoder.layer.0.intermediate.dense.weight"},
    };
    char dir[512];
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        const char *fam = fams[f].family;
        for (int variant = 0; variant < 7; variant++) {
            test_model_spec sp = test_model_default(fam);
            const char *what = "ok";
            if (variant == 1) { sp.drop = fams[f].bad; what = "missing"; }
            if (variant == 2) { sp.transpose = fams[f].bad; what = "transposed"; }
            if (variant == 3) { sp.int_dtype = fams[f].bad; what = "int dtype"; }
            if (variant == 4) { sp.dtype = HUBRT_DTYPE_BF16; sp.no_prefix = 1; sp.tied = 1; what = "bf16, no prefix"; }
            if (variant == 5) { sp.dtype = HUBRT_DTYPE_F16; what = "f16"; }
            if (variant == 6) {
                if (!strcmp(fam, "llama")) {
                    sp.head_dim = 16; sp.bias = 1; what = "head_dim 16 != hidden/heads, attention_bias + mlp_bias";
                } else if (!strcmp(fam, "bert")) {
                    sp.old_ln_names = 1; what = "LayerNorm.gamma/beta names";
                } else {
                    continue;
                }
            }
            snprintf(dir, sizeof dir, "%s/%s-%d", root, fam, variant);
            int rc = test_model_write(dir, &sp);
            TEST_CHECK(rc == 0, "write %s: %s", dir, hubrt_last_error());
            if (rc) continue;
            hubrt_model *m = load_no_tokenizer(dir, variant == 0 ? 2 : 1);
            if (variant >= 1 && variant <= 3) {
                const char *err = hubrt_last_error();
                /* the message names the tensor (without its prefix at least) */
                const char *short_name = strchr(fams[f].bad, '.') + 1;
                TEST_CHECK(m == NULL && strstr(err, short_name), "%s %s: expected an error naming '%s', got '%s'",
                           fam, what, fams[f].bad, m ? "(loaded)" : err);
                if (variant == 2)
                    TEST_CHECK(!m && strstr(err, "transposed"), "%s: message should say transposed: %s", fam, err);
                hubrt_model_free(m);
                continue;
            }
            TEST_CHECK(m != NULL, "%s %s: load: %s", fam, what, hubrt_last_error());
            if (!m) continue;
            int32_t ids[12];
            for (int i = 0; i < 12; i++) ids[i] = (i * 7 + 3) % sp.vocab;
            int V = info_of(m).n_logits;
            float *full = malloc((size_t)12 * V * sizeof(float)), *one = malloc((size_t)V * sizeof(float));
            if (info_of(m).kind == HUBRT_MODEL_CAUSAL_LM) {
                hubrt_session *s = hubrt_session_new(m, 0);
                rc = s ? hubrt_forward(s, ids, 12, full, NULL) : -1;
                TEST_CHECK(rc == 0, "%s %s: forward: %s", fam, what, hubrt_last_error());
                hubrt_session_reset(s);
                double worst = 0;
                int finite = 1;
                for (int i = 0; i < 12 && rc == 0; i++) {
                    rc = hubrt_forward(s, ids + i, 1, NULL, one);
                    for (int j = 0; j < V; j++) {
                        double d = fabs(one[j] - full[(size_t)i * V + j]);
                        if (d > worst) worst = d;
                        if (!isfinite(one[j])) finite = 0;
                    }
                }
                TEST_CHECK(rc == 0 && worst < 1e-4 && finite, "%s %s: incremental vs full %.3g", fam, what, worst);
                hubrt_session_free(s);
            } else {
                rc = hubrt_encode(m, ids, NULL, 12, NULL, NULL, full);
                int finite = 1;
                for (int j = 0; j < 12 * V; j++) if (!isfinite(full[j])) finite = 0;
                TEST_CHECK(rc == 0 && finite, "%s %s: encode: %s", fam, what, hubrt_last_error());
            }
            free(full);
            free(one);
            hubrt_model_free(m);
        }
    }
    test_seq_cls(root);
    /* configs the family cannot run: a clear load error, no crash */
    static const struct { const char *key, *value, *expect; } bad_cfg[] = {
        {"\"head_dim\": 16", "\"head_dim\": 15", "head_dim"},
        {"\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"", "silu"},
        {"\"intermediate_size\": 48", "\"intermediate_size\": 47", "mlp.gate_proj.weight"},
    };
    for (size_t k = 0; k < sizeof bad_cfg / sizeof bad_cfg[0]; k++) {
        test_model_spec sp = test_model_default("llama");
        sp.head_dim = 16;
        snprintf(dir, sizeof dir, "%s/badcfg-%zu", root, k);
        if (test_model_write(dir, &sp) != 0) { TEST_CHECK(0, "write %s", dir); continue; }
        char path[600];
        snprintf(path, sizeof path, "%s/config.json", dir);
        char *cfg = test_read_file(path, NULL);
        char *at = cfg ? strstr(cfg, bad_cfg[k].key) : NULL;
        TEST_CHECK(at != NULL, "config has %s", bad_cfg[k].key);
        if (!at) { free(cfg); continue; }
        FILE *f = fopen(path, "w");
        if (f) {
            fprintf(f, "%.*s%s%s", (int)(at - cfg), cfg, bad_cfg[k].value, at + strlen(bad_cfg[k].key));
            fclose(f);
        }
        free(cfg);
        hubrt_load_params lp = hubrt_load_default_params();
        lp.no_tokenizer = 1;
        hubrt_model *m = hubrt_model_load(dir, &lp);
        TEST_CHECK(m == NULL && strstr(hubrt_last_error(), bad_cfg[k].expect),
                   "config %s: expected an error mentioning '%s', got '%s'", bad_cfg[k].value,
                   bad_cfg[k].expect, m ? "(loaded)" : hubrt_last_error());
        hubrt_model_free(m);
    }
    /* clean up */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", root);
}

int main(void)
{
    const char *shared = test_shared_dir();
    if (!shared) {
        TEST_SKIP("shared models missing: reference comparisons skipped");
    } else {
        char mdir[1024];
        snprintf(mdir, sizeof mdir, "%.900s/models", shared);
        DIR *d = opendir(mdir);
        TEST_CHECK(d != NULL, "open %s", mdir);
        char names[64][256];
        int n = 0;
        struct dirent *e;
        while (d && (e = readdir(d)) && n < 64)
            if (e->d_name[0] != '.') snprintf(names[n++], sizeof names[0], "%s", e->d_name);
        if (d) closedir(d);
        /* stable order */
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
                char t[256];
                memcpy(t, names[j], sizeof t);
                memcpy(names[j], names[j - 1], sizeof t);
                memcpy(names[j - 1], t, sizeof t);
            }
        for (int i = 0; i < n; i++) test_shared_model(shared, names[i]);
        test_quant(shared);
        test_quant_greedy(shared);
        test_long_prompt(shared);
    }
    test_rope_scaling();
    test_random_models();
    return test_finish();
}
