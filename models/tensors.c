/*
 * models/tensors.c — the hub tensors a family asks for, found by name (with
 * the checkpoint's prefixes and old gamma/beta names) and checked for dtype
 * and shape before anything reads them (models/family.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hf/error.h"
#include "models/family.h"

const hf_tensor *md_find(md_ctx *c, const char *name, int required)
{
    char full[256];
    for (int i = 0; c->prefixes[i]; i++) {
        snprintf(full, sizeof full, "%s%s", c->prefixes[i], name);
        const hf_tensor *t = hf_weights_find(c->src->weights, full);
        if (t) return t;
    }
    /* older BERT checkpoints name LayerNorm parameters gamma/beta
     * (transformers renames them on load) */
    size_t len = strlen(name);
    const char *old = len >= 16 && !strcmp(name + len - 16, "LayerNorm.weight") ? "gamma"
                    : len >= 14 && !strcmp(name + len - 14, "LayerNorm.bias") ? "beta" : NULL;
    if (old) {
        size_t stem = len - (old[0] == 'g' ? 6 : 4); /* keeps "...LayerNorm." */
        for (int i = 0; c->prefixes[i]; i++) {
            snprintf(full, sizeof full, "%s%.*s%s", c->prefixes[i], (int)stem, name, old);
            const hf_tensor *t = hf_weights_find(c->src->weights, full);
            if (t) return t;
        }
    }
    if (required) {
        snprintf(full, sizeof full, "%s%s", c->prefixes[0], name);
        if (c->prefixes[1])
            hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s' not found in the weight files "
                            "(also tried '%s%s')", c->src->dir, full, c->prefixes[1], name);
        else
            hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s' not found in the weight files",
                            c->src->dir, full);
    }
    return NULL;
}

const hf_tensor *md_find_exact(md_ctx *c, const char *name, int required)
{
    static const char *const none[] = {"", NULL};
    const char *const *keep = c->prefixes;
    c->prefixes = none;
    const hf_tensor *t = md_find(c, name, 0); /* with the gamma/beta fallback */
    c->prefixes = keep;
    if (!t && required)
        hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s' not found in the weight files",
                        c->src->dir, name);
    return t;
}

const char *md_lname(md_ctx *c, const char *name)
{
    snprintf(c->name, sizeof c->name, "%s%d.%s", c->layer_stem, c->layer, name);
    return c->name;
}

static void shape_str(const hf_tensor *t, char *buf, size_t cap)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int i = 0; i < t->ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

int md_check(const hf_tensor *t, int64_t d0, int64_t d1)
{
    const char *file = t->file ? t->file : "?";
    if (t->dtype != HUBRT_DTYPE_F32 && t->dtype != HUBRT_DTYPE_F16 && t->dtype != HUBRT_DTYPE_BF16) {
        const char *dn = hf_dtype_name(t->dtype);
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s is not a float "
                               "type (F32, F16 or BF16 expected)", file, t->name, dn ? dn : "?");
    }
    int ndim = d1 < 0 ? 1 : 2;
    int ok = t->ndim == ndim && t->shape[0] == d0 && (ndim == 1 || t->shape[1] == d1);
    if (!ok) {
        char got[128];
        shape_str(t, got, sizeof got);
        int transposed = ndim == 2 && t->ndim == 2 && t->shape[0] == d1 && t->shape[1] == d0;
        if (ndim == 1)
            return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': shape %s, expected [%lld]",
                                   file, t->name, got, (long long)d0);
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s': shape %s, expected [%lld, %lld]%s",
                               file, t->name, got, (long long)d0, (long long)d1,
                               transposed ? " (stored transposed?)" : "");
    }
    return 0;
}

hk_wtype md_wtype(const hf_tensor *t)
{
    return t->dtype == HUBRT_DTYPE_F16 ? HK_F16 : t->dtype == HUBRT_DTYPE_BF16 ? HK_BF16 : HK_F32;
}

const hf_tensor *md_head_tensor(md_ctx *c, const hf_tensor *emb)
{
    return c->src->cfg->tie_word_embeddings ? emb : md_find_exact(c, "lm_head.weight", 1);
}
