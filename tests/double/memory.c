// Allocations of the driver test double, all on host memory: device, pitch, pool and managed
// allocations are aligned heap blocks whose host address is the "device pointer" (so builtin
// kernels and the shim's host-side access to managed memory both just work); pinned host
// allocations and registrations share the address space like unified addressing does; VMM
// ranges are memfd mappings over a reserved address range. A sorted interval map answers
// interior-pointer lookups, so frees, copies and pointer queries fail exactly where the real
// driver fails (unknown pointer, double free, range past the end). Managed allocations carry a
// residency model (never touched / host / device N) and the advice state, so prefetch and
// advise decisions are observable (umdouble_value("gpu_faults"), cuMemRangeGetAttribute).
#include "tests/double/double.h"
#include "tests/double/impl.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

// --- the interval map (lock held) ---
static d_alloc_t *d_map;
static size_t d_map_n, d_map_cap;
static atomic_ullong d_alloc_ids = 1;
static size_t d_dev_bytes; // device-resident bytes (not managed), for cuMemGetInfo

static size_t d_map_upper(uintptr_t addr) { // first index with base > addr
    size_t lo = 0, hi = d_map_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (d_map[mid].base <= addr) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

d_alloc_t *d_find(uintptr_t addr) {
    size_t i = d_map_upper(addr);
    if (i == 0) return NULL;
    d_alloc_t *a = &d_map[i - 1];
    return addr - a->base < a->size ? a : NULL;
}

static d_alloc_t *d_map_insert(const d_alloc_t *a) {
    if (d_map_n == d_map_cap) {
        size_t cap = d_map_cap ? d_map_cap * 2 : 256;
        d_alloc_t *m = realloc(d_map, cap * sizeof *m);
        if (!m) return NULL;
        d_map = m;
        d_map_cap = cap;
    }
    size_t i = d_map_upper(a->base);
    memmove(&d_map[i + 1], &d_map[i], (d_map_n - i) * sizeof *d_map);
    d_map[i] = *a;
    d_map_n++;
    return &d_map[i];
}

static void d_map_remove(d_alloc_t *a) {
    size_t i = (size_t)(a - d_map);
    memmove(&d_map[i], &d_map[i + 1], (d_map_n - i - 1) * sizeof *d_map);
    d_map_n--;
}

static int d_device_accessible(const d_alloc_t *a) {
    return a->kind != D_MEM_HOST || 1; // pinned host memory is mapped for the device (UVA)
}

int d_range_ok(uintptr_t addr, size_t bytes) {
    d_alloc_t *a = d_find(addr);
    if (!a || !d_device_accessible(a)) return 0;
    return bytes <= a->size - (addr - a->base);
}

// A kernel on `device` touches [addr, addr+bytes): managed memory that is not resident there
// migrates, which on a real GPU costs page-fault groups.
void d_touch_device(uintptr_t addr, size_t bytes, int device) {
    d_alloc_t *a = d_find(addr);
    if (!a || a->kind != D_MEM_MANAGED) return;
    if (a->resident != device) {
        d_stat_add("gpu_faults", 1);
        a->resident = device;
    }
}

void d_mark_written(uintptr_t addr, size_t bytes, int device) {
    d_alloc_t *a = d_find(addr);
    if (a && a->kind == D_MEM_MANAGED) a->resident = device;
}

static int d_is_strict_kind(d_kind_t k) { return k == D_MEM_DEVICE || k == D_MEM_PITCH || k == D_MEM_POOL; }

// Strict device memory: its own page-aligned mapping, inaccessible from the host.
static CUresult d_new_device_block(size_t bytes, void **out, size_t *mapped) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), len = (bytes + page - 1) / page * page;
    void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return CUDA_ERROR_OUT_OF_MEMORY;
    *out = p; // anonymous memory is zeroed, like d_new_block
    *mapped = len;
    return CUDA_SUCCESS;
}

static int d_open_depth; // lock held: nested opens (a launch inside a graph replay)

void d_device_open(void) {
    if (d_open_depth++ > 0) return;
    for (size_t i = 0; i < d_map_n; i++)
        if (d_map[i].mapped) mprotect((void *)d_map[i].base, d_map[i].mapped, PROT_READ | PROT_WRITE);
}

void d_device_close(void) {
    if (--d_open_depth > 0) return;
    for (size_t i = 0; i < d_map_n; i++)
        if (d_map[i].mapped) mprotect((void *)d_map[i].base, d_map[i].mapped, PROT_NONE);
}

static CUresult d_new_block(size_t bytes, size_t align, void **out) {
    void *p = NULL;
    if (posix_memalign(&p, align, bytes) != 0 || !p) return CUDA_ERROR_OUT_OF_MEMORY;
    // Zeroed, so runs with and without the shim print the same bytes even for programs that
    // read memory they never wrote.
    memset(p, 0, bytes);
    *out = p;
    return CUDA_SUCCESS;
}

static const char *d_kind_name(d_kind_t k) {
    static const char *const names[] = {"device", "managed", "host", "registered", "pool", "pitch", "vmm"};
    return names[k];
}

