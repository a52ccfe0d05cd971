/*
 * tools/cli_common.c — error printing and argument parsing shared by the
 * run-model commands.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cli.h"

int cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "run-model %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_ERROR;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "run-model %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'run-model %s --help')\n", cmd);
    va_end(ap);
    return CLI_USAGE;
}

int cli_parse_int(const char *cmd, const char *opt, const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) {
        fprintf(stderr, "run-model %s: %s expects an integer in [%ld, %ld], got '%s'\n",
                cmd, opt, min, max, text);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_float(const char *cmd, const char *opt, const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || v != v) {
        fprintf(stderr, "run-model %s: %s expects a number, got '%s'\n", cmd, opt, text);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_ids(const char *cmd, const char *text, int32_t **ids, int *n)
{
    size_t cap = 1;
    for (const char *p = text; *p; p++) cap += (*p == ',');
    int32_t *out = malloc(cap * sizeof *out);
    if (!out) return cli_error(cmd, "out of memory"), -1;
    int count = 0;
    const char *p = text;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 0 || v > INT32_MAX || (*end && *end != ',')) {
            fprintf(stderr, "run-model %s: --ids: item %d is not a non-negative integer: '%.20s'\n",
                    cmd, count + 1, p);
            free(out);
            return -1;
        }
        out[count++] = (int32_t)v;
        p = *end ? end + 1 : end;
        if (*end == ',' && !*p) {
            fprintf(stderr, "run-model %s: --ids: trailing comma\n", cmd);
            free(out);
            return -1;
        }
    }
    if (count == 0) {
        fprintf(stderr, "run-model %s: --ids: no ids given\n", cmd);
        free(out);
        return -1;
    }
    *ids = out;
    *n = count;
    return 0;
}
