/*
 * runtime/session.c — sessions (KV cache + activation arena for one
 * sequence; their passes are in runtime/forward.c) and hubrt_encode for
 * encoders.
 *
 * Everything a decoder pass needs is allocated when the session is created:
 * the KV cache [layer][n_kv_heads][max_tokens][head_dim] (f32, K and V;
 * pages are touched only as positions fill), the arena planned for n_cap
 * rows, and a pass's token and position ids.
 *
 * An encoder pass has no session: it allocates an arena planned for its own
 * n rows and frees it on return, so the model stays read-only and any
 * number of threads may encode on one model at once.
 *
 * Threads: every pass uses the model's n_threads, one OpenMP team whose
 * nodes end with a barrier. On a machine whose cores are busy with other
 * work a descheduled teammate stalls every barrier, so decode can be much
 * slower with the full team than with one thread there; use one thread on
 * a loaded machine, or OMP_WAIT_POLICY=passive (a futex wake per barrier,
 * a small cost when idle).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/family.h"
#include "hf/error.h"
#include "runtime/model.h"
#include "runtime/profile.h"
#include "runtime/session.h"

static int check_model(const hubrt_model *m, const md_family **fs, const char *fn)
{
    if (!m) return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: NULL model", fn);
    *fs = rt_family(m);
    if (!*fs)
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: the model has no weights loaded "
                               "(tokenizer-only)", fn);
    return 0;
}

hubrt_session *hubrt_session_new(const hubrt_model *m, int max_tokens)
{
    const md_family *fs;
    if (check_model(m, &fs, "hubrt_session_new") != 0) return NULL;
    if (!fs->causal) {
        hf_set_error(HUBRT_ERR_UNSUPPORTED, "hubrt_session_new: %s is an encoder; use "
                        "hubrt_encode()", m->cfg.architecture[0] ? m->cfg.architecture : "the model");
        return NULL;
    }
    if (max_tokens < 0 || max_tokens > fs->max_positions) {
        hf_set_error(HUBRT_ERR_RANGE, "hubrt_session_new: max_tokens %d outside [0, %d] "
                        "(the model's context)", max_tokens, fs->max_positions);
        return NULL;
    }
    if (max_tokens == 0) max_tokens = fs->max_positions;
    hubrt_session *s = calloc(1, sizeof *s);
    if (!s) { hf_set_error(HUBRT_ERR_NOMEM, "hubrt_session_new: out of memory"); return NULL; }
    s->model = m;
    s->fs = fs;
    s->max_tokens = max_tokens;
    s->n_cap = max_tokens < SESSION_MAX_ROWS ? max_tokens : SESSION_MAX_ROWS;
    s->kv_layer_floats = (size_t)fs->n_kv_heads * (size_t)max_tokens * (size_t)fs->head_dim;
    size_t kv_floats = s->kv_layer_floats * (size_t)fs->n_layers;
    if (kv_floats / (size_t)fs->n_layers != s->kv_layer_floats || kv_floats > SIZE_MAX / 8) {
        hf_set_error(HUBRT_ERR_NOMEM, "hubrt_session_new: KV cache too large");
        free(s);
        return NULL;
    }
    s->offsets = malloc((size_t)(fs->graph.n_bufs ? fs->graph.n_bufs : 1) * sizeof *s->offsets);
    size_t arena = s->offsets ? md_graph_plan(&fs->graph, s->n_cap, s->offsets) : (size_t)-1;
    if (arena != (size_t)-1) {
        /* malloc, not calloc-and-touch: KV pages become resident only when used */
        s->kv_k = malloc(kv_floats * sizeof(float));
        s->kv_v = malloc(kv_floats * sizeof(float));
        s->arena = malloc((arena ? arena : 16) * sizeof(float));
        s->positions = malloc((size_t)s->n_cap * sizeof(int32_t));
        s->ids = malloc((size_t)s->n_cap * sizeof(int32_t));
    }
    if (arena == (size_t)-1 || !s->kv_k || !s->kv_v || !s->arena || !s->positions || !s->ids) {
        hf_set_error(HUBRT_ERR_NOMEM, "hubrt_session_new: out of memory (KV cache of %zu MB "
                        "for %d tokens)", 2 * kv_floats * sizeof(float) >> 20, max_tokens);
        hubrt_session_free(s);
        return NULL;
    }
    if (rt_profile_env()) {
        if (hubrt_session_set_profile(s, 1) != 0) {
            hubrt_session_free(s);
            return NULL;
        }
        s->profile_env = 1;
    }
    return s;
}

