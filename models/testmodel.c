/*
 * models/testmodel.c — random hub-format model directories (see
 * models/testmodel.h). Weights are N(0, 1/sqrt(fan_in)) matrices,
 * N(0, 0.2) embeddings, norm weights near 1 and small biases, so activations
 * stay in a sensible range; the data is streamed to the file tensor by
 * tensor, so a 270 MB model never sits in memory twice.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/testmodel.h"
#include "runtime/error.h"

typedef enum { INIT_MATRIX, INIT_EMBED, INIT_NORM, INIT_BIAS } init_kind;

typedef struct tm_tensor {
    char name[128];
    int ndim;
    int64_t shape[2];
    init_kind init;
    hubrt_dtype dtype;
    uint64_t offset, bytes;
} tm_tensor;

typedef struct tm_list {
    tm_tensor *t;
    int n, cap;
    const hubrt_testmodel_spec *spec;
    int failed;
} tm_list;

static void add(tm_list *l, const char *prefix, const char *name, int64_t d0, int64_t d1, init_kind init)
{
    if (l->failed) return;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        tm_tensor *nt = realloc(l->t, (size_t)cap * sizeof *nt);
        if (!nt) { l->failed = 1; return; }
        l->t = nt;
        l->cap = cap;
    }
    tm_tensor *t = &l->t[l->n];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s%s", l->spec->no_prefix ? "" : prefix, name);
    size_t len = strlen(t->name);
    if (l->spec->old_ln_names && len >= 16 && !strcmp(t->name + len - 16, "LayerNorm.weight"))
        strcpy(t->name + len - 6, "gamma");
    else if (l->spec->old_ln_names && len >= 14 && !strcmp(t->name + len - 14, "LayerNorm.bias"))
        strcpy(t->name + len - 4, "beta");
    if (l->spec->drop && !strcmp(l->spec->drop, t->name)) return;
    t->ndim = d1 > 0 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1 > 0 ? d1 : 0;
    if (l->spec->transpose && !strcmp(l->spec->transpose, t->name) && t->ndim == 2) {
        t->shape[0] = d1;
        t->shape[1] = d0;
    }
    t->init = init;
    t->dtype = l->spec->dtype;
    if (l->spec->int_dtype && !strcmp(l->spec->int_dtype, t->name)) t->dtype = HUBRT_DTYPE_I32;
    l->n++;
}

hubrt_testmodel_spec hubrt_testmodel_default(const char *family)
{
    hubrt_testmodel_spec s;
    memset(&s, 0, sizeof s);
    s.family = family;
    s.vocab = 97;
    s.hidden = 32;
    s.layers = 2;
    s.heads = 4;
    s.kv_heads = strcmp(family, "gpt2") && strcmp(family, "bert") ? 2 : 4;
    s.ffn = 48;
    s.max_pos = 64;
    s.dtype = HUBRT_DTYPE_F32;
    s.seed = 1;
    if (!strcmp(family, "mistral")) s.sliding_window = 8;
    return s;
}

static void build_list(tm_list *l)
{
    const hubrt_testmodel_spec *s = l->spec;
    const char *f = s->family;
    int D = s->hidden, F = s->ffn, V = s->vocab, P = s->max_pos;
    int hd = s->head_dim > 0 ? s->head_dim : D / s->heads;
    int QD = s->heads * hd, KD = s->kv_heads * hd;
    char n[128];
    if (!strcmp(f, "llama") || !strcmp(f, "mistral") || !strcmp(f, "qwen2")) {
        int qwen = !strcmp(f, "qwen2");
        add(l, "model.", "embed_tokens.weight", V, D, INIT_EMBED);
        for (int i = 0; i < s->layers; i++) {
#define L(x) (snprintf(n, sizeof n, "layers.%d." x, i), n)
            add(l, "model.", L("input_layernorm.weight"), D, 0, INIT_NORM);
            add(l, "model.", L("self_attn.q_proj.weight"), QD, D, INIT_MATRIX);
            add(l, "model.", L("self_attn.k_proj.weight"), KD, D, INIT_MATRIX);
            add(l, "model.", L("self_attn.v_proj.weight"), KD, D, INIT_MATRIX);
            if (qwen || s->bias) {
                add(l, "model.", L("self_attn.q_proj.bias"), QD, 0, INIT_BIAS);
                add(l, "model.", L("self_attn.k_proj.bias"), KD, 0, INIT_BIAS);
                add(l, "model.", L("self_attn.v_proj.bias"), KD, 0, INIT_BIAS);
            }
            add(l, "model.", L("self_attn.o_proj.weight"), D, QD, INIT_MATRIX);
            if (s->bias && !qwen) {
                add(l, "model.", L("self_attn.o_proj.bias"), D, 0, INIT_BIAS);
                add(l, "model.", L("mlp.gate_proj.bias"), F, 0, INIT_BIAS);
                add(l, "model.", L("mlp.up_proj.bias"), F, 0, INIT_BIAS);
                add(l, "model.", L("mlp.down_proj.bias"), D, 0, INIT_BIAS);
            }
            add(l, "model.", L("post_attention_layernorm.weight"), D, 0, INIT_NORM);
            add(l, "model.", L("mlp.gate_proj.weight"), F, D, INIT_MATRIX);
            add(l, "model.", L("mlp.up_proj.weight"), F, D, INIT_MATRIX);
            add(l, "model.", L("mlp.down_proj.weight"), D, F, INIT_MATRIX);
#undef L
        }
        add(l, "model.", "norm.weight", D, 0, INIT_NORM);
        if (!s->tied) {
            /* lm_head is never prefixed */
            hubrt_testmodel_spec tmp = *s;
            tmp.no_prefix = 1;
            const hubrt_testmodel_spec *keep = l->spec;
            l->spec = &tmp;
            add(l, "", "lm_head.weight", V, D, INIT_EMBED);
            l->spec = keep;
        }
    } else if (!strcmp(f, "gpt2")) {
        const char *p = "transformer.";
        add(l, p, "wte.weight", V, D, INIT_EMBED);
        add(l, p, "wpe.weight", P, D, INIT_EMBED);
        for (int i = 0; i < s->layers; i++) {
#define L(x) (snprintf(n, sizeof n, "h.%d." x, i), n)
            add(l, p, L("ln_1.weight"), D, 0, INIT_NORM);
            add(l, p, L("ln_1.bias"), D, 0, INIT_BIAS);
            add(l, p, L("attn.c_attn.weight"), D, 3 * D, INIT_MATRIX); /* Conv1D [in, out] */
            add(l, p, L("attn.c_attn.bias"), 3 * D, 0, INIT_BIAS);
            add(l, p, L("attn.c_proj.weight"), D, D, INIT_MATRIX);
            add(l, p, L("attn.c_proj.bias"), D, 0, INIT_BIAS);
            add(l, p, L("ln_2.weight"), D, 0, INIT_NORM);
            add(l, p, L("ln_2.bias"), D, 0, INIT_BIAS);
            add(l, p, L("mlp.c_fc.weight"), D, F, INIT_MATRIX);
            add(l, p, L("mlp.c_fc.bias"), F, 0, INIT_BIAS);
            add(l, p, L("mlp.c_proj.weight"), F, D, INIT_MATRIX);
            add(l, p, L("mlp.c_proj.bias"), D, 0, INIT_BIAS);
#undef L
        }
        add(l, p, "ln_f.weight", D, 0, INIT_NORM);
        add(l, p, "ln_f.bias", D, 0, INIT_BIAS);
    } else { /* bert */
        const char *p = "bert.";
        add(l, p, "embeddings.word_embeddings.weight", V, D, INIT_EMBED);
        add(l, p, "embeddings.position_embeddings.weight", P, D, INIT_EMBED);
        add(l, p, "embeddings.token_type_embeddings.weight", 2, D, INIT_EMBED);
        add(l, p, "embeddings.LayerNorm.weight", D, 0, INIT_NORM);
        add(l, p, "embeddings.LayerNorm.bias", D, 0, INIT_BIAS);
        for (int i = 0; i < s->layers; i++) {
#define L(x) (snprintf(n, sizeof n, "encoder.layer.%d." x, i), n)
            add(l, p, L("attention.self.query.weight"), D, D, INIT_MATRIX);
            add(l, p, L("attention.self.query.bias"), D, 0, INIT_BIAS);
            add(l, p, L("attention.self.key.weight"), D, D, INIT_MATRIX);
            add(l, p, L("attention.self.key.bias"), D, 0, INIT_BIAS);
            add(l, p, L("attention.self.value.weight"), D, D, INIT_MATRIX);
            add(l, p, L("attention.self.value.bias"), D, 0, INIT_BIAS);
            add(l, p, L("attention.output.dense.weight"), D, D, INIT_MATRIX);
            add(l, p, L("attention.output.dense.bias"), D, 0, INIT_BIAS);
            add(l, p, L("attention.output.LayerNorm.weight"), D, 0, INIT_NORM);
            add(l, p, L("attention.output.LayerNorm.bias"), D, 0, INIT_BIAS);
            add(l, p, L("intermediate.dense.weight"), F, D, INIT_MATRIX);
            add(l, p, L("intermediate.dense.bias"), F, 0, INIT_BIAS);
            add(l, p, L("output.dense.weight"), D, F, INIT_MATRIX);
            add(l, p, L("output.dense.bias"), D, 0, INIT_BIAS);
            add(l, p, L("output.LayerNorm.weight"), D, 0, INIT_NORM);
            add(l, p, L("output.LayerNorm.bias"), D, 0, INIT_BIAS);
#undef L
        }
        add(l, p, "pooler.dense.weight", D, D, INIT_MATRIX);
        add(l, p, "pooler.dense.bias", D, 0, INIT_BIAS);
        hubrt_testmodel_spec tmp = *s;
        tmp.no_prefix = 1;
        const hubrt_testmodel_spec *keep = l->spec;
        l->spec = &tmp;
        if (s->n_labels > 0) {
            add(l, "", "classifier.weight", s->n_labels, D, INIT_MATRIX);
            add(l, "", "classifier.bias", s->n_labels, 0, INIT_BIAS);
            l->spec = keep;
            return;
        }
        add(l, "", "cls.predictions.bias", V, 0, INIT_BIAS);
        add(l, "", "cls.predictions.transform.dense.weight", D, D, INIT_MATRIX);
        add(l, "", "cls.predictions.transform.dense.bias", D, 0, INIT_BIAS);
        add(l, "", "cls.predictions.transform.LayerNorm.weight", D, 0, INIT_NORM);
        add(l, "", "cls.predictions.transform.LayerNorm.bias", D, 0, INIT_BIAS);
        l->spec = keep;
    }
}

