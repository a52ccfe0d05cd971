/*
 * tests/test_tools_cli.c — run-model end to end: every command's --help, usage
 * errors (exit 2), missing files and unknown models (exit 1 with one line on
 * stderr), generate against the reference greedy generations of
 * ../shared/models, stop strings, seeds, embed and fill-mask against
 * bert-tiny's reference hidden states and logits, sentence-transformers
 * directories, org/name from a local HF cache, and bench.
 *
 * The binary under test is $HUBRT_BUILD/run-model (default build/), run
 * through /bin/sh with stdout/stderr captured in temporary files.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>

#include "hf/safetensors.h"
#include "tests/test.h"
#include "tests/test_util.h"

static char run_model[512];
static char tmpdir[256];
static const char *shared;
static char *out_buf, *err_buf; /* of the last run */

/* Runs "run-model ARGS" (printf-style) with optional stdin text; returns the exit status. */
static int run(const char *stdin_text, const char *fmt, ...)
{
    char args[8192], cmd[10000], in[300], out[300], err[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(in, sizeof in, "%s/stdin", tmpdir);
    snprintf(out, sizeof out, "%s/stdout", tmpdir);
    snprintf(err, sizeof err, "%s/stderr", tmpdir);
    FILE *f = fopen(in, "wb");
    if (f) {
        if (stdin_text) fputs(stdin_text, f);
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "%s %s <%s >%s 2>%s", run_model, args, in, out, err);
    int st = system(cmd);
    free(out_buf);
    free(err_buf);
    out_buf = test_read_file(out, NULL);
    err_buf = test_read_file(err, NULL);
    if (!out_buf) out_buf = calloc(1, 1);
    if (!err_buf) err_buf = calloc(1, 1);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Exit status `want` and exactly one line on stderr, starting with "run-model". */
static void check_error(int rc, int want, const char *what)
{
    TEST_CHECK(rc == want, "%s: exit %d, want %d (stderr: %s)", what, rc, want, err_buf);
    TEST_CHECK(count_lines(err_buf) == 1 && !strncmp(err_buf, "run-model", 9),
               "%s: one line on stderr, got: %s", what, err_buf);
}

static int model_exists(const char *name)
{
    char p[600];
    snprintf(p, sizeof p, "%s/models/%s/config.json", shared, name);
    return access(p, R_OK) == 0;
}

static cJSON *load_json_file(const char *path)
{
    char *t = test_read_file(path, NULL);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    free(t);
    return j;
}

static int ids_equal(const cJSON *a, const cJSON *b)
{
    if (!cJSON_IsArray(a) || !cJSON_IsArray(b) || cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) return 0;
    for (int i = 0; i < cJSON_GetArraySize(a); i++)
        if (cJSON_GetArrayItem(a, i)->valueint != cJSON_GetArrayItem(b, i)->valueint) return 0;
    return 1;
}

static void ids_to_text(const cJSON *arr, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < cJSON_GetArraySize(arr) && len + 16 < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%d", i ? "," : "", cJSON_GetArrayItem(arr, i)->valueint);
}

/* ---- generic CLI behaviour --------------------------------------------- */

static void test_help_and_usage(void)
{
    const char *cmds[] = {"generate", "embed", "fill-mask", "bench", "tokenize", "detokenize", "logits", "info"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        int rc = run(NULL, "%s --help", cmds[i]);
        TEST_CHECK(rc == 0 && strstr(out_buf, "usage") != NULL, "%s --help: exit %d, stdout '%.60s'", cmds[i], rc, out_buf);
    }
    TEST_CHECK(run(NULL, "--help") == 0 && strstr(out_buf, "generate"), "run-model --help lists the commands");
    TEST_CHECK(run(NULL, "") == 2, "no arguments: usage error");
    TEST_CHECK(run(NULL, "frobnicate -m x") == 2 && strstr(err_buf, "frobnicate"), "unknown command named");

    const char *M = "../shared/models/stories260K";
    struct { const char *args; const char *what; } usage[] = {
        {"generate -p hi", "generate without -m"},
        {"generate -m %s", "generate without a prompt"},
        {"generate -m %s -p hi --ids 1,2", "-p and --ids together"},
        {"generate -m %s --ids 1,,2", "--ids with an empty item"},
        {"generate -m %s --ids 1,x", "--ids with a non-number"},
        {"generate -m %s -p hi -n -3", "-n negative"},
        {"generate -m %s -p hi --temp abc", "--temp not a number"},
        {"generate -m %s -p hi --temp -1", "--temp negative"},
        {"generate -m %s -p hi --top-p 1.5", "--top-p above 1"},
        {"generate -m %s -p hi --min-p 2", "--min-p above 1"},
        {"generate -m %s -p hi --top-k", "--top-k without a value"},
        {"generate -m %s -p hi --quant q3", "--quant q3"},
        {"generate -m %s -p hi --bogus", "unknown option"},
        {"-m %s -p hi --seed -5", "--seed negative (default command)"},
        {"embed -m %s", "embed without text"},
        {"embed -m %s -p x --pooling median", "--pooling median"},
        {"embed -p x", "embed without -m"},
        {"fill-mask -m %s", "fill-mask without -p"},
        {"fill-mask -m %s -p x --top-k 0", "fill-mask --top-k 0"},
        {"bench -m %s -r 0", "bench -r 0"},
        {"bench -m %s -p abc", "bench -p abc"},
        {"bench", "bench without -m"},
        {"bench -m %s -t -2", "bench -t -2"},
    };
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        char args[512];
        snprintf(args, sizeof args, usage[i].args, M);
        check_error(run(NULL, "%s", args), 2, usage[i].what);
    }
}

static void test_missing_and_unknown(void)
{
    char hf[400];
    snprintf(hf, sizeof hf, "%s/empty-hf", tmpdir);
    mkdir(hf, 0755);
    const char *cmds[] = {"generate -p hi", "embed -p hi", "fill-mask -p '[MASK]'", "bench"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char what[200];
        snprintf(what, sizeof what, "%s on a missing directory", cmds[i]);
        check_error(run(NULL, "%s -m %s/no-such-dir", cmds[i], tmpdir), 1, what);
        snprintf(what, sizeof what, "%s on an unknown org/name", cmds[i]);
        /* an empty HF cache, so the result does not depend on this machine's */
        setenv("HF_HOME", hf, 1);
        int rc = run(NULL, "%s -m nosuchorg/nosuchmodel", cmds[i]);
        unsetenv("HF_HOME");
        check_error(rc, 1, what);
        TEST_CHECK(strstr(err_buf, "nosuchorg") != NULL, "%s: message names the model: %s", what, err_buf);
    }
    /* a directory that exists but holds no model */
    check_error(run(NULL, "generate -m %s -p hi", tmpdir), 1, "generate on a directory without config.json");
}

/* ---- generate ----------------------------------------------------------- */

static void test_reference_generations(void)
{
    const char *models[] = {"stories260K", "gpt2-tiny", "llama-tiny", "llama-tiny-f16-sharded", "qwen2-tiny",
                            "mistral-tiny-swa"};
    for (size_t mi = 0; mi < sizeof models / sizeof models[0]; mi++) {
        if (!model_exists(models[mi])) {
            TEST_SKIP("%s not in %s/models", models[mi], shared);
            continue;
        }
        char path[600];
        snprintf(path, sizeof path, "%s/models/%s/reference/cases.json", shared, models[mi]);
        cJSON *ref = load_json_file(path);
        const cJSON *gens = cJSON_GetObjectItem(ref, "generation");
        TEST_CHECK(cJSON_IsArray(gens) && cJSON_GetArraySize(gens) > 0, "%s: reference generations", models[mi]);
        const cJSON *g;
        cJSON_ArrayForEach(g, gens) {
            const cJSON *in = cJSON_GetObjectItem(g, "input_ids"), *want = cJSON_GetObjectItem(g, "new_ids");
            const cJSON *eos = cJSON_GetObjectItem(g, "stopped_on_eos");
            char ids[4096];
            ids_to_text(in, ids, sizeof ids);
            int n = cJSON_GetArraySize(want);
            int rc = run(NULL, "generate -m %s/models/%s --ids %s -n %d --temp 0 --json -q -t 1", shared, models[mi], ids, n);
            cJSON *o = cJSON_Parse(out_buf);
            TEST_CHECK(rc == 0 && o, "%s: generate --json exit %d, stdout %.200s stderr %.300s", models[mi], rc, out_buf, err_buf);
            if (!o) continue;
            const cJSON *got = cJSON_GetObjectItem(o, "new_ids");
            TEST_CHECK(ids_equal(got, want), "%s prompt %d: greedy ids differ from the reference", models[mi],
                       cJSON_GetObjectItem(g, "id")->valueint);
            TEST_CHECK(ids_equal(cJSON_GetObjectItem(o, "prompt_ids"), in), "%s: prompt_ids echo the input", models[mi]);
            const cJSON *reason = cJSON_GetObjectItem(o, "stop_reason");
            TEST_CHECK(cJSON_IsString(reason) && !strcmp(reason->valuestring, cJSON_IsTrue(eos) ? "eos" : "length"),
                       "%s: stop_reason %s", models[mi], cJSON_IsString(reason) ? reason->valuestring : "?");
            const cJSON *pf = cJSON_GetObjectItem(o, "prefill_tok_s"), *dc = cJSON_GetObjectItem(o, "decode_tok_s");
            TEST_CHECK(cJSON_IsNumber(pf) && pf->valuedouble > 0 && cJSON_IsNumber(dc) && dc->valuedouble > 0,
                       "%s: prefill/decode speeds are positive numbers", models[mi]);
            const cJSON *text = cJSON_GetObjectItem(o, "text");
            TEST_CHECK(cJSON_IsString(text), "%s: text is a string", models[mi]);
            if (cJSON_IsString(text)) {
                /* the text decodes like transformers' decode(new_ids) (modulo the leading
                 * space it drops when decoding the new ids without the prompt), including
                 * byte-fallback emoji and GPT-2's U+FFFD for bytes that never form a character */
                const char *t = text->valuestring, *w = cJSON_GetObjectItem(g, "new_text")->valuestring;
                if (t[0] == ' ' && w[0] != ' ') t++;
                TEST_CHECK(!strcmp(t, w), "%s text '%s', reference '%s'", models[mi], t, w);
            }
            cJSON_Delete(o);
        }
        cJSON_Delete(ref);
    }
}

static void test_generate_options(void)
{
    if (!model_exists("stories260K")) {
        TEST_SKIP("stories260K missing");
        return;
    }
    char M[600];
    snprintf(M, sizeof M, "%s/models/stories260K", shared);

    /* streaming output = the prompt, then the same text --json reports */
    int rc = run(NULL, "-m %s -p 'Once upon a time' -n 20 --temp 0 --json -q", M);
    cJSON *j = cJSON_Parse(out_buf);
    TEST_CHECK(rc == 0 && j, "default command with --json: exit %d %s", rc, err_buf);
    const char *full = j && cJSON_IsString(cJSON_GetObjectItem(j, "text")) ? cJSON_GetObjectItem(j, "text")->valuestring : "";
    char *full_copy = strdup(full);
    rc = run(NULL, "generate -m %s -p 'Once upon a time' -n 20 --temp 0", M);
    char want[4096];
    snprintf(want, sizeof want, "Once upon a time%s\n", full_copy);
    TEST_CHECK(rc == 0 && !strcmp(out_buf, want), "streamed stdout '%s', want '%s'", out_buf, want);
    TEST_CHECK(strstr(err_buf, "tok/s") != NULL, "speeds on stderr: %s", err_buf);
    rc = run(NULL, "generate -m %s -p 'Once upon a time' -n 20 --temp 0 --quiet", M);
    TEST_CHECK(rc == 0 && err_buf[0] == 0, "--quiet: nothing on stderr, got '%s'", err_buf);
    rc = run(NULL, "generate -m %s -p 'Once upon a time' -n 20 --temp 0 --no-echo -q", M);
    snprintf(want, sizeof want, "%s\n", full_copy);
    TEST_CHECK(rc == 0 && !strcmp(out_buf, want), "--no-echo: only the continuation");

    /* -f FILE and -f - (stdin) read the prompt */
    {
        char pf[400];
        snprintf(pf, sizeof pf, "%s/prompt.txt", tmpdir);
        FILE *f = fopen(pf, "wb");
        if (f) { fputs("Once upon a time", f); fclose(f); }
        rc = run(NULL, "generate -m %s -f %s -n 20 --temp 0 --json -q", M, pf);
        cJSON *fj = cJSON_Parse(out_buf);
        TEST_CHECK(rc == 0 && fj && ids_equal(cJSON_GetObjectItem(fj, "new_ids"), cJSON_GetObjectItem(j, "new_ids")),
                   "-f FILE: same as -p (%s)", err_buf);
        cJSON_Delete(fj);
        rc = run("Once upon a time", "generate -m %s -f - -n 20 --temp 0 --json -q", M);
        fj = cJSON_Parse(out_buf);
        TEST_CHECK(rc == 0 && fj && ids_equal(cJSON_GetObjectItem(fj, "new_ids"), cJSON_GetObjectItem(j, "new_ids")),
                   "-f -: the prompt from stdin (%s)", err_buf);
        cJSON_Delete(fj);
        check_error(run(NULL, "generate -m %s -f %s/none.txt", M, tmpdir), 1, "-f with a missing file");
        check_error(run(NULL, "generate -m %s -f %s -p hi", M, pf), 2, "-f and -p together");
    }

    /* --stop: output ends before the stop string, which is not printed */
    const char *stop = "Lily";
    const char *at = strstr(full_copy, stop);
    TEST_CHECK(at != NULL, "the greedy text contains '%s': %s", stop, full_copy);
    if (at) {
        rc = run(NULL, "generate -m %s -p 'Once upon a time' -n 20 --temp 0 --stop %s --json -q", M, stop);
        cJSON *s = cJSON_Parse(out_buf);
        const cJSON *t = cJSON_GetObjectItem(s, "text"), *r = cJSON_GetObjectItem(s, "stop_reason");
        TEST_CHECK(rc == 0 && cJSON_IsString(t) && strlen(t->valuestring) == (size_t)(at - full_copy) &&
                   !strncmp(t->valuestring, full_copy, (size_t)(at - full_copy)),
                   "--stop: text '%s' is the greedy text up to '%s'", cJSON_IsString(t) ? t->valuestring : "?", stop);
        TEST_CHECK(cJSON_IsString(r) && !strcmp(r->valuestring, "stop"), "--stop: stop_reason \"stop\"");
        TEST_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(s, "new_ids")) <
                   cJSON_GetArraySize(cJSON_GetObjectItem(j, "new_ids")), "--stop ends generation early");
        cJSON_Delete(s);
        /* a stop string that spans tokens, streamed */
        rc = run(NULL, "generate -m %s -p 'Once upon a time' -n 20 --temp 0 --stop ' named L' --no-echo -q", M);
        const char *at2 = strstr(full_copy, " named L");
        if (at2) {
            snprintf(want, sizeof want, "%.*s\n", (int)(at2 - full_copy), full_copy);
            TEST_CHECK(rc == 0 && !strcmp(out_buf, want), "streamed --stop across tokens: '%s', want '%s'", out_buf, want);
        }
    }

    /* --profile: the per-op table on stderr, stdout unchanged */
    rc = run(NULL, "generate -m %s -p 'Once upon a time' -n 20 --temp 0 --no-echo --profile -q", M);
    snprintf(want, sizeof want, "%s\n", full_copy);
    TEST_CHECK(rc == 0 && !strcmp(out_buf, want) && strstr(err_buf, "profile:") && strstr(err_buf, "matmul"),
               "--profile: table on stderr (%.200s)", err_buf);

    /* -n 0: nothing new */
    rc = run(NULL, "generate -m %s -p 'Once upon a time' -n 0 --json -q", M);
    cJSON *z = cJSON_Parse(out_buf);
    TEST_CHECK(rc == 0 && z && cJSON_GetArraySize(cJSON_GetObjectItem(z, "new_ids")) == 0, "-n 0: no new ids");
    cJSON_Delete(z);

    /* sampling: the same seed gives the same ids; seeds differ */
    char a[8192] = "", b[8192] = "";
    rc = run(NULL, "generate -m %s -p 'Once upon a time' -n 30 --temp 1.0 --top-p 0.95 --seed 1234 --json -q", M);
    cJSON *s1 = cJSON_Parse(out_buf);
    ids_to_text(cJSON_GetObjectItem(s1, "new_ids"), a, sizeof a);
    rc |= run(NULL, "generate -m %s -p 'Once upon a time' -n 30 --temp 1.0 --top-p 0.95 --seed 1234 --json -q", M);
    cJSON *s2 = cJSON_Parse(out_buf);
    ids_to_text(cJSON_GetObjectItem(s2, "new_ids"), b, sizeof b);
    TEST_CHECK(rc == 0 && a[0] && !strcmp(a, b), "same seed, same ids: [%s] vs [%s]", a, b);
    int differ = 0;
    for (int seed = 1; seed <= 3 && !differ; seed++) {
        run(NULL, "generate -m %s -p 'Once upon a time' -n 30 --temp 1.0 --top-p 0.95 --seed %d --json -q", M, seed);
        cJSON *s3 = cJSON_Parse(out_buf);
        ids_to_text(cJSON_GetObjectItem(s3, "new_ids"), b, sizeof b);
        differ = strcmp(a, b) != 0;
        cJSON_Delete(s3);
    }
    TEST_CHECK(differ, "other seeds give other ids");
    TEST_CHECK(cJSON_GetObjectItem(s1, "seed") && cJSON_GetObjectItem(s1, "seed")->valuedouble == 1234,
               "--json reports the seed");
    cJSON_Delete(s1);
    cJSON_Delete(s2);
    rc = run(NULL, "generate -m %s -p 'Once upon a time' -n 5 --temp 0.8 --verbose", M);
    TEST_CHECK(rc == 0 && strstr(err_buf, "seed") != NULL, "--verbose prints the (random) seed: %s", err_buf);
    /* top-k 1 is greedy whatever the seed */
    rc = run(NULL, "generate -m %s -p 'Once upon a time' -n 20 --temp 0.9 --top-k 1 --seed 99 --json -q", M);
    cJSON *k1 = cJSON_Parse(out_buf);
    TEST_CHECK(rc == 0 && k1 && ids_equal(cJSON_GetObjectItem(k1, "new_ids"), cJSON_GetObjectItem(j, "new_ids")),
               "--top-k 1 equals greedy");
    cJSON_Delete(k1);
    /* repetition penalty changes greedy output on a repetitive model */
    rc = run(NULL, "generate -m %s -p 'Once upon a time' -n 20 --temp 0 --repeat-penalty 3 --json -q", M);
    cJSON *rp = cJSON_Parse(out_buf);
    TEST_CHECK(rc == 0 && rp && !ids_equal(cJSON_GetObjectItem(rp, "new_ids"), cJSON_GetObjectItem(j, "new_ids")),
               "--repeat-penalty 3 changes the greedy text");
    cJSON_Delete(rp);

    /* EOS: stories260K separates stories with BOS and never emits its EOS (2), so
     * a copy of the directory declares the third greedy id (286) an EOS id in
     * generation_config.json: generation must stop right after it. */
    {
        char dir[400], p[800], t[800], abs_t[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/stories-eos", tmpdir);
        mkdir(dir, 0755);
        const char *files[] = {"config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json",
                               "special_tokens_map.json"};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            snprintf(t, sizeof t, "%s/%s", M, files[i]);
            snprintf(p, sizeof p, "%s/%s", dir, files[i]);
            if (realpath(t, abs_t) && symlink(abs_t, p) != 0) TEST_CHECK(0, "symlink %s", p);
        }
        snprintf(p, sizeof p, "%s/generation_config.json", dir);
        FILE *f = fopen(p, "wb");
        if (f) { fputs("{\"bos_token_id\": 1, \"eos_token_id\": [2, 286]}", f); fclose(f); }
        const cJSON *ref_ids = cJSON_GetObjectItem(j, "new_ids");
        int third = cJSON_GetArraySize(ref_ids) >= 3 ? cJSON_GetArrayItem(ref_ids, 2)->valueint : -1;
        TEST_CHECK(third == 286, "the third greedy id is 286 (got %d)", third);
        rc = run(NULL, "generate -m %s -p 'Once upon a time' -n 20 --temp 0 --json -q", dir);
        cJSON *e = cJSON_Parse(out_buf);
        const cJSON *r = cJSON_GetObjectItem(e, "stop_reason"), *ni = cJSON_GetObjectItem(e, "new_ids");
        TEST_CHECK(rc == 0 && cJSON_IsString(r) && !strcmp(r->valuestring, "eos") && cJSON_GetArraySize(ni) == 3 &&
                   cJSON_GetArrayItem(ni, 2)->valueint == 286,
                   "EOS from generation_config.json stops generation: %s %s", out_buf, err_buf);
        cJSON_Delete(e);
        rc = run(NULL, "generate -m %s -p 'Once upon a time' -n 20 --temp 0 --ignore-eos --json -q", dir);
        e = cJSON_Parse(out_buf);
        TEST_CHECK(rc == 0 && ids_equal(cJSON_GetObjectItem(e, "new_ids"), ref_ids), "--ignore-eos runs to -n");
        cJSON_Delete(e);
    }

    /* a directory without tokenizer files: --ids works, ids are streamed, -p is an error */
    {
        char dir[400], p[800], t[800], abs_t[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/stories-notok", tmpdir);
        mkdir(dir, 0755);
        const char *files[] = {"config.json", "model.safetensors"};
        for (size_t i = 0; i < 2; i++) {
            snprintf(t, sizeof t, "%s/%s", M, files[i]);
            snprintf(p, sizeof p, "%s/%s", dir, files[i]);
            if (realpath(t, abs_t) && symlink(abs_t, p) != 0) TEST_CHECK(0, "symlink %s", p);
        }
        rc = run(NULL, "generate -m %s --ids 1,403,407,261,378 -n 3 --temp 0 -q", dir);
        TEST_CHECK(rc == 0 && !strcmp(out_buf, "1 403 407 261 378 432 383 286\n"),
                   "no tokenizer: prompt and new ids streamed, got '%s' (%s)", out_buf, err_buf);
        rc = run(NULL, "generate -m %s --ids 1,403,407,261,378 -n 3 --temp 0 --json -q", dir);
        cJSON *o = cJSON_Parse(out_buf);
        TEST_CHECK(rc == 0 && cJSON_GetArraySize(cJSON_GetObjectItem(o, "new_ids")) == 3, "no tokenizer: --json");
        cJSON_Delete(o);
        check_error(run(NULL, "generate -m %s -p 'Once upon a time' -q", dir), 1, "no tokenizer: -p is an error");
    }

    /* errors at run time */
    check_error(run(NULL, "generate -m %s --ids 1,99999 -n 2 -q", M), 1, "prompt id outside the vocab");
    if (model_exists("bert-tiny"))
        check_error(run(NULL, "generate -m %s/models/bert-tiny -p hello -n 2 -q", shared), 1, "generate on an encoder");
    cJSON_Delete(j);
    free(full_copy);
}

