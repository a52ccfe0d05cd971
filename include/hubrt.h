/*
 * hubrt.h — the public API of hubrt, a CPU inference runtime that runs
 * Hugging Face hub-format model directories (config.json, *.safetensors,
 * tokenizer files) as they are, with no conversion step.
 *
 * Usage:
 *
 *     hubrt_load_params lp = hubrt_load_default_params();
 *     hubrt_model *m = hubrt_model_load("path/to/model-dir", &lp);
 *     if (!m) { fprintf(stderr, "%s\n", hubrt_last_error()); return 1; }
 *     hubrt_session *s = hubrt_session_new(m, 0);
 *     hubrt_sample_params sp = hubrt_sample_default_params();
 *     sp.temperature = 0;                      // greedy
 *     hubrt_generate(s, "Once upon a time", &sp, print_piece, NULL, NULL);
 *     hubrt_session_free(s);
 *     hubrt_model_free(m);
 *
 * Errors: functions return a hubrt_status (negative on failure), a count
 * (>= 0) or a pointer (NULL on failure). On failure a message naming the
 * problem and where (file, tensor, field) is readable with hubrt_last_error()
 * from the same thread. The library never prints to stdout/stderr unless
 * asked (verbose, or HUBRT_PROFILE=1: see "profiling") and never exits the
 * process.
 *
 * Thread safety: a loaded hubrt_model is read-only after hubrt_model_load()
 * (every file of the directory is read during the load) and may be shared
 * by any number of threads: functions taking a const hubrt_model * may run
 * on one model from several threads at once. Each thread uses its own
 * hubrt_session; a session is not thread-safe. The library runs its own
 * OpenMP team inside each call (n_threads in the load params).
 *
 * Ownership: every object returned by *_load / *_new is freed by the
 * matching *_free. Strings returned as const char * belong to the library
 * and live as long as the object they came from.
 */
#ifndef HUBRT_H
#define HUBRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HUBRT_VERSION "0.1.0"

#if defined(__GNUC__)
#define HUBRT_API __attribute__((visibility("default")))
#else
#define HUBRT_API
#endif

/* ---- status codes ------------------------------------------------------ */

typedef enum hubrt_status {
    HUBRT_OK = 0,
    HUBRT_ERR_INVALID_ARG = -1,     /* a NULL or out-of-range argument */
    HUBRT_ERR_IO = -2,              /* a file missing or unreadable */
    HUBRT_ERR_FORMAT = -3,          /* a malformed file (safetensors, JSON, ...) */
    HUBRT_ERR_UNSUPPORTED = -4,     /* a valid input hubrt does not run */
    HUBRT_ERR_NOMEM = -5,           /* an allocation failed */
    HUBRT_ERR_NOT_IMPLEMENTED = -6, /* not built yet */
    HUBRT_ERR_RANGE = -7,           /* token id outside the vocab, input longer than the context */
    HUBRT_ERR_INVALID_UTF8 = -8     /* text that is not valid UTF-8 */
} hubrt_status;

/* The message of the last failure on this thread ("" if none). */
HUBRT_API const char *hubrt_last_error(void);
/* A short constant name for a status ("HUBRT_ERR_FORMAT"). */
HUBRT_API const char *hubrt_status_name(int status);

/* ---- tensor element types (every safetensors dtype) --------------------- */

typedef enum hubrt_dtype {
    HUBRT_DTYPE_BOOL, HUBRT_DTYPE_U8, HUBRT_DTYPE_I8, HUBRT_DTYPE_F8_E5M2,
    HUBRT_DTYPE_F8_E4M3, HUBRT_DTYPE_I16, HUBRT_DTYPE_U16, HUBRT_DTYPE_F16,
    HUBRT_DTYPE_BF16, HUBRT_DTYPE_I32, HUBRT_DTYPE_U32, HUBRT_DTYPE_F32,
    HUBRT_DTYPE_F64, HUBRT_DTYPE_I64, HUBRT_DTYPE_U64,
    HUBRT_DTYPE_COUNT
} hubrt_dtype;

/* The safetensors spelling of a dtype ("BF16"), or NULL if out of range. */
HUBRT_API const char *hubrt_dtype_name(hubrt_dtype dtype);

