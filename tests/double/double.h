// Internal interface of the CUDA driver test double (libcuda.so.1 for machines without a GPU).
// The double models the driver on host memory: "device" pointers are host addresses, kernels
// are host functions that run synchronously at launch, streams execute in call order. It
// checks arguments the way the real driver does (unknown pointers, double frees, ranges past an
// allocation's end, calls made during stream capture that would invalidate it), so a shim bug
// shows up as the error code a real GPU would return. Every exported entry point is one row of
// entries.def; entry.c generates the exports, the call log and the cuGetProcAddress table.
#ifndef UMSHIM_TESTS_DOUBLE_H
#define UMSHIM_TESTS_DOUBLE_H

// The real driver is compiled with this: every versioned name (_v2, _ptds, _ptsz) and every
// legacy name gets its own prototype, so each definition here is type-checked by cuda.h.
#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define D_MAX_DEVICES 8
#define D_DRIVER_VERSION 13000
#define D_ALLOC_ALIGN 256

// --- knobs (UMDOUBLE_*), read once ---
typedef struct {
    int devices;         // UMDOUBLE_DEVICES (1..8, default 1)
    int no_managed;      // UMDOUBLE_NO_MANAGED=1
    int no_paraminfo;    // UMDOUBLE_NO_PARAMINFO=1
    size_t total_mem;    // UMDOUBLE_TOTAL_MEM (default 16 GiB)
    size_t free_mem;     // UMDOUBLE_FREE_MEM (default total - 1 GiB)
    int strict;          // UMDOUBLE_STRICT (default 1): device memory is not host-accessible
    int proc_distinct;   // UMDOUBLE_PROC_DISTINCT=1: cuGetProcAddress answers with internal
                         // entry points, not the exported symbols (as a real driver may)
} d_knobs_t;
extern d_knobs_t d_knobs;
int d_initialized(void);

// --- the one lock: every piece of driver state below is guarded by it ---
extern pthread_mutex_t d_lock;
void d_lock_take(void); // pthread_mutex_lock(&d_lock), after any fork() in progress
#define D_LOCK() d_lock_take()
#define D_UNLOCK() pthread_mutex_unlock(&d_lock)

// --- call log (entry.c): impls add key arguments to the current call's log line ---
void d_arg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// --- contexts (device.c) ---
struct CUctx_st {
    uint32_t magic;
    int device;
    int primary;
    int refcount;
    unsigned flags;
    unsigned long long id;
};
CUcontext d_current_ctx(void);
int d_ctx_valid(CUcontext c);
CUcontext d_primary_ctx(int device);
CUresult d_need_ctx(CUcontext *out); // current context or CUDA_ERROR_INVALID_CONTEXT

// --- allocations (memory.c) ---
typedef enum {
    D_MEM_DEVICE = 0,
    D_MEM_MANAGED,
    D_MEM_HOST,       // cuMemHostAlloc / cuMemAllocHost
    D_MEM_REGISTERED, // cuMemHostRegister
    D_MEM_POOL,       // cuMemAllocAsync / FromPoolAsync
    D_MEM_PITCH,
    D_MEM_VMM,        // a cuMemMap'd range
} d_kind_t;

#define D_RES_NONE (-3) // managed, never touched
#define D_RES_HOST (-1)

typedef struct {
    uintptr_t base;
    size_t size;
    d_kind_t kind;
    int device;
    unsigned flags;
    unsigned long long id;
    int resident;      // managed: D_RES_NONE, D_RES_HOST or a device ordinal
    int read_mostly;   // managed: advice state, for cuMemRangeGetAttribute
    int preferred;     // managed: preferred location (device, -1 host, -2 none)
    int last_prefetch; // managed: last prefetch location (-2 none)
    unsigned accessed_by;
    int sync_memops;
    void *owned;       // memory to free with the allocation (NULL for registered / VMM)
    size_t mapped;     // strict device memory: length of its own mapping (munmap, not free)
    CUmemoryPool pool;
} d_alloc_t;

