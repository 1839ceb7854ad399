// CPU-side tests of kernels/: size limits, the FP64 reference and its top-k comparison (ties),
// the dataset generator and file format (truncated/corrupt files), and the demos' flag parsing.
#include "kernels/recall.h"
#include "kernels/recall_data.h"
#include "kernels/recall_demo_common.h"
#include "kernels/recall_ref.h"
#include "tests/unit/check_main.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// --- limits ---
START_TEST(test_check_dims_accepts_edges) {
    char why[128];
    ck_assert_int_eq(um_recall_check_dims(1, 1, 1, 1, why, sizeof why), UM_RECALL_OK);
    ck_assert_int_eq(um_recall_check_dims(2048, 1000, 768, 1024, why, sizeof why), UM_RECALL_OK);
    ck_assert_int_eq(um_recall_check_dims(UM_RECALL_N_MAX, 1, UM_RECALL_D_MAX, 10, why, sizeof why), UM_RECALL_OK);
}
END_TEST

START_TEST(test_check_dims_rejects_k_above_n) {
    char why[128];
    ck_assert_int_eq(um_recall_check_dims(5, 1, 768, 6, why, sizeof why), UM_RECALL_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "exceeds n"));
}
END_TEST

START_TEST(test_check_dims_rejects_ranges) {
    char why[128];
    ck_assert_int_eq(um_recall_check_dims(0, 1, 768, 1, why, sizeof why), UM_RECALL_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "n (stored"));
    ck_assert_int_eq(um_recall_check_dims(10, 0, 768, 1, why, sizeof why), UM_RECALL_EINVAL);
    ck_assert_int_eq(um_recall_check_dims(10, 1, 0, 1, why, sizeof why), UM_RECALL_EINVAL);
    ck_assert_int_eq(um_recall_check_dims(10, 1, UM_RECALL_D_MAX + 1, 1, why, sizeof why), UM_RECALL_EINVAL);
    ck_assert_int_eq(um_recall_check_dims(5000, 1, 768, 1025, why, sizeof why), UM_RECALL_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "k (results"));
    ck_assert_int_eq(um_recall_check_dims(10, 1, 768, 0, NULL, 0), UM_RECALL_EINVAL);
}
END_TEST

// --- reference ---
START_TEST(test_ref_cosine_zero_vector_is_zero) {
    float a[3] = {0, 0, 0}, b[3] = {1, 2, 3};
    ck_assert(um_recall_ref_cosine(a, b, 3) == 0.0);
    ck_assert(um_recall_ref_cosine(b, a, 3) == 0.0);
    ck_assert(um_recall_ref_cosine(a, a, 3) == 0.0);
    ck_assert(fabs(um_recall_ref_cosine(b, b, 3) - 1.0) < 1e-15);
}
END_TEST

START_TEST(test_ref_topk_orders_by_score_then_index) {
    // Stored: 0 = (1,0), 1 = (0,1), 2 = (1,0) duplicate of 0, 3 = (-1,0), 4 = zero.
    float x[10] = {1, 0, 0, 1, 1, 0, -1, 0, 0, 0};
    float q[2] = {2, 0};
    int idx[5];
    double s[5];
    ck_assert_int_eq(um_recall_ref_topk(q, x, 5, 2, 5, idx, s), 0);
    ck_assert_int_eq(idx[0], 0); // tie with 2: lower index first
    ck_assert_int_eq(idx[1], 2);
    ck_assert_int_eq(idx[2], 1); // 0 ties with 4
    ck_assert_int_eq(idx[3], 4);
    ck_assert_int_eq(idx[4], 3);
    ck_assert(s[0] == 1.0 && s[2] == 0.0 && s[4] == -1.0);
}
END_TEST

START_TEST(test_ref_check_accepts_swapped_ties) {
    float x[10] = {1, 0, 0, 1, 1, 0, -1, 0, 0, 0};
    float q[2] = {2, 0};
    int ri[3];
    double rs[3];
    um_recall_ref_topk(q, x, 5, 2, 3, ri, rs); // 0, 2, then 1 (tie with 4)
    int gi[3] = {2, 0, 4};                       // ties swapped, 4 instead of 1
    float gs[3] = {1.0f, 1.0f, 0.0f};
    char why[256];
    ck_assert_int_eq(um_recall_ref_check_topk(q, x, 5, 2, 3, gi, gs, ri, rs, 1e-6, why, sizeof why), 0);
}
END_TEST

