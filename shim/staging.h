// The transfer engine: large copies between pageable host memory and device or managed
// memory go through pinned staging buffers filled and drained by a small thread pool, with
// the driver's semantics kept (see staging.c for the rules). Independent of the hook table:
// it calls the real driver only through the function pointers it is given.
//
// Threads: every driver call that names `stream` (copies, event records, event and stream
// synchronisation) is made on the calling thread, so CU_STREAM_PER_THREAD and the legacy
// NULL stream keep meaning exactly what they meant to the caller, and the caller's current
// context is the one used. Pool threads only run host memcpy; they never call the driver.
#ifndef UMSHIM_SHIM_STAGING_H
#define UMSHIM_SHIM_STAGING_H

#include <stddef.h>
#include <stdint.h>

#include <cuda.h>

// Defaults, measured on the H100 machine (16 CPUs; tests/gpu/staging_bench_results.md:
// sweep 2026-11-25 04:04 UTC, final run 04:19 UTC). H2D at >= 256 MiB is bound by the pool's
// host copies (fills) racing the DMA for memory bandwidth, and by how fast a buffer comes
// back: 12 threads reach 69-75% of pinned where 8 reach 53-64% and 16 no more than 12; 24
// buffers beat 16 (59%), and 4 MiB chunks x 16 buffers (more pinned memory) gave 58-62%; a
// polling caller beats the sleeping first design by 6-9 points (H2D) and 2-5 (D2H). Staging
// wins from 4 MiB up for H2D (2.3-3x there) and from 8 MiB up for D2H (1.2-1.5x at 8 MiB,
// 2.0x at 16 MiB; 0.9-1.1x at 4 MiB); at 1-2 MiB it ties or loses. Pinned memory per slot:
// at most 24 x 2 MiB = 48 MiB, grown with the bytes staged (1/32 of them, 4 MiB first: see
// arena_for in staging.c, pinning costs time too); at most 4 slots (192 MiB), allocated only
// as that many copies run at once.
// D2H has its own, higher threshold: on the H200 (2026-12-03, three staging_bench runs,
// every config at its steady 48 MiB arena) staged D2H was 0.76-1.01x plain at 4 MiB and
// 0.91-1.29x at 8 MiB, 1.1-2.2x at 16 MiB: the driver's pageable D2H there (13-16 GB/s) is
// twice its pageable H2D, and a D2H pipeline cannot start its host copies before its first
// DMA has landed.
// The shim's options table uses these for UMSHIM_STAGING_THRESHOLD / _D2H_THRESHOLD / _CHUNK
// / _THREADS.
#define UM_STAGE_DEFAULT_THRESHOLD ((size_t)4 << 20)
#define UM_STAGE_DEFAULT_D2H_THRESHOLD ((size_t)16 << 20)
#define UM_STAGE_DEFAULT_CHUNK ((size_t)2 << 20)
#define UM_STAGE_DEFAULT_THREADS_MAX 12 // threads <= 0: min(12, 3/4 of the usable CPUs)
#define UM_STAGE_DEFAULT_BUFFERS 0      // 0: 2 x threads
#define UM_STAGE_DEFAULT_SLOTS 4
// Mid-size copies are cut into pieces of bytes / buffers (every pool thread gets work, and
// the first DMA or drain starts early), but not below this (per-piece driver calls).
#define UM_STAGE_DEFAULT_MIN_PIECE ((size_t)256 << 10)
// A D2H ends with its last piece drained by one thread while the DMA engine idles, so its
// last pieces taper: each is at most the bytes after it / taper, at least UM_STAGE_TAPER_MIN.
// One thread drains ~9 GB/s against the DMA's ~53 (staging_bench_results.md), so pieces that
// shrink by about a seventh each let the drains end close to the last DMA. (An H2D's first
// fill is the same kind of wait, but an async H2D that fits in the buffers returns without
// waiting for any DMA, and more, smaller pieces would take that away; H2D is not tapered.)
#define UM_STAGE_DEFAULT_TAPER 8
#define UM_STAGE_TAPER_MIN ((size_t)128 << 10)
// How pool threads copy: libc memcpy, or SSE2 non-temporal stores (x86-64; memcpy elsewhere)
// for both directions, or non-temporal only when draining into the caller's destination.
#define UM_STAGE_COPY_MEMCPY 1
#define UM_STAGE_COPY_STREAM 2
#define UM_STAGE_COPY_STREAM_D2H 3
#define UM_STAGE_DEFAULT_COPY UM_STAGE_COPY_STREAM
// How a caller with nothing to do waits for its pieces and DMAs: spin on the pieces' states
// and event_query for a while, then sleep (POLL), or sleep on a timed condition variable and
// copy any of its pieces the pool has not started (SLEEP: the first design, kept for A/B).
#define UM_STAGE_WAIT_POLL 1
#define UM_STAGE_WAIT_SLEEP 2
#define UM_STAGE_DEFAULT_WAIT UM_STAGE_WAIT_POLL

