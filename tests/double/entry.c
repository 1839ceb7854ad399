// The driver test double's front door: expands entries.def into the exported entry points
// (each one counts the call, checks cuInit, runs its implementation and appends one line to
// the UMDOUBLE_LOG file), serves cuGetProcAddress/_v2 by (name, cudaVersion, flags) the way
// static and shared cudart query the real driver, and holds the knobs, error names and the
// in-process inspection hooks umdouble_count() / umdouble_value().
#include "tests/double/double.h"
#include "tests/double/impl.h"
#include "tests/double/umdouble.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define D_EXPORT __attribute__((visibility("default")))

pthread_mutex_t d_lock = PTHREAD_MUTEX_INITIALIZER;
d_knobs_t d_knobs;

// --- the table ---
enum {
#define UMD_FN(sym, base, ver, cls, impl, params, args) UMD_ID_##sym,
#include "tests/double/entries.def"
#undef UMD_FN
    UMD_N_FN
};

enum { D_CLS_ANY = 0, D_CLS_LEG = 1, D_CLS_PTDS = 2 };

static atomic_ulong d_counts[UMD_N_FN];
static const char *const d_names[UMD_N_FN] = {
#define UMD_FN(sym, base, ver, cls, impl, params, args) #sym,
#include "tests/double/entries.def"
#undef UMD_FN
};
static const char *const d_bases[UMD_N_FN] = {
#define UMD_FN(sym, base, ver, cls, impl, params, args) #base,
#include "tests/double/entries.def"
#undef UMD_FN
};

// --- knobs ---
static size_t d_parse_bytes(const char *s, size_t dflt) {
    if (!s || !*s) return dflt;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return dflt;
    switch (*end) {
    case 'k': case 'K': v <<= 10; break;
    case 'm': case 'M': v <<= 20; break;
    case 'g': case 'G': v <<= 30; break;
    default: break;
    }
    return (size_t)v;
}

static int d_log_fd = -1;
static pthread_once_t d_once = PTHREAD_ONCE_INIT;
static atomic_int d_init_done;

// fork(): the child gets a copy of the lock as some parent thread left it; take it around
// fork so both sides start with it free (a program that forks while other threads call the
// "driver" must not deadlock in the double). The mutex is not fair: with threads calling the
// "driver" back to back, the forking thread could wait seconds for it (under valgrind, which
// runs one thread at a time, up to 11 s per fork). So a pending fork goes first: other
// threads wait for it before they take the lock.
static atomic_int d_forking;

void d_lock_take(void) {
    while (atomic_load(&d_forking)) sched_yield();
    pthread_mutex_lock(&d_lock);
}

static void d_prefork(void) {
    atomic_fetch_add(&d_forking, 1);
    pthread_mutex_lock(&d_lock);
}
static void d_postfork_parent(void) {
    pthread_mutex_unlock(&d_lock);
    atomic_fetch_sub(&d_forking, 1);
}
static void d_postfork_child(void) {
    pthread_mutex_unlock(&d_lock);
    atomic_store(&d_forking, 0); // other threads' forks did not happen here
}