/* ---- loading a model ---------------------------------------------------- */

typedef struct hubrt_model hubrt_model;     /* weights + config + tokenizer */
typedef struct hubrt_session hubrt_session; /* KV cache + scratch for one sequence */

typedef enum hubrt_quant {
    HUBRT_QUANT_NONE = 0, /* weights used in their stored dtype, f32 compute (exact) */
    HUBRT_QUANT_Q8 = 1,   /* int8 blocks of 32 with an f32 scale (opt-in, lossy) */
    HUBRT_QUANT_Q4 = 2    /* int4 blocks of 32 with an f32 scale (opt-in, lossy) */
} hubrt_quant;

typedef enum hubrt_weight_storage {
    HUBRT_STORAGE_AUTO = 0, /* the measured default */
    HUBRT_STORAGE_MMAP = 1, /* tensors are views into the read-only file map */
    HUBRT_STORAGE_COPY = 2  /* weights copied into 2 MiB-aligned huge-page memory */
} hubrt_weight_storage;

typedef struct hubrt_load_params {
    int n_threads;                /* 0 = number of physical cores */
    hubrt_quant quant;            /* HUBRT_QUANT_NONE by default */
    hubrt_weight_storage storage; /* HUBRT_STORAGE_AUTO by default */
    int tokenizer_only;           /* 1: load only the tokenizer files (no weights) */
    int no_tokenizer;             /* 1: do not load a tokenizer (ids only) */
    int verbose;                  /* 1: progress lines on stderr */
    const char *chat_template_file; /* a Jinja file used instead of the directory's chat
                                   * template (read during the load), or NULL */
} hubrt_load_params;

/* Defaults: all threads of the physical cores, stored dtype, auto storage. */
HUBRT_API hubrt_load_params hubrt_load_default_params(void);

/*
 * Loads a hub-format directory, or "org/name" looked up offline in the local
 * Hugging Face cache ($HF_HOME/hub, else ~/.cache/huggingface/hub). Validates
 * every file before use. Returns NULL on failure (see hubrt_last_error()).
 * params may be NULL for the defaults. Optional files that only one call
 * uses (generation_config.json's sampling fields, the sentence-transformers
 * pooling files) are read here too, but a problem in them does not fail the
 * load: the call that needs the file reports it.
 */
HUBRT_API hubrt_model *hubrt_model_load(const char *path, const hubrt_load_params *params);
/* Frees the model; NULL is allowed. Free its sessions first. */
HUBRT_API void hubrt_model_free(hubrt_model *model);

/* What kind of model a directory holds, i.e. which calls run it. */
typedef enum hubrt_model_kind {
    HUBRT_MODEL_TOKENIZER_ONLY = 0, /* no weights loaded (tokenizer_only): tokenizer calls only */
    HUBRT_MODEL_CAUSAL_LM = 1,      /* decoder: sessions, hubrt_forward, hubrt_generate */
    HUBRT_MODEL_ENCODER = 2         /* bidirectional encoder (BERT): hubrt_encode, hubrt_embed */
} hubrt_model_kind;

#define HUBRT_MAX_EOS 8 /* most EOS ids a model lists */

