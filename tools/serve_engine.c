/*
 * tools/serve_engine.c — the engine: one thread that owns the model's
 * sessions and runs every forward pass of the server.
 *
 * Causal LMs: --parallel slots, each a session of --ctx tokens. Requests wait
 * in a FIFO queue and take a free slot at the start of a step. A step is one
 * batched pass (hubrt_forward_batch) over the busy slots: every decoding slot
 * contributes its last token, and the earliest admitted prompt not yet
 * prefilled its next chunk of at most SERVE_PREFILL_ROWS rows. So a long
 * prompt does not stall the streams already decoding, and prompts that
 * arrive together get their first tokens one after another rather than all
 * at the end of one long pass. After the pass each slot that has logits samples its next
 * token, decodes its text, holds back what may become a stop string, and
 * publishes the rest to the request, whose HTTP thread writes it.
 *
 * Encoders: queued embedding requests are run together, all their inputs
 * packed into one hubrt_embed_ids call.
 *
 * Locking: one mutex (mu) guards the queue, the slots' job pointers and every
 * job's outputs. The engine thread holds it only to take work and to publish
 * results, never during a pass.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/serve.h"

#define PIECE_CAP 4096 /* one token's text */

/* One item of a step: the rows a session appends, and where its last row's
 * logits go (NULL: fill the KV cache only). */
typedef hubrt_batch_item step_item;

typedef struct slot {
    serve_job *job;           /* NULL: free */
    hubrt_session *session;
    float *logits;            /* [V] */
    int32_t *counts;          /* [V] how often each id was generated (OpenAI penalties) */
    int32_t *uniq;            /* the distinct generated ids, to apply and clear counts */
    int n_uniq;
    long long seq;            /* admission order: prompts are prefilled first come, first served */
    int n_fed;                /* prompt ids already in the KV cache */
    int n_gen;
    int32_t next;             /* the id the next decode step feeds */
    stop_buffer pend;         /* text held back for the stop strings */
    char piece[PIECE_CAP];
    /* results of the step, published under the lock */
    size_t emit;
    const char *finish;       /* "stop" / "length" when the job ends this step */
    int fail_status;
    char fail[512];
} slot;

struct serve_engine {
    hubrt_model *model;
    hubrt_model_info info;
    int V, n_slots, ctx, queue_cap;
    slot *slots;
    step_item *items;
    slot **item_slot;
    int *item_status;
    serve_metrics *metrics;

    pthread_mutex_t mu;
    pthread_cond_t cv;        /* the engine waits for work */
    pthread_cond_t idle_cv;   /* engine_drain waits for the work to end */
    serve_job *head, *tail;   /* the queue */
    int n_queued, n_running;
    long long admitted;       /* jobs that took a slot so far */
    int closed, abort_all, quit;
    pthread_t thread;
    int started;
};

static void deadline_after(struct timespec *ts, double seconds)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    long long ns = ts->tv_nsec + (long long)(seconds * 1e9);
    ts->tv_sec += (time_t)(ns / 1000000000LL);
    ts->tv_nsec = (long)(ns % 1000000000LL);
}

static void cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

/* ---- jobs ------------------------------------------------------------------ */

serve_job *job_new(serve_job_kind kind)
{
    serve_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->kind = kind;
    j->refs = 1;
    j->finish_reason = "length";
    cond_init_monotonic(&j->cv);
    return j;
}

void job_free(serve_job *j)
{
    if (!j) return;
    free(j->prompt);
    for (int i = 0; i < j->n_stops; i++) free(j->stops[i]);
    hubrt_sampler_free(j->sampler);
    hubrt_detok_stream_free(j->detok);
    for (int i = 0; i < j->n_in; i++) free(j->inputs[i]);
    free(j->inputs);
    free(j->n_inputs);
    free(j->embeddings);
    free(j->text);
    free(j->ends);
    pthread_cond_destroy(&j->cv);
    free(j);
}

/* Drops one reference (lock held); frees the job at zero. */
static void job_unref_locked(serve_job *j)
{
    if (--j->refs == 0) job_free(j);
}

