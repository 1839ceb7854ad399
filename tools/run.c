// `umshim run`: start a program with libumshim.so preloaded (found beside umshim, so there
// is no install step), the chosen UMSHIM_* options set, and its exit status (or the signal
// that killed it) passed straight back, so `umshim run -- app` can stand in for `app`.
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "tools/cli.h"

static const char run_help[] =
    "usage: umshim run [OPTIONS] -- PROGRAM [ARGS...]\n"
    "\n"
    "Runs PROGRAM with libumshim.so preloaded (existing LD_PRELOAD entries are kept) and\n"
    "exits with PROGRAM's exit status, or dies of the same signal.\n"
    "\n"
    "options:\n"
    "  --mode M       passthrough | managed | prefetch | auto (UMSHIM_MODE; default auto)\n"
    "  --policy F     read per-site decisions from policy file F (UMSHIM_POLICY)\n"
    "  --trace F      write a trace of every allocation, copy and launch to F (UMSHIM_TRACE)\n"
    "  --log L        error | warning | info | debug (UMSHIM_LOG)\n"
    "  --shim PATH    use this libumshim.so instead of the one beside umshim\n"
    "  -h, --help     this text\n"
    "\n"
    "Every other UMSHIM_* variable in the environment reaches the program unchanged\n"
    "('umshim options' lists them).\n";

int um_cli_valid_mode(const char *mode) {
#define UM_MODE_IS(m) if (strcmp(mode, #m) == 0) return 1;
    UM_CLI_MODES(UM_MODE_IS)
#undef UM_MODE_IS
    return 0;
}

int um_cli_valid_log(const char *level) {
    static const char *const levels[] = {"error", "warning", "info", "debug"};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (strcmp(level, levels[i]) == 0)
            return 1;
    return 0;
}

int um_run_parse(int argc, char **argv, um_run_opts_t *o) {
    static const struct option longopts[] = {
        {"mode", required_argument, NULL, 'm'},  {"policy", required_argument, NULL, 'p'},
        {"trace", required_argument, NULL, 't'}, {"log", required_argument, NULL, 'l'},
        {"shim", required_argument, NULL, 's'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    um_cli_getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o->mode = optarg; break;
        case 'p': o->policy = optarg; break;
        case 't': o->trace = optarg; break;
        case 'l': o->log = optarg; break;
        case 's': o->shim = optarg; break;
        case 'h': fputs(run_help, stdout); return UM_PARSE_HELP;
        default: return um_cli_bad_option("run", c, argv);
        }
    }
    if (o->mode && !um_cli_valid_mode(o->mode))
        return um_cli_usage_error("run", "--mode %s: expected passthrough, managed, prefetch or auto",
                                  o->mode);
    if (o->log && !um_cli_valid_log(o->log))
        return um_cli_usage_error("run", "--log %s: expected error, warning, info or debug", o->log);
    if (optind >= argc)
        return um_cli_usage_error("run", "missing command: umshim run [OPTIONS] -- PROGRAM [ARGS...]");
    o->cmd = argv + optind;
    return 0;
}

int um_cmd_run(int argc, char **argv) {
    um_run_opts_t o;
    int rc = um_run_parse(argc, argv, &o);
    if (rc != 0)
        return rc == UM_PARSE_HELP ? UM_EXIT_OK : rc;
    char shim[PATH_MAX];
    if ((rc = um_cli_prepare("run", o.cmd[0], o.shim, shim, sizeof shim)) != 0)
        return rc;

    char env[4][PATH_MAX + 32];
    const char *envp[5];
    int n = 0;
#define UM_RUN_ENV(field, var)                                                                     \
    if (o.field) {                                                                                 \
        snprintf(env[n], sizeof env[n], "%s=%s", var, o.field);                                    \
        envp[n] = env[n];                                                                          \
        n++;                                                                                       \
    }
    UM_RUN_ENV(mode, "UMSHIM_MODE")
    UM_RUN_ENV(policy, "UMSHIM_POLICY")
    UM_RUN_ENV(trace, "UMSHIM_TRACE")
    UM_RUN_ENV(log, "UMSHIM_LOG")
#undef UM_RUN_ENV
    envp[n] = NULL;

    um_spawn_t sp = {.shim = shim, .setenv = envp, .quiet_signals = 1};
    int status;
    if (um_cli_spawn(o.cmd, &sp, &status, NULL) != 0)
        return um_cli_error("run", "cannot start '%s'", o.cmd[0]);
    return um_cli_pass_status(status);
}
