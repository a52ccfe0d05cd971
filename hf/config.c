/*
 * hf/config.c — config.json (+ generation_config.json) into hf_config.
 *
 * The family comes from model_type and architectures[0]; missing optional
 * fields take the defaults of the matching transformers config class
 * (BertConfig, GPT2Config, LlamaConfig, MistralConfig, Qwen2Config), so a
 * checkpoint means here what it means in transformers. The fields that fix
 * tensor shapes are required. Anything nonsensical — zero or negative
 * sizes, heads that do not divide the hidden size without a head_dim,
 * strings where numbers belong, an unknown architecture or rope scaling — is
 * refused with a message naming the file and the field.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hf/config.h"
#include "hf/error.h"
#include "hf/jsonfile.h"

#define CONFIG_MAX_BYTES (16u << 20)

/* Sanity caps: far above any real model, low enough that products of two
 * of them (hidden * vocab, heads * head_dim) stay far from overflow. */
#define CAP_VOCAB (1 << 24)
#define CAP_HIDDEN (1 << 18)
#define CAP_LAYERS 4096
#define CAP_HEADS 4096
#define CAP_FFN (1 << 20)
#define CAP_POSITIONS (1 << 26)

static const char SUPPORTED[] =
    "supported architectures: BertModel, BertForMaskedLM, BertForSequenceClassification, "
    "GPT2LMHeadModel, GPT2Model, LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM "
    "(model_type bert, gpt2, llama, mistral, qwen2)";

static const struct {
    const char *name;
    hf_family family;
} ARCHS[] = {
    {"BertModel", HF_FAMILY_BERT},
    {"BertForMaskedLM", HF_FAMILY_BERT},
    {"BertForSequenceClassification", HF_FAMILY_BERT},
    {"GPT2LMHeadModel", HF_FAMILY_GPT2},
    {"GPT2Model", HF_FAMILY_GPT2},
    {"LlamaForCausalLM", HF_FAMILY_LLAMA},
    {"MistralForCausalLM", HF_FAMILY_LLAMA},
    {"Qwen2ForCausalLM", HF_FAMILY_LLAMA},
};

static const struct {
    const char *name;
    hf_family family;
} TYPES[] = {
    {"bert", HF_FAMILY_BERT},   {"gpt2", HF_FAMILY_GPT2},   {"llama", HF_FAMILY_LLAMA},
    {"mistral", HF_FAMILY_LLAMA}, {"qwen2", HF_FAMILY_LLAMA},
};

static const char *kind(const cJSON *v)
{
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsNumber(v)) return "a number";
    return "null";
}

/*
 * A present, non-null field (null means "use the default" in transformers).
 * A key given twice takes its last value, as Python's json.load does.
 */
static const cJSON *field_raw(const cJSON *root, const char *key)
{
    const cJSON *v = NULL;
    for (const cJSON *e = root ? root->child : NULL; e; e = e->next)
        if (e->string && !strcmp(e->string, key)) v = e;
    return v;
}

static const cJSON *field(const cJSON *root, const char *key)
{
    const cJSON *v = field_raw(root, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

/*
 * Integer field: *out = value, or dflt when absent/null. required: absence
 * is an error. Returns 0 or a status.
 */
static int get_int(const cJSON *root, const char *name, const char *key, int required, long dflt,
                   long lo, long hi, int *out)
{
    const cJSON *v = field(root, key);
    if (!v) {
        if (required)
            return hf_set_error(HUBRT_ERR_FORMAT, "%s: required field '%s' is missing", name, key);
        *out = (int)dflt;
        return 0;
    }
    if (!cJSON_IsNumber(v))
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: field '%s' must be an integer, not %s", name,
                               key, kind(v));
    double d = v->valuedouble;
    if (d != floor(d))
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: field '%s' must be an integer, got %g", name,
                               key, d);
    if (d < (double)lo || d > (double)hi)
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: field '%s' = %.0f is out of range [%ld, %ld]",
                               name, key, d, lo, hi);
    *out = (int)d;
    return 0;
}

/* First present key of two (aliases such as n_embd / hidden_size). */
static const char *pick(const cJSON *root, const char *a, const char *b)
{
    return field(root, a) || !field(root, b) ? a : b;
}

static int get_float(const cJSON *root, const char *name, const char *key, double dflt, double lo,
                     double hi, int lo_open, float *out)
{
    const cJSON *v = field(root, key);
    if (!v) {
        *out = (float)dflt;
        return 0;
    }
    if (!cJSON_IsNumber(v))
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: field '%s' must be a number, not %s", name, key,
                               kind(v));
    double d = v->valuedouble;
    /* checked as the float we keep: 1e-85 is positive as a double but 0 as a float */
    float f = (float)d;
    if (!isfinite(d) || !isfinite(f) || d < lo || d > hi || (lo_open && (d == lo || f <= (float)lo)))
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: field '%s' = %g is out of range %s%g, %g]",
                               name, key, d, lo_open ? "(" : "[", lo, hi);
    *out = f;
    return 0;
}

