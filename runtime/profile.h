/*
 * runtime/profile.h — per-op time tables (internal).
 *
 * A session's profile lives in the session (hubrt_session_set_profile, or
 * HUBRT_PROFILE=1 when it is created). hubrt_encode has no session and the
 * model is read-only, so with HUBRT_PROFILE=1 at load each encoder pass
 * times its ops into its own array and adds it to a process-wide table,
 * one entry per model, guarded by a mutex; hubrt_model_free prints the
 * model's entry on stderr and drops it.
 */
#ifndef RUNTIME_PROFILE_H
#define RUNTIME_PROFILE_H

#include <stddef.h>

#include "models/graph.h"
#include "runtime/model.h"

/* 1 when the environment asks for profiles (HUBRT_PROFILE set, not "" or "0"). */
int rt_profile_env(void);

/*
 * The table (per op kind, then the costliest nodes) for prof[g->n_nodes]
 * seconds over passes passes, snprintf-style into buf; returns the full length.
 */
int rt_profile_table(const md_graph *g, const double *prof, long passes, int n_threads, char *buf, size_t cap);

/* Adds one encoder pass's prof[n_nodes] seconds to m's entry (out of memory: the pass is left out). */
void rt_encode_profile_add(const hubrt_model *m, const double *prof, int n_nodes);

/* Prints m's encoder table on stderr when it has passes, then drops the entry (hubrt_model_free). */
void rt_encode_profile_release(const hubrt_model *m);

#endif
