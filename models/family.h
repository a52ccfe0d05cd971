/*
 * models/family.h — what the three families share (internal): the state a
 * loaded model keeps in m->family, and the helpers that turn hub tensor
 * names into checked kernel weights.
 *
 * Each family file (bert.c, gpt2.c, llama.c) works in two steps. Load: look
 * the tensors up by the hub's names (trying the checkpoint prefixes the
 * model may have been saved with), check dtype and shape, and place every
 * weight into the family's weights struct. Build: append the graph from that
 * struct with the node helpers of models/build.h.
 *
 * Placement (models/placement.c) follows md_placement, chosen once per load:
 * matrices keep their stored dtype and are by default copied in model order
 * into a 2 MiB huge-page weight arena, rows interleaved in groups of 4 for
 * the decode GEMV (q|k|v and gate|up stacked so one matmul does each;
 * GPT-2's Conv1D [in, out] matrices transposed on the way; the LM head too,
 * even when tied: the embedding lookups read the file map), the loader's
 * pages of the originals then released so memory holds one copy (AUTO
 * storage copies straight from the file map: one copy in all,
 * hubrt_model_load); with explicit mmap storage as plain views; with quant
 * on as owned Q8/Q4 copies. Small vectors (norm weights, biases) are
 * widened to f32.
 */
#ifndef MODELS_FAMILY_H
#define MODELS_FAMILY_H

#include <stdatomic.h>

#include "kernels/kernels.h"
#include "models/models.h"
#include "models/graph.h"
#include "models/build.h"

struct md_family {
    md_graph graph;
    int causal;          /* 1: decoder with a KV cache (hubrt_forward); 0: encoder (hubrt_encode) */
    int vocab;           /* rows of the token embedding: ids must be < vocab */
    int hidden;          /* width of the residual stream */
    int n_layers, n_kv_heads, head_dim; /* the KV cache's shape (causal) */
    int max_positions;   /* context: learned positions cap it; RoPE models use the config's */
    int type_vocab;      /* BERT token types (0 elsewhere) */
    int n_logits;        /* width of an MD_EXT_LOGITS row: vocab (LM / MLM), labels, or 0 */
    int logits_per_sequence; /* 1: logits is one row for the whole input (sequence classification) */
    int has_pooler;
    int n_threads;
    /* owned resources */
    hk_weight **weights; /* every hk_weight the graph points at */
    int n_weights, cap_weights;
    void **blocks;       /* f32 vectors, inv_freq, ... */
    int n_blocks, cap_blocks;
    unsigned char *wchunk; /* current chunk of the weight arena (also listed in blocks) */
    size_t wchunk_used, wchunk_size;
    /* linear layers stored pre-quantised (models/quantized.c), for hubrt_model_info */
    int64_t gq_weights;    /* weights they hold */
    int64_t gq_file_bytes; /* bytes of their tensors in the files (codes, scales, zeros, g_idx) */
    int64_t gq_bytes;      /* bytes of their repacked HK_GQ4/HK_GQ8 copies */
};

/*
 * Where the weights go, and so which graph shape the LLaMA family builds:
 * decided once per load from the storage mode, with two environment
 * overrides for A/B measurements (HUBRT_FUSE=0, HUBRT_INTERLEAVE=0).
 */
typedef struct md_placement {
    int arena;         /* 1: matrices copied into the huge-page weight arena;
                        * 0 (explicit mmap storage): views into the file map */
    int source_mapped; /* 1: the tensors are in a file map (AUTO, MMAP), so a copied
                        * tensor's pages can be dropped (they refault if read again);
                        * 0: the loader's COPY memory, which would read back as zeros */
    int interleave;    /* arena matrices in hk_weight_repack's layout (rows in groups of
                        * 4), which the decode GEMV streams fastest; 0: plain rows */
    int fuse;          /* LLaMA: layer matrices in the arena with q|k|v and gate|up
                        * stacked, one matmul each; 0 (explicit mmap storage or
                        * HUBRT_FUSE=0): every projection a view with its own matmul.
                        * BERT and GPT-2 always run one q|k|v matmul. */
} md_placement;

/* The placement for src (models/placement.c). */
md_placement md_placement_choose(const md_source *src);

/* ---- helpers for family files (models/family.c, models/placement.c) ----- */

typedef struct md_ctx {
    const md_source *src;
    md_family *fs;
    md_placement place;
    const char *const *prefixes; /* tried in order, e.g. {"model.", "", NULL} */
    const hf_tensor *keep;    /* read at run time even when quantised (the embedding table) */
    const char *layer_stem;   /* layer tensor names: "<stem><layer>.<name>", e.g. "layers." */
    int layer;                /* the layer being loaded */
    char name[160];           /* md_lname's result */
} md_ctx;

/*
 * The tensor prefix+name for the first prefix that has it. Missing: NULL,
 * and when required an error naming the tensor and the directory.
 */
const hf_tensor *md_find(md_ctx *c, const char *name, int required);
/* Same without prefixes (e.g. "lm_head.weight", "cls.predictions.bias"). */
const hf_tensor *md_find_exact(md_ctx *c, const char *name, int required);
/* The current layer's tensor name "<c->layer_stem><c->layer>.<name>"; valid until the next call. */
const char *md_lname(md_ctx *c, const char *name);
/* Checks t is f32/f16/bf16 with shape [d0] (d1 < 0) or [d0, d1]; 0 or a status. */
int md_check(const hf_tensor *t, int64_t d0, int64_t d1);
/* The hk_wtype of a checked float tensor. */
hk_wtype md_wtype(const hf_tensor *t);
/* The LM head's stored [vocab][hidden] tensor: emb when tied, else lm_head.weight (NULL + error if absent). */
const hf_tensor *md_head_tensor(md_ctx *c, const hf_tensor *emb);

