/*
 * kernels/gq.c — group-quantised weights (HK_GQ4, HK_GQ8): building the
 * layout of kernels/gq.h from codes, scales and zeros, and the team split
 * of their matmul (the AVX-512 paths, or the scalar reference).
 */
#include <stdlib.h>

#include "kernels/gq.h"

static int params_ok(int rows, int cols, const hk_gq_params *p)
{
    if (rows <= 0 || cols <= 0 || (p->bits != 4 && p->bits != 8)) return 0;
    /* whole 16-lane vectors per group, or one group over the row */
    return p->group >= cols || (p->group >= 16 && p->group % 16 == 0);
}

/* The group size kept in the weight: one group spans the padded row. */
static int group_of(int cols, const hk_gq_params *p)
{
    return p->group >= cols ? (int)hk_gq_kp(cols) : p->group;
}

size_t hk_gq_size(int rows, int cols, const hk_gq_params *p)
{
    if (!params_ok(rows, cols, p)) return 0;
    int g = group_of(cols, p);
    size_t perm = p->permuted ? ((size_t)cols * sizeof(int32_t) + 63) & ~(size_t)63 : 0;
    return hk_gq_codes_bytes(rows, cols, p->bits) + hk_gq_meta_bytes(rows, cols, g) + perm;
}

int hk_gq_init(hk_weight *w, int rows, int cols, const hk_gq_params *p, void *mem)
{
    size_t bytes = hk_gq_size(rows, cols, p);
    if (!bytes) return -1;
    memset(mem, 0, bytes); /* padding rows and channels: code 0, scale 0 */
    memset(w, 0, sizeof *w);
    w->type = p->bits == 4 ? HK_GQ4 : HK_GQ8;
    w->rows = rows;
    w->cols = cols;
    w->data = mem;
    w->gq.bits = p->bits;
    w->gq.group = group_of(cols, p);
    w->gq.permuted = p->permuted != 0;
    if (w->gq.permuted) { /* identity until set */
        int32_t *perm = (int32_t *)hk_gq_perm(w);
        for (int j = 0; j < cols; j++) perm[j] = j;
    }
    return 0;
}

int hk_gq_groups(const hk_weight *w)
{
    return (int)hk_gq_ngroups(w->cols, w->gq.group);
}

void hk_gq_set_rows(hk_weight *w, int o0, int n, const uint8_t *codes, const float *scales,
                    const int32_t *zeros)
{
    size_t cols = (size_t)w->cols, ng = hk_gq_ngroups(w->cols, w->gq.group);
    size_t ngl = hk_gq_meta_groups(w->cols, w->gq.group); /* the layout's stride */
    uint8_t *base = (uint8_t *)w->data;
    for (int r = 0; r < n; r++) {
        int o = o0 + r;
        const uint8_t *row = codes + (size_t)r * cols;
        for (size_t c0 = 0; c0 < cols; c0 += HK_GQ_CHUNK) {
            uint8_t *chunk = base + hk_gq_chunk_off(w, o, c0 / HK_GQ_CHUNK);
            size_t m = cols - c0 < HK_GQ_CHUNK ? cols - c0 : HK_GQ_CHUNK;
            if (w->gq.bits == 8) {
                memcpy(chunk, row + c0, m);
                continue;
            }
            uint32_t lanes[16] = {0};
            for (size_t e = 0; e < m; e++)
                lanes[e % 16] |= (uint32_t)(row[c0 + e] & 15) << (4 * (e / 16));
            for (int l = 0; l < 16; l++) /* little-endian dwords */
                for (int b = 0; b < 4; b++) chunk[l * 4 + b] = (uint8_t)(lanes[l] >> (8 * b));
        }
        float *meta = (float *)hk_gq_meta(w);
        for (size_t g = 0; g < ng; g++) {
            float *m = meta + (((size_t)(o >> 2) * ngl + g) * 4 + (size_t)(o & 3)) * 2;
            m[0] = scales[(size_t)r * ng + g];
            m[1] = (float)zeros[(size_t)r * ng + g];
        }
    }
}

void hk_gq_set_perm(hk_weight *w, const int32_t *perm)
{
    if (w->gq.permuted) memcpy((int32_t *)hk_gq_perm(w), perm, (size_t)w->cols * sizeof(int32_t));
}

float hk_gq_weight(const hk_weight *w, int o, int i)
{
    const int32_t *perm = hk_gq_perm(w);
    size_t j = (size_t)i;
    if (perm) /* the layout position of input channel i */
        for (j = 0; j < (size_t)w->cols && perm[j] != i; j++) {}
    return hk_gq_elem(w, o, j);
}

/*
 * Rows in whole groups of 16 per thread (4-row groups never split); every
 * row is computed by one thread in a fixed order, so the result does not
 * depend on the team size.
 */
void hk_gq_matmul(const float *x, int n, const hk_weight *w, const float *bias, float *y)
{
    size_t lo, hi;
    hk_team_range((size_t)w->rows, 16, &lo, &hi);
    if (lo < hi) {
        if (hk_isa_level() >= HK_ISA_AVX512)
            hk_gq_rows_avx512(x, n, w, bias, y, (int)lo, (int)hi);
        else
            hk_ref_gq_matmul_rows(x, n, w, bias, y, (int)lo, (int)hi);
    }
#pragma omp barrier
}