static const char *dtype_str(hubrt_dtype d)
{
    return d == HUBRT_DTYPE_F16 ? "F16" : d == HUBRT_DTYPE_BF16 ? "BF16" : d == HUBRT_DTYPE_I32 ? "I32" : "F32";
}

static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float uniform01(uint64_t *s) { return (float)((next_u64(s) >> 40) + 0.5) / 16777216.0f; }

static float normal(uint64_t *s)
{
    float u1 = uniform01(s), u2 = uniform01(s);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static uint16_t to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000, e = (u >> 23) & 0xff, m = u & 0x7fffff;
    int ex = (int)e - 127 + 15;
    if (ex >= 31) return (uint16_t)(sign | 0x7c00);
    if (ex <= 0) { /* subnormal or zero */
        if (ex < -10) return (uint16_t)sign;
        m |= 0x800000;
        int shift = 14 - ex;
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = (uint32_t)ex << 10 | (m >> 13), rem = m & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
    return (uint16_t)(sign | r);
}

static int write_config(const char *dir, const hubrt_testmodel_spec *s)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *fp = fopen(path, "w");
    if (!fp) return hubrt_set_error(HUBRT_ERR_IO, "%s: %s", path, strerror(errno));
    const char *f = s->family;
    const char *td = s->dtype == HUBRT_DTYPE_F16 ? "float16" : s->dtype == HUBRT_DTYPE_BF16 ? "bfloat16" : "float32";
    if (!strcmp(f, "gpt2")) {
        fprintf(fp, "{\n  \"architectures\": [\"GPT2LMHeadModel\"],\n  \"model_type\": \"gpt2\",\n"
                "  \"activation_function\": \"gelu_new\",\n  \"layer_norm_epsilon\": 1e-05,\n"
                "  \"n_embd\": %d,\n  \"n_head\": %d,\n  \"n_layer\": %d,\n  \"n_inner\": %d,\n"
                "  \"n_positions\": %d,\n  \"vocab_size\": %d,\n  \"bos_token_id\": 0,\n"
                "  \"eos_token_id\": 0,\n  \"torch_dtype\": \"%s\"\n}\n",
                s->hidden, s->heads, s->layers, s->ffn, s->max_pos, s->vocab, td);
    } else if (!strcmp(f, "bert")) {
        if (s->n_labels > 0)
            fprintf(fp, "{\n  \"architectures\": [\"BertForSequenceClassification\"],\n"
                    "  \"num_labels\": %d,\n", s->n_labels);
        else
            fprintf(fp, "{\n  \"architectures\": [\"BertForMaskedLM\"],\n");
        fprintf(fp, "  \"model_type\": \"bert\",\n"
                "  \"hidden_act\": \"gelu\",\n  \"layer_norm_eps\": 1e-12,\n  \"hidden_size\": %d,\n"
                "  \"num_attention_heads\": %d,\n  \"num_hidden_layers\": %d,\n"
                "  \"intermediate_size\": %d,\n  \"max_position_embeddings\": %d,\n"
                "  \"vocab_size\": %d,\n  \"type_vocab_size\": 2,\n  \"pad_token_id\": 0,\n"
                "  \"position_embedding_type\": \"absolute\",\n  \"torch_dtype\": \"%s\"\n}\n",
                s->hidden, s->heads, s->layers, s->ffn, s->max_pos, s->vocab, td);
    } else {
        const char *arch = !strcmp(f, "mistral") ? "MistralForCausalLM"
                         : !strcmp(f, "qwen2") ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
        fprintf(fp, "{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"%s\",\n"
                "  \"hidden_act\": \"silu\",\n  \"rms_norm_eps\": 1e-05,\n  \"rope_theta\": 10000.0,\n"
                "  \"hidden_size\": %d,\n  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n"
                "  \"num_hidden_layers\": %d,\n  \"intermediate_size\": %d,\n"
                "  \"max_position_embeddings\": %d,\n  \"vocab_size\": %d,\n"
                "  \"tie_word_embeddings\": %s,\n  \"bos_token_id\": 1,\n  \"eos_token_id\": 2,\n",
                arch, f, s->hidden, s->heads, s->kv_heads, s->layers, s->ffn, s->max_pos, s->vocab,
                s->tied ? "true" : "false");
        if (s->bias && !strcmp(f, "llama")) fprintf(fp, "  \"attention_bias\": true,\n  \"mlp_bias\": true,\n");
        if (s->head_dim > 0) fprintf(fp, "  \"head_dim\": %d,\n", s->head_dim);
        if (!strcmp(f, "mistral"))
            fprintf(fp, "  \"sliding_window\": %d,\n", s->sliding_window > 0 ? s->sliding_window : 4096);
        if (!strcmp(f, "qwen2")) fprintf(fp, "  \"use_sliding_window\": false,\n  \"sliding_window\": 4096,\n");
        fprintf(fp, "  \"torch_dtype\": \"%s\"\n}\n", td);
    }
    if (fclose(fp) != 0) return hubrt_set_error(HUBRT_ERR_IO, "%s: write failed", path);
    return 0;
}

