// Where every CUDA call enters the shim. Three paths (DESIGN.md "Interception"):
//   1. dlsym, exported at GLIBC_2.2.5 and GLIBC_2.34, answering hooked cu* names;
//   2. cuGetProcAddress / cuGetProcAddress_v2: the real driver answers first, then the
//      wrapper is swapped in only when hooks.def has exactly the ABI that was asked for;
//   3. the exported cu* wrappers themselves, for programs linked against libcuda.
// Also here: lazy thread-safe initialisation, the re-entry guard, fork and exit handling.
#include "shim/entry.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shim/cupti.h"
#include "shim/decide.h"
#include "shim/hooks.h"
#include "shim/log.h"
#include "shim/nvtx.h"
#include "shim/memory.h"
#include "shim/options.h"
#include "shim/registry.h"
#include "shim/staging.h"
#include "shim/stats.h"
#include "shim/trace.h"

um_cfg_t um_cfg;

// initial-exec: the shim is preloaded, so static TLS is available and the guard costs one
// memory access instead of a __tls_get_addr call on every intercepted call.
static __thread int um_in_shim __attribute__((tls_model("initial-exec")));

static pthread_once_t um_once = PTHREAD_ONCE_INIT;
static int um_state; // atomic: 0 not yet, 1 initialising, 2 ready, 3 failed
static void *um_libcuda;
static int um_cupti_on;
static int um_exit_pending; // atomic: the early exit handler (CUPTI, staging) awaits a context
static int um_cuda_inited; // atomic: cuInit succeeded here (or in the parent of a fork)
// Set in the child of a process that had initialised CUDA. Such a child may not use CUDA
// (the driver's rule), so its copies of the stats, the learned policy and CUPTI's state are
// the parent's, stale: the parent writes them, the child does not.
static int um_forked;

// --- real dlsym ---
// Since glibc 2.34 dlsym lives in libc at GLIBC_2.34; older programs bind GLIBC_2.2.5.
// dlvsym is not interposed by the shim, so it finds glibc's own dlsym.
typedef void *(*um_dlsym_t)(void *, const char *);
__attribute__((visibility("hidden"))) um_dlsym_t um_glibc_dlsym;

// Sanitizer runtimes call dlsym while they initialise, before their shadow memory exists:
// the dlsym path must not be instrumented (it touches only its own globals and the name).
#define UM_NO_SANITIZE __attribute__((no_sanitize("address", "undefined", "thread")))

UM_NO_SANITIZE static um_dlsym_t glibc_dlsym(void) {
    um_dlsym_t f = __atomic_load_n(&um_glibc_dlsym, __ATOMIC_ACQUIRE);
    if (f == NULL) {
        f = (um_dlsym_t)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
        if (f == NULL)
            f = (um_dlsym_t)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
        __atomic_store_n(&um_glibc_dlsym, f, __ATOMIC_RELEASE);
    }
    return f;
}

void *um_real_dlsym(void *handle, const char *name) {
    um_dlsym_t f = glibc_dlsym();
    return f ? f(handle, name) : NULL;
}

// --- dlsym hook ---
// Called by the assembly entry below with the caller's (handle, name). Returns the
// wrapper for a hooked cu* name the real lookup finds, else NULL and the entry tail-jumps
// to glibc's dlsym. No allocation, no lock, no I/O: only the lookup itself.
UM_NO_SANITIZE __attribute__((visibility("hidden"))) void *um_dlsym_hook(void *handle,
                                                                          const char *name) {
    glibc_dlsym(); // makes sure the tail jump has a target
    if (name == NULL || name[0] != 'c' || name[1] != 'u')
        return NULL;
    const um_hook_t *h = um_hook_by_sym(name);
    if (h == NULL)
        return NULL;
    void *real = um_real_dlsym(handle, name);
    if (real == NULL)
        return NULL; // not in that handle: the caller gets the driver's own answer (NULL)
    um_real_offer(h->id, real);
    return h->wrapper;
}

// The exported dlsym itself is the assembly trampoline in dlsym.c (libumshim.so only).

// --- guard and initialisation ---
int um_busy(void) {
    return um_in_shim;
}

void um_leave(void) {
    um_in_shim = 0;
}

static void um_fini(void);
static void um_atfork_prepare(void);
static void um_atfork_parent(void);
static void um_atfork_child(void);
static void um_exit_early(void);
static void arm_exit_after_context(void);

