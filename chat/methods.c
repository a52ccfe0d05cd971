/*
 * chat/methods.c — the Python methods templates call on values (str, dict,
 * list, tuple, loop) and the global functions (range, dict, namespace,
 * raise_exception, strftime_now, ...), with the sandbox's rules: methods that
 * would change a list or dict are "unsafe" (an undefined value that fails
 * when called), range() is capped at 100000 items. Also %-formatting and
 * str.format().
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/ct_internal.h"
#include "include/hubrt.h"

#define MAX_RANGE 100000

enum {
    /* str */
    M_CAPITALIZE, M_CASEFOLD, M_CENTER, M_COUNT, M_ENCODE, M_ENDSWITH, M_EXPANDTABS, M_FIND, M_FORMAT,
    M_FORMAT_MAP, M_INDEX, M_ISALNUM, M_ISALPHA, M_ISASCII, M_ISDECIMAL, M_ISDIGIT, M_ISIDENTIFIER,
    M_ISLOWER, M_ISNUMERIC, M_ISPRINTABLE, M_ISSPACE, M_ISTITLE, M_ISUPPER, M_JOIN, M_LJUST, M_LOWER,
    M_LSTRIP, M_MAKETRANS, M_PARTITION, M_REMOVEPREFIX, M_REMOVESUFFIX, M_REPLACE, M_RFIND, M_RINDEX,
    M_RJUST, M_RPARTITION, M_RSPLIT, M_RSTRIP, M_SPLIT, M_SPLITLINES, M_STARTSWITH, M_STRIP, M_SWAPCASE,
    M_TITLE, M_TRANSLATE, M_UPPER, M_ZFILL,
    M_STR_END,
    /* dict */
    M_D_CLEAR = M_STR_END, M_D_COPY, M_D_FROMKEYS, M_D_GET, M_D_ITEMS, M_D_KEYS, M_D_POP, M_D_POPITEM,
    M_D_SETDEFAULT, M_D_UPDATE, M_D_VALUES,
    M_DICT_END,
    /* list and tuple */
    M_L_APPEND = M_DICT_END, M_L_CLEAR, M_L_COPY, M_L_COUNT, M_L_EXTEND, M_L_INDEX, M_L_INSERT, M_L_POP,
    M_L_REMOVE, M_L_REVERSE, M_L_SORT,
    M_LIST_END,
    /* loop */
    M_LOOP_CYCLE = M_LIST_END, M_LOOP_CHANGED,
    M_END
};

static const char *const method_names[M_END] = {
    "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format",
    "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier",
    "islower", "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower",
    "lstrip", "maketrans", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex",
    "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase",
    "title", "translate", "upper", "zfill",
    "clear", "copy", "fromkeys", "get", "items", "keys", "pop", "popitem", "setdefault", "update", "values",
    "append", "clear", "copy", "count", "extend", "index", "insert", "pop", "remove", "reverse", "sort",
    "cycle", "changed",
};

const char *ct_method_name(int id) { return id >= 0 && id < M_END ? method_names[id] : "?"; }

static int find_method(int from, int to, const char *name, size_t n)
{
    for (int i = from; i < to; i++)
        if (strlen(method_names[i]) == n && memcmp(method_names[i], name, n) == 0) return i;
    return -1;
}

static int bound(ct_ctx *c, ct_value self, int id, ct_value *out)
{
    ct_func *f = calloc(1, sizeof *f);
    if (!f) return ct_fail_nomem(c);
    f->h.refs = 1;
    f->h.type = CT_O_FUNC;
    f->kind = CT_FN_METHOD;
    f->id = (uint16_t)id;
    f->self = ct_copy(self);
    f->caller = ct_missing();
    *out = ct_mk(CT_FUNC);
    out->u.fn = f;
    return 1;
}

int ct_method_lookup(ct_ctx *c, ct_value obj, const char *name, size_t n, ct_value *out)
{
    int id = -1;
    if (n >= 2 && name[0] == '_' && name[1] == '_') {
        /* dunder attributes exist on every object and are never safe */
        if (ct_undef_msg(c, out, "access to attribute '%.*s' of '%s' object is unsafe.", (int)(n > 60 ? 60 : n), name,
                         ct_type_name(obj)) != 0)
            return -1;
        return 1;
    }
    switch (obj.kind) {
    case CT_STR: id = find_method(0, M_STR_END, name, n); break;
    case CT_DICT: id = find_method(M_STR_END, M_DICT_END, name, n); break;
    case CT_LIST:
        if (obj.flags & CT_F_GEN) break;
        id = find_method(M_DICT_END, M_LIST_END, name, n);
        if ((obj.flags & CT_F_TUPLE) && id != M_L_COUNT && id != M_L_INDEX) id = -1;
        break;
    case CT_LOOP: id = find_method(M_LIST_END, M_END, name, n); break;
    default: break;
    }
    if (id < 0) return 0;
    switch (id) {
    case M_D_CLEAR: case M_D_POP: case M_D_POPITEM: case M_D_SETDEFAULT: case M_D_UPDATE:
    case M_L_APPEND: case M_L_CLEAR: case M_L_EXTEND: case M_L_INSERT: case M_L_POP: case M_L_REMOVE:
    case M_L_REVERSE: case M_L_SORT:
        if (ct_undef_msg(c, out, "access to attribute '%s' of '%s' object is unsafe.", method_names[id],
                         ct_type_name(obj)) != 0)
            return -1;
        return 1;
    default:
        return bound(c, obj, id, out);
    }
}

/* ---- str helpers ---------------------------------------------------------------------- */

static ct_value arg_or(ct_value v, ct_value dflt) { return v.kind == CT_MISSING ? dflt : v; }

static int opt_str(ct_ctx *c, const char *what, ct_value v)
{
    if (v.kind == CT_STR || v.kind == CT_NONE || v.kind == CT_MISSING) return 0;
    if (v.kind == CT_UNDEF) return ct_fail_undef(c, v);
    return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %s must be str or None, not %s", what, ct_type_name(v));
}

static int req_str(ct_ctx *c, const char *what, ct_value v)
{
    if (v.kind == CT_STR) return 0;
    if (v.kind == CT_UNDEF) return ct_fail_undef(c, v);
    if (v.kind == CT_MISSING) return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %s() missing a required argument", what);
    return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %s() argument must be str, not %s", what, ct_type_name(v));
}

static int opt_int(ct_ctx *c, const char *what, ct_value v, int64_t dflt, int64_t *out)
{
    if (v.kind == CT_MISSING || v.kind == CT_NONE) { *out = dflt; return 0; }
    if (v.kind == CT_INT || v.kind == CT_BOOL) { *out = v.u.i; return 0; }
    if (v.kind == CT_UNDEF) return ct_fail_undef(c, v);
    return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %s: '%s' object cannot be interpreted as an integer", what,
                   ct_type_name(v));
}

static int new_substr(ct_ctx *c, ct_value self, size_t a, size_t b, ct_value *out)
{
    if (ct_str_new(c, self.u.s->data + a, b - a, out) != 0) return -1;
    out->flags = self.flags & CT_F_SAFE;
    return 0;
}

