// `umshim report` on hand-written traces of known programs (tools/testdata/): the right
// sites with the right byte counts, redundant and unused copies, leaks, peak device memory,
// auto's decision per site (from the real policy engine), and one clear error for files that
// are not traces.
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/check_main.h"
#include "tools/cli.h"
#include "tools/model.h"

#define LEGACY "tools/testdata/legacy_recall.umt"

static um_model_t model;
static char err[512];

static void load_legacy(void) {
    um_pol_config_t cfg = um_report_policy_config();
    ck_assert_msg(um_model_load(LEGACY, &cfg, &model, err, sizeof err) == 0, "%s", err);
}

static void unload(void) {
    um_model_free(&model);
}

static const um_site_stats_t *site(const char *name) {
    const um_site_stats_t *s = um_model_site(&model, name);
    ck_assert_msg(s != NULL, "site %s missing", name);
    return s;
}

// --- core ---
START_TEST(test_report_sites_and_bytes) {
    ck_assert_uint_eq(model.nsites, 5);
    const um_site_stats_t *q = site("recall+0x1a00"), *t = site("recall+0x1a40"),
                          *r = site("recall+0x1a80"), *s = site("recall+0x1ac0");
    ck_assert_uint_eq(q->st.c.h2d_n, 4);
    ck_assert_uint_eq(q->st.c.h2d_b, 4ull * 3072000);
    ck_assert_uint_eq(q->st.c.launch_n, 3); // a launch naming it twice counts once
    ck_assert_uint_eq(t->st.c.h2d_n, 1);
    ck_assert_uint_eq(t->st.c.h2d_b, 30720000);
    ck_assert_uint_eq(t->st.c.launch_n, 3);
    ck_assert_uint_eq(r->st.c.d2h_n, 4);
    ck_assert_uint_eq(r->st.c.d2h_b, 160000000);
    ck_assert_uint_eq(r->st.c.h2d_n, 0);
    ck_assert_uint_eq(s->st.c.h2d_n, 1);
    ck_assert_uint_eq(s->st.c.h2d_b, 1048576);
    ck_assert_uint_eq(model.tot.copies_n[UM_DIR_H2D], 6);
    ck_assert_uint_eq(model.tot.copies_n[UM_DIR_D2H], 4);
    ck_assert_uint_eq(model.tot.launches, 3);
    // sorted by bytes moved: results first
    ck_assert_str_eq(model.sites[0].st.site, "recall+0x1a80");
}
END_TEST

START_TEST(test_report_redundant_unused_leaks) {
    // queries uploaded twice before any kernel ran: the second upload is redundant
    ck_assert_uint_eq(site("recall+0x1a00")->st.c.h2d_redundant_n, 1);
    ck_assert_uint_eq(site("recall+0x1a40")->st.c.h2d_redundant_n, 0);
    // the same results read back twice with nothing in between (same hash)
    ck_assert_uint_eq(site("recall+0x1a80")->d2h_redundant_n, 1);
    ck_assert_uint_eq(site("recall+0x1a80")->d2h_redundant_b, 40000000);
    // scratch: uploaded, never used by a kernel, never freed
    const um_site_stats_t *s = site("recall+0x1ac0");
    ck_assert_uint_eq(s->copied_no_kernel, 1);
    ck_assert_uint_eq(s->st.live, 1);
    ck_assert_uint_eq(s->st.live_bytes, 1048576);
    ck_assert_uint_eq(site("recall+0x1a00")->st.live, 0);
    ck_assert_uint_eq(site("recall+0x1a00")->copied_no_kernel, 0);
}
END_TEST

START_TEST(test_report_peak_device_memory) {
    // all four device buffers live at once; the pinned host buffer does not count
    ck_assert_uint_eq(model.peak_device_bytes, 3072000ull + 30720000 + 40000000 + 1048576);
    ck_assert_int_eq(site("recall+0x1b00")->mem, UM_MEM_HOST);
    ck_assert_int_eq(site("recall+0x1a00")->mem, UM_MEM_DEVICE);
}
END_TEST

