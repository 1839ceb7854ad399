// The policy engine: observed events in, decisions out. Pure C, deterministic, no CUDA
// headers. The shim asks it what to do at each allocation, copy and launch; `umshim report`
// replays a trace through it to show what auto would decide and why.
#ifndef UMSHIM_POLICY_POLICY_H
#define UMSHIM_POLICY_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "policy/event.h"

// What the shim was asked to do (UMSHIM_MODE); see DESIGN.md "Modes".
typedef enum {
    UM_MODE_PASSTHROUGH = 0,
    UM_MODE_MANAGED,
    UM_MODE_PREFETCH,
    UM_MODE_AUTO,
} um_mode_t;

typedef enum {
    UM_PLACE_DEVICE = 0, // leave it (or make it) plain device memory
    UM_PLACE_MANAGED,    // cuMemAllocManaged, global attach
} um_placement_t;

// Advise hints, a bit set; the shim maps each to CUmem_advise for the allocation's device.
enum {
    UM_ADV_READ_MOSTLY = 1u << 0,       // CU_MEM_ADVISE_SET_READ_MOSTLY
    UM_ADV_PREFER_DEVICE = 1u << 1,     // SET_PREFERRED_LOCATION = the device
    UM_ADV_PREFER_HOST = 1u << 2,       // SET_PREFERRED_LOCATION = host
    UM_ADV_ACCESSED_BY_DEVICE = 1u << 3,// SET_ACCESSED_BY the device
    UM_ADV_ACCESSED_BY_HOST = 1u << 4,  // SET_ACCESSED_BY host (CU_DEVICE_CPU)
};

typedef enum {
    UM_PF_NONE = 0,    // never prefetch
    UM_PF_ON_LAUNCH,   // before a launch that references it, when not resident there
} um_prefetch_t;

// How a synchronous or asynchronous host<->managed copy is carried out.
typedef enum {
    UM_COPY_DRIVER = 0, // call the driver's copy as the program did
    UM_COPY_HOST,       // host memcpy into/out of managed memory (what a naive UM port does)
    UM_COPY_STAGED,     // pinned staging pipeline (shim/staging.h)
} um_copy_t;

typedef struct {
    um_placement_t placement;
    unsigned advise;        // UM_ADV_* bits, applied right after the allocation
    um_prefetch_t prefetch;
    um_copy_t copy_h2d;
    um_copy_t copy_d2h;
    int host_prefetch_before_read; // prefetch to host before a host-side read (prefetch mode)
    char reason[160];       // one line a person can read: why this decision
} um_decision_t;

typedef struct {
    um_mode_t mode;
    uint64_t managed_threshold; // bytes; smaller allocations stay device memory
    uint64_t staging_threshold; // bytes; 0 = staging off
} um_pol_config_t;

typedef struct um_pol um_pol_t;

um_pol_t *um_pol_create(const um_pol_config_t *cfg);
void um_pol_destroy(um_pol_t *pol);

// Feed one observed event (thread-safety: the caller serialises calls on one um_pol_t).
void um_pol_observe(um_pol_t *pol, const um_event_t *ev);

// The decision for a new allocation of `bytes` at `site` (what the shim does now).
um_decision_t um_pol_decide_alloc(um_pol_t *pol, const char *site, uint64_t bytes);

// The decision for a live allocation, given what has been observed of it and its site so
// far (the shim asks again at its first launch and applies any new advise once).
um_decision_t um_pol_decide_live(um_pol_t *pol, uint64_t alloc_id);

// Loads a policy file (policy_file.h) into `pol`: those sites' decisions override the
// built-in rules. Returns 0, or -1 with a message "FILE:LINE: problem" in err.
int um_pol_load(um_pol_t *pol, const char *path, char *err, size_t errlen);

// Writes the learned per-site decisions as a policy file. Returns 0 or -1 (errno set).
int um_pol_save(const um_pol_t *pol, const char *path);

#endif
