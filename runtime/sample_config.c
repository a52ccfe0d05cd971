/*
 * runtime/sample_config.c — sampling defaults: the built-in ones
 * (hubrt_sample_default_params) and a model's own, read from its
 * generation_config.json once at load (hubrt_sample_model_params).
 *
 * A malformed generation_config.json does not fail the load (generation is
 * one use of a model among several): the problem is kept and reported by
 * hubrt_sample_model_params, the one call that needs the file.
 */
#include <stdio.h>
#include <string.h>

#include "hf/error.h"
#include "hf/jsonfile.h"
#include "runtime/model.h"

#define GENERATION_CONFIG_MAX_BYTES (1 << 20)

hubrt_sample_params hubrt_sample_default_params(void)
{
    hubrt_sample_params p;
    memset(&p, 0, sizeof p);
    p.temperature = 0.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.seed = 0;
    p.max_new_tokens = 128;
    p.stop = NULL;
    p.ignore_eos = 0;
    return p;
}

/* A number field of generation_config.json into *out when present: 1, 0 when absent, or a status. */
static int json_num(const cJSON *root, const char *key, double lo, double hi, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return hf_set_error(HUBRT_ERR_FORMAT, "generation_config.json: '%s' must be a number in [%g, %g]",
                            key, lo, hi);
    *out = v->valuedouble;
    return 1;
}

/* The sampling fields of a parsed generation_config.json over the defaults; 0 or a status. */
static int parse(const cJSON *root, hubrt_sample_params *out)
{
    if (!cJSON_IsObject(root))
        return hf_set_error(HUBRT_ERR_FORMAT, "generation_config.json: not a JSON object");
    hubrt_sample_params p = hubrt_sample_default_params();
    /* transformers: sampling only with do_sample; its defaults then are
     * temperature 1, top_k 50, top_p 1. Without do_sample: greedy. */
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(root, "do_sample");
    if (ds && !cJSON_IsBool(ds) && !cJSON_IsNull(ds))
        return hf_set_error(HUBRT_ERR_FORMAT, "generation_config.json: 'do_sample' must be true or false");
    int do_sample = cJSON_IsTrue(ds);
    double v;
    int r = 0;
    if (do_sample) {
        p.temperature = 1.0f;
        p.top_k = 50;
        if ((r = json_num(root, "temperature", 0, 1e6, &v)) > 0) p.temperature = (float)v;
        if (r >= 0 && (r = json_num(root, "top_k", 0, 1e9, &v)) > 0) p.top_k = (int32_t)v;
        if (r >= 0 && (r = json_num(root, "top_p", 0, 1, &v)) > 0) p.top_p = v > 0 ? (float)v : 1.0f;
        if (r >= 0 && (r = json_num(root, "min_p", 0, 1, &v)) > 0) p.min_p = (float)v;
    }
    if (r >= 0 && (r = json_num(root, "repetition_penalty", 1e-6, 1e6, &v)) > 0) p.repeat_penalty = (float)v;
    if (r >= 0 && (r = json_num(root, "max_new_tokens", 0, 1e9, &v)) > 0) p.max_new_tokens = (int32_t)v;
    if (r < 0) return r;
    *out = p;
    return HUBRT_OK;
}

void rt_sample_config_load(const char *dir, rt_sample_config *c)
{
    memset(c, 0, sizeof *c);
    c->params = hubrt_sample_default_params();
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    cJSON *root = NULL;
    int rc = hf_json_read_file(path, "generation_config.json", GENERATION_CONFIG_MAX_BYTES, &root);
    if (rc == HF_FILE_MISSING) return; /* the built-in defaults (greedy, as transformers) */
    if (rc == HUBRT_OK) rc = parse(root, &c->params);
    cJSON_Delete(root);
    if (rc < 0) hf_error_keep(&c->error, rc);
}

int hubrt_sample_model_params(const hubrt_model *model, hubrt_sample_params *params)
{
    if (!model || !params) return hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_sample_model_params: NULL argument");
    if (model->sample.error.status) return hf_error_report(&model->sample.error);
    *params = model->sample.params;
    return HUBRT_OK;
}