/* What a loaded model is. Strings belong to the model. */
typedef struct hubrt_model_info {
    const char *family;        /* "bert", "gpt2" or "llama" (Mistral and Qwen2 run as llama) */
    const char *architecture;  /* config.json architectures[0], e.g. "LlamaForCausalLM" */
    const char *model_type;    /* config.json model_type, e.g. "qwen2" */
    const char *dir;           /* the resolved directory */
    hubrt_model_kind kind;
    int32_t vocab_size, hidden_size, n_layers, n_heads, n_kv_heads, head_dim;
    int32_t intermediate_size, max_positions;
    int32_t n_logits;          /* floats per logits row of hubrt_forward / hubrt_encode: the LM or
                                * MLM head's rows (may exceed the tokenizer's vocab), the labels of
                                * a sequence classifier, or 0 (no head) */
    int32_t logits_per_sequence; /* 1: hubrt_encode's logits are one row for the whole input
                                  * (sequence classification); 0: one row per token */
    int32_t has_pooler;        /* 1: hubrt_encode can fill pooled */
    int32_t n_threads;         /* threads each call runs (the load params' n_threads, 0 resolved) */
    /* config.json values that shape the math (0 / "" when the directory has no config.json) */
    const char *activation;    /* "gelu" (erf), "gelu_tanh", "silu" or "relu" */
    float norm_eps;            /* layer_norm_eps / rms_norm_eps */
    float rope_theta;          /* RoPE base (llama family) */
    const char *rope_scaling;  /* "default", "linear" or "llama3" (llama family) */
    float rope_factor;         /* rope_scaling.factor */
    int32_t sliding_window;    /* attention window in tokens, 0 = none */
    int32_t type_vocab_size;   /* BERT token types */
    int32_t tie_word_embeddings, attention_bias; /* 0 or 1 */
    int32_t bos_token_id;      /* -1 when absent */
    int32_t n_eos;             /* EOS ids from config.json, then generation_config.json */
    int32_t eos_token_ids[HUBRT_MAX_EOS];
    /* the weight files */
    int64_t n_params;          /* elements stored in the weight files */
    int64_t n_tensors;         /* tensors stored in the weight files */
    int64_t dtype_bytes[HUBRT_DTYPE_COUNT]; /* bytes stored per dtype */
    int32_t n_files;           /* weight files; see hubrt_model_file() */
    /* pre-quantised checkpoints (config.json quantization_config); quant_method "" otherwise */
    const char *quant_method;  /* "gptq", "awq" or "compressed-tensors" */
    const char *quant_format;  /* its packing: "gptq" (v1), "gptq_v2", "gemm" (AWQ), "pack-quantized" */
    int32_t quant_bits;        /* 4 or 8 */
    int32_t quant_group_size;  /* input channels per scale group; -1 = one group per output row */
    int32_t quant_act_order;   /* 1: groups follow g_idx (GPTQ desc_act, compressed-tensors actorder group) */
    int32_t quant_symmetric;   /* 1: symmetric zero points */
    int64_t quant_weights;     /* weights stored quantised (0 when no weights are loaded) */
    double quant_file_bytes_per_weight; /* their tensors' bytes per weight in the files (codes,
                                         * scales, zeros, g_idx) */
    double quant_bytes_per_weight;      /* bytes per weight as hubrt holds them (codes, and an f32
                                         * scale and zero per group) */
} hubrt_model_info;

/* Fills *info; 0 or HUBRT_ERR_INVALID_ARG. */
HUBRT_API int hubrt_model_get_info(const hubrt_model *model, hubrt_model_info *info);
/* The i-th weight file's name (relative to the dir) and size in bytes, or NULL. */
HUBRT_API const char *hubrt_model_file(const hubrt_model *model, int i, int64_t *size_bytes);

/* ---- tokenizer ---------------------------------------------------------- */

/*
 * Encodes UTF-8 text into ids (add_special: BOS/[CLS]/[SEP] as the
 * tokenizer's post-processor adds them). Returns the number of ids n >= 0;
 * at most max_ids are written, so when n > max_ids call again with a
 * larger buffer. Invalid UTF-8 gives HUBRT_ERR_INVALID_UTF8.
 */
HUBRT_API int hubrt_tokenize(const hubrt_model *model, const char *text, int add_special,
                   int32_t *ids, int max_ids);
/* Like hubrt_tokenize for a text pair (BERT-style); type_ids may be NULL. */
HUBRT_API int hubrt_tokenize_pair(const hubrt_model *model, const char *text, const char *pair,
                        int add_special, int32_t *ids, int32_t *type_ids, int max_ids);
/*
 * Decodes ids into UTF-8 text (skip_special: drop special tokens). Returns
 * the text length in bytes; at most cap bytes including a NUL are written
 * (snprintf-style). Ids outside the vocab give HUBRT_ERR_RANGE.
 */
HUBRT_API int hubrt_detokenize(const hubrt_model *model, const int32_t *ids, int n, int skip_special,
                     char *buf, size_t cap);
/* The vocabulary size of the tokenizer (may differ from the model's). */
HUBRT_API int hubrt_vocab_size(const hubrt_model *model);
/* The token string of an id (as in the vocab), or NULL if out of range. */
HUBRT_API const char *hubrt_token_text(const hubrt_model *model, int32_t id);
/* The id of an exact token string (e.g. "[MASK]"), or -1. */
HUBRT_API int32_t hubrt_token_id(const hubrt_model *model, const char *token);

