// Shared by the wrappers in memory.c and launch.c: residency, prefetch, capture state and
// the current device.
#ifndef UMSHIM_SHIM_MEMORY_H
#define UMSHIM_SHIM_MEMORY_H

#include <stdint.h>

#include "shim/cuda_api.h"
#include "shim/registry.h"

// The device of the calling thread's current context, or -1.
int um_cur_device(void);

// The stream handle a per-thread (_ptds/_ptsz) call meant, usable with the legacy entry
// points: the NULL stream of a per-thread call is CU_STREAM_PER_THREAD.
CUstream um_map_stream(CUstream s, int pt);

// Whether any stream capture is in progress in the process (the shim then inserts nothing).
int um_capture_active(void);

// The part of a registry record a launch or copy acts on (small enough for the stack).
typedef struct {
    uint64_t id, base, size;
    unsigned flags;
    um_mem_kind_t kind, req_kind;
    um_res_t res;
    int res_device;
    um_prefetch_t prefetch;
    unsigned advise;
} um_ref_t;

void um_ref_from_rec(um_ref_t *o, const um_rec_t *r);

// Prefetches a rewritten allocation to `device` (CU_DEVICE_CPU for the host) on `stream`
// when it is not known to be there; updates residency and emits the event. Returns the
// driver's result (CUDA_SUCCESS when nothing was needed).
CUresult um_mem_prefetch(const um_ref_t *ref, int device, CUstream stream, const char *why);

// Applies advise bits (UM_ADV_*) to a managed range for `device`. Returns bits applied.
unsigned um_mem_advise(uint64_t base, uint64_t size, unsigned bits, int device, uint64_t id);

// Removes advise bits (UM_ADV_*) applied earlier. Returns bits removed.
unsigned um_mem_unadvise(uint64_t base, uint64_t size, unsigned bits, int device, uint64_t id);

// Marks residency after the shim or the driver touched an allocation.
void um_mem_set_res(uint64_t base, uint64_t id, um_res_t res, int device);

// fork: this file's one lock is held across fork() (see registry.h); taken before the
// registry's.
void um_mem_atfork_prepare(void);
void um_mem_atfork_parent(void);
void um_mem_atfork_child(void);

#endif
