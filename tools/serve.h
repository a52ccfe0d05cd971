/*
 * tools/serve.h — `run-model serve`: an OpenAI-compatible HTTP server. The
 * pieces, one job per file:
 *
 *   cli_serve.c      options, start-up (listen, load, ready line), signals, shutdown
 *   serve_http.c     libmicrohttpd: bodies, limits, auth, routing, responses, SSE
 *   serve_routes.c   the endpoints: OpenAI request fields -> jobs, results -> JSON
 *   serve_engine.c   the engine thread: queue, slots, one batched step at a time
 *   serve_text.c     stop strings (hold-back), UTF-8 clean-up for JSON, ids
 *   serve_metrics.c  counters and gauges, Prometheus text
 *
 * Threads: libmicrohttpd runs one thread per connection; those threads parse,
 * tokenize, render and write, and never run the model. One engine thread owns
 * the model's sessions and runs every forward pass.
 */
#ifndef TOOLS_SERVE_H
#define TOOLS_SERVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "include/hubrt.h"

#define SERVE_MAX_STOP 4        /* stop strings per request, as OpenAI allows */
#define SERVE_PREFILL_ROWS 128  /* prompt rows one step prefills at most (chunked prefill) */

typedef struct serve_options {
    const char *model_path;
    const char *host;
    int port;
    int parallel;          /* slots decoded together */
    int ctx;               /* tokens per slot (0 = the model's context) */
    int queue;             /* requests waiting beyond the slots */
    const char *api_key;   /* NULL = no key needed */
    const char *alias;     /* model id (NULL = the directory's name) */
    size_t max_body;       /* bytes */
    int timeout_s;         /* idle connection timeout */
    int threads;
    hubrt_quant quant;
    const char *chat_template;  /* a Jinja file instead of the model's template, or NULL */
    int verbose;
} serve_options;

/* ---- metrics (serve_metrics.c) ------------------------------------------ */

typedef enum serve_endpoint {
    EP_HEALTH, EP_MODELS, EP_CHAT, EP_COMPLETIONS, EP_EMBEDDINGS, EP_TOKENIZE, EP_DETOKENIZE,
    EP_APPLY_TEMPLATE, EP_METRICS, EP_OTHER, EP_COUNT
} serve_endpoint;

#define SERVE_N_STATUS 12 /* distinct HTTP statuses counted per endpoint */

typedef struct serve_metrics {
    pthread_mutex_t mu;
    int status_code[SERVE_N_STATUS];             /* the statuses seen, in order of first use */
    long requests[EP_COUNT][SERVE_N_STATUS];
    atomic_long prompt_tokens, generated_tokens, steps, step_rows;
} serve_metrics;

/* What the engine reports for the gauges. */
typedef struct serve_engine_stats {
    int running, queued, slots_busy, slots_total;
} serve_engine_stats;

void metrics_init(serve_metrics *m);
void metrics_destroy(serve_metrics *m);
void metrics_request(serve_metrics *m, serve_endpoint ep, int status);
/* The Prometheus text exposition (malloc'd), or NULL when out of memory. */
char *metrics_render(serve_metrics *m, const serve_engine_stats *st);
const char *metrics_endpoint_name(serve_endpoint ep);

/* ---- text helpers (serve_text.c) ----------------------------------------- */

/* Generated text not yet released because it may still become a stop string. */
typedef struct stop_buffer {
    char *buf;
    size_t len, cap;
} stop_buffer;

/* Appends n bytes; 0 or -1 when out of memory. */
int stop_buffer_append(stop_buffer *b, const char *s, size_t n);
/*
 * How many leading bytes of b can be released: everything before the first
 * match of any stop string (*found = 1), else everything before the earliest
 * suffix that could still grow into one.
 */
size_t stop_buffer_safe(const stop_buffer *b, char *const *stops, int n_stops, int *found);
/* Drops the first n bytes. */
void stop_buffer_consume(stop_buffer *b, size_t n);
void stop_buffer_free(stop_buffer *b);

/* s with every invalid UTF-8 byte replaced by U+FFFD (malloc'd, NUL-terminated); NULL when out of memory. */
char *utf8_clean(const char *s, size_t n);
/* 1 when s[0..n) is valid UTF-8. */
int utf8_valid(const char *s, size_t n);
/* A fresh random id "PREFIX-<24 hex>" into buf. */
void serve_make_id(char *buf, size_t cap, const char *prefix);
/* Base64 of n bytes (malloc'd), or NULL. */
char *base64_encode(const void *data, size_t n);

/* ---- the engine (serve_engine.c) ----------------------------------------- */

typedef enum serve_job_kind { JOB_GENERATE, JOB_EMBED } serve_job_kind;

/*
 * One request's work. The HTTP thread fills the inputs and submits it; from
 * then on the inputs are read-only and the outputs belong to the engine's
 * lock (read them through engine_wait). Reference counted: the HTTP side and
 * the engine each hold one.
 */
