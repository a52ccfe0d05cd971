/*
 * chat/value.c — the values of the chat-template engine, with the Python
 * semantics jinja2 gives them: refcounted strings, lists (also tuples and
 * generators), insertion-ordered dicts; str() and repr(); equality, ordering,
 * hashing and len(); and the engine's error and limit bookkeeping.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/ct_internal.h"
#include "include/hubrt.h"

#define CT_MAX_NEST 256   /* nesting of values walked by repr, ==, hash */

/* ---- errors and limits ---------------------------------------------------- */

int ct_fail(ct_ctx *c, int status, const char *fmt, ...)
{
    if (c->status) return -1;
    c->status = status;
    c->err_line = c->line;
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    c->err_msg = malloc((size_t)n + 1);
    if (!c->err_msg) return -1;
    if ((size_t)n < sizeof small) {
        memcpy(c->err_msg, small, (size_t)n + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf(c->err_msg, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int ct_fail_nomem(ct_ctx *c) { return ct_fail(c, HUBRT_ERR_NOMEM, "out of memory"); }

int ct_step(ct_ctx *c)
{
    if (++c->steps > c->max_steps)
        return ct_fail(c, HUBRT_ERR_RANGE,
                       "the template ran more than %" PRIu64 " loop iterations and calls (the limit)",
                       c->max_steps);
    return 0;
}

int ct_work(ct_ctx *c, uint64_t bytes)
{
    c->work += bytes;
    if (c->work > c->max_work)
        return ct_fail(c, HUBRT_ERR_RANGE,
                       "the template did more work than allowed (%" PRIu64 " bytes of values built or scanned)",
                       c->max_work);
    return 0;
}

void ct_ctx_init(ct_ctx *c, const ct_options *opt)
{
    memset(c, 0, sizeof *c);
    c->opt = opt;
    c->max_output = opt && opt->max_output ? opt->max_output : (size_t)64 << 20;
    c->max_steps = opt && opt->max_steps ? opt->max_steps : 10000000;
    c->max_depth = opt && opt->max_depth > 0 ? opt->max_depth : 200;
    c->max_work = opt && opt->max_work ? opt->max_work : (uint64_t)4 << 30;
}

void ct_ctx_clear(ct_ctx *c)
{
    free(c->err_msg);
    c->err_msg = NULL;
}

/* ---- freeing: iterative, so deep nesting cannot overflow the stack ----------- */

static void drop_into(ct_value v, ct_obj **stack)
{
    ct_obj *o = ct_heap(v);
    if (o && !o->immortal && --o->refs == 0) {
        o->next_free = *stack;
        *stack = o;
    }
}

static void drop_obj_into(ct_obj *o, ct_obj **stack)
{
    if (o && !o->immortal && --o->refs == 0) {
        o->next_free = *stack;
        *stack = o;
    }
}

void ct_obj_release(ct_obj *o)
{
    ct_obj *stack = o;
    o->next_free = NULL;
    while (stack) {
        ct_obj *x = stack;
        stack = x->next_free;
        switch (x->type) {
        case CT_O_STR:
            break;
        case CT_O_LIST: {
            ct_list *l = (ct_list *)x;
            for (size_t i = 0; i < l->n; i++) drop_into(l->items[i], &stack);
            free(l->items);
            break;
        }
        case CT_O_DICT: {
            ct_dict *d = (ct_dict *)x;
            for (size_t i = 0; i < d->n; i++) {
                drop_into(d->keys[i], &stack);
                drop_into(d->vals[i], &stack);
            }
            free(d->keys);
            free(d->vals);
            free(d->hashes);
            free(d->index);
            break;
        }
        case CT_O_FUNC: {
            ct_func *f = (ct_func *)x;
            drop_into(f->self, &stack);
            drop_into(f->caller, &stack);
            if (f->closure) drop_obj_into(&f->closure->h, &stack);
            break;
        }
        case CT_O_LOOP: {
            ct_loop *l = (ct_loop *)x;
            drop_into(l->items, &stack);
            drop_into(l->last_changed, &stack);
            break;
        }
        case CT_O_FRAME: {
            ct_frame *f = (ct_frame *)x;
            for (size_t i = 0; i < f->n; i++) drop_into(f->vals[i], &stack);
            free(f->syms);
            free(f->vals);
            if (f->parent) drop_obj_into(&f->parent->h, &stack);
            break;
        }
        }
        free(x);
    }
}

/* ---- strings ----------------------------------------------------------------- */

static int scan_ascii(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] >= 0x80) return 0;
    return 1;
}

void ct_sb_init(ct_sb *b, ct_ctx *c)
{
    b->c = c;
    b->s = NULL;
    b->cap = 0;
}

static int sb_reserve(ct_sb *b, size_t extra)
{
    size_t len = ct_sb_len(b);
    if (extra > b->c->max_output || len + extra > b->c->max_output)
        return ct_fail(b->c, HUBRT_ERR_RANGE,
                       "the template output (or a string in it) is longer than %zu bytes (the limit)",
                       b->c->max_output);
    if (ct_work(b->c, extra) != 0) return -1;
    if (b->s && len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < len + extra) cap *= 2;
    ct_str *s = realloc(b->s, sizeof(ct_str) + cap + 1);
    if (!s) return ct_fail_nomem(b->c);
    if (!b->s) {
        s->h.refs = 1;
        s->h.type = CT_O_STR;
        s->h.immortal = 0;
        s->h.next_free = NULL;
        s->len = 0;
        s->ascii = 0;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

int ct_sb_add(ct_sb *b, const char *p, size_t n)
{
    if (n == 0) return 0;
    if (sb_reserve(b, n) != 0) return -1;
    memcpy(b->s->data + b->s->len, p, n);
    b->s->len += n;
    b->s->data[b->s->len] = '\0';
    return 0;
}

int ct_sb_adds(ct_sb *b, const char *s) { return ct_sb_add(b, s, strlen(s)); }
int ct_sb_addc(ct_sb *b, char ch) { return ct_sb_add(b, &ch, 1); }

int ct_sb_addcp(ct_sb *b, uint32_t cp)
{
    char tmp[4];
    return ct_sb_add(b, tmp, (size_t)ct_utf8_put(tmp, cp));
}

int ct_sb_addf(ct_sb *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return 0;
    return ct_sb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

int ct_sb_finish(ct_sb *b, ct_value *out)
{
    if (!b->s) return ct_str_new(b->c, "", 0, out);
    b->s->data[b->s->len] = '\0';
    b->s->ascii = (uint8_t)scan_ascii(b->s->data, b->s->len);
    *out = ct_strv(b->s);
    b->s = NULL;
    b->cap = 0;
    return 0;
}

void ct_sb_drop(ct_sb *b)
{
    free(b->s);
    b->s = NULL;
    b->cap = 0;
}

int ct_str_new(ct_ctx *c, const char *p, size_t n, ct_value *out)
{
    if (n > c->max_output)
        return ct_fail(c, HUBRT_ERR_RANGE, "a string longer than %zu bytes (the limit)", c->max_output);
    if (ct_work(c, n) != 0) return -1;
    ct_str *s = malloc(sizeof(ct_str) + n + 1);
    if (!s) return ct_fail_nomem(c);
    s->h.refs = 1;
    s->h.type = CT_O_STR;
    s->h.immortal = 0;
    s->h.next_free = NULL;
    s->len = n;
    if (n) memcpy(s->data, p, n);
    s->data[n] = '\0';
    s->ascii = (uint8_t)scan_ascii(p, n);
    *out = ct_strv(s);
    return 0;
}

int ct_str_cstr(ct_ctx *c, const char *s, ct_value *out) { return ct_str_new(c, s, strlen(s), out); }

ct_str *ct_str_immortal(const char *p, size_t n)
{
    ct_str *s = malloc(sizeof(ct_str) + n + 1);
    if (!s) return NULL;
    s->h.refs = 1;
    s->h.type = CT_O_STR;
    s->h.immortal = 1;
    s->h.next_free = NULL;
    s->len = n;
    if (n) memcpy(s->data, p, n);
    s->data[n] = '\0';
    s->ascii = (uint8_t)scan_ascii(p, n);
    return s;
}

void ct_str_immortal_free(ct_str *s) { free(s); }

int ct_undef_msg(ct_ctx *c, ct_value *out, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof tmp) n = sizeof tmp - 1;
    ct_value s;
    if (ct_str_new(c, tmp, (size_t)n, &s) != 0) return -1;
    *out = ct_undef();
    out->u.s = s.u.s;
    return 0;
}

int ct_fail_undef(ct_ctx *c, ct_value v)
{
    if (v.kind == CT_UNDEF && v.u.s) return ct_fail(c, HUBRT_ERR_FORMAT, "%s", v.u.s->data);
    return ct_fail(c, HUBRT_ERR_FORMAT, "an undefined value was used");
}

/* ---- lists and dicts ----------------------------------------------------------- */

int ct_list_new(ct_ctx *c, size_t cap, ct_value *out)
{
    ct_list *l = calloc(1, sizeof *l);
    if (!l) return ct_fail_nomem(c);
    l->h.refs = 1;
    l->h.type = CT_O_LIST;
    if (cap) {
        if (cap > ((size_t)1 << 28)) { free(l); return ct_fail(c, HUBRT_ERR_RANGE, "a list too long"); }
        l->items = malloc(cap * sizeof *l->items);
        if (!l->items) { free(l); return ct_fail_nomem(c); }
        l->cap = cap;
    }
    *out = ct_mk(CT_LIST);
    out->u.l = l;
    return 0;
}

int ct_list_push(ct_ctx *c, ct_list *l, ct_value v)
{
    if (ct_work(c, sizeof(ct_value)) != 0) { ct_unref(v); return -1; }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        ct_value *items = realloc(l->items, cap * sizeof *items);
        if (!items) { ct_unref(v); return ct_fail_nomem(c); }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = v;
    return 0;
}

int ct_dict_new(ct_ctx *c, ct_value *out)
{
    ct_dict *d = calloc(1, sizeof *d);
    if (!d) return ct_fail_nomem(c);
    d->h.refs = 1;
    d->h.type = CT_O_DICT;
    *out = ct_mk(CT_DICT);
    out->u.d = d;
    return 0;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static uint64_t hash_int(int64_t i)
{
    uint64_t x = (uint64_t)i;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

int ct_hash(ct_ctx *c, ct_value v, uint64_t *h, int depth)
{
    if (depth > CT_MAX_NEST) return ct_fail(c, HUBRT_ERR_RANGE, "values nested too deeply");
    switch (v.kind) {
    case CT_NONE: *h = 0x9e3779b97f4a7c15ull; return 0;
    case CT_UNDEF: *h = 0x51ed270b27d7e1b5ull; return 0;
    case CT_BOOL:
    case CT_INT: *h = hash_int(v.u.i); return 0;
    case CT_FLOAT:
        if (v.u.f == floor(v.u.f) && fabs(v.u.f) < 9.2e18) { *h = hash_int((int64_t)v.u.f); return 0; }
        {
            uint64_t bits;
            memcpy(&bits, &v.u.f, sizeof bits);
            *h = hash_int((int64_t)bits);
        }
        return 0;
    case CT_STR: *h = hash_bytes(v.u.s->data, v.u.s->len); return 0;
    case CT_LIST:
        if (v.flags & CT_F_TUPLE) {
            uint64_t acc = 0x345678;
            for (size_t i = 0; i < v.u.l->n; i++) {
                uint64_t e;
                if (ct_hash(c, v.u.l->items[i], &e, depth + 1) != 0) return -1;
                acc = (acc ^ e) * 1000003ull;
            }
            *h = acc;
            return 0;
        }
        if (v.flags & CT_F_GEN) { *h = (uint64_t)(uintptr_t)v.u.l; return 0; }
        break;
    case CT_FUNC:
    case CT_LOOP:
    case CT_NS:
        *h = (uint64_t)(uintptr_t)v.u.o;
        return 0;
    default:
        break;
    }
    return ct_fail(c, HUBRT_ERR_FORMAT, "unhashable type: '%s'", ct_type_name(v));
}

static int dict_build_index(ct_dict *d, size_t cap)
{
    uint32_t *idx = calloc(cap, sizeof *idx);
    if (!idx) return -1;
    for (size_t i = 0; i < d->n; i++) {
        size_t j = (size_t)d->hashes[i] & (cap - 1);
        while (idx[j]) j = (j + 1) & (cap - 1);
        idx[j] = (uint32_t)(i + 1);
    }
    free(d->index);
    d->index = idx;
    d->index_cap = cap;
    return 0;
}

/* Index of key in d, or -1 if absent, or -2 on error. */
static long dict_find(ct_ctx *c, const ct_dict *d, ct_value key, uint64_t h)
{
    if (d->index) {
        size_t j = (size_t)h & (d->index_cap - 1);
        while (d->index[j]) {
            size_t e = d->index[j] - 1;
            if (d->hashes[e] == h) {
                int eq;
                if (ct_equal(c, d->keys[e], key, &eq) != 0) return -2;
                if (eq) return (long)e;
            }
            j = (j + 1) & (d->index_cap - 1);
        }
        return -1;
    }
    for (size_t e = 0; e < d->n; e++) {
        if (d->hashes[e] != h) continue;
        int eq;
        if (ct_equal(c, d->keys[e], key, &eq) != 0) return -2;
        if (eq) return (long)e;
    }
    return -1;
}

int ct_dict_set(ct_ctx *c, ct_dict *d, ct_value key, ct_value val)
{
    uint64_t h;
    if (ct_hash(c, key, &h, 0) != 0) goto fail;
    long e = dict_find(c, d, key, h);
    if (e == -2) goto fail;
    if (e >= 0) {
        ct_unref(key);
        ct_unref(d->vals[e]);
        d->vals[e] = val;
        return 0;
    }
    if (ct_work(c, 2 * sizeof(ct_value)) != 0) goto fail;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        if (cap > ((size_t)1 << 28)) { ct_fail(c, HUBRT_ERR_RANGE, "a dict too large"); goto fail; }
        ct_value *k = realloc(d->keys, cap * sizeof *k);
        if (!k) { ct_fail_nomem(c); goto fail; }
        d->keys = k;
        ct_value *v = realloc(d->vals, cap * sizeof *v);
        if (!v) { ct_fail_nomem(c); goto fail; }
        d->vals = v;
        uint64_t *hs = realloc(d->hashes, cap * sizeof *hs);
        if (!hs) { ct_fail_nomem(c); goto fail; }
        d->hashes = hs;
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n] = val;
    d->hashes[d->n] = h;
    d->n++;
    if (d->n >= 8 && d->n * 2 > d->index_cap) {
        size_t cap = 16;
        while (cap < d->n * 4) cap *= 2;
        if (dict_build_index(d, cap) != 0) return ct_fail_nomem(c);
    } else if (d->index) {
        size_t j = (size_t)h & (d->index_cap - 1);
        while (d->index[j]) j = (j + 1) & (d->index_cap - 1);
        d->index[j] = (uint32_t)d->n;
    }
    return 0;
fail:
    ct_unref(key);
    ct_unref(val);
    return -1;
}

int ct_dict_get(ct_ctx *c, const ct_dict *d, ct_value key, ct_value *val)
{
    uint64_t h;
    if (ct_hash(c, key, &h, 0) != 0) return -1;
    long e = dict_find(c, d, key, h);
    if (e == -2) return -1;
    if (e < 0) return 0;
    *val = d->vals[e];
    return 1;
}

const ct_value *ct_dict_get_str(const ct_dict *d, const char *k, size_t n)
{
    uint64_t h = hash_bytes(k, n);
    if (d->index) {
        size_t j = (size_t)h & (d->index_cap - 1);
        while (d->index[j]) {
            size_t e = d->index[j] - 1;
            const ct_value *key = &d->keys[e];
            if (d->hashes[e] == h && key->kind == CT_STR && key->u.s->len == n &&
                memcmp(key->u.s->data, k, n) == 0)
                return &d->vals[e];
            j = (j + 1) & (d->index_cap - 1);
        }
        return NULL;
    }
    for (size_t e = 0; e < d->n; e++) {
        const ct_value *key = &d->keys[e];
        if (d->hashes[e] == h && key->kind == CT_STR && key->u.s->len == n &&
            memcmp(key->u.s->data, k, n) == 0)
            return &d->vals[e];
    }
    return NULL;
}

int ct_iterate(ct_ctx *c, ct_value v, ct_value *out)
{
    switch (v.kind) {
    case CT_LIST:
        /* the caller walks the items: that is work too */
        if (ct_work(c, v.u.l->n * sizeof(ct_value)) != 0) return -1;
        *out = ct_copy(v);
        return 0;
    case CT_UNDEF:
        return ct_list_new(c, 0, out);
    case CT_DICT: {
        if (ct_list_new(c, v.u.d->n, out) != 0) return -1;
        for (size_t i = 0; i < v.u.d->n; i++)
            if (ct_list_push(c, out->u.l, ct_copy(v.u.d->keys[i])) != 0) { ct_unref(*out); return -1; }
        return 0;
    }
    case CT_STR: {
        const char *p = v.u.s->data, *end = p + v.u.s->len;
        if (ct_list_new(c, 0, out) != 0) return -1;
        while (p < end) {
            uint32_t cp;
            int k = ct_utf8_next(p, end, &cp);
            ct_value ch;
            if (ct_str_new(c, p, (size_t)k, &ch) != 0 || ct_list_push(c, out->u.l, ch) != 0) {
                ct_unref(*out);
                return -1;
            }
            p += k;
        }
        return 0;
    }
    default:
        return ct_fail(c, HUBRT_ERR_FORMAT, "'%s' object is not iterable", ct_type_name(v));
    }
}

/* ---- Python semantics --------------------------------------------------------- */

int ct_truthy(ct_value v)
{
    switch (v.kind) {
    case CT_UNDEF:
    case CT_NONE:
    case CT_MISSING: return 0;
    case CT_BOOL:
    case CT_INT: return v.u.i != 0;
    case CT_FLOAT: return v.u.f != 0.0;
    case CT_STR: return v.u.s->len != 0;
    case CT_LIST: return (v.flags & CT_F_GEN) || v.u.l->n != 0;
    case CT_DICT: return v.u.d->n != 0;
    default: return 1;
    }
}

const char *ct_type_name(ct_value v)
{
    switch (v.kind) {
    case CT_UNDEF: return "Undefined";
    case CT_NONE: return "NoneType";
    case CT_BOOL: return "bool";
    case CT_INT: return "int";
    case CT_FLOAT: return "float";
    case CT_STR: return (v.flags & CT_F_SAFE) ? "Markup" : "str";
    case CT_LIST: return (v.flags & CT_F_GEN) ? "generator" : (v.flags & CT_F_TUPLE) ? "tuple" : "list";
    case CT_DICT: return "dict";
    case CT_NS: return "Namespace";
    case CT_FUNC: return v.u.fn->kind == CT_FN_MACRO ? "Macro" : "builtin_function_or_method";
    case CT_LOOP: return "LoopContext";
    default: return "object";
    }
}

void ct_format_float(double f, char buf[32])
{
    if (isnan(f)) { strcpy(buf, "nan"); return; }
    if (isinf(f)) { strcpy(buf, f < 0 ? "-inf" : "inf"); return; }
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* tmp: [-]d[.ddd]e[+-]XX */
    const char *p = tmp;
    int neg = 0;
    if (*p == '-') { neg = 1; p++; }
    char digits[24];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    char *o = buf;
    if (neg) *o++ = '-';
    if (exp >= -5 + 1 && exp < 16) {
        if (exp >= 0) {
            for (int i = 0; i <= exp; i++) *o++ = i < nd ? digits[i] : '0';
            *o++ = '.';
            if (nd > exp + 1)
                for (int i = exp + 1; i < nd; i++) *o++ = digits[i];
            else
                *o++ = '0';
        } else {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -exp - 1; i++) *o++ = '0';
            for (int i = 0; i < nd; i++) *o++ = digits[i];
        }
        *o = '\0';
    } else {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            for (int i = 1; i < nd; i++) *o++ = digits[i];
        }
        int ae = exp < 0 ? -exp : exp;
        snprintf(o, 8, "e%c%02d", exp < 0 ? '-' : '+', ae > 999 ? 999 : ae);
    }
}

static int write_str_repr(ct_sb *b, const char *p, size_t n)
{
    int has_sq = memchr(p, '\'', n) != NULL, has_dq = memchr(p, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    if (ct_sb_addc(b, q) != 0) return -1;
    const char *end = p + n;
    while (p < end) {
        uint32_t cp;
        int k = ct_utf8_next(p, end, &cp);
        int rc;
        if (cp == (uint32_t)q || cp == '\\') {
            char e[2] = { '\\', (char)cp };
            rc = ct_sb_add(b, e, 2);
        } else if (cp == '\t') {
            rc = ct_sb_add(b, "\\t", 2);
        } else if (cp == '\n') {
            rc = ct_sb_add(b, "\\n", 2);
        } else if (cp == '\r') {
            rc = ct_sb_add(b, "\\r", 2);
        } else if (cp < 0x20 || cp == 0x7f) {
            rc = ct_sb_addf(b, "\\x%02x", cp);
        } else if (cp < 0x7f || ct_py_isprintable(cp)) {
            rc = ct_sb_add(b, p, (size_t)k);
        } else if (cp <= 0xff) {
            rc = ct_sb_addf(b, "\\x%02x", cp);
        } else if (cp <= 0xffff) {
            rc = ct_sb_addf(b, "\\u%04x", cp);
        } else {
            rc = ct_sb_addf(b, "\\U%08x", cp);
        }
        if (rc != 0) return -1;
        p += k;
    }
    return ct_sb_addc(b, q);
}

static int write_dict_body(ct_ctx *c, ct_sb *b, const ct_dict *d, int depth)
{
    if (ct_sb_addc(b, '{') != 0) return -1;
    for (size_t i = 0; i < d->n; i++) {
        if (i && ct_sb_add(b, ", ", 2) != 0) return -1;
        if (ct_write_repr(c, b, d->keys[i], depth + 1) != 0 || ct_sb_add(b, ": ", 2) != 0 ||
            ct_write_repr(c, b, d->vals[i], depth + 1) != 0)
            return -1;
    }
    return ct_sb_addc(b, '}');
}

int ct_write_repr(ct_ctx *c, ct_sb *b, ct_value v, int depth)
{
    if (depth > CT_MAX_NEST) return ct_fail(c, HUBRT_ERR_RANGE, "values nested too deeply to print");
    switch (v.kind) {
    case CT_STR:
        if (v.flags & CT_F_SAFE) {
            if (ct_sb_adds(b, "Markup(") != 0 || write_str_repr(b, v.u.s->data, v.u.s->len) != 0) return -1;
            return ct_sb_addc(b, ')');
        }
        return write_str_repr(b, v.u.s->data, v.u.s->len);
    case CT_UNDEF: return ct_sb_adds(b, "Undefined");
    case CT_LIST: {
        if (v.flags & CT_F_GEN) return ct_sb_adds(b, "<generator object>");
        int tuple = (v.flags & CT_F_TUPLE) != 0;
        if (ct_sb_addc(b, tuple ? '(' : '[') != 0) return -1;
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i && ct_sb_add(b, ", ", 2) != 0) return -1;
            if (ct_write_repr(c, b, v.u.l->items[i], depth + 1) != 0) return -1;
        }
        if (tuple && v.u.l->n == 1 && ct_sb_addc(b, ',') != 0) return -1;
        return ct_sb_addc(b, tuple ? ')' : ']');
    }
    case CT_DICT: return write_dict_body(c, b, v.u.d, depth);
    default: return ct_write_str(c, b, v);
    }
}

int ct_write_str(ct_ctx *c, ct_sb *b, ct_value v)
{
    char tmp[32];
    switch (v.kind) {
    case CT_UNDEF:
    case CT_MISSING: return 0;
    case CT_NONE: return ct_sb_add(b, "None", 4);
    case CT_BOOL: return ct_sb_adds(b, v.u.i ? "True" : "False");
    case CT_INT: return ct_sb_addf(b, "%" PRId64, v.u.i);
    case CT_FLOAT: ct_format_float(v.u.f, tmp); return ct_sb_adds(b, tmp);
    case CT_STR: return ct_sb_add(b, v.u.s->data, v.u.s->len);
    case CT_LIST:
    case CT_DICT: return ct_write_repr(c, b, v, 0);
    case CT_NS:
        if (ct_sb_adds(b, "<Namespace ") != 0 || write_dict_body(c, b, v.u.d, 1) != 0) return -1;
        return ct_sb_addc(b, '>');
    case CT_FUNC:
        if (v.u.fn->kind == CT_FN_MACRO) {
            const ct_node *m = v.u.fn->macro;
            return ct_sb_addf(b, "<Macro '%s'>", m && m->sym >= 0 ? c->t->syms[m->sym]->data : "caller");
        }
        if (v.u.fn->kind == CT_FN_METHOD)
            return ct_sb_addf(b, "<built-in method %s of %s object>", ct_method_name(v.u.fn->id),
                              ct_type_name(v.u.fn->self));
        return ct_sb_addf(b, "<function %s>", ct_global_name(v.u.fn->id));
    case CT_LOOP:
        return ct_sb_addf(b, "<LoopContext %zu/%zu>", v.u.loop->index0 + 1, v.u.loop->length);
    default: return 0;
    }
}

int ct_to_str(ct_ctx *c, ct_value v, ct_value *out)
{
    if (v.kind == CT_STR) {
        *out = ct_copy(v);
        return 0;
    }
    ct_sb b;
    ct_sb_init(&b, c);
    if (ct_write_str(c, &b, v) != 0) { ct_sb_drop(&b); return -1; }
    return ct_sb_finish(&b, out);
}

static double num_as_double(ct_value v) { return v.kind == CT_FLOAT ? v.u.f : (double)v.u.i; }

static int num_compare(ct_value a, ct_value b)
{
    if (a.kind != CT_FLOAT && b.kind != CT_FLOAT) return (a.u.i > b.u.i) - (a.u.i < b.u.i);
    double x = num_as_double(a), y = num_as_double(b);
    return (x > y) - (x < y);
}

static int equal_rec(ct_ctx *c, ct_value a, ct_value b, int *eq, int depth)
{
    if (depth > CT_MAX_NEST) return ct_fail(c, HUBRT_ERR_RANGE, "values nested too deeply to compare");
    if (ct_is_num(a) && ct_is_num(b)) {
        if (a.kind == CT_FLOAT || b.kind == CT_FLOAT) *eq = num_as_double(a) == num_as_double(b);
        else *eq = a.u.i == b.u.i;
        return 0;
    }
    *eq = 0;
    if (a.kind != b.kind) return 0;
    switch (a.kind) {
    case CT_UNDEF:
    case CT_NONE:
    case CT_MISSING: *eq = 1; return 0;
    case CT_STR:
        *eq = a.u.s->len == b.u.s->len && memcmp(a.u.s->data, b.u.s->data, a.u.s->len) == 0;
        return 0;
    case CT_LIST:
        if ((a.flags & CT_F_GEN) || (b.flags & CT_F_GEN)) { *eq = a.u.l == b.u.l; return 0; }
        if ((a.flags & CT_F_TUPLE) != (b.flags & CT_F_TUPLE) || a.u.l->n != b.u.l->n) return 0;
        if (ct_work(c, a.u.l->n * sizeof(ct_value)) != 0) return -1;
        for (size_t i = 0; i < a.u.l->n; i++) {
            if (equal_rec(c, a.u.l->items[i], b.u.l->items[i], eq, depth + 1) != 0) return -1;
            if (!*eq) return 0;
        }
        *eq = 1;
        return 0;
    case CT_DICT:
        if (a.u.d->n != b.u.d->n) return 0;
        if (ct_work(c, a.u.d->n * 2 * sizeof(ct_value)) != 0) return -1;
        for (size_t i = 0; i < a.u.d->n; i++) {
            ct_value other;
            int found = ct_dict_get(c, b.u.d, a.u.d->keys[i], &other);
            if (found < 0) return -1;
            if (!found) return 0;
            if (equal_rec(c, a.u.d->vals[i], other, eq, depth + 1) != 0) return -1;
            if (!*eq) return 0;
        }
        *eq = 1;
        return 0;
    case CT_FUNC:
        *eq = a.u.fn == b.u.fn ||
              (a.u.fn->kind == CT_FN_METHOD && b.u.fn->kind == CT_FN_METHOD && a.u.fn->id == b.u.fn->id &&
               a.u.fn->self.u.o == b.u.fn->self.u.o);
        return 0;
    default:
        *eq = a.u.o == b.u.o;
        return 0;
    }
}

int ct_equal(ct_ctx *c, ct_value a, ct_value b, int *eq) { return equal_rec(c, a, b, eq, 0); }

static int compare_rec(ct_ctx *c, ct_value a, ct_value b, const char *op, int *r, int depth)
{
    if (depth > CT_MAX_NEST) return ct_fail(c, HUBRT_ERR_RANGE, "values nested too deeply to compare");
    if (a.kind == CT_UNDEF) return ct_fail_undef(c, a);
    if (b.kind == CT_UNDEF) return ct_fail_undef(c, b);
    if (ct_is_num(a) && ct_is_num(b)) {
        if ((a.kind == CT_FLOAT && isnan(a.u.f)) || (b.kind == CT_FLOAT && isnan(b.u.f))) {
            *r = 2; /* unordered: every comparison but != is false */
            return 0;
        }
        *r = num_compare(a, b);
        return 0;
    }
    if (a.kind == CT_STR && b.kind == CT_STR) {
        size_t n = a.u.s->len < b.u.s->len ? a.u.s->len : b.u.s->len;
        int m = memcmp(a.u.s->data, b.u.s->data, n);
        *r = m ? (m > 0) - (m < 0) : (a.u.s->len > b.u.s->len) - (a.u.s->len < b.u.s->len);
        return 0;
    }
    if (a.kind == CT_LIST && b.kind == CT_LIST && !((a.flags | b.flags) & CT_F_GEN) &&
        (a.flags & CT_F_TUPLE) == (b.flags & CT_F_TUPLE)) {
        size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (size_t i = 0; i < n; i++) {
            int eq;
            if (ct_equal(c, a.u.l->items[i], b.u.l->items[i], &eq) != 0) return -1;
            if (!eq) return compare_rec(c, a.u.l->items[i], b.u.l->items[i], op, r, depth + 1);
        }
        *r = (a.u.l->n > b.u.l->n) - (a.u.l->n < b.u.l->n);
        return 0;
    }
    return ct_fail(c, HUBRT_ERR_FORMAT, "'%s' not supported between instances of '%s' and '%s'", op,
                   ct_type_name(a), ct_type_name(b));
}

int ct_compare(ct_ctx *c, ct_value a, ct_value b, const char *op, int *r)
{
    return compare_rec(c, a, b, op, r, 0);
}

int ct_length(ct_ctx *c, ct_value v, size_t *n)
{
    switch (v.kind) {
    case CT_UNDEF: *n = 0; return 0;
    case CT_STR: *n = v.u.s->ascii ? v.u.s->len : ct_utf8_count(v.u.s->data, v.u.s->len); return 0;
    case CT_LIST:
        if (v.flags & CT_F_GEN) break;
        *n = v.u.l->n;
        return 0;
    case CT_DICT: *n = v.u.d->n; return 0;
    default: break;
    }
    return ct_fail(c, HUBRT_ERR_FORMAT, "object of type '%s' has no len()", ct_type_name(v));
}
