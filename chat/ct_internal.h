/*
 * chat/ct_internal.h — what the parts of the chat-template engine share:
 * values (refcounted, Python semantics), the engine state with its error and
 * limits, the AST, and the entry points of each file. Not for use outside
 * chat/ (the API is chat/template.h).
 *
 *   value.c    values, str()/repr(), equality, ordering, lists, dicts
 *   text.c     UTF-8 and the Python string helpers (isspace, case, strip)
 *   json.c     JSON text -> values (Python json.loads), values -> json.dumps
 *   lexer.c    template source -> tokens (whitespace control, trim/lstrip)
 *   parser.c   tokens -> AST
 *   eval.c     statements and expressions, scopes, macros, calls
 *   filters.c  filters and tests
 *   methods.c  str/dict/list methods and the global functions
 *   template.c the API of chat/template.h
 */
#ifndef CHAT_CT_INTERNAL_H
#define CHAT_CT_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "chat/template.h"

#if defined(__GNUC__)
#define CT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CT_PRINTF(a, b)
#endif

/* ---- values ------------------------------------------------------------ */

/* Value kinds. CT_MISSING only marks an argument that was not passed. */
enum {
    CT_UNDEF, CT_NONE, CT_BOOL, CT_INT, CT_FLOAT, CT_STR, CT_LIST, CT_DICT,
    CT_NS, CT_FUNC, CT_LOOP, CT_MISSING
};
/* Value flags: a Markup string (|safe); a tuple or a generator (lists). */
enum { CT_F_SAFE = 1, CT_F_TUPLE = 2, CT_F_GEN = 4 };
/* Heap object types. */
enum { CT_O_STR, CT_O_LIST, CT_O_DICT, CT_O_FUNC, CT_O_LOOP, CT_O_FRAME };

typedef struct ct_obj {
    uint32_t refs;
    uint8_t type;
    uint8_t immortal;       /* owned by a compiled template: never counted */
    struct ct_obj *next_free;
} ct_obj;

typedef struct ct_str {
    ct_obj h;
    size_t len;
    uint8_t ascii;
    char data[];            /* len bytes of UTF-8, then a NUL */
} ct_str;

struct ct_list;
struct ct_dict;
struct ct_func;
struct ct_loop;

typedef struct ct_value {
    uint8_t kind;
    uint8_t flags;
    union {
        int64_t i;          /* CT_BOOL, CT_INT */
        double f;           /* CT_FLOAT */
        ct_str *s;          /* CT_STR; CT_UNDEF: its message or NULL */
        struct ct_list *l;  /* CT_LIST */
        struct ct_dict *d;  /* CT_DICT, CT_NS */
        struct ct_func *fn; /* CT_FUNC */
        struct ct_loop *loop;
        ct_obj *o;
    } u;
} ct_value;

typedef struct ct_list {
    ct_obj h;
    size_t n, cap;
    ct_value *items;
} ct_list;

typedef struct ct_dict {
    ct_obj h;
    size_t n, cap;
    ct_value *keys, *vals;
    uint64_t *hashes;
    uint32_t *index;        /* open addressing, entry+1; built from 8 entries on */
    size_t index_cap;
} ct_dict;

struct ct_node;
struct ct_frame;

/* A callable: a global function, a bound method, or a macro. */
enum { CT_FN_GLOBAL, CT_FN_METHOD, CT_FN_MACRO };
typedef struct ct_func {
    ct_obj h;
    uint8_t kind;
    uint16_t id;                 /* global or method id */
    ct_value self;               /* the bound object of a method */
    const struct ct_node *macro; /* a macro's definition */
    struct ct_frame *closure;    /* the scope a macro was defined in */
    ct_value caller;             /* the body of a {% call %} block, or CT_MISSING */
} ct_func;

/* The `loop` variable of a for loop. */
typedef struct ct_loop {
    ct_obj h;
    ct_value items;              /* the list iterated */
    size_t index0, length;
    int depth0;
    ct_value last_changed;       /* for loop.changed(), CT_MISSING at first */
    const struct ct_node *recursive; /* the for node when `recursive` */
} ct_loop;

