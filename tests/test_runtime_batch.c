/*
 * tests/test_runtime_batch.c — hubrt_forward_batch against hubrt_forward,
 * bit for bit.
 *
 * Batch invariance: a random script of steps over up to 16 sessions, each
 * step one hubrt_forward_batch of 1-16 items (sessions in random order,
 * prefill chunks of 2-40 tokens mixed with single decode tokens, some items
 * without logits, sessions of different contexts), and the same steps item
 * by item through hubrt_forward on twin sessions: every item's last_logits
 * must equal its twin's (memcmp) and every session must hold as many
 * tokens. Full sessions are reset and reused. For every causal family —
 * llama, mistral (a sliding window shorter than the sequences), qwen2
 * (biases), gpt2 — and dtype (f32, f16, bf16 as stored; q8 and q4 on load),
 * from random fixtures (tests/fixtures/test_model.c) with ragged widths, on
 * 1 and 2 threads; and the shared models in ../shared (skipped when
 * missing), two of them on the unfused path (mmap storage). Also: prompts
 * longer than a pass in a batch (several passes, the decode items joining
 * the first), more than 16 items, and every validation error, which names
 * the item and changes no session. The other ISA paths (AVX2, scalar) once,
 * on one fixture per family.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "include/hubrt.h"
#include "kernels/ref.h"
#include "tests/fixtures/test_model.h"
#include "tests/test.h"

#define MAX_SESSIONS 20

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

static hubrt_model_info info_of(const hubrt_model *m)
{
    hubrt_model_info info;
    if (hubrt_model_get_info(m, &info) != HUBRT_OK) memset(&info, 0, sizeof info);
    return info;
}

/* Twin sets of sessions: b[] run in batches, r[] the same tokens alone. */
typedef struct twins {
    hubrt_model *m;
    int n, V, vocab;            /* sessions, logits width, ids < vocab */
    hubrt_session *b[MAX_SESSIONS], *r[MAX_SESSIONS];
    int ctx[MAX_SESSIONS];      /* each session's context */
    float *blog, *rlog;         /* [MAX_SESSIONS][V], [V] */
    int32_t *ids;               /* [MAX_SESSIONS][ids_cap] */
    int ids_cap;
} twins;

static int twins_open(twins *t, hubrt_model *m, int n, const int *ctx, int ids_cap)
{
    memset(t, 0, sizeof *t);
    hubrt_model_info info = info_of(m);
    t->m = m;
    t->n = n;
    t->V = info.n_logits;
    t->vocab = info.vocab_size;
    t->ids_cap = ids_cap;
    t->blog = malloc((size_t)MAX_SESSIONS * (size_t)t->V * sizeof(float));
    t->rlog = malloc((size_t)t->V * sizeof(float));
    t->ids = malloc((size_t)MAX_SESSIONS * (size_t)ids_cap * sizeof(int32_t));
    int ok = t->blog && t->rlog && t->ids;
    for (int s = 0; s < n && ok; s++) {
        t->ctx[s] = ctx[s];
        t->b[s] = hubrt_session_new(m, ctx[s]);
        t->r[s] = hubrt_session_new(m, ctx[s]);
        ok = t->b[s] && t->r[s];
    }
    TEST_CHECK(ok, "twin sessions: %s", hubrt_last_error());
    return ok;
}

static void twins_close(twins *t)
{
    for (int s = 0; s < t->n; s++) {
        hubrt_session_free(t->b[s]);
        hubrt_session_free(t->r[s]);
    }
    free(t->blog);
    free(t->rlog);
    free(t->ids);
}

/*
 * One batch of cnt items over sessions sel[] with lens[], then each item
 * alone on the twins; returns the items that differ (or -1 when a call
 * failed). want[k] = 0: the item asks for no logits.
 */