/* Code point index range [start, end) of a str method's optional slice, as byte offsets. */
static int slice_bytes(ct_ctx *c, const ct_str *s, ct_value vs, ct_value ve, size_t *bs, size_t *be, size_t *cstart)
{
    int64_t n = (int64_t)(s->ascii ? s->len : ct_utf8_count(s->data, s->len)), st, en;
    if (opt_int(c, "slice index", vs, 0, &st) != 0 || opt_int(c, "slice index", ve, n, &en) != 0) return -1;
    if (st < 0) { st += n; if (st < 0) st = 0; }
    if (en < 0) { en += n; if (en < 0) en = 0; }
    if (st > n) st = n;
    if (en > n) en = n;
    if (en < st) en = st;
    *cstart = (size_t)st;
    *bs = s->ascii ? (size_t)st : ct_utf8_offset(s->data, s->len, (size_t)st);
    *be = s->ascii ? (size_t)en : ct_utf8_offset(s->data, s->len, (size_t)en);
    return 0;
}

static size_t cp_index(const ct_str *s, size_t byte) { return s->ascii ? byte : ct_utf8_count(s->data, byte); }

static const char *rmemmem(const char *h, size_t hn, const char *n, size_t nn)
{
    if (nn > hn) return NULL;
    for (size_t i = hn - nn + 1; i > 0; i--)
        if (memcmp(h + i - 1, n, nn) == 0) return h + i - 1;
    return NULL;
}

static int s_split(ct_ctx *c, ct_value self, const ct_callargs *a, int right, ct_value *out)
{
    static const char *const p[] = { "sep", "maxsplit" };
    ct_value s[2];
    if (ct_bind(c, right ? "rsplit" : "split", p, 2, a, s) != 0) return -1;
    ct_value sep = arg_or(s[0], ct_none());
    int64_t maxsplit;
    if (opt_str(c, "sep", sep) != 0 || opt_int(c, "maxsplit", s[1], -1, &maxsplit) != 0) return -1;
    if (sep.kind == CT_STR && sep.u.s->len == 0) return ct_fail(c, HUBRT_ERR_FORMAT, "ValueError: empty separator");
    if (ct_list_new(c, 0, out) != 0) return -1;
    const char *d = self.u.s->data;
    size_t n = self.u.s->len;
    ct_value part;
    /* collect pieces in order; for rsplit, split from the right then reverse */
    size_t *bounds = NULL, nb = 0, capb = 0;
    int rc = 0;
#define PUSH_BOUND(x, y)                                                                  \
    do {                                                                                  \
        if (nb + 2 > capb) {                                                              \
            capb = capb ? capb * 2 : 16;                                                  \
            size_t *nbp = realloc(bounds, capb * sizeof *bounds);                         \
            if (!nbp) { rc = ct_fail_nomem(c); goto done; }                               \
            bounds = nbp;                                                                 \
        }                                                                                 \
        bounds[nb++] = (x);                                                               \
        bounds[nb++] = (y);                                                               \
    } while (0)
    if (sep.kind == CT_STR) {
        const char *sp = sep.u.s->data;
        size_t sn = sep.u.s->len;
        if (!right) {
            size_t i = 0;
            while (maxsplit != 0) {
                const char *hit = memmem(d + i, n - i, sp, sn);
                if (!hit) break;
                PUSH_BOUND(i, (size_t)(hit - d));
                i = (size_t)(hit - d) + sn;
                if (maxsplit > 0) maxsplit--;
            }
            PUSH_BOUND(i, n);
        } else {
            size_t e = n;
            while (maxsplit != 0) {
                const char *hit = rmemmem(d, e, sp, sn);
                if (!hit) break;
                PUSH_BOUND((size_t)(hit - d) + sn, e);
                e = (size_t)(hit - d);
                if (maxsplit > 0) maxsplit--;
            }
            PUSH_BOUND(0, e);
        }
    } else if (!right) {
        size_t i = 0;
        for (;;) {
            while (i < n) {
                uint32_t cp;
                int k = ct_utf8_next(d + i, d + n, &cp);
                if (!ct_py_isspace(cp)) break;
                i += (size_t)k;
            }
            if (i >= n) break;
            if (maxsplit == 0) { /* the rest, trailing whitespace and all */
                PUSH_BOUND(i, n);
                break;
            }
            size_t j = i;
            while (j < n) {
                uint32_t cp;
                int k = ct_utf8_next(d + j, d + n, &cp);
                if (ct_py_isspace(cp)) break;
                j += (size_t)k;
            }
            PUSH_BOUND(i, j);
            i = j;
            if (maxsplit > 0) maxsplit--;
        }
    } else {
        size_t e = n;
        for (;;) {
            size_t b0, e0;
            ct_strip(d, e, NULL, 0, 0, 1, &b0, &e0);
            e = e0;
            if (e == 0) break;
            if (maxsplit == 0) { /* the rest, leading whitespace and all */
                PUSH_BOUND(0, e);
                break;
            }
            size_t j = e;
            while (j > 0) {
                size_t q = j - 1;
                while (q > 0 && ((unsigned char)d[q] & 0xC0) == 0x80) q--;
                uint32_t cp;
                ct_utf8_next(d + q, d + n, &cp);
                if (ct_py_isspace(cp)) break;
                j = q;
            }
            PUSH_BOUND(j, e);
            e = j;
            if (maxsplit > 0) maxsplit--;
        }
    }
#undef PUSH_BOUND
    for (size_t k = 0; k < nb / 2 && rc == 0; k++) {
        size_t idx = right ? nb / 2 - 1 - k : k;
        if ((rc = new_substr(c, self, bounds[2 * idx], bounds[2 * idx + 1], &part)) == 0)
            rc = ct_list_push(c, out->u.l, part);
    }
done:
    free(bounds);
    if (rc != 0) ct_unref(*out);
    return rc;
}

static int s_affix(ct_ctx *c, ct_value self, const ct_callargs *a, int ends, ct_value *out)
{
    static const char *const p[] = { "prefix", "start", "end" };
    ct_value s[3];
    const char *name = ends ? "endswith" : "startswith";
    if (ct_bind(c, name, p, 3, a, s) != 0) return -1;
    size_t bs, be, cs;
    if (slice_bytes(c, self.u.s, s[1], s[2], &bs, &be, &cs) != 0) return -1;
    ct_value fix = s[0];
    const ct_value *cands = &fix;
    size_t ncand = 1;
    if (fix.kind == CT_LIST && (fix.flags & CT_F_TUPLE)) {
        cands = fix.u.l->items;
        ncand = fix.u.l->n;
    }
    *out = ct_bool(0);
    for (size_t i = 0; i < ncand; i++) {
        if (cands[i].kind != CT_STR)
            return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %s first arg must be str or a tuple of str, not %s", name,
                           ct_type_name(cands[i]));
        size_t k = cands[i].u.s->len;
        if (k > be - bs) continue;
        const char *at = ends ? self.u.s->data + be - k : self.u.s->data + bs;
        if (memcmp(at, cands[i].u.s->data, k) == 0) { *out = ct_bool(1); break; }
    }
    return 0;
}

