// cuGetProcAddress through the shim: the caller gets the shim's wrapper only for the exact ABI
// the driver returned, resolved by (name, cudaVersion, flags), and the driver's own pointer
// otherwise. Against the driver test double (which answers "cuCtxSynchronize" at 13000 with
// the _v2 ABI, as CUDA 13 drivers do), also with UMDOUBLE_PROC_DISTINCT=1 (answers are internal
// entry points, not the exported symbols), and against a scripted fake driver for the cases
// no real table produces on purpose (an ABI newer than hooks.def, a driver without a row's ABI).
#include <check.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "shim/entry.h"
#include "shim/hooks.h"

// The shim's wrappers (shim_core is linked in): what a caller must receive.
extern CUresult cuGetProcAddress_v2(const char *, void **, int, cuuint64_t,
                                    CUdriverProcAddressQueryResult *);

#define PT CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM

static void *lib; // the double

static void load_double(int distinct) {
    const char *path = getenv("UMDOUBLE_TEST_LIB");
    ck_assert_msg(path != NULL, "UMDOUBLE_TEST_LIB is not set");
    setenv("UMSHIM_MODE", "passthrough", 1);
    setenv("UMSHIM_LOG", "error", 1);
    if (distinct)
        setenv("UMDOUBLE_PROC_DISTINCT", "1", 1);
    else
        unsetenv("UMDOUBLE_PROC_DISTINCT");
    lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(lib != NULL, "cannot load the double: %s", dlerror());
    ck_assert_int_eq(um_init(), 0); // finds the double by its soname, libcuda.so.1
}

static void setup_double(void) {
    load_double(0);
}

static void setup_distinct(void) {
    load_double(1);
}

// What the shim hands a caller for (name, version, flags).
static void *shim_proc(const char *name, int version, cuuint64_t flags) {
    void *p = NULL;
    CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    ck_assert_int_eq(cuGetProcAddress_v2(name, &p, version, flags, &st), CUDA_SUCCESS);
    ck_assert_int_eq(st, CU_GET_PROC_ADDRESS_SUCCESS);
    return p;
}

// What the driver itself answers (bypassing the shim).
static void *driver_proc(const char *name, int version, cuuint64_t flags) {
    void *p = NULL;
    CUdriverProcAddressQueryResult st;
    ck_assert_int_eq(um_real.cuGetProcAddress_v2(name, &p, version, flags, &st), CUDA_SUCCESS);
    return p;
}

static void *wrapper(const char *sym) {
    const um_hook_t *h = um_hook_by_sym(sym);
    ck_assert_msg(h != NULL, "%s is not hooked", sym);
    return h->wrapper;
}

// --- core ---
START_TEST(test_proc_ctx_synchronize_by_version) {
    ck_assert_ptr_eq(shim_proc("cuCtxSynchronize", 12090, 0), wrapper("cuCtxSynchronize"));
    // CUDA 13: the driver returns the _v2 ABI (a CUcontext argument); so must the shim.
    ck_assert_ptr_eq(shim_proc("cuCtxSynchronize", 13000, 0), wrapper("cuCtxSynchronize_v2"));
    // The wrapper handed out calls the driver's _v2 entry point.
    int (*count)(const char *) = (int (*)(const char *))dlsym(lib, "umdouble_count");
    ck_assert_ptr_nonnull(count);
    PFN_cuInit_v2000 init = (PFN_cuInit_v2000)shim_proc("cuInit", 13000, 0);
    ck_assert_int_eq(init(0), CUDA_SUCCESS);
    CUcontext ctx;
    ck_assert_int_eq(((PFN_cuDevicePrimaryCtxRetain_v7000)driver_proc("cuDevicePrimaryCtxRetain",
                                                                      13000, 0))(&ctx, 0),
                     CUDA_SUCCESS);
    ck_assert_int_eq(((PFN_cuCtxSetCurrent_v4000)driver_proc("cuCtxSetCurrent", 13000, 0))(ctx),
                     CUDA_SUCCESS);
    int before = count("cuCtxSynchronize_v2");
    PFN_cuCtxSynchronize_v13000 sync13 =
        (PFN_cuCtxSynchronize_v13000)shim_proc("cuCtxSynchronize", 13000, 0);
    ck_assert_int_eq(sync13(ctx), CUDA_SUCCESS);
    ck_assert_int_eq(count("cuCtxSynchronize_v2"), before + 1);
}
END_TEST