/* ---- embed / fill-mask vs bert-tiny's reference -------------------------- */

static float *parse_floats(const char *text, int *n)
{
    cJSON *a = cJSON_Parse(text);
    *n = 0;
    if (!cJSON_IsArray(a)) { cJSON_Delete(a); return NULL; }
    int k = cJSON_GetArraySize(a);
    float *v = malloc((size_t)(k ? k : 1) * sizeof *v);
    for (int i = 0; v && i < k; i++) v[i] = (float)cJSON_GetArrayItem(a, i)->valuedouble;
    *n = k;
    cJSON_Delete(a);
    return v;
}

static void test_embed_fill_mask(void)
{
    if (!model_exists("bert-tiny")) {
        TEST_SKIP("bert-tiny missing");
        return;
    }
    char M[600], path[700];
    snprintf(M, sizeof M, "%s/models/bert-tiny", shared);
    snprintf(path, sizeof path, "%s/reference/expected.safetensors", M);
    hf_st_file *st = hf_st_open(path);
    TEST_CHECK(st != NULL, "open %s: %s", path, hubrt_last_error());
    snprintf(path, sizeof path, "%s/reference/cases.json", M);
    cJSON *ref = load_json_file(path);
    if (!st || !ref) { hf_st_close(st); cJSON_Delete(ref); return; }
    const cJSON *cases = cJSON_GetObjectItem(ref, "cases");
    const int H = 64;

    for (int ci = 0; ci < 7; ci++) { /* the single-sentence cases */
        const cJSON *c = cJSON_GetArrayItem(cases, ci);
        if (!c || !cJSON_IsNull(cJSON_GetObjectItem(c, "text_pair"))) continue;
        char name[64];
        snprintf(name, sizeof name, "case%d.last_hidden_state", ci);
        const hf_tensor *t = hf_st_find(st, name);
        if (!t || t->dtype != HUBRT_DTYPE_F32 || t->ndim != 2 || t->shape[1] != H) {
            TEST_CHECK(0, "%s missing", name);
            continue;
        }
        const float *hs = t->data;
        int n = (int)t->shape[0];
        float mean[64], cls[64];
        for (int j = 0; j < H; j++) {
            double s = 0;
            for (int r = 0; r < n; r++) s += hs[(size_t)r * H + j];
            mean[j] = (float)(s / n);
            cls[j] = hs[j];
        }
        /* the prompt goes through a file: it has quotes, $ and a newline */
        char pfile[400];
        snprintf(pfile, sizeof pfile, "%s/prompt%d.txt", tmpdir, ci);
        FILE *f = fopen(pfile, "wb");
        fputs(cJSON_GetObjectItem(c, "prompt")->valuestring, f);
        fclose(f);
        const char *modes[] = {"mean", "cls"};
        for (int mo = 0; mo < 2; mo++) {
            int rc = run(NULL, "embed -m %s -p \"$(cat %s)\" --pooling %s -t 1", M, pfile, modes[mo]);
            int k;
            float *v = parse_floats(out_buf, &k);
            TEST_CHECK(rc == 0 && v && k == H, "case %d embed %s: exit %d, %d floats (%s)", ci, modes[mo], rc, k, err_buf);
            if (v && k == H) {
                const float *want = mo ? cls : mean;
                double err = 0;
                for (int j = 0; j < H; j++) err = fmax(err, fabs(v[j] - want[j]));
                TEST_CHECK(err < 2e-5, "case %d %s pooling: max |diff| %g vs the reference", ci, modes[mo], err);
            }
            free(v);
        }
        if (ci == 0) {
            /* --normalize: unit length, same direction as mean */
            int rc = run(NULL, "embed -m %s -p \"$(cat %s)\" --pooling mean --normalize", M, pfile);
            int k;
            float *v = parse_floats(out_buf, &k);
            double nrm = 0, ref_n = 0, err = 0;
            for (int j = 0; j < H; j++) ref_n += (double)mean[j] * mean[j];
            ref_n = sqrt(ref_n);
            for (int j = 0; v && j < k && j < H; j++) {
                nrm += (double)v[j] * v[j];
                err = fmax(err, fabs(v[j] - mean[j] / ref_n));
            }
            TEST_CHECK(rc == 0 && v && k == H && fabs(sqrt(nrm) - 1) < 1e-5 && err < 2e-5,
                       "--normalize: norm %g, max |diff| %g", sqrt(nrm), err);
            free(v);
            /* default pooling of a plain BERT dir is mean */
            rc = run(NULL, "embed -m %s -p \"$(cat %s)\"", M, pfile);
            v = parse_floats(out_buf, &k);
            err = 0;
            for (int j = 0; v && j < k && j < H; j++) err = fmax(err, fabs(v[j] - mean[j]));
            TEST_CHECK(rc == 0 && v && k == H && err < 2e-5, "default pooling is mean (|diff| %g)", err);
            free(v);
        }
    }

    /* --jsonl: one array per line, equal to the -p results */
    {
        int rc = run(NULL, "embed -m %s -p 'Hello there.' --pooling cls", M);
        char *one = strdup(out_buf);
        rc |= run(NULL, "embed -m %s -p 'Second line!' --pooling cls", M);
        char *two = strdup(out_buf);
        rc |= run("{\"text\": \"Hello there.\"}\n{\"text\": \"Second line!\"}\n", "embed -m %s --jsonl --pooling cls", M);
        char want[20000];
        snprintf(want, sizeof want, "%s%s", one, two);
        TEST_CHECK(rc == 0 && !strcmp(out_buf, want), "--jsonl gives the -p arrays line by line");
        free(one);
        free(two);
        check_error(run("{\"text\": \"ok\"}\nnot json\n", "embed -m %s --jsonl", M), 1, "--jsonl with a bad line");
        TEST_CHECK(strstr(err_buf, "line 2") != NULL, "bad --jsonl line is named: %s", err_buf);
    }

    /* fill-mask: case 6 "The capital of France is [MASK]." */
    const cJSON *c6 = cJSON_GetArrayItem(cases, 6);
    const hf_tensor *lt = hf_st_find(st, "case6.logits");
    if (c6 && lt && lt->ndim == 2) {
        const cJSON *in = cJSON_GetObjectItem(c6, "input_ids"), *rows = cJSON_GetObjectItem(c6, "logit_rows");
        int mask_pos = -1, row = -1;
        for (int i = 0; i < cJSON_GetArraySize(in); i++)
            if (cJSON_GetArrayItem(in, i)->valueint == 103) mask_pos = i;
        for (int i = 0; i < cJSON_GetArraySize(rows); i++)
            if (cJSON_GetArrayItem(rows, i)->valueint == mask_pos) row = i;
        TEST_CHECK(mask_pos >= 0 && row >= 0, "case 6 has a [MASK] row in the reference");
        if (row >= 0) {
            const int V = (int)lt->shape[1];
            const float *l = (const float *)lt->data + (size_t)row * V;
            /* reference top-5 by softmax */
            double mx = -1e30, z = 0;
            for (int j = 0; j < V; j++) mx = fmax(mx, l[j]);
            for (int j = 0; j < V; j++) z += exp(l[j] - mx);
            int top[5];
            for (int k = 0; k < 5; k++) {
                top[k] = -1;
                for (int j = 0; j < V; j++) {
                    int used = 0;
                    for (int q = 0; q < k; q++) used |= top[q] == j;
                    if (!used && (top[k] < 0 || l[j] > l[top[k]])) top[k] = j;
                }
            }
            int rc = run(NULL, "fill-mask -m %s -p \"%s\" --top-k 5", M, cJSON_GetObjectItem(c6, "prompt")->valuestring);
            cJSON *o = cJSON_Parse(out_buf);
            TEST_CHECK(rc == 0 && cJSON_IsArray(o) && cJSON_GetArraySize(o) == 1, "fill-mask: one mask (exit %d, %s)", rc, err_buf);
            const cJSON *m0 = cJSON_GetArrayItem(o, 0);
            TEST_CHECK(cJSON_GetObjectItem(m0, "position") && cJSON_GetObjectItem(m0, "position")->valueint == mask_pos,
                       "fill-mask: position %d", mask_pos);
            const cJSON *preds = cJSON_GetObjectItem(m0, "predictions");
            TEST_CHECK(cJSON_GetArraySize(preds) == 5, "fill-mask: 5 predictions");
            for (int k = 0; k < 5 && k < cJSON_GetArraySize(preds); k++) {
                const cJSON *p = cJSON_GetArrayItem(preds, k);
                int id = cJSON_GetObjectItem(p, "id")->valueint;
                double score = cJSON_GetObjectItem(p, "score")->valuedouble;
                const cJSON *tok = cJSON_GetObjectItem(p, "token");
                TEST_CHECK(id == top[k], "fill-mask prediction %d: id %d, reference %d", k, id, top[k]);
                double want = exp(l[top[k]] - mx) / z;
                TEST_CHECK(fabs(score - want) < 1e-5, "fill-mask prediction %d: score %g, reference %g", k, score, want);
                TEST_CHECK(cJSON_IsString(tok) && tok->valuestring[0], "fill-mask prediction %d has a token string", k);
            }
            cJSON_Delete(o);
        }
    }
    check_error(run(NULL, "fill-mask -m %s -p 'no mask here'", M), 1, "fill-mask without a mask token");
    if (model_exists("stories260K")) {
        check_error(run(NULL, "embed -m %s/models/stories260K -p hi", shared), 1, "embed on a causal LM");
        check_error(run(NULL, "fill-mask -m %s/models/stories260K -p 'a [MASK]'", shared), 1, "fill-mask on a causal LM");
    }
    hf_st_close(st);
    cJSON_Delete(ref);
}

