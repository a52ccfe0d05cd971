/*
 * runtime/api_model.c — hubrt_model_load() and friends: the public entry
 * that turns a hub directory into a loaded model.
 *
 * Order: resolve the directory (or org/name in the HF cache) -> config.json
 * -> weight files -> tokenizer -> the family's weights struct and graph
 * (models/) -> the optional files later calls need (generation_config.json,
 * the sentence-transformers files of encoders, the chat templates).
 * tokenizer_only loads skip config and weights (a folder with only
 * tokenizer files is enough); no_tokenizer skips the tokenizer. A
 * directory without tokenizer files still loads (ids-only use).
 */
#include <dirent.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "models/family.h"
#include "hf/error.h"
#include "hf/cache.h"
#include "runtime/model.h"
#include "runtime/profile.h"
#include "tokenizer/tokenizer.h"

/*
 * Physical cores we may run on: distinct (package, core) pairs over the
 * CPUs in our affinity mask. SMT siblings share one core's FMA units and
 * memory port, so threads beyond this count only add contention.
 */
int rt_physical_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 ? (int)n : 1;
    }
    int n_cpus = CPU_COUNT(&set);
    long seen[CPU_SETSIZE];
    int n_seen = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && n_seen < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        char path[128];
        long core = -1, pkg = -1;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
        FILE *f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%ld", &core) != 1) core = -1;
            fclose(f);
        }
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
        f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%ld", &pkg) != 1) pkg = -1;
            fclose(f);
        }
        if (core < 0 || pkg < 0) return n_cpus > 0 ? n_cpus : 1; /* no topology: count CPUs */
        long key = pkg * 1000000 + core;
        int dup = 0;
        for (int i = 0; i < n_seen && !dup; i++) dup = seen[i] == key;
        if (!dup) seen[n_seen++] = key;
    }
    return n_seen > 0 ? n_seen : 1;
}

hubrt_load_params hubrt_load_default_params(void)
{
    hubrt_load_params p;
    memset(&p, 0, sizeof p);
    p.n_threads = 0; /* resolved to the physical cores at load */
    p.quant = HUBRT_QUANT_NONE;
    p.storage = HUBRT_STORAGE_AUTO;
    return p;
}

void hubrt_model_free(hubrt_model *m)
{
    if (!m) return;
    rt_encode_profile_release(m); /* prints the HUBRT_PROFILE=1 encoder table */
    md_family_free(m->family);
    rt_chat_config_free(&m->chat);
    if (m->tok) tk_tokenizer_free(m->tok);
    hf_weights_close(m->weights);
    free(m);
}

static hubrt_model *fail(hubrt_model *m)
{
    hubrt_model_free(m);
    return NULL;
}

/* 1 when every tensor in the (mapped) files starts at a multiple of its element size. */
static int weights_aligned(const hf_weights *w)
{
    for (int i = 0; i < hf_weights_count(w); i++) {
        const hf_tensor *t = hf_weights_tensor(w, i);
        size_t es = hf_dtype_size(t->dtype);
        if (es > 1 && t->data && (uintptr_t)t->data % es != 0) return 0;
    }
    return 1;
}

