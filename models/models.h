/*
 * models/models.h — the model families' entry points (internal).
 *
 * hubrt_model_load() calls md_family_build() last, once config.json and the
 * weight files are loaded: the family maps the hub tensor names onto its
 * weights struct, checks every shape and builds its graph. hubrt_model_free()
 * calls md_family_free() before closing the weights.
 */
#ifndef MODELS_MODELS_H
#define MODELS_MODELS_H

#include "hf/config.h"
#include "hf/safetensors.h"
#include "include/hubrt.h"

typedef struct md_family md_family;

/* What a family is built from: a directory's parsed config and open weights. */
typedef struct md_source {
    const char *dir;             /* for messages */
    const hf_config *cfg;
    const hf_weights *weights;
    hubrt_quant quant;
    hubrt_weight_storage storage; /* how the weights were opened (AUTO maps them) */
    int n_threads;               /* >= 1 */
} md_source;

/* The family's weights and graph, or NULL with hf_set_error() naming the tensor and file. */
md_family *md_family_build(const md_source *src);
/* NULL-safe. */
void md_family_free(md_family *fs);

#endif
