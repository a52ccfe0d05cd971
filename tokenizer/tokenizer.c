/*
 * tokenizer/tokenizer.c — the tokenizer front end: finds a directory's
 * tokenizer files (tokenizer.json wins, then vocab.txt, vocab.json +
 * merges.txt, tokenizer.model / spiece.model), runs the encode pipeline
 * (added tokens -> normalizer -> added tokens in normalized text ->
 * pre-tokenizer -> model -> post-processor), decodes ids through the
 * decoder chain, and streams decoded text without splitting a UTF-8
 * character.
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tokenizer/sp_tokenizer.h"
#include "tokenizer/tok_internal.h"

static int file_exists(const char *dir, const char *name, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The largest id the post-processor inserts (-1: none). The parser keeps
 * them in [0, TK_MAX_ID]; ids past the vocab are allowed (as in HF) and
 * count in n_ids, so every id encode hands out is below the vocab size. */
static int32_t post_max_id(const tk_post *p)
{
    int32_t m = -1;
    if (!p) return m;
    if (p->type == TKPP_BERT || p->type == TKPP_ROBERTA) m = p->cls > p->sep ? p->cls : p->sep;
    for (int s = 0; s < 2; s++) {
        const tk_tpl_item *it = s ? p->pair : p->single;
        for (int i = 0; i < (s ? p->n_pair : p->n_single); i++)
            for (int k = 0; k < it[i].n_ids; k++)
                if (it[i].ids[k] > m) m = it[i].ids[k];
    }
    for (int i = 0; i < p->n_seq; i++) {
        int32_t q = post_max_id(p->seq[i]);
        if (q > m) m = q;
    }
    return m;
}

int tk_finish(tk_tokenizer *tok)
{
    /* LLaMA-style BPE over whole "▁"-joined texts: cut at word starts when exact */
    if (tok->model.type == TKM_BPE && !tok->pretok) tk_bpe_enable_split(&tok->model, "\xE2\x96\x81", 3);
    int32_t n = tok->model.vocab.n_ids;
    for (int i = 0; i < tok->added.n; i++)
        if (tok->added.v[i].id + 1 > n) n = tok->added.v[i].id + 1;
    if (post_max_id(tok->post) + 1 > n) n = post_max_id(tok->post) + 1;
    tok->n_ids = n;
    tok->text_of = calloc((size_t)n + 1, sizeof *tok->text_of);
    tok->len_of = calloc((size_t)n + 1, sizeof *tok->len_of);
    tok->flags = calloc((size_t)n + 1, 1);
    if (!tok->text_of || !tok->len_of || !tok->flags)
        return hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory (%d ids)", (int)n);
    for (int32_t id = 0; id < tok->model.vocab.n_ids; id++) {
        size_t len;
        const char *t = tk_vocab_token(&tok->model.vocab, id, &len);
        if (t) { tok->text_of[id] = t; tok->len_of[id] = (uint32_t)len; }
    }
    for (int i = 0; i < tok->added.n; i++) {
        const tk_added *a = &tok->added.v[i];
        tok->text_of[a->id] = a->content;
        tok->len_of[a->id] = (uint32_t)a->len;
        tok->flags[a->id] = (uint8_t)(TK_FLAG_ADDED | (a->special ? TK_FLAG_SPECIAL : 0));
    }
    return 0;
}

tk_tokenizer *tk_tokenizer_load_json(const char *path)
{
    size_t n;
    char *text = tk_read_file(path, &n);
    if (!text) return NULL;
    tk_tokenizer *tok = tk_tokenizer_load_json_memory(text, n, path);
    free(text);
    return tok;
}

