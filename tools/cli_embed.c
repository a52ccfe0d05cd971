/* tools/cli_embed.c — placeholder until the command lands. */
#include "tools/cli.h"

int cli_embed(int argc, char **argv)
{
    (void)argc; (void)argv;
    return cli_error("embed", "not implemented yet");
}

int cli_fill_mask(int argc, char **argv)
{
    (void)argc; (void)argv;
    return cli_error("fill-mask", "not implemented yet");
}
