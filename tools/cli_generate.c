/*
 * tools/cli_generate.c — `run-model [generate]`: text from a prompt.
 *
 * Streams the continuation to stdout as it is produced (after echoing the
 * prompt), with load time and prompt / generation speed on stderr; --json
 * instead prints one object when done (the contract in design.md).
 * Sampling defaults come from the model's generation_config.json (greedy
 * unless it says do_sample), then the flags. --chat puts the prompt through
 * the model's chat template as one user message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cli.h"

static const char *CMD = "generate";

static void usage(FILE *f)
{
    fprintf(f,
        "usage: run-model [generate] -m DIR (-p TEXT | --ids 1,2,3) [options]\n"
        "\n"
        "Generates text from a prompt, streaming it to stdout.\n"
        "\n"
        "  -m, --model DIR        hub-format model directory, or org/name in the local HF cache\n"
        "  -p, --prompt TEXT      prompt text (tokenized with the model's special tokens, e.g. BOS)\n"
        "  -f, --file FILE        prompt text from a file ('-' = stdin)\n"
        "      --ids 1,2,3        prompt as token ids instead of text\n"
        "      --chat             the prompt is one user message, put through the model's chat\n"
        "                         template (tokenized without adding special tokens again)\n"
        "      --system TEXT      with --chat: a system message before it\n"
        "      --chat-template F  with --chat: the Jinja template in file F instead of the model's\n"
        "  -n, --n-predict N      new tokens at most (default: generation_config.json, else 128)\n");
    cli_sampling_usage(f);
    fprintf(f,
        "  -t, --threads N        threads (default: physical cores)\n"
        "      --quant q8|q4      quantise weights on load (lossy; default: stored dtype)\n"
        "      --no-echo          do not print the prompt before the continuation\n"
        "      --profile          per-op time table of the forward passes on stderr\n"
        "      --json             print one JSON object when done instead of streaming:\n"
        "                         {\"prompt_ids\", \"new_ids\", \"text\", \"stop_reason\",\n"
        "                          \"prefill_tok_s\", \"decode_tok_s\", \"seed\"}\n"
        "  -v, --verbose          more detail on stderr (seed, sampling settings)\n"
        "  -q, --quiet            no timings on stderr\n"
        "  -h, --help             this help\n"
        "\n"
        "Exit status: 0 success, 1 error, 2 usage error.\n");
}

typedef struct gen_out {
    int json;
    int ids_only;     /* no tokenizer: stream the ids instead of text */
    char *text;       /* --json: the generated text */
    size_t len, cap;
    int32_t *ids;     /* every new id */
    int n_ids, cap_ids;
    int oom;
} gen_out;

static int on_token(const char *piece, int32_t id, void *user)
{
    gen_out *o = user;
    if (o->n_ids == o->cap_ids) {
        int cap = o->cap_ids ? o->cap_ids * 2 : 64;
        int32_t *g = realloc(o->ids, (size_t)cap * sizeof *g);
        if (!g) { o->oom = 1; return 1; }
        o->ids = g;
        o->cap_ids = cap;
    }
    o->ids[o->n_ids++] = id;
    size_t n = strlen(piece);
    if (!o->json) {
        if (o->ids_only) {
            printf(" %d", (int)id);
            fflush(stdout);
        } else if (n) {
            fwrite(piece, 1, n, stdout);
            fflush(stdout);
        }
        return 0;
    }
    if (cli_text_append(&o->text, &o->len, &o->cap, piece, n)) { o->oom = 1; return 1; }
    return 0;
}

static const char *reason_name(hubrt_stop_reason r)
{
    switch (r) {
    case HUBRT_STOP_EOS: return "eos";
    case HUBRT_STOP_STRING: return "stop";
    case HUBRT_STOP_CALLBACK: return "stop";
    default: return "length";
    }
}

