// `umshim ab`'s arithmetic: stats files (CONTRACTS.md format), medians per mode, ratios
// against passthrough, and the device-to-host hash comparison (tools/ab.h).
#include <check.h>
#include <string.h>

#include "tests/unit/check_main.h"
#include "tools/ab.h"

static const char *const modes[] = {"passthrough", "managed", "prefetch", "auto"};

static const char stats_text[] = "mode managed\n"
                                 "allocs 4\n"
                                 "managed_allocs 3\n"
                                 "managed_bytes 1073741824\n"
                                 "copies_h2d 12\n"
                                 "bytes_h2d 402653184\n"
                                 "d2h_hash 00ff00ff00ff00ff\n"
                                 "cupti_gpu_page_fault_groups na\n"
                                 "cupti_htod_bytes na\n"
                                 "some_future_key 17\n";

static um_ab_run_t run_of(int mode, double wall, uint64_t hash, double launches) {
    um_ab_run_t r;
    memset(&r, 0, sizeof r);
    r.mode = mode;
    r.wall_s = wall;
    r.have_stats = 1;
    r.stats.have_hash = 1;
    r.stats.d2h_hash = hash;
    r.stats.v[UM_AB_launches] = launches;
    r.stats.have[UM_AB_launches] = UM_AB_VALUE;
    r.stats.have[UM_AB_cupti_htod_bytes] = UM_AB_NA;
    return r;
}

// --- core ---
START_TEST(test_parse_stats_contract_keys) {
    um_ab_stats_t st;
    char err[128];
    ck_assert_int_eq(um_ab_parse_stats(stats_text, &st, err, sizeof err), 0);
    ck_assert_str_eq(st.mode, "managed");
    ck_assert_int_eq(st.have[UM_AB_allocs], UM_AB_VALUE);
    ck_assert_double_eq(st.v[UM_AB_allocs], 4);
    ck_assert_double_eq(st.v[UM_AB_managed_bytes], 1073741824.0);
    ck_assert_double_eq(st.v[UM_AB_copies_h2d], 12);
    ck_assert_int_eq(st.have_hash, 1);
    ck_assert_uint_eq(st.d2h_hash, 0x00ff00ff00ff00ffull);
    ck_assert_int_eq(st.have[UM_AB_cupti_gpu_page_fault_groups], UM_AB_NA);
    ck_assert_int_eq(st.have[UM_AB_cupti_htod_bytes], UM_AB_NA);
    ck_assert_int_eq(st.have[UM_AB_launches], UM_AB_MISSING);
}
END_TEST

START_TEST(test_median_per_mode) {
    um_ab_run_t runs[] = {
        run_of(0, 1.0, 0xabc, 10), run_of(1, 3.0, 0xabc, 10), run_of(0, 2.0, 0xabc, 10),
        run_of(1, 5.0, 0xabc, 12), run_of(0, 9.0, 0xabc, 10), run_of(1, 4.0, 0xabc, 14),
    };
    double v;
    int na;
    ck_assert_uint_eq(um_ab_median(runs, 6, 0, -1, &v, &na), 3);
    ck_assert_double_eq(v, 2.0);
    ck_assert_uint_eq(um_ab_median(runs, 6, 1, -1, &v, &na), 3);
    ck_assert_double_eq(v, 4.0);
    ck_assert_uint_eq(um_ab_median(runs, 6, 1, UM_AB_launches, &v, &na), 3);
    ck_assert_double_eq(v, 12.0);
    ck_assert_int_eq(na, 0);
    ck_assert_double_eq(um_ab_ratio(4.0, 2.0), 2.0);
}
END_TEST

START_TEST(test_median_time_skips_instrumented_runs) {
    um_ab_run_t runs[] = {run_of(0, 50.0, 0xabc, 10), run_of(0, 1.0, 0, 10), run_of(0, 3.0, 0, 10)};
    runs[0].instrumented = 1; // hashing and CUPTI slow it down: not a timing
    double v;
    int na;
    ck_assert_uint_eq(um_ab_median(runs, 3, 0, -1, &v, &na), 2);
    ck_assert_double_eq(v, 2.0); // median of {1, 3}; the 50 s instrumented run is left out
    ck_assert_uint_eq(um_ab_median(runs, 3, 0, UM_AB_launches, &v, &na), 3); // counters: all
}
END_TEST