static int s_find(ct_ctx *c, ct_value self, const ct_callargs *a, int id, ct_value *out)
{
    static const char *const p[] = { "sub", "start", "end" };
    ct_value s[3];
    if (ct_bind(c, method_names[id], p, 3, a, s) != 0) return -1;
    if (req_str(c, method_names[id], s[0]) != 0) return -1;
    size_t bs, be, cs;
    if (slice_bytes(c, self.u.s, s[1], s[2], &bs, &be, &cs) != 0) return -1;
    const char *d = self.u.s->data;
    const ct_str *sub = s[0].u.s;
    if (id == M_COUNT) {
        int64_t k = 0;
        if (sub->len == 0) k = (int64_t)(cp_index(self.u.s, be) - cp_index(self.u.s, bs)) + 1;
        else
            for (size_t i = bs; i + sub->len <= be;) {
                const char *hit = memmem(d + i, be - i, sub->data, sub->len);
                if (!hit) break;
                k++;
                i = (size_t)(hit - d) + sub->len;
            }
        *out = ct_int(k);
        return 0;
    }
    int right = id == M_RFIND || id == M_RINDEX;
    const char *hit = right ? rmemmem(d + bs, be - bs, sub->data, sub->len) : memmem(d + bs, be - bs, sub->data, sub->len);
    if (!hit && sub->len == 0) hit = right ? d + be : d + bs;
    if (!hit) {
        if (id == M_INDEX || id == M_RINDEX) return ct_fail(c, HUBRT_ERR_FORMAT, "ValueError: substring not found");
        *out = ct_int(-1);
        return 0;
    }
    *out = ct_int((int64_t)cp_index(self.u.s, (size_t)(hit - d)));
    return 0;
}

static int s_partition(ct_ctx *c, ct_value self, const ct_callargs *a, int right, ct_value *out)
{
    static const char *const p[] = { "sep" };
    ct_value s[1];
    if (ct_bind(c, right ? "rpartition" : "partition", p, 1, a, s) != 0) return -1;
    if (req_str(c, "partition", s[0]) != 0) return -1;
    if (s[0].u.s->len == 0) return ct_fail(c, HUBRT_ERR_FORMAT, "ValueError: empty separator");
    const char *d = self.u.s->data;
    size_t n = self.u.s->len, k = s[0].u.s->len;
    const char *hit = right ? rmemmem(d, n, s[0].u.s->data, k) : memmem(d, n, s[0].u.s->data, k);
    size_t b[6];
    if (hit) {
        size_t h = (size_t)(hit - d);
        size_t v[6] = { 0, h, h, h + k, h + k, n };
        memcpy(b, v, sizeof v);
    } else if (right) {
        size_t v[6] = { 0, 0, 0, 0, 0, n };
        memcpy(b, v, sizeof v);
    } else {
        size_t v[6] = { 0, n, n, n, n, n };
        memcpy(b, v, sizeof v);
    }
    if (ct_list_new(c, 3, out) != 0) return -1;
    out->flags = CT_F_TUPLE;
    for (int i = 0; i < 3; i++) {
        ct_value part;
        if (new_substr(c, self, b[2 * i], b[2 * i + 1], &part) != 0) { ct_unref(*out); return -1; }
        out->u.l->items[out->u.l->n++] = part;
    }
    return 0;
}

static int s_pad(ct_ctx *c, ct_value self, const ct_callargs *a, int id, ct_value *out)
{
    static const char *const p[] = { "width", "fillchar" };
    ct_value s[2];
    if (ct_bind(c, method_names[id], p, 2, a, s) != 0) return -1;
    int64_t width;
    if (s[0].kind == CT_MISSING) return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %s() needs a width", method_names[id]);
    if (opt_int(c, "width", s[0], 0, &width) != 0) return -1;
    const char *fill = " ";
    size_t fn = 1;
    if (s[1].kind != CT_MISSING) {
        if (req_str(c, method_names[id], s[1]) != 0) return -1;
        if (ct_utf8_count(s[1].u.s->data, s[1].u.s->len) != 1)
            return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: The fill character must be exactly one character long");
        fill = s[1].u.s->data;
        fn = s[1].u.s->len;
    }
    size_t n = cp_index(self.u.s, self.u.s->len);
    if (width > (int64_t)c->max_output) width = (int64_t)c->max_output;
    if ((int64_t)n >= width) { *out = ct_copy(self); return 0; }
    size_t marg = (size_t)width - n, left;
    if (id == M_LJUST) left = 0;
    else if (id == M_RJUST) left = marg;
    else if (id == M_ZFILL) left = marg;
    else left = marg / 2 + (marg & (size_t)width & 1);
    ct_sb b;
    ct_sb_init(&b, c);
    int rc = 0;
    const char *d = self.u.s->data;
    size_t dn = self.u.s->len;
    if (id == M_ZFILL) {
        fill = "0";
        fn = 1;
        if (dn && (d[0] == '+' || d[0] == '-')) {
            rc = ct_sb_addc(&b, d[0]);
            d++;
            dn--;
        }
    }
    for (size_t i = 0; rc == 0 && i < left; i++) rc = ct_sb_add(&b, fill, fn);
    if (rc == 0) rc = ct_sb_add(&b, d, dn);
    for (size_t i = 0; rc == 0 && i < marg - left; i++) rc = ct_sb_add(&b, fill, fn);
    if (rc != 0) { ct_sb_drop(&b); return -1; }
    return ct_sb_finish(&b, out);
}

/* Python's str.title(): a letter after a non-letter is upper case, others lower. */
static int s_title(ct_ctx *c, ct_value self, ct_value *out)
{
    ct_sb b;
    ct_sb_init(&b, c);
    const char *p = self.u.s->data, *end = p + self.u.s->len;
    int prev_cased = 0, rc = 0;
    while (p < end && rc == 0) {
        uint32_t cp;
        int k = ct_utf8_next(p, end, &cp);
        int cased = ct_py_isupper(cp) || ct_py_islower(cp) || ct_title(cp) != cp;
        if (!cased) rc = ct_sb_add(&b, p, (size_t)k);
        else if (prev_cased) rc = ct_case_map(&b, p, (size_t)k, 0);
        else rc = ct_sb_addcp(&b, ct_title(cp));
        prev_cased = cased;
        p += k;
    }
    if (rc != 0) { ct_sb_drop(&b); return -1; }
    return ct_sb_finish(&b, out);
}

static int s_is(ct_value self, int id, ct_value *out)
{
    const char *p = self.u.s->data, *end = p + self.u.s->len;
    int ok = p < end, cased = 0, prev_cased = 0, title_ok = 1;
    if (id == M_ISASCII) { *out = ct_bool(self.u.s->ascii); return 0; }
    if (id == M_ISIDENTIFIER && p < end) {
        uint32_t cp;
        ct_utf8_next(p, end, &cp);
        if (!(ct_py_isalpha(cp) || cp == '_')) ok = 0;
    }
    while (p < end) {
        uint32_t cp;
        p += ct_utf8_next(p, end, &cp);
        int up = ct_py_isupper(cp), lo = ct_py_islower(cp);
        switch (id) {
        case M_ISALNUM: ok &= ct_py_isalnum(cp) && cp != '_'; break;
        case M_ISALPHA: ok &= ct_py_isalpha(cp); break;
        case M_ISDECIMAL:
        case M_ISDIGIT:
        case M_ISNUMERIC: ok &= ct_py_isdigit(cp); break;
        case M_ISIDENTIFIER: ok &= ct_py_isalnum(cp); break;
        case M_ISSPACE: ok &= ct_py_isspace(cp); break;
        case M_ISPRINTABLE: ok &= ct_py_isprintable(cp); break;
        case M_ISLOWER: if (up) ok = 0; cased |= lo; break;
        case M_ISUPPER: if (lo) ok = 0; cased |= up; break;
        case M_ISTITLE:
            if (up) { if (prev_cased) title_ok = 0; prev_cased = 1; cased = 1; }
            else if (lo) { if (!prev_cased) title_ok = 0; prev_cased = 1; cased = 1; }
            else prev_cased = 0;
            break;
        }
    }
    if (id == M_ISPRINTABLE && self.u.s->len == 0) ok = 1;
    if (id == M_ISLOWER || id == M_ISUPPER) ok = ok && cased;
    if (id == M_ISTITLE) ok = cased && title_ok;
    *out = ct_bool(ok);
    return 0;
}

