/*
 * models/graph.c — building, planning and running a md_graph (see
 * models/graph.h for the model: nodes are kernel calls over buffers).
 *
 * The executor keeps one OpenMP team for the whole pass and does no maths
 * itself: each node is one call of a kernel from kernels/kernels.h, which
 * divides the work among the team and ends with a barrier.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#include "models/graph.h"

void md_graph_init(md_graph *g) { memset(g, 0, sizeof *g); }

void md_graph_free(md_graph *g)
{
    if (!g) return;
    free(g->bufs);
    free(g->nodes);
    memset(g, 0, sizeof *g);
}

static int add_buf(md_graph *g, md_buf_kind kind, int width)
{
    if (g->failed || width <= 0) { g->failed = 1; return -1; }
    if (g->n_bufs == g->cap_bufs) {
        int cap = g->cap_bufs ? 2 * g->cap_bufs : 64;
        md_buf *nb = realloc(g->bufs, (size_t)cap * sizeof *nb);
        if (!nb) { g->failed = 1; return -1; }
        g->bufs = nb;
        g->cap_bufs = cap;
    }
    md_buf *b = &g->bufs[g->n_bufs];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->width = width;
    b->first = b->last = -1;
    return g->n_bufs++;
}

int md_rows_buf(md_graph *g, int width) { return add_buf(g, MD_BUF_ROWS, width); }
int md_fixed_buf(md_graph *g, int width) { return add_buf(g, MD_BUF_FIXED, width); }

int md_ext_buf(md_graph *g, md_ext ext, int width)
{
    int id = add_buf(g, MD_BUF_EXT, width);
    if (id >= 0) g->bufs[id].ext = ext;
    return id;
}

int md_kv_buf(md_graph *g, int layer, int is_v, int width)
{
    int id = add_buf(g, MD_BUF_KV, width);
    if (id >= 0) { g->bufs[id].layer = layer; g->bufs[id].is_v = is_v; }
    return id;
}

md_node md_node_make(md_op op, int out, int a, int b, const char *name)
{
    md_node n;
    memset(&n, 0, sizeof n);
    n.op = op;
    n.out = out;
    n.a = a;
    n.b = b;
    n.c = -1;
    if (name) {
        strncpy(n.name, name, sizeof n.name - 1);
        n.name[sizeof n.name - 1] = 0;
    }
    return n;
}

static void touch(md_graph *g, int buf, int node)
{
    if (buf < 0 || buf >= g->n_bufs) return;
    md_buf *b = &g->bufs[buf];
    if (b->first < 0) b->first = node;
    b->last = node;
}

int md_add(md_graph *g, const md_node *node)
{
    if (g->failed) return -1;
    int ids[4] = {node->out, node->a, node->b, node->c};
    for (int i = 0; i < 4; i++)
        if (ids[i] < -1 || ids[i] >= g->n_bufs) { g->failed = 1; return -1; }
    if (node->out < 0) { g->failed = 1; return -1; }
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 128;
        md_node *nn = realloc(g->nodes, (size_t)cap * sizeof *nn);
        if (!nn) { g->failed = 1; return -1; }
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    int idx = g->n_nodes++;
    g->nodes[idx] = *node;
    for (int i = 0; i < 4; i++) touch(g, ids[i], idx);
    return idx;
}

/* Floats a buffer takes in an arena for n_cap rows, rounded up to 64 bytes. */
static size_t buf_floats(const md_buf *b, int n_cap)
{
    size_t f = (size_t)b->width * (b->kind == MD_BUF_ROWS ? (size_t)n_cap : 1);
    return (f + 15) & ~(size_t)15;
}

static int in_arena(const md_buf *b) { return b->kind == MD_BUF_ROWS || b->kind == MD_BUF_FIXED; }

size_t md_graph_unplanned_size(const md_graph *g, int n_cap)
{
    size_t total = 0;
    for (int i = 0; i < g->n_bufs; i++)
        if (in_arena(&g->bufs[i]) && g->bufs[i].first >= 0) total += buf_floats(&g->bufs[i], n_cap);
    return total;
}

/*
 * Greedy placement: biggest buffers first, each at the lowest offset where it
 * overlaps no already placed buffer whose lifetime intersects its own.
 */
