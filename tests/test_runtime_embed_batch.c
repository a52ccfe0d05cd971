/*
 * tests/test_runtime_embed_batch.c — batched sentence embeddings on bert-tiny
 * (../shared/models/bert-tiny): hubrt_embed_batch() and the packed encoder
 * pass (runtime/session.h rt_encode_packed) must give, text for text, the
 * same vectors / hidden states as one hubrt_embed / hubrt_encode per text
 * (within float noise), for texts of varied lengths including an empty one
 * and one truncated to the model's full 512 positions (a pass of its own).
 * Since every text shares passes with others, equality also shows that no
 * text attends another's tokens. Then `run-model embed --jsonl` with more
 * lines than one chunk: output lines in input order and equal to the
 * one-at-a-time vectors; a bad line still prints the lines before it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>

#include "include/hubrt.h"
#include "runtime/session.h"
#include "tests/test.h"
#include "tests/test_util.h"

#define TOL 1e-4f /* float noise: different GEMM row blocking, same math */

static const char *words[] = {
    "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "embedding", "runtime",
    "paris", "is", "a", "city", "in", "france", "models", "run", "fast", "on", "cpus",
    "tokenization", "unbelievable", "42", "and", "hello", "world", "of", "sentences", "!",
};

/* A deterministic text of n_words words (n_words = 0: ""); caller frees. */
static char *make_text(int n_words, unsigned seed)
{
    char *s = malloc((size_t)n_words * 16 + 1);
    if (!s) return NULL;
    size_t len = 0;
    s[0] = 0;
    for (int i = 0; i < n_words; i++) {
        seed = seed * 1103515245u + 12345u;
        const char *w = words[(seed >> 16) % (sizeof words / sizeof words[0])];
        len += (size_t)sprintf(s + len, "%s%s", i ? " " : "", w);
    }
    return s;
}

static float max_diff(const float *a, const float *b, size_t n)
{
    float d = 0;
    for (size_t i = 0; i < n; i++) {
        float x = fabsf(a[i] - b[i]);
        if (!(x <= d)) d = x; /* NaN counts as a difference */
    }
    return d;
}

enum { N_TEXTS = 40, N_CLI = 270 };

