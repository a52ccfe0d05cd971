/*
 * tokenizer/added_tokens.c — added tokens (tokenizer.json "added_tokens",
 * or the special tokens of the older layouts), matched before the pipeline.
 *
 * As in HF's AddedVocabulary: tokens with normalized=false are found in the
 * raw text; the text between them is normalized and then searched for the
 * normalized=true tokens, whose patterns are their contents passed through
 * the normalizer (so LLaMA's "<s>" is found as "▁<s>"). Matching is
 * leftmost-longest; single_word requires no word character on either side;
 * lstrip / rstrip extend the match over neighbouring whitespace.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

int tk_added_add(tk_added_vocab *a, const char *content, size_t len, int32_t id, int special,
                 int lstrip, int rstrip, int single_word, int normalized)
{
    if (id < 0 || id > TK_MAX_ID)
        return hf_set_error(HUBRT_ERR_FORMAT, "added token '%.*s': id %d outside 0..%d", (int)(len > 64 ? 64 : len),
                               content, (int)id, TK_MAX_ID);
    for (int i = 0; i < a->n; i++) {
        if (a->v[i].len == len && memcmp(a->v[i].content, content, len) == 0) {
            /* the same content again: the later definition wins */
            a->v[i].id = id;
            a->v[i].special = (uint8_t)special;
            a->v[i].lstrip = (uint8_t)lstrip;
            a->v[i].rstrip = (uint8_t)rstrip;
            a->v[i].single_word = (uint8_t)single_word;
            a->v[i].normalized = (uint8_t)normalized;
            return 0;
        }
    }
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 16;
        tk_added *v = realloc(a->v, (size_t)cap * sizeof *v);
        if (!v) return hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory (added tokens)");
        a->v = v;
        a->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c) return hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory (added tokens)");
    memcpy(c, content, len);
    c[len] = '\0';
    a->v[a->n++] = (tk_added){ c, len, NULL, 0, id, (uint8_t)special, (uint8_t)lstrip, (uint8_t)rstrip,
                               (uint8_t)single_word, (uint8_t)normalized };
    return 0;
}

int tk_added_build(tk_added_vocab *a, const tk_normalizer *nz, tk_work *w)
{
    tk_trie_free(&a->raw);
    tk_trie_free(&a->norm);
    if (tk_trie_init(&a->raw) || tk_trie_init(&a->norm)) return HUBRT_ERR_NOMEM;
    a->has_raw = a->has_norm = 0;
    tk_buf tmp = { 0 };
    for (int i = 0; i < a->n; i++) {
        tk_added *t = &a->v[i];
        free(t->pattern);
        t->pattern = NULL;
        if (t->normalized && nz) {
            int rc = tk_normalize(nz, w, t->content, t->len, &tmp);
            if (rc) { tk_buf_free(&tmp); return rc; }
        } else {
            tmp.n = 0;
            if (tk_buf_put(&tmp, t->content, t->len)) return HUBRT_ERR_NOMEM;
        }
        t->pattern = malloc(tmp.n + 1);
        if (!t->pattern) { tk_buf_free(&tmp); return hf_set_error(HUBRT_ERR_NOMEM, "out of memory"); }
        if (tmp.n) memcpy(t->pattern, tmp.p, tmp.n);
        t->pattern[tmp.n] = '\0';
        t->plen = tmp.n;
        if (!t->plen) continue;
        tk_trie *tr = t->normalized ? &a->norm : &a->raw;
        if (tk_trie_add(tr, t->pattern, t->plen, i)) { tk_buf_free(&tmp); return HUBRT_ERR_NOMEM; }
        if (t->normalized) a->has_norm = 1;
        else a->has_raw = 1;
    }
    tk_buf_free(&tmp);
    return 0;
}

static int seg_push(tk_segs *o, size_t off, size_t len, int32_t id)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        tk_seg *v = realloc(o->v, cap * sizeof *v);
        if (!v) return hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory (segments)");
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = (tk_seg){ (uint32_t)off, (uint32_t)len, id };
    return 0;
}

/* Word character for single_word: alphanumeric or '_'. */
static int is_word_cp(uint32_t cp) { return cp == '_' || tk_is_alnum(cp); }

static int ends_with_word(const char *s, size_t end)
{
    if (!end) return 0;
    size_t c = end - 1;
    while (c > 0 && ((unsigned char)s[c] & 0xC0) == 0x80) c--;
    uint32_t cp;
    tk_utf8_dec(s + c, &cp);
    return is_word_cp(cp);
}

static int starts_with_word(const char *s, size_t len, size_t at)
{
    if (at >= len) return 0;
    uint32_t cp;
    tk_utf8_dec(s + at, &cp);
    return is_word_cp(cp);
}

int tk_added_split(const tk_added_vocab *a, int normalized, const char *s, size_t len, tk_segs *out)
{
    out->n = 0;
    const tk_trie *tr = normalized ? &a->norm : &a->raw;
    int any = normalized ? a->has_norm : a->has_raw;
    if (!any || !len) return len ? seg_push(out, 0, len, -1) : 0;
    size_t last = 0, i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (!(tr->first[c >> 3] & (1u << (c & 7)))) { i++; continue; }
        /* longest match starting at i */
        int32_t nd = 0, hit = -1;
        size_t hit_end = 0;
        for (size_t k = i; k < len; k++) {
            nd = tk_trie_child(tr, nd, (unsigned char)s[k]);
            if (nd < 0) break;
            if (tr->val[nd] >= 0) { hit = tr->val[nd]; hit_end = k + 1; }
        }
        if (hit < 0) { i++; continue; }
        const tk_added *t = &a->v[hit];
        size_t start = i, stop = hit_end;
        if (t->single_word && (ends_with_word(s, start) || starts_with_word(s, len, stop))) {
            i = stop; /* the search resumes after the rejected match, as aho-corasick's iterator does */
            continue;
        }
        if (t->lstrip) {
            size_t ns = start;
            while (ns > last) {
                size_t c2 = ns - 1;
                while (c2 > 0 && ((unsigned char)s[c2] & 0xC0) == 0x80) c2--;
                uint32_t cp;
                tk_utf8_dec(s + c2, &cp);
                if (!tk_is_whitespace(cp)) break;
                ns = c2;
            }
            start = ns;
        }
        if (t->rstrip) {
            while (stop < len) {
                uint32_t cp;
                int k = tk_utf8_dec(s + stop, &cp);
                if (!tk_is_whitespace(cp)) break;
                stop += (size_t)k;
            }
        }
        if (last < start && seg_push(out, last, start - last, -1)) return HUBRT_ERR_NOMEM;
        if (seg_push(out, start, stop - start, t->id)) return HUBRT_ERR_NOMEM;
        last = i = stop;
    }
    if (last < len && seg_push(out, last, len - last, -1)) return HUBRT_ERR_NOMEM;
    return 0;
}

const tk_added *tk_added_by_id(const tk_added_vocab *a, int32_t id)
{
    for (int i = a->n; i-- > 0;)
        if (a->v[i].id == id) return &a->v[i];
    return NULL;
}

void tk_added_free(tk_added_vocab *a)
{
    for (int i = 0; i < a->n; i++) {
        free(a->v[i].content);
        free(a->v[i].pattern);
    }
    free(a->v);
    tk_trie_free(&a->raw);
    tk_trie_free(&a->norm);
    memset(a, 0, sizeof *a);
}
