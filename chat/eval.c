/*
 * chat/eval.c — runs a parsed template: statements, expressions, scopes,
 * macros and calls, with jinja2's semantics in the sandbox transformers uses.
 *
 * Scopes: the template, each loop iteration, each macro call, a block set,
 * a filter block and a with block get a frame of their own; `set` writes to
 * the innermost frame, a name is looked up from the innermost frame out and
 * then in the context and globals. (So a `set` inside a loop is gone at the
 * next iteration and after the loop, as in jinja2; namespace() is how
 * templates carry values out.) A macro sees the frame it was defined in.
 *
 * Attribute and item access follow the sandbox: `x.name` tries the
 * attribute (a method) first and then the item, `x[key]` the other way
 * round; what is missing is an undefined value, which prints as "" and is
 * falsy, but is an error when used as a value (arithmetic, calls,
 * attributes of it).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/ct_internal.h"
#include "include/hubrt.h"

#define EVAL_MAX_DEPTH 1000   /* nested evaluation, bounds the C stack */

enum { EX_OK = 0, EX_BREAK = 1, EX_CONTINUE = 2 };

static int exec_body(ct_ctx *c, ct_node *const *body, int n);

/* ---- frames ---------------------------------------------------------------------- */

static ct_frame *frame_new(ct_ctx *c, ct_frame *parent)
{
    ct_frame *f = calloc(1, sizeof *f);
    if (!f) { ct_fail_nomem(c); return NULL; }
    f->h.refs = 1;
    f->h.type = CT_O_FRAME;
    f->parent = parent;
    if (parent) parent->h.refs++;
    return f;
}

/* Releases a frame's variables (the frame itself stays). */
static void frame_release_vars(ct_frame *f)
{
    size_t n = f->n;
    f->n = 0;
    for (size_t i = 0; i < n; i++) ct_unref(f->vals[i]);
}

static void frame_unref(ct_frame *f)
{
    if (f && --f->h.refs == 0) ct_obj_release(&f->h);
}

/* Makes a new innermost frame. */
static int push_frame(ct_ctx *c)
{
    ct_frame *f = frame_new(c, c->frame);
    if (!f) return -1;
    c->frame = f;
    return 0;
}

/* Leaves the innermost frame; its variables go (a macro kept from it sees none). */
static void pop_frame(ct_ctx *c)
{
    ct_frame *f = c->frame;
    c->frame = f->parent;
    frame_release_vars(f);
    frame_unref(f);
}

static int frame_set(ct_ctx *c, ct_frame *f, int sym, ct_value v)
{
    for (size_t i = 0; i < f->n; i++) {
        if (f->syms[i] == sym) {
            ct_unref(f->vals[i]);
            f->vals[i] = v;
            return 0;
        }
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4;
        int *s = realloc(f->syms, cap * sizeof *s);
        if (!s) { ct_unref(v); return ct_fail_nomem(c); }
        f->syms = s;
        ct_value *vals = realloc(f->vals, cap * sizeof *vals);
        if (!vals) { ct_unref(v); return ct_fail_nomem(c); }
        f->vals = vals;
        f->cap = cap;
    }
    f->syms[f->n] = sym;
    f->vals[f->n] = v;
    f->n++;
    return 0;
}

static int lookup(ct_ctx *c, int sym, ct_value *out)
{
    for (ct_frame *f = c->frame; f; f = f->parent)
        for (size_t i = 0; i < f->n; i++)
            if (f->syms[i] == sym) {
                *out = ct_copy(f->vals[i]);
                return 0;
            }
    ct_value g = c->globals[sym];
    if (g.kind == CT_UNDEF && !g.u.s) return ct_undef_msg(c, out, "'%s' is undefined", c->t->syms[sym]->data);
    *out = ct_copy(g);
    return 0;
}

/* ---- helpers ----------------------------------------------------------------------- */

/* jinja2's object_type_repr, for the messages of undefined values. */
static const char *object_type_repr(ct_value v)
{
    switch (v.kind) {
    case CT_NONE: return "None";
    case CT_STR: return (v.flags & CT_F_SAFE) ? "markupsafe.Markup object" : "str object";
    case CT_NS: return "jinja2.utils.Namespace object";
    case CT_LOOP: return "jinja2.runtime.LoopContext object";
    case CT_FUNC: return v.u.fn->kind == CT_FN_MACRO ? "jinja2.runtime.Macro object" : "builtin_function_or_method object";
    case CT_BOOL: return "bool object";
    case CT_INT: return "int object";
    case CT_FLOAT: return "float object";
    case CT_DICT: return "dict object";
    case CT_LIST: return (v.flags & CT_F_GEN) ? "generator object" : (v.flags & CT_F_TUPLE) ? "tuple object" : "list object";
    default: return "object";
    }
}

static int undef_attr(ct_ctx *c, ct_value obj, const char *name, ct_value *out)
{
    return ct_undef_msg(c, out, "'%s' has no attribute '%s'", object_type_repr(obj), name);
}

static int undef_element(ct_ctx *c, ct_value obj, ct_value key, ct_value *out)
{
    ct_sb b;
    ct_sb_init(&b, c);
    if (ct_write_repr(c, &b, key, 0) != 0) { ct_sb_drop(&b); return -1; }
    int rc = ct_undef_msg(c, out, "%s has no element %.200s", object_type_repr(obj), ct_sb_data(&b));
    ct_sb_drop(&b);
    return rc;
}

static int write_out(ct_ctx *c, ct_value v)
{
    if (v.kind == CT_STR) return ct_sb_add(c->out, v.u.s->data, v.u.s->len);
    return ct_write_str(c, c->out, v);
}

/* ---- attributes and items ------------------------------------------------------------ */

static int loop_attr(ct_ctx *c, ct_value lv, const char *name, ct_value *out)
{
    const ct_loop *l = lv.u.loop;
    size_t n = l->length, i = l->index0;
    const ct_list *items = l->items.kind == CT_LIST ? l->items.u.l : NULL;
    if (!strcmp(name, "index")) *out = ct_int((int64_t)i + 1);
    else if (!strcmp(name, "index0")) *out = ct_int((int64_t)i);
    else if (!strcmp(name, "revindex")) *out = ct_int((int64_t)(n - i));
    else if (!strcmp(name, "revindex0")) *out = ct_int((int64_t)(n - i - 1));
    else if (!strcmp(name, "first")) *out = ct_bool(i == 0);
    else if (!strcmp(name, "last")) *out = ct_bool(i + 1 == n);
    else if (!strcmp(name, "length")) *out = ct_int((int64_t)n);
    else if (!strcmp(name, "depth")) *out = ct_int(l->depth0 + 1);
    else if (!strcmp(name, "depth0")) *out = ct_int(l->depth0);
    else if (!strcmp(name, "previtem")) {
        if (i > 0 && items && i - 1 < items->n) *out = ct_copy(items->items[i - 1]);
        else return ct_undef_msg(c, out, "there is no previous item");
    } else if (!strcmp(name, "nextitem")) {
        if (items && i + 1 < items->n) *out = ct_copy(items->items[i + 1]);
        else return ct_undef_msg(c, out, "there is no next item");
    } else {
        int found = ct_method_lookup(c, lv, name, strlen(name), out);
        if (found < 0) return -1;
        if (!found) return undef_attr(c, lv, name, out);
    }
    return 0;
}

