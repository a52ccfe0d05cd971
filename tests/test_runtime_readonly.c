/*
 * tests/test_runtime_readonly.c — a loaded model is read-only: every file of
 * its directory is read by hubrt_model_load, and the calls that take a
 * const hubrt_model * may run on one model from several threads at once.
 *
 *   - four threads embedding (one text and batches) and encoding on one
 *     bert-tiny at once get the single-thread results (each call owns its
 *     activation memory);
 *   - the encoder profile (HUBRT_PROFILE=1 at load) counts the passes of
 *     every thread, is printed at hubrt_model_free, and is refused when
 *     profiling is off;
 *   - generation_config.json and the sentence-transformers files are read
 *     at load: changing or deleting them afterwards changes nothing; a
 *     broken one does not fail the load, the call that needs it reports it
 *     naming the file, every time it is called;
 *   - hubrt_model_info's kind and config values match config.json.
 */
#include <fcntl.h>
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

#define TOL 1e-5f /* the same math on the same thread count; only memory placement differs */

static const char *shared;
static char tmpdir[] = "/tmp/hubrt-test-readonly-XXXXXX";

enum { N_WORKERS = 4, N_ROUNDS = 6, N_BATCH = 5 };

static const char *texts[N_WORKERS][N_BATCH] = {
    {"A cat sat on the mat.", "Short.", "The quick brown fox jumps over the lazy dog.", "Paris is a city in France.", "x"},
    {"Models run fast on CPUs.", "Hello world!", "Tokenization of unbelievable sentences.", "42 and 43", "a b c d e f g"},
    {"One more sentence here.", "Embeddings are vectors.", "What is the capital of Italy?", "Rome.", "Yes"},
    {"The history of computing is a story of steady miniaturisation.", "No", "Maybe later", "ok", "Done."},
};

typedef struct worker {
    const hubrt_model *m;
    int H, idx;
    const float *want_embed;  /* [N_BATCH][H] single-thread hubrt_embed results */
    const float *want_hidden; /* [8][H] single-thread hubrt_encode of ids */
    const int32_t *ids;
    int failures, passes;
    float worst;
} worker;

static float max_diff(const float *a, const float *b, size_t n)
{
    float d = 0;
    for (size_t i = 0; i < n; i++) {
        float x = fabsf(a[i] - b[i]);
        if (!(x <= d)) d = x; /* NaN counts as a difference */
    }
    return d;
}

static void *work(void *arg)
{
    worker *w = arg;
    const int H = w->H;
    float *out = malloc((size_t)N_BATCH * H * sizeof *out), *hid = malloc((size_t)8 * H * sizeof *hid);
    if (!out || !hid) { w->failures++; free(out); free(hid); return NULL; }
    for (int r = 0; r < N_ROUNDS; r++) {
        int k = (r + w->idx) % N_BATCH;
        if (hubrt_embed(w->m, texts[w->idx][k], HUBRT_POOLING_MEAN, 1, out, H) != H) w->failures++;
        else w->worst = fmaxf(w->worst, max_diff(out, w->want_embed + (size_t)k * H, (size_t)H));
        if (hubrt_encode(w->m, w->ids, NULL, 8, hid, NULL, NULL) != HUBRT_OK) w->failures++;
        else w->worst = fmaxf(w->worst, max_diff(hid, w->want_hidden, (size_t)8 * H));
        if (hubrt_embed_batch(w->m, texts[w->idx], N_BATCH, HUBRT_POOLING_MEAN, 1, out, H) != H) w->failures++;
        else w->worst = fmaxf(w->worst, max_diff(out, w->want_embed, (size_t)N_BATCH * H));
        w->passes += 3;
    }
    free(out);
    free(hid);
    return NULL;
}

/* The "profile: N passes" count of a profile table, or -1. */
static long table_passes(const char *table)
{
    long n;
    return table && sscanf(table, "profile: %ld passes", &n) == 1 ? n : -1;
}

