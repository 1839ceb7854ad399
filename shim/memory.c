// Allocation, free, copy, memset, query and hint wrappers. Each one asks decide.c what to
// do (placement and copy strategy come from the policy engine), calls the real driver, and
// reports what happened (registry, counters, event). Driver errors go back unchanged; a
// failure of the shim's own step (managed allocation, staging) falls back to the call the
// program made.
#include "shim/memory.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim/decide.h"
#include "shim/entry.h"
#include "shim/forklock.h"
#include "shim/log.h"
#include "shim/nvtx.h"
#include "shim/options.h"
#include "shim/staging.h"
#include "shim/stats.h"
#include "shim/trace.h"

static int um_captures; // atomic: stream captures begun and not yet ended

// --- shared helpers (memory.h) ---
int um_cur_device(void) {
    CUdevice d;
    if (um_real.cuCtxGetDevice != NULL && um_real.cuCtxGetDevice(&d) == CUDA_SUCCESS)
        return (int)d;
    return -1;
}

CUstream um_map_stream(CUstream s, int pt) {
    return (pt && s == NULL) ? CU_STREAM_PER_THREAD : s;
}

int um_capture_active(void) {
    return __atomic_load_n(&um_captures, __ATOMIC_ACQUIRE) > 0;
}

typedef struct {
    um_res_t res;
    int device;
} res_arg_t;

static int set_res_cb(um_rec_t *r, void *arg) {
    const res_arg_t *a = arg;
    r->res = a->res;
    r->res_device = a->device;
    return 0;
}

void um_mem_set_res(uint64_t base, uint64_t id, um_res_t res, int device) {
    res_arg_t a = {res, device};
    um_reg_update(base, id, set_res_cb, &a);
}

void um_ref_from_rec(um_ref_t *o, const um_rec_t *r) {
    o->id = r->id;
    o->base = r->base;
    o->size = r->size;
    o->flags = r->flags;
    o->kind = r->kind;
    o->req_kind = r->req_kind;
    o->res = r->res;
    o->res_device = r->res_device;
    o->prefetch = r->decision.prefetch;
    o->advise = r->decision.advise;
}

static CUresult prefetch_range(uint64_t base, uint64_t size, int device, CUstream stream) {
    CUresult r;
    um_nvtx_push(UM_NVTX_PREFETCH, size);
    if (um_real.cuMemPrefetchAsync_v2 != NULL) {
        CUmemLocation loc;
        memset(&loc, 0, sizeof loc);
        loc.type = device == CU_DEVICE_CPU ? CU_MEM_LOCATION_TYPE_HOST : CU_MEM_LOCATION_TYPE_DEVICE;
        loc.id = device == CU_DEVICE_CPU ? 0 : device;
        r = um_real.cuMemPrefetchAsync_v2(base, size, loc, 0, stream);
    } else {
        // Drivers before CUDA 12.2 only have the device-ordinal form.
        r = UM_REAL_CALL(cuMemPrefetchAsync, base, size, device, stream);
    }
    um_nvtx_pop();
    return r;
}

CUresult um_mem_prefetch(const um_ref_t *rec, int device, CUstream stream, const char *why) {
    um_res_t want = device == CU_DEVICE_CPU ? UM_RES_HOST : UM_RES_DEVICE;
    if (rec->res == want && (want == UM_RES_HOST || rec->res_device == device))
        return CUDA_SUCCESS;
    uint64_t t0 = um_now_ns();
    CUresult r = prefetch_range(rec->base, rec->size, device, stream);
    if (r == CUDA_SUCCESS) {
        um_mem_set_res(rec->base, rec->id, want, device);
        um_stat_add(UM_ST_prefetches, 1);
        um_stat_add(UM_ST_prefetch_bytes, rec->size);
    } else {
        UM_LOG_ONCE(UM_LOG_WARNING, "prefetch failed (error %d); managed memory still works, "
                    "pages migrate on demand", (int)r);
    }
    if (um_cfg.events) {
        um_event_t ev;
        um_ev_init(&ev, r == CUDA_SUCCESS ? UM_EV_PREFETCH : UM_EV_FALLBACK,
                   r == CUDA_SUCCESS ? why : "prefetch_failed");
        ev.dur_ns = um_now_ns() - t0;
        ev.device = device;
        ev.stream = (uint64_t)(uintptr_t)stream;
        ev.async = 1;
        ev.result = r;
        ev.alloc_id = rec->id;
        ev.ptr = rec->base;
        ev.bytes = rec->size;
        ev.mem = rec->kind;
        ev.req_mem = rec->req_kind;
        um_emit(&ev);
    }
    return r;
}

static CUresult advise_one(uint64_t base, uint64_t size, CUmem_advise a, int device) {
    CUresult r;
    um_nvtx_push(UM_NVTX_ADVISE, size);
    if (um_real.cuMemAdvise_v2 != NULL) {
        CUmemLocation loc;
        memset(&loc, 0, sizeof loc);
        loc.type = device == CU_DEVICE_CPU ? CU_MEM_LOCATION_TYPE_HOST : CU_MEM_LOCATION_TYPE_DEVICE;
        loc.id = device == CU_DEVICE_CPU ? 0 : device;
        r = um_real.cuMemAdvise_v2(base, size, a, loc);
    } else {
        r = UM_REAL_CALL(cuMemAdvise, base, size, a, device);
    }
    um_nvtx_pop();
    return r;
}

typedef struct {
    unsigned bit;
    CUmem_advise advice;
    int host;
} advise_row_t;

static const advise_row_t um_advise_set[] = {
    {UM_ADV_READ_MOSTLY, CU_MEM_ADVISE_SET_READ_MOSTLY, 0},
    {UM_ADV_PREFER_DEVICE, CU_MEM_ADVISE_SET_PREFERRED_LOCATION, 0},
    {UM_ADV_PREFER_HOST, CU_MEM_ADVISE_SET_PREFERRED_LOCATION, 1},
    {UM_ADV_ACCESSED_BY_DEVICE, CU_MEM_ADVISE_SET_ACCESSED_BY, 0},
    {UM_ADV_ACCESSED_BY_HOST, CU_MEM_ADVISE_SET_ACCESSED_BY, 1},
};

static const advise_row_t um_advise_unset[] = {
    {UM_ADV_READ_MOSTLY, CU_MEM_ADVISE_UNSET_READ_MOSTLY, 0},
    {UM_ADV_PREFER_DEVICE, CU_MEM_ADVISE_UNSET_PREFERRED_LOCATION, 0},
    {UM_ADV_PREFER_HOST, CU_MEM_ADVISE_UNSET_PREFERRED_LOCATION, 1},
    {UM_ADV_ACCESSED_BY_DEVICE, CU_MEM_ADVISE_UNSET_ACCESSED_BY, 0},
    {UM_ADV_ACCESSED_BY_HOST, CU_MEM_ADVISE_UNSET_ACCESSED_BY, 1},
};

static unsigned apply_advise(const advise_row_t *table, uint64_t base, uint64_t size,
                             unsigned bits, int device, uint64_t id) {
    unsigned done = 0;
    for (size_t i = 0; i < sizeof um_advise_set / sizeof um_advise_set[0]; i++) {
        if (!(bits & table[i].bit))
            continue;
        int dev = table[i].host ? CU_DEVICE_CPU : device;
        if (dev < 0 && !table[i].host)
            continue;
        CUresult r = advise_one(base, size, table[i].advice, dev);
        if (r == CUDA_SUCCESS) {
            done |= table[i].bit;
            um_stat_add(UM_ST_advises, 1);
        } else {
            UM_LOG_ONCE(UM_LOG_WARNING, "cuMemAdvise failed (error %d); the hint is skipped", (int)r);
        }
        if (um_cfg.events) {
            um_event_t ev;
            um_ev_init(&ev, UM_EV_ADVISE, "cuMemAdvise");
            ev.device = dev;
            ev.result = r;
            ev.alloc_id = id;
            ev.ptr = base;
            ev.bytes = size;
            ev.mem = UM_MEM_MANAGED;
            ev.advice = (int)table[i].advice;
            um_emit(&ev);
        }
    }
    return done;
}

unsigned um_mem_advise(uint64_t base, uint64_t size, unsigned bits, int device, uint64_t id) {
    return apply_advise(um_advise_set, base, size, bits, device, id);
}

unsigned um_mem_unadvise(uint64_t base, uint64_t size, unsigned bits, int device, uint64_t id) {
    return apply_advise(um_advise_unset, base, size, bits, device, id);
}

// --- allocation records and events ---
typedef struct {
    const char *api;
    uint64_t ptr, size;
    um_mem_kind_t kind, req;
    int device;
    unsigned flags;
    const char *site;
    const um_decision_t *decision;
    CUstream stream;
    int async;
    uint64_t t0;
} alloc_info_t;

static uint64_t record_alloc(const alloc_info_t *a, CUresult r) {
    uint64_t id = 0;
    if (r == CUDA_SUCCESS) {
        um_rec_t rec;
        memset(&rec, 0, sizeof rec);
        rec.base = a->ptr;
        rec.size = a->size;
        rec.kind = a->kind;
        rec.req_kind = a->req;
        rec.device = a->device;
        rec.flags = a->flags;
        rec.res_device = -1;
        if (a->site != NULL)
            um_strcpy(rec.site, sizeof rec.site, a->site);
        if (a->decision != NULL)
            rec.decision = *a->decision;
        id = um_reg_insert(&rec);
        um_stat_add(UM_ST_allocs, 1);
        if (a->kind == UM_MEM_MANAGED && (a->flags & UM_REC_REWRITTEN)) {
            um_stat_add(UM_ST_managed_allocs, 1);
            um_stat_add(UM_ST_managed_bytes, a->size);
        } else if (a->kind == UM_MEM_DEVICE) {
            um_stat_add(UM_ST_device_allocs, 1);
        }
    }
    if (um_cfg.events) {
        um_event_t ev;
        um_ev_init(&ev, UM_EV_ALLOC, a->api);
        ev.dur_ns = ev.t_ns - a->t0;
        ev.device = a->device;
        ev.stream = (uint64_t)(uintptr_t)a->stream;
        ev.async = a->async;
        ev.result = r;
        ev.alloc_id = id;
        ev.ptr = r == CUDA_SUCCESS ? a->ptr : 0;
        ev.bytes = a->size;
        ev.mem = a->kind;
        ev.req_mem = a->req;
        if (a->site != NULL)
            um_strcpy(ev.site, sizeof ev.site, a->site);
        um_emit(&ev);
    }
    return id;
}

static void emit_fallback(const char *reason, const char *site, uint64_t bytes, int device) {
    um_stat_add(UM_ST_fallbacks, 1);
    if (!um_cfg.events)
        return;
    um_event_t ev;
    um_ev_init(&ev, UM_EV_FALLBACK, reason);
    ev.device = device;
    ev.bytes = bytes;
    if (site != NULL)
        um_strcpy(ev.site, sizeof ev.site, site);
    um_emit(&ev);
}

