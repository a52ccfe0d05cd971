/*
 * runtime/sampler.h — picks the next token from a row of logits (internal).
 *
 * The pipeline follows transformers' logits processors, in their order:
 *
 *   repetition penalty (last N ids) -> greedy argmax when temperature == 0
 *   -> temperature -> top-k -> top-p (nucleus) -> min-p -> draw
 *
 * The draw uses a private xoshiro256** generator seeded from
 * hubrt_sample_params.seed, so the same seed and the same logits give the
 * same ids on every machine. A sampler is not thread-safe; use one per
 * sequence.
 */
#ifndef RUNTIME_SAMPLER_H
#define RUNTIME_SAMPLER_H

#include <stdint.h>

#include "include/hubrt.h"

typedef struct rt_sampler rt_sampler;

/* Checks params (HUBRT_ERR_INVALID_ARG naming the field) and allocates the
 * scratch for n_vocab logits. NULL + hubrt_last_error() on failure. */
rt_sampler *rt_sampler_new(const hubrt_sample_params *params, int n_vocab);
void rt_sampler_free(rt_sampler *s);
/* Validates params without allocating: 0 or HUBRT_ERR_INVALID_ARG. */
int rt_sampler_check_params(const hubrt_sample_params *params);

/* Forgets the history and re-seeds the generator (same as a new sampler). */
void rt_sampler_reset(rt_sampler *s);
/* Records an id (prompt or generated) for the repetition penalty window. */
void rt_sampler_accept(rt_sampler *s, int32_t id);

/* The next id from logits[n_vocab] (not modified), or a negative status
 * (HUBRT_ERR_FORMAT when every logit is -inf or NaN). Does not accept it. */
int32_t rt_sampler_sample(rt_sampler *s, const float *logits);

/* The distribution the next draw would use: probs[n_vocab] with zeros for
 * the tokens cut off (for greedy: 1 at the argmax). Does not draw. 0 or a
 * negative status. Used by the tests and by callers that want to inspect. */
int rt_sampler_probs(rt_sampler *s, const float *logits, float *probs);

/* A uniform double in [0, 1) from the sampler's generator (for tests). */
double rt_sampler_uniform(rt_sampler *s);

#endif
