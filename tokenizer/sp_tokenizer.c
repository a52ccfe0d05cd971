/*
 * tokenizer/sp_tokenizer.c — the sentencepiece backend (tokenizer.model /
 * spiece.model) behind tokenizer/sp_tokenizer.h.
 *
 * All sentencepiece work goes through the C++ wrapper
 * tokenizer/sentencepiece_c.{h,cc}; this file adds argument checks, strict
 * UTF-8 validation (sentencepiece would quietly turn bad bytes into U+FFFD),
 * snprintf-style buffers and hf_set_error() messages that name the file.
 */
#include "tokenizer/sp_tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "hf/error.h"
#include "hf/jsonfile.h"
#include "tokenizer/sentencepiece_c.h"
#include "tokenizer/tok_internal.h"

#define SPIECE_UNDERLINE "\xE2\x96\x81" /* "▁", 3 bytes */

struct tk_sp {
    tk_spc_model *m;
    tk_spc_model *nd;          /* the same model without the dummy prefix (== m when it has none) */
    int unk_len;            /* ids nd gives for the unk piece's text ("<unk>" -> < unk >) */
    int vocab;
    int32_t bos, eos, unk, pad;
    unsigned char *special; /* [vocab] 1 = control or unknown */
    char *name;             /* the file's base name, for messages */
    tk_sp_hf hf;         /* transformers options (tokenizer_config.json next to the file) */
};

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* legacy / add_prefix_space from the tokenizer_config.json beside the model
 * file, with transformers' defaults (legacy: absent or null -> true, with a
 * warning there; add_prefix_space: absent -> true). A missing or unreadable
 * config leaves the defaults: validating it is tokenizer.c's job. */
static int read_hf_options(const char *model_path, tk_sp_hf *out)
{
    tk_sp_hf o = {1, 1};
    *out = o;
    const char *slash = strrchr(model_path, '/');
    size_t dlen = slash ? (size_t)(slash - model_path) + 1 : 0;
    char *path = malloc(dlen + sizeof "tokenizer_config.json");
    if (!path) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory", model_path);
    memcpy(path, model_path, dlen);
    strcpy(path + dlen, "tokenizer_config.json");
    cJSON *cfg = NULL;
    int rc = hf_json_read_file(path, "tokenizer_config.json", (size_t)16 << 20, &cfg);
    free(path);
    if (rc == HUBRT_ERR_NOMEM) return rc;
    if (rc == 0) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "legacy");
        if (cJSON_IsBool(v)) o.legacy = cJSON_IsTrue(v);
        v = cJSON_GetObjectItemCaseSensitive(cfg, "add_prefix_space");
        if (cJSON_IsBool(v)) o.add_prefix_space = cJSON_IsTrue(v);
    }
    cJSON_Delete(cfg);
    if (rc != 0) hf_clear_error(); /* a broken file is reported by tokenizer.c */
    *out = o;
    return 0;
}

