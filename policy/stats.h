// Per-allocation and per-allocation-site statistics, folded from observed events, plus the
// access pattern each allocation shows so far. The policy engine learns from them; reports
// print them. Pure C, deterministic: the same event sequence gives the same numbers.
//
// What can and cannot be inferred (the shim sees API calls, not memory accesses):
// - A launch "references" an allocation when one of its decoded parameters points into it.
//   Pointers hidden inside structs or reached indirectly are invisible, and whether the
//   kernel reads or writes is unknown: every reference counts as a possible write.
// - A graph launch (UM_EV_GRAPH) or a launch with a full refs[] (it may have been cut at
//   UM_LAUNCH_MAX_REFS) may touch any allocation: it ends every allocation's "clean" state.
// - Host-side accesses are known only where they go through the driver API (copies) or
//   through the shim's own rewrites (UM_EV_HOST_ACCESS). A program that dereferences its own
//   managed memory on the host does so unseen.
// - h2d_redundant: an upload of bytes that were already uploaded since the last possible
//   device-side write (launch reference, memset, D2D/peer copy into it, graph launch). The
//   device copy is then unchanged, so the upload is redundant exactly when the host source
//   bytes are unchanged too — which the shim does not see (no H2D hashing): a candidate.
// - h2d_unused: uploads that no launch, D2H or D2D copy used before the allocation was freed
//   (under the visibility limits above: certain waste when every reference is decoded).
// - A copy that fails (result != 0) moved nothing and is counted only in failed.
#ifndef UMSHIM_POLICY_STATS_H
#define UMSHIM_POLICY_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "policy/event.h"

// The access pattern of an allocation so far. name, one-line meaning.
#define UM_STATS_PATTERNS(X)                                                                       \
    X(UNUSED, "unused", "no copy, memset or launch seen")                                          \
    X(HOST_ONLY, "host_only", "copied or set, but no launch referenced it (yet)")                  \
    X(INPUT, "input", "uploaded before its first launch only, launched, never read back")          \
    X(STREAMED, "streamed", "uploaded again after launches, never read back")                      \
    X(RESULT, "result", "never uploaded, launched, read back by the host")                         \
    X(INOUT, "inout", "uploaded, launched and read back")                                          \
    X(SCRATCH, "scratch", "launched, never copied to or from the host")

typedef enum {
#define UM_PAT_ENUM(id, name, what) UM_PAT_##id,
    UM_STATS_PATTERNS(UM_PAT_ENUM)
#undef UM_PAT_ENUM
        UM_PAT_COUNT
} um_pattern_t;

// Counters kept alike for an allocation and (summed) for its site. n = count, b = bytes.
typedef struct {
    uint64_t h2d_n, h2d_b;           // uploads into it (it is the H2D destination)
    uint64_t d2h_n, d2h_b;           // read-backs from it (it is the D2H source)
    uint64_t d2d_in_n, d2d_in_b;     // D2D or peer copies into it
    uint64_t d2d_out_n, d2d_out_b;   // D2D or peer copies out of it
    uint64_t h2d_src_n, h2d_src_b;   // it is the host source of an upload (pinned memory)
    uint64_t d2h_dst_n, d2h_dst_b;   // it is the host destination of a read-back
    uint64_t h2h_n, h2h_b;           // host-to-host copies touching it
    uint64_t memset_n, memset_b;
    uint64_t launch_n;               // launches referencing it (once per launch)
    uint64_t host_access_n, host_access_b; // UM_EV_HOST_ACCESS on it (the shim's rewritten
                                           // copies: alloc_id for dir=h2d, src_id for d2h)
    uint64_t host_write_n, host_read_n;    //   of which dir=h2d (write) / dir=d2h (read)
    uint64_t prefetch_n, prefetch_b, advise_n, fallback_n;
    uint64_t ipc_n;                  // events on it whose name starts with "cuIpc"
    uint64_t h2d_after_launch_n;     // uploads after its first launch
    uint64_t round_trips;            // launch, host read-back, launch again (alternation)
    uint64_t h2d_redundant_n, h2d_redundant_b; // see the file comment
    uint64_t h2d_unused_n, h2d_unused_b;       // see the file comment (counted at free)
    // Read-backs whose sampled content the shim compared with what the host last saw of
    // that range (event.h um_content_t): unchanged, or written by the device (changed or
    // read-mostly host copy lost). Evidence for read_mostly and against it.
    uint64_t d2h_same_n, d2h_changed_n;
} um_stats_counts_t;

