/*
 * tokenizer/normalizer.c — the tokenizer.json normalizers: BertNormalizer,
 * NFC/NFD/NFKC/NFKD, Lowercase, StripAccents, Replace, Prepend, Strip,
 * ByteLevel, Nmt, Precompiled (sentencepiece charsmap) and Sequence.
 *
 * Each one maps a UTF-8 string to a new one, following Hugging Face
 * `tokenizers` (Rust) character by character: lowercasing is per character
 * (no Greek final sigma), StripAccents only drops nonspacing marks (no
 * decomposition of its own), Precompiled works per extended grapheme.
 */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

/* Unicode normal forms through utf8proc. */
static int unicode_nf(const char *s, size_t len, int form, tk_buf *out)
{
    if (!len) return 0;
    utf8proc_option_t o = UTF8PROC_STABLE;
    switch (form) {
    case TKN_NFC: o |= UTF8PROC_COMPOSE; break;
    case TKN_NFD: o |= UTF8PROC_DECOMPOSE; break;
    case TKN_NFKC: o |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    default: o |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    }
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &dst, o);
    if (n < 0) {
        return hf_set_error(HUBRT_ERR_INVALID_UTF8, "normalizer: %s",
                               utf8proc_errmsg(n));
    }
    int rc = tk_buf_put(out, dst, (size_t)n);
    free(dst);
    return rc;
}

/* Whether a run of text is pure ASCII (the fast paths skip utf8proc then). */
static int is_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 0;
    return 1;
}

static int bert_normalize(const tk_normalizer *nz, tk_work *w, const char *s, size_t len,
                          tk_buf *out)
{
    tk_buf *a = &w->t1;
    a->n = 0;
    if (tk_buf_reserve(a, len + 16)) return HUBRT_ERR_NOMEM;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = tk_utf8_dec(s + i, &cp);
        i += (size_t)k;
        if (nz->clean_text) {
            if (cp == 0 || cp == 0xFFFD) continue;
            if (cp != '\t' && cp != '\n' && cp != '\r' && (cp < 0x20 || cp >= 0x7F) && tk_is_other(cp))
                continue;
            if (tk_is_whitespace(cp)) cp = ' ';
        }
        if (nz->handle_chinese && cp >= 0x3400 && tk_is_chinese(cp)) {
            if (tk_buf_putc(a, ' ') || tk_buf_put_cp(a, cp) || tk_buf_putc(a, ' ')) return HUBRT_ERR_NOMEM;
        } else if (cp < 0x80) {
            if (tk_buf_putc(a, (char)cp)) return HUBRT_ERR_NOMEM;
        } else if (tk_buf_put(a, s + i - (size_t)k, (size_t)k)) {
            return HUBRT_ERR_NOMEM;
        }
    }
    const char *cur = a->p;
    size_t cur_n = a->n;
    int ascii = is_ascii(cur, cur_n);
    tk_buf *b = &w->t2;
    if (nz->strip_accents && !ascii) {
        b->n = 0;
        if (unicode_nf(cur, cur_n, TKN_NFD, b)) return HUBRT_ERR_NOMEM;
        size_t o = 0;
        for (size_t i = 0; i < b->n;) {
            uint32_t cp;
            int k = tk_utf8_dec(b->p + i, &cp);
            if (!tk_is_mn(cp)) {
                memmove(b->p + o, b->p + i, (size_t)k);
                o += (size_t)k;
            }
            i += (size_t)k;
        }
        b->n = o;
        cur = b->p;
        cur_n = b->n;
    }
    out->n = 0;
    if (!nz->lowercase) return tk_buf_put(out, cur, cur_n);
    if (tk_buf_reserve(out, cur_n)) return HUBRT_ERR_NOMEM;
    for (size_t i = 0; i < cur_n;) {
        unsigned char c = (unsigned char)cur[i];
        if (c < 0x80) {
            out->p[out->n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            i++;
            if (out->n == out->cap && tk_buf_reserve(out, 16)) return HUBRT_ERR_NOMEM;
            continue;
        }
        uint32_t cp;
        i += (size_t)tk_utf8_dec(cur + i, &cp);
        if (tk_put_lower(out, cp)) return HUBRT_ERR_NOMEM;
    }
    return 0;
}

/*
 * The sentencepiece precompiled charsmap: a darts-clone double array whose
 * values index NUL-terminated replacement strings. Returns the replacement
 * of the shortest key that is a prefix of s (as spm_precompiled does), or
 * NULL.
 */