tk_tokenizer *tk_tokenizer_load_json_memory(const char *text, size_t len, const char *name)
{
    if (!text || !name) { hf_set_error(HUBRT_ERR_INVALID_ARG, "tokenizer: NULL text or name"); return NULL; }
    tk_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) { hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory"); return NULL; }
    for (int i = 0; i < HUBRT_TOK_N_SPECIAL; i++) tok->special[i] = -1;
    tok->kind = TK_KIND_PIPELINE;
    snprintf(tok->source, sizeof tok->source, "tokenizer.json");
    void *root = tk_parse_json(text, len, name);
    int rc = root ? tk_load_json(tok, root, name) : HUBRT_ERR_FORMAT;
    cJSON_Delete(root);
    if (!rc) rc = tk_finish(tok);
    if (rc) { tk_tokenizer_free(tok); return NULL; }
    return tok;
}

tk_tokenizer *tk_tokenizer_load(const char *dir)
{
    char path[4096];
    struct stat st;
    if (!dir || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        hf_set_error(HUBRT_ERR_IO, "%s: not a directory", dir ? dir : "(null)");
        return NULL;
    }
    tk_tokenizer *tok;
    int rc;
    if (file_exists(dir, "tokenizer.json", path, sizeof path)) {
        if (!(tok = tk_tokenizer_load_json(path))) return NULL;
        rc = 0;
    } else {
        tok = calloc(1, sizeof *tok);
        if (!tok) { hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory"); return NULL; }
        for (int i = 0; i < HUBRT_TOK_N_SPECIAL; i++) tok->special[i] = -1;
        if (file_exists(dir, "vocab.txt", path, sizeof path)) {
            rc = tk_load_vocab_txt(tok, dir);
        } else if (file_exists(dir, "vocab.json", path, sizeof path) &&
                   file_exists(dir, "merges.txt", path, sizeof path)) {
            rc = tk_load_vocab_merges(tok, dir);
        } else if (file_exists(dir, "tokenizer.model", path, sizeof path)) {
            rc = tk_load_sp(tok, dir, "tokenizer.model");
        } else if (file_exists(dir, "spiece.model", path, sizeof path)) {
            rc = tk_load_sp(tok, dir, "spiece.model");
        } else {
            rc = hf_set_error(HUBRT_ERR_IO, "no tokenizer files in %s (looked for tokenizer.json, vocab.txt, "
                                 "vocab.json + merges.txt, tokenizer.model, spiece.model)", dir);
        }
        if (!rc && tok->kind == TK_KIND_PIPELINE) rc = tk_finish(tok);
    }
    if (!rc) rc = tk_load_special_roles(tok, dir);
    if (rc) { tk_tokenizer_free(tok); return NULL; }
    return tok;
}

tk_tokenizer *tk_tokenizer_load_file(const char *dir, const char *file)
{
    char path[4096];
    if (!dir || !file) { hf_set_error(HUBRT_ERR_INVALID_ARG, "tokenizer: NULL dir or file"); return NULL; }
    if (!strcmp(file, "tokenizer.json")) {
        snprintf(path, sizeof path, "%s/%s", dir, file);
        tk_tokenizer *tok = tk_tokenizer_load_json(path);
        if (tok && tk_load_special_roles(tok, dir)) { tk_tokenizer_free(tok); return NULL; }
        return tok;
    }
    tk_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) { hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory"); return NULL; }
    for (int i = 0; i < HUBRT_TOK_N_SPECIAL; i++) tok->special[i] = -1;
    int rc;
    if (!strcmp(file, "vocab.txt")) rc = tk_load_vocab_txt(tok, dir);
    else if (!strcmp(file, "vocab.json") || !strcmp(file, "merges.txt")) rc = tk_load_vocab_merges(tok, dir);
    else if (!strcmp(file, "tokenizer.model") || !strcmp(file, "spiece.model")) rc = tk_load_sp(tok, dir, file);
    else rc = hf_set_error(HUBRT_ERR_INVALID_ARG, "tokenizer: unknown tokenizer file name '%s'", file);
    if (!rc && tok->kind == TK_KIND_PIPELINE) rc = tk_finish(tok);
    if (!rc) rc = tk_load_special_roles(tok, dir);
    if (rc) { tk_tokenizer_free(tok); return NULL; }
    return tok;
}

void tk_tokenizer_free(tk_tokenizer *tok)
{
    if (!tok) return;
    tk_normalizer_free(tok->normalizer);
    tk_pretok_free(tok->pretok);
    tk_model_free(&tok->model);
    tk_post_free(tok->post);
    tk_decoder_free(tok->decoder);
    tk_added_free(&tok->added);
    tk_sp_free(tok->sp);
    free(tok->text_of);
    free(tok->len_of);
    free(tok->flags);
    free(tok);
}

const char *tk_tokenizer_source(const tk_tokenizer *tok) { return tok ? tok->source : ""; }

/* ---- encode ------------------------------------------------------------- */

typedef struct enc_ctx {
    tk_work w;
    tk_buf norm;
    tk_segs s1, s2;
    tk_pieces p1, p2;
} enc_ctx;

static void enc_ctx_free(enc_ctx *c)
{
    tk_work_free(&c->w);
    tk_buf_free(&c->norm);
    free(c->s1.v);
    free(c->s2.v);
    tk_pieces_free(&c->p1);
    tk_pieces_free(&c->p2);
}

static int encode_pipeline(const tk_tokenizer *tok, enc_ctx *c, const char *text, size_t len, tk_ids *ids)
{
    int rc = tk_added_split(&tok->added, 0, text, len, &c->s1);
    if (rc) return rc;
    for (size_t i = 0; i < c->s1.n; i++) {
        tk_seg g = c->s1.v[i];
        if (g.id >= 0) {
            if (tk_ids_push(ids, g.id)) return HUBRT_ERR_NOMEM;
            continue;
        }
        if ((rc = tk_normalize(tok->normalizer, &c->w, text + g.off, g.len, &c->norm))) return rc;
        if ((rc = tk_added_split(&tok->added, 1, c->norm.p ? c->norm.p : "", c->norm.n, &c->s2))) return rc;
        for (size_t k = 0; k < c->s2.n; k++) {
            tk_seg h = c->s2.v[k];
            if (h.id >= 0) {
                if (tk_ids_push(ids, h.id)) return HUBRT_ERR_NOMEM;
                continue;
            }
            tk_pieces_reset(&c->p1);
            if ((rc = tk_pieces_add(&c->p1, c->norm.p + h.off, h.len, g.off == 0 && h.off == 0))) return rc;
            const tk_pieces *pp = &c->p1;
            if (tok->pretok) {
                if ((rc = tk_pretokenize(tok->pretok, &c->w, &c->p1, &c->p2))) return rc;
                pp = &c->p2;
            }
            for (size_t j = 0; j < pp->n; j++)
                if ((rc = tk_model_encode(&tok->model, &c->w, pp->text.p + pp->v[j].off, pp->v[j].len, ids)))
                    return rc;
        }
    }
    return 0;
}

static int check_utf8(const char *s, size_t len, const char *what)
{
    size_t bad;
    if (tk_utf8_check(s, len, &bad)) return 0;
    return hf_set_error(HUBRT_ERR_INVALID_UTF8, "%s is not valid UTF-8: bad byte 0x%02X at byte offset %zu",
                           what, (unsigned)(unsigned char)s[bad], bad);
}

static int encode_sp(const tk_tokenizer *tok, const char *text, size_t len, tk_ids *ids)
{
    int32_t *v = NULL;
    int n = tk_sp_encode_alloc(tok->sp, text, len, &v);
    if (n < 0) return n;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) rc = tk_ids_push(ids, v[i]);
    free(v);
    return rc;
}

