/*
 * tests/test.h — the tiny test framework every tests/test_*.c uses.
 *
 * Each test binary counts checks; test_finish() prints one summary line
 * "RESULT passed=N failed=N skipped=N" that tests/run.sh adds up into the
 * suite's final "N passed, N failed, N skipped" line.
 *
 *   TEST_CHECK(cond, fmt, ...)  one check; on failure prints file:line and msg
 *   TEST_SKIP(fmt, ...)         one skipped check, always with a reason
 *   test_shared_dir()           the ../shared data folder (env HUBRT_SHARED
 *                               overrides), or NULL with a message if missing
 */
#ifndef TESTS_TEST_H
#define TESTS_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int test_passed, test_failed, test_skipped;

#define TEST_CHECK(cond, ...)                                          \
    do {                                                               \
        if (cond) {                                                    \
            test_passed++;                                             \
        } else {                                                       \
            test_failed++;                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);       \
            fprintf(stderr, __VA_ARGS__);                              \
            fputc('\n', stderr);                                       \
        }                                                              \
    } while (0)

#define TEST_SKIP(...)                                                 \
    do {                                                               \
        test_skipped++;                                                \
        fprintf(stderr, "SKIP %s:%d: ", __FILE__, __LINE__);           \
        fprintf(stderr, __VA_ARGS__);                                  \
        fputc('\n', stderr);                                           \
    } while (0)

/* The shared test data (models, tokenizers). Tests run from the repo root. */
static inline const char *test_shared_dir(void)
{
    const char *dir = getenv("HUBRT_SHARED");
    if (!dir || !*dir) dir = "../shared";
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "NOTE: shared test data not found at '%s' "
                "(set HUBRT_SHARED); tests needing it are skipped\n", dir);
        return NULL;
    }
    return dir;
}

static inline int test_finish(void)
{
    printf("RESULT passed=%d failed=%d skipped=%d\n",
           test_passed, test_failed, test_skipped);
    return test_failed ? 1 : 0;
}

#endif
