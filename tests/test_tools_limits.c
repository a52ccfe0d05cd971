/*
 * tests/test_tools_limits.c — run-model under tight process limits: an
 * address-space limit (ulimit -v, 250 MB down to 20 MB) and few file
 * descriptors (ulimit -n 16 and 8). At every limit it must finish within
 * seconds and either generate the same greedy text as without a limit, or
 * exit 1 with one line on stderr saying memory ran out — never spin, hang
 * or die from a signal. (OpenBLAS once spun forever at start-up under
 * ulimit -v; the library no longer links it.)
 *
 * Sanitizer builds reserve terabytes of shadow memory, so the -v cases are
 * skipped there (the -n cases still run).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "tests/test.h"
#include "tests/test_util.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

static char run_model[1024], model[1024], out_path[300], err_path[320];
static char expected[256];

/* Lines in text (a last line without '\n' counts). */
static int count_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; *p; p++) n += *p == '\n';
    return n + (*text && text[strlen(text) - 1] != '\n');
}

/* run-model generate greedily under `ulimit <limit>`; 0 with rc, out, err filled. */
static int run_limited(const char *limit, int *rc, char **out, char **err, double *seconds)
{
    char script[3000];
    snprintf(script, sizeof script,
             "ulimit %s || exit 97; exec timeout -s KILL 30 '%s' generate -m '%s' -p 'Once upon a time' "
             "-n 16 --temp 0 -t 1 --no-echo",
             limit, run_model, model);
    const char *args[] = {"-c", script, NULL};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int status;
    if (test_spawn("/bin/sh", args, NULL, out_path, err_path, &status) != 0) return -1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *seconds = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    *rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    *out = test_read_file(out_path, NULL);
    *err = test_read_file(err_path, NULL);
    return *out && *err ? 0 : -1;
}

static void check_limit(const char *limit, int must_run)
{
    int rc = -1;
    char *out = NULL, *err = NULL;
    double s = 0;
    if (run_limited(limit, &rc, &out, &err, &s) != 0) {
        TEST_CHECK(0, "ulimit %s: could not run", limit);
    } else if (rc == 97) {
        TEST_SKIP("ulimit %s: the shell refused the limit", limit);
    } else {
        TEST_CHECK(rc == 0 || rc == 1, "ulimit %s: exit %d%s (stderr: %.200s)", limit, rc,
                   rc == 128 + 9 ? " — killed after 30 s (hung)" : rc > 128 ? " — died from a signal" : "", err);
        TEST_CHECK(s < 20, "ulimit %s: took %.1f s", limit, s);
        if (rc == 0) {
            TEST_CHECK(strcmp(out, expected) == 0, "ulimit %s: text '%s', want '%s'", limit, out, expected);
        } else if (rc == 1) {
            TEST_CHECK(!must_run, "ulimit %s: failed where it must run: %.200s", limit, err);
            TEST_CHECK(count_lines(err) == 1, "ulimit %s: %d lines on stderr: %.300s", limit, count_lines(err), err);
            TEST_CHECK(strstr(err, "memory") || strstr(err, "Cannot allocate") || strstr(err, "open files"),
                       "ulimit %s: the message does not say what ran out: %.200s", limit, err);
        }
    }
    free(out);
    free(err);
}

int main(void)
{
    if (!test_run_model_path(run_model, sizeof run_model)) {
        TEST_SKIP("%s not built", run_model);
        return test_finish();
    }
    const char *shared = test_shared_dir();
    if (!shared) {
        TEST_SKIP("the limit cases run ../shared/models/stories260K");
        return test_finish();
    }
    snprintf(model, sizeof model, "%s/models/stories260K", shared);
    snprintf(out_path, sizeof out_path, "/tmp/hubrt_limits_out_%d", (int)getpid());
    snprintf(err_path, sizeof err_path, "%s.err", out_path);

    /* the text without any limit */
    int rc;
    char *out = NULL, *err = NULL;
    double s;
    TEST_CHECK(run_limited("-c 0", &rc, &out, &err, &s) == 0 && rc == 0 && out && *out,
               "run-model without limits: exit %d, %.200s", rc, err ? err : "");
    snprintf(expected, sizeof expected, "%s", out ? out : "");
    free(out);
    free(err);

    if (SANITIZED) {
        TEST_SKIP("address-space limits under a sanitizer build (its shadow memory needs terabytes)");
    } else {
        check_limit("-v 250000", 1); /* a 1 MB model runs in 250 MB */
        check_limit("-v 100000", 0);
        check_limit("-v 40000", 0);
        check_limit("-v 20000", 0);
    }
    check_limit("-n 16", 1);
    check_limit("-n 8", 0);
    remove(out_path);
    remove(err_path);
    return test_finish();
}
