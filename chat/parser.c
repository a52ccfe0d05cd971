/*
 * chat/parser.c — tokens to AST, following jinja2's parser function by
 * function (so precedence and the odd corners match): filters and `is`
 * tests bind tighter than any binary operator, `**` is left-associative,
 * `a if b` without else gives undefined, `is` takes one bare argument
 * (`x is divisibleby 3`). An unknown filter or test is an error when the
 * template is parsed unless it sits inside an `if` or a conditional
 * expression of the same scope (then only when evaluated), as in jinja2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/ct_internal.h"
#include "include/hubrt.h"

#define PARSE_MAX_DEPTH 200

/* The arena holding a template's nodes and arrays. */
struct ct_chunk {
    struct ct_chunk *next;
    size_t used, cap;
    _Alignas(16) char data[];
};

void *ct_arena_alloc(ct_template *t, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct ct_chunk *ch = t->chunks;
    if (!ch || ch->used + n > ch->cap) {
        size_t cap = n > 16384 ? n : 16384;
        struct ct_chunk *nc = malloc(sizeof *nc + cap);
        if (!nc) return NULL;
        nc->next = ch;
        nc->used = 0;
        nc->cap = cap;
        t->chunks = nc;
        ch = nc;
    }
    void *p = ch->data + ch->used;
    ch->used += n;
    memset(p, 0, n);
    return p;
}

void ct_arena_free(ct_template *t)
{
    struct ct_chunk *ch = t->chunks;
    while (ch) {
        struct ct_chunk *next = ch->next;
        free(ch);
        ch = next;
    }
    t->chunks = NULL;
}

int ct_template_const(ct_template *t, ct_str *s)
{
    if (t->nconsts == t->cap_consts) {
        size_t cap = t->cap_consts ? t->cap_consts * 2 : 64;
        ct_str **c = realloc(t->consts, cap * sizeof *c);
        if (!c) return -1;
        t->consts = c;
        t->cap_consts = cap;
    }
    t->consts[t->nconsts++] = s;
    return 0;
}

int ct_symbol(ct_template *t, const char *p, size_t n)
{
    for (int i = 0; i < t->nsyms; i++)
        if (t->syms[i]->len == n && memcmp(t->syms[i]->data, p, n) == 0) return i;
    if (t->nsyms == t->cap_syms) {
        int cap = t->cap_syms ? t->cap_syms * 2 : 64;
        ct_str **s = realloc(t->syms, (size_t)cap * sizeof *s);
        if (!s) return -1;
        t->syms = s;
        t->cap_syms = cap;
    }
    ct_str *s = ct_str_immortal(p, n);
    if (!s) return -1;
    if (ct_template_const(t, s) != 0) {
        ct_str_immortal_free(s);
        return -1;
    }
    t->syms[t->nsyms] = s;
    return t->nsyms++;
}

/* ---- parser state --------------------------------------------------------------- */

typedef struct ps {
    ct_ctx *c;
    ct_template *t;
    const ct_token *tk;
    size_t n, i;
    int loops;        /* for loops around (in this macro) */
    int depth;
    uint8_t *macro_flags[PARSE_MAX_DEPTH + 1];
    int nmacros;
} ps;

static const ct_token *cur(ps *p) { return &p->tk[p->i]; }
static const ct_token *peek(ps *p, size_t k) { return &p->tk[p->i + k < p->n ? p->i + k : p->n - 1]; }
static void adv(ps *p) { if (p->i + 1 < p->n) p->i++; }

static int tok_is_name(const ct_token *t, const char *w)
{
    return t->type == T_NAME && t->n == strlen(w) && memcmp(t->p, w, t->n) == 0;
}
static int tok_is_op(const ct_token *t, int op) { return t->type == T_OP && t->op == op; }

static const char *const op_text[] = {
    "+", "-", "/", "//", "*", "%", "**", "~", "[", "]", "(", ")", "{", "}",
    "==", "!=", ">", ">=", "<", "<=", "=", ".", ":", "|", ",", ";"
};

static void describe(const ct_token *t, char *buf, size_t n)
{
    switch (t->type) {
    case T_EOF: snprintf(buf, n, "end of template"); break;
    case T_DATA: snprintf(buf, n, "template data"); break;
    case T_VAR_BEGIN: snprintf(buf, n, "begin of print statement"); break;
    case T_VAR_END: snprintf(buf, n, "end of print statement"); break;
    case T_BLOCK_BEGIN: snprintf(buf, n, "begin of statement block"); break;
    case T_BLOCK_END: snprintf(buf, n, "end of statement block"); break;
    case T_NAME: snprintf(buf, n, "%.*s", (int)(t->n > 60 ? 60 : t->n), t->p); break;
    case T_STRING: snprintf(buf, n, "string"); break;
    case T_INT: snprintf(buf, n, "integer"); break;
    case T_FLOAT: snprintf(buf, n, "float"); break;
    default: snprintf(buf, n, "%s", op_text[t->op]); break;
    }
}