START_TEST(test_time_range_skips_instrumented_runs) {
    um_ab_run_t runs[] = {run_of(0, 50.0, 0xabc, 10), run_of(0, 1.0, 0, 10), run_of(1, 7.0, 0, 10),
                          run_of(0, 3.0, 0, 10)};
    runs[0].instrumented = 1; // the whisker must not reach the instrumented run's 50 s
    double lo, hi;
    ck_assert_uint_eq(um_ab_time_range(runs, 4, 0, &lo, &hi), 2);
    ck_assert_double_eq(lo, 1.0);
    ck_assert_double_eq(hi, 3.0);
    ck_assert_uint_eq(um_ab_time_range(runs, 4, 2, &lo, &hi), 0); // no runs of that mode
    ck_assert_double_eq(lo, 0.0);
    ck_assert_double_eq(hi, 0.0);
}
END_TEST

// n rounds (1..n) of two modes; base times drift with the round, mode 1 is base x ratio[r].
static size_t paired_runs(um_ab_run_t *runs, const double *ratio, size_t n) {
    size_t k = 0;
    runs[k] = run_of(0, 50.0, 0, 0); // round 0: instrumented, slow by design, left out
    runs[k].instrumented = 1;
    runs[k++].round = 0;
    runs[k] = run_of(1, 90.0, 0, 0);
    runs[k].instrumented = 1;
    runs[k++].round = 0;
    for (size_t r = 1; r <= n; r++) {
        double base = 1.0 + 0.5 * (double)r;
        runs[k] = run_of((int)(r & 1), (r & 1) ? base * ratio[r - 1] : base, 0, 0);
        runs[k++].round = (int)r;
        runs[k] = run_of((int)!(r & 1), (r & 1) ? base : base * ratio[r - 1], 0, 0);
        runs[k++].round = (int)r;
    }
    return k;
}

START_TEST(test_paired_ratio_by_round) {
    // The drift cancels within each round: every pair is exactly 1.10x.
    const double same[7] = {1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1};
    um_ab_run_t runs[2 + 2 * 11];
    size_t n = paired_runs(runs, same, 7);
    double med, lo, hi;
    ck_assert_uint_eq(um_ab_paired_ratio(runs, n, 1, 0, &med, &lo, &hi), 7);
    ck_assert_double_eq_tol(med, 1.1, 1e-12);
    ck_assert_double_eq_tol(lo, 1.1, 1e-12);
    ck_assert_double_eq_tol(hi, 1.1, 1e-12);
    // 7 pairs: the 95% interval is the smallest to the largest ratio (P = 2/128).
    const double spread[7] = {0.90, 1.30, 1.00, 0.95, 1.20, 1.05, 1.02};
    n = paired_runs(runs, spread, 7);
    ck_assert_uint_eq(um_ab_paired_ratio(runs, n, 1, 0, &med, &lo, &hi), 7);
    ck_assert_double_eq_tol(med, 1.02, 1e-12);
    ck_assert_double_eq_tol(lo, 0.90, 1e-12);
    ck_assert_double_eq_tol(hi, 1.30, 1e-12);
    // 11 pairs: the second smallest to the second largest (P = 2 x 12/2048).
    const double eleven[11] = {0.80, 1.50, 0.95, 1.00, 1.01, 0.99, 1.02, 0.98, 1.03, 0.97, 1.04};
    n = paired_runs(runs, eleven, 11);
    ck_assert_uint_eq(um_ab_paired_ratio(runs, n, 1, 0, &med, &lo, &hi), 11);
    ck_assert_double_eq_tol(med, 1.00, 1e-12);
    ck_assert_double_eq_tol(lo, 0.95, 1e-12);
    ck_assert_double_eq_tol(hi, 1.04, 1e-12);
}
END_TEST

START_TEST(test_hashes_identical) {
    um_ab_run_t runs[] = {run_of(0, 1, 0x1234, 1), run_of(1, 1, 0x1234, 1), run_of(3, 1, 0x1234, 1)};
    char msg[256];
    ck_assert_int_eq(um_ab_check_hashes(runs, 3, modes, msg, sizeof msg), 1);
    ck_assert_str_eq(msg, "0000000000001234");
}
END_TEST

// --- limits ---
START_TEST(test_median_all_na) {
    um_ab_run_t runs[] = {run_of(2, 1, 0, 1), run_of(2, 2, 0, 1)};
    double v = 5;
    int na = 0;
    ck_assert_uint_eq(um_ab_median(runs, 2, 2, UM_AB_cupti_htod_bytes, &v, &na), 0);
    ck_assert_int_eq(na, 1);
    ck_assert_double_eq(v, 0.0);
    // a mode with no runs: nothing, and not "not available" either
    ck_assert_uint_eq(um_ab_median(runs, 2, 3, UM_AB_cupti_htod_bytes, &v, &na), 0);
    ck_assert_int_eq(na, 0);
}
END_TEST