/* Ends a job (lock held): wakes its HTTP thread and drops the engine's reference. */
static void job_finish_locked(serve_engine *e, serve_job *j, int status, const char *msg)
{
    if (status && !j->error_status) {
        j->error_status = status;
        snprintf(j->error, sizeof j->error, "%s", msg ? msg : "error");
    }
    j->finished = 1;
    pthread_cond_broadcast(&j->cv);
    job_unref_locked(j);
    (void)e;
}

/* Appends released text to the job's output (lock held). */
static void job_append_locked(serve_job *j, const char *s, size_t n)
{
    if (!n || j->oom) return;
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 256;
        while (cap < j->len + n + 1) cap *= 2;
        char *g = realloc(j->text, cap);
        if (!g) {
            j->oom = 1;
            return;
        }
        j->text = g;
        j->cap = cap;
    }
    if (j->n_ends == j->cap_ends) {
        int cap = j->cap_ends ? j->cap_ends * 2 : 64;
        size_t *g = realloc(j->ends, (size_t)cap * sizeof *g);
        if (!g) {
            j->oom = 1;
            return;
        }
        j->ends = g;
        j->cap_ends = cap;
    }
    memcpy(j->text + j->len, s, n);
    j->len += n;
    j->text[j->len] = 0;
    j->ends[j->n_ends++] = j->len;
}

/* ---- the forward pass of a step -------------------------------------------- */

/*
 * Runs every item of a step in one hubrt_forward_batch pass; status[k] is
 * item k's result. Each item's logits are bit-identical to hubrt_forward on
 * its session alone, so what a request gets does not depend on the others.
 * When the call fails nothing has changed: each item then runs alone, to
 * tell the bad one from the rest.
 */
static void forward_items(step_item *items, int n, int *status)
{
    int rc = hubrt_forward_batch(items, n);
    for (int k = 0; k < n; k++) status[k] = rc;
    if (rc >= 0 || n == 1) return;
    for (int k = 0; k < n; k++) status[k] = hubrt_forward_batch(&items[k], 1);
}

/* ---- sampling ------------------------------------------------------------- */

static int is_eos(const serve_engine *e, int32_t id)
{
    for (int i = 0; i < e->info.n_eos && i < HUBRT_MAX_EOS; i++)
        if (e->info.eos_token_ids[i] == id) return 1;
    return 0;
}

static void slot_fail(slot *s, int status, const char *fmt, const char *detail)
{
    s->fail_status = status;
    snprintf(s->fail, sizeof s->fail, fmt, detail);
}

/*
 * The slot's logits are ready: apply OpenAI's frequency / presence
 * penalties, sample, decode the token's text and decide what to release and
 * whether the request ends. Runs without the lock (the job's sampler and
 * detokenizer belong to the engine while it runs).
 */
static void sample_next(serve_engine *e, slot *s)
{
    serve_job *j = s->job;
    if (j->frequency_penalty != 0 || j->presence_penalty != 0)
        for (int i = 0; i < s->n_uniq; i++) {
            int32_t id = s->uniq[i];
            s->logits[id] -= (float)s->counts[id] * j->frequency_penalty + j->presence_penalty;
        }
    int32_t id = hubrt_sampler_sample(j->sampler, s->logits);
    if (id < 0) {
        slot_fail(s, 500, "sampling failed: %s", hubrt_last_error());
        return;
    }
    hubrt_sampler_accept(j->sampler, id);
    if (id < e->V && s->counts[id]++ == 0) s->uniq[s->n_uniq++] = id;
    s->n_gen++;
    s->next = id;
    atomic_fetch_add(&e->metrics->generated_tokens, 1);

    int eos = !j->ignore_eos && is_eos(e, id);
    int plen = j->detok ? hubrt_detok_stream_push(j->detok, id, s->piece, PIECE_CAP) : 0;
    if (plen < 0) plen = 0; /* e.g. a padding row of the LM head: no text */
    if (plen >= PIECE_CAP) plen = PIECE_CAP - 1;
    if (stop_buffer_append(&s->pend, s->piece, (size_t)plen)) {
        slot_fail(s, 500, "%s", "out of memory for the generated text");
        return;
    }
    int found;
    s->emit = stop_buffer_safe(&s->pend, j->stops, j->n_stops, &found);
    int last = found || eos || s->n_gen >= j->max_tokens;
    if (last && !found) s->emit = s->pend.len; /* flush what was held back */
    if (last) s->finish = found || eos ? "stop" : "length";
}

