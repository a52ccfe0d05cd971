/*
 * tokenizer/tok_util.c — building blocks of the tokenizer pipeline:
 * growable buffers, UTF-8 helpers, Unicode predicates (utf8proc), the GPT-2
 * byte-level alphabet, base64, open-addressing hash maps, a byte trie, the
 * vocabulary, PCRE2 regexes and the piece lists the stages pass along.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

/* ---- buffers ------------------------------------------------------------- */

int tk_buf_reserve(tk_buf *b, size_t extra)
{
    if (b->n + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory (%zu bytes)", cap);
    b->p = p;
    b->cap = cap;
    return 0;
}

int tk_buf_put(tk_buf *b, const void *s, size_t n)
{
    if (b->n + n > b->cap && tk_buf_reserve(b, n)) return HUBRT_ERR_NOMEM;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    return 0;
}

int tk_buf_putc(tk_buf *b, char c)
{
    if (b->n + 1 > b->cap && tk_buf_reserve(b, 1)) return HUBRT_ERR_NOMEM;
    b->p[b->n++] = c;
    return 0;
}

int tk_buf_put_cp(tk_buf *b, uint32_t cp)
{
    char tmp[4];
    return tk_buf_put(b, tmp, (size_t)tk_utf8_enc(cp, tmp));
}

void tk_buf_free(tk_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

int tk_ids_reserve(tk_ids *a, size_t extra)
{
    if (a->n + extra <= a->cap) return 0;
    size_t cap = a->cap ? a->cap : 32;
    while (cap < a->n + extra) cap *= 2;
    int32_t *v = realloc(a->v, cap * sizeof *v);
    if (!v) return hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory (%zu ids)", cap);
    a->v = v;
    a->cap = cap;
    return 0;
}

int tk_ids_push(tk_ids *a, int32_t v)
{
    if (a->n == a->cap && tk_ids_reserve(a, 1)) return HUBRT_ERR_NOMEM;
    a->v[a->n++] = v;
    return 0;
}

void tk_ids_free(tk_ids *a)
{
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

/* ---- UTF-8 --------------------------------------------------------------- */

int tk_utf8_enc(uint32_t cp, char out[4])
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * Length of the valid sequence starting at s[i] (1..4), or 0 when invalid;
 * *sub = the length of its maximal valid prefix (for lossy replacement, one
 * U+FFFD per maximal subpart as Rust and the Unicode standard do).
 */
static int utf8_seq(const unsigned char *s, size_t len, size_t i, size_t *sub)
{
    unsigned char c = s[i];
    *sub = 1;
    if (c < 0x80) return 1;
    int need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) { need = 2; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) need = 2;
    else if (c == 0xED) { need = 2; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) need = 2;
    else if (c == 0xF0) { need = 3; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) { need = 3; hi = 0x8F; }
    else return 0;
    for (int k = 1; k <= need; k++) {
        if (i + (size_t)k >= len) return 0;
        unsigned char d = s[i + (size_t)k];
        if (k == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xBF)) return 0;
        *sub = (size_t)k + 1;
    }
    return need + 1;
}

int tk_utf8_check(const char *s, size_t len, size_t *bad)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, sub;
    while (i < len) {
        /* ASCII fast path, 8 bytes at a time (whole prompts are checked). */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, u + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= len) break;
        if (u[i] < 0x80) { i++; continue; }
        int n = utf8_seq(u, len, i, &sub);
        if (!n) { *bad = i; return 0; }
        i += (size_t)n;
    }
    return 1;
}

int tk_utf8_lossy(tk_buf *out, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0, sub;
    if (tk_buf_reserve(out, len)) return HUBRT_ERR_NOMEM;
    while (i < len) {
        if (u[i] < 0x80) { i++; continue; }
        int n = utf8_seq(u, len, i, &sub);
        if (n) { i += (size_t)n; continue; }
        if (tk_buf_put(out, s + run, i - run) || tk_buf_put(out, "\xEF\xBF\xBD", 3))
            return HUBRT_ERR_NOMEM;
        i += sub;
        run = i;
    }
    return tk_buf_put(out, s + run, len - run);
}

