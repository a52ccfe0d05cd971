/*
 * runtime/session.h — what a session holds (its passes run in
 * runtime/forward.c), and internal encoder passes beyond hubrt_encode (the
 * public part is in include/hubrt.h): one with an attention mask, and
 * several sequences packed into one pass (hubrt_embed_batch).
 */
#ifndef RUNTIME_SESSION_H
#define RUNTIME_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "include/hubrt.h"
#include "models/models.h"

/* Rows per pass: long prompts are split into passes of this many tokens. */
#define SESSION_MAX_ROWS 512

/* A causal LM's sequence: everything its passes need, allocated by hubrt_session_new. */
struct hubrt_session {
    const hubrt_model *model;
    const md_family *fs;
    int max_tokens;          /* KV cache capacity (context) */
    int n_past;              /* tokens in the cache */
    int n_cap;               /* rows per pass: min(max_tokens, SESSION_MAX_ROWS) */
    float *kv_k, *kv_v;      /* [L][KV][max_tokens][hd] */
    size_t kv_layer_floats;
    float *arena;            /* activations, planned for n_cap rows */
    size_t *offsets;         /* [n_bufs] arena plan */
    int32_t *positions;      /* [n_cap] a pass's position ids */
    int32_t *ids;            /* [n_cap] a pass's token ids */
    double *profile;         /* [n_nodes] seconds, or NULL */
    long profile_passes;
    int profile_env;         /* HUBRT_PROFILE set: the table goes to stderr at free */
};

/*
 * HUBRT_ERR_RANGE naming fn, what ("token id") and the position of the
 * first of ids[n] outside [0, vocab); else 0.
 */
int rt_check_ids(const int32_t *ids, int n, int vocab, const char *fn, const char *what);

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
