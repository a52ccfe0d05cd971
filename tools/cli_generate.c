/* tools/cli_generate.c — placeholder until the command lands. */
#include "tools/cli.h"

int cli_generate(int argc, char **argv)
{
    (void)argc; (void)argv;
    return cli_error("generate", "not implemented yet");
}
