// The transfer engine: large copies between pageable host memory and device or managed
// memory go through pinned staging buffers filled and drained by a small thread pool, with
// the driver's semantics kept (see staging.c for the rules). Independent of the hook table:
// it calls the real driver only through the function pointers it is given.
#ifndef UMSHIM_SHIM_STAGING_H
#define UMSHIM_SHIM_STAGING_H

#include <stddef.h>

#include <cuda.h>

typedef struct {
    // Real driver entry points (never the shim's wrappers).
    CUresult (*mem_host_alloc)(void **pp, size_t bytes, unsigned int flags);
    CUresult (*mem_free_host)(void *p);
    CUresult (*memcpy_htod_async)(CUdeviceptr dst, const void *src, size_t n, CUstream s);
    CUresult (*memcpy_dtoh_async)(void *dst, CUdeviceptr src, size_t n, CUstream s);
    CUresult (*event_create)(CUevent *e, unsigned int flags);
    CUresult (*event_destroy)(CUevent e);
    CUresult (*event_record)(CUevent e, CUstream s);
    CUresult (*event_synchronize)(CUevent e);
    CUresult (*stream_synchronize)(CUstream s);
    CUresult (*ctx_get_current)(CUcontext *c);
    CUresult (*ctx_set_current)(CUcontext c);
    size_t threshold; // copies smaller than this are not staged (caller checks um_stage_wants)
    size_t chunk;     // bytes per staging chunk
    int threads;      // host copy threads
    int buffers;      // staging buffers per copy in flight
} um_stage_config_t;

// Configures the engine; returns 0. Lazily creates threads and buffers at first use.
int um_stage_init(const um_stage_config_t *cfg);

// Whether a copy of `bytes` should be staged (enabled and at or above the threshold).
int um_stage_wants(size_t bytes);

// H2D / D2H through staging buffers, ordered on `stream` (the caller passes the stream the
// original call used, already mapped for the legacy / per-thread default stream). When
// `sync` is non-zero the call returns after the copy is complete, like cuMemcpyHtoD;
// otherwise it returns once the source may be reused (H2D) / the data will have landed by
// the time the stream reaches this point (D2H), matching the driver's documented async
// behaviour for pageable memory. Returns CUDA_SUCCESS or the first driver error; on an
// error before any byte moved the caller may fall back to the driver's own copy.
CUresult um_stage_htod(CUdeviceptr dst, const void *src, size_t bytes, CUstream stream, int sync);
CUresult um_stage_dtoh(void *dst, CUdeviceptr src, size_t bytes, CUstream stream, int sync);

// Stops threads and frees pinned buffers (atexit); um_stage_atfork_child resets state in a
// fork child without touching the parent's threads.
void um_stage_shutdown(void);
void um_stage_atfork_child(void);

#endif
