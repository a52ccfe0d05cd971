/*
 * tokenizer/tok_internal.h — shared types of the tokenizer.json pipeline
 * (internal to tokenizer/).
 *
 * The pipeline follows Hugging Face `tokenizers`:
 *   text -> added tokens split out -> normalizer -> pre-tokenizer (pieces)
 *        -> model (ids per piece) -> post-processor (specials, type ids)
 *   ids  -> tokens -> decoder chain -> text
 * Every stage works on UTF-8 byte strings; no offsets are tracked because
 * the public API returns ids only. Strings are (pointer, length) pairs:
 * texts may hold NUL characters.
 */
#ifndef TOKENIZER_TOK_INTERNAL_H
#define TOKENIZER_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "hf/error.h"

/* ---- growable buffers ---------------------------------------------------- */

typedef struct tk_buf { char *p; size_t n, cap; } tk_buf;
typedef struct tk_ids { int32_t *v; size_t n, cap; } tk_ids;

int tk_buf_reserve(tk_buf *b, size_t extra);     /* 0 or HUBRT_ERR_NOMEM */
int tk_buf_put(tk_buf *b, const void *s, size_t n);
int tk_buf_putc(tk_buf *b, char c);
int tk_buf_put_cp(tk_buf *b, uint32_t cp);       /* UTF-8 encode */
void tk_buf_free(tk_buf *b);
int tk_ids_push(tk_ids *a, int32_t v);
int tk_ids_reserve(tk_ids *a, size_t extra);
void tk_ids_free(tk_ids *a);

/* ---- UTF-8 and Unicode predicates (utf8proc underneath) ------------------ */

/* Decodes the code point at s[0..] (valid UTF-8 assumed); returns its length. */
static inline int tk_utf8_dec(const char *s, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80) { *cp = u[0]; return 1; }
    if (u[0] < 0xE0) { *cp = ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F); return 2; }
    if (u[0] < 0xF0) {
        *cp = ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
        return 3;
    }
    *cp = ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
          ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
    return 4;
}
static inline int tk_utf8_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}
int tk_utf8_enc(uint32_t cp, char out[4]);
/* Length of the valid UTF-8 prefix; *bad = offset of the first bad byte. */
int tk_utf8_check(const char *s, size_t len, size_t *bad);
/* Appends s with invalid sequences replaced by U+FFFD (Rust from_utf8_lossy). */
int tk_utf8_lossy(tk_buf *out, const char *s, size_t len);

int tk_is_whitespace(uint32_t cp);  /* Rust char::is_whitespace (White_Space) */
int tk_is_punct(uint32_t cp);       /* ASCII punctuation or Unicode P* */
int tk_is_other(uint32_t cp);       /* Cc Cf Cs Co (not Cn, as HF) */
int tk_is_mn(uint32_t cp);          /* Mark, nonspacing */
int tk_is_numeric(uint32_t cp);     /* Nd Nl No (Rust char::is_numeric) */
int tk_is_alnum(uint32_t cp);       /* letters and numbers (word characters) */
int tk_is_chinese(uint32_t cp);     /* the CJK blocks BERT isolates */
/* Appends the full lowercase mapping of cp (Rust char::to_lowercase). */
int tk_put_lower(tk_buf *b, uint32_t cp);

/* GPT-2 byte <-> printable char map. */
extern uint32_t tk_byte_to_cp[256];
int tk_cp_to_byte(uint32_t cp);     /* -1 when cp is not a byte-level char */
void tk_bytelevel_init(void);

/* base64 decode (standard alphabet, padding optional); malloc'd. */
unsigned char *tk_base64_decode(const char *s, size_t len, size_t *out_len);

/* ---- hash maps (open addressing) ----------------------------------------- */

uint64_t tk_hash(const void *s, size_t n);

