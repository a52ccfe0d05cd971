/*
 * models/graph.h — a model's forward pass as a flat list of kernel calls,
 * and the executor that runs it.
 *
 * A family (models/<family>.c) builds one graph at load time: buffers (activations
 * [n][width] per row, fixed-size vectors, caller-provided outputs, KV-cache
 * slots) and nodes (one kernel call each, reading and writing buffers). The
 * sequence length n is a parameter of each run, not of the graph.
 *
 * md_graph_plan() places every arena buffer from its liveness (first and
 * last node that touches it), so buffers that are never live together share
 * memory; the arena is sized for at most n_cap rows and allocated once (by
 * the session), so a forward pass allocates nothing.
 *
 * md_graph_run() executes the nodes in order inside ONE OpenMP parallel
 * region: every thread walks the same node list, the kernels split each
 * node's work among the team and end with a barrier (kernels/kernels.h:
 * "team-callable"). With a profile array it also adds each node's wall time.
 */
#ifndef MODELS_GRAPH_H
#define MODELS_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

/* Largest head_dim a model may have (md_family_build checks it; a sane bound on config.json). */
#define MD_MAX_HEAD_DIM 1024

/* What a buffer is. */
typedef enum md_buf_kind {
    MD_BUF_ROWS,  /* arena, [n][width] activations */
    MD_BUF_FIXED, /* arena, [width] (one row whatever n is) */
    MD_BUF_EXT,   /* a caller's output pointer bound per run (md_ext) */
    MD_BUF_KV     /* a KV-cache slot: layer's K or V, [n_kv_heads][kv_stride][head_dim] */
} md_buf_kind;

/* Caller-provided outputs; a NULL one turns off the nodes that need it. */
typedef enum md_ext {
    MD_EXT_LOGITS = 0, /* [rows][vocab]: the rows MD_ROWS_OUT selects */
    MD_EXT_HIDDEN = 1, /* [n][hidden] last_hidden_state */
    MD_EXT_POOLED = 2, /* [hidden] pooler_output */
    MD_EXT_COUNT
} md_ext;

/* Which rows of its input a node works on. */
typedef enum md_rows {
    MD_ROWS_ALL = 0, /* rows 0..n-1 */
    MD_ROWS_FIRST,   /* row 0 only ([CLS] for the pooler) -> 1 output row */
    MD_ROWS_LAST,    /* row n-1 only -> 1 output row */
    MD_ROWS_OUT      /* the rows the run wants logits for (md_run: logits_all, out_rows),
                      * else the last -> that many output rows, in order */
} md_rows;

/* Where an embedding node takes its row indices from. */
typedef enum md_ids { MD_IDS_TOKENS, MD_IDS_TYPES, MD_IDS_POSITIONS } md_ids;

typedef enum md_op {
    MD_EMBED,     /* out[n][d] = table[ids[i]] (widened to f32) */
    MD_ADD,       /* out = a + b */
    MD_MUL,       /* out = a * b */
    MD_LAYERNORM, /* out = LayerNorm(a; vec0 = weight, vec1 = bias, eps) */
    MD_RMSNORM,   /* out = RMSNorm(a; vec0 = weight, eps) */
    MD_MATMUL,    /* out = a · Wᵀ (+ vec0 = bias) */
    MD_ROPE,      /* a rotated in place (rotate-half), rows at pos0 + i */
    MD_KV_STORE,  /* KV slot out[kvh][pos0 + i][:] = a[i][kvh*head_dim ...] */
    MD_ATTENTION, /* out = softmax(a·Kᵀ·scale + mask)·V; K = buffer b, V = buffer c */
    MD_GELU, MD_GELU_TANH, MD_SILU, MD_RELU, MD_TANH, /* in place on a (out == a) */
    MD_SILU_MUL,  /* out = silu(a) * b */
    MD_COPY,      /* out = a */
    /*
     * a = fused projections [n][(H + 2*KV)*hd] (q heads, k heads, v heads):
     * out = q [n][H*hd] (RoPE'd when inv_freq), K slot b and V slot c get
     * k (RoPE'd) and v at pos0 + i. Replaces split + 2 RoPE + 2 stores.
     */
    MD_QKV_SPLIT,
    /*
     * a = fused [n][2*d] (gate | up): out[n][d] = silu(gate) * up.
     */
    MD_SWIGLU,
    /*
     * Residual add and the next norm in one node: a += b (in place), then
     * out = RMSNorm(a; vec0, eps) (norm MD_NORM_RMS) or LayerNorm(a; vec0,
     * vec1, eps) (MD_NORM_LAYER). Saves a barrier per residual.
     */
    MD_ADD_NORM,
    MD_OP_COUNT
} md_op;

/* The norm of an MD_ADD_NORM node. */
typedef enum md_norm { MD_NORM_RMS = 0, MD_NORM_LAYER = 1 } md_norm;

typedef struct md_buf {
    md_buf_kind kind;
    int width;        /* floats per row (MD_BUF_ROWS) or in all (MD_BUF_FIXED) */
    int ext;          /* MD_BUF_EXT: which md_ext */
    int layer, is_v;  /* MD_BUF_KV */
    int first, last;  /* liveness: first and last node index using it */
} md_buf;

