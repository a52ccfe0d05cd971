/*
 * tests/test_runtime_generate.c — the generation and embedding API without the CLI:
 * hubrt_generate_ids against stories260K's reference greedy ids, the
 * callback contract (one call per token, stop on non-zero, EOS passed on),
 * stop strings held back, seeds, continuing a session, the
 * generation_config.json defaults, and argument errors of hubrt_generate*
 * and hubrt_embed.
 */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "include/hubrt.h"
#include "tests/test.h"
#include "tests/test_util.h"

typedef struct collect {
    int32_t ids[1024];
    int n;
    char text[16384];
    size_t len;
    int stop_after; /* return 1 after this many calls (0 = never) */
    int bad_utf8;
} collect;

static int utf8_complete(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : (*p & 0xF8) == 0xF0 ? 4 : 0;
        if (!n) return 0;
        for (int i = 1; i < n; i++)
            if ((p[i] & 0xC0) != 0x80) return 0;
        p += n;
    }
    return 1;
}

static int on_token(const char *piece, int32_t id, void *user)
{
    collect *c = user;
    if (c->n < 1024) c->ids[c->n] = id;
    c->n++;
    if (!utf8_complete(piece)) c->bad_utf8 = 1;
    size_t k = strlen(piece);
    if (c->len + k < sizeof c->text) {
        memcpy(c->text + c->len, piece, k + 1);
        c->len += k;
    }
    return c->stop_after && c->n >= c->stop_after;
}

static cJSON *load_json(const char *path)
{
    char *b = test_read_file(path, NULL);
    if (!b) return NULL;
    cJSON *j = cJSON_Parse(b);
    free(b);
    return j;
}

