/*
 * chat/json.c — JSON in and out with Python's semantics: json.loads (an
 * integer stays an int and 1.0 stays a float; NaN and Infinity accepted;
 * a repeated key keeps its first place and last value) and json.dumps with
 * its options (ensure_ascii, indent, separators, sort_keys), as the
 * `tojson` filter transformers installs calls it.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/ct_internal.h"
#include "include/hubrt.h"

#define JSON_MAX_DEPTH 256

/* ---- parse ---------------------------------------------------------------------- */

typedef struct jp {
    ct_ctx *c;
    const char *p, *end;
    const char *start;
} jp;

static int jp_fail(jp *j, const char *what)
{
    return ct_fail(j->c, HUBRT_ERR_FORMAT, "JSON: %s at offset %zu", what, (size_t)(j->p - j->start));
}

static void jp_ws(jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int jp_hex4(jp *j, uint32_t *v)
{
    if (j->end - j->p < 4) return jp_fail(j, "truncated \\u escape");
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
        char ch = j->p[i];
        x <<= 4;
        if (ch >= '0' && ch <= '9') x |= (uint32_t)(ch - '0');
        else if (ch >= 'a' && ch <= 'f') x |= (uint32_t)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F') x |= (uint32_t)(ch - 'A' + 10);
        else return jp_fail(j, "invalid \\u escape");
    }
    j->p += 4;
    *v = x;
    return 0;
}

static int jp_string(jp *j, ct_value *out)
{
    j->p++; /* opening quote */
    ct_sb b;
    ct_sb_init(&b, j->c);
    for (;;) {
        const char *run = j->p;
        while (j->p < j->end && *j->p != '"' && *j->p != '\\' && (unsigned char)*j->p >= 0x20) j->p++;
        if (ct_utf8_check(run, (size_t)(j->p - run)) != 0) {
            ct_sb_drop(&b);
            return ct_fail(j->c, HUBRT_ERR_INVALID_UTF8, "JSON: a string is not valid UTF-8");
        }
        if (ct_sb_add(&b, run, (size_t)(j->p - run)) != 0) goto fail;
        if (j->p >= j->end) { jp_fail(j, "unterminated string"); goto fail; }
        char ch = *j->p;
        if (ch == '"') { j->p++; break; }
        if (ch != '\\') { jp_fail(j, "invalid control character in a string"); goto fail; }
        j->p++;
        if (j->p >= j->end) { jp_fail(j, "unterminated string"); goto fail; }
        char e = *j->p++;
        int rc = 0;
        switch (e) {
        case '"': rc = ct_sb_addc(&b, '"'); break;
        case '\\': rc = ct_sb_addc(&b, '\\'); break;
        case '/': rc = ct_sb_addc(&b, '/'); break;
        case 'b': rc = ct_sb_addc(&b, '\b'); break;
        case 'f': rc = ct_sb_addc(&b, '\f'); break;
        case 'n': rc = ct_sb_addc(&b, '\n'); break;
        case 'r': rc = ct_sb_addc(&b, '\r'); break;
        case 't': rc = ct_sb_addc(&b, '\t'); break;
        case 'u': {
            uint32_t cp;
            if (jp_hex4(j, &cp) != 0) goto fail;
            if (cp >= 0xD800 && cp < 0xDC00) {
                uint32_t lo;
                if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u') {
                    jp_fail(j, "a lone UTF-16 surrogate in a string");
                    goto fail;
                }
                j->p += 2;
                if (jp_hex4(j, &lo) != 0) goto fail;
                if (lo < 0xDC00 || lo > 0xDFFF) { jp_fail(j, "a lone UTF-16 surrogate in a string"); goto fail; }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                jp_fail(j, "a lone UTF-16 surrogate in a string");
                goto fail;
            }
            rc = ct_sb_addcp(&b, cp);
            break;
        }
        default: jp_fail(j, "invalid escape in a string"); goto fail;
        }
        if (rc != 0) goto fail;
    }
    return ct_sb_finish(&b, out);
fail:
    ct_sb_drop(&b);
    return -1;
}

static int jp_number(jp *j, ct_value *out)
{
    const char *s = j->p;
    int is_float = 0;
    if (j->p < j->end && *j->p == '-') j->p++;
    if (j->p >= j->end || *j->p < '0' || *j->p > '9') return jp_fail(j, "invalid number");
    if (*j->p == '0') j->p++;
    else while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    if (j->p < j->end && *j->p == '.') {
        is_float = 1;
        j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9') return jp_fail(j, "invalid number");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        is_float = 1;
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9') return jp_fail(j, "invalid number");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    }
    char buf[512];
    size_t n = (size_t)(j->p - s);
    if (n >= sizeof buf) return jp_fail(j, "number too long");
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (is_float) {
        *out = ct_float(strtod(buf, NULL));
        return 0;
    }
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno == ERANGE) return jp_fail(j, "integer out of the 64-bit range");
    *out = ct_int(v);
    return 0;
}

