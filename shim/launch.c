// Launch wrappers (cuLaunchKernel, cuLaunchKernelEx, cuLaunchCooperativeKernel and their
// per-thread forms), graph launches and synchronisation calls. Before a launch, every
// managed rewrite a parameter points into is prefetched to the launch's device on the
// launch's stream when the policy asks for it and it is not known to be resident there;
// a steady-state launch therefore only decodes parameters and reads the registry.
#include "shim/launch.h"

#include <stdlib.h>
#include <string.h>

#include "shim/decide.h"
#include "shim/entry.h"
#include "shim/log.h"
#include "shim/memory.h"
#include "shim/stats.h"
#include "shim/trace.h"

#define UM_LAUNCH_MAX_VALS 256 // candidate pointer words examined per launch
#define UM_LAUNCH_MAX_TOUCH 64 // distinct allocations acted on per launch
#define UM_FN_SLOTS 16384      // cached kernels (open addressing); beyond: decoded each time

// --- pure decoding ---
static int push_words(const unsigned char *p, size_t bytes, uint64_t *out, int k, int max) {
    for (size_t o = 0; o + 8 <= bytes && o < UM_SCAN_MAX_BYTES && k < max; o += 8) {
        uint64_t v;
        memcpy(&v, p + o, 8);
        if (v != 0)
            out[k++] = v;
    }
    return k;
}

int um_params_collect(const um_layout_t *lay, void **kernelParams, void **extra, uint64_t *out,
                      int max) {
    int k = 0;
    if (kernelParams != NULL) {
        if (lay == NULL || lay->n < 0)
            return -1;
        for (int i = 0; i < lay->n && k < max; i++)
            if (lay->size[i] >= 8 && kernelParams[i] != NULL)
                k = push_words(kernelParams[i], lay->size[i], out, k, max);
        return k;
    }
    if (extra == NULL)
        return 0;
    const unsigned char *buf = NULL;
    size_t len = 0;
    for (int i = 0; i < 64 && extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
        if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
            buf = extra[i + 1];
        else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE && extra[i + 1] != NULL)
            len = *(const size_t *)extra[i + 1];
    }
    if (buf == NULL)
        return 0;
    if (lay != NULL && lay->n >= 0) {
        for (int i = 0; i < lay->n && k < max; i++) {
            // Packed buffers follow the kernel's own layout (natural alignment), which is
            // what cuFuncGetParamInfo reports.
            if (lay->size[i] >= 8 && (size_t)lay->off[i] + lay->size[i] <= len) {
                size_t o0 = lay->off[i], o1 = o0 + lay->size[i];
                for (size_t o = (o0 + 7) & ~(size_t)7; o + 8 <= o1 && k < max; o += 8) {
                    uint64_t v;
                    memcpy(&v, buf + o, 8);
                    if (v != 0)
                        out[k++] = v;
                }
            }
        }
        return k;
    }
    return push_words(buf, len, out, k, max);
}

// --- layout cache ---
typedef struct {
    void *key;
    const um_layout_t *lay;
} um_fn_slot_t;

static um_fn_slot_t um_fn_slots[UM_FN_SLOTS];

typedef CUresult (*param_info_fn)(void *f, size_t i, size_t *off, size_t *size);

// Number of parameters through `fn` (filling off/size), or -1 when it cannot tell.
static int count_params(param_info_fn fn, void *f, uint32_t *off, uint32_t *size, CUresult *err) {
    if (fn == NULL)
        return -1;
    for (int i = 0; i <= UM_LAYOUT_MAX_PARAMS; i++) {
        size_t o = 0, s = 0;
        CUresult r = fn(f, (size_t)i, &o, &s);
        if (r == CUDA_ERROR_INVALID_VALUE && i > 0)
            return i; // past the last parameter
        if (r == CUDA_ERROR_INVALID_VALUE && i == 0) {
            *err = r; // no parameters, or not this kind of handle: the caller decides
            return 0;
        }
        if (r != CUDA_SUCCESS || i == UM_LAYOUT_MAX_PARAMS) {
            *err = r;
            return -1;
        }
        off[i] = (uint32_t)o;
        size[i] = (uint32_t)s;
    }
    return -1;
}

