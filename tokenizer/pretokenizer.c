/*
 * tokenizer/pretokenizer.c — the tokenizer.json pre-tokenizers: BertPreTokenizer,
 * Whitespace, WhitespaceSplit, ByteLevel, Split (regex or string, every
 * behavior, invert), Metaspace, Digits, Punctuation, CharDelimiterSplit and
 * Sequence.
 *
 * A pre-tokenizer turns a list of pieces into a finer list. Splitting follows
 * HF's NormalizedString::split: the input is cut into alternating
 * (span, is_match) runs, the behavior decides which runs survive and how they
 * merge, empty pieces are dropped. A piece keeps `first` (it starts the
 * input) only when it begins where its parent began.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

static int mv_push(tk_work *w, size_t s, size_t e, int m)
{
    if (w->mn == w->mcap) {
        size_t cap = w->mcap ? w->mcap * 2 : 64;
        struct tk_match *v = realloc(w->mv, cap * sizeof *v);
        if (!v) return hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory (splits)");
        w->mv = v;
        w->mcap = cap;
    }
    w->mv[w->mn++] = (struct tk_match){ (uint32_t)s, (uint32_t)e, m };
    return 0;
}

/* Runs for a per-character predicate: each matching character is one match. */
typedef int (*char_pred)(uint32_t cp, uint32_t arg);

static int find_chars(tk_work *w, const char *s, size_t len, char_pred pred, uint32_t arg)
{
    w->mn = 0;
    size_t last = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = tk_utf8_dec(s + i, &cp);
        if (pred(cp, arg)) {
            if (last < i && mv_push(w, last, i, 0)) return HUBRT_ERR_NOMEM;
            if (mv_push(w, i, i + (size_t)k, 1)) return HUBRT_ERR_NOMEM;
            last = i + (size_t)k;
        }
        i += (size_t)k;
    }
    if (last < len && mv_push(w, last, len, 0)) return HUBRT_ERR_NOMEM;
    return 0;
}

/* Runs for a regex. Empty matches only mark a boundary. */
static int find_regex(tk_work *w, const tk_regex *re, const char *s, size_t len)
{
    w->mn = 0;
    size_t prev = 0, pos = 0, ms, me;
    while (pos <= len) {
        int rc = tk_regex_next(re, w->md, s, len, pos, &ms, &me);
        if (rc < 0) return rc;
        if (!rc) break;
        if (prev < ms && mv_push(w, prev, ms, 0)) return HUBRT_ERR_NOMEM;
        if (me > ms) {
            if (mv_push(w, ms, me, 1)) return HUBRT_ERR_NOMEM;
            pos = me;
        } else {
            if (ms >= len) { prev = ms; break; }
            pos = ms + (size_t)tk_utf8_len((unsigned char)s[ms]);
            /* the character after an empty match joins the following run */
            if (pos <= len && mv_push(w, ms, ms, 1)) return HUBRT_ERR_NOMEM;
        }
        prev = me;
    }
    if (prev < len && mv_push(w, prev, len, 0)) return HUBRT_ERR_NOMEM;
    return 0;
}

/* Applies invert + behavior to w->mv and adds the surviving pieces of s. */
static int emit_runs(tk_work *w, const char *s, int behavior, int invert, int first, tk_pieces *out)
{
    struct tk_match *mv = w->mv;
    size_t n = w->mn, k = 0;
    if (invert)
        for (size_t i = 0; i < n; i++) mv[i].m = !mv[i].m;
    /* Merge in place: k = number of output runs; removed runs keep m = 1. */
    switch (behavior) {
    case TKB_REMOVED:
    case TKB_ISOLATED:
        k = n;
        if (behavior == TKB_ISOLATED)
            for (size_t i = 0; i < n; i++) mv[i].m = 0;
        break;
    case TKB_CONTIGUOUS: {
        int prev = 0;
        for (size_t i = 0; i < n; i++) {
            int m = mv[i].m;
            if (m == prev && k) mv[k - 1].e = mv[i].e;
            else mv[k++] = (struct tk_match){ mv[i].s, mv[i].e, 0 };
            prev = m;
        }
        for (size_t i = 0; i < k; i++) mv[i].m = 0;
        break;
    }
    case TKB_MERGED_PREV: {
        int prev = 0;
        for (size_t i = 0; i < n; i++) {
            int m = mv[i].m;
            if (m && !prev && k) mv[k - 1].e = mv[i].e;
            else mv[k++] = (struct tk_match){ mv[i].s, mv[i].e, 0 };
            prev = m;
        }
        break;
    }
    case TKB_MERGED_NEXT: {
        /* Right to left, writing runs from the end of the array. */
        int prev = 0;
        size_t top = n; /* runs live in mv[top..n) */
        for (size_t i = n; i-- > 0;) {
            struct tk_match cur = mv[i];
            if (cur.m && !prev && top < n) mv[top].s = cur.s;
            else mv[--top] = (struct tk_match){ cur.s, cur.e, 0 };
            prev = cur.m;
        }
        k = n - top;
        memmove(mv, mv + top, k * sizeof *mv);
        break;
    }
    }
    for (size_t i = 0; i < k; i++) {
        if (mv[i].m || mv[i].e <= mv[i].s) continue;
        if (tk_pieces_add(out, s + mv[i].s, mv[i].e - mv[i].s, first && mv[i].s == 0)) return HUBRT_ERR_NOMEM;
    }
    return 0;
}

