/*
 * runtime/embed.c — sentence embeddings: hubrt_embed(), hubrt_embed_batch()
 * and hubrt_embed_ids() (inputs already tokenized).
 *
 * text -> ids (with [CLS]/[SEP]) -> hubrt_encode() -> last_hidden_state
 * [n][hidden] -> pooling (mean over the tokens, [CLS], max or last) ->
 * optional L2 normalisation. With HUBRT_POOLING_DEFAULT a
 * sentence-transformers directory's own pooling and Normalize module are
 * followed, and its max_seq_length caps the tokens (runtime/embed_config.c
 * reads those files at load).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hf/error.h"
#include "runtime/model.h"
#include "runtime/session.h"
#include "runtime/tokenize.h"

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
    default: { /* mean (and mean / sqrt(n)): each column summed in double, tokens in order */
        double div = mode == RT_POOLING_MEAN_SQRT_LEN ? sqrt((double)n) : (double)n;
        for (int j = 0; j < H; j++) {
            double acc = 0;
            for (int t = 0; t < n; t++) acc += hidden[(size_t)t * H + j];
            out[j] = (float)(acc / div);
        }
    }
    }
}

/* How a model embeds: what every text of a call shares. */
typedef struct embed_cfg {
    int H;         /* hidden size = floats per embedding */
    int mode;      /* a hubrt_pooling or RT_POOLING_MEAN_SQRT_LEN */
    int normalize; /* L2-normalise (asked for, or a Normalize module) */
    int limit;     /* most ids per text (positions / max_seq_length), <= 1: none */
    int max_rows;  /* rows of one encoder pass (the model's positions) */
} embed_cfg;