/* Byte string -> int32. Keys are copied into an arena, NUL-terminated. */
typedef struct tk_strmap {
    uint32_t *slot;            /* entry index + 1; 0 = empty */
    size_t mask;
    struct tk_sm_entry { uint32_t off, len; uint32_t hash; int32_t val; } *e;
    size_t n, cap;
    tk_buf arena;
} tk_strmap;
/* Inserts or overwrites; returns the entry index or a negative status. */
long tk_strmap_put(tk_strmap *m, const char *k, size_t n, int32_t val);
/* Entry index or -1. */
long tk_strmap_find(const tk_strmap *m, const char *k, size_t n);
static inline const char *tk_strmap_key(const tk_strmap *m, long e) { return m->arena.p + m->e[e].off; }
void tk_strmap_free(tk_strmap *m);

/* uint64 -> uint64, key UINT64_MAX reserved; key and value side by side. */
typedef struct tk_u64slot { uint64_t k, v; } tk_u64slot;
typedef struct tk_u64map { tk_u64slot *s; size_t mask, n; } tk_u64map;
int tk_u64map_put(tk_u64map *m, uint64_t k, uint64_t v);
static inline size_t tk_u64_slot(uint64_t k, size_t mask)
{
    k ^= k >> 31;
    k *= 0x9E3779B97F4A7C15ull;
    return (size_t)(k >> 29) & mask;
}
static inline int tk_u64map_get(const tk_u64map *m, uint64_t k, uint64_t *v)
{
    if (!m->s) return 0;
    size_t i = tk_u64_slot(k, m->mask);
    for (;;) {
        if (m->s[i].k == k) { *v = m->s[i].v; return 1; }
        if (m->s[i].k == UINT64_MAX) return 0;
        i = (i + 1) & m->mask;
    }
}
void tk_u64map_free(tk_u64map *m);

/* Byte trie for leftmost-longest / common-prefix matching. */
typedef struct tk_trie {
    tk_u64map edges;           /* (node << 8 | byte) -> child node */
    int32_t *val;              /* per node: value or -1 */
    size_t n, cap;
    uint8_t first[32];         /* bitmap of first bytes */
} tk_trie;
int tk_trie_init(tk_trie *t);
int tk_trie_add(tk_trie *t, const char *s, size_t n, int32_t val);
void tk_trie_free(tk_trie *t);
static inline int32_t tk_trie_child(const tk_trie *t, int32_t node, unsigned char c)
{
    uint64_t v;
    return tk_u64map_get(&t->edges, ((uint64_t)node << 8) | c, &v) ? (int32_t)v : -1;
}

/* ---- vocabulary ---------------------------------------------------------- */

#define TK_MAX_ID (1 << 24)   /* ids above this are rejected as malformed */

typedef struct tk_vocab {
    tk_strmap map;             /* token -> id */
    long *entry_of;            /* id -> map entry, -1 for holes */
    int32_t n_ids;             /* max id + 1 */
    size_t max_len;            /* longest token in bytes (set by tk_vocab_finish) */
} tk_vocab;
int tk_vocab_add(tk_vocab *v, const char *tok, size_t n, int32_t id);
int tk_vocab_finish(tk_vocab *v);  /* builds entry_of */
static inline int32_t tk_vocab_id(const tk_vocab *v, const char *s, size_t n)
{
    long e = tk_strmap_find(&v->map, s, n);
    return e < 0 ? -1 : v->map.e[e].val;
}
const char *tk_vocab_token(const tk_vocab *v, int32_t id, size_t *len);
void tk_vocab_free(tk_vocab *v);

/* ---- regex (PCRE2, UTF + UCP, JIT) --------------------------------------- */

/* A hostile pattern cannot hang a match: each match is capped at
 * TK_REGEX_MATCH_LIMIT backtracking steps (then the encode fails with an
 * error naming the limit), and \C (one byte inside a UTF-8 character) is
 * refused at compile time. */
#define TK_REGEX_MATCH_LIMIT 10000000u
typedef struct tk_regex { pcre2_code *code; pcre2_match_context *mctx; } tk_regex;
/* literal: the pattern is a plain string. NULL + error on failure. */
tk_regex *tk_regex_new(const char *pat, size_t len, int literal, const char *what);
void tk_regex_free(tk_regex *re);
/* Next match at or after start: 1 found ([*ms, *me)), 0 none, <0 error. */
int tk_regex_next(const tk_regex *re, pcre2_match_data *md, const char *s, size_t len,
                  size_t start, size_t *ms, size_t *me);