int ct_getattr(ct_ctx *c, ct_value obj, ct_str *name, ct_value *out)
{
    if (obj.kind == CT_UNDEF) return ct_fail_undef(c, obj);
    if (obj.kind == CT_LOOP) return loop_attr(c, obj, name->data, out);
    if (obj.kind == CT_NS) {
        const ct_value *v = ct_dict_get_str(obj.u.d, name->data, name->len);
        if (v) { *out = ct_copy(*v); return 0; }
        return undef_attr(c, obj, name->data, out);
    }
    int found = ct_method_lookup(c, obj, name->data, name->len, out);
    if (found != 0) return found < 0 ? -1 : 0;
    if (obj.kind == CT_DICT) {
        const ct_value *v = ct_dict_get_str(obj.u.d, name->data, name->len);
        if (v) { *out = ct_copy(*v); return 0; }
    }
    return undef_attr(c, obj, name->data, out);
}

/* Python's index normalisation: 1 and the index if in range, 0 if not. */
static int norm_index(int64_t i, size_t n, size_t *out)
{
    if (i < 0) i += (int64_t)n;
    if (i < 0 || (uint64_t)i >= n) return 0;
    *out = (size_t)i;
    return 1;
}

int ct_getitem(ct_ctx *c, ct_value obj, ct_value key, ct_value *out)
{
    if (obj.kind == CT_UNDEF) return ct_fail_undef(c, obj);
    if (key.kind == CT_UNDEF && obj.kind != CT_DICT) {
        /* an undefined key: only a dict can hold it (as a key equal to it) */
        return undef_element(c, obj, key, out);
    }
    switch (obj.kind) {
    case CT_DICT: {
        uint64_t h;
        if (key.kind == CT_LIST && !(key.flags & CT_F_TUPLE)) break; /* unhashable: TypeError */
        if (ct_hash(c, key, &h, 0) != 0) return -1;
        ct_value v;
        int found = ct_dict_get(c, obj.u.d, key, &v);
        if (found < 0) return -1;
        if (found) { *out = ct_copy(v); return 0; }
        break;
    }
    case CT_LIST:
        if ((obj.flags & CT_F_GEN) || (key.kind != CT_INT && key.kind != CT_BOOL)) break;
        {
            size_t i;
            if (norm_index(key.u.i, obj.u.l->n, &i)) { *out = ct_copy(obj.u.l->items[i]); return 0; }
        }
        break;
    case CT_STR:
        if (key.kind != CT_INT && key.kind != CT_BOOL) break;
        {
            const ct_str *s = obj.u.s;
            size_t n = s->ascii ? s->len : ct_utf8_count(s->data, s->len), i;
            if (norm_index(key.u.i, n, &i)) {
                size_t a = s->ascii ? i : ct_utf8_offset(s->data, s->len, i);
                size_t b = s->ascii ? i + 1 : ct_utf8_offset(s->data, s->len, i + 1);
                return ct_str_new(c, s->data + a, b - a, out);
            }
        }
        break;
    default:
        break;
    }
    if (key.kind == CT_STR) {
        /* the attribute of that name, as jinja2's getitem falls back to */
        if (obj.kind == CT_LOOP) return loop_attr(c, obj, key.u.s->data, out);
        if (obj.kind == CT_NS) return ct_getattr(c, obj, key.u.s, out);
        int found = ct_method_lookup(c, obj, key.u.s->data, key.u.s->len, out);
        if (found != 0) return found < 0 ? -1 : 0;
        return undef_attr(c, obj, key.u.s->data, out);
    }
    return undef_element(c, obj, key, out);
}

/* Python slice bounds for a sequence of n items. */
static int slice_bound(ct_ctx *c, const ct_node *e, ct_value *v)
{
    *v = ct_none();
    if (!e) return 0;
    if (ct_eval(c, e, v) != 0) return -1;
    if (v->kind == CT_NONE || v->kind == CT_INT || v->kind == CT_BOOL) return 0;
    ct_unref(*v);
    return 1; /* not an index: the slice fails */
}

static int do_slice(ct_ctx *c, ct_value obj, const ct_node *sl, ct_value *out)
{
    ct_value vs, ve, vst;
    int bad = 0, r;
    if ((r = slice_bound(c, sl->a, &vs)) < 0) return -1;
    bad |= r;
    if ((r = slice_bound(c, sl->b, &ve)) < 0) return -1;
    bad |= r;
    if ((r = slice_bound(c, sl->c, &vst)) < 0) return -1;
    bad |= r;
    if (obj.kind == CT_UNDEF) return ct_fail_undef(c, obj);
    int is_str = obj.kind == CT_STR, is_list = obj.kind == CT_LIST && !(obj.flags & CT_F_GEN);
    if (bad || (!is_str && !is_list)) return ct_undef_msg(c, out, "%s has no element slice", object_type_repr(obj));
    int64_t step = vst.kind == CT_NONE ? 1 : vst.u.i;
    if (step == 0) return ct_fail(c, HUBRT_ERR_FORMAT, "slice step cannot be zero");
    const ct_str *s = is_str ? obj.u.s : NULL;
    size_t *offs = NULL;
    int64_t n;
    if (is_str) {
        n = (int64_t)(s->ascii ? s->len : ct_utf8_count(s->data, s->len));
        if (!s->ascii) {
            offs = malloc(((size_t)n + 1) * sizeof *offs);
            if (!offs) return ct_fail_nomem(c);
            size_t k = 0;
            for (size_t i = 0; i < s->len; i++)
                if (((unsigned char)s->data[i] & 0xC0) != 0x80) offs[k++] = i;
            offs[k] = s->len;
        }
    } else {
        n = (int64_t)obj.u.l->n;
    }
    int64_t start, stop;
    if (step > 0) {
        start = vs.kind == CT_NONE ? 0 : vs.u.i;
        stop = ve.kind == CT_NONE ? n : ve.u.i;
        if (start < 0) { start += n; if (start < 0) start = 0; } else if (start > n) start = n;
        if (stop < 0) { stop += n; if (stop < 0) stop = 0; } else if (stop > n) stop = n;
    } else {
        start = vs.kind == CT_NONE ? n - 1 : vs.u.i;
        stop = ve.kind == CT_NONE ? -1 : ve.u.i;
        if (vs.kind != CT_NONE) { if (start < 0) { start += n; if (start < 0) start = -1; } else if (start >= n) start = n - 1; }
        if (ve.kind != CT_NONE) { if (stop < 0) { stop += n; if (stop < 0) stop = -1; } else if (stop >= n) stop = n - 1; }
    }
    int rc = 0;
    if (is_str) {
        if (step == 1) {
            size_t a = (size_t)(start < stop ? start : stop), b = (size_t)stop;
            if (offs) { a = offs[a]; b = offs[b]; }
            rc = ct_str_new(c, s->data + a, b > a ? b - a : 0, out);
        } else {
            ct_sb b;
            ct_sb_init(&b, c);
            for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
                size_t a = offs ? offs[i] : (size_t)i, e = offs ? offs[i + 1] : (size_t)i + 1;
                if ((rc = ct_sb_add(&b, s->data + a, e - a)) != 0) break;
                if (step > 0 ? stop - i <= step : i - stop <= -step) break;
            }
            if (rc == 0) rc = ct_sb_finish(&b, out);
            else ct_sb_drop(&b);
        }
        free(offs);
        return rc;
    }
    if (ct_list_new(c, 0, out) != 0) return -1;
    out->flags = obj.flags & CT_F_TUPLE;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (ct_list_push(c, out->u.l, ct_copy(obj.u.l->items[i])) != 0) { ct_unref(*out); return -1; }
        if (step > 0 ? stop - i <= step : i - stop <= -step) break;
    }
    return 0;
}

