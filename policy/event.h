// The events umshim observes. The shim produces them, the trace file stores them (one line
// each, see trace_format.h), the policy engine learns from them, and the command line reads
// them back. Pure C: no CUDA types appear here, so policy/ and tools/ never need cuda.h.
#ifndef UMSHIM_POLICY_EVENT_H
#define UMSHIM_POLICY_EVENT_H

#include <stddef.h>
#include <stdint.h>

#define UM_SITE_MAX 128       // "module+0xoffset", see um_site_format()
#define UM_NAME_MAX 96        // kernel or API name
#define UM_LAUNCH_MAX_REFS 32 // allocations one launch event can name

typedef enum {
    UM_EV_ALLOC = 0,  // an allocation was made (any kind, rewritten or not)
    UM_EV_FREE,       // an allocation was released
    UM_EV_COPY,       // a copy (sync or async) between host/device/managed memory
    UM_EV_MEMSET,     // a memset of device or managed memory
    UM_EV_LAUNCH,     // a kernel launch, with the allocations its parameters point into
    UM_EV_SYNC,       // a synchronisation call (ctx, stream, event)
    UM_EV_PREFETCH,   // a prefetch the shim inserted
    UM_EV_ADVISE,     // an advise hint the shim applied
    UM_EV_HOST_ACCESS,// the shim read or wrote managed memory on the host (rewritten copy)
    UM_EV_FALLBACK,   // the shim fell back to the original behaviour (reason in name)
    UM_EV_GRAPH,      // a graph launch (contents not decoded)
    UM_EV_KIND_COUNT
} um_ev_kind_t;

typedef enum {
    UM_MEM_UNKNOWN = 0, // not an allocation the shim knows (plain pageable host memory)
    UM_MEM_DEVICE,      // cuMemAlloc (left as is, or kept on device by policy)
    UM_MEM_MANAGED,     // managed: the program's own cuMemAllocManaged, or a rewrite
    UM_MEM_HOST,        // pinned host memory (cuMemHostAlloc / cuMemAllocHost / registered)
    UM_MEM_POOL,        // stream-ordered (cuMemAllocAsync / FromPoolAsync)
    UM_MEM_VMM,         // cuMemCreate / cuMemMap
    UM_MEM_PITCH,       // cuMemAllocPitch
    UM_MEM_KIND_COUNT
} um_mem_kind_t;

typedef enum {
    UM_DIR_NONE = 0,
    UM_DIR_H2D,
    UM_DIR_D2H,
    UM_DIR_D2D,
    UM_DIR_H2H,
    UM_DIR_PEER,
    UM_DIR_COUNT
} um_dir_t;

// COPY d2h (added): what the shim saw of a read-back's content, from a sample of its bytes
// compared with the last content the host wrote into or read from that range. Evidence for
// the policy of whether the device writes an allocation (the shim cannot see kernel writes).
typedef enum {
    UM_CONTENT_UNKNOWN = 0, // not compared (async read-back, new range, not a rewrite)
    UM_CONTENT_SAME,        // sampled bytes equal: no device write seen since
    UM_CONTENT_CHANGED,     // sampled bytes differ: the device wrote it
    UM_CONTENT_LOST,        // read-mostly pages' host copy was gone (host read ran at
                            // fault speed): the device wrote it, even if with equal values
    UM_CONTENT_COUNT
} um_content_t;

typedef struct {
    um_ev_kind_t kind;
    uint64_t t_ns;        // CLOCK_MONOTONIC nanoseconds
    uint64_t dur_ns;      // time spent in the call (0 when not measured)
    uint32_t tid;         // OS thread id
    int device;           // device ordinal (-1 host / unknown)
    uint64_t stream;      // CUstream handle value (0 = legacy default stream)
    int async;            // 1 for *Async calls
    int result;           // CUresult returned to the caller
    // The allocation this event is about (ALLOC, FREE, MEMSET, PREFETCH, ADVISE, HOST_ACCESS)
    // or the destination (COPY). id 0 means "not a known allocation".
    uint64_t alloc_id;
    uint64_t ptr;
    uint64_t bytes;
    um_mem_kind_t mem;    // ALLOC: what the allocation became; also what the program asked (req_mem)
    um_mem_kind_t req_mem;
    // COPY only.
    um_dir_t dir;
    uint64_t src_id;      // source allocation id (0 = pageable host / unknown)
    uint64_t hash;        // FNV-1a 64 of D2H data when UMSHIM_HASH=1, else 0
    // ADVISE: the CUmem_advise value; PREFETCH: destination device (-1 host) in `device`.
    int advice;
    int content;            // COPY d2h: um_content_t (0 = not compared)
    char site[UM_SITE_MAX]; // allocation call site (ALLOC) or calling site (others)
    char name[UM_NAME_MAX]; // kernel name (LAUNCH), API name (others), reason (FALLBACK)
    uint32_t nrefs;         // LAUNCH: allocation ids referenced by the parameters
    uint64_t refs[UM_LAUNCH_MAX_REFS];
} um_event_t;

// Short lower-case names, as written in traces and reports ("launch", "managed", "h2d");
// "?" for a value out of range. Never NULL; static storage.
const char *um_ev_kind_name(um_ev_kind_t k);
const char *um_mem_kind_name(um_mem_kind_t k);
const char *um_dir_name(um_dir_t d);

// The inverses: the name is s[0..len) (need not be NUL-terminated). Return 0 and store the
// value, or -1 (out untouched) for a name that is not in the table. Case-sensitive.
int um_ev_kind_from_name(const char *s, size_t len, um_ev_kind_t *out);
int um_mem_kind_from_name(const char *s, size_t len, um_mem_kind_t *out);
int um_dir_from_name(const char *s, size_t len, um_dir_t *out);

#endif