typedef struct {
    uint64_t id, ptr, bytes;
    um_mem_kind_t mem, req_mem;
    int device;
    char site[UM_SITE_MAX];
    size_t site_index;           // um_stats_site_at(st, site_index) is its site
    uint64_t t_alloc, t_free, t_first_launch, t_last_use; // ns; 0 = not (yet)
    int freed;
    um_pattern_t pattern;
    um_stats_counts_t c;
    // Inference state (read-only for users).
    uint64_t clean_lo, clean_hi; // offsets uploaded since the last possible device write
    uint64_t epoch;              // stats epoch the clean range and pending bytes belong to
    uint64_t pending_n, pending_b; // uploads not yet used by the device
    int readback_since_launch;
} um_stats_alloc_t;

typedef struct {
    char site[UM_SITE_MAX];
    uint64_t allocs, frees, live, live_bytes, peak_live_bytes;
    uint64_t total_bytes, min_bytes, max_bytes;
    uint64_t managed_allocs, device_allocs, other_allocs; // by what the allocation became
    uint64_t lifetime_ns_sum, lifetime_ns_max;            // over freed allocations
    uint64_t pattern_live[UM_PAT_COUNT];  // live allocations by current pattern
    uint64_t pattern_freed[UM_PAT_COUNT]; // freed allocations by final pattern
    um_stats_counts_t c;                  // sums over all its allocations
} um_stats_site_t;

typedef struct {
    uint64_t events, by_kind[UM_EV_KIND_COUNT];
    uint64_t failed;        // events with result != 0 (not folded into the counters)
    uint64_t unknown_refs;  // ids named by an event that are not live allocations
    uint64_t allocs, frees, live, live_bytes, peak_live_bytes;
    uint64_t managed_live_bytes, peak_managed_bytes;
    uint64_t copies_n[UM_DIR_COUNT], copies_b[UM_DIR_COUNT]; // every successful copy
    uint64_t launches, graphs, syncs, prefetches, prefetch_b, advises, fallbacks;
    uint64_t h2d_redundant_n, h2d_redundant_b, h2d_unused_n, h2d_unused_b;
    uint64_t t_first, t_last;
} um_stats_totals_t;

typedef struct um_stats um_stats_t;

// retain_freed: keep freed allocations' records (reports, replays); the shim passes 0 so a
// program that allocates in a loop does not grow the table (sites keep the sums).
um_stats_t *um_stats_create(int retain_freed);
void um_stats_destroy(um_stats_t *st);

// Folds one event in. Returns the allocation record the event was about (its destination
// for copies), or NULL. Pointers returned by any function here stay valid until the next
// um_stats_observe or um_stats_destroy. Returns NULL on allocation failure too (the event
// is then only partly counted; nothing breaks).
const um_stats_alloc_t *um_stats_observe(um_stats_t *st, const um_event_t *ev);

// A live allocation (or a freed one when retained) by id; NULL if unknown.
const um_stats_alloc_t *um_stats_alloc(const um_stats_t *st, uint64_t id);
size_t um_stats_alloc_count(const um_stats_t *st);                 // records held
const um_stats_alloc_t *um_stats_alloc_at(const um_stats_t *st, size_t i); // allocation order

// A site by name; NULL if no allocation was made there.
const um_stats_site_t *um_stats_site(const um_stats_t *st, const char *site);
size_t um_stats_site_count(const um_stats_t *st);
const um_stats_site_t *um_stats_site_at(const um_stats_t *st, size_t i); // first-seen order

const um_stats_totals_t *um_stats_totals(const um_stats_t *st);

// The pattern shown by a set of counters (an allocation's; a site's sums give the pattern
// of the site's traffic as a whole).
um_pattern_t um_stats_pattern_of(const um_stats_counts_t *c);
const char *um_pattern_name(um_pattern_t p);  // "input"; "?" out of range
const char *um_pattern_what(um_pattern_t p);  // the one-line meaning above

// The site's history: the pattern all of its freed allocations agree on (live ones too when
// include_live), ignoring UNUSED ones. UM_PAT_UNUSED when there is none; *mixed (if not
// NULL) is set to 1 when they disagree (the result is then UM_PAT_UNUSED).
um_pattern_t um_stats_site_pattern(const um_stats_site_t *s, int include_live, int *mixed);

#endif