static void emit_free(const char *api, const um_rec_t *rec, uint64_t ptr, CUresult r,
                      CUstream stream, int async, uint64_t t0) {
    if (!um_cfg.events)
        return;
    um_event_t ev;
    um_ev_init(&ev, UM_EV_FREE, api);
    ev.dur_ns = ev.t_ns - t0;
    ev.result = r;
    ev.ptr = ptr;
    ev.stream = (uint64_t)(uintptr_t)stream;
    ev.async = async;
    if (rec != NULL) {
        ev.device = rec->device;
        ev.alloc_id = rec->id;
        ev.bytes = rec->size;
        ev.mem = rec->kind;
        ev.req_mem = rec->req_kind;
        memcpy(ev.site, rec->site, sizeof ev.site);
    }
    um_emit(&ev);
}

// Removes the record after a successful free (only the record this thread looked up: the
// address may already belong to a new allocation of another thread).
static CUresult finish_free(const char *api, uint64_t ptr, int known, const um_rec_t *rec,
                            CUresult r, CUstream stream, int async, uint64_t t0) {
    if (r == CUDA_SUCCESS && known) {
        if (um_reg_remove(rec->base, rec->id, NULL) && (rec->flags & UM_REC_REWRITTEN))
            um_dec_unreserve(rec->size);
    }
    emit_free(api, known ? rec : NULL, ptr, r, stream, async, t0);
    return r;
}

static int find_base(uint64_t ptr, um_rec_t *rec) {
    return um_reg_find(ptr, rec) && rec->base == ptr;
}

// --- device allocations: the rewrite ---
// Creates a new managed allocation's pages on its device (decision.populate): a prefetch of
// never-touched memory only populates, it moves no data. On the per-thread default stream,
// which orders it before the program's next work on the legacy stream or on this thread's
// stream without making the program's other streams wait; a copy on a non-blocking stream
// may overtake it and then faults in what is left, as it would have without it. Nothing is
// inserted while a stream captures (a prefetch could invalidate a global-mode capture).
static void populate(uint64_t base, int dev) {
    um_rec_t rec;
    if (dev < 0 || um_capture_active() || !um_reg_find(base, &rec))
        return;
    um_ref_t ref;
    um_ref_from_rec(&ref, &rec);
    um_mem_prefetch(&ref, dev, CU_STREAM_PER_THREAD, "populate");
}

// An allocation's call site, when something uses it: the policy sees events (every mode
// but plain passthrough) and um_dec_needs_site says the size or the configuration needs it.
static void site_if(char *site, uint64_t bytes) {
    site[0] = 0;
    if (um_cfg.events && um_dec_needs_site(bytes))
        um_site_capture(site, UM_SITE_MAX);
}

static CUresult mem_alloc(CUdeviceptr *dptr, size_t bytes) {
    uint64_t t0 = um_now_ns();
    char site[UM_SITE_MAX];
    site_if(site, bytes);
    int dev = um_cur_device();
    um_decision_t d;
    const char *why = um_dec_alloc(site, bytes, dev, &d);
    if (why != NULL)
        emit_fallback(why, site, bytes, dev);
    alloc_info_t a = {"cuMemAlloc_v2", 0, bytes, UM_MEM_DEVICE, UM_MEM_DEVICE, dev, 0, site, &d,
                      NULL, 0, t0};
    CUresult r;
    if (d.placement == UM_PLACE_MANAGED) {
        r = UM_REAL_CALL(cuMemAllocManaged, dptr, bytes, CU_MEM_ATTACH_GLOBAL);
        if (r == CUDA_SUCCESS) {
            a.kind = UM_MEM_MANAGED;
            a.flags = UM_REC_REWRITTEN;
            a.ptr = *dptr;
            uint64_t id = record_alloc(&a, r);
            if (d.advise)
                um_mem_advise(*dptr, bytes, d.advise, dev, id);
            if (d.populate)
                populate(*dptr, dev);
            return r;
        }
        um_dec_unreserve(bytes);
        UM_LOG_ONCE(UM_LOG_WARNING, "cuMemAllocManaged failed (error %d) at %s; falling back to "
                    "cuMemAlloc for this and similar allocations", (int)r, site);
        emit_fallback("managed_alloc_failed", site, bytes, dev);
        memset(&d, 0, sizeof d);
        d.placement = UM_PLACE_DEVICE;
    }
    r = UM_REAL_CALL(cuMemAlloc_v2, dptr, bytes);
    if (r == CUDA_SUCCESS)
        a.ptr = *dptr;
    record_alloc(&a, r);
    return r;
}

UM_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytes) {
    UM_BEGIN(cuMemAlloc_v2, dptr, bytes);
    if (dptr == NULL)
        UM_END(UM_REAL_CALL(cuMemAlloc_v2, dptr, bytes));
    UM_END(mem_alloc(dptr, bytes));
}

UM_EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pitch, size_t w, size_t h,
                                      unsigned int esz) {
    UM_BEGIN(cuMemAllocPitch_v2, dptr, pitch, w, h, esz);
    uint64_t t0 = um_now_ns();
    char site[UM_SITE_MAX];
    site_if(site, (uint64_t)w * h);
    CUresult r = UM_REAL_CALL(cuMemAllocPitch_v2, dptr, pitch, w, h, esz);
    alloc_info_t a = {"cuMemAllocPitch_v2", r == CUDA_SUCCESS ? *dptr : 0,
                      r == CUDA_SUCCESS ? (uint64_t)*pitch * h : (uint64_t)w * h, UM_MEM_PITCH,
                      UM_MEM_PITCH, um_cur_device(), 0, site, NULL, NULL, 0, t0};
    record_alloc(&a, r);
    UM_END(r);
}

UM_EXPORT CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytes, unsigned int flags) {
    UM_BEGIN(cuMemAllocManaged, dptr, bytes, flags);
    uint64_t t0 = um_now_ns();
    char site[UM_SITE_MAX];
    site_if(site, bytes);
    CUresult r = UM_REAL_CALL(cuMemAllocManaged, dptr, bytes, flags);
    alloc_info_t a = {"cuMemAllocManaged", r == CUDA_SUCCESS ? *dptr : 0, bytes, UM_MEM_MANAGED,
                      UM_MEM_MANAGED, um_cur_device(), 0, site, NULL, NULL, 0, t0};
    record_alloc(&a, r);
    UM_END(r);
}

static CUresult mem_free(uint64_t ptr) {
    uint64_t t0 = um_now_ns();
    um_rec_t rec;
    int known = find_base(ptr, &rec);
    CUresult r = UM_REAL_CALL(cuMemFree_v2, ptr);
    return finish_free("cuMemFree_v2", ptr, known, &rec, r, NULL, 0, t0);
}

UM_EXPORT CUresult cuMemFree_v2(CUdeviceptr ptr) {
    UM_BEGIN(cuMemFree_v2, ptr);
    UM_END(mem_free(ptr));
}

// --- stream-ordered (pool) allocations: recorded, never rewritten ---
#define UM_POOL_ALLOC(sym, pt, ...)                                                              \
    uint64_t t0 = um_now_ns();                                                                   \
    char site[UM_SITE_MAX];                                                                      \
    site_if(site, bytes);                                                                        \
    CUresult r = UM_REAL_CALL(sym, __VA_ARGS__);                                                 \
    alloc_info_t a = {#sym, r == CUDA_SUCCESS ? *dptr : 0, bytes, UM_MEM_POOL, UM_MEM_POOL,     \
                      um_cur_device(), 0, site, NULL, um_map_stream(s, pt), 1, t0};              \
    record_alloc(&a, r);                                                                         \
    UM_END(r)

UM_EXPORT CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytes, CUstream s) {
    UM_BEGIN(cuMemAllocAsync, dptr, bytes, s);
    UM_POOL_ALLOC(cuMemAllocAsync, 0, dptr, bytes, s);
}
UM_EXPORT CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytes, CUstream s) {
    UM_BEGIN(cuMemAllocAsync_ptsz, dptr, bytes, s);
    UM_POOL_ALLOC(cuMemAllocAsync_ptsz, 1, dptr, bytes, s);
}
UM_EXPORT CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytes, CUmemoryPool pool,
                                           CUstream s) {
    UM_BEGIN(cuMemAllocFromPoolAsync, dptr, bytes, pool, s);
    UM_POOL_ALLOC(cuMemAllocFromPoolAsync, 0, dptr, bytes, pool, s);
}
UM_EXPORT CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytes,
                                                CUmemoryPool pool, CUstream s) {
    UM_BEGIN(cuMemAllocFromPoolAsync_ptsz, dptr, bytes, pool, s);
    UM_POOL_ALLOC(cuMemAllocFromPoolAsync_ptsz, 1, dptr, bytes, pool, s);
}

#define UM_FREE_ASYNC(sym, pt)                                                                   \
    uint64_t t0 = um_now_ns();                                                                   \
    um_rec_t rec;                                                                                \
    int known = find_base(ptr, &rec);                                                            \
    CUresult r = UM_REAL_CALL(sym, ptr, s);                                                      \
    UM_END(finish_free(#sym, ptr, known, &rec, r, um_map_stream(s, pt), 1, t0))

UM_EXPORT CUresult cuMemFreeAsync(CUdeviceptr ptr, CUstream s) {
    UM_BEGIN(cuMemFreeAsync, ptr, s);
    UM_FREE_ASYNC(cuMemFreeAsync, 0);
}
UM_EXPORT CUresult cuMemFreeAsync_ptsz(CUdeviceptr ptr, CUstream s) {
    UM_BEGIN(cuMemFreeAsync_ptsz, ptr, s);
    UM_FREE_ASYNC(cuMemFreeAsync_ptsz, 1);
}

// --- host allocations and registrations: recorded (pinned host memory) ---
static CUresult host_alloc_done(const char *api, void **pp, size_t bytes, CUresult r, uint64_t t0) {
    char site[UM_SITE_MAX];
    site_if(site, bytes);
    alloc_info_t a = {api, r == CUDA_SUCCESS ? (uint64_t)(uintptr_t)*pp : 0, bytes, UM_MEM_HOST,
                      UM_MEM_HOST, -1, 0, site, NULL, NULL, 0, t0};
    record_alloc(&a, r);
    return r;
}

UM_EXPORT CUresult cuMemAllocHost_v2(void **pp, size_t bytes) {
    UM_BEGIN(cuMemAllocHost_v2, pp, bytes);
    uint64_t t0 = um_now_ns();
    CUresult r = UM_REAL_CALL(cuMemAllocHost_v2, pp, bytes);
    UM_END(host_alloc_done("cuMemAllocHost_v2", pp, bytes, r, t0));
}

UM_EXPORT CUresult cuMemHostAlloc(void **pp, size_t bytes, unsigned int flags) {
    UM_BEGIN(cuMemHostAlloc, pp, bytes, flags);
    uint64_t t0 = um_now_ns();
    CUresult r = UM_REAL_CALL(cuMemHostAlloc, pp, bytes, flags);
    UM_END(host_alloc_done("cuMemHostAlloc", pp, bytes, r, t0));
}

UM_EXPORT CUresult cuMemHostRegister_v2(void *p, size_t bytes, unsigned int flags) {
    UM_BEGIN(cuMemHostRegister_v2, p, bytes, flags);
    uint64_t t0 = um_now_ns();
    CUresult r = UM_REAL_CALL(cuMemHostRegister_v2, p, bytes, flags);
    void *pp = p;
    UM_END(host_alloc_done("cuMemHostRegister_v2", &pp, bytes, r, t0));
}

UM_EXPORT CUresult cuMemFreeHost(void *p) {
    UM_BEGIN(cuMemFreeHost, p);
    uint64_t t0 = um_now_ns(), ptr = (uint64_t)(uintptr_t)p;
    um_rec_t rec;
    int known = find_base(ptr, &rec);
    CUresult r = UM_REAL_CALL(cuMemFreeHost, p);
    UM_END(finish_free("cuMemFreeHost", ptr, known, &rec, r, NULL, 0, t0));
}

UM_EXPORT CUresult cuMemHostUnregister(void *p) {
    UM_BEGIN(cuMemHostUnregister, p);
    uint64_t t0 = um_now_ns(), ptr = (uint64_t)(uintptr_t)p;
    um_rec_t rec;
    int known = find_base(ptr, &rec);
    CUresult r = UM_REAL_CALL(cuMemHostUnregister, p);
    UM_END(finish_free("cuMemHostUnregister", ptr, known, &rec, r, NULL, 0, t0));
}

// --- VMM: handles pass through; mapped ranges are recorded ---
UM_EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle *h, size_t size,
                               const CUmemAllocationProp *prop, unsigned long long flags) {
    UM_BEGIN(cuMemCreate, h, size, prop, flags);
    UM_END(UM_REAL_CALL(cuMemCreate, h, size, prop, flags));
}

UM_EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle h) {
    UM_BEGIN(cuMemRelease, h);
    UM_END(UM_REAL_CALL(cuMemRelease, h));
}

