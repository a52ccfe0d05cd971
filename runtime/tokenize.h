/*
 * runtime/tokenize.h — tokenizing into a growing buffer (internal), for the
 * library's own callers of hubrt_tokenize (generation, embeddings).
 */
#ifndef RUNTIME_TOKENIZE_H
#define RUNTIME_TOKENIZE_H

#include <stdint.h>

#include "include/hubrt.h"

/*
 * hubrt_tokenize into *ids, a malloc'd buffer of *cap ids (NULL / 0 to
 * start) grown as needed, so one buffer serves many texts. Returns the
 * number of ids or a negative status (fn names the caller in messages);
 * the caller frees *ids.
 */
int rt_tokenize_grow(const hubrt_model *m, const char *text, int add_special, int32_t **ids, int *cap,
                     const char *fn);

#endif
