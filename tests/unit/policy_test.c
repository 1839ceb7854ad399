// The policy engine, driven by synthetic event sequences: the four modes, every auto rule
// (with its reason), online learning from an allocation's own history and from its site's,
// the overrides (keep-device, IPC, policy file), save/load, determinism and bad input.
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/policy.h"
#include "policy/policy_file.h"
#include "policy/stats.h"
#include "tests/unit/check_main.h"
#include "tests/unit/policy_events.h"

#define MiB (1ull << 20)
#define THRESHOLD MiB

static um_pol_t *pol;

static um_pol_t *make(um_mode_t mode, uint64_t staging) {
    um_pol_config_t cfg = {mode, THRESHOLD, staging, 0};
    um_pol_t *p = um_pol_create(&cfg);
    ck_assert_ptr_nonnull(p);
    return p;
}

static void setup_auto(void) {
    pol = make(UM_MODE_AUTO, 0);
}

static void teardown(void) {
    um_pol_destroy(pol);
    pol = NULL;
}

static void feed(um_event_t ev) {
    um_pol_observe(pol, &ev);
}

// Every decision: a reason of one line that names the mode and the rule.
static void check_reason(const um_decision_t *d, um_mode_t mode) {
    ck_assert_uint_gt(strlen(d->reason), 0);
    ck_assert_ptr_null(strchr(d->reason, '\n'));
    ck_assert_msg(strncmp(d->reason, um_pol_mode_name(mode), strlen(um_pol_mode_name(mode))) == 0,
                  "reason '%s' does not start with the mode", d->reason);
    ck_assert_msg(strstr(d->reason, um_pol_rule_name(d->rule)) != NULL,
                  "reason '%s' does not name rule %s", d->reason, um_pol_rule_name(d->rule));
}

static um_decision_t live(uint64_t id) {
    um_decision_t d = um_pol_decide_live(pol, id);
    check_reason(&d, UM_MODE_AUTO);
    return d;
}

static um_decision_t fresh(const char *site, uint64_t bytes) {
    um_decision_t d = um_pol_decide_alloc(pol, site, bytes);
    check_reason(&d, UM_MODE_AUTO);
    return d;
}

static void assert_auto_managed(um_decision_t dv, int rule, unsigned advise) {
    const um_decision_t *d = &dv;
    ck_assert_msg(d->rule == rule, "rule %s, expected %s (%s)", um_pol_rule_name(d->rule),
                  um_pol_rule_name(rule), d->reason);
    ck_assert_int_eq(d->placement, UM_PLACE_MANAGED);
    ck_assert_uint_eq(d->advise, advise);
    ck_assert_int_eq(d->prefetch, UM_PF_ON_LAUNCH);
    ck_assert_int_eq(d->copy_h2d, UM_COPY_DRIVER);
    ck_assert_int_eq(d->copy_d2h, UM_COPY_DRIVER);
    ck_assert_int_eq(d->host_prefetch_before_read, 0);
    ck_assert_int_eq(d->populate, 1);
    ck_assert_msg(strstr(d->reason, "[populated]") != NULL, "reason '%s' lacks its action tag",
                  d->reason);
}

static void assert_device(um_decision_t dv, int rule) {
    const um_decision_t *d = &dv;
    ck_assert_msg(d->rule == rule, "rule %s, expected %s (%s)", um_pol_rule_name(d->rule),
                  um_pol_rule_name(rule), d->reason);
    ck_assert_int_eq(d->placement, UM_PLACE_DEVICE);
    ck_assert_uint_eq(d->advise, 0);
    ck_assert_int_eq(d->prefetch, UM_PF_NONE);
    ck_assert_int_ne(d->copy_h2d, UM_COPY_HOST);
    ck_assert_int_ne(d->copy_d2h, UM_COPY_HOST);
    ck_assert_int_eq(d->host_prefetch_before_read, 0);
    ck_assert_int_eq(d->populate, 0);
}

static const unsigned PD = UM_ADV_PREFER_DEVICE;