static void test_stories(const char *shared)
{
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/models/stories260K", shared);
    snprintf(path, sizeof path, "%s/reference/cases.json", dir);
    cJSON *ref = load_json(path);
    hubrt_load_params lp = hubrt_load_default_params();
    lp.n_threads = 1;
    hubrt_model *m = hubrt_model_load(dir, &lp);
    TEST_CHECK(m != NULL, "load stories260K: %s", hubrt_last_error());
    if (!m || !ref) { hubrt_model_free(m); cJSON_Delete(ref); return; }
    hubrt_session *s = hubrt_session_new(m, 512);
    TEST_CHECK(s != NULL && hubrt_session_model(s) == m, "session and hubrt_session_model: %s", hubrt_last_error());
    if (!s) { hubrt_model_free(m); cJSON_Delete(ref); return; }
    static collect c; /* large: keep it off the stack */

    /* greedy from ids: the reference generations */
    const cJSON *g;
    cJSON_ArrayForEach(g, cJSON_GetObjectItem(ref, "generation")) {
        const cJSON *in = cJSON_GetObjectItem(g, "input_ids"), *want = cJSON_GetObjectItem(g, "new_ids");
        int n = cJSON_GetArraySize(in), nw = cJSON_GetArraySize(want);
        int32_t ids[64];
        for (int i = 0; i < n && i < 64; i++) ids[i] = cJSON_GetArrayItem(in, i)->valueint;
        hubrt_sample_params sp = hubrt_sample_default_params();
        sp.max_new_tokens = nw;
        memset(&c, 0, sizeof c);
        hubrt_session_reset(s);
        hubrt_generation gen;
        int rc = hubrt_generate_ids(s, ids, n, &sp, on_token, &c, &gen);
        TEST_CHECK(rc == HUBRT_OK, "generate_ids: %s", hubrt_last_error());
        int same = c.n == nw;
        for (int i = 0; same && i < nw; i++) same = c.ids[i] == cJSON_GetArrayItem(want, i)->valueint;
        TEST_CHECK(same, "prompt %d: greedy ids equal the reference (%d vs %d ids)", cJSON_GetObjectItem(g, "id")->valueint, c.n, nw);
        TEST_CHECK(gen.n_prompt == n && gen.n_new == nw && gen.stop_reason == HUBRT_STOP_LENGTH,
                   "generation counts %d/%d reason %d", gen.n_prompt, gen.n_new, gen.stop_reason);
        TEST_CHECK(gen.prefill_seconds > 0 && gen.decode_seconds > 0, "timings filled");
        TEST_CHECK(!c.bad_utf8, "pieces are complete UTF-8");
        /* the text, as a continuation of the prompt, decodes like transformers */
        const char *want_text = cJSON_GetObjectItem(g, "new_text")->valuestring;
        const char *t = c.text[0] == ' ' && want_text[0] != ' ' ? c.text + 1 : c.text;
        TEST_CHECK(!strcmp(t, want_text), "text '%s', reference '%s'", t, want_text);
        TEST_CHECK(hubrt_session_n_past(s) == n + nw, "session holds prompt + new tokens (%d)",
                   hubrt_session_n_past(s));
    }

    /* from text: BOS added on an empty session */
    hubrt_sample_params sp = hubrt_sample_default_params();
    sp.max_new_tokens = 24;
    memset(&c, 0, sizeof c);
    hubrt_session_reset(s);
    hubrt_generation gen;
    int rc = hubrt_generate(s, "Once upon a time", &sp, on_token, &c, &gen);
    const cJSON *g0 = cJSON_GetArrayItem(cJSON_GetObjectItem(ref, "generation"), 0);
    TEST_CHECK(rc == 0 && gen.n_prompt == cJSON_GetArraySize(cJSON_GetObjectItem(g0, "input_ids")),
               "hubrt_generate tokenizes with BOS (%d prompt ids): %s", gen.n_prompt, hubrt_last_error());
    TEST_CHECK(c.n == 24 && c.ids[0] == cJSON_GetArrayItem(cJSON_GetObjectItem(g0, "new_ids"), 0)->valueint,
               "hubrt_generate: the reference's first id");
    char full[16384];
    snprintf(full, sizeof full, "%s", c.text);

    /* continuing the session: no BOS the second time */
    memset(&c, 0, sizeof c);
    sp.max_new_tokens = 4;
    rc = hubrt_generate(s, " The end.", &sp, on_token, &c, &gen);
    TEST_CHECK(rc == 0 && c.n == 4, "continue the session: %s", hubrt_last_error());

    /* the callback stops generation */
    memset(&c, 0, sizeof c);
    c.stop_after = 3;
    hubrt_session_reset(s);
    sp.max_new_tokens = 24;
    rc = hubrt_generate(s, "Once upon a time", &sp, on_token, &c, &gen);
    TEST_CHECK(rc == 0 && c.n == 3 && gen.n_new == 3 && gen.stop_reason == HUBRT_STOP_CALLBACK,
               "callback stop after 3: %d calls, reason %d", c.n, gen.stop_reason);

    /* stop strings: held back, never emitted, split across tokens */
    const char *stops[] = {"Lily", "girl n", ", there", "e", "no such text at all"};
    for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
        memset(&c, 0, sizeof c);
        hubrt_session_reset(s);
        sp.stop = stops[i];
        rc = hubrt_generate(s, "Once upon a time", &sp, on_token, &c, &gen);
        const char *at = strstr(full, stops[i]);
        if (at) {
            size_t want_len = (size_t)(at - full);
            TEST_CHECK(rc == 0 && gen.stop_reason == HUBRT_STOP_STRING && c.len == want_len &&
                       !strncmp(c.text, full, want_len),
                       "stop '%s': '%s' (reason %d), want the first %zu bytes", stops[i], c.text, gen.stop_reason, want_len);
        } else {
            TEST_CHECK(rc == 0 && gen.stop_reason == HUBRT_STOP_LENGTH && !strcmp(c.text, full),
                       "stop '%s' absent: the whole text, nothing held back ('%s')", stops[i], c.text);
        }
    }
    sp.stop = NULL;

    /* seeds */
    hubrt_sample_params samp = hubrt_sample_default_params();
    samp.temperature = 1.0f;
    samp.top_k = 40;
    samp.max_new_tokens = 40;
    samp.seed = 77;
    collect *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    hubrt_session_reset(s);
    hubrt_generate(s, "Once upon a time", &samp, on_token, a, NULL);
    hubrt_session_reset(s);
    hubrt_generate(s, "Once upon a time", &samp, on_token, b, NULL);
    TEST_CHECK(a->n == b->n && !memcmp(a->ids, b->ids, (size_t)a->n * sizeof a->ids[0]) && !strcmp(a->text, b->text),
               "same seed, same text");
    samp.seed = 78;
    memset(b, 0, sizeof *b);
    hubrt_session_reset(s);
    hubrt_generate(s, "Once upon a time", &samp, on_token, b, NULL);
    TEST_CHECK(strcmp(a->text, b->text) != 0, "another seed, another text");
    free(a);
    free(b);

    /* errors */
    int32_t one = 1, bad = 100000;
    hubrt_session_reset(s);
    TEST_CHECK(hubrt_generate_ids(s, &bad, 1, &sp, NULL, NULL, NULL) == HUBRT_ERR_RANGE, "prompt id outside the vocab");
    TEST_CHECK(hubrt_generate_ids(NULL, &one, 1, &sp, NULL, NULL, NULL) == HUBRT_ERR_INVALID_ARG, "NULL session");
    TEST_CHECK(hubrt_generate_ids(s, &one, 0, &sp, NULL, NULL, NULL) == HUBRT_ERR_INVALID_ARG, "empty prompt");
    TEST_CHECK(hubrt_generate(s, NULL, &sp, NULL, NULL, NULL) == HUBRT_ERR_INVALID_ARG, "NULL prompt");
    hubrt_sample_params badp = sp;
    badp.top_p = 0;
    TEST_CHECK(hubrt_generate_ids(s, &one, 1, &badp, NULL, NULL, NULL) == HUBRT_ERR_INVALID_ARG &&
               strstr(hubrt_last_error(), "top_p"), "bad sampling params are refused: %s", hubrt_last_error());
    /* NULL params: the defaults; NULL callback and out allowed */
    hubrt_session_reset(s);
    TEST_CHECK(hubrt_generate_ids(s, &one, 1, NULL, NULL, NULL, NULL) == HUBRT_OK, "NULL params/callback/out");
    /* the context fills up: stop like max tokens */
    hubrt_session *small = hubrt_session_new(m, 8);
    hubrt_generation gsmall;
    sp.max_new_tokens = 100;
    rc = small ? hubrt_generate_ids(small, &one, 1, &sp, NULL, NULL, &gsmall) : -1;
    TEST_CHECK(rc == HUBRT_OK && gsmall.stop_reason == HUBRT_STOP_LENGTH && gsmall.n_new <= 8,
               "full context ends generation (rc %d, %d new): %s", rc, gsmall.n_new, hubrt_last_error());
    hubrt_session_free(small);

    float v[64];
    TEST_CHECK(hubrt_embed(m, "hi", HUBRT_POOLING_MEAN, 0, v, 64) < 0, "hubrt_embed on a causal LM fails");
    hubrt_session_free(s);
    hubrt_model_free(m);
    cJSON_Delete(ref);
}

