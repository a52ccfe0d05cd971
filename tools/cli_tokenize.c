/* tools/cli_tokenize.c — placeholder until the command lands. */
#include "tools/cli.h"

int cli_tokenize(int argc, char **argv)
{
    (void)argc; (void)argv;
    return cli_error("tokenize", "not implemented yet");
}

int cli_detokenize(int argc, char **argv)
{
    (void)argc; (void)argv;
    return cli_error("detokenize", "not implemented yet");
}
