// The seed document's UnifiedBuffer, in C: owns one buffer that both the CPU and the GPU use.
//
// On devices where Unified Memory is efficient (concurrentManagedAccess) it is one managed
// allocation: host and device pointers are equal, um_ub_to_device/to_host are prefetches, and
// advice maps to cudaMemAdvise. Elsewhere (or when forced: UM_UB_FORCE_PINNED, or the
// environment variable UMSHIM_UB_FALLBACK=1) it is pinned host memory plus a device copy:
// the same calls become explicit cudaMemcpyAsync and advice is a no-op. Callers write the
// same code either way: fill host(), to_device(), launch on device(), to_host(), read host().
#ifndef UMSHIM_KERNELS_UNIFIED_BUFFER_H
#define UMSHIM_KERNELS_UNIFIED_BUFFER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { UM_UB_MANAGED = 1, UM_UB_PINNED = 2 } um_ub_kind_t;

typedef enum {
    UM_UB_READ_MOSTLY = 1,    // CPU writes, GPU reads (queries, stored vectors)
    UM_UB_PREFER_DEVICE = 2,  // lives on the GPU (stored vectors)
    UM_UB_ACCESSED_BY_CPU = 3 // GPU writes, CPU reads (results)
} um_ub_advice_t;

#define UM_UB_FORCE_PINNED 0x1u
#define UM_UB_ALLOW_SMALL_MANAGED 0x2u // managed even below UM_UB_SMALL_BYTES
#define UM_UB_FALLBACK_ENV "UMSHIM_UB_FALLBACK"

// Below this size a buffer is pinned + explicit copies: on the H100 a prefetch of a small
// range costs ~70 us, more than copying the bytes (DESIGN.md, "Measured").
#define UM_UB_SMALL_BYTES (1u << 20)

typedef struct {
    void *host;  // CPU pointer (== dev when managed)
    void *dev;   // GPU pointer
    size_t bytes;
    int device;
    um_ub_kind_t kind;
} um_ub_t;

// Pure decision (no CUDA): managed iff the device has concurrent managed access, the buffer
// is not small (or UM_UB_ALLOW_SMALL_MANAGED), and neither UM_UB_FORCE_PINNED nor the
// environment value ("1", "true", "yes") forces the fallback.
um_ub_kind_t um_ub_choose_kind(int concurrent_managed_access, unsigned flags, const char *env_value,
                               size_t bytes);

// Returns 0 (a cudaError_t) on success; on failure *b is zeroed and nothing is leaked.
int um_ub_init(um_ub_t *b, size_t bytes, int device, unsigned flags);
int um_ub_to_device(um_ub_t *b, size_t offset, size_t bytes, void *stream);
int um_ub_to_host(um_ub_t *b, size_t offset, size_t bytes, void *stream);
int um_ub_advise(um_ub_t *b, um_ub_advice_t advice);
void um_ub_free(um_ub_t *b);
const char *um_ub_kind_name(um_ub_kind_t k);

#ifdef __cplusplus
}
#endif

#endif