START_TEST(test_ref_check_rejects_wrong_members) {
    float x[10] = {1, 0, 0, 1, 1, 0, -1, 0, 0, 0};
    float q[2] = {2, 0};
    int ri[2];
    double rs[2];
    um_recall_ref_topk(q, x, 5, 2, 2, ri, rs);
    char why[256];
    int gi[2] = {0, 1}; // 1 scores 0, not 1
    float gs[2] = {1.0f, 0.0f};
    ck_assert_int_gt(um_recall_ref_check_topk(q, x, 5, 2, 2, gi, gs, ri, rs, 1e-6, why, sizeof why), 0);
    int di[2] = {0, 0}; // repeated
    float ds[2] = {1.0f, 1.0f};
    ck_assert_int_gt(um_recall_ref_check_topk(q, x, 5, 2, 2, di, ds, ri, rs, 1e-6, why, sizeof why), 0);
    ck_assert_ptr_nonnull(strstr(why, "repeated"));
    int oi[2] = {0, 7}; // out of range
    ck_assert_int_gt(um_recall_ref_check_topk(q, x, 5, 2, 2, oi, ds, ri, rs, 1e-6, why, sizeof why), 0);
    float bs[2] = {1.0f, 1.001f}; // score off by more than eps, and rising
    int bi[2] = {0, 2};
    ck_assert_int_gt(um_recall_ref_check_topk(q, x, 5, 2, 2, bi, bs, ri, rs, 1e-6, why, sizeof why), 0);
    float ns[2] = {1.0f, NAN};
    ck_assert_int_gt(um_recall_ref_check_topk(q, x, 5, 2, 2, bi, ns, ri, rs, 1e-6, why, sizeof why), 0);
}
END_TEST

START_TEST(test_ref_recall_counts_overlap) {
    int a[4] = {1, 2, 3, 4}, b[4] = {4, 3, 9, 1};
    ck_assert(fabs(um_recall_ref_recall(a, b, 4) - 0.75) < 1e-12);
}
END_TEST

START_TEST(test_ref_score_bound_grows_with_d) {
    ck_assert(um_recall_score_bound(768) > um_recall_score_bound(16));
    ck_assert(um_recall_score_bound(768) < 1e-4);
}
END_TEST

// --- data ---
static char g_path[256];

