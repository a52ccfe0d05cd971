/*
 * tests/test_hf_quant_config.c — config.json's quantization_config
 * (hf/config.c): the GPTQ, AWQ and compressed-tensors settings hubrt runs,
 * parsed into hf_quant_config with their defaults and aliases; every
 * setting it cannot run refused with a message naming the field; AutoGPTQ's
 * separate quantize_config.json read when config.json has none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "include/hubrt.h"
#include "hf/config.h"
#include "hf/error.h"
#include "tests/test.h"

/* A llama config.json with `quant` as its last field ("" for none). */
static int parse(const char *quant, hf_config *cfg)
{
    char json[4096];
    snprintf(json, sizeof json,
             "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 64, "
             "\"intermediate_size\": 96, \"num_attention_heads\": 4, \"num_hidden_layers\": 2, "
             "\"vocab_size\": 100%s%s}",
             quant[0] ? ", \"quantization_config\": " : "", quant);
    return hf_config_parse(json, "t/config.json", cfg);
}

typedef struct accepted {
    const char *json;
    hf_quant_method method;
    int bits, group, act_order, sym, zero_offset;
    const char *format;
} accepted;

static void test_accepted(void)
{
    static const accepted ok[] = {
        /* optimum's GPTQConfig as the shared checkpoint has it */
        {"{\"quant_method\": \"gptq\", \"bits\": 4, \"group_size\": 64, \"desc_act\": false, \"sym\": true, "
         "\"checkpoint_format\": \"gptq\", \"use_exllama\": true, \"exllama_config\": {\"version\": 1}, "
         "\"damp_percent\": 0.01, \"true_sequential\": true, \"static_groups\": false}",
         HF_QUANT_GPTQ, 4, 64, 0, 1, 1, "gptq"},
        /* defaults: group 128, sym, v1 */
        {"{\"quant_method\": \"gptq\", \"bits\": 8}", HF_QUANT_GPTQ, 8, 128, 0, 1, 1, "gptq"},
        {"{\"quant_method\": \"gptq\", \"bits\": 4, \"group_size\": -1, \"desc_act\": true, \"sym\": false, "
         "\"format\": \"gptq_v2\", \"lm_head\": true, \"pack_dtype\": \"int32\"}",
         HF_QUANT_GPTQ, 4, -1, 1, 0, 0, "gptq_v2"},
        {"{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 128, \"zero_point\": true, \"version\": \"gemm\", "
         "\"modules_to_not_convert\": null}", HF_QUANT_AWQ, 4, 128, 0, 0, 0, "gemm"},
        /* AutoAWQ's own spelling, version upper case */
        {"{\"quant_method\": \"awq\", \"w_bit\": 4, \"q_group_size\": 64, \"zero_point\": false, \"version\": \"GEMM\", "
         "\"modules_to_not_convert\": [\"visual\"]}", HF_QUANT_AWQ, 4, 64, 0, 1, 0, "gemm"},
        {"{\"quant_method\": \"compressed-tensors\", \"format\": \"pack-quantized\", \"quantization_status\": "
         "\"compressed\", \"config_groups\": {\"group_0\": {\"targets\": [\"Linear\"], \"input_activations\": null, "
         "\"output_activations\": null, \"format\": \"pack-quantized\", \"weights\": {\"num_bits\": 4, \"type\": "
         "\"int\", \"symmetric\": true, \"strategy\": \"group\", \"group_size\": 128, \"actorder\": null, "
         "\"dynamic\": false, \"observer\": \"minmax\", \"block_structure\": null}}}, \"ignore\": [\"lm_head\"], "
         "\"kv_cache_scheme\": null, \"sparsity_config\": {}, \"transform_config\": {}, \"version\": \"0.12.2\"}",
         HF_QUANT_COMPRESSED, 4, 128, 0, 1, 0, "pack-quantized"},
        {"{\"quant_method\": \"compressed-tensors\", \"format\": \"pack-quantized\", \"config_groups\": {\"g\": "
         "{\"targets\": [\"Linear\"], \"weights\": {\"num_bits\": 8, \"type\": \"int\", \"symmetric\": false, "
         "\"strategy\": \"channel\", \"actorder\": \"group\"}}}}",
         HF_QUANT_COMPRESSED, 8, -1, 1, 0, 0, "pack-quantized"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        hf_config cfg;
        int rc = parse(ok[i].json, &cfg);
        const hf_quant_config *q = &cfg.quant;
        TEST_CHECK(rc == 0 && q->method == ok[i].method && q->bits == ok[i].bits && q->group_size == ok[i].group &&
                   q->act_order == ok[i].act_order && q->sym == ok[i].sym && q->zero_offset == ok[i].zero_offset &&
                   !strcmp(q->format, ok[i].format),
                   "accepted config %zu: rc %d (%s), method %d bits %d group %d act %d sym %d offset %d format %s", i, rc,
                   rc ? hubrt_last_error() : "", (int)q->method, q->bits, q->group_size, q->act_order, q->sym,
                   q->zero_offset, q->format);
    }
    hf_config cfg;
    TEST_CHECK(parse("", &cfg) == 0 && cfg.quant.method == HF_QUANT_NONE && !strcmp(hf_quant_method_name(HF_QUANT_NONE), ""),
               "no quantization_config: method none");
    TEST_CHECK(parse("null", &cfg) == 0 && cfg.quant.method == HF_QUANT_NONE, "quantization_config null");
    TEST_CHECK(!strcmp(hf_quant_method_name(HF_QUANT_COMPRESSED), "compressed-tensors") &&
               !strcmp(hf_quant_method_name(HF_QUANT_AWQ), "awq"), "method names");
}

static void test_refused(void)
{
    static const struct { const char *json, *expect1, *expect2; int status; } bad[] = {
        {"{\"quant_method\": \"gptq\", \"bits\": 3}", "quantization_config: bits = 3", "4 and 8", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"gptq\", \"bits\": 2, \"group_size\": 128}", "bits = 2", "not supported", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"gptq\"}", "'bits' is missing", "quantization_config", HUBRT_ERR_FORMAT},
        {"{\"quant_method\": \"gptq\", \"bits\": \"4\"}", "'bits' must be an integer", "quantization_config", HUBRT_ERR_FORMAT},
        {"{\"quant_method\": \"gptq\", \"bits\": 4, \"group_size\": 0}", "group_size = 0", "", HUBRT_ERR_FORMAT},
        {"{\"quant_method\": \"gptq\", \"bits\": 4, \"checkpoint_format\": \"marlin\"}", "checkpoint_format 'marlin'", "not supported",
         HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"gptq\", \"bits\": 4, \"is_marlin_format\": true}", "is_marlin_format", "Marlin", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"gptq\", \"bits\": 4, \"desc_act\": \"yes\"}", "'desc_act' must be true or false", "", HUBRT_ERR_FORMAT},
        {"{\"quant_method\": \"awq\", \"bits\": 8, \"version\": \"gemm\"}", "bits = 8", "4 bits", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"awq\", \"bits\": 4, \"version\": \"gemv\"}", "version 'gemv'", "not supported", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"awq\", \"bits\": 4, \"version\": \"gemv_fast\"}", "version 'gemv_fast'", "", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"awq\", \"bits\": 4, \"version\": \"exllama\"}", "version 'exllama'", "", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"awq\", \"bits\": 4, \"backend\": \"llm-awq\"}", "backend 'llm-awq'", "", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"awq\", \"bits\": 4, \"modules_to_not_convert\": \"lm_head\"}", "modules_to_not_convert",
         "list of strings", HUBRT_ERR_FORMAT},
        {"{\"quant_method\": \"compressed-tensors\", \"format\": \"float-quantized\", \"config_groups\": {}}",
         "format 'float-quantized'", "not supported", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"compressed-tensors\", \"format\": \"pack-quantized\", \"quantization_status\": \"frozen\", "
         "\"config_groups\": {}}", "quantization_status 'frozen'", "", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"compressed-tensors\", \"format\": \"pack-quantized\", \"config_groups\": {}}",
         "config_groups", "non-empty", HUBRT_ERR_FORMAT},
        {"{\"quant_method\": \"compressed-tensors\", \"config_groups\": {\"g\": {\"weights\": {\"num_bits\": 8, \"type\": "
         "\"float\", \"strategy\": \"tensor\"}}}}", "config_groups.g.weights: type 'float'", "fp8", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"compressed-tensors\", \"config_groups\": {\"g\": {\"weights\": {\"num_bits\": 4, \"type\": "
         "\"int\", \"strategy\": \"group\", \"group_size\": 128}, \"input_activations\": {\"num_bits\": 8}}}}",
         "config_groups.g: input_activations", "activation quantisation", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"compressed-tensors\", \"config_groups\": {\"g\": {\"weights\": {\"num_bits\": 4, \"type\": "
         "\"int\", \"strategy\": \"group\", \"group_size\": 128}, \"output_activations\": {\"num_bits\": 8}}}}",
         "output_activations", "", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"compressed-tensors\", \"config_groups\": {\"g\": {\"weights\": {\"num_bits\": 3, \"type\": "
         "\"int\", \"strategy\": \"group\", \"group_size\": 128}}}}", "num_bits = 3", "", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"compressed-tensors\", \"config_groups\": {\"g\": {\"weights\": {\"num_bits\": 4, \"type\": "
         "\"int\", \"strategy\": \"block\", \"block_structure\": [128, 128]}}}}", "block_structure", "", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"compressed-tensors\", \"config_groups\": {\"g\": {\"weights\": {\"num_bits\": 4, \"type\": "
         "\"int\", \"strategy\": \"token\"}}}}", "strategy 'token'", "", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"compressed-tensors\", \"config_groups\": {\"g\": {\"weights\": {\"num_bits\": 4, \"type\": "
         "\"int\", \"strategy\": \"group\"}}}}", "'group_size' is missing", "", HUBRT_ERR_FORMAT},
        {"{\"quant_method\": \"compressed-tensors\", \"config_groups\": {\"g\": {\"weights\": {\"num_bits\": 4, \"type\": "
         "\"int\", \"strategy\": \"group\", \"group_size\": 128, \"actorder\": \"dynamic\"}}}}", "actorder 'dynamic'", "",
         HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"compressed-tensors\", \"config_groups\": {\"g\": {\"weights\": {\"num_bits\": 4, \"type\": "
         "\"int\", \"strategy\": \"group\", \"group_size\": 128, \"dynamic\": true}}}}", "dynamic", "", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"compressed-tensors\", \"config_groups\": {\"a\": {\"weights\": {\"num_bits\": 4, \"type\": "
         "\"int\", \"strategy\": \"group\", \"group_size\": 128}}, \"b\": {\"weights\": {\"num_bits\": 8, \"type\": "
         "\"int\", \"strategy\": \"channel\"}}}}", "config_groups.b", "different weight schemes", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"compressed-tensors\", \"kv_cache_scheme\": {\"num_bits\": 8}, \"config_groups\": {}}",
         "kv_cache_scheme", "", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"compressed-tensors\", \"sparsity_config\": {\"format\": \"sparse-bitmask\"}, "
         "\"config_groups\": {}}", "sparsity_config", "", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"compressed-tensors\", \"config_groups\": {\"g\": {\"targets\": [\"Linear\"]}}}",
         "no 'weights' scheme", "", HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"bitsandbytes\", \"load_in_4bit\": true}", "quant_method 'bitsandbytes'", "gptq, awq",
         HUBRT_ERR_UNSUPPORTED},
        {"{\"quant_method\": \"fp8\", \"activation_scheme\": \"dynamic\"}", "quant_method 'fp8'", "", HUBRT_ERR_UNSUPPORTED},
        {"{\"bits\": 4}", "quant_method '(missing)'", "", HUBRT_ERR_UNSUPPORTED},
        {"[1, 2]", "quantization_config: must be an object", "", HUBRT_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hf_config cfg;
        int rc = parse(bad[i].json, &cfg);
        const char *err = hubrt_last_error();
        TEST_CHECK(rc == bad[i].status && strstr(err, bad[i].expect1) && strstr(err, bad[i].expect2) &&
                   strstr(err, "t/config.json"),
                   "refused config %zu: rc %d (want %d), message '%s' should name '%s'", i, rc, bad[i].status, err,
                   bad[i].expect1);
    }
}

/* AutoGPTQ's quantize_config.json beside a config.json without quantization_config. */
static void test_quantize_config_file(void)
{
    char tmpl[] = "/tmp/hubrt_test_qcfg_XXXXXX";
    char *dir = mkdtemp(tmpl);
    TEST_CHECK(dir != NULL, "mkdtemp");
    if (!dir) return;
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 96, \"num_attention_heads\": 4, "
              "\"num_hidden_layers\": 2, \"vocab_size\": 100}", f);
        fclose(f);
    }
    hf_config cfg;
    TEST_CHECK(hf_config_load(dir, &cfg) == 0 && cfg.quant.method == HF_QUANT_NONE, "no quantize_config.json: none");
    snprintf(path, sizeof path, "%s/quantize_config.json", dir);
    f = fopen(path, "w");
    if (f) {
        fputs("{\"bits\": 4, \"group_size\": 128, \"damp_percent\": 0.01, \"desc_act\": true, \"static_groups\": false, "
              "\"sym\": true, \"true_sequential\": true, \"model_name_or_path\": null, \"model_file_base_name\": \"model\"}", f);
        fclose(f);
    }
    int rc = hf_config_load(dir, &cfg);
    TEST_CHECK(rc == 0 && cfg.quant.method == HF_QUANT_GPTQ && cfg.quant.bits == 4 && cfg.quant.group_size == 128 &&
               cfg.quant.act_order == 1 && cfg.quant.zero_offset == 1, "quantize_config.json read as GPTQ: %s",
               rc ? hubrt_last_error() : "");
    f = fopen(path, "w");
    if (f) {
        fputs("{\"bits\": 3, \"group_size\": 128}", f);
        fclose(f);
    }
    rc = hf_config_load(dir, &cfg);
    TEST_CHECK(rc == HUBRT_ERR_UNSUPPORTED && strstr(hubrt_last_error(), "quantize_config.json") &&
               strstr(hubrt_last_error(), "bits = 3"), "bad quantize_config.json: %s", hubrt_last_error());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", dir);
}

int main(void)
{
    test_accepted();
    test_refused();
    test_quantize_config_file();
    return test_finish();
}
