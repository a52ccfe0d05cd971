/*
 * tokenizer/sp_tokenizer.h — the sentencepiece backend (internal), for
 * directories whose only tokenizer file is tokenizer.model / spiece.model.
 *
 * A thin C layer over tokenizer/sentencepiece_c.{h,cc} (libsentencepiece).
 * Two levels:
 *
 *   raw      tk_sp_encode_raw / tk_sp_decode_raw: exactly
 *            SentencePieceProcessor EncodeAsIds / DecodeIds (what
 *            shared/tokenizers/llama-2/cases_sentencepiece.jsonl and the
 *            ALBERT cases hold).
 *   default  tk_sp_encode / tk_sp_encode_alloc / tk_sp_decode: what
 *            transformers' slow LlamaTokenizer (4.40) gives for the
 *            directory. tk_sp_load reads `legacy` and `add_prefix_space`
 *            from the tokenizer_config.json next to the model file (both
 *            default true, as in transformers); tk_sp_set_hf overrides.
 *            With legacy (LLaMA-2's own config, ALBERT, any dir without
 *            config) encode is the raw encode and decode(skip_special) the
 *            raw decode; with legacy=False (the ../shared/models llama dirs)
 *            the legacy=False paths below are used. decode(skip_special=0)
 *            is always transformers' convert_tokens_to_string.
 *
 * BOS/EOS are never added here: the caller adds them per tokenizer_config.json
 * (add_bos_token — default true for LlamaTokenizer —, add_eos_token; T5 adds
 * </s>) with tk_sp_bos_id/eos_id. Splitting special-token literals out of
 * the text before encoding (PreTrainedTokenizer.tokenize) is also the
 * caller's; tk_sp_hf_encode(first = 0) encodes a piece that follows one.
 *
 * Every function validates its arguments; failures return a negative
 * hubrt_status (or NULL) with hf_set_error() called. A loaded tk_sp is
 * read-only (after any tk_sp_set_hf) and may be used from several threads.
 */
#ifndef TOKENIZER_SP_TOKENIZER_H
#define TOKENIZER_SP_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tk_sp tk_sp;

/* Loads a sentencepiece .model file (and the options of the
 * tokenizer_config.json beside it, if any). NULL + hubrt_last_error() on
 * failure (HUBRT_ERR_IO: missing/unreadable, HUBRT_ERR_FORMAT: not a valid model). */
tk_sp *tk_sp_load(const char *path);
/* NULL is allowed. */
void tk_sp_free(tk_sp *sp);

/* Number of pieces (ids are 0 .. vocab_size-1). */
int tk_sp_vocab_size(const tk_sp *sp);

/* Special ids from the model's trainer spec, or -1 when the model has none
 * (ALBERT's spiece.model: no BOS/EOS; LLaMA: unk 0, bos 1, eos 2, pad -1). */
int32_t tk_sp_bos_id(const tk_sp *sp);
int32_t tk_sp_eos_id(const tk_sp *sp);
int32_t tk_sp_unk_id(const tk_sp *sp);
int32_t tk_sp_pad_id(const tk_sp *sp);

/* Piece kinds; 0 for ids out of range. */
int tk_sp_is_control(const tk_sp *sp, int32_t id); /* <s>, </s>, <pad>, ... */
int tk_sp_is_unknown(const tk_sp *sp, int32_t id); /* <unk> */
int tk_sp_is_byte(const tk_sp *sp, int32_t id);    /* <0x41> (byte fallback) */
/* Special = control or unknown, i.e. the ids transformers' slow
 * tokenizers list in all_special_ids (bos, eos, unk, pad). */
int tk_sp_is_special(const tk_sp *sp, int32_t id);

/* The piece string of an id as stored in the model ("▁Hello", "<0x0A>",
 * "<s>"); NUL-terminated, owned by sp. NULL (+ HUBRT_ERR_RANGE) if out of range. */
const char *tk_sp_piece(const tk_sp *sp, int32_t id);
/* The id of an exact piece string, or -1 when the model has no such piece. */
int32_t tk_sp_piece_to_id(const tk_sp *sp, const char *piece, size_t len);

/*
 * Encodes len bytes of UTF-8 text (embedded NULs allowed), no BOS/EOS, as
 * transformers does for this directory (see the top). Returns the number of
 * ids n >= 0; at most max_ids are written (ids may be NULL when max_ids is
 * 0), so call again with a larger buffer if n > max_ids. Invalid UTF-8 gives
 * HUBRT_ERR_INVALID_UTF8 (sentencepiece itself would silently map each bad
 * byte to U+FFFD).
 */
