/*
 * chat/lexer.c — template source to tokens, as jinja2's lexer does it with
 * trim_blocks and lstrip_blocks on:
 *   - `{%- ... -%}`, `{{- ... -}}`, `{#- ... -#}` strip all whitespace
 *     before / after the tag; `{%+` keeps the whitespace before it;
 *   - trim_blocks drops the first newline after a block or comment tag
 *     (not after `}}`, not after `+%}`);
 *   - lstrip_blocks drops spaces and tabs between a line's start and a block
 *     or comment tag (never before `{{`);
 *   - `{% raw %}...{% endraw %}` is data;
 *   - inside a tag, `}}` / `%}` only close it when brackets are balanced.
 * Whitespace means Python's str.isspace() here, as in jinja2's regexes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/ct_internal.h"
#include "include/hubrt.h"

typedef struct lx {
    ct_ctx *c;
    ct_template *t;
    const char *s;
    size_t n;
    int line;
    ct_token *toks;
    size_t ntoks, cap;
    char *balance;
    size_t nbal, capbal;
} lx;

static int lx_fail(lx *L, int line, const char *msg, ...) CT_PRINTF(3, 4);
static int lx_fail(lx *L, int line, const char *msg, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, msg);
    vsnprintf(tmp, sizeof tmp, msg, ap);
    va_end(ap);
    L->c->line = line;
    return ct_fail(L->c, HUBRT_ERR_FORMAT, "%s", tmp);
}

static ct_token *push(lx *L, int type, int line)
{
    if (L->ntoks == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        ct_token *t = realloc(L->toks, cap * sizeof *t);
        if (!t) { ct_fail_nomem(L->c); return NULL; }
        L->toks = t;
        L->cap = cap;
    }
    ct_token *t = &L->toks[L->ntoks++];
    memset(t, 0, sizeof *t);
    t->type = (uint8_t)type;
    t->line = line;
    return t;
}

static int count_nl(const char *p, size_t n)
{
    int k = 0;
    for (size_t i = 0; i < n; i++) k += p[i] == '\n';
    return k;
}

/* Length of the Python whitespace character at i (0 if none). */
static size_t space_at(const char *s, size_t n, size_t i)
{
    if (i >= n) return 0;
    uint32_t cp;
    int k = ct_utf8_next(s + i, s + n, &cp);
    return ct_py_isspace(cp) ? (size_t)k : 0;
}

static size_t skip_space(const char *s, size_t n, size_t i)
{
    size_t k;
    while ((k = space_at(s, n, i)) != 0) i += k;
    return i;
}

/* The data before a tag, stripped as the tag's whitespace control asks. */
static int emit_data(lx *L, size_t start, size_t end, char sign, int lstrip, int line_starting)
{
    const char *s = L->s;
    if (sign == '-') {
        size_t a, b;
        ct_strip(s + start, end - start, NULL, 0, 0, 1, &a, &b);
        end = start + b;
    } else if (sign != '+' && lstrip) {
        size_t l_pos = start;
        for (size_t i = end; i > start; i--)
            if (s[i - 1] == '\n') { l_pos = i; break; }
        if ((l_pos > start || line_starting) && l_pos < end) {
            size_t i = l_pos, k;
            while (i < end && (k = space_at(s, end, i)) != 0) i += k;
            if (i == end) end = l_pos;
        }
    }
    if (end > start) {
        ct_token *t = push(L, T_DATA, L->line);
        if (!t) return -1;
        t->p = s + start;
        t->n = end - start;
    }
    return 0;
}

static int match_word(const char *s, size_t n, size_t i, const char *w)
{
    size_t k = strlen(w);
    return i + k <= n && memcmp(s + i, w, k) == 0;
}

/* The end of `{% raw %}` starting at q (the '{'), or 0 if it is not one. */
static size_t raw_begin_end(const char *s, size_t n, size_t q)
{
    size_t i = q + 2;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    i = skip_space(s, n, i);
    if (!match_word(s, n, i, "raw")) return 0;
    i = skip_space(s, n, i + 3);
    if (match_word(s, n, i, "-%}")) return skip_space(s, n, i + 3);
    if (match_word(s, n, i, "%}")) return i + 2;
    return 0;
}

