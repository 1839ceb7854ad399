// Devices and contexts of the driver test double. UMDOUBLE_DEVICES=N models N identical
// Hopper-class devices (so multi-GPU logic in the shim can be exercised); UMDOUBLE_NO_MANAGED=1
// models a device without managed memory / concurrentManagedAccess (older GPUs, VMs, WSL).
// Each thread has a context stack like the real driver; memory calls need a current context.
#include "tests/double/double.h"
#include "tests/double/impl.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct CUctx_st d_primary[D_MAX_DEVICES];
static atomic_ullong d_ctx_ids = 1;
static __thread CUcontext t_stack[32];
static __thread int t_depth;

// Non-primary contexts (cuCtxCreate) are remembered so handles can be validated.
static CUcontext d_created[64];

static int d_dev_ok(CUdevice dev) { return dev >= 0 && dev < d_knobs.devices; }

CUcontext d_primary_ctx(int device) {
    struct CUctx_st *c = &d_primary[device];
    if (c->magic != D_MAGIC_CTX) {
        c->device = device;
        c->primary = 1;
        c->id = atomic_fetch_add(&d_ctx_ids, 1);
        c->magic = D_MAGIC_CTX;
    }
    return c;
}

int d_ctx_valid(CUcontext c) {
    if (!c) return 0;
    for (int i = 0; i < d_knobs.devices; i++)
        if (c == &d_primary[i]) return c->magic == D_MAGIC_CTX;
    for (size_t i = 0; i < sizeof d_created / sizeof d_created[0]; i++)
        if (d_created[i] == c) return 1;
    return 0;
}

CUcontext d_current_ctx(void) { return t_depth > 0 ? t_stack[t_depth - 1] : NULL; }

