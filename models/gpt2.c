/*
 * models/gpt2.c — GPT2LMHeadModel / GPT2Model.
 *
 * GPT-2 stores its projections as Conv1D weights W[in][out] (y = x·W + b),
 * transposed compared with nn.Linear; c_attn fuses q, k and v into one
 * [D][3D] matrix (kept fused: one matmul, then a split node). At load each
 * is turned into an owned [out][in] kernel weight (same dtype), so the
 * forward pass uses the same matmul as everything else; the stored
 * matrices' pages are then released (md_release), so resident memory stays
 * about one copy of the weights. Names come with or without the
 * "transformer." prefix.
 *
 * The forward pass, as in transformers' modeling_gpt2.py:
 *   x = wte[ids] + wpe[pos0 + i]                               [n][D]
 *   per layer:
 *     h = LayerNorm(x; ln_1)
 *     q|k|v = h·c_attn + b  (one matmul)                      [n][3D]
 *     K[l], V[l] <- k, v;  a = softmax(q·Kᵀ/sqrt(hd), causal)·V
 *     x = x + a·c_proj + b
 *     h = LayerNorm(x; ln_2)
 *     x = x + gelu_new(h·c_fc + b)·mlp.c_proj + b
 *   logits = LayerNorm(x; ln_f) · wteᵀ                          [rows][vocab] (lm_head tied)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/family.h"
#include "hf/error.h"

/* One block's weights: [out][in] matrices (transposed from Conv1D's [in][out]), f32 vectors. */
typedef struct gpt2_layer {
    md_norm_w ln_1;             /* [D] weight and bias */
    const hk_weight *wqkv;      /* [3D][D] from attn.c_attn [D][3D]: q | k | v */
    const float *bqkv;          /* [3D] */
    const hk_weight *wo;        /* [D][D] from attn.c_proj */
    const float *bo;            /* [D] */
    md_norm_w ln_2;             /* [D] */
    const hk_weight *wfc;       /* [F][D] from mlp.c_fc [D][F] */
    const float *bfc;           /* [F] */
    const hk_weight *wproj;     /* [D][F] from mlp.c_proj [F][D] */
    const float *bproj;         /* [D] */
} gpt2_layer;

typedef struct gpt2_weights {
    md_table wte;               /* [V][D] token embeddings */
    md_table wpe;               /* [P][D] position embeddings */
    gpt2_layer *layers;         /* [L] */
    md_norm_w ln_f;             /* [D] */
    const hk_weight *lm_head;   /* [V][D]: wte (tied) */
} gpt2_weights;

/* ---- load ---------------------------------------------------------------- */

/* The layer's Conv1D `name` [in][out] as an owned [out][in] weight. */
static const hk_weight *conv1d(md_ctx *c, const char *name, int in, int out)
{
    const hf_tensor *t = md_find(c, md_lname(c, name), 1);
    if (!t) return NULL;
    const hk_weight *w = md_matrix_conv1d(c, t, in, out, 0, out);
    if (w) md_release(t); /* the owned copy replaces it */
    return w;
}

/* Layer c->layer's tensors into ly. */
static int load_layer(md_ctx *c, gpt2_layer *ly)
{
    const hf_config *cfg = c->src->cfg;
    const int D = cfg->hidden_size, F = cfg->intermediate_size;
    int err = 0;
    ly->ln_1.weight = md_req_vector(c, md_lname(c, "ln_1.weight"), D, &err);
    ly->ln_1.bias = md_req_vector(c, md_lname(c, "ln_1.bias"), D, &err);
    ly->ln_2.weight = md_req_vector(c, md_lname(c, "ln_2.weight"), D, &err);
    ly->ln_2.bias = md_req_vector(c, md_lname(c, "ln_2.bias"), D, &err);
    if (err) return HUBRT_ERR_FORMAT;
    if (!(ly->wqkv = conv1d(c, "attn.c_attn.weight", D, 3 * D))) return HUBRT_ERR_FORMAT;
    ly->bqkv = md_req_vector(c, md_lname(c, "attn.c_attn.bias"), 3 * D, &err);
    if (err) return HUBRT_ERR_FORMAT;
    if (!(ly->wo = conv1d(c, "attn.c_proj.weight", D, D))) return HUBRT_ERR_FORMAT;
    ly->bo = md_req_vector(c, md_lname(c, "attn.c_proj.bias"), D, &err);
    if (err) return HUBRT_ERR_FORMAT;
    if (!(ly->wfc = conv1d(c, "mlp.c_fc.weight", D, F))) return HUBRT_ERR_FORMAT;
    ly->bfc = md_req_vector(c, md_lname(c, "mlp.c_fc.bias"), F, &err);
    if (err) return HUBRT_ERR_FORMAT;
    if (!(ly->wproj = conv1d(c, "mlp.c_proj.weight", F, D))) return HUBRT_ERR_FORMAT;
    ly->bproj = md_req_vector(c, md_lname(c, "mlp.c_proj.bias"), D, &err);
    if (err) return HUBRT_ERR_FORMAT;
    return 0;
}

