/*
 * tokenizer/sentencepiece_c.h — a small extern "C" wrapper over
 * libsentencepiece's SentencePieceProcessor (tokenizer/sentencepiece_c.cc is
 * the only C++ in the tree).
 *
 * Nothing thrown inside libsentencepiece (or std::bad_alloc) crosses this
 * boundary: every entry point catches everything and reports failure through
 * its return value, with a message in err[errcap] where one is taken.
 * The wrapper does not touch hubrt's error state; tokenizer/sp_tokenizer.c
 * turns its messages into hf_set_error() calls.
 *
 * A loaded tk_spc_model is only read by encode/decode (SentencePieceProcessor's
 * const methods), so one model may serve several threads.
 */
#ifndef TOKENIZER_SENTENCEPIECE_C_H
#define TOKENIZER_SENTENCEPIECE_C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tk_spc_model tk_spc_model;

/* tk_spc_load flags. TK_SPC_NO_DUMMY_PREFIX: load with NormalizerSpec.add_dummy_prefix
 * forced off, as transformers' LlamaTokenizer/T5Tokenizer do when legacy=False. */
enum { TK_SPC_NO_DUMMY_PREFIX = 1 };

/* Loads a serialized ModelProto (a .model file). NULL on failure, with the
 * reason in err (always NUL-terminated when errcap > 0). */
tk_spc_model *tk_spc_load(const char *path, int flags, char *err, size_t errcap);
/* The same from bytes in memory. */
tk_spc_model *tk_spc_load_bytes(const void *data, size_t size, int flags, char *err, size_t errcap);
void tk_spc_free(tk_spc_model *m);

int tk_spc_vocab_size(const tk_spc_model *m);
/* -1 when the model defines none. */
int tk_spc_bos_id(const tk_spc_model *m);
int tk_spc_eos_id(const tk_spc_model *m);
int tk_spc_unk_id(const tk_spc_model *m);
int tk_spc_pad_id(const tk_spc_model *m);

/* 0 for ids outside [0, vocab_size). */
int tk_spc_is_control(const tk_spc_model *m, int id);
int tk_spc_is_unknown(const tk_spc_model *m, int id);
int tk_spc_is_byte(const tk_spc_model *m, int id);
int tk_spc_is_unused(const tk_spc_model *m, int id);

/* The piece string of id (owned by m, NUL-terminated, *len its length when
 * len != NULL), or NULL when out of range. */
const char *tk_spc_id_to_piece(const tk_spc_model *m, int id, size_t *len);
/* The id of an exact piece, or -1 (sentencepiece itself answers unk). */
int tk_spc_piece_to_id(const tk_spc_model *m, const char *piece, size_t len);
/* NormalizerSpec flags as loaded: the "▁" dummy prefix (0 after
 * TK_SPC_NO_DUMMY_PREFIX), and the removal of leading/repeated whitespace (which
 * also makes decoding drop leading spaces). */
int tk_spc_add_dummy_prefix(const tk_spc_model *m);
int tk_spc_remove_extra_whitespaces(const tk_spc_model *m);

/*
 * Encodes len bytes of text. Returns the id count n >= 0 and writes the first
 * min(n, cap) ids into ids[]; when heap != NULL and n > cap, *heap receives a
 * malloc'd array of all n ids instead (caller frees; *heap is NULL otherwise).
 * Returns -1 on failure with err set, -2 when out of memory.
 */
int tk_spc_encode(const tk_spc_model *m, const char *text, size_t len, int32_t *ids, int cap,
               int32_t **heap, char *err, size_t errcap);

/*
 * Decodes n ids (each must be in range) into a malloc'd NUL-terminated
 * string (*out, caller frees) of *out_len bytes. Returns 0, -1 on failure
 * (err set), -2 when out of memory.
 */
int tk_spc_decode(const tk_spc_model *m, const int32_t *ids, size_t n, char **out, size_t *out_len,
               char *err, size_t errcap);

/* Like tk_spc_decode for piece strings (pieces[i] of lens[i] bytes), as
 * SentencePieceProcessor::Decode(pieces): a string that is not a piece is
 * written as it is. */
int tk_spc_decode_pieces(const tk_spc_model *m, const char *const *pieces, const size_t *lens, size_t n,
                      char **out, size_t *out_len, char *err, size_t errcap);

#ifdef __cplusplus
}
#endif

#endif