static int step(twins *t, const int *sel, const int *lens, const int *want, int cnt, const char *name)
{
    hubrt_batch_item items[MAX_SESSIONS];
    for (int k = 0; k < cnt; k++) {
        int32_t *ids = t->ids + (size_t)k * (size_t)t->ids_cap;
        for (int i = 0; i < lens[k]; i++) ids[i] = (int32_t)(rnd() % (uint32_t)t->vocab);
        items[k].session = t->b[sel[k]];
        items[k].ids = ids;
        items[k].n = lens[k];
        items[k].last_logits = want[k] ? t->blog + (size_t)k * (size_t)t->V : NULL;
    }
    int rc = hubrt_forward_batch(items, cnt);
    TEST_CHECK(rc == HUBRT_OK, "%s: batch of %d: %s", name, cnt, hubrt_last_error());
    if (rc != HUBRT_OK) return -1;
    int bad = 0;
    for (int k = 0; k < cnt; k++) {
        rc = hubrt_forward(t->r[sel[k]], items[k].ids, lens[k], NULL, want[k] ? t->rlog : NULL);
        if (rc != HUBRT_OK) return -1;
        if (want[k] && memcmp(items[k].last_logits, t->rlog, (size_t)t->V * sizeof(float)) != 0) bad++;
        if (hubrt_session_n_past(t->b[sel[k]]) != hubrt_session_n_past(t->r[sel[k]])) bad++;
    }
    return bad;
}

/* k distinct sessions in random order. */
static void pick(int n, int k, int *sel)
{
    int idx[MAX_SESSIONS];
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rnd() % (uint32_t)(i + 1)), x = idx[i];
        idx[i] = idx[j];
        idx[j] = x;
    }
    memcpy(sel, idx, (size_t)k * sizeof *sel);
}

/*
 * The random script: batch sizes 1..16 (each at least once), items either a
 * decode token or a prefill chunk of 2..40, about one in five without
 * logits, full sessions reset; then two all-decode steps of 16.
 */
static void script(hubrt_model *m, const char *name)
{
    static const int ctx[16] = {96, 40, 96, 24, 64, 96, 33, 80, 96, 50, 96, 20, 72, 96, 45, 96};
    twins t;
    if (!twins_open(&t, m, 16, ctx, 40)) { twins_close(&t); return; }
    int items = 0, bad = 0, steps = 0;
    for (int st = 0; st < 20; st++) {
        int cnt = st < 16 ? 16 - st : 1 + (int)(rnd() % 16), sel[16], lens[16], want[16], n = 0;
        int chosen[16];
        pick(16, cnt, chosen);
        for (int k = 0; k < cnt; k++) {
            int s = chosen[k], left = ctx[s] - hubrt_session_n_past(t.b[s]);
            if (left == 0) { /* full: start over on both twins */
                hubrt_session_reset(t.b[s]);
                hubrt_session_reset(t.r[s]);
                left = ctx[s];
            }
            int len = rnd() % 5 < 3 ? 1 : 2 + (int)(rnd() % 39);
            sel[n] = s;
            lens[n] = len < left ? len : left;
            want[n++] = rnd() % 5 != 0;
        }
        int d = step(&t, sel, lens, want, n, name);
        if (d < 0) break;
        bad += d;
        items += n;
        steps++;
    }
    for (int st = 0; st < 2; st++) { /* a decode step of every session */
        int sel[16], lens[16], want[16], n = 0;
        for (int s = 0; s < 16; s++) {
            if (hubrt_session_n_past(t.b[s]) == ctx[s]) {
                hubrt_session_reset(t.b[s]);
                hubrt_session_reset(t.r[s]);
            }
            sel[n] = s;
            lens[n] = 1;
            want[n++] = 1;
        }
        int d = step(&t, sel, lens, want, n, name);
        if (d < 0) break;
        bad += d;
        items += n;
        steps++;
    }
    TEST_CHECK(bad == 0 && steps == 22, "%s: %d of %d batch items differ from hubrt_forward alone (%d steps)",
               name, bad, items, steps);
    printf("%-40s %d steps, %d items: %s\n", name, steps, items, bad ? "DIFFER" : "bit-identical");
    twins_close(&t);
}

