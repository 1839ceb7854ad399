// The allocation registry: a thread-safe interval map from any address inside an
// allocation to its record. Lookups copy the record out, so no caller holds the lock
// across a driver call; updates go through short callbacks run under the lock.
#ifndef UMSHIM_SHIM_REGISTRY_H
#define UMSHIM_SHIM_REGISTRY_H

#include <stdint.h>

#include "policy/event.h"
#include "policy/policy.h"

typedef enum {
    UM_RES_NEW = 0, // never touched by a prefetch or a kernel
    UM_RES_DEVICE,  // prefetched to (or last used by a kernel on) res_device
    UM_RES_HOST,    // written or read on the host since
    UM_RES_UNKNOWN, // the driver touched it (copy, memset): location not known
} um_res_t;

enum {
    UM_REC_REWRITTEN = 1u << 0,    // the program asked for device memory, got managed
    UM_REC_LIVE_ONCE = 1u << 1,    // um_pol_decide_live asked at the first launch
    UM_REC_LIVE_DECIDED = 1u << 2, // ... and at the second (its own history counts then)
    UM_REC_IPC_WARNED = 1u << 3,
    UM_REC_DEAD = 1u << 4,         // its context was reset; about to be removed
    UM_REC_HOST_COPY = 1u << 5,    // read-mostly pages have a host copy (the shim prefetched
                                   // one for a host read-back; any write from our side ends it)
};

typedef struct {
    uint64_t h2d_bytes, d2h_bytes, copies, launches, prefetches, host_accesses;
} um_rec_stats_t;

typedef struct {
    uint64_t id;   // unique, never 0
    uint64_t base; // start address
    uint64_t size; // bytes (0 is treated as 1 for lookups)
    um_mem_kind_t kind, req_kind;
    int device;
    unsigned flags;
    char site[UM_SITE_MAX];
    um_decision_t decision; // what the policy decided (placement, prefetch, copies, advise)
    um_rec_stats_t stats;
    um_res_t res;
    int res_device;
    // Sampled content of [sig_off, sig_off + sig_len) as the host last wrote or read it
    // (memory.c), so a read-back can tell whether the device wrote it; sig_len 0 = none.
    uint64_t sig, sig_off, sig_len;
} um_rec_t;

void um_reg_init(void);
// fork: prepare takes the lock (no thread is then inside the registry), parent releases it,
// child makes it anew over the consistent copy.
void um_reg_atfork_prepare(void);
void um_reg_atfork_parent(void);
void um_reg_atfork_child(void);

// Inserts a copy of *rec with a fresh id (returned). Records overlapping it are stale (their
// memory was freed and reused before the freeing thread removed them) and are dropped.
uint64_t um_reg_insert(const um_rec_t *rec);

// Finds the allocation containing addr; copies it into *out when out != NULL. 1 or 0.
int um_reg_find(uint64_t addr, um_rec_t *out);

// Removes the record starting exactly at base (and, when id != 0, having that id).
// Copies it into *out when out != NULL. 1 or 0.
int um_reg_remove(uint64_t base, uint64_t id, um_rec_t *out);

// Runs fn under the lock on the record starting at base with this id (both as found by
// um_reg_find). Returns fn's result, or -1 if it is gone. fn must not call the driver, log,
// or touch the registry.
int um_reg_update(uint64_t base, uint64_t id, int (*fn)(um_rec_t *rec, void *arg), void *arg);

// Runs fn on every record under the lock (same rules as um_reg_update).
void um_reg_foreach(void (*fn)(um_rec_t *rec, void *arg), void *arg);

uint64_t um_reg_count(void);

#endif
