/*
 * models/models.h — the model families' entry points (internal).
 *
 * hubrt_model_load() calls hubrt_family_build() last, once config.json
 * (m->cfg) and the weight files (m->weights) are loaded: the family maps the
 * hub tensor names onto its weights struct, checks every shape, builds its
 * graph and keeps its state in m->family. hubrt_model_free() calls
 * hubrt_family_free() before closing the weights.
 */
#ifndef HUBRT_MODELS_H
#define HUBRT_MODELS_H

#include "runtime/model.h"

/* 0, or a status with hubrt_set_error() naming the tensor and file. */
int hubrt_family_build(hubrt_model *m);
/* Frees m->family (NULL-safe: called after a failed build too). */
void hubrt_family_free(hubrt_model *m);

#endif
