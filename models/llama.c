/*
 * models/llama.c — LlamaForCausalLM, and the models that share its layout:
 * MistralForCausalLM (sliding-window attention) and Qwen2ForCausalLM (q/k/v
 * biases; its sliding window only with use_sliding_window, which
 * hf/config.c folds into cfg.sliding_window).
 *
 * The forward pass, as in transformers' modeling_llama.py:
 *   x = embed_tokens[ids]                                   [n][D]
 *   per layer:
 *     h = RMSNorm(x) * input_layernorm                       [n][D]
 *     q|k|v = h·[Wq;Wk;Wv]ᵀ (+b)   one matmul over the stacked weights
 *     q, k = RoPE(q, k) at positions pos0 + i (rotate-half)
 *     K[l], V[l] <- k, v at pos0 + i (the session's cache)    (one qkv_split node)
 *     a = softmax(q·Kᵀ/sqrt(hd), causal [+ window]) · V      [n][H*hd] (GQA: KV heads shared)
 *     x = x + a·Woᵀ (+bo);  h = RMSNorm(x) * post_attention_layernorm   (one node)
 *     g|u = h·[Wg;Wu]ᵀ;  x = x + (silu(g) * u)·Wdᵀ           SwiGLU MLP
 *   logits = RMSNorm(x) * norm · lm_headᵀ                   [rows][vocab] (lm_head = embed when tied)
 *
 * Without fusion (md_placement: explicit mmap storage or HUBRT_FUSE=0) the
 * layer matrices are used as loaded, and q, k, v, gate and up are each their
 * own matmul, followed by separate RoPE, KV-store and silu·mul nodes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/family.h"
#include "hf/error.h"

/* One decoder layer's weights: [out][in] matrices, f32 vectors (biases NULL when the config has none). */
typedef struct llama_layer {
    md_norm_w attn_norm;        /* [D] input_layernorm */
    /* fused (md_placement.fuse): stacked in the weight arena, one matmul each (NULL when the
     * projections cannot share one, e.g. act-order layers with different channel orders) */
    const hk_weight *wqkv;      /* [(H + 2*KV)*hd][D]: q_proj | k_proj | v_proj */
    const float *bqkv;          /* [(H + 2*KV)*hd] */
    const hk_weight *wgu;       /* [2F][D]: gate_proj | up_proj */
    const float *bgu;           /* [2F] */
    /* unfused: every projection on its own (views into the file map, or repacked quantised) */
    const hk_weight *wq, *wk, *wv; /* [H*hd][D], [KV*hd][D], [KV*hd][D] */
    const float *bq, *bk, *bv;
    const hk_weight *wg, *wu;   /* [F][D] each */
    const float *bg, *bu;
    /* either way */
    const hk_weight *wo;        /* [D][H*hd] o_proj */
    const float *bo;            /* [D] */
    md_norm_w mlp_norm;         /* [D] post_attention_layernorm */
    const hk_weight *wd;        /* [D][F] down_proj */
    const float *bd;            /* [D] */
} llama_layer;

typedef struct llama_weights {
    int fused;                  /* layers stacked where they can be (wqkv, wgu), else wq, wk, wv, wg, wu */
    md_table embed;             /* [V][D] embed_tokens */
    const float *inv_freq;      /* [hd/2] RoPE frequencies */
    llama_layer *layers;        /* [L] */
    md_norm_w final_norm;       /* [D] norm */
    const hk_weight *lm_head;   /* [V][D] lm_head (embed_tokens when tied) */
} llama_weights;

