/*
 * tests/test_tools_cli_logits.c — `run-model logits` end to end: the written
 * safetensors file against the references in ../shared/models (from --ids,
 * and from -p / --pair through the tokenizer), its tensor names and shapes,
 * and the exit statuses of bad usage (2) and bad input (1, one stderr line).
 *
 * The binary under test is $HUBRT_BUILD/run-model (default build/).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>

#include "hf/safetensors.h"
#include "tests/test.h"
#include "tests/test_util.h"

static char run_model[512], tmpdir[256], out_path[300];
static const char *shared;
static char err_buf[4096];

/* Runs "run-model logits ARGS"; returns the exit status, stderr in err_buf. */
static int run(const char *fmt, ...)
{
    char args[16384], cmd[17500], err[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(err, sizeof err, "%s/stderr", tmpdir);
    snprintf(cmd, sizeof cmd, "%s logits %s </dev/null >/dev/null 2>%s", run_model, args, err);
    int st = system(cmd);
    err_buf[0] = 0;
    FILE *f = fopen(err, "rb");
    if (f) {
        size_t n = fread(err_buf, 1, sizeof err_buf - 1, f);
        err_buf[n] = 0;
        fclose(f);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int one_line(void)
{
    int n = 0;
    for (const char *p = err_buf; *p; p++) n += *p == '\n';
    return n == 1 && !strncmp(err_buf, "run-model logits", 16);
}

static void join_ids(const cJSON *arr, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < cJSON_GetArraySize(arr) && len + 16 < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%d", i ? "," : "", cJSON_GetArrayItem(arr, i)->valueint);
}

/* Worst |got - want| over the reference rows of a case (1e-4 tolerance, rel above 10). */
static double compare_rows(const hf_tensor *got, const hf_tensor *want, const cJSON *rows, long *bad)
{
    double worst = 0;
    *bad = 0;
    int64_t V = want->shape[1];
    for (int r = 0; r < cJSON_GetArraySize(rows); r++) {
        int row = cJSON_GetArrayItem(rows, r)->valueint;
        if (row < 0 || row >= got->shape[0]) { (*bad)++; continue; }
        const float *g = (const float *)got->data + (size_t)row * V, *w = (const float *)want->data + (size_t)r * V;
        for (int64_t j = 0; j < V; j++) {
            double d = fabs((double)g[j] - w[j]);
            if (!(d <= worst)) worst = d;
            double tol = fabs(w[j]) > 10 ? 1e-4 * fabs(w[j]) : 1e-4;
            if (!(d <= tol)) (*bad)++;
        }
    }
    return worst;
}

static void check_model(const char *name, int use_prompt)
{
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/models/%s", shared, name);
    snprintf(path, sizeof path, "%s/reference/cases.json", dir);
    char *text = test_read_file(path, NULL);
    if (!text) { TEST_SKIP("%s: no reference cases", name); return; }
    cJSON *root = cJSON_Parse(text);
    free(text);
    snprintf(path, sizeof path, "%s/reference/expected.safetensors", dir);
    hf_st_file *ref = hf_st_open(path);
    const cJSON *cases = cJSON_GetObjectItem(root, "cases");
    int bert = !strcmp(name, "bert-tiny");
    int n_cases = cJSON_GetArraySize(cases);
    for (int ci = 0; ci < n_cases && ref; ci++) {
        const cJSON *cs = cJSON_GetArrayItem(cases, ci);
        int id = cJSON_GetObjectItem(cs, "id")->valueint;
        const cJSON *pair = cJSON_GetObjectItem(cs, "text_pair");
        int is_pair = pair && cJSON_IsString(pair);
        if (!use_prompt && ci != 0 && !is_pair) continue; /* ids: the first case (and the pair) */
        if (use_prompt && ci != 0 && !is_pair) continue;
        char ids[8192], types[8192];
        join_ids(cJSON_GetObjectItem(cs, "input_ids"), ids, sizeof ids);
        int rc;
        if (use_prompt) {
            /* the prompt goes through a file-free argument: quote it for sh */
            const char *p = cJSON_GetObjectItem(cs, "prompt")->valuestring;
            char q[4096], qp[4096];
            size_t k = 0;
            q[k++] = '\'';
            for (const char *s = p; *s && k < sizeof q - 8; s++) {
                if (*s == '\'') { memcpy(q + k, "'\\''", 4); k += 4; } else q[k++] = *s;
            }
            q[k++] = '\'';
            q[k] = 0;
            qp[0] = 0;
            if (is_pair) snprintf(qp, sizeof qp, "--pair '%s'", pair->valuestring);
            rc = run("-m %s -t 1 -p %s %s --out %s", dir, q, qp, out_path);
        } else if (bert) {
            join_ids(cJSON_GetObjectItem(cs, "token_type_ids"), types, sizeof types);
            rc = run("-m %s -t 1 --ids %s --type-ids %s --out %s", dir, ids, types, out_path);
        } else {
            rc = run("-m %s -t 1 --ids %s --out %s", dir, ids, out_path);
        }
        TEST_CHECK(rc == 0, "%s case %d (%s): exit %d: %s", name, id, use_prompt ? "-p" : "--ids", rc, err_buf);
        if (rc != 0) continue;
        hf_st_file *got = hf_st_open(out_path);
        TEST_CHECK(got != NULL, "%s: output does not open", name);
        if (!got) continue;
        const hf_tensor *gl = hf_st_find(got, "logits");
        char tn[64];
        snprintf(tn, sizeof tn, "case%d.logits", id);
        const hf_tensor *wl = hf_st_find(ref, tn);
        int n = cJSON_GetArraySize(cJSON_GetObjectItem(cs, "input_ids"));
        TEST_CHECK(gl && gl->dtype == HUBRT_DTYPE_F32 && gl->ndim == 2 && gl->shape[0] == n && wl &&
                   gl->shape[1] == wl->shape[1], "%s case %d: logits [%d, vocab] expected", name, id, n);
        if (gl && wl && gl->ndim == 2 && gl->shape[0] == n && gl->shape[1] == wl->shape[1]) {
            long bad;
            double worst = compare_rows(gl, wl, cJSON_GetObjectItem(cs, "logit_rows"), &bad);
            TEST_CHECK(bad == 0, "%s case %d: %ld logits off (worst %.3g)", name, id, bad, worst);
        }
        if (bert) {
            const hf_tensor *gh = hf_st_find(got, "last_hidden_state"), *gp = hf_st_find(got, "pooler_output");
            snprintf(tn, sizeof tn, "case%d.last_hidden_state", id);
            const hf_tensor *wh = hf_st_find(ref, tn);
            snprintf(tn, sizeof tn, "case%d.pooler_output", id);
            const hf_tensor *wp = hf_st_find(ref, tn);
            int ok = gh && gp && wh && wp && gh->n_elements == wh->n_elements && gp->n_elements == wp->n_elements &&
                     gh->ndim == 2 && gp->ndim == 1;
            TEST_CHECK(ok, "%s case %d: last_hidden_state / pooler_output missing or misshapen", name, id);
            double worst = 0;
            for (int64_t j = 0; ok && j < wh->n_elements; j++)
                worst = fmax(worst, fabs(((const float *)gh->data)[j] - ((const float *)wh->data)[j]));
            for (int64_t j = 0; ok && j < wp->n_elements; j++)
                worst = fmax(worst, fabs(((const float *)gp->data)[j] - ((const float *)wp->data)[j]));
            TEST_CHECK(!ok || worst <= 2e-5, "%s case %d: hidden/pooled off by %.3g", name, id, worst);
        } else {
            TEST_CHECK(hf_st_count(got) == 1, "%s: a causal LM writes only logits", name);
        }
        hf_st_close(got);
    }
    hf_st_close(ref);
    cJSON_Delete(root);
}

int main(void)
{
    if (!test_run_model_path(run_model, sizeof run_model)) {
        TEST_SKIP("%s not built", run_model);
        return test_finish();
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hubrt_test_cli_logits_XXXXXX");
    if (!mkdtemp(tmpdir)) { TEST_CHECK(0, "mkdtemp"); return test_finish(); }
    snprintf(out_path, sizeof out_path, "%s/out.safetensors", tmpdir);

    /* usage errors: exit 2 */
    TEST_CHECK(run("--help") == 0, "--help");
    TEST_CHECK(run("-m x --ids 1") == 2, "missing --out");
    TEST_CHECK(run("-m x --out %s", out_path) == 2, "neither --ids nor -p");
    TEST_CHECK(run("-m x --ids 1 -p hi --out %s", out_path) == 2, "both --ids and -p");
    TEST_CHECK(run("-m x --ids 1,2 --type-ids 0 --out %s", out_path) == 2, "type ids count");
    TEST_CHECK(run("-m x --ids 1,x --out %s", out_path) == 2, "bad id list");
    TEST_CHECK(run("-m x --ids 1,2 --type-ids -1,0 --out %s", out_path) == 2 &&
               strstr(err_buf, "--type-ids: item 1") && strstr(err_buf, "'-1'"),
               "a bad type id names --type-ids and the item: %s", err_buf);
    TEST_CHECK(run("-m x --ids 1 --bogus 3 --out %s", out_path) == 2, "unknown option");
    /* errors: exit 1, one line */
    TEST_CHECK(run("-m /nonexistent/dir --ids 1 --out %s", out_path) == 1 && one_line(), "missing model: %s", err_buf);

    shared = test_shared_dir();
    if (!shared) {
        TEST_SKIP("shared models missing");
    } else {
        char dir[600];
        snprintf(dir, sizeof dir, "%s/models/llama-tiny", shared);
        TEST_CHECK(run("-m %s --ids 1,32000 --out %s", dir, out_path) == 1 && one_line() &&
                   strstr(err_buf, "32000"), "id outside the vocab: %s", err_buf);
        snprintf(dir, sizeof dir, "%s/models/gpt2-tiny", shared);
        char many[8192];
        size_t k = 0;
        for (int i = 0; i < 300 && k + 8 < sizeof many; i++) k += (size_t)snprintf(many + k, sizeof many - k, "%s5", i ? "," : "");
        TEST_CHECK(run("-m %s --ids %s --out %s", dir, many, out_path) == 1 && one_line(),
                   "300 ids > gpt2-tiny's 256 positions: %s", err_buf);
        TEST_CHECK(run("-m %s --ids 1 --out /nonexistent/dir/out.safetensors", dir) == 1 && one_line(),
                   "unwritable output: %s", err_buf);
        static const char *models[] = {"bert-tiny", "gpt2-tiny", "llama-tiny", "qwen2-tiny"};
        for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
            check_model(models[i], 0);
            check_model(models[i], 1);
        }
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", tmpdir);
    return test_finish();
}
