/*
 * tests/test_examples_install.c — `make install` into a temporary prefix, then the
 * examples built against that installed copy with pkg-config, the way a
 * user would, and run on stories260K / bert-tiny (examples/batch: each of its
 * prompts continued exactly as examples/generate continues it alone).
 *
 * Both link styles are checked: shared (`pkg-config --libs hubrt`, with an
 * rpath to the temporary lib dir) and static (libhubrt.a with
 * `pkg-config --static --libs hubrt`). Also: libhubrt.so exports only
 * hubrt_* symbols.
 *
 * Under ASan (this binary compiled with -fsanitize=address, as in
 * `make asan`), the installed libraries come from build-asan and carry the
 * sanitizer runtimes, so the examples are compiled and linked with the same
 * -fsanitize flags (the ASan runtime must be linked into the executable;
 * it cannot arrive first through libhubrt.so). The nested make gets the
 * same OPT/SAN as `make asan`, so nothing is rebuilt with other flags.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>

#include "tests/test.h"
#include "tests/test_util.h"

#if defined(__SANITIZE_ADDRESS__)
#define ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN_BUILD 1
#endif
#endif
#ifndef ASAN_BUILD
#define ASAN_BUILD 0
#endif

#define SAN_FLAGS "-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

static char tmp[256];

/* Runs a shell command with stdout/stderr in tmp/out, tmp/err; returns its exit status. */
static int sh(char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sh(char **out, char **err, const char *fmt, ...)
{
    char cmd[8192], full[9000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "( %s ) >%s/out 2>%s/err", cmd, tmp, tmp);
    int st = system(full);
    char p[400];
    if (out) { snprintf(p, sizeof p, "%s/out", tmp); *out = test_read_file(p, NULL); if (!*out) *out = calloc(1, 1); }
    if (err) { snprintf(p, sizeof p, "%s/err", tmp); *err = test_read_file(p, NULL); if (!*err) *err = calloc(1, 1); }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int main(void)
{
    const char *build = getenv("HUBRT_BUILD");
    if (!build || !*build) build = "build";
    char lib[300];
    snprintf(lib, sizeof lib, "%s/libhubrt.a", build);
    if (access(lib, R_OK) != 0 || access("Makefile", R_OK) != 0) {
        TEST_SKIP("run from the repo root after building %s", build);
        return test_finish();
    }
    snprintf(tmp, sizeof tmp, "/tmp/hubrt-test-install-XXXXXX");
    if (!mkdtemp(tmp)) {
        TEST_CHECK(0, "mkdtemp");
        return test_finish();
    }
    char *out = NULL, *err = NULL;
    const char *san = ASAN_BUILD ? SAN_FLAGS : "";

    /* 1. install (the parent make's jobserver is not ours: drop MAKEFLAGS) */
    int rc;
    if (ASAN_BUILD)
        rc = sh(NULL, &err, "env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s install PREFIX=%s/prefix BUILD=%s "
                "OPT=-O1 SAN='%s'", tmp, build, SAN_FLAGS);
    else
        rc = sh(NULL, &err, "env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s install PREFIX=%s/prefix BUILD=%s",
                tmp, build);
    TEST_CHECK(rc == 0, "make install: exit %d: %.2000s", rc, err);
    free(err);
    if (rc != 0) { /* nothing below can work; one failure, not a cascade */
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", tmp);
        return test_finish();
    }
    const char *files[] = {"include/hubrt.h", "lib/libhubrt.a", "lib/libhubrt.so", "lib/pkgconfig/hubrt.pc", "bin/run-model"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[400];
        snprintf(p, sizeof p, "%s/prefix/%s", tmp, files[i]);
        TEST_CHECK(access(p, R_OK) == 0, "installed %s", files[i]);
    }

    /* 2. the shared library exports hubrt_* only */
    rc = sh(&out, NULL, "nm -D --defined-only %s/prefix/lib/libhubrt.so | awk 'NF == 3 {print $3}' | grep -v '^hubrt_' | "
            "grep -v -E '^(_init|_fini|_edata|_end|__bss_start)$' | head -5", tmp);
    TEST_CHECK(rc == 0 && out[0] == 0, "libhubrt.so exports only hubrt_* symbols; also: %s", out);
    free(out);
    rc = sh(&out, NULL, "nm -D --defined-only %s/prefix/lib/libhubrt.so | grep -c ' T hubrt_'", tmp);
    TEST_CHECK(rc == 0 && atoi(out) >= 20, "libhubrt.so exports the API (%s functions)", out);
    free(out);

    /* 3. the examples against the installed copy: shared (rpath) and static */
    static const char *examples[] = {"generate", "embed", "batch"};
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
        rc = sh(NULL, &err, "export PKG_CONFIG_PATH=%s/prefix/lib/pkgconfig; "
                "cc -std=c11 -Wall -Wextra -Werror %s examples/%s.c -o %s/%s_shared "
                "$(pkg-config --cflags --libs hubrt) -Wl,-rpath,%s/prefix/lib -lm",
                tmp, san, examples[i], tmp, examples[i], tmp);
        TEST_CHECK(rc == 0, "examples/%s.c against the installed libhubrt.so: %.2000s", examples[i], err);
        free(err);
        rc = sh(NULL, &err, "export PKG_CONFIG_PATH=%s/prefix/lib/pkgconfig; "
                "cc -std=c11 -Wall -Wextra -Werror %s examples/%s.c -o %s/%s_static "
                "$(pkg-config --cflags hubrt) $(pkg-config --static --libs hubrt | sed 's/-lhubrt/-l:libhubrt.a/') -lm",
                tmp, san, examples[i], tmp, examples[i]);
        TEST_CHECK(rc == 0, "examples/%s.c against the installed libhubrt.a: %.2000s", examples[i], err);
        free(err);
    }
    rc = sh(&out, NULL, "ldd %s/generate_shared | grep -c 'libhubrt.so => %s/prefix/lib'", tmp, tmp);
    TEST_CHECK(rc == 0 && atoi(out) == 1, "the shared example loads the installed libhubrt.so");
    free(out);

    /* 4. run them */
    const char *shared = test_shared_dir();
    if (!shared) {
        TEST_SKIP("../shared missing: examples not run");
    } else {
        char path[600];
        snprintf(path, sizeof path, "%s/models/stories260K/reference/cases.json", shared);
        char *ref_text = test_read_file(path, NULL);
        cJSON *ref = ref_text ? cJSON_Parse(ref_text) : NULL;
        free(ref_text);
        const cJSON *g0 = cJSON_GetArrayItem(cJSON_GetObjectItem(ref, "generation"), 0);
        const cJSON *prompt = cJSON_GetObjectItem(g0, "prompt"), *full = cJSON_GetObjectItem(g0, "full_text");
        if (!cJSON_IsString(prompt) || !cJSON_IsString(full)) {
            TEST_SKIP("stories260K reference generation missing");
        } else {
            for (int st = 0; st < 2; st++) {
                rc = sh(&out, &err, "%s/generate_%s %s/models/stories260K '%s' 24", tmp, st ? "static" : "shared",
                        shared, prompt->valuestring);
                TEST_CHECK(rc == 0 && !strncmp(out, full->valuestring, strlen(full->valuestring)),
                           "examples/generate (%s) prints the reference greedy text:\n got  '%s'\n want '%s'\n%s",
                           st ? "static" : "shared", out, full->valuestring, err);
                free(out);
                free(err);
            }
        }
        /* several prompts together: each block as generate prints that prompt alone */
        static const char *prompts[] = {"Once upon a time", "The little dog", "Tom had a"};
        char *alone[3];
        for (int p = 0; p < 3; p++) {
            rc = sh(&alone[p], NULL, "%s/generate_shared %s/models/stories260K '%s' 24", tmp, shared, prompts[p]);
            TEST_CHECK(rc == 0, "examples/generate '%s'", prompts[p]);
        }
        for (int st = 0; st < 2; st++) {
            rc = sh(&out, &err, "%s/batch_%s %s/models/stories260K 24 '%s' '%s' '%s'", tmp, st ? "static" : "shared",
                    shared, prompts[0], prompts[1], prompts[2]);
            int same = rc == 0;
            for (int p = 0; p < 3 && same; p++) {
                char head[24];
                snprintf(head, sizeof head, "--- %d\n", p + 1);
                const char *at = strstr(out, head);
                same = at && !strncmp(at + strlen(head), alone[p], strlen(alone[p]));
            }
            TEST_CHECK(same && strstr(err, "3 sequences"),
                       "examples/batch (%s) continues each prompt as examples/generate does alone (exit %d):\n%s\n%s",
                       st ? "static" : "shared", rc, out, err);
            if (st == 0 && cJSON_IsString(full))
                TEST_CHECK(strstr(out, full->valuestring) != NULL, "examples/batch: the reference greedy text");
            free(out);
            free(err);
        }
        for (int p = 0; p < 3; p++) free(alone[p]);
        cJSON_Delete(ref);
        for (int st = 0; st < 2; st++) {
            rc = sh(&out, &err, "%s/embed_%s %s/models/bert-tiny 'A cat sat on the mat.' 'A dog lay on the rug.'",
                    tmp, st ? "static" : "shared", shared);
            int lines = 0, ok = 1;
            char *save = NULL;
            for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                cJSON *a = cJSON_Parse(line);
                double n2 = 0;
                for (int i = 0; i < cJSON_GetArraySize(a); i++)
                    n2 += cJSON_GetArrayItem(a, i)->valuedouble * cJSON_GetArrayItem(a, i)->valuedouble;
                ok &= cJSON_GetArraySize(a) == 64 && n2 > 0.9999 && n2 < 1.0001;
                cJSON_Delete(a);
                lines++;
            }
            TEST_CHECK(rc == 0 && lines == 2 && ok && strstr(err, "cosine"),
                       "examples/embed (%s): two unit vectors of 64 floats (exit %d, %s)", st ? "static" : "shared", rc, err);
            free(out);
            free(err);
        }
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", tmp);
    return test_finish();
}