/* inv_freq[hd/2] with rope_scaling applied the way transformers does it. */
void md_rope_frequencies(const hf_config *cfg, int hd, float *inv)
{
    hk_rope_inv_freq(inv, hd, cfg->rope_theta);
    if (cfg->rope_type == HF_ROPE_LINEAR && cfg->rope_factor > 0) {
        for (int i = 0; i < hd / 2; i++) inv[i] /= cfg->rope_factor;
    } else if (cfg->rope_type == HF_ROPE_LLAMA3 && cfg->rope_factor > 0) {
        /* _compute_llama3_parameters: long wavelengths slowed by factor, short
         * ones kept, a smooth ramp between low_freq and high_freq wavelengths */
        float factor = cfg->rope_factor;
        float lo = cfg->rope_low_freq_factor > 0 ? cfg->rope_low_freq_factor : 1.0f;
        float hi = cfg->rope_high_freq_factor > 0 ? cfg->rope_high_freq_factor : 4.0f;
        float old_ctx = cfg->rope_original_max_positions > 0 ? (float)cfg->rope_original_max_positions : 8192.0f;
        float low_wavelen = old_ctx / lo, high_wavelen = old_ctx / hi;
        for (int i = 0; i < hd / 2; i++) {
            float f = inv[i];
            float wavelen = 2.0f * (float)M_PI / f;
            float scaled = wavelen > low_wavelen ? f / factor : f;
            if (!(wavelen < high_wavelen) && !(wavelen > low_wavelen)) {
                float smooth = (old_ctx / wavelen - lo) / (hi - lo);
                scaled = (1.0f - smooth) * scaled / factor + smooth * scaled;
            }
            inv[i] = scaled;
        }
    }
}

/* ---- load ---------------------------------------------------------------- */

/* The layer's bias `name` [len] when the config has one (has), else NULL. */
static const float *bias(md_ctx *c, const char *name, int len, int has, int *err)
{
    return has ? md_req_vector(c, md_lname(c, name), len, err) : NULL;
}

/* Layer c->layer's full name for `name` into buf (md_lname's result is overwritten by the next call). */
static void layer_name(md_ctx *c, const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", md_lname(c, name));
}

/*
 * Layer c->layer's weights into ly: stacked (fused) or one by one. Each
 * projection is a float matrix or pre-quantised (md_linear); projections
 * that cannot share a matmul (mixed storage, act-order channel orders that
 * differ) stay separate even when fused.
 */
static int load_layer(md_ctx *c, int fused, llama_layer *ly)
{
    const hf_config *cfg = c->src->cfg;
    const int D = cfg->hidden_size, H = cfg->n_heads, KV = cfg->n_kv_heads, hd = cfg->head_dim;
    const int F = cfg->intermediate_size;
    /* llama attention_bias: q/k/v/o; qwen2: q/k/v only (config.c sets attn_out_bias) */
    const int qkv_bias = cfg->attention_bias, o_bias = cfg->attn_out_bias, mlp_bias = cfg->mlp_bias;
    int err = 0;
    ly->attn_norm.weight = md_req_vector(c, md_lname(c, "input_layernorm.weight"), D, &err);
    ly->mlp_norm.weight = md_req_vector(c, md_lname(c, "post_attention_layernorm.weight"), D, &err);
    if (err) return HUBRT_ERR_FORMAT;
    char q[128], k[128], v[128], o[128], g[128], u[128], d[128];
    layer_name(c, "self_attn.q_proj", q, sizeof q);
    layer_name(c, "self_attn.k_proj", k, sizeof k);
    layer_name(c, "self_attn.v_proj", v, sizeof v);
    layer_name(c, "self_attn.o_proj", o, sizeof o);
    layer_name(c, "mlp.gate_proj", g, sizeof g);
    layer_name(c, "mlp.up_proj", u, sizeof u);
    layer_name(c, "mlp.down_proj", d, sizeof d);
    const float *bq = bias(c, "self_attn.q_proj.bias", H * hd, qkv_bias, &err);
    const float *bk = bias(c, "self_attn.k_proj.bias", KV * hd, qkv_bias, &err);
    const float *bv = bias(c, "self_attn.v_proj.bias", KV * hd, qkv_bias, &err);
    ly->bo = bias(c, "self_attn.o_proj.bias", D, o_bias, &err);
    const float *bg = bias(c, "mlp.gate_proj.bias", F, mlp_bias, &err);
    const float *bu = bias(c, "mlp.up_proj.bias", F, mlp_bias, &err);
    ly->bd = bias(c, "mlp.down_proj.bias", D, mlp_bias, &err);
    if (err) return HUBRT_ERR_FORMAT;
    /* in layer order (into the weight arena when fused): q|k|v, o, gate|up, down */
    int separate = !fused;
    const char *qkv[3] = {q, k, v};
    int qkv_rows[3] = {H * hd, KV * hd, KV * hd};
    const float *qkv_b[3] = {bq, bk, bv};
    if (fused) {
        ly->wqkv = md_linear_concat(c, qkv, qkv_rows, 3, D, &separate);
        if (!ly->wqkv && !separate) return HUBRT_ERR_FORMAT;
        if (ly->wqkv && !(ly->bqkv = md_vector_concat(c, qkv_b, qkv_rows, 3)) && qkv_bias) return HUBRT_ERR_NOMEM;
    }
    if (separate) {
        if (!(ly->wq = md_linear(c, q, H * hd, D, 0)) || !(ly->wk = md_linear(c, k, KV * hd, D, 0)) ||
            !(ly->wv = md_linear(c, v, KV * hd, D, 0)))
            return HUBRT_ERR_FORMAT;
        ly->bq = bq; ly->bk = bk; ly->bv = bv;
    }
    if (!(ly->wo = md_linear(c, o, D, H * hd, fused))) return HUBRT_ERR_FORMAT;
    separate = !fused;
    const char *gu[2] = {g, u};
    int gu_rows[2] = {F, F};
    const float *gu_b[2] = {bg, bu};
    if (fused) {
        ly->wgu = md_linear_concat(c, gu, gu_rows, 2, D, &separate);
        if (!ly->wgu && !separate) return HUBRT_ERR_FORMAT;
        if (ly->wgu && !(ly->bgu = md_vector_concat(c, gu_b, gu_rows, 2)) && mlp_bias) return HUBRT_ERR_NOMEM;
    }
    if (separate) {
        if (!(ly->wg = md_linear(c, g, F, D, 0)) || !(ly->wu = md_linear(c, u, F, D, 0))) return HUBRT_ERR_FORMAT;
        ly->bg = bg; ly->bu = bu;
    }
    if (!(ly->wd = md_linear(c, d, D, F, fused))) return HUBRT_ERR_FORMAT;
    return 0;
}