CUresult d_need_ctx(CUcontext *out) {
    CUcontext c = d_current_ctx();
    if (out) *out = c;
    return c ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

// --- devices ---
CUresult d_device_get(CUdevice *d, int ordinal) {
    if (!d) return CUDA_ERROR_INVALID_VALUE;
    if (!d_dev_ok(ordinal)) return CUDA_ERROR_INVALID_DEVICE;
    *d = ordinal;
    return CUDA_SUCCESS;
}

CUresult d_device_count(int *n) {
    if (!n) return CUDA_ERROR_INVALID_VALUE;
    *n = d_knobs.devices;
    return CUDA_SUCCESS;
}

CUresult d_device_attr(int *pi, CUdevice_attribute a, CUdevice dev) {
    if (!pi) return CUDA_ERROR_INVALID_VALUE;
    if (!d_dev_ok(dev)) return CUDA_ERROR_INVALID_DEVICE;
    if ((int)a <= 0 || a >= CU_DEVICE_ATTRIBUTE_MAX) return CUDA_ERROR_INVALID_VALUE;
    int managed = !d_knobs.no_managed;
    int v = 0;
    switch (a) {
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X: case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y: v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z: v = 64; break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X: v = 2147483647; break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y: case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z: v = 65535; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: v = 49152; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: v = 232448; break;
    case CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY: v = 65536; break;
    case CU_DEVICE_ATTRIBUTE_WARP_SIZE: v = 32; break;
    case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK: v = 65536; break;
    case CU_DEVICE_ATTRIBUTE_CLOCK_RATE: v = 1980000; break;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: v = 132; break;
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR: v = 2048; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: v = 9; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: v = 0; break;
    case CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE: v = 52428800; break;
    case CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH: v = 5120; break;
    case CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE: v = 2619000; break;
    case CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT: v = 3; break;
    case CU_DEVICE_ATTRIBUTE_PCI_BUS_ID: v = 0x18 + dev; break;
    case CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY: v = managed; break;
    case CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS: v = managed; break;
    case CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS: v = 0; break;
    case CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES: v = 0; break;
    case CU_DEVICE_ATTRIBUTE_DIRECT_MANAGED_MEM_ACCESS_FROM_HOST: v = 0; break;
    case CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED: v = 1; break;
    case CU_DEVICE_ATTRIBUTE_INTEGRATED: v = 0; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_MODE: v = CU_COMPUTEMODE_DEFAULT; break;
    default: v = 0; break;
    }
    *pi = v;
    d_arg("attr=%d dev=%d value=%d", (int)a, dev, v);
    return CUDA_SUCCESS;
}

CUresult d_device_name(char *name, int len, CUdevice dev) {
    if (!name || len <= 0) return CUDA_ERROR_INVALID_VALUE;
    if (!d_dev_ok(dev)) return CUDA_ERROR_INVALID_DEVICE;
    snprintf(name, (size_t)len, "umshim driver test double %d (H100-like)", dev);
    return CUDA_SUCCESS;
}

CUresult d_device_total(size_t *bytes, CUdevice dev) {
    if (!bytes) return CUDA_ERROR_INVALID_VALUE;
    if (!d_dev_ok(dev)) return CUDA_ERROR_INVALID_DEVICE;
    *bytes = d_knobs.total_mem;
    return CUDA_SUCCESS;
}

CUresult d_device_uuid(CUuuid *u, CUdevice dev) {
    if (!u) return CUDA_ERROR_INVALID_VALUE;
    if (!d_dev_ok(dev)) return CUDA_ERROR_INVALID_DEVICE;
    memset(u->bytes, 0, sizeof u->bytes);
    memcpy(u->bytes, "umdouble", 8);
    u->bytes[15] = (char)dev;
    return CUDA_SUCCESS;
}

CUresult d_device_cc(int *major, int *minor, CUdevice dev) {
    if (!major || !minor) return CUDA_ERROR_INVALID_VALUE;
    if (!d_dev_ok(dev)) return CUDA_ERROR_INVALID_DEVICE;
    *major = 9;
    *minor = 0;
    return CUDA_SUCCESS;
}

CUresult d_device_can_peer(int *can, CUdevice dev, CUdevice peer) {
    if (!can) return CUDA_ERROR_INVALID_VALUE;
    if (!d_dev_ok(dev) || !d_dev_ok(peer)) return CUDA_ERROR_INVALID_DEVICE;
    *can = dev != peer;
    return CUDA_SUCCESS;
}

CUresult d_device_pci(char *id, int len, CUdevice dev) {
    if (!id || len <= 0) return CUDA_ERROR_INVALID_VALUE;
    if (!d_dev_ok(dev)) return CUDA_ERROR_INVALID_DEVICE;
    snprintf(id, (size_t)len, "00000000:%02X:00.0", 0x18 + dev);
    return CUDA_SUCCESS;
}

// --- primary contexts ---
CUresult d_primary_retain(CUcontext *pctx, CUdevice dev) {
    if (!pctx) return CUDA_ERROR_INVALID_VALUE;
    if (!d_dev_ok(dev)) return CUDA_ERROR_INVALID_DEVICE;
    D_LOCK();
    CUcontext c = d_primary_ctx(dev);
    c->refcount++;
    D_UNLOCK();
    *pctx = c;
    d_arg("dev=%d ctx=%p", dev, (void *)c);
    return CUDA_SUCCESS;
}

CUresult d_primary_release(CUdevice dev) {
    if (!d_dev_ok(dev)) return CUDA_ERROR_INVALID_DEVICE;
    D_LOCK();
    CUcontext c = d_primary_ctx(dev);
    CUresult rc = CUDA_SUCCESS;
    if (c->refcount <= 0) rc = CUDA_ERROR_INVALID_CONTEXT;
    else c->refcount--;
    D_UNLOCK();
    return rc;
}

CUresult d_primary_set_flags(CUdevice dev, unsigned int flags) {
    if (!d_dev_ok(dev)) return CUDA_ERROR_INVALID_DEVICE;
    if (flags & ~(unsigned)(CU_CTX_SCHED_MASK | CU_CTX_LMEM_RESIZE_TO_MAX | CU_CTX_MAP_HOST | CU_CTX_COREDUMP_ENABLE |
                            CU_CTX_USER_COREDUMP_ENABLE | CU_CTX_SYNC_MEMOPS))
        return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    d_primary_ctx(dev)->flags = flags;
    D_UNLOCK();
    return CUDA_SUCCESS;
}

CUresult d_primary_state(CUdevice dev, unsigned int *flags, int *active) {
    if (!flags || !active) return CUDA_ERROR_INVALID_VALUE;
    if (!d_dev_ok(dev)) return CUDA_ERROR_INVALID_DEVICE;
    D_LOCK();
    CUcontext c = d_primary_ctx(dev);
    *flags = c->flags;
    *active = c->refcount > 0;
    D_UNLOCK();
    return CUDA_SUCCESS;
}

CUresult d_primary_reset(CUdevice dev) {
    if (!d_dev_ok(dev)) return CUDA_ERROR_INVALID_DEVICE;
    return CUDA_SUCCESS;
}

// --- contexts ---
CUresult d_ctx_create(CUcontext *pctx, unsigned int flags, CUdevice dev) {
    if (!pctx) return CUDA_ERROR_INVALID_VALUE;
    if (!d_dev_ok(dev)) return CUDA_ERROR_INVALID_DEVICE;
    if (t_depth >= (int)(sizeof t_stack / sizeof t_stack[0])) return CUDA_ERROR_OUT_OF_MEMORY;
    struct CUctx_st *c = calloc(1, sizeof *c);
    if (!c) return CUDA_ERROR_OUT_OF_MEMORY;
    c->magic = D_MAGIC_CTX;
    c->device = dev;
    c->flags = flags;
    c->refcount = 1;
    c->id = atomic_fetch_add(&d_ctx_ids, 1);
    D_LOCK();
    size_t i;
    for (i = 0; i < sizeof d_created / sizeof d_created[0]; i++)
        if (!d_created[i]) {
            d_created[i] = c;
            break;
        }
    D_UNLOCK();
    if (i == sizeof d_created / sizeof d_created[0]) {
        free(c);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    t_stack[t_depth++] = c;
    *pctx = c;
    return CUDA_SUCCESS;
}

CUresult d_ctx_create4(CUcontext *pctx, CUctxCreateParams *p, unsigned int flags, CUdevice dev) {
    return d_ctx_create(pctx, flags, dev);
}

CUresult d_ctx_destroy(CUcontext ctx) {
    D_LOCK();
    size_t i;
    for (i = 0; i < sizeof d_created / sizeof d_created[0]; i++)
        if (d_created[i] == ctx) {
            d_created[i] = NULL;
            break;
        }
    D_UNLOCK();
    if (i == sizeof d_created / sizeof d_created[0]) return CUDA_ERROR_INVALID_CONTEXT;
    for (int k = 0; k < t_depth; k++)
        if (t_stack[k] == ctx) {
            memmove(&t_stack[k], &t_stack[k + 1], (size_t)(t_depth - k - 1) * sizeof t_stack[0]);
            t_depth--;
            k--;
        }
    ctx->magic = 0;
    free(ctx);
    return CUDA_SUCCESS;
}

CUresult d_ctx_get_current(CUcontext *pctx) {
    if (!pctx) return CUDA_ERROR_INVALID_VALUE;
    *pctx = d_current_ctx();
    return CUDA_SUCCESS;
}

// cuCtxSetCurrent replaces the top of the stack; NULL pops it (or does nothing when empty).
CUresult d_ctx_set_current(CUcontext ctx) {
    if (ctx == NULL) {
        if (t_depth > 0) t_depth--;
        return CUDA_SUCCESS;
    }
    if (!d_ctx_valid(ctx)) return CUDA_ERROR_INVALID_CONTEXT;
    if (t_depth == 0) t_depth = 1;
    t_stack[t_depth - 1] = ctx;
    d_arg("ctx=%p dev=%d", (void *)ctx, ctx->device);
    return CUDA_SUCCESS;
}

CUresult d_ctx_push(CUcontext ctx) {
    if (!d_ctx_valid(ctx)) return CUDA_ERROR_INVALID_CONTEXT;
    if (t_depth >= (int)(sizeof t_stack / sizeof t_stack[0])) return CUDA_ERROR_OUT_OF_MEMORY;
    t_stack[t_depth++] = ctx;
    return CUDA_SUCCESS;
}

CUresult d_ctx_pop(CUcontext *pctx) {
    if (t_depth == 0) return CUDA_ERROR_INVALID_CONTEXT;
    CUcontext c = t_stack[--t_depth];
    if (pctx) *pctx = c;
    return CUDA_SUCCESS;
}

CUresult d_ctx_get_device(CUdevice *dev, CUcontext ctx) {
    if (!dev) return CUDA_ERROR_INVALID_VALUE;
    CUcontext c = ctx ? ctx : d_current_ctx();
    if (!c) return CUDA_ERROR_INVALID_CONTEXT;
    if (ctx && !d_ctx_valid(ctx)) return CUDA_ERROR_INVALID_CONTEXT;
    *dev = c->device;
    return CUDA_SUCCESS;
}

// Everything executes at submission, so synchronising only has to respect stream capture.
CUresult d_ctx_sync(CUcontext ctx) {
    CUcontext c = ctx ? ctx : d_current_ctx();
    if (!c || (ctx && !d_ctx_valid(ctx))) return CUDA_ERROR_INVALID_CONTEXT;
    D_LOCK();
    CUresult rc = d_capture_check_unsafe();
    D_UNLOCK();
    return rc;
}

CUresult d_ctx_get_flags(unsigned int *flags) {
    if (!flags) return CUDA_ERROR_INVALID_VALUE;
    CUcontext c;
    CUresult rc = d_need_ctx(&c);
    if (rc == CUDA_SUCCESS) *flags = c->flags;
    return rc;
}

CUresult d_ctx_api_version(CUcontext ctx, unsigned int *v) {
    if (!v) return CUDA_ERROR_INVALID_VALUE;
    *v = 3020;
    return CUDA_SUCCESS;
}

CUresult d_ctx_get_id(CUcontext ctx, unsigned long long *id) {
    if (!id) return CUDA_ERROR_INVALID_VALUE;
    CUcontext c = ctx ? ctx : d_current_ctx();
    if (!c || !d_ctx_valid(c)) return CUDA_ERROR_INVALID_CONTEXT;
    *id = c->id;
    return CUDA_SUCCESS;
}

CUresult d_ctx_prio_range(int *least, int *greatest) {
    if (least) *least = 0;
    if (greatest) *greatest = -5;
    return CUDA_SUCCESS;
}

CUresult d_ctx_get_limit(size_t *v, CUlimit l) {
    if (!v) return CUDA_ERROR_INVALID_VALUE;
    switch (l) {
    case CU_LIMIT_STACK_SIZE: *v = 1024; break;
    case CU_LIMIT_PRINTF_FIFO_SIZE: *v = 1 << 20; break;
    case CU_LIMIT_MALLOC_HEAP_SIZE: *v = 8 << 20; break;
    default: *v = 0; break;
    }
    return CUDA_SUCCESS;
}

CUresult d_ctx_set_limit(CUlimit l, size_t v) { return CUDA_SUCCESS; }

CUresult d_ctx_peer(CUcontext peer) { return d_ctx_valid(peer) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT; }
