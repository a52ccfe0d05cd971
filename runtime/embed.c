/*
 * runtime/embed.c — sentence embeddings: hubrt_embed().
 *
 * text -> ids (with [CLS]/[SEP]) -> hubrt_encode() -> last_hidden_state
 * [n][hidden] -> pooling (mean over the tokens, [CLS], max or last) ->
 * optional L2 normalisation.
 *
 * A sentence-transformers directory says how it pools: modules.json lists
 * the modules (Transformer, Pooling, Normalize, ...) and the Pooling
 * module's folder (usually 1_Pooling/config.json) names the mode. With
 * HUBRT_POOLING_DEFAULT we follow it, including its Normalize module; a
 * module that changes the vector in a way we do not run (Dense, ...) is
 * refused rather than silently skipped. sentence_bert_config.json's
 * max_seq_length caps the tokens, as sentence-transformers does.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf/error.h"
#include "hf/jsonfile.h"
#include "runtime/model.h"
#include "runtime/session.h"

enum { POOL_MEAN_SQRT_LEN = 100 }; /* sentence-transformers only; not in the public enum */

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* Parses a small JSON file; 0 and *out, 1 when the file is missing, or a status. */
static int load_json(const char *path, const char *name, cJSON **out)
{
    if (!file_exists(path)) return 1;
    size_t len;
    char *text = hf_read_file(path, 1 << 20, &len);
    if (!text) return hf_error_status();
    int rc = hf_json_parse(text, len, name, out);
    free(text);
    return rc;
}