size_t md_graph_plan(const md_graph *g, int n_cap, size_t *offsets)
{
    if (n_cap <= 0 || g->failed) return (size_t)-1;
    for (int i = 0; i < g->n_bufs; i++) {
        offsets[i] = 0;
        if (in_arena(&g->bufs[i]) && (size_t)g->bufs[i].width > SIZE_MAX / 4096 / (size_t)n_cap)
            return (size_t)-1;
    }
    int n = g->n_bufs;
    int *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    int *placed = malloc((size_t)(n ? n : 1) * sizeof *placed);
    if (!order || !placed) { free(order); free(placed); return (size_t)-1; }
    int m = 0;
    for (int i = 0; i < n; i++)
        if (in_arena(&g->bufs[i]) && g->bufs[i].first >= 0) order[m++] = i;
    /* insertion sort by size, descending (a few hundred buffers at most) */
    for (int i = 1; i < m; i++) {
        int v = order[i], j = i;
        size_t sv = buf_floats(&g->bufs[v], n_cap);
        while (j > 0 && buf_floats(&g->bufs[order[j - 1]], n_cap) < sv) { order[j] = order[j - 1]; j--; }
        order[j] = v;
    }
    size_t total = 0;
    int n_placed = 0;
    for (int i = 0; i < m; i++) {
        const md_buf *b = &g->bufs[order[i]];
        size_t size = buf_floats(b, n_cap), off = 0;
        /* retry until a pass finds no conflict at off */
        for (int moved = 1; moved;) {
            moved = 0;
            for (int k = 0; k < n_placed; k++) {
                const md_buf *o = &g->bufs[placed[k]];
                if (o->last < b->first || b->last < o->first) continue; /* never live together */
                size_t osz = buf_floats(o, n_cap);
                if (off < offsets[placed[k]] + osz && offsets[placed[k]] < off + size) {
                    off = offsets[placed[k]] + osz;
                    moved = 1;
                }
            }
        }
        offsets[order[i]] = off;
        placed[n_placed++] = order[i];
        if (off + size > total) total = off + size;
    }
    free(order);
    free(placed);
    return total;
}

const char *md_op_name(md_op op)
{
    static const char *names[MD_OP_COUNT] = {
        "embed", "add", "mul", "layernorm", "rmsnorm", "matmul", "rope", "kv_store",
        "attention", "gelu", "gelu_tanh", "silu", "relu", "tanh", "silu_mul", "copy",
        "qkv_split", "swiglu", "add_norm"};
    return (op >= 0 && op < MD_OP_COUNT) ? names[op] : "?";
}

/* ---- executor ------------------------------------------------------------ */

/* Base pointer of a buffer for this run. */
static float *buf_ptr(const md_graph *g, const md_run *r, int id)
{
    if (id < 0) return NULL;
    const md_buf *b = &g->bufs[id];
    switch (b->kind) {
    case MD_BUF_ROWS:
    case MD_BUF_FIXED: return r->arena + r->offsets[id];
    case MD_BUF_EXT: return r->ext[b->ext];
    case MD_BUF_KV: return (b->is_v ? r->kv_v : r->kv_k) + (size_t)b->layer * r->kv_layer_floats;
    }
    return NULL;
}

/* Ops that touch positions or the KV cache: run per sequence (md_seq). */
static int per_sequence(md_op op)
{
    return op == MD_ROPE || op == MD_KV_STORE || op == MD_QKV_SPLIT || op == MD_ATTENTION;
}

/* Row row0 of sequence s in buffer id ([n][width] rows of the pass). */
static float *seq_ptr(const md_graph *g, const md_run *r, const md_seq *s, int id)
{
    float *p = buf_ptr(g, r, id);
    return p && g->bufs[id].kind != MD_BUF_FIXED ? p + (size_t)s->row0 * (size_t)g->bufs[id].width : p;
}

/* K or V buffer id of sequence s, indexed by position: its cache's layer, or (encoders) an arena buffer. */
static float *kv_base(const md_graph *g, const md_run *r, const md_seq *s, int id)
{
    const md_buf *b = &g->bufs[id];
    if (b->kind == MD_BUF_KV) return (b->is_v ? s->kv_v : s->kv_k) + (size_t)b->layer * s->kv_layer_floats;
    return buf_ptr(g, r, id);
}

/* Positions reserved per kv head in K/V buffer id (arena K/V of encoders: n_cap). */
static int kv_stride_of(const md_graph *g, const md_run *r, const md_seq *s, int id)
{
    return g->bufs[id].kind == MD_BUF_KV ? s->kv_stride : r->n_cap;
}

/* An attention node's parameters for sequence s. */
static hk_attn_params attn_params(const md_graph *g, const md_run *r, const md_node *nd, const md_seq *s)
{
    hk_attn_params p;
    memset(&p, 0, sizeof p);
    p.n_q = s->n;
    p.n_heads = nd->n_heads;
    p.n_kv_heads = nd->n_kv_heads;
    p.head_dim = nd->head_dim;
    p.q_pos0 = s->pos0;
    p.n_kv = s->pos0 + s->n;
    p.kv_stride = kv_stride_of(g, r, s, nd->b);
    p.causal = nd->causal;
    p.window = nd->window;
    p.key_mask = r->key_mask;
    p.scale = nd->scale;
    return p;
}