static void d_knobs_load(void) {
    pthread_atfork(d_prefork, d_postfork_parent, d_postfork_child);
    const char *s = getenv("UMDOUBLE_DEVICES");
    int n = s ? atoi(s) : 1;
    d_knobs.devices = n < 1 ? 1 : n > D_MAX_DEVICES ? D_MAX_DEVICES : n;
    s = getenv("UMDOUBLE_NO_MANAGED");
    d_knobs.no_managed = s && atoi(s) != 0;
    s = getenv("UMDOUBLE_NO_PARAMINFO");
    d_knobs.no_paraminfo = s && atoi(s) != 0;
    d_knobs.total_mem = d_parse_bytes(getenv("UMDOUBLE_TOTAL_MEM"), (size_t)16 << 30);
    d_knobs.free_mem = d_parse_bytes(getenv("UMDOUBLE_FREE_MEM"), d_knobs.total_mem - ((size_t)1 << 30));
    if (d_knobs.free_mem > d_knobs.total_mem) d_knobs.total_mem = d_knobs.free_mem;
    s = getenv("UMDOUBLE_PROC_DISTINCT");
    d_knobs.proc_distinct = s && atoi(s) != 0;
    s = getenv("UMDOUBLE_STRICT");
    d_knobs.strict = !s || atoi(s) != 0;
    const char *log = getenv("UMDOUBLE_LOG");
    if (log && *log) d_log_fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static void d_ensure_knobs(void) { pthread_once(&d_once, d_knobs_load); }
int d_initialized(void) { return atomic_load(&d_init_done); }

uint64_t d_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// --- call log ---
// One frame per call on the caller's stack; a host callback that calls back into the
// "driver" nests a second frame, so the line of the outer call stays intact.
typedef struct d_call {
    int id;
    size_t len;
    char buf[400];
    struct d_call *prev;
} d_call_t;
static __thread d_call_t *t_call;

static void d_enter(d_call_t *c, int id) {
    d_ensure_knobs();
    atomic_fetch_add(&d_counts[id], 1);
    c->id = id;
    c->len = 0;
    c->buf[0] = 0;
    c->prev = t_call;
    t_call = c;
}

void d_arg(const char *fmt, ...) {
    d_call_t *c = t_call;
    if (!c || d_log_fd < 0 || c->len >= sizeof c->buf - 2) return;
    c->buf[c->len++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->buf + c->len, sizeof c->buf - c->len, fmt, ap);
    va_end(ap);
    if (n > 0) c->len += (size_t)n;
    if (c->len >= sizeof c->buf) c->len = sizeof c->buf - 1;
}

static CUresult d_leave(d_call_t *c, CUresult rc) {
    t_call = c->prev;
    if (d_log_fd >= 0) {
        char line[512];
        int n = snprintf(line, sizeof line, "%s%s rc=%d\n", d_names[c->id], c->buf, (int)rc);
        if (n > (int)sizeof line - 1) {
            n = (int)sizeof line - 1;
            line[n - 1] = '\n';
        }
        // One write(2) per line on an O_APPEND descriptor: lines from concurrent threads and
        // processes never interleave.
        ssize_t w = write(d_log_fd, line, (size_t)n);
        (void)w;
    }
    return rc;
}

// Entry points the real driver answers before cuInit.
static int d_no_init_needed(int id) {
    return id == UMD_ID_cuInit || id == UMD_ID_cuDriverGetVersion || id == UMD_ID_cuGetProcAddress ||
           id == UMD_ID_cuGetProcAddress_v2 || id == UMD_ID_cuGetErrorName || id == UMD_ID_cuGetErrorString;
}

// --- the exported entry points ---
// One body for an entry point: record the call, run it once the driver is initialised.
#define UMD_BODY(sym, impl, args)                                                                 \
    {                                                                                              \
        d_call_t call;                                                                             \
        d_enter(&call, UMD_ID_##sym);                                                              \
        CUresult rc = CUDA_ERROR_NOT_INITIALIZED;                                                  \
        if (d_initialized() || d_no_init_needed(UMD_ID_##sym)) rc = impl args;                     \
        return d_leave(&call, rc);                                                                 \
    }
#define UMD_FN(sym, base, ver, cls, impl, params, args) D_EXPORT CUresult CUDAAPI sym params UMD_BODY(sym, impl, args)
#include "tests/double/entries.def"
#undef UMD_FN

// The same entry points again under internal names: what cuGetProcAddress hands out with
// UMDOUBLE_PROC_DISTINCT=1, so a caller cannot tell an ABI by comparing with dlsym's answer.
#define UMD_FN(sym, base, ver, cls, impl, params, args) static CUresult CUDAAPI d_twin_##sym params UMD_BODY(sym, impl, args)
#include "tests/double/entries.def"
#undef UMD_FN
#undef UMD_BODY

// --- cuInit / version ---
CUresult d_init(unsigned int flags) {
    if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
    d_ensure_knobs();
    atomic_store(&d_init_done, 1);
    d_arg("devices=%d managed=%d", d_knobs.devices, !d_knobs.no_managed);
    return CUDA_SUCCESS;
}

CUresult d_driver_version(int *v) {
    if (!v) return CUDA_ERROR_INVALID_VALUE;
    *v = D_DRIVER_VERSION;
    return CUDA_SUCCESS;
}

// --- cuGetProcAddress ---
typedef struct {
    const char *base;
    int ver;
    int cls;
    const char *sym;
    void *fn;
    void *twin;
} d_row_t;

static const d_row_t d_rows[] = {
#define UMD_FN(sym, base, ver, cls, impl, params, args)                                           \
    {#base, ver, D_CLS_##cls, #sym, (void *)sym, (void *)d_twin_##sym},
#define UMD_ALIAS(base, ver, cls, sym) {#base, ver, D_CLS_##cls, #sym, (void *)sym, (void *)d_twin_##sym},
#include "tests/double/entries.def"
#undef UMD_FN
};
#define D_NROWS (sizeof d_rows / sizeof d_rows[0])

// The driver picks, among rows with this base name, the newest ABI not newer than the
// caller's cudaVersion; per-thread flags select the _ptds/_ptsz row where one exists.
static void *d_lookup(const char *symbol, int ver, cuuint64_t flags, CUdriverProcAddressQueryResult *st) {
    int ptds = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
    if (d_knobs.no_paraminfo && strcmp(symbol, "cuFuncGetParamInfo") == 0) {
        *st = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
        return NULL;
    }
    int seen = 0, has_ptds = 0;
    for (size_t i = 0; i < D_NROWS; i++)
        if (strcmp(d_rows[i].base, symbol) == 0) {
            seen = 1;
            if (d_rows[i].cls == D_CLS_PTDS) has_ptds = 1;
        }
    if (seen) {
        const d_row_t *best = NULL;
        // Per-thread rows first when asked for; before they existed, the legacy ABI answers.
        for (int pass = ptds && has_ptds ? 0 : 1; pass < 2 && !best; pass++) {
            int want = pass == 0 ? D_CLS_PTDS : D_CLS_LEG;
            for (size_t i = 0; i < D_NROWS; i++) {
                const d_row_t *r = &d_rows[i];
                if (strcmp(r->base, symbol) != 0 || r->ver > ver) continue;
                if (r->cls != D_CLS_ANY && r->cls != want) continue;
                if (!best || r->ver > best->ver) best = r;
            }
        }
        if (!best) {
            *st = CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT;
            return NULL;
        }
        *st = CU_GET_PROC_ADDRESS_SUCCESS;
        d_arg("-> %s", best->sym);
        return d_knobs.proc_distinct ? best->twin : best->fn;
    }
    // Leniency beyond the real driver: an exact versioned symbol name resolves to itself.
    for (size_t i = 0; i < D_NROWS; i++)
        if (strcmp(d_rows[i].sym, symbol) == 0) {
            *st = CU_GET_PROC_ADDRESS_SUCCESS;
            d_arg("-> %s", d_rows[i].sym);
            return d_knobs.proc_distinct ? d_rows[i].twin : d_rows[i].fn;
        }
    *st = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    return NULL;
}

CUresult d_get_proc(const char *symbol, void **pfn, int ver, cuuint64_t flags, CUdriverProcAddressQueryResult *st) {
    if (!symbol || !pfn) return CUDA_ERROR_INVALID_VALUE;
    d_arg("symbol=%s version=%d flags=%llu", symbol, ver, (unsigned long long)flags);
    CUdriverProcAddressQueryResult local;
    void *fn = d_lookup(symbol, ver, flags, &local);
    if (st) *st = local;
    *pfn = fn;
    return fn ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

CUresult d_get_proc_v1(const char *symbol, void **pfn, int ver, cuuint64_t flags) {
    return d_get_proc(symbol, pfn, ver, flags, NULL);
}

// --- error names ---
#define D_ERRORS(X)                                                                                \
    X(CUDA_SUCCESS, "no error")                                                                    \
    X(CUDA_ERROR_INVALID_VALUE, "invalid argument")                                                \
    X(CUDA_ERROR_OUT_OF_MEMORY, "out of memory")                                                   \
    X(CUDA_ERROR_NOT_INITIALIZED, "initialization error")                                          \
    X(CUDA_ERROR_DEINITIALIZED, "driver shutting down")                                            \
    X(CUDA_ERROR_NO_DEVICE, "no CUDA-capable device is detected")                                  \
    X(CUDA_ERROR_INVALID_DEVICE, "invalid device ordinal")                                         \
    X(CUDA_ERROR_INVALID_IMAGE, "device kernel image is invalid")                                  \
    X(CUDA_ERROR_INVALID_CONTEXT, "invalid device context")                                        \
    X(CUDA_ERROR_CONTEXT_ALREADY_CURRENT, "context already current")                               \
    X(CUDA_ERROR_NOT_MAPPED, "resource not mapped")                                                \
    X(CUDA_ERROR_INVALID_HANDLE, "invalid resource handle")                                        \
    X(CUDA_ERROR_NOT_FOUND, "named symbol not found")                                              \
    X(CUDA_ERROR_NOT_READY, "device not ready")                                                    \
    X(CUDA_ERROR_ILLEGAL_ADDRESS, "an illegal memory access was encountered")                      \
    X(CUDA_ERROR_LAUNCH_FAILED, "unspecified launch failure")                                      \
    X(CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED, "peer access is already enabled")                    \
    X(CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED, "part or all of the requested memory range is already mapped") \
    X(CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED, "pointer does not correspond to a registered memory region") \
    X(CUDA_ERROR_NOT_SUPPORTED, "operation not supported")                                         \
    X(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "operation not permitted when stream is capturing")   \
    X(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "operation failed due to a previous error during capture") \
    X(CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD, "attempt to terminate a thread-local capture sequence from another thread") \
    X(CUDA_ERROR_ILLEGAL_STATE, "the operation is not permitted in the current state")             \
    X(CUDA_ERROR_UNKNOWN, "unknown error")

CUresult d_error_name(CUresult e, const char **s) {
    if (!s) return CUDA_ERROR_INVALID_VALUE;
    switch (e) {
#define X(code, text) case code: *s = #code; return CUDA_SUCCESS;
        D_ERRORS(X)
#undef X
    default: *s = NULL; return CUDA_ERROR_INVALID_VALUE;
    }
}

CUresult d_error_string(CUresult e, const char **s) {
    if (!s) return CUDA_ERROR_INVALID_VALUE;
    switch (e) {
#define X(code, text) case code: *s = text; return CUDA_SUCCESS;
        D_ERRORS(X)
#undef X
    default: *s = NULL; return CUDA_ERROR_INVALID_VALUE;
    }
}

// --- inspection hooks ---
#define D_STATS(X) X(live_allocs) X(device_bytes) X(managed_bytes) X(managed_peak) X(host_bytes) \
    X(gpu_faults) X(prefetches) X(prefetch_bytes) X(advises) X(launches) X(copies) X(copy_bytes)
static atomic_llong d_stats[] = {
#define X(k) 0,
    D_STATS(X)
#undef X
};
static const char *const d_stat_names[] = {
#define X(k) #k,
    D_STATS(X)
#undef X
};

void d_stat_add(const char *key, long long delta) {
    for (size_t i = 0; i < sizeof d_stat_names / sizeof d_stat_names[0]; i++)
        if (strcmp(d_stat_names[i], key) == 0) {
            long long now = atomic_fetch_add(&d_stats[i], delta) + delta;
            if (strcmp(key, "managed_bytes") == 0) d_stat_max("managed_peak", now);
            return;
        }
}

void d_stat_max(const char *key, long long v) {
    for (size_t i = 0; i < sizeof d_stat_names / sizeof d_stat_names[0]; i++)
        if (strcmp(d_stat_names[i], key) == 0) {
            long long cur = atomic_load(&d_stats[i]);
            while (v > cur && !atomic_compare_exchange_weak(&d_stats[i], &cur, v)) {
            }
            return;
        }
}

D_EXPORT long long umdouble_value(const char *key) {
    if (!key) return -1;
    for (size_t i = 0; i < sizeof d_stat_names / sizeof d_stat_names[0]; i++)
        if (strcmp(d_stat_names[i], key) == 0) return atomic_load(&d_stats[i]);
    return -1;
}

D_EXPORT int umdouble_count(const char *name) {
    if (!name) return -1;
    unsigned long total = 0;
    if (strcmp(name, "*") == 0) {
        for (int i = 0; i < UMD_N_FN; i++) total += atomic_load(&d_counts[i]);
        return (int)total;
    }
    for (int i = 0; i < UMD_N_FN; i++)
        if (strcmp(d_names[i], name) == 0) return (int)atomic_load(&d_counts[i]);
    // A base name counts every variant that cuGetProcAddress maps it to (_v2, _ptds, ...).
    int seen = 0;
    for (int i = 0; i < UMD_N_FN; i++)
        if (strcmp(d_bases[i], name) == 0) {
            seen = 1;
            total += atomic_load(&d_counts[i]);
        }
    return seen ? (int)total : 0;
}
