// NVTX ranges around the work the shim inserts into a program -- prefetches, advise hints,
// staged copies, and the synchronisation and host copy that replace a rewritten synchronous
// copy -- so Nsight Systems shows them on the calling thread, in an "umshim" domain, next to
// the program's own calls. NVTX3 is header-only: nothing is linked, a tool is found only when
// it sets NVTX_INJECTION64_PATH, and with none attached each range costs a flag test, a load
// and a branch. UMSHIM_NVTX=0 turns them off entirely.
#ifndef UMSHIM_SHIM_NVTX_H
#define UMSHIM_SHIM_NVTX_H

#include <stdint.h>

typedef enum {
    UM_NVTX_PREFETCH,  // a prefetch the shim issued
    UM_NVTX_ADVISE,    // an advise hint the shim applied
    UM_NVTX_STAGE_H2D, // a copy through the pinned staging engine
    UM_NVTX_STAGE_D2H,
    UM_NVTX_HOST_COPY, // a synchronous copy rewritten into host access of managed memory
    UM_NVTX_HOST_SYNC, // the synchronisation that host access needs first
    UM_NVTX_COUNT
} um_nvtx_what_t;

extern int um_nvtx_on; // set once at initialisation

void um_nvtx_init(int on);
void um_nvtx_push_slow(um_nvtx_what_t what, uint64_t bytes);
void um_nvtx_pop_slow(void);

// A range on this thread; `bytes` is shown as the range's payload (0: none).
static inline void um_nvtx_push(um_nvtx_what_t what, uint64_t bytes) {
    if (um_nvtx_on)
        um_nvtx_push_slow(what, bytes);
}

static inline void um_nvtx_pop(void) {
    if (um_nvtx_on)
        um_nvtx_pop_slow();
}

#endif