/* A sentence-transformers layout over bert-tiny's files (symlinks). */
static void make_st_dir(const char *dir, const char *modules, const char *pooling)
{
    char p[800], t[800];
    mkdir(dir, 0755);
    const char *files[] = {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json",
                           "special_tokens_map.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        snprintf(t, sizeof t, "%s/models/bert-tiny/%s", shared, files[i]);
        char abs_t[PATH_MAX];
        if (!realpath(t, abs_t)) continue;
        unlink(p);
        if (symlink(abs_t, p) != 0) continue;
    }
    snprintf(p, sizeof p, "%s/modules.json", dir);
    FILE *f = fopen(p, "wb");
    if (f) { fputs(modules, f); fclose(f); }
    snprintf(p, sizeof p, "%s/1_Pooling", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/1_Pooling/config.json", dir);
    f = fopen(p, "wb");
    if (f) { fputs(pooling, f); fclose(f); }
}

static void test_sentence_transformers(void)
{
    if (!model_exists("bert-tiny")) {
        TEST_SKIP("bert-tiny missing");
        return;
    }
    char M[600], dir[400];
    snprintf(M, sizeof M, "%s/models/bert-tiny", shared);
    const char *mods = "[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
                       "{\"idx\":1,\"name\":\"1\",\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"}";
    char modules[1000];
    snprintf(modules, sizeof modules, "%s]", mods);
    snprintf(dir, sizeof dir, "%s/st-cls", tmpdir);
    make_st_dir(dir, modules, "{\"word_embedding_dimension\": 64, \"pooling_mode_cls_token\": true, "
                              "\"pooling_mode_mean_tokens\": false}");
    int rc = run(NULL, "embed -m %s -p 'A sentence.' --pooling cls", M);
    char *cls = strdup(out_buf);
    rc |= run(NULL, "embed -m %s -p 'A sentence.'", dir);
    TEST_CHECK(rc == 0 && !strcmp(out_buf, cls), "1_Pooling cls_token: the default pooling is CLS (%s)", err_buf);
    rc = run(NULL, "embed -m %s -p 'A sentence.' --pooling mean", dir);
    TEST_CHECK(rc == 0 && strcmp(out_buf, cls) != 0, "--pooling overrides the sentence-transformers config");

    snprintf(modules, sizeof modules,
             "%s,{\"idx\":2,\"name\":\"2\",\"path\":\"2_Normalize\",\"type\":\"sentence_transformers.models.Normalize\"}]", mods);
    snprintf(dir, sizeof dir, "%s/st-norm", tmpdir);
    make_st_dir(dir, modules, "{\"pooling_mode_mean_tokens\": true}");
    rc = run(NULL, "embed -m %s -p 'A sentence.'", dir);
    int k;
    float *v = parse_floats(out_buf, &k);
    double n2 = 0;
    for (int i = 0; v && i < k; i++) n2 += (double)v[i] * v[i];
    TEST_CHECK(rc == 0 && k == 64 && fabs(n2 - 1) < 1e-5, "Normalize module: unit length (norm^2 %g)", n2);
    free(v);

    snprintf(modules, sizeof modules,
             "%s,{\"idx\":2,\"name\":\"2\",\"path\":\"2_Dense\",\"type\":\"sentence_transformers.models.Dense\"}]", mods);
    snprintf(dir, sizeof dir, "%s/st-dense", tmpdir);
    make_st_dir(dir, modules, "{\"pooling_mode_mean_tokens\": true}");
    check_error(run(NULL, "embed -m %s -p 'A sentence.'", dir), 1, "a Dense module is refused");
    TEST_CHECK(strstr(err_buf, "Dense") != NULL, "the refusal names the module: %s", err_buf);

    /* sentence_bert_config.json max_seq_length truncates: [CLS] + 6 word pieces + [SEP] */
    snprintf(modules, sizeof modules, "%s]", mods);
    snprintf(dir, sizeof dir, "%s/st-len", tmpdir);
    make_st_dir(dir, modules, "{\"pooling_mode_mean_tokens\": true}");
    char p[600];
    snprintf(p, sizeof p, "%s/sentence_bert_config.json", dir);
    FILE *f = fopen(p, "wb");
    if (f) { fputs("{\"max_seq_length\": 8, \"do_lower_case\": false}", f); fclose(f); }
    rc = run(NULL, "embed -m %s -p 'The history of computing is a story of steady miniaturisation.'", dir);
    char *truncated = strdup(out_buf);
    rc |= run(NULL, "embed -m %s -p 'The history of computing is a' --pooling mean", M);
    TEST_CHECK(rc == 0 && !strcmp(truncated, out_buf), "max_seq_length 8 truncates like the tokenizer (%s)", err_buf);
    free(truncated);

    snprintf(dir, sizeof dir, "%s/st-bad", tmpdir);
    make_st_dir(dir, "{not json", "{}");
    check_error(run(NULL, "embed -m %s -p 'A sentence.'", dir), 1, "modules.json not JSON");
    free(cls);
}