/* ---- operators ----------------------------------------------------------------------- */

static int int_overflow(ct_ctx *c) { return ct_fail(c, HUBRT_ERR_RANGE, "integer overflow (beyond 64 bits)"); }

static int unsupported(ct_ctx *c, const char *op, ct_value a, ct_value b)
{
    return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: unsupported operand type(s) for %s: '%s' and '%s'", op,
                   ct_type_name(a), ct_type_name(b));
}

static int concat_strings(ct_ctx *c, ct_value a, ct_value b, ct_value *out)
{
    int safe = ((a.flags | b.flags) & CT_F_SAFE) != 0;
    ct_sb s;
    ct_sb_init(&s, c);
    int rc;
    /* Markup + str escapes the str (markupsafe) */
    if (safe && !(a.flags & CT_F_SAFE)) rc = ct_html_escape(&s, a.u.s->data, a.u.s->len);
    else rc = ct_sb_add(&s, a.u.s->data, a.u.s->len);
    if (rc == 0) {
        if (safe && !(b.flags & CT_F_SAFE)) rc = ct_html_escape(&s, b.u.s->data, b.u.s->len);
        else rc = ct_sb_add(&s, b.u.s->data, b.u.s->len);
    }
    if (rc != 0 || ct_sb_finish(&s, out) != 0) { ct_sb_drop(&s); return -1; }
    if (safe) out->flags |= CT_F_SAFE;
    return 0;
}

static int repeat(ct_ctx *c, ct_value seq, int64_t times, ct_value *out)
{
    if (times < 0) times = 0;
    if (seq.kind == CT_STR) {
        ct_sb b;
        ct_sb_init(&b, c);
        if (seq.u.s->len && (uint64_t)times > c->max_output / seq.u.s->len + 1)
            return ct_fail(c, HUBRT_ERR_RANGE, "a string longer than %zu bytes (the limit)", c->max_output);
        for (int64_t i = 0; i < times; i++)
            if (ct_sb_add(&b, seq.u.s->data, seq.u.s->len) != 0) { ct_sb_drop(&b); return -1; }
        if (ct_sb_finish(&b, out) != 0) return -1;
        out->flags = seq.flags & CT_F_SAFE;
        return 0;
    }
    if (seq.u.l->n && (uint64_t)times > ((uint64_t)1 << 26) / seq.u.l->n)
        return ct_fail(c, HUBRT_ERR_RANGE, "a list too long");
    if (ct_list_new(c, 0, out) != 0) return -1;
    out->flags = seq.flags & CT_F_TUPLE;
    for (int64_t i = 0; i < times; i++)
        for (size_t k = 0; k < seq.u.l->n; k++)
            if (ct_list_push(c, out->u.l, ct_copy(seq.u.l->items[k])) != 0) { ct_unref(*out); return -1; }
    return 0;
}

static const char *op_symbol(int op)
{
    static const char *const sym[] = { "+", "-", "*", "/", "//", "%", "** or pow()" };
    return op >= 0 && op <= OP_POW ? sym[op] : "?";
}

static int arith(ct_ctx *c, int op, ct_value a, ct_value b, ct_value *out)
{
    if (a.kind != CT_FLOAT && b.kind != CT_FLOAT && op != OP_DIV) {
        int64_t x = a.u.i, y = b.u.i, r;
        switch (op) {
        case OP_ADD: if (__builtin_add_overflow(x, y, &r)) return int_overflow(c); break;
        case OP_SUB: if (__builtin_sub_overflow(x, y, &r)) return int_overflow(c); break;
        case OP_MUL: if (__builtin_mul_overflow(x, y, &r)) return int_overflow(c); break;
        case OP_FLOORDIV:
        case OP_MOD:
            if (y == 0) return ct_fail(c, HUBRT_ERR_FORMAT, "ZeroDivisionError: integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) { if (op == OP_MOD) { r = 0; break; } return int_overflow(c); }
            {
                int64_t q = x / y, m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) { q--; m += y; }
                r = op == OP_FLOORDIV ? q : m;
            }
            break;
        case OP_POW:
            if (y < 0) {
                if (x == 0) return ct_fail(c, HUBRT_ERR_FORMAT, "ZeroDivisionError: 0.0 cannot be raised to a negative power");
                *out = ct_float(pow((double)x, (double)y));
                return 0;
            }
            r = 1;
            for (int64_t base = x, e = y; e > 0; e >>= 1) {
                if ((e & 1) && __builtin_mul_overflow(r, base, &r)) return int_overflow(c);
                if (e > 1 && __builtin_mul_overflow(base, base, &base)) return int_overflow(c);
            }
            break;
        default: return unsupported(c, op_symbol(op), a, b);
        }
        *out = ct_int(r);
        return 0;
    }
    double x = a.kind == CT_FLOAT ? a.u.f : (double)a.u.i, y = b.kind == CT_FLOAT ? b.u.f : (double)b.u.i, r;
    switch (op) {
    case OP_ADD: r = x + y; break;
    case OP_SUB: r = x - y; break;
    case OP_MUL: r = x * y; break;
    case OP_DIV:
        if (y == 0) return ct_fail(c, HUBRT_ERR_FORMAT, "ZeroDivisionError: division by zero");
        r = x / y;
        break;
    case OP_FLOORDIV:
    case OP_MOD:
        if (y == 0) return ct_fail(c, HUBRT_ERR_FORMAT, "ZeroDivisionError: float modulo");
        {
            double m = fmod(x, y);
            if (m != 0 && ((m < 0) != (y < 0))) m += y;
            if (op == OP_MOD) { r = m; break; }
            double q = (x - m) / y;
            r = floor(q + 0.5) == q ? q : floor(q);
            if (fabs(q - round(q)) < 1e-9) r = round(q);
        }
        break;
    case OP_POW:
        if (x == 0 && y < 0) return ct_fail(c, HUBRT_ERR_FORMAT, "ZeroDivisionError: 0.0 cannot be raised to a negative power");
        r = pow(x, y);
        break;
    default: return unsupported(c, op_symbol(op), a, b);
    }
    *out = ct_float(r);
    return 0;
}

