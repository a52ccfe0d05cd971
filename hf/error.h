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
/* The message of the last failure on this thread ("" if none): hubrt_last_error(). */
const char *hf_last_error(void);

/*
 * A problem found at load in a file that matters to one call only (the load
 * goes on): kept, and reported again by that call. status 0: none.
 */
typedef struct hf_kept_error {
    int status;
    char message[1024];
} hf_kept_error;

/* Keeps the current message and status in *e, and clears them. */
void hf_error_keep(hf_kept_error *e, int status);
/* Sets the kept error again and returns its status, for `return hf_error_report(...)`. */
int hf_error_report(const hf_kept_error *e);

#endif