/* A prompt longer than a pass (600 and 530 tokens) in a batch with decode items and a short prefill. */
static void long_prompts(hubrt_model *m, const char *name)
{
    static const int ctx[5] = {700, 600, 64, 64, 64};
    twins t;
    if (!twins_open(&t, m, 5, ctx, 600)) { twins_close(&t); return; }
    int sel[5] = {2, 0, 3, 1, 4}, lens[5] = {5, 600, 7, 530, 3}, want[5] = {1, 1, 1, 1, 1};
    int bad = step(&t, sel, lens, want, 5, name);
    int lens2[5] = {1, 1, 1, 1, 9};
    if (bad >= 0) {
        int d = step(&t, sel, lens2, want, 5, name);
        bad = d < 0 ? d : bad + d;
    }
    TEST_CHECK(bad == 0, "%s: long prompts in a batch: %d items differ", name, bad);
    twins_close(&t);
}

/* More items than the call keeps on its stack (20): all decode after a short prefill. */
static void many_items(hubrt_model *m, const char *name)
{
    int ctx[MAX_SESSIONS];
    for (int s = 0; s < MAX_SESSIONS; s++) ctx[s] = 32;
    twins t;
    if (!twins_open(&t, m, MAX_SESSIONS, ctx, 8)) { twins_close(&t); return; }
    int sel[MAX_SESSIONS], lens[MAX_SESSIONS], want[MAX_SESSIONS], bad = 0;
    for (int st = 0; st < 3 && bad >= 0; st++) {
        for (int s = 0; s < MAX_SESSIONS; s++) {
            sel[s] = MAX_SESSIONS - 1 - s;
            lens[s] = st == 0 ? 1 + s % 8 : 1;
            want[s] = 1;
        }
        int d = step(&t, sel, lens, want, MAX_SESSIONS, name);
        bad = d < 0 ? d : bad + d;
    }
    TEST_CHECK(bad == 0, "%s: %d items: %d differ", name, MAX_SESSIONS, bad);
    twins_close(&t);
}

/* Expects status and a message with both words; then every session holds what it held before. */
static void expect_error(hubrt_batch_item *items, int n, int status, const char *w1, const char *w2,
                         hubrt_session *const *all, int n_all, const char *what)
{
    int before[MAX_SESSIONS];
    for (int s = 0; s < n_all; s++) before[s] = hubrt_session_n_past(all[s]);
    int rc = hubrt_forward_batch(items, n);
    const char *err = hubrt_last_error();
    TEST_CHECK(rc == status && strstr(err, w1) && (!w2 || strstr(err, w2)),
               "%s: expected %s with '%s'%s%s, got %d: %s", what, hubrt_status_name(status), w1,
               w2 ? " and " : "", w2 ? w2 : "", rc, err);
    int same = 1;
    for (int s = 0; s < n_all; s++) same &= hubrt_session_n_past(all[s]) == before[s];
    TEST_CHECK(same, "%s: a session changed", what);
}

