/*
 * runtime/forward.c — causal LM passes: hubrt_forward (one session) and
 * hubrt_forward_batch (sessions of one model sharing their passes), both
 * through one engine.
 *
 * Every item (a session and the ids to append) is validated before anything
 * changes, so a failed call leaves every session as it was. An item's ids go
 * in chunks of its session's n_cap rows (a long prompt takes several
 * passes, as it always did alone); chunks of different items are packed,
 * in item order, into passes of at most one arena's rows (the largest
 * session's, which the pass borrows as scratch). A pass runs the model's
 * graph once over all its rows: every matmul sees every row and reads each
 * weight once, while the nodes that touch positions or the KV cache run per
 * item, each against its own cache at its own positions (md_seq). The
 * kernels compute each row as if alone (kernels.h) and each item's chunks
 * are exactly the ones hubrt_forward runs, so an item's results are bit
 * for bit those of hubrt_forward on the same session and ids alone.
 *
 * The logits rows a pass wants (each item's last row, or every row for
 * hubrt_forward's logits) are the only rows the LM head computes; when they
 * are not consecutive they are gathered first. With several items they land
 * in a scratch block and are copied out, one row per item.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/family.h"
#include "hf/error.h"
#include "runtime/model.h"
#include "runtime/session.h"

/* One item of the engine: hubrt_batch_item plus hubrt_forward's all-rows logits. */
typedef struct fw_item {
    hubrt_session *s;
    const int32_t *ids;
    int n;
    float *logits;      /* [n][vocab] every row (hubrt_forward only), or NULL */
    float *last_logits; /* [vocab] the last row, or NULL */
    int done;           /* ids already run */
} fw_item;

/* Everything that could fail, before anything changes; in a batch the message names the item. */
static int validate(const fw_item *it, int n_items, int batch, const char *fn)
{
    char at[32] = "";
    for (int i = 0; i < n_items; i++) {
        const hubrt_session *s = it[i].s;
        if (batch) snprintf(at, sizeof at, "item %d: ", i);
        if (!s || !it[i].ids || it[i].n <= 0)
            return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: %s%s", fn, at,
                                !s ? "NULL session" : !it[i].ids ? "NULL ids" : "n must be >= 1");
        if (s->model != it[0].s->model)
            return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: %sits session is of another model than item 0's "
                                "(one call runs one model)", fn, at);
        for (int j = 0; j < i; j++)
            if (it[j].s == s)
                return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: %sits session is item %d's too (a session may "
                                    "be in a call once)", fn, at, j);
        const int32_t *ids = it[i].ids;
        for (int k = 0; k < it[i].n; k++)
            if (ids[k] < 0 || ids[k] >= s->fs->vocab)
                return hf_set_error(HUBRT_ERR_RANGE, "%s: %stoken id %d at position %d is outside the "
                                    "vocabulary [0, %d)", fn, at, (int)ids[k], k, s->fs->vocab);
        if (it[i].n > s->max_tokens - s->n_past)
            return hf_set_error(HUBRT_ERR_RANGE, "%s: %s%d new tokens after %d cached exceed the session's "
                                "context of %d tokens", fn, at, it[i].n, s->n_past, s->max_tokens);
    }
    return HUBRT_OK;
}

/* Scratch of a multi-item call: per pass at most one sequence and one logits row per item. */
typedef struct fw_scratch {
    md_seq *seqs;       /* [n_items] */
    fw_item **seq_item; /* [n_items] the item of each sequence */
    int32_t *out_rows;  /* [n_items] */
    fw_item **out_item; /* [n_items] the item of each logits row */
    float *logits;      /* [n_items][vocab] when several items want logits, else NULL */
    float *gather;      /* [n_items][hidden] for scattered logits rows, when several items want logits */
    void *block;
} fw_scratch;

static int scratch_alloc(fw_scratch *w, const fw_item *it, int n_items, const md_family *fs, const char *fn)
{
    int n_want = 0;
    for (int i = 0; i < n_items; i++) n_want += it[i].last_logits != NULL;
    size_t ni = (size_t)n_items, vocab = (size_t)fs->n_logits, hidden = (size_t)fs->hidden;
    /* whole 64-byte lines of floats first, so the structs after them are aligned */
    size_t n_logits = n_want > 1 ? (ni * vocab + 15) & ~(size_t)15 : 0;
    size_t n_gather = n_want > 1 ? (ni * hidden + 15) & ~(size_t)15 : 0;
    size_t bytes = (n_logits + n_gather) * sizeof(float) + ni * (sizeof(md_seq) + sizeof(int32_t) + 2 * sizeof(fw_item *));
    memset(w, 0, sizeof *w);
    w->block = malloc(bytes);
    if (!w->block)
        return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory for %d items (%zu bytes)", fn, n_items, bytes);
    float *f = w->block;
    w->logits = n_logits ? f : NULL;
    w->gather = n_gather ? f + n_logits : NULL;
    w->seqs = (md_seq *)(f + n_logits + n_gather);
    w->seq_item = (fw_item **)(w->seqs + ni);
    w->out_item = w->seq_item + ni;
    w->out_rows = (int32_t *)(w->out_item + ni);
    return HUBRT_OK;
}

/*
 * Runs every item to the end in passes; nothing can fail from here. ws is
 * the session whose arena (and id buffers) the passes use: the largest
 * n_cap, so that every chunk fits.
 */
