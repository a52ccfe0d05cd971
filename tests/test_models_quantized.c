/*
 * tests/test_models_quantized.c — pre-quantised checkpoints (GPTQ, AWQ,
 * compressed-tensors) run as they are.
 *
 * 1. ../shared/quantized/{llama-gptq-int4, llama-awq-int4, llama-ct-w4a16}
 *    against their references (an independent float64 forward on the exactly
 *    dequantised weights): logits within 1e-4 (1e-4 relative where
 *    |logit| > 10), the argmax at every position, every greedy generation
 *    token for token; incremental decoding equals the full pass; fused
 *    (AUTO storage, 2 threads) and unfused (explicit mmap) placements; the
 *    quantisation that hubrt_model_info reports. Skipped when ../shared is
 *    missing.
 * 2. Random checkpoints written by tests/fixtures (act-order with per-layer
 *    and shared channel orders, 8-bit, asymmetric, gptq_v2, one group per
 *    row, quantised lm_head, Qwen2 biases, every format) against their dense
 *    twins, the same weights stored as f32 scale * (code - zero): the same
 *    logits within 1e-4 (only the order of f32 sums differs).
 * 3. Broken checkpoints and configs refused cleanly, the message naming the
 *    tensor or field; run-model exits 1 with one line on stderr.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>

#include "include/hubrt.h"
#include "hf/safetensors.h"
#include "tests/fixtures/test_model.h"
#include "tests/test.h"
#include "tests/test_util.h"

static int32_t *json_ints(const cJSON *arr, int *n)
{
    *n = cJSON_GetArraySize(arr);
    int32_t *v = malloc((size_t)(*n ? *n : 1) * sizeof *v);
    if (!v) return NULL;
    for (int i = 0; i < *n; i++) v[i] = (int32_t)cJSON_GetArrayItem(arr, i)->valuedouble;
    return v;
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Worst |got - want| over n values and how many are outside atol (rtol where |want| > 10). */
static double compare(const float *got, const float *want, size_t n, long *bad)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= worst)) worst = d; /* NaN counts */
        double tol = fabs(want[i]) > 10 ? fmax(1e-4, 1e-4 * fabs(want[i])) : 1e-4;
        if (!(d <= tol)) (*bad)++;
    }
    return worst;
}

static hubrt_model *load(const char *dir, int threads, hubrt_weight_storage storage)
{
    hubrt_load_params lp = hubrt_load_default_params();
    lp.no_tokenizer = 1;
    lp.n_threads = threads;
    lp.storage = storage;
    return hubrt_model_load(dir, &lp);
}

/* Logits [n][vocab] of ids in one pass; NULL on failure. */
static float *forward_all(hubrt_model *m, const int32_t *ids, int n, int vocab)
{
    float *logits = malloc((size_t)n * (size_t)vocab * sizeof(float));
    hubrt_session *s = hubrt_session_new(m, 0);
    int rc = s && logits ? hubrt_forward(s, ids, n, logits, NULL) : -1;
    hubrt_session_free(s);
    if (rc != HUBRT_OK) {
        free(logits);
        return NULL;
    }
    return logits;
}

/* ---- 1. the shared checkpoints against their references ------------------ */