/* org/name resolved in a local HF cache (HF_HOME) */
static void test_hf_cache(void)
{
    if (!model_exists("stories260K")) {
        TEST_SKIP("stories260K missing");
        return;
    }
    char base[400], p[900], t[900];
    snprintf(base, sizeof base, "%s/hf/hub/models--testorg--stories", tmpdir);
    snprintf(p, sizeof p, "mkdir -p %s/refs %s/snapshots/0123abcd", base, base);
    TEST_CHECK(system(p) == 0, "mkdir");
    snprintf(p, sizeof p, "%s/refs/main", base);
    FILE *f = fopen(p, "wb");
    if (f) { fputs("0123abcd", f); fclose(f); }
    const char *files[] = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.model",
                           "tokenizer_config.json", "special_tokens_map.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char abs_t[PATH_MAX];
        snprintf(t, sizeof t, "%s/models/stories260K/%s", shared, files[i]);
        snprintf(p, sizeof p, "%s/snapshots/0123abcd/%s", base, files[i]);
        unlink(p);
        if (realpath(t, abs_t) && symlink(abs_t, p) != 0) continue;
    }
    snprintf(p, sizeof p, "%s/hf", tmpdir);
    setenv("HF_HOME", p, 1);
    unsetenv("HF_HUB_CACHE");
    int rc = run(NULL, "generate -m testorg/stories --ids 1,403 -n 4 --temp 0 --json -q");
    cJSON *o = cJSON_Parse(out_buf);
    TEST_CHECK(rc == 0 && cJSON_GetArraySize(cJSON_GetObjectItem(o, "new_ids")) == 4,
               "-m org/name from $HF_HOME/hub: exit %d %s", rc, err_buf);
    cJSON_Delete(o);
    rc = run(NULL, "bench -m testorg/stories -p 8 -n 4 -r 1 --json");
    TEST_CHECK(rc == 0, "bench -m org/name: %s", err_buf);
    check_error(run(NULL, "generate -m testorg/missing -p hi"), 1, "org/name not in the cache");
    unsetenv("HF_HOME");
}