/* Finds `{% endraw %}` from i: its start, sign and end. */
static int find_raw_end(const char *s, size_t n, size_t i, size_t *tag, char *sign, size_t *end)
{
    for (; i + 1 < n; i++) {
        if (s[i] != '{' || s[i + 1] != '%') continue;
        size_t j = i + 2;
        char sg = 0;
        if (j < n && (s[j] == '-' || s[j] == '+')) sg = s[j++];
        j = skip_space(s, n, j);
        if (!match_word(s, n, j, "endraw")) continue;
        j = skip_space(s, n, j + 6);
        if (match_word(s, n, j, "+%}")) { *end = j + 3; }
        else if (match_word(s, n, j, "-%}")) { *end = skip_space(s, n, j + 3); }
        else if (match_word(s, n, j, "%}")) { *end = j + 2 + (j + 2 < n && s[j + 2] == '\n'); }
        else continue;
        *tag = i;
        *sign = sg;
        return 1;
    }
    return 0;
}

static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* (\d+_)*\d+ at i: its end, or i if no match. */
static size_t digits_us(const char *s, size_t n, size_t i)
{
    if (i >= n || !is_digit(s[i])) return i;
    size_t j = i;
    for (;;) {
        while (j < n && is_digit(s[j])) j++;
        if (j + 1 < n && s[j] == '_' && is_digit(s[j + 1])) { j++; continue; }
        return j;
    }
}