/* One scope: the variables set in it, and the scope around it. */
typedef struct ct_frame {
    ct_obj h;
    struct ct_frame *parent;
    size_t n, cap;
    int *syms;
    ct_value *vals;
} ct_frame;

static inline ct_value ct_mk(uint8_t kind) { ct_value v; v.kind = kind; v.flags = 0; v.u.i = 0; return v; }
static inline ct_value ct_undef(void) { return ct_mk(CT_UNDEF); }
static inline ct_value ct_none(void) { return ct_mk(CT_NONE); }
static inline ct_value ct_missing(void) { return ct_mk(CT_MISSING); }
static inline ct_value ct_bool(int b) { ct_value v = ct_mk(CT_BOOL); v.u.i = b != 0; return v; }
static inline ct_value ct_int(int64_t i) { ct_value v = ct_mk(CT_INT); v.u.i = i; return v; }
static inline ct_value ct_float(double f) { ct_value v = ct_mk(CT_FLOAT); v.u.f = f; return v; }
static inline int ct_is_num(ct_value v) { return v.kind == CT_INT || v.kind == CT_FLOAT || v.kind == CT_BOOL; }
static inline int ct_is_gen(ct_value v) { return v.kind == CT_LIST && (v.flags & CT_F_GEN); }
static inline ct_obj *ct_heap(ct_value v)
{
    return (v.kind >= CT_STR && v.kind <= CT_LOOP) || (v.kind == CT_UNDEF && v.u.s) ? v.u.o : NULL;
}
static inline void ct_ref(ct_value v)
{
    ct_obj *o = ct_heap(v);
    if (o && !o->immortal) o->refs++;
}
void ct_obj_release(ct_obj *o);
static inline void ct_unref(ct_value v)
{
    ct_obj *o = ct_heap(v);
    if (o && !o->immortal && --o->refs == 0) ct_obj_release(o);
}
static inline ct_value ct_copy(ct_value v) { ct_ref(v); return v; }

/* ---- engine state: error, limits, render state ---------------------------- */

typedef struct ct_template ct_template;

typedef struct ct_ctx {
    int status;              /* 0, or the first error's hubrt_status */
    int raised;              /* the error came from raise_exception() */
    int err_line;
    char *err_msg;
    int line;                /* template line being evaluated (0: none) */

    size_t max_output;
    uint64_t max_steps, max_work;
    int max_depth;
    uint64_t steps, work;

    const ct_template *t;
    const ct_options *opt;
    ct_value *globals;       /* per template symbol */
    struct ct_frame *frame;  /* the innermost scope */
    struct ct_sb *out;       /* where output goes */
    int depth;               /* macro calls in progress */
    int eval_depth;          /* nested evaluation in progress */
    int loop_depth;          /* for loops in progress (loop.depth) */
    ct_value *namespaces;    /* every namespace made, cleared at the end (cycles) */
    size_t n_ns, cap_ns;
} ct_ctx;

/* Records the first error; returns -1. */
int ct_fail(ct_ctx *c, int status, const char *fmt, ...) CT_PRINTF(3, 4);
int ct_fail_nomem(ct_ctx *c);
/* Counts one loop iteration or call against max_steps. */
int ct_step(ct_ctx *c);
/* Counts bytes built against max_work. */
int ct_work(ct_ctx *c, uint64_t bytes);
void ct_ctx_init(ct_ctx *c, const ct_options *opt);
void ct_ctx_clear(ct_ctx *c);

/* ---- strings --------------------------------------------------------------- */

/* A string builder: grows a ct_str, limited to c->max_output bytes. */
typedef struct ct_sb {
    ct_ctx *c;
    ct_str *s;
    size_t cap;
} ct_sb;

void ct_sb_init(ct_sb *b, ct_ctx *c);
int ct_sb_add(ct_sb *b, const char *p, size_t n);
int ct_sb_adds(ct_sb *b, const char *s);
int ct_sb_addc(ct_sb *b, char ch);
int ct_sb_addcp(ct_sb *b, uint32_t cp);
int ct_sb_addf(ct_sb *b, const char *fmt, ...) CT_PRINTF(2, 3);
static inline size_t ct_sb_len(const ct_sb *b) { return b->s ? b->s->len : 0; }
/* The text so far, NUL-terminated. */
static inline const char *ct_sb_data(const ct_sb *b) { return b->s ? b->s->data : ""; }
/* Hands over the text as a string value (the builder is empty after). */
int ct_sb_finish(ct_sb *b, ct_value *out);
void ct_sb_drop(ct_sb *b);