int ct_binop(ct_ctx *c, int op, ct_value a, ct_value b, ct_value *out)
{
    if (a.kind == CT_UNDEF) return ct_fail_undef(c, a);
    if (b.kind == CT_UNDEF && !(op == OP_MOD && a.kind == CT_STR)) return ct_fail_undef(c, b);
    if (ct_is_num(a) && ct_is_num(b)) return arith(c, op, a, b, out);
    if (op == OP_ADD) {
        if (a.kind == CT_STR && b.kind == CT_STR) return concat_strings(c, a, b, out);
        if (a.kind == CT_LIST && b.kind == CT_LIST && !((a.flags | b.flags) & CT_F_GEN) &&
            (a.flags & CT_F_TUPLE) == (b.flags & CT_F_TUPLE)) {
            if (ct_work(c, (a.u.l->n + b.u.l->n) * sizeof(ct_value)) != 0) return -1;
            if (ct_list_new(c, a.u.l->n + b.u.l->n, out) != 0) return -1;
            out->flags = a.flags & CT_F_TUPLE;
            for (size_t i = 0; i < a.u.l->n; i++) out->u.l->items[out->u.l->n++] = ct_copy(a.u.l->items[i]);
            for (size_t i = 0; i < b.u.l->n; i++) out->u.l->items[out->u.l->n++] = ct_copy(b.u.l->items[i]);
            return 0;
        }
        if ((a.kind == CT_STR && !(a.flags & CT_F_SAFE)) ||
            (a.kind == CT_LIST && !(a.flags & CT_F_GEN)))
            return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: can only concatenate %s (not \"%s\") to %s",
                           ct_type_name(a), ct_type_name(b), ct_type_name(a));
        return unsupported(c, "+", a, b);
    }
    if (op == OP_MUL) {
        if ((a.kind == CT_STR || (a.kind == CT_LIST && !(a.flags & CT_F_GEN))) && (b.kind == CT_INT || b.kind == CT_BOOL))
            return repeat(c, a, b.u.i, out);
        if ((b.kind == CT_STR || (b.kind == CT_LIST && !(b.flags & CT_F_GEN))) && (a.kind == CT_INT || a.kind == CT_BOOL))
            return repeat(c, b, a.u.i, out);
        if ((a.kind == CT_STR || a.kind == CT_LIST) && (b.kind == CT_STR || b.kind == CT_LIST || b.kind == CT_FLOAT))
            return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: can't multiply sequence by non-int of type '%s'",
                           ct_type_name(b));
    }
    if (op == OP_MOD && a.kind == CT_STR) {
        ct_sb s;
        ct_sb_init(&s, c);
        if (ct_percent_format(c, &s, a, b) != 0) { ct_sb_drop(&s); return -1; }
        return ct_sb_finish(&s, out);
    }
    return unsupported(c, op_symbol(op), a, b);
}

int ct_contains(ct_ctx *c, ct_value container, ct_value item, int *res)
{
    *res = 0;
    switch (container.kind) {
    case CT_UNDEF: return 0;
    case CT_STR:
        if (item.kind != CT_STR)
            return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: 'in <string>' requires string as left operand, not %s",
                           ct_type_name(item));
        if (ct_work(c, container.u.s->len) != 0) return -1;
        *res = item.u.s->len == 0 ||
               memmem(container.u.s->data, container.u.s->len, item.u.s->data, item.u.s->len) != NULL;
        return 0;
    case CT_LIST:
        if (ct_work(c, container.u.l->n * sizeof(ct_value)) != 0) return -1;
        for (size_t i = 0; i < container.u.l->n; i++) {
            if (ct_equal(c, container.u.l->items[i], item, res) != 0) return -1;
            if (*res) return 0;
        }
        return 0;
    case CT_DICT: {
        ct_value v;
        int found = ct_dict_get(c, container.u.d, item, &v);
        if (found < 0) return -1;
        *res = found;
        return 0;
    }
    default:
        return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: argument of type '%s' is not iterable", ct_type_name(container));
    }
}

static int compare_op(ct_ctx *c, int op, ct_value a, ct_value b, int *res)
{
    static const char *const sym[] = { "==", "!=", "<", "<=", ">", ">=" };
    int r;
    switch (op) {
    case OP_EQ: return ct_equal(c, a, b, res);
    case OP_NE:
        if (ct_equal(c, a, b, res) != 0) return -1;
        *res = !*res;
        return 0;
    case OP_IN: return ct_contains(c, b, a, res);
    case OP_NOTIN:
        if (ct_contains(c, b, a, res) != 0) return -1;
        *res = !*res;
        return 0;
    default:
        if (ct_compare(c, a, b, sym[op - OP_EQ], &r) != 0) return -1;
        if (r == 2) { *res = 0; return 0; } /* NaN */
        *res = op == OP_LT ? r < 0 : op == OP_LE ? r <= 0 : op == OP_GT ? r > 0 : r >= 0;
        return 0;
    }
}

/* ---- calls ----------------------------------------------------------------------------- */

int ct_bind(ct_ctx *c, const char *fname, const char *const *params, int nparams, const ct_callargs *a,
            ct_value *slots)
{
    for (int i = 0; i < nparams; i++) slots[i] = ct_missing();
    if (a->npos > nparams)
        return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %s() takes at most %d argument%s (%d given)", fname, nparams,
                       nparams == 1 ? "" : "s", a->npos);
    for (int i = 0; i < a->npos; i++) slots[i] = a->pos[i];
    for (int k = 0; k < a->nkw; k++) {
        int i;
        for (i = 0; i < nparams; i++)
            if (!strcmp(params[i], a->kwname[k]->data)) break;
        if (i == nparams)
            return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %s() got an unexpected keyword argument '%s'", fname,
                           a->kwname[k]->data);
        if (slots[i].kind != CT_MISSING)
            return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: %s() got multiple values for argument '%s'", fname,
                           params[i]);
        slots[i] = a->kwval[k];
    }
    return 0;
}

static void callargs_free(ct_callargs *a)
{
    for (int i = 0; i < a->npos; i++) ct_unref(a->pos[i]);
    for (int i = 0; i < a->nkw; i++) {
        ct_unref(a->kwval[i]);
        ct_unref(ct_strv(a->kwname[i]));
    }
    free(a->pos);
    free(a->kwval);
    free(a->kwname);
    memset(a, 0, sizeof *a);
}

