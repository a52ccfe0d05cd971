/*
 * chat/filters.c — jinja2's builtin filters and tests, with jinja2 3.1's
 * signatures and results (select/map/unique/items/... give generators, sort
 * and unique ignore case unless told otherwise, join applies str()), and
 * transformers' tojson. jinja2 filters that have no place in a chat template
 * (random, urlize, ...) are known names that fail when used.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chat/ct_internal.h"
#include "include/hubrt.h"

enum {
    F_ABS, F_ATTR, F_BATCH, F_CAPITALIZE, F_CENTER, F_COUNT, F_D, F_DEFAULT, F_DICTSORT, F_E, F_ESCAPE,
    F_FILESIZEFORMAT, F_FIRST, F_FLOAT, F_FORCEESCAPE, F_FORMAT, F_GROUPBY, F_INDENT, F_INT, F_ITEMS, F_JOIN,
    F_LAST, F_LENGTH, F_LIST, F_LOWER, F_MAP, F_MAX, F_MIN, F_PPRINT, F_RANDOM, F_REJECT, F_REJECTATTR,
    F_REPLACE, F_REVERSE, F_ROUND, F_SAFE, F_SELECT, F_SELECTATTR, F_SLICE, F_SORT, F_STRING, F_STRIPTAGS,
    F_SUM, F_TITLE, F_TOJSON, F_TRIM, F_TRUNCATE, F_UNIQUE, F_UPPER, F_URLENCODE, F_URLIZE, F_WORDCOUNT,
    F_WORDWRAP, F_XMLATTR
};

static const char *const filter_names[] = {
    "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
    "filesizeformat", "first", "float", "forceescape", "format", "groupby", "indent", "int", "items", "join",
    "last", "length", "list", "lower", "map", "max", "min", "pprint", "random", "reject", "rejectattr",
    "replace", "reverse", "round", "safe", "select", "selectattr", "slice", "sort", "string", "striptags",
    "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "urlencode", "urlize", "wordcount",
    "wordwrap", "xmlattr"
};

enum {
    TS_ODD, TS_EVEN, TS_DIVISIBLEBY, TS_DEFINED, TS_UNDEFINED, TS_FILTER, TS_TEST, TS_NONE, TS_BOOLEAN, TS_FALSE,
    TS_TRUE, TS_INTEGER, TS_FLOAT, TS_LOWER, TS_UPPER, TS_STRING, TS_MAPPING, TS_NUMBER, TS_SEQUENCE, TS_ITERABLE,
    TS_CALLABLE, TS_SAMEAS, TS_ESCAPED, TS_IN, TS_EQ1, TS_EQ2, TS_EQUALTO, TS_NE1, TS_NE2, TS_GT1, TS_GT2,
    TS_GREATERTHAN, TS_GE1, TS_GE2, TS_LT1, TS_LT2, TS_LESSTHAN, TS_LE1, TS_LE2
};

static const char *const test_names[] = {
    "odd", "even", "divisibleby", "defined", "undefined", "filter", "test", "none", "boolean", "false",
    "true", "integer", "float", "lower", "upper", "string", "mapping", "number", "sequence", "iterable",
    "callable", "sameas", "escaped", "in", "==", "eq", "equalto", "!=", "ne", ">", "gt",
    "greaterthan", ">=", "ge", "<", "lt", "lessthan", "<=", "le"
};

#define NFILTERS ((int)(sizeof filter_names / sizeof *filter_names))
#define NTESTS ((int)(sizeof test_names / sizeof *test_names))

static int find_name(const char *const *names, int n, const char *s, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0) return i;
    return -1;
}

int ct_filter_id(const char *name, size_t n) { return find_name(filter_names, NFILTERS, name, n); }
int ct_test_id(const char *name, size_t n) { return find_name(test_names, NTESTS, name, n); }

/* ---- helpers ------------------------------------------------------------------------- */

static ct_value arg_or(ct_value v, ct_value dflt) { return v.kind == CT_MISSING ? dflt : v; }

static int need_int(ct_ctx *c, const char *what, ct_value v, int64_t *out)
{
    if (v.kind == CT_INT || v.kind == CT_BOOL) { *out = v.u.i; return 0; }
    if (v.kind == CT_UNDEF) return ct_fail_undef(c, v);
    return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %s must be an integer, not '%s'", what, ct_type_name(v));
}

static int need_str(ct_ctx *c, const char *what, ct_value v)
{
    if (v.kind == CT_STR) return 0;
    if (v.kind == CT_UNDEF) return ct_fail_undef(c, v);
    return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %s must be a string, not '%s'", what, ct_type_name(v));
}

/* `str(x)`, keeping a Markup string as it is (jinja2's soft_str). */
static int soft_str(ct_ctx *c, ct_value v, ct_value *out) { return ct_to_str(c, v, out); }

static int make_gen(ct_ctx *c, ct_value *out)
{
    if (ct_list_new(c, 0, out) != 0) return -1;
    out->flags = CT_F_GEN;
    return 0;
}

static int lower_if_str(ct_ctx *c, ct_value v, ct_value *out)
{
    if (v.kind != CT_STR) { *out = ct_copy(v); return 0; }
    ct_sb b;
    ct_sb_init(&b, c);
    if (ct_case_map(&b, v.u.s->data, v.u.s->len, 0) != 0) { ct_sb_drop(&b); return -1; }
    if (ct_sb_finish(&b, out) != 0) return -1;
    out->flags = v.flags & CT_F_SAFE;
    return 0;
}

/* jinja2's make_attrgetter: item[part] for each dotted part of `attribute`
 * (integer parts as indices); an undefined result becomes `dflt` if given. */
static int attr_get(ct_ctx *c, ct_value item, ct_value attribute, ct_value dflt, ct_value *out)
{
    *out = ct_copy(item);
    if (attribute.kind == CT_NONE || attribute.kind == CT_MISSING) return 0;
    if (attribute.kind != CT_STR) {
        ct_value next;
        int rc = ct_getitem(c, *out, attribute, &next);
        ct_unref(*out);
        if (rc != 0) return -1;
        *out = next;
        if (next.kind == CT_UNDEF && dflt.kind != CT_MISSING && dflt.kind != CT_NONE) {
            ct_unref(*out);
            *out = ct_copy(dflt);
        }
        return 0;
    }
    const char *p = attribute.u.s->data, *end = p + attribute.u.s->len;
    for (;;) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *e = dot ? dot : end;
        ct_value key;
        int all_digits = e > p;
        for (const char *q = p; q < e; q++) all_digits &= *q >= '0' && *q <= '9';
        if (all_digits && e - p < 18) {
            key = ct_int(strtoll(p, NULL, 10));
        } else if (ct_str_new(c, p, (size_t)(e - p), &key) != 0) {
            ct_unref(*out);
            return -1;
        }
        ct_value next;
        int rc = ct_getitem(c, *out, key, &next);
        ct_unref(key);
        ct_unref(*out);
        if (rc != 0) return -1;
        *out = next;
        if (next.kind == CT_UNDEF && dflt.kind != CT_MISSING && dflt.kind != CT_NONE) {
            ct_unref(*out);
            *out = ct_copy(dflt);
        }
        if (!dot) return 0;
        p = dot + 1;
    }
}

/* Sort keys for sort/dictsort/unique/min/max: attribute lookups, lowercased
 * strings unless case_sensitive; several comma-separated attributes give a tuple. */
static int sort_key(ct_ctx *c, ct_value item, ct_value attribute, int case_sensitive, ct_value *out)
{
    if (attribute.kind == CT_STR && memchr(attribute.u.s->data, ',', attribute.u.s->len)) {
        if (ct_list_new(c, 0, out) != 0) return -1;
        out->flags = CT_F_TUPLE;
        const char *p = attribute.u.s->data, *end = p + attribute.u.s->len;
        for (;;) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *e = comma ? comma : end;
            ct_value part, v, k;
            if (ct_str_new(c, p, (size_t)(e - p), &part) != 0) goto fail;
            int rc = attr_get(c, item, part, ct_missing(), &v);
            ct_unref(part);
            if (rc != 0) goto fail;
            rc = case_sensitive ? (k = v, 0) : lower_if_str(c, v, &k);
            if (!case_sensitive) ct_unref(v);
            if (rc != 0 || ct_list_push(c, out->u.l, k) != 0) goto fail;
            if (!comma) return 0;
            p = comma + 1;
        }
    fail:
        ct_unref(*out);
        return -1;
    }
    ct_value v;
    if (attr_get(c, item, attribute, ct_missing(), &v) != 0) return -1;
    if (case_sensitive) { *out = v; return 0; }
    int rc = lower_if_str(c, v, out);
    ct_unref(v);
    return rc;
}

