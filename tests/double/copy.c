// Copies and memsets of the driver test double. Each call validates its pointers like the real
// driver (a device-side pointer must lie inside one live allocation for the whole range, else
// CUDA_ERROR_INVALID_VALUE), refuses synchronous forms during a global stream capture, and
// becomes one d_op_t that runs at once or is recorded into the capturing stream's graph.
#include "tests/double/double.h"
#include "tests/double/impl.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

// A pageable host range with an unmapped page is refused with CUDA_ERROR_INVALID_VALUE rather
// than faulting in the double's memcpy (mincore() answers ENOMEM for a hole).
static int d_host_ok(uintptr_t p, size_t n) {
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    if (p + n < p) return 0;
    uintptr_t lo = p & ~(pg - 1), hi = (p + n + pg - 1) & ~(pg - 1);
    unsigned char vec[1024];
    for (; lo < hi; lo += sizeof vec * pg) {
        size_t len = hi - lo < sizeof vec * pg ? hi - lo : sizeof vec * pg;
        if (mincore((void *)lo, len, vec) != 0 && errno == ENOMEM) return 0;
    }
    return 1;
}

// --- common path ---
// `dst_dev`/`src_dev`: that side must be memory the driver knows (device, managed, pinned...).
// `uva`: a side the driver does not know is treated as pageable host memory (cuMemcpy).
static CUresult d_copy(uintptr_t dst, uintptr_t src, size_t n, int dst_dev, int src_dev, CUstream s, int ptds,
                       int async, int device_override) {
    d_arg("dst=0x%llx src=0x%llx bytes=%zu stream=%p", (unsigned long long)dst, (unsigned long long)src, n,
          (void *)s);
    CUcontext ctx;
    CUresult rc = d_need_ctx(&ctx);
    if (rc != CUDA_SUCCESS) return rc;
    D_LOCK();
    struct CUstream_st *st;
    rc = d_stream_get(s, ptds, &st);
    if (rc == CUDA_SUCCESS && !async) rc = d_capture_check_unsafe();
    if (rc == CUDA_SUCCESS && n > 0) {
        if ((dst_dev && !d_range_ok(dst, n)) || (src_dev && !d_range_ok(src, n)) || !dst || !src ||
            (!dst_dev && !d_host_ok(dst, n)) || (!src_dev && !d_host_ok(src, n)))
            rc = CUDA_ERROR_INVALID_VALUE;
    }
    if (rc == CUDA_SUCCESS && n > 0) {
        d_op_t op = {.kind = D_OP_COPY, .dst = dst, .src = src, .bytes = n, .dst_dev = dst_dev, .src_dev = src_dev,
                     .device = device_override >= 0 ? device_override : ctx->device};
        rc = d_submit(st, &op);
    }
    D_UNLOCK();
    return rc;
}

static int d_known(uintptr_t p) { return d_find(p) != NULL; }

CUresult d_copy_uva(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s, int ptds, int async) {
    D_LOCK();
    int dk = d_known(dst), sk = d_known(src);
    D_UNLOCK();
    return d_copy(dst, src, n, dk, sk, s, ptds, async, -1);
}

CUresult d_copy_htod(CUdeviceptr dst, const void *src, size_t n, CUstream s, int ptds, int async) {
    return d_copy(dst, (uintptr_t)src, n, 1, 0, s, ptds, async, -1);
}

CUresult d_copy_dtoh(void *dst, CUdeviceptr src, size_t n, CUstream s, int ptds, int async) {
    return d_copy((uintptr_t)dst, src, n, 0, 1, s, ptds, async, -1);
}

CUresult d_copy_dtod(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s, int ptds, int async) {
    return d_copy(dst, src, n, 1, 1, s, ptds, async, -1);
}

CUresult d_copy_peer(CUdeviceptr dst, CUcontext dctx, CUdeviceptr src, CUcontext sctx, size_t n, CUstream s, int ptds,
                     int async) {
    D_LOCK();
    int ok = d_ctx_valid(dctx) && d_ctx_valid(sctx);
    D_UNLOCK();
    if (!ok) return CUDA_ERROR_INVALID_CONTEXT;
    return d_copy(dst, src, n, 1, 1, s, ptds, async, dctx->device);
}

// --- 2D / 3D: validated as a whole, executed (or captured) row by row ---
typedef struct {
    uintptr_t base;
    int dev;   // must be known device-accessible memory
    size_t pitch, plane;
} d_side_t;