static void configure(void) {
    um_opts_load(NULL);
    um_log_set_level((int)um_opt_num(UM_OPT_LOG));
    memset(&um_cfg, 0, sizeof um_cfg);
    um_cfg.mode = (um_mode_t)um_opt_num(UM_OPT_MODE);
    um_cfg.hash = (int)um_opt_num(UM_OPT_HASH);
    const um_optval_t *st = um_opt(UM_OPT_STAGING);
    um_cfg.staging = st->unset_default ? um_cfg.mode == UM_MODE_AUTO : (int)st->num;
    if (um_opt_str(UM_OPT_TRACE)[0] != 0 && um_trace_open(um_opt_str(UM_OPT_TRACE)) == 0)
        um_cfg.trace = 1;
    int learning = um_opt_str(UM_OPT_POLICY_OUT)[0] != 0;
    // The policy answers for live allocations from what it observed: every rewriting mode
    // feeds it events, passthrough only when they are traced or learned from.
    um_cfg.events = um_cfg.trace || learning || um_cfg.mode != UM_MODE_PASSTHROUGH;
    um_cfg.fast = um_cfg.mode == UM_MODE_PASSTHROUGH && !um_cfg.events && !um_cfg.hash;
}

static void start_staging(void) {
    if (!um_cfg.staging)
        return;
    um_stage_config_t sc;
    memset(&sc, 0, sizeof sc);
    sc.mem_host_alloc = um_real.cuMemHostAlloc;
    sc.mem_free_host = um_real.cuMemFreeHost;
    sc.memcpy_htod_async = um_real.cuMemcpyHtoDAsync_v2;
    sc.memcpy_dtoh_async = um_real.cuMemcpyDtoHAsync_v2;
    sc.event_create = um_real.cuEventCreate;
    sc.event_destroy = um_real.cuEventDestroy_v2;
    sc.event_record = um_real.cuEventRecord;
    sc.event_synchronize = um_real.cuEventSynchronize;
    sc.stream_synchronize = um_real.cuStreamSynchronize;
    sc.ctx_get_current = um_real.cuCtxGetCurrent;
    sc.ctx_set_current = um_real.cuCtxSetCurrent;
    // Without it every staging buffer is retired by a blocking wait: measured slower than the
    // driver's own pageable copy at 256 MiB and 1 GiB (shim/staging.h).
    sc.event_query = um_real.cuEventQuery;
    sc.threshold = (size_t)um_opt_num(UM_OPT_STAGING_THRESHOLD);
    sc.d2h_threshold = (size_t)um_opt_num(UM_OPT_STAGING_D2H_THRESHOLD);
    sc.chunk = (size_t)um_opt_num(UM_OPT_STAGING_CHUNK);
    sc.after = (size_t)um_opt_num(UM_OPT_STAGING_AFTER);
    // Unset: the engine's default, which also leaves a quarter of the CPUs to the program.
    sc.threads = um_opt(UM_OPT_STAGING_THREADS)->set ? (int)um_opt_num(UM_OPT_STAGING_THREADS) : 0;
    if (um_stage_init(&sc) != 0) {
        UM_WARN("the staging engine is unavailable; copies use the driver");
        um_cfg.staging = 0;
    }
}

static void init_once(void) {
    um_in_shim = 1; // driver or CUPTI calls made during init go straight to the driver
    __atomic_store_n(&um_state, 1, __ATOMIC_RELEASE);
    configure();
    um_hooks_sort();
    um_reg_init();
    // Already loaded by cudart or the program's link; RTLD_NOLOAD first avoids loading a
    // second copy when the program loaded it by full path (the double in tests, too).
    um_libcuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (um_libcuda == NULL)
        um_libcuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    int filled = um_real_load(um_libcuda, um_real_dlsym);
    if (um_libcuda == NULL && filled == 0) {
        UM_WARN("libcuda.so.1 cannot be loaded; the shim stays out of the way");
        __atomic_store_n(&um_state, 3, __ATOMIC_RELEASE);
        um_in_shim = 0;
        return;
    }
    um_dec_init();
    start_staging();
    // Passthrough inserts nothing (unless the staging engine is on): no NVTX domain, so no
    // injection library is loaded under a profiler either.
    um_nvtx_init(um_opt_num(UM_OPT_NVTX) &&
                 (um_cfg.mode != UM_MODE_PASSTHROUGH || um_cfg.staging));
    // CUPTI starts after cuInit (um_entry_after_cuinit): before it, CUPTI answers NOT_READY.
    atexit(um_fini);
    pthread_atfork(um_atfork_prepare, um_atfork_parent, um_atfork_child);
    UM_INFO("active: mode=%s, %d hooks, %d real entry points",
            um_opt_num(UM_OPT_MODE) < 4
                ? (const char *[]){"passthrough", "managed", "prefetch", "auto"}[um_cfg.mode]
                : "?",
            um_hook_count(), filled);
    __atomic_store_n(&um_state, 2, __ATOMIC_RELEASE);
    um_in_shim = 0;
}