/* Every validation error names its item and changes nothing; afterwards batches still match. */
static void validation(hubrt_model *m, hubrt_model *other, const char *name)
{
    static const int ctx[4] = {16, 16, 16, 16};
    twins t;
    if (!twins_open(&t, m, 4, ctx, 16)) { twins_close(&t); return; }
    int sel[4] = {0, 1, 2, 3}, lens[4] = {3, 5, 1, 2}, want[4] = {1, 1, 1, 1};
    int bad = step(&t, sel, lens, want, 4, name);
    hubrt_session *os = other ? hubrt_session_new(other, 16) : NULL;
    int32_t ok_ids[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    int32_t bad_id[2] = {1, t.vocab}, neg_id[1] = {-1};
    hubrt_batch_item it[4];
    for (int k = 0; k < 4; k++) {
        it[k].session = t.b[k];
        it[k].ids = ok_ids;
        it[k].n = 1;
        it[k].last_logits = t.blog + (size_t)k * (size_t)t.V;
    }
    it[2].ids = bad_id;
    it[2].n = 2;
    expect_error(it, 4, HUBRT_ERR_RANGE, "item 2", "vocab", t.b, 4, "id == vocab");
    it[2].ids = neg_id;
    it[2].n = 1;
    expect_error(it, 4, HUBRT_ERR_RANGE, "item 2", "vocab", t.b, 4, "id -1");
    it[2].ids = ok_ids;
    it[1].n = 12; /* session 1 holds 5 of 16 */
    expect_error(it, 4, HUBRT_ERR_RANGE, "item 1", "context", t.b, 4, "full context");
    it[1].n = 1;
    it[3].session = t.b[1];
    expect_error(it, 4, HUBRT_ERR_INVALID_ARG, "item 3", "once", t.b, 4, "one session twice");
    it[3].session = os;
    if (os) expect_error(it, 4, HUBRT_ERR_INVALID_ARG, "item 3", "model", t.b, 4, "sessions of two models");
    it[3].session = NULL;
    expect_error(it, 4, HUBRT_ERR_INVALID_ARG, "item 3", "NULL session", t.b, 4, "NULL session");
    it[3].session = t.b[3];
    it[0].ids = NULL;
    expect_error(it, 4, HUBRT_ERR_INVALID_ARG, "item 0", "NULL ids", t.b, 4, "NULL ids");
    it[0].ids = ok_ids;
    it[0].n = 0;
    expect_error(it, 4, HUBRT_ERR_INVALID_ARG, "item 0", ">= 1", t.b, 4, "n = 0");
    it[0].n = 1;
    expect_error(NULL, 2, HUBRT_ERR_INVALID_ARG, "NULL items", NULL, t.b, 4, "NULL items");
    expect_error(it, -1, HUBRT_ERR_INVALID_ARG, "n_items", NULL, t.b, 4, "n_items < 0");
    TEST_CHECK(hubrt_forward_batch(NULL, 0) == HUBRT_OK && hubrt_forward_batch(it, 0) == HUBRT_OK,
               "%s: n_items = 0 does nothing", name);
    /* nothing changed: the next steps still match the twins exactly */
    if (bad >= 0) {
        int lens2[4] = {1, 11, 4, 1}, d = step(&t, sel, lens2, want, 4, name);
        bad = d < 0 ? d : bad + d;
    }
    TEST_CHECK(bad == 0, "%s: batches around the failed calls differ from hubrt_forward (%d)", name, bad);
    /* filling a context exactly is fine (session 1 already is full), one more is not */
    if (bad == 0) {
        hubrt_batch_item fill[3];
        for (int k = 0; k < 3; k++) {
            int s = k == 0 ? 0 : k + 1;
            fill[k].session = t.b[s];
            fill[k].ids = ok_ids;
            fill[k].n = 16 - hubrt_session_n_past(t.b[s]);
            fill[k].last_logits = NULL;
        }
        TEST_CHECK(hubrt_forward_batch(fill, 3) == HUBRT_OK && hubrt_session_n_past(t.b[0]) == 16 &&
                   hubrt_session_n_past(t.b[3]) == 16, "%s: filling contexts exactly: %s", name, hubrt_last_error());
        fill[0].session = t.b[1];
        fill[0].n = 1;
        expect_error(fill, 1, HUBRT_ERR_RANGE, "item 0", "context", t.b, 4, "one past a full context");
    }
    hubrt_session_free(os);
    twins_close(&t);
}

static hubrt_model *load(const char *dir, hubrt_quant quant, int threads, hubrt_weight_storage storage)
{
    hubrt_load_params lp = hubrt_load_default_params();
    lp.no_tokenizer = 1;
    lp.n_threads = threads;
    lp.quant = quant;
    lp.storage = storage;
    hubrt_model *m = hubrt_model_load(dir, &lp);
    TEST_CHECK(m != NULL, "load %s: %s", dir, hubrt_last_error());
    return m;
}

/* Random fixtures: every causal family and dtype, ragged widths (not multiples of 16 or 32). */
static void fixtures(void)
{
    char tmpl[] = "/tmp/hubrt_test_batch_XXXXXX";
    char *root = mkdtemp(tmpl);
    TEST_CHECK(root != NULL, "mkdtemp");
    if (!root) return;
    static const char *fams[] = {"llama", "mistral", "qwen2", "gpt2"};
    static const struct { hubrt_dtype dtype; hubrt_quant quant; const char *name; int threads; } kinds[] = {
        {HUBRT_DTYPE_F32, HUBRT_QUANT_NONE, "f32", 2},
        {HUBRT_DTYPE_F16, HUBRT_QUANT_NONE, "f16", 1},
        {HUBRT_DTYPE_BF16, HUBRT_QUANT_NONE, "bf16", 2},
        {HUBRT_DTYPE_BF16, HUBRT_QUANT_Q8, "q8", 1},
        {HUBRT_DTYPE_F32, HUBRT_QUANT_Q4, "q4", 2},
    };
    char dir[512], name[96];
    hubrt_model *first = NULL;
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            test_model_spec sp = test_model_default(fams[f]);
            sp.hidden = 48;       /* head_dim 12; 1.5 chunks of 32 per row */
            sp.ffn = 80;          /* down_proj rows of 2.5 chunks */
            sp.max_pos = 1024;
            sp.dtype = kinds[k].dtype;
            sp.seed = 7 + f * 10 + k;
            snprintf(dir, sizeof dir, "%s/%s-%s", root, fams[f], kinds[k].name);
            int rc = test_model_write(dir, &sp);
            TEST_CHECK(rc == 0, "write %s: %s", dir, hubrt_last_error());
            if (rc) continue;
            hubrt_model *m = load(dir, kinds[k].quant, kinds[k].threads, HUBRT_STORAGE_AUTO);
            if (!m) continue;
            snprintf(name, sizeof name, "fixture %s %s, %d thread%s", fams[f], kinds[k].name, kinds[k].threads,
                     kinds[k].threads > 1 ? "s" : "");
            script(m, name);
            if (k == 0) long_prompts(m, name);
            if (f == 0 && k == 0) {
                many_items(m, name);
                first = m; /* kept for the two-model check */
                continue;
            }
            if (f == 1 && k == 0) validation(m, first, name);
            if (k == 2) { /* bf16: the other ISAs' kernels too */
                const char *isa = hk_isa_name();
                static const char *others[] = {"avx2", "scalar"};
                for (int i = 0; i < 2; i++) {
                    if (!strcmp(isa, others[i]) || hk_set_isa(others[i]) != 0) continue;
                    snprintf(name, sizeof name, "fixture %s %s, %s kernels", fams[f], kinds[k].name, others[i]);
                    script(m, name);
                    hk_set_isa(isa);
                }
            }
            hubrt_model_free(m);
        }
    }
    hubrt_model_free(first);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", root);
}

