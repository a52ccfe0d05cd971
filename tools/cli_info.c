/* tools/cli_info.c — placeholder until the command lands. */
#include "tools/cli.h"

int cli_info(int argc, char **argv)
{
    (void)argc; (void)argv;
    return cli_error("info", "not implemented yet");
}