static int get_bool(const cJSON *root, const char *name, const char *key, int dflt, int *out)
{
    const cJSON *v = field(root, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (cJSON_IsBool(v)) {
        *out = cJSON_IsTrue(v);
        return 0;
    }
    if (cJSON_IsNumber(v) && (v->valuedouble == 0 || v->valuedouble == 1)) {
        *out = v->valuedouble != 0;
        return 0;
    }
    return hf_set_error(HUBRT_ERR_FORMAT, "%s: field '%s' must be true or false, not %s", name,
                           key, kind(v));
}

/* A string field copied into buf (cap bytes); "" when absent. */
static int get_string(const cJSON *root, const char *name, const char *key, char *buf, size_t cap)
{
    const cJSON *v = field(root, key);
    buf[0] = '\0';
    if (!v) return 0;
    if (!cJSON_IsString(v))
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: field '%s' must be a string, not %s", name, key,
                               kind(v));
    snprintf(buf, cap, "%s", v->valuestring);
    return 0;
}

static int parse_act(const char *name, const char *key, const char *s, hf_act *act)
{
    if (!strcmp(s, "gelu") || !strcmp(s, "gelu_python")) *act = HF_ACT_GELU;
    else if (!strcmp(s, "gelu_new") || !strcmp(s, "gelu_pytorch_tanh") || !strcmp(s, "gelu_fast"))
        *act = HF_ACT_GELU_TANH;
    else if (!strcmp(s, "silu") || !strcmp(s, "swish")) *act = HF_ACT_SILU;
    else if (!strcmp(s, "relu")) *act = HF_ACT_RELU;
    else
        return hf_set_error(HUBRT_ERR_UNSUPPORTED,
                               "%s: %s '%.40s' is not supported (supported: gelu, gelu_new, "
                               "gelu_pytorch_tanh, gelu_fast, silu, swish, relu)",
                               name, key, s);
    return 0;
}

/* eos_token_id: an int, a list of ints, or null. Appends unseen ids. */
static int add_eos(const cJSON *root, const char *name, hf_config *cfg)
{
    const cJSON *v = field(root, "eos_token_id");
    if (!v) return 0;
    const cJSON *one = cJSON_IsArray(v) ? v->child : v;
    for (; one; one = cJSON_IsArray(v) ? one->next : NULL) {
        if (!cJSON_IsNumber(one) || one->valuedouble != floor(one->valuedouble) ||
            one->valuedouble < 0 || one->valuedouble > 2147483647.0)
            return hf_set_error(HUBRT_ERR_FORMAT,
                                   "%s: eos_token_id must be a non-negative integer or a list of them",
                                   name);
        int id = (int)one->valuedouble;
        int seen = 0;
        for (int i = 0; i < cfg->n_eos; i++) seen |= cfg->eos_token_ids[i] == id;
        /* more than 8 distinct EOS ids does not happen in practice; extra ones are ignored */
        if (!seen && cfg->n_eos < (int)(sizeof cfg->eos_token_ids / sizeof cfg->eos_token_ids[0]))
            cfg->eos_token_ids[cfg->n_eos++] = id;
    }
    return 0;
}

/* bos/pad: an int (a list: its first element), or -1 when absent/null. */
static int get_token_id(const cJSON *root, const char *name, const char *key, int *out)
{
    const cJSON *v = field(root, key);
    *out = -1;
    if (!v) return 0;
    if (cJSON_IsArray(v)) v = v->child;
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < -1 ||
        v->valuedouble > 2147483647.0)
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: field '%s' must be a token id (integer), not %s",
                               name, key, kind(v));
    *out = (int)v->valuedouble;
    return 0;
}