// A fresh empty file under Bazel's TEST_TMPDIR (or /tmp); its path goes into path[512].
static void temp_path(char *path) {
    const char *dir = getenv("TEST_TMPDIR");
    snprintf(path, 512, "%s/umpolicyXXXXXX", dir != NULL && dir[0] ? dir : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

// Writes `text` to a fresh temporary file; returns its path (static buffer).
static const char *temp_file(const char *text) {
    static char path[512];
    temp_path(path);
    int fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_ge(fd, 0);
    size_t n = strlen(text);
    ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
    return path;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

// --- core: the ladder modes ---

START_TEST(test_policy_passthrough_changes_nothing) {
    um_pol_t *p = make(UM_MODE_PASSTHROUGH, 8 * MiB);
    um_decision_t d = um_pol_decide_alloc(p, "app+0x1", 256 * MiB);
    check_reason(&d, UM_MODE_PASSTHROUGH);
    assert_device(d, UM_RULE_PASSTHROUGH);
    ck_assert_int_eq(d.copy_h2d, UM_COPY_DRIVER); // no staging: the A/B baseline
    um_event_t ev = ev_alloc_kind(1, 256 * MiB, UM_MEM_DEVICE, UM_MEM_DEVICE, "app+0x1");
    um_pol_observe(p, &ev);
    d = um_pol_decide_live(p, 1);
    assert_device(d, UM_RULE_PASSTHROUGH);
    um_pol_destroy(p);
}
END_TEST

START_TEST(test_policy_managed_mode_is_the_naive_port) {
    um_pol_t *p = make(UM_MODE_MANAGED, 8 * MiB);
    um_decision_t d = um_pol_decide_alloc(p, "app+0x1", 256 * MiB);
    check_reason(&d, UM_MODE_MANAGED);
    ck_assert_int_eq(d.rule, UM_RULE_NAIVE);
    ck_assert_int_eq(d.placement, UM_PLACE_MANAGED);
    ck_assert_uint_eq(d.advise, 0);
    ck_assert_int_eq(d.prefetch, UM_PF_NONE);
    ck_assert_int_eq(d.copy_h2d, UM_COPY_HOST);
    ck_assert_int_eq(d.copy_d2h, UM_COPY_HOST);
    ck_assert_int_eq(d.host_prefetch_before_read, 0);
    ck_assert_int_eq(d.populate, 0); // the host writes it first: pages start there
    d = um_pol_decide_alloc(p, "app+0x1", THRESHOLD - 1);
    assert_device(d, UM_RULE_SMALL);
    // Learning never applies in this mode: an input stays naive.
    um_event_t evs[] = {ev_alloc(1, 8 * MiB, "s"), ev_upload(1, MiB), ev_launch(1), ev_launch(1)};
    for (size_t i = 0; i < 4; i++) {
        um_pol_observe(p, &evs[i]);
    }
    d = um_pol_decide_live(p, 1);
    ck_assert_int_eq(d.rule, UM_RULE_NAIVE);
    ck_assert_uint_eq(d.advise, 0);
    um_pol_destroy(p);
}
END_TEST

START_TEST(test_policy_prefetch_mode_prefetches_everything) {
    um_pol_t *p = make(UM_MODE_PREFETCH, 0);
    um_decision_t d = um_pol_decide_alloc(p, "app+0x1", THRESHOLD);
    check_reason(&d, UM_MODE_PREFETCH);
    ck_assert_int_eq(d.rule, UM_RULE_PREFETCH);
    ck_assert_int_eq(d.placement, UM_PLACE_MANAGED);
    ck_assert_uint_eq(d.advise, 0);
    ck_assert_int_eq(d.prefetch, UM_PF_ON_LAUNCH);
    ck_assert_int_eq(d.copy_h2d, UM_COPY_HOST);
    ck_assert_int_eq(d.copy_d2h, UM_COPY_HOST);
    ck_assert_int_eq(d.host_prefetch_before_read, 1);
    ck_assert_int_eq(d.populate, 0);
    d = um_pol_decide_alloc(p, "app+0x1", 4096);
    assert_device(d, UM_RULE_SMALL);
    um_pol_destroy(p);
}
END_TEST

// --- core: auto's rules ---

START_TEST(test_policy_auto_new_allocation) {
    um_decision_t d = fresh("app+0x10", 64 * MiB);
    assert_auto_managed(d, UM_RULE_NEW, PD);
    d = fresh("app+0x10", THRESHOLD); // the threshold itself is managed
    ck_assert_int_eq(d.placement, UM_PLACE_MANAGED);
}
END_TEST

START_TEST(test_policy_auto_small_stays_device) {
    um_decision_t d = fresh("app+0x10", THRESHOLD - 1);
    assert_device(d, UM_RULE_SMALL);
    ck_assert_ptr_nonnull(strstr(d.reason, "27 vs 5.5 us"));
    // A small live allocation is reported as what it is, with the same reason.
    feed(ev_alloc_kind(1, 4096, UM_MEM_DEVICE, UM_MEM_DEVICE, "app+0x10"));
    d = live(1);
    assert_device(d, UM_RULE_SMALL);
}
END_TEST

START_TEST(test_policy_no_reasons_same_decisions) {
    // Without reason texts (the shim's setting) every decision is the same, rule included.
    um_pol_config_t cfg = {UM_MODE_AUTO, THRESHOLD, 0, 1}; // the fixture's, without reasons
    um_pol_t *terse = um_pol_create(&cfg);
    ck_assert_ptr_nonnull(terse);
    um_pol_keep_device(pol, "kept");
    um_pol_keep_device(terse, "kept");
    const char *sites[] = {"app+0x10", "app+0x10", "kept", "other"};
    const uint64_t sizes[] = {64 * MiB, THRESHOLD - 1, 64 * MiB, 8 * MiB};
    for (int i = 0; i < 4; i++) {
        um_decision_t a = um_pol_decide_alloc(pol, sites[i], sizes[i]);
        um_decision_t b = um_pol_decide_alloc(terse, sites[i], sizes[i]);
        ck_assert_int_ne(a.reason[0], '\0');
        ck_assert_int_eq(b.reason[0], '\0');
        ck_assert_int_eq(a.rule, b.rule);
        ck_assert_int_eq(a.placement, b.placement);
        ck_assert_int_eq(a.prefetch, b.prefetch);
        ck_assert_uint_eq(a.advise, b.advise);
        ck_assert_int_eq(a.copy_h2d, b.copy_h2d);
        ck_assert_int_eq(a.copy_d2h, b.copy_d2h);
        ck_assert_int_eq(a.populate, b.populate);
    }
    um_pol_destroy(terse);
}
END_TEST

START_TEST(test_policy_auto_stages_big_uploads_when_configured) {
    um_pol_destroy(pol);
    pol = make(UM_MODE_AUTO, 8 * MiB);
    um_decision_t d = fresh("s", 8 * MiB);
    // Uploads only: staged read-backs into warm pageable buffers were not faster on the H100.
    ck_assert_int_eq(d.copy_h2d, UM_COPY_STAGED);
    ck_assert_int_eq(d.copy_d2h, UM_COPY_DRIVER);
    ck_assert_msg(strstr(d.reason, "[populated, staged h2d]") != NULL, "%s", d.reason);
    d = fresh("s", 8 * MiB - 1);
    ck_assert_int_eq(d.copy_h2d, UM_COPY_DRIVER);
    ck_assert_msg(strstr(d.reason, "[populated]") != NULL, "%s", d.reason);
    // Staging is a copy strategy, not a placement: device memory gets it too.
    um_pol_keep_device(pol, "kept");
    d = fresh("kept", 64 * MiB);
    ck_assert_int_eq(d.placement, UM_PLACE_DEVICE);
    ck_assert_int_eq(d.copy_h2d, UM_COPY_STAGED);
}
END_TEST

START_TEST(test_policy_auto_input_after_its_first_launch) {
    feed(ev_alloc(1, 64 * MiB, "targets"));
    feed(ev_upload(1, 64 * MiB));
    // The shim asks at the first launch, before it is observed: no kernel has read it yet.
    um_decision_t d = live(1);
    assert_auto_managed(d, UM_RULE_HOST_ONLY, PD);
    feed(ev_launch(1));
    // At the second launch: uploaded once, read by a kernel, not read back.
    d = live(1);
    assert_auto_managed(d, UM_RULE_INPUT, PD);
    ck_assert_ptr_nonnull(strstr(d.reason, "1 uploads, 1 launches, 0 read-backs"));
    ck_assert_ptr_nonnull(strstr(d.reason, "never read back"));
    feed(ev_launch(1));
    assert_auto_managed(live(1), UM_RULE_INPUT, PD);
}
END_TEST

START_TEST(test_policy_auto_streamed_input) {
    feed(ev_alloc(1, 64 * MiB, "queries"));
    for (int i = 0; i < 3; i++) {
        feed(ev_upload(1, 64 * MiB));
        feed(ev_launch(1));
    }
    um_decision_t d = live(1);
    assert_auto_managed(d, UM_RULE_STREAMED, PD);
}
END_TEST

START_TEST(test_policy_auto_result) {
    feed(ev_alloc(1, 64 * MiB, "results"));
    feed(ev_launch(1));
    feed(ev_readback(1, 64 * MiB));
    um_decision_t d = live(1);
    assert_auto_managed(d, UM_RULE_RESULT, PD);
    ck_assert_uint_eq(d.advise & UM_ADV_ACCESSED_BY_HOST, 0);
}
END_TEST

START_TEST(test_policy_auto_never_read_mostly_on_its_own) {
    feed(ev_alloc(1, 64 * MiB, "buf"));
    feed(ev_upload(1, 64 * MiB));
    feed(ev_launch(1));
    feed(ev_launch(1));
    ck_assert_uint_eq(live(1).advise & UM_ADV_READ_MOSTLY, 0); // kernel writes are invisible
    feed(ev_readback(1, 64 * MiB)); // read back: kernels probably wrote it
    um_decision_t d = live(1);
    assert_auto_managed(d, UM_RULE_INOUT, PD);
}
END_TEST

// The alternating reader: uploaded once, then each round a kernel reads it and the host
// reads it back. Two read-backs seen unchanged earn read_mostly and host read-backs.
START_TEST(test_policy_auto_read_mostly_from_unchanged_readbacks) {
    const unsigned RM = UM_ADV_READ_MOSTLY | PD;
    feed(ev_alloc(1, 64 * MiB, "alt"));
    feed(ev_upload(1, 64 * MiB));
    feed(ev_launch(1));
    feed(ev_readback_seen(1, 64 * MiB, UM_CONTENT_SAME));
    assert_auto_managed(live(1), UM_RULE_INOUT, PD); // one round is not evidence yet
    feed(ev_launch(1));
    feed(ev_readback(1, 64 * MiB)); // not compared (e.g. async): counts for nothing
    assert_auto_managed(live(1), UM_RULE_INOUT, PD);
    feed(ev_launch(1));
    feed(ev_readback_seen(1, 64 * MiB, UM_CONTENT_SAME));
    um_decision_t d = live(1);
    ck_assert_msg(d.rule == UM_RULE_READ_MOSTLY, "%s", d.reason);
    ck_assert_uint_eq(d.advise, RM);
    ck_assert_int_eq(d.copy_d2h, UM_COPY_HOST);
    ck_assert_int_eq(d.copy_h2d, UM_COPY_DRIVER);
    ck_assert_int_eq(d.prefetch, UM_PF_ON_LAUNCH);
    ck_assert_ptr_nonnull(strstr(d.reason, "3 launches, 2 read-backs unchanged"));
    ck_assert_ptr_nonnull(strstr(d.reason, "host d2h"));
    ck_assert_ptr_nonnull(strstr(um_pol_rule_why(UM_RULE_READ_MOSTLY), "46.9 -> 0.15 ms"));
    // More unchanged rounds keep it.
    feed(ev_launch(1));
    feed(ev_readback_seen(1, 64 * MiB, UM_CONTENT_SAME));
    ck_assert_int_eq(live(1).rule, UM_RULE_READ_MOSTLY);
}
END_TEST

// A site whose buffers were read back unchanged starts its next allocation read-mostly (no
// flip at its first launch), until a write is seen; a learned file leaves advise to the rule.
START_TEST(test_policy_auto_read_mostly_from_site_history) {
    const unsigned RM = UM_ADV_READ_MOSTLY | PD;
    feed(ev_alloc(1, 64 * MiB, "alt"));
    feed(ev_upload(1, 64 * MiB));
    for (int i = 0; i < 2; i++) {
        feed(ev_launch(1));
        feed(ev_readback_seen(1, 64 * MiB, UM_CONTENT_SAME));
    }
    feed(ev_free(1));
    um_decision_t d = fresh("alt", 64 * MiB);
    ck_assert_msg(d.rule == UM_RULE_READ_MOSTLY, "%s", d.reason);
    ck_assert_uint_eq(d.advise, RM);
    ck_assert_int_eq(d.copy_d2h, UM_COPY_HOST);
    ck_assert_ptr_nonnull(strstr(d.reason, "site: 2 launches, 2 read-backs unchanged"));
    feed(ev_alloc(2, 64 * MiB, "alt"));
    feed(ev_upload(2, 64 * MiB));
    ck_assert_int_eq(live(2).rule, UM_RULE_READ_MOSTLY); // first launch: no flip
    feed(ev_launch(2));
    ck_assert_int_eq(live(2).rule, UM_RULE_READ_MOSTLY);
    // The learned file has no advise key for it (keys override, and it must stay revocable).
    char path[512];
    temp_path(path);
    ck_assert_int_eq(um_pol_save(pol, path), 0);
    const char *text = slurp(path);
    const char *line = strstr(text, "site alt ");
    ck_assert_ptr_nonnull(line);
    ck_assert_ptr_null(strstr(line, "advise="));
    ck_assert_ptr_nonnull(strstr(line, "# read_mostly:"));
    unlink(path);
    // Its own write revokes it, and the site forgets the history.
    feed(ev_readback_seen(2, 64 * MiB, UM_CONTENT_CHANGED));
    assert_auto_managed(live(2), UM_RULE_INOUT, PD);
    ck_assert_int_ne(fresh("alt", 64 * MiB).rule, UM_RULE_READ_MOSTLY);
}
END_TEST

// The first sign of a device write revokes read_mostly, for the allocation and its site.
START_TEST(test_policy_auto_read_mostly_revoked_by_a_write) {
    for (int lost = 0; lost < 2; lost++) {
        um_pol_destroy(pol);
        pol = make(UM_MODE_AUTO, 0);
        feed(ev_alloc(1, 64 * MiB, "alt"));
        feed(ev_upload(1, 64 * MiB));
        for (int i = 0; i < 2; i++) {
            feed(ev_launch(1));
            feed(ev_readback_seen(1, 64 * MiB, UM_CONTENT_SAME));
        }
        ck_assert_int_eq(live(1).rule, UM_RULE_READ_MOSTLY);
        feed(ev_launch(1));
        // Changed bytes, or a host copy gone although the bytes are equal (a kernel wrote
        // the same values): both are a device write.
        feed(ev_readback_seen(1, 64 * MiB, lost ? UM_CONTENT_LOST : UM_CONTENT_CHANGED));
        um_decision_t d = live(1);
        assert_auto_managed(d, UM_RULE_INOUT, PD);
        ck_assert_ptr_nonnull(strstr(d.reason, "1 seen written"));
        // Later unchanged rounds do not bring it back, nor does a new allocation there.
        for (int i = 0; i < 3; i++) {
            feed(ev_launch(1));
            feed(ev_readback_seen(1, 64 * MiB, UM_CONTENT_SAME));
        }
        assert_auto_managed(live(1), UM_RULE_INOUT, PD);
        feed(ev_alloc(2, 64 * MiB, "alt"));
        feed(ev_upload(2, 64 * MiB));
        for (int i = 0; i < 3; i++) {
            feed(ev_launch(2));
            feed(ev_readback_seen(2, 64 * MiB, UM_CONTENT_SAME));
        }
        assert_auto_managed(live(2), UM_RULE_INOUT, PD);
        // Another site still learns it.
        feed(ev_alloc(3, 64 * MiB, "other"));
        for (int i = 0; i < 2; i++) {
            feed(ev_launch(3));
            feed(ev_readback_seen(3, 64 * MiB, UM_CONTENT_SAME));
        }
        ck_assert_int_eq(live(3).rule, UM_RULE_READ_MOSTLY);
    }
}
END_TEST

// Anything written into it after its first launch (upload, memset, copy) rules it out: each
// such write would collapse the read-only copies.
START_TEST(test_policy_auto_read_mostly_needs_no_writes_after_launch) {
    feed(ev_alloc(1, 64 * MiB, "a"));
    feed(ev_alloc(2, 64 * MiB, "b"));
    feed(ev_alloc(3, 64 * MiB, "c"));
    feed(ev_alloc(4, THRESHOLD - 1, "small"));
    for (uint64_t id = 1; id <= 3; id++) {
        feed(ev_launch(id));
    }
    feed(ev_upload(1, MiB));
    feed(ev_memset(2, MiB));
    feed(ev_d2d(3, 4, MiB));
    for (int i = 0; i < 3; i++) {
        for (uint64_t id = 1; id <= 3; id++) {
            feed(ev_launch(id));
            feed(ev_readback_seen(id, MiB, UM_CONTENT_SAME));
        }
    }
    for (uint64_t id = 1; id <= 3; id++) {
        um_decision_t d = live(id);
        ck_assert_msg(d.rule != UM_RULE_READ_MOSTLY, "allocation %llu: %s",
                      (unsigned long long)id, d.reason);
        ck_assert_uint_eq(d.advise & UM_ADV_READ_MOSTLY, 0);
        ck_assert_int_eq(d.copy_d2h, UM_COPY_DRIVER);
    }
    // Device memory (below the threshold) never gets it: it has no pages to duplicate.
    feed(ev_alloc_kind(5, THRESHOLD - 1, UM_MEM_DEVICE, UM_MEM_DEVICE, "small"));
    for (int i = 0; i < 3; i++) {
        feed(ev_launch(5));
        feed(ev_readback_seen(5, 4096, UM_CONTENT_SAME));
    }
    assert_device(live(5), UM_RULE_SMALL);
}
END_TEST

START_TEST(test_policy_auto_scratch) {
    feed(ev_alloc(1, 64 * MiB, "tmp"));
    feed(ev_memset(1, 64 * MiB));
    feed(ev_launch(1));
    um_decision_t d = live(1);
    assert_auto_managed(d, UM_RULE_SCRATCH, PD);
}
END_TEST

START_TEST(test_policy_auto_learns_from_site_history) {
    // Iteration 1 of a loop: allocate, upload, launch once, free.
    feed(ev_alloc(1, 64 * MiB, "loop"));
    feed(ev_upload(1, 64 * MiB));
    feed(ev_launch(1));
    feed(ev_free(1));
    // Iteration 2: the site's history says input from the start.
    um_decision_t d = fresh("loop", 64 * MiB);
    assert_auto_managed(d, UM_RULE_INPUT, PD);
    ck_assert_ptr_nonnull(strstr(d.reason, "site history"));
    feed(ev_alloc(2, 64 * MiB, "loop"));
    feed(ev_upload(2, 64 * MiB));
    feed(ev_launch(2));
    d = live(2);
    assert_auto_managed(d, UM_RULE_INPUT, PD);
    // Own conclusive evidence beats history.
    feed(ev_readback(2, 64 * MiB));
    assert_auto_managed(live(2), UM_RULE_INOUT, PD);
    // Other sites know nothing.
    assert_auto_managed(fresh("other", 64 * MiB), UM_RULE_NEW, PD);
}
END_TEST

START_TEST(test_policy_auto_history_of_other_patterns) {
    feed(ev_alloc(1, 64 * MiB, "res"));
    feed(ev_launch(1));
    feed(ev_readback(1, 64 * MiB));
    feed(ev_free(1));
    assert_auto_managed(fresh("res", 64 * MiB), UM_RULE_RESULT, PD);
    feed(ev_alloc(2, 64 * MiB, "cp"));
    feed(ev_upload(2, 64 * MiB));
    feed(ev_free(2));
    assert_auto_managed(fresh("cp", 64 * MiB), UM_RULE_HOST_ONLY, PD);
    // Unused allocations teach nothing.
    feed(ev_alloc(3, 64 * MiB, "idle"));
    feed(ev_free(3));
    assert_auto_managed(fresh("idle", 64 * MiB), UM_RULE_NEW, PD);
}
END_TEST

START_TEST(test_policy_auto_mixed_site) {
    feed(ev_alloc(1, 64 * MiB, "wrapper"));
    feed(ev_upload(1, 64 * MiB));
    feed(ev_launch(1));
    feed(ev_free(1));
    feed(ev_alloc(2, 64 * MiB, "wrapper"));
    feed(ev_launch(2));
    feed(ev_readback(2, 64 * MiB));
    feed(ev_free(2));
    um_decision_t d = fresh("wrapper", 64 * MiB);
    assert_auto_managed(d, UM_RULE_MIXED, PD);
    feed(ev_alloc(3, 64 * MiB, "wrapper"));
    assert_auto_managed(live(3), UM_RULE_MIXED, PD);
}
END_TEST

START_TEST(test_policy_ipc_site_stays_device_in_every_mode) {
    const um_mode_t modes[] = {UM_MODE_MANAGED, UM_MODE_PREFETCH, UM_MODE_AUTO};
    for (size_t i = 0; i < 3; i++) {
        um_pol_t *p = make(modes[i], 0);
        um_event_t evs[] = {ev_alloc(1, 64 * MiB, "ipc"),
                            ev_named(UM_EV_FALLBACK, 1, "cuIpcGetMemHandle")};
        evs[1].result = 1;
        um_pol_observe(p, &evs[0]);
        um_pol_observe(p, &evs[1]);
        um_decision_t d = um_pol_decide_alloc(p, "ipc", 64 * MiB);
        check_reason(&d, modes[i]);
        assert_device(d, UM_RULE_IPC);
        ck_assert_ptr_nonnull(strstr(d.reason, "IPC handles cannot be taken"));
        // A device allocation made there afterwards reports the same rule.
        um_event_t dev = ev_alloc_kind(2, 64 * MiB, UM_MEM_DEVICE, UM_MEM_DEVICE, "ipc");
        um_pol_observe(p, &dev);
        assert_device(um_pol_decide_live(p, 2), UM_RULE_IPC);
        um_pol_destroy(p);
    }
}
END_TEST

START_TEST(test_policy_keep_device) {
    ck_assert_int_eq(um_pol_keep_device(pol, "app+0x99"), 0);
    um_decision_t d = fresh("app+0x99", 64 * MiB);
    assert_device(d, UM_RULE_KEEP_DEVICE);
    feed(ev_alloc_kind(1, 64 * MiB, UM_MEM_DEVICE, UM_MEM_DEVICE, "app+0x99"));
    assert_device(live(1), UM_RULE_KEEP_DEVICE);
    um_pol_t *p = make(UM_MODE_MANAGED, 0);
    um_pol_keep_device(p, "app+0x99");
    assert_device(um_pol_decide_alloc(p, "app+0x99", 64 * MiB), UM_RULE_KEEP_DEVICE);
    um_pol_destroy(p);
}
END_TEST

START_TEST(test_policy_live_allocations_report_what_they_are) {
    // A big allocation that fell back to device memory (budget guard).
    feed(ev_alloc_kind(1, 64 * MiB, UM_MEM_DEVICE, UM_MEM_DEVICE, "s"));
    assert_device(live(1), UM_RULE_AS_ALLOCATED);
    // Pool, VMM and pinned host memory pass through.
    feed(ev_alloc_kind(2, 64 * MiB, UM_MEM_POOL, UM_MEM_POOL, "s"));
    um_decision_t d = live(2);
    assert_device(d, UM_RULE_AS_ALLOCATED);
    ck_assert_ptr_nonnull(strstr(d.reason, "pool"));
    // The program's own managed memory: prefetched, no advise, its copies untouched.
    feed(ev_alloc_kind(3, 64 * MiB, UM_MEM_MANAGED, UM_MEM_MANAGED, "s"));
    d = live(3);
    ck_assert_int_eq(d.rule, UM_RULE_PROGRAM_MANAGED);
    ck_assert_int_eq(d.placement, UM_PLACE_MANAGED);
    ck_assert_uint_eq(d.advise, 0);
    ck_assert_int_eq(d.prefetch, UM_PF_ON_LAUNCH);
    ck_assert_int_eq(d.copy_h2d, UM_COPY_DRIVER);
    um_pol_t *p = make(UM_MODE_AUTO, 32 * MiB); // big program-managed uploads are staged too
    um_event_t ev = ev_alloc_kind(3, 2ull << 30, UM_MEM_MANAGED, UM_MEM_MANAGED, "s");
    um_pol_observe(p, &ev);
    d = um_pol_decide_live(p, 3);
    ck_assert_int_eq(d.copy_h2d, UM_COPY_STAGED);
    ck_assert_ptr_nonnull(strstr(d.reason, "2 GiB"));
    um_pol_destroy(p);
    p = make(UM_MODE_MANAGED, 0);
    ev = ev_alloc_kind(3, 64 * MiB, UM_MEM_MANAGED, UM_MEM_MANAGED, "s");
    um_pol_observe(p, &ev);
    d = um_pol_decide_live(p, 3);
    ck_assert_int_eq(d.rule, UM_RULE_PROGRAM_MANAGED);
    ck_assert_int_eq(d.prefetch, UM_PF_NONE);
    ck_assert_int_eq(d.copy_h2d, UM_COPY_DRIVER);
    um_pol_destroy(p);
    // Unknown and freed ids.
    assert_device(live(42), UM_RULE_UNKNOWN);
    feed(ev_free(3));
    assert_device(live(3), UM_RULE_UNKNOWN);
}
END_TEST

// The same events give the same decisions, byte for byte, in a fresh engine.
START_TEST(test_policy_is_deterministic) {
    um_event_t evs[64];
    size_t n = 0;
    for (uint64_t i = 1; i <= 6; i++) {
        evs[n++] = ev_alloc(i, i * MiB, (i & 1) ? "odd" : "even");
        evs[n++] = ev_upload(i, MiB);
        evs[n++] = ev_launch(i, 1);
        if (i % 3 == 0) {
            evs[n++] = ev_readback(i, MiB);
        }
        if (i % 2 == 0) {
            evs[n++] = ev_free(i - 1);
        }
    }
    um_decision_t first[8], second[8];
    for (int round = 0; round < 2; round++) {
        um_pol_t *p = make(UM_MODE_AUTO, 2 * MiB);
        for (size_t i = 0; i < n; i++) {
            um_pol_observe(p, &evs[i]);
        }
        um_decision_t *out = round == 0 ? first : second;
        for (uint64_t id = 0; id < 7; id++) {
            out[id] = um_pol_decide_live(p, id);
        }
        out[7] = um_pol_decide_alloc(p, "odd", 4 * MiB);
        um_pol_destroy(p);
    }
    for (int i = 0; i < 8; i++) {
        ck_assert_str_eq(first[i].reason, second[i].reason);
        ck_assert_int_eq(first[i].rule, second[i].rule);
        ck_assert_uint_eq(first[i].advise, second[i].advise);
        ck_assert_int_eq(first[i].placement, second[i].placement);
        ck_assert_int_eq(first[i].copy_h2d, second[i].copy_h2d);
    }
}
END_TEST

START_TEST(test_policy_rule_and_mode_names) {
    for (int r = 0; r < UM_RULE_COUNT; r++) {
        ck_assert_str_ne(um_pol_rule_name(r), "?");
        ck_assert_uint_gt(strlen(um_pol_rule_why(r)), 40);
    }
    ck_assert_str_eq(um_pol_rule_name(UM_RULE_INPUT), "input");
    ck_assert_str_eq(um_pol_rule_name(UM_RULE_COUNT), "?");
    ck_assert_str_eq(um_pol_rule_why(-1), "?");
    ck_assert_str_eq(um_pol_mode_name(UM_MODE_AUTO), "auto");
    ck_assert_str_eq(um_pol_mode_name(UM_MODE_PASSTHROUGH), "passthrough");
    ck_assert_str_eq(um_pol_mode_name((um_mode_t)9), "?");
    ck_assert_ptr_nonnull(um_pol_stats(pol));
    feed(ev_alloc(1, MiB, "x"));
    ck_assert_uint_eq(um_stats_totals(um_pol_stats(pol))->allocs, 1);
}
END_TEST

// --- core: the policy file in the engine ---

START_TEST(test_policy_file_overrides_auto) {
    const char *path =
        temp_file("# umshim policy v1\n"
                  "site tuned advise=read_mostly prefetch=none copy=staged  # A/B 3\n"
                  "site small placement=managed\n"
                  "site ipcsite placement=device\n"
                  "site partial copy_d2h=host\n");
    char err[1024];
    ck_assert_msg(um_pol_load(pol, path, err, sizeof err) == 0, "%s", err);
    um_decision_t d = fresh("tuned", 64 * MiB);
    ck_assert_int_eq(d.rule, UM_RULE_FILE);
    ck_assert_int_eq(d.placement, UM_PLACE_MANAGED); // from the built-in threshold
    ck_assert_uint_eq(d.advise, UM_ADV_READ_MOSTLY);
    ck_assert_int_eq(d.prefetch, UM_PF_NONE);
    ck_assert_int_eq(d.copy_h2d, UM_COPY_STAGED);
    ck_assert_int_eq(d.copy_d2h, UM_COPY_STAGED);
    ck_assert_ptr_nonnull(strstr(d.reason, ":2: A/B 3"));
    // The file's placement beats the threshold (a person chose it).
    d = fresh("small", 4096);
    ck_assert_int_eq(d.placement, UM_PLACE_MANAGED);
    ck_assert_int_eq(d.rule, UM_RULE_FILE);
    ck_assert_uint_eq(d.advise, PD); // the built-in hints for the keys it left out
    d = fresh("ipcsite", 64 * MiB);
    assert_device(d, UM_RULE_FILE);
    // Keys left out keep the built-in decision; host copies only where managed.
    d = fresh("partial", 64 * MiB);
    ck_assert_int_eq(d.copy_d2h, UM_COPY_HOST);
    ck_assert_int_eq(d.copy_h2d, UM_COPY_DRIVER);
    ck_assert_uint_eq(d.advise, PD);
    ck_assert_int_eq(d.populate, 1); // uploads still go to the device
    d = fresh("partial", 4096);
    assert_device(d, UM_RULE_SMALL);
    // Not in the file: built-in.
    assert_auto_managed(fresh("other", 64 * MiB), UM_RULE_NEW, PD);
    // A live allocation at a tuned site.
    feed(ev_alloc(1, 64 * MiB, "tuned"));
    d = live(1);
    ck_assert_int_eq(d.rule, UM_RULE_FILE);
    ck_assert_uint_eq(d.advise, UM_ADV_READ_MOSTLY);
    feed(ev_alloc_kind(2, 64 * MiB, UM_MEM_DEVICE, UM_MEM_DEVICE, "ipcsite"));
    assert_device(live(2), UM_RULE_FILE);
    unlink(path);
    // Every key, on a live allocation.
    path = temp_file("# umshim policy v1\n"
                     "site all advise=accessed_by_host,prefer_host prefetch=none copy_h2d=host "
                     "copy_d2h=driver host_prefetch=on\n");
    ck_assert_msg(um_pol_load(pol, path, err, sizeof err) == 0, "%s", err);
    feed(ev_alloc(3, 3ull << 30, "all"));
    feed(ev_upload(3, 4096));
    d = live(3);
    ck_assert_int_eq(d.rule, UM_RULE_FILE);
    ck_assert_uint_eq(d.advise, UM_ADV_ACCESSED_BY_HOST | UM_ADV_PREFER_HOST);
    ck_assert_int_eq(d.prefetch, UM_PF_NONE);
    ck_assert_int_eq(d.copy_h2d, UM_COPY_HOST);
    ck_assert_int_eq(d.copy_d2h, UM_COPY_DRIVER);
    ck_assert_int_eq(d.host_prefetch_before_read, 1);
    ck_assert_int_eq(d.populate, 0); // host-written first: populating the GPU would bounce

    // The new file replaced the old one.
    assert_auto_managed(fresh("tuned", 64 * MiB), UM_RULE_NEW, PD);
    unlink(path);
}
END_TEST

// A learned file names every managed site: its keys must not undo the read-mostly rule's
// host read-backs, and an advice without read_mostly takes them back.
START_TEST(test_policy_file_keeps_read_mostly_host_readbacks) {
    const char *path = temp_file("# umshim policy v1\n"
                                 "site alt prefetch=none\n"
                                 "site plain advise=prefer_device\n");
    char err[1024];
    ck_assert_msg(um_pol_load(pol, path, err, sizeof err) == 0, "%s", err);
    const char *sites[] = {"alt", "plain"};
    for (int i = 0; i < 2; i++) {
        uint64_t id = (uint64_t)i + 1;
        feed(ev_alloc(id, 64 * MiB, sites[i]));
        feed(ev_upload(id, 64 * MiB));
        for (int round = 0; round < 3; round++) {
            feed(ev_launch(id));
            feed(ev_readback_seen(id, 64 * MiB, UM_CONTENT_SAME));
        }
    }
    um_decision_t d = live(1);
    ck_assert_int_eq(d.rule, UM_RULE_FILE);
    ck_assert_uint_eq(d.advise, UM_ADV_READ_MOSTLY | PD);
    ck_assert_int_eq(d.copy_d2h, UM_COPY_HOST);
    ck_assert_int_eq(d.prefetch, UM_PF_NONE);
    d = live(2);
    ck_assert_int_eq(d.rule, UM_RULE_FILE);
    ck_assert_uint_eq(d.advise, PD);
    ck_assert_int_eq(d.copy_d2h, UM_COPY_DRIVER);
    unlink(path);
}
END_TEST

START_TEST(test_policy_file_in_ladder_modes_only_keeps_device) {
    const char *path = temp_file("# umshim policy v1\n"
                                 "site keep placement=device\n"
                                 "site tuned placement=managed advise=read_mostly\n");
    char err[1024];
    um_pol_t *p = make(UM_MODE_MANAGED, 0);
    ck_assert_int_eq(um_pol_load(p, path, err, sizeof err), 0);
    um_decision_t d = um_pol_decide_alloc(p, "keep", 64 * MiB);
    assert_device(d, UM_RULE_FILE);
    d = um_pol_decide_alloc(p, "tuned", 64 * MiB);
    ck_assert_int_eq(d.rule, UM_RULE_NAIVE);
    ck_assert_uint_eq(d.advise, 0);
    d = um_pol_decide_alloc(p, "tuned", 4096); // no managed small buffers outside auto
    assert_device(d, UM_RULE_SMALL);
    um_pol_destroy(p);
    p = make(UM_MODE_PASSTHROUGH, 0);
    ck_assert_int_eq(um_pol_load(p, path, err, sizeof err), 0);
    assert_device(um_pol_decide_alloc(p, "tuned", 64 * MiB), UM_RULE_PASSTHROUGH);
    um_pol_destroy(p);
    unlink(path);
}
END_TEST

START_TEST(test_policy_save_writes_learned_sites) {
    um_pol_destroy(pol);
    pol = make(UM_MODE_PASSTHROUGH, 0); // a profiling run: decisions are auto's anyway
    feed(ev_alloc(1, 64 * MiB, "app+0x10"));
    feed(ev_upload(1, 64 * MiB));
    feed(ev_launch(1, 2));
    feed(ev_launch(1, 2));
    feed(ev_alloc(2, 64 * MiB, "app+0x20"));
    feed(ev_launch(2));
    feed(ev_readback(2, 64 * MiB));
    feed(ev_alloc(3, 4096, "app+0x30"));
    feed(ev_alloc(4, 64 * MiB, "app+0x40"));
    feed(ev_named(UM_EV_FALLBACK, 4, "cuIpcGetMemHandle"));
    feed(ev_alloc(5, 4096, "app+0x50"));
    feed(ev_alloc(6, 64 * MiB, "app+0x50"));
    feed(ev_alloc(7, 64 * MiB, "site with space"));
    feed(ev_alloc(8, 64 * MiB, "")); // no site: cannot be matched next run, not written
    char path[512];
    temp_path(path);
    ck_assert_int_eq(um_pol_save(pol, path), 0);
    const char *text = slurp(path);
    ck_assert_msg(strncmp(text, "# umshim policy v1\n# Learned by umshim", 37) == 0, "%s", text);
    ck_assert_msg(strstr(text, "\nsite app+0x10 placement=managed advise=prefer_device "
                               "prefetch=launch  # input: 1 allocs, max 64 MiB, 1 uploads, 2 "
                               "launches, 0 read-backs, 0 redundant uploads\n") != NULL,
                  "%s", text);
    ck_assert_ptr_nonnull(strstr(text, "threshold 1048576 bytes"));
    ck_assert_ptr_nonnull(strstr(text, "site app+0x20 placement=managed advise=prefer_device "
                                       "prefetch=launch  # result"));
    ck_assert_ptr_nonnull(strstr(text, "site app+0x30 placement=device  # small"));
    ck_assert_ptr_nonnull(strstr(text, "site app+0x40 placement=device  # ipc"));
    // Mixed sizes: placement left to the threshold.
    ck_assert_ptr_nonnull(strstr(text, "site app+0x50 advise=prefer_device prefetch=launch"));
    ck_assert_ptr_nonnull(strstr(text, "site site\\x20with\\x20space "));
    // It loads back into a fresh engine, and auto then applies it.
    um_pol_t *p = make(UM_MODE_AUTO, 0);
    char err[1024];
    ck_assert_msg(um_pol_load(p, path, err, sizeof err) == 0, "%s", err);
    um_decision_t d = um_pol_decide_alloc(p, "app+0x10", 64 * MiB);
    ck_assert_int_eq(d.rule, UM_RULE_FILE);
    ck_assert_uint_eq(d.advise, PD);
    assert_device(um_pol_decide_alloc(p, "app+0x40", 64 * MiB), UM_RULE_FILE);
    assert_device(um_pol_decide_alloc(p, "app+0x50", 4096), UM_RULE_SMALL);
    // Saving again keeps the loaded (possibly hand-tuned) entries as they were.
    char path2[512];
    temp_path(path2);
    ck_assert_int_eq(um_pol_save(p, path2), 0);
    char first[1 << 16];
    strcpy(first, slurp(path));
    ck_assert_str_eq(slurp(path2), first);
    um_pol_destroy(p);
    unlink(path);
    unlink(path2);
}
END_TEST

// --- limits ---

START_TEST(test_policy_reasons_fit_one_line) {
    char site[UM_SITE_MAX];
    memset(site, 's', sizeof site - 1);
    site[sizeof site - 1] = '\0';
    um_pol_keep_device(pol, site);
    um_decision_t d = fresh(site, UINT64_MAX);
    ck_assert_uint_lt(strlen(d.reason), sizeof d.reason);
    feed(ev_alloc(1, UINT64_MAX, "huge"));
    for (int i = 0; i < 3; i++) {
        feed(ev_upload(1, MiB));
        feed(ev_launch(1));
        feed(ev_readback(1, MiB));
    }
    d = live(1);
    ck_assert_uint_lt(strlen(d.reason), sizeof d.reason);
    ck_assert_int_eq(d.rule, UM_RULE_INOUT);
}
END_TEST

START_TEST(test_policy_threshold_zero_manages_everything) {
    um_pol_config_t cfg = {UM_MODE_AUTO, 0, 0, 0};
    um_pol_t *p = um_pol_create(&cfg);
    um_decision_t d = um_pol_decide_alloc(p, "s", 1);
    ck_assert_int_eq(d.placement, UM_PLACE_MANAGED);
    um_pol_destroy(p);
    // NULL config: auto with no threshold.
    p = um_pol_create(NULL);
    ck_assert_ptr_nonnull(p);
    d = um_pol_decide_alloc(p, "s", 1);
    check_reason(&d, UM_MODE_AUTO);
    um_pol_destroy(p);
}
END_TEST

START_TEST(test_policy_many_allocations_in_a_loop) {
    for (uint64_t i = 1; i <= 50000; i++) {
        feed(ev_alloc(i, 2 * MiB, "loop"));
        feed(ev_upload(i, 2 * MiB));
        feed(ev_launch(i));
        feed(ev_free(i));
    }
    ck_assert_uint_eq(um_stats_alloc_count(um_pol_stats(pol)), 0); // nothing retained
    um_decision_t d = fresh("loop", 2 * MiB);
    assert_auto_managed(d, UM_RULE_INPUT, PD);
    ck_assert_ptr_nonnull(strstr(d.reason, "50000 freed allocations were input"));
}
END_TEST

// --- errors ---

START_TEST(test_policy_bad_file_keeps_builtin) {
    const char *path = temp_file("# umshim policy v1\n"
                                 "site a placement=device\n"
                                 "site b placement=sometimes\n");
    char err[1024];
    ck_assert_int_eq(um_pol_load(pol, path, err, sizeof err), -1);
    char want[700];
    snprintf(want, sizeof want, "%s:3: placement: 'sometimes' is not device|managed", path);
    ck_assert_str_eq(err, want);
    // Nothing of the file applies, not even its good first line.
    assert_auto_managed(fresh("a", 64 * MiB), UM_RULE_NEW, PD);
    unlink(path);
    // A good file, then a bad one: the good one stays in force.
    path = temp_file("# umshim policy v1\nsite a placement=device\n");
    ck_assert_int_eq(um_pol_load(pol, path, err, sizeof err), 0);
    unlink(path);
    path = temp_file("# umshim policy v2\n");
    ck_assert_int_eq(um_pol_load(pol, path, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, ":1: the first line must be '# umshim policy v1'"));
    assert_device(fresh("a", 64 * MiB), UM_RULE_FILE);
    unlink(path);
}
END_TEST

START_TEST(test_policy_load_missing_file) {
    char err[1024];
    ck_assert_int_eq(um_pol_load(pol, "/nonexistent/dir/policy.txt", err, sizeof err), -1);
    ck_assert_str_eq(err, "/nonexistent/dir/policy.txt: cannot open: No such file or directory");
    ck_assert_int_eq(um_pol_load(NULL, "x", err, sizeof err), -1);
    ck_assert_int_eq(um_pol_load(pol, NULL, err, sizeof err), -1);
}
END_TEST

START_TEST(test_policy_save_errors) {
    errno = 0;
    ck_assert_int_eq(um_pol_save(pol, "/nonexistent/dir/out.txt"), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(um_pol_save(NULL, "unused"), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(um_pol_save(pol, NULL), -1);
}
END_TEST

START_TEST(test_policy_null_and_bad_arguments) {
    um_decision_t d = um_pol_decide_alloc(NULL, "s", MiB);
    ck_assert_int_eq(d.placement, UM_PLACE_DEVICE);
    ck_assert_uint_gt(strlen(d.reason), 0);
    d = um_pol_decide_live(NULL, 1);
    ck_assert_int_eq(d.rule, UM_RULE_UNKNOWN);
    d = fresh(NULL, 64 * MiB); // no site: treated as the empty site
    ck_assert_int_eq(d.placement, UM_PLACE_MANAGED);
    um_pol_observe(NULL, NULL);
    um_pol_observe(pol, NULL);
    ck_assert_int_eq(um_pol_keep_device(NULL, "s"), -1);
    ck_assert_int_eq(um_pol_keep_device(pol, NULL), -1);
    ck_assert_ptr_null(um_pol_stats(NULL));
    um_pol_destroy(NULL);
    um_pol_config_t cfg = {(um_mode_t)42, 0, 0, 0}; // out of range: auto
    um_pol_t *p = um_pol_create(&cfg);
    d = um_pol_decide_alloc(p, "s", MiB);
    check_reason(&d, UM_MODE_AUTO);
    um_pol_destroy(p);
}
END_TEST

Suite *policy_suite(void) {
    Suite *s = suite_create("policy");
    TCase *core = tcase_create("core");
    tcase_add_checked_fixture(core, setup_auto, teardown);
    tcase_add_test(core, test_policy_passthrough_changes_nothing);
    tcase_add_test(core, test_policy_no_reasons_same_decisions);
    tcase_add_test(core, test_policy_managed_mode_is_the_naive_port);
    tcase_add_test(core, test_policy_prefetch_mode_prefetches_everything);
    tcase_add_test(core, test_policy_auto_new_allocation);
    tcase_add_test(core, test_policy_auto_small_stays_device);
    tcase_add_test(core, test_policy_auto_stages_big_uploads_when_configured);
    tcase_add_test(core, test_policy_auto_input_after_its_first_launch);
    tcase_add_test(core, test_policy_auto_streamed_input);
    tcase_add_test(core, test_policy_auto_result);
    tcase_add_test(core, test_policy_auto_never_read_mostly_on_its_own);
    tcase_add_test(core, test_policy_auto_read_mostly_from_unchanged_readbacks);
    tcase_add_test(core, test_policy_auto_read_mostly_from_site_history);
    tcase_add_test(core, test_policy_auto_read_mostly_revoked_by_a_write);
    tcase_add_test(core, test_policy_auto_read_mostly_needs_no_writes_after_launch);
    tcase_add_test(core, test_policy_auto_scratch);
    tcase_add_test(core, test_policy_auto_learns_from_site_history);
    tcase_add_test(core, test_policy_auto_history_of_other_patterns);
    tcase_add_test(core, test_policy_auto_mixed_site);
    tcase_add_test(core, test_policy_ipc_site_stays_device_in_every_mode);
    tcase_add_test(core, test_policy_keep_device);
    tcase_add_test(core, test_policy_live_allocations_report_what_they_are);
    tcase_add_test(core, test_policy_is_deterministic);
    tcase_add_test(core, test_policy_rule_and_mode_names);
    tcase_add_test(core, test_policy_file_overrides_auto);
    tcase_add_test(core, test_policy_file_keeps_read_mostly_host_readbacks);
    tcase_add_test(core, test_policy_file_in_ladder_modes_only_keeps_device);
    tcase_add_test(core, test_policy_save_writes_learned_sites);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_checked_fixture(limits, setup_auto, teardown);
    tcase_set_timeout(limits, 60);
    tcase_add_test(limits, test_policy_reasons_fit_one_line);
    tcase_add_test(limits, test_policy_threshold_zero_manages_everything);
    tcase_add_test(limits, test_policy_many_allocations_in_a_loop);
    suite_add_tcase(s, limits);
    TCase *errors = tcase_create("errors");
    tcase_add_checked_fixture(errors, setup_auto, teardown);
    tcase_add_test(errors, test_policy_bad_file_keeps_builtin);
    tcase_add_test(errors, test_policy_load_missing_file);
    tcase_add_test(errors, test_policy_save_errors);
    tcase_add_test(errors, test_policy_null_and_bad_arguments);
    suite_add_tcase(s, errors);
    return s;
}

UM_CHECK_MAIN(policy_suite)