typedef struct {
    // Real driver entry points (never the shim's wrappers).
    CUresult (*mem_host_alloc)(void **pp, size_t bytes, unsigned int flags);
    CUresult (*mem_free_host)(void *p);
    CUresult (*memcpy_htod_async)(CUdeviceptr dst, const void *src, size_t n, CUstream s);
    CUresult (*memcpy_dtoh_async)(void *dst, CUdeviceptr src, size_t n, CUstream s);
    CUresult (*event_create)(CUevent *e, unsigned int flags);
    CUresult (*event_destroy)(CUevent e);
    CUresult (*event_record)(CUevent e, CUstream s);
    CUresult (*event_synchronize)(CUevent e);
    CUresult (*stream_synchronize)(CUstream s);
    CUresult (*ctx_get_current)(CUcontext *c);
    CUresult (*ctx_set_current)(CUcontext c);
    size_t threshold; // H2D copies smaller than this are not staged (um_stage_wants)
    size_t chunk;     // bytes per staging chunk (largest; mid-size copies use smaller pieces);
                      // 0: UM_STAGE_DEFAULT_CHUNK; rounded up to 64 KiB
    int threads;      // host copy threads (1..64, taken as given); 0: the default,
                      // um_stage_default_threads(), reached as the bytes staged grow (see
                      // threads_for in staging.c); < 0: -threads, reached the same way.
                      // A caller also copies its own pieces when the pool leaves them queued
    int buffers;      // staging buffers per copy in flight; <= 0: 2 x threads (2..32)
    // Added after the first draft; zero keeps the default, so older initialisers still work.
    int slots; // copies staged at once (1..16); <= 0: UM_STAGE_DEFAULT_SLOTS. More concurrent
               // callers than slots take the driver's own path instead of waiting (no deadlock)
    // Optional (NULL: not used), but pass it: with it an async H2D whose pieces all fit in
    // the buffers returns without waiting for any DMA, finished DMAs free buffers without
    // blocking, and the caller can poll. Without it every buffer is retired by a blocking
    // wait: measured 0.7-1.2x plain cudaMemcpy at 256 MiB-1 GiB instead of 2.5-5x.
    CUresult (*event_query)(CUevent e);
    int copy_mode;    // UM_STAGE_COPY_*; 0: UM_STAGE_DEFAULT_COPY
    int wait_mode;    // UM_STAGE_WAIT_*; 0: UM_STAGE_DEFAULT_WAIT
    size_t min_piece; // smallest piece of a mid-size copy; 0: UM_STAGE_DEFAULT_MIN_PIECE
    int taper;        // divisor of a D2H's tapered end (see UM_STAGE_DEFAULT_TAPER); 0: that
                      // default; < 0: no taper, every piece full size (the earlier design)
    size_t min_arena; // pinned bytes a slot starts with (then grown with traffic, see arena_for
                      // in staging.c; at most buffers x chunk); 0: 4 MiB. Benchmarks set it to
                      // compare configurations at their steady state from the first copy
    size_t d2h_threshold; // D2H copies smaller than this are not staged; 0: `threshold`
    int spin_us; // pool threads spin this long for work before they sleep; 0: 30; < 0: none
    // Copies are staged only once the copies that passed the size thresholds (um_stage_wants)
    // add up to this many bytes, the one asking included; before that um_stage_wants answers
    // 0 and the driver copies them. Using the engine has a cost of its own (its pool threads
    // and pinned buffers, and their share of the process's exit), which pays off only over
    // enough bytes; 0: stage from the first copy (the shim's UMSHIM_STAGING_AFTER).
    size_t after;
} um_stage_config_t;

// The thread count used when the configuration asks for the default: three quarters of the
// CPUs this process may run on (a quarter stays with the program), at most 12, at least 1.
int um_stage_default_threads(void);

// Configures the engine; returns 0, or -1 when a function pointer is missing (the engine is
// then disabled and um_stage_wants answers 0). Creates nothing: threads start at the first
// staged copy, and pinned memory (PORTABLE; slots x buffers x chunk at most) is allocated per
// slot at first use, small, and replaced by a larger arena as the bytes staged grow.
// Calling it again shuts the old engine down first.
int um_stage_init(const um_stage_config_t *cfg);

