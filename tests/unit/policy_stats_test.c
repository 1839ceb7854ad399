// Statistics folded from synthetic event sequences: counters per allocation and per site,
// access patterns, the redundant/unused upload inference and its limits, table growth and
// deletion, and bad input.
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/stats.h"
#include "tests/unit/check_main.h"
#include "tests/unit/policy_events.h"

#define MiB (1ull << 20)

static um_stats_t *st;

static void setup(void) {
    st = um_stats_create(1);
    ck_assert_ptr_nonnull(st);
}

static void teardown(void) {
    um_stats_destroy(st);
    st = NULL;
}

static void feed(um_event_t ev) {
    um_stats_observe(st, &ev);
}

static const um_stats_alloc_t *A(uint64_t id) {
    const um_stats_alloc_t *a = um_stats_alloc(st, id);
    ck_assert_ptr_nonnull(a);
    return a;
}

// --- core ---

START_TEST(test_stats_counts_one_allocation_life) {
    feed(ev_alloc(1, 64 * MiB, "app+0x10"));
    feed(ev_upload(1, 64 * MiB));
    feed(ev_launch(1));
    feed(ev_launch(1, 1)); // the same allocation twice in one launch counts once
    feed(ev_launch(1));
    feed(ev_memset(1, 4096));
    feed(ev_readback(1, 4096));
    um_event_t pf = ev_named(UM_EV_PREFETCH, 1, "cuMemPrefetchAsync");
    pf.bytes = 64 * MiB;
    feed(pf);
    feed(ev_named(UM_EV_ADVISE, 1, "cuMemAdvise"));
    // A rewritten read-back, as the shim emits it: the managed side is src_id.
    um_event_t ha = ev_named(UM_EV_HOST_ACCESS, 0, "cuMemcpyDtoH_v2");
    ha.dir = UM_DIR_D2H;
    ha.src_id = 1;
    ha.bytes = 100;
    feed(ha);
    feed(ev_free(1));
    const um_stats_alloc_t *a = A(1);
    ck_assert(a->freed);
    ck_assert_uint_eq(a->c.h2d_n, 1);
    ck_assert_uint_eq(a->c.h2d_b, 64 * MiB);
    ck_assert_uint_eq(a->c.launch_n, 3);
    ck_assert_uint_eq(a->c.memset_n, 1);
    ck_assert_uint_eq(a->c.memset_b, 4096);
    ck_assert_uint_eq(a->c.d2h_n, 1);
    ck_assert_uint_eq(a->c.d2h_b, 4096);
    ck_assert_uint_eq(a->c.prefetch_n, 1);
    ck_assert_uint_eq(a->c.prefetch_b, 64 * MiB);
    ck_assert_uint_eq(a->c.advise_n, 1);
    ck_assert_uint_eq(a->c.host_access_n, 1);
    ck_assert_uint_eq(a->c.host_read_n, 1);
    ck_assert_uint_eq(a->c.host_access_b, 100);
    ck_assert_int_eq(a->pattern, UM_PAT_INOUT);
    ck_assert_uint_gt(a->t_free, a->t_alloc);
    ck_assert_uint_gt(a->t_first_launch, a->t_alloc);
    const um_stats_site_t *s = um_stats_site(st, "app+0x10");
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->allocs, 1);
    ck_assert_uint_eq(s->frees, 1);
    ck_assert_uint_eq(s->live, 0);
    ck_assert_uint_eq(s->live_bytes, 0);
    ck_assert_uint_eq(s->peak_live_bytes, 64 * MiB);
    ck_assert_uint_eq(s->lifetime_ns_max, a->t_free - a->t_alloc);
    ck_assert_uint_eq(s->c.launch_n, 3);
    ck_assert_uint_eq(s->pattern_freed[UM_PAT_INOUT], 1);
    ck_assert_uint_eq(s->pattern_live[UM_PAT_INOUT], 0);
    const um_stats_totals_t *t = um_stats_totals(st);
    ck_assert_uint_eq(t->allocs, 1);
    ck_assert_uint_eq(t->frees, 1);
    ck_assert_uint_eq(t->launches, 3);
    ck_assert_uint_eq(t->copies_n[UM_DIR_H2D], 1);
    ck_assert_uint_eq(t->copies_b[UM_DIR_D2H], 4096);
    ck_assert_uint_eq(t->peak_live_bytes, 64 * MiB);
    ck_assert_uint_eq(t->peak_managed_bytes, 64 * MiB);
    ck_assert_uint_eq(t->managed_live_bytes, 0);
    ck_assert_uint_eq(t->by_kind[UM_EV_LAUNCH], 3);
}
END_TEST

