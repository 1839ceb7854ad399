// The command line's shared pieces: `run` option parsing, LD_PRELOAD composition, the
// runnable-target check, byte sizes and medians (tools/cli.h).
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/check_main.h"
#include "tools/cli.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

// --- core ---
START_TEST(test_run_parse_options) {
    char *argv[] = {"run", "--mode", "managed", "--trace", "t.umt", "--log", "debug",
                    "--policy", "p.ump", "--", "/bin/echo", "hi", NULL};
    um_run_opts_t o;
    ck_assert_int_eq(um_run_parse(ARGC(argv), argv, &o), 0);
    ck_assert_str_eq(o.mode, "managed");
    ck_assert_str_eq(o.trace, "t.umt");
    ck_assert_str_eq(o.log, "debug");
    ck_assert_str_eq(o.policy, "p.ump");
    ck_assert_ptr_null(o.shim);
    ck_assert_str_eq(o.cmd[0], "/bin/echo");
    ck_assert_str_eq(o.cmd[1], "hi");
    ck_assert_ptr_null(o.cmd[2]);
}
END_TEST

START_TEST(test_run_parse_program_options_stay_with_program) {
    // Without "--", parsing stops at the program: its own options are not ours.
    char *argv[] = {"run", "--mode=prefetch", "/bin/echo", "--mode", "bogus", NULL};
    um_run_opts_t o;
    ck_assert_int_eq(um_run_parse(ARGC(argv), argv, &o), 0);
    ck_assert_str_eq(o.mode, "prefetch");
    ck_assert_str_eq(o.cmd[0], "/bin/echo");
    ck_assert_str_eq(o.cmd[1], "--mode");
    ck_assert_str_eq(o.cmd[2], "bogus");
}
END_TEST

START_TEST(test_run_parse_twice) {
    // getopt state is global: a second parse must start afresh.
    char *a1[] = {"run", "--mode", "auto", "--", "/bin/true", NULL};
    char *a2[] = {"run", "--", "/bin/false", NULL};
    um_run_opts_t o;
    ck_assert_int_eq(um_run_parse(ARGC(a1), a1, &o), 0);
    ck_assert_int_eq(um_run_parse(ARGC(a2), a2, &o), 0);
    ck_assert_ptr_null(o.mode);
    ck_assert_str_eq(o.cmd[0], "/bin/false");
}
END_TEST

START_TEST(test_preload_compose_keeps_existing) {
    char out[256];
    ck_assert_int_eq(um_cli_preload_compose(NULL, "/x/libumshim.so", out, sizeof out), 0);
    ck_assert_str_eq(out, "/x/libumshim.so");
    ck_assert_int_eq(um_cli_preload_compose("", "/x/libumshim.so", out, sizeof out), 0);
    ck_assert_str_eq(out, "/x/libumshim.so");
    ck_assert_int_eq(um_cli_preload_compose("liba.so libb.so", "/x/libumshim.so", out, sizeof out), 0);
    ck_assert_str_eq(out, "/x/libumshim.so:liba.so:libb.so");
    ck_assert_int_eq(um_cli_preload_compose("liba.so::libb.so ", "/x/libumshim.so", out, sizeof out), 0);
    ck_assert_str_eq(out, "/x/libumshim.so:liba.so:libb.so");
}
END_TEST

START_TEST(test_preload_compose_no_duplicate) {
    char out[256];
    ck_assert_int_eq(um_cli_preload_compose("liba.so:/x/libumshim.so", "/x/libumshim.so", out, sizeof out), 0);
    ck_assert_str_eq(out, "/x/libumshim.so:liba.so");
}
END_TEST

START_TEST(test_median_odd_even) {
    double odd[] = {3, 1, 2}, even[] = {4, 1, 3, 2};
    ck_assert_double_eq(um_cli_median(odd, 3), 2.0);
    ck_assert_double_eq(um_cli_median(even, 4), 2.5);
    ck_assert_double_eq(odd[0], 3.0); // the input is not reordered
}
END_TEST

START_TEST(test_check_command_finds_programs) {
    char err[256];
    ck_assert_int_eq(um_cli_check_command("/bin/sh", err, sizeof err), 0);
    ck_assert_int_eq(um_cli_check_command("sh", err, sizeof err), 0); // through PATH
}
END_TEST

START_TEST(test_fmt_bytes) {
    char b[32];
    ck_assert_str_eq(um_cli_fmt_bytes(512, b, sizeof b), "512 B");
    ck_assert_str_eq(um_cli_fmt_bytes(4096, b, sizeof b), "4.0 KiB");
    ck_assert_str_eq(um_cli_fmt_bytes(256ull << 20, b, sizeof b), "256.0 MiB");
}
END_TEST