/* ---- one step over the busy slots ------------------------------------------ */

static void run_step(serve_engine *e)
{
    /* the prompt to prefill this step: the earliest admitted one not done yet */
    slot *first = NULL;
    for (int i = 0; i < e->n_slots; i++) {
        slot *s = &e->slots[i];
        if (s->job && s->n_fed < s->job->n_prompt && (!first || s->seq < first->seq)) first = s;
    }
    int n = 0, rows = 0;
    for (int i = 0; i < e->n_slots; i++) {
        slot *s = &e->slots[i];
        s->emit = 0;
        s->finish = NULL;
        s->fail_status = 0;
        if (!s->job) continue;
        serve_job *j = s->job;
        step_item *it = &e->items[n];
        it->session = s->session;
        if (s->n_fed < j->n_prompt) { /* prefill: the next chunk of the prompt, one prompt per step */
            if (s != first) continue;
            int take = j->n_prompt - s->n_fed;
            if (take > SERVE_PREFILL_ROWS) take = SERVE_PREFILL_ROWS;
            it->ids = j->prompt + s->n_fed;
            it->n = take;
            it->last_logits = s->n_fed + take == j->n_prompt ? s->logits : NULL;
        } else { /* decode: the last sampled token */
            it->ids = &s->next;
            it->n = 1;
            it->last_logits = s->logits;
        }
        rows += it->n;
        e->item_slot[n++] = s;
    }
    if (n == 0) return;
    forward_items(e->items, n, e->item_status);
    atomic_fetch_add(&e->metrics->steps, 1);
    atomic_fetch_add(&e->metrics->step_rows, rows);
    for (int k = 0; k < n; k++) {
        slot *s = e->item_slot[k];
        step_item *it = &e->items[k];
        if (e->item_status[k] < 0) {
            slot_fail(s, e->item_status[k] == HUBRT_ERR_RANGE ? 400 : 500, "forward pass failed: %s",
                      hubrt_last_error());
            continue;
        }
        if (s->n_fed < s->job->n_prompt) s->n_fed += it->n;
        if (it->last_logits) sample_next(e, s);
    }
}

/* ---- embeddings ------------------------------------------------------------ */

/* Runs the jobs' inputs in one hubrt_embed_ids call; 0 or a status (lock not held). */
static int embed_jobs(serve_engine *e, serve_job **jobs, int n_jobs)
{
    int total = 0;
    for (int i = 0; i < n_jobs; i++) total += jobs[i]->n_in;
    const int32_t **ids = calloc((size_t)(total ? total : 1), sizeof *ids);
    int *n_ids = calloc((size_t)(total ? total : 1), sizeof *n_ids);
    float *out = malloc((size_t)(total ? total : 1) * (size_t)e->info.hidden_size * sizeof *out);
    int rc = HUBRT_ERR_NOMEM, k = 0;
    if (ids && n_ids && out) {
        for (int i = 0; i < n_jobs; i++)
            for (int t = 0; t < jobs[i]->n_in; t++) {
                ids[k] = jobs[i]->inputs[t];
                n_ids[k++] = jobs[i]->n_inputs[t];
            }
        rc = hubrt_embed_ids(e->model, ids, n_ids, total, HUBRT_POOLING_DEFAULT, 0, out, e->info.hidden_size);
    }
    if (rc >= 0) {
        float *row = out;
        for (int i = 0; i < n_jobs; i++) {
            size_t bytes = (size_t)jobs[i]->n_in * (size_t)e->info.hidden_size * sizeof *out;
            jobs[i]->embeddings = malloc(bytes ? bytes : 1);
            if (!jobs[i]->embeddings) {
                rc = HUBRT_ERR_NOMEM;
                break;
            }
            memcpy(jobs[i]->embeddings, row, bytes);
            jobs[i]->dim = e->info.hidden_size;
            row += (size_t)jobs[i]->n_in * (size_t)e->info.hidden_size;
        }
    }
    free(ids);
    free(n_ids);
    free(out);
    return rc < 0 ? rc : 0;
}

