/*
 * tests/test_tools_info.c — `run-model info` end to end, through the real binary
 * ($HUBRT_BUILD/run-model, default build/), run with popen from the repo
 * root.
 *
 *   - every model directory in ../shared/models (the sharded one too): exit
 *     0, and --json's "params" / "tensors" / "dtypes" / "files" equal the
 *     totals this test computes itself by opening the weight files with
 *     hf_st_open (every *.safetensors in the folder, not via the index);
 *   - a missing directory, a corrupt weight file, a pickle-only folder:
 *     exit 1 with exactly one line on stderr naming the problem;
 *   - bad usage: exit 2; --help: exit 0.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>

#include "include/hubrt.h"
#include "hf/safetensors.h"
#include "tests/test.h"
#include "tests/test_util.h"

static char tmpdir[256];
static char runmodel[512];

typedef struct run_result {
    int status;   /* exit status, or -1 if it did not exit normally */
    char *out;    /* stdout */
    char *err;    /* stderr */
    int err_lines;
} run_result;

static char *read_all(FILE *f)
{
    size_t cap = 4096, len = 0;
    char *b = malloc(cap);
    size_t r;
    while ((r = fread(b + len, 1, cap - len - 1, f)) > 0) {
        len += r;
        if (cap - len < 2) b = realloc(b, cap *= 2);
    }
    b[len] = '\0';
    return b;
}

/* Runs "run-model ARGS" with stderr captured in a file. */
static run_result run(const char *args)
{
    run_result r = {-1, NULL, NULL, 0};
    char errpath[400], cmd[2048];
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", tmpdir);
    snprintf(cmd, sizeof cmd, "%s %s 2>'%s'", runmodel, args, errpath);
    FILE *p = popen(cmd, "r");
    if (!p) {
        r.out = calloc(1, 1);
        r.err = calloc(1, 1);
        return r;
    }
    r.out = read_all(p);
    int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    FILE *e = fopen(errpath, "r");
    r.err = e ? read_all(e) : calloc(1, 1);
    if (e) fclose(e);
    for (const char *c = r.err; *c; c++) r.err_lines += *c == '\n';
    return r;
}

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Our own totals over every *.safetensors file in dir. */
typedef struct totals {
    int64_t params, tensors, dtype_bytes[HUBRT_DTYPE_COUNT];
    int files;
} totals;

static int count_dir(const char *dir, totals *t)
{
    memset(t, 0, sizeof *t);
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    int ok = 0;
    while ((e = readdir(d))) {
        if (!has_suffix(e->d_name, ".safetensors")) continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        hf_st_file *f = hf_st_open(path);
        if (!f) {
            ok = -1;
            continue;
        }
        t->files++;
        for (int i = 0; i < hf_st_count(f); i++) {
            const hf_tensor *x = hf_st_tensor(f, i);
            t->params += x->n_elements;
            t->tensors++;
            t->dtype_bytes[x->dtype] += (int64_t)x->n_bytes;
        }
        hf_st_close(f);
    }
    closedir(d);
    return ok;
}

static void test_shared_models(void)
{
    const char *shared = test_shared_dir();
    if (!shared) {
        TEST_SKIP("../shared missing: run-model info on the shared models skipped");
        return;
    }
    char models[512];
    snprintf(models, sizeof models, "%s/models", shared);
    DIR *d = opendir(models);
    TEST_CHECK(d != NULL, "open %s", models);
    if (!d) return;
    int n_models = 0, saw_sharded = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char dir[1024], cfg[1100];
        snprintf(dir, sizeof dir, "%s/%s", models, e->d_name);
        snprintf(cfg, sizeof cfg, "%s/config.json", dir);
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || stat(cfg, &st) != 0) continue;
        n_models++;
        totals t;
        TEST_CHECK(count_dir(dir, &t) == 0 && t.files > 0, "%s: weight files open", e->d_name);
        if (t.files > 1) saw_sharded = 1;

        char args[1200];
        snprintf(args, sizeof args, "info -m '%s' --json", dir);
        run_result r = run(args);
        TEST_CHECK(r.status == 0, "%s: info --json exits 0 (got %d; stderr: %s)", e->d_name, r.status, r.err);
        TEST_CHECK(r.err_lines == 0, "%s: nothing on stderr", e->d_name);
        cJSON *j = cJSON_Parse(r.out);
        TEST_CHECK(j && cJSON_IsObject(j), "%s: --json prints one JSON object", e->d_name);
        if (j) {
            const cJSON *params = cJSON_GetObjectItem(j, "params"), *tensors = cJSON_GetObjectItem(j, "tensors");
            TEST_CHECK(cJSON_IsNumber(params) && (int64_t)params->valuedouble == t.params,
                       "%s: params %.0f == element total %lld", e->d_name,
                       cJSON_IsNumber(params) ? params->valuedouble : -1.0, (long long)t.params);
            TEST_CHECK(cJSON_IsNumber(tensors) && (int64_t)tensors->valuedouble == t.tensors, "%s: tensors",
                       e->d_name);
            const cJSON *dt = cJSON_GetObjectItem(j, "dtypes");
            int dt_ok = cJSON_IsObject(dt);
            for (int k = 0; dt_ok && k < HUBRT_DTYPE_COUNT; k++) {
                const cJSON *v = cJSON_GetObjectItem(dt, hubrt_dtype_name((hubrt_dtype)k));
                dt_ok = t.dtype_bytes[k] ? cJSON_IsNumber(v) && (int64_t)v->valuedouble == t.dtype_bytes[k] : !v;
            }
            TEST_CHECK(dt_ok, "%s: bytes per dtype", e->d_name);
            const cJSON *files = cJSON_GetObjectItem(j, "files");
            TEST_CHECK(cJSON_IsArray(files) && cJSON_GetArraySize(files) == t.files, "%s: files listed",
                       e->d_name);
            int sizes_ok = cJSON_IsArray(files);
            for (const cJSON *f = files ? files->child : NULL; f && sizes_ok; f = f->next) {
                const cJSON *name = cJSON_GetObjectItem(f, "name"), *bytes = cJSON_GetObjectItem(f, "bytes");
                char fp[1400];
                snprintf(fp, sizeof fp, "%s/%s", dir, cJSON_IsString(name) ? name->valuestring : "");
                sizes_ok = cJSON_IsString(name) && cJSON_IsNumber(bytes) && stat(fp, &st) == 0 &&
                           (int64_t)st.st_size == (int64_t)bytes->valuedouble;
            }
            TEST_CHECK(sizes_ok, "%s: file names and sizes match the disk", e->d_name);
            const cJSON *fam = cJSON_GetObjectItem(j, "family"), *arch = cJSON_GetObjectItem(j, "architecture");
            TEST_CHECK(cJSON_IsString(fam) && cJSON_IsString(arch) && fam->valuestring[0] && arch->valuestring[0],
                       "%s: family and architecture", e->d_name);
            cJSON_Delete(j);
        }
        run_free(&r);

        /* the text form works too */
        snprintf(args, sizeof args, "info -m '%s'", dir);
        r = run(args);
        char want[64];
        snprintf(want, sizeof want, "%lld", (long long)t.params);
        TEST_CHECK(r.status == 0 && strstr(r.out, "parameters:") && strstr(r.out, want),
                   "%s: text info shows the parameter count", e->d_name);
        run_free(&r);
    }
    closedir(d);
    TEST_CHECK(n_models >= 1, "found shared models (%d)", n_models);
    TEST_CHECK(saw_sharded, "a sharded model was among them");
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