START_TEST(test_stats_patterns) {
    // unused
    feed(ev_alloc(1, MiB, "s"));
    ck_assert_int_eq(A(1)->pattern, UM_PAT_UNUSED);
    // host_only: uploaded, no launch yet
    feed(ev_upload(1, MiB));
    ck_assert_int_eq(A(1)->pattern, UM_PAT_HOST_ONLY);
    // input
    feed(ev_launch(1));
    ck_assert_int_eq(A(1)->pattern, UM_PAT_INPUT);
    feed(ev_launch(1));
    ck_assert_int_eq(A(1)->pattern, UM_PAT_INPUT);
    // streamed: uploaded again after a launch
    feed(ev_upload(1, MiB));
    ck_assert_int_eq(A(1)->pattern, UM_PAT_STREAMED);
    ck_assert_uint_eq(A(1)->c.h2d_after_launch_n, 1);
    // inout once read back
    feed(ev_readback(1, MiB));
    ck_assert_int_eq(A(1)->pattern, UM_PAT_INOUT);
    // result: written on the device, read back
    feed(ev_alloc(2, MiB, "s"));
    feed(ev_launch(2));
    ck_assert_int_eq(A(2)->pattern, UM_PAT_SCRATCH);
    feed(ev_readback(2, MiB));
    ck_assert_int_eq(A(2)->pattern, UM_PAT_RESULT);
    // scratch: memset and D2D do not make it host-visible
    feed(ev_alloc(3, MiB, "s"));
    feed(ev_memset(3, MiB));
    ck_assert_int_eq(A(3)->pattern, UM_PAT_HOST_ONLY);
    feed(ev_d2d(3, 2, MiB));
    feed(ev_launch(3));
    ck_assert_int_eq(A(3)->pattern, UM_PAT_SCRATCH);
    ck_assert_uint_eq(A(3)->c.d2d_in_n, 1);
    ck_assert_uint_eq(A(2)->c.d2d_out_n, 1);
    // host writes through the shim's rewrite count as uploads
    feed(ev_alloc(4, MiB, "s"));
    um_event_t hw = ev_named(UM_EV_HOST_ACCESS, 4, "memcpy");
    hw.dir = UM_DIR_H2D;
    feed(hw);
    feed(ev_launch(4));
    ck_assert_int_eq(A(4)->pattern, UM_PAT_INPUT);
    // live votes follow the current pattern
    const um_stats_site_t *s = um_stats_site(st, "s");
    ck_assert_uint_eq(s->pattern_live[UM_PAT_INOUT], 1);
    ck_assert_uint_eq(s->pattern_live[UM_PAT_RESULT], 1);
    ck_assert_uint_eq(s->pattern_live[UM_PAT_SCRATCH], 1);
    ck_assert_uint_eq(s->pattern_live[UM_PAT_INPUT], 1);
    ck_assert_uint_eq(s->pattern_live[UM_PAT_UNUSED], 0);
    ck_assert_str_eq(um_pattern_name(UM_PAT_STREAMED), "streamed");
    ck_assert_str_ne(um_pattern_what(UM_PAT_INPUT), "?");
}
END_TEST