static int embed_setup(const hubrt_model *model, hubrt_pooling pooling, int normalize, int dim, const char *fn,
                       embed_cfg *ec)
{
    if ((int)pooling < HUBRT_POOLING_DEFAULT || (int)pooling > HUBRT_POOLING_LAST)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: unknown pooling %d", fn, (int)pooling);
    hubrt_model_info info;
    int rc = hubrt_model_get_info(model, &info);
    if (rc) return rc;
    const int H = info.hidden_size;
    if (H <= 0) return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: the model has no hidden size (tokenizer only?)", fn);
    if (info.kind == HUBRT_MODEL_CAUSAL_LM)
        return hf_set_error(HUBRT_ERR_UNSUPPORTED,
                               "%s: %s is a causal LM; sentence embeddings need an encoder (BERT-style) model",
                               fn, info.architecture && *info.architecture ? info.architecture : info.family);
    if (dim < H)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: out has room for %d floats, the embedding has %d",
                               fn, dim, H);
    const rt_embed_config *st = &model->embed;
    int mode = pooling, st_norm = 0;
    if (pooling == HUBRT_POOLING_DEFAULT) {
        if (st->pooling_error.status) return hf_error_report(&st->pooling_error);
        mode = st->pooling ? st->pooling : HUBRT_POOLING_MEAN;
        st_norm = st->normalize;
    }
    if (st->max_seq_error.status) return hf_error_report(&st->max_seq_error);
    int limit = info.max_positions;
    if (st->max_seq_length > 0 && (limit <= 0 || st->max_seq_length < limit)) limit = st->max_seq_length;
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
static int embed_ids(const hubrt_model *model, const char *text, const embed_cfg *ec, const char *fn,
                     int32_t **ids, int *cap)
{
    int n = rt_tokenize_grow(model, text, 1, ids, cap, fn);
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

int hubrt_embed(const hubrt_model *model, const char *text, hubrt_pooling pooling, int normalize, float *out, int dim)
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

/* Where the ids of input i come from: a text to tokenize, or ids as given. */
typedef struct embed_inputs {
    const char *const *texts;
    const int32_t *const *ids;
    const int *n_ids;
} embed_inputs;

/* The ids of input i into *ids (grown as needed); their count (>= 1) or a status. */
static int input_ids(const hubrt_model *model, const embed_inputs *in, int i, const embed_cfg *ec, const char *fn,
                     int32_t **ids, int *cap)
{
    if (in->texts) return embed_ids(model, in->texts[i], ec, fn, ids, cap);
    int n = in->n_ids[i];
    if (n <= 0) return hf_set_error(HUBRT_ERR_RANGE, "%s: input %d has no ids", fn, i);
    if (ec->limit > 1 && n > ec->limit)
        return hf_set_error(HUBRT_ERR_RANGE, "%s: input %d has %d ids, more than the model's limit of %d", fn, i, n,
                               ec->limit);
    if (n > *cap) {
        int32_t *g = realloc(*ids, (size_t)n * sizeof *g);
        if (!g) return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory for %d ids", fn, n);
        *ids = g;
        *cap = n;
    }
    memcpy(*ids, in->ids[i], (size_t)n * sizeof **ids);
    return n;
}

/*
 * Packs whole inputs into encoder passes of at most max_rows rows
 * (rt_encode_packed: block-diagonal attention, positions per input), then
 * pools each input's rows. Inputs are packed in order, so out rows follow them.
 */
static int embed_packed(const hubrt_model *model, const embed_inputs *in, int n_inputs, const embed_cfg *ec,
                        const char *fn, float *out, int dim)
{
    if (n_inputs == 0) return ec->H;
    const int R = ec->max_rows > 0 ? ec->max_rows : 512; /* rows per pass */
    int32_t *packed = malloc((size_t)R * sizeof *packed), *ids = NULL;
    int *seg = malloc(((size_t)R + 1) * sizeof *seg);
    float *hidden = malloc((size_t)R * (size_t)ec->H * sizeof *hidden);
    int cap = 0, rc;
    if (!packed || !seg || !hidden) {
        rc = hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory for a [%d][%d] batch", fn, R, ec->H);
        goto done;
    }
    int first = 0, n_seg = 0, rows = 0; /* inputs first .. first + n_seg - 1 are packed */
    seg[0] = 0;
    for (int i = 0; i <= n_inputs; i++) {
        int n = 0;
        if (i < n_inputs) {
            if ((n = input_ids(model, in, i, ec, fn, &ids, &cap)) < 0) { rc = n; goto done; }
            if (n > R) { /* only when the positions limit is off; hubrt_encode would refuse it too */
                rc = hf_set_error(HUBRT_ERR_RANGE, "%s: input %d has %d tokens, more than the model's %d positions",
                                     fn, i, n, R);
                goto done;
            }
        }
        if (n_seg > 0 && (i == n_inputs || rows + n > R)) { /* run the pending pack */
            if ((rc = rt_encode_packed(model, packed, rows, seg, n_seg, hidden)) < 0) goto done;
            for (int s = 0; s < n_seg; s++)
                embed_finish(hidden + (size_t)seg[s] * ec->H, seg[s + 1] - seg[s], ec,
                             out + (size_t)(first + s) * (size_t)dim);
            first += n_seg;
            n_seg = 0;
            rows = 0;
        }
        if (i == n_inputs) break;
        memcpy(packed + rows, ids, (size_t)n * sizeof *ids);
        rows += n;
        seg[++n_seg] = rows;
    }
    rc = ec->H;
done:
    free(packed);
    free(seg);
    free(hidden);
    free(ids);
    return rc;
}

int hubrt_embed_batch(const hubrt_model *model, const char *const *texts, int n_texts, hubrt_pooling pooling,
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
    embed_inputs in = {texts, NULL, NULL};
    return embed_packed(model, &in, n_texts, &ec, fn, out, dim);
}

int hubrt_embed_ids(const hubrt_model *model, const int32_t *const *ids, const int *n_ids, int n_inputs,
                    hubrt_pooling pooling, int normalize, float *out, int dim)
{
    static const char fn[] = "hubrt_embed_ids";
    if (!model || !ids || !n_ids || !out || n_inputs < 0)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: %s", fn,
                               !model ? "model is NULL" : !ids ? "ids is NULL" : !n_ids ? "n_ids is NULL"
                               : !out ? "out is NULL" : "n_inputs < 0");
    for (int i = 0; i < n_inputs; i++)
        if (!ids[i] && n_ids[i] > 0) return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: ids[%d] is NULL", fn, i);
    embed_cfg ec;
    int rc = embed_setup(model, pooling, normalize, dim, fn, &ec);
    if (rc) return rc;
    embed_inputs in = {NULL, ids, n_ids};
    return embed_packed(model, &in, n_inputs, &ec, fn, out, dim);
}
