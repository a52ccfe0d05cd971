/* tokenizer/api_tokenizer.c — the public tokenizer API (placeholder). */
#include "runtime/error.h"

#define NOT_YET(what) hubrt_set_error(HUBRT_ERR_NOT_IMPLEMENTED, "%s is not implemented yet", what)

int hubrt_tokenize(const hubrt_model *m, const char *t, int a, int32_t *ids, int max)
{ (void)m; (void)t; (void)a; (void)ids; (void)max; return NOT_YET("hubrt_tokenize"); }
int hubrt_tokenize_pair(const hubrt_model *m, const char *t, const char *p, int a, int32_t *ids, int32_t *ty, int max)
{ (void)m; (void)t; (void)p; (void)a; (void)ids; (void)ty; (void)max; return NOT_YET("hubrt_tokenize_pair"); }
int hubrt_detokenize(const hubrt_model *m, const int32_t *ids, int n, int s, char *b, size_t c)
{ (void)m; (void)ids; (void)n; (void)s; (void)b; (void)c; return NOT_YET("hubrt_detokenize"); }
int hubrt_vocab_size(const hubrt_model *m) { (void)m; return NOT_YET("hubrt_vocab_size"); }
const char *hubrt_token_text(const hubrt_model *m, int32_t id) { (void)m; (void)id; NOT_YET("hubrt_token_text"); return NULL; }
int32_t hubrt_token_id(const hubrt_model *m, const char *t) { (void)m; (void)t; NOT_YET("hubrt_token_id"); return -1; }
hubrt_detok_stream *hubrt_detok_stream_new(const hubrt_model *m, int s) { (void)m; (void)s; NOT_YET("hubrt_detok_stream_new"); return NULL; }
int hubrt_detok_stream_push(hubrt_detok_stream *st, int32_t id, char *b, size_t c) { (void)st; (void)id; (void)b; (void)c; return NOT_YET("hubrt_detok_stream_push"); }
void hubrt_detok_stream_free(hubrt_detok_stream *st) { (void)st; }