START_TEST(test_proc_per_thread_and_versioned_rows) {
    ck_assert_ptr_eq(shim_proc("cuMemAlloc", 13000, 0), wrapper("cuMemAlloc_v2"));
    ck_assert_ptr_eq(shim_proc("cuMemcpyHtoD", 13000, PT), wrapper("cuMemcpyHtoD_v2_ptds"));
    ck_assert_ptr_eq(shim_proc("cuMemcpyHtoD", 13000, 0), wrapper("cuMemcpyHtoD_v2"));
    ck_assert_ptr_eq(shim_proc("cuMemPrefetchAsync", 12000, 0), wrapper("cuMemPrefetchAsync"));
    ck_assert_ptr_eq(shim_proc("cuMemPrefetchAsync", 13000, PT), wrapper("cuMemPrefetchAsync_v2_ptsz"));
    ck_assert_ptr_eq(shim_proc("cuGetProcAddress", 13000, 0), wrapper("cuGetProcAddress_v2"));
}
END_TEST

START_TEST(test_proc_unhooked_is_the_drivers) {
    // cuCtxGetDevice is not wrapped: at 13000 the caller gets the driver's _v2 entry point.
    ck_assert_ptr_eq(shim_proc("cuCtxGetDevice", 13000, 0), driver_proc("cuCtxGetDevice", 13000, 0));
    ck_assert_ptr_eq(shim_proc("cuCtxGetDevice", 13000, 0), dlsym(lib, "cuCtxGetDevice_v2"));
}
END_TEST

// --- limits ---
START_TEST(test_proc_distinct_pointers_still_resolve) {
    // Answers are not the exported symbols: the shim must learn each row's ABI by asking.
    void *drv = driver_proc("cuCtxSynchronize", 13000, 0);
    ck_assert_ptr_ne(drv, dlsym(lib, "cuCtxSynchronize_v2"));
    ck_assert_ptr_eq(shim_proc("cuCtxSynchronize", 13000, 0), wrapper("cuCtxSynchronize_v2"));
    ck_assert_ptr_eq(shim_proc("cuCtxSynchronize", 12000, 0), wrapper("cuCtxSynchronize"));
    ck_assert_ptr_eq(shim_proc("cuMemcpyHtoD", 13000, PT), wrapper("cuMemcpyHtoD_v2_ptds"));
    ck_assert_ptr_eq(shim_proc("cuLaunchKernel", 13000, PT), wrapper("cuLaunchKernel_ptsz"));
    ck_assert_ptr_eq(shim_proc("cuMemAlloc", 13000, 0), wrapper("cuMemAlloc_v2"));
    // Asked twice, the same answer (the second from what was learned).
    ck_assert_ptr_eq(shim_proc("cuMemAlloc", 13000, 0), wrapper("cuMemAlloc_v2"));
}
END_TEST

START_TEST(test_proc_versioned_name_asked_directly) {
    // The double also answers a versioned name asked for as such (the real driver answers
    // NULL there, H100 probe 2026-11-25): that row alone may then match.
    ck_assert_ptr_eq(shim_proc("cuCtxSynchronize_v2", 13000, 0), wrapper("cuCtxSynchronize_v2"));
}
END_TEST

START_TEST(test_proc_older_abi_not_claimed) {
    // Before 12.2 cuMemAdvise is the device-ordinal ABI; before 13.0 cuCtxSynchronize takes no
    // argument. Neither may be answered with the newer wrapper.
    ck_assert_ptr_eq(shim_proc("cuMemAdvise", 12000, 0), wrapper("cuMemAdvise"));
    ck_assert_ptr_ne(shim_proc("cuCtxSynchronize", 12090, 0), wrapper("cuCtxSynchronize_v2"));
}
END_TEST

// --- errors: a scripted driver whose answers no real table gives on purpose ---
static char fake_old, fake_new; // two distinct "entry points" (never called)

