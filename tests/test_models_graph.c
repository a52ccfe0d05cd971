/*
 * tests/test_models_graph.c — the graph executor on its own: the arena planner
 * (buffers live at the same time never overlap, sharing saves memory, sizes
 * scale with n_cap), a small hand-built graph run with 1 and 2 threads
 * against a plain C computation, the need-mask that skips nodes whose
 * output nobody asked for, row selection (first / last / all), and the
 * fused qkv_split / swiglu / add_norm nodes against their unfused forms.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/graph.h"
#include "tests/test.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) & 0xffff) / 65536.0f - 0.5f;
}

static void test_planner(void)
{
    for (int trial = 0; trial < 50; trial++) {
        md_graph g;
        md_graph_init(&g);
        int nb = 3 + trial % 17;
        int ids[32];
        for (int i = 0; i < nb; i++)
            ids[i] = (i % 3 == 0) ? md_fixed_buf(&g, 1 + (int)(frand() * 100 + 50)) : md_rows_buf(&g, 1 + (int)(frand() * 60 + 30));
        /* random chains of copies: each node reads one buffer and writes another */
        for (int k = 0; k < 2 * nb; k++) {
            int a = ids[(k * 7 + trial) % nb], o = ids[(k * 5 + 3 + trial) % nb];
            if (a == o) continue;
            md_node nd = md_node_make(MD_COPY, o, a, -1, "copy");
            md_add(&g, &nd);
        }
        TEST_CHECK(!g.failed, "planner trial %d: build failed", trial);
        size_t off[32];
        for (int cap = 1; cap <= 64; cap *= 8) {
            size_t total = md_graph_plan(&g, cap, off);
            size_t unplanned = md_graph_unplanned_size(&g, cap);
            TEST_CHECK(total != (size_t)-1 && total <= unplanned, "trial %d cap %d: plan %zu > %zu", trial, cap, total, unplanned);
            int overlap = 0;
            for (int i = 0; i < g.n_bufs; i++)
                for (int j = i + 1; j < g.n_bufs; j++) {
                    const md_buf *x = &g.bufs[i], *y = &g.bufs[j];
                    if (x->first < 0 || y->first < 0) continue;
                    if (x->last < y->first || y->last < x->first) continue;
                    size_t sx = (size_t)x->width * (x->kind == MD_BUF_ROWS ? (size_t)cap : 1);
                    size_t sy = (size_t)y->width * (y->kind == MD_BUF_ROWS ? (size_t)cap : 1);
                    if (off[i] < off[j] + sy && off[j] < off[i] + sx) overlap++;
                    if (off[i] + sx > total || off[j] + sy > total) overlap++;
                }
            TEST_CHECK(overlap == 0, "trial %d cap %d: %d overlapping live buffers", trial, cap, overlap);
        }
        md_graph_free(&g);
    }
}

/*
 * A little network: x = E[ids] + P[pos]; h = RMSNorm(x); y = h·Wᵀ + b;
 * logits (last row) = y·Uᵀ; a need-masked copy of x to the HIDDEN output.
 */