/* ---- Unicode predicates -------------------------------------------------- */

int tk_is_whitespace(uint32_t cp)
{
    if (cp < 0x80) return cp == ' ' || (cp >= 9 && cp <= 13);
    if (cp == 0x85) return 1;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

int tk_is_punct(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
               (cp >= 123 && cp <= 126);
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

int tk_is_other(uint32_t cp)
{
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    /* Cn is not included: HF's table (unicode_categories) lists assigned
     * characters only, so unassigned code points survive clean_text. */
    return c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF || c == UTF8PROC_CATEGORY_CS ||
           c == UTF8PROC_CATEGORY_CO;
}

int tk_is_mn(uint32_t cp)
{
    return cp >= 0x300 && utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_MN;
}

int tk_is_numeric(uint32_t cp)
{
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

int tk_is_alnum(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
           (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

int tk_is_chinese(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

int tk_put_lower(tk_buf *b, uint32_t cp)
{
    if (cp < 0x80) return tk_buf_putc(b, (char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
    /* The one unconditional multi-character lowercase mapping (SpecialCasing):
     * Rust's to_lowercase gives "i̇" where utf8proc's simple mapping gives "i". */
    if (cp == 0x130) return tk_buf_put(b, "i\xCC\x87", 3);
    return tk_buf_put_cp(b, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp));
}

/* ---- byte-level alphabet --------------------------------------------------- */

uint32_t tk_byte_to_cp[256];
static int16_t cp_to_byte_tab[324];

/* The printable bytes map to themselves, the other 68 to U+0100.. in order. */
static void bytelevel_build(void)
{
    uint32_t next = 256;
    for (int i = 0; i < 324; i++) cp_to_byte_tab[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        uint32_t cp = printable ? (uint32_t)b : next++;
        tk_byte_to_cp[b] = cp;
        cp_to_byte_tab[cp] = (int16_t)b;
    }
}

void tk_bytelevel_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, bytelevel_build);
}

int tk_cp_to_byte(uint32_t cp)
{
    return cp < 324 ? cp_to_byte_tab[cp] : -1;
}

/* ---- base64 -------------------------------------------------------------- */

unsigned char *tk_base64_decode(const char *s, size_t len, size_t *out_len)
{
    unsigned char *out = malloc(len / 4 * 3 + 4);
    if (!out) return NULL;
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i], v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '+' || c == '-') v = 62;
        else if (c == '/' || c == '_') v = 63;
        else if (c == '=') break;
        else { free(out); return NULL; }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    *out_len = n;
    return out;
}

/* ---- hashing and maps ---------------------------------------------------- */

uint64_t tk_hash(const void *s, size_t n)
{
    /* FNV-1a, 8 bytes at a time for long keys, then mixed. */
    const unsigned char *p = s;
    uint64_t h = 0xcbf29ce484222325ull ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    while (n--) h = (h ^ *p++) * 0x100000001b3ull;
    h ^= h >> 32;
    h *= 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

static int strmap_grow(tk_strmap *m)
{
    size_t size = m->mask ? (m->mask + 1) * 2 : 64;
    uint32_t *slot = calloc(size, sizeof *slot);
    if (!slot) return hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory (map)");
    for (size_t e = 0; e < m->n; e++) {
        size_t i = m->e[e].hash & (size - 1);
        while (slot[i]) i = (i + 1) & (size - 1);
        slot[i] = (uint32_t)e + 1;
    }
    free(m->slot);
    m->slot = slot;
    m->mask = size - 1;
    return 0;
}

long tk_strmap_find(const tk_strmap *m, const char *k, size_t n)
{
    if (!m->slot) return -1;
    uint32_t h = (uint32_t)tk_hash(k, n);
    size_t i = h & m->mask;
    for (;;) {
        uint32_t s = m->slot[i];
        if (!s) return -1;
        const struct tk_sm_entry *e = &m->e[s - 1];
        if (e->hash == h && e->len == n && memcmp(m->arena.p + e->off, k, n) == 0) return (long)s - 1;
        i = (i + 1) & m->mask;
    }
}

long tk_strmap_put(tk_strmap *m, const char *k, size_t n, int32_t val)
{
    long f = tk_strmap_find(m, k, n);
    if (f >= 0) { m->e[f].val = val; return f; }
    if (n > UINT32_MAX / 2 || m->arena.n + n + 1 > UINT32_MAX)
        return hf_set_error(HUBRT_ERR_FORMAT, "tokenizer: vocabulary too large");
    if ((m->n + 1) * 4 > (m->mask + 1) * 3 && strmap_grow(m)) return HUBRT_ERR_NOMEM;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        void *e = realloc(m->e, cap * sizeof *m->e);
        if (!e) return hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory (map)");
        m->e = e;
        m->cap = cap;
    }
    uint32_t off = (uint32_t)m->arena.n;
    if (tk_buf_put(&m->arena, k, n) || tk_buf_putc(&m->arena, '\0')) return HUBRT_ERR_NOMEM;
    uint32_t h = (uint32_t)tk_hash(k, n);
    m->e[m->n] = (struct tk_sm_entry){ off, (uint32_t)n, h, val };
    size_t i = h & m->mask;
    while (m->slot[i]) i = (i + 1) & m->mask;
    m->slot[i] = (uint32_t)m->n + 1;
    return (long)m->n++;
}

void tk_strmap_free(tk_strmap *m)
{
    free(m->slot);
    free(m->e);
    tk_buf_free(&m->arena);
    memset(m, 0, sizeof *m);
}

static int u64map_grow(tk_u64map *m)
{
    size_t size = m->s ? (m->mask + 1) * 2 : 1024;
    tk_u64slot *s = malloc(size * sizeof *s);
    if (!s) return hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory (map)");
    memset(s, 0xFF, size * sizeof *s);
    if (m->s) {
        for (size_t i = 0; i <= m->mask; i++) {
            if (m->s[i].k == UINT64_MAX) continue;
            size_t j = tk_u64_slot(m->s[i].k, size - 1);
            while (s[j].k != UINT64_MAX) j = (j + 1) & (size - 1);
            s[j] = m->s[i];
        }
    }
    free(m->s);
    m->s = s;
    m->mask = size - 1;
    return 0;
}

int tk_u64map_put(tk_u64map *m, uint64_t key, uint64_t val)
{
    if ((!m->s || (m->n + 1) * 2 > m->mask + 1) && u64map_grow(m)) return HUBRT_ERR_NOMEM;
    size_t i = tk_u64_slot(key, m->mask);
    while (m->s[i].k != UINT64_MAX && m->s[i].k != key) i = (i + 1) & m->mask;
    if (m->s[i].k == UINT64_MAX) m->n++;
    m->s[i].k = key;
    m->s[i].v = val;
    return 0;
}

void tk_u64map_free(tk_u64map *m)
{
    free(m->s);
    memset(m, 0, sizeof *m);
}

/* ---- trie ---------------------------------------------------------------- */

static int trie_new_node(tk_trie *t)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        int32_t *v = realloc(t->val, cap * sizeof *v);
        if (!v) return hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory (trie)");
        t->val = v;
        t->cap = cap;
    }
    t->val[t->n] = -1;
    return (int)t->n++;
}

int tk_trie_init(tk_trie *t)
{
    memset(t, 0, sizeof *t);
    return trie_new_node(t) < 0 ? HUBRT_ERR_NOMEM : 0;
}

int tk_trie_add(tk_trie *t, const char *s, size_t n, int32_t val)
{
    if (!n) return 0;
    int32_t node = 0;
    t->first[(unsigned char)s[0] >> 3] |= (uint8_t)(1u << ((unsigned char)s[0] & 7));
    for (size_t i = 0; i < n; i++) {
        int32_t c = tk_trie_child(t, node, (unsigned char)s[i]);
        if (c < 0) {
            c = trie_new_node(t);
            if (c < 0) return HUBRT_ERR_NOMEM;
            if (tk_u64map_put(&t->edges, ((uint64_t)node << 8) | (unsigned char)s[i], (uint64_t)c))
                return HUBRT_ERR_NOMEM;
        }
        node = c;
    }
    if (t->val[node] < 0) t->val[node] = val;  /* first one wins on duplicates */
    return 0;
}

void tk_trie_free(tk_trie *t)
{
    tk_u64map_free(&t->edges);
    free(t->val);
    memset(t, 0, sizeof *t);
}

/* ---- vocabulary ---------------------------------------------------------- */

int tk_vocab_add(tk_vocab *v, const char *tok, size_t n, int32_t id)
{
    if (id < 0 || id > TK_MAX_ID)
        return hf_set_error(HUBRT_ERR_FORMAT, "token id %d outside 0..%d", (int)id, TK_MAX_ID);
    long r = tk_strmap_put(&v->map, tok, n, id);
    if (r < 0) return (int)r;
    if (id + 1 > v->n_ids) v->n_ids = id + 1;
    return 0;
}

int tk_vocab_finish(tk_vocab *v)
{
    free(v->entry_of);
    v->entry_of = malloc(((size_t)v->n_ids + 1) * sizeof *v->entry_of);
    if (!v->entry_of) return hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory (vocab)");
    for (int32_t i = 0; i < v->n_ids; i++) v->entry_of[i] = -1;
    /* Later entries for the same id win, as HF's reverse map does. */
    v->max_len = 0;
    for (size_t e = 0; e < v->map.n; e++) {
        v->entry_of[v->map.e[e].val] = (long)e;
        if (v->map.e[e].len > v->max_len) v->max_len = v->map.e[e].len;
    }
    return 0;
}

const char *tk_vocab_token(const tk_vocab *v, int32_t id, size_t *len)
{
    if (id < 0 || id >= v->n_ids || !v->entry_of || v->entry_of[id] < 0) return NULL;
    long e = v->entry_of[id];
    if (len) *len = v->map.e[e].len;
    return tk_strmap_key(&v->map, e);
}

void tk_vocab_free(tk_vocab *v)
{
    tk_strmap_free(&v->map);
    free(v->entry_of);
    memset(v, 0, sizeof *v);
}

/* ---- regex --------------------------------------------------------------- */

/*
 * HF runs its regexes with Oniguruma (or Rust's regex), whose \s is Unicode
 * White_Space; PCRE2's \s (with UCP) lacks U+0085 (NEL). Rewrite \s and \S
 * so that NEL counts as whitespace, as in the reference.
 */
static int rewrite_ws(const char *p, size_t n, tk_buf *out)
{
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char d = p[i + 1];
            int rc;
            if (d == 's') rc = tk_buf_put(out, in_class ? "\\s\\x{85}" : "[\\s\\x{85}]", in_class ? 8 : 10);
            else if (d == 'S' && !in_class) rc = tk_buf_put(out, "[^\\s\\x{85}]", 11);
            else rc = tk_buf_put(out, p + i, 2);
            if (rc) return rc;
            i++;
            continue;
        }
        if (!in_class && c == '[') {
            if (tk_buf_putc(out, c)) return HUBRT_ERR_NOMEM;
            in_class = 1;
            /* a ']' right after '[' or '[^' is a literal member */
            if (i + 1 < n && p[i + 1] == '^') { if (tk_buf_putc(out, '^')) return HUBRT_ERR_NOMEM; i++; }
            if (i + 1 < n && p[i + 1] == ']') { if (tk_buf_putc(out, ']')) return HUBRT_ERR_NOMEM; i++; }
            continue;
        }
        if (in_class && c == '[' && i + 1 < n && p[i + 1] == ':') { /* POSIX class [:alpha:] */
            const char *e = memchr(p + i + 2, ']', n - i - 2);
            if (e) {
                if (tk_buf_put(out, p + i, (size_t)(e - (p + i)) + 1)) return HUBRT_ERR_NOMEM;
                i = (size_t)(e - p);
                continue;
            }
        }
        if (in_class && c == ']') in_class = 0;
        if (tk_buf_putc(out, c)) return HUBRT_ERR_NOMEM;
    }
    return 0;
}