void hubrt_session_free(hubrt_session *s)
{
    if (!s) return;
    if (s->profile_env && s->profile && s->profile_passes > 0) {
        /* the user asked for it with HUBRT_PROFILE=1: one of the two places the library prints */
        char buf[8192];
        if (hubrt_session_profile_report(s, buf, sizeof buf) > 0) fputs(buf, stderr);
    }
    free(s->kv_k);
    free(s->kv_v);
    free(s->arena);
    free(s->offsets);
    free(s->positions);
    free(s->ids);
    free(s->profile);
    free(s);
}

void hubrt_session_reset(hubrt_session *s)
{
    if (s) s->n_past = 0;
}

int hubrt_session_n_past(const hubrt_session *s) { return s ? s->n_past : 0; }
const hubrt_model *hubrt_session_model(const hubrt_session *s) { return s ? s->model : NULL; }

int rt_check_ids(const int32_t *ids, int n, int vocab, const char *fn, const char *what)
{
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return hf_set_error(HUBRT_ERR_RANGE, "%s: %s %d at position %d is outside the "
                                   "vocabulary [0, %d)", fn, what, (int)ids[i], i, vocab);
    return 0;
}

/* ---- encoders ------------------------------------------------------------ */

/* One encoder pass's memory: the arena planned for its n rows, owned by the call. */
typedef struct encode_ws {
    size_t *offsets;  /* [n_bufs] */
    float *arena;
    int32_t *ints;    /* positions 0..n-1, then n zero type ids */
    double *profile;  /* [n_nodes] seconds when the model is profiled, else NULL */
} encode_ws;

static void encode_ws_free(encode_ws *w)
{
    free(w->offsets);
    free(w->arena);
    free(w->ints);
    free(w->profile);
}

static int encode_ws_alloc(const hubrt_model *m, const md_family *fs, int n, encode_ws *w, const char *fn)
{
    memset(w, 0, sizeof *w);
    w->offsets = malloc((size_t)(fs->graph.n_bufs ? fs->graph.n_bufs : 1) * sizeof *w->offsets);
    size_t need = w->offsets ? md_graph_plan(&fs->graph, n, w->offsets) : (size_t)-1;
    if (need != (size_t)-1) {
        w->arena = malloc((need ? need : 16) * sizeof(float));
        w->ints = malloc((size_t)n * 2 * sizeof(int32_t));
    }
    if (m->profile_encode)
        w->profile = calloc((size_t)(fs->graph.n_nodes ? fs->graph.n_nodes : 1), sizeof *w->profile);
    if (!w->arena || !w->ints || (m->profile_encode && !w->profile)) {
        encode_ws_free(w);
        return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory for a %d-row pass", fn, n);
    }
    for (int i = 0; i < n; i++) {
        w->ints[i] = i;
        w->ints[n + i] = 0;
    }
    return HUBRT_OK;
}

/*
 * One encoder pass; with n_seg > 0 the n rows hold n_seg packed sequences
 * (seg_start, validated by the caller) and positions[n] gives each row's
 * position id (restarting at 0 per sequence).
 */
