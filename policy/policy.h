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
    int rule;               // um_pol_rule_t: the rule that decided (added; see below)
    // Auto (added): prefetch a new managed allocation to its device right after it is made,
    // so the first copy or memset into it finds its pages populated on the GPU. Without it
    // every copy-engine first touch of a never-populated managed page is a GPU page fault
    // (CUPTI on the H100: 78 fault groups for one staged 64 MiB upload, 399 for the demo's
    // 293 MiB, 2 for two small uploads in cuBLAS's test), and PreferredLocation alone does
    // not avoid them: it only decides where the faulting page is created.
    int populate;
} um_decision_t;

typedef struct {
    um_mode_t mode;
    uint64_t managed_threshold; // bytes; smaller allocations stay device memory
    uint64_t staging_threshold; // bytes; 0 = staging off
    // 1: decisions carry their rule but an empty reason text. For the shim's allocation path,
    // where nothing reads the text and formatting it was a fifth of auto's CPU work per
    // allocation; reports (umshim report) and policy files keep their texts.
    int no_reasons;
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
// Cheap (two hash lookups). Asking again later (e.g. at the allocation's second launch, when
// one launch has been observed) is how an allocation earns read_mostly from its own
// history. Evidence can also remove a bit (an "input" read back later becomes "inout" and
// loses read_mostly); the shim may unset it or keep what it applied. Placement always
// reports what the allocation actually is. An id the policy has not observed (no alloc
// event: events are off in this mode, or it was freed) gets rule UM_RULE_UNKNOWN and a
// do-nothing decision: the caller should then keep what it decided at allocation time.
um_decision_t um_pol_decide_live(um_pol_t *pol, uint64_t alloc_id);

// Loads a policy file (policy_file.h) into `pol`: those sites' decisions override the
// built-in rules. Returns 0, or -1 with a message "FILE:LINE: problem" in err.
int um_pol_load(um_pol_t *pol, const char *path, char *err, size_t errlen);

// Writes the learned per-site decisions as a policy file. Returns 0 or -1 (errno set).
int um_pol_save(const um_pol_t *pol, const char *path);

// --- additions to the contract (policy owner; all additive) ---

// The rules, one row each: id, name (in reasons and reports), and the evidence for it —
// um_pol_rule_why() returns the full justification with its measurement (DESIGN.md
// "Measured"); policy.c keeps those texts next to the code that applies them.
#define UM_POL_RULES(X)                                                                            \
    X(UNKNOWN, "unknown")             /* allocation id the policy has not seen */                 \
    X(PASSTHROUGH, "passthrough")     /* mode passthrough: observe only */                        \
    X(KEEP_DEVICE, "keep_device")     /* UMSHIM_KEEP_DEVICE / um_pol_keep_device */               \
    X(IPC, "ipc")                     /* the site exported an IPC handle */                       \
    X(SMALL, "small")                 /* below managed_threshold */                               \
    X(AS_ALLOCATED, "as_allocated")   /* not rewritten (fallback, pool, VMM, pitch, host) */      \
    X(PROGRAM_MANAGED, "program_managed") /* the program's own cuMemAllocManaged */               \
    X(NAIVE, "managed")               /* mode managed: naive port */                              \
    X(PREFETCH, "prefetch")           /* mode prefetch: prefetch everything */                    \
    X(NEW, "new")                     /* auto, no evidence yet */                                 \
    X(INPUT, "input")                 /* uploaded once, read by kernels, never read back */       \
    X(STREAMED, "streamed")           /* re-uploaded between launches */                          \
    X(RESULT, "result")               /* written on the device, read back */                      \
    X(INOUT, "inout")                 /* uploaded, launched, read back */                         \
    X(SCRATCH, "scratch")             /* device-only */                                           \
    X(HOST_ONLY, "host_only")         /* copied, not launched (yet) */                            \
    X(MIXED, "mixed")                 /* the site's allocations disagree */                       \
    X(FILE, "file")                   /* a policy file entry */                                   \
    X(READ_MOSTLY, "read_mostly")     /* read back unchanged across launches (added) */

typedef enum {
#define UM_POL_RULE_ENUM(id, name) UM_RULE_##id,
    UM_POL_RULES(UM_POL_RULE_ENUM)
#undef UM_POL_RULE_ENUM
        UM_RULE_COUNT
} um_pol_rule_t;

const char *um_pol_rule_name(int rule); // "input"; "?" out of range
const char *um_pol_rule_why(int rule);  // the justification, one paragraph
const char *um_pol_mode_name(um_mode_t mode); // "auto"; "?" out of range

// Keeps `site` on device memory in every rewriting mode (UMSHIM_KEEP_DEVICE). 0 or -1 (OOM).
int um_pol_keep_device(um_pol_t *pol, const char *site);

// IPC: any observed event about an allocation whose name starts with "cuIpc" (for example
// the shim's FALLBACK or passthrough event for cuIpcGetMemHandle, with alloc_id set) marks
// that allocation's site as IPC-exporting: later allocations there stay device memory in
// every rewriting mode (rule ipc).

// The statistics the policy has folded so far (policy/stats.h), for reports.
typedef struct um_stats um_stats_t;
const um_stats_t *um_pol_stats(const um_pol_t *pol);

#endif