/* Stable merge sort of idx by keys (Python's sorted, reverse keeps stability). */
static int msort(ct_ctx *c, const ct_value *keys, size_t *idx, size_t *tmp, size_t n, int reverse)
{
    if (n < 2) return 0;
    size_t h = n / 2;
    if (msort(c, keys, idx, tmp, h, reverse) != 0 || msort(c, keys, idx + h, tmp, n - h, reverse) != 0) return -1;
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int r;
        if (reverse) {
            if (ct_compare(c, keys[idx[i]], keys[idx[j]], "<", &r) != 0) return -1;
        } else {
            if (ct_compare(c, keys[idx[j]], keys[idx[i]], "<", &r) != 0) return -1;
        }
        tmp[k++] = (r < 0 && r != 2) ? idx[j++] : idx[i++];
    }
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
    return 0;
}

/* Sorted copy of `items` (a list) by precomputed keys. */
static int sorted_by(ct_ctx *c, const ct_list *items, ct_value *keys, int reverse, ct_value *out)
{
    size_t n = items->n;
    size_t *idx = malloc((2 * n + 1) * sizeof *idx);
    if (!idx) return ct_fail_nomem(c);
    for (size_t i = 0; i < n; i++) idx[i] = i;
    int rc = msort(c, keys, idx, idx + n, n, reverse);
    if (rc == 0 && (rc = ct_list_new(c, n, out)) == 0)
        for (size_t i = 0; i < n; i++) out->u.l->items[out->u.l->n++] = ct_copy(items->items[idx[i]]);
    free(idx);
    return rc;
}

static void free_keys(ct_value *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) ct_unref(keys[i]);
    free(keys);
}

/* ---- filters --------------------------------------------------------------------------- */

static int f_default(ct_ctx *c, ct_value in, const ct_callargs *a, ct_value *out)
{
    static const char *const p[] = { "default_value", "boolean" };
    ct_value s[2];
    if (ct_bind(c, "default", p, 2, a, s) != 0) return -1;
    int use = in.kind == CT_UNDEF || (ct_truthy(arg_or(s[1], ct_bool(0))) && !ct_truthy(in));
    if (!use) { *out = ct_copy(in); return 0; }
    if (s[0].kind == CT_MISSING) return ct_str_new(c, "", 0, out);
    *out = ct_copy(s[0]);
    return 0;
}

static int f_tojson(ct_ctx *c, ct_value in, const ct_callargs *a, ct_value *out)
{
    static const char *const p[] = { "ensure_ascii", "indent", "separators", "sort_keys" };
    ct_value s[4];
    if (ct_bind(c, "tojson", p, 4, a, s) != 0) return -1;
    ct_json_opts o;
    memset(&o, 0, sizeof o);
    o.ensure_ascii = ct_truthy(arg_or(s[0], ct_bool(0)));
    o.sort_keys = ct_truthy(arg_or(s[3], ct_bool(0)));
    char spaces[64];
    ct_value indent = arg_or(s[1], ct_none());
    if (indent.kind == CT_INT || indent.kind == CT_BOOL) {
        int64_t k = indent.u.i < 0 ? 0 : indent.u.i;
        if (k > 63) return ct_fail(c, HUBRT_ERR_RANGE, "tojson: indent %lld is too large", (long long)k);
        memset(spaces, ' ', (size_t)k);
        o.indent = spaces;
        o.indent_len = (size_t)k;
        o.has_indent = 1;
    } else if (indent.kind == CT_STR) {
        o.indent = indent.u.s->data;
        o.indent_len = indent.u.s->len;
        o.has_indent = 1;
    } else if (indent.kind != CT_NONE) {
        return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: tojson: indent must be an int or a string, not '%s'",
                       ct_type_name(indent));
    }
    o.item_sep = o.has_indent ? "," : ", ";
    o.item_sep_len = o.has_indent ? 1 : 2;
    o.key_sep = ": ";
    o.key_sep_len = 2;
    ct_value seps = arg_or(s[2], ct_none());
    if (seps.kind != CT_NONE) {
        if (seps.kind != CT_LIST || (seps.flags & CT_F_GEN) || seps.u.l->n != 2 ||
            seps.u.l->items[0].kind != CT_STR || seps.u.l->items[1].kind != CT_STR)
            return ct_fail(c, HUBRT_ERR_FORMAT, "tojson: separators must be a pair of strings");
        o.item_sep = seps.u.l->items[0].u.s->data;
        o.item_sep_len = seps.u.l->items[0].u.s->len;
        o.key_sep = seps.u.l->items[1].u.s->data;
        o.key_sep_len = seps.u.l->items[1].u.s->len;
    }
    ct_sb b;
    ct_sb_init(&b, c);
    if (ct_json_dump(c, &b, in, &o, 0) != 0) { ct_sb_drop(&b); return -1; }
    return ct_sb_finish(&b, out);
}

static int f_trim(ct_ctx *c, ct_value in, const ct_callargs *a, ct_value *out)
{
    static const char *const p[] = { "chars" };
    ct_value s[1], str;
    if (ct_bind(c, "trim", p, 1, a, s) != 0) return -1;
    ct_value chars = arg_or(s[0], ct_none());
    if (chars.kind != CT_NONE && need_str(c, "trim() chars", chars) != 0) return -1;
    if (soft_str(c, in, &str) != 0) return -1;
    size_t b, e;
    ct_strip(str.u.s->data, str.u.s->len, chars.kind == CT_STR ? chars.u.s->data : NULL,
             chars.kind == CT_STR ? chars.u.s->len : 0, 1, 1, &b, &e);
    int rc = ct_str_new(c, str.u.s->data + b, e - b, out);
    if (rc == 0) out->flags = str.flags & CT_F_SAFE;
    ct_unref(str);
    return rc;
}

static int f_case(ct_ctx *c, ct_value in, int mode, ct_value *out)
{
    ct_value str;
    if (soft_str(c, in, &str) != 0) return -1;
    ct_sb b;
    ct_sb_init(&b, c);
    int rc = 0;
    if (mode == 3) { /* capitalize: first character title case, the rest lower */
        const char *p = str.u.s->data, *end = p + str.u.s->len;
        if (p < end) {
            uint32_t cp;
            int k = ct_utf8_next(p, end, &cp);
            rc = cp == 0xDF ? ct_sb_add(&b, "Ss", 2) : ct_sb_addcp(&b, ct_title(cp));
            if (rc == 0) rc = ct_case_map(&b, p + k, (size_t)(end - p - k), 0);
        }
    } else {
        rc = ct_case_map(&b, str.u.s->data, str.u.s->len, mode);
    }
    uint8_t safe = str.flags & CT_F_SAFE;
    ct_unref(str);
    if (rc != 0 || ct_sb_finish(&b, out) != 0) { ct_sb_drop(&b); return -1; }
    out->flags = safe;
    return 0;
}

/* jinja2's title: each run between [-\s({[<] starts upper case, the rest lower. */
static int f_title(ct_ctx *c, ct_value in, ct_value *out)
{
    ct_value str;
    if (soft_str(c, in, &str) != 0) return -1;
    ct_sb b;
    ct_sb_init(&b, c);
    const char *p = str.u.s->data, *end = p + str.u.s->len;
    int at_start = 1, rc = 0;
    while (p < end && rc == 0) {
        uint32_t cp;
        int k = ct_utf8_next(p, end, &cp);
        int sep = cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || ct_py_isspace(cp);
        if (sep) {
            rc = ct_sb_add(&b, p, (size_t)k);
            at_start = 1;
        } else if (at_start) {
            rc = ct_case_map(&b, p, (size_t)k, 1);
            at_start = 0;
        } else {
            rc = ct_case_map(&b, p, (size_t)k, 0);
        }
        p += k;
    }
    ct_unref(str);
    if (rc != 0) { ct_sb_drop(&b); return -1; }
    return ct_sb_finish(&b, out);
}