static int fail_at(ps *p, const ct_token *t, const char *fmt, ...) CT_PRINTF(3, 4);
static int fail_at(ps *p, const ct_token *t, const char *fmt, ...)
{
    char tmp[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    p->c->line = t->line;
    return ct_fail(p->c, HUBRT_ERR_FORMAT, "%s", tmp);
}

static int fail_expected(ps *p, const char *what)
{
    char got[80];
    describe(cur(p), got, sizeof got);
    return fail_at(p, cur(p), "expected token '%s', got '%s'", what, got);
}

static int expect_op(ps *p, int op)
{
    if (!tok_is_op(cur(p), op)) return fail_expected(p, op_text[op]);
    adv(p);
    return 0;
}

static int expect_type(ps *p, int type, const char *what)
{
    if (cur(p)->type != type) return fail_expected(p, what);
    adv(p);
    return 0;
}

static ct_node *node(ps *p, int type, int line)
{
    ct_node *n = ct_arena_alloc(p->t, sizeof *n);
    if (!n) { ct_fail_nomem(p->c); return NULL; }
    n->type = (uint8_t)type;
    n->line = line;
    n->sym = -1;
    n->value = ct_none();
    return n;
}

/* A growable array of nodes, copied into the arena when done. */
typedef struct nvec {
    ct_node **v;
    int n, cap;
} nvec;

static int nvec_push(ps *p, nvec *v, ct_node *x)
{
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 8;
        ct_node **a = realloc(v->v, (size_t)cap * sizeof *a);
        if (!a) return ct_fail_nomem(p->c);
        v->v = a;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return 0;
}

static ct_node **nvec_done(ps *p, nvec *v, int *n)
{
    *n = v->n;
    ct_node **a = NULL;
    if (v->n) {
        a = ct_arena_alloc(p->t, (size_t)v->n * sizeof *a);
        if (a) memcpy(a, v->v, (size_t)v->n * sizeof *a);
        else ct_fail_nomem(p->c);
    }
    free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
    return a;
}

static ct_str *name_str(ps *p, const ct_token *t)
{
    int s = ct_symbol(p->t, t->p, t->n);
    if (s < 0) { ct_fail_nomem(p->c); return NULL; }
    return p->t->syms[s];
}

static int enter(ps *p)
{
    if (++p->depth > PARSE_MAX_DEPTH)
        return fail_at(p, cur(p), "the template nests expressions or blocks more than %d deep", PARSE_MAX_DEPTH);
    return 0;
}

static ct_node *parse_expression(ps *p, int with_condexpr);
static ct_node *parse_tuple(ps *p, int simplified, int with_condexpr, const char *extra_end,
                            int explicit_parens, int with_namespace);
static ct_node *parse_unary(ps *p, int with_filter);
static ct_node *parse_primary(ps *p, int with_namespace);
static ct_node *parse_postfix(ps *p, ct_node *n);
static ct_node *parse_filter(ps *p, ct_node *n, int start_inline);
static int parse_body(ps *p, const char *const *ends, ct_node ***out, int *nout);

/* ---- expressions ----------------------------------------------------------------- */

static int parse_call_args(ps *p, ct_args *a)
{
    const ct_token *open = cur(p);
    if (expect_op(p, TO_LPAREN) != 0) return -1;
    nvec pos = { 0 }, kwv = { 0 };
    ct_str **kwn = NULL;
    int nkwn = 0, capkwn = 0, require_comma = 0;
    while (!tok_is_op(cur(p), TO_RPAREN)) {
        if (cur(p)->type == T_EOF) { fail_expected(p, ")"); goto fail; }
        if (require_comma) {
            if (expect_op(p, TO_COMMA) != 0) goto fail;
            if (tok_is_op(cur(p), TO_RPAREN)) break;
        }
        if (tok_is_op(cur(p), TO_MUL)) {
            if (a->star || a->dstar) { fail_at(p, open, "invalid syntax for function call expression"); goto fail; }
            adv(p);
            if (!(a->star = parse_expression(p, 1))) goto fail;
        } else if (tok_is_op(cur(p), TO_POW)) {
            if (a->dstar) { fail_at(p, open, "invalid syntax for function call expression"); goto fail; }
            adv(p);
            if (!(a->dstar = parse_expression(p, 1))) goto fail;
        } else if (cur(p)->type == T_NAME && tok_is_op(peek(p, 1), TO_ASSIGN)) {
            if (a->dstar) { fail_at(p, open, "invalid syntax for function call expression"); goto fail; }
            ct_str *name = name_str(p, cur(p));
            if (!name) goto fail;
            adv(p);
            adv(p);
            ct_node *v = parse_expression(p, 1);
            if (!v) goto fail;
            if (nkwn == capkwn) {
                capkwn = capkwn ? capkwn * 2 : 4;
                ct_str **k = realloc(kwn, (size_t)capkwn * sizeof *k);
                if (!k) { ct_fail_nomem(p->c); goto fail; }
                kwn = k;
            }
            kwn[nkwn++] = name;
            if (nvec_push(p, &kwv, v) != 0) goto fail;
        } else {
            if (a->star || a->dstar || kwv.n) { fail_at(p, open, "invalid syntax for function call expression"); goto fail; }
            ct_node *v = parse_expression(p, 1);
            if (!v || nvec_push(p, &pos, v) != 0) goto fail;
        }
        require_comma = 1;
    }
    if (expect_op(p, TO_RPAREN) != 0) goto fail;
    a->pos = nvec_done(p, &pos, &a->npos);
    a->kwval = nvec_done(p, &kwv, &a->nkw);
    if (nkwn) {
        a->kwname = ct_arena_alloc(p->t, (size_t)nkwn * sizeof *a->kwname);
        if (!a->kwname) { free(kwn); return ct_fail_nomem(p->c); }
        memcpy(a->kwname, kwn, (size_t)nkwn * sizeof *kwn);
    }
    free(kwn);
    return p->c->status ? -1 : 0;
fail:
    free(pos.v);
    free(kwv.v);
    free(kwn);
    return -1;
}

static ct_node *parse_call(ps *p, ct_node *callee)
{
    ct_node *n = node(p, N_CALL, cur(p)->line);
    if (!n) return NULL;
    n->a = callee;
    if (parse_call_args(p, &n->args) != 0) return NULL;
    return n;
}

/* `name(.name)*` after `|` or `is`, as one dotted name. */
static ct_str *dotted_name(ps *p)
{
    if (cur(p)->type != T_NAME) { fail_expected(p, "name"); return NULL; }
    const char *start = cur(p)->p;
    const char *end = start + cur(p)->n;
    adv(p);
    while (tok_is_op(cur(p), TO_DOT)) {
        adv(p);
        if (cur(p)->type != T_NAME) { fail_expected(p, "name"); return NULL; }
        end = cur(p)->p + cur(p)->n;
        adv(p);
    }
    int s = ct_symbol(p->t, start, (size_t)(end - start));
    if (s < 0) { ct_fail_nomem(p->c); return NULL; }
    return p->t->syms[s];
}

static ct_node *parse_filter(ps *p, ct_node *n, int start_inline)
{
    while (tok_is_op(cur(p), TO_PIPE) || start_inline) {
        if (!start_inline) adv(p);
        int line = cur(p)->line;
        ct_str *name = dotted_name(p);
        if (!name) return NULL;
        ct_node *f = node(p, N_FILTER, line);
        if (!f) return NULL;
        f->a = n;
        f->str = name;
        f->sym = ct_filter_id(name->data, name->len);
        if (tok_is_op(cur(p), TO_LPAREN) && parse_call_args(p, &f->args) != 0) return NULL;
        n = f;
        start_inline = 0;
    }
    return n;
}

static ct_node *parse_test(ps *p, ct_node *n)
{
    int line = cur(p)->line;
    adv(p); /* is */
    int negated = 0;
    if (tok_is_name(cur(p), "not")) {
        adv(p);
        negated = 1;
    }
    ct_str *name = dotted_name(p);
    if (!name) return NULL;
    ct_node *t = node(p, N_TEST, line);
    if (!t) return NULL;
    t->a = n;
    t->str = name;
    t->sym = ct_test_id(name->data, name->len);
    const ct_token *c = cur(p);
    if (tok_is_op(c, TO_LPAREN)) {
        if (parse_call_args(p, &t->args) != 0) return NULL;
    } else if ((c->type == T_NAME || c->type == T_STRING || c->type == T_INT || c->type == T_FLOAT ||
                tok_is_op(c, TO_LPAREN) || tok_is_op(c, TO_LBRACKET) || tok_is_op(c, TO_LBRACE)) &&
               !tok_is_name(c, "else") && !tok_is_name(c, "or") && !tok_is_name(c, "and")) {
        if (tok_is_name(c, "is")) {
            fail_at(p, c, "You cannot chain multiple tests with is");
            return NULL;
        }
        ct_node *arg = parse_primary(p, 0);
        if (!arg || !(arg = parse_postfix(p, arg))) return NULL;
        t->args.pos = ct_arena_alloc(p->t, sizeof *t->args.pos);
        if (!t->args.pos) { ct_fail_nomem(p->c); return NULL; }
        t->args.pos[0] = arg;
        t->args.npos = 1;
    }
    if (negated) {
        ct_node *x = node(p, N_NOT, line);
        if (!x) return NULL;
        x->a = t;
        return x;
    }
    return t;
}

static ct_node *parse_subscribed(ps *p)
{
    int line = cur(p)->line;
    ct_node *parts[3] = { NULL, NULL, NULL };
    if (tok_is_op(cur(p), TO_COLON)) {
        adv(p);
    } else {
        ct_node *e = parse_expression(p, 1);
        if (!e) return NULL;
        if (!tok_is_op(cur(p), TO_COLON)) return e;
        adv(p);
        parts[0] = e;
    }
    if (!tok_is_op(cur(p), TO_COLON) && !tok_is_op(cur(p), TO_RBRACKET) && !tok_is_op(cur(p), TO_COMMA)) {
        if (!(parts[1] = parse_expression(p, 1))) return NULL;
    }
    if (tok_is_op(cur(p), TO_COLON)) {
        adv(p);
        if (!tok_is_op(cur(p), TO_RBRACKET) && !tok_is_op(cur(p), TO_COMMA))
            if (!(parts[2] = parse_expression(p, 1))) return NULL;
    }
    ct_node *s = node(p, N_SLICE, line);
    if (!s) return NULL;
    s->a = parts[0];
    s->b = parts[1];
    s->c = parts[2];
    return s;
}

static ct_node *parse_subscript(ps *p, ct_node *n)
{
    const ct_token *t = cur(p);
    int line = t->line;
    adv(p);
    if (t->type == T_OP && t->op == TO_DOT) {
        const ct_token *a = cur(p);
        if (a->type == T_NAME) {
            adv(p);
            ct_node *g = node(p, N_GETATTR, line);
            if (!g || !(g->str = name_str(p, a))) return NULL;
            g->a = n;
            return g;
        }
        if (a->type != T_INT) {
            fail_at(p, a, "expected name or number");
            return NULL;
        }
        adv(p);
        ct_node *k = node(p, N_CONST, a->line), *g = node(p, N_GETITEM, line);
        if (!k || !g) return NULL;
        k->value = ct_int(a->i);
        g->a = n;
        g->b = k;
        return g;
    }
    /* [ subscript, ... ] */
    nvec args = { 0 };
    while (!tok_is_op(cur(p), TO_RBRACKET)) {
        if (cur(p)->type == T_EOF) { fail_expected(p, "]"); free(args.v); return NULL; }
        if (args.n && expect_op(p, TO_COMMA) != 0) { free(args.v); return NULL; }
        ct_node *s = parse_subscribed(p);
        if (!s || nvec_push(p, &args, s) != 0) { free(args.v); return NULL; }
    }
    if (expect_op(p, TO_RBRACKET) != 0) { free(args.v); return NULL; }
    ct_node *g = node(p, N_GETITEM, line);
    if (!g) { free(args.v); return NULL; }
    g->a = n;
    if (args.n == 1) {
        g->b = args.v[0];
        free(args.v);
    } else {
        ct_node *tup = node(p, N_TUPLE, line);
        if (!tup) { free(args.v); return NULL; }
        tup->list = nvec_done(p, &args, &tup->n);
        g->b = tup;
    }
    return p->c->status ? NULL : g;
}

static ct_node *parse_postfix(ps *p, ct_node *n)
{
    while (n) {
        if (tok_is_op(cur(p), TO_DOT) || tok_is_op(cur(p), TO_LBRACKET)) n = parse_subscript(p, n);
        else if (tok_is_op(cur(p), TO_LPAREN)) n = parse_call(p, n);
        else break;
    }
    return n;
}

static ct_node *parse_filter_expr(ps *p, ct_node *n)
{
    while (n) {
        if (tok_is_op(cur(p), TO_PIPE)) n = parse_filter(p, n, 0);
        else if (tok_is_name(cur(p), "is")) n = parse_test(p, n);
        else if (tok_is_op(cur(p), TO_LPAREN)) n = parse_call(p, n);
        else break;
    }
    return n;
}

static ct_node *parse_list(ps *p)
{
    int line = cur(p)->line;
    adv(p);
    nvec items = { 0 };
    while (!tok_is_op(cur(p), TO_RBRACKET)) {
        if (items.n && expect_op(p, TO_COMMA) != 0) goto fail;
        if (tok_is_op(cur(p), TO_RBRACKET)) break;
        ct_node *e = parse_expression(p, 1);
        if (!e || nvec_push(p, &items, e) != 0) goto fail;
    }
    if (expect_op(p, TO_RBRACKET) != 0) goto fail;
    ct_node *l = node(p, N_LIST, line);
    if (!l) goto fail;
    l->list = nvec_done(p, &items, &l->n);
    return p->c->status ? NULL : l;
fail:
    free(items.v);
    return NULL;
}

static ct_node *parse_dict(ps *p)
{
    int line = cur(p)->line;
    adv(p);
    nvec keys = { 0 }, vals = { 0 };
    while (!tok_is_op(cur(p), TO_RBRACE)) {
        if (keys.n && expect_op(p, TO_COMMA) != 0) goto fail;
        if (tok_is_op(cur(p), TO_RBRACE)) break;
        ct_node *k = parse_expression(p, 1);
        if (!k || expect_op(p, TO_COLON) != 0) goto fail;
        ct_node *v = parse_expression(p, 1);
        if (!v || nvec_push(p, &keys, k) != 0 || nvec_push(p, &vals, v) != 0) goto fail;
    }
    if (expect_op(p, TO_RBRACE) != 0) goto fail;
    ct_node *d = node(p, N_DICT, line);
    if (!d) goto fail;
    d->list = nvec_done(p, &keys, &d->n);
    d->list2 = nvec_done(p, &vals, &d->n2);
    return p->c->status ? NULL : d;
fail:
    free(keys.v);
    free(vals.v);
    return NULL;
}

static void note_special_name(ps *p, int sym)
{
    uint8_t flag = sym == p->t->sym_varargs ? CT_M_VARARGS : sym == p->t->sym_kwargs ? CT_M_KWARGS
                 : sym == p->t->sym_caller ? CT_M_CALLER : 0;
    if (flag)
        for (int i = 0; i < p->nmacros; i++) *p->macro_flags[i] |= flag;
}

static ct_node *parse_primary(ps *p, int with_namespace)
{
    if (enter(p) != 0) return NULL;
    const ct_token *t = cur(p);
    ct_node *n = NULL;
    if (t->type == T_NAME) {
        adv(p);
        if (tok_is_name(t, "true") || tok_is_name(t, "True") || tok_is_name(t, "false") || tok_is_name(t, "False")) {
            if ((n = node(p, N_CONST, t->line))) n->value = ct_bool(t->p[0] == 't' || t->p[0] == 'T');
        } else if (tok_is_name(t, "none") || tok_is_name(t, "None")) {
            n = node(p, N_CONST, t->line);
        } else if (with_namespace && tok_is_op(cur(p), TO_DOT)) {
            adv(p);
            const ct_token *attr = cur(p);
            if (expect_type(p, T_NAME, "name") != 0) goto out;
            if ((n = node(p, N_NSREF, t->line))) {
                n->sym = ct_symbol(p->t, t->p, t->n);
                n->str = name_str(p, attr);
                if (n->sym < 0 || !n->str) n = NULL;
            }
        } else if ((n = node(p, N_NAME, t->line))) {
            n->sym = ct_symbol(p->t, t->p, t->n);
            if (n->sym < 0) { ct_fail_nomem(p->c); n = NULL; }
            else note_special_name(p, n->sym);
        }
    } else if (t->type == T_STRING) {
        int line = t->line;
        adv(p);
        if (cur(p)->type != T_STRING) {
            if ((n = node(p, N_CONST, line))) n->value = ct_strv(t->s);
        } else {
            ct_sb b;
            ct_sb_init(&b, p->c);
            if (ct_sb_add(&b, t->s->data, t->s->len) != 0) goto out;
            while (cur(p)->type == T_STRING) {
                if (ct_sb_add(&b, cur(p)->s->data, cur(p)->s->len) != 0) { ct_sb_drop(&b); goto out; }
                adv(p);
            }
            ct_str *s = ct_str_immortal(ct_sb_data(&b), ct_sb_len(&b));
            ct_sb_drop(&b);
            if (!s || ct_template_const(p->t, s) != 0) {
                if (s) ct_str_immortal_free(s);
                ct_fail_nomem(p->c);
                goto out;
            }
            if ((n = node(p, N_CONST, line))) n->value = ct_strv(s);
        }
    } else if (t->type == T_INT || t->type == T_FLOAT) {
        adv(p);
        if ((n = node(p, N_CONST, t->line))) n->value = t->type == T_INT ? ct_int(t->i) : ct_float(t->f);
    } else if (tok_is_op(t, TO_LPAREN)) {
        adv(p);
        n = parse_tuple(p, 0, 1, NULL, 1, 0);
        if (n && expect_op(p, TO_RPAREN) != 0) n = NULL;
    } else if (tok_is_op(t, TO_LBRACKET)) {
        n = parse_list(p);
    } else if (tok_is_op(t, TO_LBRACE)) {
        n = parse_dict(p);
    } else {
        char got[80];
        describe(t, got, sizeof got);
        fail_at(p, t, "unexpected '%s'", got);
    }
out:
    p->depth--;
    return n;
}

static ct_node *parse_unary(ps *p, int with_filter)
{
    if (enter(p) != 0) return NULL;
    const ct_token *t = cur(p);
    ct_node *n;
    if (tok_is_op(t, TO_SUB) || tok_is_op(t, TO_ADD)) {
        adv(p);
        ct_node *operand = parse_unary(p, 0);
        n = operand ? node(p, tok_is_op(t, TO_SUB) ? N_NEG : N_POS, t->line) : NULL;
        if (n) n->a = operand;
    } else {
        n = parse_primary(p, 0);
    }
    n = parse_postfix(p, n);
    if (with_filter) n = parse_filter_expr(p, n);
    p->depth--;
    return n;
}

static ct_node *binop(ps *p, int op, ct_node *a, ct_node *b, int line)
{
    if (!a || !b) return NULL;
    ct_node *n = node(p, N_BINOP, line);
    if (!n) return NULL;
    n->op = (uint8_t)op;
    n->a = a;
    n->b = b;
    return n;
}

static ct_node *parse_pow(ps *p)
{
    ct_node *left = parse_unary(p, 1);
    while (left && tok_is_op(cur(p), TO_POW)) {
        int line = cur(p)->line;
        adv(p);
        left = binop(p, OP_POW, left, parse_unary(p, 1), line);
    }
    return left;
}

static ct_node *parse_math2(ps *p)
{
    ct_node *left = parse_pow(p);
    while (left) {
        const ct_token *t = cur(p);
        int op = tok_is_op(t, TO_MUL) ? OP_MUL : tok_is_op(t, TO_DIV) ? OP_DIV
               : tok_is_op(t, TO_FLOORDIV) ? OP_FLOORDIV : tok_is_op(t, TO_MOD) ? OP_MOD : -1;
        if (op < 0) break;
        adv(p);
        left = binop(p, op, left, parse_pow(p), t->line);
    }
    return left;
}

static ct_node *parse_concat(ps *p)
{
    int line = cur(p)->line;
    ct_node *first = parse_math2(p);
    if (!first || !tok_is_op(cur(p), TO_TILDE)) return first;
    nvec args = { 0 };
    if (nvec_push(p, &args, first) != 0) return NULL;
    while (tok_is_op(cur(p), TO_TILDE)) {
        adv(p);
        ct_node *e = parse_math2(p);
        if (!e || nvec_push(p, &args, e) != 0) { free(args.v); return NULL; }
    }
    ct_node *n = node(p, N_CONCAT, line);
    if (!n) { free(args.v); return NULL; }
    n->list = nvec_done(p, &args, &n->n);
    return p->c->status ? NULL : n;
}

static ct_node *parse_math1(ps *p)
{
    ct_node *left = parse_concat(p);
    while (left && (tok_is_op(cur(p), TO_ADD) || tok_is_op(cur(p), TO_SUB))) {
        const ct_token *t = cur(p);
        adv(p);
        left = binop(p, tok_is_op(t, TO_ADD) ? OP_ADD : OP_SUB, left, parse_concat(p), t->line);
    }
    return left;
}

static ct_node *parse_compare(ps *p)
{
    int line = cur(p)->line;
    ct_node *expr = parse_math1(p);
    if (!expr) return NULL;
    nvec operands = { 0 };
    uint8_t ops[64];
    int nops = 0;
    for (;;) {
        const ct_token *t = cur(p);
        int op = -1;
        if (t->type == T_OP) {
            op = t->op == TO_EQ ? OP_EQ : t->op == TO_NE ? OP_NE : t->op == TO_LT ? OP_LT
               : t->op == TO_LTEQ ? OP_LE : t->op == TO_GT ? OP_GT : t->op == TO_GTEQ ? OP_GE : -1;
            if (op >= 0) adv(p);
        } else if (tok_is_name(t, "in")) {
            op = OP_IN;
            adv(p);
        } else if (tok_is_name(t, "not") && tok_is_name(peek(p, 1), "in")) {
            op = OP_NOTIN;
            adv(p);
            adv(p);
        }
        if (op < 0) break;
        if (nops == (int)sizeof ops) {
            free(operands.v);
            fail_at(p, t, "too many chained comparisons");
            return NULL;
        }
        ct_node *e = parse_math1(p);
        if (!e || nvec_push(p, &operands, e) != 0) { free(operands.v); return NULL; }
        ops[nops++] = (uint8_t)op;
    }
    if (!nops) return expr;
    ct_node *n = node(p, N_COMPARE, line);
    if (!n) { free(operands.v); return NULL; }
    n->a = expr;
    n->list = nvec_done(p, &operands, &n->n);
    n->ops = ct_arena_alloc(p->t, (size_t)nops);
    if (!n->ops) { ct_fail_nomem(p->c); return NULL; }
    memcpy(n->ops, ops, (size_t)nops);
    return p->c->status ? NULL : n;
}

static ct_node *parse_not(ps *p)
{
    if (tok_is_name(cur(p), "not")) {
        int line = cur(p)->line;
        adv(p);
        if (enter(p) != 0) return NULL;
        ct_node *operand = parse_not(p);
        p->depth--;
        ct_node *n = operand ? node(p, N_NOT, line) : NULL;
        if (n) n->a = operand;
        return n;
    }
    return parse_compare(p);
}

static ct_node *parse_and(ps *p)
{
    ct_node *left = parse_not(p);
    while (left && tok_is_name(cur(p), "and")) {
        int line = cur(p)->line;
        adv(p);
        ct_node *right = parse_not(p);
        ct_node *n = right ? node(p, N_AND, line) : NULL;
        if (n) { n->a = left; n->b = right; }
        left = n;
    }
    return left;
}

static ct_node *parse_or(ps *p)
{
    ct_node *left = parse_and(p);
    while (left && tok_is_name(cur(p), "or")) {
        int line = cur(p)->line;
        adv(p);
        ct_node *right = parse_and(p);
        ct_node *n = right ? node(p, N_OR, line) : NULL;
        if (n) { n->a = left; n->b = right; }
        left = n;
    }
    return left;
}

static ct_node *parse_condexpr(ps *p)
{
    int line = cur(p)->line;
    ct_node *expr1 = parse_or(p);
    while (expr1 && tok_is_name(cur(p), "if")) {
        adv(p);
        ct_node *expr2 = parse_or(p), *expr3 = NULL;
        if (expr2 && tok_is_name(cur(p), "else")) {
            adv(p);
            if (enter(p) != 0) return NULL;
            expr3 = parse_condexpr(p);
            p->depth--;
            if (!expr3) expr2 = NULL;
        }
        ct_node *n = expr2 ? node(p, N_CONDEXPR, line) : NULL;
        if (n) {
            n->a = expr2;
            n->b = expr1;
            n->c = expr3;
        }
        expr1 = n;
        line = cur(p)->line;
    }
    return expr1;
}

static ct_node *parse_expression(ps *p, int with_condexpr)
{
    if (enter(p) != 0) return NULL;
    ct_node *n;
    if (!with_condexpr) {
        n = parse_or(p);
    } else {
        n = parse_condexpr(p);
    }
    p->depth--;
    return n;
}

static int is_tuple_end(ps *p, const char *extra_end)
{
    const ct_token *t = cur(p);
    if (t->type == T_VAR_END || t->type == T_BLOCK_END || tok_is_op(t, TO_RPAREN) || t->type == T_EOF) return 1;
    if (extra_end && tok_is_name(t, extra_end)) return 1;
    return 0;
}

static ct_node *parse_tuple(ps *p, int simplified, int with_condexpr, const char *extra_end,
                            int explicit_parens, int with_namespace)
{
    int line = cur(p)->line;
    nvec args = { 0 };
    int is_tuple = 0;
    for (;;) {
        if (args.n && expect_op(p, TO_COMMA) != 0) goto fail;
        if (is_tuple_end(p, extra_end)) break;
        ct_node *e = simplified ? parse_primary(p, with_namespace) : parse_expression(p, with_condexpr);
        if (!e || nvec_push(p, &args, e) != 0) goto fail;
        if (tok_is_op(cur(p), TO_COMMA)) is_tuple = 1;
        else break;
    }
    if (!is_tuple) {
        if (args.n) {
            ct_node *e = args.v[0];
            free(args.v);
            return e;
        }
        if (!explicit_parens) {
            char got[80];
            describe(cur(p), got, sizeof got);
            fail_at(p, cur(p), "Expected an expression, got '%s'", got);
            goto fail;
        }
    }
    ct_node *n = node(p, N_TUPLE, line);
    if (!n) goto fail;
    n->list = nvec_done(p, &args, &n->n);
    return p->c->status ? NULL : n;
fail:
    free(args.v);
    return NULL;
}

/* ---- statements ------------------------------------------------------------------ */

static int can_assign(const ct_node *n)
{
    if (n->type == N_NAME || n->type == N_NSREF) return 1;
    if (n->type == N_TUPLE) {
        for (int i = 0; i < n->n; i++)
            if (!can_assign(n->list[i])) return 0;
        return 1;
    }
    return 0;
}

static ct_node *parse_assign_target(ps *p, const char *extra_end, int with_namespace)
{
    const ct_token *t = cur(p);
    ct_node *target = parse_tuple(p, 1, 1, extra_end, 0, with_namespace);
    if (!target) return NULL;
    if (!can_assign(target)) {
        fail_at(p, t, "can't assign to this expression");
        return NULL;
    }
    return target;
}

/* The body up to one of `ends`; leaves the end tag's name as the current token. */
static int parse_statements(ps *p, const char *const *ends, ct_node ***body, int *n, int drop_needle)
{
    if (tok_is_op(cur(p), TO_COLON)) adv(p);
    if (expect_type(p, T_BLOCK_END, "end of statement block") != 0) return -1;
    if (parse_body(p, ends, body, n) != 0) return -1;
    if (drop_needle) adv(p);
    return 0;
}

static int parse_signature(ps *p, ct_node *m)
{
    if (expect_op(p, TO_LPAREN) != 0) return -1;
    int params[256], np = 0;
    nvec defaults = { 0 };
    while (!tok_is_op(cur(p), TO_RPAREN)) {
        if (np && expect_op(p, TO_COMMA) != 0) goto fail;
        if (cur(p)->type != T_NAME) { fail_expected(p, "name"); goto fail; }
        if (np == 256) { fail_at(p, cur(p), "too many macro parameters"); goto fail; }
        int s = ct_symbol(p->t, cur(p)->p, cur(p)->n);
        if (s < 0) { ct_fail_nomem(p->c); goto fail; }
        adv(p);
        if (tok_is_op(cur(p), TO_ASSIGN)) {
            adv(p);
            ct_node *d = parse_expression(p, 1);
            if (!d || nvec_push(p, &defaults, d) != 0) goto fail;
        } else if (defaults.n) {
            fail_at(p, cur(p), "non-default argument follows default argument");
            goto fail;
        }
        params[np++] = s;
    }
    if (expect_op(p, TO_RPAREN) != 0) goto fail;
    m->nparams = np;
    if (np) {
        m->params = ct_arena_alloc(p->t, (size_t)np * sizeof *m->params);
        if (!m->params) { ct_fail_nomem(p->c); goto fail; }
        memcpy(m->params, params, (size_t)np * sizeof *params);
    }
    m->list2 = nvec_done(p, &defaults, &m->n2);
    return p->c->status ? -1 : 0;
fail:
    free(defaults.v);
    return -1;
}

/* A macro's (or call block's) body: its own scope, no loops around it. */
static int parse_macro_body(ps *p, ct_node *m, const char *end)
{
    const char *ends[] = { end, NULL };
    int loops = p->loops;
    p->loops = 0;
    p->macro_flags[p->nmacros++] = &m->op;
    int rc = parse_statements(p, ends, &m->list, &m->n, 1);
    p->nmacros--;
    p->loops = loops;
    return rc;
}

static ct_node *parse_statement(ps *p);

static ct_node *parse_for(ps *p, int line)
{
    ct_node *n = node(p, N_FOR, line);
    if (!n) return NULL;
    if (!(n->a = parse_assign_target(p, "in", 0))) return NULL;
    if (!tok_is_name(cur(p), "in")) { fail_expected(p, "in"); return NULL; }
    adv(p);
    if (!(n->b = parse_tuple(p, 0, 0, "recursive", 0, 0))) return NULL;
    if (tok_is_name(cur(p), "if")) {
        adv(p);
        if (!(n->c = parse_expression(p, 1))) return NULL;
    }
    if (tok_is_name(cur(p), "recursive")) {
        adv(p);
        n->op = 1;
    }
    static const char *const ends[] = { "endfor", "else", NULL };
    static const char *const endfor[] = { "endfor", NULL };
    p->loops++;
    int rc = parse_statements(p, ends, &n->list, &n->n, 0);
    p->loops--;
    if (rc == 0) {
        int is_else = tok_is_name(cur(p), "else");
        adv(p);
        if (is_else) rc = parse_statements(p, endfor, &n->list2, &n->n2, 1);
    }
    return rc == 0 ? n : NULL;
}

static ct_node *parse_if(ps *p, int line)
{
    static const char *const ends[] = { "elif", "else", "endif", NULL };
    static const char *const endif[] = { "endif", NULL };
    ct_node *result = node(p, N_IF, line), *n = result;
    while (n) {
        if (!(n->a = parse_tuple(p, 0, 0, NULL, 0, 0))) { n = NULL; break; }
        if (parse_statements(p, ends, &n->list, &n->n, 0) != 0) { n = NULL; break; }
        const ct_token *t = cur(p);
        adv(p);
        if (tok_is_name(t, "elif")) {
            ct_node *e = node(p, N_IF, t->line);
            if (!e) { n = NULL; break; }
            n->list2 = ct_arena_alloc(p->t, sizeof *n->list2);
            if (!n->list2) { ct_fail_nomem(p->c); n = NULL; break; }
            n->list2[0] = e;
            n->n2 = 1;
            n = e;
            continue;
        }
        if (tok_is_name(t, "else") && parse_statements(p, endif, &n->list2, &n->n2, 1) != 0) n = NULL;
        break;
    }
    return n ? result : NULL;
}

static ct_node *parse_set(ps *p, int line)
{
    ct_node *target = parse_assign_target(p, NULL, 1);
    if (!target) return NULL;
    if (tok_is_op(cur(p), TO_ASSIGN)) {
        adv(p);
        ct_node *n = node(p, N_SET, line);
        if (!n) return NULL;
        n->a = target;
        n->b = parse_tuple(p, 0, 1, NULL, 0, 0);
        return n->b ? n : NULL;
    }
    ct_node *n = node(p, N_SETBLOCK, line);
    if (!n) return NULL;
    n->a = target;
    if (tok_is_op(cur(p), TO_PIPE) && !(n->b = parse_filter(p, NULL, 0))) return NULL;
    static const char *const ends[] = { "endset", NULL };
    return parse_statements(p, ends, &n->list, &n->n, 1) == 0 ? n : NULL;
}

static ct_node *parse_macro(ps *p, int line)
{
    ct_node *n = node(p, N_MACRO, line);
    if (!n) return NULL;
    if (cur(p)->type != T_NAME) { fail_expected(p, "name"); return NULL; }
    n->sym = ct_symbol(p->t, cur(p)->p, cur(p)->n);
    if (n->sym < 0) { ct_fail_nomem(p->c); return NULL; }
    adv(p);
    if (parse_signature(p, n) != 0 || parse_macro_body(p, n, "endmacro") != 0) return NULL;
    return n;
}

static ct_node *parse_call_block(ps *p, int line)
{
    ct_node *n = node(p, N_CALLBLOCK, line);
    if (!n) return NULL;
    if (tok_is_op(cur(p), TO_LPAREN) && parse_signature(p, n) != 0) return NULL;
    ct_node *call = parse_expression(p, 1);
    if (!call) return NULL;
    if (call->type != N_CALL) {
        fail_at(p, cur(p), "expected call");
        return NULL;
    }
    n->a = call;
    return parse_macro_body(p, n, "endcall") == 0 ? n : NULL;
}

static ct_node *parse_filter_block(ps *p, int line)
{
    ct_node *n = node(p, N_FILTERBLOCK, line);
    if (!n) return NULL;
    static const char *const ends[] = { "endfilter", NULL };
    if (!(n->b = parse_filter(p, NULL, 1)) || parse_statements(p, ends, &n->list, &n->n, 1) != 0) return NULL;
    return n;
}

static ct_node *parse_with(ps *p, int line)
{
    ct_node *n = node(p, N_WITH, line);
    if (!n) return NULL;
    nvec targets = { 0 }, values = { 0 };
    while (cur(p)->type != T_BLOCK_END) {
        if (targets.n && expect_op(p, TO_COMMA) != 0) goto fail;
        ct_node *t = parse_assign_target(p, NULL, 0);
        if (!t || expect_op(p, TO_ASSIGN) != 0) goto fail;
        ct_node *v = parse_expression(p, 1);
        if (!v || nvec_push(p, &targets, t) != 0 || nvec_push(p, &values, v) != 0) goto fail;
    }
    n->list2 = nvec_done(p, &targets, &n->n2);
    ct_node **vals = nvec_done(p, &values, &n->nparams);
    n->args.pos = vals;
    n->args.npos = n->nparams;
    static const char *const ends[] = { "endwith", NULL };
    if (parse_statements(p, ends, &n->list, &n->n, 1) != 0) return NULL;
    return p->c->status ? NULL : n;
fail:
    free(targets.v);
    free(values.v);
    return NULL;
}

/* `{% generation %}` (transformers) and `{% block name %}`: their body, in place. */
static ct_node *parse_scope(ps *p, int line, const char *end, int named)
{
    if (named) {
        if (cur(p)->type != T_NAME) { fail_expected(p, "name"); return NULL; }
        adv(p);
        if (tok_is_name(cur(p), "scoped")) adv(p);
        if (tok_is_name(cur(p), "required")) adv(p);
    }
    ct_node *n = node(p, N_SCOPE, line);
    if (!n) return NULL;
    const char *ends[] = { end, NULL };
    if (parse_statements(p, ends, &n->list, &n->n, 1) != 0) return NULL;
    if (named && cur(p)->type == T_NAME) adv(p); /* {% endblock name %} */
    return n;
}

static ct_node *parse_statement(ps *p)
{
    const ct_token *t = cur(p);
    if (t->type != T_NAME) {
        fail_at(p, t, "tag name expected");
        return NULL;
    }
    if (enter(p) != 0) return NULL;
    int line = t->line;
    ct_node *n = NULL;
    adv(p);
    if (tok_is_name(t, "for")) n = parse_for(p, line);
    else if (tok_is_name(t, "if")) n = parse_if(p, line);
    else if (tok_is_name(t, "set")) n = parse_set(p, line);
    else if (tok_is_name(t, "macro")) n = parse_macro(p, line);
    else if (tok_is_name(t, "call")) n = parse_call_block(p, line);
    else if (tok_is_name(t, "filter")) n = parse_filter_block(p, line);
    else if (tok_is_name(t, "with")) n = parse_with(p, line);
    else if (tok_is_name(t, "generation")) n = parse_scope(p, line, "endgeneration", 0);
    else if (tok_is_name(t, "block")) n = parse_scope(p, line, "endblock", 1);
    else if (tok_is_name(t, "break") || tok_is_name(t, "continue")) {
        if (!p->loops) fail_at(p, t, "'%s' outside a loop", tok_is_name(t, "break") ? "break" : "continue");
        else n = node(p, tok_is_name(t, "break") ? N_BREAK : N_CONTINUE, line);
    } else if (tok_is_name(t, "include") || tok_is_name(t, "import") || tok_is_name(t, "from") ||
               tok_is_name(t, "extends")) {
        fail_at(p, t, "'%.*s' is not supported: a chat template cannot load other templates", (int)t->n, t->p);
    } else {
        fail_at(p, t, "Encountered unknown tag '%.*s'.", (int)(t->n > 60 ? 60 : t->n), t->p);
    }
    p->depth--;
    return n;
}

static int parse_body(ps *p, const char *const *ends, ct_node ***out, int *nout)
{
    nvec body = { 0 };
    if (enter(p) != 0) return -1;
    for (;;) {
        const ct_token *t = cur(p);
        if (t->type == T_EOF) {
            if (ends) {
                char want[200] = "";
                for (int i = 0; ends[i]; i++) {
                    size_t l = strlen(want);
                    snprintf(want + l, sizeof want - l, "%s'%s'", i ? " or " : "", ends[i]);
                }
                fail_at(p, t, "Unexpected end of template. Jinja was looking for the following tags: %s.", want);
                goto fail;
            }
            break;
        }
        if (t->type == T_DATA) {
            ct_str *s = ct_str_immortal(t->p, t->n);
            if (!s || ct_template_const(p->t, s) != 0) {
                if (s) ct_str_immortal_free(s);
                ct_fail_nomem(p->c);
                goto fail;
            }
            ct_node *d = node(p, N_DATA, t->line);
            if (!d) goto fail;
            d->str = s;
            if (nvec_push(p, &body, d) != 0) goto fail;
            adv(p);
        } else if (t->type == T_VAR_BEGIN) {
            adv(p);
            ct_node *e = parse_tuple(p, 0, 1, NULL, 0, 0);
            if (!e) goto fail;
            if (expect_type(p, T_VAR_END, "end of print statement") != 0) goto fail;
            ct_node *pr = node(p, N_PRINT, t->line);
            if (!pr) goto fail;
            pr->a = e;
            if (nvec_push(p, &body, pr) != 0) goto fail;
        } else if (t->type == T_BLOCK_BEGIN) {
            adv(p);
            if (ends) {
                int hit = 0;
                for (int i = 0; ends[i]; i++) hit |= tok_is_name(cur(p), ends[i]);
                if (hit) break;
            }
            ct_node *s = parse_statement(p);
            if (!s) goto fail;
            if (expect_type(p, T_BLOCK_END, "end of statement block") != 0) goto fail;
            if (nvec_push(p, &body, s) != 0) goto fail;
        } else {
            char got[80];
            describe(t, got, sizeof got);
            fail_at(p, t, "unexpected '%s'", got);
            goto fail;
        }
    }
    p->depth--;
    *out = nvec_done(p, &body, nout);
    return p->c->status ? -1 : 0;
fail:
    free(body.v);
    return -1;
}

/* ---- unknown filters and tests ---------------------------------------------------- */

/* jinja2 rejects an unknown filter or test when compiling, except in a
 * "soft" frame: the parts of an `if` statement or a conditional expression,
 * until a new scope (loop body, macro, block set, filter block, with body)
 * begins. `soft` follows those frames. */
static int check_list(ct_ctx *c, ct_node **l, int n, int soft);

static int check_args(ct_ctx *c, const ct_args *a, int soft)
{
    if (check_list(c, a->pos, a->npos, soft) != 0 || check_list(c, a->kwval, a->nkw, soft) != 0) return -1;
    return 0;
}

static int check(ct_ctx *c, const ct_node *n, int soft)
{
    if (!n) return 0;
    switch (n->type) {
    case N_FILTER:
    case N_TEST:
        if (n->sym < 0 && !soft) {
            c->line = n->line;
            return ct_fail(c, HUBRT_ERR_FORMAT, "No %s named '%s'.", n->type == N_FILTER ? "filter" : "test",
                           n->str->data);
        }
        if (check(c, n->a, soft) != 0) return -1;
        if (check(c, n->args.star, soft) != 0 || check(c, n->args.dstar, soft) != 0) return -1;
        return check_args(c, &n->args, soft);
    case N_CALL:
        if (check(c, n->a, soft) != 0 || check(c, n->args.star, soft) != 0 || check(c, n->args.dstar, soft) != 0)
            return -1;
        return check_args(c, &n->args, soft);
    case N_CONDEXPR:
        return check(c, n->a, 1) || check(c, n->b, 1) || check(c, n->c, 1) ? -1 : 0;
    case N_IF:
        if (check(c, n->a, 1) != 0 || check_list(c, n->list, n->n, 1) != 0) return -1;
        return check_list(c, n->list2, n->n2, 1);
    case N_FOR:
        if (check(c, n->b, soft) != 0 || check(c, n->c, 0) != 0) return -1;
        return check_list(c, n->list, n->n, 0) || check_list(c, n->list2, n->n2, 0) ? -1 : 0;
    case N_SETBLOCK:
    case N_FILTERBLOCK:
        return check(c, n->b, 0) || check_list(c, n->list, n->n, 0) ? -1 : 0;
    case N_MACRO:
        return check_list(c, n->list2, n->n2, 0) || check_list(c, n->list, n->n, 0) ? -1 : 0;
    case N_CALLBLOCK:
        if (check(c, n->a, soft) != 0) return -1;
        return check_list(c, n->list2, n->n2, 0) || check_list(c, n->list, n->n, 0) ? -1 : 0;
    case N_WITH:
        if (check_list(c, n->args.pos, n->args.npos, soft) != 0) return -1;
        return check_list(c, n->list, n->n, 0);
    case N_SCOPE:
        return check_list(c, n->list, n->n, 0);
    case N_DICT:
        return check_list(c, n->list, n->n, soft) || check_list(c, n->list2, n->n2, soft) ? -1 : 0;
    default:
        if (check(c, n->a, soft) != 0 || check(c, n->b, soft) != 0 || check(c, n->c, soft) != 0) return -1;
        return check_list(c, n->list, n->n, soft);
    }
}

static int check_list(ct_ctx *c, ct_node **l, int n, int soft)
{
    for (int i = 0; i < n; i++)
        if (check(c, l[i], soft) != 0) return -1;
    return 0;
}

int ct_parse(ct_ctx *c, ct_template *t, const ct_token *toks, size_t ntoks)
{
    ps p;
    memset(&p, 0, sizeof p);
    p.c = c;
    p.t = t;
    p.tk = toks;
    p.n = ntoks;
    if (parse_body(&p, NULL, &t->body, &t->n) != 0) return -1;
    return check_list(c, t->body, t->n, 0);
}
