/*
 * tests/test_tools_cli_tokenize.c — `run-model tokenize` / `run-model detokenize`
 * end to end: spawns $HUBRT_BUILD/run-model (default build/) on the
 * tokenizers of ../shared/tokenizers and ../shared/models.
 *
 *   - --jsonl over every case of each set: ids (and --no-special:
 *     ids_no_special) equal cases.jsonl, one output line per input line in
 *     order, also for a long input (the cases repeated);
 *   - -p TEXT and detokenize (--ids, --keep-special) on a sample;
 *   - a directory holding only tokenizer.model (+ config), as the sentencepiece path;
 *   - the reference input_ids of the models in ../shared/models;
 *   - every usage error exits 2; a missing directory, invalid UTF-8, a bad
 *     JSONL line (named by number) and ids out of range exit 1.
 *
 * Processes are started with posix_spawn (no shell), so texts go through
 * argv byte for byte.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>

#include "tests/test.h"
#include "tests/test_util.h"

static char run_model[1024];
static char tmpdir[256];
static char in_path[300], out_path[300], err_path[300];

/* Runs argv (argv[0] is replaced by run-model) with stdin from in (or
 * /dev/null) and stdout/stderr into out_path/err_path; returns the exit
 * status, or -1 when it could not run or died from a signal. */
