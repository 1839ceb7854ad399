// The oversubscription guard's rule: managed bytes never exceed the configured budget, or
// the device's free memory minus the margin, unless oversubscription is asked for.
#include <check.h>

#include "shim/decide.h"
#include "tests/unit/check_main.h"

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