static int parse_rope_scaling(const cJSON *root, const char *name, hf_config *cfg)
{
    cfg->rope_type = HF_ROPE_DEFAULT;
    cfg->rope_factor = 1.0f;
    const cJSON *rs = field(root, "rope_scaling");
    if (!rs) return 0;
    if (!cJSON_IsObject(rs))
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: rope_scaling must be an object or null, not %s",
                               name, kind(rs));
    const char *key = field(rs, "rope_type") ? "rope_type" : "type";
    char type[32];
    int rc = get_string(rs, name, key, type, sizeof type);
    if (rc) return rc;
    if (!type[0] || !strcmp(type, "default")) return 0;
    if (!strcmp(type, "linear")) {
        cfg->rope_type = HF_ROPE_LINEAR;
    } else if (!strcmp(type, "llama3")) {
        cfg->rope_type = HF_ROPE_LLAMA3;
    } else {
        return hf_set_error(HUBRT_ERR_UNSUPPORTED,
                               "%s: rope_scaling type '%s' is not supported (supported: linear, llama3)",
                               name, type);
    }
    if (!field(rs, "factor"))
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: rope_scaling '%s' needs a 'factor'", name, type);
    char full[300];
    snprintf(full, sizeof full, "%s: rope_scaling", name);
    if ((rc = get_float(rs, full, "factor", 1.0, 0, 1e6, 1, &cfg->rope_factor))) return rc;
    if (cfg->rope_type == HF_ROPE_LLAMA3) {
        if ((rc = get_float(rs, full, "low_freq_factor", 1.0, 0, 1e6, 1, &cfg->rope_low_freq_factor)) ||
            (rc = get_float(rs, full, "high_freq_factor", 4.0, 0, 1e6, 1, &cfg->rope_high_freq_factor)) ||
            (rc = get_int(rs, full, "original_max_position_embeddings", 1, 8192, 1, CAP_POSITIONS,
                          &cfg->rope_original_max_positions)))
            return rc;
        if (cfg->rope_high_freq_factor <= cfg->rope_low_freq_factor)
            return hf_set_error(HUBRT_ERR_FORMAT,
                                   "%s: rope_scaling high_freq_factor must exceed low_freq_factor", name);
    }
    return 0;
}

/* Family and architecture from model_type and architectures[0]. */
static int parse_family(const cJSON *root, const char *name, hf_config *cfg)
{
    int rc = get_string(root, name, "model_type", cfg->model_type, sizeof cfg->model_type);
    if (rc) return rc;
    const cJSON *archs = field(root, "architectures");
    const char *arch = NULL;
    if (archs) {
        if (!cJSON_IsArray(archs) || (archs->child && !cJSON_IsString(archs->child)))
            return hf_set_error(HUBRT_ERR_FORMAT,
                                   "%s: field 'architectures' must be a list of strings", name);
        if (archs->child) arch = archs->child->valuestring;
    }
    int tfam = -1, afam = -1;
    if (cfg->model_type[0]) {
        for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
            if (!strcmp(cfg->model_type, TYPES[i].name)) tfam = (int)TYPES[i].family;
        if (tfam < 0)
            return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: model_type '%.40s' is not supported; %s",
                                   name, cfg->model_type, SUPPORTED);
    }
    if (arch) {
        for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++)
            if (!strcmp(arch, ARCHS[i].name)) afam = (int)ARCHS[i].family;
        if (afam < 0)
            return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: architecture '%.60s' is not supported; %s",
                                   name, arch, SUPPORTED);
        snprintf(cfg->architecture, sizeof cfg->architecture, "%s", arch);
    }
    if (tfam < 0 && afam < 0)
        return hf_set_error(HUBRT_ERR_FORMAT,
                               "%s: neither 'model_type' nor 'architectures' says what model this is; %s",
                               name, SUPPORTED);
    if (tfam >= 0 && afam >= 0 && tfam != afam)
        return hf_set_error(HUBRT_ERR_FORMAT,
                               "%s: architecture '%s' does not match model_type '%s'", name, arch,
                               cfg->model_type);
    cfg->family = (hf_family)(tfam >= 0 ? tfam : afam);
    if (!cfg->model_type[0]) {
        /* derive model_type from the architecture name */
        const char *mt = cfg->family == HF_FAMILY_BERT ? "bert"
                         : cfg->family == HF_FAMILY_GPT2 ? "gpt2"
                         : !strncmp(arch, "Mistral", 7) ? "mistral"
                         : !strncmp(arch, "Qwen2", 5)   ? "qwen2"
                                                        : "llama";
        snprintf(cfg->model_type, sizeof cfg->model_type, "%s", mt);
    }
    return 0;
}


/* ---- quantization_config (pre-quantised checkpoints) --------------------- */

const char *hf_quant_method_name(hf_quant_method m)
{
    switch (m) {
    case HF_QUANT_GPTQ: return "gptq";
    case HF_QUANT_AWQ: return "awq";
    case HF_QUANT_COMPRESSED: return "compressed-tensors";
    case HF_QUANT_NONE: break;
    }
    return "";
}

