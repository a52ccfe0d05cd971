/*
 * runtime/session.h — internal encoder passes beyond hubrt_encode (the
 * public part is in include/hubrt.h): one with an attention mask, and
 * several sequences packed into one pass (hubrt_embed_batch).
 */
#ifndef RUNTIME_SESSION_H
#define RUNTIME_SESSION_H

#include <stdint.h>

#include "include/hubrt.h"

/*
 * hubrt_encode with an attention mask: mask[n] (1 = real token, 0 = padding
 * key that no query attends to; NULL = all ones), as transformers'
 * attention_mask. Outputs as hubrt_encode.
 */
int rt_encode_masked(const hubrt_model *m, const int32_t *ids, const int32_t *type_ids,
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
int rt_encode_packed(const hubrt_model *m, const int32_t *ids, int n, const int *seg_start, int n_seg,
                     float *hidden);

#endif