typedef struct md_node {
    md_op op;
    md_rows rows;
    unsigned need;           /* bit e set: run only if ext output e is wanted (0: always) */
    int out, a, b, c;        /* buffer ids, -1 when unused */
    const hk_weight *w;      /* MD_MATMUL */
    const float *vec0, *vec1; /* bias / norm weight / norm bias (f32) */
    float eps;               /* norms */
    md_norm norm;            /* MD_ADD_NORM: which norm follows the add */
    /* MD_EMBED */
    hk_wtype table_type;
    const void *table;
    int d;                   /* row width of the table */
    md_ids ids;
    int table_interleaved;   /* table is in hk_weight_repack's layout (a tied LM head in the arena) */
    /* MD_ROPE, MD_KV_STORE, MD_ATTENTION */
    int n_heads, n_kv_heads, head_dim;
    const float *inv_freq;
    int causal, window;
    float scale;
    char name[40];           /* for the profile: "L3.residual1+mlp_norm" (truncated) */
} md_node;

typedef struct md_graph {
    md_buf *bufs;
    int n_bufs, cap_bufs;
    md_node *nodes;
    int n_nodes, cap_nodes;
    int failed;              /* an allocation failed while building */
} md_graph;

/* Builder. Buffer/node adders return an id (>= 0) or -1 (out of memory, g->failed set). */
void md_graph_init(md_graph *g);
void md_graph_free(md_graph *g);
int md_rows_buf(md_graph *g, int width);
int md_fixed_buf(md_graph *g, int width);
int md_ext_buf(md_graph *g, md_ext ext, int width);
int md_kv_buf(md_graph *g, int layer, int is_v, int width);
/* Appends a node (copied); returns its index or -1. */
int md_add(md_graph *g, const md_node *node);
/* A node with op/out/a/b set and everything else neutral, to fill in further. */
md_node md_node_make(md_op op, int out, int a, int b, const char *name);

/*
 * Plans the arena for runs of at most n_cap rows: writes every arena
 * buffer's offset (in floats) to offsets[n_bufs]; returns the arena size in
 * floats or (size_t)-1 on overflow / out of memory. The graph is not
 * changed, so sessions with different n_cap share one graph.
 */
size_t md_graph_plan(const md_graph *g, int n_cap, size_t *offsets);
/* Sum of arena buffer sizes without sharing, in floats (to report the saving). */
size_t md_graph_unplanned_size(const md_graph *g, int n_cap);

/*
 * Causal LMs: one sequence of a pass — its rows, its positions and its KV
 * cache. The nodes that touch positions or the cache (RoPE, KV store, q|k|v
 * split, attention) run once per sequence, on its rows only, so every
 * sequence of a pass is computed exactly as it would be alone; the other
 * nodes work row by row (batch-invariant kernels, kernels.h).
 */
typedef struct md_seq {
    int row0, n;               /* rows [row0, row0 + n) of the pass */
    int pos0;                  /* position of row0 = tokens already in its cache */
    float *kv_k, *kv_v;        /* its cache: [layer][n_kv_heads][kv_stride][head_dim] */
    size_t kv_layer_floats;    /* floats per layer in kv_k / kv_v */
    int kv_stride;             /* positions reserved per kv head */
} md_seq;

/* One forward pass's inputs and outputs. */
typedef struct md_run {
    int n;                     /* rows in this pass (1..n_cap) */
    /*
     * Several sequences in one pass (causal LMs): seqs[n_seqs] in row order,
     * covering rows 0..n-1; pos0 and kv_* below are then not used. 0: the n
     * rows are one sequence at pos0 with the cache below (or, for encoders,
     * K and V in the arena).
     */
    const md_seq *seqs;
    int n_seqs;
    int pos0;                  /* absolute position of row 0 (tokens already cached) */
    const int32_t *ids;        /* [n] token ids (validated by the caller) */
    const int32_t *type_ids;   /* [n] token type ids */
    const int32_t *positions;  /* [n] position ids (pos0 + i) */
    const uint8_t *key_mask;   /* [pos0 + n] 0 = padding key, or NULL */
    float *ext[MD_EXT_COUNT];  /* caller outputs (NULL = not wanted) */
    int logits_all;            /* 1: MD_ROWS_OUT means all rows, else out_rows (or the last) */
    /*
     * With logits_all 0: the n_out rows MD_ROWS_OUT nodes work on (ascending;
     * NULL = the last row). When they are not one run of consecutive rows the
     * node's input rows are first gathered into gather ([n_out][input width]
     * floats, provided by the caller).
     */
    const int32_t *out_rows;
    int n_out;
    float *gather;
    float *arena;              /* md_graph_plan()'s size, for n_cap rows */
    const size_t *offsets;     /* md_graph_plan()'s offsets for this arena */
    int n_cap;
    float *kv_k, *kv_v;        /* KV cache: [layer][n_kv_heads][kv_stride][head_dim] */
    size_t kv_layer_floats;    /* floats per layer in kv_k / kv_v */
    int kv_stride;             /* positions reserved per kv head */
    int n_threads;
    double *profile;           /* [n_nodes] seconds added per node, or NULL */
    /*
     * Encoder batches: n_seg > 0 packs n_seg sequences into the n rows,
     * sequence s in rows seg_start[s] .. seg_start[s+1]-1 (seg_start[0] = 0,
     * seg_start[n_seg] = n). Attention then stays inside each sequence
     * (block-diagonal); positions come per row from positions[]. Needs
     * pos0 = 0 and no KV cache. 0 (memset): one sequence.
     */
    int n_seg;
    const int *seg_start;      /* [n_seg + 1] */
} md_run;

/* Runs every node once; nothing is allocated. */
void md_graph_run(const md_graph *g, const md_run *r);

/* A short name of an op ("matmul") for profiles. */
const char *md_op_name(md_op op);

#endif