/* Evaluates call arguments; the result owns its values and keyword names. */
static int callargs_eval(ct_ctx *c, const ct_args *an, ct_callargs *a)
{
    memset(a, 0, sizeof *a);
    ct_value star = ct_none(), dstar = ct_none();
    if (an->star) {
        ct_value v;
        if (ct_eval(c, an->star, &v) != 0) return -1;
        int rc = ct_iterate(c, v, &star);
        ct_unref(v);
        if (rc != 0) return -1;
    }
    if (an->dstar) {
        if (ct_eval(c, an->dstar, &dstar) != 0) goto fail;
        if (dstar.kind != CT_DICT) {
            ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: argument after ** must be a mapping, not %s", ct_type_name(dstar));
            goto fail;
        }
    }
    size_t npos = (size_t)an->npos + (star.kind == CT_LIST ? star.u.l->n : 0);
    size_t nkw = (size_t)an->nkw + (dstar.kind == CT_DICT ? dstar.u.d->n : 0);
    if (npos > 65536 || nkw > 65536) { ct_fail(c, HUBRT_ERR_RANGE, "too many call arguments"); goto fail; }
    a->pos = calloc(npos ? npos : 1, sizeof *a->pos);
    a->kwval = calloc(nkw ? nkw : 1, sizeof *a->kwval);
    a->kwname = calloc(nkw ? nkw : 1, sizeof *a->kwname);
    if (!a->pos || !a->kwval || !a->kwname) { ct_fail_nomem(c); goto fail; }
    for (int i = 0; i < an->npos; i++) {
        if (ct_eval(c, an->pos[i], &a->pos[a->npos]) != 0) goto fail;
        a->npos++;
    }
    if (star.kind == CT_LIST)
        for (size_t i = 0; i < star.u.l->n; i++) a->pos[a->npos++] = ct_copy(star.u.l->items[i]);
    for (int i = 0; i < an->nkw; i++) {
        if (ct_eval(c, an->kwval[i], &a->kwval[a->nkw]) != 0) goto fail;
        a->kwname[a->nkw++] = an->kwname[i];
    }
    if (dstar.kind == CT_DICT) {
        for (size_t i = 0; i < dstar.u.d->n; i++) {
            ct_value k = dstar.u.d->keys[i];
            if (k.kind != CT_STR) { ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: keywords must be strings"); goto fail; }
            a->kwval[a->nkw] = ct_copy(dstar.u.d->vals[i]);
            a->kwname[a->nkw++] = ct_copy(k).u.s;
        }
    }
    ct_unref(star);
    ct_unref(dstar);
    return 0;
fail:
    ct_unref(star);
    ct_unref(dstar);
    callargs_free(a);
    return -1;
}

static int call_macro(ct_ctx *c, const ct_func *fn, const ct_callargs *a, ct_value *out);
static int loop_recurse(ct_ctx *c, const ct_loop *l, const ct_callargs *a, ct_value *out);

int ct_call(ct_ctx *c, ct_value callee, const ct_callargs *a, ct_value *out)
{
    if (ct_step(c) != 0) return -1;
    switch (callee.kind) {
    case CT_FUNC:
        if (callee.u.fn->kind == CT_FN_MACRO) return call_macro(c, callee.u.fn, a, out);
        if (callee.u.fn->kind == CT_FN_METHOD) return ct_method_call(c, callee.u.fn, a, out);
        return ct_global_call(c, callee.u.fn->id, a, out);
    case CT_UNDEF:
        return ct_fail_undef(c, callee);
    case CT_LOOP:
        if (callee.u.loop->recursive) return loop_recurse(c, callee.u.loop, a, out);
        return ct_fail(c, HUBRT_ERR_FORMAT, "The loop must have the 'recursive' marker to be called recursively.");
    default:
        return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: '%s' object is not callable", ct_type_name(callee));
    }
}

/* ---- assignment ---------------------------------------------------------------------------- */

static int assign(ct_ctx *c, const ct_node *target, ct_value v);

static int unpack(ct_ctx *c, const ct_node *target, ct_value v)
{
    ct_value items;
    if (v.kind == CT_UNDEF) return ct_fail_undef(c, v);
    if (ct_iterate(c, v, &items) != 0) return -1;
    int rc = 0;
    size_t n = items.u.l->n;
    if (n != (size_t)target->n) {
        if (n > (size_t)target->n)
            rc = ct_fail(c, HUBRT_ERR_FORMAT, "ValueError: too many values to unpack (expected %d)", target->n);
        else
            rc = ct_fail(c, HUBRT_ERR_FORMAT, "ValueError: not enough values to unpack (expected %d, got %zu)",
                         target->n, n);
    }
    for (int i = 0; rc == 0 && i < target->n; i++) rc = assign(c, target->list[i], ct_copy(items.u.l->items[i]));
    ct_unref(items);
    return rc;
}

/* Assigns v (taking its reference) to a name, a tuple of names or ns.attr. */
static int assign(ct_ctx *c, const ct_node *target, ct_value v)
{
    if (target->type == N_NAME) return frame_set(c, c->frame, target->sym, v);
    if (target->type == N_TUPLE) {
        int rc = unpack(c, target, v);
        ct_unref(v);
        return rc;
    }
    /* N_NSREF */
    ct_value ns;
    if (lookup(c, target->sym, &ns) != 0) { ct_unref(v); return -1; }
    int rc;
    if (ns.kind != CT_NS) {
        rc = ct_fail(c, HUBRT_ERR_FORMAT, "cannot assign attribute on non-namespace object");
        ct_unref(v);
    } else {
        rc = ct_dict_set(c, ns.u.d, ct_strv(target->str), v);
    }
    ct_unref(ns);
    return rc;
}

/* ---- expressions --------------------------------------------------------------------------------- */

static int eval_seq(ct_ctx *c, const ct_node *n, uint8_t flags, ct_value *out)
{
    if (ct_list_new(c, (size_t)n->n, out) != 0) return -1;
    out->flags = flags;
    for (int i = 0; i < n->n; i++) {
        ct_value v;
        if (ct_eval(c, n->list[i], &v) != 0) { ct_unref(*out); return -1; }
        out->u.l->items[out->u.l->n++] = v;
    }
    return 0;
}

static int eval_filter(ct_ctx *c, const ct_node *n, ct_value input, ct_value *out)
{
    if (n->sym < 0) return ct_fail(c, HUBRT_ERR_FORMAT, "No filter named '%s' found.", n->str->data);
    ct_callargs a;
    if (callargs_eval(c, &n->args, &a) != 0) return -1;
    c->line = n->line;
    int rc = ct_filter_apply(c, n->sym, input, &a, out);
    callargs_free(&a);
    return rc;
}

static int eval_inner(ct_ctx *c, const ct_node *n, ct_value *out)
{
    ct_value a = ct_none(), b = ct_none();
    int rc = -1;
    switch (n->type) {
    case N_CONST:
        *out = ct_copy(n->value);
        return 0;
    case N_NAME:
        return lookup(c, n->sym, out);
    case N_TUPLE:
        return eval_seq(c, n, CT_F_TUPLE, out);
    case N_LIST:
        return eval_seq(c, n, 0, out);
    case N_DICT:
        if (ct_dict_new(c, out) != 0) return -1;
        for (int i = 0; i < n->n; i++) {
            if (ct_eval(c, n->list[i], &a) != 0) goto dict_fail;
            if (ct_eval(c, n->list2[i], &b) != 0) { ct_unref(a); goto dict_fail; }
            if (ct_dict_set(c, out->u.d, a, b) != 0) goto dict_fail;
        }
        return 0;
    dict_fail:
        ct_unref(*out);
        return -1;
    case N_GETATTR:
        if (ct_eval(c, n->a, &a) != 0) return -1;
        c->line = n->line;
        rc = ct_getattr(c, a, n->str, out);
        break;
    case N_GETITEM:
        if (ct_eval(c, n->a, &a) != 0) return -1;
        if (n->b->type == N_SLICE) {
            rc = do_slice(c, a, n->b, out);
            break;
        }
        if (ct_eval(c, n->b, &b) != 0) break;
        c->line = n->line;
        rc = ct_getitem(c, a, b, out);
        break;
    case N_CALL: {
        if (ct_eval(c, n->a, &a) != 0) return -1;
        ct_callargs args;
        if (callargs_eval(c, &n->args, &args) != 0) break;
        c->line = n->line;
        rc = ct_call(c, a, &args, out);
        callargs_free(&args);
        break;
    }
    case N_FILTER:
        if (ct_eval(c, n->a, &a) != 0) return -1;
        rc = eval_filter(c, n, a, out);
        break;
    case N_TEST: {
        if (ct_eval(c, n->a, &a) != 0) return -1;
        if (n->sym < 0) {
            rc = ct_fail(c, HUBRT_ERR_FORMAT, "No test named '%s' found.", n->str->data);
            break;
        }
        ct_callargs args;
        if (callargs_eval(c, &n->args, &args) != 0) break;
        int res;
        c->line = n->line;
        rc = ct_test_apply(c, n->sym, a, &args, &res);
        callargs_free(&args);
        if (rc == 0) *out = ct_bool(res);
        break;
    }
    case N_NOT:
        if (ct_eval(c, n->a, &a) != 0) return -1;
        *out = ct_bool(!ct_truthy(a));
        rc = 0;
        break;
    case N_NEG:
    case N_POS:
        if (ct_eval(c, n->a, &a) != 0) return -1;
        c->line = n->line;
        if (a.kind == CT_UNDEF) rc = ct_fail_undef(c, a);
        else if (a.kind == CT_FLOAT) { *out = ct_float(n->type == N_NEG ? -a.u.f : a.u.f); rc = 0; }
        else if (a.kind == CT_INT || a.kind == CT_BOOL) {
            if (n->type == N_NEG && a.u.i == INT64_MIN) rc = int_overflow(c);
            else { *out = ct_int(n->type == N_NEG ? -a.u.i : a.u.i); rc = 0; }
        } else {
            rc = ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: bad operand type for unary %c: '%s'",
                         n->type == N_NEG ? '-' : '+', ct_type_name(a));
        }
        break;
    case N_AND:
    case N_OR:
        if (ct_eval(c, n->a, &a) != 0) return -1;
        if (ct_truthy(a) == (n->type == N_OR)) {
            *out = a;
            return 0;
        }
        ct_unref(a);
        return ct_eval(c, n->b, out);
    case N_BINOP:
        if (ct_eval(c, n->a, &a) != 0) return -1;
        if (ct_eval(c, n->b, &b) != 0) break;
        c->line = n->line;
        rc = ct_binop(c, n->op, a, b, out);
        break;
    case N_CONCAT: {
        ct_sb s;
        ct_sb_init(&s, c);
        for (int i = 0; i < n->n; i++) {
            if (ct_eval(c, n->list[i], &a) != 0) { ct_sb_drop(&s); return -1; }
            int r = ct_write_str(c, &s, a);
            ct_unref(a);
            if (r != 0) { ct_sb_drop(&s); return -1; }
        }
        return ct_sb_finish(&s, out);
    }
    case N_COMPARE: {
        if (ct_eval(c, n->a, &a) != 0) return -1;
        int res = 1;
        for (int i = 0; i < n->n; i++) {
            if (ct_eval(c, n->list[i], &b) != 0) { ct_unref(a); return -1; }
            c->line = n->line;
            if (compare_op(c, n->ops[i], a, b, &res) != 0) { ct_unref(a); ct_unref(b); return -1; }
            ct_unref(a);
            a = b;
            b = ct_none();
            if (!res) break;
        }
        ct_unref(a);
        *out = ct_bool(res);
        return 0;
    }
    case N_CONDEXPR:
        if (ct_eval(c, n->a, &a) != 0) return -1;
        {
            int t = ct_truthy(a);
            ct_unref(a);
            if (t) return ct_eval(c, n->b, out);
            if (n->c) return ct_eval(c, n->c, out);
            return ct_undef_msg(c, out,
                                "the inline if-expression on line %d evaluated to false and no else section was defined.",
                                n->line);
        }
    case N_NSREF:
        return ct_fail(c, HUBRT_ERR_FORMAT, "a namespace reference can only be assigned to");
    default:
        return ct_fail(c, HUBRT_ERR_FORMAT, "internal error: unexpected node %d", n->type);
    }
    ct_unref(a);
    ct_unref(b);
    return rc;
}

