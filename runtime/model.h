/*
 * runtime/model.h — what a loaded hubrt_model holds (internal).
 *
 * hubrt_model_load() fills it in this order: resolve the directory (or
 * org/name in the HF cache), config.json, the weight files, the tokenizer,
 * then the family's weights struct and graph (models/).
 */
#ifndef HUBRT_MODEL_H
#define HUBRT_MODEL_H

#include <limits.h>

#include "include/hubrt.h"
#include "runtime/config.h"
#include "runtime/safetensors.h"

struct hubrt_tokenizer;

struct hubrt_model {
    char dir[PATH_MAX];             /* the resolved model directory */
    hubrt_load_params params;
    int has_config;                 /* 0 for tokenizer-only directories */
    hubrt_config cfg;
    hubrt_weights *weights;         /* NULL when tokenizer_only */
    struct hubrt_tokenizer *tok;    /* NULL when no_tokenizer or none found */
    void *family;                   /* models/<family>.c's state (weights, graph) */
};

/* Physical cores in this process's affinity mask (what n_threads = 0 means). */
int hubrt_physical_cores(void);

#endif