// A layout with room for the most parameters a layout records.
typedef struct {
    um_layout_t lay;
    uint32_t words[2 * UM_LAYOUT_MAX_PARAMS];
} um_layout_buf_t;

// Queries f's layout into *b (off and size point into b->words).
static void query(void *f, um_layout_buf_t *b) {
    uint32_t *off = b->words, *size = b->words + UM_LAYOUT_MAX_PARAMS;
    CUresult e1 = CUDA_SUCCESS, e2 = CUDA_SUCCESS;
    int n = count_params((param_info_fn)um_real.cuFuncGetParamInfo, f, off, size, &e1);
    int kernel = 0;
    if (n <= 0) {
        // CUDA 12+ runtimes launch CUkernel handles (cuLibraryGetKernel) cast to CUfunction;
        // the function query rejects those, the kernel query answers for them.
        int k = count_params((param_info_fn)um_real.cuKernelGetParamInfo, f, off, size, &e2);
        if (k > 0 || (n < 0 && k == 0)) {
            n = k;
            kernel = 1;
        }
    }
    memset(&b->lay, 0, sizeof b->lay);
    b->lay.n = n;
    b->lay.off = off;
    b->lay.size = size;
    const char *name = NULL;
    CUresult rn = CUDA_ERROR_NOT_FOUND;
    if (!kernel && um_real.cuFuncGetName != NULL)
        rn = um_real.cuFuncGetName(&name, (CUfunction)f);
    if ((kernel || rn != CUDA_SUCCESS) && um_real.cuKernelGetName != NULL)
        rn = um_real.cuKernelGetName(&name, (CUkernel)f);
    if (rn == CUDA_SUCCESS && name != NULL)
        um_strcpy(b->lay.name, sizeof b->lay.name, name);
    if (n < 0)
        UM_LOG_ONCE(UM_LOG_INFO, "kernel parameter layouts are unavailable (cuFuncGetParamInfo "
                    "error %d, cuKernelGetParamInfo error %d): launches prefetch every "
                    "non-resident managed rewrite instead of only those they reference",
                    (int)e1, (int)e2);
}

// A heap copy of b's layout with arrays of its size, kept by the cache for good.
static um_layout_t *keep(const um_layout_buf_t *b) {
    int n = b->lay.n > 0 ? b->lay.n : 0;
    um_layout_t *lay = calloc(1, sizeof *lay + (size_t)n * 2 * sizeof(uint32_t));
    if (lay == NULL)
        return NULL;
    *lay = b->lay;
    lay->off = (uint32_t *)(lay + 1);
    lay->size = lay->off + n;
    if (n > 0) {
        memcpy(lay->off, b->lay.off, (size_t)n * sizeof(uint32_t));
        memcpy(lay->size, b->lay.size, (size_t)n * sizeof(uint32_t));
    }
    return lay;
}

const um_layout_t *um_layout_get(void *f) {
    // The query's scratch and, when the table cannot keep f, the answer itself (valid until
    // this thread's next call): a fixed per-thread buffer, so nothing is allocated that a
    // thread could take with it when it exits.
    static __thread um_layout_buf_t buf;
    size_t h = ((uintptr_t)f >> 4) * 0x9E3779B97F4A7C15ull;
    for (size_t probe = 0; probe < 32; probe++) {
        um_fn_slot_t *s = &um_fn_slots[(h + probe) % UM_FN_SLOTS];
        void *key = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
        if (key == f) {
            const um_layout_t *lay = __atomic_load_n(&s->lay, __ATOMIC_ACQUIRE);
            if (lay != NULL)
                return lay;
            break; // being filled by another thread: decode without caching
        }
        if (key == NULL) {
            if (!__atomic_compare_exchange_n(&s->key, &key, f, 0, __ATOMIC_ACQ_REL,
                                             __ATOMIC_ACQUIRE)) {
                if (key == f)
                    break;
                continue;
            }
            query(f, &buf);
            um_layout_t *lay = keep(&buf);
            if (lay == NULL)
                return &buf.lay; // no memory: this call only (the slot stays unfilled)
            __atomic_store_n(&s->lay, lay, __ATOMIC_RELEASE);
            return lay;
        }
    }
    // Table region full, or another thread is filling f's slot: a fresh query each time.
    query(f, &buf);
    return &buf.lay;
}

