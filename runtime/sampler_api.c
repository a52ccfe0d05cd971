/*
 * runtime/sampler_api.c — the public face of the sampler (hubrt_sampler_*)
 * for callers that run their own decode loop: a thin wrapper over
 * runtime/sampler.c, sized to the model's logits rows.
 */
#include <stdlib.h>

#include "hf/error.h"
#include "models/family.h"
#include "runtime/model.h"
#include "runtime/sampler.h"

struct hubrt_sampler {
    rt_sampler *rt;
};

hubrt_sampler *hubrt_sampler_new(const hubrt_model *model, const hubrt_sample_params *params)
{
    if (!model || !params) {
        hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_sampler_new: %s is NULL", !model ? "model" : "params");
        return NULL;
    }
    const int V = rt_family(model) ? rt_family(model)->n_logits : 0;
    if (V <= 0) {
        hf_set_error(HUBRT_ERR_UNSUPPORTED, "hubrt_sampler_new: the model has no LM head");
        return NULL;
    }
    hubrt_sampler *s = malloc(sizeof *s);
    if (!s) {
        hf_set_error(HUBRT_ERR_NOMEM, "hubrt_sampler_new: out of memory");
        return NULL;
    }
    s->rt = rt_sampler_new(params, V);
    if (!s->rt) {
        free(s);
        return NULL;
    }
    return s;
}

void hubrt_sampler_free(hubrt_sampler *sampler)
{
    if (!sampler) return;
    rt_sampler_free(sampler->rt);
    free(sampler);
}

void hubrt_sampler_accept(hubrt_sampler *sampler, int32_t id)
{
    if (sampler) rt_sampler_accept(sampler->rt, id);
}

int32_t hubrt_sampler_sample(hubrt_sampler *sampler, const float *logits)
{
    if (!sampler || !logits)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_sampler_sample: %s is NULL", !sampler ? "sampler" : "logits");
    return rt_sampler_sample(sampler->rt, logits);
}
