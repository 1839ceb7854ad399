// `umshim`: the command line. main() only dispatches to a subcommand from the table in
// cli.h; each subcommand parses its own options in its own file.
#include <stdio.h>
#include <string.h>

#include "tools/cli.h"

static void usage(FILE *f) {
    fputs("usage: umshim COMMAND [OPTIONS] [-- PROGRAM [ARGS...]]\n"
          "\n"
          "Run unmodified CUDA programs on Unified Memory, profile their data movement, and\n"
          "measure what a port to managed memory would cost or gain.\n"
          "\n"
          "commands:\n",
          f);
#define UM_CLI_HELP_ROW(name, summary) fprintf(f, "  %-10s %s\n", #name, summary);
    UM_CLI_COMMANDS(UM_CLI_HELP_ROW)
#undef UM_CLI_HELP_ROW
    fputs("\n'umshim COMMAND --help' describes a command.\n", f);
}

int main(int argc, char **argv) {
    um_cli_argv0 = argv[0];
    if (argc < 2) {
        usage(stderr);
        return um_cli_usage_error(NULL, "missing command");
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return UM_EXIT_OK;
    }
    // Subcommands see argv starting at their own name, like a program of their own.
#define UM_CLI_DISPATCH(name, summary)                                                             \
    if (strcmp(cmd, #name) == 0)                                                                   \
        return um_cmd_##name(argc - 1, argv + 1);
    UM_CLI_COMMANDS(UM_CLI_DISPATCH)
#undef UM_CLI_DISPATCH
    if (cmd[0] == '-')
        return um_cli_usage_error(NULL, "unknown option '%s' (options go after the command)", cmd);
    return um_cli_usage_error(NULL, "unknown command '%s'", cmd);
}
