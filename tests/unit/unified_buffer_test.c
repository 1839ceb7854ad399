// CPU-side tests of the unified buffer's decision (managed vs pinned fallback); the
// allocation paths themselves run in //kernels:recall_gpu_test, which forces the fallback both
// by flag and by UMSHIM_UB_FALLBACK=1.
#include "kernels/unified_buffer.h"
#include "tests/unit/check_main.h"

#include <string.h>

#define BIG (64u << 20)

START_TEST(test_choose_kind_managed_when_supported) {
    ck_assert_int_eq(um_ub_choose_kind(1, 0, NULL, BIG), UM_UB_MANAGED);
    ck_assert_int_eq(um_ub_choose_kind(1, 0, "0", BIG), UM_UB_MANAGED);
    ck_assert_int_eq(um_ub_choose_kind(1, 0, "", BIG), UM_UB_MANAGED);
    ck_assert_int_eq(um_ub_choose_kind(1, 0, NULL, UM_UB_SMALL_BYTES), UM_UB_MANAGED);
}
END_TEST

START_TEST(test_choose_kind_falls_back_without_concurrent_access) {
    ck_assert_int_eq(um_ub_choose_kind(0, 0, NULL, BIG), UM_UB_PINNED);
}
END_TEST

START_TEST(test_choose_kind_small_buffers_pinned) {
    ck_assert_int_eq(um_ub_choose_kind(1, 0, NULL, UM_UB_SMALL_BYTES - 1), UM_UB_PINNED);
    ck_assert_int_eq(um_ub_choose_kind(1, 0, NULL, 4096), UM_UB_PINNED);
    ck_assert_int_eq(um_ub_choose_kind(1, UM_UB_ALLOW_SMALL_MANAGED, NULL, 4096), UM_UB_MANAGED);
    ck_assert_int_eq(um_ub_choose_kind(0, UM_UB_ALLOW_SMALL_MANAGED, NULL, 4096), UM_UB_PINNED);
}
END_TEST

START_TEST(test_choose_kind_forced_by_flag_or_env) {
    ck_assert_int_eq(um_ub_choose_kind(1, UM_UB_FORCE_PINNED, NULL, BIG), UM_UB_PINNED);
    ck_assert_int_eq(um_ub_choose_kind(1, UM_UB_FORCE_PINNED | UM_UB_ALLOW_SMALL_MANAGED, NULL, 4096), UM_UB_PINNED);
    ck_assert_int_eq(um_ub_choose_kind(1, 0, "1", BIG), UM_UB_PINNED);
    ck_assert_int_eq(um_ub_choose_kind(1, 0, "true", BIG), UM_UB_PINNED);
    ck_assert_int_eq(um_ub_choose_kind(1, 0, "yes", BIG), UM_UB_PINNED);
}
END_TEST

START_TEST(test_kind_names) {
    ck_assert_str_eq(um_ub_kind_name(UM_UB_MANAGED), "managed");
    ck_assert_str_eq(um_ub_kind_name(UM_UB_PINNED), "pinned");
    ck_assert_str_eq(um_ub_kind_name((um_ub_kind_t)0), "none");
}
END_TEST

Suite *unified_buffer_suite(void) {
    Suite *s = suite_create("unified_buffer");
    TCase *core = tcase_create("core");
    tcase_add_test(core, test_choose_kind_managed_when_supported);
    tcase_add_test(core, test_kind_names);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_test(limits, test_choose_kind_falls_back_without_concurrent_access);
    tcase_add_test(limits, test_choose_kind_small_buffers_pinned);
    suite_add_tcase(s, limits);
    TCase *errors = tcase_create("errors");
    tcase_add_test(errors, test_choose_kind_forced_by_flag_or_env);
    suite_add_tcase(s, errors);
    return s;
}

UM_CHECK_MAIN(unified_buffer_suite)