START_TEST(test_stats_redundant_upload_same_bytes) {
    feed(ev_alloc(1, 4 * MiB, "s"));
    feed(ev_upload(1, 4 * MiB));
    feed(ev_upload(1, 4 * MiB)); // nothing could have changed the device copy
    ck_assert_uint_eq(A(1)->c.h2d_redundant_n, 1);
    ck_assert_uint_eq(A(1)->c.h2d_redundant_b, 4 * MiB);
    feed(ev_upload_at(1, MiB, MiB)); // a part of the clean range
    ck_assert_uint_eq(A(1)->c.h2d_redundant_n, 2);
    // A read-back does not change the device copy either.
    feed(ev_readback(1, 4 * MiB));
    feed(ev_upload(1, 4 * MiB));
    ck_assert_uint_eq(A(1)->c.h2d_redundant_n, 3);
    ck_assert_uint_eq(um_stats_totals(st)->h2d_redundant_n, 3);
    ck_assert_uint_eq(um_stats_site(st, "s")->c.h2d_redundant_b, 9 * MiB);
}
END_TEST

START_TEST(test_stats_redundant_upload_adjacent_ranges_merge) {
    feed(ev_alloc(1, 4 * MiB, "s"));
    feed(ev_upload_at(1, 0, 2 * MiB));
    feed(ev_upload_at(1, 2 * MiB, 2 * MiB));
    ck_assert_uint_eq(A(1)->c.h2d_redundant_n, 0);
    feed(ev_upload(1, 4 * MiB));
    ck_assert_uint_eq(A(1)->c.h2d_redundant_n, 1);
}
END_TEST

START_TEST(test_stats_no_redundancy_after_possible_device_write) {
    feed(ev_alloc(1, MiB, "s"));
    feed(ev_alloc(2, MiB, "s"));
    feed(ev_upload(1, MiB));
    feed(ev_launch(1)); // a kernel may have written it
    feed(ev_upload(1, MiB));
    feed(ev_memset(1, MiB));
    feed(ev_upload(1, MiB));
    feed(ev_d2d(1, 2, MiB));
    feed(ev_upload(1, MiB));
    feed(ev_base(UM_EV_GRAPH)); // a graph may touch anything
    feed(ev_upload(1, MiB));
    um_event_t full = ev_launch(2); // a full refs[] may have been cut: anything touched
    full.nrefs = UM_LAUNCH_MAX_REFS;
    for (int i = 0; i < UM_LAUNCH_MAX_REFS; i++) {
        full.refs[i] = 2;
    }
    feed(full);
    feed(ev_upload(1, MiB));
    ck_assert_uint_eq(A(1)->c.h2d_redundant_n, 0);
    ck_assert_uint_eq(A(1)->c.h2d_n, 6);
    ck_assert_uint_eq(A(1)->c.h2d_after_launch_n, 5);
}
END_TEST

START_TEST(test_stats_unused_uploads_counted_at_free) {
    feed(ev_alloc(1, MiB, "s"));
    feed(ev_upload(1, MiB));
    feed(ev_upload(1, MiB));
    feed(ev_free(1)); // two uploads nobody used
    ck_assert_uint_eq(A(1)->c.h2d_unused_n, 2);
    ck_assert_uint_eq(A(1)->c.h2d_unused_b, 2 * MiB);
    feed(ev_alloc(2, MiB, "s"));
    feed(ev_upload(2, MiB));
    feed(ev_launch(2));
    feed(ev_free(2));
    ck_assert_uint_eq(A(2)->c.h2d_unused_n, 0);
    feed(ev_alloc(3, MiB, "s"));
    feed(ev_upload(3, MiB));
    feed(ev_readback(3, MiB)); // read back through the device: used
    feed(ev_free(3));
    ck_assert_uint_eq(A(3)->c.h2d_unused_n, 0);
    feed(ev_alloc(4, MiB, "s"));
    feed(ev_upload(4, MiB));
    feed(ev_base(UM_EV_GRAPH)); // a graph may have used it: not claimed
    feed(ev_free(4));
    ck_assert_uint_eq(A(4)->c.h2d_unused_n, 0);
    ck_assert_uint_eq(um_stats_totals(st)->h2d_unused_n, 2);
    ck_assert_uint_eq(um_stats_site(st, "s")->c.h2d_unused_n, 2);
}
END_TEST

