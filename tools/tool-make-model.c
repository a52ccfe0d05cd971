/*
 * tools/tool-make-model.c — writes a random hub-format model directory
 * (config.json + model.safetensors) of any family, shape and dtype, for
 * tests that need no reference output and for speed measurements.
 *
 *   build/tool-make-model --family llama --hidden 576 --layers 30 --heads 9 \
 *       --kv-heads 3 --ffn 1536 --vocab 32000 --tied --dtype bf16 --out /tmp/smollm2-135m-shape
 *   build/tool-make-model --preset smollm2-135m --out DIR   (the same)
 *
 * Fault injection for loader tests: --drop NAME, --transpose NAME, --int NAME.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/testmodel.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tool-make-model --family llama|mistral|qwen2|gpt2|bert --out DIR [options]\n"
            "       tool-make-model --preset smollm2-135m|gpt2-124m|bert-base|tinyllama-1.1b --out DIR\n"
            "\n"
            "  --vocab N --hidden N --layers N --heads N --kv-heads N --ffn N --max-pos N\n"
            "  --head-dim N         (default hidden / heads)\n"
            "  --dtype f32|f16|bf16 (default f32)\n"
            "  --tied               tie lm_head to the embeddings (llama family)\n"
            "  --window N           mistral sliding window\n"
            "  --no-prefix          tensor names without model./transformer./bert.\n"
            "  --seed N\n"
            "  --drop NAME | --transpose NAME | --int NAME   store a bad tensor\n"
            "\n"
            "Exit status: 0 success, 1 error, 2 usage error.\n");
}

static int preset(hubrt_testmodel_spec *s, const char *name)
{
    if (!strcmp(name, "smollm2-135m")) {
        *s = hubrt_testmodel_default("llama");
        s->vocab = 32000; s->hidden = 576; s->layers = 30; s->heads = 9; s->kv_heads = 3;
        s->ffn = 1536; s->max_pos = 8192; s->tied = 1; s->dtype = HUBRT_DTYPE_BF16;
    } else if (!strcmp(name, "tinyllama-1.1b")) {
        *s = hubrt_testmodel_default("llama");
        s->vocab = 32000; s->hidden = 2048; s->layers = 22; s->heads = 32; s->kv_heads = 4;
        s->ffn = 5632; s->max_pos = 2048; s->dtype = HUBRT_DTYPE_BF16;
    } else if (!strcmp(name, "gpt2-124m")) {
        *s = hubrt_testmodel_default("gpt2");
        s->vocab = 50257; s->hidden = 768; s->layers = 12; s->heads = 12; s->kv_heads = 12;
        s->ffn = 3072; s->max_pos = 1024;
    } else if (!strcmp(name, "bert-base")) {
        *s = hubrt_testmodel_default("bert");
        s->vocab = 30522; s->hidden = 768; s->layers = 12; s->heads = 12; s->kv_heads = 12;
        s->ffn = 3072; s->max_pos = 512;
    } else {
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    hubrt_testmodel_spec s = hubrt_testmodel_default("llama");
    const char *out = NULL, *family = NULL;
    int have_preset = 0;
    /* first pass: family / preset set the defaults the other options change */
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--family")) family = argv[i + 1];
        if (!strcmp(argv[i], "--preset")) {
            if (preset(&s, argv[i + 1]) != 0) {
                fprintf(stderr, "tool-make-model: unknown preset '%s'\n", argv[i + 1]);
                return 2;
            }
            have_preset = 1;
        }
    }
    if (family && !have_preset) s = hubrt_testmodel_default(family);
    else if (family) s.family = family;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (!strcmp(a, "--tied")) { s.tied = 1; continue; }
        if (!strcmp(a, "--no-prefix")) { s.no_prefix = 1; continue; }
        if (i + 1 >= argc) { fprintf(stderr, "tool-make-model: '%s' needs a value\n", a); return 2; }
        const char *v = argv[++i];
        char *end;
        long n = strtol(v, &end, 10);
        int is_num = *v && !*end && n >= 0 && n <= 100000000;
#define NUM(opt, field) else if (!strcmp(a, opt)) { if (!is_num) { fprintf(stderr, "tool-make-model: %s expects a number\n", opt); return 2; } s.field = (int)n; }
        if (!strcmp(a, "--family") || !strcmp(a, "--preset")) continue;
        else if (!strcmp(a, "--out")) out = v;
        NUM("--vocab", vocab) NUM("--hidden", hidden) NUM("--layers", layers) NUM("--heads", heads)
        NUM("--kv-heads", kv_heads) NUM("--ffn", ffn) NUM("--max-pos", max_pos) NUM("--head-dim", head_dim)
        NUM("--window", sliding_window)
        else if (!strcmp(a, "--seed")) { if (!is_num) return 2; s.seed = (uint64_t)n; }
        else if (!strcmp(a, "--dtype")) {
            if (!strcmp(v, "f32")) s.dtype = HUBRT_DTYPE_F32;
            else if (!strcmp(v, "f16")) s.dtype = HUBRT_DTYPE_F16;
            else if (!strcmp(v, "bf16")) s.dtype = HUBRT_DTYPE_BF16;
            else { fprintf(stderr, "tool-make-model: --dtype f32|f16|bf16\n"); return 2; }
        }
        else if (!strcmp(a, "--drop")) s.drop = v;
        else if (!strcmp(a, "--transpose")) s.transpose = v;
        else if (!strcmp(a, "--int")) s.int_dtype = v;
        else { fprintf(stderr, "tool-make-model: unknown option '%s'\n", a); usage(stderr); return 2; }
#undef NUM
    }
    if (!out) { fprintf(stderr, "tool-make-model: --out DIR is required\n"); usage(stderr); return 2; }
    if (hubrt_testmodel_write(out, &s) != 0) {
        fprintf(stderr, "tool-make-model: %s\n", hubrt_last_error());
        return 1;
    }
    printf("%s: %s, hidden %d, %d layers, %d heads / %d kv, ffn %d, vocab %d\n", out, s.family,
           s.hidden, s.layers, s.heads, s.kv_heads, s.ffn, s.vocab);
    return 0;
}
