// The unified buffer (unified_buffer.h) over the CUDA runtime: one managed allocation with
// prefetch and advice, or pinned host memory plus a device copy with explicit async copies.
#include "kernels/unified_buffer.h"

#include <cuda_runtime_api.h>
#include <stdlib.h>
#include <string.h>

// --- lifetime ---
int um_ub_init(um_ub_t *b, size_t bytes, int device, unsigned flags) {
    memset(b, 0, sizeof *b);
    if (bytes == 0) return cudaErrorInvalidValue;
    int cma = 0;
    cudaError_t e = cudaDeviceGetAttribute(&cma, cudaDevAttrConcurrentManagedAccess, device);
    if (e != cudaSuccess) return e;
    um_ub_kind_t kind = um_ub_choose_kind(cma, flags, getenv(UM_UB_FALLBACK_ENV), bytes);
    if (kind == UM_UB_MANAGED) {
        // Never more managed memory than the device has free: past that, managed memory
        // oversubscribes, which can stall a shared GPU. Pinned memory fails cleanly instead.
        size_t free_b = 0, total_b = 0;
        e = cudaMemGetInfo(&free_b, &total_b);
        if (e != cudaSuccess) return e;
        if (bytes > free_b) kind = UM_UB_PINNED;
    }
    b->bytes = bytes;
    b->device = device;
    b->kind = kind;
    if (kind == UM_UB_MANAGED) {
        e = cudaMallocManaged(&b->dev, bytes, cudaMemAttachGlobal);
        if (e != cudaSuccess) {
            memset(b, 0, sizeof *b);
            return e;
        }
        b->host = b->dev;
        return cudaSuccess;
    }
    e = cudaMallocHost(&b->host, bytes);
    if (e != cudaSuccess) {
        memset(b, 0, sizeof *b);
        return e;
    }
    e = cudaMalloc(&b->dev, bytes);
    if (e != cudaSuccess) {
        cudaFreeHost(b->host);
        memset(b, 0, sizeof *b);
        return e;
    }
    return cudaSuccess;
}

void um_ub_free(um_ub_t *b) {
    if (b->kind == UM_UB_MANAGED) {
        cudaFree(b->dev);
    } else if (b->kind == UM_UB_PINNED) {
        cudaFree(b->dev);
        cudaFreeHost(b->host);
    }
    memset(b, 0, sizeof *b);
}

// --- movement ---
static int um_ub_range_ok(const um_ub_t *b, size_t offset, size_t bytes) {
    return b->kind && offset <= b->bytes && bytes <= b->bytes - offset;
}

int um_ub_to_device(um_ub_t *b, size_t offset, size_t bytes, void *stream) {
    if (!um_ub_range_ok(b, offset, bytes)) return cudaErrorInvalidValue;
    if (bytes == 0) return cudaSuccess;
    if (b->kind == UM_UB_MANAGED) {
        struct cudaMemLocation loc = {cudaMemLocationTypeDevice, b->device};
        return cudaMemPrefetchAsync((char *)b->dev + offset, bytes, loc, 0, (cudaStream_t)stream);
    }
    return cudaMemcpyAsync((char *)b->dev + offset, (char *)b->host + offset, bytes,
                           cudaMemcpyHostToDevice, (cudaStream_t)stream);
}

int um_ub_to_host(um_ub_t *b, size_t offset, size_t bytes, void *stream) {
    if (!um_ub_range_ok(b, offset, bytes)) return cudaErrorInvalidValue;
    if (bytes == 0) return cudaSuccess;
    if (b->kind == UM_UB_MANAGED) {
        struct cudaMemLocation loc = {cudaMemLocationTypeHost, 0};
        return cudaMemPrefetchAsync((char *)b->dev + offset, bytes, loc, 0, (cudaStream_t)stream);
    }
    return cudaMemcpyAsync((char *)b->host + offset, (char *)b->dev + offset, bytes,
                           cudaMemcpyDeviceToHost, (cudaStream_t)stream);
}

// --- advice ---
int um_ub_advise(um_ub_t *b, um_ub_advice_t advice) {
    if (!b->kind) return cudaErrorInvalidValue;
    if (b->kind != UM_UB_MANAGED) return cudaSuccess; // explicit copies need no hints
    struct cudaMemLocation dev = {cudaMemLocationTypeDevice, b->device};
    struct cudaMemLocation cpu = {cudaMemLocationTypeHost, 0};
    switch (advice) {
    case UM_UB_READ_MOSTLY: return cudaMemAdvise(b->dev, b->bytes, cudaMemAdviseSetReadMostly, dev);
    case UM_UB_PREFER_DEVICE: return cudaMemAdvise(b->dev, b->bytes, cudaMemAdviseSetPreferredLocation, dev);
    case UM_UB_ACCESSED_BY_CPU: return cudaMemAdvise(b->dev, b->bytes, cudaMemAdviseSetAccessedBy, cpu);
    }
    return cudaErrorInvalidValue;
}