int um_init(void) {
    pthread_once(&um_once, init_once);
    return __atomic_load_n(&um_state, __ATOMIC_ACQUIRE) == 2 ? 0 : -1;
}

int um_enter(void) {
    if (um_in_shim)
        return 0;
    if (__builtin_expect(__atomic_load_n(&um_state, __ATOMIC_ACQUIRE) != 2, 0)) {
        if (__atomic_load_n(&um_state, __ATOMIC_ACQUIRE) == 3 || um_init() != 0)
            return 0;
    }
    um_in_shim = 1;
    if (__builtin_expect(__atomic_load_n(&um_exit_pending, __ATOMIC_RELAXED), 0))
        arm_exit_after_context();
    return 1;
}

void um_entry_after_cuinit(void) {
    static int once;
    __atomic_store_n(&um_cuda_inited, 1, __ATOMIC_RELEASE);
    if (__atomic_exchange_n(&once, 1, __ATOMIC_ACQ_REL))
        return;
    if (um_opt_num(UM_OPT_CUPTI))
        um_cupti_on = um_cupti_start() == 0;
    if (um_cupti_on || um_cfg.staging) {
        atexit(um_exit_early); // after libcupti's own exit-time destructors: runs before them
        __atomic_store_n(&um_exit_pending, 1, __ATOMIC_RELEASE);
    }
}

