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
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/family.h"
#include "hf/error.h"

/* One decoder layer's weights ([out][in] matrices; f32 vectors). */
typedef struct llama_layer {
    const float *attn_norm;               /* [D] input_layernorm.weight */
    const hk_weight *wqkv;                /* [(H + 2*KV)*hd][D]: q_proj | k_proj | v_proj stacked */
    const float *bqkv;                    /* [(H + 2*KV)*hd] q/k/v biases or NULL */
    const hk_weight *wo;                  /* [D][H*hd] */
    const float *bo;
    const float *mlp_norm;                /* [D] post_attention_layernorm.weight */
    const hk_weight *wgu;                 /* [2F][D]: gate_proj | up_proj stacked */
    const float *bgu;                     /* [2F] or NULL */
    const hk_weight *wd;                  /* [D][F] down_proj */
    const float *bd;
    /* unfused (HUBRT_STORAGE_MMAP: views into the file map, nothing copied) */
    const hk_weight *wq, *wk, *wv, *wg, *wu;
    const float *bq, *bk, *bv, *bg, *bu;
} llama_layer;

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

/* A [len] vector, required (need) or absent-means-NULL. */
static const float *vec(md_ctx *c, const char *name, int len, int need, int *err)
{
    return need ? md_req_vector(c, name, len, err) : NULL;
}