static void test_errors(void)
{
    char args[1024], d[600], p[700];
    /* missing directory */
    snprintf(args, sizeof args, "info -m '%s/no-such-model'", tmpdir);
    run_result r = run(args);
    TEST_CHECK(r.status == 1 && r.err_lines == 1 && strstr(r.err, "no-such-model"),
               "missing dir: exit 1, one line (status %d, '%s')", r.status, r.err);
    run_free(&r);

    /* corrupt weights next to a valid config */
    snprintf(d, sizeof d, "%s/corrupt", tmpdir);
    mkdir(d, 0755);
    snprintf(p, sizeof p, "%s/config.json", d);
    const char *cfg = "{\"model_type\":\"llama\",\"vocab_size\":8,\"hidden_size\":8,\"num_hidden_layers\":1,"
                      "\"num_attention_heads\":2,\"intermediate_size\":16}";
    write_file(p, cfg, strlen(cfg));
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    const char hdr[] = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
    unsigned char img[8 + sizeof hdr - 1 + 8];
    uint64_t hl = sizeof hdr - 1;
    for (int i = 0; i < 8; i++) img[i] = (unsigned char)(hl >> (8 * i));
    memcpy(img + 8, hdr, hl);
    memset(img + 8 + hl, 0, 8); /* only 8 of the 16 data bytes: truncated */
    write_file(p, img, sizeof img);
    snprintf(args, sizeof args, "info -m '%s' --json", d);
    r = run(args);
    TEST_CHECK(r.status == 1 && r.err_lines == 1 && strstr(r.err, "model.safetensors") &&
                   strstr(r.err, "tensor 'w'") && strstr(r.err, "out of range") && !r.out[0],
               "corrupt file: exit 1, one line naming file and tensor (status %d, '%s')", r.status, r.err);
    run_free(&r);

    /* a bad config.json */
    write_file(p, img, 8 + hl); /* header only: the data region is missing */
    snprintf(p, sizeof p, "%s/config.json", d);
    write_file(p, "{\"model_type\":\"llama\"", 21);
    r = run(args);
    TEST_CHECK(r.status == 1 && r.err_lines == 1 && strstr(r.err, "config.json"), "bad config: exit 1 ('%s')",
               r.err);
    run_free(&r);

    /* pickle only */
    snprintf(d, sizeof d, "%s/pickle", tmpdir);
    mkdir(d, 0755);
    snprintf(p, sizeof p, "%s/config.json", d);
    write_file(p, cfg, strlen(cfg));
    snprintf(p, sizeof p, "%s/pytorch_model.bin", d);
    write_file(p, "PK\3\4", 4);
    snprintf(args, sizeof args, "info -m '%s'", d);
    r = run(args);
    TEST_CHECK(r.status == 1 && r.err_lines == 1 && strstr(r.err, "provide safetensors"),
               "pytorch_model.bin only: exit 1 asking for safetensors ('%s')", r.err);
    run_free(&r);

    /* usage errors: exit 2 */
    const char *usage[] = {"info", "info --json", "info -m", "info -m x --frobnicate", "info -m x extra"};
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        r = run(usage[i]);
        TEST_CHECK(r.status == 2 && r.err_lines >= 1, "'%s': exit 2 (got %d)", usage[i], r.status);
        run_free(&r);
    }
    r = run("info --help");
    TEST_CHECK(r.status == 0 && strstr(r.out, "usage: run-model info"), "info --help: exit 0 with usage");
    run_free(&r);
}

int main(void)
{
    if (!test_run_model_path(runmodel, sizeof runmodel)) {
        TEST_CHECK(0, "%s not found: build it first (make)", runmodel);
        return test_finish();
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hubrt-test-info-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_shared_models();
    test_errors();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", tmpdir);
    return test_finish();
}
