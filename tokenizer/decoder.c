/*
 * tokenizer/decoder.c — decoders turn the token strings of ids back into
 * text: ByteLevel, WordPiece (with its clean-up), Metaspace, ByteFallback,
 * Fuse, Strip, Replace, CTC, BPE (end-of-word suffix) and Sequence. Each one
 * maps a list of strings to a new list, like HF's decode_chain; the caller
 * joins the final list.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

#define TOK(l, i) ((l)->text.p + (l)->v[i].off)
#define LEN(l, i) ((size_t)(l)->v[i].len)

typedef struct { const char *from, *to; } rep_pair;

static int replace_pairs(tk_buf *out, const char *s, size_t n, const rep_pair *rep, size_t nrep)
{
    tk_buf a = { 0 }, b = { 0 };
    if (tk_buf_put(&a, s, n)) return HUBRT_ERR_NOMEM;
    for (size_t r = 0; r < nrep; r++) {
        size_t fl = strlen(rep[r].from), tl = strlen(rep[r].to);
        if (a.n < fl || !memmem(a.p, a.n, rep[r].from, fl)) continue;
        b.n = 0;
        const char *p = a.p, *end = a.p + a.n;
        for (;;) {
            const char *f = (size_t)(end - p) >= fl ? memmem(p, (size_t)(end - p), rep[r].from, fl) : NULL;
            if (!f) break;
            if (tk_buf_put(&b, p, (size_t)(f - p)) || tk_buf_put(&b, rep[r].to, tl)) goto nomem;
            p = f + fl;
        }
        if (tk_buf_put(&b, p, (size_t)(end - p))) goto nomem;
        tk_buf t = a;
        a = b;
        b = t;
    }
    int rc = tk_buf_put(out, a.p ? a.p : "", a.n);
    tk_buf_free(&a);
    tk_buf_free(&b);
    return rc;
nomem:
    tk_buf_free(&a);
    tk_buf_free(&b);
    return HUBRT_ERR_NOMEM;
}

int tk_cleanup_spaces(tk_buf *out, const char *s, size_t n)
{
    static const rep_pair rep[] = {
        { " .", "." }, { " ?", "?" }, { " !", "!" }, { " ,", "," }, { " ' ", "'" },
        { " n't", "n't" }, { " 'm", "'m" }, { " do not", " don't" }, { " 's", "'s" },
        { " 've", "'ve" }, { " 're", "'re" },
    };
    return replace_pairs(out, s, n, rep, sizeof rep / sizeof rep[0]);
}

int tk_cleanup_transformers(tk_buf *out, const char *s, size_t n)
{
    static const rep_pair rep[] = {
        { " .", "." }, { " ?", "?" }, { " !", "!" }, { " ,", "," }, { " ' ", "'" },
        { " n't", "n't" }, { " 'm", "'m" }, { " 's", "'s" }, { " 've", "'ve" }, { " 're", "'re" },
    };
    return replace_pairs(out, s, n, rep, sizeof rep / sizeof rep[0]);
}

/* Replaces every occurrence of a literal or regex pattern in s. */
/* Like the normalizers (normalizer.c), a decoder chain may grow the text to
 * at most TK_DEC_GROWTH times its input plus TK_DEC_SLACK bytes: a Replace
 * by a huge content, or hundreds of doubling Replaces, is an error, not an
 * out-of-memory kill. */
#define TK_DEC_GROWTH 32
#define TK_DEC_SLACK 65536

static int too_long(size_t n, size_t limit)
{
    if (n <= limit) return 0;
    return hf_set_error(HUBRT_ERR_RANGE, "tokenizer: the decoder grows the text past %zu bytes (%dx the "
                           "tokens): refusing a runaway Replace decoder", limit, TK_DEC_GROWTH);
}

/* base: bytes already decoded in this step (counted against limit). */
static int replace_in(const tk_decoder *d, tk_work *w, const char *s, size_t n, tk_buf *out, size_t base,
                      size_t limit)
{
    size_t last = 0;
    if (!d->re) {
        if (!d->pat_len) return tk_buf_put(out, s, n);
        const char *p = s, *end = s + n;
        for (;;) {
            const char *f = (size_t)(end - p) >= d->pat_len ? memmem(p, (size_t)(end - p), d->pat, d->pat_len) : NULL;
            if (!f) break;
            if (tk_buf_put(out, p, (size_t)(f - p)) || tk_buf_put(out, d->content, d->content_len)) return HUBRT_ERR_NOMEM;
            if (too_long(base + out->n, limit)) return HUBRT_ERR_RANGE;
            p = f + d->pat_len;
        }
        return tk_buf_put(out, p, (size_t)(end - p));
    }
    size_t pos = 0, ms, me;
    while (pos <= n) {
        int rc = tk_regex_next(d->re, w->md, s, n, pos, &ms, &me);
        if (rc < 0) return rc;
        if (!rc || me == ms) break;
        if (tk_buf_put(out, s + last, ms - last) || tk_buf_put(out, d->content, d->content_len)) return HUBRT_ERR_NOMEM;
        if (too_long(base + out->n, limit)) return HUBRT_ERR_RANGE;
        last = pos = me;
    }
    return tk_buf_put(out, s + last, n - last);
}