static void test_threads(const char *bert_dir, int profile)
{
    if (profile) setenv("HUBRT_PROFILE", "1", 1);
    hubrt_load_params lp = hubrt_load_default_params();
    lp.n_threads = 1;
    hubrt_model *m = hubrt_model_load(bert_dir, &lp);
    unsetenv("HUBRT_PROFILE");
    TEST_CHECK(m != NULL, "load %s: %s", bert_dir, hubrt_last_error());
    if (!m) return;
    hubrt_model_info info;
    TEST_CHECK(hubrt_model_get_info(m, &info) == HUBRT_OK && info.kind == HUBRT_MODEL_ENCODER, "bert-tiny is an encoder");
    const int H = info.hidden_size;
    int32_t ids[8] = {101, 1037, 4937, 2938, 2006, 1996, 13523, 102};
    float *want = malloc((size_t)N_WORKERS * N_BATCH * H * sizeof *want);
    float *want_hidden = malloc((size_t)8 * H * sizeof *want_hidden);
    int ok = want && want_hidden && hubrt_encode(m, ids, NULL, 8, want_hidden, NULL, NULL) == HUBRT_OK;
    for (int t = 0; ok && t < N_WORKERS; t++)
        for (int k = 0; ok && k < N_BATCH; k++)
            ok = hubrt_embed(m, texts[t][k], HUBRT_POOLING_MEAN, 1, want + ((size_t)t * N_BATCH + k) * H, H) == H;
    TEST_CHECK(ok, "single-thread references: %s", hubrt_last_error());
    long ref_passes = 1 + N_WORKERS * N_BATCH;

    worker w[N_WORKERS];
    pthread_t th[N_WORKERS];
    int started = 0;
    for (int t = 0; ok && t < N_WORKERS; t++) {
        w[t] = (worker){m, H, t, want + (size_t)t * N_BATCH * H, want_hidden, ids, 0, 0, 0};
        if (pthread_create(&th[t], NULL, work, &w[t]) == 0) started++;
    }
    TEST_CHECK(!ok || started == N_WORKERS, "started %d threads", started);
    int failures = 0, passes = 0;
    float worst = 0;
    for (int t = 0; t < started; t++) {
        pthread_join(th[t], NULL);
        failures += w[t].failures;
        passes += w[t].passes;
        worst = fmaxf(worst, w[t].worst);
    }
    TEST_CHECK(ok && failures == 0 && worst <= TOL,
               "%d threads on one model%s: %d failed calls, max |diff| from one thread %g", started,
               profile ? " (profiled)" : "", failures, worst);

    char table[8192];
    int len = hubrt_encode_profile_report(m, table, sizeof table);
    if (!profile) {
        TEST_CHECK(len == HUBRT_ERR_INVALID_ARG && strstr(hubrt_last_error(), "HUBRT_PROFILE"),
                   "no encoder profile without HUBRT_PROFILE: %d %s", len, hubrt_last_error());
        hubrt_model_free(m);
    } else {
        /* every pass counts: hubrt_embed and each packed pass of hubrt_embed_batch are one each */
        long n = table_passes(len > 0 ? table : NULL);
        TEST_CHECK(len > 0 && n == ref_passes + passes && strstr(table, "matmul"),
                   "encoder profile counts every thread's passes: %ld, want %ld (%s)", n, ref_passes + passes,
                   len > 0 ? "" : hubrt_last_error());
        TEST_CHECK(hubrt_encode_profile_report(m, NULL, 0) == len, "report length without a buffer");
        /* hubrt_model_free prints the table on stderr */
        char errpath[PATH_MAX];
        snprintf(errpath, sizeof errpath, "%s/stderr.txt", tmpdir);
        fflush(stderr);
        int saved = dup(2), fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (saved >= 0 && fd >= 0) dup2(fd, 2);
        hubrt_model_free(m);
        fflush(stderr);
        if (saved >= 0) { dup2(saved, 2); close(saved); }
        if (fd >= 0) close(fd);
        char *printed = test_read_file(errpath, NULL);
        TEST_CHECK(printed && table_passes(printed) == n, "the table printed at free: %.200s", printed ? printed : "(none)");
        free(printed);
    }
    free(want);
    free(want_hidden);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (f) { fputs(text, f); fclose(f); }
    TEST_CHECK(f != NULL, "write %s", p);
}