/* 1_Pooling/config.json -> a pooling mode, or a status. */
static int read_pooling_config(const char *path, const char *name, int *mode)
{
    cJSON *root = NULL;
    int rc = load_json(path, name, &root);
    if (rc) return rc == 1 ? hf_set_error(HUBRT_ERR_IO, "%s: missing", name) : rc;
    static const struct { const char *key; int mode; } modes[] = {
        {"pooling_mode_cls_token", HUBRT_POOLING_CLS},
        {"pooling_mode_mean_tokens", HUBRT_POOLING_MEAN},
        {"pooling_mode_max_tokens", HUBRT_POOLING_MAX},
        {"pooling_mode_lasttoken", HUBRT_POOLING_LAST},
        {"pooling_mode_mean_sqrt_len_tokens", POOL_MEAN_SQRT_LEN},
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
 * The sentence-transformers pooling of dir: *mode (a hubrt_pooling or
 * POOL_MEAN_SQRT_LEN) and *normalize. *mode stays 0 when dir is not a
 * sentence-transformers directory. 0 or a status.
 */
static int st_config(const char *dir, int *mode, int *normalize)
{
    char path[PATH_MAX + 300];
    *mode = 0;
    *normalize = 0;
    snprintf(path, sizeof path, "%s/modules.json", dir);
    cJSON *mods = NULL;
    int rc = load_json(path, "modules.json", &mods);
    if (rc < 0) return rc;
    if (rc == 1) { /* no modules.json: a lone 1_Pooling/config.json still counts */
        snprintf(path, sizeof path, "%s/1_Pooling/config.json", dir);
        if (!file_exists(path)) return HUBRT_OK;
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
static int st_max_seq_length(const char *dir, int *out)
{
    char path[PATH_MAX + 64];
    *out = 0;
    snprintf(path, sizeof path, "%s/sentence_bert_config.json", dir);
    cJSON *root = NULL;
    int rc = load_json(path, "sentence_bert_config.json", &root);
    if (rc) return rc == 1 ? HUBRT_OK : rc;
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

/* Pools hidden [n][H] into out[H]. */
static void pool(const float *hidden, int n, int H, int mode, float *out)
{
    switch (mode) {
    case HUBRT_POOLING_CLS:
        memcpy(out, hidden, (size_t)H * sizeof *out);
        return;
    case HUBRT_POOLING_LAST:
        memcpy(out, hidden + (size_t)(n - 1) * H, (size_t)H * sizeof *out);
        return;
    case HUBRT_POOLING_MAX:
        memcpy(out, hidden, (size_t)H * sizeof *out);
        for (int t = 1; t < n; t++)
            for (int j = 0; j < H; j++) out[j] = fmaxf(out[j], hidden[(size_t)t * H + j]);
        return;
    default: { /* mean (and mean / sqrt(n)): accumulate in double for long inputs */
        double *acc = calloc((size_t)H, sizeof *acc);
        if (!acc) { /* float fallback keeps the call infallible */
            memset(out, 0, (size_t)H * sizeof *out);
            for (int t = 0; t < n; t++)
                for (int j = 0; j < H; j++) out[j] += hidden[(size_t)t * H + j];
            for (int j = 0; j < H; j++) out[j] /= mode == POOL_MEAN_SQRT_LEN ? sqrtf((float)n) : (float)n;
            return;
        }
        for (int t = 0; t < n; t++)
            for (int j = 0; j < H; j++) acc[j] += hidden[(size_t)t * H + j];
        double div = mode == POOL_MEAN_SQRT_LEN ? sqrt((double)n) : (double)n;
        for (int j = 0; j < H; j++) out[j] = (float)(acc[j] / div);
        free(acc);
    }
    }
}

/* How a model embeds: what every text of a call shares. */
typedef struct embed_cfg {
    int H;         /* hidden size = floats per embedding */
    int mode;      /* a hubrt_pooling or POOL_MEAN_SQRT_LEN */
    int normalize; /* L2-normalise (asked for, or a Normalize module) */
    int limit;     /* most ids per text (positions / max_seq_length), <= 1: none */
    int max_rows;  /* rows of one encoder pass (the model's positions) */
} embed_cfg;

static int embed_setup(hubrt_model *model, hubrt_pooling pooling, int normalize, int dim, const char *fn,
                       embed_cfg *ec)
{
    if ((int)pooling < HUBRT_POOLING_DEFAULT || (int)pooling > HUBRT_POOLING_LAST)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: unknown pooling %d", fn, (int)pooling);
    hubrt_model_info info;
    int rc = hubrt_model_get_info(model, &info);
    if (rc) return rc;
    const int H = info.hidden_size;
    if (H <= 0) return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: the model has no hidden size (tokenizer only?)", fn);
    if (hubrt_model_is_causal(model) == 1)
        return hf_set_error(HUBRT_ERR_UNSUPPORTED,
                               "%s: %s is a causal LM; sentence embeddings need an encoder (BERT-style) model",
                               fn, info.architecture && *info.architecture ? info.architecture : info.family);
    if (dim < H)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: out has room for %d floats, the embedding has %d",
                               fn, dim, H);
    int mode = pooling, st_norm = 0;
    if (pooling == HUBRT_POOLING_DEFAULT) {
        if ((rc = st_config(model->dir, &mode, &st_norm)) != HUBRT_OK) return rc;
        if (mode == 0) mode = HUBRT_POOLING_MEAN;
    }
    int limit = info.max_positions, st_limit;
    if ((rc = st_max_seq_length(model->dir, &st_limit)) != HUBRT_OK) return rc;
    if (st_limit > 0 && (limit <= 0 || st_limit < limit)) limit = st_limit;
    ec->H = H;
    ec->mode = mode;
    ec->normalize = normalize || st_norm;
    ec->limit = limit;
    ec->max_rows = info.max_positions;
    return HUBRT_OK;
}

/*
 * text -> ids with [CLS]/[SEP] into *ids (grown as needed, capacity *cap),
 * truncated to ec->limit; returns the number of ids (>= 1) or a status.
 */
static int embed_ids(hubrt_model *model, const char *text, const embed_cfg *ec, const char *fn,
                     int32_t **ids, int *cap)
{
    int n;
    for (;;) {
        if (!*ids || *cap <= 0) {
            int c = *cap > 0 ? *cap : 512;
            int32_t *g = realloc(*ids, (size_t)c * sizeof **ids);
            if (!g) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory for %d ids", fn, c);
            *ids = g;
            *cap = c;
        }
        n = hubrt_tokenize(model, text, 1, *ids, *cap);
        if (n < 0 || n <= *cap) break;
        int32_t *g = realloc(*ids, (size_t)n * sizeof **ids);
        if (!g) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory for %d ids", fn, n);
        *ids = g;
        *cap = n;
    }
    if (n <= 0) return n < 0 ? n : hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: the text gives no tokens", fn);
    /* Longer than the model's positions (or sentence-transformers'
     * max_seq_length): keep the start and the final id ([SEP]) — the same ids
     * as the tokenizer's truncation, which cuts the text and then adds
     * [CLS] ... [SEP]. */
    if (ec->limit > 1 && n > ec->limit) {
        (*ids)[ec->limit - 1] = (*ids)[n - 1];
        n = ec->limit;
    }
    return n;
}

/* Pools hidden [n][H] into out[H], then the optional L2 normalisation. */
static void embed_finish(const float *hidden, int n, const embed_cfg *ec, float *out)
{
    const int H = ec->H;
    pool(hidden, n, H, ec->mode, out);
    if (ec->normalize) { /* torch.nn.functional.normalize: x / max(||x||, 1e-12) */
        double ss = 0;
        for (int j = 0; j < H; j++) ss += (double)out[j] * out[j];
        double norm = fmax(sqrt(ss), 1e-12);
        for (int j = 0; j < H; j++) out[j] = (float)(out[j] / norm);
    }
}

int hubrt_embed(hubrt_model *model, const char *text, hubrt_pooling pooling, int normalize, float *out, int dim)
{
    static const char fn[] = "hubrt_embed";
    if (!model || !text || !out)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_embed: %s is NULL",
                               !model ? "model" : !text ? "text" : "out");
    embed_cfg ec;
    int rc = embed_setup(model, pooling, normalize, dim, fn, &ec);
    if (rc) return rc;
    int32_t *ids = NULL;
    int cap = 0;
    int n = embed_ids(model, text, &ec, fn, &ids, &cap);
    if (n < 0) {
        free(ids);
        return n;
    }
    float *hidden = malloc((size_t)n * (size_t)ec.H * sizeof *hidden);
    if (!hidden) {
        free(ids);
        return hf_set_error(HUBRT_ERR_NOMEM, "hubrt_embed: out of memory for [%d][%d] hidden states", n, ec.H);
    }
    rc = hubrt_encode(model, ids, NULL, n, hidden, NULL, NULL);
    free(ids);
    if (rc < 0) {
        free(hidden);
        return rc;
    }
    embed_finish(hidden, n, &ec, out);
    free(hidden);
    return ec.H;
}

/*
 * Packs whole texts into encoder passes of at most max_rows rows
 * (rt_encode_packed: block-diagonal attention, positions per text), then
 * pools each text's rows. Texts are packed in order, so out rows follow texts.
 */
int hubrt_embed_batch(hubrt_model *model, const char *const *texts, int n_texts, hubrt_pooling pooling,
                      int normalize, float *out, int dim)
{
    static const char fn[] = "hubrt_embed_batch";
    if (!model || !texts || !out || n_texts < 0)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: %s", fn,
                               !model ? "model is NULL" : !texts ? "texts is NULL" : !out ? "out is NULL"
                               : "n_texts < 0");
    for (int i = 0; i < n_texts; i++)
        if (!texts[i]) return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: texts[%d] is NULL", fn, i);
    embed_cfg ec;
    int rc = embed_setup(model, pooling, normalize, dim, fn, &ec);
    if (rc) return rc;
    if (n_texts == 0) return ec.H;
    const int R = ec.max_rows > 0 ? ec.max_rows : 512; /* rows per pass */
    int32_t *packed = malloc((size_t)R * sizeof *packed), *ids = NULL;
    int *seg = malloc(((size_t)R + 1) * sizeof *seg);
    float *hidden = malloc((size_t)R * (size_t)ec.H * sizeof *hidden);
    int cap = 0;
    if (!packed || !seg || !hidden) {
        rc = hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory for a [%d][%d] batch", fn, R, ec.H);
        goto done;
    }
    int first = 0, n_seg = 0, rows = 0; /* texts first .. first + n_seg - 1 are packed */
    seg[0] = 0;
    for (int i = 0; i <= n_texts; i++) {
        int n = 0;
        if (i < n_texts) {
            if ((n = embed_ids(model, texts[i], &ec, fn, &ids, &cap)) < 0) { rc = n; goto done; }
            if (n > R) { /* only when the positions limit is off; hubrt_encode would refuse it too */
                rc = hf_set_error(HUBRT_ERR_RANGE, "%s: text %d has %d tokens, more than the model's %d positions",
                                     fn, i, n, R);
                goto done;
            }
        }
        if (n_seg > 0 && (i == n_texts || rows + n > R)) { /* run the pending pack */
            if ((rc = rt_encode_packed(model, packed, rows, seg, n_seg, hidden)) < 0) goto done;
            for (int s = 0; s < n_seg; s++)
                embed_finish(hidden + (size_t)seg[s] * ec.H, seg[s + 1] - seg[s], &ec,
                             out + (size_t)(first + s) * (size_t)dim);
            first += n_seg;
            n_seg = 0;
            rows = 0;
        }
        if (i == n_texts) break;
        memcpy(packed + rows, ids, (size_t)n * sizeof *ids);
        rows += n;
        seg[++n_seg] = rows;
    }
    rc = ec.H;
done:
    free(packed);
    free(seg);
    free(hidden);
    free(ids);
    return rc;
}
