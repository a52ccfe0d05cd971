/*
 * tests/test_fuzz_regressions.c — replays every input the fuzzers once
 * crashed, leaked or hung on through the very code of the fuzz targets
 * (tests/fuzz/fuzz_*.c are included here with their entry points renamed),
 * so `make test` / `make asan` keep each fix fixed without clang or libFuzzer.
 *
 *   tests/fuzz/regressions/<target>/<case>   one input file per fixed bug
 *
 * The committed seed corpora (tests/fuzz/corpus_*) are replayed too. An
 * input that misbehaves again aborts inside the target (as in the fuzzer)
 * or is caught by ASan/UBSan under `make asan`.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/test.h"

#define LLVMFuzzerTestOneInput fuzz_one_tokenizer_json
#include "tests/fuzz/fuzz_tokenizer_json.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_tokenizer_encode
#include "tests/fuzz/fuzz_tokenizer_encode.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_sentencepiece
#include "tests/fuzz/fuzz_sentencepiece.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_safetensors
#include "tests/fuzz/fuzz_safetensors.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_config
#include "tests/fuzz/fuzz_config.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_chat_template
#include "tests/fuzz/fuzz_chat_template.c"
#undef LLVMFuzzerTestOneInput

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len == cap) {
            unsigned char *g = realloc(buf, cap ? cap * 2 : 4096);
            if (!g) { free(buf); fclose(f); return NULL; }
            buf = g;
            cap = cap ? cap * 2 : 4096;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    fclose(f);
    *n = len;
    return buf;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Runs one file through fn. */
static void replay_file(const char *path, int (*fn)(const uint8_t *, size_t))
{
    size_t len = 0;
    unsigned char *data = read_all(path, &len);
    TEST_CHECK(data != NULL, "%s: cannot read", path);
    if (data) fn(data, len);
    free(data);
}

/* Runs every file of dir through fn. */
static void replay(const char *dir, int (*fn)(const uint8_t *, size_t))
{
    DIR *d = opendir(dir);
    if (!d) { TEST_SKIP("%s: no such folder (run from the repo root)", dir); return; }
    char *names[512];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 512)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t len = 0;
        unsigned char *data = read_all(path, &len);
        TEST_CHECK(data != NULL, "%s: cannot read", path);
        if (data) {
            clock_t t0 = clock();
            fn(data, len); /* aborts on a regression */
            double s = (double)(clock() - t0) / CLOCKS_PER_SEC;
            /* the hangs we fixed took minutes; ASan builds are ~10x slower */
            TEST_CHECK(s < 10.0, "%s: took %.1f s", path, s);
        }
        free(data);
        free(names[i]);
    }
}

int main(void)
{
    replay("tests/fuzz/regressions/tokenizer_json", fuzz_one_tokenizer_json);
    replay("tests/fuzz/corpus_tokenizer_json", fuzz_one_tokenizer_json);
    replay("tests/fuzz/regressions/sentencepiece", fuzz_one_sentencepiece);
    replay("tests/fuzz/corpus_safetensors", fuzz_one_safetensors);
    replay("tests/fuzz/corpus_config", fuzz_one_config);
    replay("tests/fuzz/regressions/chat_template", fuzz_one_chat_template);
    replay("tests/fuzz/corpus_chat_template", fuzz_one_chat_template);
    if (test_shared_dir()) {
        replay("tests/fuzz/regressions/tokenizer_encode", fuzz_one_tokenizer_encode);
        replay("tests/fuzz/corpus_tokenizer_encode", fuzz_one_tokenizer_encode);
        /* the sentencepiece seed: real models through the fuzz body */
        char path[1024];
        snprintf(path, sizeof path, "%s/models/stories260K/tokenizer.model", test_shared_dir());
        replay_file(path, fuzz_one_sentencepiece);
        snprintf(path, sizeof path, "%s/tokenizers/albert-spiece/spiece.model", test_shared_dir());
        replay_file(path, fuzz_one_sentencepiece);
    } else {
        TEST_SKIP("tokenizer_encode inputs need the real tokenizers of ../shared");
    }
    for (size_t k = 0; k < N_TOK; k++) tk_tokenizer_free(toks[k]);
    return test_finish();
}
