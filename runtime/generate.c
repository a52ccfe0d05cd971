/*
 * runtime/generate.c — the generation loop behind hubrt_generate() and
 * hubrt_generate_ids().
 *
 * Flow: prefill the prompt in one hubrt_forward() call, then sample a token,
 * stream its text, check the stop conditions, and feed it back one token at
 * a time. Text goes through hubrt_detok_stream, primed with the prompt so
 * word-initial spaces come out right and never emitting half a UTF-8
 * character. With a stop string, text that could still become the stop
 * string is held back until it cannot, so the stop string itself is never
 * emitted.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hf/error.h"
#include "models/family.h"
#include "runtime/model.h"
#include "runtime/sampler.h"
#include "runtime/tokenize.h"

#define PIECE_CAP 65536 /* one token's text; tokens are far shorter */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Text generated but not yet handed to the callback (stop-string hold-back). */
typedef struct pending {
    char *buf;
    size_t len, cap;
} pending;

static int pending_append(pending *p, const char *s, size_t n)
{
    if (p->len + n + 1 > p->cap) {
        size_t cap = p->cap ? p->cap : 256;
        while (cap < p->len + n + 1) cap *= 2;
        char *b = realloc(p->buf, cap);
        if (!b) return hf_set_error(HUBRT_ERR_NOMEM, "generate: out of memory for text");
        p->buf = b;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, s, n);
    p->len += n;
    p->buf[p->len] = 0;
    return HUBRT_OK;
}

/*
 * How many bytes of pending text are safe to emit: everything before a stop
 * match (*found = 1), else everything before the earliest suffix that is a
 * prefix of stop (it may still grow into the stop string).
 */
static size_t safe_prefix(const pending *p, const char *stop, int *found)
{
    *found = 0;
    if (!stop || !*stop || p->len == 0) return p->len;
    const char *hit = strstr(p->buf, stop);
    if (hit) {
        *found = 1;
        return (size_t)(hit - p->buf);
    }
    size_t sl = strlen(stop);
    size_t start = p->len >= sl ? p->len - sl + 1 : 0;
    for (size_t j = start; j < p->len; j++)
        if (!strncmp(p->buf + j, stop, p->len - j)) return j;
    return p->len;
}

static int is_eos(const hubrt_model *m, int32_t id)
{
    for (int i = 0; i < m->cfg.n_eos && i < (int)(sizeof m->cfg.eos_token_ids / sizeof m->cfg.eos_token_ids[0]); i++)
        if (m->cfg.eos_token_ids[i] == id) return 1;
    return 0;
}