/* jinja2's float_re at i: its end, or 0. */
static size_t match_float(const char *s, size_t n, size_t i)
{
    if (i > 0 && s[i - 1] == '.') return 0;
    size_t a = digits_us(s, n, i);
    if (a == i) return 0;
    /* (\.digits)? e[+-]?digits */
    size_t b = a;
    if (b < n && s[b] == '.') {
        size_t f = digits_us(s, n, b + 1);
        if (f > b + 1) b = f;
    }
    for (int pass = 0; pass < 2; pass++) {
        size_t e = pass == 0 ? b : a;
        if (e < n && (s[e] == 'e' || s[e] == 'E')) {
            size_t x = e + 1;
            if (x < n && (s[x] == '+' || s[x] == '-')) x++;
            size_t d = digits_us(s, n, x);
            if (d > x) return d;
        }
    }
    if (a < n && s[a] == '.') {
        size_t f = digits_us(s, n, a + 1);
        if (f > a + 1) return f;
    }
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* jinja2's integer_re at i: its end (0 if none) and value. */
static size_t match_int(lx *L, size_t i, int64_t *val, int *err)
{
    const char *s = L->s;
    size_t n = L->n;
    *err = 0;
    if (i >= n || !is_digit(s[i])) return 0;
    int base = 10;
    size_t j = i;
    if (s[i] == '0' && i + 1 < n && strchr("bBoOxX", s[i + 1]) && s[i + 1]) {
        char k = (char)(s[i + 1] | 0x20);
        base = k == 'b' ? 2 : k == 'o' ? 8 : 16;
        j = i + 2;
        size_t d = j;
        for (;;) {
            size_t x = d;
            if (x < n && s[x] == '_') x++;
            int v = x < n ? hexval(s[x]) : -1;
            if (v < 0 || v >= base) break;
            d = x + 1;
        }
        if (d == j) { base = 10; j = i; }
        else j = d;
    }
    if (base == 10) {
        if (s[i] == '0') {
            j = i + 1;
            for (;;) {
                size_t x = j;
                if (x < n && s[x] == '_') x++;
                if (x < n && s[x] == '0') j = x + 1;
                else break;
            }
        } else {
            j = i + 1;
            for (;;) {
                size_t x = j;
                if (x < n && s[x] == '_') x++;
                if (x < n && is_digit(s[x])) j = x + 1;
                else break;
            }
        }
    }
    uint64_t v = 0;
    for (size_t k = i + (base == 10 ? 0 : 2); k < j; k++) {
        if (s[k] == '_') continue;
        uint64_t d = (uint64_t)hexval(s[k]);
        if (v > (UINT64_MAX - d) / (uint64_t)base) { *err = 1; return j; }
        v = v * (uint64_t)base + d;
    }
    if (v > (uint64_t)INT64_MAX) { *err = 1; return j; }
    *val = (int64_t)v;
    return j;
}

/* A string literal from q (the quote) to end (after the closing quote),
 * decoded as Python's unicode-escape codec decodes it. */
static int decode_string(lx *L, size_t q, size_t end, int line, ct_str **out)
{
    const char *s = L->s + q + 1, *e = L->s + end - 1;
    ct_sb b;
    ct_sb_init(&b, L->c);
    while (s < e) {
        if (*s != '\\') {
            const char *run = s;
            while (s < e && *s != '\\') s++;
            if (ct_sb_add(&b, run, (size_t)(s - run)) != 0) goto fail;
            continue;
        }
        s++;
        char ch = *s++;
        int rc = 0;
        switch (ch) {
        case '\n': break;
        case '\\': rc = ct_sb_addc(&b, '\\'); break;
        case '\'': rc = ct_sb_addc(&b, '\''); break;
        case '"': rc = ct_sb_addc(&b, '"'); break;
        case 'a': rc = ct_sb_addc(&b, '\a'); break;
        case 'b': rc = ct_sb_addc(&b, '\b'); break;
        case 'f': rc = ct_sb_addc(&b, '\f'); break;
        case 'n': rc = ct_sb_addc(&b, '\n'); break;
        case 'r': rc = ct_sb_addc(&b, '\r'); break;
        case 't': rc = ct_sb_addc(&b, '\t'); break;
        case 'v': rc = ct_sb_addc(&b, '\v'); break;
        case 'x':
        case 'u':
        case 'U': {
            int nd = ch == 'x' ? 2 : ch == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int k = 0; k < nd; k++) {
                int v = s + k < e ? hexval(s[k]) : -1;
                if (v < 0) {
                    lx_fail(L, line, "truncated \\%s escape", ch == 'x' ? "xXX" : ch == 'u' ? "uXXXX" : "UXXXXXXXX");
                    goto fail;
                }
                cp = cp * 16 + (uint32_t)v;
            }
            s += nd;
            if (cp > 0x10FFFF) { lx_fail(L, line, "illegal Unicode character"); goto fail; }
            if (cp >= 0xD800 && cp <= 0xDFFF) { lx_fail(L, line, "a surrogate escape in a string"); goto fail; }
            rc = ct_sb_addcp(&b, cp);
            break;
        }
        case 'N': lx_fail(L, line, "\\N{...} escapes are not supported"); goto fail;
        default:
            if (ch >= '0' && ch <= '7') {
                uint32_t cp = (uint32_t)(ch - '0');
                for (int k = 0; k < 2 && s < e && *s >= '0' && *s <= '7'; k++) cp = cp * 8 + (uint32_t)(*s++ - '0');
                rc = ct_sb_addcp(&b, cp);
            } else if ((unsigned char)ch >= 0x80) {
                /* jinja2 backslash-escapes non-ASCII text before decoding, so
                 * a backslash before it keeps the escape's letters */
                uint32_t cp;
                s--;
                s += ct_utf8_next(s, e, &cp);
                rc = ct_sb_addc(&b, '\\');
                if (!rc) rc = cp <= 0xFF ? ct_sb_addf(&b, "x%02x", cp) : cp <= 0xFFFF ? ct_sb_addf(&b, "u%04x", cp)
                                                                                 : ct_sb_addf(&b, "U%08x", cp);
            } else {
                char two[2] = { '\\', ch };
                rc = ct_sb_add(&b, two, 2);
            }
        }
        if (rc != 0) goto fail;
    }
    ct_str *str = ct_str_immortal(ct_sb_data(&b), ct_sb_len(&b));
    ct_sb_drop(&b);
    if (!str || ct_template_const(L->t, str) != 0) {
        if (str) ct_str_immortal_free(str);
        return ct_fail_nomem(L->c);
    }
    *out = str;
    return 0;
fail:
    ct_sb_drop(&b);
    return -1;
}

static int is_name_start(const char *s, size_t n, size_t i)
{
    unsigned char ch = (unsigned char)s[i];
    if (ch < 0x80) return ch == '_' || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z');
    uint32_t cp;
    ct_utf8_next(s + i, s + n, &cp);
    return ct_py_isalpha(cp);
}

static size_t name_end(const char *s, size_t n, size_t i)
{
    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x80) {
            if (!(ch == '_' || is_digit((char)ch) || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z'))) break;
            i++;
        } else {
            uint32_t cp;
            int k = ct_utf8_next(s + i, s + n, &cp);
            if (!ct_py_isalnum(cp)) break;
            i += (size_t)k;
        }
    }
    return i;
}