START_TEST(test_stats_round_trips) {
    feed(ev_alloc(1, MiB, "s"));
    feed(ev_launch(1));
    feed(ev_readback(1, MiB));
    feed(ev_launch(1));
    feed(ev_readback(1, MiB));
    feed(ev_readback(1, MiB));
    feed(ev_launch(1));
    feed(ev_launch(1));
    ck_assert_uint_eq(A(1)->c.round_trips, 2);
}
END_TEST

START_TEST(test_stats_sites_aggregate_and_history) {
    feed(ev_alloc(1, 8 * MiB, "a"));
    feed(ev_alloc(2, 2 * MiB, "a"));
    feed(ev_alloc(3, MiB, "b"));
    const um_stats_site_t *s = um_stats_site(st, "a");
    ck_assert_uint_eq(s->allocs, 2);
    ck_assert_uint_eq(s->live_bytes, 10 * MiB);
    ck_assert_uint_eq(s->min_bytes, 2 * MiB);
    ck_assert_uint_eq(s->max_bytes, 8 * MiB);
    ck_assert_uint_eq(s->total_bytes, 10 * MiB);
    feed(ev_upload(1, MiB));
    feed(ev_launch(1, 3));
    feed(ev_free(1));
    feed(ev_alloc(4, MiB, "a"));
    s = um_stats_site(st, "a");
    ck_assert_uint_eq(s->peak_live_bytes, 10 * MiB);
    ck_assert_uint_eq(s->live_bytes, 3 * MiB);
    ck_assert_uint_eq(s->managed_allocs, 3);
    int mixed = -1;
    ck_assert_int_eq(um_stats_site_pattern(s, 0, &mixed), UM_PAT_INPUT);
    ck_assert_int_eq(mixed, 0);
    // Live allocations vote only when asked to; unused ones never do.
    ck_assert_int_eq(um_stats_site_pattern(s, 1, &mixed), UM_PAT_INPUT);
    feed(ev_launch(2));
    feed(ev_readback(2, MiB));
    ck_assert_int_eq(um_stats_site_pattern(um_stats_site(st, "a"), 0, NULL), UM_PAT_INPUT);
    ck_assert_int_eq(um_stats_site_pattern(um_stats_site(st, "a"), 1, &mixed), UM_PAT_UNUSED);
    ck_assert_int_eq(mixed, 1);
    ck_assert_uint_eq(um_stats_site_count(st), 2);
    ck_assert_str_eq(um_stats_site_at(st, 0)->site, "a"); // first-seen order
    ck_assert_str_eq(um_stats_site_at(st, 1)->site, "b");
    ck_assert_ptr_null(um_stats_site_at(st, 2));
    ck_assert_ptr_null(um_stats_site(st, "nowhere"));
    const um_stats_site_t *b = um_stats_site(st, "b");
    ck_assert_uint_eq(b->c.launch_n, 1);
    ck_assert_int_eq(um_stats_site_pattern(b, 1, NULL), UM_PAT_SCRATCH);
}
END_TEST

