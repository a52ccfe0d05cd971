/*
 * tokenizer/model_unigram.c — the Unigram model (T5, ALBERT-style
 * tokenizer.json): Viterbi over the lattice of vocab pieces that start at
 * each character (found with a byte trie), a character no piece covers costs
 * min_score - 10 as unk; runs of unk are fused (fuse_unk, the HF default),
 * and byte_fallback turns an unknown run into <0xXX> pieces when all exist.
 * Ties keep the first path found, as HF's encode_optimized does.
 */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

int tk_unigram_finish(tk_model *m)
{
    if (tk_trie_init(&m->trie)) return HUBRT_ERR_NOMEM;
    m->min_score = DBL_MAX;
    for (int32_t id = 0; id < m->vocab.n_ids; id++) {
        size_t n;
        const char *t = tk_vocab_token(&m->vocab, id, &n);
        if (!t) continue;
        if (tk_trie_add(&m->trie, t, n, id)) return HUBRT_ERR_NOMEM;
        if (m->score[id] < m->min_score) m->min_score = m->score[id];
    }
    if (m->min_score == DBL_MAX) m->min_score = 0;
    return 0;
}

typedef struct node { double score; int32_t start; int32_t id; } node;

/* Emits the ids of one unknown run (fused or single). */
static int emit_unk(const tk_model *m, const char *s, size_t n, tk_ids *out)
{
    int32_t id = tk_vocab_id(&m->vocab, s, n);
    if (id >= 0) return tk_ids_push(out, id);
    if (m->byte_fallback) {
        int all = 1;
        for (size_t b = 0; b < n && all; b++) all = m->byte_id[(unsigned char)s[b]] >= 0;
        if (all) {
            for (size_t b = 0; b < n; b++)
                if (tk_ids_push(out, m->byte_id[(unsigned char)s[b]])) return HUBRT_ERR_NOMEM;
            return 0;
        }
    }
    if (m->unk_id < 0) return hf_set_error(HUBRT_ERR_FORMAT, "Unigram: text needs unk_id, model has none");
    return tk_ids_push(out, m->unk_id);
}

static int unigram_piece(const tk_model *m, const char *s, size_t len, tk_ids *out);

int tk_unigram_encode(const tk_model *m, const char *s, size_t len, tk_ids *out)
{
    if (!len) return 0;
    if (!m->cache || len > 128) return unigram_piece(m, s, len, out);
    uint64_t h = tk_hash(s, len);
    if (tk_cache_get(m->cache, h, s, len, out)) return 0;
    size_t mark = out->n;
    int rc = unigram_piece(m, s, len, out);
    if (!rc) tk_cache_put(m->cache, h, s, len, out->v + mark, out->n - mark);
    return rc;
}

static int unigram_piece(const tk_model *m, const char *s, size_t len, tk_ids *out)
{
    if (len > INT32_MAX / 2) return hf_set_error(HUBRT_ERR_RANGE, "Unigram: piece too long");
    node *best = malloc((len + 1) * sizeof *best);
    int32_t *path = malloc((len + 1) * sizeof *path);
    int rc = 0;
    if (!best || !path) {
        rc = hf_set_error(HUBRT_ERR_NOMEM, "Unigram: out of memory");
        goto done;
    }
    for (size_t i = 0; i <= len; i++) best[i] = (node){ 0, -1, -1 };
    best[0].start = 0;
    double unk_score = m->min_score - 10.0;
    for (size_t at = 0; at < len;) {
        size_t mblen = (size_t)tk_utf8_len((unsigned char)s[at]);
        if (at + mblen > len) mblen = len - at;
        double here = best[at].score;
        int single = 0;
        int32_t nd = 0;
        for (size_t k = at; k < len; k++) {
            nd = tk_trie_child(&m->trie, nd, (unsigned char)s[k]);
            if (nd < 0) break;
            int32_t id = m->trie.val[nd];
            if (id < 0) continue;
            size_t end = k + 1;
            double cand = m->score[id] + here;
            if (best[end].start < 0 || cand > best[end].score)
                best[end] = (node){ cand, (int32_t)at, id };
            if (end - at == mblen) single = 1;
        }
        if (!single) {
            double cand = unk_score + here;
            node *t = &best[at + mblen];
            if (t->start < 0 || cand > t->score) *t = (node){ cand, (int32_t)at, m->unk_id < 0 ? -2 : m->unk_id };
        }
        at += mblen;
    }
    /* Backtrack the path, then emit left to right, fusing unk runs. */
    size_t np = 0;
    for (size_t end = len; end > 0; end = (size_t)best[end].start) {
        if (best[end].start < 0 || (size_t)best[end].start >= end) {
            rc = hf_set_error(HUBRT_ERR_FORMAT, "Unigram: broken lattice");
            goto done;
        }
        path[np++] = (int32_t)end;
    }
    size_t unk_from = 0;
    int in_unk = 0;
    for (size_t k = np; k-- > 0;) {
        size_t end = (size_t)path[k], start = (size_t)best[end].start;
        int32_t id = best[end].id;
        int is_unk = id == -2 || (m->unk_id >= 0 && id == m->unk_id);
        if (is_unk && m->fuse_unk) {
            if (!in_unk) { unk_from = start; in_unk = 1; }
            continue;
        }
        if (in_unk) {
            if ((rc = emit_unk(m, s + unk_from, start - unk_from, out))) goto done;
            in_unk = 0;
        }
        if (is_unk) rc = emit_unk(m, s + start, end - start, out);
        else rc = tk_ids_push(out, id);
        if (rc) goto done;
    }
    if (in_unk) rc = emit_unk(m, s + unk_from, len - unk_from, out);
done:
    free(best);
    free(path);
    return rc;
}