/* str.format(): {}, {0}, {name}, with .attr / [key] and !r/!s and a simple spec. */
static int format_spec_apply(ct_ctx *c, ct_sb *b, ct_value v, const char *spec, size_t n);

static int s_format(ct_ctx *c, ct_value self, const ct_callargs *a, ct_value *out)
{
    const char *p = self.u.s->data, *end = p + self.u.s->len;
    ct_sb b;
    ct_sb_init(&b, c);
    int auto_idx = 0, rc = 0;
    while (p < end && rc == 0) {
        if (*p == '}') {
            if (p + 1 < end && p[1] == '}') { rc = ct_sb_addc(&b, '}'); p += 2; continue; }
            rc = ct_fail(c, HUBRT_ERR_FORMAT, "ValueError: Single '}' encountered in format string");
            break;
        }
        if (*p != '{') { rc = ct_sb_addc(&b, *p++); continue; }
        if (p + 1 < end && p[1] == '{') { rc = ct_sb_addc(&b, '{'); p += 2; continue; }
        const char *q = ++p;
        int depth = 1;
        while (q < end && depth) { if (*q == '{') depth++; else if (*q == '}') depth--; if (depth) q++; }
        if (q >= end) { rc = ct_fail(c, HUBRT_ERR_FORMAT, "ValueError: expected '}' before end of string"); break; }
        const char *fend = p;
        while (fend < q && *fend != '!' && *fend != ':') fend++;
        const char *name_end = p;
        while (name_end < fend && *name_end != '.' && *name_end != '[') name_end++;
        ct_value v;
        if (name_end == p) {
            if (auto_idx >= a->npos) { rc = ct_fail(c, HUBRT_ERR_FORMAT, "IndexError: Replacement index %d out of range for positional args tuple", auto_idx); break; }
            v = ct_copy(a->pos[auto_idx++]);
        } else if (*p >= '0' && *p <= '9') {
            long idx = strtol(p, NULL, 10);
            if (idx >= a->npos) { rc = ct_fail(c, HUBRT_ERR_FORMAT, "IndexError: Replacement index %ld out of range for positional args tuple", idx); break; }
            v = ct_copy(a->pos[idx]);
        } else {
            int k;
            for (k = 0; k < a->nkw; k++)
                if (a->kwname[k]->len == (size_t)(name_end - p) && !memcmp(a->kwname[k]->data, p, (size_t)(name_end - p))) break;
            if (k == a->nkw) { rc = ct_fail(c, HUBRT_ERR_FORMAT, "KeyError: '%.*s'", (int)(name_end - p), p); break; }
            v = ct_copy(a->kwval[k]);
        }
        const char *r = name_end;
        while (rc == 0 && r < fend) {
            ct_value key, next;
            if (*r == '.') {
                const char *s0 = ++r;
                while (r < fend && *r != '.' && *r != '[') r++;
                rc = ct_str_new(c, s0, (size_t)(r - s0), &key);
            } else {
                const char *s0 = ++r;
                while (r < fend && *r != ']') r++;
                int digits = r > s0;
                for (const char *t = s0; t < r; t++) digits &= *t >= '0' && *t <= '9';
                if (digits && r - s0 < 18) key = ct_int(strtoll(s0, NULL, 10));
                else rc = ct_str_new(c, s0, (size_t)(r - s0), &key);
                if (r < fend) r++;
            }
            if (rc != 0) break;
            rc = key.kind == CT_STR && r[-1] != ']' ? ct_getattr(c, v, key.u.s, &next) : ct_getitem(c, v, key, &next);
            ct_unref(key);
            ct_unref(v);
            v = rc == 0 ? next : ct_none();
        }
        if (rc != 0) { ct_unref(v); break; }
        int conv = 0;
        const char *spec = q, *sp = fend;
        if (sp < q && *sp == '!') { conv = sp + 1 < q ? sp[1] : 0; sp += 2; }
        if (sp < q && *sp == ':') spec = sp + 1;
        if (conv == 'r' || conv == 'a') {
            ct_sb rb;
            ct_sb_init(&rb, c);
            rc = ct_write_repr(c, &rb, v, 0);
            ct_unref(v);
            if (rc == 0) rc = ct_sb_finish(&rb, &v);
            else { ct_sb_drop(&rb); break; }
        } else if (conv == 's') {
            ct_value sv;
            rc = ct_to_str(c, v, &sv);
            ct_unref(v);
            v = rc == 0 ? sv : ct_none();
        }
        if (rc == 0) rc = format_spec_apply(c, &b, v, spec, (size_t)(q - spec));
        ct_unref(v);
        p = q + 1;
    }
    if (rc != 0) { ct_sb_drop(&b); return -1; }
    return ct_sb_finish(&b, out);
}