START_TEST(test_stats_host_side_ends_of_copies) {
    feed(ev_alloc_kind(1, MiB, UM_MEM_HOST, UM_MEM_HOST, "pinned"));
    feed(ev_alloc(2, MiB, "dev"));
    um_event_t up = ev_upload(2, MiB);
    up.src_id = 1;
    feed(up);
    um_event_t down = ev_readback(2, MiB);
    down.alloc_id = 1;
    feed(down);
    um_event_t hh = ev_base(UM_EV_COPY);
    hh.dir = UM_DIR_H2H;
    hh.alloc_id = 1;
    hh.src_id = 1;
    hh.bytes = 10;
    feed(hh);
    ck_assert_uint_eq(A(1)->c.h2d_src_n, 1);
    ck_assert_uint_eq(A(1)->c.d2h_dst_b, MiB);
    ck_assert_uint_eq(A(1)->c.h2h_n, 1);
    ck_assert_uint_eq(A(2)->c.h2d_n, 1);
    ck_assert_uint_eq(A(2)->c.d2h_n, 1);
    ck_assert_uint_eq(um_stats_site(st, "pinned")->other_allocs, 1);
    // H2H between two known allocations counts on both; a copy without a direction on none.
    feed(ev_alloc_kind(3, MiB, UM_MEM_DEVICE, UM_MEM_DEVICE, "plain"));
    hh.src_id = 3;
    feed(hh);
    ck_assert_uint_eq(A(3)->c.h2h_n, 1);
    ck_assert_uint_eq(A(1)->c.h2h_n, 2);
    um_event_t odd = ev_upload(3, 10);
    odd.dir = UM_DIR_NONE;
    feed(odd);
    ck_assert_uint_eq(A(3)->c.h2d_n, 0);
    ck_assert_uint_eq(um_stats_site(st, "plain")->device_allocs, 1);
    ck_assert_uint_eq(um_stats_totals(st)->copies_n[UM_DIR_NONE], 1);
}
END_TEST

START_TEST(test_stats_ipc_and_fallback_marks) {
    feed(ev_alloc(1, MiB, "ipc_site"));
    um_event_t fb = ev_named(UM_EV_FALLBACK, 1, "cuIpcGetMemHandle");
    fb.result = 1; // the call failed: the fallback is still counted
    feed(fb);
    ck_assert_uint_eq(A(1)->c.ipc_n, 1);
    ck_assert_uint_eq(A(1)->c.fallback_n, 1);
    ck_assert_uint_eq(um_stats_site(st, "ipc_site")->c.ipc_n, 1);
    ck_assert_uint_eq(um_stats_totals(st)->fallbacks, 1);
}
END_TEST

START_TEST(test_stats_observe_returns_the_record) {
    um_event_t ev = ev_alloc(5, MiB, "s");
    const um_stats_alloc_t *a = um_stats_observe(st, &ev);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->id, 5);
    ev = ev_upload(5, 10);
    ck_assert_ptr_eq(um_stats_observe(st, &ev), um_stats_alloc(st, 5));
    ev = ev_base(UM_EV_SYNC);
    ck_assert_ptr_null(um_stats_observe(st, &ev));
    ck_assert_uint_eq(um_stats_totals(st)->syncs, 1);
}
END_TEST

// --- limits ---

START_TEST(test_stats_not_retained_frees_records) {
    um_stats_t *s2 = um_stats_create(0);
    for (uint64_t i = 1; i <= 100000; i++) {
        um_event_t ev = ev_alloc(i, 4096, "loop");
        um_stats_observe(s2, &ev);
        ev = ev_upload(i, 4096);
        um_stats_observe(s2, &ev);
        ev = ev_free(i);
        um_stats_observe(s2, &ev);
    }
    ck_assert_uint_eq(um_stats_alloc_count(s2), 0);
    ck_assert_ptr_null(um_stats_alloc(s2, 5));
    const um_stats_site_t *s = um_stats_site(s2, "loop");
    ck_assert_uint_eq(s->allocs, 100000);
    ck_assert_uint_eq(s->frees, 100000);
    ck_assert_uint_eq(s->pattern_freed[UM_PAT_HOST_ONLY], 100000);
    ck_assert_uint_eq(s->c.h2d_unused_n, 100000);
    ck_assert_uint_eq(s->peak_live_bytes, 4096);
    um_stats_destroy(s2);
}
END_TEST