/* A directory of symlinks to model's files (those that exist). */
static void link_model(const char *model, const char *dir, const char *const *files, int n)
{
    mkdir(dir, 0755);
    for (int i = 0; i < n; i++) {
        char src[PATH_MAX], abs_src[PATH_MAX], dst[PATH_MAX];
        snprintf(src, sizeof src, "%s/models/%s/%s", shared, model, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        if (realpath(src, abs_src)) TEST_CHECK(symlink(abs_src, dst) == 0, "symlink %s", dst);
    }
}

static hubrt_model *load(const char *dir)
{
    hubrt_load_params lp = hubrt_load_default_params();
    lp.n_threads = 1;
    hubrt_model *m = hubrt_model_load(dir, &lp);
    TEST_CHECK(m != NULL, "load %s: %s", dir, hubrt_last_error());
    return m;
}

static void test_generation_config(void)
{
    static const char *const files[] = {"config.json", "model.safetensors", "tokenizer.model",
                                        "tokenizer_config.json", "special_tokens_map.json"};
    char dir[512];
    snprintf(dir, sizeof dir, "%s/gen", tmpdir);
    link_model("stories260K", dir, files, 5);

    write_text(dir, "generation_config.json", "{\"do_sample\": true, \"temperature\": 0.6, \"max_new_tokens\": 33}");
    hubrt_model *m = load(dir);
    if (m) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/generation_config.json", dir);
        write_text(dir, "generation_config.json", "{not json");
        hubrt_sample_params a, b;
        int rc = hubrt_sample_model_params(m, &a);
        unlink(p);
        int rc2 = hubrt_sample_model_params(m, &b);
        TEST_CHECK(rc == 0 && rc2 == 0 && fabsf(a.temperature - 0.6f) < 1e-6f && a.max_new_tokens == 33 &&
                   !memcmp(&a, &b, sizeof a),
                   "generation_config.json is read at load: edits after it change nothing (T %g, max %d)",
                   a.temperature, a.max_new_tokens);
        hubrt_model_free(m);
    }

    /* a bad field: the load succeeds, hubrt_sample_model_params reports it every time */
    write_text(dir, "generation_config.json", "{\"do_sample\": true, \"top_k\": \"many\"}");
    m = load(dir);
    if (m) {
        hubrt_sample_params sp = hubrt_sample_default_params();
        for (int k = 0; k < 2; k++) {
            int rc = hubrt_sample_model_params(m, &sp);
            TEST_CHECK(rc == HUBRT_ERR_FORMAT && strstr(hubrt_last_error(), "generation_config.json") &&
                       strstr(hubrt_last_error(), "top_k"),
                       "call %d: a bad top_k is reported by the call: %d %s", k + 1, rc, hubrt_last_error());
        }
        hubrt_model_free(m);
    }
}

static void test_sentence_transformers(void)
{
    static const char *const files[] = {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json",
                                        "special_tokens_map.json"};
    static const char modules[] =
        "[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
        "{\"idx\":1,\"name\":\"1\",\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"}]";
    char dir[512], p[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/st", tmpdir);
    link_model("bert-tiny", dir, files, 5);
    write_text(dir, "modules.json", modules);
    snprintf(p, sizeof p, "%s/1_Pooling", dir);
    mkdir(p, 0755);
    write_text(dir, "1_Pooling/config.json", "{\"pooling_mode_cls_token\": true, \"pooling_mode_mean_tokens\": false}");

    const char *text = "A sentence about cats.";
    hubrt_model *m = load(dir);
    if (m) {
        hubrt_model_info info;
        hubrt_model_get_info(m, &info);
        const int H = info.hidden_size;
        float *def = malloc((size_t)H * sizeof *def), *cls = malloc((size_t)H * sizeof *cls),
              *mean = malloc((size_t)H * sizeof *mean);
        /* the pooling files go away after the load: the default pooling is still CLS */
        snprintf(p, sizeof p, "%s/modules.json", dir);
        unlink(p);
        snprintf(p, sizeof p, "%s/1_Pooling/config.json", dir);
        unlink(p);
        int ok = def && cls && mean && hubrt_embed(m, text, HUBRT_POOLING_DEFAULT, 0, def, H) == H &&
                 hubrt_embed(m, text, HUBRT_POOLING_CLS, 0, cls, H) == H &&
                 hubrt_embed(m, text, HUBRT_POOLING_MEAN, 0, mean, H) == H;
        TEST_CHECK(ok && !memcmp(def, cls, (size_t)H * sizeof *def) && memcmp(def, mean, (size_t)H * sizeof *def),
                   "the sentence-transformers pooling is read at load (CLS after its files are gone): %s",
                   ok ? "" : hubrt_last_error());
        free(def);
        free(cls);
        free(mean);
        hubrt_model_free(m);
    }

    /* broken modules.json: loads; the default pooling reports it, an explicit one does not need it */
    write_text(dir, "modules.json", "{not json");
    m = load(dir);
    if (m) {
        float v[128];
        for (int k = 0; k < 2; k++) {
            int rc = hubrt_embed(m, text, HUBRT_POOLING_DEFAULT, 0, v, 128);
            TEST_CHECK(rc == HUBRT_ERR_FORMAT && strstr(hubrt_last_error(), "modules.json"),
                       "call %d: broken modules.json reported by the default pooling: %d %s", k + 1, rc,
                       hubrt_last_error());
        }
        int rc = hubrt_embed(m, text, HUBRT_POOLING_MEAN, 0, v, 128);
        TEST_CHECK(rc > 0, "explicit pooling ignores modules.json: %d %s", rc, hubrt_last_error());
        hubrt_model_free(m);
    }

    /* broken sentence_bert_config.json: loads; every embed call reports it */
    write_text(dir, "modules.json", modules);
    write_text(dir, "sentence_bert_config.json", "{\"max_seq_length\": \"long\"}");
    m = load(dir);
    if (m) {
        float v[128];
        int rc = hubrt_embed(m, text, HUBRT_POOLING_MEAN, 0, v, 128);
        TEST_CHECK(rc == HUBRT_ERR_FORMAT && strstr(hubrt_last_error(), "sentence_bert_config.json"),
                   "broken sentence_bert_config.json reported by hubrt_embed: %d %s", rc, hubrt_last_error());
        const char *one[1] = {text};
        rc = hubrt_embed_batch(m, one, 1, HUBRT_POOLING_CLS, 0, v, 128);
        TEST_CHECK(rc == HUBRT_ERR_FORMAT && strstr(hubrt_last_error(), "sentence_bert_config.json"),
                   "and by hubrt_embed_batch: %d %s", rc, hubrt_last_error());
        hubrt_model_free(m);
    }
}