static int pred_ws(uint32_t cp, uint32_t arg) { (void)arg; return tk_is_whitespace(cp); }
static int pred_punct(uint32_t cp, uint32_t arg) { (void)arg; return tk_is_punct(cp); }
static int pred_digit(uint32_t cp, uint32_t arg) { (void)arg; return tk_is_numeric(cp); }
static int pred_char(uint32_t cp, uint32_t arg) { return cp == arg; }

/* BertPreTokenizer: whitespace removed, then punctuation isolated, in one pass. */
static int bert_split(const char *s, size_t len, int first, tk_pieces *out)
{
    size_t start = 0, i = 0;
    while (i < len) {
        uint32_t cp;
        int k = tk_utf8_dec(s + i, &cp);
        int ws = tk_is_whitespace(cp), pu = !ws && tk_is_punct(cp);
        if (ws || pu) {
            if (start < i && tk_pieces_add(out, s + start, i - start, first && start == 0)) return HUBRT_ERR_NOMEM;
            if (pu && tk_pieces_add(out, s + i, (size_t)k, first && i == 0)) return HUBRT_ERR_NOMEM;
            start = i + (size_t)k;
        }
        i += (size_t)k;
    }
    if (start < len && tk_pieces_add(out, s + start, len - start, first && start == 0)) return HUBRT_ERR_NOMEM;
    return 0;
}

/* Maps bytes to the byte-level alphabet and adds the result as one piece. */
static int add_bytelevel(tk_pieces *out, const char *s, size_t n, int first)
{
    if (tk_buf_reserve(&out->text, n * 2)) return HUBRT_ERR_NOMEM;
    uint32_t off = (uint32_t)out->text.n;
    char *d = out->text.p + out->text.n;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = tk_byte_to_cp[(unsigned char)s[i]];
        if (cp < 0x80) *d++ = (char)cp;
        else { *d++ = (char)(0xC0 | (cp >> 6)); *d++ = (char)(0x80 | (cp & 0x3F)); }
    }
    out->text.n = (size_t)(d - out->text.p);
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 64;
        tk_piece *v = realloc(out->v, cap * sizeof *v);
        if (!v) return hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory (pieces)");
        out->v = v;
        out->cap = cap;
    }
    out->v[out->n++] = (tk_piece){ off, (uint32_t)(out->text.n - off), first };
    return 0;
}

static int bytelevel_piece(const tk_pretok *p, tk_work *w, const char *s, size_t len, int first,
                           tk_pieces *out)
{
    tk_buf *tmp = &w->t1;
    if (p->add_prefix_space && (len == 0 || s[0] != ' ')) {
        tmp->n = 0;
        if (tk_buf_putc(tmp, ' ') || tk_buf_put(tmp, s, len)) return HUBRT_ERR_NOMEM;
        s = tmp->p;
        len = tmp->n;
    }
    if (!p->use_regex || !p->re) return len ? add_bytelevel(out, s, len, first) : 0;
    size_t pos = 0, prev = 0, ms, me;
    while (pos < len) {
        int rc = tk_regex_next(p->re, w->md, s, len, pos, &ms, &me);
        if (rc < 0) return rc;
        if (!rc) break;
        if (me == ms) { pos = ms + (size_t)tk_utf8_len((unsigned char)s[ms]); continue; }
        if (prev < ms && add_bytelevel(out, s + prev, ms - prev, first && prev == 0)) return HUBRT_ERR_NOMEM;
        if (add_bytelevel(out, s + ms, me - ms, first && ms == 0)) return HUBRT_ERR_NOMEM;
        prev = pos = me;
    }
    if (prev < len && add_bytelevel(out, s + prev, len - prev, first && prev == 0)) return HUBRT_ERR_NOMEM;
    return 0;
}