// --- launch ---
typedef struct {
    um_ref_t refs[UM_LAUNCH_MAX_TOUCH];
    int n;
} touch_t;

static void add_ref(touch_t *t, const um_rec_t *r) {
    for (int i = 0; i < t->n; i++)
        if (t->refs[i].id == r->id)
            return;
    if (t->n < UM_LAUNCH_MAX_TOUCH)
        um_ref_from_rec(&t->refs[t->n++], r);
}

typedef struct {
    touch_t *t;
    int device;
    int same_device; // only allocations made on `device` (graph launches)
} all_arg_t;

// Every prefetch-on-launch rewrite not known to be resident on a->device: what a launch
// whose parameters cannot be decoded (or a graph launch) may use.
static void collect_nonresident(um_rec_t *r, void *arg) {
    all_arg_t *a = arg;
    if ((r->flags & UM_REC_REWRITTEN) && r->decision.prefetch == UM_PF_ON_LAUNCH &&
        (!a->same_device || r->device == a->device) &&
        !(r->res == UM_RES_DEVICE && r->res_device == a->device) && a->t->n < UM_LAUNCH_MAX_TOUCH)
        um_ref_from_rec(&a->t->refs[a->t->n++], r);
}

typedef struct {
    um_decision_t d;
} live_arg_t;

static int apply_live(um_rec_t *r, void *arg) {
    live_arg_t *a = arg;
    if (a->d.rule == UM_RULE_UNKNOWN) {
        // The policy never saw this allocation (no events reached it): keep its decision.
        a->d = r->decision;
        r->flags |= UM_REC_LIVE_ONCE | UM_REC_LIVE_DECIDED;
        return 0;
    }
    // New bits are applied, bits the evidence took away are unset (an "input" read back
    // becomes "inout": ReadMostly on data the GPU writes costs a fault per written page).
    unsigned before = r->decision.advise;
    unsigned fresh = a->d.advise & ~before, gone = before & ~a->d.advise;
    r->decision = a->d;
    if (gone & UM_ADV_READ_MOSTLY)
        r->flags &= ~(unsigned)UM_REC_HOST_COPY; // unset, the pages have one home again
    r->flags |= (r->flags & UM_REC_LIVE_ONCE) ? UM_REC_LIVE_DECIDED : UM_REC_LIVE_ONCE;
    return (int)(fresh | (gone << 8));
}

// Asks the policy again at an allocation's first and second launch (by the second its own
// history can earn hints such as read_mostly), and again after it was read back on the host
// (memory.c clears the flags), and applies the change in advise.
static void live_decision(um_ref_t *ref, int device) {
    live_arg_t a;
    if (um_dec_live(ref->id, &a.d) != 0)
        return;
    int bits = um_reg_update(ref->base, ref->id, apply_live, &a);
    if (bits < 0)
        return; // freed meanwhile
    ref->prefetch = a.d.prefetch;
    if (device < 0)
        return;
    if (bits & 0xff)
        um_mem_advise(ref->base, ref->size, (unsigned)bits & 0xff, device, ref->id);
    if (bits >> 8)
        um_mem_unadvise(ref->base, ref->size, (unsigned)bits >> 8, device, ref->id);
}