/* Every weight into w (w->layers allocated by the caller). */
static int load(md_ctx *c, llama_weights *w)
{
    static const char *const prefixes[] = {"model.", "", NULL};
    c->prefixes = prefixes;
    c->layer_stem = "layers.";
    const hf_config *cfg = c->src->cfg;
    const int D = cfg->hidden_size, hd = cfg->head_dim, V = cfg->vocab_size;
    int err = 0;
    w->fused = c->place.fuse;

    /* embeddings and head */
    const hf_tensor *emb = md_find(c, "embed_tokens.weight", 1);
    if (!emb || md_check(emb, V, D) != 0) return HUBRT_ERR_FORMAT;
    c->keep = emb;
    const hf_tensor *head_t = NULL;
    if (!cfg->tie_word_embeddings && md_linear_quantised(c, "lm_head")) { /* e.g. GPTQModel's lm_head: true */
        w->lm_head = md_linear(c, "lm_head", V, D, w->fused);
    } else {
        if (!(head_t = md_head_tensor(c, emb))) return HUBRT_ERR_FORMAT;
        w->lm_head = w->fused ? md_matrix_owned(c, head_t, V, D) : md_matrix(c, head_t, V, D);
    }
    if (!w->lm_head) return HUBRT_ERR_FORMAT;
    w->final_norm.weight = md_req_vector(c, "norm.weight", D, &err);
    if (err) return HUBRT_ERR_FORMAT;

    float *inv_freq = md_alloc(c, (size_t)(hd / 2) * sizeof(float));
    if (!inv_freq) return HUBRT_ERR_NOMEM;
    md_rope_frequencies(cfg, hd, inv_freq);
    w->inv_freq = inv_freq;
    if (md_embed_table(c, emb, head_t == emb ? w->lm_head : NULL, &w->embed) != 0) return HUBRT_ERR_NOMEM;

    for (int l = 0; l < cfg->n_layers; l++) {
        c->layer = l;
        int rc = load_layer(c, w->fused, &w->layers[l]);
        if (rc != 0) return rc;
    }
    return 0;
}

/* ---- graph --------------------------------------------------------------- */