/* Streaming detokenizer: feed ids one at a time, get only complete UTF-8. */
typedef struct hubrt_detok_stream hubrt_detok_stream;
/* A new stream over the model's tokenizer (skip_special: special tokens give ""), or NULL. */
HUBRT_API hubrt_detok_stream *hubrt_detok_stream_new(const hubrt_model *model, int skip_special);
/*
 * Writes the text that id completes into buf (at most cap bytes including
 * the NUL, never cutting a character); returns its full length or a status.
 */
HUBRT_API int hubrt_detok_stream_push(hubrt_detok_stream *stream, int32_t id, char *buf, size_t cap);
/* Frees the stream; NULL is allowed. */
HUBRT_API void hubrt_detok_stream_free(hubrt_detok_stream *stream);

/* ---- forward passes ----------------------------------------------------- */

/*
 * A session for one sequence of a causal LM; max_tokens 0 = the model's
 * context length (HUBRT_ERR_RANGE above it; HUBRT_ERR_UNSUPPORTED for
 * encoders). The KV cache (f32, [layers][kv_heads][max_tokens][head_dim] for
 * K and V) and all activation memory are allocated here, so forward passes
 * allocate nothing; cache pages become resident only as tokens fill them.
 * The model is only read; free the session before the model. With
 * HUBRT_PROFILE=1 in the environment the session profiles its passes and
 * prints the table on stderr when freed (see hubrt_session_set_profile).
 */
HUBRT_API hubrt_session *hubrt_session_new(const hubrt_model *model, int max_tokens);
/* Frees the session; NULL is allowed. */
HUBRT_API void hubrt_session_free(hubrt_session *session);
/* Forgets the cached tokens (the KV cache is kept allocated). */
HUBRT_API void hubrt_session_reset(hubrt_session *session);
/* Tokens already in the session's KV cache. */
HUBRT_API int hubrt_session_n_past(const hubrt_session *session);
/* The model a session was created from (borrowed: valid until hubrt_model_free). */
HUBRT_API const hubrt_model *hubrt_session_model(const hubrt_session *session);

/*
 * Causal LMs: appends n ids to the session (prefill when n > 1, decode when
 * n == 1). logits [n][vocab] and last_logits [vocab] are optional outputs
 * (with neither, only the KV cache is filled and the LM head is skipped).
 * Prompts longer than 512 tokens run as several passes; the result is the
 * same. Fails with HUBRT_ERR_RANGE on ids outside the vocab or when the
 * context would overflow; the session is unchanged then.
 */
HUBRT_API int hubrt_forward(hubrt_session *session, const int32_t *ids, int n, float *logits,
                  float *last_logits);

/* One sequence's part of hubrt_forward_batch. */
typedef struct hubrt_batch_item {
    hubrt_session *session;  /* sessions of one model, each at most once per call */
    const int32_t *ids;      /* tokens to append to this session */
    int n;                   /* >= 1: prefill chunks and single decode tokens may mix */
    float *last_logits;      /* [vocab] for the item's last token, or NULL */
} hubrt_batch_item;