static void shared_model(const char *shared, const char *name, int threads, hubrt_weight_storage storage)
{
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%.400s/quantized/%.200s", shared, name);
    snprintf(path, sizeof path, "%s/reference/cases.json", dir);
    char *text = test_read_file(path, NULL);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    TEST_CHECK(root != NULL, "%s: reference/cases.json", name);
    snprintf(path, sizeof path, "%s/reference/expected.safetensors", dir);
    hf_st_file *ref = hf_st_open(path);
    TEST_CHECK(ref != NULL, "%s: %s", name, hubrt_last_error());
    hubrt_model *m = root && ref ? load(dir, threads, storage) : NULL;
    TEST_CHECK(m != NULL, "%s: load: %s", name, hubrt_last_error());
    if (!m || !root || !ref) {
        hubrt_model_free(m);
        hf_st_close(ref);
        cJSON_Delete(root);
        return;
    }
    hubrt_model_info info;
    hubrt_model_get_info(m, &info);
    const int V = info.n_logits;
    /* what info reports: the config's quantisation and the layers' weights */
    const cJSON *q = cJSON_GetObjectItem(root, "quantization");
    const char *fmt = cJSON_GetStringValue(cJSON_GetObjectItem(q, "format"));
    const char *want_method = fmt && !strcmp(fmt, "ct") ? "compressed-tensors" : fmt; /* its short name */
    int64_t linear = (int64_t)info.n_layers * info.hidden_size *
                     (2 * info.n_heads * info.head_dim + 2 * info.n_kv_heads * info.head_dim + 3 * info.intermediate_size);
    TEST_CHECK(want_method && !strcmp(info.quant_method, want_method) &&
               info.quant_bits == (int)cJSON_GetNumberValue(cJSON_GetObjectItem(q, "bits")) &&
               info.quant_group_size == (int)cJSON_GetNumberValue(cJSON_GetObjectItem(q, "group_size")) &&
               info.quant_symmetric == cJSON_IsTrue(cJSON_GetObjectItem(q, "sym")) &&
               info.quant_act_order == cJSON_IsTrue(cJSON_GetObjectItem(q, "desc_act")) &&
               info.quant_weights == linear && info.quant_bytes_per_weight > 0.5 &&
               info.quant_file_bytes_per_weight > 0.5 && info.quant_file_bytes_per_weight < 0.6,
               "%s: info: %s %d bits group %d, %lld weights (want %lld), %.3f / %.3f bytes per weight", name,
               info.quant_method, info.quant_bits, info.quant_group_size, (long long)info.quant_weights,
               (long long)linear, info.quant_file_bytes_per_weight, info.quant_bytes_per_weight);
    double worst = 0, worst_incr = 0;
    int argmax_bad = 0, n_cases = 0, gen_ok = 0, n_gen = 0;
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(root, "cases")) {
        int n = 0, n_rows = 0, n_am = 0, id = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(cs, "id"));
        int32_t *ids = json_ints(cJSON_GetObjectItem(cs, "input_ids"), &n);
        int32_t *rows = json_ints(cJSON_GetObjectItem(cs, "logit_rows"), &n_rows);
        int32_t *am = json_ints(cJSON_GetObjectItem(cs, "argmax_per_position"), &n_am);
        float *logits = ids ? forward_all(m, ids, n, V) : NULL;
        TEST_CHECK(logits != NULL, "%s case %d: forward: %s", name, id, hubrt_last_error());
        char tname[64];
        snprintf(tname, sizeof tname, "case%d.logits", id);
        const hf_tensor *t = hf_st_find(ref, tname);
        TEST_CHECK(t && t->ndim == 2 && t->shape[0] == n_rows && t->shape[1] == V, "%s: %s misshapen", name, tname);
        if (logits && t && t->ndim == 2 && t->shape[0] == n_rows && t->shape[1] == V) {
            long bad = 0;
            for (int r = 0; r < n_rows; r++) {
                TEST_CHECK(rows[r] >= 0 && rows[r] < n, "%s case %d: logit row %d", name, id, rows[r]);
                if (rows[r] < 0 || rows[r] >= n) continue;
                double w = compare(logits + (size_t)rows[r] * V, (const float *)t->data + (size_t)r * V, (size_t)V, &bad);
                if (w > worst) worst = w;
            }
            TEST_CHECK(bad == 0, "%s case %d: %ld logits outside tolerance (worst %.3g)", name, id, bad, worst);
            int amb = 0;
            for (int i = 0; i < n && i < n_am; i++) amb += argmax(logits + (size_t)i * V, V) != am[i];
            TEST_CHECK(amb == 0 && n_am == n, "%s case %d: argmax differs at %d positions", name, id, amb);
            argmax_bad += amb;
        }
        if (logits && id == 0) { /* one token at a time equals the full pass */
            hubrt_session *s = hubrt_session_new(m, 0);
            float *last = malloc((size_t)V * sizeof(float));
            long bad = 0;
            int rc = s && last ? 0 : -1;
            for (int i = 0; i < n && rc == 0; i++) {
                rc = hubrt_forward(s, ids + i, 1, NULL, last);
                double w = compare(last, logits + (size_t)i * V, (size_t)V, &bad);
                if (w > worst_incr) worst_incr = w;
            }
            TEST_CHECK(rc == 0 && bad == 0, "%s: incremental vs full: %ld outside 1e-4 (worst %.3g)", name, bad, worst_incr);
            free(last);
            hubrt_session_free(s);
        }
        n_cases++;
        free(ids); free(rows); free(am); free(logits);
    }
    const cJSON *g;
    cJSON_ArrayForEach(g, cJSON_GetObjectItem(root, "generation")) {
        int n = 0, n_new = 0, same = 0;
        int32_t *ids = json_ints(cJSON_GetObjectItem(g, "input_ids"), &n);
        int32_t *want = json_ints(cJSON_GetObjectItem(g, "new_ids"), &n_new);
        float *last = malloc((size_t)V * sizeof(float));
        hubrt_session *s = hubrt_session_new(m, 0);
        int rc = s && ids && want && last ? hubrt_forward(s, ids, n, NULL, last) : -1;
        for (int i = 0; i < n_new && rc == 0; i++) {
            int32_t next = argmax(last, V);
            if (next != want[i]) break;
            same++;
            rc = hubrt_forward(s, &next, 1, NULL, last);
        }
        TEST_CHECK(rc == 0 && same == n_new && n_new > 0, "%s: greedy generation matches %d of %d tokens", name, same, n_new);
        gen_ok += same == n_new;
        n_gen++;
        hubrt_session_free(s);
        free(ids); free(want); free(last);
    }
    printf("%-16s %s, %d thread(s): %d cases, worst |dlogits| %.2e, incremental vs full %.2e, argmax mismatches %d, "
           "greedy %d/%d identical\n", name, storage == HUBRT_STORAGE_MMAP ? "mmap (unfused)" : "auto (fused)", threads,
           n_cases, worst, worst_incr, argmax_bad, gen_ok, n_gen);
    hubrt_model_free(m);
    hf_st_close(ref);
    cJSON_Delete(root);
}

