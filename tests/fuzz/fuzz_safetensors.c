/*
 * tests/fuzz/fuzz_safetensors.c — libFuzzer target for the safetensors
 * parser: any byte string must either open (and then every tensor view
 * lies inside the input and has a consistent size) or fail with a message;
 * never crash, leak or read out of bounds.
 *
 *   make fuzz && build/fuzz/fuzz_safetensors -max_total_time=60 tests/fuzz/corpus_safetensors
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hf/error.h"
#include "hf/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hf_st_file *f = hf_st_open_memory(data, size, "fuzz");
    if (!f) {
        if (!hf_last_error()[0]) abort(); /* every failure says why */
        return 0;
    }
    for (int i = 0; i < hf_st_count(f); i++) {
        const hf_tensor *t = hf_st_tensor(f, i);
        const uint8_t *p = t->data;
        if (p < data || p + t->n_bytes > data + size) abort();
        if ((size_t)t->n_elements * hf_dtype_size(t->dtype) != t->n_bytes) abort();
        if (hf_st_find(f, t->name) != t) abort();
        volatile uint8_t sink = 0;
        for (size_t k = 0; k < t->n_bytes; k += 4096) sink ^= p[k];
        (void)sink;
    }
    if (hf_st_copy_to_memory(f) == 0)
        for (int i = 0; i < hf_st_count(f); i++)
            if (hf_st_tensor(f, i)->n_bytes && (uintptr_t)hf_st_tensor(f, i)->data % 64) abort();
    hf_st_close(f);
    return 0;
}