tk_regex *tk_regex_new(const char *pat, size_t len, int literal, const char *what)
{
    int err;
    PCRE2_SIZE off;
    /* LITERAL rejects UCP and NEVER_BACKSLASH_C (and has no \C to refuse) */
    uint32_t opts = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C);
    tk_buf rw = { 0 };
    if (!literal) {
        if (rewrite_ws(pat, len, &rw)) { tk_buf_free(&rw); return NULL; }
        pat = rw.p ? rw.p : "";
        len = rw.n;
    }
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, len, opts, &err, &off, NULL);
    tk_buf_free(&rw);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        hf_set_error(HUBRT_ERR_FORMAT, "%s: regex at offset %zu: %s", what, (size_t)off,
                        (const char *)msg);
        return NULL;
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if absent */
    tk_regex *re = malloc(sizeof *re);
    pcre2_match_context *mctx = pcre2_match_context_create(NULL);
    if (!re || !mctx) {
        pcre2_code_free(code);
        pcre2_match_context_free(mctx);
        free(re);
        hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory (regex)");
        return NULL;
    }
    pcre2_set_match_limit(mctx, TK_REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(mctx, TK_REGEX_MATCH_LIMIT);
    pcre2_set_heap_limit(mctx, 64 * 1024); /* KiB */
    re->code = code;
    re->mctx = mctx;
    return re;
}