typedef struct serve_job {
    serve_job_kind kind;
    /* generation */
    int32_t *prompt;
    int n_prompt;
    int max_tokens;                 /* already cut to the slot's context */
    int ignore_eos;
    float frequency_penalty, presence_penalty;
    char *stops[SERVE_MAX_STOP];
    int n_stops;
    hubrt_sampler *sampler;         /* made by the HTTP thread (bad params fail there) */
    hubrt_detok_stream *detok;      /* primed with the prompt */
    /* embeddings */
    int32_t **inputs;
    int *n_inputs;
    int n_in;
    float *embeddings;              /* [n_in][dim], filled by the engine */
    int dim;

    /* outputs (engine lock) */
    char *text;                     /* released text so far */
    size_t len, cap;
    size_t *ends;                   /* where each step's piece of text ends (one per token) */
    int n_ends, cap_ends;
    int n_generated;
    int finished;
    const char *finish_reason;      /* "stop" or "length" */
    int error_status;               /* HTTP status of a failure (0: none) */
    char error[512];
    int oom;

    /* bookkeeping (engine lock) */
    int cancelled, refs, in_slot;
    pthread_cond_t cv;
    struct serve_job *next;         /* queue link */
} serve_job;

typedef struct serve_engine serve_engine;

/* A new job with one reference (the caller's); NULL when out of memory. */
serve_job *job_new(serve_job_kind kind);
/* Frees a job that was never submitted. */
void job_free(serve_job *j);

/*
 * The engine for a loaded model: parallel slots of ctx tokens each (causal
 * LMs), or embedding batches (encoders). NULL with a message in err.
 */
serve_engine *engine_new(hubrt_model *model, int parallel, int ctx, int queue, serve_metrics *metrics, char *err,
                         size_t err_cap);
int engine_ctx(const serve_engine *e);

enum { ENGINE_OK = 0, ENGINE_QUEUE_FULL = -1, ENGINE_CLOSED = -2 };
/* Queues the job (the engine takes its own reference). ENGINE_QUEUE_FULL / ENGINE_CLOSED: not queued. */
int engine_submit(serve_engine *e, serve_job *j);
/*
 * Waits at most timeout_ms for the job to finish or, when taken is not NULL,
 * for text beyond *taken; the next token's text is then copied to a
 * malloc'd *piece (*piece_len bytes) and *taken advanced past it. Returns 1 when the job has
 * finished (and all its text was taken), else 0.
 */
int engine_wait(serve_engine *e, serve_job *j, int timeout_ms, size_t *taken, char **piece, size_t *piece_len);
/* Asks the engine to drop the job (a client went away); it is gone within one step. */
void engine_cancel(serve_engine *e, serve_job *j);
/* Drops the caller's reference (after which j must not be used). */
void engine_release(serve_engine *e, serve_job *j);
/* Refuses new jobs, waits up to seconds for the running and queued ones, then fails the rest. */
void engine_drain(serve_engine *e, double seconds);
void engine_stats(serve_engine *e, serve_engine_stats *st);
/* Stops the thread and frees the engine (after engine_drain). */
void engine_free(serve_engine *e);

/* ---- the server (shared by serve_http.c and serve_routes.c) ------------- */

typedef struct serve_server {
    serve_options opt;
    serve_metrics metrics;
    char model_id[256];
    long long created;          /* unix time of the start */
    /* set once when loaded, then read-only; ready is the flag readers check */
    hubrt_model *model;
    hubrt_model_info info;
    serve_engine *engine;
    atomic_int ready;
    atomic_int stopping;
} serve_server;

/* How a route asks the HTTP layer whether its client is still there. */
typedef struct serve_client {
    int (*gone)(void *ctx);
    void *ctx;
} serve_client;

typedef struct serve_stream serve_stream;

/* What a route answers: a whole body, or an SSE stream. */
typedef struct serve_reply {
    int status;
    char *body;                 /* malloc'd */
    size_t len;
    const char *content_type;
    const char *allow;          /* Allow header of a 405 */
    serve_stream *stream;       /* status 200, text/event-stream */
} serve_reply;

/* Which endpoint a path is, and whether the method fits (else *allow names the methods). */
serve_endpoint route_match(const char *path, const char *method, int *method_ok, const char **allow);
/* Runs an endpoint on a complete request body. */
void route_handle(serve_server *s, serve_endpoint ep, const char *path, const char *body, size_t len,
                  const serve_client *client, serve_reply *out);
/* An OpenAI-style error reply: {"error": {"message", "type", "code"}}. */
void route_error(serve_reply *out, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * The SSE producer of a streaming reply: fills buf with up to max bytes of
 * event text, waiting for the engine; 0 is never returned. -1: the stream is
 * over; -2: the client went away (the job is cancelled).
 */
ssize_t stream_read(serve_stream *st, char *buf, size_t max);
/* Cancels the job if still running and frees the stream. */
void stream_free(serve_stream *st);
/* Gives the stream its client check (set by the HTTP layer before reading). */
void stream_set_client(serve_stream *st, const serve_client *client);

/* ---- HTTP (serve_http.c) ------------------------------------------------- */

typedef struct serve_http serve_http;
/* Listens on fd (bound and listening) with libmicrohttpd; NULL with a message in err. */
serve_http *http_start(serve_server *s, int fd, char *err, size_t err_cap);
/* Stops accepting new connections (existing ones go on). */
void http_quiesce(serve_http *h);
/* Closes every connection, joins the threads, frees. */
void http_stop(serve_http *h);

#endif