/* Byte-fallback emoji (llama) and byte-level BPE (gpt2): every piece is complete UTF-8. */
static void test_pieces(const char *shared, const char *name)
{
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/models/%s", shared, name);
    snprintf(path, sizeof path, "%s/reference/cases.json", dir);
    cJSON *ref = load_json(path);
    hubrt_load_params lp = hubrt_load_default_params();
    lp.n_threads = 1;
    hubrt_model *m = ref ? hubrt_model_load(dir, &lp) : NULL;
    hubrt_session *s = m ? hubrt_session_new(m, 128) : NULL;
    TEST_CHECK(s != NULL, "%s: %s", name, hubrt_last_error());
    const cJSON *g;
    static collect c;
    const cJSON *gens = s ? cJSON_GetObjectItem(ref, "generation") : NULL;
    cJSON_ArrayForEach(g, gens) {
        const cJSON *in = cJSON_GetObjectItem(g, "input_ids"), *want = cJSON_GetObjectItem(g, "new_ids");
        int32_t ids[64];
        int n = cJSON_GetArraySize(in);
        for (int i = 0; i < n && i < 64; i++) ids[i] = cJSON_GetArrayItem(in, i)->valueint;
        hubrt_sample_params sp = hubrt_sample_default_params();
        sp.max_new_tokens = cJSON_GetArraySize(want);
        memset(&c, 0, sizeof c);
        hubrt_session_reset(s);
        int rc = hubrt_generate_ids(s, ids, n, &sp, on_token, &c, NULL);
        int same = rc == 0 && c.n == sp.max_new_tokens;
        for (int i = 0; same && i < c.n; i++) same = c.ids[i] == cJSON_GetArrayItem(want, i)->valueint;
        TEST_CHECK(same, "%s prompt %d: reference greedy ids", name, cJSON_GetObjectItem(g, "id")->valueint);
        TEST_CHECK(!c.bad_utf8, "%s prompt %d: every piece is complete UTF-8", name, cJSON_GetObjectItem(g, "id")->valueint);
        const char *w = cJSON_GetObjectItem(g, "new_text")->valuestring;
        const char *t = c.text[0] == ' ' && w[0] != ' ' ? c.text + 1 : c.text;
        TEST_CHECK(!strcmp(t, w), "%s: streamed text '%s', transformers '%s'", name, t, w);
    }
    hubrt_session_free(s);
    hubrt_model_free(m);
    cJSON_Delete(ref);
}