static int run(const char *in, const char *const *args)
{
    int st;
    if (test_spawn(run_model, args, in, out_path, err_path, &st) != 0) return -1;
    if (WIFSIGNALED(st)) {
        fprintf(stderr, "run-model %s died from signal %d\n", args[0] ? args[0] : "", WTERMSIG(st));
        return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

/* The captured stderr contains s. */
static int err_has(const char *s)
{
    char *e = test_read_file(err_path, NULL);
    int found = e && strstr(e, s) != NULL;
    free(e);
    return found;
}

/* ---- cases ------------------------------------------------------------- */

typedef struct {
    char *line;    /* the raw JSONL line (fed to --jsonl as is: extra keys are ignored) */
    cJSON *obj;
    int has_nul;   /* text holds U+0000, which the NUL-terminated API cannot take */
} tcase;

static int load_cases(const char *path, tcase **out)
{
    size_t len;
    char *data = test_read_file(path, &len);
    if (!data) return -1;
    int n = 0, cap = 512;
    tcase *cs = malloc((size_t)cap * sizeof *cs);
    char *save = NULL;
    for (char *l = strtok_r(data, "\n", &save); l && cs; l = strtok_r(NULL, "\n", &save)) {
        if (n == cap) {
            tcase *g = realloc(cs, (size_t)cap * 2 * sizeof *cs);
            if (!g) break;
            cs = g;
            cap *= 2;
        }
        cs[n].line = strdup(l);
        cs[n].obj = cJSON_Parse(l);
        cs[n].has_nul = strstr(l, "\\u0000") != NULL;
        if (!cs[n].obj || !cs[n].line) {
            free(cs[n].line);
            cJSON_Delete(cs[n].obj);
            continue;
        }
        n++;
    }
    free(data);
    *out = cs;
    return n;
}

static void free_cases(tcase *cs, int n)
{
    for (int i = 0; i < n; i++) {
        free(cs[i].line);
        cJSON_Delete(cs[i].obj);
    }
    free(cs);
}

static const char *case_text(const tcase *c)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(c->obj, "text");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

/* a JSON array of numbers equals another (both from cJSON) */
static int same_array(const cJSON *a, const cJSON *b)
{
    if (!cJSON_IsArray(a) || !cJSON_IsArray(b) || cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) return 0;
    const cJSON *x = a->child, *y = b->child;
    for (; x && y; x = x->next, y = y->next)
        if (!cJSON_IsNumber(x) || !cJSON_IsNumber(y) || x->valuedouble != y->valuedouble) return 0;
    return 1;
}

/* "1,2,3" from a JSON array; NULL when empty. */
static char *ids_arg(const cJSON *a)
{
    int n = cJSON_GetArraySize(a);
    if (n <= 0) return NULL;
    char *s = malloc((size_t)n * 12 + 1), *p = s;
    if (!s) return NULL;
    const cJSON *v;
    cJSON_ArrayForEach(v, a) p += sprintf(p, "%s%d", p == s ? "" : ",", (int)v->valuedouble);
    return s;
}

/* Feeds the selected cases (repeat times) to --jsonl and compares each output
 * line's ids with the case's `key` array. Returns matches, -1 when the run failed. */
static int jsonl_check(const char *set, const char *dir, tcase *cs, int n, const int *use, int repeat,
                       int no_special, const char *key, int *total)
{
    size_t cap = 1 << 20, len = 0;
    char *in = malloc(cap);
    *total = 0;
    for (int r = 0; r < repeat && in; r++)
        for (int i = 0; i < n; i++) {
            if (!use[i]) continue;
            size_t l = strlen(cs[i].line);
            if (len + l + 2 > cap) {
                char *g = realloc(in, cap * 2 + l);
                if (!g) { free(in); in = NULL; break; }
                in = g;
                cap = cap * 2 + l;
            }
            memcpy(in + len, cs[i].line, l);
            len += l;
            in[len++] = '\n';
            (*total)++;
        }
    if (!in || write_file(in_path, in, len) != 0) {
        free(in);
        TEST_CHECK(0, "%s: cannot write the jsonl input", set);
        return -1;
    }
    free(in);
    const char *args[] = {"tokenize", "-m", dir, "--jsonl", no_special ? "--no-special" : NULL, NULL};
    int rc = run(in_path, args);
    TEST_CHECK(rc == 0, "%s: tokenize --jsonl%s exited %d", set, no_special ? " --no-special" : "", rc);
    if (rc != 0) {
        char *e = test_read_file(err_path, NULL);
        if (e) fprintf(stderr, "  stderr: %.300s\n", e);
        free(e);
        return -1;
    }
    char *out = test_read_file(out_path, NULL);
    if (!out) return -1;
    int matched = 0, line_no = 0, reported = 0;
    char *save = NULL, *l = strtok_r(out, "\n", &save);
    for (int r = 0; r < repeat; r++)
        for (int i = 0; i < n; i++) {
            if (!use[i]) continue;
            line_no++;
            cJSON *o = l ? cJSON_Parse(l) : NULL;
            int ok = o && same_array(cJSON_GetObjectItemCaseSensitive(o, "ids"),
                                     cJSON_GetObjectItemCaseSensitive(cs[i].obj, key));
            matched += ok;
            if (!ok && reported++ < 5) {
                const cJSON *id = cJSON_GetObjectItemCaseSensitive(cs[i].obj, "id");
                fprintf(stderr, "  %s %s output line %d: %.200s\n", set, cJSON_IsString(id) ? id->valuestring : "?",
                        line_no, l ? l : "(missing)");
            }
            cJSON_Delete(o);
            if (l) l = strtok_r(NULL, "\n", &save);
        }
    TEST_CHECK(l == NULL, "%s: more output lines than input lines", set);
    free(out);
    return matched;
}

/* One tokenizer set: --jsonl conformance, -p and detokenize samples. */
static void check_set(const char *shared, const char *set, const char *dir, const char *cases_file,
                      int check_with_special, int check_keep_special, const char *exclude_literal_re)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizers/%s/%s", shared, set, cases_file);
    tcase *cs = NULL;
    int n = load_cases(path, &cs);
    if (n <= 0) {
        TEST_SKIP("%s: no cases in %s", set, path);
        free(cs);
        return;
    }
    int *use = calloc((size_t)n, sizeof *use);
    int excluded = 0;
    for (int i = 0; i < n; i++) {
        const char *t = case_text(&cs[i]);
        use[i] = t && !cs[i].has_nul;
        /* the sentencepiece-only directory: transformers splits special
         * literals out first, raw sentencepiece does not */
        if (use[i] && exclude_literal_re &&
            (strstr(t, "<s>") || strstr(t, "</s>") || strstr(t, "<unk>"))) {
            use[i] = 0;
            excluded++;
        }
    }
    int total = 0, m_ns, m_ids = -1, total_ids = 0;
    m_ns = jsonl_check(set, dir, cs, n, use, 1, 1, "ids_no_special", &total);
    TEST_CHECK(m_ns == total, "%s: --no-special ids match %d/%d", set, m_ns, total);
    if (check_with_special) {
        m_ids = jsonl_check(set, dir, cs, n, use, 1, 0, "ids", &total_ids);
        TEST_CHECK(m_ids == total_ids, "%s: ids match %d/%d", set, m_ids, total_ids);
    }
    printf("%-30s --jsonl: ids_no_special %d/%d", set, m_ns, total);
    if (check_with_special) printf(", ids %d/%d", m_ids, total_ids);
    if (excluded) printf(" (%d special-literal cases left out)", excluded);
    printf("\n");

    /* -p and detokenize on a sample spread over the file */
    int sampled = 0, ok_p = 0, ok_d = 0, ok_k = 0, n_k = 0;
    /* two texts, from the start and the middle of the file (each run loads
     * the tokenizer, so this stays small for the ASan build) */
    for (int i = 0; i < n && sampled < 2; i += n / 2 + 1) {
        int j = i;
        while (j < n && (!use[j] || !case_text(&cs[j])[0])) j++;
        if (j >= n) break;
        sampled++;
        const char *key = check_with_special ? "ids" : "ids_no_special";
        const char *pargs[] = {"tokenize", "-m", dir, "-p", case_text(&cs[j]),
                               check_with_special ? NULL : "--no-special", NULL};
        int rc = run(NULL, pargs);
        char *out = test_read_file(out_path, NULL);
        cJSON *got = out ? cJSON_Parse(out) : NULL;
        int ok = rc == 0 && same_array(got, cJSON_GetObjectItemCaseSensitive(cs[j].obj, key));
        ok_p += ok;
        TEST_CHECK(ok, "%s: tokenize -p (case line %d) exit %d, got %.100s", set, j + 1, rc, out ? out : "");
        cJSON_Delete(got);
        free(out);

        char *ids = ids_arg(cJSON_GetObjectItemCaseSensitive(cs[j].obj, "ids"));
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(cs[j].obj, "decoded");
        if (!ids || !cJSON_IsString(want)) {
            free(ids);
            continue;
        }
        const char *dargs[] = {"detokenize", "-m", dir, "--ids", ids, NULL};
        rc = run(NULL, dargs);
        out = test_read_file(out_path, NULL);
        size_t wl = strlen(want->valuestring);
        ok = rc == 0 && out && strlen(out) == wl + 1 && !memcmp(out, want->valuestring, wl) && out[wl] == '\n';
        ok_d += ok;
        TEST_CHECK(ok, "%s: detokenize --ids %.60s exit %d: '%.80s' vs '%.80s'", set, ids, rc, out ? out : "",
                   want->valuestring);
        free(out);
        const cJSON *wk = cJSON_GetObjectItemCaseSensitive(cs[j].obj, "decoded_with_special");
        if (check_keep_special && cJSON_IsString(wk) && sampled == 2) {
            const char *kargs[] = {"detokenize", "-m", dir, "--ids", ids, "--keep-special", NULL};
            rc = run(NULL, kargs);
            out = test_read_file(out_path, NULL);
            wl = strlen(wk->valuestring);
            ok = rc == 0 && out && strlen(out) == wl + 1 && !memcmp(out, wk->valuestring, wl);
            ok_k += ok;
            n_k++;
            TEST_CHECK(ok, "%s: detokenize --keep-special exit %d: '%.80s' vs '%.80s'", set, rc, out ? out : "",
                       wk->valuestring);
            free(out);
        }
        free(ids);
    }
    printf("%-30s samples: -p %d/%d, detokenize %d/%d, --keep-special %d/%d\n", set, ok_p, sampled, ok_d,
           sampled, ok_k, n_k);
    free(use);
    free_cases(cs, n);
}

/* Input order over many lines: the gpt2 cases 12 times (3000+ lines). */
static void check_many_lines(const char *shared)
{
    char path[1024], dir[1024];
    snprintf(path, sizeof path, "%s/tokenizers/gpt2/cases.jsonl", shared);
    snprintf(dir, sizeof dir, "%s/tokenizers/gpt2", shared);
    tcase *cs = NULL;
    int n = load_cases(path, &cs);
    if (n <= 0) {
        TEST_SKIP("gpt2 cases missing");
        free(cs);
        return;
    }
    int *use = calloc((size_t)n, sizeof *use);
    for (int i = 0; i < n; i++) use[i] = !cs[i].has_nul;
    int total = 0;
    int m = jsonl_check("gpt2 x12", dir, cs, n, use, 12, 0, "ids", &total);
    TEST_CHECK(total > 3000 && m == total, "--jsonl round trip of %d lines in order: %d match", total, m);
    printf("%-30s --jsonl of %d lines in order: %d match\n", "gpt2 x12", total, m);
    free(use);
    free_cases(cs, n);
}

/* ../shared/models: prompts -> reference input_ids (single texts only). */
/* The prompt of a reference case with a single text (text_pair absent, null
 * or "None"), else NULL. */
static const char *single_prompt(const cJSON *c)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(c, "prompt");
    const cJSON *pair = cJSON_GetObjectItemCaseSensitive(c, "text_pair");
    if (!cJSON_IsString(p) || (pair && !cJSON_IsNull(pair) &&
                               !(cJSON_IsString(pair) && !strcmp(pair->valuestring, "None"))))
        return NULL;
    return p->valuestring;
}