int tk_sp_encode(const tk_sp *sp, const char *text, size_t len, int32_t *ids, int max_ids);
/* The same into a malloc'd array (*ids, free() it; NULL when n == 0). */
int tk_sp_encode_alloc(const tk_sp *sp, const char *text, size_t len, int32_t **ids);
/* Plain sentencepiece EncodeAsIds (normalisation, dummy prefix, BPE/unigram,
 * byte fallback); same contract. */
int tk_sp_encode_raw(const tk_sp *sp, const char *text, size_t len, int32_t *ids, int max_ids);

/*
 * Decodes ids into UTF-8 text as transformers' decode(ids, skip_special_tokens)
 * does for this directory (see the top), snprintf-style: returns the full
 * length in bytes, writes at most cap bytes including a NUL (buf may be NULL
 * if cap is 0). Ids outside the vocab give HUBRT_ERR_RANGE.
 * LLaMA-2 (legacy): [1, ▁Hello, ▁world, 2] -> "Hello world" (skip) and
 * "<s> Hello world</s>" (keep); legacy=False: "<s> Hello world</s>" as well,
 * but [1, ▁The] -> "<s>The" with a remove_extra_whitespaces model (stories260K).
 */
int tk_sp_decode(const tk_sp *sp, const int32_t *ids, int n, int skip_special,
                    char *buf, size_t cap);
/* Plain sentencepiece DecodeIds: control pieces (<s>, </s>) produce nothing,
 * <unk> produces " ⁇ ", byte pieces are joined into UTF-8 (invalid sequences
 * become U+FFFD), the dummy-prefix space is removed. Same contract. */
int tk_sp_decode_raw(const tk_sp *sp, const int32_t *ids, int n, char *buf, size_t cap);

/*
 * The raw bytes one id stands for, for streaming detokenizers: "▁" becomes
 * " ", a byte piece <0xNN> is that single byte (possibly part of a UTF-8
 * character), a control piece is empty, <unk> is " ⁇ ". No dummy-prefix
 * stripping (the caller drops the first space of the text if it wants to).
 * Returns the length, snprintf-style (NUL-terminated when cap > 0), or
 * HUBRT_ERR_RANGE.
 */
int tk_sp_id_bytes(const tk_sp *sp, int32_t id, char *buf, size_t cap);

/* Whether the model's normalizer adds the "▁" dummy prefix (LLaMA, ALBERT: 1). */
int tk_sp_add_dummy_prefix(const tk_sp *sp);
/* Whether it removes leading/repeated whitespace (ALBERT, stories260K: 1; LLaMA-2: 0). */
int tk_sp_remove_extra_whitespaces(const tk_sp *sp);

/* ---- transformers' slow LlamaTokenizer, explicitly -----------------------
 *
 *   legacy = 1: each piece of text is sentencepiece-encoded as is (dummy
 *   prefix on every piece, also after a special-token literal).
 *   legacy = 0: "▁" in the text becomes " "; the first piece gets a "▁"
 *   prefix when add_prefix_space; pieces are encoded with the dummy prefix
 *   turned off, through transformers' "<unk>"-prefix trick.
 */
typedef struct tk_sp_hf {
    int legacy;           /* tokenizer_config "legacy"; absent or null -> 1 */
    int add_prefix_space; /* tokenizer_config "add_prefix_space"; absent -> 1 */
} tk_sp_hf;

/* The options tk_sp_load read; overriding them is allowed before the
 * tokenizer is shared between threads. */
void tk_sp_get_hf(const tk_sp *sp, tk_sp_hf *opts);
void tk_sp_set_hf(tk_sp *sp, const tk_sp_hf *opts);

/* Encodes one piece of text without special literals (first = 1: it starts
 * the text); no BOS/EOS. Same contract as tk_sp_encode; "" gives 0 ids. */
int tk_sp_hf_encode(const tk_sp *sp, const tk_sp_hf *opts, const char *text, size_t len,
                       int first, int32_t *ids, int max_ids);
/*
 * transformers' decode(ids, skip_special_tokens) for a tokenizer without
 * added tokens beyond the vocabulary (LlamaTokenizer.convert_tokens_to_string;
 * clean_up_tokenization_spaces is the caller's). skip_special drops the
 * tk_sp_is_special ids, <unk> included. Same contract as tk_sp_decode.
 */
int tk_sp_hf_decode(const tk_sp *sp, const tk_sp_hf *opts, const int32_t *ids, int n,
                       int skip_special, char *buf, size_t cap);

#endif
