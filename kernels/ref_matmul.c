/*
 * kernels/ref_matmul.c — scalar reference matmul y = x·Wᵀ (+bias) for every
 * weight type, and the quantised-activation GEMV reference.
 *
 * Float weights are widened element by element and accumulated in f32 with
 * 8 independent partial sums (so -O2 code is not hopelessly slow when
 * HUBRT_ISA=scalar runs whole models); quantised weights are dequantised
 * per block.
 */
#include "kernels/ref.h"
#include "kernels/gq.h"

/* dot(x, W[o]) over cols for a float-typed row. */
static float dot_row(const float *x, const hk_weight *w, int o)
{
    size_t cols = (size_t)w->cols;
    float acc[8] = {0};
    size_t j = 0;
    if (w->interleaved) {
        for (; j < cols; j++) acc[j & 7] += x[j] * hk_w_elem(w, o, j);
    } else if (w->type == HK_F32) {
        const float *r = (const float *)w->data + (size_t)o * cols;
        for (; j + 8 <= cols; j += 8)
            for (int u = 0; u < 8; u++) acc[u] += x[j + u] * r[j + u];
        for (; j < cols; j++) acc[0] += x[j] * r[j];
    } else if (w->type == HK_BF16 || w->type == HK_F16) {
        const uint16_t *r = (const uint16_t *)w->data + (size_t)o * cols;
        int bf = w->type == HK_BF16;
        for (; j < cols; j++)
            acc[j & 7] += x[j] * (bf ? hk_bf16_to_f32(r[j]) : hk_f16_to_f32(r[j]));
    } else {
        int nb = hk_qblocks(w->cols);
        for (int b = 0; b < nb; b++) {
            size_t qi = hk_qidx(w, o, b);
            float s = 0;
            for (int e = 0; e < HK_QBLOCK; e++) {
                size_t c = (size_t)b * HK_QBLOCK + (size_t)e;
                if (c >= cols) break;
                float q;
                if (w->type == HK_Q8) {
                    q = ((const int8_t *)w->data)[qi * HK_QBLOCK + (size_t)e];
                } else {
                    const uint8_t *blk = (const uint8_t *)w->data + qi * 16;
                    int nib = e < 16 ? (blk[e] & 15) : (blk[e - 16] >> 4);
                    q = (float)(nib - 8);
                }
                s += x[c] * q;
            }
            acc[b & 7] += s * w->scales[qi];
        }
    }
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

void hk_ref_matmul_rows(const float *x, int n, const hk_weight *w, const float *bias,
                        float *y, int o0, int o1)
{
    if (hk_is_gq(w)) { /* kernels/ref_gq.c */
        hk_ref_gq_matmul_rows(x, n, w, bias, y, o0, o1);
        return;
    }
    size_t cols = (size_t)w->cols, rows = (size_t)w->rows;
    for (int i = 0; i < n; i++)
        for (int o = o0; o < o1; o++)
            y[(size_t)i * rows + (size_t)o] = dot_row(x + (size_t)i * cols, w, o) + (bias ? bias[o] : 0.0f);
}

void hk_ref_matmul(const float *x, int n, const hk_weight *w, const float *bias, float *y)
{
    hk_ref_matmul_rows(x, n, w, bias, y, 0, w->rows);
}

/* Symmetric int8 per block of 32: d = max|x|/127, q = round(x/d). */
void hk_quantize_act_ref(const float *x, int cols, hk_qact *xa)
{
    int nb = hk_qblocks(cols);
    xa->nb = nb;
    for (int b = 0; b < nb; b++) {
        float amax = 0;
        int c0 = b * HK_QBLOCK;
        for (int e = 0; e < HK_QBLOCK && c0 + e < cols; e++) {
            float a = x[c0 + e] < 0 ? -x[c0 + e] : x[c0 + e];
            if (a > amax) amax = a;
        }
        float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        int32_t sum = 0;
        for (int e = 0; e < HK_QBLOCK; e++) {
            int v = 0;
            if (c0 + e < cols) {
                float t = x[c0 + e] * id;
                v = (int)(t < 0 ? t - 0.5f : t + 0.5f);
                if (v > 127) v = 127;
                if (v < -127) v = -127;
            }
            xa->q[c0 + e] = (int8_t)v;
            sum += v;
        }
        xa->d[b] = d;
        xa->sum[b] = sum;
    }
}

void hk_ref_qgemv(const hk_qact *xa, const hk_weight *w, const float *bias, float *y, int o0, int o1)
{
    int nb = xa->nb;
    for (int o = o0; o < o1; o++) {
        float acc = 0;
        for (int b = 0; b < nb; b++) {
            const int8_t *xq = xa->q + (size_t)b * HK_QBLOCK;
            size_t qi = hk_qidx(w, o, b);
            int32_t s = 0;
            if (w->type == HK_Q8) {
                const int8_t *q = (const int8_t *)w->data + qi * HK_QBLOCK;
                for (int e = 0; e < HK_QBLOCK; e++) s += (int32_t)xq[e] * q[e];
            } else {
                const uint8_t *q = (const uint8_t *)w->data + qi * 16;
                for (int e = 0; e < 16; e++)
                    s += (int32_t)xq[e] * ((q[e] & 15) - 8) + (int32_t)xq[e + 16] * ((q[e] >> 4) - 8);
            }
            acc += (float)s * (xa->d[b] * w->scales[qi]);
        }
        y[o] = acc + (bias ? bias[o] : 0.0f);
    }
}
