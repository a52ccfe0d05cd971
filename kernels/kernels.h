/*
 * kernels/kernels.h — the compute kernels models are built from.
 *
 * Conventions
 *  - Activations are f32, row-major. Weight matrices are in the hub's
 *    nn.Linear layout W[out][in] (hk_weight), stored f32, bf16 or f16 (or
 *    quantised int8/int4 blocks of 32 when the user opts in).
 *  - Every kernel is "team-callable": it may be called by all threads of an
 *    OpenMP parallel region at once (each thread passes the same arguments;
 *    the kernel divides the work among the team and ends with a barrier), or
 *    by a single thread outside any parallel region (it then runs serially).
 *    This lets the executor keep one OpenMP team for a whole forward pass.
 *  - Every kernel has a scalar reference twin (hk_ref_*) in kernels/ref_*.c;
 *    fast paths (AVX2+FMA, AVX-512, AVX-512 BF16/VNNI) are chosen once from
 *    CPUID; HUBRT_ISA=scalar|avx2|avx512 forces a path.
 *  - Kernels trust their arguments: models validate shapes and ids first.
 */
#ifndef KERNELS_KERNELS_H
#define KERNELS_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef enum hk_wtype {
    HK_F32, HK_F16, HK_BF16,
    HK_Q8, /* blocks of 32 int8 + one f32 scale per block */
    HK_Q4, /* blocks of 32 int4 + one f32 scale per block */
    HK_GQ4, HK_GQ8 /* int4 / int8 codes with a scale and zero per group (hk_gq_init) */
} hk_wtype;

/* How an HK_GQ4 / HK_GQ8 weight is grouped (see hk_gq_init). */
typedef struct hk_gq_params {
    int bits;     /* 4 or 8 */
    int group;    /* input channels per scale group: a multiple of 16, or >= cols (one group) */
    int permuted; /* input channels reordered (act-order): hk_gq_set_perm */
} hk_gq_params;

/* A weight matrix W[rows=out][cols=in]; built once at load, read-only after. */
typedef struct hk_weight {
    hk_wtype type;
    int rows, cols;
    const void *data;  /* the stored elements (a view or owned) */
    void *owned;       /* memory this weight owns (repacked/quantised), or NULL */
    size_t owned_size;
    const float *scales; /* HK_Q8/HK_Q4: block scales (layout: kernels/internal.h), else NULL */
    int interleaved;     /* f32/f16/bf16 rows interleaved (hk_weight_repack_into) */
    hk_gq_params gq;     /* HK_GQ4/HK_GQ8: bits, group, permuted (kernels/gq.h: the layout) */
} hk_weight;

/* A view of a stored [out][in] matrix (no copy). dtype: HK_F32/F16/BF16. */
void hk_weight_view(hk_weight *w, hk_wtype type, int rows, int cols, const void *data);
/*
 * w (a plain f32/f16/bf16 weight) with its rows interleaved in groups of 4,
 * in 64-byte runs (layout: kernels/internal.h), so that the GEMV reads one
 * sequential stream instead of four: faster decode on machines where one
 * stream reads faster than four (build/bench-kernels prints both rates).
 * Same values and results; every kernel takes either layout.
 *
 * Into memory the caller provides, 64-byte aligned, of the size
 * hk_weight_repack_size gives (0 = w cannot be repacked), e.g. one 2 MiB-
 * aligned huge-page arena for all weights: the GEMV streams this layout, and
 * the prefetchers stop at every 4 KiB page boundary. dst does not own that
 * memory (hk_weight_free leaves it alone); dst may be w. Returns 0, or -1.
 */
size_t hk_weight_repack_size(const hk_weight *w);
int hk_weight_repack_into(hk_weight *dst, const hk_weight *w, void *mem);
/*
 * Quantises w (any float type, either layout) into an owned HK_Q8/HK_Q4
 * copy (rows interleaved like hk_weight_repack_into's); 0, or -1 when out
 * of memory or the types do not fit.
 */
int hk_weight_quantize(hk_weight *dst, const hk_weight *src, hk_wtype qtype);
void hk_weight_free(hk_weight *w); /* frees what it owns */

/*
 * Group-quantised int4/int8 weights: the codes of a pre-quantised hub
 * checkpoint (GPTQ, AWQ, compressed-tensors), repacked losslessly at load.
 * W[o][i] = scale[o][g] * (code[o][i] - zero[o][g]), g the group of input
 * channel i, is what hk_matmul computes, in f32 and exactly (every weight is
 * dequantised without rounding; activations stay f32). Build: hk_gq_size
 * bytes of 64-byte aligned memory, hk_gq_init, then every row with
 * hk_gq_set_rows (and hk_gq_set_perm when permuted). Channels are given in
 * the layout's order: group g is channels [g*group, (g+1)*group); with
 * act-order the loader sorts the input channels by group and passes perm.
 */
