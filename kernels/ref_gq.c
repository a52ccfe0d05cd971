/*
 * kernels/ref_gq.c — scalar reference matmul for group-quantised weights
 * (HK_GQ4, HK_GQ8): each weight dequantised on its own (kernels/gq.h's
 * hk_gq_elem, exact), x gathered through the permutation, f32 sums in 8
 * partial sums as kernels/ref_matmul.c does.
 */
#include <stdlib.h>

#include "kernels/gq.h"

void hk_ref_gq_matmul_rows(const float *x, int n, const hk_weight *w, const float *bias, float *y,
                           int o0, int o1)
{
    size_t cols = (size_t)w->cols, rows = (size_t)w->rows;
    const int32_t *perm = hk_gq_perm(w);
    float *wr = malloc(cols * sizeof(float));
    for (int o = o0; o < o1; o++) {
        if (wr)
            for (size_t j = 0; j < cols; j++) wr[j] = hk_gq_elem(w, o, j);
        for (int i = 0; i < n; i++) {
            const float *xr = x + (size_t)i * cols;
            float acc[8] = {0};
            for (size_t j = 0; j < cols; j++) {
                float wv = wr ? wr[j] : hk_gq_elem(w, o, j);
                acc[j & 7] += (perm ? xr[perm[j]] : xr[j]) * wv;
            }
            float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
            y[(size_t)i * rows + (size_t)o] = s + (bias ? bias[o] : 0.0f);
        }
    }
    free(wr);
}