// Random alloc/free/upload against a plain array model: the id table (with backward-shift
// deletion and swap-removal of records) must always find exactly the live allocations.
START_TEST(test_stats_table_matches_model) {
    um_stats_t *s2 = um_stats_create(0);
    enum { N = 4000 };
    static int live[N];
    static uint64_t uploads[N];
    memset(live, 0, sizeof live);
    memset(uploads, 0, sizeof uploads);
    uint64_t x = 12345;
    for (int step = 0; step < 200000; step++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t id = 1 + (x >> 33) % (N - 1);
        um_event_t ev;
        if (!live[id]) {
            ev = ev_alloc(id, 4096, (id & 1) ? "odd" : "even");
            live[id] = 1;
            uploads[id] = 0;
        } else if ((x >> 20) & 1) {
            ev = ev_upload(id, 16);
            uploads[id]++;
        } else {
            ev = ev_free(id);
            live[id] = 0;
        }
        um_stats_observe(s2, &ev);
    }
    size_t nlive = 0;
    for (uint64_t id = 1; id < N; id++) {
        const um_stats_alloc_t *a = um_stats_alloc(s2, id);
        if (live[id]) {
            nlive++;
            ck_assert_ptr_nonnull(a);
            ck_assert_uint_eq(a->id, id);
            ck_assert_uint_eq(a->c.h2d_n, uploads[id]);
        } else {
            ck_assert_ptr_null(a);
        }
    }
    ck_assert_uint_eq(um_stats_alloc_count(s2), nlive);
    ck_assert_uint_eq(um_stats_totals(s2)->live, nlive);
    um_stats_destroy(s2);
}
END_TEST

START_TEST(test_stats_many_sites) {
    char name[32];
    for (uint64_t i = 1; i <= 5000; i++) {
        snprintf(name, sizeof name, "lib.so+0x%llx", (unsigned long long)i);
        feed(ev_alloc(i, 10, name));
    }
    ck_assert_uint_eq(um_stats_site_count(st), 5000);
    for (uint64_t i = 1; i <= 5000; i++) {
        snprintf(name, sizeof name, "lib.so+0x%llx", (unsigned long long)i);
        const um_stats_site_t *s = um_stats_site(st, name);
        ck_assert_ptr_nonnull(s);
        ck_assert_str_eq(s->site, name);
        ck_assert_ptr_eq(um_stats_site_at(st, A(i)->site_index), s);
    }
}
END_TEST

START_TEST(test_stats_huge_values_and_ranges) {
    um_event_t ev = ev_alloc(1, UINT64_MAX, "big");
    ev.ptr = 1;
    feed(ev);
    um_event_t up = ev_upload(1, UINT64_MAX - 1);
    up.ptr = 2; // offset 1, reaches the very end
    feed(up);
    feed(up);
    ck_assert_uint_eq(A(1)->c.h2d_redundant_n, 1);
    up.ptr = 3; // one byte past the end: range unknown, nothing claimed
    feed(up);
    feed(up);
    ck_assert_uint_eq(A(1)->c.h2d_redundant_n, 1);
    up.ptr = 0; // no pointer: unknown range
    feed(up);
    feed(up);
    ck_assert_uint_eq(A(1)->c.h2d_redundant_n, 1);
}
END_TEST

// --- errors ---

START_TEST(test_stats_ignores_failed_and_unknown) {
    um_event_t ev = ev_alloc(1, MiB, "s");
    ev.result = 2; // out of memory: no allocation exists
    feed(ev);
    ck_assert_ptr_null(um_stats_alloc(st, 1));
    feed(ev_alloc(1, MiB, "s"));
    um_event_t up = ev_upload(1, MiB);
    up.result = 1;
    feed(up);
    ck_assert_uint_eq(A(1)->c.h2d_n, 0);
    feed(ev_upload(99, MiB));
    feed(ev_launch(98, 97));
    feed(ev_free(96));
    feed(ev_memset(95, 1));
    const um_stats_totals_t *t = um_stats_totals(st);
    ck_assert_uint_eq(t->failed, 2);
    ck_assert_uint_eq(t->unknown_refs, 5);
    // Double free: the second one is unknown and changes nothing.
    feed(ev_free(1));
    feed(ev_free(1));
    ck_assert_uint_eq(t->frees, 1);
    ck_assert_uint_eq(t->unknown_refs, 6);
    // Events on a freed (retained) allocation are not folded into it.
    feed(ev_upload(1, MiB));
    ck_assert_uint_eq(A(1)->c.h2d_n, 0);
}
END_TEST

