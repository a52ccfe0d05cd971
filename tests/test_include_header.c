/*
 * tests/test_include_header.c — the public header compiles as strict C99 (and, built
 * by the Makefile with -x c++, as C++), and its basic contract holds.
 */
#include "include/hubrt.h"
#include "tests/test.h"

#include <string.h>

int main(void)
{
    hubrt_load_params lp = hubrt_load_default_params();
    TEST_CHECK(lp.n_threads == 0 && lp.quant == HUBRT_QUANT_NONE, "default load params");
    TEST_CHECK(hubrt_model_load(NULL, &lp) == NULL, "NULL path must fail");
    TEST_CHECK(strlen(hubrt_last_error()) > 0, "a failure leaves a message");
    TEST_CHECK(!strcmp(hubrt_status_name(HUBRT_ERR_FORMAT), "HUBRT_ERR_FORMAT"), "status names");
    hubrt_model_free(NULL); /* must be a no-op */
    hubrt_session_free(NULL);
    hubrt_sample_params sp = hubrt_sample_default_params();
    TEST_CHECK(sp.temperature == 0.0f && sp.max_new_tokens > 0, "default sample params");
    hubrt_model_info info;
    TEST_CHECK(hubrt_model_get_info(NULL, &info) == HUBRT_ERR_INVALID_ARG, "info of NULL");
    TEST_CHECK(hubrt_session_set_profile(NULL, 1) == HUBRT_ERR_INVALID_ARG &&
               hubrt_session_profile_report(NULL, NULL, 0) == HUBRT_ERR_INVALID_ARG &&
               hubrt_encode_profile_report(NULL, NULL, 0) == HUBRT_ERR_INVALID_ARG, "profile calls refuse NULL");
    const hubrt_model *none = NULL;
    TEST_CHECK(hubrt_session_new(none, 0) == NULL && hubrt_encode(none, NULL, NULL, 0, NULL, NULL, NULL) < 0,
               "const model calls refuse NULL");
    return test_finish();
}
