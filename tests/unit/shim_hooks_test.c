// The hook name tables: every row is found by its exported name (dlsym path) and by
// (name, cudaVersion, flags) the way the driver's cuGetProcAddress resolves it, including
// per-thread (_ptds/_ptsz) variants, CUDA 13 signatures and ABIs the shim must not claim.
#include <check.h>
#include <string.h>

#include "shim/hooks.h"
#include "tests/unit/check_main.h"

#define PT CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM

static const char *proc(const char *base, int ver, uint64_t flags) {
    const um_hook_t *h = um_hook_for_proc(base, ver, flags);
    return h ? h->sym : "(none)";
}

static void setup(void) {
    um_hooks_sort();
}

// --- core ---
START_TEST(test_hooks_every_row_by_sym) {
    ck_assert_int_gt(um_hook_count(), 80);
    for (int i = 0; i < um_hook_count(); i++) {
        const um_hook_t *h = um_hook_at(i);
        ck_assert_ptr_nonnull(h->wrapper);
        ck_assert_ptr_eq(um_hook_by_sym(h->sym), h);
        ck_assert_str_eq(um_real_name(h->id), h->sym);
    }
}
END_TEST

START_TEST(test_hooks_unique_names) {
    for (int i = 0; i < um_hook_count(); i++)
        for (int j = i + 1; j < um_hook_count(); j++)
            ck_assert_str_ne(um_hook_at(i)->sym, um_hook_at(j)->sym);
}
END_TEST

START_TEST(test_hooks_every_row_by_proc) {
    // Asked for exactly its own version and stream class, each row answers for itself.
    for (int i = 0; i < um_hook_count(); i++) {
        const um_hook_t *h = um_hook_at(i);
        ck_assert_str_eq(proc(h->base, h->since, h->pt ? PT : 0), h->sym);
    }
}
END_TEST

START_TEST(test_hooks_versioned_lookups) {
    ck_assert_str_eq(proc("cuMemAlloc", 13000, 0), "cuMemAlloc_v2");
    ck_assert_str_eq(proc("cuMemAlloc", 13000, PT), "cuMemAlloc_v2"); // no per-thread form
    ck_assert_str_eq(proc("cuMemcpyHtoD", 13000, 0), "cuMemcpyHtoD_v2");
    ck_assert_str_eq(proc("cuMemcpyHtoD", 13000, PT), "cuMemcpyHtoD_v2_ptds");
    ck_assert_str_eq(proc("cuMemcpyHtoDAsync", 12000, PT), "cuMemcpyHtoDAsync_v2_ptsz");
    ck_assert_str_eq(proc("cuLaunchKernel", 13000, PT), "cuLaunchKernel_ptsz");
    ck_assert_str_eq(proc("cuLaunchKernel", 13000, 0), "cuLaunchKernel");
    ck_assert_str_eq(proc("cuGetProcAddress", 13000, 0), "cuGetProcAddress_v2");
    ck_assert_str_eq(proc("cuGetProcAddress", 11030, 0), "cuGetProcAddress");
    ck_assert_str_eq(proc("cuMemPrefetchAsync", 12000, 0), "cuMemPrefetchAsync");
    ck_assert_str_eq(proc("cuMemPrefetchAsync", 12020, 0), "cuMemPrefetchAsync_v2");
    ck_assert_str_eq(proc("cuMemPrefetchAsync", 13000, PT), "cuMemPrefetchAsync_v2_ptsz");
    ck_assert_str_eq(proc("cuMemAdvise", 13000, PT), "cuMemAdvise_v2");
    // CUDA 13 changed the ABI behind the name: at 13000 the driver returns cuCtxSynchronize_v2.
    ck_assert_str_eq(proc("cuCtxSynchronize", 12090, 0), "cuCtxSynchronize");
    ck_assert_str_eq(proc("cuCtxSynchronize", 13000, 0), "cuCtxSynchronize_v2");
    ck_assert_str_eq(proc("cuStreamBeginCapture", 13000, PT), "cuStreamBeginCapture_v2_ptsz");
}
END_TEST

// --- limits ---
START_TEST(test_hooks_older_abis_not_claimed) {
    // Before these versions the driver returns ABIs the shim does not wrap (32-bit sizes,
    // no mode argument...): the caller must get the driver's own pointer.
    ck_assert_str_eq(proc("cuMemAlloc", 3010, 0), "(none)");
    ck_assert_str_eq(proc("cuMemcpyHtoD", 2000, PT), "(none)");
    ck_assert_str_eq(proc("cuStreamBeginCapture", 10000, 0), "(none)");
    ck_assert_str_eq(proc("cuGetProcAddress", 11020, 0), "(none)");
    // Per-thread asked for before the variant existed: the legacy ABI, as the driver does.
    ck_assert_str_eq(proc("cuMemcpyHtoD", 6050, PT), "cuMemcpyHtoD_v2");
}
END_TEST

START_TEST(test_hooks_sym_names_exact) {
    ck_assert_ptr_nonnull(um_hook_by_sym("cuMemcpyHtoD_v2_ptds"));
    ck_assert_ptr_nonnull(um_hook_by_sym("cuMemcpy3DPeerAsync_ptsz"));
    ck_assert_ptr_null(um_hook_by_sym("cuMemcpyHtoD"));  // v1 ABI, not wrapped
    ck_assert_ptr_null(um_hook_by_sym("cuMemAlloc"));
    ck_assert_ptr_null(um_hook_by_sym("cuMemAlloc_v2 "));
}
END_TEST

// --- errors ---
START_TEST(test_hooks_bad_names) {
    ck_assert_ptr_null(um_hook_by_sym(NULL));
    ck_assert_ptr_null(um_hook_by_sym(""));
    ck_assert_ptr_null(um_hook_by_sym("dlsym"));
    ck_assert_ptr_null(um_hook_for_proc(NULL, 13000, 0));
    ck_assert_ptr_null(um_hook_for_proc("cuNoSuchThing", 13000, 0));
    ck_assert_ptr_null(um_hook_for_proc("cuMemAlloc", -1, 0));
    ck_assert_ptr_null(um_hook_at(-1));
    ck_assert_ptr_null(um_hook_at(um_hook_count()));
}
END_TEST

Suite *shim_hooks_suite(void) {
    Suite *s = suite_create("shim_hooks");
    TCase *core = tcase_create("core");
    tcase_add_checked_fixture(core, setup, NULL);
    tcase_add_test(core, test_hooks_every_row_by_sym);
    tcase_add_test(core, test_hooks_unique_names);
    tcase_add_test(core, test_hooks_every_row_by_proc);
    tcase_add_test(core, test_hooks_versioned_lookups);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_checked_fixture(limits, setup, NULL);
    tcase_add_test(limits, test_hooks_older_abis_not_claimed);
    tcase_add_test(limits, test_hooks_sym_names_exact);
    suite_add_tcase(s, limits);
    TCase *errors = tcase_create("errors");
    tcase_add_checked_fixture(errors, setup, NULL);
    tcase_add_test(errors, test_hooks_bad_names);
    suite_add_tcase(s, errors);
    return s;
}

UM_CHECK_MAIN(shim_hooks_suite)
