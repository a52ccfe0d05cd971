/* runtime/api_session.c — sessions and forward passes (placeholder). */
#include "runtime/error.h"

#define NOT_YET(what) hubrt_set_error(HUBRT_ERR_NOT_IMPLEMENTED, "%s is not implemented yet", what)

hubrt_session *hubrt_session_new(hubrt_model *m, int max) { (void)m; (void)max; NOT_YET("hubrt_session_new"); return NULL; }
void hubrt_session_free(hubrt_session *s) { (void)s; }
void hubrt_session_reset(hubrt_session *s) { (void)s; }
int hubrt_session_n_past(const hubrt_session *s) { (void)s; return 0; }
int hubrt_forward(hubrt_session *s, const int32_t *ids, int n, float *l, float *ll)
{ (void)s; (void)ids; (void)n; (void)l; (void)ll; return NOT_YET("hubrt_forward"); }
int hubrt_encode(hubrt_model *m, const int32_t *ids, const int32_t *ty, int n, float *h, float *p, float *l)
{ (void)m; (void)ids; (void)ty; (void)n; (void)h; (void)p; (void)l; return NOT_YET("hubrt_encode"); }