tk_sp *tk_sp_load(const char *path)
{
    if (!path || !*path) {
        hf_set_error(HUBRT_ERR_INVALID_ARG, "sentencepiece: no model path given");
        return NULL;
    }
    char err[512];
    err[0] = 0;
    tk_spc_model *m = tk_spc_load(path, 0, err, sizeof err);
    /* The dummy-prefix-free twin for transformers' legacy=False paths. */
    tk_spc_model *nd = NULL;
    if (m && tk_spc_add_dummy_prefix(m)) {
        nd = tk_spc_load(path, TK_SPC_NO_DUMMY_PREFIX, err, sizeof err);
        if (!nd) {
            tk_spc_free(m);
            m = NULL;
        }
    } else {
        nd = m;
    }
    if (!m) {
        /* Tell a missing file from a bad one. */
        hubrt_status st = strncmp(err, "cannot open", 11) == 0 || strncmp(err, "read error", 10) == 0
                              ? HUBRT_ERR_IO
                              : strncmp(err, "out of memory", 13) == 0 ? HUBRT_ERR_NOMEM
                                                                       : HUBRT_ERR_FORMAT;
        hf_set_error(st, "%s: %s", path, err);
        return NULL;
    }
    tk_sp *sp = calloc(1, sizeof *sp);
    int vocab = tk_spc_vocab_size(m);
    if (!sp || vocab <= 0 || !(sp->special = calloc((size_t)vocab, 1)) ||
        !(sp->name = strdup(base_name(path)))) {
        if (sp) free(sp->special);
        free(sp);
        if (nd != m) tk_spc_free(nd);
        tk_spc_free(m);
        hf_set_error(vocab <= 0 ? HUBRT_ERR_FORMAT : HUBRT_ERR_NOMEM,
                        "%s: %s", path, vocab <= 0 ? "sentencepiece model has no pieces" : "out of memory");
        return NULL;
    }
    sp->m = m;
    sp->nd = nd;
    sp->vocab = vocab;
    sp->bos = tk_spc_bos_id(m);
    sp->eos = tk_spc_eos_id(m);
    sp->unk = tk_spc_unk_id(m);
    sp->pad = tk_spc_pad_id(m);
    /* Ids the model defines but does not have count as undefined. */
    if (sp->bos >= vocab) sp->bos = -1;
    if (sp->eos >= vocab) sp->eos = -1;
    if (sp->unk >= vocab) sp->unk = -1;
    if (sp->pad >= vocab) sp->pad = -1;
    for (int i = 0; i < vocab; i++)
        sp->special[i] = (unsigned char)(tk_spc_is_control(m, i) || tk_spc_is_unknown(m, i));
    if (read_hf_options(path, &sp->hf) != 0) {
        tk_sp_free(sp);
        return NULL;
    }
    sp->unk_len = -1;
    if (sp->unk >= 0) {
        size_t ulen = 0;
        const char *u = tk_spc_id_to_piece(nd, sp->unk, &ulen);
        if (u) sp->unk_len = tk_spc_encode(nd, u, ulen, NULL, 0, NULL, err, sizeof err);
    }
    return sp;
}

void tk_sp_free(tk_sp *sp)
{
    if (!sp) return;
    if (sp->nd != sp->m) tk_spc_free(sp->nd);
    tk_spc_free(sp->m);
    free(sp->special);
    free(sp->name);
    free(sp);
}

int tk_sp_vocab_size(const tk_sp *sp)
{
    if (!sp) return hf_set_error(HUBRT_ERR_INVALID_ARG, "sentencepiece: no tokenizer");
    return sp->vocab;
}

int32_t tk_sp_bos_id(const tk_sp *sp) { return sp ? sp->bos : -1; }
int32_t tk_sp_eos_id(const tk_sp *sp) { return sp ? sp->eos : -1; }
int32_t tk_sp_unk_id(const tk_sp *sp) { return sp ? sp->unk : -1; }
int32_t tk_sp_pad_id(const tk_sp *sp) { return sp ? sp->pad : -1; }

static int in_range(const tk_sp *sp, int32_t id) { return sp && id >= 0 && id < sp->vocab; }

int tk_sp_is_control(const tk_sp *sp, int32_t id) { return in_range(sp, id) && tk_spc_is_control(sp->m, id); }
int tk_sp_is_unknown(const tk_sp *sp, int32_t id) { return in_range(sp, id) && tk_spc_is_unknown(sp->m, id); }
int tk_sp_is_byte(const tk_sp *sp, int32_t id) { return in_range(sp, id) && tk_spc_is_byte(sp->m, id); }
int tk_sp_is_special(const tk_sp *sp, int32_t id) { return in_range(sp, id) && sp->special[id]; }
int tk_sp_add_dummy_prefix(const tk_sp *sp) { return sp ? tk_spc_add_dummy_prefix(sp->m) : 0; }
int tk_sp_remove_extra_whitespaces(const tk_sp *sp) { return sp ? tk_spc_remove_extra_whitespaces(sp->m) : 0; }

