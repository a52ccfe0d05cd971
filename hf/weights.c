/*
 * hf/weights.c — all weight files of a model directory behind one
 * name lookup.
 *
 * A directory holds model.safetensors, or model.safetensors.index.json whose
 * weight_map names the shard of every tensor. Each file is opened and fully
 * validated by safetensors.c; the index is checked against the shards (every
 * shard it names exists, every tensor it names is in that shard, no tensor is
 * stored twice). Pickle checkpoints (pytorch_model.bin, *.pt, *.pth, *.ckpt)
 * are refused, never unpickled.
 *
 * Storage: MMAP keeps the tensors as views into the read-only file maps.
 * COPY reads every file into 2 MiB-aligned huge-page memory and unmaps it
 * (weights stream faster from huge pages; resident memory stays about the
 * weights' size). AUTO is COPY until the model benchmarks say otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hf/error.h"
#include "hf/jsonfile.h"
#include "hf/safetensors.h"

#define INDEX_MAX_BYTES (64u << 20)

typedef struct wfile {
    char *rel;            /* name relative to the directory */
    hf_st_file *st;
    int64_t size;         /* bytes on disk */
} wfile;

struct hf_weights {
    int n_files;
    wfile *files;
    int n;                          /* tensors over all files */
    const hf_tensor **tensors;   /* [n] in file order */
    const hf_tensor **by_name;   /* [n] sorted by name */
};

void hf_weights_close(hf_weights *w)
{
    if (!w) return;
    for (int i = 0; i < w->n_files; i++) {
        hf_st_close(w->files[i].st);
        free(w->files[i].rel);
    }
    free(w->files);
    free(w->tensors);
    free(w->by_name);
    free(w);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Why there are no safetensors: pickle files get their own message. */
static int no_weights_error(const char *dir)
{
    DIR *d = opendir(dir);
    char pickle[256] = "", other[256] = "";
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            const char *n = e->d_name;
            if (!pickle[0] && (has_suffix(n, ".bin") || has_suffix(n, ".pt") ||
                               has_suffix(n, ".pth") || has_suffix(n, ".ckpt") ||
                               !strcmp(n, "pytorch_model.bin.index.json")))
                snprintf(pickle, sizeof pickle, "%s", n);
            if (!other[0] && has_suffix(n, ".safetensors")) snprintf(other, sizeof other, "%s", n);
        }
        closedir(d);
    }
    if (pickle[0])
        return hf_set_error(HUBRT_ERR_UNSUPPORTED,
                               "%s: only PyTorch pickle weights found (%s); hubrt never unpickles "
                               "(it can run code) — provide safetensors weights (model.safetensors), "
                               "e.g. download the repo's safetensors files or convert with "
                               "save_pretrained(safe_serialization=True)",
                               dir, pickle);
    if (other[0])
        return hf_set_error(HUBRT_ERR_IO,
                               "%s: no model.safetensors or model.safetensors.index.json (found %s, "
                               "which is not a hub model weight file name)",
                               dir, other);
    return hf_set_error(HUBRT_ERR_IO,
                           "%s: no weights found (expected model.safetensors or "
                           "model.safetensors.index.json)",
                           dir);
}

static int add_file(hf_weights *w, const char *dir, const char *rel)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, rel) >= sizeof path)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: path too long", dir);
    wfile *nf = realloc(w->files, (size_t)(w->n_files + 1) * sizeof *nf);
    if (!nf) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory", path);
    w->files = nf;
    wfile *f = &w->files[w->n_files];
    memset(f, 0, sizeof *f);
    if (!(f->rel = strdup(rel))) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory", path);
    w->n_files++;
    f->st = hf_st_open(path);
    if (!f->st) return hf_error_status();
    f->size = (int64_t)hf_st_file_size(f->st);
    return 0;
}

static int find_file(const hf_weights *w, const char *rel)
{
    for (int i = 0; i < w->n_files; i++)
        if (!strcmp(w->files[i].rel, rel)) return i;
    return -1;
}