/* Takes the queued embedding jobs (lock held on entry and exit) and runs them. */
static void run_embeddings(serve_engine *e)
{
    enum { MAX_JOBS = 64 };
    serve_job *jobs[MAX_JOBS];
    int n = 0;
    while (e->head && n < MAX_JOBS) {
        serve_job *j = e->head;
        e->head = j->next;
        if (!e->head) e->tail = NULL;
        e->n_queued--;
        if (j->cancelled) {
            job_finish_locked(e, j, 499, "cancelled");
            continue;
        }
        jobs[n++] = j;
    }
    if (!n) return;
    e->n_running = n;
    pthread_mutex_unlock(&e->mu);
    int rc = embed_jobs(e, jobs, n);
    int status[MAX_JOBS];
    char msg[MAX_JOBS][256];
    for (int i = 0; i < n; i++) {
        /* one pass for all failed: run each alone to tell whose input is bad */
        status[i] = rc == 0 ? 0 : n == 1 ? rc : embed_jobs(e, &jobs[i], 1);
        if (status[i]) snprintf(msg[i], sizeof msg[i], "%s", hubrt_last_error());
    }
    pthread_mutex_lock(&e->mu);
    for (int i = 0; i < n; i++)
        job_finish_locked(e, jobs[i], !status[i] ? 0 : status[i] == HUBRT_ERR_NOMEM ? 503 : 400, msg[i]);
    e->n_running = 0;
    pthread_cond_broadcast(&e->idle_cv);
}

/* ---- the engine thread ----------------------------------------------------- */

/* Clears a slot for a new job (lock held). */
static void slot_take(serve_engine *e, slot *s, serve_job *j)
{
    for (int i = 0; i < s->n_uniq; i++) s->counts[s->uniq[i]] = 0;
    s->n_uniq = 0;
    s->n_fed = s->n_gen = 0;
    stop_buffer_consume(&s->pend, s->pend.len);
    hubrt_session_reset(s->session);
    s->job = j;
    s->seq = e->admitted++;
    j->in_slot = 1;
    e->n_running++;
    atomic_fetch_add(&e->metrics->prompt_tokens, j->n_prompt);
}

static void slot_release(serve_engine *e, slot *s, int status, const char *msg)
{
    job_finish_locked(e, s->job, status, msg);
    s->job = NULL;
    e->n_running--;
}

/* Publishes the step's results (lock held). */
static void publish_locked(serve_engine *e)
{
    for (int i = 0; i < e->n_slots; i++) {
        slot *s = &e->slots[i];
        if (!s->job) continue;
        serve_job *j = s->job;
        if (s->fail_status) {
            slot_release(e, s, s->fail_status, s->fail);
            continue;
        }
        if (s->emit) {
            job_append_locked(j, s->pend.buf, s->emit);
            stop_buffer_consume(&s->pend, s->emit);
            s->emit = 0;
        }
        j->n_generated = s->n_gen;
        if (j->oom) {
            slot_release(e, s, 503, "out of memory for the generated text");
        } else if (s->finish) {
            j->finish_reason = s->finish;
            slot_release(e, s, 0, NULL);
        } else if (s->n_gen > 0) {
            pthread_cond_broadcast(&j->cv);
        }
    }
}

