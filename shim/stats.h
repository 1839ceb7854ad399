// Process counters for the UMSHIM_STATS file (keys in CONTRACTS.md), kept as relaxed
// atomics so every wrapper can count without a lock.
#ifndef UMSHIM_SHIM_STATS_H
#define UMSHIM_SHIM_STATS_H

#include <stdint.h>

#define UM_STATS_LIST(X)                                                                         \
    X(allocs) X(managed_allocs) X(managed_bytes) X(device_allocs) X(fallbacks) X(copies_h2d)   \
    X(copies_d2h) X(bytes_h2d) X(bytes_d2h) X(host_copies) X(staged_copies) X(launches)        \
    X(prefetches) X(prefetch_bytes) X(advises)

typedef enum {
#define UM_ST_ENUM(k) UM_ST_##k,
    UM_STATS_LIST(UM_ST_ENUM)
#undef UM_ST_ENUM
    UM_ST_COUNT
} um_stat_t;

void um_stat_add(um_stat_t s, uint64_t n);
uint64_t um_stat_get(um_stat_t s);
void um_stat_reset(void);

// FNV-1a 64 of n bytes; the process hash is the wrapping sum of per-copy hashes, so it does
// not depend on the order in which threads' copies complete.
uint64_t um_fnv1a64(const void *data, uint64_t n);
void um_stat_add_hash(uint64_t h);
uint64_t um_stat_hash(void);

// Writes the stats file; cupti values are "na" when cupti == NULL or not available.
struct um_cupti_counters_view {
    int available;
    uint64_t gpu_page_fault_groups, htod_bytes, dtoh_bytes;
};
int um_stat_write(const char *path, const char *mode_name,
                   const struct um_cupti_counters_view *cupti);

#endif