UM_EXPORT CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset,
                            CUmemGenericAllocationHandle h, unsigned long long flags) {
    UM_BEGIN(cuMemMap, ptr, size, offset, h, flags);
    uint64_t t0 = um_now_ns();
    char site[UM_SITE_MAX];
    site_if(site, size);
    CUresult r = UM_REAL_CALL(cuMemMap, ptr, size, offset, h, flags);
    alloc_info_t a = {"cuMemMap", ptr, size, UM_MEM_VMM, UM_MEM_VMM, um_cur_device(), 0, site,
                      NULL, NULL, 0, t0};
    record_alloc(&a, r);
    UM_END(r);
}

UM_EXPORT CUresult cuMemUnmap(CUdeviceptr ptr, size_t size) {
    UM_BEGIN(cuMemUnmap, ptr, size);
    uint64_t t0 = um_now_ns();
    um_rec_t rec;
    int known = find_base(ptr, &rec);
    CUresult r = UM_REAL_CALL(cuMemUnmap, ptr, size);
    UM_END(finish_free("cuMemUnmap", ptr, known, &rec, r, NULL, 0, t0));
}

// --- copies ---
typedef enum { OP_HTOD, OP_DTOH, OP_DTOD, OP_ANY } copy_op_t;

typedef struct {
    const char *api;
    copy_op_t op;
    int pt, async;
    CUstream stream;
    uint64_t dst, src;
    size_t n;
} copy_t;

static CUresult real_copy(const copy_t *c) {
    void *hd = (void *)(uintptr_t)c->dst;
    const void *hs = (const void *)(uintptr_t)c->src;
    switch (c->op * 4 + c->pt * 2 + c->async) {
    case OP_HTOD * 4 + 0: return UM_REAL_CALL(cuMemcpyHtoD_v2, c->dst, hs, c->n);
    case OP_HTOD * 4 + 1: return UM_REAL_CALL(cuMemcpyHtoDAsync_v2, c->dst, hs, c->n, c->stream);
    case OP_HTOD * 4 + 2: return UM_REAL_CALL(cuMemcpyHtoD_v2_ptds, c->dst, hs, c->n);
    case OP_HTOD * 4 + 3: return UM_REAL_CALL(cuMemcpyHtoDAsync_v2_ptsz, c->dst, hs, c->n, c->stream);
    case OP_DTOH * 4 + 0: return UM_REAL_CALL(cuMemcpyDtoH_v2, hd, c->src, c->n);
    case OP_DTOH * 4 + 1: return UM_REAL_CALL(cuMemcpyDtoHAsync_v2, hd, c->src, c->n, c->stream);
    case OP_DTOH * 4 + 2: return UM_REAL_CALL(cuMemcpyDtoH_v2_ptds, hd, c->src, c->n);
    case OP_DTOH * 4 + 3: return UM_REAL_CALL(cuMemcpyDtoHAsync_v2_ptsz, hd, c->src, c->n, c->stream);
    case OP_DTOD * 4 + 0: return UM_REAL_CALL(cuMemcpyDtoD_v2, c->dst, c->src, c->n);
    case OP_DTOD * 4 + 1: return UM_REAL_CALL(cuMemcpyDtoDAsync_v2, c->dst, c->src, c->n, c->stream);
    case OP_DTOD * 4 + 2: return UM_REAL_CALL(cuMemcpyDtoD_v2_ptds, c->dst, c->src, c->n);
    case OP_DTOD * 4 + 3: return UM_REAL_CALL(cuMemcpyDtoDAsync_v2_ptsz, c->dst, c->src, c->n, c->stream);
    case OP_ANY * 4 + 0: return UM_REAL_CALL(cuMemcpy, c->dst, c->src, c->n);
    case OP_ANY * 4 + 1: return UM_REAL_CALL(cuMemcpyAsync, c->dst, c->src, c->n, c->stream);
    case OP_ANY * 4 + 2: return UM_REAL_CALL(cuMemcpy_ptds, c->dst, c->src, c->n);
    case OP_ANY * 4 + 3: return UM_REAL_CALL(cuMemcpyAsync_ptsz, c->dst, c->src, c->n, c->stream);
    }
    return CUDA_ERROR_INVALID_VALUE;
}

// Device side = any allocation the driver placed on a device (or managed); pinned host and
// unknown (pageable) memory are host side.
static int is_dev_side(int known, const um_rec_t *r) {
    return known && r->kind != UM_MEM_HOST;
}

// Whether every page of the host range [p, p + n) is mapped: mincore() answers ENOMEM for any
// hole. A host or staged copy through a bad host pointer would fault inside the shim; the
// driver's own copy gives the program the driver's answer instead. Other mincore() errors
// (a sandbox without it) say nothing, and the range is taken as mapped. Permissions are not
// checked: a read-only D2H destination still faults, as it can in the driver's own memcpy.
static int host_mapped(uint64_t p, uint64_t n) {
    uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
    if (n == 0)
        return 1;
    if (p + n < p || p + n > UINT64_MAX - pg)
        return 0;
    uint64_t lo = p & ~(pg - 1), hi = (p + n + pg - 1) & ~(pg - 1);
    unsigned char vec[4096]; // 16 MiB of 4 KiB pages per call
    while (lo < hi) {
        uint64_t len = hi - lo < sizeof vec * pg ? hi - lo : sizeof vec * pg;
        if (mincore((void *)(uintptr_t)lo, len, vec) != 0 && errno == ENOMEM)
            return 0;
        lo += len;
    }
    return 1;
}

// cuMemcpy(Async) leaves the direction to the pointers. A side the registry does not know is
// host memory unless the driver says it is device memory: module globals (cuModuleGetGlobal)
// and IPC-opened memory were never allocated through the shim, and the shim must never read
// or write them on the host (a content sample, a host copy, a staged copy).
static int untracked_is_device(uint64_t p) {
    unsigned int type = 0;
    return UM_REAL_CALL(cuPointerGetAttribute, &type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
                        (CUdeviceptr)p) == CUDA_SUCCESS &&
           (type == CU_MEMORYTYPE_DEVICE || type == CU_MEMORYTYPE_ARRAY);
}

static um_dir_t classify(const copy_t *c, int dk, const um_rec_t *d, int sk, const um_rec_t *s) {
    switch (c->op) {
    case OP_HTOD: return UM_DIR_H2D;
    case OP_DTOH: return UM_DIR_D2H;
    case OP_DTOD: return UM_DIR_D2D;
    case OP_ANY: break;
    }
    int dd = dk ? is_dev_side(dk, d) : untracked_is_device(c->dst);
    int sd = sk ? is_dev_side(sk, s) : untracked_is_device(c->src);
    return dd ? (sd ? UM_DIR_D2D : UM_DIR_H2D) : (sd ? UM_DIR_D2H : UM_DIR_H2H);
}

// The synchronisation a synchronous copy implies before the host touches managed memory.
// Legacy stream: a context-wide synchronise (a superset of "after all prior work in
// blocking streams", and what a hand port does with cudaDeviceSynchronize).
static CUresult sync_for(int pt) {
    if (pt)
        return UM_REAL_CALL(cuStreamSynchronize, CU_STREAM_PER_THREAD);
    return UM_REAL_CALL(cuCtxSynchronize);
}

static void hash_host(uint64_t *h, const void *p, size_t n) {
    *h = um_fnv1a64(p, n);
    um_stat_add_hash(*h);
}

// A read-back is evidence about an allocation's pattern: its next launch asks the policy
// again (launch.c).
static int reask_cb(um_rec_t *r, void *arg) {
    (void)arg;
    r->flags &= ~(unsigned)UM_REC_LIVE_DECIDED;
    return 0;
}

// --- content evidence: did the device write it? ---
// The shim cannot see kernel writes, but it sees the bytes going in (uploads) and coming
// out (read-backs). A sample of 512 words spread over the range, compared between the last
// time the host saw the range and the next read-back, tells "unchanged" from "written"
// for any write that changes more than a few hundredths of the range, at the cost of
// reading 4 KiB; the policy grants read_mostly on two unchanged read-backs and revokes it on
// the first written one (policy.c UM_RULE_READ_MOSTLY). A write it misses touches few pages,
// and costs read-mostly faults on those pages only.
#define UM_SIG_WORDS 512

static uint64_t sample_sig(const void *p, uint64_t n) {
    if (n <= UM_SIG_WORDS * 8)
        return um_fnv1a64(p, n);
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull ^ n;
    for (uint64_t i = 0; i < UM_SIG_WORDS; i++) {
        uint64_t v;
        memcpy(&v, b + (n - 8) / (UM_SIG_WORDS - 1) * i, 8);
        h = (h ^ v) * 0x100000001b3ull;
    }
    return h;
}

typedef struct {
    uint64_t sig, off, len;
    int compare;   // read-back: compare with the stored sample first
    int lost;      // read-back of read-mostly pages whose host copy was gone
    int content;   // out: um_content_t
    int drop_copy; // a write from our side: the host copy of read-mostly pages is gone
} sig_arg_t;

