/*
 * tools/cli_common.c — error printing and argument parsing shared by the
 * run-model commands.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

int cli_parse_ids(const char *cmd, const char *opt, const char *text, int32_t **ids, int *n)
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
            int len = (int)strcspn(p, ",");
            fprintf(stderr, "run-model %s: %s: item %d is not a non-negative integer: '%.*s'\n",
                    cmd, opt, count + 1, len > 20 ? 20 : len, p);
            free(out);
            return -1;
        }
        out[count++] = (int32_t)v;
        p = *end ? end + 1 : end;
        if (*end == ',' && !*p) {
            fprintf(stderr, "run-model %s: %s: trailing comma\n", cmd, opt);
            free(out);
            return -1;
        }
    }
    if (count == 0) {
        fprintf(stderr, "run-model %s: %s: no ids given\n", cmd, opt);
        free(out);
        return -1;
    }
    *ids = out;
    *n = count;
    return 0;
}

/* ---- model loading with a progress line -------------------------------- */

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct load_watch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, printed;
    const char *path;
} load_watch;

/* Waits one second for the load to finish; prints a progress line if not. */
static void *load_watcher(void *arg)
{
    load_watch *w = arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &until) != 0) break;
    if (!w->done) {
        fprintf(stderr, "run-model: loading %s ...\n", w->path);
        w->printed = 1;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

hubrt_model *cli_load_model(const char *cmd, const char *path, const hubrt_load_params *lp, int quiet,
                            double *seconds)
{
    load_watch w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, path};
    pthread_t th;
    int watching = !quiet && pthread_create(&th, NULL, load_watcher, &w) == 0;
    double t0 = cli_now();
    hubrt_model *m = hubrt_model_load(path, lp);
    double dt = cli_now() - t0;
    if (watching) {
        pthread_mutex_lock(&w.mu);
        w.done = 1;
        pthread_cond_signal(&w.cv);
        pthread_mutex_unlock(&w.mu);
        pthread_join(th, NULL);
        if (w.printed && m) fprintf(stderr, "run-model: loaded in %.2f s\n", dt);
    }
    if (seconds) *seconds = dt;
    if (!m) cli_error(cmd, "%s", hubrt_last_error());
    return m;
}

int cli_parse_quant(const char *cmd, const char *text, hubrt_quant *out)
{
    if (!strcmp(text, "q8")) *out = HUBRT_QUANT_Q8;
    else if (!strcmp(text, "q4")) *out = HUBRT_QUANT_Q4;
    else if (!strcmp(text, "none")) *out = HUBRT_QUANT_NONE;
    else {
        fprintf(stderr, "run-model %s: --quant expects q8, q4 or none, got '%s'\n", cmd, text);
        return -1;
    }
    return 0;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if invalid. */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
    if (!n) return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (n == 3 && ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0))) return 0; /* overlong, surrogate */
    if (n == 4 && ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90))) return 0;
    return n;
}

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc((int)c, f);
            p++;
        } else if (c == '\n') { fputs("\\n", f); p++; }
        else if (c == '\r') { fputs("\\r", f); p++; }
        else if (c == '\t') { fputs("\\t", f); p++; }
        else if (c < 0x20 || c == 0x7f) { fprintf(f, "\\u%04x", c); p++; }
        else {
            int n = utf8_len(p);
            if (n == 0) { fputs("\xEF\xBF\xBD", f); p++; }
            else { fwrite(p, 1, (size_t)n, f); p += n; }
        }
    }
    fputc('"', f);
}

void cli_json_float(FILE *f, double v)
{
    if (v != v || v > 1e308 || v < -1e308) fputs("null", f);
    else fprintf(f, "%.9g", v);
}

int cli_tokenize_grow(const hubrt_model *m, const char *text, int add_special, int32_t **ids, int *cap)
{
    for (;;) {
        int n = hubrt_tokenize(m, text, add_special, *ids, *cap);
        if (n < 0 || n <= *cap) return n;
        int32_t *grown = realloc(*ids, (size_t)n * 2 * sizeof *grown);
        if (!grown) return HUBRT_ERR_NOMEM;
        *ids = grown;
        *cap = n * 2;
    }
}

int cli_tokenize_text(const char *cmd, const hubrt_model *m, const char *text, int add_special,
                      int32_t **ids, int *n)
{
    int32_t *buf = NULL;
    int cap = 0;
    int k = cli_tokenize_grow(m, text, add_special, &buf, &cap);
    if (k < 0) {
        free(buf);
        cli_error(cmd, "%s", k == HUBRT_ERR_NOMEM ? "out of memory" : hubrt_last_error());
        return -1;
    }
    *ids = buf;
    *n = k;
    return 0;
}

char *cli_read_text(const char *cmd, const char *path)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        cli_error(cmd, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len < 2) {
            char *g = cap < ((size_t)1 << 30) ? realloc(buf, cap * 2) : NULL;
            if (!g) { free(buf); buf = NULL; break; }
            buf = g;
            cap *= 2;
        }
    }
    int bad = buf && ferror(f);
    if (f != stdin) fclose(f);
    if (!buf || bad) {
        free(buf);
        cli_error(cmd, "%s: %s", path, buf ? "read error" : "out of memory (or larger than 1 GiB)");
        return NULL;
    }
    buf[len] = 0;
    if (strlen(buf) != len) {
        free(buf);
        cli_error(cmd, "%s: contains a NUL byte", path);
        return NULL;
    }
    return buf;
}

void cli_print_profile(const hubrt_session *s)
{
    int len = hubrt_session_profile_report(s, NULL, 0);
    if (len < 0) {
        fprintf(stderr, "run-model: profile: %s\n", hubrt_last_error());
        return;
    }
    char *buf = malloc((size_t)len + 1);
    if (buf && hubrt_session_profile_report(s, buf, (size_t)len + 1) >= 0) fputs(buf, stderr);
    free(buf);
}

int cli_text_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n + 1) c *= 2;
        char *g = realloc(*buf, c);
        if (!g) return -1;
        *buf = g;
        *cap = c;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}