/* A field that must be absent, null, false, or an empty object / list. */
static int empty_field(const cJSON *v)
{
    return !v || cJSON_IsNull(v) || cJSON_IsFalse(v) ||
           ((cJSON_IsObject(v) || cJSON_IsArray(v)) && !v->child);
}

/* A list of strings or null (ignore lists, modules_to_not_convert). */
static int string_list(const cJSON *qc, const char *name, const char *key)
{
    const cJSON *v = field(qc, key);
    if (!v) return 0;
    if (cJSON_IsArray(v)) {
        const cJSON *e;
        int ok = 1;
        cJSON_ArrayForEach(e, v) ok &= cJSON_IsString(e);
        if (ok) return 0;
    }
    return hf_set_error(HUBRT_ERR_FORMAT, "%s: field '%s' must be a list of strings or null", name, key);
}

/* bits (or AutoAWQ's w_bit), which hubrt runs at `allowed` (4 / 8). */
static int quant_bits(const cJSON *qc, const char *name, const char *key, int eight_ok, int *bits)
{
    int rc = get_int(qc, name, key, 1, 0, 0, 64, bits);
    if (rc) return rc;
    if (*bits != 4 && !(eight_ok && *bits == 8))
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: %s = %d is not supported (hubrt runs %s)", name, key,
                            *bits, eight_ok ? "4 and 8 bits" : "4 bits");
    return 0;
}

/* group_size: > 0, or -1 for one group per row. */
static int quant_group(const cJSON *qc, const char *name, const char *key, int dflt, int *group)
{
    int rc = get_int(qc, name, key, 0, dflt, -1, 1 << 24, group);
    if (rc) return rc;
    if (*group == 0)
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: %s = 0 (a positive group size or -1 expected)", name, key);
    return 0;
}

static int parse_gptq(const cJSON *qc, const char *name, hf_quant_config *q)
{
    int rc;
    if ((rc = quant_bits(qc, name, "bits", 1, &q->bits)) || (rc = quant_group(qc, name, "group_size", 128, &q->group_size)) ||
        (rc = get_bool(qc, name, "desc_act", 0, &q->act_order)) || (rc = get_bool(qc, name, "sym", 1, &q->sym)))
        return rc;
    /* the packing: v1 stores zero - 1; GPTQModel's own gptq_v2 stores the zero; others are kernel repacks */
    const char *key = field(qc, "checkpoint_format") ? "checkpoint_format" : "format";
    char fmt[32];
    if ((rc = get_string(qc, name, key, fmt, sizeof fmt))) return rc;
    if (!fmt[0] || !strcmp(fmt, "gptq")) {
        snprintf(q->format, sizeof q->format, "gptq");
        q->zero_offset = 1;
    } else if (!strcmp(fmt, "gptq_v2")) {
        snprintf(q->format, sizeof q->format, "gptq_v2");
        q->zero_offset = 0;
    } else {
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: %s '%.32s' is not supported (hubrt reads the gptq and "
                            "gptq_v2 layouts)", name, key, fmt);
    }
    int marlin = 0;
    if ((rc = get_bool(qc, name, "is_marlin_format", 0, &marlin))) return rc;
    if (marlin)
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: is_marlin_format: the Marlin layout is not supported "
                            "(hubrt reads the gptq layout)", name);
    return 0;
}