START_TEST(test_paired_ratio_too_few) {
    // 5 pairs cannot give 95% (P = 2/32 even for the whole range); a mode with no pairs
    // (here: a mode that never ran) gives none.
    const double r5[5] = {1.0, 1.1, 1.2, 1.3, 1.4};
    um_ab_run_t runs[2 + 2 * 5];
    size_t n = paired_runs(runs, r5, 5);
    double med, lo, hi;
    ck_assert_uint_eq(um_ab_paired_ratio(runs, n, 1, 0, &med, &lo, &hi), 5);
    ck_assert_double_eq_tol(med, 1.2, 1e-12);
    ck_assert_double_eq(lo, 0);
    ck_assert_double_eq(hi, 0);
    ck_assert_uint_eq(um_ab_paired_ratio(runs, n, 2, 0, &med, &lo, &hi), 0);
    ck_assert_double_eq(med, 0);
}
END_TEST

START_TEST(test_ratio_zero_baseline) {
    ck_assert_double_eq(um_ab_ratio(3.0, 0.0), 0.0);
}
END_TEST

START_TEST(test_hashes_none_collected) {
    um_ab_run_t runs[] = {run_of(0, 1, 0, 1), run_of(1, 1, 0, 1)};
    runs[1].have_stats = 0; // a run that wrote no stats file is left out too
    char msg[256];
    ck_assert_int_eq(um_ab_check_hashes(runs, 2, modes, msg, sizeof msg), 0);
    ck_assert_ptr_nonnull(strstr(msg, "no run"));
}
END_TEST

START_TEST(test_parse_stats_blank_and_comments) {
    um_ab_stats_t st;
    char err[128];
    ck_assert_int_eq(um_ab_parse_stats("\n# comment\n\nlaunches 3\n", &st, err, sizeof err), 0);
    ck_assert_double_eq(st.v[UM_AB_launches], 3);
    ck_assert_int_eq(st.have_hash, 0);
}
END_TEST

// --- errors ---
START_TEST(test_hashes_mismatch_names_modes) {
    um_ab_run_t runs[] = {run_of(0, 1, 0x1111, 1), run_of(2, 1, 0x2222, 1), run_of(0, 1, 0x1111, 1)};
    char msg[256];
    ck_assert_int_eq(um_ab_check_hashes(runs, 3, modes, msg, sizeof msg), -1);
    ck_assert_ptr_nonnull(strstr(msg, "passthrough"));
    ck_assert_ptr_nonnull(strstr(msg, "prefetch"));
    ck_assert_ptr_nonnull(strstr(msg, "0000000000002222"));
}
END_TEST

START_TEST(test_parse_stats_rejects_garbage) {
    um_ab_stats_t st;
    char err[128];
    ck_assert_int_eq(um_ab_parse_stats("allocs 4\nlaunches lots\n", &st, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "line 2"));
    ck_assert_int_eq(um_ab_parse_stats("allocs 4 5\n", &st, err, sizeof err), -1);
    ck_assert_int_eq(um_ab_parse_stats("allocs -4\n", &st, err, sizeof err), -1);
    ck_assert_int_eq(um_ab_parse_stats("d2h_hash xyz\n", &st, err, sizeof err), -1);
    ck_assert_int_eq(um_ab_parse_stats("d2h_hash -1\n", &st, err, sizeof err), -1);
    ck_assert_int_eq(um_ab_parse_stats("d2h_hash +ff\n", &st, err, sizeof err), -1);
}
END_TEST

START_TEST(test_read_stats_missing_file) {
    um_ab_stats_t st;
    char err[256];
    ck_assert_int_eq(um_ab_read_stats("/nonexistent/stats", &st, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/stats"));
}
END_TEST

Suite *cli_ab_suite(void) {
    Suite *s = suite_create("cli_ab");
    TCase *core = tcase_create("core");
    tcase_add_test(core, test_parse_stats_contract_keys);
    tcase_add_test(core, test_median_per_mode);
    tcase_add_test(core, test_median_time_skips_instrumented_runs);
    tcase_add_test(core, test_time_range_skips_instrumented_runs);
    tcase_add_test(core, test_hashes_identical);
    tcase_add_test(core, test_paired_ratio_by_round);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_test(limits, test_median_all_na);
    tcase_add_test(limits, test_ratio_zero_baseline);
    tcase_add_test(limits, test_paired_ratio_too_few);
    tcase_add_test(limits, test_hashes_none_collected);
    tcase_add_test(limits, test_parse_stats_blank_and_comments);
    suite_add_tcase(s, limits);
    TCase *errors = tcase_create("errors");
    tcase_add_test(errors, test_hashes_mismatch_names_modes);
    tcase_add_test(errors, test_parse_stats_rejects_garbage);
    tcase_add_test(errors, test_read_stats_missing_file);
    suite_add_tcase(s, errors);
    return s;
}

UM_CHECK_MAIN(cli_ab_suite)