/* Every weight into w (w->layers allocated by the caller). */
static int load(md_ctx *c, gpt2_weights *w)
{
    static const char *const prefixes[] = {"transformer.", "", NULL};
    c->prefixes = prefixes;
    c->layer_stem = "h.";
    const hf_config *cfg = c->src->cfg;
    const int D = cfg->hidden_size, V = cfg->vocab_size, P = cfg->max_positions;
    int err = 0;

    const hf_tensor *wte = md_find(c, "wte.weight", 1);
    if (!wte || md_check(wte, V, D) != 0) return HUBRT_ERR_FORMAT;
    c->keep = wte;
    const hf_tensor *wpe = md_find(c, "wpe.weight", 1);
    if (!wpe || md_check(wpe, P, D) != 0) return HUBRT_ERR_FORMAT;
    const hf_tensor *head_t = md_head_tensor(c, wte);
    if (!head_t) return HUBRT_ERR_FORMAT;
    if (!(w->lm_head = md_matrix_owned(c, head_t, V, D))) return HUBRT_ERR_FORMAT;
    w->ln_f.weight = md_req_vector(c, "ln_f.weight", D, &err);
    w->ln_f.bias = md_req_vector(c, "ln_f.bias", D, &err);
    if (err) return HUBRT_ERR_FORMAT;
    if (md_embed_table(c, wte, head_t == wte ? w->lm_head : NULL, &w->wte) != 0) return HUBRT_ERR_NOMEM;
    w->wpe = md_table_view(wpe);

    for (int l = 0; l < cfg->n_layers; l++) {
        c->layer = l;
        int rc = load_layer(c, &w->layers[l]);
        if (rc != 0) return rc;
    }
    return 0;
}

/* ---- graph --------------------------------------------------------------- */

static void build(md_builder *b, const hf_config *cfg, const gpt2_weights *w)
{
    md_graph *g = b->g;
    const int D = cfg->hidden_size, H = cfg->n_heads, hd = cfg->head_dim;
    const md_heads heads = {H, H, hd, NULL}; /* no RoPE */
    const md_op act = md_act_op(cfg->act);

    /* x = wte[ids] + wpe[positions] */
    int x = md_embed(b, &w->wte, MD_IDS_TOKENS, "wte");
    int pe = md_embed(b, &w->wpe, MD_IDS_POSITIONS, "wpe");
    md_add_to(b, x, pe, "embed_add");

    int prev_dn = -1; /* the last MLP output, added to x by the next norm node */
    for (int l = 0; l < cfg->n_layers; l++) {
        const gpt2_layer *ly = &w->layers[l];
        b->layer = l;
        int h = prev_dn < 0 ? md_normalize(b, x, &ly->ln_1, "ln_1")
                            : md_add_norm(b, x, prev_dn, &ly->ln_1, "residual2+ln_1");
        int qkv = md_matmul(b, h, ly->wqkv, ly->bqkv, "c_attn");
        int q = md_rows_buf(g, D);
        int kc = md_kv_buf(g, l, 0, D), vc = md_kv_buf(g, l, 1, D);
        md_qkv_split(b, q, qkv, kc, vc, &heads, "kv_store");
        float scale = cfg->gpt2_scale_attn_weights ? 1.0f / sqrtf((float)hd) : 1.0f;
        if (cfg->gpt2_scale_attn_by_inverse_layer_idx) scale /= (float)(l + 1);
        int a = md_attention(b, q, kc, vc, &heads, 0, scale, "attention");
        int o = md_matmul(b, a, ly->wo, ly->bo, "c_proj");

        int h2 = md_add_norm(b, x, o, &ly->ln_2, "residual1+ln_2");
        int f = md_matmul(b, h2, ly->wfc, ly->bfc, "c_fc");
        md_activate(b, act, f, "act");
        prev_dn = md_matmul(b, f, ly->wproj, ly->bproj, "mlp.c_proj");
    }
    md_lm_head(b, x, prev_dn, &w->ln_f, w->lm_head, "residual2+ln_f");
}

int md_gpt2_build(md_ctx *c)
{
    const hf_config *cfg = c->src->cfg;
    md_family *fs = c->fs;
    /* config.c guarantees head_dim = D / H and max_positions >= 1; md_family_build bounds head_dim */
    fs->causal = 1;
    fs->n_logits = cfg->vocab_size;

    gpt2_weights w;
    memset(&w, 0, sizeof w);
    w.layers = calloc((size_t)cfg->n_layers, sizeof *w.layers);
    if (!w.layers) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory", c->src->dir);
    int rc = load(c, &w);
    if (rc == 0) {
        md_builder b = md_builder_init(&fs->graph, MD_NORM_LAYER, cfg->norm_eps, 1);
        build(&b, cfg, &w);
    }
    free(w.layers);
    return rc;
}
