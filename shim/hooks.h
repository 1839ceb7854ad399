// The hook table (generated from hooks.def): which names the shim answers for dlsym and
// which (name, cudaVersion, flags) requests it answers for cuGetProcAddress.
#ifndef UMSHIM_SHIM_HOOKS_H
#define UMSHIM_SHIM_HOOKS_H

#include <stdint.h>

#include "shim/real.h"

typedef struct {
    const char *sym;  // exported driver symbol = wrapper name
    const char *base; // cuGetProcAddress name
    int since;        // lowest cudaVersion returning exactly this ABI
    int pt;           // per-thread default stream variant
    um_id_t id;       // row in the real table
    void *wrapper;    // the shim's function
} um_hook_t;

// Number of hooked rows, and row i in hooks.def order.
int um_hook_count(void);
const um_hook_t *um_hook_at(int i);

// Sorts the lookup tables (idempotent, no allocation; lookups before it scan linearly).
void um_hooks_sort(void);

// The hook exported as `sym` (dlsym path), or NULL.
const um_hook_t *um_hook_by_sym(const char *sym);

// The hook for cuGetProcAddress(base, cuda_version, flags): the newest row for `base` with
// since <= cuda_version, per-thread rows when flags ask for the per-thread default stream
// (falling back to the legacy rows when no per-thread row is old enough, as the driver
// does). NULL when the shim does not hook exactly that ABI.
const um_hook_t *um_hook_for_proc(const char *base, int cuda_version, uint64_t flags);

#endif
