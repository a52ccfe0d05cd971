/*
 * runtime/names.c — the public API's small lookups: the last error message
 * of this thread and the names of statuses and dtypes (hubrt.h).
 */
#include "hf/error.h"
#include "hf/safetensors.h"
#include "include/hubrt.h"

const char *hubrt_last_error(void) { return hf_last_error(); }

const char *hubrt_dtype_name(hubrt_dtype dtype) { return hf_dtype_name(dtype); }

const char *hubrt_status_name(int status)
{
    switch (status) {
    case HUBRT_OK: return "HUBRT_OK";
    case HUBRT_ERR_INVALID_ARG: return "HUBRT_ERR_INVALID_ARG";
    case HUBRT_ERR_IO: return "HUBRT_ERR_IO";
    case HUBRT_ERR_FORMAT: return "HUBRT_ERR_FORMAT";
    case HUBRT_ERR_UNSUPPORTED: return "HUBRT_ERR_UNSUPPORTED";
    case HUBRT_ERR_NOMEM: return "HUBRT_ERR_NOMEM";
    case HUBRT_ERR_NOT_IMPLEMENTED: return "HUBRT_ERR_NOT_IMPLEMENTED";
    case HUBRT_ERR_RANGE: return "HUBRT_ERR_RANGE";
    case HUBRT_ERR_INVALID_UTF8: return "HUBRT_ERR_INVALID_UTF8";
    default: return status > 0 ? "HUBRT_OK" : "HUBRT_ERR_UNKNOWN";
    }
}