/* ---- 2. fixtures against their dense twins ------------------------------- */

typedef struct variant {
    const char *what;
    test_model_spec spec;
    int threads;
    hubrt_weight_storage storage;
} variant;

static variant make_variant(const char *what, const char *family, const char *quant)
{
    variant v;
    memset(&v, 0, sizeof v);
    v.what = what;
    v.spec = test_model_default(family);
    v.spec.quant = quant;
    v.spec.hidden = 64; /* groups of 16/32 over 64 and 96 input channels */
    v.spec.heads = 4;
    v.spec.ffn = 96;
    v.threads = 1;
    v.storage = HUBRT_STORAGE_AUTO;
    return v;
}

static void twin_case(const char *root, int k, const variant *v)
{
    char qdir[600], ddir[600];
    snprintf(qdir, sizeof qdir, "%s/q%d", root, k);
    snprintf(ddir, sizeof ddir, "%s/d%d", root, k);
    test_model_spec dense = v->spec;
    dense.dense_twin = 1;
    int rc = test_model_write(qdir, &v->spec);
    if (rc == 0) rc = test_model_write(ddir, &dense);
    TEST_CHECK(rc == 0, "%s: write: %s", v->what, hubrt_last_error());
    if (rc) return;
    hubrt_model *mq = load(qdir, v->threads, v->storage), *md = load(ddir, 1, HUBRT_STORAGE_AUTO);
    TEST_CHECK(mq != NULL && md != NULL, "%s: load: %s", v->what, hubrt_last_error());
    if (mq && md) {
        hubrt_model_info iq, id;
        hubrt_model_get_info(mq, &iq);
        hubrt_model_get_info(md, &id);
        int bits = v->spec.qbits ? v->spec.qbits : 4, group = v->spec.qgroup ? v->spec.qgroup : 32;
        TEST_CHECK(iq.quant_bits == bits && iq.quant_group_size == group && iq.quant_act_order == (v->spec.qact_order > 0) &&
                   iq.quant_weights > 0 && !id.quant_method[0] && id.quant_weights == 0,
                   "%s: info %d bits, group %d, act-order %d, %lld weights", v->what, iq.quant_bits,
                   iq.quant_group_size, iq.quant_act_order, (long long)iq.quant_weights);
        enum { N = 14 };
        int32_t ids[N];
        int V = iq.n_logits;
        for (int i = 0; i < N; i++) ids[i] = (i * 37 + 5) % V;
        float *lq = forward_all(mq, ids, N, V), *ld = forward_all(md, ids, N, V);
        TEST_CHECK(lq && ld, "%s: forward: %s", v->what, hubrt_last_error());
        if (lq && ld) {
            long bad = 0;
            double worst = compare(lq, ld, (size_t)N * V, &bad), scale = 0;
            for (size_t i = 0; i < (size_t)N * V; i++) scale = fmax(scale, fabs(ld[i]));
            TEST_CHECK(bad == 0 && scale > 0.1, "%s: %ld logits differ from the dense twin (worst %.3g, max |logit| %.3g)",
                       v->what, bad, worst, scale);
            /* decode one token at a time: the same logits */
            hubrt_session *s = hubrt_session_new(mq, 0);
            float *last = malloc((size_t)V * sizeof(float));
            long bad_incr = 0;
            int ok = s && last;
            for (int i = 0; i < N && ok; i++) {
                ok = hubrt_forward(s, ids + i, 1, NULL, last) == HUBRT_OK;
                if (ok) compare(last, lq + (size_t)i * V, (size_t)V, &bad_incr);
            }
            TEST_CHECK(ok && bad_incr == 0, "%s: incremental vs full: %ld differ", v->what, bad_incr);
            hubrt_session_free(s);
            free(last);
            printf("fixture %-52s vs dense twin: worst |dlogits| %.2e\n", v->what, worst);
        }
        free(lq);
        free(ld);
    }
    hubrt_model_free(mq);
    hubrt_model_free(md);
}