static void run_passes(fw_item *it, int n_items, hubrt_session *ws, fw_scratch *w)
{
    const md_family *fs = ws->fs;
    const size_t vocab = (size_t)fs->n_logits;
    hubrt_session *prof = it[0].s; /* a pass's per-op times go to the first item's session */
    for (;;) {
        int rows = 0, n_seqs = 0, n_out = 0, logits_all = 0;
        float *ext = NULL;
        for (int i = 0; i < n_items; i++) {
            fw_item *t = &it[i];
            hubrt_session *s = t->s;
            int chunk = t->n - t->done < s->n_cap ? t->n - t->done : s->n_cap;
            if (chunk <= 0 || rows + chunk > ws->n_cap) continue;
            w->seq_item[n_seqs] = t;
            md_seq *q = &w->seqs[n_seqs++];
            q->row0 = rows;
            q->n = chunk;
            q->pos0 = s->n_past;
            q->kv_k = s->kv_k;
            q->kv_v = s->kv_v;
            q->kv_layer_floats = s->kv_layer_floats;
            q->kv_stride = s->max_tokens;
            memcpy(ws->ids + rows, t->ids + t->done, (size_t)chunk * sizeof(int32_t));
            for (int k = 0; k < chunk; k++) ws->positions[rows + k] = s->n_past + k;
            if (t->logits) { /* hubrt_forward alone: every row straight into its logits */
                logits_all = 1;
                ext = t->logits + (size_t)t->done * vocab;
            } else if (t->last_logits && t->done + chunk == t->n) {
                w->out_rows[n_out] = rows + chunk - 1;
                w->out_item[n_out++] = t;
            }
            rows += chunk;
        }
        if (rows == 0) break;
        if (!logits_all && n_out == 1) ext = w->out_item[0]->last_logits;
        else if (!logits_all && n_out > 1) ext = w->logits;

        md_run r;
        memset(&r, 0, sizeof r);
        r.n = rows;
        r.seqs = w->seqs;
        r.n_seqs = n_seqs;
        r.ids = ws->ids;
        r.positions = ws->positions;
        r.type_ids = ws->positions; /* no token types in causal LMs */
        r.ext[MD_EXT_LOGITS] = ext;
        r.logits_all = logits_all;
        r.out_rows = w->out_rows;
        r.n_out = n_out;
        r.gather = w->gather;
        r.arena = ws->arena;
        r.offsets = ws->offsets;
        r.n_cap = ws->n_cap;
        r.n_threads = fs->n_threads;
        r.profile = prof->profile;
        md_graph_run(&fs->graph, &r);
        if (prof->profile) prof->profile_passes++;

        if (!logits_all && n_out > 1)
            for (int k = 0; k < n_out; k++)
                memcpy(w->out_item[k]->last_logits, w->logits + (size_t)k * vocab, vocab * sizeof(float));
        for (int k = 0; k < n_seqs; k++) {
            w->seq_item[k]->s->n_past += w->seqs[k].n;
            w->seq_item[k]->done += w->seqs[k].n;
        }
    }
    for (int i = 0; i < n_items; i++) /* hubrt_forward with both outputs */
        if (it[i].logits && it[i].last_logits)
            memcpy(it[i].last_logits, it[i].logits + (size_t)(it[i].n - 1) * vocab, vocab * sizeof(float));
}

int hubrt_forward(hubrt_session *s, const int32_t *ids, int n, float *logits, float *last_logits)
{
    static const char fn[] = "hubrt_forward";
    fw_item it = {s, ids, n, logits, last_logits, 0};
    int rc = validate(&it, 1, 0, fn);
    if (rc) return rc;
    /* one item: a sequence and a logits row per pass, on the stack */
    md_seq seq;
    int32_t out_row;
    fw_item *seq_item, *out_item;
    fw_scratch w = {&seq, &seq_item, &out_row, &out_item, NULL, NULL, NULL};
    run_passes(&it, 1, s, &w);
    return HUBRT_OK;
}

int hubrt_forward_batch(hubrt_batch_item *items, int n_items)
{
    static const char fn[] = "hubrt_forward_batch";
    if (n_items < 0 || (n_items > 0 && !items))
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: %s", fn, n_items < 0 ? "n_items < 0" : "NULL items");
    if (n_items == 0) return HUBRT_OK;
    fw_item stack_items[16];
    fw_item *it = n_items <= 16 ? stack_items : malloc((size_t)n_items * sizeof *it);
    if (!it) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory for %d items", fn, n_items);
    for (int i = 0; i < n_items; i++) {
        fw_item t = {items[i].session, items[i].ids, items[i].n, NULL, items[i].last_logits, 0};
        it[i] = t;
    }
    fw_scratch w;
    int rc = validate(it, n_items, 1, fn);
    if (rc == HUBRT_OK) rc = scratch_alloc(&w, it, n_items, it[0].s->fs, fn);
    if (rc == HUBRT_OK) {
        hubrt_session *ws = it[0].s;
        for (int i = 1; i < n_items; i++)
            if (it[i].s->n_cap > ws->n_cap) ws = it[i].s;
        run_passes(it, n_items, ws, &w);
        free(w.block);
    }
    if (it != stack_items) free(it);
    return rc;
}
