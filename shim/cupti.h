// CUPTI unified-memory counters for UMSHIM_CUPTI=1: how many GPU page-fault groups the
// program took and how many bytes the driver migrated host-to-device and device-to-host.
// CUPTI is loaded with dlopen at start, so the shim neither links it nor needs it installed;
// when it is missing the counters simply say "not available". Needs CUDA headers only.
#ifndef UMSHIM_SHIM_CUPTI_H
#define UMSHIM_SHIM_CUPTI_H

#include <stdint.h>

typedef struct {
    int available;                  // 0 when CUPTI could not be loaded or configured
    uint64_t gpu_page_fault_groups; // CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_GPU_PAGE_FAULT
    uint64_t htod_bytes;            // ..._KIND_BYTES_TRANSFER_HTOD
    uint64_t dtoh_bytes;            // ..._KIND_BYTES_TRANSFER_DTOH
} um_cupti_counters_t;

// Loads CUPTI (libcupti.so.13, then libcupti.so, then the toolkit's folders) and enables the
// unified-memory counter activity. Call it before the first CUDA context is created: CUPTI
// only counts for contexts made after the counters are configured. Returns 0, or -1 after
// logging once why counters are unavailable. Calling it again after success is a no-op.
int um_cupti_start(void);

// Flushes CUPTI's activity buffers and returns the totals so far in *out (available = 0 when
// um_cupti_start failed or was never called). Stops collection; safe to call more than once.
void um_cupti_stop(um_cupti_counters_t *out);

// Gives up on collection without touching CUPTI (the driver is already shut down): later
// um_cupti_stop calls report the counters as not available. No-op unless collecting.
void um_cupti_abandon(void);

#endif
