/*
 * tests/fuzz/fuzz_tokenizer_json.c — libFuzzer target for tokenizer.json:
 * any text either loads (then encoding a few fixed texts and decoding the
 * ids, streamed too, works or fails with a message) or fails to load with a
 * message; never crash, leak, hang or exhaust memory.
 *
 *   make fuzz && build/fuzz/fuzz_tokenizer_json -max_total_time=60 build/fuzz/corpus_tokenizer_json
 */
#include "tests/fuzz/fuzz_common.h"

static const char *const json_texts[] = {
    "Hello world!", "  h\xC3\xA9llo, WORLD 123  4567 ", "[CLS] <s> </s> <unk> [MASK] a\tb\nc",
    "\xE4\xBD\xA0\xE5\xA5\xBD\xF0\x9F\x98\x80 don't", "\xE2\x96\x81x\xE2\x96\x81\xE2\x96\x81", "",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hf_clear_error();
    tk_tokenizer *tok = tk_tokenizer_load_json_memory((const char *)data, size, "fuzz.json");
    if (!tok) {
        FUZZ_ASSERT(hf_last_error()[0] != '\0');
        return 0;
    }
    fuzz_vocab(tok);
    for (size_t i = 0; i < sizeof json_texts / sizeof *json_texts; i++)
        fuzz_encode_text(tok, json_texts[i], strlen(json_texts[i]), i == 1 ? json_texts[0] : NULL,
                         i == 1 ? strlen(json_texts[0]) : 0, 0);
    /* A long word (WordPiece's per-word cap, BPE's quadratic merge loop). */
    char longw[600];
    for (size_t i = 0; i < sizeof longw; i++) longw[i] = (char)('a' + (i * 7) % 26);
    fuzz_encode_text(tok, longw, sizeof longw, NULL, 0, 0);
    /* Arbitrary ids, holes and all. */
    int32_t v = tk_tokenizer_vocab_size(tok);
    int32_t ids[8] = { 0, v - 1, v / 2, v, -1, 1, 2, 3 };
    fuzz_decode_ids(tok, ids, 8, 0);
    tk_tokenizer_free(tok);
    return 0;
}