static void test_bench(void)
{
    if (!model_exists("stories260K")) {
        TEST_SKIP("stories260K missing");
        return;
    }
    int rc = run(NULL, "bench -m %s/models/stories260K -p 32 -n 16 -r 2 -t 1 --json", shared);
    cJSON *o = cJSON_Parse(out_buf);
    TEST_CHECK(rc == 0 && o, "bench --json: exit %d, %s %s", rc, out_buf, err_buf);
    const char *keys[] = {"prefill_tok_s", "prefill_tok_s_sd", "decode_tok_s", "decode_tok_s_sd", "load_s", "peak_rss_mb"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const cJSON *v = cJSON_GetObjectItem(o, keys[i]);
        TEST_CHECK(cJSON_IsNumber(v) && v->valuedouble >= 0, "bench: %s is a number", keys[i]);
    }
    TEST_CHECK(cJSON_GetObjectItem(o, "prefill_tok_s") && cJSON_GetObjectItem(o, "prefill_tok_s")->valuedouble > 0 &&
               cJSON_GetObjectItem(o, "decode_tok_s")->valuedouble > 0, "bench: positive speeds");
    TEST_CHECK(cJSON_GetObjectItem(o, "threads") && cJSON_GetObjectItem(o, "threads")->valueint == 1, "bench: threads 1");
    TEST_CHECK(cJSON_GetObjectItem(o, "prefill_tokens") && cJSON_GetObjectItem(o, "prefill_tokens")->valueint == 32 &&
               cJSON_GetObjectItem(o, "decode_tokens")->valueint == 16, "bench: token counts");
    TEST_CHECK(cJSON_IsString(cJSON_GetObjectItem(o, "model")), "bench: model");
    cJSON_Delete(o);
    rc = run(NULL, "bench -m %s/models/stories260K -p 8 -n 4 -r 1 --profile", shared);
    TEST_CHECK(rc == 0 && strstr(err_buf, "profile:") != NULL, "bench --profile: %s", err_buf);
    rc = run(NULL, "bench -m %s/models/stories260K -p 8 -n 4 -r 1", shared);
    TEST_CHECK(rc == 0 && strstr(out_buf, "tok/s"), "bench table output: %s", out_buf);
    check_error(run(NULL, "bench -m %s/models/stories260K -p 2000 -n 100", shared), 1, "bench beyond the context");
    /* --batch: N sequences together; per-sequence and total decode speeds */
    rc = run(NULL, "bench -m %s/models/stories260K -p 16 -n 8 -r 1 -t 1 --batch 4 --json", shared);
    o = cJSON_Parse(out_buf);
    TEST_CHECK(rc == 0 && o, "bench --batch 4 --json: exit %d, %s %s", rc, out_buf, err_buf);
    const cJSON *bt = cJSON_GetObjectItem(o, "batch"), *per = cJSON_GetObjectItem(o, "decode_tok_s");
    const cJSON *tot = cJSON_GetObjectItem(o, "decode_tok_s_total");
    TEST_CHECK(cJSON_IsNumber(bt) && bt->valueint == 4 && cJSON_IsNumber(per) && per->valuedouble > 0 &&
               cJSON_IsNumber(tot) && fabs(tot->valuedouble - 4 * per->valuedouble) <= 1e-6 * tot->valuedouble &&
               cJSON_IsNumber(cJSON_GetObjectItem(o, "decode_tok_s_total_sd")),
               "bench --batch 4: batch, decode_tok_s_total = 4 x decode_tok_s (%s)", out_buf);
    cJSON_Delete(o);
    rc = run(NULL, "bench -m %s/models/stories260K -p 8 -n 4 -r 1 --batch 3", shared);
    TEST_CHECK(rc == 0 && strstr(out_buf, "per sequence") && strstr(out_buf, "3 sequences"),
               "bench --batch table output: %s", out_buf);
    check_error(run(NULL, "bench -m %s/models/stories260K --batch 0", shared), 2, "bench --batch 0");
    check_error(run(NULL, "bench -m %s/models/stories260K --batch x", shared), 2, "bench --batch x");
    if (model_exists("bert-tiny")) {
        check_error(run(NULL, "bench -m %s/models/bert-tiny --batch 2", shared), 1, "bench --batch on an encoder");
        rc = run(NULL, "bench -m %s/models/bert-tiny -p 32 -r 1 --json", shared);
        o = cJSON_Parse(out_buf);
        TEST_CHECK(rc == 0 && o && cJSON_GetObjectItem(o, "prefill_tok_s")->valuedouble > 0,
                   "bench on an encoder: prefill only (%s)", err_buf);
        cJSON_Delete(o);
    }
}

int main(void)
{
    if (!test_run_model_path(run_model, sizeof run_model)) {
        TEST_SKIP("%s not built", run_model);
        return test_finish();
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hubrt-test-cli-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        TEST_CHECK(0, "mkdtemp failed");
        return test_finish();
    }
    unsetenv("HF_HOME");
    test_help_and_usage();
    shared = test_shared_dir();
    if (!shared) {
        TEST_SKIP("../shared missing: model tests skipped");
    } else {
        test_missing_and_unknown();
        test_reference_generations();
        test_generate_options();
        test_embed_fill_mask();
        test_sentence_transformers();
        test_hf_cache();
        test_bench();
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", tmpdir);
    free(out_buf);
    free(err_buf);
    return test_finish();
}