int tk_tokenizer_encode(const tk_tokenizer *tok, const char *text, size_t len, const char *pair,
                           size_t pair_len, int add_special, tk_encoding *out)
{
    memset(out, 0, sizeof *out);
    if (!tok || (!text && len)) return hf_set_error(HUBRT_ERR_INVALID_ARG, "tokenize: NULL argument");
    if (!text) text = "";
    if (len > (size_t)INT32_MAX || pair_len > (size_t)INT32_MAX)
        return hf_set_error(HUBRT_ERR_RANGE, "tokenize: text longer than 2 GiB");
    int rc = check_utf8(text, len, "text");
    if (!rc && pair) rc = check_utf8(pair, pair_len, "pair text");
    if (rc) return rc;
    tk_enc a = { 0 }, b = { 0 }, o = { 0 };
    if (tok->kind == TK_KIND_SP) {
        /* sentencepiece: raw pieces, then BOS/EOS as the slow tokenizers add them */
        int32_t bos = tok->special[HUBRT_TOK_BOS], eos = tok->special[HUBRT_TOK_EOS];
        for (int s = 0; s < (pair ? 2 : 1) && !rc; s++) {
            if (add_special && tok->sp_add_bos && bos >= 0) rc = tk_ids_push(&o.ids, bos) || tk_ids_push(&o.types, s);
            size_t mark = o.ids.n;
            if (!rc) rc = encode_sp(tok, s ? pair : text, s ? pair_len : len, &o.ids);
            for (size_t i = mark; !rc && i < o.ids.n; i++) rc = tk_ids_push(&o.types, s);
            if (!rc && add_special && tok->sp_add_eos && eos >= 0)
                rc = tk_ids_push(&o.ids, eos) || tk_ids_push(&o.types, s);
        }
    } else {
        enc_ctx c;
        memset(&c, 0, sizeof c);
        rc = tk_work_init(&c.w);
        if (!rc) rc = encode_pipeline(tok, &c, text, len, &a.ids);
        if (!rc && pair) rc = encode_pipeline(tok, &c, pair, pair_len, &b.ids);
        enc_ctx_free(&c);
        for (size_t i = 0; !rc && i < a.ids.n; i++) rc = tk_ids_push(&a.types, 0);
        for (size_t i = 0; !rc && i < b.ids.n; i++) rc = tk_ids_push(&b.types, 1);
        if (!rc) rc = tk_post_process(tok->post, &a, pair ? &b : NULL, add_special, &o);
    }
    tk_ids_free(&a.ids); tk_ids_free(&a.types);
    tk_ids_free(&b.ids); tk_ids_free(&b.types);
    if (rc) {
        tk_ids_free(&o.ids);
        tk_ids_free(&o.types);
        return rc < 0 ? rc : HUBRT_ERR_NOMEM;
    }
    /* never hand out NULL arrays, even for 0 ids */
    if (!o.ids.v && (tk_ids_reserve(&o.ids, 1) || tk_ids_reserve(&o.types, 1))) {
        tk_ids_free(&o.ids);
        tk_ids_free(&o.types);
        return HUBRT_ERR_NOMEM;
    }
    out->ids = o.ids.v;
    out->type_ids = o.types.v;
    out->n = o.ids.n;
    return 0;
}

