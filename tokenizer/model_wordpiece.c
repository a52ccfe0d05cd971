/*
 * tokenizer/model_wordpiece.c — the WordPiece model (BERT): greedy
 * longest-match-first over each pre-token, continuation pieces carry the
 * "##" prefix; a word that cannot be covered, or that is longer than
 * max_input_chars_per_word characters, becomes the single unk token.
 * Also the dispatcher and shared bits of every model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

int tk_wordpiece_encode(const tk_model *m, const char *s, size_t len, tk_ids *out)
{
    if (!len) return 0;
    size_t chars = 0;
    for (size_t i = 0; i < len; i++) chars += ((unsigned char)s[i] & 0xC0) != 0x80;
    if ((long)chars > (long)m->max_chars) {
        if (m->unk_id < 0) return hf_set_error(HUBRT_ERR_FORMAT, "WordPiece: no unk_token in vocab");
        return tk_ids_push(out, m->unk_id);
    }
    char stack[512];
    char *buf = stack;
    size_t need = m->prefix_len + len;
    if (need > sizeof stack) {
        buf = malloc(need);
        if (!buf) return hf_set_error(HUBRT_ERR_NOMEM, "WordPiece: out of memory");
    }
    size_t mark = out->n, start = 0;
    int bad = 0, rc = 0;
    while (start < len) {
        /* No candidate longer than the longest token can match: starting
         * there keeps a huge max_input_chars_per_word linear in the word. */
        size_t end = len - start > m->vocab.max_len ? start + m->vocab.max_len : len;
        while (end < len && end > start && ((unsigned char)s[end] & 0xC0) == 0x80) end--;
        int32_t found = -1;
        while (start < end) {
            const char *key = s + start;
            size_t kn = end - start;
            if (start > 0) {
                memcpy(buf, m->prefix, m->prefix_len);
                memcpy(buf + m->prefix_len, s + start, kn);
                key = buf;
                kn += m->prefix_len;
            }
            found = tk_vocab_id(&m->vocab, key, kn);
            if (found >= 0) break;
            /* drop the last character */
            end--;
            while (end > start && ((unsigned char)s[end] & 0xC0) == 0x80) end--;
        }
        if (found < 0) { bad = 1; break; }
        if ((rc = tk_ids_push(out, found))) break;
        start = end;
    }
    if (buf != stack) free(buf);
    if (rc) return rc;
    if (bad) {
        out->n = mark;
        if (m->unk_id < 0) return hf_set_error(HUBRT_ERR_FORMAT, "WordPiece: no unk_token in vocab");
        return tk_ids_push(out, m->unk_id);
    }
    return 0;
}

static int wordlevel_encode(const tk_model *m, const char *s, size_t len, tk_ids *out)
{
    int32_t id = tk_vocab_id(&m->vocab, s, len);
    if (id < 0) id = m->unk_id;
    if (id < 0) return hf_set_error(HUBRT_ERR_FORMAT, "WordLevel: no unk_token in vocab");
    return tk_ids_push(out, id);
}

int tk_model_encode(const tk_model *m, tk_work *w, const char *s, size_t len, tk_ids *out)
{
    (void)w;
    switch (m->type) {
    case TKM_WORDPIECE: return tk_wordpiece_encode(m, s, len, out);
    case TKM_BPE: return tk_bpe_encode(m, s, len, out);
    case TKM_UNIGRAM: return tk_unigram_encode(m, s, len, out);
    case TKM_WORDLEVEL: return wordlevel_encode(m, s, len, out);
    }
    return hf_set_error(HUBRT_ERR_UNSUPPORTED, "model type %d", m->type);
}

int tk_model_finish_bytes(tk_model *m)
{
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        m->byte_id[b] = tk_vocab_id(&m->vocab, name, 6);
    }
    return 0;
}