/* ---- normalizers --------------------------------------------------------- */

enum {
    TKN_BERT, TKN_NFC, TKN_NFD, TKN_NFKC, TKN_NFKD, TKN_LOWERCASE, TKN_STRIP_ACCENTS,
    TKN_REPLACE, TKN_PREPEND, TKN_STRIP, TKN_PRECOMPILED, TKN_BYTELEVEL, TKN_NMT, TKN_SEQUENCE
};

typedef struct tk_normalizer {
    int type;
    int clean_text, handle_chinese, strip_accents, lowercase; /* BertNormalizer */
    int left, right;                                          /* Strip */
    tk_regex *re;                                             /* Replace (regex) */
    char *pat; size_t pat_len;                                /* Replace (string) */
    char *content; size_t content_len;                        /* Replace, Prepend */
    uint32_t *units; size_t n_units;                          /* Precompiled trie */
    char *norm; size_t norm_len;                              /* Precompiled strings */
    struct tk_normalizer **seq; int n_seq;                    /* Sequence */
} tk_normalizer;

/* Scratch shared by the stages of one encode call. */
typedef struct tk_work {
    pcre2_match_data *md;
    tk_buf t1, t2;
    struct tk_match { uint32_t s, e; int m; } *mv; size_t mn, mcap;
} tk_work;
int tk_work_init(tk_work *w);
void tk_work_free(tk_work *w);

/* out receives the normalized form of s (out is reset first). */
int tk_normalize(const tk_normalizer *n, tk_work *w, const char *s, size_t len, tk_buf *out);
void tk_normalizer_free(tk_normalizer *n);

/* ---- pre-tokenizers ------------------------------------------------------ */

enum {
    TKP_BERT, TKP_WHITESPACE, TKP_WHITESPACE_SPLIT, TKP_BYTELEVEL, TKP_SPLIT, TKP_METASPACE,
    TKP_DIGITS, TKP_PUNCTUATION, TKP_CHAR_DELIMITER, TKP_SEQUENCE
};
enum { TKB_REMOVED, TKB_ISOLATED, TKB_MERGED_PREV, TKB_MERGED_NEXT, TKB_CONTIGUOUS };
enum { TKM_ALWAYS, TKM_NEVER, TKM_FIRST };

typedef struct tk_pretok {
    int type;
    int add_prefix_space, use_regex;  /* ByteLevel */
    tk_regex *re;                     /* Split, ByteLevel, Whitespace */
    int behavior, invert;             /* Split, Punctuation */
    uint32_t ch;                      /* Metaspace replacement, CharDelimiterSplit */
    int prepend_scheme, split;        /* Metaspace */
    int individual;                   /* Digits */
    struct tk_pretok **seq; int n_seq;
} tk_pretok;

/* A list of pieces: text spans in one arena; `first` = starts the input. */
typedef struct tk_piece { uint32_t off, len; int first; } tk_piece;
typedef struct tk_pieces { tk_buf text; tk_piece *v; size_t n, cap; } tk_pieces;
int tk_pieces_add(tk_pieces *p, const char *s, size_t n, int first);
void tk_pieces_reset(tk_pieces *p);
void tk_pieces_free(tk_pieces *p);

/* Splits in into out (out is reset first). */
int tk_pretokenize(const tk_pretok *p, tk_work *w, const tk_pieces *in, tk_pieces *out);
void tk_pretok_free(tk_pretok *p);

/* ---- models -------------------------------------------------------------- */

enum { TKM_WORDPIECE, TKM_BPE, TKM_UNIGRAM, TKM_WORDLEVEL };

#define TK_BPE_CACHE 8192
#define TK_MAX_AFFIX 64  /* longest continuing_subword_prefix / end_of_word_suffix (bytes) */

