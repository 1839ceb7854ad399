// What every `umshim` subcommand shares: the subcommand table, one way to report usage
// errors, finding files shipped next to the executable (libumshim.so, bench_transfer),
// starting a program under the shim, and small formatting helpers. Each subcommand lives in
// its own file (run.c, profile.c, report.c, timeline.c, ab.c, bench.c, options.c).
#ifndef UMSHIM_TOOLS_CLI_H
#define UMSHIM_TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// Exit statuses of umshim itself (a program run under `umshim run` passes its own through).
enum {
    UM_EXIT_OK = 0,
    UM_EXIT_FAIL = 1,    // the work failed (bad trace, results differ between modes, no GPU)
    UM_EXIT_USAGE = 2,   // bad command line
    UM_EXIT_NOEXEC = 126,// the target exists but cannot be executed
    UM_EXIT_NOTFOUND = 127,
};

// --- subcommands ---
// One row per subcommand: X(name, one-line summary). main() dispatches through it and the
// top-level help lists it; each um_cmd_<name> is defined in <name>.c.
#define UM_CLI_COMMANDS(X)                                                                         \
    X(run, "run a program with libumshim.so preloaded")                                            \
    X(profile, "run a program in passthrough mode; write its trace, policy, report and timeline")  \
    X(report, "summarise a trace per allocation site (add --json for scripts)")                    \
    X(timeline, "convert a trace to Chrome trace-event / Perfetto JSON")                           \
    X(ab, "A/B: run a program in every mode, compare time, counters and results")                  \
    X(bench, "measure transfers on this GPU (bench transfer)")                                     \
    X(options, "list the UMSHIM_* environment options")

#define UM_CLI_DECLARE(name, summary) int um_cmd_##name(int argc, char **argv);
UM_CLI_COMMANDS(UM_CLI_DECLARE)
#undef UM_CLI_DECLARE

// argv[0] of the umshim process, for finding its siblings when /proc/self/exe is unusable.
extern const char *um_cli_argv0;

// --- messages ---
// "umshim <cmd>: error: ..." on stderr. Returns UM_EXIT_USAGE / UM_EXIT_FAIL for `return`.
int um_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int um_cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void um_cli_warn(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Turns getopt_long's '?' / ':' answer into one clear usage error (call with opterr = 0 and
// an optstring starting with "+:"). Returns UM_EXIT_USAGE.
int um_cli_bad_option(const char *cmd, int c, char **argv);

// Resets getopt so a subcommand (or a test) can parse a fresh argv.
void um_cli_getopt_reset(void);

// --- files next to the executable ---
// Looks for `name` in the folder of /proc/self/exe and of argv[0], then in `alt_dir` of each
// (e.g. "../shim" in the Bazel tree). Writes the first existing path to out; 0 or -1.
int um_cli_find_sibling(const char *name, const char *alt_dir, char *out, size_t outlen);

// libumshim.so for run/profile/ab: `explicit_path` when given (--shim), else found as above.
// Returns 0, or -1 after printing an error naming where it looked.
int um_cli_find_shim(const char *cmd, const char *explicit_path, char *out, size_t outlen);

// The common start of run/profile/ab: the program is runnable and libumshim.so is found
// (--shim or beside umshim). Returns 0, or the exit status after printing one error.
int um_cli_prepare(const char *cmd, const char *program, const char *shim_opt, char *shim,
                   size_t shimlen);

// Creates folder `path` if needed and writes its absolute path to abs (so a program that
// changes directory still writes where we read). Returns 0, or UM_EXIT_FAIL after an error.
int um_cli_make_dir(const char *cmd, const char *path, char *abs, size_t abslen);

// --- starting programs ---
// LD_PRELOAD for the child: `lib` first (it must win symbol lookup: it interposes dlsym),
// then every existing entry except `lib` itself. Returns 0, or -1 when out is too small.
int um_cli_preload_compose(const char *existing, const char *lib, char *out, size_t outlen);

// Checks that argv0 names something runnable (PATH lookup when it has no '/'). Returns 0,
// or UM_EXIT_NOTFOUND / UM_EXIT_NOEXEC with a reason in err.
int um_cli_check_command(const char *argv0, char *err, size_t errlen);

typedef struct {
    const char *shim;          // preload this library (NULL: none)
    const char *const *setenv; // "NAME=value" strings for the child, NULL-terminated (or NULL)
    const char *output;        // send the child's stdout and stderr here (NULL: inherit)
    int quiet_signals;         // 1: the parent ignores SIGINT/SIGQUIT while it waits
    double timeout_s;          // > 0: SIGKILL the child after this long (*timed_out set)
    int *timed_out;
} um_spawn_t;

// Runs argv under `sp`, waits, and returns 0 with the wait status in *wstatus and the wall
// time in *wall_s; -1 (errno) when it could not start at all.
int um_cli_spawn(char *const argv[], const um_spawn_t *sp, int *wstatus, double *wall_s);

// The child's fate as our own: exit code, or death by the same signal (re-raised, no core).
int um_cli_pass_status(int wstatus);

// --- run's command line (shared by profile and ab) ---
// UMSHIM_MODE values, in the order ab runs them.
#define UM_CLI_MODES(X) X(passthrough) X(managed) X(prefetch) X(auto)
int um_cli_valid_mode(const char *mode);
int um_cli_valid_log(const char *level);

typedef struct {
    const char *mode, *policy, *trace, *log, *shim; // NULL: not given
    char **cmd;                                      // PROGRAM ARGS..., NULL-terminated
} um_run_opts_t;

// Parses `run` options (argv[0] is "run"). Returns 0 to go on, UM_PARSE_HELP after printing
// help, or UM_EXIT_USAGE after printing one error.
enum { UM_PARSE_HELP = -1 };
int um_run_parse(int argc, char **argv, um_run_opts_t *o);

// --- formatting ---
// Byte-size flags parse as the shim's options do: um_opt_parse_bytes (shim/bytes.h).
// "4.0 KiB", "256.0 MiB" into buf; returns buf.
const char *um_cli_fmt_bytes(uint64_t bytes, char *buf, size_t len);
// Writes s as a JSON string (quoted, escaped).
void um_cli_json_string(FILE *f, const char *s);
// Writes s with HTML special characters escaped.
void um_cli_html_text(FILE *f, const char *s);
// Median of n doubles (sorts a copy; 0 when n == 0).
double um_cli_median(const double *v, size_t n);
// Sorts n doubles ascending, in place; the median of values already sorted (0 when n == 0).
void um_cli_sort(double *v, size_t n);
double um_cli_median_sorted(const double *v, size_t n);

#endif