// --- exit ---
// atexit handlers run in the reverse order of their registration. um_fini is registered when
// the shim initialises: inside the runtime's first driver lookup, before static cudart
// registers its own teardown and before libcupti (dlopened after cuInit) registers its
// destructors. Run last, a CUPTI flush from um_fini met destroyed contexts and CUPTI state
// (SIGSEGV at exit with UMSHIM_CUPTI=1 on the H100, tests/gpu/threads.cu), and the staging
// engine's cuMemFreeHost calls failed (its pinned memory was left to the driver's teardown;
// the debug line at shutdown counts failed frees). So stopping CUPTI and the staging engine
// has a handler of its own, registered
// again by the first intercepted call that finds a context current: the runtime has finished
// initialising by then, so the handler runs before any teardown it registered. Whichever
// registration runs first does the work (once); um_fini writes the totals later, touching
// CUPTI no more.
static void stop_staging(void) {
    static int done;
    if (!um_cfg.staging || __atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
        return;
    struct timespec t0, t1;
    um_stage_stats_t before, after;
    um_stage_stats(&before);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    um_stage_shutdown(); // a fork child's own pool, if it started one
    clock_gettime(CLOCK_MONOTONIC, &t1);
    um_stage_stats(&after);
    UM_DEBUG("exit: staging engine shut down in %.2f ms (pinned: %.1f MiB held, %.1f MiB "
             "after; %llu frees failed; %llu copies staged, %llu left to the driver before "
             "UMSHIM_STAGING_AFTER)",
             (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
             (double)before.pinned_bytes / 1048576.0, (double)after.pinned_bytes / 1048576.0,
             (unsigned long long)(after.free_failures - before.free_failures),
             (unsigned long long)after.staged_copies, (unsigned long long)after.deferred_copies);
}

static void um_exit_early(void) {
    static int done;
    if (__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
        return;
    int was = um_in_shim;
    um_in_shim = 1;
    UM_DEBUG("exit: the shim's early exit handler runs");
    // A fork child inherits um_cupti_on and this handler, but may not use CUDA or CUPTI.
    if (um_cupti_on && !um_forked) {
        CUcontext ctx = NULL;
        // Past the driver's own teardown nothing may be flushed: the counters are then
        // reported as not available rather than as a partial count.
        if (um_real.cuCtxGetCurrent != NULL &&
            um_real.cuCtxGetCurrent(&ctx) == CUDA_ERROR_DEINITIALIZED)
            um_cupti_abandon();
        else
            um_cupti_stop(NULL);
    }
    stop_staging();
    um_in_shim = was;
}

static void arm_exit_after_context(void) {
    CUcontext ctx = NULL;
    if (um_real.cuCtxGetCurrent == NULL || um_real.cuCtxGetCurrent(&ctx) != CUDA_SUCCESS ||
        ctx == NULL)
        return; // cuInit and friends: the runtime is still initialising
    if (__atomic_exchange_n(&um_exit_pending, 0, __ATOMIC_ACQ_REL))
        atexit(um_exit_early);
}

static void um_fini(void) {
    um_in_shim = 1; // exit path: nothing below re-enters the wrappers' logic
    UM_DEBUG("exit: the shim's exit handler runs");
    // A fork child that calls exit() must not overwrite the parent's stats or policy file
    // with its stale copy, nor call CUPTI in a process where CUDA may not be used.
    if (!um_forked) {
        um_exit_early(); // nothing to do when a later-registered handler already ran
        um_cupti_counters_t cc;
        memset(&cc, 0, sizeof cc);
        if (um_cupti_on)
            um_cupti_stop(&cc); // CUPTI is stopped or abandoned by now: only reads the totals
        const char *stats = um_opt_str(UM_OPT_STATS);
        if (stats[0] != 0) {
            static const char *const names[] = {"passthrough", "managed", "prefetch", "auto"};
            struct um_cupti_counters_view v = {cc.available, cc.gpu_page_fault_groups,
                                               cc.htod_bytes, cc.dtoh_bytes};
            if (um_stat_write(stats, names[um_cfg.mode & 3], &v) != 0)
                UM_WARN("UMSHIM_STATS=%s could not be written", stats);
        }
        um_dec_fini();
    }
    stop_staging(); // also in a fork child, whose exit skips the early handler's CUPTI part
    um_trace_close();
}

// --- fork ---
// The child of fork() has one thread, the forking one. Resetting a lock in the child is not
// enough: a parent thread holding it may have been half-way through an update (a registry
// record freed and still indexed: a use-after-free in the child under ASan). So the forking
// thread takes every shim lock before fork(), when no other thread can be inside one, and
// releases them afterwards; the child's copies are then consistent and its locks are made
// anew. This cannot deadlock: no shim lock is held across a driver call or while taking
// another, except the forget list before the registry, which is the order used here.
static void um_atfork_prepare(void) {
    um_mem_atfork_prepare();
    um_reg_atfork_prepare();
    um_dec_atfork_prepare();
    um_site_atfork_prepare();
    um_trace_atfork_prepare();
    um_stage_atfork_prepare();
}

static void um_atfork_parent(void) {
    um_stage_atfork_parent();
    um_trace_atfork_parent();
    um_site_atfork_parent();
    um_dec_atfork_parent();
    um_reg_atfork_parent();
    um_mem_atfork_parent();
}

static void um_atfork_child(void) {
    um_forked = __atomic_load_n(&um_cuda_inited, __ATOMIC_ACQUIRE); // also for grandchildren
    if (um_forked) // its first hooked call must not query the driver to arm the early handler
        __atomic_store_n(&um_exit_pending, 0, __ATOMIC_RELEASE);
    um_stage_atfork_child(); // also when staging is off: its lock was taken in prepare
    um_trace_atfork_child();
    um_site_atfork_child();
    um_dec_atfork_child();
    um_reg_atfork_child();
    um_mem_atfork_child();
}

// --- cuGetProcAddress ---
// The caller gets a wrapper only for the exact ABI the driver returned. hooks.def names, per
// (name, version, flags), the row the driver should have picked; the driver's pointer then
// decides which row of that name it really is: the row whose exported symbol it equals, else
// the oldest row for which the driver gives this same pointer when asked at exactly the row's
// own `since` version and stream class (a driver without a newer ABI answers the newer version
// with the older pointer, so the oldest such row is the true one). When no row matches (a
// driver with another version table, an ABI newer than hooks.def) the caller gets the
// driver's pointer unwrapped: a call the shim does not see beats a wrapper that reads its
// arguments with the wrong signature.

// What the driver answered for each row's own (base, since, stream class), asked once.
static void *um_proc_seen[UM_ID_COUNT];
static int um_proc_asked[UM_ID_COUNT];

static void *driver_answer(const char *symbol, int version, cuuint64_t flags) {
    void *p = NULL;
    CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SUCCESS;
    CUresult r;
    if (um_real.cuGetProcAddress_v2 != NULL)
        r = um_real.cuGetProcAddress_v2(symbol, &p, version, flags, &st);
    else if (um_real.cuGetProcAddress != NULL)
        r = um_real.cuGetProcAddress(symbol, &p, version, flags);
    else
        return NULL;
    return r == CUDA_SUCCESS && st == CU_GET_PROC_ADDRESS_SUCCESS ? p : NULL;
}

// The driver's pointer for row h's own ABI (NULL when it has none). Benign race: threads
// asking at once store the same answer.
static void *row_answer(const um_hook_t *h) {
    if (__atomic_load_n(&um_proc_asked[h->id], __ATOMIC_ACQUIRE))
        return __atomic_load_n(&um_proc_seen[h->id], __ATOMIC_RELAXED);
    void *q = driver_answer(h->base, h->since,
                            h->pt ? CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM
                                  : CU_GET_PROC_ADDRESS_LEGACY_STREAM);
    __atomic_store_n(&um_proc_seen[h->id], q, __ATOMIC_RELAXED);
    __atomic_store_n(&um_proc_asked[h->id], 1, __ATOMIC_RELEASE);
    return q;
}

const um_hook_t *um_entry_proc_row(const char *symbol, void *fn, int version, uint64_t flags) {
    if (fn == NULL)
        return NULL;
    const um_hook_t *h = um_hook_for_proc(symbol, version, flags);
    if (h == NULL)
        h = um_hook_by_sym(symbol); // a versioned name asked for as such (cuCtxSynchronize_v2)
    if (h == NULL)
        return NULL; // not hooked, or an ABI older than every row: nothing to swap
    // Identity with an exported symbol of that name is proof.
    for (int i = 0; i < um_hook_count(); i++) {
        const um_hook_t *o = um_hook_at(i);
        if (strcmp(o->base, h->base) == 0 &&
            __atomic_load_n(um_real_slot(o->id), __ATOMIC_ACQUIRE) == fn)
            return o;
    }
    const um_hook_t *best = NULL;
    for (int i = 0; i < um_hook_count(); i++) {
        const um_hook_t *o = um_hook_at(i);
        if (strcmp(o->base, h->base) == 0 && (best == NULL || o->since < best->since) &&
            row_answer(o) == fn)
            best = o;
    }
    if (best == NULL)
        UM_LOG_ONCE(UM_LOG_WARNING,
                    "cuGetProcAddress(%s, %d, flags %llu) returned an ABI the shim does not wrap: "
                    "calls through it are not intercepted (further cases are not logged)",
                    symbol, version, (unsigned long long)flags);
    return best;
}

static void *swap_in(const char *symbol, void *fn, int version, cuuint64_t flags) {
    const um_hook_t *h = um_entry_proc_row(symbol, fn, version, flags);
    if (h == NULL)
        return fn;
    um_real_offer(h->id, fn);
    return h->wrapper;
}

UM_EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion,
                                       cuuint64_t flags, CUdriverProcAddressQueryResult *status) {
    if (um_real.cuGetProcAddress_v2 == NULL)
        um_init();
    CUresult r = UM_REAL_CALL(cuGetProcAddress_v2, symbol, pfn, cudaVersion, flags, status);
    if (um_busy() || r != CUDA_SUCCESS || pfn == NULL || *pfn == NULL ||
        (status != NULL && *status != CU_GET_PROC_ADDRESS_SUCCESS))
        return r;
    um_init();
    *pfn = swap_in(symbol, *pfn, cudaVersion, flags);
    return r;
}

UM_EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion,
                                    cuuint64_t flags) {
    if (um_real.cuGetProcAddress == NULL)
        um_init();
    CUresult r = UM_REAL_CALL(cuGetProcAddress, symbol, pfn, cudaVersion, flags);
    if (um_busy() || r != CUDA_SUCCESS || pfn == NULL || *pfn == NULL)
        return r;
    um_init();
    *pfn = swap_in(symbol, *pfn, cudaVersion, flags);
    return r;
}