static int parse_byte_token(const char *t, size_t n)
{
    if (n != 6 || memcmp(t, "<0x", 3) != 0 || t[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = t[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 :
                c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static int flush_bytes(tk_pieces *out, tk_buf *bytes)
{
    if (!bytes->n) return 0;
    size_t bad;
    int rc;
    if (tk_utf8_check(bytes->p, bytes->n, &bad)) {
        rc = tk_pieces_add(out, bytes->p, bytes->n, 0);
    } else {
        rc = 0;
        for (size_t i = 0; i < bytes->n && !rc; i++) rc = tk_pieces_add(out, "\xEF\xBF\xBD", 3, 0);
    }
    bytes->n = 0;
    return rc;
}

/* t as one piece of out; with cleanup, after tk_cleanup_spaces (the
 * WordPiece and CTC decoders' "cleanup" option). */
static int add_cleaned(tk_pieces *out, const tk_buf *t, int cleanup)
{
    if (!cleanup) return tk_pieces_add(out, t->p ? t->p : "", t->n, 0);
    tk_buf c = { 0 };
    int rc = tk_cleanup_spaces(&c, t->p, t->n);
    if (!rc) rc = tk_pieces_add(out, c.p ? c.p : "", c.n, 0);
    tk_buf_free(&c);
    return rc;
}

static int decode_one(const tk_decoder *d, tk_work *w, const tk_pieces *in, tk_pieces *out, size_t limit)
{
    tk_buf t = { 0 };
    int rc = 0;
    switch (d->type) {
    case TKD_BYTELEVEL: {
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *s = TOK(in, i);
            size_t n = LEN(in, i), mark = t.n;
            for (size_t k = 0; k < n;) {
                uint32_t cp;
                k += (size_t)tk_utf8_dec(s + k, &cp);
                int b = tk_cp_to_byte(cp);
                if (b < 0) { /* not byte-level text: the token's own bytes */
                    t.n = mark;
                    rc = tk_buf_put(&t, s, n);
                    break;
                }
                if ((rc = tk_buf_putc(&t, (char)b))) break;
            }
        }
        tk_buf u = { 0 };
        if (!rc) rc = tk_utf8_lossy(&u, t.p ? t.p : "", t.n);
        if (!rc) rc = tk_pieces_add(out, u.p ? u.p : "", u.n, 0);
        tk_buf_free(&u);
        break;
    }
    case TKD_WORDPIECE:
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *s = TOK(in, i);
            size_t n = LEN(in, i);
            t.n = 0;
            if (i && n >= d->prefix_len && d->prefix_len && memcmp(s, d->prefix, d->prefix_len) == 0) {
                rc = tk_buf_put(&t, s + d->prefix_len, n - d->prefix_len);
            } else {
                if (i) rc = tk_buf_putc(&t, ' ');
                if (!rc) rc = tk_buf_put(&t, s, n);
            }
            if (!rc) rc = add_cleaned(out, &t, d->cleanup);
        }
        break;
    case TKD_METASPACE: {
        /* As HF: in the first token every replacement char is dropped (unless
         * prepend_scheme is never); elsewhere each becomes a space. */
        char rep[4];
        size_t rl = (size_t)tk_utf8_enc(d->ch, rep);
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *s = TOK(in, i);
            size_t n = LEN(in, i), k = 0;
            int drop = i == 0 && d->prepend_scheme != TKM_NEVER;
            t.n = 0;
            while (k < n && !rc) {
                if (n - k >= rl && memcmp(s + k, rep, rl) == 0) {
                    if (!drop) rc = tk_buf_putc(&t, ' ');
                    k += rl;
                } else {
                    rc = tk_buf_putc(&t, s[k++]);
                }
            }
            if (!rc) rc = tk_pieces_add(out, t.p ? t.p : "", t.n, 0);
        }
        break;
    }
    case TKD_BYTE_FALLBACK:
        for (size_t i = 0; i < in->n && !rc; i++) {
            int b = parse_byte_token(TOK(in, i), LEN(in, i));
            if (b >= 0) { rc = tk_buf_putc(&t, (char)b); continue; }
            rc = flush_bytes(out, &t);
            if (!rc) rc = tk_pieces_add(out, TOK(in, i), LEN(in, i), 0);
        }
        if (!rc) rc = flush_bytes(out, &t);
        break;
    case TKD_FUSE:
        for (size_t i = 0; i < in->n && !rc; i++) rc = tk_buf_put(&t, TOK(in, i), LEN(in, i));
        if (!rc) rc = tk_pieces_add(out, t.p ? t.p : "", t.n, 0);
        break;
    case TKD_STRIP: {
        char c[4];
        size_t cl = (size_t)tk_utf8_enc(d->ch, c);
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *s = TOK(in, i);
            size_t a = 0, b = LEN(in, i);
            for (int k = 0; k < d->start && b - a >= cl && memcmp(s + a, c, cl) == 0; k++) a += cl;
            for (int k = 0; k < d->stop && b - a >= cl && memcmp(s + b - cl, c, cl) == 0; k++) b -= cl;
            rc = tk_pieces_add(out, s + a, b - a, 0);
        }
        break;
    }
    case TKD_REPLACE:
        for (size_t i = 0; i < in->n && !rc; i++) {
            t.n = 0;
            rc = replace_in(d, w, TOK(in, i), LEN(in, i), &t, out->text.n, limit);
            if (!rc) rc = tk_pieces_add(out, t.p ? t.p : "", t.n, 0);
        }
        break;
    case TKD_CTC: {
        size_t padl = strlen(d->pad), dl = strlen(d->delim);
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *s = TOK(in, i);
            size_t n = LEN(in, i);
            if (i && n == LEN(in, i - 1) && memcmp(s, TOK(in, i - 1), n) == 0) continue; /* dedup */
            if (n == padl && memcmp(s, d->pad, n) == 0) continue;
            t.n = 0;
            const char *p = s, *end = s + n;
            while (!rc) {
                const char *f = dl && (size_t)(end - p) >= dl ? memmem(p, (size_t)(end - p), d->delim, dl) : NULL;
                if (!f) break;
                rc = tk_buf_put(&t, p, (size_t)(f - p));
                if (!rc) rc = tk_buf_putc(&t, ' ');
                p = f + dl;
            }
            if (!rc) rc = tk_buf_put(&t, p, (size_t)(end - p));
            if (!rc) rc = add_cleaned(out, &t, d->cleanup);
        }
        break;
    }
    case TKD_BPE:
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *s = TOK(in, i);
            size_t n = LEN(in, i);
            t.n = 0;
            const char *p = s, *end = s + n;
            const char *with = i + 1 == in->n ? "" : " ";
            while (!rc) {
                const char *f = d->prefix_len && (size_t)(end - p) >= d->prefix_len
                                    ? memmem(p, (size_t)(end - p), d->prefix, d->prefix_len) : NULL;
                if (!f) break;
                rc = tk_buf_put(&t, p, (size_t)(f - p));
                if (!rc) rc = tk_buf_put(&t, with, strlen(with));
                p = f + d->prefix_len;
            }
            if (!rc) rc = tk_buf_put(&t, p, (size_t)(end - p));
            if (!rc) rc = tk_pieces_add(out, t.p ? t.p : "", t.n, 0);
        }
        break;
    default:
        rc = hf_set_error(HUBRT_ERR_UNSUPPORTED, "decoder type %d", d->type);
    }
    tk_buf_free(&t);
    return rc;
}

