/*
 * tests/fuzz/fuzz_tokenizer_encode.c — libFuzzer target encoding arbitrary
 * bytes (invalid UTF-8 included) with real tokenizers from ../shared
 * (HUBRT_SHARED overrides): gpt2, bert-base-uncased, llama-2 (tokenizer.json
 * and tokenizer.model), t5-small. The first input byte picks the tokenizer;
 * the rest is the text. Invalid UTF-8 must give HUBRT_ERR_INVALID_UTF8; the
 * text with its bad bytes replaced is then encoded, and the ids decoded
 * (plainly and streamed). The input read as little-endian int32 ids is
 * decoded too (out-of-range ids give HUBRT_ERR_RANGE).
 *
 *   make fuzz && build/fuzz/fuzz_tokenizer_encode -max_total_time=60 build/fuzz/corpus_tokenizer_encode
 */
#include <stdio.h>

#include "tests/fuzz/fuzz_common.h"

static const char *const dirs[][2] = {
    { "tokenizers/gpt2", "tokenizer.json" },      { "tokenizers/bert-base-uncased", "tokenizer.json" },
    { "tokenizers/llama-2", "tokenizer.json" },   { "tokenizers/t5-small", "tokenizer.json" },
    { "tokenizers/llama-2", "tokenizer.model" },  { "tokenizers/gpt2", "vocab.json" },
};
#define N_TOK (sizeof dirs / sizeof *dirs)

static tk_tokenizer *toks[N_TOK];

static tk_tokenizer *get_tok(size_t k)
{
    if (!toks[k]) {
        const char *shared = getenv("HUBRT_SHARED");
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", shared && *shared ? shared : "../shared", dirs[k][0]);
        toks[k] = tk_tokenizer_load_file(dir, dirs[k][1]);
        if (!toks[k]) {
            fprintf(stderr, "fuzz_tokenizer_encode: cannot load %s: %s\n", dir, hf_last_error());
            abort();
        }
    }
    return toks[k];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    tk_tokenizer *tok = get_tok(data[0] % N_TOK);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    tk_encoding enc;
    hf_clear_error();
    int rc = tk_tokenizer_encode(tok, text, len, NULL, 0, 1, &enc);
    fuzz_expect_message(rc);
    if (rc == 0) {
        fuzz_decode_ids(tok, enc.ids, enc.n, 1);
        tk_encoding_free(&enc);
        fuzz_encode_text(tok, text, len, text, len / 2, 1);
    } else {
        FUZZ_ASSERT(rc == HUBRT_ERR_INVALID_UTF8);
        /* The same text with every non-ASCII byte made ASCII. */
        char *fixed = malloc(len + 1);
        FUZZ_ASSERT(fixed);
        for (size_t i = 0; i < len; i++) fixed[i] = (char)(data[1 + i] & 0x7F);
        fuzz_encode_text(tok, fixed, len, NULL, 0, 1);
        free(fixed);
    }

    /* The bytes as ids: in range or out, holes, specials. */
    size_t n = len / 4 > 64 ? 64 : len / 4;
    int32_t ids[64];
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, text + 4 * i, 4);
        /* mostly valid ids, sometimes anything */
        ids[i] = (u >> 31) ? (int32_t)u : (int32_t)(u % (uint32_t)(tk_tokenizer_vocab_size(tok) + 2));
    }
    /* not strict: a byte-fallback run that is not UTF-8 decodes to one U+FFFD
     * per byte, even bytes the stream already gave out as a valid character
     * ([<0x1E>] -> "\x1E", [<0x1E>, <0xFD>] -> two U+FFFD), as in HF */
    fuzz_decode_ids(tok, ids, n, 0);
    return 0;
}