static int jp_lit(jp *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) >= n && memcmp(j->p, word, n) == 0) {
        j->p += n;
        return 1;
    }
    return 0;
}

static int jp_value(jp *j, ct_value *out, int depth)
{
    if (depth > JSON_MAX_DEPTH) return jp_fail(j, "nested too deeply");
    jp_ws(j);
    if (j->p >= j->end) return jp_fail(j, "unexpected end");
    char ch = *j->p;
    if (ch == '"') return jp_string(j, out);
    if (ch == '{') {
        j->p++;
        if (ct_dict_new(j->c, out) != 0) return -1;
        jp_ws(j);
        if (j->p < j->end && *j->p == '}') { j->p++; return 0; }
        for (;;) {
            jp_ws(j);
            if (j->p >= j->end || *j->p != '"') { jp_fail(j, "expected a string key"); goto fail; }
            ct_value k, v;
            if (jp_string(j, &k) != 0) goto fail;
            jp_ws(j);
            if (j->p >= j->end || *j->p != ':') { ct_unref(k); jp_fail(j, "expected ':'"); goto fail; }
            j->p++;
            if (jp_value(j, &v, depth + 1) != 0) { ct_unref(k); goto fail; }
            if (ct_dict_set(j->c, out->u.d, k, v) != 0) goto fail;
            jp_ws(j);
            if (j->p < j->end && *j->p == ',') { j->p++; continue; }
            if (j->p < j->end && *j->p == '}') { j->p++; return 0; }
            jp_fail(j, "expected ',' or '}'");
            goto fail;
        }
    }
    if (ch == '[') {
        j->p++;
        if (ct_list_new(j->c, 0, out) != 0) return -1;
        jp_ws(j);
        if (j->p < j->end && *j->p == ']') { j->p++; return 0; }
        for (;;) {
            ct_value v;
            if (jp_value(j, &v, depth + 1) != 0) goto fail;
            if (ct_list_push(j->c, out->u.l, v) != 0) goto fail;
            jp_ws(j);
            if (j->p < j->end && *j->p == ',') { j->p++; continue; }
            if (j->p < j->end && *j->p == ']') { j->p++; return 0; }
            jp_fail(j, "expected ',' or ']'");
            goto fail;
        }
    }
    if (jp_lit(j, "true")) { *out = ct_bool(1); return 0; }
    if (jp_lit(j, "false")) { *out = ct_bool(0); return 0; }
    if (jp_lit(j, "null")) { *out = ct_none(); return 0; }
    if (jp_lit(j, "NaN")) { *out = ct_float(NAN); return 0; }
    if (jp_lit(j, "Infinity")) { *out = ct_float(INFINITY); return 0; }
    if (jp_lit(j, "-Infinity")) { *out = ct_float(-INFINITY); return 0; }
    if (ch == '-' || (ch >= '0' && ch <= '9')) return jp_number(j, out);
    return jp_fail(j, "unexpected character");
fail:
    ct_unref(*out);
    return -1;
}

int ct_json_parse(ct_ctx *c, const char *p, size_t n, ct_value *out)
{
    jp j = { c, p, p + n, p };
    if (jp_value(&j, out, 0) != 0) return -1;
    jp_ws(&j);
    if (j.p != j.end) {
        ct_unref(*out);
        return jp_fail(&j, "extra data after the value");
    }
    return 0;
}

/* ---- dump ------------------------------------------------------------------------- */

static int dump_string(ct_sb *b, const char *p, size_t n, int ensure_ascii)
{
    if (ct_sb_addc(b, '"') != 0) return -1;
    const char *end = p + n, *run = p;
    while (p < end) {
        unsigned char ch = (unsigned char)*p;
        const char *rep = NULL;
        char tmp[16];
        int k = 1;
        if (ch == '"') rep = "\\\"";
        else if (ch == '\\') rep = "\\\\";
        else if (ch == '\n') rep = "\\n";
        else if (ch == '\r') rep = "\\r";
        else if (ch == '\t') rep = "\\t";
        else if (ch == '\b') rep = "\\b";
        else if (ch == '\f') rep = "\\f";
        else if (ch < 0x20 || (ensure_ascii && ch == 0x7f)) {
            snprintf(tmp, sizeof tmp, "\\u%04x", ch);
            rep = tmp;
        } else if (ensure_ascii && ch >= 0x80) {
            uint32_t cp;
            k = ct_utf8_next(p, end, &cp);
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
            } else {
                snprintf(tmp, sizeof tmp, "\\u%04x", cp);
            }
            rep = tmp;
        }
        if (rep) {
            if (ct_sb_add(b, run, (size_t)(p - run)) != 0 || ct_sb_adds(b, rep) != 0) return -1;
            p += k;
            run = p;
        } else {
            p++;
        }
    }
    if (ct_sb_add(b, run, (size_t)(p - run)) != 0) return -1;
    return ct_sb_addc(b, '"');
}

static int dump_float(ct_sb *b, double f)
{
    if (isnan(f)) return ct_sb_adds(b, "NaN");
    if (isinf(f)) return ct_sb_adds(b, f < 0 ? "-Infinity" : "Infinity");
    char tmp[32];
    ct_format_float(f, tmp);
    return ct_sb_adds(b, tmp);
}