static const struct { const char *s; int op; } operators[] = {
    { "//", TO_FLOORDIV }, { "**", TO_POW }, { "==", TO_EQ }, { "!=", TO_NE }, { ">=", TO_GTEQ },
    { "<=", TO_LTEQ }, { "+", TO_ADD }, { "-", TO_SUB }, { "/", TO_DIV }, { "*", TO_MUL },
    { "%", TO_MOD }, { "~", TO_TILDE }, { "[", TO_LBRACKET }, { "]", TO_RBRACKET }, { "(", TO_LPAREN },
    { ")", TO_RPAREN }, { "{", TO_LBRACE }, { "}", TO_RBRACE }, { ">", TO_GT }, { "<", TO_LT },
    { "=", TO_ASSIGN }, { ".", TO_DOT }, { ":", TO_COLON }, { "|", TO_PIPE }, { ",", TO_COMMA },
    { ";", TO_SEMICOLON },
};

static int balance_push(lx *L, char close)
{
    if (L->nbal == L->capbal) {
        size_t cap = L->capbal ? L->capbal * 2 : 16;
        char *b = realloc(L->balance, cap);
        if (!b) return ct_fail_nomem(L->c);
        L->balance = b;
        L->capbal = cap;
    }
    L->balance[L->nbal++] = close;
    return 0;
}

/* Tokens of one `{{ }}` or `{% %}` from i; returns the position after it. */
static int lex_tag(lx *L, size_t i, int block, size_t *after, int *line_starting)
{
    const char *s = L->s;
    size_t n = L->n;
    int start_line = L->line;
    L->nbal = 0;
    for (;;) {
        if (i >= n)
            return lx_fail(L, start_line, "unexpected end of template, expected '%s'", block ? "%}" : "}}");
        if (L->nbal == 0) {
            size_t end = 0;
            if (block) {
                if (match_word(s, n, i, "+%}")) end = i + 3;
                else if (match_word(s, n, i, "-%}")) end = skip_space(s, n, i + 3);
                else if (match_word(s, n, i, "%}")) end = i + 2 + (i + 2 < n && s[i + 2] == '\n');
            } else {
                if (match_word(s, n, i, "-}}")) end = skip_space(s, n, i + 3);
                else if (match_word(s, n, i, "}}")) end = i + 2;
            }
            if (end) {
                if (!push(L, block ? T_BLOCK_END : T_VAR_END, L->line)) return -1;
                L->line += count_nl(s + i, end - i);
                *line_starting = s[end - 1] == '\n';
                *after = end;
                return 0;
            }
        }
        size_t k = space_at(s, n, i);
        if (k) {
            size_t j = skip_space(s, n, i);
            L->line += count_nl(s + i, j - i);
            i = j;
            continue;
        }
        size_t e = match_float(s, n, i);
        if (e) {
            ct_token *t = push(L, T_FLOAT, L->line);
            if (!t) return -1;
            char buf[128];
            size_t m = 0;
            for (size_t q = i; q < e && m + 1 < sizeof buf; q++)
                if (s[q] != '_') buf[m++] = s[q];
            buf[m] = '\0';
            t->f = strtod(buf, NULL);
            i = e;
            continue;
        }
        int64_t iv;
        int err;
        e = match_int(L, i, &iv, &err);
        if (e) {
            if (err) return lx_fail(L, L->line, "integer literal too large");
            ct_token *t = push(L, T_INT, L->line);
            if (!t) return -1;
            t->i = iv;
            i = e;
            continue;
        }
        if (is_name_start(s, n, i)) {
            e = name_end(s, n, i);
            ct_token *t = push(L, T_NAME, L->line);
            if (!t) return -1;
            t->p = s + i;
            t->n = e - i;
            i = e;
            continue;
        }
        if (s[i] == '\'' || s[i] == '"') {
            char q = s[i];
            size_t j = i + 1;
            while (j < n && s[j] != q) j += s[j] == '\\' && j + 1 < n ? 2 : 1;
            if (j < n) {
                int line = L->line;
                ct_token *t = push(L, T_STRING, line);
                if (!t) return -1;
                ct_str *str = NULL;
                if (decode_string(L, i, j + 1, line, &str) != 0) return -1;
                L->toks[L->ntoks - 1].s = str;
                L->line += count_nl(s + i, j + 1 - i);
                i = j + 1;
                continue;
            }
        }
        int op = -1;
        size_t olen = 0;
        for (size_t o = 0; o < sizeof operators / sizeof *operators; o++) {
            size_t m = strlen(operators[o].s);
            if (match_word(s, n, i, operators[o].s)) { op = operators[o].op; olen = m; break; }
        }
        if (op < 0) {
            uint32_t cp;
            ct_utf8_next(s + i, s + n, &cp);
            if (cp < 0x80 && cp >= 0x20) return lx_fail(L, L->line, "unexpected char '%c' at %zu", (char)cp, i);
            return lx_fail(L, L->line, "unexpected char U+%04X at %zu", cp, i);
        }
        if (op == TO_LBRACE || op == TO_LPAREN || op == TO_LBRACKET) {
            if (balance_push(L, op == TO_LBRACE ? '}' : op == TO_LPAREN ? ')' : ']') != 0) return -1;
        } else if (op == TO_RBRACE || op == TO_RPAREN || op == TO_RBRACKET) {
            char ch = s[i];
            if (L->nbal == 0) return lx_fail(L, L->line, "unexpected '%c'", ch);
            char want = L->balance[--L->nbal];
            if (want != ch) return lx_fail(L, L->line, "unexpected '%c', expected '%c'", ch, want);
        }
        ct_token *t = push(L, T_OP, L->line);
        if (!t) return -1;
        t->op = (uint8_t)op;
        i += olen;
    }
}