int md_llama_build(md_ctx *c)
{
    static const char *const prefixes[] = {"model.", "", NULL};
    c->prefixes = prefixes;
    const hf_config *cfg = c->src->cfg;
    md_family *fs = c->fs;
    md_graph *g = &fs->graph;
    const int D = cfg->hidden_size, H = cfg->n_heads, KV = cfg->n_kv_heads, hd = cfg->head_dim;
    const int F = cfg->intermediate_size, V = cfg->vocab_size, L = cfg->n_layers;
    if (cfg->act != HF_ACT_SILU)
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s/config.json: hidden_act must be silu for %s "
                               "(SwiGLU MLP)", c->src->dir, cfg->model_type);
    if (hd % 2 != 0)
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s/config.json: head_dim %d is odd (RoPE needs pairs)",
                               c->src->dir, hd);
    /* llama attention_bias: q/k/v/o; qwen2: q/k/v only (config.c sets attn_out_bias) */
    int qkv_bias = cfg->attention_bias, o_bias = cfg->attn_out_bias;
    int err = 0;
    char name[160];

    fs->causal = 1;
    fs->vocab = V;
    fs->hidden = D;
    fs->n_layers = L;
    fs->n_kv_heads = KV;
    fs->head_dim = hd;
    fs->max_positions = cfg->max_positions; /* >= 1, default 2048 in config.c */
    fs->n_logits = V;

    /* embeddings and head */
    const hf_tensor *emb = md_find(c, "embed_tokens.weight", 1);
    if (!emb || md_check(emb, V, D) != 0) return HUBRT_ERR_FORMAT;
    c->keep = emb;
    const hf_tensor *head_t = md_head_tensor(c, emb);
    if (!head_t) return HUBRT_ERR_FORMAT;
    /*
     * fuse (the default): layer matrices copied into the model's huge-page
     * arena, q|k|v and gate|up stacked, 11 nodes per layer. An explicit
     * HUBRT_STORAGE_MMAP keeps every matrix a view into the file map (nothing
     * copied, 17 nodes per layer): that is what the mmap-vs-copy comparison
     * measures.
     */
    const char *fenv = getenv("HUBRT_FUSE"); /* HUBRT_FUSE=0: unfused views, for A/B measurements */
    int fuse = c->src->storage != HUBRT_STORAGE_MMAP && !(fenv && !strcmp(fenv, "0"));
    const hk_weight *lm_head = fuse ? md_matrix_owned(c, head_t, V, D) : md_matrix(c, head_t, V, D);
    if (!lm_head) return HUBRT_ERR_FORMAT;
    const float *final_norm = vec(c, "norm.weight", D, 1, &err);
    if (err) return HUBRT_ERR_FORMAT;

    float *inv_freq = md_alloc(c, (size_t)(hd / 2) * sizeof(float));
    if (!inv_freq) return HUBRT_ERR_NOMEM;
    md_rope_frequencies(cfg, hd, inv_freq);

    /* graph: residual stream x lives for the whole pass */
    int x = md_rows_buf(g, D);
    md_node nd = md_node_make(MD_EMBED, x, -1, -1, "embed");
    nd.d = D;
    nd.ids = MD_IDS_TOKENS;
    if (md_embed_table(c, emb, head_t == emb ? lm_head : NULL, &nd) != 0) return HUBRT_ERR_NOMEM;
    md_add(g, &nd);

    int prev_dn = -1; /* the last layer's MLP output, added to x by the next norm */
    for (int l = 0; l < L; l++) {
        llama_layer ly;
        memset(&ly, 0, sizeof ly);
#define LNAME(s) (snprintf(name, sizeof name, "layers.%d." s, l), name)
        ly.attn_norm = vec(c, LNAME("input_layernorm.weight"), D, 1, &err);
        ly.mlp_norm = vec(c, LNAME("post_attention_layernorm.weight"), D, 1, &err);
        if (err) return HUBRT_ERR_FORMAT;
        const hf_tensor *tq, *tk, *tv, *to, *tg, *tu, *td;
        if (!(tq = md_find(c, LNAME("self_attn.q_proj.weight"), 1)) ||
            !(tk = md_find(c, LNAME("self_attn.k_proj.weight"), 1)) ||
            !(tv = md_find(c, LNAME("self_attn.v_proj.weight"), 1)) ||
            !(to = md_find(c, LNAME("self_attn.o_proj.weight"), 1)) ||
            !(tg = md_find(c, LNAME("mlp.gate_proj.weight"), 1)) ||
            !(tu = md_find(c, LNAME("mlp.up_proj.weight"), 1)) ||
            !(td = md_find(c, LNAME("mlp.down_proj.weight"), 1)))
            return HUBRT_ERR_FORMAT;
        const float *bq = vec(c, LNAME("self_attn.q_proj.bias"), H * hd, qkv_bias, &err);
        const float *bk = vec(c, LNAME("self_attn.k_proj.bias"), KV * hd, qkv_bias, &err);
        const float *bv = vec(c, LNAME("self_attn.v_proj.bias"), KV * hd, qkv_bias, &err);
        ly.bo = vec(c, LNAME("self_attn.o_proj.bias"), D, o_bias, &err);
        const float *bg = vec(c, LNAME("mlp.gate_proj.bias"), F, cfg->mlp_bias, &err);
        const float *bu = vec(c, LNAME("mlp.up_proj.bias"), F, cfg->mlp_bias, &err);
        ly.bd = vec(c, LNAME("mlp.down_proj.bias"), D, cfg->mlp_bias, &err);
        if (err) return HUBRT_ERR_FORMAT;
        if (fuse) {
            /* every layer matrix goes into the huge-page weight arena, in layer
             * order; q|k|v and gate|up stacked for one matmul each */
            const hf_tensor *qkv[3] = {tq, tk, tv};
            int qkv_rows[3] = {H * hd, KV * hd, KV * hd};
            const float *qkv_b[3] = {bq, bk, bv};
            if (!(ly.wqkv = md_matrix_concat(c, qkv, qkv_rows, 3, D))) return HUBRT_ERR_FORMAT;
            ly.bqkv = md_vector_concat(c, qkv_b, qkv_rows, 3);
            if (qkv_bias && !ly.bqkv) return HUBRT_ERR_NOMEM;
            int o_rows = D, d_rows = D;
            if (!(ly.wo = md_matrix_concat(c, &to, &o_rows, 1, H * hd))) return HUBRT_ERR_FORMAT;
            const hf_tensor *gu[2] = {tg, tu};
            int gu_rows[2] = {F, F};
            const float *gu_b[2] = {bg, bu};
            if (!(ly.wgu = md_matrix_concat(c, gu, gu_rows, 2, D))) return HUBRT_ERR_FORMAT;
            ly.bgu = md_vector_concat(c, gu_b, gu_rows, 2);
            if (cfg->mlp_bias && !ly.bgu) return HUBRT_ERR_NOMEM;
            if (!(ly.wd = md_matrix_concat(c, &td, &d_rows, 1, F))) return HUBRT_ERR_FORMAT;
        } else {
            if (!(ly.wq = md_matrix(c, tq, H * hd, D)) || !(ly.wk = md_matrix(c, tk, KV * hd, D)) ||
                !(ly.wv = md_matrix(c, tv, KV * hd, D)) || !(ly.wo = md_matrix(c, to, D, H * hd)) ||
                !(ly.wg = md_matrix(c, tg, F, D)) || !(ly.wu = md_matrix(c, tu, F, D)) ||
                !(ly.wd = md_matrix(c, td, D, F)))
                return HUBRT_ERR_FORMAT;
            ly.bq = bq; ly.bk = bk; ly.bv = bv; ly.bg = bg; ly.bu = bu;
        }
#undef LNAME

        char nm[64];
#define NODE(op, o, a, b, s) (snprintf(nm, sizeof nm, "L%d.%s", l, s), md_node_make(op, o, a, b, nm))
        /* attention block; the previous layer's residual add is fused into the norm */
        int h = md_rows_buf(g, D);
        if (prev_dn < 0) nd = NODE(MD_RMSNORM, h, x, -1, "attn_norm");
        else nd = NODE(MD_ADD_NORM, h, x, prev_dn, "residual2+attn_norm");
        nd.vec0 = ly.attn_norm;
        nd.eps = cfg->norm_eps;
        md_add(g, &nd);
        int q = md_rows_buf(g, H * hd);
        int kc = md_kv_buf(g, l, 0, KV * hd), vc = md_kv_buf(g, l, 1, KV * hd);
        if (fuse) {
            int qkv = md_rows_buf(g, (H + 2 * KV) * hd);
            nd = NODE(MD_MATMUL, qkv, h, -1, "qkv_proj"); nd.w = ly.wqkv; nd.vec0 = ly.bqkv; md_add(g, &nd);
            nd = NODE(MD_QKV_SPLIT, q, qkv, kc, "rope_kv_store");
            nd.c = vc;
            nd.n_heads = H; nd.n_kv_heads = KV; nd.head_dim = hd; nd.inv_freq = inv_freq;
            md_add(g, &nd);
        } else {
            int k = md_rows_buf(g, KV * hd), v = md_rows_buf(g, KV * hd);
            nd = NODE(MD_MATMUL, q, h, -1, "q_proj"); nd.w = ly.wq; nd.vec0 = ly.bq; md_add(g, &nd);
            nd = NODE(MD_MATMUL, k, h, -1, "k_proj"); nd.w = ly.wk; nd.vec0 = ly.bk; md_add(g, &nd);
            nd = NODE(MD_MATMUL, v, h, -1, "v_proj"); nd.w = ly.wv; nd.vec0 = ly.bv; md_add(g, &nd);
            nd = NODE(MD_ROPE, q, q, -1, "rope_q"); nd.n_heads = H; nd.head_dim = hd; nd.inv_freq = inv_freq;
            md_add(g, &nd);
            nd = NODE(MD_ROPE, k, k, -1, "rope_k"); nd.n_heads = KV; nd.head_dim = hd; nd.inv_freq = inv_freq;
            md_add(g, &nd);
            nd = NODE(MD_KV_STORE, kc, k, -1, "k_store"); nd.n_kv_heads = KV; nd.head_dim = hd; md_add(g, &nd);
            nd = NODE(MD_KV_STORE, vc, v, -1, "v_store"); nd.n_kv_heads = KV; nd.head_dim = hd; md_add(g, &nd);
        }
        int a = md_rows_buf(g, H * hd);
        nd = NODE(MD_ATTENTION, a, q, kc, "attention");
        nd.c = vc;
        nd.n_heads = H; nd.n_kv_heads = KV; nd.head_dim = hd;
        nd.causal = 1;
        /* Mistral: every layer; Qwen2: layers >= max_window_layers (0 for mistral) */
        nd.window = cfg->sliding_window > 0 && l >= cfg->max_window_layers ? cfg->sliding_window : 0;
        nd.scale = 1.0f / sqrtf((float)hd);
        md_add(g, &nd);
        int o = md_rows_buf(g, D);
        nd = NODE(MD_MATMUL, o, a, -1, "o_proj"); nd.w = ly.wo; nd.vec0 = ly.bo; md_add(g, &nd);

        /* MLP block */
        int h2 = md_rows_buf(g, D);
        nd = NODE(MD_ADD_NORM, h2, x, o, "residual1+mlp_norm");
        nd.vec0 = ly.mlp_norm;
        nd.eps = cfg->norm_eps;
        md_add(g, &nd);
        int gt = md_rows_buf(g, F);
        if (fuse) {
            int gu = md_rows_buf(g, 2 * F), up = md_rows_buf(g, F); /* up: scratch when n > 1 */
            nd = NODE(MD_MATMUL, gu, h2, -1, "gate_up_proj"); nd.w = ly.wgu; nd.vec0 = ly.bgu; md_add(g, &nd);
            nd = NODE(MD_SWIGLU, gt, gu, up, "swiglu");
            md_add(g, &nd);
        } else {
            int up = md_rows_buf(g, F);
            nd = NODE(MD_MATMUL, gt, h2, -1, "gate_proj"); nd.w = ly.wg; nd.vec0 = ly.bg; md_add(g, &nd);
            nd = NODE(MD_MATMUL, up, h2, -1, "up_proj"); nd.w = ly.wu; nd.vec0 = ly.bu; md_add(g, &nd);
            nd = NODE(MD_SILU_MUL, gt, gt, up, "silu_mul");
            md_add(g, &nd);
        }
        int dn = md_rows_buf(g, D);
        nd = NODE(MD_MATMUL, dn, gt, -1, "down_proj"); nd.w = ly.wd; nd.vec0 = ly.bd; md_add(g, &nd);
        prev_dn = dn;
#undef NODE
    }

    /* head: only when the caller wants logits (all rows or just the last) */
    int hf = md_rows_buf(g, D);
    nd = md_node_make(MD_ADD_NORM, hf, x, prev_dn, "residual2+final_norm");
    nd.vec0 = final_norm;
    nd.eps = cfg->norm_eps;
    nd.need = 1u << MD_EXT_LOGITS;
    md_add(g, &nd);
    int logits = md_ext_buf(g, MD_EXT_LOGITS, V);
    nd = md_node_make(MD_MATMUL, logits, hf, -1, "lm_head");
    nd.w = lm_head;
    nd.rows = MD_ROWS_OUT;
    nd.need = 1u << MD_EXT_LOGITS;
    md_add(g, &nd);
    return 0;
}
