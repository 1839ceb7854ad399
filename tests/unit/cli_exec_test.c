// The `umshim` executable end to end: --help for every subcommand, exit status and signal
// passthrough of `run` (with the real libumshim.so found beside umshim), LD_PRELOAD
// composition and profile/ab plumbing (with a fake shim, tests/unit/cli_fake_shim.c), and
// one clear error for each kind of user mistake.
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/check_main.h"

#define UMSHIM "tools/umshim"
#define FAKE_SHIM "tests/unit/libcli_fake_shim.so"

// `run` uses the real libumshim.so found beside umshim, except under AddressSanitizer: an
// ASan-built preload library cannot run inside an uninstrumented /bin/sh (its runtime must
// be loaded first), so there the fake stands in and only umshim's own plumbing is tested.
#if defined(__SANITIZE_ADDRESS__)
#define RUN_SHIM "--shim", FAKE_SHIM,
#else
#define RUN_SHIM
#endif

typedef struct {
    int status;
    char out[65536];
    char err[16384];
} result_t;

static result_t res;
static char tmp[PATH_MAX];

static void read_file(const char *path, char *buf, size_t len) {
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
}

// Runs umshim with argv (NULL-terminated, without "umshim") and extra "NAME=value" env.
static void umshim(const char *const *env, const char *const *args) {
    char out_path[PATH_MAX + 16], err_path[PATH_MAX + 16];
    snprintf(out_path, sizeof out_path, "%s/out", tmp);
    snprintf(err_path, sizeof err_path, "%s/err", tmp);
    const char *argv[64] = {UMSHIM};
    int n = 1;
    while (args[n - 1] && n < 63) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        // Under --config=asan, umshim and libumshim.so carry ASan: a preloaded ASan library
        // in an uninstrumented /bin/sh (or an LD_PRELOAD ahead of umshim's own runtime) must
        // not abort the run. Leak checking of umshim is the in-process suites' job.
        setenv("ASAN_OPTIONS", "verify_asan_link_order=0:detect_leaks=0", 1);
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int er = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, 1);
        dup2(er, 2);
        execv(UMSHIM, (char *const *)argv);
        _exit(99);
    }
    ck_assert_int_eq(waitpid(pid, &res.status, 0), pid);
    read_file(out_path, res.out, sizeof res.out);
    read_file(err_path, res.err, sizeof res.err);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static int exited(int code) {
    return WIFEXITED(res.status) && WEXITSTATUS(res.status) == code;
}

#define ck_exit(code)                                                                              \
    ck_assert_msg(exited(code), "expected exit %d, got status 0x%x; stderr: %s", code, res.status, res.err)
#define ck_err_has(s) ck_assert_msg(strstr(res.err, s) != NULL, "stderr lacks '%s': %s", s, res.err)
#define ck_out_has(s) ck_assert_msg(strstr(res.out, s) != NULL, "stdout lacks '%s': %s", s, res.out)

