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

const char *hf_last_error(void) { return last_error; }

void hf_error_keep(hf_kept_error *e, int status)
{
    e->status = status;
    snprintf(e->message, sizeof e->message, "%s", last_error);
    hf_clear_error();
}

int hf_error_report(const hf_kept_error *e)
{
    return hf_set_error((hubrt_status)e->status, "%s", e->message);
}