static void test_twins(const char *root)
{
    variant v[20];
    int n = 0;
    v[n++] = make_variant("gptq int4 sym group 32", "llama", "gptq");
    v[n] = make_variant("gptq int4 act-order (own order per layer) asym, mmap", "llama", "gptq");
    v[n].spec.qact_order = 1; v[n].spec.qasym = 1; v[n].storage = HUBRT_STORAGE_MMAP; n++;
    v[n] = make_variant("gptq int4 act-order (own order per layer), fused, 2 threads", "llama", "gptq");
    v[n].spec.qact_order = 1; v[n].threads = 2; n++;
    v[n] = make_variant("gptq int4 act-order (shared order: q|k|v stacked) group 16", "llama", "gptq");
    v[n].spec.qact_order = 2; v[n].spec.qgroup = 16; n++;
    v[n] = make_variant("gptq int8 asym group 16", "llama", "gptq");
    v[n].spec.qbits = 8; v[n].spec.qasym = 1; v[n].spec.qgroup = 16; n++;
    v[n] = make_variant("gptq int8 act-order sym, 2 threads", "llama", "gptq");
    v[n].spec.qbits = 8; v[n].spec.qact_order = 2; v[n].threads = 2; n++;
    v[n] = make_variant("gptq_v2 int4 asym", "llama", "gptq");
    v[n].spec.qv2 = 1; v[n].spec.qasym = 1; n++;
    v[n] = make_variant("gptq int4 one group per row, quantised lm_head", "llama", "gptq");
    v[n].spec.qgroup = -1; v[n].spec.qlm_head = 1; v[n].spec.vocab = 128; n++;
    v[n] = make_variant("gptq int4 qwen2 (q/k/v biases)", "qwen2", "gptq");
    n++;
    v[n] = make_variant("awq int4 zero points group 32", "llama", "awq");
    v[n].spec.qasym = 1; n++;
    v[n] = make_variant("awq int4 zero_point false group 64, mmap", "llama", "awq");
    v[n].spec.qgroup = 64; v[n].storage = HUBRT_STORAGE_MMAP; n++;
    v[n] = make_variant("compressed-tensors int4 sym group 32", "llama", "ct");
    n++;
    v[n] = make_variant("compressed-tensors int4 asym channel", "llama", "ct");
    v[n].spec.qasym = 1; v[n].spec.qgroup = -1; n++;
    v[n] = make_variant("compressed-tensors int8 asym group 16, 2 threads", "llama", "ct");
    v[n].spec.qbits = 8; v[n].spec.qasym = 1; v[n].spec.qgroup = 16; v[n].threads = 2; n++;
    v[n] = make_variant("compressed-tensors int4 actorder group", "llama", "ct");
    v[n].spec.qact_order = 1; n++;
    v[n] = make_variant("gptq int4 mistral, tied embeddings", "mistral", "gptq");
    v[n].spec.tied = 1; n++;
    for (int k = 0; k < n; k++) twin_case(root, k, &v[k]);
}

