/* tools/cli_logits.c — placeholder until the command lands. */
#include "tools/cli.h"

int cli_logits(int argc, char **argv)
{
    (void)argc; (void)argv;
    return cli_error("logits", "not implemented yet");
}
