/*
 * tests/fuzz/fuzz_config.c — libFuzzer target for config.json parsing: any
 * text either parses into a config whose sizes are sane (positive, heads
 * dividing as promised) or fails with a message; never crash or leak.
 *
 *   make fuzz && build/fuzz/fuzz_config -max_total_time=60 tests/fuzz/corpus_config
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hf/config.h"
#include "hf/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    hf_config c;
    if (hf_config_parse(text, "fuzz.json", &c) == 0) {
        if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.n_layers <= 0 || c.n_heads <= 0 ||
            c.n_kv_heads <= 0 || c.n_heads % c.n_kv_heads || c.head_dim <= 0 ||
            c.intermediate_size <= 0 || c.max_positions <= 0 || !(c.norm_eps > 0))
            abort();
    } else if (!hf_last_error()[0]) {
        abort();
    }
    free(text);
    return 0;
}