static void data_setup(void) {
    snprintf(g_path, sizeof g_path, "%s/recall_test_%d.bin", getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp", (int)getpid());
}
static void data_teardown(void) { unlink(g_path); }

START_TEST(test_gen_is_deterministic_and_prefix_stable) {
    float *a = malloc(100 * 16 * 4), *b = malloc(50 * 16 * 4);
    um_recall_gen_stored(7, 100, 16, a);
    um_recall_gen_stored(7, 50, 16, b);
    ck_assert_int_eq(memcmp(a, b, 50 * 16 * 4), 0);
    for (int j = 0; j < 16; j++) ck_assert(a[16 + j] == 0.0f); // vector 1 is zero
    for (int j = 0; j < 16 * 100; j++) ck_assert(a[j] >= -1.0f && a[j] < 1.0f);
    float *q1 = malloc(4 * 16 * 4), *q2 = malloc(4 * 16 * 4);
    um_recall_gen_queries(7, 1, 4, 16, a, 100, q1);
    um_recall_gen_queries(7, 1, 4, 16, a, 100, q2);
    ck_assert_int_eq(memcmp(q1, q2, 4 * 16 * 4), 0);
    um_recall_gen_queries(7, 0, 4, 16, a, 100, q1);
    for (int j = 0; j < 16; j++) ck_assert(q1[j] == 0.0f); // batch 0 query 0 is zero
    free(a), free(b), free(q1), free(q2);
}
END_TEST

START_TEST(test_file_round_trip) {
    float x[3 * 5];
    um_recall_gen_stored(3, 3, 5, x);
    char why[256];
    ck_assert_int_eq(um_recall_write_file(g_path, x, 3, 5, why, sizeof why), 0);
    float *y = NULL;
    long n = 0;
    int d = 0;
    ck_assert_int_eq(um_recall_read_file(g_path, &y, &n, &d, why, sizeof why), 0);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(d, 5);
    ck_assert_int_eq(memcmp(x, y, sizeof x), 0);
    free(y);
}
END_TEST

static void write_bytes(const char *path, const void *p, size_t len) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(p, 1, len, f);
    fclose(f);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(*len);
    ck_assert_int_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

START_TEST(test_file_rejects_truncated_and_corrupt) {
    float x[4 * 8];
    um_recall_gen_stored(5, 4, 8, x);
    char why[256];
    ck_assert_int_eq(um_recall_write_file(g_path, x, 4, 8, why, sizeof why), 0);
    size_t len;
    char *good = slurp(g_path, &len);
    float *y = NULL;
    long n;
    int d;
    write_bytes(g_path, good, len - 1); // truncated payload
    ck_assert_int_eq(um_recall_read_file(g_path, &y, &n, &d, why, sizeof why), -1);
    ck_assert_ptr_nonnull(strstr(why, "truncated"));
    ck_assert_ptr_null(y);
    write_bytes(g_path, good, 10); // truncated header
    ck_assert_int_eq(um_recall_read_file(g_path, &y, &n, &d, why, sizeof why), -1);
    ck_assert_ptr_nonnull(strstr(why, "header"));
    good[40] ^= 1; // corrupt payload
    write_bytes(g_path, good, len);
    ck_assert_int_eq(um_recall_read_file(g_path, &y, &n, &d, why, sizeof why), -1);
    ck_assert_ptr_nonnull(strstr(why, "checksum"));
    good[40] ^= 1;
    good[0] = 'X'; // bad magic
    write_bytes(g_path, good, len);
    ck_assert_int_eq(um_recall_read_file(g_path, &y, &n, &d, why, sizeof why), -1);
    ck_assert_ptr_nonnull(strstr(why, "magic"));
    good[0] = 'U';
    good[12] = 0, good[13] = 0, good[14] = 0, good[15] = 0; // d = 0
    write_bytes(g_path, good, len);
    ck_assert_int_eq(um_recall_read_file(g_path, &y, &n, &d, why, sizeof why), -1);
    ck_assert_ptr_nonnull(strstr(why, "dimensions"));
    free(good);
    unlink(g_path);
    ck_assert_int_eq(um_recall_read_file(g_path, &y, &n, &d, why, sizeof why), -1);
    ck_assert_ptr_nonnull(strstr(why, "cannot open"));
}
END_TEST

// --- demo flags ---
static int parse(const char *line, um_demo_opts_t *o, char *why, size_t len) {
    char buf[512];
    char *argv[32];
    int argc = 0;
    snprintf(buf, sizeof buf, "%s", line);
    argv[argc++] = "recall_demo";
    for (char *t = strtok(buf, " "); t && argc < 31; t = strtok(NULL, " ")) argv[argc++] = t;
    argv[argc] = NULL;
    return um_demo_parse(argc, argv, o, why, len);
}

START_TEST(test_demo_parse_defaults_and_values) {
    um_demo_opts_t o;
    char why[256];
    ck_assert_int_eq(parse("", &o, why, sizeof why), 0);
    ck_assert_int_eq(o.n, 100000);
    ck_assert_int_eq(o.d, 768);
    ck_assert_int_eq(o.k, 10);
    ck_assert_int_eq(parse("--n 5000 --q=3 --d 13 --k 7 --batches 2 --seed 9 --tf32", &o, why, sizeof why), 0);
    ck_assert_int_eq(o.n, 5000);
    ck_assert_int_eq(o.q, 3);
    ck_assert_int_eq(o.d, 13);
    ck_assert_int_eq(o.k, 7);
    ck_assert_int_eq(o.batches, 2);
    ck_assert_uint_eq(o.seed, 9);
    ck_assert_uint_eq(o.flags, UM_RECALL_TF32);
}
END_TEST

START_TEST(test_demo_parse_rejects_bad_input) {
    um_demo_opts_t o;
    char why[256];
    ck_assert_int_eq(parse("--bogus", &o, why, sizeof why), -1);
    ck_assert_ptr_nonnull(strstr(why, "unknown flag"));
    ck_assert_int_eq(parse("--n", &o, why, sizeof why), -1);
    ck_assert_ptr_nonnull(strstr(why, "needs a value"));
    ck_assert_int_eq(parse("--n 12x", &o, why, sizeof why), -1);
    ck_assert_ptr_nonnull(strstr(why, "not an integer"));
    ck_assert_int_eq(parse("--n 0", &o, why, sizeof why), -1);
    ck_assert_int_eq(parse("--d -4", &o, why, sizeof why), -1);
    ck_assert_int_eq(parse("--k 1025", &o, why, sizeof why), -1);
    ck_assert_int_eq(parse("--n 5 --k 6", &o, why, sizeof why), -1);
    ck_assert_ptr_nonnull(strstr(why, "exceeds n"));
    ck_assert_int_eq(parse("--q 99999999999999999999", &o, why, sizeof why), -1);
    ck_assert_int_eq(parse("--data f --n 5", &o, why, sizeof why), -1);
}
END_TEST

Suite *recall_suite(void) {
    Suite *s = suite_create("recall");
    TCase *core = tcase_create("core");
    tcase_add_test(core, test_ref_cosine_zero_vector_is_zero);
    tcase_add_test(core, test_ref_topk_orders_by_score_then_index);
    tcase_add_test(core, test_ref_check_accepts_swapped_ties);
    tcase_add_test(core, test_ref_recall_counts_overlap);
    tcase_add_test(core, test_gen_is_deterministic_and_prefix_stable);
    tcase_add_test(core, test_demo_parse_defaults_and_values);
    tcase_add_checked_fixture(core, data_setup, data_teardown);
    tcase_add_test(core, test_file_round_trip);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_test(limits, test_check_dims_accepts_edges);
    tcase_add_test(limits, test_check_dims_rejects_ranges);
    tcase_add_test(limits, test_ref_score_bound_grows_with_d);
    suite_add_tcase(s, limits);
    TCase *errors = tcase_create("errors");
    tcase_add_checked_fixture(errors, data_setup, data_teardown);
    tcase_add_test(errors, test_check_dims_rejects_k_above_n);
    tcase_add_test(errors, test_ref_check_rejects_wrong_members);
    tcase_add_test(errors, test_file_rejects_truncated_and_corrupt);
    tcase_add_test(errors, test_demo_parse_rejects_bad_input);
    suite_add_tcase(s, errors);
    return s;
}

UM_CHECK_MAIN(recall_suite)