static int newline_indent(ct_sb *b, const ct_json_opts *o, int level)
{
    if (ct_sb_addc(b, '\n') != 0) return -1;
    for (int i = 0; i < level; i++)
        if (ct_sb_add(b, o->indent, o->indent_len) != 0) return -1;
    return 0;
}

/* A dict key as json.dumps writes it (keys must be str, int, float, bool or None). */
static int dump_key(ct_ctx *c, ct_sb *b, ct_value k, const ct_json_opts *o)
{
    char tmp[32];
    switch (k.kind) {
    case CT_STR: return dump_string(b, k.u.s->data, k.u.s->len, o->ensure_ascii);
    case CT_BOOL: return ct_sb_adds(b, k.u.i ? "\"true\"" : "\"false\"");
    case CT_NONE: return ct_sb_adds(b, "\"null\"");
    case CT_INT: return ct_sb_addf(b, "\"%lld\"", (long long)k.u.i);
    case CT_FLOAT:
        if (isnan(k.u.f)) return ct_sb_adds(b, "\"NaN\"");
        if (isinf(k.u.f)) return ct_sb_adds(b, k.u.f < 0 ? "\"-Infinity\"" : "\"Infinity\"");
        ct_format_float(k.u.f, tmp);
        return ct_sb_addf(b, "\"%s\"", tmp);
    default:
        return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: keys must be str, int, float, bool or None, not %s",
                       ct_type_name(k));
    }
}

/* Stable merge sort of dict entry indices by key (Python's sorted(d.items())). */
static int sort_keys(ct_ctx *c, const ct_dict *d, size_t *idx, size_t *tmp, size_t n)
{
    if (n < 2) return 0;
    size_t h = n / 2;
    if (sort_keys(c, d, idx, tmp, h) != 0 || sort_keys(c, d, idx + h, tmp, n - h) != 0) return -1;
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int r;
        if (ct_compare(c, d->keys[idx[j]], d->keys[idx[i]], "<", &r) != 0) return -1;
        tmp[k++] = r < 0 ? idx[j++] : idx[i++];
    }
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
    return 0;
}

int ct_json_dump(ct_ctx *c, ct_sb *b, ct_value v, const ct_json_opts *o, int level)
{
    if (level > JSON_MAX_DEPTH) return ct_fail(c, HUBRT_ERR_RANGE, "tojson: values nested too deeply");
    switch (v.kind) {
    case CT_NONE: return ct_sb_add(b, "null", 4);
    case CT_BOOL: return ct_sb_adds(b, v.u.i ? "true" : "false");
    case CT_INT: return ct_sb_addf(b, "%lld", (long long)v.u.i);
    case CT_FLOAT: return dump_float(b, v.u.f);
    case CT_STR: return dump_string(b, v.u.s->data, v.u.s->len, o->ensure_ascii);
    case CT_LIST: {
        if (v.flags & CT_F_GEN) break;
        const ct_list *l = v.u.l;
        if (l->n == 0) return ct_sb_add(b, "[]", 2);
        if (ct_sb_addc(b, '[') != 0) return -1;
        for (size_t i = 0; i < l->n; i++) {
            if (i && ct_sb_add(b, o->item_sep, o->item_sep_len) != 0) return -1;
            if (o->has_indent && newline_indent(b, o, level + 1) != 0) return -1;
            if (ct_json_dump(c, b, l->items[i], o, level + 1) != 0) return -1;
        }
        if (o->has_indent && newline_indent(b, o, level) != 0) return -1;
        return ct_sb_addc(b, ']');
    }
    case CT_DICT: {
        const ct_dict *d = v.u.d;
        if (d->n == 0) return ct_sb_add(b, "{}", 2);
        size_t *idx = malloc(2 * d->n * sizeof *idx);
        if (!idx) return ct_fail_nomem(c);
        for (size_t i = 0; i < d->n; i++) idx[i] = i;
        int rc = -1;
        if (o->sort_keys && sort_keys(c, d, idx, idx + d->n, d->n) != 0) goto done;
        if (ct_sb_addc(b, '{') != 0) goto done;
        for (size_t i = 0; i < d->n; i++) {
            size_t e = idx[i];
            if (i && ct_sb_add(b, o->item_sep, o->item_sep_len) != 0) goto done;
            if (o->has_indent && newline_indent(b, o, level + 1) != 0) goto done;
            if (dump_key(c, b, d->keys[e], o) != 0 || ct_sb_add(b, o->key_sep, o->key_sep_len) != 0 ||
                ct_json_dump(c, b, d->vals[e], o, level + 1) != 0)
                goto done;
        }
        if (o->has_indent && newline_indent(b, o, level) != 0) goto done;
        rc = ct_sb_addc(b, '}');
    done:
        free(idx);
        return rc;
    }
    default: break;
    }
    return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: Object of type %s is not JSON serializable", ct_type_name(v));
}
