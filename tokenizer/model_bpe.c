/*
 * tokenizer/model_bpe.c — the BPE model: a word is split into characters
 * (continuing_subword_prefix / end_of_word_suffix added, unknown characters
 * go to byte-fallback pieces <0xXX> or to unk, fused when fuse_unk), then
 * merged pair by pair, lowest merge rank first and leftmost first on ties —
 * the order of HF's priority queue — until no known pair is left.
 *
 * Data: merges live in a uint64 hash map (left id << 32 | right id) ->
 * (rank << 32 | merged id); the queue is a binary min-heap keyed by
 * (rank, position); symbols are a doubly linked list in an array. Results of
 * short words are cached in a direct-mapped table guarded by a mutex (the
 * model is shared by every thread that encodes).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

#define CACHE_MAX_WORD 128

struct tk_bpe_cache {
    pthread_mutex_t lock;
    struct cache_entry { uint64_t hash; uint32_t len, n; char *data; } e[TK_BPE_CACHE];
};

int tk_bpe_cache_init(tk_model *m)
{
    m->cache = calloc(1, sizeof *m->cache);
    if (!m->cache) return hf_set_error(HUBRT_ERR_NOMEM, "BPE: out of memory (cache)");
    pthread_mutex_init(&m->cache->lock, NULL);
    return 0;
}

int tk_cache_get(struct tk_bpe_cache *c, uint64_t h, const char *s, size_t len, tk_ids *out)
{
    int hit = 0;
    pthread_mutex_lock(&c->lock);
    struct cache_entry *e = &c->e[h & (TK_BPE_CACHE - 1)];
    if (e->data && e->hash == h && e->len == len && memcmp(e->data, s, len) == 0) {
        if (e->n == 0) {
            hit = 1; /* a word of no ids (out->v may still be NULL) */
        } else if (tk_ids_reserve(out, e->n) == 0) {
            memcpy(out->v + out->n, e->data + ((len + 3) & ~(size_t)3), e->n * sizeof(int32_t));
            out->n += e->n;
            hit = 1;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

void tk_cache_put(struct tk_bpe_cache *c, uint64_t h, const char *s, size_t len,
                      const int32_t *ids, size_t n)
{
    size_t al = (len + 3) & ~(size_t)3;
    char *d = malloc(al + n * sizeof(int32_t) + 1);
    if (!d) return; /* the cache is optional */
    if (len) memcpy(d, s, len);
    if (n) memcpy(d + al, ids, n * sizeof(int32_t));
    pthread_mutex_lock(&c->lock);
    struct cache_entry *e = &c->e[h & (TK_BPE_CACHE - 1)];
    free(e->data);
    *e = (struct cache_entry){ h, (uint32_t)len, (uint32_t)n, d };
    pthread_mutex_unlock(&c->lock);
}

static void cache_free(struct tk_bpe_cache *c)
{
    if (!c) return;
    for (size_t i = 0; i < TK_BPE_CACHE; i++) free(c->e[i].data);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int tk_bpe_add_merge(tk_model *m, const char *a, size_t an, const char *b, size_t bn, int rank)
{
    int32_t ia = tk_vocab_id(&m->vocab, a, an), ib = tk_vocab_id(&m->vocab, b, bn);
    if (ia < 0 || ib < 0)
        return hf_set_error(HUBRT_ERR_FORMAT, "model.merges[%d]: token '%.*s' not in vocab", rank,
                               (int)(ia < 0 ? an : bn), ia < 0 ? a : b);
    size_t skip = 0;
    if (m->prefix_len && bn >= m->prefix_len && memcmp(b, m->prefix, m->prefix_len) == 0) skip = m->prefix_len;
    char stack[256];
    size_t n = an + bn - skip;
    char *buf = n <= sizeof stack ? stack : malloc(n);
    if (!buf) return hf_set_error(HUBRT_ERR_NOMEM, "BPE: out of memory");
    memcpy(buf, a, an);
    memcpy(buf + an, b + skip, bn - skip);
    int32_t id = tk_vocab_id(&m->vocab, buf, n);
    if (buf != stack) free(buf);
    if (id < 0)
        return hf_set_error(HUBRT_ERR_FORMAT, "model.merges[%d]: merged token '%.*s%.*s' not in vocab",
                               rank, (int)an, a, (int)(bn - skip), b + skip);
    uint64_t key = ((uint64_t)(uint32_t)ia << 32) | (uint32_t)ib, old;
    if (tk_u64map_get(&m->merges, key, &old)) return 0; /* first rank wins */
    return tk_u64map_put(&m->merges, key, ((uint64_t)(uint32_t)rank << 32) | (uint32_t)id);
}

typedef struct sym { int32_t id, prev, next, len; } sym;
typedef struct qent { uint64_t key; int32_t new_id; } qent; /* key = rank << 32 | pos */

static void heap_push(qent *h, size_t *n, qent e)
{
    size_t i = (*n)++;
    while (i) {
        size_t p = (i - 1) / 2;
        if (h[p].key <= e.key) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static qent heap_pop(qent *h, size_t *n)
{
    qent top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1].key < h[c].key) c++;
        if (last.key <= h[c].key) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static inline int merge_of(const tk_model *m, int32_t a, int32_t b, uint32_t *rank, int32_t *id)
{
    uint64_t v;
    if (!tk_u64map_get(&m->merges, ((uint64_t)(uint32_t)a << 32) | (uint32_t)b, &v)) return 0;
    *rank = (uint32_t)(v >> 32);
    *id = (int32_t)(uint32_t)v;
    return 1;
}

/* Splits s into initial symbols (see the file comment); syms has room for len * 4. */
static int initial_symbols(const tk_model *m, const char *s, size_t len, sym *syms, size_t *nsym)
{
    size_t n = 0;
    int32_t unk = -1, unk_len = 0;
    int have_unk = 0;
    char stack[4 + 2 * TK_MAX_AFFIX]; /* prefix + one character + suffix */
    for (size_t i = 0; i < len;) {
        size_t k = (size_t)tk_utf8_len((unsigned char)s[i]);
        if (i + k > len) k = len - i;
        int first = i == 0, last = i + k == len;
        const char *key = s + i;
        size_t kn = k;
        if ((!first && m->prefix_len) || (last && m->suffix_len)) {
            kn = 0;
            if (!first && m->prefix_len) { memcpy(stack, m->prefix, m->prefix_len); kn = m->prefix_len; }
            memcpy(stack + kn, s + i, k);
            kn += k;
            if (last && m->suffix_len) { memcpy(stack + kn, m->suffix, m->suffix_len); kn += m->suffix_len; }
            key = stack;
        }
        int32_t id = tk_vocab_id(&m->vocab, key, kn);
        if (id >= 0) {
            if (have_unk) { syms[n++] = (sym){ unk, 0, 0, unk_len }; have_unk = 0; }
            syms[n++] = (sym){ id, 0, 0, (int32_t)k };
        } else {
            int done = 0;
            if (m->byte_fallback) {
                int all = 1;
                for (size_t b = 0; b < kn && all; b++) all = m->byte_id[(unsigned char)key[b]] >= 0;
                if (all) {
                    for (size_t b = 0; b < kn; b++) syms[n++] = (sym){ m->byte_id[(unsigned char)key[b]], 0, 0, 1 };
                    done = 1;
                }
            }
            if (!done && m->unk_id >= 0) {
                if (have_unk && m->fuse_unk) {
                    unk_len += (int32_t)k;
                } else {
                    if (have_unk) syms[n++] = (sym){ unk, 0, 0, unk_len };
                    unk = m->unk_id;
                    unk_len = (int32_t)k;
                    have_unk = 1;
                }
            }
        }
        i += k;
    }
    if (have_unk) syms[n++] = (sym){ unk, 0, 0, unk_len };
    *nsym = n;
    return 0;
}

static int bpe_word(const tk_model *m, const char *s, size_t len, tk_ids *out)
{
    /* Affixes are at most TK_MAX_AFFIX bytes (the loader refuses longer ones;
     * initial_symbols' key buffer is sized for that). */
    if (m->prefix_len > TK_MAX_AFFIX || m->suffix_len > TK_MAX_AFFIX)
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "BPE: subword prefix/suffix longer than %d bytes", TK_MAX_AFFIX);
    size_t cap = len * (1 + m->prefix_len + m->suffix_len) + 8;
    sym stack_syms[256];
    qent stack_heap[768];
    sym *syms = cap <= 256 ? stack_syms : malloc(cap * sizeof *syms);
    qent *heap = cap <= 256 ? stack_heap : malloc(cap * 3 * sizeof *heap);
    int rc = 0;
    if (!syms || !heap) {
        rc = hf_set_error(HUBRT_ERR_NOMEM, "BPE: out of memory (%zu symbols)", cap);
        goto done;
    }
    size_t n, hn = 0, hcap = cap <= 256 ? 768 : cap * 3;
    initial_symbols(m, s, len, syms, &n);
    for (size_t i = 0; i < n; i++) {
        syms[i].prev = (int32_t)i - 1;
        syms[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        uint32_t rank;
        int32_t id;
        if (merge_of(m, syms[i].id, syms[i + 1].id, &rank, &id))
            heap_push(heap, &hn, (qent){ ((uint64_t)rank << 32) | i, id });
    }
    while (hn) {
        qent top = heap_pop(heap, &hn);
        int32_t pos = (int32_t)(uint32_t)top.key;
        sym *cur = &syms[pos];
        if (cur->len == 0 || cur->next < 0) continue;
        int32_t nx = cur->next;
        uint32_t rank;
        int32_t id;
        if (!merge_of(m, cur->id, syms[nx].id, &rank, &id) || id != top.new_id) continue;
        cur->id = id;
        cur->len += syms[nx].len;
        cur->next = syms[nx].next;
        syms[nx].len = 0;
        if (cur->next >= 0) syms[cur->next].prev = pos;
        if (hn + 2 > hcap) {
            /* cannot happen with 2 pushes per merge and n merges at most, but stay safe */
            rc = hf_set_error(HUBRT_ERR_RANGE, "BPE: merge queue overflow");
            goto done;
        }
        if (cur->prev >= 0 && merge_of(m, syms[cur->prev].id, cur->id, &rank, &id))
            heap_push(heap, &hn, (qent){ ((uint64_t)rank << 32) | (uint32_t)cur->prev, id });
        if (cur->next >= 0 && merge_of(m, cur->id, syms[cur->next].id, &rank, &id))
            heap_push(heap, &hn, (qent){ ((uint64_t)rank << 32) | (uint32_t)pos, id });
    }
    if ((rc = tk_ids_reserve(out, n))) goto done;
    for (int32_t i = n ? 0 : -1; i >= 0; i = syms[i].next) out->v[out->n++] = syms[i].id;
done:
    if (syms != stack_syms) free(syms);
    if (heap != stack_heap) free(heap);
    return rc;
}

void tk_bpe_enable_split(tk_model *m, const char *seq, size_t n)
{
    m->split_len = 0;
    if (m->type != TKM_BPE || n == 0 || n > sizeof m->split_seq || tk_vocab_id(&m->vocab, seq, n) < 0) return;
    for (size_t e = 0; e < m->vocab.map.n; e++) {
        const char *t = tk_strmap_key(&m->vocab.map, (long)e);
        size_t tl = m->vocab.map.e[e].len;
        for (const char *p = t + 1; (size_t)(t + tl - p) >= n; p++) {
            p = memmem(p, (size_t)(t + tl - p), seq, n);
            if (!p) break;
            if ((size_t)(p - t) < n || memcmp(p - n, seq, n) != 0) return; /* seq after another char */
        }
    }
    memcpy(m->split_seq, seq, n);
    m->split_len = n;
}

static int bpe_piece(const tk_model *m, const char *s, size_t len, tk_ids *out);

int tk_bpe_encode(const tk_model *m, const char *s, size_t len, tk_ids *out)
{
    if (!len) return 0;
    if (!m->split_len || len <= CACHE_MAX_WORD || m->ignore_merges) return bpe_piece(m, s, len, out);
    size_t n = m->split_len, start = 0;
    const char *p = s + 1;
    while ((size_t)(s + len - p) >= n && (p = memmem(p, (size_t)(s + len - p), m->split_seq, n))) {
        size_t at = (size_t)(p - s);
        if (at >= n && memcmp(p - n, m->split_seq, n) == 0) { p += n; continue; }
        if (at > start) {
            int rc = bpe_piece(m, s + start, at - start, out);
            if (rc) return rc;
        }
        start = at;
        p += n;
    }
    return bpe_piece(m, s + start, len - start, out);
}

static int bpe_piece(const tk_model *m, const char *s, size_t len, tk_ids *out)
{
    if (m->ignore_merges) {
        int32_t id = tk_vocab_id(&m->vocab, s, len);
        if (id >= 0) return tk_ids_push(out, id);
    }
    uint64_t h = 0;
    int cacheable = m->cache && len <= CACHE_MAX_WORD;
    if (cacheable) {
        h = tk_hash(s, len);
        if (tk_cache_get(m->cache, h, s, len, out)) return 0;
    }
    size_t mark = out->n;
    int rc = bpe_word(m, s, len, out);
    if (!rc && cacheable) tk_cache_put(m->cache, h, s, len, out->n > mark ? out->v + mark : NULL, out->n - mark);
    return rc;
}

void tk_model_free(tk_model *m)
{
    tk_vocab_free(&m->vocab);
    free(m->prefix);
    free(m->suffix);
    tk_u64map_free(&m->merges);
    cache_free(m->cache);
    free(m->score);
    tk_trie_free(&m->trie);
    memset(m, 0, sizeof *m);
}