static int sig_cb(um_rec_t *r, void *arg) {
    sig_arg_t *a = arg;
    a->content = UM_CONTENT_UNKNOWN;
    if (a->compare && r->sig_len != 0 && r->sig_off == a->off && r->sig_len == a->len)
        a->content = r->sig == a->sig ? UM_CONTENT_SAME : UM_CONTENT_CHANGED;
    // "Unchanged" vouches only for the range read back: evidence for read_mostly (advice on
    // the whole allocation) needs the whole allocation; "changed" counts for any range.
    if (a->content == UM_CONTENT_SAME && (a->off != 0 || a->len != r->size))
        a->content = UM_CONTENT_UNKNOWN;
    if (a->compare && a->lost)
        a->content = UM_CONTENT_LOST;
    r->sig = a->sig;
    r->sig_off = a->off;
    r->sig_len = a->len;
    if (a->drop_copy)
        r->flags &= ~(unsigned)UM_REC_HOST_COPY;
    return 0;
}

// Records what the host wrote into (upload) or read out of (read-back) a rewrite's range
// and returns the read-back's um_content_t.
static int note_content(const um_rec_t *m, uint64_t at, const void *host, uint64_t n,
                        int readback, int lost) {
    sig_arg_t a = {sample_sig(host, n), at - m->base, n, readback, lost, 0, !readback};
    um_reg_update(m->base, m->id, sig_cb, &a);
    return a.content;
}

static int host_copy_cb(um_rec_t *r, void *arg) {
    (void)arg;
    r->flags |= UM_REC_HOST_COPY;
    return 0;
}

// --- host copies out of read-mostly pages: parallel memcpy ---
// A host read-back of read-mostly pages reads the host's own copy; one thread copies ~11.7
// GB/s, four ~36 GB/s (Measured, H100 host), while the driver's pageable D2H of 64 MiB took
// ~4 ms there. Below 8 MiB thread start-up is not worth it.
#define UM_PAR_MIN (8ull << 20)
#define UM_PAR_THREADS 4

typedef struct {
    char *dst;
    const char *src;
    size_t n;
} part_t;

static void *copy_part(void *arg) {
    part_t *p = arg;
    memcpy(p->dst, p->src, p->n);
    return NULL;
}

static void host_copy(void *dst, const void *src, size_t n) {
    if (n < UM_PAR_MIN) {
        memcpy(dst, src, n);
        return;
    }
    part_t part[UM_PAR_THREADS];
    pthread_t th[UM_PAR_THREADS];
    int started[UM_PAR_THREADS] = {0};
    size_t per = (n / UM_PAR_THREADS + 4095) & ~(size_t)4095;
    for (int i = 0; i < UM_PAR_THREADS; i++) {
        size_t lo = per * (size_t)i < n ? per * (size_t)i : n;
        size_t hi = per * (size_t)(i + 1) < n ? per * (size_t)(i + 1) : n;
        part[i] = (part_t){(char *)dst + lo, (const char *)src + lo, hi - lo};
    }
    // The helpers run with every signal blocked, so the program's handlers never run on a
    // shim thread (as the staging pool's threads).
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (int i = 1; i < UM_PAR_THREADS; i++)
        started[i] = part[i].n > 0 && pthread_create(&th[i], NULL, copy_part, &part[i]) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    copy_part(&part[0]);
    for (int i = 1; i < UM_PAR_THREADS; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            copy_part(&part[i]); // no thread: copy it here
    }
}

static CUresult do_copy(const copy_t *c) {
    uint64_t t0 = um_now_ns();
    if (um_cfg.fast && !um_cfg.staging) {
        CUresult r = real_copy(c);
        if (r == CUDA_SUCCESS && c->op == OP_HTOD) {
            um_stat_add(UM_ST_copies_h2d, 1);
            um_stat_add(UM_ST_bytes_h2d, c->n);
        } else if (r == CUDA_SUCCESS && c->op == OP_DTOH) {
            um_stat_add(UM_ST_copies_d2h, 1);
            um_stat_add(UM_ST_bytes_d2h, c->n);
        }
        return r;
    }
    um_rec_t d, s;
    int dk = um_reg_find(c->dst, &d);
    int sk = um_reg_find(c->src, &s);
    um_dir_t dir = classify(c, dk, &d, sk, &s);
    CUstream stream = um_map_stream(c->stream, c->pt);

    // The strategy is the policy's (stored with the allocation); the shim only refuses
    // what cannot be done safely here.
    // Passthrough with UMSHIM_STAGING=1 runs the transfer engine alone, on whatever device
    // memory the program allocated (so profiling users can A/B it).
    um_copy_t how = UM_COPY_DRIVER;
    const um_rec_t *m = NULL; // the managed/device side
    int rewrite = um_cfg.mode != UM_MODE_PASSTHROUGH;
    if ((rewrite || um_cfg.staging) && !um_capture_active()) {
        if (dir == UM_DIR_H2D && is_dev_side(dk, &d)) {
            how = rewrite ? d.decision.copy_h2d : UM_COPY_STAGED;
            m = &d;
        } else if (dir == UM_DIR_D2H && is_dev_side(sk, &s)) {
            how = rewrite ? s.decision.copy_d2h : UM_COPY_STAGED;
            m = &s;
        }
        if (how == UM_COPY_HOST && (m == NULL || !(m->flags & UM_REC_REWRITTEN) || c->async))
            how = UM_COPY_DRIVER; // host access needs managed memory; async keeps stream order
        // A range running past the allocation is the driver's to reject, with its error code
        // (a host memcpy would overrun instead).
        uint64_t at = dir == UM_DIR_H2D ? c->dst : c->src;
        if (m != NULL && (at - m->base > m->size || c->n > m->size - (at - m->base)))
            how = UM_COPY_DRIVER;
        if (how == UM_COPY_STAGED) {
            int other_pinned = dir == UM_DIR_H2D ? (sk && s.kind == UM_MEM_HOST)
                                                 : (dk && d.kind == UM_MEM_HOST);
            if (!um_cfg.staging || other_pinned || !um_stage_wants(c->n, dir == UM_DIR_H2D))
                how = UM_COPY_DRIVER;
        }
        uint64_t host_at = dir == UM_DIR_H2D ? c->src : c->dst;
        if (how != UM_COPY_DRIVER && !host_mapped(host_at, c->n)) {
            UM_LOG_ONCE(UM_LOG_WARNING, "a copy names unmapped host memory at 0x%llx; the driver "
                        "copies it (and answers)", (unsigned long long)host_at);
            how = UM_COPY_DRIVER;
        }
    }

    CUresult r = CUDA_SUCCESS;
    int staged = 0, host = 0, lost = 0;
    if (how == UM_COPY_HOST) {
        // Read-mostly pages keep their GPU copy when the host reads them: residency stays.
        int rm = dir == UM_DIR_D2H && (m->decision.advise & UM_ADV_READ_MOSTLY);
        um_nvtx_push(UM_NVTX_HOST_COPY, c->n);
        um_nvtx_push(UM_NVTX_HOST_SYNC, 0);
        r = sync_for(c->pt);
        um_nvtx_pop();
        if (r == CUDA_SUCCESS) {
            int had_copy = rm && (m->flags & UM_REC_HOST_COPY);
            if (rm && !had_copy) {
                // One prefetch makes the host's read-only copy by DMA instead of a CPU fault
                // per page; the GPU keeps its copy.
                if (prefetch_range(m->base, m->size, CU_DEVICE_CPU, stream) == CUDA_SUCCESS &&
                    UM_REAL_CALL(cuStreamSynchronize, stream) == CUDA_SUCCESS) {
                    um_reg_update(m->base, m->id, host_copy_cb, NULL);
                    um_stat_add(UM_ST_prefetches, 1);
                    um_stat_add(UM_ST_prefetch_bytes, m->size);
                }
            } else if (dir == UM_DIR_D2H && m->decision.host_prefetch_before_read) {
                um_ref_t ref;
                um_ref_from_rec(&ref, m);
                if (um_mem_prefetch(&ref, CU_DEVICE_CPU, stream, "host_read") == CUDA_SUCCESS)
                    UM_REAL_CALL(cuStreamSynchronize, stream);
            }
            uint64_t tc = um_now_ns();
            if (rm)
                host_copy((void *)(uintptr_t)c->dst, (const void *)(uintptr_t)c->src, c->n);
            else
                memcpy((void *)(uintptr_t)c->dst, (const void *)(uintptr_t)c->src, c->n);
            // A host copy that was there reads at memory speed; below 4 GB/s the reads
            // faulted, so a kernel wrote the pages since (even with equal values).
            if (had_copy && c->n >= UM_PAR_MIN && um_now_ns() - tc > c->n / 4)
                lost = 1;
            if (!rm)
                um_mem_set_res(m->base, m->id, UM_RES_HOST, -1);
            host = 1;
            um_stat_add(UM_ST_host_copies, 1);
        }
        um_nvtx_pop();
    } else if (how == UM_COPY_STAGED) {
        um_nvtx_push(dir == UM_DIR_H2D ? UM_NVTX_STAGE_H2D : UM_NVTX_STAGE_D2H, c->n);
        r = dir == UM_DIR_H2D
                ? um_stage_htod(c->dst, (const void *)(uintptr_t)c->src, c->n, stream, !c->async)
                : um_stage_dtoh((void *)(uintptr_t)c->dst, c->src, c->n, stream, !c->async);
        um_nvtx_pop();
        if (r == CUDA_SUCCESS) {
            staged = 1;
            um_stat_add(UM_ST_staged_copies, 1);
        } else {
            // Repeating a copy is harmless (same source, same destination): the driver's
            // own copy gives the program the driver's answer.
            UM_LOG_ONCE(UM_LOG_WARNING, "staged copy failed (error %d); using the driver's copy",
                        (int)r);
            r = real_copy(c);
        }
    } else {
        r = real_copy(c);
    }

    uint64_t hash = 0;
    int content = UM_CONTENT_UNKNOWN;
    if (r == CUDA_SUCCESS && um_cfg.mode != UM_MODE_PASSTHROUGH && !um_capture_active()) {
        // Content evidence for the policy (only where the host bytes are there now: an async
        // read-back lands later).
        if (dir == UM_DIR_H2D && m != NULL && (m->flags & UM_REC_REWRITTEN))
            note_content(m, c->dst, (const void *)(uintptr_t)c->src, c->n, 0, 0);
        else if (dir == UM_DIR_D2H && m != NULL && (m->flags & UM_REC_REWRITTEN) && !c->async)
            content = note_content(m, c->src, (const void *)(uintptr_t)c->dst, c->n, 1, lost);
    }
    if (r == CUDA_SUCCESS) {
        if (dk && (d.flags & UM_REC_REWRITTEN) && !host && d.res != UM_RES_DEVICE)
            um_mem_set_res(d.base, d.id, UM_RES_UNKNOWN, -1);
        if (dir == UM_DIR_H2D) {
            um_stat_add(UM_ST_copies_h2d, 1);
            um_stat_add(UM_ST_bytes_h2d, c->n);
        } else if (dir == UM_DIR_D2H) {
            um_stat_add(UM_ST_copies_d2h, 1);
            um_stat_add(UM_ST_bytes_d2h, c->n);
            if (sk && (s.flags & UM_REC_REWRITTEN) && (s.flags & UM_REC_LIVE_DECIDED))
                um_reg_update(s.base, s.id, reask_cb, NULL); // new evidence: ask again
            if (um_cfg.hash && !um_capture_active()) {
                // Async D2H data is only there once the stream reaches the copy (and a
                // captured copy never runs now: syncing would break the capture).
                if (c->async)
                    UM_REAL_CALL(cuStreamSynchronize, stream);
                hash_host(&hash, (const void *)(uintptr_t)c->dst, c->n);
            }
        }
    }
    if (um_cfg.events) {
        um_event_t ev;
        um_ev_init(&ev, host ? UM_EV_HOST_ACCESS : UM_EV_COPY, c->api);
        ev.dur_ns = ev.t_ns - t0;
        ev.device = um_cur_device();
        ev.stream = (uint64_t)(uintptr_t)stream;
        ev.async = c->async;
        ev.result = r;
        ev.alloc_id = dk ? d.id : 0;
        ev.ptr = c->dst;
        ev.bytes = c->n;
        ev.mem = dk ? d.kind : UM_MEM_UNKNOWN;
        ev.req_mem = dk ? d.req_kind : UM_MEM_UNKNOWN;
        ev.dir = dir;
        ev.src_id = sk ? s.id : 0;
        ev.hash = hash;
        ev.content = content;
        if (host || staged)
            ev.advice = 0;
        if (um_cfg.trace)
            um_site_capture(ev.site, sizeof ev.site);
        if (host) {
            // The rewritten copy is both a copy (what the program did) and a host access.
            um_emit(&ev);
            ev.kind = UM_EV_COPY;
        }
        um_emit(&ev);
    }
    return r;
}