/* A format spec [[fill]align][sign][0][width][,][.precision][type] applied to v. */
static int format_spec_apply(ct_ctx *c, ct_sb *b, ct_value v, const char *spec, size_t n)
{
    if (n == 0) return ct_write_str(c, b, v);
    const char *p = spec, *end = spec + n;
    char fill[5] = " ", align = 0, sign = 0, type = 0;
    int zero = 0, width = 0, prec = -1;
    uint32_t cp;
    int k = ct_utf8_next(p, end, &cp);
    if (p + k < end && strchr("<>^=", p[k])) {
        memcpy(fill, p, (size_t)k);
        fill[k] = '\0';
        align = p[k];
        p += k + 1;
    } else if (strchr("<>^=", *p)) {
        align = *p++;
    }
    if (p < end && strchr("+- ", *p)) sign = *p++;
    if (p < end && *p == '0') { zero = 1; p++; }
    while (p < end && *p >= '0' && *p <= '9' && width < 100000) width = width * 10 + (*p++ - '0');
    if (p < end && *p == ',') p++;
    if (p < end && *p == '.') {
        prec = 0;
        p++;
        while (p < end && *p >= '0' && *p <= '9' && prec < 1000) prec = prec * 10 + (*p++ - '0');
    }
    if (p < end) type = *p++;
    if (p != end) return ct_fail(c, HUBRT_ERR_FORMAT, "ValueError: Invalid format specifier");
    char num[512];
    ct_value body;
    int is_num = ct_is_num(v) && v.kind != CT_BOOL;
    if (v.kind == CT_BOOL && type) is_num = 1;
    if (is_num && type != 's') {
        double f = v.kind == CT_FLOAT ? v.u.f : (double)v.u.i;
        char fmt[32];
        int pr = prec < 0 ? 6 : prec;
        switch (type) {
        case 'd':
            if (v.kind == CT_FLOAT) return ct_fail(c, HUBRT_ERR_FORMAT, "ValueError: Unknown format code 'd' for object of type 'float'");
            snprintf(fmt, sizeof fmt, "%%%s%s", sign == '+' ? "+" : sign == ' ' ? " " : "", "lld");
            snprintf(num, sizeof num, fmt, (long long)v.u.i);
            break;
        case 'x': case 'X': case 'o': case 'b':
            if (v.kind == CT_FLOAT) return ct_fail(c, HUBRT_ERR_FORMAT, "ValueError: Unknown format code '%c' for object of type 'float'", type);
            if (type == 'b') {
                uint64_t u = v.u.i < 0 ? (uint64_t)0 - (uint64_t)v.u.i : (uint64_t)v.u.i;
                char t[70];
                int m = 0;
                do { t[m++] = (char)('0' + (u & 1)); u >>= 1; } while (u);
                int o = 0;
                if (v.u.i < 0) num[o++] = '-';
                while (m) num[o++] = t[--m];
                num[o] = '\0';
            } else {
                snprintf(fmt, sizeof fmt, "%%%s", type == 'x' ? "llx" : type == 'X' ? "llX" : "llo");
                if (v.u.i < 0) { num[0] = '-'; snprintf(num + 1, sizeof num - 1, fmt, (unsigned long long)(0 - (uint64_t)v.u.i)); }
                else snprintf(num, sizeof num, fmt, (unsigned long long)v.u.i);
            }
            break;
        case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': case '%':
            if (type == '%') f *= 100;
            snprintf(fmt, sizeof fmt, "%%%s.%d%c", sign == '+' ? "+" : sign == ' ' ? " " : "", pr,
                     type == '%' ? 'f' : type);
            snprintf(num, sizeof num, fmt, f);
            if (type == '%') strncat(num, "%", sizeof num - strlen(num) - 1);
            break;
        case 0:
            if (prec >= 0 && v.kind == CT_FLOAT) {
                snprintf(fmt, sizeof fmt, "%%.%dg", prec ? prec : 1);
                snprintf(num, sizeof num, fmt, f);
            } else if (v.kind == CT_FLOAT) {
                ct_format_float(f, num);
            } else {
                snprintf(num, sizeof num, sign == '+' ? "%+lld" : "%lld", (long long)v.u.i);
            }
            break;
        default:
            return ct_fail(c, HUBRT_ERR_FORMAT, "ValueError: Unknown format code '%c'", type);
        }
        if (ct_str_cstr(c, num, &body) != 0) return -1;
        if (!align) align = zero ? '=' : '>';
        if (zero && fill[0] == ' ' && !fill[1]) strcpy(fill, "0");
    } else {
        if (type && type != 's') return ct_fail(c, HUBRT_ERR_FORMAT, "ValueError: Unknown format code '%c' for object of type '%s'", type, ct_type_name(v));
        if (ct_to_str(c, v, &body) != 0) return -1;
        if (prec >= 0) {
            size_t cut = ct_utf8_offset(body.u.s->data, body.u.s->len, (size_t)prec);
            ct_value t;
            int rc = ct_str_new(c, body.u.s->data, cut, &t);
            ct_unref(body);
            if (rc != 0) return -1;
            body = t;
        }
        if (!align) align = '<';
    }
    size_t len = ct_utf8_count(body.u.s->data, body.u.s->len), pad = (size_t)width > len ? (size_t)width - len : 0;
    size_t left = align == '<' ? 0 : align == '^' ? pad / 2 : pad;
    int rc = 0;
    const char *d = body.u.s->data;
    size_t dn = body.u.s->len;
    if (align == '=' && dn && (d[0] == '-' || d[0] == '+' || d[0] == ' ')) {
        rc = ct_sb_addc(b, d[0]);
        d++;
        dn--;
    }
    for (size_t i = 0; rc == 0 && i < left; i++) rc = ct_sb_adds(b, fill);
    if (rc == 0) rc = ct_sb_add(b, d, dn);
    for (size_t i = 0; rc == 0 && i < pad - left; i++) rc = ct_sb_adds(b, fill);
    ct_unref(body);
    return rc;
}

static int str_method(ct_ctx *c, int id, ct_value self, const ct_callargs *a, ct_value *out)
{
    ct_value s[3];
    size_t b, e;
    switch (id) {
    case M_STRIP:
    case M_LSTRIP:
    case M_RSTRIP: {
        static const char *const p[] = { "chars" };
        if (ct_bind(c, method_names[id], p, 1, a, s) != 0 || opt_str(c, "strip arg", s[0]) != 0) return -1;
        int chars = s[0].kind == CT_STR;
        ct_strip(self.u.s->data, self.u.s->len, chars ? s[0].u.s->data : NULL, chars ? s[0].u.s->len : 0,
                 id != M_RSTRIP, id != M_LSTRIP, &b, &e);
        return new_substr(c, self, b, e, out);
    }
    case M_SPLIT: return s_split(c, self, a, 0, out);
    case M_RSPLIT: return s_split(c, self, a, 1, out);
    case M_SPLITLINES: {
        static const char *const p[] = { "keepends" };
        if (ct_bind(c, "splitlines", p, 1, a, s) != 0) return -1;
        int keep = ct_truthy(arg_or(s[0], ct_bool(0)));
        if (ct_list_new(c, 0, out) != 0) return -1;
        const char *d = self.u.s->data, *end = d + self.u.s->len, *line = d, *q = d;
        while (q < end) {
            uint32_t cp;
            int k = ct_utf8_next(q, end, &cp);
            if (cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || (cp >= 0x1C && cp <= 0x1E) || cp == 0x85 ||
                cp == 0x2028 || cp == 0x2029) {
                const char *next = q + k;
                if (cp == '\r' && next < end && *next == '\n') next++;
                ct_value part;
                if (new_substr(c, self, (size_t)(line - d), (size_t)((keep ? next : q) - d), &part) != 0 ||
                    ct_list_push(c, out->u.l, part) != 0) { ct_unref(*out); return -1; }
                line = q = next;
            } else {
                q += k;
            }
        }
        if (line < end) {
            ct_value part;
            if (new_substr(c, self, (size_t)(line - d), self.u.s->len, &part) != 0 || ct_list_push(c, out->u.l, part) != 0) {
                ct_unref(*out);
                return -1;
            }
        }
        return 0;
    }
    case M_STARTSWITH: return s_affix(c, self, a, 0, out);
    case M_ENDSWITH: return s_affix(c, self, a, 1, out);
    case M_UPPER:
    case M_LOWER:
    case M_CASEFOLD:
    case M_SWAPCASE:
    case M_CAPITALIZE: {
        if (a->npos || a->nkw) return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %s() takes no arguments", method_names[id]);
        ct_sb sb;
        ct_sb_init(&sb, c);
        int rc;
        if (id == M_CAPITALIZE) {
            const char *p = self.u.s->data, *end = p + self.u.s->len;
            rc = 0;
            if (p < end) {
                uint32_t cp;
                int k = ct_utf8_next(p, end, &cp);
                rc = ct_sb_addcp(&sb, ct_title(cp));
                if (rc == 0) rc = ct_case_map(&sb, p + k, (size_t)(end - p - k), 0);
            }
        } else {
            rc = ct_case_map(&sb, self.u.s->data, self.u.s->len, id == M_UPPER ? 1 : id == M_SWAPCASE ? 2 : 0);
        }
        if (rc != 0 || ct_sb_finish(&sb, out) != 0) { ct_sb_drop(&sb); return -1; }
        out->flags = self.flags & CT_F_SAFE;
        return 0;
    }
    case M_TITLE:
        if (a->npos || a->nkw) return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: title() takes no arguments");
        return s_title(c, self, out);
    case M_REPLACE: {
        static const char *const p[] = { "old", "new", "count" };
        int64_t count;
        if (ct_bind(c, "replace", p, 3, a, s) != 0 || req_str(c, "replace", s[0]) != 0 || req_str(c, "replace", s[1]) != 0 ||
            opt_int(c, "replace count", s[2], -1, &count) != 0)
            return -1;
        if (ct_str_replace(c, self.u.s, s[0].u.s, s[1].u.s, count, out) != 0) return -1;
        out->flags = self.flags & CT_F_SAFE;
        return 0;
    }
    case M_FIND:
    case M_RFIND:
    case M_INDEX:
    case M_RINDEX:
    case M_COUNT: return s_find(c, self, a, id, out);
    case M_FORMAT: return s_format(c, self, a, out);
    case M_JOIN: {
        static const char *const p[] = { "iterable" };
        ct_value items;
        if (ct_bind(c, "join", p, 1, a, s) != 0) return -1;
        if (s[0].kind == CT_MISSING) return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: join() takes exactly one argument");
        if (ct_iterate(c, s[0], &items) != 0) return -1;
        ct_sb sb;
        ct_sb_init(&sb, c);
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < items.u.l->n; i++) {
            ct_value it = items.u.l->items[i];
            if (it.kind != CT_STR) {
                rc = ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: sequence item %zu: expected str instance, %s found", i,
                             ct_type_name(it));
                break;
            }
            if (i) rc = ct_sb_add(&sb, self.u.s->data, self.u.s->len);
            if (rc == 0) rc = ct_sb_add(&sb, it.u.s->data, it.u.s->len);
        }
        ct_unref(items);
        if (rc != 0) { ct_sb_drop(&sb); return -1; }
        return ct_sb_finish(&sb, out);
    }
    case M_PARTITION: return s_partition(c, self, a, 0, out);
    case M_RPARTITION: return s_partition(c, self, a, 1, out);
    case M_CENTER:
    case M_LJUST:
    case M_RJUST:
    case M_ZFILL: return s_pad(c, self, a, id, out);
    case M_REMOVEPREFIX:
    case M_REMOVESUFFIX: {
        static const char *const p[] = { "affix" };
        if (ct_bind(c, method_names[id], p, 1, a, s) != 0 || req_str(c, method_names[id], s[0]) != 0) return -1;
        size_t k = s[0].u.s->len, n = self.u.s->len;
        if (k <= n && id == M_REMOVEPREFIX && memcmp(self.u.s->data, s[0].u.s->data, k) == 0)
            return new_substr(c, self, k, n, out);
        if (k <= n && id == M_REMOVESUFFIX && k && memcmp(self.u.s->data + n - k, s[0].u.s->data, k) == 0)
            return new_substr(c, self, 0, n - k, out);
        *out = ct_copy(self);
        return 0;
    }
    case M_ISALNUM: case M_ISALPHA: case M_ISASCII: case M_ISDECIMAL: case M_ISDIGIT: case M_ISIDENTIFIER:
    case M_ISLOWER: case M_ISNUMERIC: case M_ISPRINTABLE: case M_ISSPACE: case M_ISTITLE: case M_ISUPPER:
        if (a->npos || a->nkw) return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %s() takes no arguments", method_names[id]);
        return s_is(self, id, out);
    default:
        return ct_fail(c, HUBRT_ERR_UNSUPPORTED, "str.%s() is not supported in chat templates", method_names[id]);
    }
}