static CUresult d_side(CUmemorytype t, const void *host, CUdeviceptr dev, CUarray arr, size_t pitch, size_t height,
                       d_side_t *out) {
    out->pitch = pitch;
    out->plane = pitch * height;
    switch (t) {
    case CU_MEMORYTYPE_HOST: out->base = (uintptr_t)host; out->dev = 0; break;
    case CU_MEMORYTYPE_DEVICE: out->base = dev; out->dev = 1; break;
    case CU_MEMORYTYPE_UNIFIED: out->base = dev; out->dev = d_find(dev) != NULL; break;
    case CU_MEMORYTYPE_ARRAY: return CUDA_ERROR_NOT_SUPPORTED;
    default: return CUDA_ERROR_INVALID_VALUE;
    }
    return out->base ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

static CUresult d_copy_rows(d_side_t *sd, size_t sx, size_t sy, size_t sz, d_side_t *dd, size_t dx, size_t dy,
                            size_t dz, size_t width, size_t height, size_t depth, CUstream s, int ptds, int async) {
    d_arg("width=%zu height=%zu depth=%zu", width, height, depth);
    if (width == 0 || height == 0 || depth == 0) return CUDA_SUCCESS;
    if ((height > 1 || depth > 1) && (sd->pitch < width || dd->pitch < width)) return CUDA_ERROR_INVALID_VALUE;
    CUcontext ctx;
    CUresult rc = d_need_ctx(&ctx);
    if (rc != CUDA_SUCCESS) return rc;
    D_LOCK();
    struct CUstream_st *st;
    rc = d_stream_get(s, ptds, &st);
    if (rc == CUDA_SUCCESS && !async) rc = d_capture_check_unsafe();
    // The first and last byte of each side decide validity: both must be in one allocation.
    uintptr_t s0 = sd->base + sz * sd->plane + sy * sd->pitch + sx;
    uintptr_t d0 = dd->base + dz * dd->plane + dy * dd->pitch + dx;
    size_t sspan = (depth - 1) * sd->plane + (height - 1) * sd->pitch + width;
    size_t dspan = (depth - 1) * dd->plane + (height - 1) * dd->pitch + width;
    if (rc == CUDA_SUCCESS && ((sd->dev && !d_range_ok(s0, sspan)) || (dd->dev && !d_range_ok(d0, dspan))))
        rc = CUDA_ERROR_INVALID_VALUE;
    for (size_t z = 0; z < depth && rc == CUDA_SUCCESS; z++)
        for (size_t y = 0; y < height && rc == CUDA_SUCCESS; y++) {
            d_op_t op = {.kind = D_OP_COPY, .dst = d0 + z * dd->plane + y * dd->pitch,
                         .src = s0 + z * sd->plane + y * sd->pitch, .bytes = width, .dst_dev = dd->dev,
                         .src_dev = sd->dev, .device = ctx->device};
            rc = d_submit(st, &op);
        }
    D_UNLOCK();
    return rc;
}

CUresult d_copy_2d(const CUDA_MEMCPY2D *p, CUstream s, int ptds, int async) {
    if (!p) return CUDA_ERROR_INVALID_VALUE;
    d_side_t sd, dd;
    D_LOCK();
    CUresult rc = d_side(p->srcMemoryType, p->srcHost, p->srcDevice, p->srcArray, p->srcPitch, p->Height, &sd);
    if (rc == CUDA_SUCCESS)
        rc = d_side(p->dstMemoryType, p->dstHost, p->dstDevice, p->dstArray, p->dstPitch, p->Height, &dd);
    D_UNLOCK();
    if (rc != CUDA_SUCCESS) return rc;
    if (p->Height == 1) {
        sd.pitch = sd.pitch ? sd.pitch : p->WidthInBytes;
        dd.pitch = dd.pitch ? dd.pitch : p->WidthInBytes;
    }
    return d_copy_rows(&sd, p->srcXInBytes, p->srcY, 0, &dd, p->dstXInBytes, p->dstY, 0, p->WidthInBytes, p->Height, 1,
                       s, ptds, async);
}

CUresult d_copy_3d(const CUDA_MEMCPY3D *p, CUstream s, int ptds, int async) {
    if (!p || p->srcLOD || p->dstLOD) return CUDA_ERROR_INVALID_VALUE;
    d_side_t sd, dd;
    D_LOCK();
    CUresult rc = d_side(p->srcMemoryType, p->srcHost, p->srcDevice, p->srcArray, p->srcPitch, p->srcHeight, &sd);
    if (rc == CUDA_SUCCESS)
        rc = d_side(p->dstMemoryType, p->dstHost, p->dstDevice, p->dstArray, p->dstPitch, p->dstHeight, &dd);
    D_UNLOCK();
    if (rc != CUDA_SUCCESS) return rc;
    if (p->Depth > 1 && (sd.plane == 0 || dd.plane == 0)) return CUDA_ERROR_INVALID_VALUE;
    return d_copy_rows(&sd, p->srcXInBytes, p->srcY, p->srcZ, &dd, p->dstXInBytes, p->dstY, p->dstZ, p->WidthInBytes,
                       p->Height, p->Depth, s, ptds, async);
}

// --- memsets ---
CUresult d_memset(CUdeviceptr d, unsigned int v, unsigned int elem, size_t n, CUstream s, int ptds, int async) {
    d_arg("ptr=0x%llx value=%u elem=%u count=%zu stream=%p", (unsigned long long)d, v, elem, n, (void *)s);
    CUcontext ctx;
    CUresult rc = d_need_ctx(&ctx);
    if (rc != CUDA_SUCCESS) return rc;
    if (elem > 1 && d % elem) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    struct CUstream_st *st;
    rc = d_stream_get(s, ptds, &st);
    if (rc == CUDA_SUCCESS && !async) rc = d_capture_check_unsafe();
    if (rc == CUDA_SUCCESS && n > 0 && (n > SIZE_MAX / elem || !d_range_ok(d, n * elem))) rc = CUDA_ERROR_INVALID_VALUE;
    if (rc == CUDA_SUCCESS && n > 0) {
        d_op_t op = {.kind = D_OP_MEMSET, .dst = d, .bytes = n, .value = v, .elem = elem, .dst_dev = 1,
                     .device = ctx->device};
        rc = d_submit(st, &op);
    }
    D_UNLOCK();
    return rc;
}
