/*
 * models/gpt2.c — GPT2LMHeadModel / GPT2Model.
 *
 * GPT-2 stores its projections as Conv1D weights W[in][out] (y = x·W + b),
 * transposed compared with nn.Linear; c_attn fuses q, k and v into one
 * [D][3D] matrix (kept fused: one matmul, then a split node). At load each
 * is turned into an owned [out][in] kernel weight (same dtype), so the forward pass uses the same matmul as
 * everything else; the stored matrices' pages are then released
 * (md_release), so resident memory stays about one copy of the weights. Names come with or without the "transformer." prefix.
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
#include <string.h>

#include "models/family.h"
#include "hf/error.h"

typedef struct gpt2_layer {
    const float *ln1_w, *ln1_b;          /* [D] */
    const hk_weight *wqkv, *wo;          /* [3D][D] (c_attn [D][3D]: q | k | v), [D][D] (c_proj) */
    const float *bqkv, *bo;              /* [3D], [D] */
    const float *ln2_w, *ln2_b;
    const hk_weight *wfc, *wproj;        /* [F][D] (c_fc [D][F]), [D][F] (c_proj [F][D]) */
    const float *bfc, *bproj;            /* [F], [D] */
} gpt2_layer;

int md_gpt2_build(md_ctx *c)
{
    static const char *const prefixes[] = {"transformer.", "", NULL};
    c->prefixes = prefixes;
    const hf_config *cfg = c->src->cfg;
    md_family *fs = c->fs;
    md_graph *g = &fs->graph;
    const int D = cfg->hidden_size, H = cfg->n_heads, F = cfg->intermediate_size;
    const int V = cfg->vocab_size, L = cfg->n_layers, P = cfg->max_positions;
    /* config.c guarantees head_dim = D / H and P >= 1; md_family_build bounds head_dim */
    const int hd = cfg->head_dim;
    int err = 0;
    char name[160];

    fs->causal = 1;
    fs->vocab = V;
    fs->hidden = D;
    fs->n_layers = L;
    fs->n_kv_heads = H;
    fs->head_dim = hd;
    fs->max_positions = P;
    fs->n_logits = V;

    const hf_tensor *wte = md_find(c, "wte.weight", 1);
    if (!wte || md_check(wte, V, D) != 0) return HUBRT_ERR_FORMAT;
    c->keep = wte;
    const hf_tensor *wpe = md_find(c, "wpe.weight", 1);
    if (!wpe || md_check(wpe, P, D) != 0) return HUBRT_ERR_FORMAT;
    const hf_tensor *head_t = md_head_tensor(c, wte);
    if (!head_t) return HUBRT_ERR_FORMAT;
    const hk_weight *lm_head = md_matrix_owned(c, head_t, V, D);
    if (!lm_head) return HUBRT_ERR_FORMAT;
    const float *lnf_w = md_req_vector(c, "ln_f.weight", D, &err);
    const float *lnf_b = md_req_vector(c, "ln_f.bias", D, &err);
    if (err) return HUBRT_ERR_FORMAT;

    /* x = wte[ids] + wpe[positions] */
    int x = md_rows_buf(g, D), pe = md_rows_buf(g, D);
    md_node nd = md_node_make(MD_EMBED, x, -1, -1, "wte");
    nd.d = D; nd.ids = MD_IDS_TOKENS;
    if (md_embed_table(c, wte, head_t == wte ? lm_head : NULL, &nd) != 0) return HUBRT_ERR_NOMEM;
    md_add(g, &nd);
    nd = md_node_make(MD_EMBED, pe, -1, -1, "wpe");
    nd.table_type = md_wtype(wpe); nd.table = wpe->data; nd.d = D; nd.ids = MD_IDS_POSITIONS;
    md_add(g, &nd);
    nd = md_node_make(MD_ADD, x, x, pe, "embed_add");
    md_add(g, &nd);

    md_op act = md_act_op(cfg->act);
    int prev_dn = -1; /* the last MLP output, added to x by the next norm node */
    for (int l = 0; l < L; l++) {
        gpt2_layer ly;
        memset(&ly, 0, sizeof ly);
#define LNAME(s) (snprintf(name, sizeof name, "h.%d." s, l), name)
        ly.ln1_w = md_req_vector(c, LNAME("ln_1.weight"), D, &err);
        ly.ln1_b = md_req_vector(c, LNAME("ln_1.bias"), D, &err);
        ly.ln2_w = md_req_vector(c, LNAME("ln_2.weight"), D, &err);
        ly.ln2_b = md_req_vector(c, LNAME("ln_2.bias"), D, &err);
        if (err) return HUBRT_ERR_FORMAT;
        const hf_tensor *t;
        if (!(t = md_find(c, LNAME("attn.c_attn.weight"), 1))) return HUBRT_ERR_FORMAT;
        if (!(ly.wqkv = md_matrix_conv1d(c, t, D, 3 * D, 0, 3 * D))) return HUBRT_ERR_FORMAT;
        md_release(t); /* the owned [out][in] copy replaces it */
        ly.bqkv = md_req_vector(c, LNAME("attn.c_attn.bias"), 3 * D, &err);
        if (err) return HUBRT_ERR_FORMAT;
        if (!(t = md_find(c, LNAME("attn.c_proj.weight"), 1))) return HUBRT_ERR_FORMAT;
        if (!(ly.wo = md_matrix_conv1d(c, t, D, D, 0, D))) return HUBRT_ERR_FORMAT;
        md_release(t);
        ly.bo = md_req_vector(c, LNAME("attn.c_proj.bias"), D, &err);
        if (err) return HUBRT_ERR_FORMAT;
        if (!(t = md_find(c, LNAME("mlp.c_fc.weight"), 1))) return HUBRT_ERR_FORMAT;
        if (!(ly.wfc = md_matrix_conv1d(c, t, D, F, 0, F))) return HUBRT_ERR_FORMAT;
        md_release(t);
        ly.bfc = md_req_vector(c, LNAME("mlp.c_fc.bias"), F, &err);
        if (err) return HUBRT_ERR_FORMAT;
        if (!(t = md_find(c, LNAME("mlp.c_proj.weight"), 1))) return HUBRT_ERR_FORMAT;
        if (!(ly.wproj = md_matrix_conv1d(c, t, F, D, 0, D))) return HUBRT_ERR_FORMAT;
        md_release(t);
        ly.bproj = md_req_vector(c, LNAME("mlp.c_proj.bias"), D, &err);
        if (err) return HUBRT_ERR_FORMAT;
#undef LNAME

        char nm[64];
#define NODE(op, o, a, b, s) (snprintf(nm, sizeof nm, "L%d.%s", l, s), md_node_make(op, o, a, b, nm))
        int h = md_rows_buf(g, D);
        if (prev_dn < 0) nd = NODE(MD_LAYERNORM, h, x, -1, "ln_1");
        else nd = NODE(MD_ADD_NORM, h, x, prev_dn, "residual2+ln_1"); /* x += prev; LN */
        nd.vec0 = ly.ln1_w; nd.vec1 = ly.ln1_b; nd.eps = cfg->norm_eps; nd.norm = MD_NORM_LAYER;
        md_add(g, &nd);
        int qkv = md_rows_buf(g, 3 * D), q = md_rows_buf(g, D);
        nd = NODE(MD_MATMUL, qkv, h, -1, "c_attn"); nd.w = ly.wqkv; nd.vec0 = ly.bqkv; md_add(g, &nd);
        int kc = md_kv_buf(g, l, 0, D), vc = md_kv_buf(g, l, 1, D);
        nd = NODE(MD_QKV_SPLIT, q, qkv, kc, "kv_store"); /* no RoPE: inv_freq NULL */
        nd.c = vc; nd.n_heads = H; nd.n_kv_heads = H; nd.head_dim = hd;
        md_add(g, &nd);
        int a = md_rows_buf(g, D);
        nd = NODE(MD_ATTENTION, a, q, kc, "attention");
        nd.c = vc;
        nd.n_heads = H; nd.n_kv_heads = H; nd.head_dim = hd;
        nd.causal = 1;
        nd.scale = cfg->gpt2_scale_attn_weights ? 1.0f / sqrtf((float)hd) : 1.0f;
        if (cfg->gpt2_scale_attn_by_inverse_layer_idx) nd.scale /= (float)(l + 1);
        md_add(g, &nd);
        int o = md_rows_buf(g, D);
        nd = NODE(MD_MATMUL, o, a, -1, "c_proj"); nd.w = ly.wo; nd.vec0 = ly.bo; md_add(g, &nd);

        int h2 = md_rows_buf(g, D);
        nd = NODE(MD_ADD_NORM, h2, x, o, "residual1+ln_2");
        nd.vec0 = ly.ln2_w; nd.vec1 = ly.ln2_b; nd.eps = cfg->norm_eps; nd.norm = MD_NORM_LAYER;
        md_add(g, &nd);
        int f = md_rows_buf(g, F);
        nd = NODE(MD_MATMUL, f, h2, -1, "c_fc"); nd.w = ly.wfc; nd.vec0 = ly.bfc; md_add(g, &nd);
        nd = NODE(act, f, f, -1, "act"); md_add(g, &nd);
        int dn = md_rows_buf(g, D);
        nd = NODE(MD_MATMUL, dn, f, -1, "mlp.c_proj"); nd.w = ly.wproj; nd.vec0 = ly.bproj; md_add(g, &nd);
        prev_dn = dn;
#undef NODE
    }

    int hf = md_rows_buf(g, D);
    nd = md_node_make(MD_ADD_NORM, hf, x, prev_dn, "residual2+ln_f");
    nd.vec0 = lnf_w; nd.vec1 = lnf_b; nd.eps = cfg->norm_eps; nd.norm = MD_NORM_LAYER;
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