static int dict_method(ct_ctx *c, int id, ct_value self, const ct_callargs *a, ct_value *out)
{
    const ct_dict *d = self.u.d;
    if (id == M_D_GET) {
        static const char *const p[] = { "key", "default" };
        ct_value s[2], v;
        if (ct_bind(c, "get", p, 2, a, s) != 0) return -1;
        if (s[0].kind == CT_MISSING) return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: get expected at least 1 argument, got 0");
        int found = ct_dict_get(c, d, s[0], &v);
        if (found < 0) return -1;
        *out = ct_copy(found ? v : arg_or(s[1], ct_none()));
        return 0;
    }
    if (a->npos || a->nkw) return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %s() takes no arguments", method_names[id]);
    switch (id) {
    case M_D_KEYS:
    case M_D_VALUES:
        if (ct_list_new(c, d->n, out) != 0) return -1;
        for (size_t i = 0; i < d->n; i++) out->u.l->items[out->u.l->n++] = ct_copy(id == M_D_KEYS ? d->keys[i] : d->vals[i]);
        return 0;
    case M_D_ITEMS:
        if (ct_list_new(c, d->n, out) != 0) return -1;
        for (size_t i = 0; i < d->n; i++) {
            ct_value pair;
            if (ct_list_new(c, 2, &pair) != 0) { ct_unref(*out); return -1; }
            pair.flags = CT_F_TUPLE;
            pair.u.l->items[0] = ct_copy(d->keys[i]);
            pair.u.l->items[1] = ct_copy(d->vals[i]);
            pair.u.l->n = 2;
            out->u.l->items[out->u.l->n++] = pair;
        }
        return 0;
    case M_D_COPY:
        if (ct_dict_new(c, out) != 0) return -1;
        for (size_t i = 0; i < d->n; i++)
            if (ct_dict_set(c, out->u.d, ct_copy(d->keys[i]), ct_copy(d->vals[i])) != 0) { ct_unref(*out); return -1; }
        return 0;
    default:
        return ct_fail(c, HUBRT_ERR_UNSUPPORTED, "dict.%s() is not supported in chat templates", method_names[id]);
    }
}

static int list_method(ct_ctx *c, int id, ct_value self, const ct_callargs *a, ct_value *out)
{
    const ct_list *l = self.u.l;
    if (id == M_L_COPY) {
        if (ct_list_new(c, l->n, out) != 0) return -1;
        for (size_t i = 0; i < l->n; i++) out->u.l->items[out->u.l->n++] = ct_copy(l->items[i]);
        return 0;
    }
    static const char *const p[] = { "value", "start", "stop" };
    ct_value s[3];
    if (ct_bind(c, method_names[id], p, id == M_L_INDEX ? 3 : 1, a, s) != 0) return -1;
    if (s[0].kind == CT_MISSING) return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %s() takes at least 1 argument", method_names[id]);
    int64_t n = (int64_t)l->n, st = 0, en = n;
    if (id == M_L_INDEX && (opt_int(c, "index start", s[1], 0, &st) != 0 || opt_int(c, "index stop", s[2], n, &en) != 0)) return -1;
    if (st < 0) { st += n; if (st < 0) st = 0; }
    if (en < 0) { en += n; if (en < 0) en = 0; }
    if (en > n) en = n;
    int64_t count = 0;
    for (int64_t i = st; i < en; i++) {
        int eq;
        if (ct_equal(c, l->items[i], s[0], &eq) != 0) return -1;
        if (!eq) continue;
        if (id == M_L_INDEX) { *out = ct_int(i); return 0; }
        count++;
    }
    if (id == M_L_INDEX) return ct_fail(c, HUBRT_ERR_FORMAT, "ValueError: value is not in list");
    *out = ct_int(count);
    return 0;
}