void tk_encoding_free(tk_encoding *enc)
{
    if (!enc) return;
    free(enc->ids);
    free(enc->type_ids);
    memset(enc, 0, sizeof *enc);
}

/* ---- decode ------------------------------------------------------------- */

int tk_tokenizer_decode(const tk_tokenizer *tok, const int32_t *ids, size_t n, int skip_special,
                           char **text, size_t *len)
{
    *text = NULL;
    if (len) *len = 0;
    if (!tok || (!ids && n)) return hf_set_error(HUBRT_ERR_INVALID_ARG, "detokenize: NULL argument");
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= tk_tokenizer_vocab_size(tok) ||
            (tok->kind == TK_KIND_PIPELINE && !tok->text_of[ids[i]]))
            return hf_set_error(HUBRT_ERR_RANGE, "detokenize: id %d (position %zu) is outside the vocab (%d ids)",
                                   (int)ids[i], i, (int)tk_tokenizer_vocab_size(tok));
    if (tok->kind == TK_KIND_SP) {
        if (n > INT32_MAX) return hf_set_error(HUBRT_ERR_RANGE, "detokenize: too many ids");
        int need = tk_sp_decode(tok->sp, ids, (int)n, skip_special, NULL, 0);
        if (need < 0) return need;
        char *buf = malloc((size_t)need + 1);
        if (!buf) return hf_set_error(HUBRT_ERR_NOMEM, "detokenize: out of memory");
        int got = tk_sp_decode(tok->sp, ids, (int)n, skip_special, buf, (size_t)need + 1);
        if (got < 0) { free(buf); return got; }
        *text = buf;
        if (len) *len = (size_t)got;
        return 0;
    }
    tk_pieces toks = { 0 };
    tk_buf out = { 0 };
    tk_work w;
    int rc = tk_work_init(&w);
    for (size_t i = 0; i < n && !rc; i++) {
        int32_t id = ids[i];
        if (skip_special && (tok->flags[id] & TK_FLAG_SPECIAL)) continue;
        rc = tk_pieces_add(&toks, tok->text_of[id], tok->len_of[id], 0);
    }
    if (!rc && tok->decoder) rc = tk_decode_chain(tok->decoder, &w, &toks);
    for (size_t i = 0; i < toks.n && !rc; i++) {
        if (!tok->decoder && i) rc = tk_buf_putc(&out, ' ');
        if (!rc) rc = tk_buf_put(&out, toks.text.p + toks.v[i].off, toks.v[i].len);
    }
    if (!rc) rc = tk_buf_putc(&out, '\0');
    tk_pieces_free(&toks);
    tk_work_free(&w);
    if (rc) { tk_buf_free(&out); return rc; }
    *text = out.p;
    if (len) *len = out.n - 1;
    return 0;
}