/* Drops cancelled jobs and fills free slots from the queue (lock held). */
static void schedule_locked(serve_engine *e)
{
    for (int i = 0; i < e->n_slots; i++) {
        slot *s = &e->slots[i];
        if (s->job && (s->job->cancelled || e->abort_all))
            slot_release(e, s, s->job->cancelled ? 499 : 503,
                         s->job->cancelled ? "cancelled" : "the server is shutting down");
    }
    serve_job **link = &e->head, *prev = NULL;
    while (*link) { /* cancelled or aborted while waiting */
        serve_job *j = *link;
        if (j->cancelled || e->abort_all) {
            *link = j->next;
            if (e->tail == j) e->tail = prev;
            e->n_queued--;
            job_finish_locked(e, j, j->cancelled ? 499 : 503,
                              j->cancelled ? "cancelled" : "the server is shutting down");
        } else {
            prev = j;
            link = &j->next;
        }
    }
    for (int i = 0; i < e->n_slots && e->head; i++) {
        slot *s = &e->slots[i];
        if (s->job) continue;
        serve_job *j = e->head;
        e->head = j->next;
        if (!e->head) e->tail = NULL;
        e->n_queued--;
        slot_take(e, s, j);
    }
    if (e->n_running == 0 && e->n_queued == 0) pthread_cond_broadcast(&e->idle_cv);
}

static void *engine_main(void *arg)
{
    serve_engine *e = arg;
    int encoder = e->info.kind == HUBRT_MODEL_ENCODER;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        if (encoder) {
            if (e->abort_all || e->quit) schedule_locked(e); /* fails what is queued */
            else run_embeddings(e);
        } else {
            schedule_locked(e);
        }
        if (e->n_running == 0 && e->n_queued == 0) {
            pthread_cond_broadcast(&e->idle_cv);
            if (e->quit) break;
            pthread_cond_wait(&e->cv, &e->mu);
            continue;
        }
        if (encoder) continue;
        pthread_mutex_unlock(&e->mu);
        run_step(e);
        pthread_mutex_lock(&e->mu);
        publish_locked(e);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* ---- the public face --------------------------------------------------------- */

serve_engine *engine_new(hubrt_model *model, int parallel, int ctx, int queue, serve_metrics *metrics, char *err,
                         size_t err_cap)
{
    serve_engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    e->model = model;
    e->metrics = metrics;
    e->queue_cap = queue;
    pthread_mutex_init(&e->mu, NULL);
    cond_init_monotonic(&e->cv);
    cond_init_monotonic(&e->idle_cv);
    if (hubrt_model_get_info(model, &e->info) != HUBRT_OK) {
        snprintf(err, err_cap, "%s", hubrt_last_error());
        goto fail;
    }
    if (e->info.kind == HUBRT_MODEL_CAUSAL_LM) {
        e->V = e->info.n_logits;
        e->n_slots = parallel;
        e->ctx = ctx > 0 ? ctx : e->info.max_positions > 0 ? e->info.max_positions : 2048;
        if (e->info.max_positions > 0 && e->ctx > e->info.max_positions) {
            snprintf(err, err_cap, "--ctx %d is more than the model's context of %d tokens", e->ctx,
                     e->info.max_positions);
            goto fail;
        }
        e->slots = calloc((size_t)parallel, sizeof *e->slots);
        e->items = calloc((size_t)parallel, sizeof *e->items);
        e->item_slot = calloc((size_t)parallel, sizeof *e->item_slot);
        e->item_status = calloc((size_t)parallel, sizeof *e->item_status);
        if (!e->slots || !e->items || !e->item_slot || !e->item_status) {
            snprintf(err, err_cap, "out of memory for %d slots", parallel);
            goto fail;
        }
        for (int i = 0; i < parallel; i++) {
            slot *s = &e->slots[i];
            s->session = hubrt_session_new(model, e->ctx);
            s->logits = malloc((size_t)e->V * sizeof *s->logits);
            s->counts = calloc((size_t)e->V, sizeof *s->counts);
            s->uniq = malloc((size_t)e->V * sizeof *s->uniq);
            if (!s->session) {
                snprintf(err, err_cap, "slot %d: %s", i, hubrt_last_error());
                goto fail;
            }
            if (!s->logits || !s->counts || !s->uniq) {
                snprintf(err, err_cap, "out of memory for slot %d", i);
                goto fail;
            }
        }
    } else if (e->info.kind != HUBRT_MODEL_ENCODER) {
        snprintf(err, err_cap, "the model has no weights loaded");
        goto fail;
    }
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        snprintf(err, err_cap, "cannot start the engine thread");
        goto fail;
    }
    e->started = 1;
    return e;
fail:
    engine_free(e);
    return NULL;
}

