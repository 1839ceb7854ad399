// The oversubscription guard's rule: managed bytes never exceed the configured budget, or
// the device's free memory minus the margin, unless oversubscription is asked for. Which
// allocations get a call site (um_dec_needs_site).
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shim/decide.h"
#include "shim/entry.h"
#include "shim/log.h"
#include "shim/options.h"
#include "tests/unit/check_main.h"
#include "tests/unit/fake_env.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

// --- core ---
START_TEST(test_budget_configured) {
    ck_assert_int_eq(um_dec_budget_ok(0, 64 * MiB, 100 * MiB, 0, 0, 0), 1);
    ck_assert_int_eq(um_dec_budget_ok(64 * MiB, 36 * MiB, 100 * MiB, 0, 0, 0), 1);
    ck_assert_int_eq(um_dec_budget_ok(64 * MiB, 37 * MiB, 100 * MiB, 0, 0, 0), 0);
}
END_TEST

START_TEST(test_budget_free_minus_margin) {
    ck_assert_int_eq(um_dec_budget_ok(0, 7 * GiB, 0, 1 * GiB, 8 * GiB, 0), 1);
    ck_assert_int_eq(um_dec_budget_ok(1, 7 * GiB, 0, 1 * GiB, 8 * GiB, 0), 0);
    ck_assert_int_eq(um_dec_budget_ok(2 * GiB, 5 * GiB, 0, 1 * GiB, 8 * GiB, 0), 1);
}
END_TEST

// Call sites: below the managed threshold only when something can use them.
// um_dec_init under the given UMSHIM_* environment, mode and trace flag.
static void site_setup(const char *const *env, um_mode_t mode, int trace) {
    um_dec_fini();
    fake_env = env;
    um_log_set_level(UM_LOG_ERROR);
    um_opts_load(fake_getenv);
    memset(&um_cfg, 0, sizeof um_cfg);
    um_cfg.mode = mode;
    um_cfg.trace = trace;
    ck_assert_int_eq(um_dec_init(), 0);
}

START_TEST(test_sites_above_threshold_only) {
    const char *const env[] = {"UMSHIM_MANAGED_THRESHOLD", "1M", NULL};
    site_setup(env, UM_MODE_AUTO, 0);
    ck_assert_int_eq(um_dec_needs_site(4096), 0);
    ck_assert_int_eq(um_dec_needs_site(MiB - 1), 0);
    ck_assert_int_eq(um_dec_needs_site(MiB), 1);
    ck_assert_int_eq(um_dec_needs_site(GiB), 1);
    site_setup(env, UM_MODE_PREFETCH, 0);
    ck_assert_int_eq(um_dec_needs_site(4096), 0);
    um_dec_fini();
}
END_TEST

START_TEST(test_sites_all_when_used) {
    const char *const env[] = {"UMSHIM_MANAGED_THRESHOLD", "1M", NULL};
    site_setup(env, UM_MODE_AUTO, 0);
    ck_assert_int_eq(um_dec_needs_site(1), 0);
    site_setup(env, UM_MODE_AUTO, 1); // traced: every event names its site
    ck_assert_int_eq(um_dec_needs_site(1), 1);
    site_setup(env, UM_MODE_PASSTHROUGH, 0); // reaches the walk only when tracing or learning
    ck_assert_int_eq(um_dec_needs_site(1), 1);
    const char *const out[] = {"UMSHIM_MANAGED_THRESHOLD", "1M", "UMSHIM_POLICY_OUT",
                               "/nonexistent/learned.policy", NULL};
    site_setup(out, UM_MODE_AUTO, 0); // the learned file lists small sites too
    ck_assert_int_eq(um_dec_needs_site(1), 1);
    char path[] = "/tmp/umshim-decide-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fputs("# umshim policy v1\nsite exe+0x10 placement=managed\n", f);
    fclose(f);
    const char *const file[] = {"UMSHIM_MANAGED_THRESHOLD", "1M", "UMSHIM_POLICY", path, NULL};
    site_setup(file, UM_MODE_AUTO, 0); // a file's entry may place a small site
    ck_assert_int_eq(um_dec_needs_site(1), 1);
    unlink(path);
    const char *const bad[] = {"UMSHIM_MANAGED_THRESHOLD", "1M", "UMSHIM_POLICY", path, NULL};
    site_setup(bad, UM_MODE_AUTO, 0); // unreadable: the built-in rules, which need no site
    ck_assert_int_eq(um_dec_needs_site(1), 0);
    um_dec_fini();
}
END_TEST

// --- limits ---
START_TEST(test_budget_margin_above_free) {
    ck_assert_int_eq(um_dec_budget_ok(0, 1, 0, 2 * GiB, 1 * GiB, 0), 0);
    ck_assert_int_eq(um_dec_budget_ok(0, 0, 0, 2 * GiB, 1 * GiB, 0), 1);
}
END_TEST

START_TEST(test_budget_no_overflow) {
    ck_assert_int_eq(um_dec_budget_ok(UINT64_MAX - 1, 4, UINT64_MAX, 0, 0, 0), 0);
    ck_assert_int_eq(um_dec_budget_ok(200 * MiB, 1, 100 * MiB, 0, 0, 0), 0);
}
END_TEST

// --- errors ---
START_TEST(test_budget_oversubscribe_opt_in) {
    ck_assert_int_eq(um_dec_budget_ok(100 * GiB, 100 * GiB, 1 * GiB, 0, 0, 1), 1);
}
END_TEST

Suite *shim_decide_suite(void) {
    Suite *s = suite_create("shim_decide");
    TCase *core = tcase_create("core");
    tcase_add_test(core, test_budget_configured);
    tcase_add_test(core, test_budget_free_minus_margin);
    tcase_add_test(core, test_sites_above_threshold_only);
    tcase_add_test(core, test_sites_all_when_used);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_test(limits, test_budget_margin_above_free);
    tcase_add_test(limits, test_budget_no_overflow);
    suite_add_tcase(s, limits);
    TCase *errors = tcase_create("errors");
    tcase_add_test(errors, test_budget_oversubscribe_opt_in);
    suite_add_tcase(s, errors);
    return s;
}

UM_CHECK_MAIN(shim_decide_suite)
