// The testable parts of `umshim ab`: reading the shim's stats file (UMSHIM_STATS, format in
// CONTRACTS.md), summarising repeated runs per mode (medians, ratios against passthrough),
// and checking that every run handed back the same device-to-host data (UMSHIM_HASH=1).
#ifndef UMSHIM_TOOLS_AB_H
#define UMSHIM_TOOLS_AB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// Numeric keys of the stats file, in the order ab prints them. X(key, cupti?)
#define UM_AB_STATS(X)                                                                             \
    X(allocs, 0)                                                                                   \
    X(managed_allocs, 0)                                                                           \
    X(managed_bytes, 0)                                                                            \
    X(device_allocs, 0)                                                                            \
    X(fallbacks, 0)                                                                                \
    X(copies_h2d, 0)                                                                               \
    X(copies_d2h, 0)                                                                               \
    X(bytes_h2d, 0)                                                                                \
    X(bytes_d2h, 0)                                                                                \
    X(host_copies, 0)                                                                              \
    X(staged_copies, 0)                                                                            \
    X(launches, 0)                                                                                 \
    X(prefetches, 0)                                                                               \
    X(prefetch_bytes, 0)                                                                           \
    X(advises, 0)                                                                                  \
    X(cupti_gpu_page_fault_groups, 1)                                                              \
    X(cupti_htod_bytes, 1)                                                                         \
    X(cupti_dtoh_bytes, 1)

enum {
#define UM_AB_ENUM(key, cupti) UM_AB_##key,
    UM_AB_STATS(UM_AB_ENUM)
#undef UM_AB_ENUM
    UM_AB_NKEYS
};

extern const char *const um_ab_key_names[UM_AB_NKEYS];

enum { UM_AB_MISSING = 0, UM_AB_VALUE, UM_AB_NA };

typedef struct {
    char mode[32];
    double v[UM_AB_NKEYS];
    unsigned char have[UM_AB_NKEYS]; // UM_AB_MISSING / UM_AB_VALUE / UM_AB_NA ("na")
    uint64_t d2h_hash;
    int have_hash;                   // the file had a d2h_hash line
} um_ab_stats_t;

// Parses a stats file's text. Unknown keys are ignored (newer shims may add some). Returns
// 0, or -1 with "line N: problem" in err.
int um_ab_parse_stats(const char *text, um_ab_stats_t *out, char *err, size_t errlen);
int um_ab_read_stats(const char *path, um_ab_stats_t *out, char *err, size_t errlen);

// One run of the program.
typedef struct {
    int mode;         // index into the mode list
    double wall_s;
    int status;       // wait status
    int have_stats;
    um_ab_stats_t stats;
    int instrumented; // ran with UMSHIM_HASH=1 and UMSHIM_CUPTI=1: its wall time is not a timing
    int round;        // the round it ran in (round 0: the instrumented one)
} um_ab_run_t;

// Checks that all runs' d2h hashes agree. A hash of 0 or a missing one means "not
// collected" and is left out. Returns 1 when all collected hashes agree (and at least one
// was collected), 0 when none was collected, -1 on a mismatch with the differing runs
// described in msg.
int um_ab_check_hashes(const um_ab_run_t *runs, size_t n, const char *const *mode_names,
                       char *msg, size_t msglen);

// Median of key `key` (or of wall time when key < 0, instrumented runs left out) over the runs
// of `mode`. Returns the
// number of runs that had a value (0: nothing to show; *out = 0). *all_na = 1 when every
// run said "na".
size_t um_ab_median(const um_ab_run_t *runs, size_t n, int mode, int key, double *out, int *all_na);

// Fastest and slowest timed run of `mode` (instrumented runs left out, as in the median: their
// hashing and CUPTI make them slow by design). Returns how many runs were counted; with none,
// *lo = *hi = 0.
size_t um_ab_time_range(const um_ab_run_t *runs, size_t n, int mode, double *lo, double *hi);

// ratio = value / baseline, or 0 when the baseline is 0 (printed as "-").
double um_ab_ratio(double value, double baseline);

// Wall time of `mode` over `base`'s, paired by round (each round runs every mode once, so a
// pair shares the machine's drift): the median of the per-round ratios, and a 95% confidence
// interval for it that assumes nothing about their distribution (the order statistics a
// Binomial(pairs, 1/2) sign test gives). Timed runs only. Returns the number of pairs;
// *lo = *hi = 0 when they are too few for a 95% interval (under 6) or there are none.
size_t um_ab_paired_ratio(const um_ab_run_t *runs, size_t n, int mode, int base, double *med,
                          double *lo, double *hi);

#endif
