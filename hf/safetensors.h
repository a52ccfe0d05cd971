/*
 * hf/safetensors.h — safetensors files and sharded checkpoints.
 *
 * A file is an 8-byte little-endian header length N, N bytes of JSON
 * ({name: {dtype, shape, data_offsets}, "__metadata__": {...}}), then the
 * data region. hf_st_open() maps the file read-only and validates all of
 * it before anything is used; tensors are views into the map.
 *
 * hf_weights_open() opens a model directory's weights: model.safetensors,
 * or model.safetensors.index.json and its shards. Pickle files are refused.
 */
#ifndef HF_SAFETENSORS_H
#define HF_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "include/hubrt.h"

#define HF_MAX_DIMS 8

typedef struct hf_tensor {
    const char *name;
    hubrt_dtype dtype;
    int ndim;
    int64_t shape[HF_MAX_DIMS];
    int64_t n_elements;
    const void *data;        /* view into the file map (or the weight copy) */
    size_t n_bytes;
    const char *file;        /* the file it came from (for messages) */
} hf_tensor;

typedef struct hf_st_file hf_st_file;

/* Maps and validates one file; NULL + hubrt_last_error() on failure. */
hf_st_file *hf_st_open(const char *path);
/* Validates an in-memory image (used by hf_st_open and by fuzzers). */
hf_st_file *hf_st_open_memory(const void *data, size_t size, const char *name);
void hf_st_close(hf_st_file *f);
int hf_st_count(const hf_st_file *f);
const hf_tensor *hf_st_tensor(const hf_st_file *f, int i);
const hf_tensor *hf_st_find(const hf_st_file *f, const char *name);
/* The safetensors spelling of a dtype ("BF16"), or NULL if out of range. */
const char *hf_dtype_name(hubrt_dtype dtype);
/* Size of one element in bytes (BOOL = 1). */
size_t hf_dtype_size(hubrt_dtype dtype);
/* The name the file was opened under (its path), for messages. */
const char *hf_st_name(const hf_st_file *f);
/* Bytes of the whole file (8 + header + data). */
uint64_t hf_st_file_size(const hf_st_file *f);
/*
 * COPY storage: reads every tensor into one 2 MiB-aligned anonymous buffer
 * (each tensor 64-byte aligned, madvise(MADV_HUGEPAGE)) with pread, so the
 * file pages are never mapped, then unmaps the file. Tensor pointers move to
 * the copy; names and shapes are unchanged. 0 or a status.
 */
int hf_st_copy_to_memory(hf_st_file *f);

/* All weight files of a model directory, with one name lookup over them. */
typedef struct hf_weights hf_weights;

hf_weights *hf_weights_open(const char *dir, hubrt_weight_storage storage);
void hf_weights_close(hf_weights *w);
const hf_tensor *hf_weights_find(const hf_weights *w, const char *name);
int hf_weights_count(const hf_weights *w);
const hf_tensor *hf_weights_tensor(const hf_weights *w, int i);
int hf_weights_n_files(const hf_weights *w);
const char *hf_weights_file(const hf_weights *w, int i, int64_t *size_bytes);

#endif
