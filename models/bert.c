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
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/family.h"
#include "hf/error.h"

/* One encoder layer's weights: [out][in] matrices, f32 vectors. */
typedef struct bert_layer {
    const hk_weight *wqkv;      /* [3D][D]: query | key | value stacked */
    const float *bqkv;          /* [3D] */
    const hk_weight *wo;        /* [D][D] attention.output.dense */
    const float *bo;            /* [D] */
    md_norm_w attn_ln;          /* [D] attention.output.LayerNorm */
    const hk_weight *wi;        /* [F][D] intermediate.dense */
    const float *bi;            /* [F] */
    const hk_weight *wd;        /* [D][F] output.dense */
    const float *bd;            /* [D] */
    md_norm_w out_ln;           /* [D] output.LayerNorm */
} bert_layer;

typedef struct bert_weights {
    md_table word;              /* [V][D] word_embeddings */
    md_table position;          /* [P][D] position_embeddings */
    md_table type;              /* [T][D] token_type_embeddings (when T > 0) */
    md_norm_w emb_ln;           /* [D] embeddings.LayerNorm */
    bert_layer *layers;         /* [L] */
    /* pooler_output = tanh(x[0]·Wpᵀ + bp); NULL when the checkpoint has none */
    const hk_weight *pooler;    /* [D][D] */
    const float *bpool;         /* [D] */
    /* sequence classification: pooler_output·Wcᵀ + bc; NULL for other heads */
    const hk_weight *classifier; /* [labels][D] */
    const float *bcls;          /* [labels] */
    /* masked LM: LayerNorm(act(x·Wtᵀ + bt))·decoderᵀ + bias; NULL when absent */
    const hk_weight *mlm_dense; /* [D][D] cls.predictions.transform.dense */
    const float *mlm_dense_bias; /* [D] */
    md_norm_w mlm_ln;           /* [D] cls.predictions.transform.LayerNorm */
    const hk_weight *mlm_decoder; /* [V][D] (the word embeddings when tied) */
    const float *mlm_bias;      /* [V] cls.predictions.bias */
} bert_weights;

/* ---- load ---------------------------------------------------------------- */

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

/* Layer c->layer's tensors into ly. */
static int load_layer(md_ctx *c, bert_layer *ly)
{
    const hf_config *cfg = c->src->cfg;
    const int D = cfg->hidden_size, F = cfg->intermediate_size;
    int err = 0;
    const hf_tensor *qkv[3];
    if (!(qkv[0] = md_find(c, md_lname(c, "attention.self.query.weight"), 1)) ||
        !(qkv[1] = md_find(c, md_lname(c, "attention.self.key.weight"), 1)) ||
        !(qkv[2] = md_find(c, md_lname(c, "attention.self.value.weight"), 1)))
        return HUBRT_ERR_FORMAT;
    const int rows[3] = {D, D, D};
    if (!(ly->wqkv = md_matrix_concat(c, qkv, rows, 3, D))) return HUBRT_ERR_FORMAT;
    if (!(ly->wo = mat(c, md_lname(c, "attention.output.dense.weight"), D, D))) return HUBRT_ERR_FORMAT;
    if (!(ly->wi = mat(c, md_lname(c, "intermediate.dense.weight"), F, D))) return HUBRT_ERR_FORMAT;
    if (!(ly->wd = mat(c, md_lname(c, "output.dense.weight"), D, F))) return HUBRT_ERR_FORMAT;
    const float *bqkv[3];
    bqkv[0] = md_req_vector(c, md_lname(c, "attention.self.query.bias"), D, &err);
    bqkv[1] = md_req_vector(c, md_lname(c, "attention.self.key.bias"), D, &err);
    bqkv[2] = md_req_vector(c, md_lname(c, "attention.self.value.bias"), D, &err);
    ly->bo = md_req_vector(c, md_lname(c, "attention.output.dense.bias"), D, &err);
    ly->attn_ln.weight = md_req_vector(c, md_lname(c, "attention.output.LayerNorm.weight"), D, &err);
    ly->attn_ln.bias = md_req_vector(c, md_lname(c, "attention.output.LayerNorm.bias"), D, &err);
    ly->bi = md_req_vector(c, md_lname(c, "intermediate.dense.bias"), F, &err);
    ly->bd = md_req_vector(c, md_lname(c, "output.dense.bias"), D, &err);
    ly->out_ln.weight = md_req_vector(c, md_lname(c, "output.LayerNorm.weight"), D, &err);
    ly->out_ln.bias = md_req_vector(c, md_lname(c, "output.LayerNorm.bias"), D, &err);
    if (err) return HUBRT_ERR_FORMAT;
    if (!(ly->bqkv = md_vector_concat(c, bqkv, rows, 3))) return HUBRT_ERR_NOMEM;
    return 0;
}

/*
 * The pooler and the head the architecture has (classifier or MLM); *tied
 * is the MLM decoder when it is the word embeddings' placed copy.
 */