int ct_eval(ct_ctx *c, const ct_node *n, ct_value *out)
{
    if (++c->eval_depth > EVAL_MAX_DEPTH) {
        c->eval_depth--;
        return ct_fail(c, HUBRT_ERR_RANGE, "the template nests evaluation more than %d deep (the limit)", EVAL_MAX_DEPTH);
    }
    int rc = eval_inner(c, n, out);
    c->eval_depth--;
    if (rc != 0) *out = ct_none(); /* nothing for the caller to release */
    return rc;
}

/* ---- statements ------------------------------------------------------------------------------ */

/* Runs a body in a new frame with its output captured as a string. */
static int render_body(ct_ctx *c, ct_node *const *body, int n, ct_value *out)
{
    ct_sb sb;
    ct_sb_init(&sb, c);
    ct_sb *saved = c->out;
    if (push_frame(c) != 0) return -1;
    c->out = &sb;
    int rc = exec_body(c, body, n);
    c->out = saved;
    pop_frame(c);
    if (rc != EX_OK) {
        ct_sb_drop(&sb);
        return rc;
    }
    return ct_sb_finish(&sb, out);
}

/* Applies a filter chain (innermost filter has no input node) to input. */
static int apply_chain(ct_ctx *c, const ct_node *f, ct_value input, ct_value *out)
{
    if (!f->a) return eval_filter(c, f, input, out);
    ct_value inner;
    if (apply_chain(c, f->a, input, &inner) != 0) return -1;
    int rc = eval_filter(c, f, inner, out);
    ct_unref(inner);
    return rc;
}

