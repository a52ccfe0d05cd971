/*
 * tokenizer/tokenizer.h — the tokenizer front end (internal).
 *
 * tk_tokenizer_load() reads a directory's tokenizer files: tokenizer.json
 * when present (it wins, as in transformers), else vocab.txt (WordPiece),
 * vocab.json + merges.txt (GPT-2 byte-level BPE), or tokenizer.model /
 * spiece.model (sentencepiece, tokenizer/sp_tokenizer.h), with special
 * tokens from tokenizer_config.json / special_tokens_map.json.
 *
 * Texts are (pointer, length) pairs so they may hold NUL characters; they
 * must be valid UTF-8 (else HUBRT_ERR_INVALID_UTF8 naming the byte offset).
 * A loaded tokenizer is read-only and may be used from several threads.
 */
#ifndef TOKENIZER_TOKENIZER_H
#define TOKENIZER_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tk_tokenizer tk_tokenizer;

/* NULL + hubrt_last_error() on failure (HUBRT_ERR_IO when no tokenizer files). */
tk_tokenizer *tk_tokenizer_load(const char *dir);
void tk_tokenizer_free(tk_tokenizer *tok);

/* Loads one tokenizer.json file (no directory lookups; for tests and tools). */
tk_tokenizer *tk_tokenizer_load_json(const char *path);
/* The same from len bytes of tokenizer.json text in memory (name is used in
 * messages); for fuzzing and embedded tokenizers. */
tk_tokenizer *tk_tokenizer_load_json_memory(const char *text, size_t len, const char *name);

/* Loads one given layout of dir even when a preferred one is present (tests
 * compare the paths): file is "tokenizer.json", "vocab.txt", "vocab.json"
 * (with merges.txt), "tokenizer.model" or "spiece.model". */
tk_tokenizer *tk_tokenizer_load_file(const char *dir, const char *file);

/* Which file the tokenizer came from: "tokenizer.json", "vocab.txt", ... */
const char *tk_tokenizer_source(const tk_tokenizer *tok);

/* ---- encode ------------------------------------------------------------- */

/* ids and type ids (0 for the first text, 1 for the pair as the
 * post-processor assigns them); both malloc'd, n entries. */
typedef struct tk_encoding {
    int32_t *ids;
    int32_t *type_ids;
    size_t n;
} tk_encoding;

/*
 * Encodes text (and pair when non-NULL) into *out (zeroed first). add_special:
 * the post-processor's special tokens ([CLS]/[SEP], <s>, </s>). Returns 0 or a
 * negative hubrt_status; out holds nothing on failure.
 */
int tk_tokenizer_encode(const tk_tokenizer *tok, const char *text, size_t len,
                           const char *pair, size_t pair_len, int add_special,
                           tk_encoding *out);
void tk_encoding_free(tk_encoding *enc);

/* ---- decode ------------------------------------------------------------- */

/*
 * Decodes ids into malloc'd NUL-terminated UTF-8 *text of *len bytes
 * (skip_special: drop special tokens). Ids outside the vocab give
 * HUBRT_ERR_RANGE. Returns 0 or a negative status.
 */
int tk_tokenizer_decode(const tk_tokenizer *tok, const int32_t *ids, size_t n,
                           int skip_special, char **text, size_t *len);

/*
 * What transformers' tokenizer.decode() returns: tk_tokenizer_decode, then
 * clean_up_tokenization (" ." -> ".", " n't" -> "n't", ...) when the
 * directory's tokenizer_config.json sets clean_up_tokenization_spaces: true
 * (absent means no clean-up, i.e. the tokenizer.json decoder alone).
 */
int tk_tokenizer_decode_text(const tk_tokenizer *tok, const int32_t *ids, size_t n,
                                int skip_special, char **text, size_t *len);

/* ---- vocabulary --------------------------------------------------------- */

/* Number of ids (max id + 1, added tokens included). */
int32_t tk_tokenizer_vocab_size(const tk_tokenizer *tok);
/* The token string of an id (NUL-terminated, owned by tok), or NULL. */
const char *tk_tokenizer_id_to_token(const tk_tokenizer *tok, int32_t id, size_t *len);
/* The id of an exact token string (added tokens first, then the model), or -1. */
int32_t tk_tokenizer_token_to_id(const tk_tokenizer *tok, const char *s, size_t len);
/* Whether id is a special token (skipped by decode with skip_special). */
int tk_tokenizer_is_special(const tk_tokenizer *tok, int32_t id);

enum tk_special {
    HUBRT_TOK_BOS, HUBRT_TOK_EOS, HUBRT_TOK_CLS, HUBRT_TOK_SEP, HUBRT_TOK_MASK,
    HUBRT_TOK_PAD, HUBRT_TOK_UNK, HUBRT_TOK_N_SPECIAL
};
/* The id of a special token role, or -1 when the tokenizer has none. */
int32_t tk_tokenizer_special_id(const tk_tokenizer *tok, int which);

/* ---- streaming decode --------------------------------------------------- */

/*
 * Feeds ids one at a time and returns only text that is final: nothing is
 * emitted while the tail is an incomplete UTF-8 character (it would decode
 * to U+FFFD), so no half character ever comes out. The pieces concatenate to
 * tk_tokenizer_decode() of all ids (HF's DecodeStream; no clean-up).
 */
typedef struct tk_stream tk_stream;
tk_stream *tk_stream_new(const tk_tokenizer *tok, int skip_special);
/* *text (owned by the stream, valid until the next call) gets *len new bytes. */
int tk_stream_push(tk_stream *st, int32_t id, const char **text, size_t *len);
void tk_stream_free(tk_stream *st);

#endif
