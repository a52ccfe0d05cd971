/*
 * chat/template.c — the API of chat/template.h: compiling a template
 * (source normalised as jinja2 does, then lexed and parsed), building the
 * variables a render sees, and rendering with limits, reporting errors
 * through hf_set_error().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/ct_internal.h"
#include "chat/template.h"
#include "hf/error.h"

struct ct_context {
    ct_value vars; /* dict: name -> value */
};

/* Reports the engine's error through hf_set_error(): a raise_exception()
 * message as it is, anything else with the template line. */
static int report(ct_ctx *c)
{
    int status = c->status ? c->status : HUBRT_ERR_FORMAT;
    const char *msg = c->err_msg ? c->err_msg : "out of memory";
    if (c->raised) hf_set_error((hubrt_status)status, "%s", msg);
    else if (c->err_line > 0) hf_set_error((hubrt_status)status, "chat template line %d: %s", c->err_line, msg);
    else hf_set_error((hubrt_status)status, "chat template: %s", msg);
    ct_ctx_clear(c);
    return status;
}

void ct_template_free(ct_template *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->nconsts; i++) ct_str_immortal_free(t->consts[i]);
    free(t->consts);
    free(t->syms);
    ct_arena_free(t);
    free(t->src);
    free(t);
}

int ct_compile(const char *source, size_t len, ct_template **out)
{
    if (!out || (!source && len)) return hf_set_error(HUBRT_ERR_INVALID_ARG, "ct_compile: NULL argument");
    *out = NULL;
    if (ct_utf8_check(source, len) != 0)
        return hf_set_error(HUBRT_ERR_INVALID_UTF8, "chat template: the source is not valid UTF-8");
    ct_template *t = calloc(1, sizeof *t);
    if (!t || !(t->src = malloc(len + 1))) {
        free(t);
        return hf_set_error(HUBRT_ERR_NOMEM, "chat template: out of memory");
    }
    /* "\r\n" and "\r" become "\n"; one trailing newline goes (keep_trailing_newline=False) */
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (source[i] == '\r') {
            t->src[n++] = '\n';
            if (i + 1 < len && source[i + 1] == '\n') i++;
        } else {
            t->src[n++] = source[i];
        }
    }
    if (n && t->src[n - 1] == '\n') n--;
    t->src[n] = '\0';
    t->len = n;
    ct_ctx c;
    ct_ctx_init(&c, NULL);
    c.t = t;
    t->sym_loop = ct_symbol(t, "loop", 4);
    t->sym_varargs = ct_symbol(t, "varargs", 7);
    t->sym_kwargs = ct_symbol(t, "kwargs", 6);
    t->sym_caller = ct_symbol(t, "caller", 6);
    if (t->sym_loop < 0 || t->sym_varargs < 0 || t->sym_kwargs < 0 || t->sym_caller < 0) {
        ct_template_free(t);
        return hf_set_error(HUBRT_ERR_NOMEM, "chat template: out of memory");
    }
    ct_token *toks = NULL;
    size_t ntoks = 0;
    if (ct_lex(&c, t, &toks, &ntoks) != 0 || ct_parse(&c, t, toks, ntoks) != 0) {
        free(toks);
        ct_template_free(t);
        return report(&c);
    }
    free(toks);
    ct_ctx_clear(&c);
    *out = t;
    return 0;
}

/* ---- context ------------------------------------------------------------------- */

ct_context *ct_context_new(void)
{
    ct_context *cx = calloc(1, sizeof *cx);
    if (!cx) {
        hf_set_error(HUBRT_ERR_NOMEM, "chat template: out of memory");
        return NULL;
    }
    ct_ctx c;
    ct_ctx_init(&c, NULL);
    if (ct_dict_new(&c, &cx->vars) != 0) {
        free(cx);
        report(&c);
        return NULL;
    }
    return cx;
}

void ct_context_free(ct_context *cx)
{
    if (!cx) return;
    ct_unref(cx->vars);
    free(cx);
}

static int context_put(ct_context *cx, ct_ctx *c, const char *name, ct_value v)
{
    ct_value key;
    if (ct_str_cstr(c, name, &key) != 0) {
        ct_unref(v);
        return report(c);
    }
    if (ct_dict_set(c, cx->vars.u.d, key, v) != 0) return report(c);
    ct_ctx_clear(c);
    return 0;
}

int ct_context_set_json(ct_context *cx, const char *name, const char *json, size_t len)
{
    if (!cx || !name || (!json && len)) return hf_set_error(HUBRT_ERR_INVALID_ARG, "ct_context_set_json: NULL argument");
    ct_ctx c;
    ct_ctx_init(&c, NULL);
    ct_value v;
    if (ct_json_parse(&c, json, len, &v) != 0) {
        hf_set_error((hubrt_status)c.status, "chat template variable '%s': %s", name, c.err_msg ? c.err_msg : "out of memory");
        int status = c.status;
        ct_ctx_clear(&c);
        return status;
    }
    return context_put(cx, &c, name, v);
}

int ct_context_set_object_json(ct_context *cx, const char *json, size_t len)
{
    if (!cx || (!json && len)) return hf_set_error(HUBRT_ERR_INVALID_ARG, "ct_context_set_object_json: NULL argument");
    ct_ctx c;
    ct_ctx_init(&c, NULL);
    ct_value v;
    if (ct_json_parse(&c, json, len, &v) != 0) return report(&c);
    if (v.kind != CT_DICT) {
        ct_unref(v);
        ct_ctx_clear(&c);
        return hf_set_error(HUBRT_ERR_FORMAT, "chat template variables: expected a JSON object");
    }
    for (size_t i = 0; i < v.u.d->n; i++) {
        if (ct_dict_set(&c, cx->vars.u.d, ct_copy(v.u.d->keys[i]), ct_copy(v.u.d->vals[i])) != 0) {
            ct_unref(v);
            return report(&c);
        }
    }
    ct_unref(v);
    ct_ctx_clear(&c);
    return 0;
}