/* A shard name must be a plain file name inside the directory. */
static int bad_shard_name(const char *s)
{
    return !*s || strchr(s, '/') || strchr(s, '\\') || s[0] == '.';
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int open_sharded(hf_weights *w, const char *dir, const char *index_path)
{
    size_t len;
    char *text = hf_read_file(index_path, INDEX_MAX_BYTES, &len);
    if (!text) return hf_error_status();
    cJSON *root = NULL;
    int rc = hf_json_parse(text, len, index_path, &root);
    free(text);
    if (rc) return rc;
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(root) || !cJSON_IsObject(map)) {
        cJSON_Delete(root);
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: no 'weight_map' object", index_path);
    }
    /* Distinct shard names, sorted (model-00001-of-N ... in order). */
    int n_entries = cJSON_GetArraySize(map);
    char **names = calloc(n_entries ? (size_t)n_entries : 1, sizeof *names);
    if (!names) {
        cJSON_Delete(root);
        return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory", index_path);
    }
    int n_names = 0;
    for (const cJSON *e = map->child; e; e = e->next) {
        if (!cJSON_IsString(e) || bad_shard_name(e->valuestring)) {
            free(names);
            rc = hf_set_error(HUBRT_ERR_FORMAT,
                                 "%s: tensor '%s': the shard must be a file name in the model "
                                 "directory",
                                 index_path, e->string);
            cJSON_Delete(root);
            return rc;
        }
        names[n_names++] = e->valuestring;
    }
    if (n_names == 0) {
        free(names);
        cJSON_Delete(root);
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: weight_map is empty", index_path);
    }
    qsort(names, (size_t)n_names, sizeof *names, cmp_str);
    for (int i = 0; i < n_names; i++) {
        if (i && !strcmp(names[i], names[i - 1])) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (!exists(path)) {
            const char *who = "";
            for (const cJSON *e = map->child; e; e = e->next)
                if (!strcmp(e->valuestring, names[i])) {
                    who = e->string;
                    break;
                }
            rc = hf_set_error(HUBRT_ERR_IO,
                                 "%s: shard '%s' (holding tensor '%s') is missing from %s",
                                 index_path, names[i], who, dir);
            free(names);
            cJSON_Delete(root);
            return rc;
        }
        if ((rc = add_file(w, dir, names[i]))) {
            free(names);
            cJSON_Delete(root);
            return rc;
        }
    }
    free(names);
    /* Every tensor the index names is in the shard it names. */
    for (const cJSON *e = map->child; e; e = e->next) {
        int fi = find_file(w, e->valuestring);
        if (fi < 0 || !hf_st_find(w->files[fi].st, e->string)) {
            rc = hf_set_error(HUBRT_ERR_FORMAT,
                                 "%s: tensor '%s' is mapped to shard '%s', which does not contain it",
                                 index_path, e->string, e->valuestring);
            cJSON_Delete(root);
            return rc;
        }
    }
    cJSON_Delete(root);
    return 0;
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp((*(const hf_tensor *const *)a)->name, (*(const hf_tensor *const *)b)->name);
}

static int build_index(hf_weights *w, const char *dir)
{
    size_t total = 0;
    for (int i = 0; i < w->n_files; i++) total += (size_t)hf_st_count(w->files[i].st);
    if (total > (size_t)INT32_MAX)
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: too many tensors", dir);
    w->tensors = calloc(total ? total : 1, sizeof *w->tensors);
    w->by_name = calloc(total ? total : 1, sizeof *w->by_name);
    if (!w->tensors || !w->by_name) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory", dir);
    int k = 0;
    for (int i = 0; i < w->n_files; i++)
        for (int j = 0; j < hf_st_count(w->files[i].st); j++)
            w->tensors[k++] = hf_st_tensor(w->files[i].st, j);
    w->n = k;
    memcpy(w->by_name, w->tensors, (size_t)k * sizeof *w->by_name);
    qsort(w->by_name, (size_t)k, sizeof *w->by_name, cmp_tensor_name);
    for (int i = 1; i < k; i++)
        if (!strcmp(w->by_name[i]->name, w->by_name[i - 1]->name))
            return hf_set_error(HUBRT_ERR_FORMAT, "%s: tensor '%s' is stored twice (%s and %s)", dir,
                                   w->by_name[i]->name, w->by_name[i - 1]->file, w->by_name[i]->file);
    return 0;
}

hf_weights *hf_weights_open(const char *dir, hubrt_weight_storage storage)
{
    if (!dir) {
        hf_set_error(HUBRT_ERR_INVALID_ARG, "hf_weights_open: NULL directory");
        return NULL;
    }
    if (storage != HUBRT_STORAGE_AUTO && storage != HUBRT_STORAGE_MMAP && storage != HUBRT_STORAGE_COPY) {
        hf_set_error(HUBRT_ERR_INVALID_ARG, "hf_weights_open: unknown storage mode %d", (int)storage);
        return NULL;
    }
    hf_weights *w = calloc(1, sizeof *w);
    if (!w) {
        hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory", dir);
        return NULL;
    }
    char single[4096], index[4096];
    snprintf(single, sizeof single, "%s/model.safetensors", dir);
    snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir);
    int rc;
    if (exists(single)) rc = add_file(w, dir, "model.safetensors");
    else if (exists(index)) rc = open_sharded(w, dir, index);
    else rc = no_weights_error(dir);
    if (!rc) rc = build_index(w, dir);
    /* Huge-page memory: the decode GEMV streams weights faster from it than from a 4 KiB-page file map. */
    if (!rc && storage != HUBRT_STORAGE_MMAP)
        for (int i = 0; i < w->n_files && !rc; i++) rc = hf_st_copy_to_memory(w->files[i].st);
    if (rc) {
        hf_weights_close(w);
        return NULL;
    }
    return w;
}

const hf_tensor *hf_weights_find(const hf_weights *w, const char *name)
{
    if (!w || !name) return NULL;
    int lo = 0, hi = w->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(name, w->by_name[mid]->name);
        if (!c) return w->by_name[mid];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

int hf_weights_count(const hf_weights *w) { return w ? w->n : 0; }

const hf_tensor *hf_weights_tensor(const hf_weights *w, int i)
{
    return w && i >= 0 && i < w->n ? w->tensors[i] : NULL;
}

int hf_weights_n_files(const hf_weights *w) { return w ? w->n_files : 0; }

const char *hf_weights_file(const hf_weights *w, int i, int64_t *size_bytes)
{
    if (!w || i < 0 || i >= w->n_files) return NULL;
    if (size_bytes) *size_bytes = w->files[i].size;
    return w->files[i].rel;
}