typedef CUresult (*launch_fn)(const void *args);

static CUresult do_launch(const char *api, void *f, CUstream hstream, int pt, void **params,
                          void **extra, launch_fn call, const void *args) {
    if (um_cfg.fast) {
        um_stat_add(UM_ST_launches, 1);
        return call(args);
    }
    uint64_t t0 = um_now_ns();
    const um_layout_t *lay = um_layout_get(f);
    uint64_t vals[UM_LAUNCH_MAX_VALS];
    int nv = um_params_collect(lay, params, extra, vals, UM_LAUNCH_MAX_VALS);
    touch_t t;
    t.n = 0;
    for (int i = 0; i < nv; i++) {
        um_rec_t r;
        if (um_reg_find(vals[i], &r))
            add_ref(&t, &r);
    }
    int dev = um_cur_device();
    CUstream stream = um_map_stream(hstream, pt);
    int refs_known = t.n; // allocations the parameters name (for the event)
    if ((um_cfg.mode == UM_MODE_PREFETCH || um_cfg.mode == UM_MODE_AUTO) && dev >= 0 &&
        !um_capture_active()) {
        if (nv < 0) {
            all_arg_t a = {&t, dev, 0};
            um_reg_foreach(collect_nonresident, &a);
        }
        for (int i = 0; i < t.n; i++) {
            um_ref_t *ref = &t.refs[i];
            if (!(ref->flags & UM_REC_REWRITTEN))
                continue;
            if (!(ref->flags & UM_REC_LIVE_DECIDED))
                live_decision(ref, dev);
            if (ref->prefetch == UM_PF_ON_LAUNCH)
                um_mem_prefetch(ref, dev, stream, "launch");
        }
    }
    CUresult r = call(args);
    if (r == CUDA_SUCCESS)
        um_stat_add(UM_ST_launches, 1);
    if (um_cfg.events) {
        um_event_t ev;
        um_ev_init(&ev, UM_EV_LAUNCH, lay->name[0] ? lay->name : api);
        ev.dur_ns = ev.t_ns - t0;
        ev.device = dev;
        ev.stream = (uint64_t)(uintptr_t)stream;
        ev.async = 1;
        ev.result = r;
        for (int i = 0; i < refs_known && ev.nrefs < UM_LAUNCH_MAX_REFS; i++)
            ev.refs[ev.nrefs++] = t.refs[i].id;
        if (um_cfg.trace)
            um_site_capture(ev.site, sizeof ev.site);
        um_emit(&ev);
    }
    return r;
}

// Argument packs, so one do_launch serves every launch ABI.
typedef struct {
    CUresult (*fn)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                   unsigned, CUstream, void **, void **);
    CUfunction f;
    unsigned gx, gy, gz, bx, by, bz, shmem;
    CUstream s;
    void **params, **extra;
} lk_args_t;

static CUresult call_lk(const void *p) {
    const lk_args_t *a = p;
    if (a->fn == NULL)
        return CUDA_ERROR_NOT_INITIALIZED;
    return a->fn(a->f, a->gx, a->gy, a->gz, a->bx, a->by, a->bz, a->shmem, a->s, a->params,
                 a->extra);
}

UM_EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                  unsigned int bx, unsigned int by, unsigned int bz,
                                  unsigned int shmem, CUstream s, void **params, void **extra) {
    UM_BEGIN(cuLaunchKernel, f, gx, gy, gz, bx, by, bz, shmem, s, params, extra);
    lk_args_t a = {um_real.cuLaunchKernel, f, gx, gy, gz, bx, by, bz, shmem, s, params, extra};
    UM_END(do_launch("cuLaunchKernel", f, s, 0, params, extra, call_lk, &a));
}