/*
 * Causal LMs: appends items[i].ids to items[i].session for every item, in
 * shared passes over the model: every matrix multiply runs on the rows of
 * all items at once, so each weight is read once per pass for all of them
 * (decode is bound by reading the weights: N sequences decode much faster
 * together than one after another). Attention stays per item: each row
 * reads only its own session's KV cache, at its own positions, with the
 * model's sliding window; sessions may hold different numbers of tokens.
 * last_logits (may be NULL) receives the logits of the item's last token.
 *
 * Batch invariance: an item's logits and KV cache are bit-identical to what
 * hubrt_forward(session, ids, n, NULL, last_logits) gives alone, whatever
 * else is in the call and however many rows it has. The kernels compute
 * every row the same way at 1 row and at 512 (each output has one fixed
 * order of accumulation), and an item's tokens are split into passes
 * exactly as hubrt_forward splits them (chunks of 512 or of the session's
 * context, if smaller). So results do not depend on who else is being
 * served, and a batch can be checked against single-session runs. This
 * holds for one library build on one machine with the model's n_threads;
 * other CPUs (AVX2, AVX-512) or builds may differ in the last bits, as
 * hubrt_forward does.
 *
 * Validation: every item is checked before any session changes: a NULL
 * session or ids, n < 1, an id outside the vocabulary, more tokens than the
 * session's context has left, a session of another model than item 0's, or
 * a session given twice all fail with HUBRT_ERR_INVALID_ARG /
 * HUBRT_ERR_RANGE and a message naming the item ("item 3: ..."); then no
 * session has changed. n_items = 0 does nothing and returns HUBRT_OK.
 *
 * Cost: a call runs as many passes as its largest item needs (an item of
 * more than 512 tokens takes several passes; the others join the first)
 * and as the rows allow (a pass holds at most 512 rows, fewer when every
 * session's context is smaller). A pass costs the larger of reading every
 * weight once (what one decode token alone costs) and the arithmetic of
 * its rows, plus each item's attention over its own cache: decode items
 * come nearly free while the weights' read dominates (a few items), then
 * each further row adds its arithmetic (run `run-model bench --batch N` to
 * see where that turns on a machine). Per call it allocates one small
 * block (per item: a few dozen bytes; with two or more last_logits, their
 * rows plus a hidden-size row each) and borrows the activation memory of
 * the largest session, so it is cheap to issue every step of a serving
 * loop. The sessions' own memory is used; nothing else is kept.
 *
 * Threads: the call uses every session it is given; none may be in use by
 * another thread meanwhile. It runs the model's OpenMP team like
 * hubrt_forward. Returns HUBRT_OK or a negative status.
 */
HUBRT_API int hubrt_forward_batch(hubrt_batch_item *items, int n_items);

/*
 * Encoders (BERT): one bidirectional pass over n ids (type_ids may be NULL
 * for all zeros). Optional outputs: hidden [n][hidden_size] (last_hidden_state),
 * pooled [hidden_size] (needs a pooler in the checkpoint), logits [n][vocab]
 * (needs an MLM head; BertForSequenceClassification: [num_labels], one row).
 * n is at most max_position_embeddings (else HUBRT_ERR_RANGE); asking for an
 * output the checkpoint lacks gives HUBRT_ERR_UNSUPPORTED (hubrt_model_info
 * says which outputs there are). Each call allocates its own activation
 * memory for its n rows and frees it on return, so it is safe to call from
 * several threads on one model.
 */
HUBRT_API int hubrt_encode(const hubrt_model *model, const int32_t *ids, const int32_t *type_ids, int n,
                 float *hidden, float *pooled, float *logits);

typedef enum hubrt_pooling {
    HUBRT_POOLING_DEFAULT = 0, /* sentence-transformers config if present, else mean */
    HUBRT_POOLING_MEAN = 1,
    HUBRT_POOLING_CLS = 2,
    HUBRT_POOLING_MAX = 3,     /* element-wise max over the tokens */
    HUBRT_POOLING_LAST = 4     /* the last token's hidden state */
} hubrt_pooling;

/*
 * Sentence embedding of text into out[dim] (dim >= hidden_size): text is
 * tokenized with the special tokens ([CLS] ... [SEP]), run through
 * hubrt_encode() (encoder models only; a causal LM gives
 * HUBRT_ERR_UNSUPPORTED), and the last hidden states pooled. Mean pooling
 * averages over every token, special ones included (no padding in a single
 * text), like sentence-transformers. Texts longer than the model's positions
 * (or sentence_bert_config.json's max_seq_length) keep their first
 * limit - 1 ids and the final [SEP], as the tokenizer's truncation does.
 * HUBRT_POOLING_DEFAULT follows a sentence-transformers directory
 * (modules.json + 1_Pooling/config.json: its pooling mode, and L2
 * normalisation when it lists a Normalize module; other modules such as
 * Dense are refused), else mean. normalize = 1 L2-normalises the result.
 * Returns hidden_size (floats written) or a negative status. Thread-safe
 * for one model from several threads (each call has its own buffers).
 */
HUBRT_API int hubrt_embed(const hubrt_model *model, const char *text, hubrt_pooling pooling, int normalize,
                float *out, int dim);