/* run-model info --json on a fixture: the "quantization" object (and null for a float model). */
static void test_cli_info(const char *root)
{
    char runner[600], dir[600], out[700], errf[700];
    if (!test_run_model_path(runner, sizeof runner)) {
        TEST_SKIP("run-model not built: info --json not checked");
        return;
    }
    for (int quantised = 1; quantised >= 0; quantised--) {
        test_model_spec sp = test_model_default("llama");
        sp.hidden = 64;
        sp.ffn = 96;
        sp.quant = "gptq";
        sp.qbits = 8;
        sp.qact_order = 2;
        sp.qasym = 1;
        sp.dense_twin = !quantised;
        snprintf(dir, sizeof dir, "%s/info%d", root, quantised);
        snprintf(out, sizeof out, "%s/info.out", root);
        snprintf(errf, sizeof errf, "%s/info.err", root);
        if (test_model_write(dir, &sp) != 0) {
            TEST_CHECK(0, "info fixture: %s", hubrt_last_error());
            continue;
        }
        const char *args[] = {"info", "-m", dir, "--json", NULL};
        int status = 0;
        int ok = test_spawn(runner, args, NULL, out, errf, &status) == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        char *text = test_read_file(out, NULL);
        cJSON *j = text ? cJSON_Parse(text) : NULL;
        const cJSON *q = cJSON_GetObjectItem(j, "quantization");
        if (quantised) {
            const char *method = cJSON_GetStringValue(cJSON_GetObjectItem(q, "method"));
            const char *format = cJSON_GetStringValue(cJSON_GetObjectItem(q, "format"));
            double bpw = cJSON_GetNumberValue(cJSON_GetObjectItem(q, "bytes_per_weight"));
            double fbpw = cJSON_GetNumberValue(cJSON_GetObjectItem(q, "file_bytes_per_weight"));
            TEST_CHECK(ok && method && !strcmp(method, "gptq") && format && !strcmp(format, "gptq") &&
                       cJSON_GetNumberValue(cJSON_GetObjectItem(q, "bits")) == 8 &&
                       cJSON_GetNumberValue(cJSON_GetObjectItem(q, "group_size")) == 32 &&
                       cJSON_IsTrue(cJSON_GetObjectItem(q, "act_order")) && cJSON_IsFalse(cJSON_GetObjectItem(q, "symmetric")) &&
                       cJSON_GetNumberValue(cJSON_GetObjectItem(q, "weights")) > 0 && fbpw > 1.0 && fbpw < 1.3 &&
                       /* these tiny rows are padded to 128 channels in memory */
                       bpw > fbpw && bpw < 4, "info --json quantization: %s", text ? text : "(no output)");
        } else {
            TEST_CHECK(ok && cJSON_IsNull(q), "info --json of a float model: quantization null: %s", text ? text : "");
        }
        cJSON_Delete(j);
        free(text);
    }
}

/* ---- 3. broken checkpoints ------------------------------------------------ */