int engine_ctx(const serve_engine *e)
{
    return e->ctx;
}

int engine_submit(serve_engine *e, serve_job *j)
{
    pthread_mutex_lock(&e->mu);
    int rc = ENGINE_OK;
    if (e->closed) rc = ENGINE_CLOSED;
    else if (e->n_running + e->n_queued >= (e->n_slots > 0 ? e->n_slots : 1) + e->queue_cap) rc = ENGINE_QUEUE_FULL;
    else {
        j->refs++;
        j->next = NULL;
        if (e->tail) e->tail->next = j;
        else e->head = j;
        e->tail = j;
        e->n_queued++;
        pthread_cond_signal(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int engine_wait(serve_engine *e, serve_job *j, int timeout_ms, size_t *taken, char **piece, size_t *piece_len)
{
    struct timespec until;
    deadline_after(&until, timeout_ms / 1000.0);
    if (piece) *piece = NULL;
    if (piece_len) *piece_len = 0;
    pthread_mutex_lock(&e->mu);
    while (!j->finished && !(taken && j->len > *taken))
        if (pthread_cond_timedwait(&j->cv, &e->mu, &until) == ETIMEDOUT) break;
    if (taken && j->len > *taken && piece) {
        int lo = 0, hi = j->n_ends - 1; /* the first piece end past *taken */
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (j->ends[mid] > *taken) hi = mid;
            else lo = mid + 1;
        }
        size_t n = j->ends[lo] - *taken;
        char *p = malloc(n + 1);
        if (p) {
            memcpy(p, j->text + *taken, n);
            p[n] = 0;
            *piece = p;
            *piece_len = n;
            *taken += n;
        }
    }
    int done = j->finished && (!taken || *taken == j->len);
    pthread_mutex_unlock(&e->mu);
    return done;
}

void engine_cancel(serve_engine *e, serve_job *j)
{
    pthread_mutex_lock(&e->mu);
    if (!j->finished) {
        j->cancelled = 1;
        pthread_cond_signal(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
}

void engine_release(serve_engine *e, serve_job *j)
{
    pthread_mutex_lock(&e->mu);
    job_unref_locked(j);
    pthread_mutex_unlock(&e->mu);
}

void engine_drain(serve_engine *e, double seconds)
{
    struct timespec until;
    deadline_after(&until, seconds);
    pthread_mutex_lock(&e->mu);
    e->closed = 1;
    while (e->n_running + e->n_queued > 0)
        if (pthread_cond_timedwait(&e->idle_cv, &e->mu, &until) == ETIMEDOUT) break;
    if (e->n_running + e->n_queued > 0) { /* out of time: fail the rest at the next step */
        e->abort_all = 1;
        pthread_cond_signal(&e->cv);
        while (e->n_running + e->n_queued > 0) pthread_cond_wait(&e->idle_cv, &e->mu);
    }
    pthread_mutex_unlock(&e->mu);
}

void engine_stats(serve_engine *e, serve_engine_stats *st)
{
    pthread_mutex_lock(&e->mu);
    st->running = e->n_running;
    st->queued = e->n_queued;
    st->slots_total = e->n_slots;
    st->slots_busy = 0;
    for (int i = 0; i < e->n_slots; i++) st->slots_busy += e->slots[i].job != NULL;
    pthread_mutex_unlock(&e->mu);
}

void engine_free(serve_engine *e)
{
    if (!e) return;
    if (e->started) {
        pthread_mutex_lock(&e->mu);
        e->quit = 1;
        e->closed = 1;
        e->abort_all = 1;
        pthread_cond_signal(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
    }
    for (int i = 0; e->slots && i < e->n_slots; i++) {
        slot *s = &e->slots[i];
        hubrt_session_free(s->session);
        free(s->logits);
        free(s->counts);
        free(s->uniq);
        stop_buffer_free(&s->pend);
    }
    free(e->slots);
    free(e->items);
    free(e->item_slot);
    free(e->item_status);
    pthread_cond_destroy(&e->cv);
    pthread_cond_destroy(&e->idle_cv);
    pthread_mutex_destroy(&e->mu);
    free(e);
}