static void test_run(int threads)
{
    enum { V = 11, D = 8, F = 12, P = 16, N = 5 };
    float E[V * D], Pe[P * D], W[F * D], b[F], U[V * F], nw[D];
    for (int i = 0; i < V * D; i++) E[i] = frand();
    for (int i = 0; i < P * D; i++) Pe[i] = frand();
    for (int i = 0; i < F * D; i++) W[i] = frand();
    for (int i = 0; i < F; i++) b[i] = frand();
    for (int i = 0; i < V * F; i++) U[i] = frand();
    for (int i = 0; i < D; i++) nw[i] = 1 + frand();
    hk_weight w, u;
    hk_weight_view(&w, HK_F32, F, D, W);
    hk_weight_view(&u, HK_F32, V, F, U);

    md_graph g;
    md_graph_init(&g);
    int x = md_rows_buf(&g, D), pe = md_rows_buf(&g, D), h = md_rows_buf(&g, D), y = md_rows_buf(&g, F);
    md_node nd = md_node_make(MD_EMBED, x, -1, -1, "emb");
    nd.table_type = HK_F32; nd.table = E; nd.d = D; nd.ids = MD_IDS_TOKENS;
    md_add(&g, &nd);
    nd = md_node_make(MD_EMBED, pe, -1, -1, "pos");
    nd.table_type = HK_F32; nd.table = Pe; nd.d = D; nd.ids = MD_IDS_POSITIONS;
    md_add(&g, &nd);
    nd = md_node_make(MD_ADD, x, x, pe, "add");
    md_add(&g, &nd);
    int hid = md_ext_buf(&g, MD_EXT_HIDDEN, D);
    nd = md_node_make(MD_COPY, hid, x, -1, "hidden");
    nd.need = 1u << MD_EXT_HIDDEN;
    md_add(&g, &nd);
    nd = md_node_make(MD_RMSNORM, h, x, -1, "norm");
    nd.vec0 = nw; nd.eps = 1e-5f;
    md_add(&g, &nd);
    nd = md_node_make(MD_MATMUL, y, h, -1, "mm");
    nd.w = &w; nd.vec0 = b;
    md_add(&g, &nd);
    int lo = md_ext_buf(&g, MD_EXT_LOGITS, V);
    nd = md_node_make(MD_MATMUL, lo, y, -1, "head");
    nd.w = &u; nd.rows = MD_ROWS_OUT; nd.need = 1u << MD_EXT_LOGITS;
    md_add(&g, &nd);
    TEST_CHECK(!g.failed, "build");

    size_t off[16];
    size_t sz = md_graph_plan(&g, 8, off);
    float *arena = malloc((sz ? sz : 1) * sizeof(float));
    int32_t ids[N] = {3, 1, 4, 1, 5}, pos[N];
    for (int i = 0; i < N; i++) pos[i] = 2 + i;
    float logits_all[N * V], last[V], hidden[N * D];
    double prof[16] = {0};
    md_run r;
    memset(&r, 0, sizeof r);
    r.n = N; r.pos0 = 2; r.ids = ids; r.positions = pos; r.type_ids = pos;
    r.arena = arena; r.offsets = off; r.n_cap = 8; r.n_threads = threads; r.profile = prof;
    r.ext[MD_EXT_LOGITS] = logits_all; r.logits_all = 1; r.ext[MD_EXT_HIDDEN] = hidden;
    md_graph_run(&g, &r);

    /* plain C */
    double worst = 0, worst_h = 0;
    for (int i = 0; i < N; i++) {
        float xv[D], hv[D], yv[F];
        double ss = 0;
        for (int j = 0; j < D; j++) { xv[j] = E[ids[i] * D + j] + Pe[pos[i] * D + j]; ss += (double)xv[j] * xv[j]; }
        float rs = (float)(1.0 / sqrt(ss / D + 1e-5));
        for (int j = 0; j < D; j++) {
            hv[j] = xv[j] * rs * nw[j];
            worst_h = fmax(worst_h, fabs(hidden[i * D + j] - xv[j]));
        }
        for (int o = 0; o < F; o++) {
            double acc = b[o];
            for (int j = 0; j < D; j++) acc += (double)hv[j] * W[o * D + j];
            yv[o] = (float)acc;
        }
        for (int v = 0; v < V; v++) {
            double acc = 0;
            for (int o = 0; o < F; o++) acc += (double)yv[o] * U[v * F + o];
            worst = fmax(worst, fabs(acc - logits_all[i * V + v]));
        }
    }
    TEST_CHECK(worst < 1e-5 && worst_h < 1e-6, "%d threads: logits off by %.3g, hidden by %.3g", threads, worst, worst_h);
    double total = 0;
    for (int i = 0; i < g.n_nodes; i++) total += prof[i];
    TEST_CHECK(total > 0, "%d threads: profile recorded nothing", threads);

    /* last row only, hidden not wanted: the copy node is skipped */
    for (int i = 0; i < N * D; i++) hidden[i] = -99;
    r.ext[MD_EXT_LOGITS] = last; r.logits_all = 0; r.ext[MD_EXT_HIDDEN] = NULL; r.profile = NULL;
    md_graph_run(&g, &r);
    double d = 0;
    for (int v = 0; v < V; v++) d = fmax(d, fabs(last[v] - logits_all[(N - 1) * V + v]));
    TEST_CHECK(d < 1e-6, "%d threads: last-row logits differ by %.3g", threads, d);
    TEST_CHECK(hidden[0] == -99, "%d threads: a node with an unwanted output ran", threads);

    free(arena);
    md_graph_free(&g);
}

