// CUPTI unified-memory counters (see cupti.h). CUPTI is dlopen'ed, never linked: most
// machines that run the shim have no reason to carry it, and a missing library must only
// turn the counters into "not available". The Activity API hands us buffers of records on
// its own thread; the totals are atomics so that thread and um_cupti_stop never need a lock.
#include "shim/cupti.h"

#include <dlfcn.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cupti.h>

// --- the CUPTI entry points we use, listed once ---
// Each row becomes a typed pointer (types taken from cupti.h) and a dlsym lookup.
#define UM_CUPTI_FUNCS(X)                                                                          \
    X(cuptiActivityConfigureUnifiedMemoryCounter)                                                  \
    X(cuptiActivityRegisterCallbacks)                                                              \
    X(cuptiActivityEnable)                                                                         \
    X(cuptiActivityDisable)                                                                        \
    X(cuptiActivityFlushAll)                                                                       \
    X(cuptiActivityGetNextRecord)                                                                  \
    X(cuptiGetResultString)

static struct {
#define UM_CUPTI_PTR(name) __typeof__(&name) name;
    UM_CUPTI_FUNCS(UM_CUPTI_PTR)
#undef UM_CUPTI_PTR
} fn;

// Where libcupti may live: the loader path first, then the toolkit's two usual folders
// (the GPU machine keeps it in /usr/local/cuda/lib64, which is not always on the path).
static const char *const lib_names[] = {
    "libcupti.so.13",
    "libcupti.so",
    "/usr/local/cuda/lib64/libcupti.so.13",
    "/usr/local/cuda/extras/CUPTI/lib64/libcupti.so.13",
};

enum { UM_CUPTI_OFF = 0, UM_CUPTI_RUNNING, UM_CUPTI_FAILED, UM_CUPTI_STOPPED };
static atomic_int state = UM_CUPTI_OFF;

static _Atomic uint64_t total_fault_groups;
static _Atomic uint64_t total_htod;
static _Atomic uint64_t total_dtoh;

// --- logging ---
// One line on stderr with the shim's prefix, formatted on the stack: this runs inside the
// preloaded library, possibly from a CUPTI thread, where malloc-heavy stdio is best avoided.
static void cupti_warn(const char *fmt, ...) {
    char line[256];
    int n = snprintf(line, sizeof line, "umshim: warning: ");
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(2, line, (size_t)n);
    (void)w;
}

static const char *result_string(CUptiResult r) {
    const char *s = NULL;
    if (fn.cuptiGetResultString == NULL || fn.cuptiGetResultString(r, &s) != CUPTI_SUCCESS || !s)
        return "unknown CUPTI error";
    return s;
}

// --- activity buffers ---
#define UM_CUPTI_BUFFER_BYTES (1u << 20)

static void CUPTIAPI buffer_requested(uint8_t **buffer, size_t *size, size_t *max_records) {
    // CUPTI requires 8-byte aligned buffers; aligned_alloc also gives us a plain free().
    *buffer = aligned_alloc(alignof(uint64_t), UM_CUPTI_BUFFER_BYTES);
    *size = *buffer ? UM_CUPTI_BUFFER_BYTES : 0;
    *max_records = 0; // as many as fit
}

static void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream, uint8_t *buffer, size_t size,
                                      size_t valid) {
    CUpti_Activity *rec = NULL;
    while (valid > 0 && fn.cuptiActivityGetNextRecord(buffer, valid, &rec) == CUPTI_SUCCESS) {
        if (rec->kind != CUPTI_ACTIVITY_KIND_UNIFIED_MEMORY_COUNTER)
            continue;
        const CUpti_ActivityUnifiedMemoryCounter3 *um = (const CUpti_ActivityUnifiedMemoryCounter3 *)rec;
        switch (um->counterKind) {
        case CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_GPU_PAGE_FAULT:
            // value = number of fault groups this record stands for
            atomic_fetch_add(&total_fault_groups, um->value);
            break;
        case CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_HTOD:
            atomic_fetch_add(&total_htod, um->value);
            break;
        case CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_DTOH:
            atomic_fetch_add(&total_dtoh, um->value);
            break;
        default:
            break;
        }
    }
    free(buffer);
}

