/*
 * models/build.h — helpers that append one graph node each, so that a
 * family's graph build reads like its forward pass:
 *
 *   h   = md_normalize(b, x, &ly->attn_norm, "attn_norm");
 *   qkv = md_matmul(b, h, ly->wqkv, ly->bqkv, "qkv_proj");
 *   a   = md_attention(b, q, k, v, &heads, window, scale, "attention");
 *
 * A helper that returns a buffer id makes a new [n][width] buffer for its
 * result; the *_to forms write into a buffer the caller made (an output, a
 * KV slot, or one made early to keep the buffer order). While b->layer >= 0
 * node names carry it ("L3.qkv_proj", what the profile shows). Out of
 * memory sets g->failed; md_family_build checks it once at the end.
 */
#ifndef MODELS_BUILD_H
#define MODELS_BUILD_H

#include "hf/config.h"
#include "models/graph.h"

typedef struct md_builder {
    md_graph *g;
    int layer;     /* names nodes "L<layer>.<name>"; -1: the name as given */
    md_norm norm;  /* the family's norm (RMSNorm or LayerNorm) */
    float eps;     /* and its epsilon */
    int causal;    /* attention hides later keys (decoders) */
    md_rows rows;  /* rows each new node works on (MD_ROWS_ALL but in the heads) */
    unsigned need; /* outputs each new node is needed for (0: always run) */
} md_builder;

/* A norm's f32 vectors, [width] each; bias NULL for RMSNorm. */
typedef struct md_norm_w {
    const float *weight, *bias;
} md_norm_w;

/* An embedding table as an MD_EMBED node reads it: [rows][d] of type. */
typedef struct md_table {
    hk_wtype type;
    const void *data;
    int d;
    int interleaved; /* in hk_weight_repack's layout (the tied LM head's arena copy) */
} md_table;

/* The attention heads' shape, and RoPE's inv_freq[head_dim / 2] (NULL: no RoPE). */
typedef struct md_heads {
    int n_heads, n_kv_heads, head_dim;
    const float *inv_freq;
} md_heads;

/* A builder over g: layer -1, every row, always run. */
md_builder md_builder_init(md_graph *g, md_norm norm, float eps, int causal);

/* x = table[ids] (ids: tokens, positions or token types)  -> [n][t->d] */
int md_embed(md_builder *b, const md_table *t, md_ids ids, const char *name);
/* x += y */
void md_add_to(md_builder *b, int x, int y, const char *name);
/* norm(x) with the builder's norm */
int md_normalize(md_builder *b, int x, const md_norm_w *w, const char *name);
/* x += y, then norm(x), in one node */
int md_add_norm(md_builder *b, int x, int y, const md_norm_w *w, const char *name);
/* x·Wᵀ (+ bias)  -> [n][w->rows] */
int md_matmul(md_builder *b, int x, const hk_weight *w, const float *bias, const char *name);
void md_matmul_to(md_builder *b, int out, int x, const hk_weight *w, const float *bias, const char *name);
/* x = act(x) in place (md_act_op's MD_GELU, ..., or MD_TANH) */
void md_activate(md_builder *b, md_op act, int x, const char *name);
/*
 * qkv = [n][(H + 2*KV)*hd] (q heads, k heads, v heads): q -> q (RoPE'd when
 * h->inv_freq), k (RoPE'd) and v stored into the K and V buffers at pos0 + i.
 */
void md_qkv_split(md_builder *b, int q, int qkv, int k, int v, const md_heads *h, const char *name);
/* x (n_heads heads of head_dim) rotated in place at positions pos0 + i */
void md_rope(md_builder *b, int x, int n_heads, int head_dim, const float *inv_freq, const char *name);
/* KV slot[kvh][pos0 + i][:] = x[i][kvh*head_dim ...] */
void md_kv_store(md_builder *b, int slot, int x, int n_kv_heads, int head_dim, const char *name);
/* softmax(q·Kᵀ·scale + mask)·V (causal per the builder, window > 0: sliding)  -> [n][H*hd] */
int md_attention(md_builder *b, int q, int k, int v, const md_heads *h, int window, float scale,
                 const char *name);
/* out = silu(gate) * up from gate_up = [n][2F] (scratch [n][F]: up when n > 1) */
void md_swiglu(md_builder *b, int out, int gate_up, const char *name);
/* out = silu(gate) * up */
void md_silu_mul(md_builder *b, int out, int gate, int up, const char *name);
/* out = x */
void md_copy_to(md_builder *b, int out, int x, const char *name);
/*
 * A decoder's head, run only when the caller wants logits (all rows or just
 * the last): logits = norm(x + last) · lm_headᵀ into the MD_EXT_LOGITS output.
 */
void md_lm_head(md_builder *b, int x, int last, const md_norm_w *norm, const hk_weight *lm_head,
                const char *norm_name);

/* The in-place activation op for a config act (MD_GELU, ...). */
md_op md_act_op(hf_act act);

#endif