// A driver whose cuMemAlloc gained an ABI at 13000 that hooks.def does not know, and whose
// cuMemPrefetchAsync never got the 12.2 _v2 ABI (it answers the 8.0 one at every version).
static CUresult fake_gpa(const char *name, void **pfn, int version, cuuint64_t flags,
                         CUdriverProcAddressQueryResult *st) {
    (void)flags;
    *pfn = NULL;
    if (strcmp(name, "cuMemAlloc") == 0)
        *pfn = version >= 13000 ? (void *)&fake_new : (void *)&fake_old;
    else if (strcmp(name, "cuMemPrefetchAsync") == 0 && version >= 8000)
        *pfn = (void *)&fake_old;
    if (st)
        *st = *pfn ? CU_GET_PROC_ADDRESS_SUCCESS : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    return *pfn ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

static void setup_fake(void) {
    setenv("UMSHIM_LOG", "error", 1);
    memset(&um_real, 0, sizeof um_real);
    um_real.cuGetProcAddress_v2 = fake_gpa;
    um_hooks_sort();
}

START_TEST(test_proc_unknown_abi_is_not_wrapped) {
    // cuMemAlloc at 13000 is an ABI no row has: no wrapper, so the caller keeps the driver's.
    ck_assert_ptr_null(um_entry_proc_row("cuMemAlloc", &fake_new, 13000, 0));
    // At 12000 the driver's answer is the 3.2 ABI, which cuMemAlloc_v2 wraps.
    const um_hook_t *h = um_entry_proc_row("cuMemAlloc", &fake_old, 12000, 0);
    ck_assert_ptr_nonnull(h);
    ck_assert_str_eq(h->sym, "cuMemAlloc_v2");
}
END_TEST

START_TEST(test_proc_rule_overridden_by_drivers_answer) {
    // The version rule says cuMemPrefetchAsync_v2 at 13000; this driver returned the 8.0 ABI.
    const um_hook_t *h = um_entry_proc_row("cuMemPrefetchAsync", &fake_old, 13000, 0);
    ck_assert_ptr_nonnull(h);
    ck_assert_str_eq(h->sym, "cuMemPrefetchAsync");
}
END_TEST

START_TEST(test_proc_bad_input) {
    ck_assert_ptr_null(um_entry_proc_row("cuMemAlloc", NULL, 13000, 0));
    ck_assert_ptr_null(um_entry_proc_row(NULL, &fake_old, 13000, 0));
    ck_assert_ptr_null(um_entry_proc_row("cuNoSuchThing", &fake_old, 13000, 0));
    ck_assert_ptr_null(um_entry_proc_row("cuMemAlloc", &fake_old, -1, 0));
}
END_TEST

static Suite *shim_entry_suite(void) {
    Suite *s = suite_create("shim_entry");
    TCase *core = tcase_create("core");
    tcase_add_checked_fixture(core, setup_double, NULL);
    tcase_add_test(core, test_proc_ctx_synchronize_by_version);
    tcase_add_test(core, test_proc_per_thread_and_versioned_rows);
    tcase_add_test(core, test_proc_unhooked_is_the_drivers);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_checked_fixture(limits, setup_distinct, NULL);
    tcase_add_test(limits, test_proc_distinct_pointers_still_resolve);
    tcase_add_test(limits, test_proc_versioned_name_asked_directly);
    tcase_add_test(limits, test_proc_older_abi_not_claimed);
    suite_add_tcase(s, limits);
    TCase *errors = tcase_create("errors");
    tcase_add_checked_fixture(errors, setup_fake, NULL);
    tcase_add_test(errors, test_proc_unknown_abi_is_not_wrapped);
    tcase_add_test(errors, test_proc_rule_overridden_by_drivers_answer);
    tcase_add_test(errors, test_proc_bad_input);
    suite_add_tcase(s, errors);
    return s;
}

// Not UM_CHECK_MAIN: the double and the shim initialise once per process, so every test needs
// a process of its own (fork mode forced, whatever CK_FORK says), like tests/double/double_test.c.
int main(void) {
    SRunner *runner = srunner_create(shim_entry_suite());
    srunner_set_fork_status(runner, CK_FORK);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
