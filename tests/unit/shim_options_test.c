// Options: byte/enum/int parsing, and loading from an environment with bad values (one
// warning each, default kept) — the host program never dies of configuration.
#include <check.h>
#include <string.h>

#include "shim/log.h"
#include "shim/options.h"
#include "tests/unit/check_main.h"
#include "tests/unit/fake_env.h"

static int load(const char *const *env) {
    fake_env = env;
    um_log_set_level(UM_LOG_ERROR); // keep test output quiet; warnings are counted by rc
    return um_opts_load(fake_getenv);
}

// --- core ---
START_TEST(test_opt_bytes_suffixes) {
    uint64_t v = 0;
    ck_assert_int_eq(um_opt_parse_bytes("0", &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(um_opt_parse_bytes("123", &v), 0);
    ck_assert_uint_eq(v, 123);
    ck_assert_int_eq(um_opt_parse_bytes("4K", &v), 0);
    ck_assert_uint_eq(v, 4096);
    ck_assert_int_eq(um_opt_parse_bytes("2m", &v), 0);
    ck_assert_uint_eq(v, 2u << 20);
    ck_assert_int_eq(um_opt_parse_bytes("1G", &v), 0);
    ck_assert_uint_eq(v, 1u << 30);
    ck_assert_int_eq(um_opt_parse_bytes("3KiB", &v), 0);
    ck_assert_uint_eq(v, 3072);
    ck_assert_int_eq(um_opt_parse_bytes("5MB", &v), 0);
    ck_assert_uint_eq(v, 5u << 20);
    ck_assert_int_eq(um_opt_parse_bytes("1T", &v), 0);
    ck_assert_uint_eq(v, (uint64_t)1 << 40);
    // The command line's flags use the same parser: every spelling either accepted.
    ck_assert_int_eq(um_opt_parse_bytes("4Ki", &v), 0);
    ck_assert_uint_eq(v, 4096);
    ck_assert_int_eq(um_opt_parse_bytes("16MiB", &v), 0);
    ck_assert_uint_eq(v, 16u << 20);
    ck_assert_int_eq(um_opt_parse_bytes("64k", &v), 0);
    ck_assert_uint_eq(v, 65536);
    ck_assert_int_eq(um_opt_parse_bytes("2t", &v), 0);
    ck_assert_uint_eq(v, (uint64_t)2 << 40);
}
END_TEST

START_TEST(test_opt_enum_and_list) {
    uint64_t v = 9;
    ck_assert_int_eq(um_opt_parse_enum("auto", "passthrough|managed|prefetch|auto", &v), 0);
    ck_assert_uint_eq(v, 3);
    ck_assert_int_eq(um_opt_parse_enum("passthrough", "passthrough|managed|prefetch|auto", &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(um_opt_list_has("a+0x1,b+0x2", "b+0x2"), 1);
    ck_assert_int_eq(um_opt_list_has("a+0x1,b+0x2", "b+0x"), 0);
    ck_assert_int_eq(um_opt_list_has("", "a"), 0);
}
END_TEST

START_TEST(test_opt_load_defaults) {
    static const char *const env[] = {NULL};
    ck_assert_int_eq(load(env), 0);
    ck_assert_uint_eq(um_opt_num(UM_OPT_MODE), 3); // auto
    ck_assert_uint_eq(um_opt_num(UM_OPT_LOG), 1);  // warning
    ck_assert_uint_eq(um_opt_num(UM_OPT_MANAGED_THRESHOLD), 2u << 20);
    ck_assert_int_eq(um_opt(UM_OPT_STAGING)->unset_default, 1);
    ck_assert_str_eq(um_opt_str(UM_OPT_TRACE), "");
    ck_assert_str_eq(um_opt_name(UM_OPT_MODE), "UMSHIM_MODE");
}
END_TEST

START_TEST(test_opt_load_values) {
    static const char *const env[] = {"UMSHIM_MODE", "managed", "UMSHIM_MANAGED_THRESHOLD", "64K",
                                      "UMSHIM_STAGING", "0", "UMSHIM_TRACE", "/tmp/x.trace",
                                      "UMSHIM_STAGING_THREADS", "4", NULL};
    ck_assert_int_eq(load(env), 0);
    ck_assert_uint_eq(um_opt_num(UM_OPT_MODE), 1);
    ck_assert_uint_eq(um_opt_num(UM_OPT_MANAGED_THRESHOLD), 65536);
    ck_assert_int_eq(um_opt(UM_OPT_STAGING)->unset_default, 0);
    ck_assert_uint_eq(um_opt_num(UM_OPT_STAGING), 0);
    ck_assert_str_eq(um_opt_str(UM_OPT_TRACE), "/tmp/x.trace");
    ck_assert_uint_eq(um_opt_num(UM_OPT_STAGING_THREADS), 4);
}
END_TEST

// --- limits ---
START_TEST(test_opt_bytes_overflow) {
    uint64_t v = 42;
    ck_assert_int_eq(um_opt_parse_bytes("99999999999999999999", &v), -1);
    ck_assert_int_eq(um_opt_parse_bytes("18446744073709551615G", &v), -1);
    ck_assert_int_eq(um_opt_parse_bytes("17179869184G", &v), -1); // 2^64 exactly
    ck_assert_int_eq(um_opt_parse_bytes("18446744073709551615", &v), 0);
    ck_assert_uint_eq(v, UINT64_MAX);
    ck_assert_int_eq(um_opt_parse_int("65", 1, 64, &v), -1);
    ck_assert_int_eq(um_opt_parse_int("0", 1, 64, &v), -1);
}
END_TEST

START_TEST(test_opt_long_path_rejected) {
    static char longpath[UM_OPT_STR_MAX + 10];
    memset(longpath, 'a', sizeof longpath - 1);
    static const char *env[] = {"UMSHIM_TRACE", longpath, NULL};
    ck_assert_int_eq(load(env), 1);
    ck_assert_str_eq(um_opt_str(UM_OPT_TRACE), "");
}
END_TEST

// --- errors ---
START_TEST(test_opt_bad_values_warn_and_default) {
    static const char *const env[] = {"UMSHIM_MODE", "bogus", "UMSHIM_LOG", "loud",
                                      "UMSHIM_MANAGED_THRESHOLD", "12X", "UMSHIM_HASH", "yes",
                                      "UMSHIM_STAGING_THREADS", "-3", "UMSHIM_DEVICE_BUDGET",
                                      "1.5G", NULL};
    ck_assert_int_eq(load(env), 6);
    ck_assert_uint_eq(um_opt_num(UM_OPT_MODE), 3);
    ck_assert_int_eq(um_opt(UM_OPT_MODE)->set, 0);
    ck_assert_uint_eq(um_opt_num(UM_OPT_LOG), 1);
    ck_assert_uint_eq(um_opt_num(UM_OPT_MANAGED_THRESHOLD), 2u << 20);
    ck_assert_uint_eq(um_opt_num(UM_OPT_HASH), 0);
    ck_assert_uint_eq(um_opt_num(UM_OPT_STAGING_THREADS), 12);
    ck_assert_int_eq(um_opt(UM_OPT_STAGING_THREADS)->set, 0); // the engine picks its default
    ck_assert_uint_eq(um_opt_num(UM_OPT_DEVICE_BUDGET), 0);
}
END_TEST

START_TEST(test_opt_bad_parse_inputs) {
    uint64_t v = 42;
    ck_assert_int_eq(um_opt_parse_bytes("", &v), -1);
    ck_assert_int_eq(um_opt_parse_bytes(NULL, &v), -1);
    ck_assert_int_eq(um_opt_parse_bytes("-1", &v), -1);
    ck_assert_int_eq(um_opt_parse_bytes("abc", &v), -1);
    ck_assert_int_eq(um_opt_parse_bytes("4KB2", &v), -1);
    ck_assert_int_eq(um_opt_parse_bytes(" 4", &v), -1);
    ck_assert_int_eq(um_opt_parse_bytes("4i", &v), -1);  // a unit's "i" needs the unit
    ck_assert_int_eq(um_opt_parse_bytes("4KiBB", &v), -1);
    ck_assert_int_eq(um_opt_parse_bytes("4Kb", &v), -1);
    ck_assert_int_eq(um_opt_parse_bytes("4P", &v), -1);
    ck_assert_int_eq(um_opt_parse_bytes("4Kx", &v), -1);
    ck_assert_uint_eq(v, 42);
    ck_assert_int_eq(um_opt_parse_enum("aut", "passthrough|managed|prefetch|auto", &v), -1);
    ck_assert_int_eq(um_opt_parse_enum("autox", "passthrough|managed|prefetch|auto", &v), -1);
    ck_assert_int_eq(um_opt_parse_enum("", "passthrough|managed|prefetch|auto", &v), -1);
    ck_assert_int_eq(um_opt_parse_enum("AUTO", "passthrough|managed|prefetch|auto", &v), -1);
    ck_assert_uint_eq(v, 42);
}
END_TEST

Suite *shim_options_suite(void) {
    Suite *s = suite_create("shim_options");
    TCase *core = tcase_create("core");
    tcase_add_test(core, test_opt_bytes_suffixes);
    tcase_add_test(core, test_opt_enum_and_list);
    tcase_add_test(core, test_opt_load_defaults);
    tcase_add_test(core, test_opt_load_values);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_test(limits, test_opt_bytes_overflow);
    tcase_add_test(limits, test_opt_long_path_rejected);
    suite_add_tcase(s, limits);
    TCase *errors = tcase_create("errors");
    tcase_add_test(errors, test_opt_bad_values_warn_and_default);
    tcase_add_test(errors, test_opt_bad_parse_inputs);
    suite_add_tcase(s, errors);
    return s;
}

UM_CHECK_MAIN(shim_options_suite)
