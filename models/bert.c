/*
 * models/bert.c — BertModel, BertForMaskedLM, BertForSequenceClassification.
 *
 * Names come with or without the "bert." prefix (base-model checkpoints);
 * heads are "cls.predictions.*" (MLM) and "classifier.*". Tensors the model
 * does not use (the NSP head cls.seq_relationship.*, a pooler when no output
 * needs it) are ignored.
 *
 * The forward pass, as in transformers' modeling_bert.py (post-LN encoder):
 *   x = LayerNorm(word[ids] + position[i] + token_type[type_ids])      [n][D]
 *   per layer:
 *     q|k|v = x·[Wq;Wk;Wv]ᵀ + b   (one matmul, then split)             [n][3D]
 *     a = softmax(q·kᵀ/sqrt(hd) + padding mask)·v   (bidirectional)
 *     x1 = LayerNorm(a·Woᵀ + bo + x)
 *     x = LayerNorm(gelu(x1·Wiᵀ + bi)·Wdᵀ + bd + x1)
 *   last_hidden_state = x
 *   pooler_output = tanh(x[0]·Wpᵀ + bp)                                 [D]
 *   MLM logits = LayerNorm(gelu(x·Wtᵀ + bt))·wordᵀ + cls.predictions.bias [n][vocab]
 *   classifier logits = pooler_output·Wcᵀ + bc                          [labels]
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/family.h"
#include "hf/error.h"

typedef struct bert_layer {
    const hk_weight *wqkv, *wo;           /* [3D][D] (query | key | value stacked), [D][D] */
    const float *bqkv, *bo;               /* [3D], [D] */
    const float *ln1_w, *ln1_b;           /* attention.output.LayerNorm */
    const hk_weight *wi, *wd;             /* [F][D] intermediate, [D][F] output */
    const float *bi, *bd;
    const float *ln2_w, *ln2_b;           /* output.LayerNorm */
} bert_layer;

/* Matrices live in the model's huge-page weight arena (views with mmap storage). */
static const hk_weight *mat(md_ctx *c, const char *name, int rows, int cols)
{
    const hf_tensor *t = md_find(c, name, 1);
    return t ? md_matrix_owned(c, t, rows, cols) : NULL;
}

/* A required vector under its exact name (the heads live outside the bert. prefix). */
static const float *vec_exact(md_ctx *c, const char *name, int len, int *err)
{
    return md_checked_vector(c, md_find_exact(c, name, 1), len, err);
}

/* The word_emb node's table: the tied MLM decoder's arena copy, or its own (md_embed_table). */
static int embed_table(md_ctx *c, const hf_tensor *wt, const hk_weight *tied, int node)
{
    md_graph *g = &c->fs->graph;
    if (node < 0 || node >= g->n_nodes) return 0; /* graph failed: reported by the caller */
    return md_embed_table(c, wt, tied, &g->nodes[node]) != 0 ? HUBRT_ERR_NOMEM : 0;
}