static void setup(void) {
    const char *base = getenv("TEST_TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/cli_exec.XXXXXX", base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static size_t count(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

// --- core ---
START_TEST(test_exec_help_every_subcommand) {
    static const char *const cmds[] = {"run", "profile", "report", "timeline", "ab", "bench", "options"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        umshim(NULL, ARGS(cmds[i], "--help"));
        ck_exit(0);
        char want[64];
        snprintf(want, sizeof want, "usage: umshim %s", cmds[i]);
        ck_out_has(want);
    }
    umshim(NULL, ARGS("--help"));
    ck_exit(0);
    ck_out_has("profile");
    ck_out_has("timeline");
}
END_TEST

START_TEST(test_exec_run_passes_exit_code) {
    umshim(NULL, ARGS("run", RUN_SHIM "--", "/bin/sh", "-c", "exit 3"));
    ck_exit(3);
    umshim(NULL, ARGS("run", RUN_SHIM "--mode", "passthrough", "--", "/bin/sh", "-c", "exit 0"));
    ck_exit(0);
}
END_TEST

START_TEST(test_exec_run_passes_signal_death) {
    umshim(NULL, ARGS("run", RUN_SHIM "--", "/bin/sh", "-c", "kill -TERM $$"));
    ck_assert_msg(WIFSIGNALED(res.status) && WTERMSIG(res.status) == SIGTERM,
                  "expected death by SIGTERM, status 0x%x", res.status);
}
END_TEST

START_TEST(test_exec_run_composes_preload_and_env) {
    char fake[PATH_MAX];
    ck_assert_ptr_nonnull(realpath(FAKE_SHIM, fake));
    umshim(ARGS("LD_PRELOAD=libm.so.6"),
           ARGS("run", "--shim", FAKE_SHIM, "--mode", "managed", "--trace", "t.umt", "--", "/bin/sh",
                "-c", "echo \"[$LD_PRELOAD|$UMSHIM_MODE|$UMSHIM_TRACE]\""));
    ck_exit(0);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "[%s:libm.so.6|managed|t.umt]", fake);
    ck_out_has(want);
}
END_TEST

START_TEST(test_exec_profile_writes_outputs) {
    char out_dir[PATH_MAX + 16], canned[PATH_MAX], env_trace[PATH_MAX + 32], path[PATH_MAX + 32];
    snprintf(out_dir, sizeof out_dir, "%s/prof", tmp);
    ck_assert_ptr_nonnull(realpath("tools/testdata/legacy_recall.umt", canned));
    snprintf(env_trace, sizeof env_trace, "CLI_FAKE_TRACE=%s", canned);
    umshim(ARGS(env_trace), ARGS("profile", "--shim", FAKE_SHIM, "--out", out_dir, "--", "/bin/sh",
                                 "-c", "exit 5"));
    ck_exit(5); // the program's status, after the files are written
    ck_out_has("recall+0x1a40");
    static const char *const files[] = {"trace.umt", "policy.ump", "report.txt", "report.json",
                                        "timeline.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", out_dir, files[i]);
        ck_assert_msg(access(path, R_OK) == 0, "%s missing", path);
    }
}
END_TEST

START_TEST(test_exec_ab_identical_results) {
    char html[PATH_MAX + 16], work[PATH_MAX + 16], page[65536];
    snprintf(html, sizeof html, "%s/ab.html", tmp);
    snprintf(work, sizeof work, "%s/abwork", tmp);
    umshim(ARGS("CLI_FAKE_HASH=00000000deadbeef"),
           ARGS("ab", "--runs", "2", "--shim", FAKE_SHIM, "--html", html, "--out", work, "--", "/bin/true"));
    ck_exit(0);
    ck_out_has("passthrough");
    ck_out_has("vs passthrough");
    // The spread of the timed runs, one range per mode (/bin/true: milliseconds).
    const char *spread = strstr(res.out, "  fastest-slowest run");
    ck_assert_ptr_nonnull(spread);
    const char *eol = strchr(spread, '\n');
    ck_assert_ptr_nonnull(eol);
    size_t ranges = 0;
    for (const char *p = spread; (p = strstr(p, " ms")) != NULL && p < eol; p++)
        ranges++;
    ck_assert_uint_eq(ranges, 4);
    // Two rounds are too few for a 95% interval: each mode's paired median, marked so.
    const char *paired = strstr(res.out, "  paired, 95% interval");
    ck_assert_ptr_nonnull(paired);
    eol = strchr(paired, '\n');
    ck_assert_ptr_nonnull(eol);
    size_t marked = 0;
    for (const char *p = paired; (p = strstr(p, "x (<6)")) != NULL && p < eol; p++)
        marked++;
    ck_assert_uint_eq(marked, 3);
    ck_out_has("identical in all runs (d2h_hash 00000000deadbeef)");
    ck_out_has("not available"); // the fake shim's CUPTI counters say "na"
    ck_err_has("[12/12]");       // progress: 4 instrumented runs, then 2 timed rounds
    ck_err_has("counters+hash");
    read_file(html, page, sizeof page);
    ck_assert_uint_eq(count(page, "<svg"), 1); // wall time; CUPTI charts say not available
    ck_assert_ptr_nonnull(strstr(page, "not available"));
    ck_assert_ptr_nonnull(strstr(page, "paired by round: 95% interval"));
    ck_assert_ptr_nonnull(strstr(page, "</html>"));
}
END_TEST

// The real shim on a known program (tests/unit/cli_legacy_program.c) over the driver test
// double: the profile's report must list its three sites with exact byte counts. Not in ASan
// builds (see cli_exec_suite).
#if !defined(__SANITIZE_ADDRESS__)
static void double_env(char *buf, size_t len) {
    char lib[PATH_MAX];
    ck_assert_ptr_nonnull(realpath("tests/double", lib));
    snprintf(buf, len, "LD_LIBRARY_PATH=%s", lib);
}

START_TEST(test_exec_profile_real_shim_known_program) {
    char env_lib[PATH_MAX + 32], out_dir[PATH_MAX + 16], path[PATH_MAX + 32];
    static char json[65536];
    double_env(env_lib, sizeof env_lib);
    snprintf(out_dir, sizeof out_dir, "%s/real", tmp);
    umshim(ARGS(env_lib), ARGS("profile", "--out", out_dir, "--", "tests/unit/cli_legacy_program"));
    ck_exit(0);
    ck_out_has("saxpy");
    snprintf(path, sizeof path, "%s/report.json", out_dir);
    read_file(path, json, sizeof json);
    ck_assert_uint_eq(count(json, "{\"site\":"), 3);
    // x: two uploads of 4 MiB, the second redundant; three launches
    ck_assert_ptr_nonnull(strstr(json, "\"h2d\":{\"copies\":2,\"bytes\":8388608}"));
    ck_assert_ptr_nonnull(strstr(json, "\"h2d_redundant\":{\"copies\":1,\"bytes\":4194304}"));
    // y: four read-backs of 4 MiB, the last one of unchanged data
    ck_assert_ptr_nonnull(strstr(json, "\"d2h\":{\"copies\":4,\"bytes\":16777216}"));
    ck_assert_ptr_nonnull(strstr(json, "\"d2h_redundant\":{\"copies\":1,\"bytes\":4194304}"));
    ck_assert_uint_eq(count(json, "\"launches\":3,"), 1 + 2 + 1); // total, x, y, the kernel
    // scratch: 4 KiB uploaded, no kernel, never freed
    ck_assert_ptr_nonnull(strstr(json, "\"h2d\":{\"copies\":1,\"bytes\":4096}"));
    ck_assert_ptr_nonnull(strstr(json, "\"copied_no_kernel\":1,\"leaks\":1,\"leak_bytes\":4096"));
    ck_assert_ptr_nonnull(strstr(json, "\"peak_device_bytes\":8392704"));
}
END_TEST

START_TEST(test_exec_ab_real_shim_known_program) {
    char env_lib[PATH_MAX + 32], html[PATH_MAX + 16], work[PATH_MAX + 16];
    double_env(env_lib, sizeof env_lib);
    snprintf(html, sizeof html, "%s/real.html", tmp);
    snprintf(work, sizeof work, "%s/realwork", tmp);
    umshim(ARGS(env_lib), ARGS("ab", "--runs", "1", "--html", html, "--out", work, "--",
                               "tests/unit/cli_legacy_program"));
    ck_exit(0);
    // every mode computed the same y, by the shim's own d2h hash
    ck_out_has("identical in all runs (d2h_hash ");
}
END_TEST
#endif

START_TEST(test_exec_report_and_timeline) {
    umshim(NULL, ARGS("report", "tools/testdata/legacy_recall.umt"));
    ck_exit(0);
    ck_out_has("recall+0x1a80");
    umshim(NULL, ARGS("report", "tools/testdata/legacy_recall.umt", "--json"));
    ck_exit(0);
    ck_out_has("\"peak_device_bytes\":74840576");
    char out[PATH_MAX + 16];
    snprintf(out, sizeof out, "%s/t.json", tmp);
    umshim(NULL, ARGS("timeline", "tools/testdata/legacy_recall.umt", "-o", out));
    ck_exit(0);
    ck_assert_int_eq(access(out, R_OK), 0);
}
END_TEST

START_TEST(test_exec_options_table) {
    umshim(ARGS("UMSHIM_MODE=prefetch"), ARGS("options"));
    ck_exit(0);
    ck_out_has("UMSHIM_MODE");
    ck_out_has("UMSHIM_STATS");
    ck_out_has("UMSHIM_CUPTI");
    ck_out_has("set here: prefetch");
}
END_TEST

// --- limits ---
// One `umshim ab` run of /bin/true over the fake shim with CLI_FAKE_CUPTI=<cupti>; its HTML
// page into `page`.
static void ab_cupti_page(const char *cupti, char *page, size_t n) {
    char html[PATH_MAX + 16], work[PATH_MAX + 16], env[32];
    snprintf(html, sizeof html, "%s/cupti%s.html", tmp, cupti);
    snprintf(work, sizeof work, "%s/cuptiwork%s", tmp, cupti);
    snprintf(env, sizeof env, "CLI_FAKE_CUPTI=%s", cupti);
    umshim(ARGS(env), ARGS("ab", "--runs", "1", "--shim", FAKE_SHIM, "--html", html, "--out", work,
                           "--", "/bin/true"));
    ck_exit(0);
    read_file(html, page, n);
}

START_TEST(test_exec_ab_cupti_charts) {
    char page[65536];
    ab_cupti_page("1", page, sizeof page);
    ck_out_has("1200"); // managed mode's page-fault groups in the table
    ck_assert_uint_eq(count(page, "<svg"), 3); // wall time, page faults, migrated bytes
    ck_assert_ptr_nonnull(strstr(page, "GPU page-fault groups"));
}
END_TEST

START_TEST(test_exec_ab_cupti_all_zero) {
    char page[65536];
    ab_cupti_page("0", page, sizeof page);
    ck_assert_uint_eq(count(page, "<svg"), 1); // wall time only: no empty 0..1 charts
    ck_assert_ptr_nonnull(strstr(page, "GPU page-fault groups (CUPTI), median: 0 in every mode."));
    ck_assert_ptr_null(strstr(page, "not available"));
}
END_TEST

START_TEST(test_exec_ab_single_mode) {
    char html[PATH_MAX + 16];
    snprintf(html, sizeof html, "%s/one.html", tmp);
    char work[PATH_MAX + 16];
    snprintf(work, sizeof work, "%s/onework", tmp);
    umshim(NULL, ARGS("ab", "--runs", "1", "--modes", "auto", "--shim", FAKE_SHIM, "--html", html,
                      "--out", work, "--", "/bin/true"));
    ck_exit(0);
    ck_out_has("not checked"); // no hash collected (the fake writes 0)
}
END_TEST

// --- errors ---
START_TEST(test_exec_unknown_option_and_command) {
    umshim(NULL, ARGS("run", "--bogus", "--", "/bin/true"));
    ck_exit(2);
    ck_err_has("unknown option '--bogus'");
    umshim(NULL, ARGS("frobnicate"));
    ck_exit(2);
    ck_err_has("unknown command 'frobnicate'");
    umshim(NULL, ARGS("report", "--bogus", "x"));
    ck_exit(2);
    ck_err_has("unknown option '--bogus'");
    umshim(NULL, ARGS("bench", "warp"));
    ck_exit(2);
    ck_err_has("unknown benchmark 'warp'");
}
END_TEST

START_TEST(test_exec_missing_command) {
    umshim(NULL, ARGS("run"));
    ck_exit(2);
    ck_err_has("missing command");
    umshim(NULL, ARGS("ab", "--runs", "2", "--"));
    ck_exit(2);
    ck_err_has("missing command");
    umshim(NULL, ARGS("timeline", "tools/testdata/legacy_recall.umt"));
    ck_exit(2);
    ck_err_has("missing -o");
}
END_TEST

START_TEST(test_exec_target_not_runnable) {
    umshim(NULL, ARGS("run", "--", "tools/testdata/not_a_trace.txt"));
    ck_exit(126);
    ck_err_has("not executable");
    umshim(NULL, ARGS("run", "--", "no-such-program-umshim"));
    ck_exit(127);
    ck_err_has("not found");
}
END_TEST

START_TEST(test_exec_not_a_trace) {
    umshim(NULL, ARGS("report", "tools/testdata/not_a_trace.txt"));
    ck_exit(1);
    ck_err_has("not a umshim trace");
    ck_assert_str_eq(res.out, "");
}
END_TEST

START_TEST(test_exec_ab_timeout_kills_hung_run) {
    char html[PATH_MAX + 16], work[PATH_MAX + 16];
    snprintf(html, sizeof html, "%s/slow.html", tmp);
    snprintf(work, sizeof work, "%s/slowwork", tmp);
    umshim(NULL, ARGS("ab", "--runs", "1", "--modes", "auto", "--timeout", "0.3", "--shim", FAKE_SHIM,
                      "--html", html, "--out", work, "--", "/bin/sleep", "30"));
    ck_exit(1);
    ck_err_has("TIMED OUT");
    umshim(NULL, ARGS("ab", "--timeout", "-1", "--", "/bin/true"));
    ck_exit(2);
}
END_TEST

// A program that fails in every mode (here: always) stops after the first round with one
// error, instead of timing N rounds of failures into a table.
START_TEST(test_exec_ab_program_fails_everywhere) {
    char html[PATH_MAX + 16], work[PATH_MAX + 16];
    snprintf(html, sizeof html, "%s/fail.html", tmp);
    snprintf(work, sizeof work, "%s/failwork", tmp);
    umshim(NULL, ARGS("ab", "--runs", "3", "--shim", FAKE_SHIM, "--html", html, "--out", work, "--",
                      "/bin/false"));
    ck_exit(1);
    ck_err_has("'/bin/false' failed in every mode: nothing to compare");
    ck_err_has("[4/16]");
    ck_assert_ptr_null(strstr(res.err, "[5/16]"));
    ck_assert_ptr_null(strstr(res.out, "vs passthrough"));
    ck_assert_int_ne(access(html, F_OK), 0);
}
END_TEST

START_TEST(test_exec_ab_mismatch_is_loud) {
    char html[PATH_MAX + 16];
    char work[PATH_MAX + 16];
    snprintf(html, sizeof html, "%s/bad.html", tmp);
    snprintf(work, sizeof work, "%s/badwork", tmp);
    umshim(ARGS("CLI_FAKE_HASH=1111111111111111", "CLI_FAKE_HASH_MANAGED=2222222222222222"),
           ARGS("ab", "--runs", "1", "--shim", FAKE_SHIM, "--html", html, "--out", work, "--", "/bin/true"));
    ck_exit(1);
    ck_err_has("RESULTS DIFFER");
    ck_err_has("2222222222222222");
    ck_out_has("MISMATCH");
}
END_TEST

START_TEST(test_exec_bench_without_gpu) {
    umshim(NULL, ARGS("bench", "transfer", "--sizes", "4K", "--reps", "3"));
    if (exited(0)) { // a machine with a GPU: the table is there
        ck_out_has("4.0 KiB");
        return;
    }
    ck_exit(1);
    ck_err_has("no GPU");
}
END_TEST

Suite *cli_exec_suite(void) {
    Suite *s = suite_create("cli_exec");
    TCase *core = tcase_create("core");
    tcase_add_checked_fixture(core, setup, NULL);
    tcase_set_timeout(core, 60);
    tcase_add_test(core, test_exec_help_every_subcommand);
    tcase_add_test(core, test_exec_run_passes_exit_code);
    tcase_add_test(core, test_exec_run_passes_signal_death);
    tcase_add_test(core, test_exec_run_composes_preload_and_env);
    tcase_add_test(core, test_exec_profile_writes_outputs);
    tcase_add_test(core, test_exec_ab_identical_results);
    tcase_add_test(core, test_exec_report_and_timeline);
#if defined(__SANITIZE_ADDRESS__)
    // An ASan-built libumshim.so crashes at the start of any program it is preloaded into
    // (ASan's own start-up goes through the shim's dlsym), so the real-shim tests are not
    // built into this binary: not run, and not counted.
    fputs("cli_exec: ASan build: the 2 real-shim tests are not part of this run\n", stderr);
#else
    tcase_add_test(core, test_exec_profile_real_shim_known_program);
    tcase_add_test(core, test_exec_ab_real_shim_known_program);
#endif
    tcase_add_test(core, test_exec_options_table);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_checked_fixture(limits, setup, NULL);
    tcase_add_test(limits, test_exec_ab_single_mode);
    tcase_add_test(limits, test_exec_ab_cupti_charts);
    tcase_add_test(limits, test_exec_ab_cupti_all_zero);
    suite_add_tcase(s, limits);
    TCase *errors = tcase_create("errors");
    tcase_add_checked_fixture(errors, setup, NULL);
    tcase_set_timeout(errors, 60);
    tcase_add_test(errors, test_exec_unknown_option_and_command);
    tcase_add_test(errors, test_exec_missing_command);
    tcase_add_test(errors, test_exec_target_not_runnable);
    tcase_add_test(errors, test_exec_not_a_trace);
    tcase_add_test(errors, test_exec_ab_mismatch_is_loud);
    tcase_add_test(errors, test_exec_ab_program_fails_everywhere);
    tcase_add_test(errors, test_exec_ab_timeout_kills_hung_run);
    tcase_add_test(errors, test_exec_bench_without_gpu);
    suite_add_tcase(s, errors);
    return s;
}

UM_CHECK_MAIN(cli_exec_suite)