/* Replaces the first `from` in dir/config.json with `to`; 0 or -1. */
static int edit_config(const char *dir, const char *from, const char *to)
{
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = test_read_file(path, NULL);
    char *at = text ? strstr(text, from) : NULL;
    if (!at) {
        free(text);
        return -1;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        free(text);
        return -1;
    }
    fprintf(f, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    fclose(f);
    free(text);
    return 0;
}

typedef struct broken {
    const char *what, *quant;
    const char *drop, *transpose, *int_dtype, *corrupt; /* tensor faults */
    const char *from, *to;                               /* a config edit */
    int qasym, qgroup, qact_order;
    const char *expect1, *expect2;                       /* in the message */
} broken;

static void test_broken(const char *root)
{
    static const broken cases[] = {
        {"qzeros missing", "gptq", "model.layers.1.mlp.up_proj.qzeros", 0, 0, 0, 0, 0, 0, 0, 0,
         "model.layers.1.mlp.up_proj.qzeros", "not found"},
        {"scales transposed", "gptq", 0, "model.layers.0.self_attn.k_proj.scales", 0, 0, 0, 0, 0, 0, 0,
         "model.layers.0.self_attn.k_proj.scales", "shape"},
        {"scales stored as I32", "gptq", 0, 0, "model.layers.0.mlp.down_proj.scales", 0, 0, 0, 0, 0, 0,
         "model.layers.0.mlp.down_proj.scales", "dtype I32"},
        {"qweight transposed", "awq", 0, "model.layers.1.self_attn.o_proj.qweight", 0, 0, 0, 0, 0, 0, 0,
         "model.layers.1.self_attn.o_proj.qweight", "shape"},
        {"g_idx out of range", "gptq", 0, 0, 0, "model.layers.1.self_attn.q_proj.g_idx", 0, 0, 0, 0, 1,
         "model.layers.1.self_attn.q_proj.g_idx", "outside the groups"},
        {"g_idx out of range (in order)", "gptq", 0, 0, 0, "model.layers.0.mlp.gate_proj.g_idx", 0, 0, 0, 0, 0,
         "model.layers.0.mlp.gate_proj.g_idx", "outside the groups"},
        {"an infinite scale", "awq", 0, 0, 0, "model.layers.0.mlp.up_proj.scales", 0, 0, 1, 0, 0,
         "model.layers.0.mlp.up_proj.scales", "not finite"},
        {"weight_shape wrong", "ct", 0, 0, 0, "model.layers.0.self_attn.v_proj.weight_shape", 0, 0, 0, 0, 0,
         "model.layers.0.self_attn.v_proj.weight_shape", "config.json makes"},
        {"weight_zero_point missing", "ct", "model.layers.1.mlp.gate_proj.weight_zero_point", 0, 0, 0, 0, 0, 1, 0, 0,
         "weight_zero_point", "not found"},
        {"weight_scale as I32", "ct", 0, 0, "model.layers.0.mlp.up_proj.weight_scale", 0, 0, 0, 0, 0, 0,
         "weight_scale", "dtype I32"},
        {"bits 3", "gptq", 0, 0, 0, 0, "\"bits\": 4", "\"bits\": 3", 0, 0, 0, "bits = 3", "not supported"},
        {"bits 2", "gptq", 0, 0, 0, 0, "\"bits\": 4", "\"bits\": 2", 0, 0, 0, "bits = 2", "quantization_config"},
        {"config says 8 bits, file has 4", "gptq", 0, 0, 0, 0, "\"bits\": 4", "\"bits\": 8", 0, 0, 0, "qweight", "shape"},
        {"config group 64, file has 32", "gptq", 0, 0, 0, 0, "\"group_size\": 32", "\"group_size\": 64", 0, 0, 0,
         "qzeros", "group_size 64"},
        {"group size 24", "gptq", 0, 0, 0, 0, 0, 0, 0, 24, 0, "group_size 24", "multiple of 16"},
        {"awq gemv", "awq", 0, 0, 0, 0, "\"version\": \"gemm\"", "\"version\": \"gemv\"", 0, 0, 0, "version 'gemv'", "not supported"},
        {"awq marlin", "awq", 0, 0, 0, 0, "\"version\": \"gemm\"", "\"version\": \"marlin\"", 0, 0, 0, "marlin", "not supported"},
        {"gptq marlin format", "gptq", 0, 0, 0, 0, "\"checkpoint_format\": \"gptq\"", "\"checkpoint_format\": \"marlin\"",
         0, 0, 0, "checkpoint_format 'marlin'", "not supported"},
        {"fp8 weights", "ct", 0, 0, 0, 0, "\"type\": \"int\"", "\"type\": \"float\"", 0, 0, 0, "type 'float'", "weights"},
        {"fp8 format", "ct", 0, 0, 0, 0, "\"format\": \"pack-quantized\", \"quantization_status\"",
         "\"format\": \"float-quantized\", \"quantization_status\"", 0, 0, 0, "format 'float-quantized'", "not supported"},
        {"activation quantisation", "ct", 0, 0, 0, 0, "\"input_activations\": null",
         "\"input_activations\": {\"num_bits\": 8, \"type\": \"int\", \"dynamic\": true}", 0, 0, 0,
         "input_activations", "activation quantisation"},
        {"tensor strategy", "ct", 0, 0, 0, 0, "\"strategy\": \"group\"", "\"strategy\": \"tensor\"", 0, 0, 0,
         "strategy 'tensor'", "not supported"},
        {"bitsandbytes", "gptq", 0, 0, 0, 0, "\"quant_method\": \"gptq\"", "\"quant_method\": \"bitsandbytes\"", 0, 0, 0,
         "quant_method 'bitsandbytes'", "not supported"},
        {"no quantization_config", "gptq", 0, 0, 0, 0, "\"quantization_config\"", "\"no_quantization_config\"", 0, 0, 0,
         "qweight", "no quantization_config"},
        {"gptq tensors read as awq", "gptq", 0, 0, 0, 0, "\"quant_method\": \"gptq\"", "\"quant_method\": \"awq\"",
         0, 0, 0, "qweight", "AWQ gemm"},
        {"compressed-tensors tensors, gptq config", "ct", 0, 0, 0, 0,
         "\"quant_method\": \"compressed-tensors\", \"format\": \"pack-quantized\"",
         "\"quant_method\": \"gptq\", \"bits\": 4, \"group_size\": 32, \"checkpoint_format\": \"gptq\"", 0, 0, 0,
         "weight_packed", "says gptq"},
    };
    char dir[600], runner[600];
    int have_cli = test_run_model_path(runner, sizeof runner);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const broken *b = &cases[k];
        test_model_spec sp = test_model_default("llama");
        sp.hidden = 64;
        sp.ffn = 96;
        sp.quant = b->quant;
        sp.drop = b->drop;
        sp.transpose = b->transpose;
        sp.int_dtype = b->int_dtype;
        sp.corrupt = b->corrupt;
        sp.qasym = b->qasym;
        sp.qgroup = b->qgroup;
        sp.qact_order = b->qact_order;
        snprintf(dir, sizeof dir, "%s/bad%zu", root, k);
        int rc = test_model_write(dir, &sp);
        if (rc == 0 && b->from) rc = edit_config(dir, b->from, b->to);
        TEST_CHECK(rc == 0, "%s: write: %s", b->what, hubrt_last_error());
        if (rc) continue;
        hubrt_model *m = load(dir, 1, HUBRT_STORAGE_AUTO);
        const char *err = hubrt_last_error();
        TEST_CHECK(!m && strstr(err, b->expect1) && strstr(err, b->expect2), "%s: expected a refusal naming '%s' / '%s', got %s",
                   b->what, b->expect1, b->expect2, m ? "(loaded)" : err);
        hubrt_model_free(m);
        if (have_cli && k % 4 == 0) { /* the CLI: exit 1, one line on stderr */
            char out[700], errf[700];
            snprintf(out, sizeof out, "%s/cli.out", root);
            snprintf(errf, sizeof errf, "%s/cli.err", root);
            const char *args[] = {"generate", "-m", dir, "--ids", "1,2,3", "-n", "2", NULL};
            int status = 0;
            int spawned = test_spawn(runner, args, NULL, out, errf, &status) == 0;
            char *etext = test_read_file(errf, NULL);
            int lines = 0;
            for (const char *p = etext; p && *p; p++) lines += *p == '\n';
            TEST_CHECK(spawned && WIFEXITED(status) && WEXITSTATUS(status) == 1 && lines == 1 && etext &&
                       strstr(etext, b->expect1), "%s: run-model: status %d, %d stderr lines: %s", b->what,
                       WIFEXITED(status) ? WEXITSTATUS(status) : -1, lines, etext ? etext : "");
            free(etext);
        }
    }
    if (!have_cli) TEST_SKIP("run-model not built: the CLI refusals are not checked");
}

int main(void)
{
    const char *shared = test_shared_dir();
    if (!shared) {
        TEST_SKIP("../shared missing: the quantised reference checkpoints are not checked");
    } else {
        static const char *names[] = {"llama-gptq-int4", "llama-awq-int4", "llama-ct-w4a16"};
        for (int i = 0; i < 3; i++) {
            shared_model(shared, names[i], 1, HUBRT_STORAGE_AUTO);
            shared_model(shared, names[i], 2, HUBRT_STORAGE_MMAP);
        }
    }
    char tmpl[] = "/tmp/hubrt_test_quantized_XXXXXX";
    char *root = mkdtemp(tmpl);
    TEST_CHECK(root != NULL, "mkdtemp");
    if (root) {
        test_twins(root);
        test_cli_info(root);
        test_broken(root);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", root);
    }
    return test_finish();
}