START_TEST(test_report_kernels_and_decisions) {
    ck_assert_uint_eq(model.nkernels, 1);
    ck_assert_str_eq(model.kernels[0].name, "cosine_similarity");
    ck_assert_uint_eq(model.kernels[0].launches, 3);
    const um_site_stats_t *t = site("recall+0x1a40");
    ck_assert_uint_eq(t->nkernels, 1);
    ck_assert_str_eq(t->kernels[0], "cosine_similarity");
    ck_assert(model.have_policy);
    for (size_t i = 0; i < model.nsites; i++) {
        const um_site_stats_t *s = &model.sites[i];
        ck_assert_msg(s->have_decision, "no decision for %s", s->st.site);
        if (s->mem != UM_MEM_HOST)
            ck_assert_msg(s->decision.reason[0] != '\0', "no reason for %s", s->st.site);
    }
}
END_TEST

START_TEST(test_report_json_and_text_render) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    um_report_print(f, &model, LEGACY, 1);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "\"site\":\"recall+0x1a40\""));
    ck_assert_ptr_nonnull(strstr(buf, "\"h2d\":{\"copies\":1,\"bytes\":30720000}"));
    ck_assert_ptr_nonnull(strstr(buf, "\"peak_device_bytes\":74840576"));
    ck_assert_ptr_nonnull(strstr(buf, "\"reason\":"));
    free(buf);
    f = open_memstream(&buf, &len);
    um_report_print(f, &model, LEGACY, 0);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "recall+0x1ac0"));
    ck_assert_ptr_nonnull(strstr(buf, "auto would decide"));
    ck_assert_ptr_nonnull(strstr(buf, "because: "));
    free(buf);
}
END_TEST

// --- limits ---
START_TEST(test_report_empty_trace) {
    um_model_t m;
    ck_assert_msg(um_model_load("tools/testdata/empty.umt", NULL, &m, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(m.nsites, 0);
    ck_assert_uint_eq(m.tot.events, 0);
    ck_assert_uint_eq(m.peak_device_bytes, 0);
    um_model_free(&m);
}
END_TEST

START_TEST(test_report_managed_prefetch_trace) {
    um_model_t m;
    ck_assert_msg(um_model_load("tools/testdata/managed_prefetch.umt", NULL, &m, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_uint_eq(m.nsites, 1);
    ck_assert_int_eq(m.sites[0].mem, UM_MEM_MANAGED);
    ck_assert_int_eq(m.sites[0].req_mem, UM_MEM_DEVICE);
    ck_assert_uint_eq(m.sites[0].st.c.prefetch_n, 2);
    ck_assert_uint_eq(m.sites[0].st.c.prefetch_b, 2ull * 67108864);
    ck_assert_uint_eq(m.peak_device_bytes, 67108864);
    ck_assert_uint_eq(m.tot.fallbacks, 1);
    ck_assert(!m.have_policy);
    um_model_free(&m);
}
END_TEST

// --- errors ---
START_TEST(test_report_not_a_trace) {
    um_model_t m;
    ck_assert_int_eq(um_model_load("tools/testdata/not_a_trace.txt", NULL, &m, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "not a umshim trace"));
    ck_assert_ptr_nonnull(strstr(err, "not_a_trace.txt"));
}
END_TEST

START_TEST(test_report_bad_line_names_line) {
    um_model_t m;
    ck_assert_int_eq(um_model_load("tools/testdata/bad_line.umt", NULL, &m, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "bad_line.umt:3:"));
}
END_TEST

START_TEST(test_report_missing_file) {
    um_model_t m;
    ck_assert_int_eq(um_model_load("tools/testdata/no_such_file.umt", NULL, &m, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "No such file"));
}
END_TEST

Suite *cli_report_suite(void) {
    Suite *s = suite_create("cli_report");
    TCase *core = tcase_create("core");
    tcase_add_checked_fixture(core, load_legacy, unload);
    tcase_add_test(core, test_report_sites_and_bytes);
    tcase_add_test(core, test_report_redundant_unused_leaks);
    tcase_add_test(core, test_report_peak_device_memory);
    tcase_add_test(core, test_report_kernels_and_decisions);
    tcase_add_test(core, test_report_json_and_text_render);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_test(limits, test_report_empty_trace);
    tcase_add_test(limits, test_report_managed_prefetch_trace);
    suite_add_tcase(s, limits);
    TCase *errors = tcase_create("errors");
    tcase_add_test(errors, test_report_not_a_trace);
    tcase_add_test(errors, test_report_bad_line_names_line);
    tcase_add_test(errors, test_report_missing_file);
    suite_add_tcase(s, errors);
    return s;
}

UM_CHECK_MAIN(cli_report_suite)