/* Bytes for such a weight, or 0 when p is not supported (bits, group). */
size_t hk_gq_size(int rows, int cols, const hk_gq_params *p);
/* Lays out (and zeroes) w in mem; 0, or -1 when p is not supported. w does not own mem. */
int hk_gq_init(hk_weight *w, int rows, int cols, const hk_gq_params *p, void *mem);
/*
 * Rows [o0, o0 + n): codes[r][j] in [0, 2^bits) for layout channel j < cols,
 * scales[r][g] finite, zeros[r][g] integers in [0, 2^bits] (n_groups =
 * ceil(cols / group) per row). Disjoint row ranges may be set concurrently.
 */
void hk_gq_set_rows(hk_weight *w, int o0, int n, const uint8_t *codes, const float *scales,
                    const int32_t *zeros);
/* perm[j] = the input channel at layout position j (a permutation of 0..cols-1). */
void hk_gq_set_perm(hk_weight *w, const int32_t *perm);
/* Groups per row of a GQ weight. */
int hk_gq_groups(const hk_weight *w);
/* The dequantised weight of a GQ weight at output o, input channel i (in the model's order). */
float hk_gq_weight(const hk_weight *w, int o, int i);

/*
 * y[n][w.rows] = x[n][w.cols] · Wᵀ (+ bias[w.rows] if non-NULL).
 *
 * Batch invariant: row i of y depends on row i of x alone, bit for bit —
 * not on n, the other rows, the team size or how the team splits W. Each
 * output has one fixed order of accumulation per ISA and weight type (the
 * GEMV's: AVX-512 16 f32 lanes over chunks of 32 columns, then a fixed
 * lane tree; quantised weights: int8 activations quantised per row, as in
 * decode), and every path, 1 row or 512, follows it. So several sequences
 * can share one matmul and each gets exactly what it would alone.
 */
void hk_matmul(const float *x, int n, const hk_weight *w, const float *bias, float *y);

/* Attention over a KV cache laid out [n_kv_heads][kv_stride][head_dim] (f32). */
typedef struct hk_attn_params {
    int n_q;            /* query rows */
    int n_heads, n_kv_heads, head_dim; /* n_kv_heads divides n_heads */
    int q_pos0;         /* absolute position of query row 0 */
    int n_kv;           /* keys 0..n_kv-1 are valid in the cache */
    int kv_stride;      /* positions reserved per kv head in the cache */
    int causal;         /* 1: query i sees key j only if j <= q_pos0 + i */
    int window;         /* > 0: also only if j > q_pos0 + i - window */
    const uint8_t *key_mask; /* [n_kv] 0 = padding key, never attended; or NULL */
    float scale;        /* usually 1/sqrt(head_dim) */
} hk_attn_params;

/* out[n_q][n_heads*head_dim] = softmax(q·kᵀ·scale + mask)·v, per head (GQA). */
void hk_attention(const float *q, const float *k_cache, const float *v_cache, float *out,
                  const hk_attn_params *p);
/* One sequence of hk_attention_seqs: the arguments of one hk_attention call. */
typedef struct hk_attn_seq {
    const float *q, *k_cache, *v_cache;
    float *out;
    hk_attn_params p;
} hk_attn_seq;
/*
 * hk_attention for each of n sequences (each with its own cache, positions
 * and rows), bit for bit, with the work of all of them shared out among the
 * team at once: one barrier instead of one per sequence, and e.g. 8 decode
 * rows of 3 kv heads give 24 work units to split instead of 3 each.
 */
void hk_attention_seqs(const hk_attn_seq *s, int n);
/*
 * Packed sequences (an encoder batch): the p->n_q rows hold n_seg sequences,
 * sequence s in rows seg_start[s] .. seg_start[s+1]-1 (seg_start[0] = 0,
 * seg_start[n_seg] = n_q), its keys at the same positions of the cache.
 * Each sequence attends only to itself (block-diagonal), from position 0:
 * p->q_pos0 and p->n_kv are not used; p->key_mask, if set, is per row.
 * Many small sequences are shared out whole among the team.
 */
void hk_attention_segments(const float *q, const float *k_cache, const float *v_cache, float *out,
                           const hk_attn_params *p, int n_seg, const int *seg_start);

/* Norms over rows of d: y[n][d]; w, b are f32 (models widen them at load). */
void hk_layernorm(const float *x, int n, int d, const float *w, const float *b, float eps, float *y);
void hk_rmsnorm(const float *x, int n, int d, const float *w, float eps, float *y);