/* Python's str.replace(old, new, count). */
int ct_str_replace(ct_ctx *c, const ct_str *s, const ct_str *old, const ct_str *new_, int64_t count, ct_value *out)
{
    ct_sb b;
    ct_sb_init(&b, c);
    const char *p = s->data, *end = p + s->len;
    int rc = 0;
    if (old->len == 0) {
        /* inserts `new` before every character and at the end */
        while (rc == 0 && count != 0) {
            rc = ct_sb_add(&b, new_->data, new_->len);
            if (count > 0) count--;
            if (p >= end) break;
            uint32_t cp;
            int k = ct_utf8_next(p, end, &cp);
            if (rc == 0) rc = ct_sb_add(&b, p, (size_t)k);
            p += k;
        }
        if (rc == 0) rc = ct_sb_add(&b, p, (size_t)(end - p));
    } else {
        while (rc == 0 && count != 0) {
            const char *hit = memmem(p, (size_t)(end - p), old->data, old->len);
            if (!hit) break;
            rc = ct_sb_add(&b, p, (size_t)(hit - p));
            if (rc == 0) rc = ct_sb_add(&b, new_->data, new_->len);
            p = hit + old->len;
            if (count > 0) count--;
        }
        if (rc == 0) rc = ct_sb_add(&b, p, (size_t)(end - p));
    }
    if (rc != 0) { ct_sb_drop(&b); return -1; }
    return ct_sb_finish(&b, out);
}

static int f_replace(ct_ctx *c, ct_value in, const ct_callargs *a, ct_value *out)
{
    static const char *const p[] = { "old", "new", "count" };
    ct_value s[3], str, old, nw;
    if (ct_bind(c, "replace", p, 3, a, s) != 0) return -1;
    if (s[0].kind == CT_MISSING || s[1].kind == CT_MISSING)
        return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: replace() needs the old and new strings");
    int64_t count = -1;
    ct_value cnt = arg_or(s[2], ct_none());
    if (cnt.kind != CT_NONE && need_int(c, "replace() count", cnt, &count) != 0) return -1;
    if (soft_str(c, in, &str) != 0) return -1;
    if (ct_to_str(c, s[0], &old) != 0) { ct_unref(str); return -1; }
    if (ct_to_str(c, s[1], &nw) != 0) { ct_unref(str); ct_unref(old); return -1; }
    int rc = ct_str_replace(c, str.u.s, old.u.s, nw.u.s, count, out);
    ct_unref(str);
    ct_unref(old);
    ct_unref(nw);
    return rc;
}

static int f_indent(ct_ctx *c, ct_value in, const ct_callargs *a, ct_value *out)
{
    static const char *const p[] = { "width", "first", "blank" };
    ct_value s[3], str;
    if (ct_bind(c, "indent", p, 3, a, s) != 0) return -1;
    ct_value width = arg_or(s[0], ct_int(4));
    int first = ct_truthy(arg_or(s[1], ct_bool(0))), blank = ct_truthy(arg_or(s[2], ct_bool(0)));
    ct_sb ind;
    ct_sb_init(&ind, c);
    if (width.kind == CT_STR) {
        if (ct_sb_add(&ind, width.u.s->data, width.u.s->len) != 0) return -1;
    } else {
        int64_t w = 0;
        if (need_int(c, "indent() width", width, &w) != 0) return -1;
        for (int64_t i = 0; i < w; i++)
            if (ct_sb_addc(&ind, ' ') != 0) { ct_sb_drop(&ind); return -1; }
    }
    if (soft_str(c, in, &str) != 0) { ct_sb_drop(&ind); return -1; }
    /* s += "\n"; then splitlines() (all of Python's line boundaries) */
    ct_sb b;
    ct_sb_init(&b, c);
    const char *p0 = str.u.s->data, *end = p0 + str.u.s->len, *line = p0;
    int rc = 0, lineno = 0;
    for (;;) {
        /* find the next line boundary from `line` (the implicit final "\n" ends the last) */
        const char *q = line, *next = NULL, *lend = NULL;
        while (q < end) {
            uint32_t cp;
            int k = ct_utf8_next(q, end, &cp);
            if (cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || (cp >= 0x1C && cp <= 0x1E) || cp == 0x85 ||
                cp == 0x2028 || cp == 0x2029) {
                lend = q;
                next = q + k;
                if (cp == '\r' && next < end && *next == '\n') next++;
                break;
            }
            q += k;
        }
        int last = 0;
        if (!lend) { lend = end; last = 1; }
        size_t len = (size_t)(lend - line);
        if (rc == 0 && lineno > 0) rc = ct_sb_addc(&b, '\n');
        if (rc == 0 && (lineno == 0 ? first : len > 0 || blank)) rc = ct_sb_add(&b, ct_sb_data(&ind), ct_sb_len(&ind));
        if (rc == 0) rc = ct_sb_add(&b, line, len);
        lineno++;
        if (last || rc != 0) break;
        line = next; /* the final segment, even empty, is a line (the added "\n" ends it) */
    }
    uint8_t safe = str.flags & CT_F_SAFE;
    ct_unref(str);
    ct_sb_drop(&ind);
    if (rc != 0) { ct_sb_drop(&b); return -1; }
    if (ct_sb_finish(&b, out) != 0) return -1;
    out->flags = safe;
    return 0;
}

static int f_join(ct_ctx *c, ct_value in, const ct_callargs *a, ct_value *out)
{
    static const char *const p[] = { "d", "attribute" };
    ct_value s[2], items, sep;
    if (ct_bind(c, "join", p, 2, a, s) != 0) return -1;
    if (s[0].kind == CT_MISSING ? ct_str_new(c, "", 0, &sep) != 0 : ct_to_str(c, s[0], &sep) != 0) return -1;
    if (ct_iterate(c, in, &items) != 0) { ct_unref(sep); return -1; }
    ct_sb b;
    ct_sb_init(&b, c);
    int rc = 0;
    ct_value attribute = arg_or(s[1], ct_none());
    for (size_t i = 0; i < items.u.l->n && rc == 0; i++) {
        if (i) rc = ct_sb_add(&b, sep.u.s->data, sep.u.s->len);
        ct_value v;
        if (rc == 0 && (rc = attr_get(c, items.u.l->items[i], attribute, ct_missing(), &v)) == 0) {
            rc = ct_write_str(c, &b, v);
            ct_unref(v);
        }
    }
    ct_unref(items);
    ct_unref(sep);
    if (rc != 0) { ct_sb_drop(&b); return -1; }
    return ct_sb_finish(&b, out);
}

static int f_first_last(ct_ctx *c, ct_value in, int last, ct_value *out)
{
    if (last && ct_is_gen(in)) return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: 'generator' object is not reversible");
    if (last && (in.kind == CT_NONE || in.kind == CT_INT || in.kind == CT_FLOAT || in.kind == CT_BOOL))
        return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: '%s' object is not reversible", ct_type_name(in));
    ct_value items;
    if (ct_iterate(c, in, &items) != 0) return -1;
    size_t n = items.u.l->n;
    int rc;
    if (n == 0) rc = ct_undef_msg(c, out, "No %s item, sequence was empty.", last ? "last" : "first");
    else { *out = ct_copy(items.u.l->items[last ? n - 1 : 0]); rc = 0; }
    ct_unref(items);
    return rc;
}

static int f_items(ct_ctx *c, ct_value in, ct_value *out)
{
    if (in.kind == CT_UNDEF) return make_gen(c, out);
    if (in.kind != CT_DICT) return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: Can only get item pairs from a mapping.");
    if (make_gen(c, out) != 0) return -1;
    for (size_t i = 0; i < in.u.d->n; i++) {
        ct_value pair;
        if (ct_list_new(c, 2, &pair) != 0) { ct_unref(*out); return -1; }
        pair.flags = CT_F_TUPLE;
        pair.u.l->items[0] = ct_copy(in.u.d->keys[i]);
        pair.u.l->items[1] = ct_copy(in.u.d->vals[i]);
        pair.u.l->n = 2;
        if (ct_list_push(c, out->u.l, pair) != 0) { ct_unref(*out); return -1; }
    }
    return 0;
}

