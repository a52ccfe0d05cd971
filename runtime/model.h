/*
 * runtime/model.h — what a loaded hubrt_model holds (internal).
 *
 * hubrt_model_load() fills it in this order: resolve the directory (or
 * org/name in the HF cache), config.json, the weight files, the tokenizer,
 * the family's weights struct and graph (models/), then the optional files
 * the calls need (generation_config.json's sampling defaults, the
 * sentence-transformers pooling files, the chat templates). After the load nothing in it
 * changes, so any number of threads may use one model at once; per-call
 * state lives in the call or in a hubrt_session.
 */
#ifndef RUNTIME_MODEL_H
#define RUNTIME_MODEL_H

#include <limits.h>

#include "include/hubrt.h"
#include "hf/config.h"
#include "hf/safetensors.h"
#include "models/models.h"
#include "runtime/chat.h"

struct tk_tokenizer;

/* hubrt_sample_model_params' answer, from generation_config.json at load. */
typedef struct rt_sample_config {
    hubrt_sample_params params;
    hf_kept_error error;      /* a malformed generation_config.json */
} rt_sample_config;

/* Reads dir/generation_config.json (missing: the built-in defaults) into *c; a failure is kept in c->error. */
void rt_sample_config_load(const char *dir, rt_sample_config *c);

/* sentence-transformers mean / sqrt(n) pooling: not in the public enum. */
enum { RT_POOLING_MEAN_SQRT_LEN = 100 };

/* What a sentence-transformers directory says about embeddings, read at load. */
typedef struct rt_embed_config {
    int pooling;              /* its Pooling module's mode (a hubrt_pooling or RT_POOLING_MEAN_SQRT_LEN) */
    int normalize;            /* 1: it lists a Normalize module */
    hf_kept_error pooling_error; /* modules.json / the Pooling config: reported by HUBRT_POOLING_DEFAULT calls */
    int max_seq_length;       /* sentence_bert_config.json; 0 = none */
    hf_kept_error max_seq_error; /* a broken sentence_bert_config.json: reported by every embed call */
} rt_embed_config;

/* Reads the sentence-transformers files of dir into *c; failures are kept in its *_error fields. */
void rt_embed_config_load(const char *dir, rt_embed_config *c);

struct hubrt_model {
    char dir[PATH_MAX];             /* the resolved model directory */
    hubrt_load_params params;
    int has_config;                 /* 0 for tokenizer-only directories */
    hf_config cfg;
    hf_weights *weights;         /* NULL when tokenizer_only */
    struct tk_tokenizer *tok;    /* NULL when no_tokenizer or none found */
    md_family *family;              /* the family's weights and graph (models/); NULL when tokenizer_only */
    rt_sample_config sample;        /* generation_config.json */
    rt_embed_config embed;          /* sentence-transformers files (not read for causal LMs) */
    rt_chat_config chat;            /* chat templates + special-token strings (runtime/chat.h) */
    int profile_encode;             /* HUBRT_PROFILE at load: time hubrt_encode's ops (runtime/profile.c) */
};

/* The family's state of a loaded model (NULL for tokenizer-only models). */
static inline const md_family *rt_family(const hubrt_model *m) { return m ? m->family : NULL; }

/* Physical cores in this process's affinity mask (what n_threads = 0 means). */
int rt_physical_cores(void);

#endif