#define UM_COPY_WRAP(sym, opv, ptv, asyncv, dstv, srcv, nv, streamv, ...)                         \
    UM_BEGIN(sym, __VA_ARGS__);                                                                  \
    copy_t c = {#sym, opv, ptv, asyncv, streamv, (uint64_t)(uintptr_t)(dstv),                    \
                (uint64_t)(uintptr_t)(srcv), nv};                                                \
    UM_END(do_copy(&c))

UM_EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n) {
    UM_COPY_WRAP(cuMemcpyHtoD_v2, OP_HTOD, 0, 0, dst, src, n, NULL, dst, src, n);
}
UM_EXPORT CUresult cuMemcpyHtoD_v2_ptds(CUdeviceptr dst, const void *src, size_t n) {
    UM_COPY_WRAP(cuMemcpyHtoD_v2_ptds, OP_HTOD, 1, 0, dst, src, n, NULL, dst, src, n);
}
UM_EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, CUstream s) {
    UM_COPY_WRAP(cuMemcpyHtoDAsync_v2, OP_HTOD, 0, 1, dst, src, n, s, dst, src, n, s);
}
UM_EXPORT CUresult cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr dst, const void *src, size_t n,
                                             CUstream s) {
    UM_COPY_WRAP(cuMemcpyHtoDAsync_v2_ptsz, OP_HTOD, 1, 1, dst, src, n, s, dst, src, n, s);
}
UM_EXPORT CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n) {
    UM_COPY_WRAP(cuMemcpyDtoH_v2, OP_DTOH, 0, 0, dst, src, n, NULL, dst, src, n);
}
UM_EXPORT CUresult cuMemcpyDtoH_v2_ptds(void *dst, CUdeviceptr src, size_t n) {
    UM_COPY_WRAP(cuMemcpyDtoH_v2_ptds, OP_DTOH, 1, 0, dst, src, n, NULL, dst, src, n);
}
UM_EXPORT CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, CUstream s) {
    UM_COPY_WRAP(cuMemcpyDtoHAsync_v2, OP_DTOH, 0, 1, dst, src, n, s, dst, src, n, s);
}
UM_EXPORT CUresult cuMemcpyDtoHAsync_v2_ptsz(void *dst, CUdeviceptr src, size_t n, CUstream s) {
    UM_COPY_WRAP(cuMemcpyDtoHAsync_v2_ptsz, OP_DTOH, 1, 1, dst, src, n, s, dst, src, n, s);
}
UM_EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) {
    UM_COPY_WRAP(cuMemcpyDtoD_v2, OP_DTOD, 0, 0, dst, src, n, NULL, dst, src, n);
}
UM_EXPORT CUresult cuMemcpyDtoD_v2_ptds(CUdeviceptr dst, CUdeviceptr src, size_t n) {
    UM_COPY_WRAP(cuMemcpyDtoD_v2_ptds, OP_DTOD, 1, 0, dst, src, n, NULL, dst, src, n);
}
UM_EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
    UM_COPY_WRAP(cuMemcpyDtoDAsync_v2, OP_DTOD, 0, 1, dst, src, n, s, dst, src, n, s);
}
UM_EXPORT CUresult cuMemcpyDtoDAsync_v2_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t n,
                                             CUstream s) {
    UM_COPY_WRAP(cuMemcpyDtoDAsync_v2_ptsz, OP_DTOD, 1, 1, dst, src, n, s, dst, src, n, s);
}
UM_EXPORT CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t n) {
    UM_COPY_WRAP(cuMemcpy, OP_ANY, 0, 0, dst, src, n, NULL, dst, src, n);
}
UM_EXPORT CUresult cuMemcpy_ptds(CUdeviceptr dst, CUdeviceptr src, size_t n) {
    UM_COPY_WRAP(cuMemcpy_ptds, OP_ANY, 1, 0, dst, src, n, NULL, dst, src, n);
}
UM_EXPORT CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
    UM_COPY_WRAP(cuMemcpyAsync, OP_ANY, 0, 1, dst, src, n, s, dst, src, n, s);
}
UM_EXPORT CUresult cuMemcpyAsync_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
    UM_COPY_WRAP(cuMemcpyAsync_ptsz, OP_ANY, 1, 1, dst, src, n, s, dst, src, n, s);
}

// --- 2D / 3D / peer copies: passed through, observed ---
static int side_of(CUmemorytype t, uint64_t unified, um_rec_t *r, int *known) {
    *known = 0;
    switch (t) {
    case CU_MEMORYTYPE_HOST: *known = um_reg_find(unified, r); return 0;
    case CU_MEMORYTYPE_UNIFIED:
        *known = um_reg_find(unified, r);
        return is_dev_side(*known, r);
    default: *known = um_reg_find(unified, r); return 1;
    }
}

static void emit_copy_nd(const char *api, CUresult r, int async, CUstream stream, uint64_t dst,
                         int ddev, int dk, const um_rec_t *d, int sdev, int sk,
                         const um_rec_t *s, uint64_t bytes, uint64_t hash, uint64_t t0,
                         um_dir_t forced) {
    um_dir_t dir = forced != UM_DIR_NONE ? forced
                   : ddev ? (sdev ? UM_DIR_D2D : UM_DIR_H2D)
                          : (sdev ? UM_DIR_D2H : UM_DIR_H2H);
    if (r == CUDA_SUCCESS) {
        if (dk && (d->flags & UM_REC_REWRITTEN) && d->res != UM_RES_DEVICE)
            um_mem_set_res(d->base, d->id, UM_RES_UNKNOWN, -1);
        if (dir == UM_DIR_H2D) {
            um_stat_add(UM_ST_copies_h2d, 1);
            um_stat_add(UM_ST_bytes_h2d, bytes);
        } else if (dir == UM_DIR_D2H) {
            um_stat_add(UM_ST_copies_d2h, 1);
            um_stat_add(UM_ST_bytes_d2h, bytes);
        }
    }
    if (!um_cfg.events)
        return;
    um_event_t ev;
    um_ev_init(&ev, UM_EV_COPY, api);
    ev.dur_ns = ev.t_ns - t0;
    ev.device = um_cur_device();
    ev.stream = (uint64_t)(uintptr_t)stream;
    ev.async = async;
    ev.result = r;
    ev.alloc_id = dk ? d->id : 0;
    ev.ptr = dst;
    ev.bytes = bytes;
    ev.mem = dk ? d->kind : UM_MEM_UNKNOWN;
    ev.req_mem = dk ? d->req_kind : UM_MEM_UNKNOWN;
    ev.dir = dir;
    ev.src_id = sk ? s->id : 0;
    ev.hash = hash;
    if (um_cfg.trace)
        um_site_capture(ev.site, sizeof ev.site);
    um_emit(&ev);
}

// Hashes the rows a 2D/3D copy wrote into host memory.
static uint64_t hash_rows(const void *base, size_t pitch, size_t width, size_t rows) {
    uint64_t h = 0;
    for (size_t i = 0; i < rows; i++)
        h = h * 0x100000001b3ull + um_fnv1a64((const char *)base + i * pitch, width);
    um_stat_add_hash(h);
    return h;
}

// What the trace needs of a 2D or 3D copy (a 2D copy is one slice): both sides, where the
// copy starts in the destination (bytes, rows, slices), its pitch and rows per slice, and
// the extent copied.
typedef struct {
    CUmemorytype dt, st;
    uint64_t dptr, sptr;
    size_t x, y, z, pitch, slice_rows, width, height, depth;
} nd_copy_t;

static uint64_t nd_ptr(CUmemorytype t, const void *host, CUdeviceptr dev) {
    return t == CU_MEMORYTYPE_HOST ? (uint64_t)(uintptr_t)host : (uint64_t)dev;
}

// Records a finished 2D/3D copy: its event, and with UMSHIM_HASH the hash of the rows it
// wrote into host memory (after the stream's work, for an async copy).
static void nd_done(const char *api, CUresult r, int pt, int async, CUstream s,
                    const nd_copy_t *c, uint64_t t0) {
    um_rec_t d, sr;
    int dk, sk;
    int ddev = side_of(c->dt, c->dptr, &d, &dk);
    int sdev = side_of(c->st, c->sptr, &sr, &sk);
    uint64_t hash = 0;
    CUstream ms = um_map_stream(s, pt);
    if (r == CUDA_SUCCESS && um_cfg.hash && !um_capture_active() && !ddev && sdev &&
        c->dt != CU_MEMORYTYPE_ARRAY) {
        if (async)
            UM_REAL_CALL(cuStreamSynchronize, ms);
        size_t slice = c->pitch * c->slice_rows;
        const char *b = (const char *)(uintptr_t)c->dptr + c->z * slice + c->y * c->pitch + c->x;
        for (size_t z = 0; z < c->depth; z++)
            hash = hash * 0x100000001b3ull + hash_rows(b + z * slice, c->pitch, c->width, c->height);
    }
    emit_copy_nd(api, r, async, ms, c->dptr, ddev, dk, &d, sdev, sk, &sr,
                 (uint64_t)c->width * c->height * c->depth, hash, t0, UM_DIR_NONE);
}