int tk_tokenizer_decode_text(const tk_tokenizer *tok, const int32_t *ids, size_t n, int skip_special,
                                char **text, size_t *len)
{
    size_t l;
    int rc = tk_tokenizer_decode(tok, ids, n, skip_special, text, &l);
    if (rc || !tok->clean_up_spaces) {
        if (len) *len = rc ? 0 : l;
        return rc;
    }
    tk_buf out = { 0 };
    rc = tk_cleanup_transformers(&out, *text, l);
    if (!rc) rc = tk_buf_putc(&out, '\0');
    free(*text);
    *text = NULL;
    if (rc) { tk_buf_free(&out); return rc; }
    *text = out.p;
    if (len) *len = out.n - 1;
    return 0;
}

/* ---- vocabulary --------------------------------------------------------- */

int32_t tk_tokenizer_vocab_size(const tk_tokenizer *tok)
{
    if (!tok) return 0;
    if (tok->kind == TK_KIND_SP) return tk_sp_vocab_size(tok->sp);
    return tok->n_ids;
}

const char *tk_tokenizer_id_to_token(const tk_tokenizer *tok, int32_t id, size_t *len)
{
    if (!tok || id < 0 || id >= tk_tokenizer_vocab_size(tok)) return NULL;
    if (tok->kind == TK_KIND_SP) {
        const char *p = tk_sp_piece(tok->sp, id);
        if (p && len) *len = strlen(p);
        return p;
    }
    if (len) *len = tok->len_of[id];
    return tok->text_of[id];
}

int32_t tk_tokenizer_token_to_id(const tk_tokenizer *tok, const char *s, size_t len)
{
    if (!tok || !s) return -1;
    if (tok->kind == TK_KIND_SP) return tk_sp_piece_to_id(tok->sp, s, len);
    for (int i = 0; i < tok->added.n; i++)
        if (tok->added.v[i].len == len && memcmp(tok->added.v[i].content, s, len) == 0) return tok->added.v[i].id;
    return tk_vocab_id(&tok->model.vocab, s, len);
}

int tk_tokenizer_is_special(const tk_tokenizer *tok, int32_t id)
{
    if (!tok || id < 0 || id >= tk_tokenizer_vocab_size(tok)) return 0;
    if (tok->kind == TK_KIND_SP) return tk_sp_is_special(tok->sp, id);
    return (tok->flags[id] & TK_FLAG_SPECIAL) != 0;
}

int32_t tk_tokenizer_special_id(const tk_tokenizer *tok, int which)
{
    if (!tok || which < 0 || which >= HUBRT_TOK_N_SPECIAL) return -1;
    return tok->special[which];
}