int ct_str_new(ct_ctx *c, const char *p, size_t n, ct_value *out);
int ct_str_cstr(ct_ctx *c, const char *s, ct_value *out);
/* A string owned by a compiled template (constants, names). */
ct_str *ct_str_immortal(const char *p, size_t n);
void ct_str_immortal_free(ct_str *s);
static inline ct_value ct_strv(ct_str *s) { ct_value v = ct_mk(CT_STR); v.u.s = s; return v; }
/* An undefined value whose message is printf-formatted. */
int ct_undef_msg(ct_ctx *c, ct_value *out, const char *fmt, ...) CT_PRINTF(3, 4);
/* The error an undefined value gives when used. */
int ct_fail_undef(ct_ctx *c, ct_value v);

/* ---- lists, dicts ----------------------------------------------------------- */

int ct_list_new(ct_ctx *c, size_t cap, ct_value *out);
/* Appends v, taking over its reference (released on failure). */
int ct_list_push(ct_ctx *c, ct_list *l, ct_value v);
int ct_dict_new(ct_ctx *c, ct_value *out);
/* Sets key to val, taking over both references (released on failure). */
int ct_dict_set(ct_ctx *c, ct_dict *d, ct_value key, ct_value val);
/* 1 and *val (borrowed) if found, 0 if not, -1 on error (unhashable key). */
int ct_dict_get(ct_ctx *c, const ct_dict *d, ct_value key, ct_value *val);
const ct_value *ct_dict_get_str(const ct_dict *d, const char *k, size_t n);
/* Any iterable as a list (new reference): a list itself, a dict's keys, a
 * string's characters; undefined gives an empty list. */
int ct_iterate(ct_ctx *c, ct_value v, ct_value *out);

/* ---- Python semantics -------------------------------------------------------- */

int ct_truthy(ct_value v);
const char *ct_type_name(ct_value v);
/* str() and repr() appended to a builder. */
int ct_write_str(ct_ctx *c, ct_sb *b, ct_value v);
int ct_write_repr(ct_ctx *c, ct_sb *b, ct_value v, int depth);
/* str() as a new string value (a string is returned as itself). */
int ct_to_str(ct_ctx *c, ct_value v, ct_value *out);
int ct_equal(ct_ctx *c, ct_value a, ct_value b, int *eq);
/* Python ordering: *r < 0, 0, > 0; an error for unorderable types. */
int ct_compare(ct_ctx *c, ct_value a, ct_value b, const char *op, int *r);
int ct_hash(ct_ctx *c, ct_value v, uint64_t *h, int depth);
int ct_length(ct_ctx *c, ct_value v, size_t *n);
/* Python repr of a float ("1.0", "1e+16", "0.30000000000000004"). */
void ct_format_float(double f, char buf[32]);

/* ---- text helpers (text.c) --------------------------------------------------- */

/* Decodes one code point of valid UTF-8 at p (< end); returns its length. */
int ct_utf8_next(const char *p, const char *end, uint32_t *cp);
int ct_utf8_put(char *dst, uint32_t cp);
/* 0 if valid UTF-8 (no surrogates, no overlongs). */
int ct_utf8_check(const char *p, size_t n);
size_t ct_utf8_count(const char *p, size_t n);
/* Byte offset of code point `index` (clamped to n). */
size_t ct_utf8_offset(const char *p, size_t n, size_t index);
int ct_py_isspace(uint32_t cp);
int ct_py_isalnum(uint32_t cp);   /* \w in Python re: letters, digits, _ */
int ct_py_isalpha(uint32_t cp);
int ct_py_isdigit(uint32_t cp);
int ct_py_isupper(uint32_t cp);
int ct_py_islower(uint32_t cp);
int ct_py_isprintable(uint32_t cp);
uint32_t ct_upper(uint32_t cp);
uint32_t ct_lower(uint32_t cp);
uint32_t ct_title(uint32_t cp);
/* Case mappings of whole strings into a builder (0=lower 1=upper 2=swap). */
int ct_case_map(ct_sb *b, const char *p, size_t n, int mode);
/* Strips Python whitespace (chars == NULL) or any code point of chars. */
void ct_strip(const char *p, size_t n, const char *chars, size_t nchars, int left, int right,
              size_t *start, size_t *end);
