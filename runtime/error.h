/*
 * runtime/error.h — the thread-local error message behind hubrt_last_error().
 *
 * Every failing internal function calls hubrt_set_error() with a message that
 * names what was wrong and where ("model.safetensors: tensor 'x' ..."), then
 * returns its failure value. The library never prints and never exits.
 */
#ifndef HUBRT_ERROR_H
#define HUBRT_ERROR_H

#include "include/hubrt.h"

#if defined(__GNUC__)
#define HUBRT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define HUBRT_PRINTF(a, b)
#endif

/* Sets the message (printf-style) and returns status, for `return set(...)`. */
hubrt_status hubrt_set_error(hubrt_status status, const char *fmt, ...) HUBRT_PRINTF(2, 3);
/* Prefixes the current message with "prefix: " (to add context going up). */
void hubrt_error_prefix(const char *prefix);
void hubrt_clear_error(void);
/* The status passed to the last hubrt_set_error() on this thread (HUBRT_OK after clear). */
hubrt_status hubrt_error_status(void);

#endif
