/*
 * models/family.c — picks the family from config.json and builds it
 * (md_family_build: sizes checked, placement chosen, the family's load and
 * build steps run), and frees it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/family.h"
#include "hf/error.h"

/* ---- entry points -------------------------------------------------------- */

void md_family_free(md_family *fs)
{
    if (!fs) return;
    md_graph_free(&fs->graph);
    for (int i = 0; i < fs->n_weights; i++) {
        hk_weight_free(fs->weights[i]);
        free(fs->weights[i]);
    }
    free(fs->weights);
    for (int i = 0; i < fs->n_blocks; i++) free(fs->blocks[i]);
    free(fs->blocks);
    free(fs);
}

/* Frees a half-built family; NULL for `return fail_build(...)`. */
static md_family *fail_build(md_family *fs, int status)
{
    (void)status; /* the message is already set */
    md_family_free(fs);
    return NULL;
}

md_family *md_family_build(const md_source *src)
{
    const hf_config *cfg = src->cfg;
    if (cfg->vocab_size <= 0 || cfg->hidden_size <= 0 || cfg->n_layers <= 0 || cfg->n_heads <= 0 ||
        cfg->n_kv_heads <= 0 || cfg->head_dim <= 0 || cfg->intermediate_size <= 0 ||
        cfg->n_heads % cfg->n_kv_heads != 0)
        return fail_build(NULL, hf_set_error(HUBRT_ERR_FORMAT, "%s/config.json: inconsistent sizes (vocab %d, "
                               "hidden %d, layers %d, heads %d, kv heads %d, head_dim %d, ffn %d)",
                               src->dir, cfg->vocab_size, cfg->hidden_size, cfg->n_layers, cfg->n_heads,
                               cfg->n_kv_heads, cfg->head_dim, cfg->intermediate_size));
    if (cfg->head_dim > MD_MAX_HEAD_DIM)
        return fail_build(NULL, hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s/config.json: head_dim %d above %d",
                               src->dir, cfg->head_dim, MD_MAX_HEAD_DIM));
    /* keep every product well inside int / size_t */
    if ((int64_t)cfg->n_heads * cfg->head_dim > (1 << 20) || cfg->hidden_size > (1 << 20) ||
        cfg->intermediate_size > (1 << 22) || cfg->vocab_size > (1 << 26) || cfg->n_layers > 4096)
        return fail_build(NULL, hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s/config.json: sizes too large", src->dir));

    if (cfg->quant.method != HF_QUANT_NONE && cfg->family != HF_FAMILY_LLAMA)
        return fail_build(NULL, hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s/config.json: quantization_config (%s): "
                               "pre-quantised checkpoints run for the LLaMA family (llama, mistral, qwen2) only",
                               src->dir, hf_quant_method_name(cfg->quant.method)));
    md_family *fs = calloc(1, sizeof *fs);
    if (!fs) return fail_build(NULL, hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory", src->dir));
    md_graph_init(&fs->graph);
    fs->n_threads = src->n_threads;
    /* the shapes every family shares; each family adds what is its own */
    fs->vocab = cfg->vocab_size;
    fs->hidden = cfg->hidden_size;
    fs->n_layers = cfg->n_layers;
    fs->n_kv_heads = cfg->n_kv_heads; /* = n_heads outside the llama family */
    fs->head_dim = cfg->head_dim;
    fs->max_positions = cfg->max_positions; /* >= 1 (config.c) */

    md_ctx c;
    memset(&c, 0, sizeof c);
    c.src = src;
    c.fs = fs;
    c.place = md_placement_choose(src);
    int rc;
    switch (cfg->family) {
    case HF_FAMILY_BERT: rc = md_bert_build(&c); break;
    case HF_FAMILY_GPT2: rc = md_gpt2_build(&c); break;
    case HF_FAMILY_LLAMA: rc = md_llama_build(&c); break;
    default:
        rc = hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: unknown model family", src->dir);
    }
    if (rc == 0 && fs->graph.failed)
        rc = hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory building the graph", src->dir);
    if (rc != 0) return fail_build(fs, rc);
    return fs;
}