UM_EXPORT CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy,
                                       unsigned int gz, unsigned int bx, unsigned int by,
                                       unsigned int bz, unsigned int shmem, CUstream s,
                                       void **params, void **extra) {
    UM_BEGIN(cuLaunchKernel_ptsz, f, gx, gy, gz, bx, by, bz, shmem, s, params, extra);
    lk_args_t a = {um_real.cuLaunchKernel_ptsz, f, gx, gy, gz, bx, by, bz, shmem, s, params, extra};
    UM_END(do_launch("cuLaunchKernel_ptsz", f, s, 1, params, extra, call_lk, &a));
}

typedef struct {
    CUresult (*fn)(const CUlaunchConfig *, CUfunction, void **, void **);
    const CUlaunchConfig *cfg;
    CUfunction f;
    void **params, **extra;
} lkx_args_t;

static CUresult call_lkx(const void *p) {
    const lkx_args_t *a = p;
    return a->fn ? a->fn(a->cfg, a->f, a->params, a->extra) : CUDA_ERROR_NOT_INITIALIZED;
}

UM_EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig *cfg, CUfunction f, void **params,
                                    void **extra) {
    UM_BEGIN(cuLaunchKernelEx, cfg, f, params, extra);
    lkx_args_t a = {um_real.cuLaunchKernelEx, cfg, f, params, extra};
    UM_END(do_launch("cuLaunchKernelEx", f, cfg ? cfg->hStream : NULL, 0, params, extra,
                     call_lkx, &a));
}

UM_EXPORT CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *cfg, CUfunction f, void **params,
                                         void **extra) {
    UM_BEGIN(cuLaunchKernelEx_ptsz, cfg, f, params, extra);
    lkx_args_t a = {um_real.cuLaunchKernelEx_ptsz, cfg, f, params, extra};
    UM_END(do_launch("cuLaunchKernelEx_ptsz", f, cfg ? cfg->hStream : NULL, 1, params, extra,
                     call_lkx, &a));
}

typedef struct {
    CUresult (*fn)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                   unsigned, CUstream, void **);
    CUfunction f;
    unsigned gx, gy, gz, bx, by, bz, shmem;
    CUstream s;
    void **params;
} lc_args_t;

static CUresult call_lc(const void *p) {
    const lc_args_t *a = p;
    if (a->fn == NULL)
        return CUDA_ERROR_NOT_INITIALIZED;
    return a->fn(a->f, a->gx, a->gy, a->gz, a->bx, a->by, a->bz, a->shmem, a->s, a->params);
}

UM_EXPORT CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gx, unsigned int gy,
                                             unsigned int gz, unsigned int bx, unsigned int by,
                                             unsigned int bz, unsigned int shmem, CUstream s,
                                             void **params) {
    UM_BEGIN(cuLaunchCooperativeKernel, f, gx, gy, gz, bx, by, bz, shmem, s, params);
    lc_args_t a = {um_real.cuLaunchCooperativeKernel, f, gx, gy, gz, bx, by, bz, shmem, s, params};
    UM_END(do_launch("cuLaunchCooperativeKernel", f, s, 0, params, NULL, call_lc, &a));
}

UM_EXPORT CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy,
                                                  unsigned int gz, unsigned int bx,
                                                  unsigned int by, unsigned int bz,
                                                  unsigned int shmem, CUstream s, void **params) {
    UM_BEGIN(cuLaunchCooperativeKernel_ptsz, f, gx, gy, gz, bx, by, bz, shmem, s, params);
    lc_args_t a = {um_real.cuLaunchCooperativeKernel_ptsz, f, gx, gy, gz, bx, by, bz, shmem, s,
                   params};
    UM_END(do_launch("cuLaunchCooperativeKernel_ptsz", f, s, 1, params, NULL, call_lc, &a));
}