/*
 * Sentence embeddings of n_texts texts (each as hubrt_embed, with the same
 * pooling and normalize) into out[n_texts][dim], row i for texts[i]. Several
 * texts share each encoder pass (whole texts packed up to the model's
 * positions; attention stays within each text), which is much faster than
 * one hubrt_embed per text for short texts; results match hubrt_embed within
 * float rounding. The caller owns texts and out; nothing is kept after the
 * call. Returns hidden_size or a negative status (then rows of out may be
 * partly written; to find which text fails, embed the texts one by one).
 * n_texts = 0 writes nothing. Thread-safe as hubrt_embed.
 */
HUBRT_API int hubrt_embed_batch(const hubrt_model *model, const char *const *texts, int n_texts, hubrt_pooling pooling,
                      int normalize, float *out, int dim);

/*
 * Sentence embeddings of inputs already tokenized: input i is the n_ids[i]
 * ids at ids[i], used as they are (no special tokens added: include [CLS] /
 * [SEP] yourself, e.g. from hubrt_tokenize with add_special = 1). Pooling,
 * normalisation, packing and out[n_inputs][dim] as hubrt_embed_batch. An
 * input with no ids, or with more than the model takes (its positions, or
 * sentence_bert_config.json's max_seq_length), gives HUBRT_ERR_RANGE naming
 * the input and the limit; ids outside the vocab HUBRT_ERR_RANGE. Returns
 * hidden_size or a negative status. Thread-safe as hubrt_embed.
 */
HUBRT_API int hubrt_embed_ids(const hubrt_model *model, const int32_t *const *ids, const int *n_ids, int n_inputs,
                    hubrt_pooling pooling, int normalize, float *out, int dim);

/* ---- generation --------------------------------------------------------- */

typedef struct hubrt_sample_params {
    float temperature;     /* 0 = greedy */
    int32_t top_k;         /* 0 = off */
    float top_p;           /* 1 = off */
    float min_p;           /* 0 = off */
    float repeat_penalty;  /* 1 = off */
    int32_t repeat_last_n; /* window of the repetition penalty; -1 = all */
    uint64_t seed;         /* same seed, same text */
    int32_t max_new_tokens;
    const char *stop;      /* stop string or NULL */
    int ignore_eos;        /* 1: do not stop on EOS */
} hubrt_sample_params;

/* Defaults from nothing: greedy, no cut-offs, no penalty (window 64 when
 * set), 128 new tokens, seed 0, no stop string. */
HUBRT_API hubrt_sample_params hubrt_sample_default_params(void);
/*
 * The model's own defaults: hubrt_sample_default_params() overridden by its
 * generation_config.json the way transformers reads it — greedy unless
 * do_sample is true; with do_sample, temperature 1 / top_k 50 unless the file
 * sets temperature, top_k, top_p, min_p; repetition_penalty and
 * max_new_tokens in either case. No file: the plain defaults. 0 or a status
 * (HUBRT_ERR_FORMAT naming the field). The file is read once, by
 * hubrt_model_load(); a malformed one is reported here.
 */
HUBRT_API int hubrt_sample_model_params(const hubrt_model *model, hubrt_sample_params *params);

typedef enum hubrt_stop_reason {
    HUBRT_STOP_EOS = 0, HUBRT_STOP_LENGTH = 1, HUBRT_STOP_STRING = 2, HUBRT_STOP_CALLBACK = 3
} hubrt_stop_reason;

typedef struct hubrt_generation {
    int32_t n_prompt, n_new;
    hubrt_stop_reason stop_reason;
    double prefill_seconds, decode_seconds;
} hubrt_generation;

/* Called with each complete UTF-8 piece; return non-zero to stop. */
typedef int (*hubrt_token_callback)(const char *piece, int32_t id, void *user);