static int loop_make(ct_ctx *c, ct_value items, int depth0, const ct_node *recursive, ct_value *out)
{
    ct_loop *l = calloc(1, sizeof *l);
    if (!l) return ct_fail_nomem(c);
    l->h.refs = 1;
    l->h.type = CT_O_LOOP;
    l->items = ct_copy(items);
    l->length = items.u.l->n;
    l->depth0 = depth0;
    l->last_changed = ct_missing();
    l->recursive = recursive;
    *out = ct_mk(CT_LOOP);
    out->u.loop = l;
    return 0;
}

/* One for loop over `iterable` (a recursive loop calls it again, deeper). */
static int run_loop(ct_ctx *c, const ct_node *n, ct_value iterable, int depth0)
{
    ct_value items, lv = ct_none();
    c->line = n->line;
    if (ct_iterate(c, iterable, &items) != 0) return -1;
    int rc = EX_OK;
    if (n->c) {
        ct_value kept;
        if (ct_list_new(c, 0, &kept) != 0) { ct_unref(items); return -1; }
        for (size_t i = 0; i < items.u.l->n && rc == EX_OK; i++) {
            ct_value t;
            if (ct_step(c) != 0 || push_frame(c) != 0) { rc = -1; break; }
            if (assign(c, n->a, ct_copy(items.u.l->items[i])) != 0 || ct_eval(c, n->c, &t) != 0) rc = -1;
            pop_frame(c);
            if (rc == EX_OK) {
                if (ct_truthy(t) && ct_list_push(c, kept.u.l, ct_copy(items.u.l->items[i])) != 0) rc = -1;
                ct_unref(t);
            }
        }
        ct_unref(items);
        items = kept;
        if (rc != EX_OK) goto done;
    }
    if (items.u.l->n == 0) {
        if (n->n2) {
            if (push_frame(c) != 0) { rc = -1; goto done; }
            rc = exec_body(c, n->list2, n->n2);
            pop_frame(c);
        }
        goto done;
    }
    if (loop_make(c, items, depth0, n->op ? n : NULL, &lv) != 0) { rc = -1; goto done; }
    for (size_t i = 0; i < items.u.l->n; i++) {
        if (ct_step(c) != 0 || push_frame(c) != 0) { rc = -1; break; }
        lv.u.loop->index0 = i;
        if (assign(c, n->a, ct_copy(items.u.l->items[i])) != 0 ||
            frame_set(c, c->frame, c->t->sym_loop, ct_copy(lv)) != 0)
            rc = -1;
        else
            rc = exec_body(c, n->list, n->n);
        pop_frame(c);
        if (rc < 0) break;
        if (rc == EX_BREAK) { rc = EX_OK; break; }
        rc = EX_OK;
    }
    /* the loop object may have been kept somewhere: drop what it holds (cycles) */
    ct_unref(lv.u.loop->items);
    lv.u.loop->items = ct_none();
    ct_unref(lv.u.loop->last_changed);
    lv.u.loop->last_changed = ct_missing();
done:
    ct_unref(lv);
    ct_unref(items);
    return rc;
}

static int loop_recurse(ct_ctx *c, const ct_loop *l, const ct_callargs *a, ct_value *out)
{
    if (a->npos != 1 || a->nkw)
        return ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: loop() takes exactly one argument (the items)");
    if (c->depth >= c->max_depth)
        return ct_fail(c, HUBRT_ERR_RANGE, "recursive loops and macro calls nest more than %d deep (the limit)",
                       c->max_depth);
    ct_sb sb;
    ct_sb_init(&sb, c);
    ct_sb *saved = c->out;
    c->out = &sb;
    c->depth++;
    int rc = run_loop(c, l->recursive, a->pos[0], l->depth0 + 1);
    c->depth--;
    c->out = saved;
    if (rc != EX_OK) {
        ct_sb_drop(&sb);
        return -1;
    }
    return ct_sb_finish(&sb, out);
}

static int macro_value(ct_ctx *c, const ct_node *m, ct_value *out)
{
    ct_func *f = calloc(1, sizeof *f);
    if (!f) return ct_fail_nomem(c);
    f->h.refs = 1;
    f->h.type = CT_O_FUNC;
    f->kind = CT_FN_MACRO;
    f->macro = m;
    f->closure = c->frame;
    c->frame->h.refs++;
    f->self = ct_none();
    f->caller = ct_missing();
    *out = ct_mk(CT_FUNC);
    out->u.fn = f;
    return 0;
}

static int call_macro(ct_ctx *c, const ct_func *fn, const ct_callargs *a, ct_value *out)
{
    const ct_node *m = fn->macro;
    const char *name = m->type == N_MACRO ? c->t->syms[m->sym]->data : "caller";
    if (c->depth >= c->max_depth)
        return ct_fail(c, HUBRT_ERR_RANGE, "macro calls nest more than %d deep (the limit)", c->max_depth);
    ct_frame *f = frame_new(c, fn->closure);
    if (!f) return -1;
    ct_frame *saved_frame = c->frame;
    c->frame = f;
    int np = m->nparams, rc = 0;
    uint8_t given[256] = { 0 };
    ct_value varargs = ct_none(), kwargs = ct_none(), caller = ct_missing();
    if ((m->op & CT_M_VARARGS) && ct_list_new(c, 0, &varargs) != 0) rc = -1;
    if (rc == 0 && (m->op & CT_M_KWARGS) && ct_dict_new(c, &kwargs) != 0) rc = -1;
    if (rc == 0) varargs.flags = CT_F_TUPLE;
    for (int i = 0; rc == 0 && i < a->npos; i++) {
        if (i < np) {
            given[i] = 1;
            rc = frame_set(c, f, m->params[i], ct_copy(a->pos[i]));
        } else if (m->op & CT_M_VARARGS) {
            rc = ct_list_push(c, varargs.u.l, ct_copy(a->pos[i]));
        } else {
            rc = ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: macro '%s' takes not more than %d argument(s)", name, np);
        }
    }
    for (int k = 0; rc == 0 && k < a->nkw; k++) {
        const ct_str *kw = a->kwname[k];
        int i;
        for (i = 0; i < np; i++)
            if (c->t->syms[m->params[i]]->len == kw->len && !memcmp(c->t->syms[m->params[i]]->data, kw->data, kw->len))
                break;
        if (i < np) {
            if (given[i]) rc = ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: macro '%s' got multiple values for argument '%s'", name, kw->data);
            else { given[i] = 1; rc = frame_set(c, f, m->params[i], ct_copy(a->kwval[k])); }
        } else if (!strcmp(kw->data, "caller") && (m->op & CT_M_CALLER)) {
            ct_unref(caller);
            caller = ct_copy(a->kwval[k]);
        } else if (m->op & CT_M_KWARGS) {
            rc = ct_dict_set(c, kwargs.u.d, ct_copy(ct_strv((ct_str *)kw)), ct_copy(a->kwval[k]));
        } else {
            rc = ct_fail(c, HUBRT_ERR_FORMAT, "TypeError: macro '%s' takes no keyword argument '%s'", name, kw->data);
        }
    }
    int first_default = np - m->n2;
    for (int i = 0; rc == 0 && i < np; i++) {
        if (given[i]) continue;
        ct_value v;
        if (i >= first_default) rc = ct_eval(c, m->list2[i - first_default], &v);
        else rc = ct_undef_msg(c, &v, "parameter '%s' was not provided", c->t->syms[m->params[i]]->data);
        if (rc == 0) rc = frame_set(c, f, m->params[i], v);
    }
    if (rc == 0 && (m->op & CT_M_VARARGS)) { rc = frame_set(c, f, c->t->sym_varargs, varargs); varargs = ct_none(); }
    if (rc == 0 && (m->op & CT_M_KWARGS)) { rc = frame_set(c, f, c->t->sym_kwargs, kwargs); kwargs = ct_none(); }
    if (rc == 0 && (m->op & CT_M_CALLER)) {
        ct_value cv = caller.kind != CT_MISSING ? ct_copy(caller) : ct_copy(fn->caller);
        if (cv.kind == CT_MISSING) rc = ct_undef_msg(c, &cv, "No caller defined");
        if (rc == 0) rc = frame_set(c, f, c->t->sym_caller, cv);
    }
    ct_unref(varargs);
    ct_unref(kwargs);
    ct_unref(caller);
    if (rc == 0) {
        ct_sb sb;
        ct_sb_init(&sb, c);
        ct_sb *saved = c->out;
        c->out = &sb;
        c->depth++;
        rc = exec_body(c, m->list, m->n);
        c->depth--;
        c->out = saved;
        if (rc == EX_OK) rc = ct_sb_finish(&sb, out);
        else { ct_sb_drop(&sb); rc = -1; }
    }
    c->frame = saved_frame;
    frame_release_vars(f);
    frame_unref(f);
    return rc;
}