static const char *charsmap_lookup(const tk_normalizer *nz, const char *s, size_t n, size_t *rlen)
{
    const uint32_t *u = nz->units;
    size_t nu = nz->n_units;
    if (!nu) return NULL;
    uint32_t unit = u[0];
    size_t pos = (unit >> 10) << ((unit & (1u << 9)) >> 6);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        pos ^= c;
        if (pos >= nu) return NULL;
        unit = u[pos];
        if ((unit & ((1u << 31) | 0xFF)) != c) return NULL;
        pos ^= (unit >> 10) << ((unit & (1u << 9)) >> 6);
        if (pos >= nu) return NULL;
        if ((unit >> 8) & 1) {
            size_t v = u[pos] & ((1u << 31) - 1);
            if (v >= nz->norm_len) return NULL;
            const char *r = nz->norm + v;
            *rlen = strnlen(r, nz->norm_len - v);
            return r;
        }
    }
    return NULL;
}

/* A hostile file can make normalizing explode (a Replace of every character
 * by a long content, a Sequence of doubling Replaces, long charsmap
 * replacements): the normalized text may be at most TK_NORM_GROWTH times the
 * input plus TK_NORM_SLACK bytes (real normalizers stay far below: NFKD, the
 * largest, is 11x for U+FDFA), checked as it grows. */
#define TK_NORM_GROWTH 32
#define TK_NORM_SLACK 65536

static int too_long(const tk_buf *out, size_t limit)
{
    if (out->n <= limit) return 0;
    return hf_set_error(HUBRT_ERR_RANGE, "tokenizer: the normalizer grows the text past %zu bytes "
                           "(%dx the input): refusing a runaway Replace/Precompiled normalizer",
                           limit, TK_NORM_GROWTH);
}

static int precompiled_normalize(const tk_normalizer *nz, const char *s, size_t len, tk_buf *out, size_t limit)
{
    out->n = 0;
    if (tk_buf_reserve(out, len)) return HUBRT_ERR_NOMEM;
    size_t i = 0;
    while (i < len) {
        /* One extended grapheme cluster [i, j). */
        uint32_t cp;
        size_t j = i + (size_t)tk_utf8_dec(s + i, &cp);
        utf8proc_int32_t state = 0, prev = (utf8proc_int32_t)cp;
        while (j < len) {
            uint32_t nx;
            int k = tk_utf8_dec(s + j, &nx);
            if (utf8proc_grapheme_break_stateful(prev, (utf8proc_int32_t)nx, &state)) break;
            prev = (utf8proc_int32_t)nx;
            j += (size_t)k;
        }
        size_t rl;
        const char *r;
        if (j - i < 6 && (r = charsmap_lookup(nz, s + i, j - i, &rl))) {
            if (tk_buf_put(out, r, rl)) return HUBRT_ERR_NOMEM;
        } else {
            for (size_t c = i; c < j;) {
                int k = tk_utf8_len((unsigned char)s[c]);
                r = charsmap_lookup(nz, s + c, (size_t)k, &rl);
                if (r ? tk_buf_put(out, r, rl) : tk_buf_put(out, s + c, (size_t)k)) return HUBRT_ERR_NOMEM;
                c += (size_t)k;
            }
        }
        if (too_long(out, limit)) return HUBRT_ERR_RANGE;
        i = j;
    }
    return 0;
}

static int replace_all(const tk_regex *re, const char *pat, size_t pat_len, tk_work *w,
                       const char *s, size_t len, const char *with, size_t with_len, tk_buf *out, size_t limit)
{
    out->n = 0;
    size_t last = 0;
    if (!re) {
        if (!pat_len) return tk_buf_put(out, s, len);
        const char *p = s, *end = s + len;
        while ((size_t)(end - p) >= pat_len) {
            const char *f = memmem(p, (size_t)(end - p), pat, pat_len);
            if (!f) break;
            if (tk_buf_put(out, p, (size_t)(f - p)) || tk_buf_put(out, with, with_len)) return HUBRT_ERR_NOMEM;
            if (too_long(out, limit)) return HUBRT_ERR_RANGE;
            p = f + pat_len;
        }
        return tk_buf_put(out, p, (size_t)(end - p));
    }
    size_t pos = 0, ms, me;
    while (pos <= len) {
        int rc = tk_regex_next(re, w->md, s, len, pos, &ms, &me);
        if (rc < 0) return rc;
        if (!rc) break;
        if (tk_buf_put(out, s + last, ms - last) || tk_buf_put(out, with, with_len)) return HUBRT_ERR_NOMEM;
        if (too_long(out, limit)) return HUBRT_ERR_RANGE;
        last = me;
        if (me == ms) {
            if (me >= len) break;
            size_t k = (size_t)tk_utf8_len((unsigned char)s[me]);
            if (tk_buf_put(out, s + me, k)) return HUBRT_ERR_NOMEM;
            last = me + k;
            pos = me + k;
        } else {
            pos = me;
        }
    }
    return tk_buf_put(out, s + last, len - last);
}

static int normalize(const tk_normalizer *nz, tk_work *w, const char *s, size_t len, tk_buf *out, size_t limit);

