/*
 * runtime/tokenize.c — the public tokenizer API of include/hubrt.h
 * (hubrt_tokenize, hubrt_detokenize, vocabulary lookups and the streaming
 * detokenizer) over the model's tk_tokenizer (runtime/model.h: m->tok),
 * and rt_tokenize_grow for the library's own callers.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "hf/error.h"
#include "runtime/model.h"
#include "runtime/tokenize.h"
#include "tokenizer/tokenizer.h"

static const tk_tokenizer *tok_of(const hubrt_model *m, const char *fn)
{
    if (!m) {
        hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: model is NULL", fn);
        return NULL;
    }
    if (!m->tok) {
        hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: the model in %s has no tokenizer loaded "
                        "(no tokenizer files, or loaded with no_tokenizer)", fn, m->dir);
        return NULL;
    }
    return m->tok;
}

/* Copies an encoding out; returns n (which may exceed max_ids) or a status. */
static int copy_out(tk_encoding *e, int32_t *ids, int32_t *type_ids, int max_ids)
{
    if (e->n > INT_MAX) {
        tk_encoding_free(e);
        return hf_set_error(HUBRT_ERR_RANGE, "tokenize: more than INT_MAX ids");
    }
    size_t k = max_ids > 0 ? (e->n < (size_t)max_ids ? e->n : (size_t)max_ids) : 0;
    if (ids && k) memcpy(ids, e->ids, k * sizeof *ids);
    if (type_ids && k) memcpy(type_ids, e->type_ids, k * sizeof *type_ids);
    int n = (int)e->n;
    tk_encoding_free(e);
    return n;
}

int hubrt_tokenize(const hubrt_model *m, const char *text, int add_special, int32_t *ids, int max_ids)
{
    const tk_tokenizer *tok = tok_of(m, "hubrt_tokenize");
    if (!tok) return m ? HUBRT_ERR_UNSUPPORTED : HUBRT_ERR_INVALID_ARG;
    if (!text || (max_ids > 0 && !ids))
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_tokenize: NULL text or ids");
    tk_encoding e;
    int rc = tk_tokenizer_encode(tok, text, strlen(text), NULL, 0, add_special, &e);
    if (rc) return rc;
    return copy_out(&e, ids, NULL, max_ids);
}

int rt_tokenize_grow(const hubrt_model *m, const char *text, int add_special, int32_t **ids, int *cap,
                     const char *fn)
{
    for (;;) {
        if (!*ids || *cap <= 0) {
            int c = *cap > 0 ? *cap : 256;
            int32_t *g = realloc(*ids, (size_t)c * sizeof **ids);
            if (!g) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory for %d ids", fn, c);
            *ids = g;
            *cap = c;
        }
        int n = hubrt_tokenize(m, text, add_special, *ids, *cap);
        if (n < 0 || n <= *cap) return n;
        int32_t *g = realloc(*ids, (size_t)n * sizeof **ids);
        if (!g) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory for %d ids", fn, n);
        *ids = g;
        *cap = n;
    }
}

int hubrt_tokenize_pair(const hubrt_model *m, const char *text, const char *pair, int add_special, int32_t *ids,
                        int32_t *type_ids, int max_ids)
{
    const tk_tokenizer *tok = tok_of(m, "hubrt_tokenize_pair");
    if (!tok) return m ? HUBRT_ERR_UNSUPPORTED : HUBRT_ERR_INVALID_ARG;
    if (!text || (max_ids > 0 && !ids))
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_tokenize_pair: NULL text or ids");
    tk_encoding e;
    int rc = tk_tokenizer_encode(tok, text, strlen(text), pair, pair ? strlen(pair) : 0, add_special, &e);
    if (rc) return rc;
    return copy_out(&e, ids, type_ids, max_ids);
}

int hubrt_detokenize(const hubrt_model *m, const int32_t *ids, int n, int skip_special, char *buf, size_t cap)
{
    const tk_tokenizer *tok = tok_of(m, "hubrt_detokenize");
    if (!tok) return m ? HUBRT_ERR_UNSUPPORTED : HUBRT_ERR_INVALID_ARG;
    if (n < 0 || (n > 0 && !ids) || (cap > 0 && !buf))
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_detokenize: bad ids/n/buf");
    char *text;
    size_t len;
    int rc = tk_tokenizer_decode_text(tok, ids, (size_t)n, skip_special, &text, &len);
    if (rc) return rc;
    if (len > INT_MAX) {
        free(text);
        return hf_set_error(HUBRT_ERR_RANGE, "hubrt_detokenize: text longer than INT_MAX");
    }
    if (cap) {
        size_t k = len < cap - 1 ? len : cap - 1;
        memcpy(buf, text, k);
        buf[k] = '\0';
    }
    free(text);
    return (int)len;
}

int hubrt_vocab_size(const hubrt_model *m)
{
    const tk_tokenizer *tok = tok_of(m, "hubrt_vocab_size");
    if (!tok) return m ? HUBRT_ERR_UNSUPPORTED : HUBRT_ERR_INVALID_ARG;
    return (int)tk_tokenizer_vocab_size(tok);
}

const char *hubrt_token_text(const hubrt_model *m, int32_t id)
{
    const tk_tokenizer *tok = tok_of(m, "hubrt_token_text");
    if (!tok) return NULL;
    const char *t = tk_tokenizer_id_to_token(tok, id, NULL);
    if (!t) hf_set_error(HUBRT_ERR_RANGE, "hubrt_token_text: id %d is outside the vocab", (int)id);
    return t;
}

int32_t hubrt_token_id(const hubrt_model *m, const char *token)
{
    const tk_tokenizer *tok = tok_of(m, "hubrt_token_id");
    if (!tok || !token) return -1;
    return tk_tokenizer_token_to_id(tok, token, strlen(token));
}

struct hubrt_detok_stream { tk_stream *st; };

hubrt_detok_stream *hubrt_detok_stream_new(const hubrt_model *m, int skip_special)
{
    const tk_tokenizer *tok = tok_of(m, "hubrt_detok_stream_new");
    if (!tok) return NULL;
    hubrt_detok_stream *s = calloc(1, sizeof *s);
    if (!s) { hf_set_error(HUBRT_ERR_NOMEM, "hubrt_detok_stream_new: out of memory"); return NULL; }
    if (!(s->st = tk_stream_new(tok, skip_special))) { free(s); return NULL; }
    return s;
}

int hubrt_detok_stream_push(hubrt_detok_stream *s, int32_t id, char *buf, size_t cap)
{
    if (!s || (cap && !buf)) return hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_detok_stream_push: NULL argument");
    const char *text;
    size_t len;
    int rc = tk_stream_push(s->st, id, &text, &len);
    if (rc) return rc;
    if (len > INT_MAX) return hf_set_error(HUBRT_ERR_RANGE, "hubrt_detok_stream_push: piece too long");
    if (cap) {
        size_t k = len < cap - 1 ? len : cap - 1;
        /* never cut a character when the buffer is short */
        while (k < len && k > 0 && ((unsigned char)text[k] & 0xC0) == 0x80) k--;
        memcpy(buf, text, k);
        buf[k] = '\0';
    }
    return (int)len;
}

void hubrt_detok_stream_free(hubrt_detok_stream *s)
{
    if (!s) return;
    tk_stream_free(s->st);
    free(s);
}