static void test_api(hubrt_model *m, int H)
{
    char *texts[N_TEXTS];
    int ok = 1;
    for (int i = 0; i < N_TEXTS; i++) {
        int nw = i == 0 ? 0 : i == 7 ? 700 : (i * 37) % 60 + 1; /* "", one over 512 tokens, varied */
        texts[i] = make_text(nw, (unsigned)i + 1);
        ok &= texts[i] != NULL;
    }
    float *batch = calloc((size_t)N_TEXTS * (H + 3), sizeof(float));
    float *one = malloc((size_t)H * sizeof(float));
    if (!ok || !batch || !one) {
        TEST_CHECK(0, "out of memory");
        goto done;
    }

    /* every pooling (mean also normalised); out rows of dim > H */
    static const hubrt_pooling modes[] = {HUBRT_POOLING_DEFAULT, HUBRT_POOLING_MEAN, HUBRT_POOLING_CLS,
                                          HUBRT_POOLING_MAX, HUBRT_POOLING_LAST};
    for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
        for (int norm = 0; norm <= (k == 1); norm++) { /* normalisation once: it is per vector */
            int dim = H + 3;
            int rc = hubrt_embed_batch(m, (const char *const *)texts, N_TEXTS, modes[k], norm, batch, dim);
            TEST_CHECK(rc == H, "hubrt_embed_batch pooling %d norm %d: %d (%s)", (int)modes[k], norm, rc,
                       hubrt_last_error());
            float worst = 0;
            int bad = -1;
            for (int i = 0; i < N_TEXTS; i++) {
                int r1 = hubrt_embed(m, texts[i], modes[k], norm, one, H);
                float d = r1 == H ? max_diff(batch + (size_t)i * dim, one, (size_t)H) : INFINITY;
                if (!(d <= worst)) { worst = d; bad = i; }
            }
            TEST_CHECK(worst <= TOL, "pooling %d norm %d: batch vs single max |diff| %g (text %d)",
                       (int)modes[k], norm, worst, bad);
        }
    }

    /* the packed pass itself: hidden rows equal hubrt_encode's per text */
    {
        int32_t ids[512];
        int seg[N_TEXTS + 1], n_seg = 0, rows = 0;
        int32_t *one_ids = malloc(4096 * sizeof *one_ids);
        float *hid = malloc((size_t)512 * H * sizeof(float)), *ref = malloc((size_t)512 * H * sizeof(float));
        seg[0] = 0;
        for (int i = 0; i < N_TEXTS && one_ids && hid && ref; i++) {
            int n = hubrt_tokenize(m, texts[i], 1, one_ids, 4096);
            if (n <= 0 || n > 64 || rows + n > 512) continue; /* short texts only, as many as fit */
            memcpy(ids + rows, one_ids, (size_t)n * sizeof *ids);
            rows += n;
            seg[++n_seg] = rows;
        }
        TEST_CHECK(n_seg >= 10, "packed %d texts into %d rows", n_seg, rows);
        int rc = hid && ref ? rt_encode_packed(m, ids, rows, seg, n_seg, hid) : -1;
        TEST_CHECK(rc == 0, "rt_encode_packed: %d (%s)", rc, hubrt_last_error());
        float worst = 0;
        for (int s = 0; rc == 0 && s < n_seg; s++) {
            int n = seg[s + 1] - seg[s];
            if (hubrt_encode(m, ids + seg[s], NULL, n, ref, NULL, NULL) != 0) { worst = INFINITY; break; }
            float d = max_diff(hid + (size_t)seg[s] * H, ref, (size_t)n * H);
            if (!(d <= worst)) worst = d;
        }
        TEST_CHECK(worst <= TOL, "packed hidden states vs per-text hubrt_encode: max |diff| %g", worst);
        /* bad segment tables are refused, not run */
        int bad1[3] = {0, 0, rows}, bad2[3] = {0, 5, rows + 1}, bad3[3] = {1, 5, rows};
        TEST_CHECK(rt_encode_packed(m, ids, rows, bad1, 2, hid) == HUBRT_ERR_INVALID_ARG, "empty segment refused");
        TEST_CHECK(rt_encode_packed(m, ids, rows, bad2, 2, hid) == HUBRT_ERR_INVALID_ARG, "segments past n refused");
        TEST_CHECK(rt_encode_packed(m, ids, rows, bad3, 2, hid) == HUBRT_ERR_INVALID_ARG, "segments not from 0 refused");
        free(one_ids);
        free(hid);
        free(ref);
    }

    /* argument errors and the empty batch */
    TEST_CHECK(hubrt_embed_batch(m, (const char *const *)texts, 0, HUBRT_POOLING_MEAN, 0, batch, H) == H,
               "an empty batch returns hidden_size");
    TEST_CHECK(hubrt_embed_batch(NULL, (const char *const *)texts, 1, HUBRT_POOLING_MEAN, 0, batch, H) ==
               HUBRT_ERR_INVALID_ARG, "NULL model refused");
    TEST_CHECK(hubrt_embed_batch(m, NULL, 1, HUBRT_POOLING_MEAN, 0, batch, H) == HUBRT_ERR_INVALID_ARG,
               "NULL texts refused");
    TEST_CHECK(hubrt_embed_batch(m, (const char *const *)texts, 1, HUBRT_POOLING_MEAN, 0, batch, H - 1) ==
               HUBRT_ERR_INVALID_ARG, "dim < hidden_size refused");
    TEST_CHECK(hubrt_embed_batch(m, (const char *const *)texts, 1, (hubrt_pooling)9, 0, batch, H) ==
               HUBRT_ERR_INVALID_ARG, "unknown pooling refused");
    {
        const char *with_null[2] = {"hello", NULL};
        TEST_CHECK(hubrt_embed_batch(m, with_null, 2, HUBRT_POOLING_MEAN, 0, batch, H) == HUBRT_ERR_INVALID_ARG,
                   "a NULL text refused");
    }
