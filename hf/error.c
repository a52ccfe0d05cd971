/*
 * hf/error.c — the thread-local last-error message and status names.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hf/error.h"

static _Thread_local char last_error[1024];
static _Thread_local hubrt_status last_status;

hubrt_status hf_set_error(hubrt_status status, const char *fmt, ...)
{
    va_list ap;
    last_status = status;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

void hf_error_prefix(const char *prefix)
{
    char tmp[sizeof last_error];
    memcpy(tmp, last_error, sizeof tmp);
    size_t n = strlen(prefix);
    if (n > sizeof last_error - 3) n = sizeof last_error - 3;
    memcpy(last_error, prefix, n);
    memcpy(last_error + n, ": ", 2);
    size_t rest = sizeof last_error - n - 3;
    size_t len = strnlen(tmp, rest);
    memcpy(last_error + n + 2, tmp, len);
    last_error[n + 2 + len] = '\0';
}

void hf_clear_error(void)
{
    last_error[0] = '\0';
    last_status = HUBRT_OK;
}

hubrt_status hf_error_status(void) { return last_status; }

const char *hubrt_last_error(void) { return last_error; }

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