static CUresult copy2d(const char *api, const CUDA_MEMCPY2D *p, int pt, int async, CUstream s,
                       CUresult (*fn_sync)(const CUDA_MEMCPY2D *),
                       CUresult (*fn_async)(const CUDA_MEMCPY2D *, CUstream)) {
    uint64_t t0 = um_now_ns();
    CUresult r = async ? (fn_async ? fn_async(p, s) : CUDA_ERROR_NOT_INITIALIZED)
                       : (fn_sync ? fn_sync(p) : CUDA_ERROR_NOT_INITIALIZED);
    if (um_cfg.fast || p == NULL)
        return r;
    nd_copy_t c = {p->dstMemoryType, p->srcMemoryType,
                   nd_ptr(p->dstMemoryType, p->dstHost, p->dstDevice),
                   nd_ptr(p->srcMemoryType, p->srcHost, p->srcDevice),
                   p->dstXInBytes, p->dstY, 0, p->dstPitch, p->Height, p->WidthInBytes, p->Height, 1};
    nd_done(api, r, pt, async, s, &c, t0);
    return r;
}

UM_EXPORT CUresult cuMemcpy2D_v2(const CUDA_MEMCPY2D *p) {
    UM_BEGIN(cuMemcpy2D_v2, p);
    UM_END(copy2d("cuMemcpy2D_v2", p, 0, 0, NULL, um_real.cuMemcpy2D_v2, NULL));
}
UM_EXPORT CUresult cuMemcpy2D_v2_ptds(const CUDA_MEMCPY2D *p) {
    UM_BEGIN(cuMemcpy2D_v2_ptds, p);
    UM_END(copy2d("cuMemcpy2D_v2_ptds", p, 1, 0, NULL, um_real.cuMemcpy2D_v2_ptds, NULL));
}
UM_EXPORT CUresult cuMemcpy2DUnaligned_v2(const CUDA_MEMCPY2D *p) {
    UM_BEGIN(cuMemcpy2DUnaligned_v2, p);
    UM_END(copy2d("cuMemcpy2DUnaligned_v2", p, 0, 0, NULL, um_real.cuMemcpy2DUnaligned_v2, NULL));
}
UM_EXPORT CUresult cuMemcpy2DUnaligned_v2_ptds(const CUDA_MEMCPY2D *p) {
    UM_BEGIN(cuMemcpy2DUnaligned_v2_ptds, p);
    UM_END(copy2d("cuMemcpy2DUnaligned_v2_ptds", p, 1, 0, NULL,
                  um_real.cuMemcpy2DUnaligned_v2_ptds, NULL));
}
UM_EXPORT CUresult cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D *p, CUstream s) {
    UM_BEGIN(cuMemcpy2DAsync_v2, p, s);
    UM_END(copy2d("cuMemcpy2DAsync_v2", p, 0, 1, s, NULL, um_real.cuMemcpy2DAsync_v2));
}
UM_EXPORT CUresult cuMemcpy2DAsync_v2_ptsz(const CUDA_MEMCPY2D *p, CUstream s) {
    UM_BEGIN(cuMemcpy2DAsync_v2_ptsz, p, s);
    UM_END(copy2d("cuMemcpy2DAsync_v2_ptsz", p, 1, 1, s, NULL, um_real.cuMemcpy2DAsync_v2_ptsz));
}

static CUresult copy3d(const char *api, const CUDA_MEMCPY3D *p, int pt, int async, CUstream s,
                       CUresult (*fn_sync)(const CUDA_MEMCPY3D *),
                       CUresult (*fn_async)(const CUDA_MEMCPY3D *, CUstream)) {
    uint64_t t0 = um_now_ns();
    CUresult r = async ? (fn_async ? fn_async(p, s) : CUDA_ERROR_NOT_INITIALIZED)
                       : (fn_sync ? fn_sync(p) : CUDA_ERROR_NOT_INITIALIZED);
    if (um_cfg.fast || p == NULL)
        return r;
    nd_copy_t c = {p->dstMemoryType, p->srcMemoryType,
                   nd_ptr(p->dstMemoryType, p->dstHost, p->dstDevice),
                   nd_ptr(p->srcMemoryType, p->srcHost, p->srcDevice),
                   p->dstXInBytes, p->dstY, p->dstZ, p->dstPitch,
                   p->dstHeight ? p->dstHeight : p->Height, p->WidthInBytes, p->Height, p->Depth};
    nd_done(api, r, pt, async, s, &c, t0);
    return r;
}

UM_EXPORT CUresult cuMemcpy3D_v2(const CUDA_MEMCPY3D *p) {
    UM_BEGIN(cuMemcpy3D_v2, p);
    UM_END(copy3d("cuMemcpy3D_v2", p, 0, 0, NULL, um_real.cuMemcpy3D_v2, NULL));
}
UM_EXPORT CUresult cuMemcpy3D_v2_ptds(const CUDA_MEMCPY3D *p) {
    UM_BEGIN(cuMemcpy3D_v2_ptds, p);
    UM_END(copy3d("cuMemcpy3D_v2_ptds", p, 1, 0, NULL, um_real.cuMemcpy3D_v2_ptds, NULL));
}
UM_EXPORT CUresult cuMemcpy3DAsync_v2(const CUDA_MEMCPY3D *p, CUstream s) {
    UM_BEGIN(cuMemcpy3DAsync_v2, p, s);
    UM_END(copy3d("cuMemcpy3DAsync_v2", p, 0, 1, s, NULL, um_real.cuMemcpy3DAsync_v2));
}
UM_EXPORT CUresult cuMemcpy3DAsync_v2_ptsz(const CUDA_MEMCPY3D *p, CUstream s) {
    UM_BEGIN(cuMemcpy3DAsync_v2_ptsz, p, s);
    UM_END(copy3d("cuMemcpy3DAsync_v2_ptsz", p, 1, 1, s, NULL, um_real.cuMemcpy3DAsync_v2_ptsz));
}

static CUresult peer_done(const char *api, CUresult r, uint64_t dst, uint64_t src, uint64_t n,
                          int async, CUstream s, uint64_t t0) {
    if (um_cfg.fast)
        return r;
    um_rec_t d, sr;
    int dk = um_reg_find(dst, &d), sk = um_reg_find(src, &sr);
    emit_copy_nd(api, r, async, s, dst, 1, dk, &d, 1, sk, &sr, n, 0, t0, UM_DIR_PEER);
    return r;
}

UM_EXPORT CUresult cuMemcpyPeer(CUdeviceptr dst, CUcontext dc, CUdeviceptr src, CUcontext sc,
                                size_t n) {
    UM_BEGIN(cuMemcpyPeer, dst, dc, src, sc, n);
    uint64_t t0 = um_now_ns();
    CUresult r = UM_REAL_CALL(cuMemcpyPeer, dst, dc, src, sc, n);
    UM_END(peer_done("cuMemcpyPeer", r, dst, src, n, 0, NULL, t0));
}
UM_EXPORT CUresult cuMemcpyPeer_ptds(CUdeviceptr dst, CUcontext dc, CUdeviceptr src,
                                     CUcontext sc, size_t n) {
    UM_BEGIN(cuMemcpyPeer_ptds, dst, dc, src, sc, n);
    uint64_t t0 = um_now_ns();
    CUresult r = UM_REAL_CALL(cuMemcpyPeer_ptds, dst, dc, src, sc, n);
    UM_END(peer_done("cuMemcpyPeer_ptds", r, dst, src, n, 0, CU_STREAM_PER_THREAD, t0));
}
UM_EXPORT CUresult cuMemcpyPeerAsync(CUdeviceptr dst, CUcontext dc, CUdeviceptr src,
                                     CUcontext sc, size_t n, CUstream s) {
    UM_BEGIN(cuMemcpyPeerAsync, dst, dc, src, sc, n, s);
    uint64_t t0 = um_now_ns();
    CUresult r = UM_REAL_CALL(cuMemcpyPeerAsync, dst, dc, src, sc, n, s);
    UM_END(peer_done("cuMemcpyPeerAsync", r, dst, src, n, 1, s, t0));
}
UM_EXPORT CUresult cuMemcpyPeerAsync_ptsz(CUdeviceptr dst, CUcontext dc, CUdeviceptr src,
                                          CUcontext sc, size_t n, CUstream s) {
    UM_BEGIN(cuMemcpyPeerAsync_ptsz, dst, dc, src, sc, n, s);
    uint64_t t0 = um_now_ns();
    CUresult r = UM_REAL_CALL(cuMemcpyPeerAsync_ptsz, dst, dc, src, sc, n, s);
    UM_END(peer_done("cuMemcpyPeerAsync_ptsz", r, dst, src, n, 1, um_map_stream(s, 1), t0));
}

static uint64_t peer3d_bytes(const CUDA_MEMCPY3D_PEER *p) {
    return p ? (uint64_t)p->WidthInBytes * p->Height * p->Depth : 0;
}

UM_EXPORT CUresult cuMemcpy3DPeer(const CUDA_MEMCPY3D_PEER *p) {
    UM_BEGIN(cuMemcpy3DPeer, p);
    uint64_t t0 = um_now_ns();
    CUresult r = UM_REAL_CALL(cuMemcpy3DPeer, p);
    UM_END(peer_done("cuMemcpy3DPeer", r, p ? p->dstDevice : 0, p ? p->srcDevice : 0,
                     peer3d_bytes(p), 0, NULL, t0));
}
UM_EXPORT CUresult cuMemcpy3DPeer_ptds(const CUDA_MEMCPY3D_PEER *p) {
    UM_BEGIN(cuMemcpy3DPeer_ptds, p);
    uint64_t t0 = um_now_ns();
    CUresult r = UM_REAL_CALL(cuMemcpy3DPeer_ptds, p);
    UM_END(peer_done("cuMemcpy3DPeer_ptds", r, p ? p->dstDevice : 0, p ? p->srcDevice : 0,
                     peer3d_bytes(p), 0, CU_STREAM_PER_THREAD, t0));
}
UM_EXPORT CUresult cuMemcpy3DPeerAsync(const CUDA_MEMCPY3D_PEER *p, CUstream s) {
    UM_BEGIN(cuMemcpy3DPeerAsync, p, s);
    uint64_t t0 = um_now_ns();
    CUresult r = UM_REAL_CALL(cuMemcpy3DPeerAsync, p, s);
    UM_END(peer_done("cuMemcpy3DPeerAsync", r, p ? p->dstDevice : 0, p ? p->srcDevice : 0,
                     peer3d_bytes(p), 1, s, t0));
}
UM_EXPORT CUresult cuMemcpy3DPeerAsync_ptsz(const CUDA_MEMCPY3D_PEER *p, CUstream s) {
    UM_BEGIN(cuMemcpy3DPeerAsync_ptsz, p, s);
    uint64_t t0 = um_now_ns();
    CUresult r = UM_REAL_CALL(cuMemcpy3DPeerAsync_ptsz, p, s);
    UM_END(peer_done("cuMemcpy3DPeerAsync_ptsz", r, p ? p->dstDevice : 0, p ? p->srcDevice : 0,
                     peer3d_bytes(p), 1, um_map_stream(s, 1), t0));
}