int hubrt_generate_ids(hubrt_session *session, const int32_t *ids, int n, const hubrt_sample_params *params,
                       hubrt_token_callback on_token, void *user, hubrt_generation *out)
{
    hubrt_generation gen;
    memset(&gen, 0, sizeof gen);
    gen.n_prompt = n;
    gen.stop_reason = HUBRT_STOP_LENGTH;
    if (out) *out = gen;
    if (!session || !ids || n <= 0)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_generate_ids: %s",
                               !session ? "session is NULL" : !ids ? "ids is NULL" : "the prompt has no ids");
    hubrt_sample_params defaults = hubrt_sample_default_params();
    if (!params) params = &defaults;
    int rc = rt_sampler_check_params(params);
    if (rc) return rc;
    const hubrt_model *m = hubrt_session_model(session);
    if (!m) return hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_generate_ids: session has no model");
    /* the width of a logits row: the LM head's rows (may exceed the tokenizer's vocab) */
    const int V = rt_family(m) ? rt_family(m)->n_logits : 0;
    if (V <= 0) return hf_set_error(HUBRT_ERR_UNSUPPORTED, "hubrt_generate_ids: the model has no LM head");

    float *logits = malloc((size_t)(V > 0 ? V : 1) * sizeof *logits);
    char *piece = malloc(PIECE_CAP);
    rt_sampler *smp = rt_sampler_new(params, V);
    pending pend = {0};
    hubrt_detok_stream *ds = NULL;
    if (!logits || !piece) {
        rc = hf_set_error(HUBRT_ERR_NOMEM, "hubrt_generate_ids: out of memory for %d logits", V);
        goto done;
    }
    if (!smp) { rc = hf_error_status(); goto done; }

    /* Text: a tokenizer is needed only for pieces and stop strings; without
     * one the ids are still generated. Running out of memory is an error,
     * never text silently dropped. */
    ds = hubrt_detok_stream_new(m, 1);
    if (!ds) {
        if ((params->stop && *params->stop) || hf_error_status() == HUBRT_ERR_NOMEM) { rc = hf_error_status(); goto done; }
        hf_clear_error();
    } else {
        /* Prime with the prompt (output dropped) so the first new piece is
         * decoded as a continuation, e.g. " Lily" rather than "Lily". */
        for (int i = 0; i < n; i++)
            if ((rc = hubrt_detok_stream_push(ds, ids[i], piece, PIECE_CAP)) < 0) {
                if (rc == HUBRT_ERR_NOMEM) goto done;
                hf_clear_error();
            }
    }
    for (int i = 0; i < n; i++) rt_sampler_accept(smp, ids[i]);

    double t0 = now_s();
    rc = hubrt_forward(session, ids, n, NULL, logits);
    gen.prefill_seconds = now_s() - t0;
    if (rc < 0) goto done;
    rc = HUBRT_OK;
    if (params->max_new_tokens == 0) goto done;

    for (;;) {
        double ts = now_s();
        int32_t id = rt_sampler_sample(smp, logits);
        if (gen.n_new > 0) gen.decode_seconds += now_s() - ts;
        if (id < 0) { rc = id; break; }
        rt_sampler_accept(smp, id);
        gen.n_new++;

        int eos = !params->ignore_eos && is_eos(m, id);
        int plen = 0;
        piece[0] = 0;
        if (ds) {
            plen = hubrt_detok_stream_push(ds, id, piece, PIECE_CAP);
            if (plen == HUBRT_ERR_NOMEM) { rc = plen; break; }
            if (plen < 0) { /* e.g. a padding row of the LM head beyond the tokenizer: no text */
                hf_clear_error();
                plen = 0;
                piece[0] = 0;
            }
            if (plen >= PIECE_CAP) plen = PIECE_CAP - 1;
        }
        if ((rc = pending_append(&pend, piece, (size_t)plen)) != HUBRT_OK) break;
        int found;
        size_t emit = safe_prefix(&pend, params->stop, &found);
        int last = found || eos || gen.n_new >= params->max_new_tokens;
        if (last && !found) emit = pend.len; /* flush what was held back */
        if (found) gen.stop_reason = HUBRT_STOP_STRING;
        else if (eos) gen.stop_reason = HUBRT_STOP_EOS;
        else gen.stop_reason = HUBRT_STOP_LENGTH;

        if (on_token) {
            char saved = pend.buf ? pend.buf[emit] : 0;
            if (pend.buf) pend.buf[emit] = 0;
            int stop = on_token(pend.buf ? pend.buf : "", id, user);
            if (pend.buf) pend.buf[emit] = saved;
            if (stop && !last) { gen.stop_reason = HUBRT_STOP_CALLBACK; last = 1; }
        }
        if (pend.buf) {
            memmove(pend.buf, pend.buf + emit, pend.len - emit + 1);
            pend.len -= emit;
        }
        if (last) {
            /* Feed the last id too (untimed), so the session holds the prompt
             * and every new token and a later call continues after it. A full
             * context just leaves it out. */
            int frc = hubrt_forward(session, &id, 1, NULL, NULL);
            if (frc == HUBRT_ERR_NOMEM) rc = frc;
            else if (frc < 0) hf_clear_error();
            break;
        }

        ts = now_s();
        rc = hubrt_forward(session, &id, 1, NULL, logits);
        gen.decode_seconds += now_s() - ts;
        if (rc == HUBRT_ERR_RANGE) { /* the context is full: stop like max tokens */
            hf_clear_error();
            rc = HUBRT_OK;
            gen.stop_reason = HUBRT_STOP_LENGTH;
            break;
        }
        if (rc < 0) break;
        rc = HUBRT_OK;
    }
done:
    if (out) *out = gen;
    hubrt_detok_stream_free(ds);
    rt_sampler_free(smp);
    free(pend.buf);
    free(piece);
    free(logits);
    return rc;
}

int hubrt_generate(hubrt_session *session, const char *prompt, const hubrt_sample_params *params,
                   hubrt_token_callback on_token, void *user, hubrt_generation *out)
{
    if (out) memset(out, 0, sizeof *out);
    if (!session || !prompt)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_generate: %s is NULL", !session ? "session" : "prompt");
    const hubrt_model *m = hubrt_session_model(session);
    if (!m) return hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_generate: session has no model");
    /* BOS and friends only at the start of a conversation. */
    int add_special = hubrt_session_n_past(session) == 0;
    int32_t *ids = NULL;
    int cap = 0;
    int n = rt_tokenize_grow(m, prompt, add_special, &ids, &cap, "hubrt_generate");
    if (n < 0) {
        free(ids);
        return n;
    }
    if (n == 0) {
        free(ids);
        return hf_set_error(HUBRT_ERR_INVALID_ARG,
                               "hubrt_generate: the prompt gives no tokens (and the tokenizer adds no BOS)");
    }
    int rc = hubrt_generate_ids(session, ids, n, params, on_token, user, out);
    free(ids);
    return rc;
}
