/*
 * runtime/model.h — what a loaded hubrt_model holds (internal).
 *
 * hubrt_model_load() fills it in this order: resolve the directory (or
 * org/name in the HF cache), config.json, the weight files, the tokenizer,
 * then the family's weights struct and graph (models/).
 */
#ifndef RUNTIME_MODEL_H
#define RUNTIME_MODEL_H

#include <limits.h>

#include "include/hubrt.h"
#include "hf/config.h"
#include "hf/safetensors.h"
#include "models/models.h"

struct tk_tokenizer;

struct hubrt_model {
    char dir[PATH_MAX];             /* the resolved model directory */
    hubrt_load_params params;
    int has_config;                 /* 0 for tokenizer-only directories */
    hf_config cfg;
    hf_weights *weights;         /* NULL when tokenizer_only */
    struct tk_tokenizer *tok;    /* NULL when no_tokenizer or none found */
    md_family *family;              /* the family's weights and graph (models/); NULL when tokenizer_only */
};

/* The family's state of a loaded model (NULL for tokenizer-only models). */
static inline md_family *rt_family(const hubrt_model *m) { return m ? m->family : NULL; }

/* Physical cores in this process's affinity mask (what n_threads = 0 means). */
int rt_physical_cores(void);

#endif