static void build(md_builder *b, const hf_config *cfg, const llama_weights *w)
{
    md_graph *g = b->g;
    const int H = cfg->n_heads, KV = cfg->n_kv_heads, hd = cfg->head_dim;
    const int F = cfg->intermediate_size;
    const md_heads heads = {H, KV, hd, w->inv_freq};
    const float scale = 1.0f / sqrtf((float)hd);

    /* the residual stream x lives for the whole pass */
    int x = md_embed(b, &w->embed, MD_IDS_TOKENS, "embed");
    int prev_dn = -1; /* the last layer's MLP output, added to x by the next norm */
    for (int l = 0; l < cfg->n_layers; l++) {
        const llama_layer *ly = &w->layers[l];
        b->layer = l;
        /* attention block; the previous layer's residual add is fused into the norm */
        int h = prev_dn < 0 ? md_normalize(b, x, &ly->attn_norm, "attn_norm")
                            : md_add_norm(b, x, prev_dn, &ly->attn_norm, "residual2+attn_norm");
        int q = md_rows_buf(g, H * hd);
        int kc = md_kv_buf(g, l, 0, KV * hd), vc = md_kv_buf(g, l, 1, KV * hd);
        if (ly->wqkv) {
            int qkv = md_matmul(b, h, ly->wqkv, ly->bqkv, "qkv_proj");
            md_qkv_split(b, q, qkv, kc, vc, &heads, "rope_kv_store");
        } else {
            int k = md_rows_buf(g, KV * hd), v = md_rows_buf(g, KV * hd);
            md_matmul_to(b, q, h, ly->wq, ly->bq, "q_proj");
            md_matmul_to(b, k, h, ly->wk, ly->bk, "k_proj");
            md_matmul_to(b, v, h, ly->wv, ly->bv, "v_proj");
            md_rope(b, q, H, hd, w->inv_freq, "rope_q");
            md_rope(b, k, KV, hd, w->inv_freq, "rope_k");
            md_kv_store(b, kc, k, KV, hd, "k_store");
            md_kv_store(b, vc, v, KV, hd, "v_store");
        }
        /* Mistral: every layer; Qwen2: layers >= max_window_layers (0 for mistral) */
        int window = cfg->sliding_window > 0 && l >= cfg->max_window_layers ? cfg->sliding_window : 0;
        int a = md_attention(b, q, kc, vc, &heads, window, scale, "attention");
        int o = md_matmul(b, a, ly->wo, ly->bo, "o_proj");

        /* MLP block */
        int h2 = md_add_norm(b, x, o, &ly->mlp_norm, "residual1+mlp_norm");
        int gt = md_rows_buf(g, F);
        if (ly->wgu) {
            int gu = md_matmul(b, h2, ly->wgu, ly->bgu, "gate_up_proj");
            md_swiglu(b, gt, gu, "swiglu");
        } else {
            int up = md_rows_buf(g, F);
            md_matmul_to(b, gt, h2, ly->wg, ly->bg, "gate_proj");
            md_matmul_to(b, up, h2, ly->wu, ly->bu, "up_proj");
            md_silu_mul(b, gt, gt, up, "silu_mul");
        }
        prev_dn = md_matmul(b, gt, ly->wd, ly->bd, "down_proj");
    }
    md_lm_head(b, x, prev_dn, &w->final_norm, w->lm_head, "residual2+final_norm");
}

int md_llama_build(md_ctx *c)
{
    const hf_config *cfg = c->src->cfg;
    md_family *fs = c->fs;
    if (cfg->act != HF_ACT_SILU)
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s/config.json: hidden_act must be silu for %s "
                               "(SwiGLU MLP)", c->src->dir, cfg->model_type);
    if (cfg->head_dim % 2 != 0)
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s/config.json: head_dim %d is odd (RoPE needs pairs)",
                               c->src->dir, cfg->head_dim);
    fs->causal = 1;
    fs->n_logits = cfg->vocab_size;

    llama_weights w;
    memset(&w, 0, sizeof w);
    w.layers = calloc((size_t)cfg->n_layers, sizeof *w.layers);
    if (!w.layers) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory", c->src->dir);
    int rc = load(c, &w);
    if (rc == 0) {
        md_builder b = md_builder_init(&fs->graph, MD_NORM_RMS, cfg->norm_eps, 1);
        build(&b, cfg, &w);
    }
    free(w.layers);
    return rc;
}