/*
 * A [rows][cols] matrix (checked) as a weight: a view, or quantised per the
 * load params (the stored tensor's pages are then released unless it is
 * c->keep, so memory holds the quantised copy only).
 */
const hk_weight *md_matrix(md_ctx *c, const hf_tensor *t, int rows, int cols);
/*
 * Conv1D: columns [col0, col0 + out) of a stored [in][total_out] matrix as an
 * [out][in] weight, placed like md_matrix_concat's.
 */
const hk_weight *md_matrix_conv1d(md_ctx *c, const hf_tensor *t, int in, int total_out,
                                   int col0, int out);
/*
 * Several [rows[i]][cols] matrices stacked into one [sum rows][cols] weight
 * in the huge-page arena (same dtype; rows interleaved per c->place;
 * quantised per the load params), so one matmul computes q|k|v or gate|up.
 * The stored tensors' pages are released as they are copied (c->keep too
 * when it is in a file map, never in COPY memory).
 */
const hk_weight *md_matrix_concat(md_ctx *c, const hf_tensor *const *ts, const int *rows, int nt, int cols);
/*
 * A matrix copied into the weight arena (huge pages, model order; the
 * stored pages released), or a plain view with explicit mmap storage or
 * for c->keep in COPY memory.
 */
const hk_weight *md_matrix_owned(md_ctx *c, const hf_tensor *t, int rows, int cols);
/*
 * The checked [rows][d] embedding table t as lookups read it: a view
 * (explicit mmap, COPY memory), the tied LM head's arena copy (in its
 * interleaved layout) when tied_head is t's placed copy, or else a plain
 * copy in the arena, so that lookups never read the file map. 0 or a status.
 */
int md_embed_table(md_ctx *c, const hf_tensor *t, const hk_weight *tied_head, md_table *tab);
/* The checked [rows][d] table t read in place (positions, token types). */
md_table md_table_view(const hf_tensor *t);
/* f32 vectors stacked (a NULL part is zeros); NULL when all parts are NULL. */
const float *md_vector_concat(md_ctx *c, const float *const *vs, const int *lens, int n);
/*
 * Drops the resident pages of a stored tensor the model will never read again
 * (GPT-2's Conv1D matrices once transposed), so the weights are not held
 * twice. Only for tensors consumed at load: their data must not be read after.
 */
void md_release(const hf_tensor *t);
/* A found tensor t (NULL = missing, already reported) checked as [len] and widened; sets *err on failure. */
const float *md_checked_vector(md_ctx *c, const hf_tensor *t, int len, int *err);
/* Required vector by (prefixed) name, checked [len]. Sets *err on failure. */
const float *md_req_vector(md_ctx *c, const char *name, int len, int *err);
/* Owned zeroed memory freed with the model. */
void *md_alloc(md_ctx *c, size_t bytes);
/* 64-byte aligned memory in the huge-page weight arena (not zeroed), freed with the model; NULL + error. */
void *md_weight_alloc(md_ctx *c, size_t bytes);
/* A new hk_weight the model owns (zeroed); NULL + error. */
hk_weight *md_new_weight(md_ctx *c);

/* ---- linear layers, whatever their storage (models/quantized.c) --------- */

/*
 * The [rows][cols] weight of linear layer `name` (found with md_find's
 * prefixes; "layers.3.mlp.down_proj", "lm_head"): "<name>.weight" placed as
 * md_matrix does (owned: as md_matrix_owned), or, when the checkpoint stores
 * the layer pre-quantised (config.json's quantization_config: GPTQ qweight /
 * qzeros / scales / g_idx, AWQ GEMM qweight / qzeros / scales,
 * compressed-tensors weight_packed / weight_scale / weight_shape /
 * weight_zero_point / weight_g_idx), its codes checked against the config
 * and repacked losslessly as an HK_GQ4 / HK_GQ8 weight. NULL + an error
 * naming the tensor and file.
 */
const hk_weight *md_linear(md_ctx *c, const char *name, int rows, int cols, int owned);
/*
 * Linear layers stacked into one weight (q|k|v, gate|up) as
 * md_matrix_concat does, float or pre-quantised alike. When they cannot
 * share one matmul (mixed storage, different act-order channel orders):
 * NULL, *separate = 1 and no error; load them one by one with md_linear.
 */
const hk_weight *md_linear_concat(md_ctx *c, const char *const *names, const int *rows, int n, int cols,
                                  int *separate);
/* 1 when linear layer `name` is stored pre-quantised (qweight or weight_packed). */
int md_linear_quantised(md_ctx *c, const char *name);

/* RoPE inv_freq[head_dim/2] for theta and rope_scaling (linear, llama3) as transformers computes it. */
void md_rope_frequencies(const hf_config *cfg, int head_dim, float *inv_freq);

/* Load and build one family: 0, or a status with the error set. */
int md_bert_build(md_ctx *c);
int md_gpt2_build(md_ctx *c);
int md_llama_build(md_ctx *c);

#endif