// --- graphs: launched as is (their kernels are not decoded) ---
// A graph's kernels are not decoded, so any allocation may be one they use: before the
// launch, every rewritten allocation of the device that is not known to be resident there
// is prefetched on the graph's stream, as a launch with unknown parameters does. Residency
// makes this free in steady state (nothing is moved twice unless the host wrote it since).
static void graph_prefetch(CUstream s) {
    if (um_cfg.fast || (um_cfg.mode != UM_MODE_PREFETCH && um_cfg.mode != UM_MODE_AUTO) ||
        um_capture_active())
        return;
    int dev = um_cur_device();
    if (dev < 0)
        return;
    touch_t t;
    t.n = 0;
    all_arg_t a = {&t, dev, 1};
    um_reg_foreach(collect_nonresident, &a);
    for (int i = 0; i < t.n; i++)
        um_mem_prefetch(&t.refs[i], dev, s, "graph");
}

static CUresult graph_done(const char *api, CUresult r, CUstream s) {
    if (um_cfg.events) {
        um_event_t ev;
        um_ev_init(&ev, UM_EV_GRAPH, api);
        ev.device = um_cur_device();
        ev.stream = (uint64_t)(uintptr_t)s;
        ev.async = 1;
        ev.result = r;
        um_emit(&ev);
    }
    return r;
}

UM_EXPORT CUresult cuGraphLaunch(CUgraphExec g, CUstream s) {
    UM_BEGIN(cuGraphLaunch, g, s);
    graph_prefetch(s);
    UM_END(graph_done("cuGraphLaunch", UM_REAL_CALL(cuGraphLaunch, g, s), s));
}

UM_EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec g, CUstream s) {
    UM_BEGIN(cuGraphLaunch_ptsz, g, s);
    graph_prefetch(um_map_stream(s, 1));
    UM_END(graph_done("cuGraphLaunch_ptsz", UM_REAL_CALL(cuGraphLaunch_ptsz, g, s),
                      um_map_stream(s, 1)));
}

// --- synchronisation: observed ---
static CUresult sync_done(const char *api, CUresult r, CUstream s, uint64_t t0) {
    if (um_cfg.events) {
        um_event_t ev;
        um_ev_init(&ev, UM_EV_SYNC, api);
        ev.dur_ns = ev.t_ns - t0;
        ev.device = um_cur_device();
        ev.stream = (uint64_t)(uintptr_t)s;
        ev.result = r;
        um_emit(&ev);
    }
    return r;
}

UM_EXPORT CUresult cuCtxSynchronize(void) {
    if (!um_enter())
        return UM_REAL_CALL(cuCtxSynchronize);
    uint64_t t0 = um_now_ns();
    UM_END(sync_done("cuCtxSynchronize", UM_REAL_CALL(cuCtxSynchronize), NULL, t0));
}

UM_EXPORT CUresult cuCtxSynchronize_v2(CUcontext ctx) {
    UM_BEGIN(cuCtxSynchronize_v2, ctx);
    uint64_t t0 = um_now_ns();
    UM_END(sync_done("cuCtxSynchronize_v2", UM_REAL_CALL(cuCtxSynchronize_v2, ctx), NULL, t0));
}

UM_EXPORT CUresult cuStreamSynchronize(CUstream s) {
    UM_BEGIN(cuStreamSynchronize, s);
    uint64_t t0 = um_now_ns();
    UM_END(sync_done("cuStreamSynchronize", UM_REAL_CALL(cuStreamSynchronize, s), s, t0));
}

UM_EXPORT CUresult cuStreamSynchronize_ptsz(CUstream s) {
    UM_BEGIN(cuStreamSynchronize_ptsz, s);
    uint64_t t0 = um_now_ns();
    UM_END(sync_done("cuStreamSynchronize_ptsz", UM_REAL_CALL(cuStreamSynchronize_ptsz, s),
                     um_map_stream(s, 1), t0));
}

UM_EXPORT CUresult cuEventSynchronize(CUevent e) {
    UM_BEGIN(cuEventSynchronize, e);
    uint64_t t0 = um_now_ns();
    UM_END(sync_done("cuEventSynchronize", UM_REAL_CALL(cuEventSynchronize, e), NULL, t0));
}