static int encode_run(const hubrt_model *m, const int32_t *ids, const int32_t *type_ids, const uint8_t *mask,
                      int n, float *hidden, float *pooled, float *logits,
                      const int *seg_start, int n_seg, const int32_t *positions, const char *fn)
{
    const md_family *fs;
    int rc = check_model(m, &fs, fn);
    if (rc) return rc;
    if (fs->causal)
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: %s is a causal LM; use a session and "
                               "hubrt_forward()", fn, m->cfg.architecture);
    if (!ids || n <= 0)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: %s", fn, !ids ? "NULL ids" : "n must be >= 1");
    if (n > fs->max_positions)
        return hf_set_error(HUBRT_ERR_RANGE, "%s: %d tokens exceed the model's %d positions",
                               fn, n, fs->max_positions);
    if ((rc = rt_check_ids(ids, n, fs->vocab, fn, "token id"))) return rc;
    if (type_ids) {
        if (fs->type_vocab <= 0) {
            for (int i = 0; i < n; i++)
                if (type_ids[i] != 0)
                    return hf_set_error(HUBRT_ERR_RANGE, "%s: the model has no token types", fn);
        } else if ((rc = rt_check_ids(type_ids, n, fs->type_vocab, fn, "token type id"))) {
            return rc;
        }
    }
    if (pooled && !fs->has_pooler)
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: pooled output asked for but the "
                               "checkpoint has no pooler", fn);
    if (logits && fs->n_logits <= 0)
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: logits asked for but the checkpoint "
                               "has no MLM or classification head", fn);

    encode_ws w;
    if ((rc = encode_ws_alloc(m, fs, n, &w, fn)) != HUBRT_OK) return rc;
    md_run r;
    memset(&r, 0, sizeof r);
    r.n = n;
    r.pos0 = 0;
    r.ids = ids;
    r.positions = positions ? positions : w.ints;
    r.n_seg = n_seg;
    r.seg_start = seg_start;
    r.type_ids = type_ids ? type_ids : w.ints + n;
    r.key_mask = mask;
    r.ext[MD_EXT_LOGITS] = logits;
    r.ext[MD_EXT_HIDDEN] = hidden;
    r.ext[MD_EXT_POOLED] = pooled;
    r.logits_all = 1;
    r.arena = w.arena;
    r.offsets = w.offsets;
    r.n_cap = n;
    r.n_threads = fs->n_threads;
    r.profile = w.profile;
    md_graph_run(&fs->graph, &r);
    if (w.profile) rt_encode_profile_add(m, w.profile, fs->graph.n_nodes);
    encode_ws_free(&w);
    return HUBRT_OK;
}

int rt_encode_masked(const hubrt_model *m, const int32_t *ids, const int32_t *type_ids,
                     const uint8_t *mask, int n, float *hidden, float *pooled, float *logits)
{
    return encode_run(m, ids, type_ids, mask, n, hidden, pooled, logits, NULL, 0, NULL, "hubrt_encode");
}

int rt_encode_packed(const hubrt_model *m, const int32_t *ids, int n, const int *seg_start, int n_seg,
                     float *hidden)
{
    static const char fn[] = "rt_encode_packed";
    if (!m || !ids || !seg_start || !hidden || n <= 0 || n_seg <= 0)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: NULL argument or empty batch", fn);
    if (seg_start[0] != 0 || seg_start[n_seg] != n)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: seg_start must run from 0 to n (%d)", fn, n);
    for (int s = 0; s < n_seg; s++)
        if (seg_start[s + 1] <= seg_start[s])
            return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: sequence %d is empty or out of order", fn, s);
    if (n_seg == 1) return encode_run(m, ids, NULL, NULL, n, hidden, NULL, NULL, NULL, 0, NULL, fn);
    /* positions restart at 0 in each sequence (n <= max_positions is checked by encode_run) */
    int32_t *pos = malloc((size_t)n * sizeof *pos);
    if (!pos) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory for %d positions", fn, n);
    for (int s = 0; s < n_seg; s++)
        for (int i = seg_start[s]; i < seg_start[s + 1]; i++) pos[i] = i - seg_start[s];
    int rc = encode_run(m, ids, NULL, NULL, n, hidden, NULL, NULL, seg_start, n_seg, pos, fn);
    free(pos);
    return rc;
}

int hubrt_encode(const hubrt_model *m, const int32_t *ids, const int32_t *type_ids, int n,
                 float *hidden, float *pooled, float *logits)
{
    return rt_encode_masked(m, ids, type_ids, NULL, n, hidden, pooled, logits);
}

/* ---- session profile ------------------------------------------------------ */

int hubrt_session_set_profile(hubrt_session *s, int on)
{
    if (!s) return hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_session_set_profile: NULL session");
    free(s->profile);
    s->profile = NULL;
    s->profile_passes = 0;
    if (on) {
        s->profile = calloc((size_t)(s->fs->graph.n_nodes ? s->fs->graph.n_nodes : 1), sizeof(double));
        if (!s->profile) return hf_set_error(HUBRT_ERR_NOMEM, "hubrt_session_set_profile: out of memory");
    }
    return 0;
}

int hubrt_session_profile_report(const hubrt_session *s, char *buf, size_t cap)
{
    if (!s || (!buf && cap))
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_session_profile_report: NULL argument");
    if (!s->profile)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_session_profile_report: profiling is "
                               "off (HUBRT_PROFILE=1 or hubrt_session_set_profile)");
    return rt_profile_table(&s->fs->graph, s->profile, s->profile_passes, s->fs->n_threads, buf, cap);
}
