/*
 * tools/run-model.c — the command-line front end: dispatches to
 * tools/cli_<command>.c. `generate` is the default command.
 */
#include <stdio.h>
#include <string.h>

#include "tools/cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *what;
} commands[] = {
    {"generate", cli_generate, "generate text from a prompt (the default command)"},
    {"embed", cli_embed, "sentence embeddings as JSON"},
    {"fill-mask", cli_fill_mask, "top-k predictions for each mask token"},
    {"tokenize", cli_tokenize, "text to ids"},
    {"detokenize", cli_detokenize, "ids to text"},
    {"logits", cli_logits, "write logits / hidden states to a safetensors file"},
    {"info", cli_info, "what a model directory holds"},
    {"bench", cli_bench, "prefill and decode speed"},
    {"chat", cli_chat, "a conversation through the model's chat template"},
    {"template", cli_template, "render a conversation through a chat template"},
    {"serve", cli_serve, "an OpenAI-compatible HTTP server (continuous batching)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: run-model [command] -m DIR [options]   (hubrt %s)\n\ncommands:\n", HUBRT_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].what);
    fprintf(f, "\n'run-model COMMAND --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("hubrt %s\n", HUBRT_VERSION);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    if (argv[1][0] == '-') return cli_generate(argc, argv); /* options only: generate */
    fprintf(stderr, "run-model: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_USAGE;
}