/* select / reject / selectattr / rejectattr */
static int f_select(ct_ctx *c, ct_value in, const ct_callargs *a, int reject, int by_attr, ct_value *out)
{
    if (make_gen(c, out) != 0) return -1;
    if (!ct_truthy(in)) return 0;
    int off = 0;
    ct_value attribute = ct_none();
    if (by_attr) {
        if (a->npos < 1) { ct_unref(*out); return ct_fail(c, HUBRT_ERR_FORMAT, "Missing parameter for attribute name"); }
        attribute = a->pos[0];
        off = 1;
    }
    int test = -1;
    if (a->npos > off) {
        if (a->pos[off].kind != CT_STR) {
            ct_unref(*out);
            return ct_fail(c, HUBRT_ERR_FORMAT, "the test name must be a string");
        }
        test = ct_test_id(a->pos[off].u.s->data, a->pos[off].u.s->len);
        if (test < 0) {
            ct_unref(*out);
            return ct_fail(c, HUBRT_ERR_FORMAT, "No test named '%s'.", a->pos[off].u.s->data);
        }
    }
    ct_callargs targs = { a->pos + off + 1, a->npos > off + 1 ? a->npos - off - 1 : 0, a->kwname, a->kwval, a->nkw };
    ct_value items;
    if (ct_iterate(c, in, &items) != 0) { ct_unref(*out); return -1; }
    int rc = 0;
    for (size_t i = 0; i < items.u.l->n && rc == 0; i++) {
        ct_value item = items.u.l->items[i], v;
        if ((rc = attr_get(c, item, attribute, ct_missing(), &v)) != 0) break;
        int keep;
        if (test < 0) keep = ct_truthy(v);
        else rc = ct_test_apply(c, test, v, &targs, &keep);
        ct_unref(v);
        if (rc == 0 && keep != reject) rc = ct_list_push(c, out->u.l, ct_copy(item));
    }
    ct_unref(items);
    if (rc != 0) ct_unref(*out);
    return rc;
}

static int f_map(ct_ctx *c, ct_value in, const ct_callargs *a, ct_value *out)
{
    if (make_gen(c, out) != 0) return -1;
    if (!ct_truthy(in)) return 0;
    ct_value attribute = ct_missing(), dflt = ct_none();
    int filter = -1;
    ct_callargs fargs = { NULL, 0, NULL, NULL, 0 };
    if (a->npos == 0) {
        for (int k = 0; k < a->nkw; k++) {
            if (!strcmp(a->kwname[k]->data, "attribute")) attribute = a->kwval[k];
            else if (!strcmp(a->kwname[k]->data, "default")) dflt = a->kwval[k];
            else {
                ct_unref(*out);
                return ct_fail(c, HUBRT_ERR_FORMAT, "Unexpected keyword argument '%s'", a->kwname[k]->data);
            }
        }
        if (attribute.kind == CT_MISSING) {
            ct_unref(*out);
            return ct_fail(c, HUBRT_ERR_FORMAT, "map requires a filter argument");
        }
    } else {
        if (a->pos[0].kind != CT_STR) {
            ct_unref(*out);
            return ct_fail(c, HUBRT_ERR_FORMAT, "the filter name must be a string");
        }
        filter = ct_filter_id(a->pos[0].u.s->data, a->pos[0].u.s->len);
        if (filter < 0) {
            ct_unref(*out);
            return ct_fail(c, HUBRT_ERR_FORMAT, "No filter named '%s'.", a->pos[0].u.s->data);
        }
        fargs.pos = a->pos + 1;
        fargs.npos = a->npos - 1;
        fargs.kwname = a->kwname;
        fargs.kwval = a->kwval;
        fargs.nkw = a->nkw;
    }
    ct_value items;
    if (ct_iterate(c, in, &items) != 0) { ct_unref(*out); return -1; }
    int rc = 0;
    for (size_t i = 0; i < items.u.l->n && rc == 0; i++) {
        ct_value v;
        if (filter >= 0) rc = ct_filter_apply(c, filter, items.u.l->items[i], &fargs, &v);
        else rc = attr_get(c, items.u.l->items[i], attribute, dflt, &v);
        if (rc == 0) rc = ct_list_push(c, out->u.l, v);
    }
    ct_unref(items);
    if (rc != 0) ct_unref(*out);
    return rc;
}

static int f_sort(ct_ctx *c, ct_value in, const ct_callargs *a, ct_value *out)
{
    static const char *const p[] = { "reverse", "case_sensitive", "attribute" };
    ct_value s[3], items;
    if (ct_bind(c, "sort", p, 3, a, s) != 0) return -1;
    if (ct_iterate(c, in, &items) != 0) return -1;
    size_t n = items.u.l->n;
    ct_value *keys = calloc(n ? n : 1, sizeof *keys);
    if (!keys) { ct_unref(items); return ct_fail_nomem(c); }
    int rc = 0;
    size_t k = 0;
    for (; k < n && rc == 0; k++)
        rc = sort_key(c, items.u.l->items[k], arg_or(s[2], ct_none()), ct_truthy(arg_or(s[1], ct_bool(0))), &keys[k]);
    if (rc != 0) k--;
    if (rc == 0) rc = sorted_by(c, items.u.l, keys, ct_truthy(arg_or(s[0], ct_bool(0))), out);
    free_keys(keys, k);
    ct_unref(items);
    return rc;
}

static int f_dictsort(ct_ctx *c, ct_value in, const ct_callargs *a, ct_value *out)
{
    static const char *const p[] = { "case_sensitive", "by", "reverse" };
    ct_value s[3], items;
    if (ct_bind(c, "dictsort", p, 3, a, s) != 0) return -1;
    int pos = 0;
    ct_value by = arg_or(s[1], ct_none());
    if (by.kind == CT_STR && !strcmp(by.u.s->data, "value")) pos = 1;
    else if (!(by.kind == CT_NONE || (by.kind == CT_STR && !strcmp(by.u.s->data, "key"))))
        return ct_fail(c, HUBRT_ERR_FORMAT, "You can only sort by either \"key\" or \"value\"");
    if (in.kind == CT_UNDEF) return ct_fail_undef(c, in);
    if (in.kind != CT_DICT)
        return ct_fail(c, HUBRT_ERR_FORMAT, "AttributeError: '%s' object has no attribute 'items'", ct_type_name(in));
    if (f_items(c, in, &items) != 0) return -1;
    size_t n = items.u.l->n;
    ct_value *keys = calloc(n ? n : 1, sizeof *keys);
    if (!keys) { ct_unref(items); return ct_fail_nomem(c); }
    int cs = ct_truthy(arg_or(s[0], ct_bool(0))), rc = 0;
    size_t k = 0;
    for (; k < n && rc == 0; k++) {
        ct_value v = items.u.l->items[k].u.l->items[pos];
        if (cs) keys[k] = ct_copy(v);
        else rc = lower_if_str(c, v, &keys[k]);
    }
    if (rc != 0) k--;
    if (rc == 0) rc = sorted_by(c, items.u.l, keys, ct_truthy(arg_or(s[2], ct_bool(0))), out);
    free_keys(keys, k);
    ct_unref(items);
    return rc;
}

static int f_unique(ct_ctx *c, ct_value in, const ct_callargs *a, ct_value *out)
{
    static const char *const p[] = { "case_sensitive", "attribute" };
    ct_value s[2], items, seen;
    if (ct_bind(c, "unique", p, 2, a, s) != 0) return -1;
    if (ct_iterate(c, in, &items) != 0) return -1;
    if (ct_dict_new(c, &seen) != 0) { ct_unref(items); return -1; }
    *out = ct_none();
    int rc = make_gen(c, out);
    for (size_t i = 0; rc == 0 && i < items.u.l->n; i++) {
        ct_value key, dummy;
        if ((rc = sort_key(c, items.u.l->items[i], arg_or(s[1], ct_none()), ct_truthy(arg_or(s[0], ct_bool(0))), &key)) != 0) break;
        int found = ct_dict_get(c, seen.u.d, key, &dummy);
        if (found < 0) { ct_unref(key); rc = -1; break; }
        if (found) { ct_unref(key); continue; }
        if ((rc = ct_dict_set(c, seen.u.d, key, ct_none())) == 0) rc = ct_list_push(c, out->u.l, ct_copy(items.u.l->items[i]));
    }
    if (rc != 0 && out->kind == CT_LIST) ct_unref(*out);
    ct_unref(seen);
    ct_unref(items);
    return rc;
}