/* A per-sequence node on sequence s: its rows, its positions, its cache. */
static void run_seq_node(const md_graph *g, const md_run *r, const md_node *nd, const md_seq *s)
{
    float *out = seq_ptr(g, r, s, nd->out), *a = seq_ptr(g, r, s, nd->a);
    int rows = s->n, pos0 = s->pos0;
    switch (nd->op) {
    case MD_ROPE: hk_rope(a, rows, nd->n_heads, nd->head_dim, pos0, nd->inv_freq); break;
    case MD_KV_STORE:
        /* the cache slot is indexed by position: from its start, not from row0 */
        hk_kv_store(a, rows, nd->n_kv_heads, nd->head_dim, pos0, kv_base(g, r, s, nd->out),
                    kv_stride_of(g, r, s, nd->out));
        break;
    case MD_QKV_SPLIT:
        hk_qkv_split(a, rows, nd->n_heads, nd->n_kv_heads, nd->head_dim, pos0, nd->inv_freq, out,
                     kv_base(g, r, s, nd->b), kv_base(g, r, s, nd->c), kv_stride_of(g, r, s, nd->b));
        break;
    case MD_ATTENTION: {
        hk_attn_params p = attn_params(g, r, nd, s);
        const float *k = kv_base(g, r, s, nd->b), *v = kv_base(g, r, s, nd->c);
        if (r->n_seg > 0 && r->n_seqs == 0 && rows == r->n && pos0 == 0) /* packed sequences (block-diagonal) */
            hk_attention_segments(a, k, v, out, &p, r->n_seg, r->seg_start);
        else
            hk_attention(a, k, v, out, &p);
        break;
    }
    default: break;
    }
}

/*
 * A q|k|v split or attention node over all the run's sequences in one
 * kernel call per SEQ_CHUNK of them (the work of all shared out at once):
 * each sequence gets exactly what the per-sequence call gives it.
 */
#define SEQ_CHUNK 32
static void run_seqs_node(const md_graph *g, const md_run *r, const md_node *nd)
{
    for (int s0 = 0; s0 < r->n_seqs; s0 += SEQ_CHUNK) {
        int cnt = r->n_seqs - s0 < SEQ_CHUNK ? r->n_seqs - s0 : SEQ_CHUNK;
        if (nd->op == MD_QKV_SPLIT) {
            hk_qkv_seq q[SEQ_CHUNK];
            for (int i = 0; i < cnt; i++) {
                const md_seq *s = &r->seqs[s0 + i];
                hk_qkv_seq one = {seq_ptr(g, r, s, nd->a), s->n, s->pos0, seq_ptr(g, r, s, nd->out),
                                  kv_base(g, r, s, nd->b), kv_base(g, r, s, nd->c), kv_stride_of(g, r, s, nd->b)};
                q[i] = one;
            }
            hk_qkv_split_seqs(q, cnt, nd->n_heads, nd->n_kv_heads, nd->head_dim, nd->inv_freq);
        } else {
            hk_attn_seq at[SEQ_CHUNK];
            for (int i = 0; i < cnt; i++) {
                const md_seq *s = &r->seqs[s0 + i];
                hk_attn_seq one = {seq_ptr(g, r, s, nd->a), kv_base(g, r, s, nd->b), kv_base(g, r, s, nd->c),
                                   seq_ptr(g, r, s, nd->out), attn_params(g, r, nd, s)};
                at[i] = one;
            }
            hk_attention_seqs(at, cnt);
        }
    }
}

/*
 * MD_ROWS_OUT's rows: all, one run of consecutive rows (row0, *rows), or
 * scattered ones gathered into r->gather (returned; *row0 = 0 then).
 */
static const float *out_rows(const md_graph *g, const md_run *r, const md_node *nd, int *row0, int *rows)
{
    if (r->logits_all) { *row0 = 0; *rows = r->n; return NULL; }
    if (!r->out_rows || r->n_out <= 0) { *row0 = r->n - 1; *rows = 1; return NULL; }
    int k = 1;
    while (k < r->n_out && r->out_rows[k] == r->out_rows[0] + k) k++;
    *rows = r->n_out;
    if (k == r->n_out) { *row0 = r->out_rows[0]; return NULL; }
    *row0 = 0;
    const md_buf *in = &g->bufs[nd->a];
    hk_gather_rows(buf_ptr(g, r, nd->a), in->width, r->out_rows, r->n_out, r->gather);
    return r->gather;
}