START_TEST(test_stats_id_reused_without_free) {
    feed(ev_alloc(1, MiB, "first"));
    feed(ev_alloc(1, 2 * MiB, "second")); // a missed free: the first is closed
    ck_assert_str_eq(A(1)->site, "second");
    ck_assert_uint_eq(um_stats_site(st, "first")->frees, 1);
    ck_assert_uint_eq(um_stats_totals(st)->live, 1);
    ck_assert_uint_eq(um_stats_totals(st)->live_bytes, 2 * MiB);
}
END_TEST

START_TEST(test_stats_rejects_bad_input) {
    ck_assert_ptr_null(um_stats_observe(NULL, NULL));
    ck_assert_ptr_null(um_stats_observe(st, NULL));
    um_event_t ev = ev_alloc(1, MiB, "s");
    ev.kind = UM_EV_KIND_COUNT;
    ck_assert_ptr_null(um_stats_observe(st, &ev));
    ev = ev_alloc(2, MiB, "s");
    memset(ev.site, 'x', sizeof ev.site); // not NUL-terminated: ignored
    ck_assert_ptr_null(um_stats_observe(st, &ev));
    ev = ev_alloc(0, MiB, "s"); // id 0 means "not an allocation"
    ck_assert_ptr_null(um_stats_observe(st, &ev));
    ck_assert_uint_eq(um_stats_totals(st)->allocs, 0);
    ck_assert_ptr_null(um_stats_alloc(NULL, 1));
    ck_assert_ptr_null(um_stats_site(NULL, "s"));
    ck_assert_ptr_null(um_stats_site(st, NULL));
    ck_assert_ptr_null(um_stats_totals(NULL));
    ck_assert_uint_eq(um_stats_alloc_count(NULL), 0);
    ck_assert_uint_eq(um_stats_site_count(NULL), 0);
    ck_assert_ptr_null(um_stats_alloc_at(st, 0));
    ck_assert_str_eq(um_pattern_name(UM_PAT_COUNT), "?");
    ck_assert_str_eq(um_pattern_what((um_pattern_t)-1), "?");
    um_stats_destroy(NULL);
}
END_TEST

Suite *policy_stats_suite(void) {
    Suite *s = suite_create("policy_stats");
    TCase *core = tcase_create("core");
    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_stats_counts_one_allocation_life);
    tcase_add_test(core, test_stats_patterns);
    tcase_add_test(core, test_stats_redundant_upload_same_bytes);
    tcase_add_test(core, test_stats_redundant_upload_adjacent_ranges_merge);
    tcase_add_test(core, test_stats_no_redundancy_after_possible_device_write);
    tcase_add_test(core, test_stats_unused_uploads_counted_at_free);
    tcase_add_test(core, test_stats_round_trips);
    tcase_add_test(core, test_stats_sites_aggregate_and_history);
    tcase_add_test(core, test_stats_host_side_ends_of_copies);
    tcase_add_test(core, test_stats_ipc_and_fallback_marks);
    tcase_add_test(core, test_stats_observe_returns_the_record);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_set_timeout(limits, 60);
    tcase_add_test(limits, test_stats_not_retained_frees_records);
    tcase_add_test(limits, test_stats_table_matches_model);
    tcase_add_test(limits, test_stats_many_sites);
    tcase_add_test(limits, test_stats_huge_values_and_ranges);
    suite_add_tcase(s, limits);
    TCase *errors = tcase_create("errors");
    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, test_stats_ignores_failed_and_unknown);
    tcase_add_test(errors, test_stats_id_reused_without_free);
    tcase_add_test(errors, test_stats_rejects_bad_input);
    suite_add_tcase(s, errors);
    return s;
}

UM_CHECK_MAIN(policy_stats_suite)
