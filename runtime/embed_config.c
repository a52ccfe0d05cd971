/*
 * runtime/embed_config.c — how a sentence-transformers directory embeds,
 * read once at load for hubrt_embed / hubrt_embed_batch.
 *
 * modules.json lists the modules (Transformer, Pooling, Normalize, ...) and
 * the Pooling module's folder (usually 1_Pooling/config.json) names the
 * mode. A module that changes the vector in a way hubrt does not run
 * (Dense, ...) is refused rather than silently skipped.
 * sentence_bert_config.json's max_seq_length caps the tokens, as
 * sentence-transformers does.
 *
 * Problems in these files do not fail the load (they matter only to
 * embeddings): they are kept and reported by the embed calls that use the
 * file — the pooling files only when the caller asks for the default
 * pooling, sentence_bert_config.json always.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hf/error.h"
#include "hf/jsonfile.h"
#include "runtime/model.h"

#define ST_FILE_MAX_BYTES (1 << 20)

/* A Pooling config (path, named name in messages) -> a pooling mode, or a status. */
static int read_pooling_config(const char *path, const char *name, int *mode)
{
    cJSON *root = NULL;
    int rc = hf_json_read_file(path, name, ST_FILE_MAX_BYTES, &root);
    if (rc) return rc == HF_FILE_MISSING ? hf_set_error(HUBRT_ERR_IO, "%s: missing", name) : rc;
    static const struct { const char *key; int mode; } modes[] = {
        {"pooling_mode_cls_token", HUBRT_POOLING_CLS},
        {"pooling_mode_mean_tokens", HUBRT_POOLING_MEAN},
        {"pooling_mode_max_tokens", HUBRT_POOLING_MAX},
        {"pooling_mode_lasttoken", HUBRT_POOLING_LAST},
        {"pooling_mode_mean_sqrt_len_tokens", RT_POOLING_MEAN_SQRT_LEN},
        {"pooling_mode_weightedmean_tokens", -1},
    };
    int n_on = 0;
    *mode = HUBRT_POOLING_MEAN;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, modes[i].key);
        if (cJSON_IsTrue(v)) {
            n_on++;
            if (modes[i].mode < 0) {
                cJSON_Delete(root);
                return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: %s is not supported", name, modes[i].key);
            }
            *mode = modes[i].mode;
        }
    }
    cJSON_Delete(root);
    if (n_on > 1)
        return hf_set_error(HUBRT_ERR_UNSUPPORTED,
                            "%s: %d pooling modes at once (concatenated) are not supported", name, n_on);
    return HUBRT_OK;
}

/* A module path from modules.json must stay inside the model directory. */
static int safe_rel_path(const char *p)
{
    return p && *p && p[0] != '/' && !strstr(p, "..") && strlen(p) < 256;
}

/*
 * The pooling of dir: *mode (a hubrt_pooling or RT_POOLING_MEAN_SQRT_LEN;
 * 0 when dir is not a sentence-transformers directory) and *normalize.
 * 0 or a status.
 */
static int read_pooling(const char *dir, int *mode, int *normalize)
{
    char path[PATH_MAX + 300];
    *mode = 0;
    *normalize = 0;
    snprintf(path, sizeof path, "%s/modules.json", dir);
    cJSON *mods = NULL;
    int rc = hf_json_read_file(path, "modules.json", ST_FILE_MAX_BYTES, &mods);
    if (rc < 0) return rc;
    if (rc == HF_FILE_MISSING) { /* no modules.json: a lone 1_Pooling/config.json still counts */
        snprintf(path, sizeof path, "%s/1_Pooling/config.json", dir);
        if (access(path, F_OK) != 0) return HUBRT_OK;
        return read_pooling_config(path, "1_Pooling/config.json", mode);
    }
    if (!cJSON_IsArray(mods)) {
        cJSON_Delete(mods);
        return hf_set_error(HUBRT_ERR_FORMAT, "modules.json: not a JSON array");
    }
    rc = HUBRT_OK;
    const cJSON *mod;
    cJSON_ArrayForEach(mod, mods) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(mod, "type");
        const cJSON *mpath = cJSON_GetObjectItemCaseSensitive(mod, "path");
        if (!cJSON_IsString(type)) {
            rc = hf_set_error(HUBRT_ERR_FORMAT, "modules.json: a module without a string 'type'");
            break;
        }
        const char *t = type->valuestring;
        const char *dot = strrchr(t, '.');
        const char *base = dot ? dot + 1 : t;
        if (!strcmp(base, "Transformer")) continue;
        if (!strcmp(base, "Normalize")) { *normalize = 1; continue; }
        if (!strcmp(base, "Pooling")) {
            const char *rel = cJSON_IsString(mpath) ? mpath->valuestring : "1_Pooling";
            if (!safe_rel_path(rel)) {
                rc = hf_set_error(HUBRT_ERR_FORMAT, "modules.json: Pooling path '%.100s' leaves the model directory", rel);
                break;
            }
            char name[300];
            snprintf(name, sizeof name, "%s/config.json", rel);
            snprintf(path, sizeof path, "%s/%s/config.json", dir, rel);
            if ((rc = read_pooling_config(path, name, mode)) != HUBRT_OK) break;
            continue;
        }
        rc = hf_set_error(HUBRT_ERR_UNSUPPORTED,
                          "modules.json: module type '%.100s' is not supported (hubrt runs Transformer, Pooling, Normalize)", t);
        break;
    }
    cJSON_Delete(mods);
    if (rc == HUBRT_OK && *mode == 0) *mode = HUBRT_POOLING_MEAN;
    return rc;
}

/*
 * sentence_bert_config.json's max_seq_length (sentence-transformers truncates
 * to it, often below the model's positions), or 0 when absent. A broken
 * file is an error rather than a silent difference from the reference.
 */
static int read_max_seq_length(const char *dir, int *out)
{
    char path[PATH_MAX + 64];
    *out = 0;
    snprintf(path, sizeof path, "%s/sentence_bert_config.json", dir);
    cJSON *root = NULL;
    int rc = hf_json_read_file(path, "sentence_bert_config.json", ST_FILE_MAX_BYTES, &root);
    if (rc) return rc == HF_FILE_MISSING ? HUBRT_OK : rc;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "max_seq_length");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 2 || v->valuedouble > 1e7) {
            cJSON_Delete(root);
            return hf_set_error(HUBRT_ERR_FORMAT, "sentence_bert_config.json: max_seq_length must be an integer >= 2");
        }
        *out = (int)v->valuedouble;
    }
    cJSON_Delete(root);
    return HUBRT_OK;
}

void rt_embed_config_load(const char *dir, rt_embed_config *c)
{
    memset(c, 0, sizeof *c);
    int rc = read_pooling(dir, &c->pooling, &c->normalize);
    if (rc < 0) {
        hf_error_keep(&c->pooling_error, rc);
        c->pooling = 0;
        c->normalize = 0;
    }
    rc = read_max_seq_length(dir, &c->max_seq_length);
    if (rc < 0) {
        hf_error_keep(&c->max_seq_error, rc);
        c->max_seq_length = 0;
    }
}