/* One node: its buffers and rows for this run, then one kernel call. */
static void run_node(const md_graph *g, const md_run *r, const md_node *nd)
{
    int n = r->n;
    /* input row selection and the number of rows worked on */
    int row0 = 0, rows = n;
    const float *gathered = NULL;
    md_rows mode = nd->rows;
    if (mode == MD_ROWS_FIRST) { row0 = 0; rows = 1; }
    if (mode == MD_ROWS_LAST) { row0 = n - 1; rows = 1; }
    if (mode == MD_ROWS_OUT) gathered = out_rows(g, r, nd, &row0, &rows);
    if (per_sequence(nd->op)) {
        if (r->n_seqs > 1 && (nd->op == MD_QKV_SPLIT || nd->op == MD_ATTENTION)) {
            run_seqs_node(g, r, nd);
        } else if (r->n_seqs > 0) {
            for (int i = 0; i < r->n_seqs; i++) run_seq_node(g, r, nd, &r->seqs[i]);
        } else { /* the selected rows as one sequence */
            md_seq one = {row0, rows, r->pos0 + row0, r->kv_k, r->kv_v, r->kv_layer_floats, r->kv_stride};
            run_seq_node(g, r, nd, &one);
        }
        return;
    }
    float *out = buf_ptr(g, r, nd->out);
    float *a = buf_ptr(g, r, nd->a);
    float *b = buf_ptr(g, r, nd->b);
    int wo = g->bufs[nd->out].width;
    /* A row-selecting node reads row row0 of a [n][w] input. */
    if (gathered) a = (float *)gathered;
    else if (a && g->bufs[nd->a].kind != MD_BUF_FIXED) a += (size_t)row0 * (size_t)g->bufs[nd->a].width;
    size_t len = (size_t)rows * (size_t)wo; /* elementwise length */

    switch (nd->op) {
    case MD_EMBED: {
        const int32_t *ids = (nd->ids == MD_IDS_TOKENS ? r->ids : nd->ids == MD_IDS_TYPES ? r->type_ids
                              : r->positions) + row0;
        if (nd->table_interleaved) hk_embedding_interleaved(nd->table_type, nd->table, nd->d, ids, rows, out);
        else hk_embedding(nd->table_type, nd->table, nd->d, ids, rows, out);
        break;
    }
    case MD_ADD: hk_add(a, b, out, len); break;
    case MD_MUL: hk_mul(a, b, out, len); break;
    case MD_LAYERNORM: hk_layernorm(a, rows, wo, nd->vec0, nd->vec1, nd->eps, out); break;
    case MD_RMSNORM: hk_rmsnorm(a, rows, wo, nd->vec0, nd->eps, out); break;
    case MD_MATMUL: hk_matmul(a, rows, nd->w, nd->vec0, out); break;
    case MD_GELU: hk_gelu(out, len); break;
    case MD_GELU_TANH: hk_gelu_tanh(out, len); break;
    case MD_SILU: hk_silu(out, len); break;
    case MD_TANH: hk_tanh(out, len); break;
    case MD_RELU: hk_relu(out, len); break;
    case MD_SILU_MUL: hk_silu_mul(a, b, out, len); break;
    case MD_COPY: hk_copy(a, out, len); break;
    case MD_SWIGLU: hk_swiglu(a, rows, wo, out); break;
    case MD_ADD_NORM:
        if (nd->norm == MD_NORM_RMS) hk_add_rmsnorm(a, b, rows, wo, nd->vec0, nd->eps, out);
        else hk_add_layernorm(a, b, rows, wo, nd->vec0, nd->vec1, nd->eps, out);
        break;
    case MD_ROPE: case MD_KV_STORE: case MD_QKV_SPLIT: case MD_ATTENTION: /* per sequence, above */
    case MD_OP_COUNT: break;
    }
}

static int node_wanted(const md_node *nd, const md_run *r)
{
    if (!nd->need) return 1;
    for (int e = 0; e < MD_EXT_COUNT; e++)
        if ((nd->need & (1u << e)) && r->ext[e]) return 1;
    return 0;
}

void md_graph_run(const md_graph *g, const md_run *r)
{
    int nt = r->n_threads > 0 ? r->n_threads : 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int master = omp_get_thread_num() == 0;
        double t0 = (r->profile && master) ? omp_get_wtime() : 0;
        for (int i = 0; i < g->n_nodes; i++) {
            const md_node *nd = &g->nodes[i];
            if (!node_wanted(nd, r)) continue;
            run_node(g, r, nd);
            if (r->profile && master) { /* every node ends with a barrier */
                double t1 = omp_get_wtime();
                r->profile[i] += t1 - t0;
                t0 = t1;
            }
        }
    }
}
