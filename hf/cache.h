/*
 * hf/cache.h — resolving `-m` to a model directory, offline.
 *
 * A path that exists as a directory wins. Otherwise "org/name" (or a bare
 * "name") is looked up in the local Hugging Face hub cache, the layout
 * huggingface_hub writes:
 *   <cache>/models--org--name/refs/main          the revision (a commit hash)
 *   <cache>/models--org--name/snapshots/<rev>/   files (symlinks into blobs/)
 * <cache> is $HF_HUB_CACHE, else $HF_HOME/hub, else
 * $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
 * Nothing is ever downloaded.
 */
#ifndef HF_CACHE_H
#define HF_CACHE_H

#include <stddef.h>

/* Writes the directory to out (cap bytes). 0, or a status + message. */
int hf_resolve_model_dir(const char *path, char *out, size_t cap);

/* The hub cache folder in use (cap bytes). 0, or a status if it cannot be named. */
int hf_cache_dir(char *out, size_t cap);

#endif