// --- memsets: passed through; the driver handles managed memory ---
static CUresult memset_done(const char *api, CUresult r, uint64_t dst, uint64_t bytes, int async,
                            CUstream s, uint64_t t0) {
    if (um_cfg.fast)
        return r;
    um_rec_t d;
    int dk = um_reg_find(dst, &d);
    if (r == CUDA_SUCCESS && dk && (d.flags & UM_REC_REWRITTEN) && d.res != UM_RES_DEVICE)
        um_mem_set_res(d.base, d.id, UM_RES_UNKNOWN, -1);
    if (!um_cfg.events)
        return r;
    um_event_t ev;
    um_ev_init(&ev, UM_EV_MEMSET, api);
    ev.dur_ns = ev.t_ns - t0;
    ev.device = um_cur_device();
    ev.stream = (uint64_t)(uintptr_t)s;
    ev.async = async;
    ev.result = r;
    ev.alloc_id = dk ? d.id : 0;
    ev.ptr = dst;
    ev.bytes = bytes;
    ev.mem = dk ? d.kind : UM_MEM_UNKNOWN;
    ev.req_mem = dk ? d.req_kind : UM_MEM_UNKNOWN;
    if (um_cfg.trace)
        um_site_capture(ev.site, sizeof ev.site);
    um_emit(&ev);
    return r;
}

#define UM_MEMSET1(sym, T, esz, pt)                                                              \
    UM_EXPORT CUresult sym(CUdeviceptr dst, T v, size_t n) {                                     \
        UM_BEGIN(sym, dst, v, n);                                                                \
        uint64_t t0 = um_now_ns();                                                               \
        CUresult r = UM_REAL_CALL(sym, dst, v, n);                                               \
        UM_END(memset_done(#sym, r, dst, (uint64_t)n * esz, 0,                                   \
                           pt ? CU_STREAM_PER_THREAD : NULL, t0));                               \
    }