const char *tk_sp_piece(const tk_sp *sp, int32_t id)
{
    if (!in_range(sp, id)) {
        hf_set_error(HUBRT_ERR_RANGE, "%s: id %d is outside the vocabulary [0, %d)",
                        sp ? sp->name : "sentencepiece", (int)id, sp ? sp->vocab : 0);
        return NULL;
    }
    return tk_spc_id_to_piece(sp->m, id, NULL);
}

int32_t tk_sp_piece_to_id(const tk_sp *sp, const char *piece, size_t len)
{
    if (!sp || (!piece && len)) return -1;
    return tk_spc_piece_to_id(sp->m, piece, len);
}

static int encode_checks(const tk_sp *sp, const char *text, size_t len)
{
    if (!sp || (!text && len))
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "sentencepiece encode: NULL argument");
    if (len > (size_t)INT32_MAX)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: text of %zu bytes is too long", sp->name, len);
    size_t bad = 0;
    if (len && !tk_utf8_check(text, len, &bad))
        return hf_set_error(HUBRT_ERR_INVALID_UTF8,
                               "%s: input is not valid UTF-8 (byte 0x%02X at offset %zu)", sp->name,
                               (unsigned)(unsigned char)text[bad], bad);
    return HUBRT_OK;
}

int tk_sp_encode_raw(const tk_sp *sp, const char *text, size_t len, int32_t *ids, int max_ids)
{
    int st = encode_checks(sp, text, len);
    if (st < 0) return st;
    if (max_ids < 0 || (max_ids > 0 && !ids))
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: bad id buffer", sp->name);
    char err[256] = "";
    int n = tk_spc_encode(sp->m, text, len, ids, max_ids, NULL, err, sizeof err);
    if (n == -2) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory encoding", sp->name);
    if (n < 0) return hf_set_error(HUBRT_ERR_FORMAT, "%s: %s", sp->name, err);
    return n;
}

static int hf_encode_impl(const tk_sp *sp, const tk_sp_hf *opts, const char *text, size_t len, int first,
                          int32_t *ids, int max_ids, int32_t **alloc);

int tk_sp_encode(const tk_sp *sp, const char *text, size_t len, int32_t *ids, int max_ids)
{
    if (sp && !sp->hf.legacy) return tk_sp_hf_encode(sp, &sp->hf, text, len, 1, ids, max_ids);
    return tk_sp_encode_raw(sp, text, len, ids, max_ids);
}

int tk_sp_encode_alloc(const tk_sp *sp, const char *text, size_t len, int32_t **ids)
{
    if (ids) *ids = NULL;
    if (!ids) return hf_set_error(HUBRT_ERR_INVALID_ARG, "sentencepiece encode: NULL argument");
    int st = encode_checks(sp, text, len);
    if (st < 0) return st;
    if (!sp->hf.legacy) return hf_encode_impl(sp, &sp->hf, text, len, 1, NULL, 0, ids);
    /* A first guess of one id per 2 bytes fits nearly all text; the wrapper
     * allocates the exact size itself when it does not. */
    int cap = (int)(len / 2 + 16);
    int32_t *buf = malloc((size_t)cap * sizeof *buf);
    if (!buf) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory encoding", sp->name);
    int32_t *heap = NULL;
    char err[256] = "";
    int n = tk_spc_encode(sp->m, text, len, buf, cap, &heap, err, sizeof err);
    if (n < 0) {
        free(buf);
        if (n == -2) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory encoding", sp->name);
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: %s", sp->name, err);
    }
    if (heap) {
        free(buf);
        buf = heap;
    }
    if (n == 0) {
        free(buf);
        buf = NULL;
    }
    *ids = buf;
    return n;
}

/* Appends src[0..n) to out (cap bytes) at *pos, keeping count past the end. */
static void put(char *out, size_t cap, size_t *pos, const char *src, size_t n)
{
    if (*pos < cap) {
        size_t room = cap - *pos;
        memcpy(out + *pos, src, n < room ? n : room);
    }
    *pos += n;
}