static void check_models(const char *shared)
{
    static const char *const models[] = {"bert-tiny", "gpt2-tiny", "llama-tiny", "llama-tiny-f16-sharded",
                                         "qwen2-tiny", "mistral-tiny-swa", "stories260K"};
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        char path[1200], dir[1024];
        snprintf(dir, sizeof dir, "%s/models/%s", shared, models[k]);
        snprintf(path, sizeof path, "%s/reference/cases.json", dir);
        char *text = test_read_file(path, NULL);
        cJSON *ref = text ? cJSON_Parse(text) : NULL;
        free(text);
        if (!ref) {
            TEST_SKIP("%s: no reference cases", models[k]);
            continue;
        }
        /* one {"text": prompt} line per single-text case */
        cJSON *cases = cJSON_GetObjectItemCaseSensitive(ref, "cases");
        size_t cap = 1 << 16, len = 0;
        char *in = malloc(cap);
        const cJSON *c;
        int n = 0;
        cJSON_ArrayForEach(c, cases) {
            const char *p = single_prompt(c);
            if (!p) continue;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "text", p);
            char *l = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            size_t ll = l ? strlen(l) : 0;
            while (in && len + ll + 2 > cap) {
                char *g = realloc(in, cap * 2);
                if (!g) { free(in); in = NULL; }
                in = g;
                cap *= 2;
            }
            if (in && l) {
                memcpy(in + len, l, ll);
                len += ll;
                in[len++] = '\n';
                n++;
            }
            free(l);
        }
        int ok = 0;
        if (in && write_file(in_path, in, len) == 0) {
            const char *args[] = {"tokenize", "-m", dir, "--jsonl", NULL};
            int rc = run(in_path, args);
            TEST_CHECK(rc == 0, "%s: tokenize --jsonl exited %d", models[k], rc);
            char *out = test_read_file(out_path, NULL);
            char *save = NULL, *l = out && rc == 0 ? strtok_r(out, "\n", &save) : NULL;
            cJSON_ArrayForEach(c, cases) {
                const char *p = single_prompt(c);
                if (!p) continue;
                cJSON *o = l ? cJSON_Parse(l) : NULL;
                int m = o && same_array(cJSON_GetObjectItemCaseSensitive(o, "ids"),
                                        cJSON_GetObjectItemCaseSensitive(c, "input_ids"));
                ok += m;
                TEST_CHECK(m, "%s: input_ids of '%.40s': %.120s", models[k], p, l ? l : "(none)");
                cJSON_Delete(o);
                if (l) l = strtok_r(NULL, "\n", &save);
            }
            free(out);
        }
        free(in);
        /* decode of the second case's ids, specials kept and skipped, as
         * transformers' decode() (clean_up_tokenization_spaces per config) */
        const cJSON *c1 = cJSON_GetArrayItem(cases, 1);
        char *ids = c1 ? ids_arg(cJSON_GetObjectItemCaseSensitive(c1, "input_ids")) : NULL;
        int dec_ok = 0, dec_n = 0;
        for (int keep = 0; keep < 2 && ids; keep++) {
            const cJSON *want = cJSON_GetObjectItemCaseSensitive(c1, keep ? "decoded" : "decoded_skip_special");
            if (!cJSON_IsString(want)) continue;
            const char *dargs[] = {"detokenize", "-m", dir, "--ids", ids, keep ? "--keep-special" : NULL, NULL};
            int rc = run(NULL, dargs);
            char *out = test_read_file(out_path, NULL);
            size_t wl = strlen(want->valuestring);
            int m = rc == 0 && out && strlen(out) == wl + 1 && !memcmp(out, want->valuestring, wl);
            dec_ok += m;
            dec_n++;
            TEST_CHECK(m, "%s: detokenize%s: '%.80s' vs '%.80s'", models[k], keep ? " --keep-special" : "",
                       out ? out : "", want->valuestring);
            free(out);
        }
        free(ids);
        printf("models/%-23s input_ids %d/%d, decode %d/%d\n", models[k], ok, n, dec_ok, dec_n);
        cJSON_Delete(ref);
    }
}