/* The shared models (trained stories260K, the reference dirs), two of them on the unfused mmap path. */
static void shared_models(const char *shared)
{
    static const struct { const char *dir; int threads; hubrt_weight_storage storage; } ms[] = {
        {"llama-tiny", 2, HUBRT_STORAGE_AUTO},
        {"llama-tiny-f16-sharded", 1, HUBRT_STORAGE_MMAP},
        {"mistral-tiny-swa", 1, HUBRT_STORAGE_MMAP},
        {"qwen2-tiny", 1, HUBRT_STORAGE_AUTO},
        {"gpt2-tiny", 2, HUBRT_STORAGE_AUTO},
        {"stories260K", 1, HUBRT_STORAGE_AUTO},
    };
    char dir[1024], name[96];
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        snprintf(dir, sizeof dir, "%.900s/models/%s", shared, ms[i].dir);
        hubrt_model *m = load(dir, HUBRT_QUANT_NONE, ms[i].threads, ms[i].storage);
        if (!m) continue;
        snprintf(name, sizeof name, "%s%s, %d thread%s", ms[i].dir, ms[i].storage == HUBRT_STORAGE_MMAP ? " (mmap, unfused)" : "",
                 ms[i].threads, ms[i].threads > 1 ? "s" : "");
        script(m, name);
        if (!strcmp(ms[i].dir, "stories260K")) long_prompts(m, name);
        hubrt_model_free(m);
    }
}

int main(void)
{
    fixtures();
    const char *shared = test_shared_dir();
    if (!shared) TEST_SKIP("shared models missing: their batch invariance is not tested");
    else shared_models(shared);
    return test_finish();
}