static int load_heads(md_ctx *c, const hf_tensor *wt, bert_weights *w, const hk_weight **tied)
{
    const hf_config *cfg = c->src->cfg;
    const int D = cfg->hidden_size, V = cfg->vocab_size;
    int err = 0;
    int seq_cls = strcmp(cfg->architecture, "BertForSequenceClassification") == 0;
    const hf_tensor *pool_w = md_find(c, "pooler.dense.weight", seq_cls);
    if (seq_cls && !pool_w) return HUBRT_ERR_FORMAT;
    const hf_tensor *cls_w = seq_cls ? md_find_exact(c, "classifier.weight", 1) : NULL;
    if (seq_cls && !cls_w) return HUBRT_ERR_FORMAT;
    if (pool_w) {
        if (!(w->pooler = md_matrix_owned(c, pool_w, D, D))) return HUBRT_ERR_FORMAT;
        w->bpool = md_req_vector(c, "pooler.dense.bias", D, &err);
        if (err) return HUBRT_ERR_FORMAT;
    }
    if (seq_cls) {
        if (cls_w->ndim != 2 || cls_w->shape[0] < 1 || cls_w->shape[0] > 65536)
            return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': expected [labels, %d]",
                                   cls_w->file, cls_w->name, D);
        int labels = (int)cls_w->shape[0];
        if (!(w->classifier = md_matrix(c, cls_w, labels, D))) return HUBRT_ERR_FORMAT;
        w->bcls = vec_exact(c, "classifier.bias", labels, &err);
        if (err) return HUBRT_ERR_FORMAT;
        return 0;
    }
    if (md_find_exact(c, "cls.predictions.transform.dense.weight", 0)) {
        if (!(w->mlm_dense = mat(c, "cls.predictions.transform.dense.weight", D, D))) return HUBRT_ERR_FORMAT;
        w->mlm_dense_bias = vec_exact(c, "cls.predictions.transform.dense.bias", D, &err);
        w->mlm_ln.weight = vec_exact(c, "cls.predictions.transform.LayerNorm.weight", D, &err);
        w->mlm_ln.bias = vec_exact(c, "cls.predictions.transform.LayerNorm.bias", D, &err);
        w->mlm_bias = vec_exact(c, "cls.predictions.bias", V, &err);
        if (err) return HUBRT_ERR_FORMAT;
        const hf_tensor *dec_t = wt;
        if (!cfg->tie_word_embeddings) {
            dec_t = md_find_exact(c, "cls.predictions.decoder.weight", 1);
            if (!dec_t) return HUBRT_ERR_FORMAT;
        }
        if (!(w->mlm_decoder = md_matrix_owned(c, dec_t, V, D))) return HUBRT_ERR_FORMAT;
        if (dec_t == wt) *tied = w->mlm_decoder;
    }
    return 0;
}

/* Every weight into w (w->layers allocated by the caller). */
static int load(md_ctx *c, bert_weights *w)
{
    static const char *const prefixes[] = {"bert.", "", NULL};
    c->prefixes = prefixes;
    c->layer_stem = "encoder.layer.";
    const hf_config *cfg = c->src->cfg;
    const int D = cfg->hidden_size, V = cfg->vocab_size, P = cfg->max_positions;
    const int T = cfg->type_vocab_size;
    int err = 0;

    /* embeddings */
    const hf_tensor *wt = md_find(c, "embeddings.word_embeddings.weight", 1);
    if (!wt || md_check(wt, V, D) != 0) return HUBRT_ERR_FORMAT;
    c->keep = wt;
    const hf_tensor *pt = md_find(c, "embeddings.position_embeddings.weight", 1);
    if (!pt || md_check(pt, P, D) != 0) return HUBRT_ERR_FORMAT;
    w->position = md_table_view(pt);
    if (T > 0) {
        const hf_tensor *tt = md_find(c, "embeddings.token_type_embeddings.weight", 1);
        if (!tt || md_check(tt, T, D) != 0) return HUBRT_ERR_FORMAT;
        w->type = md_table_view(tt);
    }
    w->emb_ln.weight = md_req_vector(c, "embeddings.LayerNorm.weight", D, &err);
    w->emb_ln.bias = md_req_vector(c, "embeddings.LayerNorm.bias", D, &err);
    if (err) return HUBRT_ERR_FORMAT;

    for (int l = 0; l < cfg->n_layers; l++) {
        c->layer = l;
        int rc = load_layer(c, &w->layers[l]);
        if (rc != 0) return rc;
    }

    const hk_weight *tied = NULL;
    int rc = load_heads(c, wt, w, &tied);
    if (rc != 0) return rc;
    /* the word table last: it may be the MLM decoder's arena copy */
    return md_embed_table(c, wt, tied, &w->word) != 0 ? HUBRT_ERR_NOMEM : 0;
}

/* ---- graph --------------------------------------------------------------- */

