/*
 * tools/cli_info.c — `run-model info -m DIR [--json]`: what a model
 * directory holds — family, architecture, the config values that shape the
 * math, the quantisation of a pre-quantised checkpoint (method, bits, group
 * size, act-order, bytes per weight), tensor and parameter counts (elements
 * stored in the weight files), bytes per dtype, and the weight files with
 * their sizes.
 *
 * The weights are loaded as read-only maps (no copy) and no tokenizer is
 * loaded, so info is fast and works on weights-only directories.
 */
#include <stdio.h>
#include <string.h>

#include "tools/cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: run-model info -m DIR [--json]\n"
            "\n"
            "Describes a hub-format model directory (or org/name in the local Hugging Face\n"
            "cache): family, architecture, key config values, tensor count, parameter count\n"
            "(elements stored in the weight files), bytes per dtype, weight files and sizes;\n"
            "for a pre-quantised checkpoint (GPTQ, AWQ, compressed-tensors) its method, bits,\n"
            "group size, act-order and bytes per weight.\n"
            "\n"
            "  -m, --model DIR   the model directory or org/name\n"
            "  --json            one JSON object: {\"family\", \"architecture\", \"model_type\",\n"
            "                    \"params\", \"tensors\", \"dtypes\": {\"F32\": bytes, ...},\n"
            "                    \"files\": [{\"name\", \"bytes\"}...], \"config\": {...},\n"
            "                    \"quantization\": {\"method\", \"format\", \"bits\", \"group_size\",\n"
            "                    \"act_order\", \"symmetric\", \"weights\", \"file_bytes_per_weight\",\n"
            "                    \"bytes_per_weight\"} or null, \"dir\"}\n"
            "  -h, --help        this text\n"
            "\n"
            "Exit status: 0 success, 1 error (one line on stderr), 2 usage error.\n");
}

/* A JSON string literal (UTF-8 passed through, controls escaped). */
static void json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p == '\n') fputs("\\n", stdout);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

static void print_json(const hubrt_model *m, const hubrt_model_info *in)
{
    const int llama = !strcmp(in->family, "llama"), bert = !strcmp(in->family, "bert");
    printf("{\"family\": ");
    json_str(in->family);
    printf(", \"architecture\": ");
    json_str(in->architecture);
    printf(", \"model_type\": ");
    json_str(in->model_type);
    printf(", \"params\": %lld, \"tensors\": %lld, \"dtypes\": {", (long long)in->n_params,
           (long long)in->n_tensors);
    int first = 1;
    for (int d = 0; d < HUBRT_DTYPE_COUNT; d++) {
        if (!in->dtype_bytes[d]) continue;
        printf("%s\"%s\": %lld", first ? "" : ", ", hubrt_dtype_name((hubrt_dtype)d),
               (long long)in->dtype_bytes[d]);
        first = 0;
    }
    printf("}, \"files\": [");
    for (int i = 0; i < in->n_files; i++) {
        int64_t size = 0;
        const char *name = hubrt_model_file(m, i, &size);
        printf("%s{\"name\": ", i ? ", " : "");
        json_str(name);
        printf(", \"bytes\": %lld}", (long long)size);
    }
    printf("], \"config\": {\"vocab_size\": %d, \"hidden_size\": %d, \"n_layers\": %d, "
           "\"n_heads\": %d, \"n_kv_heads\": %d, \"head_dim\": %d, \"intermediate_size\": %d, "
           "\"max_positions\": %d, \"act\": \"%s\", \"norm_eps\": %.7g, ",
           in->vocab_size, in->hidden_size, in->n_layers, in->n_heads, in->n_kv_heads, in->head_dim,
           in->intermediate_size, in->max_positions, in->activation, (double)in->norm_eps);
    if (llama)
        printf("\"rope_theta\": %.7g, \"rope_scaling\": \"%s\", \"rope_factor\": %.7g, "
               "\"sliding_window\": %d, ",
               (double)in->rope_theta, in->rope_scaling, (double)in->rope_factor, in->sliding_window);
    if (bert) printf("\"type_vocab_size\": %d, ", in->type_vocab_size);
    printf("\"tie_word_embeddings\": %s, \"attention_bias\": %s, \"bos_token_id\": %d, "
           "\"eos_token_ids\": [",
           in->tie_word_embeddings ? "true" : "false", in->attention_bias ? "true" : "false",
           in->bos_token_id);
    for (int i = 0; i < in->n_eos; i++) printf("%s%d", i ? ", " : "", in->eos_token_ids[i]);
    printf("]}, \"quantization\": ");
    if (in->quant_method[0]) {
        printf("{\"method\": ");
        json_str(in->quant_method);
        printf(", \"format\": ");
        json_str(in->quant_format);
        printf(", \"bits\": %d, \"group_size\": %d, \"act_order\": %s, \"symmetric\": %s, \"weights\": %lld, "
               "\"file_bytes_per_weight\": %.6g, \"bytes_per_weight\": %.6g}",
               in->quant_bits, in->quant_group_size, in->quant_act_order ? "true" : "false",
               in->quant_symmetric ? "true" : "false", (long long)in->quant_weights, in->quant_file_bytes_per_weight,
               in->quant_bytes_per_weight);
    } else {
        printf("null");
    }
    printf(", \"dir\": ");
    json_str(in->dir);
    printf("}\n");
}

