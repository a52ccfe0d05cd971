/*
 * tests/test_util.h — small helpers several tests share: reading a whole
 * file and spawning run-model without a shell, stdin/stdout/stderr redirected
 * to files. Static inline like tests/test.h.
 *
 *   test_read_file(path, &len)   the whole file, NUL-terminated, or NULL
 *   test_spawn(exe, args, in, out, err, &status)   run and wait
 *   test_run_model_path(buf, cap)   $HUBRT_BUILD/run-model, and is it there
 */
#ifndef TESTS_TEST_UTIL_H
#define TESTS_TEST_UTIL_H

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The whole file as a malloc'd buffer with a NUL after its bytes (binary
 * safe: *len, when given, is the byte count), or NULL when it cannot be
 * opened or memory runs out. Reads in a loop, so pipes work too. */
static inline char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

/* Runs exe with args (NULL-terminated; the first is argv[1]; at most 62 are
 * passed) and waits: stdin from in (or /dev/null when NULL), stdout and
 * stderr into the files out and err (created or truncated). Returns 0 with
 * the raw waitpid status in *status, or -1 when it could not run. */
static inline int test_spawn(const char *exe, const char *const *args, const char *in, const char *out,
                             const char *err, int *status)
{
    const char *argv[64];
    int n = 0;
    argv[n++] = exe;
    for (int i = 0; args[i] && n < 63; i++) argv[n++] = args[i];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in ? in : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, exe, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    if (waitpid(pid, status, 0) < 0) return -1;
    return 0;
}

/* The run-model binary the CLI tests spawn: $HUBRT_BUILD/run-model (build/
 * when unset or empty) into buf. 1 when it exists and is executable. */
static inline int test_run_model_path(char *buf, size_t cap)
{
    const char *build = getenv("HUBRT_BUILD");
    if (!build || !*build) build = "build";
    snprintf(buf, cap, "%s/run-model", build);
    return access(buf, X_OK) == 0;
}

#endif
