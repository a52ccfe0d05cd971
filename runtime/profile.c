/*
 * runtime/profile.c — per-op time tables, and the encoder totals kept
 * outside the (read-only) model: see runtime/profile.h.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf/error.h"
#include "models/family.h"
#include "runtime/profile.h"

int rt_profile_env(void)
{
    const char *e = getenv("HUBRT_PROFILE");
    return e && *e && strcmp(e, "0") != 0;
}

int rt_profile_table(const md_graph *g, const double *prof, long passes, int n_threads, char *buf, size_t cap)
{
    double per_op[MD_OP_COUNT] = {0}, total = 0;
    int count[MD_OP_COUNT] = {0};
    for (int i = 0; i < g->n_nodes; i++) {
        per_op[g->nodes[i].op] += prof[i];
        count[g->nodes[i].op]++;
        total += prof[i];
    }
    size_t o = 0;
#define OUT(...) do { int k_ = snprintf(buf ? buf + (o < cap ? o : cap) : NULL, o < cap ? cap - o : 0, __VA_ARGS__); \
                      if (k_ > 0) o += (size_t)k_; } while (0)
    OUT("profile: %ld passes, %.3f ms in all, %d nodes, %d threads\n", passes,
        total * 1e3, g->n_nodes, n_threads);
    OUT("%-12s %6s %12s %7s\n", "op", "nodes", "ms", "share");
    for (int op = 0; op < MD_OP_COUNT; op++) {
        if (!count[op]) continue;
        OUT("%-12s %6d %12.3f %6.1f%%\n", md_op_name((md_op)op), count[op], per_op[op] * 1e3,
            total > 0 ? 100.0 * per_op[op] / total : 0.0);
    }
    /* the ten costliest nodes (selection: a few hundred nodes at most) */
    int top[10], n_top = 0;
    while (n_top < 10 && n_top < g->n_nodes) {
        int best = -1;
        for (int i = 0; i < g->n_nodes; i++) {
            int taken = 0;
            for (int k = 0; k < n_top; k++) taken |= top[k] == i;
            if (!taken && (best < 0 || prof[i] > prof[best])) best = i;
        }
        top[n_top++] = best;
    }
    OUT("%-24s %12s\n", "costliest nodes", "ms");
    for (int i = 0; i < n_top; i++)
        OUT("%-24s %12.3f\n", g->nodes[top[i]].name, prof[top[i]] * 1e3);
#undef OUT
    return o > (size_t)0x7fffffff ? 0x7fffffff : (int)o;
}

/* ---- encoder totals, one entry per profiled model ------------------------ */

typedef struct encode_entry {
    const hubrt_model *model;
    double *seconds;          /* [n_nodes] */
    int n_nodes;
    long passes;
    struct encode_entry *next;
} encode_entry;

static pthread_mutex_t encode_mu = PTHREAD_MUTEX_INITIALIZER;
static encode_entry *encode_entries;

/* m's entry or NULL; the caller holds encode_mu. */
static encode_entry *find_entry(const hubrt_model *m)
{
    for (encode_entry *e = encode_entries; e; e = e->next)
        if (e->model == m) return e;
    return NULL;
}

void rt_encode_profile_add(const hubrt_model *m, const double *prof, int n_nodes)
{
    pthread_mutex_lock(&encode_mu);
    encode_entry *e = find_entry(m);
    if (!e && (e = calloc(1, sizeof *e)) != NULL) {
        e->seconds = calloc((size_t)(n_nodes > 0 ? n_nodes : 1), sizeof *e->seconds);
        if (!e->seconds) {
            free(e);
            e = NULL;
        } else {
            e->model = m;
            e->n_nodes = n_nodes;
            e->next = encode_entries;
            encode_entries = e;
        }
    }
    if (e) {
        for (int i = 0; i < n_nodes && i < e->n_nodes; i++) e->seconds[i] += prof[i];
        e->passes++;
    }
    pthread_mutex_unlock(&encode_mu);
}

int hubrt_encode_profile_report(const hubrt_model *m, char *buf, size_t cap)
{
    static const char fn[] = "hubrt_encode_profile_report";
    const md_family *fs = rt_family(m);
    if (!fs || (!buf && cap)) return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: NULL argument or no weights", fn);
    pthread_mutex_lock(&encode_mu);
    const encode_entry *e = find_entry(m);
    int rc = e ? rt_profile_table(&fs->graph, e->seconds, e->passes, fs->n_threads, buf, cap) : -1;
    pthread_mutex_unlock(&encode_mu);
    if (rc < 0)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: no encoder profile (HUBRT_PROFILE=1 when the model "
                            "is loaded, then at least one hubrt_encode)", fn);
    return rc;
}

void rt_encode_profile_release(const hubrt_model *m)
{
    pthread_mutex_lock(&encode_mu);
    encode_entry **link = &encode_entries;
    while (*link && (*link)->model != m) link = &(*link)->next;
    encode_entry *e = *link;
    if (e) *link = e->next;
    pthread_mutex_unlock(&encode_mu);
    if (!e) return;
    const md_family *fs = rt_family(m);
    if (fs && e->passes > 0) {
        /* the user asked for it with HUBRT_PROFILE=1: one of the two places the library prints */
        char table[8192];
        if (rt_profile_table(&fs->graph, e->seconds, e->passes, fs->n_threads, table, sizeof table) > 0)
            fputs(table, stderr);
    }
    free(e->seconds);
    free(e);
}