static void check_errors(const char *shared)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tokenizers/gpt2", shared ? shared : "/nonexistent");

    const char *h1[] = {"tokenize", "--help", NULL};
    TEST_CHECK(run(NULL, h1) == 0, "tokenize --help exits 0");
    char *out = test_read_file(out_path, NULL);
    TEST_CHECK(out && strstr(out, "run-model tokenize") && strstr(out, "--jsonl"), "tokenize --help text");
    free(out);
    const char *h2[] = {"detokenize", "-h", NULL};
    TEST_CHECK(run(NULL, h2) == 0, "detokenize -h exits 0");
    out = test_read_file(out_path, NULL);
    TEST_CHECK(out && strstr(out, "--keep-special"), "detokenize --help text");
    free(out);

    /* usage errors: exit 2 with a message */
    static const char *const usage[][8] = {
        {"tokenize", NULL},
        {"tokenize", "-m", NULL},
        {"tokenize", "-m", "@DIR", NULL},
        {"tokenize", "-p", "hello", NULL},
        {"tokenize", "-m", "@DIR", "-p", NULL},
        {"tokenize", "-m", "@DIR", "-p", "x", "--jsonl", NULL},
        {"tokenize", "-m", "@DIR", "-p", "x", "--bogus", NULL},
        {"tokenize", "-m", "@DIR", "extra", "-p", "x", NULL},
        {"detokenize", NULL},
        {"detokenize", "-m", "@DIR", NULL},
        {"detokenize", "--ids", "1,2", NULL},
        {"detokenize", "-m", "@DIR", "--ids", NULL},
        {"detokenize", "-m", "@DIR", "--ids", "1,,2", NULL},
        {"detokenize", "-m", "@DIR", "--ids", "1,2,", NULL},
        {"detokenize", "-m", "@DIR", "--ids", "abc", NULL},
        {"detokenize", "-m", "@DIR", "--ids", "-1", NULL},
        {"detokenize", "-m", "@DIR", "--ids", "", NULL},
        {"detokenize", "-m", "@DIR", "--ids", "99999999999", NULL},
        {"detokenize", "-m", "@DIR", "--ids", "1", "--no-such", NULL},
    };
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        const char *args[8];
        char desc[256] = "";
        for (int k = 0; k < 8; k++) {
            args[k] = usage[i][k] && !strcmp(usage[i][k], "@DIR") ? dir : usage[i][k];
            if (!usage[i][k]) break;
            strncat(desc, usage[i][k], sizeof desc - strlen(desc) - 2);
            strcat(desc, " ");
        }
        int rc = run(NULL, args);
        TEST_CHECK(rc == 2, "'%s' exits 2 (got %d)", desc, rc);
        TEST_CHECK(err_has("run-model"), "'%s' says why on stderr", desc);
    }

    /* runtime errors: exit 1 */
    const char *missing[] = {"tokenize", "-m", "/nonexistent/hubrt-dir", "-p", "hello", NULL};
    TEST_CHECK(run(NULL, missing) == 1, "missing directory exits 1");
    TEST_CHECK(err_has("nonexistent"), "the message names the directory");
    const char *missing2[] = {"detokenize", "-m", "/nonexistent/hubrt-dir", "--ids", "1", NULL};
    TEST_CHECK(run(NULL, missing2) == 1, "detokenize: missing directory exits 1");
    const char *bad_utf8[] = {"tokenize", "-m", dir, "-p", "abc\x80xyz", NULL};
    TEST_CHECK(run(NULL, bad_utf8) == 1 && err_has("UTF-8"), "-p with invalid UTF-8 exits 1");
    const char *overlong[] = {"tokenize", "-m", dir, "-p", "\xC0\xAF", NULL};
    TEST_CHECK(run(NULL, overlong) == 1, "-p with an overlong encoding exits 1");

    if (!shared) return;
    const char *jl[] = {"tokenize", "-m", dir, "--jsonl", NULL};
    static const struct { const char *input; const char *says; } bad_lines[] = {
        {"{\"text\": \"ok\"}\n{\"text\": \"bad \x80 byte\"}\n", "line 2"},
        {"{\"text\": \"ok\"}\n{\"text\": \"ok\"}\nnot json\n", "line 3"},
        {"{\"text\": \"ok\"}\n{\"txt\": \"no text key\"}\n", "line 2"},
        {"{\"text\": 42}\n", "line 1"},
        {"[\"text\"]\n", "line 1"},
        {"{\"text\": \"ok\"}\n\n{\"text\": \"ok\"}\n", "line 2"},
        {"{\"text\": \"ok\"} trailing\n", "line 1"},
        {"{\"text\": \"a\\u0000b\"}\n", "line 1"},
    };
    for (size_t i = 0; i < sizeof bad_lines / sizeof bad_lines[0]; i++) {
        write_file(in_path, bad_lines[i].input, strlen(bad_lines[i].input));
        int rc = run(in_path, jl);
        TEST_CHECK(rc == 1 && err_has(bad_lines[i].says), "bad jsonl input #%zu exits 1 naming %s (rc %d)", i,
                   bad_lines[i].says, rc);
    }
    /* lines before the bad one were answered, in order */
    write_file(in_path, bad_lines[1].input, strlen(bad_lines[1].input));
    run(in_path, jl);
    out = test_read_file(out_path, NULL);
    int lines = 0;
    for (char *p = out; p && *p; p++) lines += *p == '\n';
    TEST_CHECK(lines == 2, "the two good lines before the bad one were written (%d)", lines);
    free(out);
    /* CRLF line ends and an empty input are fine */
    write_file(in_path, "{\"text\": \"Hello\"}\r\n", 19);
    TEST_CHECK(run(in_path, jl) == 0, "CRLF jsonl line accepted");
    write_file(in_path, "", 0);
    TEST_CHECK(run(in_path, jl) == 0, "empty jsonl input exits 0");

    const char *range[] = {"detokenize", "-m", dir, "--ids", "15496,50257", NULL};
    TEST_CHECK(run(NULL, range) == 1 && err_has("50257"), "id 50257 (gpt2 vocab 50257) exits 1 naming it");
    const char *range2[] = {"detokenize", "-m", dir, "--ids", "2147483647", NULL};
    TEST_CHECK(run(NULL, range2) == 1, "id 2^31-1 exits 1");
    const char *okd[] = {"detokenize", "-m", dir, "--ids", "15496,995", NULL};
    TEST_CHECK(run(NULL, okd) == 0, "gpt2 detokenize 15496,995 exits 0");
    out = test_read_file(out_path, NULL);
    TEST_CHECK(out && !strcmp(out, "Hello world\n"), "gpt2 15496,995 -> 'Hello world' ('%s')", out ? out : "");
    free(out);
}