static int parse_awq(const cJSON *qc, const char *name, hf_quant_config *q)
{
    int rc, zero_point = 1;
    const char *kb = field(qc, "bits") || !field(qc, "w_bit") ? "bits" : "w_bit";
    const char *kg = field(qc, "group_size") || !field(qc, "q_group_size") ? "group_size" : "q_group_size";
    if ((rc = quant_bits(qc, name, kb, 0, &q->bits)) || (rc = quant_group(qc, name, kg, 128, &q->group_size)) ||
        (rc = get_bool(qc, name, "zero_point", 1, &zero_point)) || (rc = string_list(qc, name, "modules_to_not_convert")))
        return rc;
    q->sym = !zero_point;
    char version[32], backend[32];
    if ((rc = get_string(qc, name, "version", version, sizeof version)) ||
        (rc = get_string(qc, name, "backend", backend, sizeof backend)))
        return rc;
    for (char *p = version; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    if (version[0] && strcmp(version, "gemm"))
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: version '%.32s' is not supported (hubrt reads AutoAWQ's "
                            "gemm layout; gemv, gemv_fast, marlin and exllama pack the weights differently)",
                            name, version);
    if (backend[0] && strcmp(backend, "autoawq"))
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: backend '%.32s' is not supported (hubrt reads AutoAWQ's "
                            "gemm layout)", name, backend);
    snprintf(q->format, sizeof q->format, "gemm");
    return 0;
}

/* One config group's "weights" arguments (compressed-tensors QuantizationArgs). */
static int parse_ct_weights(const cJSON *wa, const char *name, hf_quant_config *q)
{
    int rc, dynamic = 0;
    char type[16], strategy[24], actorder[16] = "";
    if (!cJSON_IsObject(wa))
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: 'weights' must be an object", name);
    if ((rc = quant_bits(wa, name, "num_bits", 1, &q->bits)) || (rc = get_string(wa, name, "type", type, sizeof type)) ||
        (rc = get_string(wa, name, "strategy", strategy, sizeof strategy)) ||
        (rc = get_bool(wa, name, "symmetric", 1, &q->sym)) || (rc = get_bool(wa, name, "dynamic", 0, &dynamic)))
        return rc;
    if (type[0] && strcmp(type, "int"))
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: type '%.16s' is not supported (hubrt runs int weights; "
                            "float means fp8/fp4)", name, type);
    if (dynamic)
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: dynamic weight quantisation is not supported", name);
    if (!empty_field(field(wa, "block_structure")))
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: block_structure is not supported", name);
    if (!strcmp(strategy, "group")) {
        if ((rc = get_int(wa, name, "group_size", 1, 0, 1, 1 << 24, &q->group_size))) return rc;
    } else if (!strcmp(strategy, "channel")) {
        q->group_size = -1;
    } else {
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: strategy '%.24s' is not supported (hubrt runs group and "
                            "channel)", name, strategy);
    }
    const cJSON *ao = field(wa, "actorder");
    if (ao && cJSON_IsBool(ao)) snprintf(actorder, sizeof actorder, "%s", cJSON_IsTrue(ao) ? "group" : "");
    else if ((rc = get_string(wa, name, "actorder", actorder, sizeof actorder))) return rc;
    if (!strcmp(actorder, "group")) q->act_order = 1;
    else if (actorder[0] && strcmp(actorder, "weight") && strcmp(actorder, "static"))
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: actorder '%.16s' is not supported (hubrt runs group, "
                            "weight and static)", name, actorder);
    return 0;
}

static int parse_compressed(const cJSON *qc, const char *name, hf_quant_config *q)
{
    int rc;
    char fmt[32], status[32];
    if ((rc = get_string(qc, name, "format", fmt, sizeof fmt)) ||
        (rc = get_string(qc, name, "quantization_status", status, sizeof status)) ||
        (rc = string_list(qc, name, "ignore")))
        return rc;
    if (fmt[0] && strcmp(fmt, "pack-quantized"))
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: format '%.32s' is not supported (hubrt reads "
                            "pack-quantized int4/int8 weights)", name, fmt);
    if (status[0] && strcmp(status, "compressed"))
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: quantization_status '%.32s': hubrt reads compressed "
                            "checkpoints", name, status);
    static const char *const none_of[] = {"kv_cache_scheme", "sparsity_config", "transform_config"};
    for (size_t i = 0; i < sizeof none_of / sizeof none_of[0]; i++)
        if (!empty_field(field(qc, none_of[i])))
            return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: %s is not supported", name, none_of[i]);
    const cJSON *groups = field(qc, "config_groups"), *g;
    if (!groups || !cJSON_IsObject(groups) || !groups->child)
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: config_groups must be a non-empty object", name);
    int first = 1;
    cJSON_ArrayForEach(g, groups) {
        char gname[400], gfmt[32];
        snprintf(gname, sizeof gname, "%.300s.config_groups.%.60s", name, g->string ? g->string : "?");
        if (!cJSON_IsObject(g)) return hf_set_error(HUBRT_ERR_FORMAT, "%s: must be an object", gname);
        if ((rc = get_string(g, gname, "format", gfmt, sizeof gfmt))) return rc;
        if (gfmt[0] && strcmp(gfmt, "pack-quantized"))
            return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: format '%.32s' is not supported (hubrt reads "
                                "pack-quantized int4/int8 weights)", gname, gfmt);
        if (!empty_field(field(g, "input_activations")))
            return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: input_activations: activation quantisation is not "
                                "supported (hubrt runs weight-only schemes such as w4a16)", gname);
        if (!empty_field(field(g, "output_activations")))
            return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: output_activations: activation quantisation is not "
                                "supported", gname);
        const cJSON *wa = field(g, "weights");
        if (!wa) return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: no 'weights' scheme (weight-only int4/int8 "
                                     "expected)", gname);
        hf_quant_config one = *q;
        char wname[420];
        snprintf(wname, sizeof wname, "%s.weights", gname);
        if ((rc = parse_ct_weights(wa, wname, &one))) return rc;
        if (!first && (one.bits != q->bits || one.group_size != q->group_size || one.sym != q->sym ||
                       one.act_order != q->act_order))
            return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: config groups with different weight schemes are not "
                                "supported", gname);
        *q = one;
        first = 0;
    }
    snprintf(q->format, sizeof q->format, "pack-quantized");
    return 0;
}