static int f_minmax(ct_ctx *c, ct_value in, const ct_callargs *a, int want_max, ct_value *out)
{
    static const char *const p[] = { "case_sensitive", "attribute" };
    ct_value s[2], items, best_key = ct_missing();
    if (ct_bind(c, want_max ? "max" : "min", p, 2, a, s) != 0) return -1;
    if (ct_iterate(c, in, &items) != 0) return -1;
    int rc = 0;
    size_t best = 0;
    for (size_t i = 0; rc == 0 && i < items.u.l->n; i++) {
        ct_value key;
        if ((rc = sort_key(c, items.u.l->items[i], arg_or(s[1], ct_none()), ct_truthy(arg_or(s[0], ct_bool(0))), &key)) != 0) break;
        if (best_key.kind == CT_MISSING) { best_key = key; best = i; continue; }
        int r;
        rc = ct_compare(c, key, best_key, want_max ? ">" : "<", &r);
        if (rc == 0 && r != 2 && (want_max ? r > 0 : r < 0)) {
            ct_unref(best_key);
            best_key = key;
            best = i;
        } else {
            ct_unref(key);
        }
    }
    if (rc == 0) {
        if (best_key.kind == CT_MISSING) rc = ct_undef_msg(c, out, "No aggregated item, sequence was empty.");
        else *out = ct_copy(items.u.l->items[best]);
    }
    ct_unref(best_key);
    ct_unref(items);
    return rc;
}

static int f_sum(ct_ctx *c, ct_value in, const ct_callargs *a, ct_value *out)
{
    static const char *const p[] = { "attribute", "start" };
    ct_value s[2], items;
    if (ct_bind(c, "sum", p, 2, a, s) != 0) return -1;
    ct_value acc = ct_copy(arg_or(s[1], ct_int(0)));
    if (acc.kind == CT_STR) { ct_unref(acc); return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: sum() can't sum strings [use ''.join(seq) instead]"); }
    if (ct_iterate(c, in, &items) != 0) { ct_unref(acc); return -1; }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < items.u.l->n; i++) {
        ct_value v, r;
        if ((rc = attr_get(c, items.u.l->items[i], arg_or(s[0], ct_none()), ct_missing(), &v)) != 0) break;
        rc = ct_binop(c, OP_ADD, acc, v, &r);
        ct_unref(v);
        if (rc == 0) { ct_unref(acc); acc = r; }
    }
    ct_unref(items);
    if (rc != 0) { ct_unref(acc); return -1; }
    *out = acc;
    return 0;
}

static int f_reverse(ct_ctx *c, ct_value in, ct_value *out)
{
    if (in.kind == CT_STR) {
        const char *p = in.u.s->data, *end = p + in.u.s->len;
        ct_sb b;
        ct_sb_init(&b, c);
        const char *q = end;
        while (q > p) {
            const char *s = q - 1;
            while (s > p && ((unsigned char)*s & 0xC0) == 0x80) s--;
            if (ct_sb_add(&b, s, (size_t)(q - s)) != 0) { ct_sb_drop(&b); return -1; }
            q = s;
        }
        if (ct_sb_finish(&b, out) != 0) return -1;
        out->flags = in.flags & CT_F_SAFE;
        return 0;
    }
    ct_value items;
    if (ct_iterate(c, in, &items) != 0) return -1;
    if (ct_list_new(c, items.u.l->n, out) != 0) { ct_unref(items); return -1; }
    for (size_t i = items.u.l->n; i > 0; i--) out->u.l->items[out->u.l->n++] = ct_copy(items.u.l->items[i - 1]);
    /* reversed(list) is an iterator; a generator is reversed through a list */
    if (!ct_is_gen(in)) out->flags = CT_F_GEN;
    ct_unref(items);
    return 0;
}

/* Python's round(x, ndigits) for floats: exact decimal rounding, half to even. */
static double round_float(double x, int64_t nd)
{
    if (!isfinite(x)) return x;
    if (nd > 300) return x;
    if (nd >= 0) {
        char buf[400];
        snprintf(buf, sizeof buf, "%.*f", (int)nd, x);
        return strtod(buf, NULL);
    }
    double p = pow(10.0, (double)-nd);
    double y = x / p, r = nearbyint(y);
    return r * p;
}

static int f_round(ct_ctx *c, ct_value in, const ct_callargs *a, ct_value *out)
{
    static const char *const p[] = { "precision", "method" };
    ct_value s[2];
    if (ct_bind(c, "round", p, 2, a, s) != 0) return -1;
    int64_t prec = 0;
    if (s[0].kind != CT_MISSING && need_int(c, "round() precision", s[0], &prec) != 0) return -1;
    const char *method = "common";
    if (s[1].kind != CT_MISSING) {
        if (need_str(c, "round() method", s[1]) != 0) return -1;
        method = s[1].u.s->data;
    }
    if (strcmp(method, "common") && strcmp(method, "ceil") && strcmp(method, "floor"))
        return ct_fail(c, HUBRT_ERR_FORMAT, "method must be common, ceil or floor");
    if (in.kind == CT_UNDEF) return ct_fail_undef(c, in);
    if (!ct_is_num(in))
        return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: type %s doesn't define __round__ method", ct_type_name(in));
    if (!strcmp(method, "common")) {
        if (in.kind != CT_FLOAT) {
            if (prec >= 0) { *out = ct_int(in.u.i); return 0; }
            double r = round_float((double)in.u.i, prec);
            *out = ct_int((int64_t)r);
            return 0;
        }
        *out = ct_float(round_float(in.u.f, prec));
        return 0;
    }
    double x = in.kind == CT_FLOAT ? in.u.f : (double)in.u.i, m = pow(10.0, (double)prec);
    *out = ct_float((!strcmp(method, "ceil") ? ceil(x * m) : floor(x * m)) / m);
    return 0;
}