hubrt_model *hubrt_model_load(const char *path, const hubrt_load_params *params)
{
    if (!path) {
        hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_model_load: NULL path");
        return NULL;
    }
    hubrt_load_params p = params ? *params : hubrt_load_default_params();
    if (p.n_threads < 0 || p.n_threads > 4096) {
        hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_model_load: n_threads %d out of range", p.n_threads);
        return NULL;
    }
    if ((unsigned)p.quant > HUBRT_QUANT_Q4 || (unsigned)p.storage > HUBRT_STORAGE_COPY) {
        hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_model_load: unknown quant or storage mode");
        return NULL;
    }
    if (p.tokenizer_only && p.no_tokenizer) {
        hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_model_load: tokenizer_only and no_tokenizer both set");
        return NULL;
    }
    if (p.n_threads == 0) p.n_threads = rt_physical_cores();

    hubrt_model *m = calloc(1, sizeof *m);
    if (!m) {
        hf_set_error(HUBRT_ERR_NOMEM, "out of memory");
        return NULL;
    }
    m->params = p;
    if (hf_resolve_model_dir(path, m->dir, sizeof m->dir)) return fail(m);

    if (!p.tokenizer_only) {
        if (hf_config_load(m->dir, &m->cfg)) return fail(m);
        m->has_config = 1;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        /* AUTO: the files are mapped and the family copies every matrix it
         * streams straight from the map into its huge-page arena (one copy,
         * released from the map as it goes: resident memory ~ the weights);
         * COPY first reads the files into huge-page memory (two copies). */
        m->weights = hf_weights_open(m->dir, p.storage == HUBRT_STORAGE_COPY ? HUBRT_STORAGE_COPY
                                                                                : HUBRT_STORAGE_MMAP);
        if (!m->weights) return fail(m);
        if (p.storage == HUBRT_STORAGE_AUTO && !weights_aligned(m->weights)) {
            /* a file with tensors off their element alignment: read it into
             * memory, where every tensor starts on a cache line */
            hf_weights_close(m->weights);
            m->params.storage = p.storage = HUBRT_STORAGE_COPY;
            m->weights = hf_weights_open(m->dir, HUBRT_STORAGE_COPY);
            if (!m->weights) return fail(m);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (p.verbose) {
            /* verbose is the one case where the library writes to stderr (hubrt.h) */
            int64_t bytes = 0;
            for (int i = 0; i < hf_weights_count(m->weights); i++)
                bytes += (int64_t)hf_weights_tensor(m->weights, i)->n_bytes;
            fprintf(stderr, "hubrt: %s: %d tensors, %.1f MB in %d file(s), %s storage, %.3f s\n", m->dir,
                    hf_weights_count(m->weights), bytes / 1e6, hf_weights_n_files(m->weights),
                    p.storage == HUBRT_STORAGE_MMAP ? "mmap" : p.storage == HUBRT_STORAGE_COPY ?
                    "huge-page copy" : "auto (mapped, copied into the model's arena)",
                    (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
        }
    } else {
        /* Tokenizer-only folders need no config.json; when one is there and
         * valid it is kept (EOS ids, family), otherwise it is ignored. */
        char cpath[PATH_MAX + 16];
        snprintf(cpath, sizeof cpath, "%s/config.json", m->dir);
        if (access(cpath, F_OK) == 0) {
            int rc = hf_config_load(m->dir, &m->cfg);
            if (rc == HUBRT_ERR_NOMEM) return fail(m);
            m->has_config = rc == 0;
        }
        hf_clear_error();
    }

    if (!p.no_tokenizer) {
        m->tok = tk_tokenizer_load(m->dir);
        if (!m->tok) {
            hubrt_status st = hf_error_status();
            /* No tokenizer files (or no tokenizer code yet) is fine for
             * ids-only use; a tokenizer file that fails to parse is not. */
            if (p.tokenizer_only || (st != HUBRT_ERR_IO && st != HUBRT_ERR_NOT_IMPLEMENTED))
                return fail(m);
            hf_clear_error();
        }
    }

    if (!p.tokenizer_only) {
        md_source src = {m->dir, &m->cfg, m->weights, p.quant, p.storage, p.n_threads};
        if (!(m->family = md_family_build(&src))) {
            if (!hubrt_last_error()[0])
                hf_set_error(HUBRT_ERR_FORMAT, "%s: building the model failed", m->dir);
            return fail(m);
        }
        m->profile_encode = !m->family->causal && rt_profile_env();
    }
    if (!m->family || !m->family->causal) rt_embed_config_load(m->dir, &m->embed);
    rt_sample_config_load(m->dir, &m->sample);
    if (rt_chat_config_load(m->dir, p.chat_template_file, &m->chat)) return fail(m);
    m->params.chat_template_file = NULL; /* read: the caller's string is not kept */
    /* A broken file is reported by the call that needs it; running out of
     * memory reading one fails the load. */
    const hf_kept_error *kept[] = {&m->embed.pooling_error, &m->embed.max_seq_error, &m->sample.error};
    for (int i = 0; i < 3; i++)
        if (kept[i]->status == HUBRT_ERR_NOMEM) {
            hf_error_report(kept[i]);
            return fail(m);
        }
    int chat_nomem = m->chat.status == HUBRT_ERR_NOMEM;
    for (int i = 0; i < m->chat.n_templates; i++) chat_nomem |= m->chat.templates[i].status == HUBRT_ERR_NOMEM;
    if (chat_nomem) {
        hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory reading the chat template", m->dir);
        return fail(m);
    }
    return m;
}

static const char *family_name(hf_family f)
{
    switch (f) {
    case HF_FAMILY_BERT: return "bert";
    case HF_FAMILY_GPT2: return "gpt2";
    case HF_FAMILY_LLAMA: return "llama";
    }
    return "unknown";
}

static const char *act_name(hf_act a)
{
    switch (a) {
    case HF_ACT_GELU: return "gelu";
    case HF_ACT_GELU_TANH: return "gelu_tanh";
    case HF_ACT_SILU: return "silu";
    case HF_ACT_RELU: return "relu";
    }
    return "unknown";
}

static const char *rope_name(hf_rope_type r)
{
    switch (r) {
    case HF_ROPE_DEFAULT: return "default";
    case HF_ROPE_LINEAR: return "linear";
    case HF_ROPE_LLAMA3: return "llama3";
    }
    return "unknown";
}

int hubrt_model_get_info(const hubrt_model *m, hubrt_model_info *info)
{
    if (!m || !info) return hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_model_get_info: NULL argument");
    memset(info, 0, sizeof *info);
    info->dir = m->dir;
    info->n_threads = m->params.n_threads;
    info->family = info->architecture = info->model_type = info->activation = info->rope_scaling = "";
    info->quant_method = info->quant_format = "";
    info->bos_token_id = -1;
    if (m->has_config) {
        const hf_config *c = &m->cfg;
        info->family = family_name(c->family);
        info->architecture = c->architecture;
        info->model_type = c->model_type;
        info->vocab_size = c->vocab_size;
        info->hidden_size = c->hidden_size;
        info->n_layers = c->n_layers;
        info->n_heads = c->n_heads;
        info->n_kv_heads = c->n_kv_heads;
        info->head_dim = c->head_dim;
        info->intermediate_size = c->intermediate_size;
        info->max_positions = c->max_positions;
        info->activation = act_name(c->act);
        info->norm_eps = c->norm_eps;
        info->rope_theta = c->rope_theta;
        info->rope_scaling = rope_name(c->rope_type);
        info->rope_factor = c->rope_factor;
        info->sliding_window = c->sliding_window;
        info->type_vocab_size = c->type_vocab_size;
        info->tie_word_embeddings = c->tie_word_embeddings;
        info->attention_bias = c->attention_bias;
        info->bos_token_id = c->bos_token_id;
        if (c->quant.method != HF_QUANT_NONE) {
            info->quant_method = hf_quant_method_name(c->quant.method);
            info->quant_format = c->quant.format;
            info->quant_bits = c->quant.bits;
            info->quant_group_size = c->quant.group_size;
            info->quant_act_order = c->quant.act_order;
            info->quant_symmetric = c->quant.sym;
        }
        int n_eos = c->n_eos < HUBRT_MAX_EOS ? c->n_eos : HUBRT_MAX_EOS;
        for (int i = 0; i < n_eos; i++) info->eos_token_ids[i] = c->eos_token_ids[i];
        info->n_eos = n_eos;
    }
    const md_family *fs = rt_family(m);
    info->kind = !fs ? HUBRT_MODEL_TOKENIZER_ONLY : fs->causal ? HUBRT_MODEL_CAUSAL_LM : HUBRT_MODEL_ENCODER;
    if (fs) {
        info->n_logits = fs->n_logits;
        info->logits_per_sequence = fs->logits_per_sequence;
        info->has_pooler = fs->has_pooler;
        info->quant_weights = fs->gq_weights;
        if (fs->gq_weights > 0) {
            info->quant_file_bytes_per_weight = (double)fs->gq_file_bytes / (double)fs->gq_weights;
            info->quant_bytes_per_weight = (double)fs->gq_bytes / (double)fs->gq_weights;
        }
    }
    int n = hf_weights_count(m->weights);
    info->n_tensors = n;
    for (int i = 0; i < n; i++) {
        const hf_tensor *t = hf_weights_tensor(m->weights, i);
        info->n_params += t->n_elements;
        info->dtype_bytes[t->dtype] += (int64_t)t->n_bytes;
    }
    info->n_files = hf_weights_n_files(m->weights);
    return HUBRT_OK;
}

const char *hubrt_model_file(const hubrt_model *m, int i, int64_t *size_bytes)
{
    if (!m || i < 0 || i >= hf_weights_n_files(m->weights)) {
        hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_model_file: no file %d", i);
        return NULL;
    }
    return hf_weights_file(m->weights, i, size_bytes);
}
