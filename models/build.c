/*
 * models/build.c — the node helpers the family graphs are written with
 * (models/build.h).
 */
#include <stdio.h>

#include "models/build.h"

md_builder md_builder_init(md_graph *g, md_norm norm, float eps, int causal)
{
    md_builder b = {g, -1, norm, eps, causal, MD_ROWS_ALL, 0};
    return b;
}

/* A node named for the builder's layer, with its rows and need. */
static md_node node(const md_builder *b, md_op op, int out, int a, int bb, const char *name)
{
    char full[64];
    if (b->layer >= 0) {
        snprintf(full, sizeof full, "L%d.%s", b->layer, name);
        name = full;
    }
    md_node nd = md_node_make(op, out, a, bb, name);
    nd.rows = b->rows;
    nd.need = b->need;
    return nd;
}

/* Width of buffer x (0 when x is not a buffer: the graph already failed). */
static int width(const md_builder *b, int x)
{
    return x >= 0 && x < b->g->n_bufs ? b->g->bufs[x].width : 0;
}

int md_embed(md_builder *b, const md_table *t, md_ids ids, const char *name)
{
    int x = md_rows_buf(b->g, t->d);
    md_node nd = node(b, MD_EMBED, x, -1, -1, name);
    nd.table_type = t->type;
    nd.table = t->data;
    nd.d = t->d;
    nd.ids = ids;
    nd.table_interleaved = t->interleaved;
    md_add(b->g, &nd);
    return x;
}

void md_add_to(md_builder *b, int x, int y, const char *name)
{
    md_node nd = node(b, MD_ADD, x, x, y, name);
    md_add(b->g, &nd);
}

/* Norm weights, epsilon and kind on a norm node. */
static void set_norm(const md_builder *b, md_node *nd, const md_norm_w *w)
{
    nd->vec0 = w->weight;
    nd->vec1 = w->bias;
    nd->eps = b->eps;
    nd->norm = b->norm;
}

int md_normalize(md_builder *b, int x, const md_norm_w *w, const char *name)
{
    int out = md_rows_buf(b->g, width(b, x));
    md_node nd = node(b, b->norm == MD_NORM_RMS ? MD_RMSNORM : MD_LAYERNORM, out, x, -1, name);
    set_norm(b, &nd, w);
    md_add(b->g, &nd);
    return out;
}

int md_add_norm(md_builder *b, int x, int y, const md_norm_w *w, const char *name)
{
    int out = md_rows_buf(b->g, width(b, x));
    md_node nd = node(b, MD_ADD_NORM, out, x, y, name);
    set_norm(b, &nd, w);
    md_add(b->g, &nd);
    return out;
}

void md_matmul_to(md_builder *b, int out, int x, const hk_weight *w, const float *bias, const char *name)
{
    md_node nd = node(b, MD_MATMUL, out, x, -1, name);
    nd.w = w;
    nd.vec0 = bias;
    md_add(b->g, &nd);
}

int md_matmul(md_builder *b, int x, const hk_weight *w, const float *bias, const char *name)
{
    int out = md_rows_buf(b->g, w->rows);
    md_matmul_to(b, out, x, w, bias, name);
    return out;
}

void md_activate(md_builder *b, md_op act, int x, const char *name)
{
    md_node nd = node(b, act, x, x, -1, name);
    md_add(b->g, &nd);
}

void md_qkv_split(md_builder *b, int q, int qkv, int k, int v, const md_heads *h, const char *name)
{
    md_node nd = node(b, MD_QKV_SPLIT, q, qkv, k, name);
    nd.c = v;
    nd.n_heads = h->n_heads;
    nd.n_kv_heads = h->n_kv_heads;
    nd.head_dim = h->head_dim;
    nd.inv_freq = h->inv_freq;
    md_add(b->g, &nd);
}

void md_rope(md_builder *b, int x, int n_heads, int head_dim, const float *inv_freq, const char *name)
{
    md_node nd = node(b, MD_ROPE, x, x, -1, name);
    nd.n_heads = n_heads;
    nd.head_dim = head_dim;
    nd.inv_freq = inv_freq;
    md_add(b->g, &nd);
}

void md_kv_store(md_builder *b, int slot, int x, int n_kv_heads, int head_dim, const char *name)
{
    md_node nd = node(b, MD_KV_STORE, slot, x, -1, name);
    nd.n_kv_heads = n_kv_heads;
    nd.head_dim = head_dim;
    md_add(b->g, &nd);
}

int md_attention(md_builder *b, int q, int k, int v, const md_heads *h, int window, float scale,
                 const char *name)
{
    int out = md_rows_buf(b->g, h->n_heads * h->head_dim);
    md_node nd = node(b, MD_ATTENTION, out, q, k, name);
    nd.c = v;
    nd.n_heads = h->n_heads;
    nd.n_kv_heads = h->n_kv_heads;
    nd.head_dim = h->head_dim;
    nd.causal = b->causal;
    nd.window = window;
    nd.scale = scale;
    md_add(b->g, &nd);
    return out;
}

void md_swiglu(md_builder *b, int out, int gate_up, const char *name)
{
    md_node nd = node(b, MD_SWIGLU, out, gate_up, -1, name);
    md_add(b->g, &nd);
}

void md_silu_mul(md_builder *b, int out, int gate, int up, const char *name)
{
    md_node nd = node(b, MD_SILU_MUL, out, gate, up, name);
    md_add(b->g, &nd);
}

void md_copy_to(md_builder *b, int out, int x, const char *name)
{
    md_node nd = node(b, MD_COPY, out, x, -1, name);
    md_add(b->g, &nd);
}

md_op md_act_op(hf_act act)
{
    switch (act) {
    case HF_ACT_GELU: return MD_GELU;
    case HF_ACT_GELU_TANH: return MD_GELU_TANH;
    case HF_ACT_SILU: return MD_SILU;
    case HF_ACT_RELU: return MD_RELU;
    }
    return MD_GELU;
}

void md_lm_head(md_builder *b, int x, int last, const md_norm_w *norm, const hk_weight *lm_head,
                const char *norm_name)
{
    b->layer = -1;
    b->need = 1u << MD_EXT_LOGITS;
    int h = md_add_norm(b, x, last, norm, norm_name);
    int logits = md_ext_buf(b->g, MD_EXT_LOGITS, lm_head->rows);
    b->rows = MD_ROWS_OUT;
    md_matmul_to(b, logits, h, lm_head, NULL, "lm_head");
}