/* Python's int(str, base) for base 10 (whitespace, sign, underscores). */
static int parse_py_int(const char *s, size_t n, int base, int64_t *out)
{
    size_t b, e;
    ct_strip(s, n, NULL, 0, 1, 1, &b, &e);
    const char *p = s + b, *end = s + e;
    int neg = 0;
    if (p < end && (*p == '+' || *p == '-')) neg = *p++ == '-';
    if (base == 16 && end - p > 2 && p[0] == '0' && (p[1] | 0x20) == 'x') p += 2;
    if (base == 8 && end - p > 2 && p[0] == '0' && (p[1] | 0x20) == 'o') p += 2;
    if (base == 2 && end - p > 2 && p[0] == '0' && (p[1] | 0x20) == 'b') p += 2;
    if (p >= end || *p == '_') return -1;
    uint64_t v = 0;
    int prev_us = 0;
    for (; p < end; p++) {
        if (*p == '_') { if (prev_us) return -1; prev_us = 1; continue; }
        prev_us = 0;
        int d = *p >= '0' && *p <= '9' ? *p - '0' : (*p | 0x20) >= 'a' && (*p | 0x20) <= 'z' ? (*p | 0x20) - 'a' + 10 : 99;
        if (d >= base) return -1;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) return -2;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    if (prev_us) return -1;
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg) return -2;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Python's float(str): whitespace, underscores between digits, inf/nan. */
static int parse_py_float(const char *s, size_t n, double *out)
{
    size_t b, e;
    ct_strip(s, n, NULL, 0, 1, 1, &b, &e);
    if (e == b || e - b > 400) return -1;
    char buf[408];
    size_t k = 0;
    for (size_t i = b; i < e; i++) {
        if (s[i] == '_') {
            if (i == b || i + 1 == e || !(s[i - 1] >= '0' && s[i - 1] <= '9') || !(s[i + 1] >= '0' && s[i + 1] <= '9'))
                return -1;
            continue;
        }
        buf[k++] = s[i];
    }
    buf[k] = '\0';
    const char *w = buf + (buf[0] == '+' || buf[0] == '-');
    if (!strcasecmp(w, "inf") || !strcasecmp(w, "infinity") || !strcasecmp(w, "nan")) {
        *out = strtod(buf, NULL);
        return 0;
    }
    for (const char *q = w; *q; q++)
        if (!((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' || *q == '+' || *q == '-')) return -1;
    char *endp;
    *out = strtod(buf, &endp);
    return *endp == '\0' && endp != buf ? 0 : -1;
}

static int f_int(ct_ctx *c, ct_value in, const ct_callargs *a, ct_value *out)
{
    static const char *const p[] = { "default", "base" };
    ct_value s[2];
    if (ct_bind(c, "int", p, 2, a, s) != 0) return -1;
    int64_t base = 10;
    if (s[1].kind != CT_MISSING && need_int(c, "int() base", s[1], &base) != 0) return -1;
    ct_value dflt = arg_or(s[0], ct_int(0));
    switch (in.kind) {
    case CT_UNDEF: return ct_fail_undef(c, in);
    case CT_INT:
    case CT_BOOL: *out = ct_int(in.u.i); return 0;
    case CT_FLOAT:
        if (!isfinite(in.u.f)) return ct_fail(c, HUBRT_ERR_FORMAT, "cannot convert float %s to integer", isnan(in.u.f) ? "NaN" : "infinity");
        if (fabs(in.u.f) >= 9.2e18) return ct_fail(c, HUBRT_ERR_RANGE, "integer overflow (beyond 64 bits)");
        *out = ct_int((int64_t)in.u.f);
        return 0;
    case CT_STR: {
        int64_t v;
        double f;
        int r = base >= 2 && base <= 36 ? parse_py_int(in.u.s->data, in.u.s->len, (int)base, &v) : -1;
        if (r == 0) { *out = ct_int(v); return 0; }
        if (r == -2) return ct_fail(c, HUBRT_ERR_RANGE, "integer overflow (beyond 64 bits)");
        if (parse_py_float(in.u.s->data, in.u.s->len, &f) == 0 && isfinite(f) && fabs(f) < 9.2e18) {
            *out = ct_int((int64_t)f);
            return 0;
        }
        *out = ct_copy(dflt);
        return 0;
    }
    default:
        *out = ct_copy(dflt);
        return 0;
    }
}

static int f_float(ct_ctx *c, ct_value in, const ct_callargs *a, ct_value *out)
{
    static const char *const p[] = { "default" };
    ct_value s[1];
    if (ct_bind(c, "float", p, 1, a, s) != 0) return -1;
    double f;
    switch (in.kind) {
    case CT_UNDEF: return ct_fail_undef(c, in);
    case CT_INT:
    case CT_BOOL: *out = ct_float((double)in.u.i); return 0;
    case CT_FLOAT: *out = in; return 0;
    case CT_STR:
        if (parse_py_float(in.u.s->data, in.u.s->len, &f) == 0) { *out = ct_float(f); return 0; }
        /* fall through */
    default: *out = ct_copy(arg_or(s[0], ct_float(0.0))); return 0;
    }
}

static int f_batch(ct_ctx *c, ct_value in, const ct_callargs *a, int slice, ct_value *out)
{
    static const char *const p[] = { "linecount", "fill_with" };
    static const char *const ps[] = { "slices", "fill_with" };
    ct_value s[2], items;
    if (ct_bind(c, slice ? "slice" : "batch", slice ? ps : p, 2, a, s) != 0) return -1;
    int64_t count = 0;
    if (s[0].kind == CT_MISSING) return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %s() needs a count", slice ? "slice" : "batch");
    if (need_int(c, slice ? "slices" : "linecount", s[0], &count) != 0) return -1;
    ct_value fill = arg_or(s[1], ct_none());
    if (ct_iterate(c, in, &items) != 0) return -1;
    *out = ct_none();
    int rc = make_gen(c, out);
    ct_value tmp = ct_none();
    size_t n = items.u.l->n;
    if (rc == 0 && !slice) {
        for (size_t i = 0; rc == 0 && i < n; i++) {
            if (tmp.kind == CT_NONE) rc = ct_list_new(c, 0, &tmp);
            else if ((int64_t)tmp.u.l->n == count) {
                rc = ct_list_push(c, out->u.l, tmp);
                tmp = ct_none();
                if (rc == 0) rc = ct_list_new(c, 0, &tmp);
            }
            if (rc == 0) rc = ct_list_push(c, tmp.u.l, ct_copy(items.u.l->items[i]));
        }
        if (rc == 0 && tmp.kind == CT_LIST) {
            if (fill.kind != CT_NONE)
                for (int64_t k = (int64_t)tmp.u.l->n; rc == 0 && k < count; k++) rc = ct_list_push(c, tmp.u.l, ct_copy(fill));
            if (rc == 0) rc = ct_list_push(c, out->u.l, tmp);
            else ct_unref(tmp);
            tmp = ct_none();
        }
    } else if (rc == 0) {
        if (count <= 0) rc = ct_fail(c, HUBRT_ERR_FORMAT, "ZeroDivisionError: slice() needs a positive count");
        size_t per = count > 0 ? n / (size_t)count : 0, extra = count > 0 ? n % (size_t)count : 0, offset = 0;
        for (int64_t k = 0; rc == 0 && k < count; k++) {
            if ((rc = ct_step(c)) != 0) break;
            size_t start = offset + (size_t)k * per;
            if ((size_t)k < extra) offset++;
            size_t end = offset + ((size_t)k + 1) * per;
            if ((rc = ct_list_new(c, 0, &tmp)) != 0) break;
            for (size_t i = start; rc == 0 && i < end && i < n; i++) rc = ct_list_push(c, tmp.u.l, ct_copy(items.u.l->items[i]));
            if (rc == 0 && fill.kind != CT_NONE && (size_t)k >= extra) rc = ct_list_push(c, tmp.u.l, ct_copy(fill));
            if (rc == 0) rc = ct_list_push(c, out->u.l, tmp);
            else ct_unref(tmp);
            tmp = ct_none();
        }
    }
    ct_unref(tmp);
    ct_unref(items);
    if (rc != 0 && out->kind == CT_LIST) ct_unref(*out);
    return rc;
}

static int f_center(ct_ctx *c, ct_value in, const ct_callargs *a, ct_value *out)
{
    static const char *const p[] = { "width" };
    ct_value s[1], str;
    if (ct_bind(c, "center", p, 1, a, s) != 0) return -1;
    int64_t width = 80;
    if (s[0].kind != CT_MISSING && need_int(c, "center() width", s[0], &width) != 0) return -1;
    if (soft_str(c, in, &str) != 0) return -1;
    size_t n = ct_utf8_count(str.u.s->data, str.u.s->len);
    if (width > (int64_t)c->max_output) width = (int64_t)c->max_output;
    ct_sb b;
    ct_sb_init(&b, c);
    int rc = 0;
    if ((int64_t)n >= width) {
        rc = ct_sb_add(&b, str.u.s->data, str.u.s->len);
    } else {
        size_t marg = (size_t)width - n, left = marg / 2 + (marg & (size_t)width & 1);
        for (size_t i = 0; rc == 0 && i < left; i++) rc = ct_sb_addc(&b, ' ');
        if (rc == 0) rc = ct_sb_add(&b, str.u.s->data, str.u.s->len);
        for (size_t i = 0; rc == 0 && i < marg - left; i++) rc = ct_sb_addc(&b, ' ');
    }
    ct_unref(str);
    if (rc != 0) { ct_sb_drop(&b); return -1; }
    return ct_sb_finish(&b, out);
}

static int f_truncate(ct_ctx *c, ct_value in, const ct_callargs *a, ct_value *out)
{
    static const char *const p[] = { "length", "killwords", "end", "leeway" };
    ct_value s[4], str;
    if (ct_bind(c, "truncate", p, 4, a, s) != 0) return -1;
    int64_t length = 255, leeway = 5;
    if (s[0].kind != CT_MISSING && need_int(c, "truncate() length", s[0], &length) != 0) return -1;
    if (s[3].kind != CT_MISSING && s[3].kind != CT_NONE && need_int(c, "truncate() leeway", s[3], &leeway) != 0) return -1;
    ct_value end = arg_or(s[2], ct_none());
    if (end.kind != CT_NONE && need_str(c, "truncate() end", end) != 0) return -1;
    const char *ends = end.kind == CT_STR ? end.u.s->data : "...";
    size_t endn = end.kind == CT_STR ? end.u.s->len : 3, endc = ct_utf8_count(ends, endn);
    if (length < (int64_t)endc) return ct_fail(c, HUBRT_ERR_FORMAT, "expected length >= %zu, got %lld", endc, (long long)length);
    if (leeway < 0) return ct_fail(c, HUBRT_ERR_FORMAT, "expected leeway >= 0, got %lld", (long long)leeway);
    if (soft_str(c, in, &str) != 0) return -1;
    size_t n = ct_utf8_count(str.u.s->data, str.u.s->len);
    if ((int64_t)n <= length + leeway) { *out = str; return 0; }
    size_t cut = ct_utf8_offset(str.u.s->data, str.u.s->len, (size_t)(length - (int64_t)endc));
    if (!ct_truthy(arg_or(s[1], ct_bool(0)))) {
        for (size_t i = cut; i > 0; i--)
            if (str.u.s->data[i - 1] == ' ') { cut = i - 1; break; }
    }
    ct_sb b;
    ct_sb_init(&b, c);
    int rc = ct_sb_add(&b, str.u.s->data, cut);
    if (rc == 0) rc = ct_sb_add(&b, ends, endn);
    ct_unref(str);
    if (rc != 0) { ct_sb_drop(&b); return -1; }
    return ct_sb_finish(&b, out);
}

static int f_wordcount(ct_ctx *c, ct_value in, ct_value *out)
{
    ct_value str;
    if (soft_str(c, in, &str) != 0) return -1;
    const char *p = str.u.s->data, *end = p + str.u.s->len;
    int64_t words = 0;
    int inword = 0;
    while (p < end) {
        uint32_t cp;
        p += ct_utf8_next(p, end, &cp);
        int w = ct_py_isalnum(cp);
        if (w && !inword) words++;
        inword = w;
    }
    ct_unref(str);
    *out = ct_int(words);
    return 0;
}

static int f_escape(ct_ctx *c, ct_value in, int force, ct_value *out)
{
    if (in.kind == CT_STR && (in.flags & CT_F_SAFE) && !force) { *out = ct_copy(in); return 0; }
    ct_value str;
    if (ct_to_str(c, in, &str) != 0) return -1;
    ct_sb b;
    ct_sb_init(&b, c);
    int rc = ct_html_escape(&b, str.u.s->data, str.u.s->len);
    ct_unref(str);
    if (rc != 0 || ct_sb_finish(&b, out) != 0) { ct_sb_drop(&b); return -1; }
    out->flags = CT_F_SAFE;
    return 0;
}

static int f_format(ct_ctx *c, ct_value in, const ct_callargs *a, ct_value *out)
{
    ct_value str, args;
    if (soft_str(c, in, &str) != 0) return -1;
    int rc;
    if (a->nkw) {
        rc = ct_dict_new(c, &args);
        for (int k = 0; rc == 0 && k < a->nkw; k++)
            rc = ct_dict_set(c, args.u.d, ct_copy(ct_strv(a->kwname[k])), ct_copy(a->kwval[k]));
    } else {
        rc = ct_list_new(c, (size_t)a->npos, &args);
        if (rc == 0) {
            args.flags = CT_F_TUPLE;
            for (int i = 0; i < a->npos; i++) args.u.l->items[args.u.l->n++] = ct_copy(a->pos[i]);
        }
    }
    if (rc != 0) { ct_unref(str); return -1; }
    ct_sb b;
    ct_sb_init(&b, c);
    rc = ct_percent_format(c, &b, str, args);
    ct_unref(args);
    ct_unref(str);
    if (rc != 0) { ct_sb_drop(&b); return -1; }
    return ct_sb_finish(&b, out);
}

static int f_attr(ct_ctx *c, ct_value in, const ct_callargs *a, ct_value *out)
{
    static const char *const p[] = { "name" };
    ct_value s[1];
    if (ct_bind(c, "attr", p, 1, a, s) != 0) return -1;
    if (need_str(c, "attr() name", s[0]) != 0) return -1;
    if (in.kind == CT_UNDEF) return ct_fail_undef(c, in);
    if (in.kind == CT_NS || in.kind == CT_LOOP) return ct_getattr(c, in, s[0].u.s, out);
    int found = ct_method_lookup(c, in, s[0].u.s->data, s[0].u.s->len, out);
    if (found != 0) return found < 0 ? -1 : 0;
    return ct_undef_msg(c, out, "'%s object' has no attribute '%s'", ct_type_name(in), s[0].u.s->data);
}

static int no_args(ct_ctx *c, const char *name, const ct_callargs *a)
{
    if (a->npos || a->nkw)
        return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %s() takes no arguments", name);
    return 0;
}

int ct_filter_apply(ct_ctx *c, int id, ct_value in, const ct_callargs *a, ct_value *out)
{
    size_t n;
    switch (id) {
    case F_ABS:
        if (no_args(c, "abs", a) != 0) return -1;
        if (in.kind == CT_UNDEF) return ct_fail_undef(c, in);
        if (in.kind == CT_FLOAT) { *out = ct_float(fabs(in.u.f)); return 0; }
        if (in.kind == CT_INT || in.kind == CT_BOOL) {
            if (in.u.i == INT64_MIN) return ct_fail(c, HUBRT_ERR_RANGE, "integer overflow (beyond 64 bits)");
            *out = ct_int(in.u.i < 0 ? -in.u.i : in.u.i);
            return 0;
        }
        return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: bad operand type for abs(): '%s'", ct_type_name(in));
    case F_ATTR: return f_attr(c, in, a, out);
    case F_BATCH: return f_batch(c, in, a, 0, out);
    case F_SLICE: return f_batch(c, in, a, 1, out);
    case F_CAPITALIZE: return no_args(c, "capitalize", a) ? -1 : f_case(c, in, 3, out);
    case F_LOWER: return no_args(c, "lower", a) ? -1 : f_case(c, in, 0, out);
    case F_UPPER: return no_args(c, "upper", a) ? -1 : f_case(c, in, 1, out);
    case F_TITLE: return no_args(c, "title", a) ? -1 : f_title(c, in, out);
    case F_CENTER: return f_center(c, in, a, out);
    case F_COUNT:
    case F_LENGTH:
        if (no_args(c, "length", a) != 0 || ct_length(c, in, &n) != 0) return -1;
        *out = ct_int((int64_t)n);
        return 0;
    case F_D:
    case F_DEFAULT: return f_default(c, in, a, out);
    case F_DICTSORT: return f_dictsort(c, in, a, out);
    case F_E:
    case F_ESCAPE: return no_args(c, "escape", a) ? -1 : f_escape(c, in, 0, out);
    case F_FORCEESCAPE: return no_args(c, "forceescape", a) ? -1 : f_escape(c, in, 1, out);
    case F_FIRST: return no_args(c, "first", a) ? -1 : f_first_last(c, in, 0, out);
    case F_LAST: return no_args(c, "last", a) ? -1 : f_first_last(c, in, 1, out);
    case F_FLOAT: return f_float(c, in, a, out);
    case F_INT: return f_int(c, in, a, out);
    case F_FORMAT: return f_format(c, in, a, out);
    case F_INDENT: return f_indent(c, in, a, out);
    case F_ITEMS: return no_args(c, "items", a) ? -1 : f_items(c, in, out);
    case F_JOIN: return f_join(c, in, a, out);
    case F_LIST:
        if (no_args(c, "list", a) != 0) return -1;
        if (in.kind == CT_LIST) {
            if (ct_work(c, in.u.l->n * sizeof(ct_value)) != 0 || ct_list_new(c, in.u.l->n, out) != 0) return -1;
            for (size_t i = 0; i < in.u.l->n; i++) out->u.l->items[out->u.l->n++] = ct_copy(in.u.l->items[i]);
            return 0;
        }
        return ct_iterate(c, in, out);
    case F_MAP: return f_map(c, in, a, out);
    case F_MAX: return f_minmax(c, in, a, 1, out);
    case F_MIN: return f_minmax(c, in, a, 0, out);
    case F_REJECT: return f_select(c, in, a, 1, 0, out);
    case F_SELECT: return f_select(c, in, a, 0, 0, out);
    case F_REJECTATTR: return f_select(c, in, a, 1, 1, out);
    case F_SELECTATTR: return f_select(c, in, a, 0, 1, out);
    case F_REPLACE: return f_replace(c, in, a, out);
    case F_REVERSE: return no_args(c, "reverse", a) ? -1 : f_reverse(c, in, out);
    case F_ROUND: return f_round(c, in, a, out);
    case F_SAFE:
        if (no_args(c, "safe", a) != 0 || ct_to_str(c, in, out) != 0) return -1;
        out->flags |= CT_F_SAFE;
        return 0;
    case F_SORT: return f_sort(c, in, a, out);
    case F_STRING:
        if (no_args(c, "string", a) != 0) return -1;
        return soft_str(c, in, out);
    case F_SUM: return f_sum(c, in, a, out);
    case F_TOJSON: return f_tojson(c, in, a, out);
    case F_TRIM: return f_trim(c, in, a, out);
    case F_TRUNCATE: return f_truncate(c, in, a, out);
    case F_UNIQUE: return f_unique(c, in, a, out);
    case F_WORDCOUNT: return no_args(c, "wordcount", a) ? -1 : f_wordcount(c, in, out);
    default:
        return ct_fail(c, HUBRT_ERR_UNSUPPORTED, "the filter '%s' is not supported in chat templates",
                       id >= 0 && id < NFILTERS ? filter_names[id] : "?");
    }
}

/* ---- tests ------------------------------------------------------------------------------ */

static int one_arg(ct_ctx *c, const char *name, const ct_callargs *a, ct_value *v)
{
    static const char *const p[] = { "other" };
    ct_value s[1];
    if (ct_bind(c, name, p, 1, a, s) != 0) return -1;
    if (s[0].kind == CT_MISSING)
        return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %s() missing 1 required positional argument", name);
    *v = s[0];
    return 0;
}

static int mod_equals(ct_ctx *c, ct_value x, ct_value m, int64_t want, int *res)
{
    ct_value r;
    if (ct_binop(c, OP_MOD, x, m, &r) != 0) return -1;
    int rc = ct_equal(c, r, ct_int(want), res);
    ct_unref(r);
    return rc;
}

int ct_test_apply(ct_ctx *c, int id, ct_value v, const ct_callargs *a, int *res)
{
    ct_value other;
    int r;
    *res = 0;
    switch (id) {
    case TS_ODD: return no_args(c, "odd", a) ? -1 : mod_equals(c, v, ct_int(2), 1, res);
    case TS_EVEN: return no_args(c, "even", a) ? -1 : mod_equals(c, v, ct_int(2), 0, res);
    case TS_DIVISIBLEBY:
        if (one_arg(c, "divisibleby", a, &other) != 0) return -1;
        return mod_equals(c, v, other, 0, res);
    case TS_DEFINED: *res = v.kind != CT_UNDEF; return no_args(c, "defined", a);
    case TS_UNDEFINED: *res = v.kind == CT_UNDEF; return no_args(c, "undefined", a);
    case TS_FILTER: *res = v.kind == CT_STR && ct_filter_id(v.u.s->data, v.u.s->len) >= 0; return no_args(c, "filter", a);
    case TS_TEST: *res = v.kind == CT_STR && ct_test_id(v.u.s->data, v.u.s->len) >= 0; return no_args(c, "test", a);
    case TS_NONE: *res = v.kind == CT_NONE; return no_args(c, "none", a);
    case TS_BOOLEAN: *res = v.kind == CT_BOOL; return no_args(c, "boolean", a);
    case TS_FALSE: *res = v.kind == CT_BOOL && !v.u.i; return no_args(c, "false", a);
    case TS_TRUE: *res = v.kind == CT_BOOL && v.u.i; return no_args(c, "true", a);
    case TS_INTEGER: *res = v.kind == CT_INT; return no_args(c, "integer", a);
    case TS_FLOAT: *res = v.kind == CT_FLOAT; return no_args(c, "float", a);
    case TS_LOWER:
    case TS_UPPER: {
        if (no_args(c, id == TS_LOWER ? "lower" : "upper", a) != 0) return -1;
        ct_value s;
        if (ct_to_str(c, v, &s) != 0) return -1;
        const char *p = s.u.s->data, *end = p + s.u.s->len;
        int cased = 0, ok = 1;
        while (p < end) {
            uint32_t cp;
            p += ct_utf8_next(p, end, &cp);
            if (ct_py_isupper(cp)) { cased = 1; if (id == TS_LOWER) ok = 0; }
            else if (ct_py_islower(cp)) { cased = 1; if (id == TS_UPPER) ok = 0; }
        }
        ct_unref(s);
        *res = cased && ok;
        return 0;
    }
    case TS_STRING: *res = v.kind == CT_STR; return no_args(c, "string", a);
    case TS_MAPPING: *res = v.kind == CT_DICT; return no_args(c, "mapping", a);
    case TS_NUMBER: *res = ct_is_num(v); return no_args(c, "number", a);
    case TS_SEQUENCE:
        *res = v.kind == CT_STR || v.kind == CT_DICT || v.kind == CT_UNDEF || (v.kind == CT_LIST && !(v.flags & CT_F_GEN));
        return no_args(c, "sequence", a);
    case TS_ITERABLE:
        *res = v.kind == CT_STR || v.kind == CT_DICT || v.kind == CT_UNDEF || v.kind == CT_LIST || v.kind == CT_LOOP;
        return no_args(c, "iterable", a);
    case TS_CALLABLE: *res = v.kind == CT_FUNC || v.kind == CT_LOOP || v.kind == CT_UNDEF; return no_args(c, "callable", a);
    case TS_SAMEAS:
        if (one_arg(c, "sameas", a, &other) != 0) return -1;
        if (v.kind != other.kind) *res = 0;
        else if (v.kind == CT_NONE || v.kind == CT_UNDEF) *res = v.kind == CT_NONE || v.u.s == other.u.s;
        else if (v.kind == CT_BOOL) *res = v.u.i == other.u.i;
        else if (v.kind == CT_INT) *res = v.u.i == other.u.i && v.u.i >= -5 && v.u.i <= 256;
        else if (v.kind == CT_FLOAT) *res = 0;
        else *res = v.u.o == other.u.o;
        return 0;
    case TS_ESCAPED: *res = v.kind == CT_STR && (v.flags & CT_F_SAFE); return no_args(c, "escaped", a);
    case TS_IN:
        if (one_arg(c, "in", a, &other) != 0) return -1;
        return ct_contains(c, other, v, res);
    case TS_EQ1:
    case TS_EQ2:
    case TS_EQUALTO:
        if (one_arg(c, "eq", a, &other) != 0) return -1;
        return ct_equal(c, v, other, res);
    case TS_NE1:
    case TS_NE2:
        if (one_arg(c, "ne", a, &other) != 0 || ct_equal(c, v, other, res) != 0) return -1;
        *res = !*res;
        return 0;
    default: {
        const char *op = id <= TS_GREATERTHAN ? ">" : id <= TS_GE2 ? ">=" : id <= TS_LESSTHAN ? "<" : "<=";
        if (one_arg(c, test_names[id], a, &other) != 0 || ct_compare(c, v, other, op, &r) != 0) return -1;
        if (r == 2) { *res = 0; return 0; }
        *res = op[0] == '>' ? (op[1] ? r >= 0 : r > 0) : (op[1] ? r <= 0 : r < 0);
        return 0;
    }
    }
}