/* quantization_config (an object; name names it in messages) into q. */
static int parse_quant_object(const cJSON *qc, const char *name, const char *dflt_method, hf_quant_config *q)
{
    memset(q, 0, sizeof *q);
    if (!cJSON_IsObject(qc)) return hf_set_error(HUBRT_ERR_FORMAT, "%s: must be an object", name);
    char method[40];
    int rc = get_string(qc, name, "quant_method", method, sizeof method);
    if (rc) return rc;
    if (!method[0] && dflt_method) snprintf(method, sizeof method, "%s", dflt_method);
    if (!strcmp(method, "gptq")) {
        q->method = HF_QUANT_GPTQ;
        return parse_gptq(qc, name, q);
    }
    if (!strcmp(method, "awq")) {
        q->method = HF_QUANT_AWQ;
        return parse_awq(qc, name, q);
    }
    if (!strcmp(method, "compressed-tensors")) {
        q->method = HF_QUANT_COMPRESSED;
        return parse_compressed(qc, name, q);
    }
    return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: quant_method '%.40s' is not supported (hubrt runs gptq, awq "
                        "and compressed-tensors checkpoints)", name, method[0] ? method : "(missing)");
}

static int parse_quant(const cJSON *root, const char *name, hf_config *cfg)
{
    const cJSON *qc = field(root, "quantization_config");
    memset(&cfg->quant, 0, sizeof cfg->quant);
    if (!qc) return 0;
    char full[300];
    snprintf(full, sizeof full, "%s: quantization_config", name);
    return parse_quant_object(qc, full, NULL, &cfg->quant);
}