static int chain(const tk_decoder *d, tk_work *w, tk_pieces *toks, size_t limit)
{
    tk_pieces out = { 0 };
    int rc = 0;
    if (d->type == TKD_SEQUENCE) {
        for (int i = 0; i < d->n_seq && !rc; i++) {
            rc = chain(d->seq[i], w, toks, limit);
            if (!rc) rc = too_long(toks->text.n, limit);
        }
        return rc;
    }
    rc = decode_one(d, w, toks, &out, limit);
    if (!rc) {
        tk_pieces t = *toks;
        *toks = out;
        out = t;
    }
    tk_pieces_free(&out);
    return rc;
}

int tk_decode_chain(const tk_decoder *d, tk_work *w, tk_pieces *toks)
{
    size_t n = toks->text.n;
    size_t limit = n > (SIZE_MAX - TK_DEC_SLACK) / TK_DEC_GROWTH ? SIZE_MAX : n * TK_DEC_GROWTH + TK_DEC_SLACK;
    return chain(d, w, toks, limit);
}

void tk_decoder_free(tk_decoder *d)
{
    if (!d) return;
    free(d->prefix);
    free(d->content);
    tk_regex_free(d->re);
    free(d->pat);
    free(d->pad);
    free(d->delim);
    for (int i = 0; i < d->n_seq; i++) tk_decoder_free(d->seq[i]);
    free(d->seq);
    free(d);
}