/*
 * RoPE in HF's rotate-half layout, in place on x[n][n_heads*head_dim]; row i
 * is at position pos0 + i. inv_freq[head_dim/2] carries theta and any
 * rope_scaling (see hk_rope_inv_freq).
 */
void hk_rope(float *x, int n, int n_heads, int head_dim, int pos0, const float *inv_freq);
/* inv_freq[i] = 1 / theta^(2i/head_dim) (rotary_dim = head_dim). */
void hk_rope_inv_freq(float *inv_freq, int head_dim, float theta);

/* Elementwise, in place over n values. */
void hk_gelu(float *x, size_t n);      /* erf form (BERT "gelu") */
void hk_gelu_tanh(float *x, size_t n); /* tanh form ("gelu_new", "gelu_pytorch_tanh") */
void hk_silu(float *x, size_t n);
void hk_tanh(float *x, size_t n);
/* out[i] = silu(gate[i]) * up[i]  (LLaMA's MLP); out may alias gate. */
void hk_silu_mul(const float *gate, const float *up, float *out, size_t n);
/* out[i] = a[i] + b[i]; out may alias a. */
void hk_add(const float *a, const float *b, float *out, size_t n);
/* out[i] = a[i] * b[i]; out may alias a or b. */
void hk_mul(const float *a, const float *b, float *out, size_t n);
/* x[i] = max(x[i], 0) in place (NaN and -0 become +0). */
void hk_relu(float *x, size_t n);
/* dst[i] = src[i] (no overlap). */
void hk_copy(const float *src, float *dst, size_t n);
/* Rows: dst[i][:] = src[rows[i]][:] for i < n, rows of width floats (no overlap). */
void hk_gather_rows(const float *src, int width, const int32_t *rows, int n, float *dst);
/*
 * SwiGLU from a fused projection: gate_up[n][2d] holds gate | up per row;
 * out[n][d] = silu(gate) * up. out must not overlap gate_up.
 */
void hk_swiglu(const float *gate_up, int n, int d, float *out);

/*
 * Residual add and the next norm, one pass over each row: x[n][d] += delta,
 * then y = RMSNorm(x; w, eps) or LayerNorm(x; w, b, eps). The sums run in
 * double in a fixed order (kernels/ref_ops.c), the same on every ISA, so the
 * result does not depend on the path. w / b may be NULL (1 / 0).
 */
void hk_add_rmsnorm(float *x, const float *delta, int n, int d, const float *w, float eps, float *y);
void hk_add_layernorm(float *x, const float *delta, int n, int d, const float *w, const float *b,
                      float eps, float *y);

/*
 * KV cache writes. The cache of one layer's K (or V) is
 * [n_kv_heads][kv_stride][head_dim]; row i of the input is position pos0 + i.
 *
 * hk_kv_store: x[n][n_kv_heads*head_dim] into cache.
 * hk_qkv_split: fused projections qkv[n][(n_heads + 2*n_kv_heads)*head_dim]
 * (q heads, k heads, v heads) -> q[n][n_heads*head_dim], k into k_cache and
 * v into v_cache; q and k rotated by RoPE (as hk_rope) when inv_freq is not
 * NULL. Bit-identical to the unfused split + hk_rope + hk_kv_store.
 */
void hk_kv_store(const float *x, int n, int n_kv_heads, int head_dim, int pos0, float *cache, int kv_stride);
/* One sequence of hk_qkv_split_seqs: its rows, position and cache. */
typedef struct hk_qkv_seq {
    const float *qkv;   /* [n][(n_heads + 2*n_kv_heads)*head_dim] */
    int n, pos0;
    float *q;           /* [n][n_heads*head_dim] */
    float *k_cache, *v_cache;
    int kv_stride;
} hk_qkv_seq;
/* hk_qkv_split for each of n sequences, bit for bit, all rows shared out at once (one barrier). */
void hk_qkv_split_seqs(const hk_qkv_seq *s, int n, int n_heads, int n_kv_heads, int head_dim, const float *inv_freq);
void hk_qkv_split(const float *qkv, int n, int n_heads, int n_kv_heads, int head_dim, int pos0,
                  const float *inv_freq, float *q, float *k_cache, float *v_cache, int kv_stride);

/* out[n][d] = table[ids[i]] widened to f32; table is [rows][d] of type. */
void hk_embedding(hk_wtype type, const void *table, int d, const int32_t *ids, int n, float *out);
/* The same from a table in hk_weight_repack_into's interleaved layout (a tied LM head). */
void hk_embedding_interleaved(hk_wtype type, const void *table, int d, const int32_t *ids, int n, float *out);
/* Widens n stored values (f32/f16/bf16) to f32. */
void hk_to_f32(hk_wtype type, const void *src, float *dst, size_t n);

#endif