void tk_regex_free(tk_regex *re)
{
    if (!re) return;
    pcre2_code_free(re->code);
    pcre2_match_context_free(re->mctx);
    free(re);
}

int tk_regex_next(const tk_regex *re, pcre2_match_data *md, const char *s, size_t len,
                  size_t start, size_t *ms, size_t *me)
{
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, start, PCRE2_NO_UTF_CHECK, md, re->mctx);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0 && rc != 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return hf_set_error(HUBRT_ERR_FORMAT, "tokenizer: regex match failed: %s",
                               (const char *)msg);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}

/* ---- scratch and pieces -------------------------------------------------- */

int tk_work_init(tk_work *w)
{
    memset(w, 0, sizeof *w);
    w->md = pcre2_match_data_create(4, NULL);
    if (!w->md) return hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory (regex)");
    return 0;
}

void tk_work_free(tk_work *w)
{
    if (w->md) pcre2_match_data_free(w->md);
    tk_buf_free(&w->t1);
    tk_buf_free(&w->t2);
    free(w->mv);
    memset(w, 0, sizeof *w);
}

int tk_pieces_add(tk_pieces *p, const char *s, size_t n, int first)
{
    if (p->text.n + n > UINT32_MAX)
        return hf_set_error(HUBRT_ERR_RANGE, "tokenizer: text longer than 4 GiB");
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        tk_piece *v = realloc(p->v, cap * sizeof *v);
        if (!v) return hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory (pieces)");
        p->v = v;
        p->cap = cap;
    }
    uint32_t off = (uint32_t)p->text.n;
    /* text.p is never NULL once a piece exists, even an empty one, so
     * text.p + off is always valid pointer arithmetic (UBSan: NULL + 0) */
    if (tk_buf_reserve(&p->text, n + 1) || tk_buf_put(&p->text, s, n)) return HUBRT_ERR_NOMEM;
    p->v[p->n++] = (tk_piece){ off, (uint32_t)n, first };
    return 0;
}

void tk_pieces_reset(tk_pieces *p)
{
    p->n = 0;
    p->text.n = 0;
}

void tk_pieces_free(tk_pieces *p)
{
    tk_buf_free(&p->text);
    free(p->v);
    memset(p, 0, sizeof *p);
}
