/*
 * models/testmodel.h — writes tiny (or full-size) random hub-format model
 * directories: config.json + model.safetensors with the tensor names,
 * shapes and layouts transformers writes, for tests that need no reference
 * output and for speed measurements (tools/tool-make-model.c).
 *
 * Fault injection for loader tests: leave a tensor out, store one with its
 * two dimensions swapped, or store one as I32.
 */
#ifndef HUBRT_TESTMODEL_H
#define HUBRT_TESTMODEL_H

#include <stdint.h>

#include "include/hubrt.h"

typedef struct hubrt_testmodel_spec {
    const char *family;     /* "llama", "mistral", "qwen2", "gpt2", "bert" */
    int vocab, hidden, layers, heads, kv_heads, ffn, max_pos;
    int head_dim;           /* 0: hidden / heads (written to config.json when set) */
    hubrt_dtype dtype;      /* HUBRT_DTYPE_F32, F16 or BF16 */
    int tied;               /* tie_word_embeddings (llama family; gpt2/bert always tie) */
    int sliding_window;     /* mistral: > 0 */
    int no_prefix;          /* names without "model." / "transformer." / "bert." */
    int n_labels;           /* bert: > 0 writes BertForSequenceClassification (pooler + classifier) */
    int bias;               /* llama: attention_bias + mlp_bias (q/k/v/o and gate/up/down biases) */
    int old_ln_names;       /* bert: LayerNorm.gamma / LayerNorm.beta as old checkpoints have */
    uint64_t seed;
    const char *drop;       /* full tensor name to leave out, or NULL */
    const char *transpose;  /* full tensor name stored [d1, d0], or NULL */
    const char *int_dtype;  /* full tensor name stored as I32, or NULL */
} hubrt_testmodel_spec;

/* A small default spec for a family (vocab 97, hidden 32, 2 layers, f32). */
hubrt_testmodel_spec hubrt_testmodel_default(const char *family);
/* Creates dir (if needed) and writes config.json + model.safetensors. 0 or a status. */
int hubrt_testmodel_write(const char *dir, const hubrt_testmodel_spec *spec);

#endif