/* Markup escaping (& < > " ') into a builder. */
int ct_html_escape(ct_sb *b, const char *p, size_t n);
/* The pinned or current time formatted by a strftime format (Python's set). */
int ct_strftime(ct_ctx *c, ct_sb *b, const char *fmt, size_t n);

/* ---- JSON (json.c) ------------------------------------------------------------ */

int ct_json_parse(ct_ctx *c, const char *p, size_t n, ct_value *out);
typedef struct ct_json_opts {
    int ensure_ascii, sort_keys;
    int has_indent;                /* indent given (not None) */
    const char *indent; size_t indent_len;
    const char *item_sep; size_t item_sep_len;
    const char *key_sep; size_t key_sep_len;
} ct_json_opts;
int ct_json_dump(ct_ctx *c, ct_sb *b, ct_value v, const ct_json_opts *o, int level);

/* ---- AST --------------------------------------------------------------------- */

enum {
    /* expressions */
    N_CONST, N_NAME, N_TUPLE, N_LIST, N_DICT, N_GETATTR, N_GETITEM, N_SLICE, N_CALL,
    N_FILTER, N_TEST, N_NOT, N_NEG, N_POS, N_AND, N_OR, N_BINOP, N_CONCAT, N_COMPARE,
    N_CONDEXPR, N_NSREF,
    /* statements */
    N_DATA, N_PRINT, N_IF, N_FOR, N_SET, N_SETBLOCK, N_MACRO, N_CALLBLOCK, N_FILTERBLOCK,
    N_WITH, N_BREAK, N_CONTINUE, N_SCOPE
};
/* Binary operators (N_BINOP) and comparisons (N_COMPARE). */
enum {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN
};
/* Macro flags: the body reads varargs / kwargs / caller. */
enum { CT_M_VARARGS = 1, CT_M_KWARGS = 2, CT_M_CALLER = 4 };

typedef struct ct_node ct_node;
typedef struct ct_args {
    ct_node **pos;
    int npos;
    ct_str **kwname;
    ct_node **kwval;
    int nkw;
    ct_node *star, *dstar;       /* *args, **kwargs */
} ct_args;

struct ct_node {
    uint8_t type;
    uint8_t op;                  /* operator; macro flags; for: recursive */
    int line;
    int sym;                     /* a name's symbol; a filter/test id (-1 unknown) */
    ct_str *str;                 /* attribute / filter / test name; data text */
    ct_value value;              /* N_CONST */
    ct_node *a, *b, *c;
    ct_node **list;              /* items, body, compare operands, dict keys */
    int n;
    ct_node **list2;             /* else body, dict values, macro defaults */
    int n2;
    uint8_t *ops;                /* N_COMPARE */
    int *params;                 /* macro parameter symbols */
    int nparams;
    ct_args args;                /* N_CALL, N_FILTER, N_TEST */
};

struct ct_template {
    char *src;                   /* normalized source */
    size_t len;
    ct_node **body;
    int n;
    ct_str **syms;               /* symbol names */
    int nsyms, cap_syms;
    int sym_loop, sym_varargs, sym_kwargs, sym_caller;
    /* arena of nodes and arrays */
    struct ct_chunk *chunks;
    ct_str **consts;             /* immortal strings to free */
    size_t nconsts, cap_consts;
};