/* qkv_split (RoPE + KV store) and swiglu, add_norm against the unfused nodes. */
static void test_fused(int threads)
{
    enum { N = 6, H = 4, KV = 2, HD = 8, CAP = 16, F = 10, D = H * HD };
    const int W3 = (H + 2 * KV) * HD;
    float inv[HD / 2];
    hk_rope_inv_freq(inv, HD, 10000.0f);
    float *qkv = malloc(sizeof(float) * N * W3), *gu = malloc(sizeof(float) * N * 2 * F);
    for (int i = 0; i < N * W3; i++) qkv[i] = frand();
    for (int i = 0; i < N * 2 * F; i++) gu[i] = frand();
    /* fused graph */
    md_graph g;
    md_graph_init(&g);
    int bq = md_ext_buf(&g, MD_EXT_HIDDEN, W3); /* input handed in through an ext slot */
    int q = md_rows_buf(&g, H * HD), kc = md_kv_buf(&g, 0, 0, KV * HD), vc = md_kv_buf(&g, 0, 1, KV * HD);
    md_node nd = md_node_make(MD_QKV_SPLIT, q, bq, kc, "split");
    nd.c = vc; nd.n_heads = H; nd.n_kv_heads = KV; nd.head_dim = HD; nd.inv_freq = inv;
    md_add(&g, &nd);
    int qout = md_ext_buf(&g, MD_EXT_LOGITS, H * HD);
    nd = md_node_make(MD_COPY, qout, q, -1, "q_out");
    md_add(&g, &nd);
    size_t off[16];
    size_t sz = md_graph_plan(&g, CAP, off);
    float *arena = malloc((sz ? sz : 1) * sizeof(float));
    float *kcache = calloc(KV * CAP * HD, sizeof(float)), *vcache = calloc(KV * CAP * HD, sizeof(float));
    float *qres = malloc(sizeof(float) * N * H * HD);
    md_run r;
    memset(&r, 0, sizeof r);
    r.n = N; r.pos0 = 3; r.arena = arena; r.offsets = off; r.n_cap = CAP; r.n_threads = threads;
    r.kv_k = kcache; r.kv_v = vcache; r.kv_layer_floats = KV * CAP * HD; r.kv_stride = CAP;
    r.ext[MD_EXT_HIDDEN] = qkv; r.ext[MD_EXT_LOGITS] = qres;
    md_graph_run(&g, &r);
    /* reference: split by hand, hk_rope on copies */
    float *qr = malloc(sizeof(float) * N * H * HD), *kr = malloc(sizeof(float) * N * KV * HD);
    for (int i = 0; i < N; i++) {
        memcpy(qr + i * H * HD, qkv + i * W3, sizeof(float) * H * HD);
        memcpy(kr + i * KV * HD, qkv + i * W3 + H * HD, sizeof(float) * KV * HD);
    }
    hk_rope(qr, N, H, HD, 3, inv);
    hk_rope(kr, N, KV, HD, 3, inv);
    double dq = 0, dk = 0, dv = 0;
    for (int i = 0; i < N * H * HD; i++) dq = fmax(dq, fabs(qr[i] - qres[i]));
    for (int i = 0; i < N; i++)
        for (int h = 0; h < KV; h++)
            for (int j = 0; j < HD; j++) {
                dk = fmax(dk, fabs(kr[(i * KV + h) * HD + j] - kcache[(h * CAP + 3 + i) * HD + j]));
                dv = fmax(dv, fabs(qkv[i * W3 + (H + KV + h) * HD + j] - vcache[(h * CAP + 3 + i) * HD + j]));
            }
    TEST_CHECK(dq < 1e-6 && dk < 1e-6 && dv == 0, "%d threads: qkv_split q %.3g k %.3g v %.3g", threads, dq, dk, dv);
    md_graph_free(&g);
    free(arena);

    /* swiglu over [N][2F] vs hk_silu_mul on the halves, with 1 row and N rows */
    for (int rows = 1; rows <= N; rows += N - 1) {
        md_graph_init(&g);
        int in = md_ext_buf(&g, MD_EXT_HIDDEN, 2 * F), o = md_ext_buf(&g, MD_EXT_LOGITS, F), scratch = md_rows_buf(&g, F);
        nd = md_node_make(MD_SWIGLU, o, in, scratch, "swiglu");
        md_add(&g, &nd);
        sz = md_graph_plan(&g, CAP, off);
        arena = malloc((sz ? sz : 1) * sizeof(float));
        float *res = malloc(sizeof(float) * N * F), *ref = malloc(sizeof(float) * N * F);
        float *gate = malloc(sizeof(float) * N * F), *up = malloc(sizeof(float) * N * F);
        memset(&r, 0, sizeof r);
        r.n = rows; r.arena = arena; r.offsets = off; r.n_cap = CAP; r.n_threads = threads;
        r.ext[MD_EXT_HIDDEN] = gu; r.ext[MD_EXT_LOGITS] = res;
        md_graph_run(&g, &r);
        for (int i = 0; i < rows; i++) {
            memcpy(gate + i * F, gu + i * 2 * F, sizeof(float) * F);
            memcpy(up + i * F, gu + i * 2 * F + F, sizeof(float) * F);
        }
        hk_silu_mul(gate, up, ref, (size_t)rows * F);
        double ds = 0;
        for (int i = 0; i < rows * F; i++) ds = fmax(ds, fabs(ref[i] - res[i]));
        TEST_CHECK(ds < 1e-6, "%d threads, %d rows: swiglu off by %.3g", threads, rows, ds);
        free(res); free(ref); free(gate); free(up); free(arena);
        md_graph_free(&g);
    }

    /* add_norm (rms and layer) vs hk_add + hk_rmsnorm / hk_layernorm */
    for (int kind = 0; kind < 2; kind++) {
        md_graph_init(&g);
        int xa = md_ext_buf(&g, MD_EXT_HIDDEN, D), xb = md_ext_buf(&g, MD_EXT_POOLED, D), o = md_ext_buf(&g, MD_EXT_LOGITS, D);
        float nw[D], nb[D];
        for (int j = 0; j < D; j++) { nw[j] = 1 + frand(); nb[j] = frand(); }
        nd = md_node_make(MD_ADD_NORM, o, xa, xb, "add_norm");
        nd.vec0 = nw; nd.vec1 = nb; nd.eps = 1e-6f; nd.norm = kind ? MD_NORM_LAYER : MD_NORM_RMS;
        md_add(&g, &nd);
        sz = md_graph_plan(&g, CAP, off);
        arena = malloc((sz ? sz : 1) * sizeof(float));
        float a1[N * D], a2[N * D], bb[N * D], res[N * D], ref[N * D];
        for (int i = 0; i < N * D; i++) { a1[i] = a2[i] = 3 * frand(); bb[i] = frand(); }
        memset(&r, 0, sizeof r);
        r.n = N; r.arena = arena; r.offsets = off; r.n_cap = CAP; r.n_threads = threads;
        r.ext[MD_EXT_HIDDEN] = a1; r.ext[MD_EXT_POOLED] = bb; r.ext[MD_EXT_LOGITS] = res;
        md_graph_run(&g, &r);
        hk_add(a2, bb, a2, N * D);
        if (kind == 0) hk_rmsnorm(a2, N, D, nw, 1e-6f, ref);
        else hk_layernorm(a2, N, D, nw, nb, 1e-6f, ref);
        double dn = 0, dx = 0;
        for (int i = 0; i < N * D; i++) { dn = fmax(dn, fabs(ref[i] - res[i])); dx = fmax(dx, fabs(a1[i] - a2[i])); }
        TEST_CHECK(dn < 1e-5 && dx == 0, "%d threads: add_norm(%s) off by %.3g (residual %.3g)", threads,
                   kind ? "layer" : "rms", dn, dx);
        free(arena);
        md_graph_free(&g);
    }
    free(qkv); free(gu); free(kcache); free(vcache); free(qres); free(qr); free(kr);
}

int main(void)
{
    test_planner();
    test_run(1);
    test_run(2);
    test_fused(1);
    test_fused(2);
    return test_finish();
}