/*
 * Tokenizes prompt (with special tokens when the session is empty, without
 * when it continues earlier tokens), prefills it into the session in one
 * hubrt_forward() call and samples one token at a time until an EOS id of
 * config.json / generation_config.json (unless ignore_eos), the stop string,
 * max_new_tokens, a full context, or on_token returning non-zero.
 *
 * on_token (may be NULL) is called once per new token, in order, with its
 * id and the text that became final with it: complete UTF-8 only (a token
 * ending mid-character gives "" and the next token carries the character),
 * special tokens give "", and with a stop string, text that could still
 * grow into it is held back; the stop string itself is never passed on. The
 * last call flushes whatever was held back. The EOS token is passed on (and
 * counted in n_new) with its text "". piece is valid only during the call.
 *
 * out (may be NULL) receives counts, the stop reason and timings:
 * prefill_seconds is the prompt's forward pass; decode_seconds covers the
 * n_new - 1 single-token passes plus sampling (not the callback), so decode
 * speed is (n_new - 1) / decode_seconds. Returns HUBRT_OK or a negative
 * status; the tokens generated before an error were passed to on_token.
 * Afterwards the session holds the prompt and every generated token
 * (the last one is fed in after the final callback, untimed; when the
 * context is full it is left out), so a later call continues the text.
 */
HUBRT_API int hubrt_generate(hubrt_session *session, const char *prompt, const hubrt_sample_params *params,
                   hubrt_token_callback on_token, void *user, hubrt_generation *out);
/* The same from prompt ids. */
HUBRT_API int hubrt_generate_ids(hubrt_session *session, const int32_t *ids, int n,
                       const hubrt_sample_params *params, hubrt_token_callback on_token,
                       void *user, hubrt_generation *out);

/* ---- chat templates ------------------------------------------------------ */

/*
 * A conversation becomes a prompt through the model's Jinja chat template,
 * rendered exactly as transformers' apply_chat_template renders it (jinja2
 * with trim_blocks / lstrip_blocks, loopcontrols, transformers' tojson,
 * raise_exception and strftime_now). hubrt_model_load reads and compiles the
 * template once, from the first of: hubrt_load_params.chat_template_file,
 * DIR/chat_template.jinja, the "chat_template" of DIR/tokenizer_config.json
 * (a string, or a list of {"name", "template"}: "tool_use" is used when tools
 * are given and the list has one, else "default"), DIR/chat_template.json.
 * A problem in these files does not fail the load: hubrt_chat_apply reports
 * it, naming the file.
 *
 * The template sees: bos_token, eos_token, unk_token, pad_token, sep_token,
 * cls_token, mask_token (the strings of tokenizer_config.json, stored as
 * strings or AddedToken objects; unset ones are undefined), tools (null
 * when not given), documents (null), every member of vars_json, then
 * messages and add_generation_prompt.
 *
 * The rendered text already holds the special tokens the template writes
 * (e.g. bos_token), so tokenize it without adding them again, as
 * transformers does: hubrt_tokenize(model, text, 0, ids, max_ids).
 *
 *     hubrt_chat_params cp = {0};
 *     cp.messages_json = "[{\"role\": \"system\", \"content\": \"Be brief.\"},"
 *                        " {\"role\": \"user\", \"content\": \"Hi!\"}]";
 *     cp.add_generation_prompt = 1;
 *     int len = hubrt_chat_apply(m, &cp, NULL, 0);   // the length first
 *     if (len < 0) { fprintf(stderr, "%s\n", hubrt_last_error()); return 1; }
 *     char *prompt = malloc((size_t)len + 1);
 *     hubrt_chat_apply(m, &cp, prompt, (size_t)len + 1);
 *     int n = hubrt_tokenize(m, prompt, 0, ids, max_ids);   // add_special = 0
 *     hubrt_generate_ids(s, ids, n, &sp, print_piece, NULL, NULL);
 *
 * strftime_now() formats the local time; HUBRT_NOW=YYYY-MM-DDTHH:MM:SS in the
 * environment pins it (read by hubrt_model_load for hubrt_chat_apply, and by
 * each hubrt_template_render call; a malformed value makes them fail with
 * HUBRT_ERR_FORMAT), so tests render dates reproducibly.
 * Templates are untrusted input: rendering reads no file or environment and
 * stops with HUBRT_ERR_RANGE at its limits (64 MiB of output, 10 million
 * loop steps, nesting depth 200).
 */
typedef struct hubrt_chat_params {
    const char *messages_json;   /* JSON array of messages: role, content (string), tool_calls, tool results */
    const char *tools_json;      /* JSON array of tools, or NULL */
    const char *vars_json;       /* JSON object of extra template variables (e.g. {"enable_thinking": false}), or NULL */
    int add_generation_prompt;
} hubrt_chat_params;