static int exec_call_block(ct_ctx *c, const ct_node *n)
{
    ct_value callee, caller, result;
    const ct_node *call = n->a;
    if (ct_eval(c, call->a, &callee) != 0) return -1;
    if (macro_value(c, n, &caller) != 0) { ct_unref(callee); return -1; }
    ct_callargs a;
    if (callargs_eval(c, &call->args, &a) != 0) { ct_unref(callee); ct_unref(caller); return -1; }
    ct_str **names = realloc(a.kwname, ((size_t)a.nkw + 1) * sizeof *names);
    ct_value *vals = names ? realloc(a.kwval, ((size_t)a.nkw + 1) * sizeof *vals) : NULL;
    if (names) a.kwname = names;
    if (vals) a.kwval = vals;
    int rc;
    if (!names || !vals) {
        rc = ct_fail_nomem(c);
        ct_unref(caller);
    } else {
        a.kwname[a.nkw] = c->t->syms[c->t->sym_caller];
        a.kwval[a.nkw++] = caller;
        c->line = n->line;
        rc = ct_call(c, callee, &a, &result);
        if (rc == 0) {
            rc = write_out(c, result);
            ct_unref(result);
        }
    }
    callargs_free(&a);
    ct_unref(callee);
    return rc;
}

static int exec_stmt(ct_ctx *c, const ct_node *n)
{
    ct_value v, r;
    int rc;
    c->line = n->line;
    switch (n->type) {
    case N_DATA:
        return ct_sb_add(c->out, n->str->data, n->str->len);
    case N_PRINT:
        if (ct_eval(c, n->a, &v) != 0) return -1;
        rc = write_out(c, v);
        ct_unref(v);
        return rc;
    case N_IF:
        if (ct_eval(c, n->a, &v) != 0) return -1;
        rc = ct_truthy(v);
        ct_unref(v);
        return rc ? exec_body(c, n->list, n->n) : exec_body(c, n->list2, n->n2);
    case N_FOR:
        if (ct_eval(c, n->b, &v) != 0) return -1;
        rc = run_loop(c, n, v, 0);
        ct_unref(v);
        return rc;
    case N_SET:
        if (ct_eval(c, n->b, &v) != 0) return -1;
        c->line = n->line;
        return assign(c, n->a, v);
    case N_SETBLOCK:
        rc = render_body(c, n->list, n->n, &v);
        if (rc != EX_OK) return rc;
        if (n->b) {
            rc = apply_chain(c, n->b, v, &r);
            ct_unref(v);
            if (rc != 0) return -1;
            v = r;
        }
        return assign(c, n->a, v);
    case N_FILTERBLOCK:
        rc = render_body(c, n->list, n->n, &v);
        if (rc != EX_OK) return rc;
        rc = apply_chain(c, n->b, v, &r);
        ct_unref(v);
        if (rc != 0) return -1;
        rc = write_out(c, r);
        ct_unref(r);
        return rc;
    case N_MACRO:
        if (macro_value(c, n, &v) != 0) return -1;
        return frame_set(c, c->frame, n->sym, v);
    case N_CALLBLOCK:
        return exec_call_block(c, n);
    case N_WITH: {
        /* the values are evaluated outside, the names set inside the new frame */
        int nv = n->args.npos;
        ct_value *vals = calloc((size_t)(nv ? nv : 1), sizeof *vals);
        if (!vals) return ct_fail_nomem(c);
        int k = 0;
        rc = 0;
        while (k < nv && (rc = ct_eval(c, n->args.pos[k], &vals[k])) == 0) k++;
        if (rc == 0) rc = push_frame(c);
        if (rc == 0) {
            for (int i = 0; i < nv; i++) {
                ct_value v = vals[i];
                vals[i] = ct_none();
                if (rc == 0) rc = assign(c, n->list2[i], v);
                else ct_unref(v);
            }
            if (rc == 0) rc = exec_body(c, n->list, n->n);
            pop_frame(c);
        }
        for (int i = 0; i < k; i++) ct_unref(vals[i]);
        free(vals);
        return rc;
    }
    case N_SCOPE:
        if (push_frame(c) != 0) return -1;
        rc = exec_body(c, n->list, n->n);
        pop_frame(c);
        return rc;
    case N_BREAK:
        return EX_BREAK;
    case N_CONTINUE:
        return EX_CONTINUE;
    default:
        return ct_fail(c, HUBRT_ERR_FORMAT, "internal error: unexpected statement %d", n->type);
    }
}

static int exec_body(ct_ctx *c, ct_node *const *body, int n)
{
    if (++c->eval_depth > EVAL_MAX_DEPTH) {
        c->eval_depth--;
        return ct_fail(c, HUBRT_ERR_RANGE, "the template nests evaluation more than %d deep (the limit)", EVAL_MAX_DEPTH);
    }
    int rc = EX_OK;
    for (int i = 0; i < n && rc == EX_OK; i++) rc = exec_stmt(c, body[i]);
    c->eval_depth--;
    return rc;
}

int ct_exec_template(ct_ctx *c)
{
    if (push_frame(c) != 0) return -1;
    int rc = exec_body(c, c->t->body, c->t->n);
    pop_frame(c);
    return rc == EX_OK ? 0 : -1;
}