int cli_generate(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = NULL, *ids_text = NULL, *prompt_file = NULL;
    const char *system = NULL, *chat_template = NULL;
    char *file_text = NULL, *rendered = NULL;
    long threads = 0;
    int json = 0, verbose = 0, quiet = 0, echo = 1, profile = 0, chat = 0;
    hubrt_quant quant = HUBRT_QUANT_NONE;
    cli_sampling so;
    cli_sampling_init(&so);

    /* argv[0] is "generate" or the program name (generate as default) */
    for (int i = 1, k; i < argc; i++) {
        const char *a = argv[i];
#define NEED_VALUE() \
        do { if (i + 1 >= argc) return cli_usage(CMD, "%s needs a value", a); } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return CLI_OK; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { NEED_VALUE(); model_path = argv[++i]; }
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) { NEED_VALUE(); prompt = argv[++i]; }
        else if (!strcmp(a, "--ids")) { NEED_VALUE(); ids_text = argv[++i]; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { NEED_VALUE(); prompt_file = argv[++i]; }
        else if (!strcmp(a, "--system")) { NEED_VALUE(); system = argv[++i]; }
        else if (!strcmp(a, "--chat-template")) { NEED_VALUE(); chat_template = argv[++i]; }
        else if (!strcmp(a, "--chat")) chat = 1;
        else if ((k = cli_sampling_parse(CMD, argc, argv, &i, &so)) != 0) {
            if (k < 0) return CLI_USAGE;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            NEED_VALUE();
            if (cli_parse_int(CMD, a, argv[++i], 0, 4096, &threads)) return CLI_USAGE;
        } else if (!strcmp(a, "--quant")) {
            NEED_VALUE();
            if (cli_parse_quant(CMD, argv[++i], &quant)) return CLI_USAGE;
        } else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--no-echo")) echo = 0;
        else if (!strcmp(a, "--profile")) profile = 1;
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) verbose = 1;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = 1;
        else if (a[0] == '-') return cli_usage(CMD, "unknown option '%s'", a);
        else return cli_usage(CMD, "unexpected argument '%s'", a);
#undef NEED_VALUE
    }
    if (!model_path) return cli_usage(CMD, "-m DIR is required");
    if (!prompt && !ids_text && !prompt_file) return cli_usage(CMD, "a prompt is required (-p TEXT, -f FILE or --ids 1,2,3)");
    if (!!prompt + !!ids_text + !!prompt_file > 1) return cli_usage(CMD, "give one of -p, -f and --ids");
    if (chat && ids_text) return cli_usage(CMD, "--chat needs a text prompt (-p or -f), not --ids");
    if (!chat && (system || chat_template)) return cli_usage(CMD, "--system and --chat-template go with --chat");

    int32_t *ids = NULL;
    int n_ids = 0;
    if (ids_text && cli_parse_ids(CMD, "--ids", ids_text, &ids, &n_ids)) return CLI_USAGE;
    if (prompt_file) {
        file_text = cli_read_text(CMD, prompt_file);
        if (!file_text) return CLI_ERROR;
        prompt = file_text;
    }

    hubrt_load_params lp = hubrt_load_default_params();
    lp.n_threads = (int)threads;
    lp.quant = quant;
    lp.chat_template_file = chat_template;
    double load_s = 0;
    hubrt_model *m = cli_load_model(CMD, model_path, &lp, quiet, &load_s);
    if (!m) {
        free(ids);
        free(file_text);
        return CLI_ERROR;
    }
    int rc = CLI_ERROR;
    hubrt_session *s = NULL;
    gen_out out = {0};
    out.json = json;

    if (chat && prompt) {
        /* the prompt as one user message through the template; the
         * rendered text carries its own special tokens */
        if (!(rendered = cli_chat_prompt(CMD, m, system, prompt))) goto done;
        prompt = rendered;
        if (cli_tokenize_text(CMD, m, prompt, 0, &ids, &n_ids)) goto done;
    } else if (prompt && cli_tokenize_text(CMD, m, prompt, 1, &ids, &n_ids)) goto done;
    if (n_ids == 0) {
        cli_error(CMD, "the prompt gives no tokens");
        goto done;
    }

    hubrt_sample_params sp;
    if (cli_sampling_params(CMD, m, &so, &sp)) goto done;
    if (verbose) cli_sampling_print(&sp);

    /* KV cache for what this run needs, not the whole context window. */
    hubrt_model_info info;
    if (hubrt_model_get_info(m, &info) != HUBRT_OK) {
        cli_error(CMD, "%s", hubrt_last_error());
        goto done;
    }
    if (info.kind == HUBRT_MODEL_ENCODER) {
        cli_error(CMD, "%s is an encoder, not a causal LM: use 'run-model embed' or 'run-model fill-mask'",
                  info.architecture && *info.architecture ? info.architecture : info.family);
        goto done;
    }
    long need = (long)n_ids + sp.max_new_tokens;
    if (info.max_positions > 0 && n_ids > info.max_positions) {
        cli_error(CMD, "the prompt has %d tokens, more than the model's context of %d", n_ids, info.max_positions);
        goto done;
    }
    if (info.max_positions > 0 && need > info.max_positions) need = info.max_positions;
    s = hubrt_session_new(m, (int)need);
    if (!s) {
        cli_error(CMD, "%s", hubrt_last_error());
        goto done;
    }

    if (profile && hubrt_session_set_profile(s, 1) != HUBRT_OK) {
        cli_error(CMD, "%s", hubrt_last_error());
        goto done;
    }
    out.ids_only = hubrt_vocab_size(m) <= 0; /* a directory without tokenizer files */
    if (out.ids_only) {
        if (!json && !quiet) fprintf(stderr, "run-model: no tokenizer in this directory: printing token ids\n");
    }
    if (!json && echo && out.ids_only) {
        for (int i = 0; i < n_ids; i++) printf("%s%d", i ? " " : "", (int)ids[i]);
        fflush(stdout);
    } else if (!json && echo) {
        /* the prompt as text, then the continuation */
        if (prompt) fputs(prompt, stdout);
        else {
            char buf[4096];
            int len = hubrt_detokenize(m, ids, n_ids, 1, buf, sizeof buf);
            if (len >= (int)sizeof buf) {
                char *big = malloc((size_t)len + 1);
                if (big && hubrt_detokenize(m, ids, n_ids, 1, big, (size_t)len + 1) >= 0) fputs(big, stdout);
                free(big);
            } else if (len > 0) fputs(buf, stdout);
        }
        fflush(stdout);
    }

    hubrt_generation g;
    int st = hubrt_generate_ids(s, ids, n_ids, &sp, on_token, &out, &g);
    if (st < 0 || out.oom) {
        if (!json) fputc('\n', stdout);
        cli_error(CMD, "%s", out.oom ? "out of memory" : hubrt_last_error());
        goto done;
    }
    double prefill_tok_s = g.prefill_seconds > 0 ? g.n_prompt / g.prefill_seconds : 0;
    double decode_tok_s = g.n_new > 1 && g.decode_seconds > 0 ? (g.n_new - 1) / g.decode_seconds : 0;
    if (json) {
        printf("{\"prompt_ids\": [");
        for (int i = 0; i < n_ids; i++) printf("%s%d", i ? ", " : "", (int)ids[i]);
        printf("], \"new_ids\": [");
        for (int i = 0; i < out.n_ids; i++) printf("%s%d", i ? ", " : "", (int)out.ids[i]);
        printf("], \"text\": ");
        cli_json_string(stdout, out.text ? out.text : "");
        printf(", \"stop_reason\": \"%s\", \"prefill_tok_s\": ", reason_name(g.stop_reason));
        cli_json_float(stdout, prefill_tok_s);
        printf(", \"decode_tok_s\": ");
        cli_json_float(stdout, decode_tok_s);
        printf(", \"seed\": %llu}\n", (unsigned long long)sp.seed);
    } else {
        fputc('\n', stdout);
    }
    fflush(stdout);
    if (!quiet)
        fprintf(stderr, "run-model: load %.2f s | prompt %d tokens, %.1f tok/s | generated %d tokens, %.1f tok/s | stop: %s\n",
                load_s, g.n_prompt, prefill_tok_s, g.n_new, decode_tok_s, reason_name(g.stop_reason));
    if (profile) cli_print_profile(s);
    rc = CLI_OK;
done:
    hubrt_session_free(s);
    hubrt_model_free(m);
    free(ids);
    free(out.ids);
    free(out.text);
    free(file_text);
    free(rendered);
    return rc;
}