static int loop_method(ct_ctx *c, int id, ct_value self, const ct_callargs *a, ct_value *out)
{
    ct_loop *l = self.u.loop;
    if (id == M_LOOP_CYCLE) {
        if (a->npos == 0) return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: no items for cycling given");
        *out = ct_copy(a->pos[l->index0 % (size_t)a->npos]);
        return 0;
    }
    ct_value now;
    if (ct_list_new(c, (size_t)a->npos, &now) != 0) return -1;
    for (int i = 0; i < a->npos; i++) now.u.l->items[now.u.l->n++] = ct_copy(a->pos[i]);
    int eq = 0;
    if (l->last_changed.kind != CT_MISSING && ct_equal(c, l->last_changed, now, &eq) != 0) { ct_unref(now); return -1; }
    if (eq) {
        ct_unref(now);
        *out = ct_bool(0);
        return 0;
    }
    ct_unref(l->last_changed);
    l->last_changed = now;
    *out = ct_bool(1);
    return 0;
}

int ct_method_call(ct_ctx *c, const ct_func *fn, const ct_callargs *a, ct_value *out)
{
    ct_value self = fn->self;
    if (fn->id < M_STR_END) return str_method(c, fn->id, self, a, out);
    if (fn->id < M_DICT_END) return dict_method(c, fn->id, self, a, out);
    if (fn->id < M_LIST_END) return list_method(c, fn->id, self, a, out);
    return loop_method(c, fn->id, self, a, out);
}

/* ---- %-formatting --------------------------------------------------------------------------- */

int ct_percent_format(ct_ctx *c, ct_sb *b, ct_value fmt, ct_value args)
{
    const char *p = fmt.u.s->data, *end = p + fmt.u.s->len;
    const ct_value *items = &args;
    size_t nitems = 1, next = 0;
    int is_tuple = args.kind == CT_LIST && (args.flags & CT_F_TUPLE);
    if (is_tuple) {
        items = args.u.l->items;
        nitems = args.u.l->n;
    }
    int used_mapping = 0;
    while (p < end) {
        if (*p != '%') {
            const char *q = memchr(p, '%', (size_t)(end - p));
            if (!q) q = end;
            if (ct_sb_add(b, p, (size_t)(q - p)) != 0) return -1;
            p = q;
            continue;
        }
        p++;
        if (p >= end) return ct_fail(c, HUBRT_ERR_FORMAT, "ValueError: incomplete format");
        if (*p == '%') {
            if (ct_sb_addc(b, '%') != 0) return -1;
            p++;
            continue;
        }
        ct_value v;
        int have = 0;
        if (*p == '(') {
            const char *q = memchr(p, ')', (size_t)(end - p));
            if (!q) return ct_fail(c, HUBRT_ERR_FORMAT, "ValueError: incomplete format key");
            if (args.kind != CT_DICT) return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: format requires a mapping");
            const ct_value *hit = ct_dict_get_str(args.u.d, p + 1, (size_t)(q - p - 1));
            if (!hit) return ct_fail(c, HUBRT_ERR_FORMAT, "KeyError: '%.*s'", (int)(q - p - 1), p + 1);
            v = *hit;
            have = 1;
            used_mapping = 1;
            p = q + 1;
        }
        char flags[8];
        int nf = 0;
        while (p < end && strchr("-+ #0", *p) && nf < 7) flags[nf++] = *p++;
        flags[nf] = '\0';
        int width = -1, prec = -1;
        if (p < end && *p == '*') {
            if (next >= nitems || (items[next].kind != CT_INT)) return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: * wants int");
            width = (int)(items[next++].u.i % 100000);
            p++;
        } else {
            while (p < end && *p >= '0' && *p <= '9') { width = (width < 0 ? 0 : width) * 10 + (*p++ - '0'); if (width > 100000) width = 100000; }
        }
        if (p < end && *p == '.') {
            p++;
            prec = 0;
            while (p < end && *p >= '0' && *p <= '9') { prec = prec * 10 + (*p++ - '0'); if (prec > 1000) prec = 1000; }
        }
        while (p < end && (*p == 'l' || *p == 'h' || *p == 'L')) p++;
        if (p >= end) return ct_fail(c, HUBRT_ERR_FORMAT, "ValueError: incomplete format");
        char type = *p++;
        if (!have) {
            if (next >= nitems) return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: not enough arguments for format string");
            v = items[next++];
        }
        char spec[48], num[1200];
        ct_value text = ct_none();
        int rc = 0, padded = 0;
        switch (type) {
        case 's':
        case 'r':
        case 'a': {
            ct_sb t;
            ct_sb_init(&t, c);
            rc = type == 's' ? ct_write_str(c, &t, v) : ct_write_repr(c, &t, v, 0);
            if (rc == 0 && prec >= 0) {
                size_t cut = ct_utf8_offset(ct_sb_data(&t), ct_sb_len(&t), (size_t)prec);
                if (t.s) { t.s->len = cut; t.s->data[cut] = '\0'; }
            }
            if (rc == 0) rc = ct_sb_finish(&t, &text);
            else ct_sb_drop(&t);
            break;
        }
        case 'd': case 'i': case 'u': case 'x': case 'X': case 'o': case 'c':
        case 'f': case 'F': case 'e': case 'E': case 'g': case 'G':
            if (v.kind == CT_UNDEF) return ct_fail_undef(c, v);
            if (!ct_is_num(v))
                return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %%%c format: a real number is required, not %s", type,
                               ct_type_name(v));
            if (width > 1000) width = 1000;
            if (type == 'c') {
                long long cv = v.kind == CT_FLOAT ? -1 : (long long)v.u.i;
                if (cv < 0 || cv > 0x10FFFF) return ct_fail(c, HUBRT_ERR_FORMAT, "OverflowError: %%c arg not in range(0x110000)");
                int k = ct_utf8_put(num, (uint32_t)cv);
                num[k] = '\0';
            } else if (strchr("diuxXo", type)) {
                if (v.kind == CT_FLOAT && !(isfinite(v.u.f) && fabs(v.u.f) < 9.2e18))
                    return ct_fail(c, HUBRT_ERR_FORMAT, "OverflowError: cannot convert float to integer");
                long long iv = v.kind == CT_FLOAT ? (long long)v.u.f : (long long)v.u.i;
                const char *conv = type == 'x' ? "llx" : type == 'X' ? "llX" : type == 'o' ? "llo" : "lld";
                if (prec >= 0) snprintf(spec, sizeof spec, "%%%s%d.%d%s", flags, width < 0 ? 0 : width, prec, conv);
                else snprintf(spec, sizeof spec, "%%%s%d%s", flags, width < 0 ? 0 : width, conv);
                snprintf(num, sizeof num, spec, iv);
                padded = 1;
            } else {
                double f = v.kind == CT_FLOAT ? v.u.f : (double)v.u.i;
                snprintf(spec, sizeof spec, "%%%s%d.%d%c", flags, width < 0 ? 0 : width, prec >= 0 ? prec : 6, type);
                snprintf(num, sizeof num, spec, f);
                padded = 1;
            }
            rc = ct_str_cstr(c, num, &text);
            break;
        default:
            return ct_fail(c, HUBRT_ERR_FORMAT, "ValueError: unsupported format character '%c'", type);
        }
        if (padded) width = -1;
        if (rc != 0) return -1;
        size_t len = ct_utf8_count(text.u.s->data, text.u.s->len);
        int left = strchr(flags, '-') != NULL;
        size_t pad = width > 0 && (size_t)width > len ? (size_t)width - len : 0;
        for (size_t i = 0; rc == 0 && !left && i < pad; i++) rc = ct_sb_addc(b, ' ');
        if (rc == 0) rc = ct_sb_add(b, text.u.s->data, text.u.s->len);
        for (size_t i = 0; rc == 0 && left && i < pad; i++) rc = ct_sb_addc(b, ' ');
        ct_unref(text);
        if (rc != 0) return -1;
    }
    if (!used_mapping && next < nitems && (is_tuple || args.kind != CT_DICT))
        return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: not all arguments converted during string formatting");
    return 0;
}