/* sentencepiece's DecodeIds of ids[0..n) appended at *pos. */
static int decode_run(const tk_sp *sp, const int32_t *ids, int n, char *buf, size_t cap, size_t *pos)
{
    if (n == 0) return HUBRT_OK;
    char *text = NULL;
    size_t len = 0;
    char err[256] = "";
    int rc = tk_spc_decode(sp->m, ids, (size_t)n, &text, &len, err, sizeof err);
    if (rc == -2) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory decoding", sp->name);
    if (rc < 0) return hf_set_error(HUBRT_ERR_FORMAT, "%s: %s", sp->name, err);
    put(buf, cap, pos, text, len);
    free(text);
    return HUBRT_OK;
}

int tk_sp_decode_raw(const tk_sp *sp, const int32_t *ids, int n, char *buf, size_t cap)
{
    if (!sp || n < 0 || (!ids && n > 0) || (!buf && cap > 0))
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "sentencepiece decode: bad argument");
    for (int i = 0; i < n; i++)
        if (!in_range(sp, ids[i]))
            return hf_set_error(HUBRT_ERR_RANGE, "%s: id %d (position %d) is outside the vocabulary [0, %d)",
                                   sp->name, (int)ids[i], i, sp->vocab);
    size_t pos = 0;
    int st = decode_run(sp, ids, n, buf, cap, &pos);
    if (st < 0) return st;
    if (pos > (size_t)INT32_MAX)
        return hf_set_error(HUBRT_ERR_RANGE, "%s: decoded text is longer than 2 GiB", sp->name);
    if (cap > 0) buf[pos < cap ? pos : cap - 1] = 0;
    return (int)pos;
}