/* lexer.c: tokens */
enum {
    T_EOF, T_DATA, T_VAR_BEGIN, T_VAR_END, T_BLOCK_BEGIN, T_BLOCK_END,
    T_NAME, T_STRING, T_INT, T_FLOAT, T_OP
};
typedef struct ct_token {
    uint8_t type;
    uint8_t op;                  /* T_OP: the operator character(s) code */
    int line;
    const char *p;               /* T_DATA / T_NAME text, in the source */
    size_t n;
    ct_str *s;                   /* T_STRING (decoded, immortal) */
    int64_t i;
    double f;
} ct_token;
/* Operator codes of T_OP. */
enum {
    TO_ADD, TO_SUB, TO_DIV, TO_FLOORDIV, TO_MUL, TO_MOD, TO_POW, TO_TILDE,
    TO_LBRACKET, TO_RBRACKET, TO_LPAREN, TO_RPAREN, TO_LBRACE, TO_RBRACE,
    TO_EQ, TO_NE, TO_GT, TO_GTEQ, TO_LT, TO_LTEQ, TO_ASSIGN, TO_DOT, TO_COLON,
    TO_PIPE, TO_COMMA, TO_SEMICOLON
};
int ct_lex(ct_ctx *c, ct_template *t, ct_token **toks, size_t *ntoks);
int ct_parse(ct_ctx *c, ct_template *t, const ct_token *toks, size_t ntoks);
void *ct_arena_alloc(ct_template *t, size_t n);
void ct_arena_free(ct_template *t);
int ct_template_const(ct_template *t, ct_str *s);
int ct_symbol(ct_template *t, const char *p, size_t n);

/* ---- evaluation (eval.c) --------------------------------------------------- */

/* Call arguments, evaluated. */
typedef struct ct_callargs {
    ct_value *pos;
    int npos;
    ct_str **kwname;
    ct_value *kwval;
    int nkw;
} ct_callargs;

int ct_eval(ct_ctx *c, const ct_node *n, ct_value *out);
int ct_exec_template(ct_ctx *c);
int ct_call(ct_ctx *c, ct_value callee, const ct_callargs *a, ct_value *out);
/* Jinja's getattr (attribute, then item) and getitem (item, then attribute). */
int ct_getattr(ct_ctx *c, ct_value obj, ct_str *name, ct_value *out);
int ct_getitem(ct_ctx *c, ct_value obj, ct_value key, ct_value *out);
int ct_binop(ct_ctx *c, int op, ct_value a, ct_value b, ct_value *out);
int ct_contains(ct_ctx *c, ct_value container, ct_value item, int *res);

/* Binds call arguments to named parameters: slots[i] gets a borrowed value or
 * CT_MISSING; positional arguments beyond nparams or unknown keywords fail. */
int ct_bind(ct_ctx *c, const char *fname, const char *const *params, int nparams,
            const ct_callargs *a, ct_value *slots);

/* ---- filters and tests (filters.c) ------------------------------------------ */

int ct_filter_id(const char *name, size_t n);
int ct_test_id(const char *name, size_t n);
int ct_filter_apply(ct_ctx *c, int id, ct_value input, const ct_callargs *a, ct_value *out);
int ct_test_apply(ct_ctx *c, int id, ct_value input, const ct_callargs *a, int *res);

/* ---- methods and globals (methods.c) ---------------------------------------- */

/* The method `name` of obj: 1 and a bound method in *out, 0 if obj has no such
 * attribute, -1 on error. Mutating methods give the sandbox's unsafe undefined. */
int ct_method_lookup(ct_ctx *c, ct_value obj, const char *name, size_t n, ct_value *out);
int ct_method_call(ct_ctx *c, const ct_func *fn, const ct_callargs *a, ct_value *out);
/* The global function of that name (range, namespace, ...): its id or -1. */
int ct_global_id(const char *name, size_t n);
int ct_global_value(ct_ctx *c, int id, ct_value *out);
int ct_global_call(ct_ctx *c, int id, const ct_callargs *a, ct_value *out);
const char *ct_global_name(int id);
const char *ct_method_name(int id);
/* Python's str.replace(old, new, count); count < 0: all. */
int ct_str_replace(ct_ctx *c, const ct_str *s, const ct_str *old, const ct_str *new_, int64_t count, ct_value *out);
/* Python printf-style formatting (str % args, |format). */
int ct_percent_format(ct_ctx *c, ct_sb *b, ct_value fmt, ct_value args);

#endif