int hubrt_testmodel_write(const char *dir, const hubrt_testmodel_spec *s)
{
    if (!dir || !s || !s->family)
        return hubrt_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_testmodel_write: NULL argument");
    const char *f = s->family;
    if (strcmp(f, "llama") && strcmp(f, "mistral") && strcmp(f, "qwen2") && strcmp(f, "gpt2") && strcmp(f, "bert"))
        return hubrt_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_testmodel_write: unknown family '%s' "
                               "(llama, mistral, qwen2, gpt2, bert)", f);
    if (s->vocab <= 0 || s->hidden <= 0 || s->layers <= 0 || s->heads <= 0 || s->kv_heads <= 0 ||
        s->ffn <= 0 || s->max_pos <= 0 || s->heads % s->kv_heads || (s->head_dim <= 0 && s->hidden % s->heads) ||
        (s->dtype != HUBRT_DTYPE_F32 && s->dtype != HUBRT_DTYPE_F16 && s->dtype != HUBRT_DTYPE_BF16))
        return hubrt_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_testmodel_write: inconsistent sizes or dtype");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return hubrt_set_error(HUBRT_ERR_IO, "%s: %s", dir, strerror(errno));
    int rc = write_config(dir, s);
    if (rc) return rc;

    tm_list l = {NULL, 0, 0, s, 0};
    build_list(&l);
    if (l.failed) { free(l.t); return hubrt_set_error(HUBRT_ERR_NOMEM, "out of memory"); }
    /* header JSON */
    size_t hcap = 256 + (size_t)l.n * 256, hlen = 0;
    char *hdr = malloc(hcap);
    if (!hdr) { free(l.t); return hubrt_set_error(HUBRT_ERR_NOMEM, "out of memory"); }
    uint64_t off = 0;
    hlen += (size_t)snprintf(hdr + hlen, hcap - hlen, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < l.n; i++) {
        tm_tensor *t = &l.t[i];
        size_t es = t->dtype == HUBRT_DTYPE_F32 || t->dtype == HUBRT_DTYPE_I32 ? 4 : 2;
        t->offset = off;
        t->bytes = (uint64_t)t->shape[0] * (uint64_t)(t->ndim == 2 ? t->shape[1] : 1) * es;
        off += t->bytes;
        if (t->ndim == 2)
            hlen += (size_t)snprintf(hdr + hlen, hcap - hlen, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld,%lld],"
                                     "\"data_offsets\":[%llu,%llu]}", t->name, dtype_str(t->dtype),
                                     (long long)t->shape[0], (long long)t->shape[1],
                                     (unsigned long long)t->offset, (unsigned long long)off);
        else
            hlen += (size_t)snprintf(hdr + hlen, hcap - hlen, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld],"
                                     "\"data_offsets\":[%llu,%llu]}", t->name, dtype_str(t->dtype),
                                     (long long)t->shape[0], (unsigned long long)t->offset,
                                     (unsigned long long)off);
    }
    hlen += (size_t)snprintf(hdr + hlen, hcap - hlen, "}");
    while (hlen % 8) hdr[hlen++] = ' '; /* keep the data region 8-byte aligned */

    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        free(hdr); free(l.t);
        return hubrt_set_error(HUBRT_ERR_IO, "%s: %s", path, strerror(errno));
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    int ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(hdr, 1, hlen, fp) == hlen;
    free(hdr);
    uint64_t rng = s->seed * 0x2545F4914F6CDD1Dull + 7;
    enum { CHUNK = 1 << 16 };
    unsigned char *buf = malloc((size_t)CHUNK * 4);
    if (!buf) ok = 0;
    for (int i = 0; ok && i < l.n; i++) {
        tm_tensor *t = &l.t[i];
        int64_t count = t->shape[0] * (t->ndim == 2 ? t->shape[1] : 1);
        int64_t fan_in = t->ndim == 2 ? t->shape[1] : 1;
        if (strstr(t->name, "c_attn.weight") || strstr(t->name, "c_fc.weight") || strstr(t->name, "c_proj.weight"))
            fan_in = t->shape[0]; /* Conv1D: [in, out] */
        float stdv = t->init == INIT_MATRIX ? 1.0f / sqrtf((float)fan_in)
                   : t->init == INIT_EMBED ? 0.2f : t->init == INIT_BIAS ? 0.05f : 0.1f;
        for (int64_t done = 0; ok && done < count;) {
            int64_t k = count - done < CHUNK ? count - done : CHUNK;
            for (int64_t j = 0; j < k; j++) {
                float v = normal(&rng) * stdv + (t->init == INIT_NORM ? 1.0f : 0.0f);
                if (t->dtype == HUBRT_DTYPE_F32) memcpy(buf + 4 * j, &v, 4);
                else if (t->dtype == HUBRT_DTYPE_I32) { int32_t iv = (int32_t)(v * 100); memcpy(buf + 4 * j, &iv, 4); }
                else {
                    uint16_t h = t->dtype == HUBRT_DTYPE_BF16 ? to_bf16(v) : to_f16(v);
                    memcpy(buf + 2 * j, &h, 2);
                }
            }
            size_t es = t->dtype == HUBRT_DTYPE_F32 || t->dtype == HUBRT_DTYPE_I32 ? 4 : 2;
            ok = fwrite(buf, es, (size_t)k, fp) == (size_t)k;
            done += k;
        }
    }
    free(buf);
    free(l.t);
    if (fclose(fp) != 0) ok = 0;
    if (!ok) return hubrt_set_error(HUBRT_ERR_IO, "%s: write failed", path);
    return 0;
}