// Makes one allocation of `kind` on the current context's device. Lock not held.
static CUresult d_alloc(d_kind_t kind, size_t bytes, unsigned flags, CUmemoryPool pool, uintptr_t *out) {
    CUcontext ctx;
    CUresult rc = d_need_ctx(&ctx);
    if (rc != CUDA_SUCCESS) return rc;
    if (bytes == 0) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    int counts_as_device = kind == D_MEM_DEVICE || kind == D_MEM_PITCH || kind == D_MEM_POOL;
    if ((kind == D_MEM_DEVICE || kind == D_MEM_PITCH || kind == D_MEM_MANAGED) &&
        (rc = d_capture_check_unsafe()) != CUDA_SUCCESS) {
        D_UNLOCK();
        return rc;
    }
    if (counts_as_device && (bytes > d_knobs.free_mem || d_dev_bytes > d_knobs.free_mem - bytes)) {
        D_UNLOCK();
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    void *p;
    size_t mapped = 0;
    if (d_knobs.strict && d_is_strict_kind(kind)) rc = d_new_device_block(bytes, &p, &mapped);
    else rc = d_new_block(bytes, kind == D_MEM_HOST ? 4096 : D_ALLOC_ALIGN, &p);
    if (rc != CUDA_SUCCESS) {
        D_UNLOCK();
        return rc;
    }
    d_alloc_t a = {
        .base = (uintptr_t)p, .size = bytes, .kind = kind, .device = ctx->device, .flags = flags,
        .id = atomic_fetch_add(&d_alloc_ids, 1), .resident = D_RES_NONE, .preferred = -2,
        .last_prefetch = -2, .owned = mapped ? NULL : p, .mapped = mapped, .pool = pool,
    };
    if (!d_map_insert(&a)) {
        D_UNLOCK();
        if (mapped) munmap(p, mapped);
        else free(p);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    if (counts_as_device) {
        d_dev_bytes += bytes;
        d_stat_add("device_bytes", (long long)bytes);
    } else if (kind == D_MEM_MANAGED) {
        d_stat_add("managed_bytes", (long long)bytes);
    } else {
        d_stat_add("host_bytes", (long long)bytes);
    }
    d_stat_add("live_allocs", 1);
    D_UNLOCK();
    *out = (uintptr_t)p;
    return CUDA_SUCCESS;
}

static void d_release_locked(d_alloc_t *a) {
    size_t bytes = a->size;
    d_kind_t kind = a->kind;
    void *owned = a->owned;
    uintptr_t base = a->base;
    size_t mapped = a->mapped;
    d_map_remove(a);
    if (mapped) munmap((void *)base, mapped);
    if (kind == D_MEM_DEVICE || kind == D_MEM_PITCH || kind == D_MEM_POOL) {
        d_dev_bytes -= bytes;
        d_stat_add("device_bytes", -(long long)bytes);
    } else if (kind == D_MEM_MANAGED) {
        d_stat_add("managed_bytes", -(long long)bytes);
    } else if (kind == D_MEM_HOST) {
        d_stat_add("host_bytes", -(long long)bytes);
    }
    if (kind != D_MEM_REGISTERED && kind != D_MEM_VMM) d_stat_add("live_allocs", -1);
    free(owned);
}

// --- device allocations ---
CUresult d_mem_alloc(CUdeviceptr *dptr, size_t bytes) {
    if (!dptr) return CUDA_ERROR_INVALID_VALUE;
    uintptr_t p = 0;
    CUresult rc = d_alloc(D_MEM_DEVICE, bytes, 0, NULL, &p);
    if (rc == CUDA_SUCCESS) *dptr = p;
    d_arg("bytes=%zu ptr=0x%llx", bytes, (unsigned long long)p);
    return rc;
}

CUresult d_module_get_global(CUdeviceptr *dptr, size_t *bytes, CUmodule m, const char *name) {
    static uintptr_t global;
    const size_t n = 64 * 1024;
    if (!m || !name || (!dptr && !bytes)) return CUDA_ERROR_INVALID_VALUE;
    if (!global) {
        CUresult rc = d_alloc(D_MEM_DEVICE, n, 0, NULL, &global);
        if (rc != CUDA_SUCCESS) return rc;
    }
    if (dptr) *dptr = global;
    if (bytes) *bytes = n;
    d_arg("name=%s ptr=0x%llx", name, (unsigned long long)global);
    return CUDA_SUCCESS;
}

CUresult d_mem_alloc_pitch(CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height, unsigned int elem) {
    if (!dptr || !pitch || width == 0 || height == 0) return CUDA_ERROR_INVALID_VALUE;
    if (elem != 4 && elem != 8 && elem != 16) return CUDA_ERROR_INVALID_VALUE;
    size_t pt = (width + 511) / 512 * 512;
    uintptr_t p = 0;
    CUresult rc = d_alloc(D_MEM_PITCH, pt * height, 0, NULL, &p);
    if (rc == CUDA_SUCCESS) {
        *dptr = p;
        *pitch = pt;
    }
    d_arg("width=%zu height=%zu pitch=%zu ptr=0x%llx", width, height, pt, (unsigned long long)p);
    return rc;
}

CUresult d_mem_alloc_managed(CUdeviceptr *dptr, size_t bytes, unsigned int flags) {
    if (!dptr) return CUDA_ERROR_INVALID_VALUE;
    if (d_knobs.no_managed) return CUDA_ERROR_NOT_SUPPORTED;
    if (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST) return CUDA_ERROR_INVALID_VALUE;
    uintptr_t p = 0;
    CUresult rc = d_alloc(D_MEM_MANAGED, bytes, flags, NULL, &p);
    if (rc == CUDA_SUCCESS) *dptr = p;
    d_arg("bytes=%zu flags=%u ptr=0x%llx", bytes, flags, (unsigned long long)p);
    return rc;
}

// --- pools (stream-ordered allocations) ---
typedef struct {
    uint32_t magic;
    int device;
} d_pool_t;
static d_pool_t d_default_pools[D_MAX_DEVICES];
static d_pool_t *d_pools[64];

static int d_pool_valid(CUmemoryPool pool) {
    for (int i = 0; i < D_MAX_DEVICES; i++)
        if ((void *)pool == (void *)&d_default_pools[i]) return d_default_pools[i].magic == D_MAGIC_POOL;
    for (size_t i = 0; i < sizeof d_pools / sizeof d_pools[0]; i++)
        if (d_pools[i] && (void *)d_pools[i] == (void *)pool) return 1;
    return 0;
}

CUresult d_device_pool(CUmemoryPool *pool, CUdevice dev) {
    if (!pool) return CUDA_ERROR_INVALID_VALUE;
    if (dev < 0 || dev >= d_knobs.devices) return CUDA_ERROR_INVALID_DEVICE;
    D_LOCK();
    d_default_pools[dev].magic = D_MAGIC_POOL;
    d_default_pools[dev].device = dev;
    D_UNLOCK();
    *pool = (CUmemoryPool)(void *)&d_default_pools[dev];
    return CUDA_SUCCESS;
}

CUresult d_pool_create(CUmemoryPool *pool, const CUmemPoolProps *p) {
    if (!pool || !p || p->location.type != CU_MEM_LOCATION_TYPE_DEVICE || p->location.id < 0 ||
        p->location.id >= d_knobs.devices)
        return CUDA_ERROR_INVALID_VALUE;
    d_pool_t *np = calloc(1, sizeof *np);
    if (!np) return CUDA_ERROR_OUT_OF_MEMORY;
    np->magic = D_MAGIC_POOL;
    np->device = p->location.id;
    D_LOCK();
    size_t i;
    for (i = 0; i < sizeof d_pools / sizeof d_pools[0]; i++)
        if (!d_pools[i]) {
            d_pools[i] = np;
            break;
        }
    D_UNLOCK();
    if (i == sizeof d_pools / sizeof d_pools[0]) {
        free(np);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *pool = (CUmemoryPool)(void *)np;
    return CUDA_SUCCESS;
}

CUresult d_pool_destroy(CUmemoryPool pool) {
    D_LOCK();
    for (size_t i = 0; i < sizeof d_pools / sizeof d_pools[0]; i++)
        if (d_pools[i] && (void *)d_pools[i] == (void *)pool) {
            free(d_pools[i]);
            d_pools[i] = NULL;
            D_UNLOCK();
            return CUDA_SUCCESS;
        }
    D_UNLOCK();
    return CUDA_ERROR_INVALID_VALUE;
}

CUresult d_pool_trim(CUmemoryPool pool) {
    D_LOCK();
    int ok = d_pool_valid(pool);
    D_UNLOCK();
    return ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult d_pool_attr(CUmemoryPool pool, CUmemPool_attribute a, void *v, int set) {
    if (!v) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    int ok = d_pool_valid(pool);
    D_UNLOCK();
    if (!ok) return CUDA_ERROR_INVALID_VALUE;
    if (!set) {
        switch (a) {
        case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD: case CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT:
        case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH: case CU_MEMPOOL_ATTR_USED_MEM_CURRENT:
        case CU_MEMPOOL_ATTR_USED_MEM_HIGH: *(cuuint64_t *)v = 0; break;
        default: *(int *)v = 0; break;
        }
    }
    return CUDA_SUCCESS;
}

CUresult d_mem_alloc_async(CUdeviceptr *dptr, size_t bytes, CUmemoryPool pool, CUstream s, int ptds) {
    if (!dptr) return CUDA_ERROR_INVALID_VALUE;
    struct CUstream_st *st;
    D_LOCK();
    CUresult rc = d_stream_get(s, ptds, &st);
    if (rc == CUDA_SUCCESS && pool && !d_pool_valid(pool)) rc = CUDA_ERROR_INVALID_VALUE;
    // Allocation nodes in captured graphs are not modelled.
    if (rc == CUDA_SUCCESS && st->capturing) rc = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    D_UNLOCK();
    if (rc != CUDA_SUCCESS) return rc;
    uintptr_t p = 0;
    rc = d_alloc(D_MEM_POOL, bytes, 0, pool, &p);
    if (rc == CUDA_SUCCESS) *dptr = p;
    d_arg("bytes=%zu stream=%p ptr=0x%llx", bytes, (void *)s, (unsigned long long)p);
    return rc;
}

// --- frees ---
CUresult d_mem_free(CUdeviceptr dptr) {
    d_arg("ptr=0x%llx", (unsigned long long)dptr);
    if (dptr == 0) return CUDA_SUCCESS;
    CUresult rc = d_need_ctx(NULL);
    if (rc != CUDA_SUCCESS) return rc;
    D_LOCK();
    if ((rc = d_capture_check_unsafe()) != CUDA_SUCCESS) {
        D_UNLOCK();
        return rc;
    }
    d_alloc_t *a = d_find(dptr);
    if (!a || a->base != dptr || a->kind == D_MEM_HOST || a->kind == D_MEM_REGISTERED || a->kind == D_MEM_VMM) {
        D_UNLOCK();
        return CUDA_ERROR_INVALID_VALUE;
    }
    d_arg("bytes=%zu kind=%s", a->size, d_kind_name(a->kind));
    d_release_locked(a);
    D_UNLOCK();
    return CUDA_SUCCESS;
}

CUresult d_mem_free_async(CUdeviceptr dptr, CUstream s, int ptds) {
    d_arg("ptr=0x%llx stream=%p", (unsigned long long)dptr, (void *)s);
    CUresult rc = d_need_ctx(NULL);
    if (rc != CUDA_SUCCESS) return rc;
    D_LOCK();
    struct CUstream_st *st;
    rc = d_stream_get(s, ptds, &st);
    if (rc == CUDA_SUCCESS && st->capturing) rc = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    d_alloc_t *a = rc == CUDA_SUCCESS ? d_find(dptr) : NULL;
    if (rc == CUDA_SUCCESS && (!a || a->base != dptr || a->kind == D_MEM_HOST || a->kind == D_MEM_REGISTERED ||
                               a->kind == D_MEM_VMM))
        rc = CUDA_ERROR_INVALID_VALUE;
    if (rc == CUDA_SUCCESS) d_release_locked(a);
    D_UNLOCK();
    return rc;
}

// --- pinned host memory ---
CUresult d_mem_host_alloc(void **pp, size_t bytes, unsigned int flags) {
    if (!pp || bytes == 0) return CUDA_ERROR_INVALID_VALUE;
    if (flags & ~(unsigned)(CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_WRITECOMBINED))
        return CUDA_ERROR_INVALID_VALUE;
    uintptr_t p = 0;
    CUresult rc = d_alloc(D_MEM_HOST, bytes, flags, NULL, &p);
    if (rc == CUDA_SUCCESS) *pp = (void *)p;
    d_arg("bytes=%zu flags=%u ptr=0x%llx", bytes, flags, (unsigned long long)p);
    return rc;
}

CUresult d_mem_free_host(void *p) {
    d_arg("ptr=%p", p);
    D_LOCK();
    d_alloc_t *a = d_find((uintptr_t)p);
    if (!p || !a || a->base != (uintptr_t)p || a->kind != D_MEM_HOST) {
        D_UNLOCK();
        return CUDA_ERROR_INVALID_VALUE;
    }
    d_release_locked(a);
    D_UNLOCK();
    return CUDA_SUCCESS;
}

CUresult d_mem_host_register(void *p, size_t bytes, unsigned int flags) {
    d_arg("ptr=%p bytes=%zu flags=%u", p, bytes, flags);
    if (!p || bytes == 0) return CUDA_ERROR_INVALID_VALUE;
    CUcontext ctx;
    CUresult rc = d_need_ctx(&ctx);
    if (rc != CUDA_SUCCESS) return rc;
    uintptr_t b = (uintptr_t)p;
    D_LOCK();
    size_t i = d_map_upper(b + bytes - 1);
    if (i > 0 && d_map[i - 1].base + d_map[i - 1].size > b) {
        D_UNLOCK();
        return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
    }
    d_alloc_t a = {.base = b, .size = bytes, .kind = D_MEM_REGISTERED, .device = ctx->device, .flags = flags,
                   .id = atomic_fetch_add(&d_alloc_ids, 1), .resident = D_RES_HOST, .preferred = -2,
                   .last_prefetch = -2};
    rc = d_map_insert(&a) ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
    D_UNLOCK();
    return rc;
}

CUresult d_mem_host_unregister(void *p) {
    d_arg("ptr=%p", p);
    D_LOCK();
    d_alloc_t *a = d_find((uintptr_t)p);
    if (!p || !a || a->base != (uintptr_t)p || a->kind != D_MEM_REGISTERED) {
        D_UNLOCK();
        return CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
    }
    d_release_locked(a);
    D_UNLOCK();
    return CUDA_SUCCESS;
}

CUresult d_mem_host_devptr(CUdeviceptr *pd, void *p, unsigned int flags) {
    if (!pd || flags != 0) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    d_alloc_t *a = d_find((uintptr_t)p);
    int ok = a && (a->kind == D_MEM_HOST || a->kind == D_MEM_REGISTERED);
    D_UNLOCK();
    if (!ok) return CUDA_ERROR_INVALID_VALUE;
    *pd = (CUdeviceptr)(uintptr_t)p;
    return CUDA_SUCCESS;
}

CUresult d_mem_host_flags(unsigned int *flags, void *p) {
    if (!flags) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    d_alloc_t *a = d_find((uintptr_t)p);
    int ok = a && (a->kind == D_MEM_HOST || a->kind == D_MEM_REGISTERED);
    if (ok) *flags = a->flags;
    D_UNLOCK();
    return ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

// --- queries ---
CUresult d_mem_get_info(size_t *free_bytes, size_t *total) {
    if (!free_bytes || !total) return CUDA_ERROR_INVALID_VALUE;
    CUresult rc = d_need_ctx(NULL);
    if (rc != CUDA_SUCCESS) return rc;
    D_LOCK();
    *free_bytes = d_dev_bytes > d_knobs.free_mem ? 0 : d_knobs.free_mem - d_dev_bytes;
    *total = d_knobs.total_mem;
    D_UNLOCK();
    d_arg("free=%zu total=%zu", *free_bytes, *total);
    return CUDA_SUCCESS;
}

CUresult d_mem_range(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr) {
    d_arg("ptr=0x%llx", (unsigned long long)dptr);
    CUresult rc = d_need_ctx(NULL);
    if (rc != CUDA_SUCCESS) return rc;
    D_LOCK();
    d_alloc_t *a = d_find(dptr);
    if (!a || a->kind == D_MEM_HOST || a->kind == D_MEM_REGISTERED) {
        D_UNLOCK();
        return CUDA_ERROR_NOT_FOUND;
    }
    if (pbase) *pbase = a->base;
    if (psize) *psize = a->size;
    D_UNLOCK();
    return CUDA_SUCCESS;
}

// Writes one attribute of allocation `a` (NULL: not a CUDA pointer) into `data`.
static CUresult d_attr_one(void *data, CUpointer_attribute at, d_alloc_t *a, CUdeviceptr ptr) {
    int managed = a && a->kind == D_MEM_MANAGED;
    int hostmem = a && (a->kind == D_MEM_HOST || a->kind == D_MEM_REGISTERED);
    switch (at) {
    case CU_POINTER_ATTRIBUTE_CONTEXT: *(CUcontext *)data = a ? d_primary_ctx(a->device) : NULL; break;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
        *(unsigned int *)data = !a ? 0 : hostmem ? CU_MEMORYTYPE_HOST : CU_MEMORYTYPE_DEVICE;
        break;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER: *(CUdeviceptr *)data = a ? ptr : 0; break;
    case CU_POINTER_ATTRIBUTE_HOST_POINTER:
        if (a && !managed && !hostmem) return CUDA_ERROR_INVALID_VALUE;
        *(void **)data = a ? (void *)(uintptr_t)ptr : NULL;
        break;
    case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS: *(int *)data = a ? a->sync_memops : 0; break;
    case CU_POINTER_ATTRIBUTE_BUFFER_ID: *(unsigned long long *)data = a ? a->id : 0; break;
    case CU_POINTER_ATTRIBUTE_IS_MANAGED: *(unsigned int *)data = managed; break;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL: *(int *)data = a ? a->device : -2; break;
    case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE:
        *(int *)data = a && (a->kind == D_MEM_DEVICE || a->kind == D_MEM_PITCH);
        break;
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR: *(CUdeviceptr *)data = a ? a->base : 0; break;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE: *(size_t *)data = a ? a->size : 0; break;
    case CU_POINTER_ATTRIBUTE_MAPPED: *(int *)data = a != NULL; break;
    case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES: *(unsigned long long *)data = 0; break;
    case CU_POINTER_ATTRIBUTE_IS_GPU_DIRECT_RDMA_CAPABLE: *(int *)data = 0; break;
    case CU_POINTER_ATTRIBUTE_ACCESS_FLAGS:
        *(int *)data = a ? CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READWRITE : CU_POINTER_ATTRIBUTE_ACCESS_FLAG_NONE;
        break;
    case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE: *(CUmemoryPool *)data = a ? a->pool : NULL; break;
    case CU_POINTER_ATTRIBUTE_MAPPING_SIZE: *(size_t *)data = a ? a->size : 0; break;
    case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR: *(void **)data = a ? (void *)a->base : NULL; break;
    case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID: *(unsigned long long *)data = a ? a->id : 0; break;
    case CU_POINTER_ATTRIBUTE_IS_HW_DECOMPRESS_CAPABLE: *(int *)data = 0; break;
    default: return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;
}

CUresult d_ptr_attr(void *data, CUpointer_attribute at, CUdeviceptr ptr) {
    d_arg("attr=%d ptr=0x%llx", (int)at, (unsigned long long)ptr);
    if (!data) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    d_alloc_t *a = d_find(ptr);
    // Pageable memory is not a CUDA pointer: the single-attribute query fails on it.
    CUresult rc = a ? d_attr_one(data, at, a, ptr) : CUDA_ERROR_INVALID_VALUE;
    D_UNLOCK();
    return rc;
}

CUresult d_ptr_attrs(unsigned int n, CUpointer_attribute *at, void **data, CUdeviceptr ptr) {
    d_arg("n=%u ptr=0x%llx", n, (unsigned long long)ptr);
    if (!at || !data) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    d_alloc_t *a = d_find(ptr);
    CUresult rc = CUDA_SUCCESS;
    // Unlike cuPointerGetAttribute, unknown pointers get default values and CUDA_SUCCESS.
    for (unsigned i = 0; i < n && rc == CUDA_SUCCESS; i++) {
        if (!data[i]) continue;
        if (!a && at[i] == CU_POINTER_ATTRIBUTE_HOST_POINTER) {
            *(void **)data[i] = NULL;
            continue;
        }
        rc = d_attr_one(data[i], at[i], a, ptr);
        if (rc != CUDA_SUCCESS && at[i] == CU_POINTER_ATTRIBUTE_HOST_POINTER) {
            *(void **)data[i] = NULL;
            rc = CUDA_SUCCESS;
        }
    }
    D_UNLOCK();
    return rc;
}

CUresult d_ptr_set_attr(const void *value, CUpointer_attribute at, CUdeviceptr ptr) {
    if (!value || at != CU_POINTER_ATTRIBUTE_SYNC_MEMOPS) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    d_alloc_t *a = d_find(ptr);
    if (a) a->sync_memops = *(const int *)value != 0;
    D_UNLOCK();
    return a ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

// --- virtual memory management ---
#define D_VMM_GRANULARITY ((size_t)2 << 20)

typedef struct {
    uint32_t magic;
    int fd;
    size_t size;
    int device;
} d_vmm_handle_t;

typedef struct {
    uintptr_t base;
    size_t size;
} d_reservation_t;
static d_reservation_t d_resv[64];

CUresult d_vmm_granularity(size_t *g, const CUmemAllocationProp *prop) {
    if (!g || !prop) return CUDA_ERROR_INVALID_VALUE;
    *g = D_VMM_GRANULARITY;
    return CUDA_SUCCESS;
}

CUresult d_vmm_reserve(CUdeviceptr *ptr, size_t size, size_t align, CUdeviceptr addr) {
    if (!ptr || size == 0 || size % D_VMM_GRANULARITY) return CUDA_ERROR_INVALID_VALUE;
    void *p = mmap(addr ? (void *)(uintptr_t)addr : NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) return CUDA_ERROR_OUT_OF_MEMORY;
    D_LOCK();
    size_t i;
    for (i = 0; i < sizeof d_resv / sizeof d_resv[0]; i++)
        if (!d_resv[i].base) {
            d_resv[i].base = (uintptr_t)p;
            d_resv[i].size = size;
            break;
        }
    D_UNLOCK();
    if (i == sizeof d_resv / sizeof d_resv[0]) {
        munmap(p, size);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *ptr = (CUdeviceptr)(uintptr_t)p;
    d_arg("size=%zu ptr=%p", size, p);
    return CUDA_SUCCESS;
}

CUresult d_vmm_free(CUdeviceptr ptr, size_t size) {
    D_LOCK();
    for (size_t i = 0; i < sizeof d_resv / sizeof d_resv[0]; i++)
        if (d_resv[i].base == ptr && d_resv[i].size == size) {
            d_resv[i].base = 0;
            D_UNLOCK();
            munmap((void *)(uintptr_t)ptr, size);
            return CUDA_SUCCESS;
        }
    D_UNLOCK();
    return CUDA_ERROR_INVALID_VALUE;
}

CUresult d_vmm_create(CUmemGenericAllocationHandle *h, size_t size, const CUmemAllocationProp *prop) {
    if (!h || !prop || size == 0 || size % D_VMM_GRANULARITY) return CUDA_ERROR_INVALID_VALUE;
    if (prop->type != CU_MEM_ALLOCATION_TYPE_PINNED || prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
        prop->location.id < 0 || prop->location.id >= d_knobs.devices)
        return CUDA_ERROR_INVALID_VALUE;
    int fd = memfd_create("umdouble-vmm", MFD_CLOEXEC);
    if (fd < 0) return CUDA_ERROR_OUT_OF_MEMORY;
    if (ftruncate(fd, (off_t)size) != 0) {
        close(fd);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    d_vmm_handle_t *vh = calloc(1, sizeof *vh);
    if (!vh) {
        close(fd);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    vh->magic = D_MAGIC_POOL ^ 0x1;
    vh->fd = fd;
    vh->size = size;
    vh->device = prop->location.id;
    *h = (CUmemGenericAllocationHandle)(uintptr_t)vh;
    d_arg("size=%zu", size);
    return CUDA_SUCCESS;
}

CUresult d_vmm_release(CUmemGenericAllocationHandle h) {
    d_vmm_handle_t *vh = (d_vmm_handle_t *)(uintptr_t)h;
    if (!vh || vh->magic != (D_MAGIC_POOL ^ 0x1)) return CUDA_ERROR_INVALID_VALUE;
    vh->magic = 0;
    close(vh->fd); // live mappings keep the memory
    free(vh);
    return CUDA_SUCCESS;
}

CUresult d_vmm_map(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle h) {
    d_vmm_handle_t *vh = (d_vmm_handle_t *)(uintptr_t)h;
    if (!vh || vh->magic != (D_MAGIC_POOL ^ 0x1) || size == 0 || offset + size > vh->size) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    int inside = 0;
    for (size_t i = 0; i < sizeof d_resv / sizeof d_resv[0]; i++)
        if (d_resv[i].base && ptr >= d_resv[i].base && ptr + size <= d_resv[i].base + d_resv[i].size) inside = 1;
    if (!inside || d_find(ptr) || d_find(ptr + size - 1)) {
        D_UNLOCK();
        return CUDA_ERROR_INVALID_VALUE;
    }
    void *p = mmap((void *)(uintptr_t)ptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, vh->fd, (off_t)offset);
    if (p == MAP_FAILED) {
        D_UNLOCK();
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    d_alloc_t a = {.base = ptr, .size = size, .kind = D_MEM_VMM, .device = vh->device,
                   .id = atomic_fetch_add(&d_alloc_ids, 1), .resident = vh->device, .preferred = -2,
                   .last_prefetch = -2};
    d_map_insert(&a);
    D_UNLOCK();
    d_arg("ptr=0x%llx size=%zu", (unsigned long long)ptr, size);
    return CUDA_SUCCESS;
}

CUresult d_vmm_unmap(CUdeviceptr ptr, size_t size) {
    D_LOCK();
    d_alloc_t *a = d_find(ptr);
    if (!a || a->kind != D_MEM_VMM || a->base != ptr || a->size != size) {
        D_UNLOCK();
        return CUDA_ERROR_INVALID_VALUE;
    }
    d_map_remove(a);
    mmap((void *)(uintptr_t)ptr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    D_UNLOCK();
    return CUDA_SUCCESS;
}

CUresult d_vmm_set_access(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count) {
    if (!desc || count == 0) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    d_alloc_t *a = d_find(ptr);
    int ok = a && a->kind == D_MEM_VMM;
    D_UNLOCK();
    return ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

// --- IPC ---
CUresult d_ipc_get(CUipcMemHandle *h, CUdeviceptr dptr) {
    d_arg("ptr=0x%llx", (unsigned long long)dptr);
    if (!h) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    d_alloc_t *a = d_find(dptr);
    // Like the real driver: only cuMemAlloc'd memory has legacy IPC handles; managed fails.
    int ok = a && (a->kind == D_MEM_DEVICE || a->kind == D_MEM_PITCH);
    if (ok) {
        memset(h->reserved, 0, sizeof h->reserved);
        memcpy(h->reserved, "umdouble", 8);
        memcpy(h->reserved + 8, &a->base, sizeof a->base);
        memcpy(h->reserved + 16, &a->id, sizeof a->id);
    }
    D_UNLOCK();
    return ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

// --- managed memory: prefetch and advice ---
static CUresult d_managed_range(CUdeviceptr p, size_t n, d_alloc_t **out) {
    d_alloc_t *a = d_find(p);
    if (!a || a->kind != D_MEM_MANAGED || n == 0 || n > a->size - (p - a->base)) return CUDA_ERROR_INVALID_VALUE;
    *out = a;
    return CUDA_SUCCESS;
}

static CUresult d_prefetch_to(CUdeviceptr p, size_t n, int target, CUstream s, int ptds) {
    d_arg("ptr=0x%llx bytes=%zu to=%d stream=%p", (unsigned long long)p, n, target, (void *)s);
    if (target != D_RES_HOST && (target < 0 || target >= d_knobs.devices)) return CUDA_ERROR_INVALID_DEVICE;
    D_LOCK();
    struct CUstream_st *st;
    d_alloc_t *a = NULL;
    CUresult rc = d_stream_get(s, ptds, &st);
    // A prefetch is not a capturable operation here: the shim must not insert one into a
    // capturing stream (DESIGN.md, "During stream capture the shim inserts nothing").
    if (rc == CUDA_SUCCESS && st->capturing) {
        st->invalidated = 1;
        rc = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    }
    if (rc == CUDA_SUCCESS) rc = d_managed_range(p, n, &a);
    if (rc == CUDA_SUCCESS) {
        a->resident = target;
        a->last_prefetch = target;
        d_stat_add("prefetches", 1);
        d_stat_add("prefetch_bytes", (long long)n);
    }
    D_UNLOCK();
    return rc;
}

CUresult d_prefetch_legacy(CUdeviceptr p, size_t n, CUdevice dev, CUstream s, int ptds) {
    return d_prefetch_to(p, n, dev == CU_DEVICE_CPU ? D_RES_HOST : dev, s, ptds);
}

CUresult d_prefetch(CUdeviceptr p, size_t n, CUmemLocation loc, unsigned int flags, CUstream s, int ptds) {
    if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
    int target;
    switch (loc.type) {
    case CU_MEM_LOCATION_TYPE_DEVICE: target = loc.id; break;
    case CU_MEM_LOCATION_TYPE_HOST: case CU_MEM_LOCATION_TYPE_HOST_NUMA: case CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT:
        target = D_RES_HOST; break;
    default: return CUDA_ERROR_INVALID_VALUE;
    }
    return d_prefetch_to(p, n, target, s, ptds);
}

static CUresult d_advise_to(CUdeviceptr p, size_t n, CUmem_advise adv, int where) {
    d_arg("ptr=0x%llx bytes=%zu advice=%d where=%d", (unsigned long long)p, n, (int)adv, where);
    if (where != D_RES_HOST && (where < 0 || where >= d_knobs.devices)) return CUDA_ERROR_INVALID_DEVICE;
    D_LOCK();
    d_alloc_t *a = NULL;
    CUresult rc = d_managed_range(p, n, &a);
    if (rc == CUDA_SUCCESS) {
        unsigned bit = where == D_RES_HOST ? 1u << 31 : 1u << where;
        switch (adv) {
        case CU_MEM_ADVISE_SET_READ_MOSTLY: a->read_mostly = 1; break;
        case CU_MEM_ADVISE_UNSET_READ_MOSTLY: a->read_mostly = 0; break;
        case CU_MEM_ADVISE_SET_PREFERRED_LOCATION: a->preferred = where; break;
        case CU_MEM_ADVISE_UNSET_PREFERRED_LOCATION: a->preferred = -2; break;
        case CU_MEM_ADVISE_SET_ACCESSED_BY: a->accessed_by |= bit; break;
        case CU_MEM_ADVISE_UNSET_ACCESSED_BY: a->accessed_by &= ~bit; break;
        default: rc = CUDA_ERROR_INVALID_VALUE; break;
        }
        if (rc == CUDA_SUCCESS) d_stat_add("advises", 1);
    }
    D_UNLOCK();
    return rc;
}

CUresult d_advise_legacy(CUdeviceptr p, size_t n, CUmem_advise adv, CUdevice dev) {
    return d_advise_to(p, n, adv, dev == CU_DEVICE_CPU ? D_RES_HOST : dev);
}

CUresult d_advise(CUdeviceptr p, size_t n, CUmem_advise adv, CUmemLocation loc) {
    int where;
    switch (loc.type) {
    case CU_MEM_LOCATION_TYPE_DEVICE: where = loc.id; break;
    case CU_MEM_LOCATION_TYPE_HOST: case CU_MEM_LOCATION_TYPE_HOST_NUMA: case CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT:
        where = D_RES_HOST; break;
    default:
        // READ_MOSTLY ignores the location.
        if (adv == CU_MEM_ADVISE_SET_READ_MOSTLY || adv == CU_MEM_ADVISE_UNSET_READ_MOSTLY) { where = 0; break; }
        return CUDA_ERROR_INVALID_VALUE;
    }
    return d_advise_to(p, n, adv, where);
}

CUresult d_range_attr(void *data, size_t size, CUmem_range_attribute at, CUdeviceptr p, size_t n) {
    if (!data || size < 4) return CUDA_ERROR_INVALID_VALUE;
    D_LOCK();
    d_alloc_t *a = NULL;
    CUresult rc = d_managed_range(p, n, &a);
    if (rc == CUDA_SUCCESS) {
        switch (at) {
        case CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY: *(int *)data = a->read_mostly; break;
        case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION:
            *(int *)data = a->preferred == -2 ? CU_DEVICE_INVALID : a->preferred == D_RES_HOST ? CU_DEVICE_CPU : a->preferred;
            break;
        case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION:
            *(int *)data = a->last_prefetch == -2 ? CU_DEVICE_INVALID
                         : a->last_prefetch == D_RES_HOST ? CU_DEVICE_CPU : a->last_prefetch;
            break;
        case CU_MEM_RANGE_ATTRIBUTE_ACCESSED_BY: {
            int *out = data;
            size_t k = 0, max = size / sizeof(int);
            for (size_t i = 0; i < max; i++) out[i] = CU_DEVICE_INVALID;
            if ((a->accessed_by & (1u << 31)) && k < max) out[k++] = CU_DEVICE_CPU;
            for (int d = 0; d < D_MAX_DEVICES && k < max; d++)
                if (a->accessed_by & (1u << d)) out[k++] = d;
            break;
        }
        default: rc = CUDA_ERROR_INVALID_VALUE; break;
        }
    }
    D_UNLOCK();
    return rc;
}

CUresult d_stream_attach(CUstream s, CUdeviceptr p, int ptds) {
    D_LOCK();
    struct CUstream_st *st;
    CUresult rc = d_stream_get(s, ptds, &st);
    if (rc == CUDA_SUCCESS) {
        d_alloc_t *a = d_find(p);
        if (!a || a->kind != D_MEM_MANAGED) rc = CUDA_ERROR_INVALID_VALUE;
    }
    D_UNLOCK();
    return rc;
}
