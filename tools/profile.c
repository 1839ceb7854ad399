// `umshim profile -- app`: the "what does this legacy program move?" run. The program runs
// in passthrough mode (behaviour unchanged), the shim writes its trace and the policy it
// learned, and we turn the trace into a report (text and JSON) and a Perfetto timeline, all
// in one folder. The program's exit status is passed back once the files are written.
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tools/cli.h"
#include "tools/model.h"

static const char profile_help[] =
    "usage: umshim profile [OPTIONS] -- PROGRAM [ARGS...]\n"
    "\n"
    "Runs PROGRAM under the shim in passthrough mode (nothing is rewritten) and writes to\n"
    "the output folder:\n"
    "  trace.umt       every allocation, copy and launch (UMSHIM_TRACE)\n"
    "  policy.ump      the per-site policy learned from the run (UMSHIM_POLICY_OUT);\n"
    "                  replay it with 'umshim run --policy DIR/policy.ump -- PROGRAM'\n"
    "  report.txt      the per-site report, also printed at the end ('umshim report')\n"
    "  report.json     the same for scripts\n"
    "  timeline.json   Chrome trace-event / Perfetto timeline ('umshim timeline')\n"
    "Exits with PROGRAM's status.\n"
    "\n"
    "options:\n"
    "  --out DIR      output folder (default ./umshim-profile; created if missing)\n"
    "  --log L        error | warning | info | debug (UMSHIM_LOG)\n"
    "  --shim PATH    use this libumshim.so instead of the one beside umshim\n"
    "  -h, --help     this text\n";

static int write_report(const um_model_t *m, const char *trace, const char *path, int json) {
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    um_report_print(f, m, trace, json);
    return fclose(f);
}

int um_cmd_profile(int argc, char **argv) {
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"log", required_argument, NULL, 'l'},
        {"shim", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = "umshim-profile", *log = NULL, *shim_opt = NULL;
    um_cli_getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'l': log = optarg; break;
        case 's': shim_opt = optarg; break;
        case 'h': fputs(profile_help, stdout); return UM_EXIT_OK;
        default: return um_cli_bad_option("profile", c, argv);
        }
    }
    if (log && !um_cli_valid_log(log))
        return um_cli_usage_error("profile", "--log %s: expected error, warning, info or debug", log);
    if (optind >= argc)
        return um_cli_usage_error("profile", "missing command: umshim profile [OPTIONS] -- PROGRAM [ARGS...]");
    char **cmd = argv + optind;
    char shim[PATH_MAX], dir[PATH_MAX], err[PATH_MAX + 64];
    int rc = um_cli_prepare("profile", cmd[0], shim_opt, shim, sizeof shim);
    if (rc != 0)
        return rc;
    if (um_cli_make_dir("profile", out, dir, sizeof dir) != 0)
        return UM_EXIT_FAIL;

    char trace[PATH_MAX + 32], policy[PATH_MAX + 32], path[PATH_MAX + 32];
    snprintf(trace, sizeof trace, "%s/trace.umt", dir);
    snprintf(policy, sizeof policy, "%s/policy.ump", dir);
    remove(trace); // a stale trace from an earlier run must not pass for this one
    char env[4][PATH_MAX + 64];
    snprintf(env[0], sizeof env[0], "UMSHIM_MODE=passthrough");
    snprintf(env[1], sizeof env[1], "UMSHIM_TRACE=%s", trace);
    snprintf(env[2], sizeof env[2], "UMSHIM_POLICY_OUT=%s", policy);
    snprintf(env[3], sizeof env[3], "UMSHIM_LOG=%s", log ? log : "warning");
    const char *envp[] = {env[0], env[1], env[2], log ? env[3] : NULL, NULL};
    um_spawn_t sp = {.shim = shim, .setenv = envp, .quiet_signals = 1};
    int status;
    if (um_cli_spawn(cmd, &sp, &status, NULL) != 0)
        return um_cli_error("profile", "cannot start '%s'", cmd[0]);

    um_model_t m;
    um_pol_config_t cfg = um_report_policy_config();
    if (um_model_load(trace, &cfg, &m, err, sizeof err) != 0) {
        um_cli_error("profile", "no usable trace: %s", err);
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? UM_EXIT_FAIL : um_cli_pass_status(status);
    }
    um_report_print(stdout, &m, trace, 0);
    snprintf(path, sizeof path, "%s/report.txt", dir);
    int bad = write_report(&m, trace, path, 0) != 0;
    snprintf(path, sizeof path, "%s/report.json", dir);
    bad |= write_report(&m, trace, path, 1) != 0;
    um_model_free(&m);
    if (bad)
        um_cli_warn("profile", "could not write the report files in %s", dir);
    snprintf(path, sizeof path, "%s/timeline.json", dir);
    if (um_timeline_write(trace, path, err, sizeof err) != 0)
        um_cli_warn("profile", "timeline: %s", err);
    struct stat st;
    fprintf(stderr, "umshim profile: wrote %s/{trace.umt,%sreport.txt,report.json,timeline.json}\n", dir,
            stat(policy, &st) == 0 ? "policy.ump," : "");
    if (stat(policy, &st) != 0)
        um_cli_warn("profile", "the shim wrote no policy file (%s)", policy);
    return um_cli_pass_status(status);
}