done:
    for (int i = 0; i < N_TEXTS; i++) free(texts[i]);
    free(batch);
    free(one);
}

/* Parses one output line "[f, f, ...]" into v[H]; 1 when it has exactly H numbers. */
static int parse_vector(const char *line, size_t len, float *v, int H)
{
    cJSON *a = cJSON_ParseWithLength(line, len);
    int ok = cJSON_IsArray(a) && cJSON_GetArraySize(a) == H;
    for (int j = 0; ok && j < H; j++) {
        const cJSON *x = cJSON_GetArrayItem(a, j);
        ok = cJSON_IsNumber(x);
        if (ok) v[j] = (float)x->valuedouble;
    }
    cJSON_Delete(a);
    return ok;
}

/*
 * A client that writes one line and waits for its answer before the next
 * (run-model as a co-process) must get it: batches never wait for input
 * that has not arrived.
 */
static void test_cli_interactive(const char *exe, const char *model_dir)
{
    int to_child[2], from_child[2];
    if (pipe(to_child) || pipe(from_child)) {
        TEST_CHECK(0, "pipe");
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(to_child[0], 0);
        dup2(from_child[1], 1);
        close(to_child[0]); close(to_child[1]); close(from_child[0]); close(from_child[1]);
        execl(exe, exe, "embed", "-m", model_dir, "--jsonl", "-q", (char *)NULL);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    int answered = 0;
    for (int round = 0; pid > 0 && round < 2; round++) {
        const char *line = round ? "{\"text\": \"second line\"}\n" : "{\"text\": \"hello there\"}\n";
        if (write(to_child[1], line, strlen(line)) != (ssize_t)strlen(line)) break;
        /* wait (up to 60 s: sanitizer builds are slow) for one whole output line */
        char got[4096];
        size_t n = 0;
        while (n < sizeof got - 1 && !memchr(got, '\n', n)) {
            struct pollfd p = {.fd = from_child[0], .events = POLLIN};
            if (poll(&p, 1, 60000) <= 0) break;
            ssize_t r = read(from_child[0], got + n, sizeof got - 1 - n);
            if (r <= 0) break;
            n += (size_t)r;
        }
        if (n && memchr(got, '\n', n) && got[0] == '[') answered++;
        else break;
    }
    close(to_child[1]); /* EOF: the child ends */
    close(from_child[0]);
    int st = 0;
    if (pid > 0) waitpid(pid, &st, 0);
    TEST_CHECK(pid > 0 && answered == 2 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
               "--jsonl answers each line before the next arrives (%d of 2 answered)", answered);
}

static void test_cli(hubrt_model *m, const char *model_dir, int H)
{
    char exe[512];
    if (!test_run_model_path(exe, sizeof exe)) {
        TEST_SKIP("%s not built: the --jsonl checks need it", exe);
        return;
    }
    char dir[] = "/tmp/hubrt_embed_batch_XXXXXX";
    if (!mkdtemp(dir)) {
        TEST_CHECK(0, "mkdtemp");
        return;
    }
    char in[300], out[300], err[300];
    snprintf(in, sizeof in, "%s/in.jsonl", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    char *texts[N_CLI];
    float *ref = malloc((size_t)N_CLI * H * sizeof(float)), *v = malloc((size_t)H * sizeof(float));
    int ok = ref && v;
    for (int i = 0; i < N_CLI; i++) {
        texts[i] = make_text(i % 5 == 0 ? 0 : i == 133 ? 600 : (i * 13) % 40 + 1, (unsigned)i * 7 + 3);
        ok &= texts[i] != NULL;
    }
    FILE *f = ok ? fopen(in, "wb") : NULL;
    if (!f) {
        TEST_CHECK(0, "could not write %s", in);
        goto done;
    }
    for (int i = 0; i < N_CLI; i++) {
        fprintf(f, "{\"text\": \"%s\"}\n", texts[i]);
        if (hubrt_embed(m, texts[i], HUBRT_POOLING_DEFAULT, 0, ref + (size_t)i * H, H) != H) ok = 0;
    }
    fclose(f);
    TEST_CHECK(ok, "single-text reference embeddings");

    const char *args[] = {"embed", "-m", model_dir, "--jsonl", "-q", NULL};
    int st = 0;
    int rc = test_spawn(exe, args, in, out, err, &st);
    TEST_CHECK(rc == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "run-model embed --jsonl exits 0");
    char *text = test_read_file(out, NULL);
    int lines = 0, bad_line = -1;
    float worst = 0;
    for (char *p = text; p && *p; lines++) {
        char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (lines >= N_CLI || !parse_vector(p, len, v, H)) {
            if (bad_line < 0) bad_line = lines;
        } else {
            float d = max_diff(v, ref + (size_t)lines * H, (size_t)H);
            if (!(d <= worst)) worst = d;
        }
        p = nl ? nl + 1 : p + len;
    }
    TEST_CHECK(lines == N_CLI && bad_line < 0, "--jsonl: %d lines out for %d in (first bad %d)", lines, N_CLI,
               bad_line);
    /* printed with 9 significant digits: the same tolerance holds */
    test_cli_interactive(exe, model_dir);
    TEST_CHECK(worst <= TOL, "--jsonl vectors, in input order, vs hubrt_embed: max |diff| %g", worst);
    free(text);

    /* a broken line after a few good ones: those are printed, then exit 1 */
    f = fopen(in, "wb");
    if (f) {
        for (int i = 1; i <= 3; i++) fprintf(f, "{\"text\": \"%s\"}\n", texts[i]);
        fputs("not json\n{\"text\": \"never embedded\"}\n", f);
        fclose(f);
    }
    rc = test_spawn(exe, args, in, out, err, &st);
    text = test_read_file(out, NULL);
    char *etext = test_read_file(err, NULL);
    int n_out = 0;
    for (char *p = text; p && *p; p++) n_out += *p == '\n';
    TEST_CHECK(rc == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1 && n_out == 3 && etext &&
               strstr(etext, "line 4"),
               "--jsonl with a bad line 4: exit %d, %d lines out, stderr '%s'",
               WIFEXITED(st) ? WEXITSTATUS(st) : -1, n_out, etext ? etext : "");
    if (text && n_out >= 1) {
        char *nl = strchr(text, '\n');
        TEST_CHECK(parse_vector(text, (size_t)(nl - text), v, H) && max_diff(v, ref + (size_t)1 * H, H) <= TOL,
                   "the first line before the bad one is text 1's vector");
    }
    free(text);
    free(etext);
done:
    unlink(in);
    unlink(out);
    unlink(err);
    rmdir(dir);
    for (int i = 0; i < N_CLI; i++) free(texts[i]);
    free(ref);
    free(v);
}

int main(void)
{
    const char *shared = test_shared_dir();
    if (!shared) {
        TEST_SKIP("no ../shared: the bert-tiny batch checks need it");
        return test_finish();
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models/bert-tiny", shared);
    hubrt_load_params lp = hubrt_load_default_params();
    lp.n_threads = 2;
    hubrt_model *m = hubrt_model_load(dir, &lp);
    if (!m) {
        TEST_CHECK(0, "load %s: %s", dir, hubrt_last_error());
        return test_finish();
    }
    hubrt_model_info info;
    TEST_CHECK(hubrt_model_get_info(m, &info) == 0 && info.hidden_size > 0 && info.max_positions == 512,
               "bert-tiny info");
    int H = info.hidden_size;
    if (H > 0) {
        test_api(m, H);
        test_cli(m, dir, H);
    }
    hubrt_model_free(m);
    return test_finish();
}