typedef struct tk_model {
    int type;
    tk_vocab vocab;
    int32_t unk_id;                      /* -1: none */
    char *prefix; size_t prefix_len;     /* continuing_subword_prefix */
    char *suffix; size_t suffix_len;     /* end_of_word_suffix */
    int max_chars;                       /* WordPiece max_input_chars_per_word */
    /* BPE */
    tk_u64map merges;                    /* (left << 32 | right) -> (rank << 32 | new id) */
    int byte_fallback, fuse_unk, ignore_merges;
    int32_t byte_id[256];                /* <0xXX> pieces, -1 when absent */
    struct tk_bpe_cache *cache;
    char split_seq[4]; size_t split_len; /* safe word boundary (see tk_bpe_enable_split) */
    /* Unigram */
    double *score; double min_score;
    tk_trie trie;
} tk_model;

/* Appends the ids of one pre-token. */
int tk_model_encode(const tk_model *m, tk_work *w, const char *s, size_t len, tk_ids *out);
int tk_wordpiece_encode(const tk_model *m, const char *s, size_t len, tk_ids *out);
int tk_bpe_encode(const tk_model *m, const char *s, size_t len, tk_ids *out);
int tk_unigram_encode(const tk_model *m, const char *s, size_t len, tk_ids *out);
int tk_bpe_cache_init(tk_model *m);
/* The word -> ids cache (BPE and Unigram): 1 on a hit (ids appended). */
int tk_cache_get(struct tk_bpe_cache *c, uint64_t h, const char *s, size_t len, tk_ids *out);
void tk_cache_put(struct tk_bpe_cache *c, uint64_t h, const char *s, size_t len, const int32_t *ids, size_t n);
/* Adds merge (a, b) with its rank; a, b and a+b (minus b's prefix) must be tokens. */
int tk_bpe_add_merge(tk_model *m, const char *a, size_t an, const char *b, size_t bn, int rank);
int tk_unigram_finish(tk_model *m);
/*
 * Lets BPE cut a long piece before each `seq` (e.g. "▁") that follows another
 * character, when no vocab token holds seq after another character: no merge
 * can then cross such a point, so the pieces can be encoded (and cached) one
 * by one with the same result. Does nothing when that does not hold.
 */
void tk_bpe_enable_split(tk_model *m, const char *seq, size_t n);
int tk_model_finish_bytes(tk_model *m);  /* fills byte_id */
void tk_model_free(tk_model *m);

/* ---- added tokens -------------------------------------------------------- */

typedef struct tk_added {
    char *content; size_t len;
    char *pattern; size_t plen;          /* the content, normalized when `normalized` */
    int32_t id;
    uint8_t special, lstrip, rstrip, single_word, normalized;
} tk_added;

typedef struct tk_added_vocab {
    tk_added *v; int n, cap;
    tk_trie raw, norm;                   /* value = index into v */
    int has_raw, has_norm;
} tk_added_vocab;

int tk_added_add(tk_added_vocab *a, const char *content, size_t len, int32_t id, int special,
                 int lstrip, int rstrip, int single_word, int normalized);
/* Builds the match tries; normalized tokens are normalized with n first. */
int tk_added_build(tk_added_vocab *a, const tk_normalizer *n, tk_work *w);
/* One match pass: segments of s with id (-1 = plain text). */
typedef struct tk_seg { uint32_t off, len; int32_t id; } tk_seg;
typedef struct tk_segs { tk_seg *v; size_t n, cap; } tk_segs;
int tk_added_split(const tk_added_vocab *a, int normalized, const char *s, size_t len, tk_segs *out);
const tk_added *tk_added_by_id(const tk_added_vocab *a, int32_t id);
void tk_added_free(tk_added_vocab *a);

/* ---- post-processors ----------------------------------------------------- */

enum { TKPP_BERT, TKPP_ROBERTA, TKPP_TEMPLATE, TKPP_BYTELEVEL, TKPP_SEQUENCE };

typedef struct tk_tpl_item { int is_seq; int seq; int type_id; int32_t *ids; int n_ids; } tk_tpl_item;

typedef struct tk_post {
    int type;
    int32_t cls, sep;                    /* Bert, Roberta */
    tk_tpl_item *single, *pair; int n_single, n_pair;
    struct tk_post **seq; int n_seq;
} tk_post;

