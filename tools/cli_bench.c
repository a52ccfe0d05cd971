/* tools/cli_bench.c — placeholder until the command lands. */
#include "tools/cli.h"

int cli_bench(int argc, char **argv)
{
    (void)argc; (void)argv;
    return cli_error("bench", "not implemented yet");
}
