/*
 * hf/config.h — config.json as a struct: every field that changes the math.
 *
 * hf_config_load() reads DIR/config.json with cJSON, picks the family from
 * model_type (and architectures), fills defaults the way transformers does,
 * and refuses nonsense (zero heads, negative sizes, strings where numbers
 * belong, unknown architectures — listing the supported ones).
 */
#ifndef HF_CONFIG_H
#define HF_CONFIG_H

#include <stdint.h>

typedef enum hf_family { HF_FAMILY_BERT, HF_FAMILY_GPT2, HF_FAMILY_LLAMA } hf_family;

typedef enum hf_act {
    HF_ACT_GELU,      /* erf GELU ("gelu") */
    HF_ACT_GELU_TANH, /* "gelu_new", "gelu_pytorch_tanh", "gelu_fast" */
    HF_ACT_SILU,      /* "silu", "swish" */
    HF_ACT_RELU
} hf_act;

typedef enum hf_rope_type { HF_ROPE_DEFAULT, HF_ROPE_LINEAR, HF_ROPE_LLAMA3 } hf_rope_type;

/* Pre-quantised checkpoints: config.json's quantization_config. */
typedef enum hf_quant_method {
    HF_QUANT_NONE = 0,
    HF_QUANT_GPTQ,       /* AutoGPTQ / GPTQModel, checkpoint format gptq (v1) or gptq_v2 */
    HF_QUANT_AWQ,        /* AutoAWQ, version gemm */
    HF_QUANT_COMPRESSED  /* compressed-tensors, format pack-quantized */
} hf_quant_method;

typedef struct hf_quant_config {
    hf_quant_method method;
    int bits;            /* 4 or 8 (AWQ: 4) */
    int group_size;      /* input channels per scale group; -1 = one group per row
                          * (GPTQ/AWQ group_size -1, compressed-tensors strategy channel) */
    int act_order;       /* GPTQ desc_act, compressed-tensors actorder "group": g_idx says
                          * each input channel's group (GPTQ's g_idx is read either way) */
    int sym;             /* symmetric: GPTQ sym, compressed-tensors symmetric; AWQ !zero_point */
    int zero_offset;     /* GPTQ: add this to each stored zero (1 for format v1, 0 for gptq_v2) */
    char format[24];     /* "gptq", "gptq_v2", "gemm" or "pack-quantized" */
} hf_quant_config;

typedef struct hf_config {
    hf_family family;
    char model_type[32];     /* "bert", "gpt2", "llama", "mistral", "qwen2" */
    char architecture[64];   /* architectures[0] ("" if absent) */
    int vocab_size;
    int hidden_size;         /* n_embd for GPT-2 */
    int n_layers;            /* num_hidden_layers / n_layer */
    int n_heads;             /* num_attention_heads / n_head */
    int n_kv_heads;          /* num_key_value_heads, default n_heads */
    int head_dim;            /* config head_dim, default hidden_size / n_heads */
    int intermediate_size;   /* n_inner for GPT-2, default 4 * hidden */
    int max_positions;       /* max_position_embeddings / n_positions */
    hf_act act;           /* hidden_act / activation_function */
    float norm_eps;          /* layer_norm_eps / layer_norm_epsilon / rms_norm_eps */
    float rope_theta;        /* default 10000 */
    hf_rope_type rope_type;
    float rope_factor;       /* rope_scaling.factor */
    float rope_low_freq_factor, rope_high_freq_factor; /* llama3 */
    int rope_original_max_positions;                   /* llama3 */
    int tie_word_embeddings; /* default: 1 for bert/gpt2, 0 for llama (transformers' default) */
    int attention_bias;      /* llama attention_bias; 1 for qwen2 q/k/v */
    int mlp_bias;
    int sliding_window;      /* 0 = none (qwen2: only when use_sliding_window) */
    int type_vocab_size;     /* BERT, default 2 */
    int bos_token_id, pad_token_id; /* -1 if absent */
    int eos_token_ids[8];    /* from config.json, then generation_config.json */
    int n_eos;
    /* --- added by the loader (additive) --- */
    int attn_out_bias;       /* o_proj has a bias: llama attention_bias; 0 for qwen2 (q/k/v only) */
    int max_window_layers;   /* qwen2: layers >= this use the sliding window (when sliding_window > 0) */
    int gpt2_scale_attn_weights;             /* GPT-2: divide scores by sqrt(head_dim), default 1 */
    int gpt2_scale_attn_by_inverse_layer_idx; /* GPT-2: also divide by (layer index + 1), default 0 */
    int n_labels;            /* BertForSequenceClassification: num_labels / len(id2label), default 2 */
    char torch_dtype[16];    /* config torch_dtype ("" if absent), informational */
    hf_quant_config quant;   /* quantization_config (or AutoGPTQ's quantize_config.json); method NONE if absent */
} hf_config;

/* Reads and validates DIR/config.json (+ generation_config.json for EOS). 0 or a status. */
int hf_config_load(const char *dir, hf_config *cfg);
/* Parses config.json text (name is used in messages). 0 or a status. */
int hf_config_parse(const char *json, const char *name, hf_config *cfg);
/* The method's name as quantization_config spells it ("gptq", "awq", "compressed-tensors"; "" for none). */
const char *hf_quant_method_name(hf_quant_method m);

#endif
