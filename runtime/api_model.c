/* runtime/api_model.c — loading a model directory (placeholder). */
#include "runtime/error.h"

#define NOT_YET(what) hubrt_set_error(HUBRT_ERR_NOT_IMPLEMENTED, "%s is not implemented yet", what)

hubrt_load_params hubrt_load_default_params(void)
{
    hubrt_load_params p = {0};
    return p;
}
hubrt_model *hubrt_model_load(const char *path, const hubrt_load_params *p) { (void)path; (void)p; NOT_YET("hubrt_model_load"); return NULL; }
void hubrt_model_free(hubrt_model *m) { (void)m; }
int hubrt_model_get_info(const hubrt_model *m, hubrt_model_info *i) { (void)m; (void)i; return NOT_YET("hubrt_model_get_info"); }
const char *hubrt_model_file(const hubrt_model *m, int i, int64_t *s) { (void)m; (void)i; (void)s; NOT_YET("hubrt_model_file"); return NULL; }
const char *hubrt_dtype_name(hubrt_dtype d) { (void)d; return NULL; }