#define UM_MEMSET1A(sym, T, esz, pt)                                                             \
    UM_EXPORT CUresult sym(CUdeviceptr dst, T v, size_t n, CUstream s) {                         \
        UM_BEGIN(sym, dst, v, n, s);                                                             \
        uint64_t t0 = um_now_ns();                                                               \
        CUresult r = UM_REAL_CALL(sym, dst, v, n, s);                                            \
        UM_END(memset_done(#sym, r, dst, (uint64_t)n * esz, 1, um_map_stream(s, pt), t0));       \
    }
#define UM_MEMSET2(sym, T, esz, pt)                                                              \
    UM_EXPORT CUresult sym(CUdeviceptr dst, size_t pitch, T v, size_t w, size_t h) {             \
        UM_BEGIN(sym, dst, pitch, v, w, h);                                                      \
        uint64_t t0 = um_now_ns();                                                               \
        CUresult r = UM_REAL_CALL(sym, dst, pitch, v, w, h);                                     \
        UM_END(memset_done(#sym, r, dst, (uint64_t)w * h * esz, 0,                               \
                           pt ? CU_STREAM_PER_THREAD : NULL, t0));                               \
    }
#define UM_MEMSET2A(sym, T, esz, pt)                                                             \
    UM_EXPORT CUresult sym(CUdeviceptr dst, size_t pitch, T v, size_t w, size_t h, CUstream s) { \
        UM_BEGIN(sym, dst, pitch, v, w, h, s);                                                   \
        uint64_t t0 = um_now_ns();                                                               \
        CUresult r = UM_REAL_CALL(sym, dst, pitch, v, w, h, s);                                  \
        UM_END(memset_done(#sym, r, dst, (uint64_t)w * h * esz, 1, um_map_stream(s, pt), t0));   \
    }

UM_MEMSET1(cuMemsetD8_v2, unsigned char, 1, 0)
UM_MEMSET1(cuMemsetD8_v2_ptds, unsigned char, 1, 1)
UM_MEMSET1(cuMemsetD16_v2, unsigned short, 2, 0)
UM_MEMSET1(cuMemsetD16_v2_ptds, unsigned short, 2, 1)
UM_MEMSET1(cuMemsetD32_v2, unsigned int, 4, 0)
UM_MEMSET1(cuMemsetD32_v2_ptds, unsigned int, 4, 1)
UM_MEMSET1A(cuMemsetD8Async, unsigned char, 1, 0)
UM_MEMSET1A(cuMemsetD8Async_ptsz, unsigned char, 1, 1)
UM_MEMSET1A(cuMemsetD16Async, unsigned short, 2, 0)
UM_MEMSET1A(cuMemsetD16Async_ptsz, unsigned short, 2, 1)
UM_MEMSET1A(cuMemsetD32Async, unsigned int, 4, 0)
UM_MEMSET1A(cuMemsetD32Async_ptsz, unsigned int, 4, 1)
UM_MEMSET2(cuMemsetD2D8_v2, unsigned char, 1, 0)
UM_MEMSET2(cuMemsetD2D8_v2_ptds, unsigned char, 1, 1)
UM_MEMSET2(cuMemsetD2D16_v2, unsigned short, 2, 0)
UM_MEMSET2(cuMemsetD2D16_v2_ptds, unsigned short, 2, 1)
UM_MEMSET2(cuMemsetD2D32_v2, unsigned int, 4, 0)
UM_MEMSET2(cuMemsetD2D32_v2_ptds, unsigned int, 4, 1)
UM_MEMSET2A(cuMemsetD2D8Async, unsigned char, 1, 0)
UM_MEMSET2A(cuMemsetD2D8Async_ptsz, unsigned char, 1, 1)
UM_MEMSET2A(cuMemsetD2D16Async, unsigned short, 2, 0)
UM_MEMSET2A(cuMemsetD2D16Async_ptsz, unsigned short, 2, 1)
UM_MEMSET2A(cuMemsetD2D32Async, unsigned int, 4, 0)
UM_MEMSET2A(cuMemsetD2D32Async_ptsz, unsigned int, 4, 1)

// --- the program's own hints: passed through and observed ---
static void emit_hint(um_ev_kind_t k, const char *api, CUresult r, uint64_t ptr, uint64_t n,
                      int device, int advice, CUstream s) {
    if (!um_cfg.events)
        return;
    um_rec_t rec;
    int known = um_reg_find(ptr, &rec);
    um_event_t ev;
    um_ev_init(&ev, k, api);
    ev.device = device;
    ev.stream = (uint64_t)(uintptr_t)s;
    ev.async = k == UM_EV_PREFETCH;
    ev.result = r;
    ev.alloc_id = known ? rec.id : 0;
    ev.ptr = ptr;
    ev.bytes = n;
    ev.advice = advice;
    um_emit(&ev);
}

static int loc_device(CUmemLocation loc) {
    return loc.type == CU_MEM_LOCATION_TYPE_DEVICE ? loc.id : -1;
}

UM_EXPORT CUresult cuMemPrefetchAsync(CUdeviceptr p, size_t n, CUdevice dev, CUstream s) {
    UM_BEGIN(cuMemPrefetchAsync, p, n, dev, s);
    CUresult r = UM_REAL_CALL(cuMemPrefetchAsync, p, n, dev, s);
    emit_hint(UM_EV_PREFETCH, "cuMemPrefetchAsync", r, p, n, dev, 0, s);
    UM_END(r);
}
UM_EXPORT CUresult cuMemPrefetchAsync_ptsz(CUdeviceptr p, size_t n, CUdevice dev, CUstream s) {
    UM_BEGIN(cuMemPrefetchAsync_ptsz, p, n, dev, s);
    CUresult r = UM_REAL_CALL(cuMemPrefetchAsync_ptsz, p, n, dev, s);
    emit_hint(UM_EV_PREFETCH, "cuMemPrefetchAsync_ptsz", r, p, n, dev, 0, um_map_stream(s, 1));
    UM_END(r);
}
UM_EXPORT CUresult cuMemPrefetchAsync_v2(CUdeviceptr p, size_t n, CUmemLocation loc,
                                         unsigned int flags, CUstream s) {
    UM_BEGIN(cuMemPrefetchAsync_v2, p, n, loc, flags, s);
    CUresult r = UM_REAL_CALL(cuMemPrefetchAsync_v2, p, n, loc, flags, s);
    emit_hint(UM_EV_PREFETCH, "cuMemPrefetchAsync_v2", r, p, n, loc_device(loc), 0, s);
    UM_END(r);
}
UM_EXPORT CUresult cuMemPrefetchAsync_v2_ptsz(CUdeviceptr p, size_t n, CUmemLocation loc,
                                              unsigned int flags, CUstream s) {
    UM_BEGIN(cuMemPrefetchAsync_v2_ptsz, p, n, loc, flags, s);
    CUresult r = UM_REAL_CALL(cuMemPrefetchAsync_v2_ptsz, p, n, loc, flags, s);
    emit_hint(UM_EV_PREFETCH, "cuMemPrefetchAsync_v2_ptsz", r, p, n, loc_device(loc), 0,
              um_map_stream(s, 1));
    UM_END(r);
}
UM_EXPORT CUresult cuMemAdvise(CUdeviceptr p, size_t n, CUmem_advise a, CUdevice dev) {
    UM_BEGIN(cuMemAdvise, p, n, a, dev);
    CUresult r = UM_REAL_CALL(cuMemAdvise, p, n, a, dev);
    emit_hint(UM_EV_ADVISE, "cuMemAdvise", r, p, n, dev, (int)a, NULL);
    UM_END(r);
}
UM_EXPORT CUresult cuMemAdvise_v2(CUdeviceptr p, size_t n, CUmem_advise a, CUmemLocation loc) {
    UM_BEGIN(cuMemAdvise_v2, p, n, a, loc);
    CUresult r = UM_REAL_CALL(cuMemAdvise_v2, p, n, a, loc);
    emit_hint(UM_EV_ADVISE, "cuMemAdvise_v2", r, p, n, loc_device(loc), (int)a, NULL);
    UM_END(r);
}

// --- queries ---
// A rewritten allocation answers as the device memory the program asked for, so code that
// branches on pointer attributes behaves as without the shim; both query forms share this.
static CUresult patch_attr(CUpointer_attribute a, void *data, int single) {
    if (data == NULL)
        return CUDA_SUCCESS;
    switch (a) {
    case CU_POINTER_ATTRIBUTE_IS_MANAGED:
        // The driver stores a boolean (bool or unsigned int in callers' code): clearing the
        // first byte reads as false in either width, and the other bytes are already 0.
        *(unsigned char *)data = 0;
        break;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE: *(unsigned int *)data = CU_MEMORYTYPE_DEVICE; break;
    case CU_POINTER_ATTRIBUTE_HOST_POINTER:
        *(void **)data = NULL;
        if (single)
            return CUDA_ERROR_INVALID_VALUE; // what device memory answers
        break;
    default: break;
    }
    return CUDA_SUCCESS;
}

UM_EXPORT CUresult cuPointerGetAttribute(void *data, CUpointer_attribute a, CUdeviceptr p) {
    UM_BEGIN(cuPointerGetAttribute, data, a, p);
    CUresult r = UM_REAL_CALL(cuPointerGetAttribute, data, a, p);
    um_rec_t rec;
    if (r == CUDA_SUCCESS && um_reg_find(p, &rec) && (rec.flags & UM_REC_REWRITTEN))
        r = patch_attr(a, data, 1);
    UM_END(r);
}

UM_EXPORT CUresult cuPointerGetAttributes(unsigned int n, CUpointer_attribute *attrs, void **data,
                                          CUdeviceptr p) {
    UM_BEGIN(cuPointerGetAttributes, n, attrs, data, p);
    CUresult r = UM_REAL_CALL(cuPointerGetAttributes, n, attrs, data, p);
    um_rec_t rec;
    if (r == CUDA_SUCCESS && attrs != NULL && data != NULL && um_reg_find(p, &rec) &&
        (rec.flags & UM_REC_REWRITTEN)) {
        for (unsigned int i = 0; i < n; i++)
            patch_attr(attrs[i], data[i], 0);
    }
    UM_END(r);
}

UM_EXPORT CUresult cuMemGetAddressRange_v2(CUdeviceptr *base, size_t *size, CUdeviceptr p) {
    UM_BEGIN(cuMemGetAddressRange_v2, base, size, p);
    UM_END(UM_REAL_CALL(cuMemGetAddressRange_v2, base, size, p));
}

static void sum_nonresident(um_rec_t *r, void *arg) {
    if ((r->flags & UM_REC_REWRITTEN) && r->res != UM_RES_DEVICE)
        *(uint64_t *)arg += r->size;
}

// Free memory as the program would see it without the rewrite: managed bytes not yet on
// the device still count as used, so sizing logic keeps working.
UM_EXPORT CUresult cuMemGetInfo_v2(size_t *fr, size_t *total) {
    UM_BEGIN(cuMemGetInfo_v2, fr, total);
    CUresult r = UM_REAL_CALL(cuMemGetInfo_v2, fr, total);
    if (r == CUDA_SUCCESS && fr != NULL && um_dec_managed_bytes() != 0) {
        uint64_t pending = 0;
        um_reg_foreach(sum_nonresident, &pending);
        *fr = *fr > pending ? *fr - (size_t)pending : 0;
    }
    UM_END(r);
}

static int mark_ipc(um_rec_t *r, void *arg) {
    int first = !(r->flags & UM_REC_IPC_WARNED);
    r->flags |= UM_REC_IPC_WARNED;
    (void)arg;
    return first;
}

UM_EXPORT CUresult cuIpcGetMemHandle(CUipcMemHandle *h, CUdeviceptr p) {
    UM_BEGIN(cuIpcGetMemHandle, h, p);
    CUresult r = UM_REAL_CALL(cuIpcGetMemHandle, h, p);
    um_rec_t rec;
    if (r != CUDA_SUCCESS && um_reg_find(p, &rec) && (rec.flags & UM_REC_REWRITTEN)) {
        // Always observed (not only when tracing): the policy marks the site IPC-exporting
        // from any cuIpc* event naming the allocation, and keeps it on device next time.
        um_event_t ev;
        um_ev_init(&ev, UM_EV_FALLBACK, "cuIpcGetMemHandle");
        ev.device = rec.device;
        ev.result = r;
        ev.alloc_id = rec.id;
        ev.ptr = p;
        ev.bytes = rec.size;
        ev.mem = rec.kind;
        ev.req_mem = rec.req_kind;
        memcpy(ev.site, rec.site, sizeof ev.site);
        um_emit(&ev);
    }
    if (r != CUDA_SUCCESS && um_reg_find(p, &rec) && (rec.flags & UM_REC_REWRITTEN) &&
        um_reg_update(rec.base, rec.id, mark_ipc, NULL) == 1)
        UM_WARN("cuIpcGetMemHandle failed (error %d): memory allocated at %s was made managed, "
                "which IPC cannot share; run with UMSHIM_KEEP_DEVICE=%s to keep that site on "
                "device memory", (int)r, rec.site[0] ? rec.site : "?", rec.site[0] ? rec.site : "?");
    UM_END(r);
}

// --- capture bookkeeping (read by um_capture_active) ---
static CUresult capture_begun(CUresult r) {
    if (r == CUDA_SUCCESS)
        __atomic_fetch_add(&um_captures, 1, __ATOMIC_ACQ_REL);
    return r;
}

static CUresult capture_ended(CUresult r) {
    // The capture is over on success and when it was invalidated; other errors (stream not
    // capturing) leave the count alone.
    if (r != CUDA_SUCCESS && r != CUDA_ERROR_STREAM_CAPTURE_INVALIDATED)
        return r;
    int cur = __atomic_load_n(&um_captures, __ATOMIC_ACQUIRE);
    while (cur > 0 && !__atomic_compare_exchange_n(&um_captures, &cur, cur - 1, 1,
                                                   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        ;
    return r;
}

// The pre-10.1 cuStreamBeginCapture (no mode argument) is not hooked: its typedef is
// internal to cudaTypedefs.h and no CUDA 11+ runtime asks for it.
UM_EXPORT CUresult cuStreamBeginCapture_v2(CUstream s, CUstreamCaptureMode mode) {
    UM_BEGIN(cuStreamBeginCapture_v2, s, mode);
    UM_END(capture_begun(UM_REAL_CALL(cuStreamBeginCapture_v2, s, mode)));
}
UM_EXPORT CUresult cuStreamBeginCapture_v2_ptsz(CUstream s, CUstreamCaptureMode mode) {
    UM_BEGIN(cuStreamBeginCapture_v2_ptsz, s, mode);
    UM_END(capture_begun(UM_REAL_CALL(cuStreamBeginCapture_v2_ptsz, s, mode)));
}
UM_EXPORT CUresult cuStreamBeginCaptureToGraph(CUstream s, CUgraph g, const CUgraphNode *deps,
                                               const CUgraphEdgeData *ed, size_t nd,
                                               CUstreamCaptureMode mode) {
    UM_BEGIN(cuStreamBeginCaptureToGraph, s, g, deps, ed, nd, mode);
    UM_END(capture_begun(UM_REAL_CALL(cuStreamBeginCaptureToGraph, s, g, deps, ed, nd, mode)));
}
UM_EXPORT CUresult cuStreamBeginCaptureToGraph_ptsz(CUstream s, CUgraph g,
                                                    const CUgraphNode *deps,
                                                    const CUgraphEdgeData *ed, size_t nd,
                                                    CUstreamCaptureMode mode) {
    UM_BEGIN(cuStreamBeginCaptureToGraph_ptsz, s, g, deps, ed, nd, mode);
    UM_END(capture_begun(
        UM_REAL_CALL(cuStreamBeginCaptureToGraph_ptsz, s, g, deps, ed, nd, mode)));
}
UM_EXPORT CUresult cuStreamEndCapture(CUstream s, CUgraph *g) {
    UM_BEGIN(cuStreamEndCapture, s, g);
    CUresult r = UM_REAL_CALL(cuStreamEndCapture, s, g);
    UM_END(capture_ended(r));
}
UM_EXPORT CUresult cuStreamEndCapture_ptsz(CUstream s, CUgraph *g) {
    UM_BEGIN(cuStreamEndCapture_ptsz, s, g);
    CUresult r = UM_REAL_CALL(cuStreamEndCapture_ptsz, s, g);
    UM_END(capture_ended(r));
}

// --- initialisation and context lifetime ---
// CUPTI counts only contexts created after it is configured, and needs an initialised
// driver: right after the first successful cuInit is the one point that satisfies both.
UM_EXPORT CUresult cuInit(unsigned int flags) {
    UM_BEGIN(cuInit, flags);
    CUresult r = UM_REAL_CALL(cuInit, flags);
    if (r == CUDA_SUCCESS)
        um_entry_after_cuinit();
    UM_END(r);
}

// Pinned staging buffers and events belong to a context: release idle ones before it goes.
static void before_ctx_teardown(void) {
    if (um_cfg.staging) {
        uint64_t t0 = um_now_ns();
        um_stage_trim();
        UM_DEBUG("context teardown: idle staging buffers freed in %.2f ms",
                 (double)(um_now_ns() - t0) / 1e6);
    }
}

typedef struct {
    int device;
    uint64_t unreserve;
} drop_arg_t;

static void mark_device_recs(um_rec_t *r, void *arg) {
    drop_arg_t *a = arg;
    if (r->device == a->device && r->kind != UM_MEM_HOST) {
        if (r->flags & UM_REC_REWRITTEN)
            a->unreserve += r->size;
        r->size = 0; // dropped below (foreach cannot remove)
        r->flags |= UM_REC_DEAD;
    }
}

static void collect_dead(um_rec_t *r, void *arg) {
    uint64_t *list = arg;
    if ((r->flags & UM_REC_DEAD) && list[0] < 4096)
        list[1 + 2 * list[0]] = r->base, list[2 + 2 * list[0]] = r->id, list[0]++;
}

// Guards forget_device's list; taken before the registry's lock (entry.c's fork handler
// takes them in that order too).
static pthread_mutex_t um_forget_lock = PTHREAD_MUTEX_INITIALIZER;

UM_FORK_MUTEX(um_mem, um_forget_lock)

// A reset frees every allocation of the device's primary context: forget them too, so the
// managed budget and later lookups stay right.
static void forget_device(int device) {
    drop_arg_t a = {device, 0};
    um_reg_foreach(mark_device_recs, &a);
    static uint64_t list[1 + 2 * 4096];
    pthread_mutex_lock(&um_forget_lock);
    do {
        list[0] = 0;
        um_reg_foreach(collect_dead, list);
        for (uint64_t i = 0; i < list[0]; i++)
            um_reg_remove(list[1 + 2 * i], list[2 + 2 * i], NULL);
    } while (list[0] == 4096);
    pthread_mutex_unlock(&um_forget_lock);
    if (a.unreserve)
        um_dec_unreserve(a.unreserve);
}

UM_EXPORT CUresult cuCtxDestroy_v2(CUcontext ctx) {
    UM_BEGIN(cuCtxDestroy_v2, ctx);
    before_ctx_teardown();
    UM_END(UM_REAL_CALL(cuCtxDestroy_v2, ctx));
}

UM_EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
    UM_BEGIN(cuDevicePrimaryCtxRelease_v2, dev);
    before_ctx_teardown();
    UM_END(UM_REAL_CALL(cuDevicePrimaryCtxRelease_v2, dev));
}

UM_EXPORT CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev) {
    UM_BEGIN(cuDevicePrimaryCtxReset_v2, dev);
    before_ctx_teardown();
    CUresult r = UM_REAL_CALL(cuDevicePrimaryCtxReset_v2, dev);
    if (r == CUDA_SUCCESS)
        forget_device((int)dev);
    UM_END(r);
}