int ct_context_set_string(ct_context *cx, const char *name, const char *s, size_t len)
{
    if (!cx || !name || (!s && len)) return hf_set_error(HUBRT_ERR_INVALID_ARG, "ct_context_set_string: NULL argument");
    if (ct_utf8_check(s, len) != 0)
        return hf_set_error(HUBRT_ERR_INVALID_UTF8, "chat template variable '%s' is not valid UTF-8", name);
    ct_ctx c;
    ct_ctx_init(&c, NULL);
    ct_value v;
    if (ct_str_new(&c, s ? s : "", len, &v) != 0) return report(&c);
    return context_put(cx, &c, name, v);
}

int ct_context_set_bool(ct_context *cx, const char *name, int value)
{
    if (!cx || !name) return hf_set_error(HUBRT_ERR_INVALID_ARG, "ct_context_set_bool: NULL argument");
    ct_ctx c;
    ct_ctx_init(&c, NULL);
    return context_put(cx, &c, name, ct_bool(value));
}

/* ---- clock ---------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int ct_time_from_iso(const char *text, int64_t *now)
{
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    /* exactly YYYY-MM-DDTHH:MM:SS: digits where digits go, these separators between */
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    int ok = text && now && strlen(text) == sizeof shape - 1;
    for (size_t i = 0; ok && i < sizeof shape - 1; i++) {
        if (shape[i] == 'd') ok = text[i] >= '0' && text[i] <= '9';
        else if (shape[i] == 'T') ok = text[i] == 'T' || text[i] == ' ';
        else ok = text[i] == shape[i];
    }
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    if (ok) {
        y = atoi(text);
        mo = atoi(text + 5);
        d = atoi(text + 8);
        h = atoi(text + 11);
        mi = atoi(text + 14);
        s = atoi(text + 17);
        ok = y >= 1 && mo >= 1 && mo <= 12 && d >= 1 && d <= mdays[mo - 1] && h <= 23 && mi <= 59 && s <= 59;
    }
    if (!ok)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "expected a time as YYYY-MM-DDTHH:MM:SS, got '%.40s'",
                            text ? text : "(null)");
    *now = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    return 0;
}

/* ---- render -------------------------------------------------------------------- */

int ct_render(const ct_template *t, const ct_context *cx, const ct_options *opt, char **out, size_t *out_len)
{
    if (!t || !out) return hf_set_error(HUBRT_ERR_INVALID_ARG, "ct_render: NULL argument");
    *out = NULL;
    if (out_len) *out_len = 0;
    ct_ctx c;
    ct_ctx_init(&c, opt);
    c.t = t;
    c.globals = calloc((size_t)t->nsyms, sizeof *c.globals);
    if (!c.globals) return hf_set_error(HUBRT_ERR_NOMEM, "chat template: out of memory");
    int rc = 0;
    for (int i = 0; i < t->nsyms && rc == 0; i++) {
        const ct_str *name = t->syms[i];
        const ct_value *v = cx ? ct_dict_get_str(cx->vars.u.d, name->data, name->len) : NULL;
        int g;
        if (v) c.globals[i] = ct_copy(*v);
        else if ((g = ct_global_id(name->data, name->len)) >= 0) rc = ct_global_value(&c, g, &c.globals[i]);
        else c.globals[i] = ct_undef();
    }
    ct_sb sb;
    ct_sb_init(&sb, &c);
    c.out = &sb;
    if (rc == 0) rc = ct_exec_template(&c);
    /* namespaces can hold themselves: empty them so everything is freed */
    for (size_t i = 0; i < c.n_ns; i++) {
        ct_dict *d = c.namespaces[i].u.d;
        size_t n = d->n;
        d->n = 0;
        free(d->index);
        d->index = NULL;
        d->index_cap = 0;
        for (size_t k = 0; k < n; k++) {
            ct_unref(d->keys[k]);
            ct_unref(d->vals[k]);
        }
        ct_unref(c.namespaces[i]);
    }
    free(c.namespaces);
    for (int i = 0; i < t->nsyms; i++) ct_unref(c.globals[i]);
    free(c.globals);
    if (rc != 0 || c.status) {
        ct_sb_drop(&sb);
        return report(&c);
    }
    size_t n = ct_sb_len(&sb);
    char *text = malloc(n + 1);
    if (!text) {
        ct_sb_drop(&sb);
        return hf_set_error(HUBRT_ERR_NOMEM, "chat template: out of memory");
    }
    memcpy(text, ct_sb_data(&sb), n);
    text[n] = '\0';
    ct_sb_drop(&sb);
    ct_ctx_clear(&c);
    *out = text;
    if (out_len) *out_len = n;
    return 0;
}

int ct_render_source(const char *source, size_t len, const ct_context *cx, const ct_options *opt, char **out,
                     size_t *out_len)
{
    ct_template *t;
    int rc = ct_compile(source, len, &t);
    if (rc != 0) return rc;
    rc = ct_render(t, cx, opt, out, out_len);
    ct_template_free(t);
    return rc;
}