// --- limits ---
START_TEST(test_preload_compose_too_small) {
    char out[8];
    ck_assert_int_eq(um_cli_preload_compose("liba.so", "/x/libumshim.so", out, sizeof out), -1);
    char out2[20];
    ck_assert_int_eq(um_cli_preload_compose("liba.so", "/x/libumshim.so", out2, sizeof out2), -1);
}
END_TEST

START_TEST(test_median_empty) {
    ck_assert_double_eq(um_cli_median(NULL, 0), 0.0);
}
END_TEST

// --- errors ---
START_TEST(test_run_parse_unknown_option) {
    char *argv[] = {"run", "--frobnicate", "--", "/bin/true", NULL};
    um_run_opts_t o;
    ck_assert_int_eq(um_run_parse(ARGC(argv), argv, &o), UM_EXIT_USAGE);
}
END_TEST

START_TEST(test_run_parse_bad_values) {
    char *a1[] = {"run", "--mode", "fast", "--", "/bin/true", NULL};
    char *a2[] = {"run", "--log", "loud", "--", "/bin/true", NULL};
    char *a3[] = {"run", "--mode", NULL};
    um_run_opts_t o;
    ck_assert_int_eq(um_run_parse(ARGC(a1), a1, &o), UM_EXIT_USAGE);
    ck_assert_int_eq(um_run_parse(ARGC(a2), a2, &o), UM_EXIT_USAGE);
    ck_assert_int_eq(um_run_parse(ARGC(a3), a3, &o), UM_EXIT_USAGE); // value missing
}
END_TEST

START_TEST(test_run_parse_missing_command) {
    char *a1[] = {"run", NULL};
    char *a2[] = {"run", "--mode", "auto", "--", NULL};
    um_run_opts_t o;
    ck_assert_int_eq(um_run_parse(ARGC(a1), a1, &o), UM_EXIT_USAGE);
    ck_assert_int_eq(um_run_parse(ARGC(a2), a2, &o), UM_EXIT_USAGE);
}
END_TEST

START_TEST(test_run_parse_help) {
    char *argv[] = {"run", "--help", NULL};
    um_run_opts_t o;
    ck_assert_int_eq(um_run_parse(ARGC(argv), argv, &o), UM_PARSE_HELP);
}
END_TEST

START_TEST(test_check_command_rejects) {
    char err[256];
    ck_assert_int_eq(um_cli_check_command("/nonexistent/prog", err, sizeof err), UM_EXIT_NOTFOUND);
    ck_assert_int_eq(um_cli_check_command("no-such-program-umshim", err, sizeof err), UM_EXIT_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "not found"));
    ck_assert_int_eq(um_cli_check_command("/", err, sizeof err), UM_EXIT_NOEXEC);
    ck_assert_ptr_nonnull(strstr(err, "directory"));
    // A data file of the runfiles tree: present, not executable.
    ck_assert_int_eq(um_cli_check_command("tools/testdata/not_a_trace.txt", err, sizeof err), UM_EXIT_NOEXEC);
    ck_assert_ptr_nonnull(strstr(err, "not executable"));
    ck_assert_int_eq(um_cli_check_command("", err, sizeof err), UM_EXIT_USAGE);
}
END_TEST

Suite *cli_args_suite(void) {
    Suite *s = suite_create("cli_args");
    TCase *core = tcase_create("core");
    tcase_add_test(core, test_run_parse_options);
    tcase_add_test(core, test_run_parse_program_options_stay_with_program);
    tcase_add_test(core, test_run_parse_twice);
    tcase_add_test(core, test_preload_compose_keeps_existing);
    tcase_add_test(core, test_preload_compose_no_duplicate);
    tcase_add_test(core, test_median_odd_even);
    tcase_add_test(core, test_check_command_finds_programs);
    tcase_add_test(core, test_fmt_bytes);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_test(limits, test_preload_compose_too_small);
    tcase_add_test(limits, test_median_empty);
    suite_add_tcase(s, limits);
    TCase *errors = tcase_create("errors");
    tcase_add_test(errors, test_run_parse_unknown_option);
    tcase_add_test(errors, test_run_parse_bad_values);
    tcase_add_test(errors, test_run_parse_missing_command);
    tcase_add_test(errors, test_run_parse_help);
    tcase_add_test(errors, test_check_command_rejects);
    suite_add_tcase(s, errors);
    return s;
}

UM_CHECK_MAIN(cli_args_suite)