int ct_lex(ct_ctx *c, ct_template *t, ct_token **toks, size_t *ntoks)
{
    lx L;
    memset(&L, 0, sizeof L);
    L.c = c;
    L.t = t;
    L.s = t->src;
    L.n = t->len;
    L.line = 1;
    const char *s = L.s;
    size_t n = L.n, pos = 0;
    int line_starting = 1;
    while (pos < n) {
        size_t q = pos;
        while (q + 1 < n && !(s[q] == '{' && (s[q + 1] == '{' || s[q + 1] == '%' || s[q + 1] == '#'))) q++;
        if (q + 1 >= n) {
            if (emit_data(&L, pos, n, 0, 0, 0) != 0) goto fail;
            break;
        }
        char kind = s[q + 1];
        char sign = q + 2 < n && (s[q + 2] == '-' || s[q + 2] == '+') ? s[q + 2] : 0;
        size_t raw_end = kind == '%' ? raw_begin_end(s, n, q) : 0;
        if (emit_data(&L, pos, q, sign, kind != '{', line_starting) != 0) goto fail;
        L.line += count_nl(s + pos, q - pos);
        if (raw_end) {
            L.line += count_nl(s + q, raw_end - q);
            size_t tag, end;
            char rsign;
            if (!find_raw_end(s, n, raw_end, &tag, &rsign, &end)) {
                lx_fail(&L, L.line, "Missing end of raw directive");
                goto fail;
            }
            if (emit_data(&L, raw_end, tag, rsign, 1, s[raw_end - 1] == '\n') != 0) goto fail;
            L.line += count_nl(s + raw_end, end - raw_end);
            line_starting = s[end - 1] == '\n';
            pos = end;
            continue;
        }
        size_t body = q + 2 + (sign ? 1 : 0);
        if (kind == '#') {
            size_t i = body, end = 0;
            for (; i + 1 < n; i++) {
                if (s[i] == '+' && match_word(s, n, i + 1, "#}")) { end = i + 3; break; }
                if (s[i] == '-' && match_word(s, n, i + 1, "#}")) { end = skip_space(s, n, i + 3); break; }
                if (s[i] == '#' && s[i + 1] == '}') { end = i + 2 + (i + 2 < n && s[i + 2] == '\n'); break; }
            }
            if (!end) {
                lx_fail(&L, L.line, "Missing end of comment tag");
                goto fail;
            }
            L.line += count_nl(s + q, end - q);
            line_starting = s[end - 1] == '\n';
            pos = end;
            continue;
        }
        if (!push(&L, kind == '%' ? T_BLOCK_BEGIN : T_VAR_BEGIN, L.line)) goto fail;
        if (lex_tag(&L, body, kind == '%', &pos, &line_starting) != 0) goto fail;
    }
    if (!push(&L, T_EOF, L.line)) goto fail;
    free(L.balance);
    *toks = L.toks;
    *ntoks = L.ntoks;
    return 0;
fail:
    free(L.balance);
    free(L.toks);
    return -1;
}