static int metaspace_piece(const tk_pretok *p, tk_work *w, const char *s, size_t len, int first,
                           tk_pieces *out)
{
    char rep[4];
    int rl = tk_utf8_enc(p->ch, rep);
    tk_buf *t = &w->t1;
    t->n = 0;
    int starts_rep = (len >= (size_t)rl && memcmp(s, rep, (size_t)rl) == 0) || (len && s[0] == ' ' && p->ch != ' ');
    if ((p->prepend_scheme == TKM_ALWAYS || (p->prepend_scheme == TKM_FIRST && first)) && !starts_rep)
        if (tk_buf_put(t, rep, (size_t)rl)) return HUBRT_ERR_NOMEM;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ' ? tk_buf_put(t, rep, (size_t)rl) : tk_buf_putc(t, s[i])) return HUBRT_ERR_NOMEM;
    }
    if (!p->split) return t->n ? tk_pieces_add(out, t->p, t->n, first) : 0;
    int rc = find_chars(w, t->p, t->n, pred_char, p->ch);
    return rc ? rc : emit_runs(w, t->p, TKB_MERGED_NEXT, 0, first, out);
}

static int pretok_piece(const tk_pretok *p, tk_work *w, const char *s, size_t len, int first,
                        tk_pieces *out)
{
    int rc;
    switch (p->type) {
    case TKP_BERT:
        return bert_split(s, len, first, out);
    case TKP_WHITESPACE:
        rc = find_regex(w, p->re, s, len);
        return rc ? rc : emit_runs(w, s, TKB_REMOVED, 1, first, out);
    case TKP_WHITESPACE_SPLIT:
        rc = find_chars(w, s, len, pred_ws, 0);
        return rc ? rc : emit_runs(w, s, TKB_REMOVED, 0, first, out);
    case TKP_BYTELEVEL:
        return bytelevel_piece(p, w, s, len, first, out);
    case TKP_SPLIT:
        rc = find_regex(w, p->re, s, len);
        return rc ? rc : emit_runs(w, s, p->behavior, p->invert, first, out);
    case TKP_METASPACE:
        return metaspace_piece(p, w, s, len, first, out);
    case TKP_DIGITS:
        rc = find_chars(w, s, len, pred_digit, 0);
        return rc ? rc : emit_runs(w, s, p->individual ? TKB_ISOLATED : TKB_CONTIGUOUS, 0, first, out);
    case TKP_PUNCTUATION:
        rc = find_chars(w, s, len, pred_punct, 0);
        return rc ? rc : emit_runs(w, s, p->behavior, 0, first, out);
    case TKP_CHAR_DELIMITER:
        rc = find_chars(w, s, len, pred_char, p->ch);
        return rc ? rc : emit_runs(w, s, TKB_REMOVED, 0, first, out);
    }
    return hf_set_error(HUBRT_ERR_UNSUPPORTED, "pre-tokenizer type %d", p->type);
}

int tk_pretokenize(const tk_pretok *p, tk_work *w, const tk_pieces *in, tk_pieces *out)
{
    tk_pieces_reset(out);
    if (p->type != TKP_SEQUENCE) {
        for (size_t i = 0; i < in->n; i++) {
            int rc = pretok_piece(p, w, in->text.p + in->v[i].off, in->v[i].len, in->v[i].first, out);
            if (rc) return rc;
        }
        return 0;
    }
    tk_pieces a = { 0 }, b = { 0 };
    const tk_pieces *cur = in;
    int rc = 0;
    for (int k = 0; k < p->n_seq && !rc; k++) {
        tk_pieces *dst = k == p->n_seq - 1 ? out : (cur == &a ? &b : &a);
        rc = tk_pretokenize(p->seq[k], w, cur, dst);
        cur = dst;
    }
    if (!rc && p->n_seq == 0) {
        for (size_t i = 0; i < in->n && !rc; i++)
            rc = tk_pieces_add(out, in->text.p + in->v[i].off, in->v[i].len, in->v[i].first);
    }
    tk_pieces_free(&a);
    tk_pieces_free(&b);
    return rc;
}

void tk_pretok_free(tk_pretok *p)
{
    if (!p) return;
    tk_regex_free(p->re);
    for (int i = 0; i < p->n_seq; i++) tk_pretok_free(p->seq[i]);
    free(p->seq);
    free(p);
}