static void print_text(const hubrt_model *m, const hubrt_model_info *in)
{
    printf("model:        %s\n", in->dir);
    printf("family:       %s (model_type %s, architecture %s)\n", in->family, in->model_type,
           in->architecture[0] ? in->architecture : "-");
    printf("shape:        %d layers, hidden %d, %d heads (%d kv, head_dim %d), ffn %d\n",
           in->n_layers, in->hidden_size, in->n_heads, in->n_kv_heads, in->head_dim,
           in->intermediate_size);
    printf("vocab:        %d, max positions %d\n", in->vocab_size, in->max_positions);
    printf("activation:   %s, norm eps %g\n", in->activation, (double)in->norm_eps);
    if (!strcmp(in->family, "llama")) {
        printf("rope:         theta %g, scaling %s", (double)in->rope_theta, in->rope_scaling);
        if (strcmp(in->rope_scaling, "default") != 0) printf(" x%g", (double)in->rope_factor);
        printf("\n");
        if (in->sliding_window) printf("window:       %d (sliding-window attention)\n", in->sliding_window);
    }
    printf("embeddings:   %s\n", in->tie_word_embeddings ? "tied" : "untied");
    if (in->quant_method[0]) {
        printf("quantised:    %s (%s), %d bits, ", in->quant_method, in->quant_format, in->quant_bits);
        if (in->quant_group_size > 0) printf("group size %d", in->quant_group_size);
        else printf("one group per row");
        printf(", act-order %s, %s\n", in->quant_act_order ? "yes" : "no",
               in->quant_symmetric ? "symmetric" : "asymmetric");
        printf("              %lld weights quantised: %.4g bytes/weight in the files, %.4g in memory\n",
               (long long)in->quant_weights, in->quant_file_bytes_per_weight, in->quant_bytes_per_weight);
    }
    printf("eos ids:     ");
    for (int i = 0; i < in->n_eos; i++) printf(" %d", in->eos_token_ids[i]);
    printf("%s\n", in->n_eos ? "" : " none");
    printf("parameters:   %lld in %lld tensors\n", (long long)in->n_params, (long long)in->n_tensors);
    for (int d = 0; d < HUBRT_DTYPE_COUNT; d++)
        if (in->dtype_bytes[d])
            printf("  %-6s      %lld bytes\n", hubrt_dtype_name((hubrt_dtype)d),
                   (long long)in->dtype_bytes[d]);
    printf("files:\n");
    for (int i = 0; i < in->n_files; i++) {
        int64_t size = 0;
        const char *name = hubrt_model_file(m, i, &size);
        printf("  %-40s %lld bytes\n", name, (long long)size);
    }
}

int cli_info(int argc, char **argv)
{
    const char *dir = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (i + 1 >= argc) return cli_usage("info", "%s needs a directory", a);
            dir = argv[++i];
        } else if (a[0] == '-') {
            return cli_usage("info", "unknown option '%s'", a);
        } else {
            return cli_usage("info", "unexpected argument '%s'", a);
        }
    }
    if (!dir) return cli_usage("info", "-m DIR is required");

    hubrt_load_params lp = hubrt_load_default_params();
    lp.no_tokenizer = 1;
    lp.storage = HUBRT_STORAGE_MMAP; /* describe the files; no need to copy weights */
    hubrt_model *m = hubrt_model_load(dir, &lp);
    if (!m) return cli_error("info", "%s", hubrt_last_error());
    hubrt_model_info in;
    if (hubrt_model_get_info(m, &in) != HUBRT_OK) {
        int rc = cli_error("info", "%s", hubrt_last_error());
        hubrt_model_free(m);
        return rc;
    }
    if (json) print_json(m, &in);
    else print_text(m, &in);
    hubrt_model_free(m);
    if (fflush(stdout) != 0) return cli_error("info", "cannot write the output");
    return CLI_OK;
}