/* An encoding: ids + type ids. */
typedef struct tk_enc { tk_ids ids, types; } tk_enc;
/* Combines a (and b when non-NULL) into out per the post-processor. */
int tk_post_process(const tk_post *p, const tk_enc *a, const tk_enc *b, int add_special, tk_enc *out);
void tk_post_free(tk_post *p);

/* ---- decoders ------------------------------------------------------------ */

enum {
    TKD_BYTELEVEL, TKD_WORDPIECE, TKD_METASPACE, TKD_BYTE_FALLBACK, TKD_FUSE, TKD_STRIP,
    TKD_REPLACE, TKD_CTC, TKD_BPE, TKD_SEQUENCE
};

typedef struct tk_decoder {
    int type;
    char *prefix; size_t prefix_len;     /* WordPiece prefix, BPE suffix */
    int cleanup;                         /* WordPiece, CTC */
    uint32_t ch; int prepend_scheme;     /* Metaspace */
    char *content; size_t content_len;   /* Strip content char, Replace content */
    int start, stop;                     /* Strip */
    tk_regex *re;                        /* Replace (regex) */
    char *pat; size_t pat_len;           /* Replace (string) */
    char *pad, *delim;                   /* CTC */
    struct tk_decoder **seq; int n_seq;
} tk_decoder;

/* A list of token strings (pieces) being decoded. */
int tk_decode_chain(const tk_decoder *d, tk_work *w, tk_pieces *toks);
void tk_decoder_free(tk_decoder *d);
/* The WordPiece decoder's clean-up replacements on one string (Rust list). */
int tk_cleanup_spaces(tk_buf *out, const char *s, size_t n);
/* transformers' clean_up_tokenization on a whole text (Python list). */
int tk_cleanup_transformers(tk_buf *out, const char *s, size_t n);

/* ---- the tokenizer ------------------------------------------------------- */

#include "tokenizer/tokenizer.h"

struct tk_sp;

enum { TK_KIND_PIPELINE, TK_KIND_SP };
#define TK_FLAG_ADDED 1
#define TK_FLAG_SPECIAL 2

struct tk_tokenizer {
    int kind;
    char source[32];                 /* "tokenizer.json", "vocab.txt", ... */
    tk_normalizer *normalizer;
    tk_pretok *pretok;
    tk_model model;
    tk_post *post;
    tk_decoder *decoder;
    tk_added_vocab added;
    struct tk_sp *sp;             /* TK_KIND_SP */
    int sp_add_bos, sp_add_eos;
    int32_t special[HUBRT_TOK_N_SPECIAL];
    int clean_up_spaces;             /* tokenizer_config.json clean_up_tokenization_spaces */
    int32_t n_ids;                   /* max id + 1 */
    const char **text_of;            /* id -> token string (NULL: hole) */
    uint32_t *len_of;
    uint8_t *flags;                  /* TK_FLAG_* per id */
};

/* tokenizer_json.c: fills tok from a parsed tokenizer.json (cJSON *). */
int tk_load_json(tk_tokenizer *tok, const void *root, const char *path);
/* tokenizer_legacy.c: the older layouts. */
int tk_load_vocab_txt(tk_tokenizer *tok, const char *dir);
int tk_load_vocab_merges(tk_tokenizer *tok, const char *dir);
int tk_load_sp(tk_tokenizer *tok, const char *dir, const char *file);
/* Special-token roles from tokenizer_config.json / special_tokens_map.json. */
int tk_load_special_roles(tk_tokenizer *tok, const char *dir);
/* Reads a whole file (malloc'd, NUL-terminated); NULL + HUBRT_ERR_IO. */
char *tk_read_file(const char *path, size_t *len);
/* Parses a JSON file (cJSON *), NULL + error naming the file. */
void *tk_read_json(const char *path);
/* HUBRT_ERR_FORMAT naming the file and offset unless text is valid UTF-8. */
int tk_check_utf8_file(const char *text, size_t len, const char *name);
/* Parses len bytes of JSON text (name in messages); NULL + error. */
void *tk_parse_json(const char *text, size_t len, const char *name);
/* Builds text_of / len_of / flags once model and added tokens are known. */
int tk_finish(tk_tokenizer *tok);

#endif