static void build(md_builder *b, const hf_config *cfg, const bert_weights *w)
{
    md_graph *g = b->g;
    const int D = cfg->hidden_size, H = cfg->n_heads, hd = cfg->head_dim, V = cfg->vocab_size;
    const md_heads heads = {H, H, hd, NULL};
    const float scale = 1.0f / sqrtf((float)hd);
    const md_op act = md_act_op(cfg->act);

    /* x = LayerNorm(word[ids] + position[i] + token_type[type_ids]) */
    int x = md_embed(b, &w->word, MD_IDS_TOKENS, "word_emb");
    int pos = md_embed(b, &w->position, MD_IDS_POSITIONS, "pos_emb");
    md_add_to(b, x, pos, "emb_add");
    if (cfg->type_vocab_size > 0) {
        int types = md_embed(b, &w->type, MD_IDS_TYPES, "type_emb");
        md_add_to(b, x, types, "emb_add2");
    }
    x = md_normalize(b, x, &w->emb_ln, "emb_ln");

    for (int l = 0; l < cfg->n_layers; l++) {
        const bert_layer *ly = &w->layers[l];
        b->layer = l;
        int qkv = md_matmul(b, x, ly->wqkv, ly->bqkv, "qkv");
        int q = md_rows_buf(g, D);
        /* K, V in the attention kernel's [heads][n_cap][hd] layout, in the arena */
        int kc = md_rows_buf(g, D), vc = md_rows_buf(g, D);
        md_qkv_split(b, q, qkv, kc, vc, &heads, "split");
        int a = md_attention(b, q, kc, vc, &heads, 0, scale, "attention");
        int o = md_matmul(b, a, ly->wo, ly->bo, "attn_out");
        int x1 = md_add_norm(b, o, x, &ly->attn_ln, "residual1+attn_ln"); /* o += x; x1 = LN(o) */
        int f = md_matmul(b, x1, ly->wi, ly->bi, "intermediate");
        md_activate(b, act, f, "act");
        int dn = md_matmul(b, f, ly->wd, ly->bd, "output");
        x = md_add_norm(b, dn, x1, &ly->out_ln, "residual2+out_ln"); /* dn += x1; x = LN(dn) */
    }
    b->layer = -1;

    /* last_hidden_state */
    b->need = 1u << MD_EXT_HIDDEN;
    md_copy_to(b, md_ext_buf(g, MD_EXT_HIDDEN, D), x, "hidden_out");

    /* heads, each run only when its output is wanted */
    int pooled = -1;
    if (w->pooler) {
        b->rows = MD_ROWS_FIRST; /* [CLS] */
        b->need = (1u << MD_EXT_POOLED) | (w->classifier ? 1u << MD_EXT_LOGITS : 0);
        pooled = md_fixed_buf(g, D);
        md_matmul_to(b, pooled, x, w->pooler, w->bpool, "pooler");
        md_activate(b, MD_TANH, pooled, "pooler_tanh");
        b->need = 1u << MD_EXT_POOLED;
        md_copy_to(b, md_ext_buf(g, MD_EXT_POOLED, D), pooled, "pooled_out");
    }
    if (w->classifier) {
        b->rows = MD_ROWS_FIRST;
        b->need = 1u << MD_EXT_LOGITS;
        md_matmul_to(b, md_ext_buf(g, MD_EXT_LOGITS, w->classifier->rows), pooled, w->classifier, w->bcls,
                     "classifier");
    } else if (w->mlm_decoder) {
        b->rows = MD_ROWS_ALL;
        b->need = 1u << MD_EXT_LOGITS;
        int t = md_matmul(b, x, w->mlm_dense, w->mlm_dense_bias, "mlm_transform");
        md_activate(b, act, t, "mlm_act");
        t = md_normalize(b, t, &w->mlm_ln, "mlm_ln");
        md_matmul_to(b, md_ext_buf(g, MD_EXT_LOGITS, V), t, w->mlm_decoder, w->mlm_bias, "mlm_decoder");
    }
}

int md_bert_build(md_ctx *c)
{
    const hf_config *cfg = c->src->cfg;
    md_family *fs = c->fs;
    /* config.c guarantees head_dim = D / H and max_positions >= 1; md_family_build bounds head_dim */
    fs->causal = 0;
    fs->type_vocab = cfg->type_vocab_size > 0 ? cfg->type_vocab_size : 0;

    bert_weights w;
    memset(&w, 0, sizeof w);
    w.layers = calloc((size_t)cfg->n_layers, sizeof *w.layers);
    if (!w.layers) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory", c->src->dir);
    int rc = load(c, &w);
    if (rc == 0) {
        fs->has_pooler = w.pooler != NULL;
        fs->n_logits = w.classifier ? w.classifier->rows : w.mlm_decoder ? cfg->vocab_size : 0;
        fs->logits_per_sequence = w.classifier != NULL;
        md_builder b = md_builder_init(&fs->graph, MD_NORM_LAYER, cfg->norm_eps, 0);
        build(&b, cfg, &w);
    }
    free(w.layers);
    return rc;
}
