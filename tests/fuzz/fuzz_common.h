/*
 * tests/fuzz/fuzz_common.h — what the tokenizer fuzz targets (and
 * tests/test_fuzz_regressions.c, which replays their fixed inputs) do with a
 * loaded tokenizer: encode texts, decode the ids (keeping and skipping
 * specials), stream-decode them and check that the stream's pieces add up to
 * the decoded text, decode arbitrary ids, look tokens up. Any failure must
 * come with a message; anything inconsistent aborts (a fuzz crash).
 */
#ifndef TESTS_FUZZ_FUZZ_COMMON_H
#define TESTS_FUZZ_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hf/error.h"
#include "tokenizer/tokenizer.h"

#define FUZZ_ASSERT(c) do { if (!(c)) abort(); } while (0)

/* A failing call must leave a message. */
static inline void fuzz_expect_message(int rc)
{
    if (rc < 0) FUZZ_ASSERT(hf_last_error()[0] != '\0');
}

/* Decodes ids three ways; the stream's pieces must concatenate to decode(). */
/* strict: also check that the stream adds up to decode() with specials
 * skipped (as generation streams). Not checked: made-up decoder chains such
 * as Strip(start=2) after Fuse, and kept specials of sentencepiece-only
 * directories, whose slow-tokenizer decode puts a space before the text that
 * precedes a special token (" 3<s>"), so no prefix-based stream can match. */
static inline void fuzz_decode_ids(const tk_tokenizer *tok, const int32_t *ids, size_t n, int strict)
{
    int32_t vocab = tk_tokenizer_vocab_size(tok);
    int in_vocab = 1;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab || !tk_tokenizer_id_to_token(tok, ids[i], NULL)) in_vocab = 0;
    for (int skip = 0; skip < 2; skip++) {
        char *text = NULL;
        size_t len = 0;
        hf_clear_error();
        int rc = tk_tokenizer_decode(tok, ids, n, skip, &text, &len);
        fuzz_expect_message(rc);
        if (rc == 0) FUZZ_ASSERT(text && strlen(text) <= len && text[len] == '\0');
        if (in_vocab && rc == HUBRT_ERR_RANGE) abort(); /* every vocab id decodes */
        char *clean = NULL;
        size_t clen = 0;
        int rc2 = tk_tokenizer_decode_text(tok, ids, n, skip, &clean, &clen);
        fuzz_expect_message(rc2);
        free(clean);

        tk_stream *st = tk_stream_new(tok, skip);
        FUZZ_ASSERT(st);
        char *cat = malloc(1);
        size_t cat_n = 0;
        FUZZ_ASSERT(cat);
        int srn = 0;
        for (size_t i = 0; i < n && !srn; i++) {
            const char *piece;
            size_t plen;
            srn = tk_stream_push(st, ids[i], &piece, &plen);
            fuzz_expect_message(srn);
            if (srn) break;
            char *g = realloc(cat, cat_n + plen + 1);
            FUZZ_ASSERT(g);
            cat = g;
            memcpy(cat + cat_n, piece, plen);
            cat_n += plen;
        }
        /* The stream holds back only an incomplete final character. */
        if (strict && skip && rc == 0 && !srn) FUZZ_ASSERT(cat_n <= len && memcmp(cat, text, cat_n) == 0);
        tk_stream_free(st);
        free(cat);
        free(text);
    }
}

/* Encodes text (+ pair), checks the ids, decodes them. */
static inline void fuzz_encode_text(const tk_tokenizer *tok, const char *text, size_t len, const char *pair,
                                    size_t pair_len, int strict)
{
    for (int add = 0; add < 2; add++) {
        tk_encoding enc;
        hf_clear_error();
        int rc = tk_tokenizer_encode(tok, text, len, pair, pair_len, add, &enc);
        fuzz_expect_message(rc);
        if (rc) continue;
        int32_t vocab = tk_tokenizer_vocab_size(tok);
        for (size_t i = 0; i < enc.n; i++) {
            /* Every produced id is a real token (the model can embed it). */
            FUZZ_ASSERT(enc.ids[i] >= 0 && enc.ids[i] < vocab);
            FUZZ_ASSERT(enc.type_ids[i] >= 0);
        }
        fuzz_decode_ids(tok, enc.ids, enc.n, strict);
        tk_encoding_free(&enc);
    }
}

/* Vocabulary queries over a few ids around the edges. */
static inline void fuzz_vocab(const tk_tokenizer *tok)
{
    int32_t vocab = tk_tokenizer_vocab_size(tok);
    const int32_t probe[] = { -1, 0, 1, vocab / 2, vocab - 1, vocab, INT32_MAX, INT32_MIN };
    for (size_t i = 0; i < sizeof probe / sizeof *probe; i++) {
        size_t len = 0;
        const char *t = tk_tokenizer_id_to_token(tok, probe[i], &len);
        (void)tk_tokenizer_is_special(tok, probe[i]);
        if (t) {
            int32_t back = tk_tokenizer_token_to_id(tok, t, len);
            FUZZ_ASSERT(back >= 0 && back < vocab);
        }
    }
    for (int w = -1; w <= HUBRT_TOK_N_SPECIAL; w++) {
        int32_t id = tk_tokenizer_special_id(tok, w);
        FUZZ_ASSERT(id >= -1);
    }
}

#endif