int tk_normalize(const tk_normalizer *nz, tk_work *w, const char *s, size_t len, tk_buf *out)
{
    size_t limit = len > (SIZE_MAX - TK_NORM_SLACK) / TK_NORM_GROWTH ? SIZE_MAX : len * TK_NORM_GROWTH + TK_NORM_SLACK;
    return normalize(nz, w, s, len, out, limit);
}

static int normalize(const tk_normalizer *nz, tk_work *w, const char *s, size_t len, tk_buf *out, size_t limit)
{
    out->n = 0;
    if (!nz) return tk_buf_put(out, s, len);
    switch (nz->type) {
    case TKN_BERT:
        return bert_normalize(nz, w, s, len, out);
    case TKN_NFC: case TKN_NFD: case TKN_NFKC: case TKN_NFKD:
        if (is_ascii(s, len)) return tk_buf_put(out, s, len);
        return unicode_nf(s, len, nz->type, out);
    case TKN_LOWERCASE:
        for (size_t i = 0; i < len;) {
            uint32_t cp;
            i += (size_t)tk_utf8_dec(s + i, &cp);
            if (tk_put_lower(out, cp)) return HUBRT_ERR_NOMEM;
        }
        return 0;
    case TKN_STRIP_ACCENTS:
        for (size_t i = 0; i < len;) {
            uint32_t cp;
            int k = tk_utf8_dec(s + i, &cp);
            if (!tk_is_mn(cp) && tk_buf_put(out, s + i, (size_t)k)) return HUBRT_ERR_NOMEM;
            i += (size_t)k;
        }
        return 0;
    case TKN_REPLACE:
        return replace_all(nz->re, nz->pat, nz->pat_len, w, s, len, nz->content, nz->content_len, out, limit);
    case TKN_PREPEND:
        if (len && tk_buf_put(out, nz->content, nz->content_len)) return HUBRT_ERR_NOMEM;
        return tk_buf_put(out, s, len);
    case TKN_STRIP: {
        size_t a = 0, b = len;
        if (nz->left) {
            while (a < b) {
                uint32_t cp;
                int k = tk_utf8_dec(s + a, &cp);
                if (!tk_is_whitespace(cp)) break;
                a += (size_t)k;
            }
        }
        if (nz->right) {
            while (b > a) {
                size_t c = b - 1;
                while (c > a && ((unsigned char)s[c] & 0xC0) == 0x80) c--;
                uint32_t cp;
                tk_utf8_dec(s + c, &cp);
                if (!tk_is_whitespace(cp)) break;
                b = c;
            }
        }
        return tk_buf_put(out, s + a, b - a);
    }
    case TKN_BYTELEVEL:
        for (size_t i = 0; i < len; i++)
            if (tk_buf_put_cp(out, tk_byte_to_cp[(unsigned char)s[i]])) return HUBRT_ERR_NOMEM;
        return 0;
    case TKN_PRECOMPILED:
        return precompiled_normalize(nz, s, len, out, limit);
    case TKN_NMT:
        /* sentencepiece's nmt rules: drop some C0/C1 controls, map other
         * controls, zero-width and separator characters to a space */
        for (size_t i = 0; i < len;) {
            uint32_t cp;
            int k = tk_utf8_dec(s + i, &cp);
            i += (size_t)k;
            if ((cp >= 0x1 && cp <= 0x8) || cp == 0xB || (cp >= 0xE && cp <= 0x1F) || cp == 0x7F || cp == 0x8F ||
                cp == 0x9F)
                continue;
            if (cp == 0x9 || cp == 0xA || cp == 0xC || cp == 0xD || cp == 0x1680 || (cp >= 0x200B && cp <= 0x200F) ||
                cp == 0x2028 || cp == 0x2029 || cp == 0x2581 || cp == 0xFEFF || cp == 0xFFFD)
                cp = ' ';
            if (tk_buf_put_cp(out, cp)) return HUBRT_ERR_NOMEM;
        }
        return 0;
    case TKN_SEQUENCE: {
        /* Ping-pong between out and a private buffer (the stages use w's). */
        tk_buf tmp = { 0 };
        int rc = tk_buf_put(out, s, len);
        for (int i = 0; !rc && i < nz->n_seq; i++) {
            tmp.n = 0;
            rc = normalize(nz->seq[i], w, out->p ? out->p : "", out->n, &tmp, limit);
            if (!rc) rc = too_long(&tmp, limit);
            if (!rc) {
                tk_buf t = *out;
                *out = tmp;
                tmp = t;
            }
        }
        tk_buf_free(&tmp);
        return rc;
    }
    }
    return hf_set_error(HUBRT_ERR_UNSUPPORTED, "normalizer type %d", nz->type);
}

void tk_normalizer_free(tk_normalizer *nz)
{
    if (!nz) return;
    tk_regex_free(nz->re);
    free(nz->pat);
    free(nz->content);
    free(nz->units);
    free(nz->norm);
    for (int i = 0; i < nz->n_seq; i++) tk_normalizer_free(nz->seq[i]);
    free(nz->seq);
    free(nz);
}