// All return pointers into the map: valid until the lock is dropped.
d_alloc_t *d_find(uintptr_t addr);            // interior lookup
int d_range_ok(uintptr_t addr, size_t bytes); // inside one device-accessible allocation
void d_touch_device(uintptr_t addr, size_t bytes, int device); // kernel access: fault model
void d_mark_written(uintptr_t addr, size_t bytes, int device); // driver wrote it on device

// --- streams, capture and deferred work (stream.c) ---
typedef enum { D_OP_COPY, D_OP_MEMSET, D_OP_LAUNCH, D_OP_HOSTFN, D_OP_EVENT, D_OP_EMPTY } d_op_kind_t;

struct d_func;
typedef struct {
    d_op_kind_t kind;
    uintptr_t dst, src;
    size_t bytes;           // COPY: bytes; MEMSET: element count
    unsigned value;         // MEMSET
    unsigned elem;          // MEMSET: 1, 2 or 4
    int dst_dev, src_dev;   // COPY: which side is device memory (for residency)
    const struct d_func *fn;// LAUNCH
    unsigned char *params;  // LAUNCH: packed argument buffer (owned)
    size_t params_size;
    int device;             // LAUNCH/COPY: executing device
    CUhostFn host_fn;       // HOSTFN
    void *user;
    CUevent event;          // EVENT
} d_op_t;

struct CUstream_st {
    uint32_t magic;
    CUcontext ctx;
    unsigned flags;
    int priority;
    unsigned long long id;
    int capturing;          // CU_STREAM_CAPTURE_STATUS_ACTIVE while capturing
    int invalidated;
    CUstreamCaptureMode mode;
    unsigned long long capture_id;
    CUgraph graph;
    pthread_t capture_thread;
    struct CUstream_st *next;
};

// Resolves a stream argument (NULL, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD or a handle);
// `ptds` is 1 for _ptds/_ptsz entry points, where NULL means the per-thread stream.
CUresult d_stream_get(CUstream h, int ptds, struct CUstream_st **out);
// Runs `op` now, or appends it to the graph when `s` is capturing. Takes ownership of
// op->params. Call with the lock held.
CUresult d_submit(struct CUstream_st *s, d_op_t *op);
// A synchronous call the real driver forbids while a global/thread-local capture runs:
// invalidates those captures and returns CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, else SUCCESS.
CUresult d_capture_check_unsafe(void);
CUresult d_op_execute(d_op_t *op); // lock held; HOSTFN ops are run by the caller

// Strict device memory (memory.c): device, pitch and pool allocations are PROT_NONE except
// while the "GPU" (the double itself, lock held) works on them, so a host access to device
// memory -- which faults on a real GPU -- faults here too.
void d_device_open(void);
void d_device_close(void);

// --- kernels (launch.c) ---
struct d_func;
typedef CUresult (*d_kernel_fn)(const struct d_func *fn, const unsigned char *params, int device);
typedef struct d_func {
    uint32_t magic;
    const char *name;
    int nparams;
    size_t size[8];
    size_t offset[8];
    size_t total;
    d_kernel_fn run;
} d_func_t;

// --- graphs (stream.c) ---
struct CUgraph_st {
    uint32_t magic;
    d_op_t *ops;
    size_t n, cap;
};
struct CUgraphExec_st {
    uint32_t magic;
    struct CUgraph_st g;
};

#define D_MAGIC_CTX 0x43545831u
#define D_MAGIC_STREAM 0x5354524du
#define D_MAGIC_EVENT 0x45564e54u
#define D_MAGIC_MODULE 0x4d4f4455u
#define D_MAGIC_FUNC 0x46554e43u
#define D_MAGIC_GRAPH 0x47524150u
#define D_MAGIC_EXEC 0x47455845u
#define D_MAGIC_POOL 0x504f4f4cu

struct CUevent_st {
    uint32_t magic;
    unsigned flags;
    int recorded;
    uint64_t t_ns;
    struct CUevent_st *next;
};

uint64_t d_now_ns(void);
void d_stat_add(const char *key, long long delta);
void d_stat_max(const char *key, long long v);

#endif