/* config.json's number at key (or alt), or def. */
static double cfg_num(const cJSON *cfg, const char *key, const char *alt, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!cJSON_IsNumber(v) && alt) v = cJSON_GetObjectItemCaseSensitive(cfg, alt);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static void test_info(const char *name, hubrt_model_kind kind, const char *activation)
{
    char dir[512], path[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/models/%s", shared, name);
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = test_read_file(path, NULL);
    cJSON *cfg = text ? cJSON_Parse(text) : NULL;
    free(text);
    hubrt_load_params lp = hubrt_load_default_params();
    lp.n_threads = 1;
    lp.no_tokenizer = 1;
    hubrt_model *m = cfg ? hubrt_model_load(dir, &lp) : NULL;
    TEST_CHECK(m != NULL, "%s: load: %s", name, hubrt_last_error());
    hubrt_model_info in;
    if (!m || hubrt_model_get_info(m, &in) != HUBRT_OK) {
        hubrt_model_free(m);
        cJSON_Delete(cfg);
        return;
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    double eps = cfg_num(cfg, "layer_norm_eps", "rms_norm_eps", cfg_num(cfg, "layer_norm_epsilon", NULL, -1));
    int bos = (int)cfg_num(cfg, "bos_token_id", NULL, -1), eos = (int)cfg_num(cfg, "eos_token_id", NULL, -1);
    int has_eos = 0;
    for (int i = 0; i < in.n_eos; i++) has_eos |= in.eos_token_ids[i] == eos;
    TEST_CHECK(in.kind == kind && cJSON_IsString(mt) && !strcmp(in.model_type, mt->valuestring) &&
                   !strcmp(in.activation, activation) && fabs(in.norm_eps - eps) <= 1e-6 * eps &&
                   in.bos_token_id == bos && (eos < 0 || has_eos) && in.n_threads == 1,
               "%s: info kind %d, model_type %s, activation %s, eps %g, bos %d, %d eos ids", name, (int)in.kind,
               in.model_type, in.activation, (double)in.norm_eps, in.bos_token_id, in.n_eos);
    if (kind == HUBRT_MODEL_CAUSAL_LM && strcmp(name, "gpt2-tiny") != 0)
        TEST_CHECK(fabs(in.rope_theta - cfg_num(cfg, "rope_theta", NULL, 10000)) < 1e-3 &&
                       in.sliding_window == (int)cfg_num(cfg, "sliding_window", NULL, 0) &&
                       !strcmp(in.rope_scaling, "default"),
                   "%s: rope theta %g, scaling %s, window %d", name, (double)in.rope_theta, in.rope_scaling,
                   in.sliding_window);
    if (kind == HUBRT_MODEL_ENCODER)
        TEST_CHECK(in.type_vocab_size == (int)cfg_num(cfg, "type_vocab_size", NULL, 2) && in.n_logits == in.vocab_size,
                   "%s: type vocab %d, n_logits %d", name, in.type_vocab_size, in.n_logits);
    hubrt_model_free(m);
    cJSON_Delete(cfg);
}

int main(void)
{
    shared = test_shared_dir();
    if (!shared) {
        TEST_SKIP("../shared missing");
        return test_finish();
    }
    if (!mkdtemp(tmpdir)) {
        TEST_CHECK(0, "mkdtemp");
        return test_finish();
    }
    char bert[PATH_MAX];
    snprintf(bert, sizeof bert, "%s/models/bert-tiny", shared);
    test_threads(bert, 0);
    test_threads(bert, 1);
    test_generation_config();
    test_sentence_transformers();
    test_info("bert-tiny", HUBRT_MODEL_ENCODER, "gelu");
    test_info("gpt2-tiny", HUBRT_MODEL_CAUSAL_LM, "gelu_tanh");
    test_info("llama-tiny", HUBRT_MODEL_CAUSAL_LM, "silu");
    test_info("mistral-tiny-swa", HUBRT_MODEL_CAUSAL_LM, "silu");

    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", tmpdir);
    return test_finish();
}