int md_bert_build(md_ctx *c)
{
    static const char *const prefixes[] = {"bert.", "", NULL};
    c->prefixes = prefixes;
    const hf_config *cfg = c->src->cfg;
    md_family *fs = c->fs;
    md_graph *g = &fs->graph;
    const int D = cfg->hidden_size, H = cfg->n_heads, F = cfg->intermediate_size;
    const int V = cfg->vocab_size, L = cfg->n_layers, P = cfg->max_positions;
    const int T = cfg->type_vocab_size;
    /* config.c guarantees head_dim = D / H and P >= 1; md_family_build bounds head_dim */
    const int hd = cfg->head_dim;
    int err = 0;
    char name[160];

    fs->causal = 0;
    fs->vocab = V;
    fs->hidden = D;
    fs->n_layers = L;
    fs->n_kv_heads = H;
    fs->head_dim = hd;
    fs->max_positions = P;
    fs->type_vocab = T > 0 ? T : 0;

    /* embeddings */
    const hf_tensor *wt = md_find(c, "embeddings.word_embeddings.weight", 1);
    if (!wt || md_check(wt, V, D) != 0) return HUBRT_ERR_FORMAT;
    c->keep = wt;
    const hf_tensor *pt = md_find(c, "embeddings.position_embeddings.weight", 1);
    if (!pt || md_check(pt, P, D) != 0) return HUBRT_ERR_FORMAT;
    const hf_tensor *tt = NULL;
    if (T > 0) {
        tt = md_find(c, "embeddings.token_type_embeddings.weight", 1);
        if (!tt || md_check(tt, T, D) != 0) return HUBRT_ERR_FORMAT;
    }
    const float *eln_w = md_req_vector(c, "embeddings.LayerNorm.weight", D, &err);
    const float *eln_b = md_req_vector(c, "embeddings.LayerNorm.bias", D, &err);
    if (err) return HUBRT_ERR_FORMAT;

    int x = md_rows_buf(g, D), tmp = md_rows_buf(g, D);
    md_node nd = md_node_make(MD_EMBED, x, -1, -1, "word_emb");
    nd.table_type = md_wtype(wt); nd.table = wt->data; nd.d = D; nd.ids = MD_IDS_TOKENS;
    int emb_node = md_add(g, &nd); /* its table is set once the heads are placed (embed_table) */
    nd = md_node_make(MD_EMBED, tmp, -1, -1, "pos_emb");
    nd.table_type = md_wtype(pt); nd.table = pt->data; nd.d = D; nd.ids = MD_IDS_POSITIONS;
    md_add(g, &nd);
    nd = md_node_make(MD_ADD, x, x, tmp, "emb_add");
    md_add(g, &nd);
    if (tt) {
        int tmp2 = md_rows_buf(g, D);
        nd = md_node_make(MD_EMBED, tmp2, -1, -1, "type_emb");
        nd.table_type = md_wtype(tt); nd.table = tt->data; nd.d = D; nd.ids = MD_IDS_TYPES;
        md_add(g, &nd);
        nd = md_node_make(MD_ADD, x, x, tmp2, "emb_add2");
        md_add(g, &nd);
    }
    int x0 = md_rows_buf(g, D);
    nd = md_node_make(MD_LAYERNORM, x0, x, -1, "emb_ln");
    nd.vec0 = eln_w; nd.vec1 = eln_b; nd.eps = cfg->norm_eps;
    md_add(g, &nd);
    x = x0;

    md_op act = md_act_op(cfg->act);
    for (int l = 0; l < L; l++) {
        bert_layer ly;
        memset(&ly, 0, sizeof ly);
#define LNAME(s) (snprintf(name, sizeof name, "encoder.layer.%d." s, l), name)
        {
            const hf_tensor *qkv[3];
            if (!(qkv[0] = md_find(c, LNAME("attention.self.query.weight"), 1)) ||
                !(qkv[1] = md_find(c, LNAME("attention.self.key.weight"), 1)) ||
                !(qkv[2] = md_find(c, LNAME("attention.self.value.weight"), 1)))
                return HUBRT_ERR_FORMAT;
            int rows[3] = {D, D, D};
            if (!(ly.wqkv = md_matrix_concat(c, qkv, rows, 3, D))) return HUBRT_ERR_FORMAT;
        }
        if (!(ly.wo = mat(c, LNAME("attention.output.dense.weight"), D, D))) return HUBRT_ERR_FORMAT;
        if (!(ly.wi = mat(c, LNAME("intermediate.dense.weight"), F, D))) return HUBRT_ERR_FORMAT;
        if (!(ly.wd = mat(c, LNAME("output.dense.weight"), D, F))) return HUBRT_ERR_FORMAT;
        const float *bqkv[3];
        bqkv[0] = md_req_vector(c, LNAME("attention.self.query.bias"), D, &err);
        bqkv[1] = md_req_vector(c, LNAME("attention.self.key.bias"), D, &err);
        bqkv[2] = md_req_vector(c, LNAME("attention.self.value.bias"), D, &err);
        ly.bo = md_req_vector(c, LNAME("attention.output.dense.bias"), D, &err);
        ly.ln1_w = md_req_vector(c, LNAME("attention.output.LayerNorm.weight"), D, &err);
        ly.ln1_b = md_req_vector(c, LNAME("attention.output.LayerNorm.bias"), D, &err);
        ly.bi = md_req_vector(c, LNAME("intermediate.dense.bias"), F, &err);
        ly.bd = md_req_vector(c, LNAME("output.dense.bias"), D, &err);
        ly.ln2_w = md_req_vector(c, LNAME("output.LayerNorm.weight"), D, &err);
        ly.ln2_b = md_req_vector(c, LNAME("output.LayerNorm.bias"), D, &err);
        if (err) return HUBRT_ERR_FORMAT;
        {
            int lens[3] = {D, D, D};
            if (!(ly.bqkv = md_vector_concat(c, bqkv, lens, 3))) return HUBRT_ERR_NOMEM;
        }
#undef LNAME
        char nm[64];
#define NODE(op, o, a, b, s) (snprintf(nm, sizeof nm, "L%d.%s", l, s), md_node_make(op, o, a, b, nm))
        int qkv = md_rows_buf(g, 3 * D), q = md_rows_buf(g, D);
        nd = NODE(MD_MATMUL, qkv, x, -1, "qkv"); nd.w = ly.wqkv; nd.vec0 = ly.bqkv; md_add(g, &nd);
        /* K, V in the attention kernel's [heads][n_cap][hd] layout, in the arena */
        int kc = md_rows_buf(g, D), vc = md_rows_buf(g, D);
        nd = NODE(MD_QKV_SPLIT, q, qkv, kc, "split");
        nd.c = vc; nd.n_heads = H; nd.n_kv_heads = H; nd.head_dim = hd;
        md_add(g, &nd);
        int a = md_rows_buf(g, D);
        nd = NODE(MD_ATTENTION, a, q, kc, "attention");
        nd.c = vc;
        nd.n_heads = H; nd.n_kv_heads = H; nd.head_dim = hd;
        nd.causal = 0;
        nd.scale = 1.0f / sqrtf((float)hd);
        md_add(g, &nd);
        int o = md_rows_buf(g, D);
        nd = NODE(MD_MATMUL, o, a, -1, "attn_out"); nd.w = ly.wo; nd.vec0 = ly.bo; md_add(g, &nd);
        int x1 = md_rows_buf(g, D);
        nd = NODE(MD_ADD_NORM, x1, o, x, "residual1+attn_ln"); /* o += x; x1 = LN(o) */
        nd.vec0 = ly.ln1_w; nd.vec1 = ly.ln1_b; nd.eps = cfg->norm_eps; nd.norm = MD_NORM_LAYER;
        md_add(g, &nd);
        int f = md_rows_buf(g, F);
        nd = NODE(MD_MATMUL, f, x1, -1, "intermediate"); nd.w = ly.wi; nd.vec0 = ly.bi; md_add(g, &nd);
        nd = NODE(act, f, f, -1, "act"); md_add(g, &nd);
        int dn = md_rows_buf(g, D);
        nd = NODE(MD_MATMUL, dn, f, -1, "output"); nd.w = ly.wd; nd.vec0 = ly.bd; md_add(g, &nd);
        int x2 = md_rows_buf(g, D);
        nd = NODE(MD_ADD_NORM, x2, dn, x1, "residual2+out_ln"); /* dn += x1; x2 = LN(dn) */
        nd.vec0 = ly.ln2_w; nd.vec1 = ly.ln2_b; nd.eps = cfg->norm_eps; nd.norm = MD_NORM_LAYER;
        md_add(g, &nd);
        x = x2;
#undef NODE
    }

    /* last_hidden_state */
    int hid = md_ext_buf(g, MD_EXT_HIDDEN, D);
    nd = md_node_make(MD_COPY, hid, x, -1, "hidden_out");
    nd.need = 1u << MD_EXT_HIDDEN;
    md_add(g, &nd);

    /* heads */
    int seq_cls = strcmp(cfg->architecture, "BertForSequenceClassification") == 0;
    const hf_tensor *pool_w = md_find(c, "pooler.dense.weight", seq_cls);
    if (seq_cls && !pool_w) return HUBRT_ERR_FORMAT;
    int pooled = -1;
    const hf_tensor *cls_w = seq_cls ? md_find_exact(c, "classifier.weight", 1) : NULL;
    if (seq_cls && !cls_w) return HUBRT_ERR_FORMAT;
    if (pool_w) {
        const hk_weight *wp = md_matrix_owned(c, pool_w, D, D);
        if (!wp) return HUBRT_ERR_FORMAT;
        const float *bp = md_req_vector(c, "pooler.dense.bias", D, &err);
        if (err) return HUBRT_ERR_FORMAT;
        fs->has_pooler = 1;
        unsigned need = (1u << MD_EXT_POOLED) | (seq_cls ? 1u << MD_EXT_LOGITS : 0);
        pooled = md_fixed_buf(g, D);
        nd = md_node_make(MD_MATMUL, pooled, x, -1, "pooler");
        nd.w = wp; nd.vec0 = bp; nd.rows = MD_ROWS_FIRST; nd.need = need;
        md_add(g, &nd);
        nd = md_node_make(MD_TANH, pooled, pooled, -1, "pooler_tanh");
        nd.rows = MD_ROWS_FIRST; nd.need = need;
        md_add(g, &nd);
        int pout = md_ext_buf(g, MD_EXT_POOLED, D);
        nd = md_node_make(MD_COPY, pout, pooled, -1, "pooled_out");
        nd.rows = MD_ROWS_FIRST; nd.need = 1u << MD_EXT_POOLED;
        md_add(g, &nd);
    }
    if (seq_cls) {
        if (cls_w->ndim != 2 || cls_w->shape[0] < 1 || cls_w->shape[0] > 65536)
            return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': expected [labels, %d]",
                                   cls_w->file, cls_w->name, D);
        int labels = (int)cls_w->shape[0];
        const hk_weight *wc = md_matrix(c, cls_w, labels, D);
        if (!wc) return HUBRT_ERR_FORMAT;
        const float *bc = vec_exact(c, "classifier.bias", labels, &err);
        if (err) return HUBRT_ERR_FORMAT;
        int lo = md_ext_buf(g, MD_EXT_LOGITS, labels);
        nd = md_node_make(MD_MATMUL, lo, pooled, -1, "classifier");
        nd.w = wc; nd.vec0 = bc; nd.rows = MD_ROWS_FIRST; nd.need = 1u << MD_EXT_LOGITS;
        md_add(g, &nd);
        fs->n_logits = labels;
        fs->logits_per_sequence = 1;
        return embed_table(c, wt, NULL, emb_node);
    }
    if (md_find_exact(c, "cls.predictions.transform.dense.weight", 0)) {
        const hk_weight *wt2 = mat(c, "cls.predictions.transform.dense.weight", D, D);
        if (!wt2) return HUBRT_ERR_FORMAT;
        const float *bt = vec_exact(c, "cls.predictions.transform.dense.bias", D, &err);
        const float *tln_w = vec_exact(c, "cls.predictions.transform.LayerNorm.weight", D, &err);
        const float *tln_b = vec_exact(c, "cls.predictions.transform.LayerNorm.bias", D, &err);
        const float *dec_b = vec_exact(c, "cls.predictions.bias", V, &err);
        if (err) return HUBRT_ERR_FORMAT;
        const hf_tensor *dec_t = wt;
        if (!cfg->tie_word_embeddings) {
            dec_t = md_find_exact(c, "cls.predictions.decoder.weight", 1);
            if (!dec_t) return HUBRT_ERR_FORMAT;
        }
        const hk_weight *wdec = md_matrix_owned(c, dec_t, V, D);
        if (!wdec) return HUBRT_ERR_FORMAT;
        unsigned need = 1u << MD_EXT_LOGITS;
        int t1 = md_rows_buf(g, D), t2 = md_rows_buf(g, D);
        nd = md_node_make(MD_MATMUL, t1, x, -1, "mlm_transform");
        nd.w = wt2; nd.vec0 = bt; nd.need = need;
        md_add(g, &nd);
        nd = md_node_make(act, t1, t1, -1, "mlm_act");
        nd.need = need;
        md_add(g, &nd);
        nd = md_node_make(MD_LAYERNORM, t2, t1, -1, "mlm_ln");
        nd.vec0 = tln_w; nd.vec1 = tln_b; nd.eps = cfg->norm_eps; nd.need = need;
        md_add(g, &nd);
        int lo = md_ext_buf(g, MD_EXT_LOGITS, V);
        nd = md_node_make(MD_MATMUL, lo, t2, -1, "mlm_decoder");
        nd.w = wdec; nd.vec0 = dec_b; nd.need = need;
        md_add(g, &nd);
        fs->n_logits = V;
        return embed_table(c, wt, dec_t == wt ? wdec : NULL, emb_node);
    }
    return embed_table(c, wt, NULL, emb_node);
}
