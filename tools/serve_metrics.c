/*
 * tools/serve_metrics.c — the server's counters and gauges as Prometheus
 * text (GET /metrics): requests by endpoint and status, prompt and generated
 * tokens, requests running and queued, slots busy, decode steps and the mean
 * rows of a step.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/serve.h"

static const char *const endpoint_names[EP_COUNT] = {
    [EP_HEALTH] = "/health", [EP_MODELS] = "/v1/models", [EP_CHAT] = "/v1/chat/completions",
    [EP_COMPLETIONS] = "/v1/completions", [EP_EMBEDDINGS] = "/v1/embeddings", [EP_TOKENIZE] = "/tokenize",
    [EP_DETOKENIZE] = "/detokenize", [EP_APPLY_TEMPLATE] = "/apply-template", [EP_METRICS] = "/metrics",
    [EP_OTHER] = "other",
};

const char *metrics_endpoint_name(serve_endpoint ep)
{
    return ep >= 0 && ep < EP_COUNT ? endpoint_names[ep] : "other";
}

void metrics_init(serve_metrics *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void metrics_destroy(serve_metrics *m)
{
    pthread_mutex_destroy(&m->mu);
}

void metrics_request(serve_metrics *m, serve_endpoint ep, int status)
{
    if (ep < 0 || ep >= EP_COUNT) ep = EP_OTHER;
    pthread_mutex_lock(&m->mu);
    int k = 0;
    while (k < SERVE_N_STATUS && m->status_code[k] && m->status_code[k] != status) k++;
    if (k == SERVE_N_STATUS) k = SERVE_N_STATUS - 1; /* more distinct statuses than slots: lumped in the last */
    if (!m->status_code[k]) m->status_code[k] = status;
    m->requests[ep][k]++;
    pthread_mutex_unlock(&m->mu);
}

typedef struct text {
    char *buf;
    size_t len, cap;
    int oom;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...)
{
    if (t->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) { t->oom = 1; return; }
        if ((size_t)n < t->cap - t->len) { t->len += (size_t)n; return; }
        size_t cap = t->cap * 2 + (size_t)n;
        char *g = realloc(t->buf, cap);
        if (!g) { t->oom = 1; return; }
        t->buf = g;
        t->cap = cap;
    }
}

char *metrics_render(serve_metrics *m, const serve_engine_stats *st)
{
    text t = {malloc(4096), 0, 4096, 0};
    if (!t.buf) return NULL;
    t.buf[0] = 0;
    add(&t, "# HELP hubrt_requests_total HTTP requests answered, by endpoint and status.\n"
            "# TYPE hubrt_requests_total counter\n");
    pthread_mutex_lock(&m->mu);
    for (int ep = 0; ep < EP_COUNT; ep++)
        for (int k = 0; k < SERVE_N_STATUS && m->status_code[k]; k++)
            if (m->requests[ep][k])
                add(&t, "hubrt_requests_total{endpoint=\"%s\",status=\"%d\"} %ld\n", endpoint_names[ep],
                    m->status_code[k], m->requests[ep][k]);
    pthread_mutex_unlock(&m->mu);
    long steps = atomic_load(&m->steps), rows = atomic_load(&m->step_rows);
    add(&t, "# HELP hubrt_prompt_tokens_total Prompt tokens of the requests run.\n"
            "# TYPE hubrt_prompt_tokens_total counter\nhubrt_prompt_tokens_total %ld\n",
        atomic_load(&m->prompt_tokens));
    add(&t, "# HELP hubrt_generated_tokens_total Tokens generated.\n"
            "# TYPE hubrt_generated_tokens_total counter\nhubrt_generated_tokens_total %ld\n",
        atomic_load(&m->generated_tokens));
    add(&t, "# HELP hubrt_requests_running Requests the engine is working on.\n"
            "# TYPE hubrt_requests_running gauge\nhubrt_requests_running %d\n", st->running);
    add(&t, "# HELP hubrt_requests_queued Requests waiting for a slot.\n"
            "# TYPE hubrt_requests_queued gauge\nhubrt_requests_queued %d\n", st->queued);
    add(&t, "# HELP hubrt_slots_busy Slots holding a request.\n"
            "# TYPE hubrt_slots_busy gauge\nhubrt_slots_busy %d\n", st->slots_busy);
    add(&t, "# HELP hubrt_slots_total Slots decoded together (--parallel).\n"
            "# TYPE hubrt_slots_total gauge\nhubrt_slots_total %d\n", st->slots_total);
    add(&t, "# HELP hubrt_decode_steps_total Engine steps (one batched forward pass each).\n"
            "# TYPE hubrt_decode_steps_total counter\nhubrt_decode_steps_total %ld\n", steps);
    add(&t, "# HELP hubrt_batch_rows_total Token rows of all steps.\n"
            "# TYPE hubrt_batch_rows_total counter\nhubrt_batch_rows_total %ld\n", rows);
    add(&t, "# HELP hubrt_batch_rows_mean Mean token rows per step.\n"
            "# TYPE hubrt_batch_rows_mean gauge\nhubrt_batch_rows_mean %.3f\n",
        steps ? (double)rows / (double)steps : 0.0);
    if (t.oom) {
        free(t.buf);
        return NULL;
    }
    return t.buf;
}
