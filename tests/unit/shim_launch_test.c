// Launch parameter decoding: pointer candidates from kernelParams with a cuFuncGetParamInfo
// layout, from `extra` packed buffers with and without a layout, struct parameters, and
// the cases that cannot be decoded.
#include <check.h>
#include <string.h>

#include "shim/cuda_api.h"
#include "shim/launch.h"
#include "tests/unit/check_main.h"

// saxpy(float a, const float *x, float *y, int n)
static uint32_t saxpy_off[] = {0, 8, 16, 24}, saxpy_size[] = {4, 8, 8, 4};
static const um_layout_t saxpy = {4, "saxpy", saxpy_off, saxpy_size};

// --- core ---
START_TEST(test_params_kernelparams_layout) {
    float a = 2;
    uint64_t x = 0x7000001000, y = 0x7000002010;
    int n = 5;
    void *args[] = {&a, &x, &y, &n};
    uint64_t out[8];
    ck_assert_int_eq(um_params_collect(&saxpy, args, NULL, out, 8), 2);
    ck_assert_uint_eq(out[0], x);
    ck_assert_uint_eq(out[1], y);
}
END_TEST

START_TEST(test_params_extra_with_layout) {
    unsigned char buf[32];
    memset(buf, 0, sizeof buf);
    float a = 2;
    uint64_t x = 0x7000001000, y = 0x7000002010;
    memcpy(buf, &a, 4);
    memcpy(buf + 8, &x, 8);
    memcpy(buf + 16, &y, 8);
    size_t len = sizeof buf;
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, buf, CU_LAUNCH_PARAM_BUFFER_SIZE, &len,
                     CU_LAUNCH_PARAM_END};
    uint64_t out[8];
    ck_assert_int_eq(um_params_collect(&saxpy, NULL, extra, out, 8), 2);
    ck_assert_uint_eq(out[0], x);
    ck_assert_uint_eq(out[1], y);
}
END_TEST

START_TEST(test_params_struct_param) {
    // kernel(struct { int n; float *p; float *q; } s): one 24-byte parameter.
    struct {
        int n;
        uint64_t p, q;
    } s = {3, 0x7100000000, 0x7200000040};
    uint32_t off[] = {0}, size[] = {24};
    um_layout_t lay = {1, "k", off, size};
    void *args[] = {&s};
    uint64_t out[8];
    int k = um_params_collect(&lay, args, NULL, out, 8);
    ck_assert_int_eq(k, 3); // the int word is a candidate too (harmless: not an allocation)
    ck_assert_uint_eq(out[1], s.p);
    ck_assert_uint_eq(out[2], s.q);
}
END_TEST

// --- limits ---
START_TEST(test_params_extra_scan_without_layout) {
    uint64_t words[3] = {0, 0x7000003000, 0x7000004000};
    size_t len = sizeof words;
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, words, CU_LAUNCH_PARAM_BUFFER_SIZE, &len,
                     CU_LAUNCH_PARAM_END};
    uint64_t out[8];
    um_layout_t unknown = {-1, "", NULL, NULL};
    ck_assert_int_eq(um_params_collect(&unknown, NULL, extra, out, 8), 2);
    ck_assert_uint_eq(out[0], words[1]);
    ck_assert_int_eq(um_params_collect(NULL, NULL, extra, out, 1), 1); // capped at max
}
END_TEST

START_TEST(test_params_none) {
    uint64_t out[4];
    ck_assert_int_eq(um_params_collect(&saxpy, NULL, NULL, out, 4), 0);
    uint32_t z = 0;
    um_layout_t empty = {0, "nop", &z, &z};
    void *args[] = {NULL};
    ck_assert_int_eq(um_params_collect(&empty, args, NULL, out, 4), 0);
}
END_TEST

START_TEST(test_params_null_values_skipped) {
    float a = 2;
    uint64_t x = 0, y = 0x7000002010;
    int n = 5;
    void *args[] = {&a, &x, &y, &n};
    uint64_t out[8];
    ck_assert_int_eq(um_params_collect(&saxpy, args, NULL, out, 8), 1);
    ck_assert_uint_eq(out[0], y);
}
END_TEST

// --- errors ---
START_TEST(test_params_kernelparams_without_layout) {
    uint64_t x = 0x7000001000;
    void *args[] = {&x};
    uint64_t out[4];
    um_layout_t unknown = {-1, "", NULL, NULL};
    ck_assert_int_eq(um_params_collect(&unknown, args, NULL, out, 4), -1);
    ck_assert_int_eq(um_params_collect(NULL, args, NULL, out, 4), -1);
}
END_TEST

START_TEST(test_params_extra_without_buffer) {
    size_t len = 16;
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_SIZE, &len, CU_LAUNCH_PARAM_END};
    uint64_t out[4];
    ck_assert_int_eq(um_params_collect(&saxpy, NULL, extra, out, 4), 0);
    // A layout that runs past the buffer's declared size is not read past it.
    unsigned char small[12] = {0};
    size_t slen = sizeof small;
    void *extra2[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, small, CU_LAUNCH_PARAM_BUFFER_SIZE, &slen,
                      CU_LAUNCH_PARAM_END};
    ck_assert_int_eq(um_params_collect(&saxpy, NULL, extra2, out, 4), 0);
}
END_TEST

Suite *shim_launch_suite(void) {
    Suite *s = suite_create("shim_launch");
    TCase *core = tcase_create("core");
    tcase_add_test(core, test_params_kernelparams_layout);
    tcase_add_test(core, test_params_extra_with_layout);
    tcase_add_test(core, test_params_struct_param);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_test(limits, test_params_extra_scan_without_layout);
    tcase_add_test(limits, test_params_none);
    tcase_add_test(limits, test_params_null_values_skipped);
    suite_add_tcase(s, limits);
    TCase *errors = tcase_create("errors");
    tcase_add_test(errors, test_params_kernelparams_without_layout);
    tcase_add_test(errors, test_params_extra_without_buffer);
    suite_add_tcase(s, errors);
    return s;
}

UM_CHECK_MAIN(shim_launch_suite)