/*
 * Renders the conversation through the model's chat template into buf,
 * snprintf-style: returns the text length, writes at most cap bytes incl.
 * the NUL (buf may be NULL when cap is 0); a negative status on error:
 *   HUBRT_ERR_UNSUPPORTED  the model has no chat template
 *   HUBRT_ERR_INVALID_ARG  the template called raise_exception(msg): the
 *                          message is exactly msg (e.g. "Conversation roles
 *                          must alternate user/assistant/user/assistant/...");
 *                          or a NULL argument
 *   HUBRT_ERR_FORMAT       a template syntax or evaluation error (naming the
 *                          file and template line), JSON that does not parse,
 *                          or vars_json setting messages / tools /
 *                          add_generation_prompt
 *   HUBRT_ERR_RANGE        a rendering limit was reached
 * Thread-safe on one model.
 */
HUBRT_API int hubrt_chat_apply(const hubrt_model *model, const hubrt_chat_params *params, char *buf, size_t cap);
/*
 * Model-free: renders template source (len bytes) with the members of a JSON
 * object as variables (context_json may be NULL for none), with the same
 * engine, return value and errors as hubrt_chat_apply.
 */
HUBRT_API int hubrt_template_render(const char *source, size_t len, const char *context_json, char *buf, size_t cap);

/* ---- sampling one token at a time --------------------------------------- */

/*
 * The sampler behind hubrt_generate, for callers that run their own loop
 * (e.g. a server that decodes many sessions together): the same pipeline
 * (repetition penalty, greedy at temperature 0, temperature, top-k, top-p,
 * min-p) and the same seeded generator, so given the same params, the same
 * accepted ids and the same logits it picks the same ids as hubrt_generate.
 * Accept the prompt ids and then every chosen id, as hubrt_generate does.
 * Only the sampling fields of params are used (not max_new_tokens, stop,
 * ignore_eos). One sampler per sequence; not thread-safe.
 */
typedef struct hubrt_sampler hubrt_sampler;

/* A sampler for rows of the model's logits (hubrt_model_info.n_logits
 * floats); NULL with the message on bad params (naming the field). */
HUBRT_API hubrt_sampler *hubrt_sampler_new(const hubrt_model *model, const hubrt_sample_params *params);
/* Frees the sampler; NULL is allowed. */
HUBRT_API void hubrt_sampler_free(hubrt_sampler *sampler);
/* Records an id (prompt or generated) in the repetition-penalty window. */
HUBRT_API void hubrt_sampler_accept(hubrt_sampler *sampler, int32_t id);
/* The next id from logits (not modified, not accepted), or a negative status
 * (HUBRT_ERR_FORMAT when every logit is -inf or NaN). */
HUBRT_API int32_t hubrt_sampler_sample(hubrt_sampler *sampler, const float *logits);

/* ---- profiling ------------------------------------------------------------ */

/*
 * Per-op timing of the compute graph: seconds per node, summed over passes,
 * shown as a text table (per op kind, then the ten costliest nodes). It
 * costs a clock read per node, so it is off unless asked for.
 */

/* Turns per-op timing of the session's passes on (1) or off (0); clears the totals. 0 or a status. */
HUBRT_API int hubrt_session_set_profile(hubrt_session *session, int on);
/*
 * The session's table so far, snprintf-style into buf (at most cap bytes
 * including the NUL; buf may be NULL when cap is 0). Returns the full
 * length, or HUBRT_ERR_INVALID_ARG when profiling is off.
 */
HUBRT_API int hubrt_session_profile_report(const hubrt_session *session, char *buf, size_t cap);
/*
 * The same table for the encoder passes (hubrt_encode, hubrt_embed,
 * hubrt_embed_batch) of a model loaded with HUBRT_PROFILE=1 in the
 * environment. The totals are kept by the library outside the read-only
 * model, summed over every thread's passes, and printed on stderr by
 * hubrt_model_free. HUBRT_ERR_INVALID_ARG when profiling is off or no pass
 * has run yet.
 */
HUBRT_API int hubrt_encode_profile_report(const hubrt_model *model, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* HUBRT_H */