int main(void)
{
    if (!test_run_model_path(run_model, sizeof run_model)) {
        TEST_SKIP("%s not built: run `make %s` first", run_model, run_model);
        return test_finish();
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hubrt-cli-tok-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        TEST_CHECK(0, "cannot create a temp dir");
        return test_finish();
    }
    snprintf(in_path, sizeof in_path, "%s/in.jsonl", tmpdir);
    snprintf(out_path, sizeof out_path, "%s/out", tmpdir);
    snprintf(err_path, sizeof err_path, "%s/err", tmpdir);

    const char *shared = test_shared_dir();
    check_errors(shared);
    if (!shared) {
        TEST_SKIP("no shared test data: tokenizer conformance through the CLI not run");
    } else {
        static const struct { const char *set; int with_special, keep_special; } sets[] = {
            {"bert-base-uncased", 1, 1}, {"bert-base-multilingual-cased", 1, 1}, {"gpt2", 1, 1},
            {"llama-2", 1, 1}, {"falcon-7b", 1, 1}, {"t5-small", 1, 1},
            /* raw sentencepiece cases: what AlbertTokenizer adds is not in them */
            {"albert-spiece", 0, 0},
        };
        char dir[1024];
        for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
            snprintf(dir, sizeof dir, "%s/tokenizers/%s", shared, sets[i].set);
            check_set(shared, sets[i].set, dir, "cases.jsonl", sets[i].with_special, sets[i].keep_special, NULL);
        }
        /* llama-2 through tokenizer.model alone (+ its config files) */
        char spdir[512], src[1024], dst[1024];
        snprintf(spdir, sizeof spdir, "%s/llama-sp", tmpdir);
        mkdir(spdir, 0755);
        static const char *const files[] = {"tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"};
        for (int k = 0; k < 3; k++) {
            snprintf(src, sizeof src, "%s/tokenizers/llama-2/%s", shared, files[k]);
            char *abs = realpath(src, NULL);
            snprintf(dst, sizeof dst, "%s/%s", spdir, files[k]);
            TEST_CHECK(abs && symlink(abs, dst) == 0, "link %s", dst);
            free(abs);
        }
        check_set(shared, "llama-2", spdir, "cases_sentencepiece.jsonl", 1, 0, "literals");
        check_many_lines(shared);
        check_models(shared);
        for (int k = 0; k < 3; k++) {
            snprintf(dst, sizeof dst, "%s/%s", spdir, files[k]);
            unlink(dst);
        }
        rmdir(spdir);
    }
    unlink(in_path);
    unlink(out_path);
    unlink(err_path);
    rmdir(tmpdir);
    return test_finish();
}
