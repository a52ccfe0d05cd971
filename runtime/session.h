/*
 * runtime/session.h — internal extras around sessions and forward passes
 * (the public part is in include/hubrt.h): a masked encoder pass and the
 * per-op profile (env HUBRT_PROFILE=1 when the session is created: the table
 * is printed on stderr when the session is freed; or
 * hubrt_session_set_profile()).
 */
#ifndef RUNTIME_SESSION_H
#define RUNTIME_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "include/hubrt.h"

/*
 * hubrt_encode with an attention mask: mask[n] (1 = real token, 0 = padding
 * key that no query attends to; NULL = all ones), as transformers'
 * attention_mask. Outputs as hubrt_encode.
 */
int rt_encode_masked(hubrt_model *m, const int32_t *ids, const int32_t *type_ids,
                        const uint8_t *mask, int n, float *hidden, float *pooled, float *logits);

/*
 * Several sequences in one encoder pass (the matrix multiplies run on all
 * rows at once): ids[n] holds n_seg sequences back to back, sequence s in
 * rows seg_start[s] .. seg_start[s+1]-1 (seg_start[n_seg + 1], from 0 to n,
 * every sequence non-empty). Each sequence attends only to its own tokens,
 * positions restart at 0 per sequence, token types are 0: row for row the
 * same last_hidden_state as one hubrt_encode per sequence (within float
 * noise). n <= max_position_embeddings. hidden[n][hidden_size]. 0 or a status.
 */
int rt_encode_packed(hubrt_model *m, const int32_t *ids, int n, const int *seg_start, int n_seg,
                        float *hidden);

/* Turns per-op timing on (1) or off (0) for this session; clears the totals. */
int hubrt_session_set_profile(hubrt_session *s, int on);
/*
 * The profile so far as a text table (per op kind, then the costliest nodes),
 * snprintf-style into buf; returns the full length, or a status.
 */
int hubrt_session_profile_report(const hubrt_session *s, char *buf, size_t cap);

/* The same table for hubrt_encode passes on a model (HUBRT_PROFILE=1; printed at model free). */
int hubrt_encode_profile_report(const hubrt_model *m, char *buf, size_t cap);

/* Width of the logits rows hubrt_forward / hubrt_encode write (vocab or labels), 0 if none. */
int hubrt_model_n_logits(const hubrt_model *m);
/* 1: causal LM (hubrt_forward); 0: encoder (hubrt_encode); negative: no weights loaded. */
int hubrt_model_is_causal(const hubrt_model *m);
/* 1 when hubrt_encode can fill pooled. */
int hubrt_model_has_pooler(const hubrt_model *m);

#endif
