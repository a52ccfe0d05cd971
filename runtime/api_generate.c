/* runtime/api_generate.c — sampling, generation and embeddings (placeholder). */
#include "runtime/error.h"

#define NOT_YET(what) hubrt_set_error(HUBRT_ERR_NOT_IMPLEMENTED, "%s is not implemented yet", what)

hubrt_sample_params hubrt_sample_default_params(void)
{
    hubrt_sample_params p = {0};
    p.temperature = 0.0f; p.top_p = 1.0f; p.repeat_penalty = 1.0f; p.repeat_last_n = 64;
    p.max_new_tokens = 128;
    return p;
}
int hubrt_generate(hubrt_session *s, const char *pr, const hubrt_sample_params *p, hubrt_token_callback cb, void *u, hubrt_generation *o)
{ (void)s; (void)pr; (void)p; (void)cb; (void)u; (void)o; return NOT_YET("hubrt_generate"); }
int hubrt_generate_ids(hubrt_session *s, const int32_t *ids, int n, const hubrt_sample_params *p, hubrt_token_callback cb, void *u, hubrt_generation *o)
{ (void)s; (void)ids; (void)n; (void)p; (void)cb; (void)u; (void)o; return NOT_YET("hubrt_generate_ids"); }
int hubrt_sample_model_params(const hubrt_model *m, hubrt_sample_params *p)
{ (void)m; if (p) *p = hubrt_sample_default_params(); return HUBRT_OK; }