static int parse_root(const cJSON *root, const char *name, hf_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    if (!cJSON_IsObject(root))
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: not a JSON object", name);
    int rc = parse_family(root, name, cfg);
    if (rc) return rc;
    if ((rc = get_string(root, name, "torch_dtype", cfg->torch_dtype, sizeof cfg->torch_dtype)))
        return rc;
    char act[48];
    int llama = cfg->family == HF_FAMILY_LLAMA;
    int gpt2 = cfg->family == HF_FAMILY_GPT2;
    int bert = cfg->family == HF_FAMILY_BERT;
    const char *mt = cfg->model_type;

    /* GPT-2 names its fields differently (attribute_map aliases accepted too). */
    const char *k_hidden = gpt2 ? pick(root, "n_embd", "hidden_size") : "hidden_size";
    const char *k_layers = gpt2 ? pick(root, "n_layer", "num_hidden_layers") : "num_hidden_layers";
    const char *k_heads = gpt2 ? pick(root, "n_head", "num_attention_heads") : "num_attention_heads";
    if ((rc = get_int(root, name, "vocab_size", 1, 0, 1, CAP_VOCAB, &cfg->vocab_size)) ||
        (rc = get_int(root, name, k_hidden, 1, 0, 1, CAP_HIDDEN, &cfg->hidden_size)) ||
        (rc = get_int(root, name, k_layers, 1, 0, 1, CAP_LAYERS, &cfg->n_layers)) ||
        (rc = get_int(root, name, k_heads, 1, 0, 1, CAP_HEADS, &cfg->n_heads)))
        return rc;

    if (gpt2) {
        const char *k_pos = pick(root, "n_positions", "n_ctx");
        if ((rc = get_int(root, name, "n_inner", 0, 4L * cfg->hidden_size, 1, CAP_FFN,
                          &cfg->intermediate_size)) ||
            (rc = get_int(root, name, k_pos, 0, 1024, 1, CAP_POSITIONS, &cfg->max_positions)) ||
            (rc = get_float(root, name, "layer_norm_epsilon", 1e-5, 0, 1, 1, &cfg->norm_eps)) ||
            (rc = get_string(root, name, "activation_function", act, sizeof act)))
            return rc;
        if (!act[0]) strcpy(act, "gelu_new");
        if ((rc = parse_act(name, "activation_function", act, &cfg->act)) ||
            (rc = get_bool(root, name, "scale_attn_weights", 1, &cfg->gpt2_scale_attn_weights)) ||
            (rc = get_bool(root, name, "scale_attn_by_inverse_layer_idx", 0,
                           &cfg->gpt2_scale_attn_by_inverse_layer_idx)))
            return rc;
    } else {
        long pos_default = bert ? 512 : !strcmp(mt, "mistral") ? 4096L * 32
                                      : !strcmp(mt, "qwen2")   ? 32768
                                                               : 2048;
        if ((rc = get_int(root, name, "intermediate_size", 1, 0, 1, CAP_FFN, &cfg->intermediate_size)) ||
            (rc = get_int(root, name, "max_position_embeddings", 0, pos_default, 1, CAP_POSITIONS,
                          &cfg->max_positions)) ||
            (rc = get_string(root, name, "hidden_act", act, sizeof act)))
            return rc;
        if (!act[0]) strcpy(act, bert ? "gelu" : "silu");
        if ((rc = parse_act(name, "hidden_act", act, &cfg->act))) return rc;
        if (bert) {
            rc = get_float(root, name, "layer_norm_eps", 1e-12, 0, 1, 1, &cfg->norm_eps);
        } else {
            rc = get_float(root, name, "rms_norm_eps", 1e-6, 0, 1, 1, &cfg->norm_eps);
        }
        if (rc) return rc;
    }

    /* Heads: GQA for the llama family; head_dim explicit or hidden / heads. */
    cfg->n_kv_heads = cfg->n_heads;
    cfg->head_dim = 0;
    if (llama) {
        if ((rc = get_int(root, name, "num_key_value_heads", 0, cfg->n_heads, 1, CAP_HEADS,
                          &cfg->n_kv_heads)) ||
            (rc = get_int(root, name, "head_dim", 0, 0, 1, CAP_HIDDEN, &cfg->head_dim)))
            return rc;
        if (cfg->n_kv_heads > cfg->n_heads || cfg->n_heads % cfg->n_kv_heads)
            return hf_set_error(HUBRT_ERR_FORMAT,
                                   "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                                   name, cfg->n_heads, cfg->n_kv_heads);
    }
    if (!cfg->head_dim) {
        if (cfg->hidden_size % cfg->n_heads)
            return hf_set_error(HUBRT_ERR_FORMAT,
                                   "%s: hidden size %d is not divisible by %d attention heads "
                                   "(and no head_dim is given)",
                                   name, cfg->hidden_size, cfg->n_heads);
        cfg->head_dim = cfg->hidden_size / cfg->n_heads;
    }
    if ((long)cfg->head_dim * cfg->n_heads > CAP_HIDDEN * 4L)
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: head_dim %d x %d heads is implausibly large",
                               name, cfg->head_dim, cfg->n_heads);

    /* RoPE (llama family only; the others use learned absolute positions). */
    cfg->rope_theta = 10000.0f;
    cfg->rope_type = HF_ROPE_DEFAULT;
    cfg->rope_factor = 1.0f;
    if (llama) {
        if ((rc = get_float(root, name, "rope_theta", 10000.0, 0, 1e12, 1, &cfg->rope_theta)) ||
            (rc = parse_rope_scaling(root, name, cfg)))
            return rc;
        if (cfg->head_dim % 2)
            return hf_set_error(HUBRT_ERR_FORMAT, "%s: head_dim %d must be even for RoPE", name,
                                   cfg->head_dim);
    }

    /* Tied embeddings: PretrainedConfig's default is true; LlamaConfig,
     * MistralConfig and Qwen2Config default it to false. */
    if ((rc = get_bool(root, name, "tie_word_embeddings", llama ? 0 : 1, &cfg->tie_word_embeddings)))
        return rc;

    /* Biases: llama's attention_bias covers q/k/v/o; qwen2 has q/k/v biases
     * always and no o bias; mistral has none. */
    if (!strcmp(mt, "llama")) {
        if ((rc = get_bool(root, name, "attention_bias", 0, &cfg->attention_bias)) ||
            (rc = get_bool(root, name, "mlp_bias", 0, &cfg->mlp_bias)))
            return rc;
        cfg->attn_out_bias = cfg->attention_bias;
    } else if (!strcmp(mt, "qwen2")) {
        cfg->attention_bias = 1;
    } else if (bert || gpt2) {
        cfg->attention_bias = cfg->attn_out_bias = cfg->mlp_bias = 1;
    }

    /* Sliding window: mistral's default is 4096 (null = off); qwen2 uses it
     * only with use_sliding_window, on layers >= max_window_layers. */
    if (!strcmp(mt, "mistral")) {
        const cJSON *sw = field_raw(root, "sliding_window");
        if (sw && cJSON_IsNull(sw)) cfg->sliding_window = 0;
        else if ((rc = get_int(root, name, "sliding_window", 0, 4096, 1, CAP_POSITIONS,
                               &cfg->sliding_window)))
            return rc;
    } else if (!strcmp(mt, "qwen2")) {
        int use = 0;
        if ((rc = get_bool(root, name, "use_sliding_window", 0, &use)) ||
            (rc = get_int(root, name, "max_window_layers", 0, 28, 0, CAP_LAYERS, &cfg->max_window_layers)))
            return rc;
        if (use && (rc = get_int(root, name, "sliding_window", 0, 4096, 1, CAP_POSITIONS,
                                 &cfg->sliding_window)))
            return rc;
    }

    if (bert) {
        char pet[32];
        if ((rc = get_int(root, name, "type_vocab_size", 0, 2, 0, CAP_VOCAB, &cfg->type_vocab_size)) ||
            (rc = get_string(root, name, "position_embedding_type", pet, sizeof pet)))
            return rc;
        if (pet[0] && strcmp(pet, "absolute"))
            return hf_set_error(HUBRT_ERR_UNSUPPORTED,
                                   "%s: position_embedding_type '%s' is not supported (only 'absolute')",
                                   name, pet);
        const cJSON *id2label = field(root, "id2label");
        int dflt_labels = id2label && cJSON_IsObject(id2label) ? cJSON_GetArraySize(id2label) : 2;
        if ((rc = get_int(root, name, "num_labels", 0, dflt_labels, 1, CAP_VOCAB, &cfg->n_labels)))
            return rc;
    }

    if ((rc = get_token_id(root, name, "bos_token_id", &cfg->bos_token_id)) ||
        (rc = get_token_id(root, name, "pad_token_id", &cfg->pad_token_id)) ||
        (rc = add_eos(root, name, cfg)) || (rc = parse_quant(root, name, cfg)))
        return rc;
    return 0;
}