// --- start / stop ---
static int load_cupti(void) {
    void *lib = NULL;
    for (size_t i = 0; i < sizeof lib_names / sizeof lib_names[0] && lib == NULL; i++)
        lib = dlopen(lib_names[i], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        cupti_warn("UMSHIM_CUPTI=1 but libcupti.so.13 cannot be loaded; CUPTI counters not available");
        return -1;
    }
#define UM_CUPTI_LOAD(name)                                                                        \
    fn.name = (__typeof__(fn.name))dlsym(lib, #name);                                              \
    if (fn.name == NULL) {                                                                         \
        cupti_warn("libcupti lacks %s; CUPTI counters not available", #name);                      \
        return -1;                                                                                 \
    }
    UM_CUPTI_FUNCS(UM_CUPTI_LOAD)
#undef UM_CUPTI_LOAD
    // The library stays loaded for the life of the process: CUPTI threads run its code.
    return 0;
}

int um_cupti_start(void) {
    int expected = UM_CUPTI_OFF;
    if (!atomic_compare_exchange_strong(&state, &expected, UM_CUPTI_RUNNING))
        return expected == UM_CUPTI_RUNNING ? 0 : -1;
    if (load_cupti() != 0) {
        atomic_store(&state, UM_CUPTI_FAILED);
        return -1;
    }
    CUpti_ActivityUnifiedMemoryCounterConfig cfg[3] = {
        {CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_SCOPE_PROCESS_SINGLE_DEVICE,
         CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_HTOD, 0, 1},
        {CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_SCOPE_PROCESS_SINGLE_DEVICE,
         CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_BYTES_TRANSFER_DTOH, 0, 1},
        {CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_SCOPE_PROCESS_SINGLE_DEVICE,
         CUPTI_ACTIVITY_UNIFIED_MEMORY_COUNTER_KIND_GPU_PAGE_FAULT, 0, 1},
    };
    CUptiResult r = fn.cuptiActivityConfigureUnifiedMemoryCounter(cfg, 3);
    if (r == CUPTI_SUCCESS)
        r = fn.cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed);
    if (r == CUPTI_SUCCESS)
        r = fn.cuptiActivityEnable(CUPTI_ACTIVITY_KIND_UNIFIED_MEMORY_COUNTER);
    if (r != CUPTI_SUCCESS) {
        cupti_warn("CUPTI unified-memory counters cannot be enabled (%s); not available",
                   result_string(r));
        atomic_store(&state, UM_CUPTI_FAILED);
        return -1;
    }
    return 0;
}

void um_cupti_stop(um_cupti_counters_t *out) {
    int expected = UM_CUPTI_RUNNING;
    if (atomic_compare_exchange_strong(&state, &expected, UM_CUPTI_STOPPED)) {
        // Forced flush: hands back partly filled buffers too, so nothing recorded is lost.
        fn.cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
        fn.cuptiActivityDisable(CUPTI_ACTIVITY_KIND_UNIFIED_MEMORY_COUNTER);
        expected = UM_CUPTI_STOPPED;
    }
    if (out == NULL)
        return;
    out->available = expected == UM_CUPTI_STOPPED;
    out->gpu_page_fault_groups = atomic_load(&total_fault_groups);
    out->htod_bytes = atomic_load(&total_htod);
    out->dtoh_bytes = atomic_load(&total_dtoh);
}

void um_cupti_abandon(void) {
    int expected = UM_CUPTI_RUNNING;
    if (atomic_compare_exchange_strong(&state, &expected, UM_CUPTI_FAILED))
        cupti_warn("CUPTI counters not available: the driver had shut down before they could be "
                   "flushed at exit");
}