/* ---- streaming decode --------------------------------------------------- */

#define TK_STREAM_HOLD 8

struct tk_stream {
    const tk_tokenizer *tok;
    int skip;
    tk_ids ids;          /* ids since the start of the current prefix */
    char *prefix;        /* decode of ids[0 .. prefix_index) context */
    size_t prefix_len, prefix_index;
    char *out;           /* the last returned text */
};

tk_stream *tk_stream_new(const tk_tokenizer *tok, int skip_special)
{
    if (!tok) { hf_set_error(HUBRT_ERR_INVALID_ARG, "detok stream: NULL tokenizer"); return NULL; }
    tk_stream *st = calloc(1, sizeof *st);
    if (!st) { hf_set_error(HUBRT_ERR_NOMEM, "detok stream: out of memory"); return NULL; }
    st->tok = tok;
    st->skip = skip_special;
    return st;
}

/*
 * As HF's DecodeStream: decode the ids kept since the last emitted prefix;
 * when the text grew and does not end in U+FFFD (an incomplete character),
 * emit what follows the prefix and keep only the newest ids as context.
 */
int tk_stream_push(tk_stream *st, int32_t id, const char **text, size_t *len)
{
    *text = "";
    *len = 0;
    if (id < 0 || id >= tk_tokenizer_vocab_size(st->tok))
        return hf_set_error(HUBRT_ERR_RANGE, "detok stream: id %d is outside the vocab", (int)id);
    /* decode(skip_special) drops these ids anyway: keeping them out of the
     * window gives the same text without re-decoding them on every push */
    if (st->skip && st->tok->kind == TK_KIND_PIPELINE && (st->tok->flags[id] & TK_FLAG_SPECIAL)) return 0;
    if (tk_ids_push(&st->ids, id)) return HUBRT_ERR_NOMEM;
    char *s;
    size_t n;
    int rc = tk_tokenizer_decode(st->tok, st->ids.v, st->ids.n, st->skip, &s, &n);
    if (rc) { st->ids.n--; return rc; }
    /* A character needs at most 4 byte tokens: a tail still incomplete after
     * TK_STREAM_HOLD new ids is emitted as it decodes (U+FFFD), so a run of
     * bad bytes cannot make every push re-decode an ever longer tail. */
    int incomplete = n >= 3 && memcmp(s + n - 3, "\xEF\xBF\xBD", 3) == 0 &&
                     st->ids.n - st->prefix_index < TK_STREAM_HOLD;
    if (n <= st->prefix_len || incomplete) { free(s); return 0; }
    size_t common = 0;
    if (st->prefix_len && memcmp(s, st->prefix, st->prefix_len) == 0) common = st->prefix_len;
    else
        while (common < st->prefix_len && s[common] == st->prefix[common]) common++;
    while (common && common < n && ((unsigned char)s[common] & 0xC0) == 0x80) common--;
    free(st->out);
    st->out = malloc(n - common + 1);
    if (!st->out) { free(s); return hf_set_error(HUBRT_ERR_NOMEM, "detok stream: out of memory"); }
    memcpy(st->out, s + common, n - common);
    st->out[n - common] = '\0';
    free(s);
    size_t new_prefix_index = st->ids.n - st->prefix_index;
    memmove(st->ids.v, st->ids.v + st->prefix_index, (st->ids.n - st->prefix_index) * sizeof(int32_t));
    st->ids.n -= st->prefix_index;
    free(st->prefix);
    st->prefix = NULL;
    st->prefix_len = 0;
    if ((rc = tk_tokenizer_decode(st->tok, st->ids.v, st->ids.n, st->skip, &st->prefix, &st->prefix_len)))
        return rc;
    st->prefix_index = new_prefix_index;
    *text = st->out;
    *len = n - common;
    return 0;
}

void tk_stream_free(tk_stream *st)
{
    if (!st) return;
    tk_ids_free(&st->ids);
    free(st->prefix);
    free(st->out);
    free(st);
}
