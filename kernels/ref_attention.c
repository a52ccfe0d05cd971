/*
 * kernels/ref_attention.c — scalar reference attention.
 *
 * For each (query row, head): one pass over the visible keys with an online
 * softmax (running max m, running sum l, output rescaled when m grows), so
 * no score row is stored and the output slice itself is the accumulator.
 * A row that sees no key at all (everything masked) gets zeros.
 */
#include <math.h>

#include "kernels/ref.h"

/* Is key j visible from the query at absolute position qp? */
static int visible(const hk_attn_params *p, int qp, int j)
{
    if (p->causal && j > qp) return 0;
    if (p->window > 0 && j <= qp - p->window) return 0;
    if (p->key_mask && !p->key_mask[j]) return 0;
    return 1;
}

void hk_ref_attention_items(const float *q, const float *k_cache, const float *v_cache,
                            float *out, const hk_attn_params *p, size_t it0, size_t it1)
{
    int hd = p->head_dim, group = p->n_heads / p->n_kv_heads;
    size_t qstride = (size_t)p->n_heads * (size_t)hd;
    for (size_t it = it0; it < it1; it++) {
        int i = (int)(it / (size_t)p->n_heads), h = (int)(it % (size_t)p->n_heads);
        int kvh = h / group, qp = p->q_pos0 + i;
        const float *qr = q + (size_t)i * qstride + (size_t)h * (size_t)hd;
        float *o = out + (size_t)i * qstride + (size_t)h * (size_t)hd;
        const float *kb = k_cache + (size_t)kvh * (size_t)p->kv_stride * (size_t)hd;
        const float *vb = v_cache + (size_t)kvh * (size_t)p->kv_stride * (size_t)hd;
        float m = -INFINITY, l = 0;
        for (int d = 0; d < hd; d++) o[d] = 0;
        for (int j = 0; j < p->n_kv; j++) {
            if (!visible(p, qp, j)) continue;
            const float *kr = kb + (size_t)j * (size_t)hd, *vr = vb + (size_t)j * (size_t)hd;
            float s = 0;
            for (int d = 0; d < hd; d++) s += qr[d] * kr[d];
            s *= p->scale;
            if (s > m) { /* rescale what we have to the new max */
                float c = expf(m - s);
                l *= c;
                for (int d = 0; d < hd; d++) o[d] *= c;
                m = s;
            }
            float e = expf(s - m);
            l += e;
            for (int d = 0; d < hd; d++) o[d] += e * vr[d];
        }
        if (l > 0) {
            float il = 1.0f / l;
            for (int d = 0; d < hd; d++) o[d] *= il;
        }
    }
}

void hk_ref_attention(const float *q, const float *k_cache, const float *v_cache, float *out,
                      const hk_attn_params *p)
{
    hk_ref_attention_items(q, k_cache, v_cache, out, p, 0, (size_t)p->n_q * (size_t)p->n_heads);
}

void hk_ref_attention_segments(const float *q, const float *k_cache, const float *v_cache, float *out,
                               const hk_attn_params *p, int n_seg, const int *seg_start)
{
    size_t qstride = (size_t)p->n_heads * (size_t)p->head_dim;
    for (int s = 0; s < n_seg; s++) {
        int s0 = seg_start[s];
        hk_attn_params ps = *p;
        ps.n_q = ps.n_kv = seg_start[s + 1] - s0;
        ps.q_pos0 = 0;
        ps.key_mask = p->key_mask ? p->key_mask + s0 : NULL;
        size_t ko = (size_t)s0 * (size_t)p->head_dim; /* position s0 of each kv head */
        hk_ref_attention(q + (size_t)s0 * qstride, k_cache + ko, v_cache + ko, out + (size_t)s0 * qstride, &ps);
    }
}