/* generation_config.json -> hubrt_sample_model_params */
static void test_model_params(const char *shared)
{
    char tmp[] = "/tmp/hubrt-test-gen-XXXXXX";
    if (!mkdtemp(tmp)) { TEST_CHECK(0, "mkdtemp"); return; }
    const char *files[] = {"config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json",
                           "special_tokens_map.json"};
    char p[800], t[800], abs_t[PATH_MAX];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(t, sizeof t, "%s/models/stories260K/%s", shared, files[i]);
        snprintf(p, sizeof p, "%s/%s", tmp, files[i]);
        if (realpath(t, abs_t) && symlink(abs_t, p) != 0) TEST_CHECK(0, "symlink %s", p);
    }
    struct {
        const char *json;
        int ok;
        float temp, top_p, min_p, rep;
        int top_k, max_new;
    } cases[] = {
        {NULL, 1, 0, 1, 0, 1, 0, 128},                                         /* no file */
        {"{\"eos_token_id\": 2}", 1, 0, 1, 0, 1, 0, 128},                      /* greedy */
        {"{\"do_sample\": false, \"temperature\": 0.7}", 1, 0, 1, 0, 1, 0, 128}, /* no do_sample: greedy */
        {"{\"do_sample\": true}", 1, 1, 1, 0, 1, 50, 128},                     /* transformers' defaults */
        {"{\"do_sample\": true, \"temperature\": 0.6, \"top_p\": 0.9, \"top_k\": 20, \"min_p\": 0.05,"
         " \"repetition_penalty\": 1.1, \"max_new_tokens\": 77}", 1, 0.6f, 0.9f, 0.05f, 1.1f, 20, 77},
        {"{\"do_sample\": true, \"temperature\": \"hot\"}", 0, 0, 0, 0, 0, 0, 0},
        {"{\"repetition_penalty\": -1}", 0, 0, 0, 0, 0, 0, 0},
        {"[1, 2]", 0, 0, 0, 0, 0, 0, 0},
        {"{not json", 0, 0, 0, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(p, sizeof p, "%s/generation_config.json", tmp);
        unlink(p);
        if (cases[i].json) {
            FILE *f = fopen(p, "wb");
            if (f) { fputs(cases[i].json, f); fclose(f); }
        }
        hubrt_load_params lp = hubrt_load_default_params();
        lp.n_threads = 1;
        hubrt_model *m = hubrt_model_load(tmp, &lp);
        if (!m) {
            /* the loader reads generation_config.json too (EOS ids) and may refuse a broken one */
            TEST_CHECK(!cases[i].ok, "case %zu: load failed: %s", i, hubrt_last_error());
            continue;
        }
        hubrt_sample_params sp;
        memset(&sp, 0xAB, sizeof sp);
        int rc = hubrt_sample_model_params(m, &sp);
        if (cases[i].ok) {
            TEST_CHECK(rc == 0 && fabsf(sp.temperature - cases[i].temp) < 1e-6f && fabsf(sp.top_p - cases[i].top_p) < 1e-6f &&
                       fabsf(sp.min_p - cases[i].min_p) < 1e-6f && fabsf(sp.repeat_penalty - cases[i].rep) < 1e-6f &&
                       sp.top_k == cases[i].top_k && sp.max_new_tokens == cases[i].max_new && sp.stop == NULL,
                       "case %zu: T %g top_p %g min_p %g rep %g top_k %d max %d (%s)", i, sp.temperature, sp.top_p,
                       sp.min_p, sp.repeat_penalty, sp.top_k, sp.max_new_tokens, hubrt_last_error());
        } else {
            TEST_CHECK(rc < 0 && strstr(hubrt_last_error(), "generation_config.json"),
                       "case %zu refused naming the file: %s", i, hubrt_last_error());
        }
        hubrt_model_free(m);
    }
    TEST_CHECK(hubrt_sample_model_params(NULL, NULL) == HUBRT_ERR_INVALID_ARG, "NULL model");

    /* EOS ids from generation_config.json stop generation. stories260K never
     * emits its EOS (2; stories are separated by BOS), so declare its third
     * greedy id after "Once upon a time" (286, " was") an EOS id too. */
    snprintf(p, sizeof p, "%s/generation_config.json", tmp);
    FILE *f = fopen(p, "wb");
    if (f) { fputs("{\"eos_token_id\": [2, 286]}", f); fclose(f); }
    hubrt_load_params lp = hubrt_load_default_params();
    lp.n_threads = 1;
    hubrt_model *m = hubrt_model_load(tmp, &lp);
    hubrt_session *s = m ? hubrt_session_new(m, 64) : NULL;
    TEST_CHECK(s != NULL, "load with EOS 286: %s", hubrt_last_error());
    if (s) {
        static collect c;
        const int32_t prompt[] = {1, 403, 407, 261, 378};
        hubrt_sample_params sp = hubrt_sample_default_params();
        sp.max_new_tokens = 24;
        hubrt_generation gen;
        memset(&c, 0, sizeof c);
        int rc = hubrt_generate_ids(s, prompt, 5, &sp, on_token, &c, &gen);
        TEST_CHECK(rc == 0 && gen.stop_reason == HUBRT_STOP_EOS && gen.n_new == 3 && c.n == 3 && c.ids[2] == 286,
                   "EOS stop: reason %d, %d new, last %d", gen.stop_reason, gen.n_new, c.n ? c.ids[c.n - 1] : -1);
        sp.ignore_eos = 1;
        memset(&c, 0, sizeof c);
        hubrt_session_reset(s);
        rc = hubrt_generate_ids(s, prompt, 5, &sp, on_token, &c, &gen);
        TEST_CHECK(rc == 0 && gen.stop_reason == HUBRT_STOP_LENGTH && c.n == 24, "ignore_eos: 24 tokens");
    }
    hubrt_session_free(s);
    hubrt_model_free(m);
    snprintf(p, sizeof p, "rm -rf %s", tmp);
    if (system(p) != 0) fprintf(stderr, "could not remove %s\n", tmp);
}

