// NVTX ranges around the shim's own work: with a tool attached (here a static injection, the
// way NVTX lets a statically linked tool attach) every push names an "umshim" domain range
// and is matched by a pop; with UMSHIM_NVTX=0 nothing reaches the tool at all.
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <nvtx3/nvToolsExt.h>

#include "shim/nvtx.h"
#include "tests/unit/check_main.h"

// --- a minimal NVTX tool: counts pushes/pops and keeps the last attributes ---
static int pushes, pops, domains;
static char last_domain[64];
static uint64_t last_payload;
static int last_message_type;

static nvtxDomainHandle_t NVTX_API tool_domain_create(const char *name) {
    domains++;
    strncpy(last_domain, name, sizeof last_domain - 1);
    return (nvtxDomainHandle_t)(uintptr_t)0x1000;
}

static int NVTX_API tool_push(nvtxDomainHandle_t d, const nvtxEventAttributes_t *a) {
    ck_assert_ptr_eq(d, (nvtxDomainHandle_t)(uintptr_t)0x1000);
    pushes++;
    last_payload = a->payloadType == NVTX_PAYLOAD_TYPE_UNSIGNED_INT64 ? a->payload.ullValue : 0;
    last_message_type = a->messageType;
    return pushes - pops - 1;
}

static int NVTX_API tool_pop(nvtxDomainHandle_t d) {
    ck_assert_ptr_eq(d, (nvtxDomainHandle_t)(uintptr_t)0x1000);
    pops++;
    return pushes - pops;
}

static int NVTX_API tool_init(NvtxGetExportTableFunc_t get) {
    const NvtxExportTableCallbacks *cb = get(NVTX_ETID_CALLBACKS);
    NvtxFunctionTable core2 = NULL;
    unsigned int n = 0;
    if (cb == NULL || !cb->GetModuleFunctionTable(NVTX_CB_MODULE_CORE2, &core2, &n) ||
        n <= NVTX_CBID_CORE2_DomainCreateA)
        return 0;
    *core2[NVTX_CBID_CORE2_DomainCreateA] = (NvtxFunctionPointer)tool_domain_create;
    *core2[NVTX_CBID_CORE2_DomainRangePushEx] = (NvtxFunctionPointer)tool_push;
    *core2[NVTX_CBID_CORE2_DomainRangePop] = (NvtxFunctionPointer)tool_pop;
    return 1;
}

// NVTX's hook for a statically linked tool (nvtxInit.h): found at the first NVTX call.
NvtxInitializeInjectionNvtxFunc_t InitializeInjectionNvtx2_fnptr = tool_init;

// --- core ---
START_TEST(test_nvtx_ranges_reach_the_tool) {
    um_nvtx_init(1);
    ck_assert_int_eq(domains, 1);
    ck_assert_str_eq(last_domain, "umshim");
    um_nvtx_push(UM_NVTX_PREFETCH, 4096);
    ck_assert_int_eq(pushes, 1);
    ck_assert_uint_eq(last_payload, 4096);
    um_nvtx_push(UM_NVTX_HOST_SYNC, 0); // nested
    ck_assert_uint_eq(last_payload, 0);
    um_nvtx_pop();
    um_nvtx_pop();
    ck_assert_int_eq(pushes, 2);
    ck_assert_int_eq(pops, 2);
}
END_TEST

// --- limits ---
START_TEST(test_nvtx_off_calls_nothing) {
    um_nvtx_init(0);
    um_nvtx_push(UM_NVTX_ADVISE, 1);
    um_nvtx_pop();
    ck_assert_int_eq(domains, 0);
    ck_assert_int_eq(pushes, 0);
    ck_assert_int_eq(pops, 0);
}
END_TEST

// --- errors ---
START_TEST(test_nvtx_unknown_kind_ignored) {
    um_nvtx_init(1);
    um_nvtx_push(UM_NVTX_COUNT, 1);
    um_nvtx_push((um_nvtx_what_t)-1, 1);
    ck_assert_int_eq(pushes, 0);
}
END_TEST

static void reset(void) {
    pushes = pops = domains = 0;
    last_domain[0] = 0;
}

Suite *shim_nvtx_suite(void) {
    Suite *s = suite_create("shim_nvtx");
    TCase *core = tcase_create("core");
    tcase_add_checked_fixture(core, reset, NULL);
    tcase_add_test(core, test_nvtx_ranges_reach_the_tool);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_checked_fixture(limits, reset, NULL);
    tcase_add_test(limits, test_nvtx_off_calls_nothing);
    suite_add_tcase(s, limits);
    TCase *errors = tcase_create("errors");
    tcase_add_checked_fixture(errors, reset, NULL);
    tcase_add_test(errors, test_nvtx_unknown_kind_ignored);
    suite_add_tcase(s, errors);
    return s;
}

UM_CHECK_MAIN(shim_nvtx_suite)