int hf_config_parse(const char *json, const char *name, hf_config *cfg)
{
    if (!json || !cfg)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "hf_config_parse: NULL argument");
    if (!name) name = "config.json";
    cJSON *root = NULL;
    int rc = hf_json_parse(json, strlen(json), name, &root);
    if (rc) return rc;
    rc = parse_root(root, name, cfg);
    cJSON_Delete(root);
    return rc;
}

/*
 * AutoGPTQ's older checkpoints keep their quantisation settings in
 * quantize_config.json instead of config.json's quantization_config; read it
 * when config.json has none (quant_method defaults to gptq there).
 */
static int load_quantize_config(const char *dir, hf_config *cfg)
{
    char path[4096];
    if (cfg->quant.method != HF_QUANT_NONE) return 0;
    if ((size_t)snprintf(path, sizeof path, "%s/quantize_config.json", dir) >= sizeof path) return 0;
    if (access(path, F_OK) != 0) return 0;
    size_t len;
    char *text = hf_read_file(path, CONFIG_MAX_BYTES, &len);
    if (!text) return hf_error_status();
    cJSON *root = NULL;
    int rc = hf_json_parse(text, len, path, &root);
    free(text);
    if (rc) return rc;
    rc = parse_quant_object(root, path, "gptq", &cfg->quant);
    cJSON_Delete(root);
    return rc;
}

int hf_config_load(const char *dir, hf_config *cfg)
{
    if (!dir || !cfg) return hf_set_error(HUBRT_ERR_INVALID_ARG, "hf_config_load: NULL argument");
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: path too long", dir);
    size_t len;
    char *text = hf_read_file(path, CONFIG_MAX_BYTES, &len);
    if (!text) {
        if (hf_error_status() == HUBRT_ERR_IO && access(path, F_OK) != 0)
            return hf_set_error(HUBRT_ERR_IO, "%s: config.json missing (a model directory needs one)",
                                   path);
        return hf_error_status();
    }
    cJSON *root = NULL;
    int rc = hf_json_parse(text, len, path, &root);
    free(text);
    if (rc) return rc;
    rc = parse_root(root, path, cfg);
    cJSON_Delete(root);
    if (rc) return rc;
    if ((rc = load_quantize_config(dir, cfg))) return rc;

    /* generation_config.json (optional) adds its EOS ids to config.json's. */
    if ((size_t)snprintf(path, sizeof path, "%s/generation_config.json", dir) >= sizeof path) return 0;
    if (access(path, F_OK) != 0) return 0;
    text = hf_read_file(path, CONFIG_MAX_BYTES, &len);
    if (!text) return hf_error_status();
    rc = hf_json_parse(text, len, path, &root);
    free(text);
    if (rc) return rc;
    if (!cJSON_IsObject(root)) rc = hf_set_error(HUBRT_ERR_FORMAT, "%s: not a JSON object", path);
    else rc = add_eos(root, path, cfg);
    cJSON_Delete(root);
    return rc;
}