/* Two threads embedding with one shared model get the sequential results. */
typedef struct embed_job {
    hubrt_model *m;
    float out[8][64];
    int ok;
} embed_job;

static const char *const embed_texts[8] = {"one cat", "two dogs", "a red car", "the capital of France",
                                           "hello world", "CPU inference", "tokenizers are fun", "last one"};

static void *embed_thread(void *arg)
{
    embed_job *j = arg;
    j->ok = 1;
    for (int rep = 0; rep < 5; rep++)
        for (int i = 0; i < 8; i++)
            j->ok &= hubrt_embed(j->m, embed_texts[i], HUBRT_POOLING_MEAN, 1, j->out[i], 64) == 64;
    return NULL;
}

static void test_embed_threads(hubrt_model *m)
{
    static float seq[8][64];
    static embed_job a, b;
    int ok = 1;
    for (int i = 0; i < 8; i++) ok &= hubrt_embed(m, embed_texts[i], HUBRT_POOLING_MEAN, 1, seq[i], 64) == 64;
    a.m = b.m = m;
    pthread_t ta, tb;
    int started = pthread_create(&ta, NULL, embed_thread, &a) == 0;
    started &= pthread_create(&tb, NULL, embed_thread, &b) == 0;
    if (started) {
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
    }
    TEST_CHECK(ok && started && a.ok && b.ok, "concurrent hubrt_embed calls succeed: %s", hubrt_last_error());
    TEST_CHECK(!memcmp(seq, a.out, sizeof seq) && !memcmp(seq, b.out, sizeof seq),
               "concurrent hubrt_embed gives the sequential vectors");
}

