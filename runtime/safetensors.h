/*
 * runtime/safetensors.h — safetensors files and sharded checkpoints.
 *
 * A file is an 8-byte little-endian header length N, N bytes of JSON
 * ({name: {dtype, shape, data_offsets}, "__metadata__": {...}}), then the
 * data region. hubrt_st_open() maps the file read-only and validates all of
 * it before anything is used; tensors are views into the map.
 *
 * hubrt_weights_open() opens a model directory's weights: model.safetensors,
 * or model.safetensors.index.json and its shards. Pickle files are refused.
 */
#ifndef HUBRT_SAFETENSORS_H
#define HUBRT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "include/hubrt.h"

#define HUBRT_MAX_DIMS 8

typedef struct hubrt_tensor {
    const char *name;
    hubrt_dtype dtype;
    int ndim;
    int64_t shape[HUBRT_MAX_DIMS];
    int64_t n_elements;
    const void *data;        /* view into the file map (or the weight copy) */
    size_t n_bytes;
    const char *file;        /* the file it came from (for messages) */
} hubrt_tensor;

typedef struct hubrt_st_file hubrt_st_file;

/* Maps and validates one file; NULL + hubrt_last_error() on failure. */
hubrt_st_file *hubrt_st_open(const char *path);
/* Validates an in-memory image (used by hubrt_st_open and by fuzzers). */
hubrt_st_file *hubrt_st_open_memory(const void *data, size_t size, const char *name);
void hubrt_st_close(hubrt_st_file *f);
int hubrt_st_count(const hubrt_st_file *f);
const hubrt_tensor *hubrt_st_tensor(const hubrt_st_file *f, int i);
const hubrt_tensor *hubrt_st_find(const hubrt_st_file *f, const char *name);
/* Size of one element in bytes (BOOL = 1). */
size_t hubrt_dtype_size(hubrt_dtype dtype);
/* The name the file was opened under (its path), for messages. */
const char *hubrt_st_name(const hubrt_st_file *f);
/* Bytes of the whole file (8 + header + data). */
uint64_t hubrt_st_file_size(const hubrt_st_file *f);
/*
 * COPY storage: reads every tensor into one 2 MiB-aligned anonymous buffer
 * (each tensor 64-byte aligned, madvise(MADV_HUGEPAGE)) with pread, so the
 * file pages are never mapped, then unmaps the file. Tensor pointers move to
 * the copy; names and shapes are unchanged. 0 or a status.
 */
int hubrt_st_copy_to_memory(hubrt_st_file *f);

/* All weight files of a model directory, with one name lookup over them. */
typedef struct hubrt_weights hubrt_weights;

hubrt_weights *hubrt_weights_open(const char *dir, hubrt_weight_storage storage);
void hubrt_weights_close(hubrt_weights *w);
const hubrt_tensor *hubrt_weights_find(const hubrt_weights *w, const char *name);
int hubrt_weights_count(const hubrt_weights *w);
const hubrt_tensor *hubrt_weights_tensor(const hubrt_weights *w, int i);
int hubrt_weights_n_files(const hubrt_weights *w);
const char *hubrt_weights_file(const hubrt_weights *w, int i, int64_t *size_bytes);

/* Writes f32 tensors as a safetensors file (for `run-model logits`). */
typedef struct hubrt_st_out {
    const char *name;
    int ndim;
    int64_t shape[HUBRT_MAX_DIMS];
    const float *data;
} hubrt_st_out;
int hubrt_st_write_f32(const char *path, const hubrt_st_out *tensors, int n);

#endif
