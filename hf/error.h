/*
 * hf/error.h — the thread-local error message behind hubrt_last_error().
 *
 * Every failing internal function calls hf_set_error() with a message that
 * names what was wrong and where ("model.safetensors: tensor 'x' ..."), then
 * returns its failure value. The library never prints and never exits.
 */
#ifndef HF_ERROR_H
#define HF_ERROR_H

#include "include/hubrt.h"

#if defined(__GNUC__)
#define HF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define HF_PRINTF(a, b)
#endif

/* Sets the message (printf-style) and returns status, for `return set(...)`. */
hubrt_status hf_set_error(hubrt_status status, const char *fmt, ...) HF_PRINTF(2, 3);
/* Prefixes the current message with "prefix: " (to add context going up). */
void hf_error_prefix(const char *prefix);
void hf_clear_error(void);
/* The status passed to the last hf_set_error() on this thread (HUBRT_OK after clear). */
hubrt_status hf_error_status(void);

#endif