static void test_embed_api(const char *shared)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/models/bert-tiny", shared);
    hubrt_load_params lp = hubrt_load_default_params();
    lp.n_threads = 1;
    hubrt_model *m = hubrt_model_load(dir, &lp);
    TEST_CHECK(m != NULL, "load bert-tiny: %s", hubrt_last_error());
    if (!m) return;
    float v[64], w[64], big[128];
    TEST_CHECK(hubrt_embed(m, "hello world", HUBRT_POOLING_MEAN, 0, v, 63) == HUBRT_ERR_INVALID_ARG, "dim too small");
    TEST_CHECK(hubrt_embed(m, NULL, HUBRT_POOLING_MEAN, 0, v, 64) == HUBRT_ERR_INVALID_ARG, "NULL text");
    TEST_CHECK(hubrt_embed(m, "x", (hubrt_pooling)9, 0, v, 64) == HUBRT_ERR_INVALID_ARG, "unknown pooling");
    TEST_CHECK(hubrt_embed(m, "\xff\xfe", HUBRT_POOLING_MEAN, 0, v, 64) < 0, "invalid UTF-8 refused");
    TEST_CHECK(hubrt_embed(m, "hello world", HUBRT_POOLING_MEAN, 0, big, 128) == 64, "larger out: 64 written");
    /* pooling relations on one text: max >= mean, normalize = mean / |mean| */
    int ok = hubrt_embed(m, "hello world", HUBRT_POOLING_MEAN, 0, v, 64) == 64 &&
             hubrt_embed(m, "hello world", HUBRT_POOLING_MAX, 0, w, 64) == 64;
    int ge = 1;
    for (int i = 0; i < 64; i++) ge &= w[i] >= v[i] - 1e-6f;
    TEST_CHECK(ok && ge, "max pooling >= mean pooling element-wise");
    double n2 = 0;
    for (int i = 0; i < 64; i++) n2 += (double)v[i] * v[i];
    ok = hubrt_embed(m, "hello world", HUBRT_POOLING_MEAN, 1, w, 64) == 64;
    double err = 0;
    for (int i = 0; i < 64; i++) err = fmax(err, fabs(w[i] - v[i] / sqrt(n2)));
    TEST_CHECK(ok && err < 1e-6, "normalize divides by the L2 norm (err %g)", err);
    /* longer than 512 positions: truncated, not an error */
    size_t len = 6000;
    char *longtext = malloc(len + 1);
    for (size_t i = 0; i < len; i += 2) { longtext[i] = 'a'; longtext[i + 1] = ' '; }
    longtext[len] = 0;
    TEST_CHECK(hubrt_embed(m, longtext, HUBRT_POOLING_CLS, 0, v, 64) == 64, "3000-word text is truncated: %s",
               hubrt_last_error());
    free(longtext);
    test_embed_threads(m);
    hubrt_model_free(m);
}

int main(void)
{
    const char *shared = test_shared_dir();
    if (!shared) {
        TEST_SKIP("../shared missing");
        return test_finish();
    }
    test_stories(shared);
    test_pieces(shared, "llama-tiny");
    test_pieces(shared, "gpt2-tiny");
    test_model_params(shared);
    test_embed_api(shared);
    return test_finish();
}