/* ---- globals ------------------------------------------------------------------------------------ */

enum { G_RANGE, G_DICT, G_NAMESPACE, G_LIPSUM, G_CYCLER, G_JOINER, G_RAISE_EXCEPTION, G_STRFTIME_NOW, G_END };
static const char *const global_names[G_END] = {
    "range", "dict", "namespace", "lipsum", "cycler", "joiner", "raise_exception", "strftime_now"
};

int ct_global_id(const char *name, size_t n)
{
    for (int i = 0; i < G_END; i++)
        if (strlen(global_names[i]) == n && memcmp(global_names[i], name, n) == 0) return i;
    return -1;
}

const char *ct_global_name(int id) { return id >= 0 && id < G_END ? global_names[id] : "?"; }

int ct_global_value(ct_ctx *c, int id, ct_value *out)
{
    ct_func *f = calloc(1, sizeof *f);
    if (!f) return ct_fail_nomem(c);
    f->h.refs = 1;
    f->h.type = CT_O_FUNC;
    f->kind = CT_FN_GLOBAL;
    f->id = (uint16_t)id;
    f->self = ct_none();
    f->caller = ct_missing();
    *out = ct_mk(CT_FUNC);
    out->u.fn = f;
    return 0;
}

/* dict(...) / namespace(...): from a mapping or pairs, then keywords. */
static int fill_dict(ct_ctx *c, const char *name, const ct_callargs *a, ct_dict *d)
{
    if (a->npos > 1) return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %s expected at most 1 argument, got %d", name, a->npos);
    if (a->npos == 1) {
        ct_value src = a->pos[0];
        if (src.kind == CT_DICT || src.kind == CT_NS) {
            for (size_t i = 0; i < src.u.d->n; i++)
                if (ct_dict_set(c, d, ct_copy(src.u.d->keys[i]), ct_copy(src.u.d->vals[i])) != 0) return -1;
        } else {
            ct_value items;
            if (ct_iterate(c, src, &items) != 0) return -1;
            for (size_t i = 0; i < items.u.l->n; i++) {
                ct_value pair;
                if (ct_iterate(c, items.u.l->items[i], &pair) != 0) { ct_unref(items); return -1; }
                int rc = 0;
                if (pair.u.l->n != 2)
                    rc = ct_fail(c, HUBRT_ERR_FORMAT, "ValueError: dictionary update sequence element #%zu has length %zu; 2 is required",
                                 i, pair.u.l->n);
                else
                    rc = ct_dict_set(c, d, ct_copy(pair.u.l->items[0]), ct_copy(pair.u.l->items[1]));
                ct_unref(pair);
                if (rc != 0) { ct_unref(items); return -1; }
            }
            ct_unref(items);
        }
    }
    for (int k = 0; k < a->nkw; k++)
        if (ct_dict_set(c, d, ct_copy(ct_strv(a->kwname[k])), ct_copy(a->kwval[k])) != 0) return -1;
    return 0;
}

static int g_range(ct_ctx *c, const ct_callargs *a, ct_value *out)
{
    if (a->nkw) return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: range() takes no keyword arguments");
    if (a->npos < 1 || a->npos > 3)
        return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: range expected 1 to 3 arguments, got %d", a->npos);
    int64_t v[3];
    for (int i = 0; i < a->npos; i++) {
        ct_value x = a->pos[i];
        if (x.kind == CT_UNDEF) return ct_fail_undef(c, x);
        if (x.kind != CT_INT && x.kind != CT_BOOL)
            return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: '%s' object cannot be interpreted as an integer", ct_type_name(x));
        v[i] = x.u.i;
    }
    int64_t start = a->npos == 1 ? 0 : v[0], stop = a->npos == 1 ? v[0] : v[1], step = a->npos == 3 ? v[2] : 1;
    if (step == 0) return ct_fail(c, HUBRT_ERR_FORMAT, "ValueError: range() arg 3 must not be zero");
    /* the number of items, computed without overflow */
    uint64_t n = 0;
    if (step > 0 && start < stop) n = ((uint64_t)stop - (uint64_t)start - 1) / (uint64_t)step + 1;
    if (step < 0 && start > stop) n = ((uint64_t)start - (uint64_t)stop - 1) / ((uint64_t)0 - (uint64_t)step) + 1;
    if (n > MAX_RANGE)
        return ct_fail(c, HUBRT_ERR_RANGE, "OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).", MAX_RANGE);
    if (ct_work(c, n * sizeof(ct_value)) != 0 || ct_list_new(c, (size_t)n, out) != 0) return -1;
    int64_t x = start;
    for (uint64_t i = 0; i < n; i++, x += (i < n ? step : 0)) out->u.l->items[out->u.l->n++] = ct_int(x);
    return 0;
}

int ct_global_call(ct_ctx *c, int id, const ct_callargs *a, ct_value *out)
{
    switch (id) {
    case G_RANGE: return g_range(c, a, out);
    case G_DICT:
        if (ct_dict_new(c, out) != 0) return -1;
        if (fill_dict(c, "dict", a, out->u.d) != 0) { ct_unref(*out); return -1; }
        return 0;
    case G_NAMESPACE: {
        if (ct_dict_new(c, out) != 0) return -1;
        out->kind = CT_NS;
        if (fill_dict(c, "namespace", a, out->u.d) != 0) { ct_unref(*out); return -1; }
        /* kept to be emptied after rendering: a namespace can hold itself */
        if (c->n_ns == c->cap_ns) {
            size_t cap = c->cap_ns ? c->cap_ns * 2 : 16;
            ct_value *ns = realloc(c->namespaces, cap * sizeof *ns);
            if (!ns) { ct_unref(*out); return ct_fail_nomem(c); }
            c->namespaces = ns;
            c->cap_ns = cap;
        }
        c->namespaces[c->n_ns++] = ct_copy(*out);
        return 0;
    }
    case G_RAISE_EXCEPTION: {
        static const char *const p[] = { "message" };
        ct_value s[1], msg;
        if (ct_bind(c, "raise_exception", p, 1, a, s) != 0) return -1;
        if (s[0].kind == CT_MISSING)
            return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: raise_exception() missing 1 required positional argument: 'message'");
        if (ct_to_str(c, s[0], &msg) != 0) return -1;
        /* the template's own message, reported as it is */
        if (!c->status) {
            ct_fail(c, HUBRT_ERR_INVALID_ARG, "%s", msg.u.s->data);
            c->raised = 1;
        }
        ct_unref(msg);
        return -1;
    }
    case G_STRFTIME_NOW: {
        static const char *const p[] = { "format" };
        ct_value s[1];
        if (ct_bind(c, "strftime_now", p, 1, a, s) != 0) return -1;
        if (req_str(c, "strftime_now", s[0]) != 0) return -1;
        ct_sb b;
        ct_sb_init(&b, c);
        if (ct_strftime(c, &b, s[0].u.s->data, s[0].u.s->len) != 0) { ct_sb_drop(&b); return -1; }
        return ct_sb_finish(&b, out);
    }
    default:
        return ct_fail(c, HUBRT_ERR_UNSUPPORTED, "%s() is not supported in chat templates", ct_global_name(id));
    }
}