int tk_sp_decode(const tk_sp *sp, const int32_t *ids, int n, int skip_special, char *buf, size_t cap)
{
    /* legacy models with skip_special: sentencepiece's own decode, which is
     * what transformers gives too except that it also drops <unk>. */
    if (sp && sp->hf.legacy && skip_special) return tk_sp_decode_raw(sp, ids, n, buf, cap);
    return tk_sp_hf_decode(sp, sp ? &sp->hf : NULL, ids, n, skip_special, buf, cap);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int tk_sp_id_bytes(const tk_sp *sp, int32_t id, char *buf, size_t cap)
{
    if (!in_range(sp, id))
        return hf_set_error(HUBRT_ERR_RANGE, "%s: id %d is outside the vocabulary [0, %d)",
                               sp ? sp->name : "sentencepiece", (int)id, sp ? sp->vocab : 0);
    if (!buf && cap > 0) return hf_set_error(HUBRT_ERR_INVALID_ARG, "sentencepiece: NULL buffer");
    size_t pos = 0;
    size_t plen = 0;
    const char *p = tk_spc_id_to_piece(sp->m, id, &plen);
    if (!p) return hf_set_error(HUBRT_ERR_FORMAT, "%s: id %d has no piece", sp->name, (int)id);
    if (tk_spc_is_unknown(sp->m, id)) {
        put(buf, cap, &pos, " \xE2\x81\x87 ", 5); /* " ⁇ ", sentencepiece's unk surface */
    } else if (tk_spc_is_control(sp->m, id)) {
        /* nothing */
    } else if (tk_spc_is_byte(sp->m, id) && plen == 6 && hexval(p[3]) >= 0 && hexval(p[4]) >= 0) {
        char b = (char)(hexval(p[3]) * 16 + hexval(p[4])); /* "<0xNN>" */
        put(buf, cap, &pos, &b, 1);
    } else {
        for (size_t i = 0; i < plen;) {
            if (i + 3 <= plen && memcmp(p + i, "\xE2\x96\x81", 3) == 0) {
                put(buf, cap, &pos, " ", 1);
                i += 3;
            } else {
                put(buf, cap, &pos, p + i, 1);
                i++;
            }
        }
    }
    if (cap > 0) buf[pos < cap ? pos : cap - 1] = 0;
    return (int)pos;
}

/* ---- transformers' slow LlamaTokenizer --------------------------------- */


void tk_sp_get_hf(const tk_sp *sp, tk_sp_hf *opts)
{
    if (sp && opts) *opts = sp->hf;
}

void tk_sp_set_hf(tk_sp *sp, const tk_sp_hf *opts)
{
    if (sp && opts) sp->hf = *opts;
}

/* Shared by tk_sp_hf_encode (into ids[max_ids]) and the alloc path
 * (*alloc != NULL: a malloc'd array of exactly the ids). */
static int hf_encode_impl(const tk_sp *sp, const tk_sp_hf *opts, const char *text, size_t len, int first,
                          int32_t *ids, int max_ids, int32_t **alloc)
{
    if (len == 0) return 0;
    /* "<unk>" + "▁" + text with "▁" -> " ": at most unk + 3 + len bytes. */
    size_t ulen = 0;
    const char *u = sp->unk >= 0 ? tk_spc_id_to_piece(sp->nd, sp->unk, &ulen) : NULL;
    if (!u) ulen = 0;
    char *t = malloc(ulen + 3 + len + 1);
    if (!t) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory encoding", sp->name);
    size_t tl = ulen; /* the unk text goes first; skipped below when not needed */
    if (ulen) memcpy(t, u, ulen);
    if (first && opts->add_prefix_space) {
        memcpy(t + tl, SPIECE_UNDERLINE, 3);
        tl += 3;
    }
    for (size_t i = 0; i < len;) {
        if (i + 3 <= len && !memcmp(text + i, SPIECE_UNDERLINE, 3)) {
            t[tl++] = ' ';
            i += 3;
        } else {
            t[tl++] = text[i++];
        }
    }
    /* _tokenize: the "<unk>" trick only for text that starts with ▁ or a space */
    int trick = sp->unk_len > 0 && ulen > 0 &&
                ((tl - ulen >= 3 && !memcmp(t + ulen, SPIECE_UNDERLINE, 3)) || (tl > ulen && t[ulen] == ' '));
    const char *in = trick ? t : t + ulen;
    size_t inlen = trick ? tl : tl - ulen;
    int skip = trick ? sp->unk_len : 0;
    /* Encode into a guess-sized buffer (the wrapper switches to an exact heap
     * array when it is too small), then drop the "<unk>" pieces. */
    int cap = (int)(inlen / 2 + 16 + (size_t)skip);
    int32_t *buf = malloc((size_t)cap * sizeof *buf), *heap = NULL;
    char err[256] = "";
    int n = buf ? tk_spc_encode(sp->nd, in, inlen, buf, cap, &heap, err, sizeof err) : -2;
    free(t);
    if (n < 0) {
        free(buf);
        if (n == -2) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory encoding", sp->name);
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: %s", sp->name, err);
    }
    const int32_t *all = heap ? heap : buf;
    if (n < skip) skip = 0; /* as transformers: keep everything when too short */
    n -= skip;
    if (alloc) {
        *alloc = NULL;
        if (n > 0) {
            if (heap && skip == 0) {
                *alloc = heap;
                heap = NULL;
            } else if (!heap && skip == 0) {
                *alloc = buf;
                buf = NULL;
            } else if ((*alloc = malloc((size_t)n * sizeof **alloc)) != NULL) {
                memcpy(*alloc, all + skip, (size_t)n * sizeof **alloc);
            } else {
                n = hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory encoding", sp->name);
            }
        }
    } else {
        for (int i = 0; i < n && i < max_ids; i++) ids[i] = all[skip + i];
    }
    free(heap);
    free(buf);
    return n;
}

int tk_sp_hf_encode(const tk_sp *sp, const tk_sp_hf *opts, const char *text, size_t len,
                       int first, int32_t *ids, int max_ids)
{
    int st = encode_checks(sp, text, len);
    if (st < 0) return st;
    if (!opts || max_ids < 0 || (max_ids > 0 && !ids))
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: bad argument", sp->name);
    if (len == 0) return 0;
    if (opts->legacy) return tk_sp_encode_raw(sp, text, len, ids, max_ids);
    return hf_encode_impl(sp, opts, text, len, first, ids, max_ids, NULL);
}

/* sentencepiece Decode(pieces) of tokens[from, to) through model mdl, appended at *pos. */
static int decode_pieces(const tk_sp *sp, tk_spc_model *mdl, const char **tok, const size_t *tlen, int from,
                         int to, char *buf, size_t cap, size_t *pos)
{
    if (to <= from) return HUBRT_OK;
    char *text = NULL;
    size_t len = 0;
    char err[256] = "";
    int rc = tk_spc_decode_pieces(mdl, tok + from, tlen + from, (size_t)(to - from), &text, &len, err, sizeof err);
    if (rc == -2) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory decoding", sp->name);
    if (rc < 0) return hf_set_error(HUBRT_ERR_FORMAT, "%s: %s", sp->name, err);
    put(buf, cap, pos, text, len);
    free(text);
    return HUBRT_OK;
}

int tk_sp_hf_decode(const tk_sp *sp, const tk_sp_hf *opts, const int32_t *ids, int n,
                       int skip_special, char *buf, size_t cap)
{
    if (!sp || !opts || n < 0 || (!ids && n > 0) || (!buf && cap > 0))
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "sentencepiece decode: bad argument");
    for (int i = 0; i < n; i++)
        if (!in_range(sp, ids[i]))
            return hf_set_error(HUBRT_ERR_RANGE, "%s: id %d (position %d) is outside the vocabulary [0, %d)",
                                   sp->name, (int)ids[i], i, sp->vocab);
    /* convert_ids_to_tokens(skip_special_tokens) */
    const char **tok = malloc(((size_t)n + 1) * sizeof *tok);
    size_t *tlen = malloc(((size_t)n + 1) * sizeof *tlen);
    unsigned char *spec = malloc((size_t)n + 1);
    if (!tok || !tlen || !spec) {
        free(tok); free(tlen); free(spec);
        return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory decoding", sp->name);
    }
    int nt = 0;
    for (int i = 0; i < n; i++) {
        if (skip_special && sp->special[ids[i]]) continue;
        tok[nt] = tk_spc_id_to_piece(sp->m, ids[i], &tlen[nt]);
        spec[nt] = sp->special[ids[i]];
        if (!tok[nt]) { tok[nt] = ""; tlen[nt] = 0; }
        nt++;
    }
    /* convert_tokens_to_string */
    tk_spc_model *mdl = opts->legacy ? sp->m : sp->nd;
    size_t pos = 0;
    int st = HUBRT_OK;
    if (nt > 0 && opts->add_prefix_space && tlen[0] >= 3 && !memcmp(tok[0], SPIECE_UNDERLINE, 3)) {
        tok[0] += 3;
        tlen[0] -= 3;
    }
    int run = 0, prev_special = 0;
    for (int i = 0; i < nt && st == HUBRT_OK; i++) {
        if (spec[i]) {
            if (!prev_special && i != 0 && opts->legacy) put(buf, cap, &pos, " ", 1);
            st = decode_pieces(sp, mdl, tok, tlen, run, i, buf, cap, &pos);
            put(buf, cap, &pos, tok[i], tlen[i]);
            prev_special = 1;
            run = i + 1;
        } else {
            if (prev_special && i == 1 && opts->add_prefix_space &&
                !(tlen[i] >= 3 && !memcmp(tok[i], SPIECE_UNDERLINE, 3)))
                put(buf, cap, &pos, " ", 1);
            prev_special = 0;
        }
    }
    if (st == HUBRT_OK) st = decode_pieces(sp, mdl, tok, tlen, run, nt, buf, cap, &pos);
    free(tok);
    free(tlen);
    free(spec);
    if (st < 0) return st;
    if (pos > (size_t)INT32_MAX)
        return hf_set_error(HUBRT_ERR_RANGE, "%s: decoded text is longer than 2 GiB", sp->name);
    if (cap > 0) buf[pos < cap ? pos : cap - 1] = 0;
    return (int)pos;
}