// Whether a copy of `bytes` (H2D when h2d, else D2H) should be staged: the engine is enabled,
// the size at or above that direction's threshold, and (with `after`) the bytes of all copies
// that got this far, this one included, add up to at least `after`. Counts the copy's bytes
// towards `after`: ask once per copy, only for a copy the caller would otherwise stage.
int um_stage_wants(size_t bytes, int h2d);

// H2D / D2H through staging buffers, ordered on `stream` (the caller passes the stream the
// original call used, already mapped for the legacy / per-thread default stream). When
// `sync` is non-zero the call returns after the copy is complete, like cuMemcpyHtoD;
// otherwise it returns once the source may be reused (H2D) / the data will have landed by
// the time the stream reaches this point (D2H), matching the driver's documented async
// behaviour for pageable memory. Returns CUDA_SUCCESS or the first driver error; on an
// error before any byte moved the caller may fall back to the driver's own copy.
// Precisely: both directions are ordered after all work queued on `stream` before the call
// and before all work queued after it. D2H always returns with the data in `dst` (the
// driver is synchronous for pageable destinations). Async H2D returns when every byte of
// `src` has been copied into pinned memory and every DMA is queued. When all slots are busy
// (more concurrent copies than slots) or the engine is shut down, the copy is handed to the
// driver unchanged (memcpy_*_async, plus stream_synchronize when `sync`), never waited for.
// Must not be called while `stream` is being captured (the shim checks that).
CUresult um_stage_htod(CUdeviceptr dst, const void *src, size_t bytes, CUstream stream, int sync);
CUresult um_stage_dtoh(void *dst, CUdeviceptr src, size_t bytes, CUstream stream, int sync);

// Stops threads and frees pinned buffers (atexit); um_stage_atfork_child resets state in a
// fork child without touching the parent's threads.
// um_stage_shutdown waits for copies in flight (up to about a second; buffers still busy after
// that are leaked, never freed under a DMA) and leaves the engine disabled until the next
// um_stage_init. um_stage_atfork_child keeps the configuration, forgets the parent's threads,
// events and pinned buffers (not freed: they belong to the parent's driver state), and lets
// the child start afresh at its next staged copy. um_stage_atfork_prepare takes the engine's
// lock before fork() and um_stage_atfork_parent releases it in the parent (the child handler
// rebuilds it); a pthread_atfork trio, safe whether or not the engine was ever configured.
void um_stage_shutdown(void);
void um_stage_atfork_prepare(void);
void um_stage_atfork_parent(void);
void um_stage_atfork_child(void);

// Frees idle pinned buffers and events but stays enabled (buffers come back at next use).
// The shim calls it before a context is destroyed or a primary context reset, because
// pinned memory and events belong to the context that made them.
void um_stage_trim(void);

// Counters since um_stage_init, for the shim's stats file. Every field is a uint64_t
// (tests/gpu/staging_bench.c takes their differences word by word).
typedef struct {
    uint64_t staged_copies; // copies that went through staging buffers
    uint64_t staged_bytes;
    uint64_t direct_copies; // handed to the driver unchanged (no free slot / shut down)
    uint64_t errors;        // staged copies that returned a driver error
    uint64_t pinned_bytes;  // pinned staging memory held now
    uint64_t free_failures; // cuMemFreeHost calls on staging memory that returned an error
    // The pool's costs since the process started (for benchmarks):
    uint64_t lock_waits;  // times the engine's lock was found held by another thread
    uint64_t pool_sleeps; // times a pool thread found no work and went to sleep
    uint64_t pool_wakes;  // sleeping pool threads woken for a queued piece
    uint64_t pool_misses; // a spinning pool thread saw a piece but another took it first
    uint64_t pieces;      // host copies (fills, drains) run, by pool threads or callers
    uint64_t piece_ns;    // their time, summed
    uint64_t queued_ns;   // their time between being queued and starting, summed
    // The copying threads' own time in staged copies, summed: queueing DMAs (a driver copy
    // and an event record each), polling events (and how many polls), queueing pieces.
    uint64_t issue_ns, polls, poll_ns, enqueue_ns;
    uint64_t deferred_copies; // copies um_stage_wants left to the driver before `after`
} um_stage_stats_t;
void um_stage_stats(um_stage_stats_t *out);

#endif
