// The transfer engine (see staging.h): large copies between pageable host memory and device
// or managed memory move through pinned staging buffers, so the DMA engine always reads or
// writes pinned memory (~55 GB/s on the H100 machine) while a pool of threads does the
// pageable side in parallel (one thread copies ~11 GB/s; the driver's own pageable path
// manages 7-15 GB/s in total). Host copies use non-temporal stores by default: measured,
// they made 16-64 MiB H2D 1.2-1.6x faster than memcpy fills, within 10% at 256 MiB-1 GiB
// (staging_bench_results.md).
//
// The rules that keep the driver's semantics:
// - Every driver call that names the stream, and every event wait, is made on the calling
//   thread. Pool threads only copy host memory. So CU_STREAM_PER_THREAD, the legacy NULL
//   stream and the caller's current context mean exactly what they meant to the caller, and
//   the copy's DMAs are ordered on the caller's stream after everything queued before the
//   call, and before everything queued after it.
// - H2D: the pool fills free buffers with pieces of the source; the caller queues the DMA of
//   each filled buffer (in any order: each piece has its own destination range) and records
//   the buffer's event after it. A buffer is refilled only once its event has completed.
//   Async H2D returns once every piece is in pinned memory and queued (the source may be
//   reused: the driver documents the same for pageable sources); its last DMAs may still be
//   running, so the slot keeps those events queued and the next copy on the slot retires
//   them before touching a buffer. Sync H2D waits for every DMA.
// - D2H: the caller queues DMAs into free buffers; as their events complete the pool drains
//   them into the destination. A call returns only when every byte has landed (the driver
//   is synchronous for pageable destinations, async or not).
// - Concurrency: a copy owns one "slot" (its buffers, events and tasks) for its duration.
//   There are at most `slots` slots, so pinned memory is bounded by slots x buffers x chunk.
//   A caller finding no free slot does not wait for one: it hands the copy to the driver
//   unchanged. A caller runs a piece of its own itself when no pool thread has started it
//   for UM_STAGE_HELP_NS, or when the pool has no threads. Hence no caller ever waits on
//   another caller, and copies progress even when every pool thread is busy or the pool
//   could not be started.
// - Waiting: a caller with nothing to do spins on its pieces' states and event_query (its
//   own thread is blocked in the copy anyway) before it sleeps; a buffer comes back within
//   microseconds of its DMA instead of after a wake-up, which measured 6-9 points of pinned
//   bandwidth for H2D at >= 256 MiB (staging_bench_results.md).
// - Errors: the first driver error stops the copy; the call waits for its own host copies
//   to finish (they touch the caller's memory and our buffers) and returns that error. If an
//   event could not be recorded after a queued DMA, the stream is synchronised before the
//   buffers are reused.
// - Driver calls are never made under the engine's lock.
#include "shim/staging.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#define UM_STAGE_MAX_THREADS 64
#define UM_STAGE_MAX_BUFFERS 32
#define UM_STAGE_MAX_SLOTS 16
#define UM_STAGE_MIN_CHUNK ((size_t)64 << 10)
#define UM_STAGE_SHUTDOWN_WAIT_NS 1000000000L
#define UM_STAGE_SPIN_NS 30000    // pool threads spin this long for more work before sleeping
                                  // (the default of um_stage_config_t.spin_us)
#define UM_STAGE_POLL_NS 50000    // a sleeping caller with DMAs in flight wakes this often
#define UM_STAGE_SLEEP_NS 5000000 // otherwise it sleeps until a piece finishes (or this)
// A polling caller (UM_STAGE_WAIT_POLL) spins this long for a piece or DMA to finish before
// it sleeps; pieces and DMAs finish every few tens of microseconds in a running copy.
#define UM_STAGE_CALLER_SPIN_NS 200000
// A polling caller runs a piece itself only when no pool thread took it for this long (the
// pool is busy with other copies, or gone): while it copies, nobody queues its DMAs.
#define UM_STAGE_HELP_NS 1000000

// --- state ---

enum { TASK_IDLE, TASK_QUEUED, TASK_RUNNING, TASK_DONE };

typedef struct um_stage_slot um_stage_slot_t;

// One memcpy, host side: fill a buffer (H2D) or drain one (D2H). Lives in its slot.
typedef struct um_stage_task {
    struct um_stage_task *next, *prev; // the pool's queue, under g.mu
    um_stage_slot_t *slot;
    void *dst;
    const void *src;
    size_t len;
    int stream; // non-temporal stores (copy_stream) rather than memcpy
    atomic_int state;
    int64_t queued_at; // now_ns() when queued (under g.mu)
} um_stage_task_t;

struct um_stage_slot {
    int busy;             // owned by a copy (under g.mu)
    char *pinned;         // `arena` bytes, CU_MEMHOSTALLOC_PORTABLE: nbuf buffers of `stride`
    CUcontext pinned_ctx; // current when the buffers were allocated
    size_t arena, stride;
    int nbuf;
    CUcontext ev_ctx; // events belong to the context that created them
    int nev;
    CUevent ev[UM_STAGE_MAX_BUFFERS];
    // Buffers with a DMA queued and its event recorded, oldest first. One copy uses one
    // stream, so its DMAs complete in this order. Entries outlive the copy that made them
    // (an async H2D returns before its last DMAs ran); the next copy retires them first.
    int fifo[UM_STAGE_MAX_BUFFERS];
    int fifo_head, fifo_len;
    unsigned char in_fifo[UM_STAGE_MAX_BUFFERS];
    um_stage_task_t task[UM_STAGE_MAX_BUFFERS];
    pthread_cond_t cond;        // a task of this slot finished (signalled only to waiters)
    atomic_uint done_count;     // tasks of this slot finished so far
    atomic_int waiters;         // callers asleep on `cond` (or about to be)
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t work; // the queue became non-empty, or stop
    pthread_cond_t idle; // a slot was released (shutdown waits for in-flight copies)
    int conds_ready;
    um_stage_config_t cfg;
    int configured;
    atomic_int enabled;
    atomic_size_t threshold, d2h_threshold, after;
    atomic_uint_fast64_t eligible_bytes, deferred_copies; // towards `after`, and left before it
    int stop;
    int nthreads, nsleeping;
    int grow_threads; // the pool's size was left to the engine: it grows with traffic
    pthread_t thread[UM_STAGE_MAX_THREADS];
    um_stage_task_t queue; // sentinel of a circular list
    // Tasks queued and not yet claimed by a spinning pool thread (see claim_task), and the
    // pool threads spinning for work now.
    atomic_int navail, nspinning;
    int nbusy;
    um_stage_slot_t slot[UM_STAGE_MAX_SLOTS];
    atomic_uint_fast64_t staged_copies, staged_bytes, direct_copies, errors;
    atomic_uint_fast64_t pinned_bytes, free_failures; // held now; cuMemFreeHost errors
    // The pool's own costs, under g.mu (see um_stage_stats_t).
    uint64_t lock_waits, pool_sleeps, pool_wakes, pool_misses;
    atomic_uint_fast64_t pieces, piece_ns, queued_ns;
    atomic_uint_fast64_t issue_ns, polls, poll_ns, enqueue_ns; // the callers' (see caller_clock)
    _Atomic int64_t spin_ns; // cfg.spin_us in ns (pool threads read it without the lock)
} g = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .work = PTHREAD_COND_INITIALIZER,
    .idle = PTHREAD_COND_INITIALIZER,
};

// Slot and idle conditions use the monotonic clock (timed waits), so they are made at run
// time, once, under g.mu (see lock_engine).
static void init_conds(void) {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&g.idle, &attr);
    for (int i = 0; i < UM_STAGE_MAX_SLOTS; i++) {
        pthread_cond_init(&g.slot[i].cond, &attr);
        for (int b = 0; b < UM_STAGE_MAX_BUFFERS; b++)
            g.slot[i].task[b].slot = &g.slot[i];
    }
    pthread_condattr_destroy(&attr);
    g.queue.next = g.queue.prev = &g.queue;
    g.conds_ready = 1;
}

// Takes g.mu, counting the times another thread held it.
static void lock_mu(void) {
    if (pthread_mutex_trylock(&g.mu) != 0) {
        pthread_mutex_lock(&g.mu);
        g.lock_waits++;
    }
}

static void lock_engine(void) {
    lock_mu();
    if (!g.conds_ready)
        init_conds();
}

static void keep_first(CUresult *err, CUresult r) {
    if (*err == CUDA_SUCCESS)
        *err = r;
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

// The copying thread's own time in a staged copy, by kind, for um_stage_stats: queueing DMAs
// (a driver copy and an event record each), polling events, and queueing host pieces
// (including any wake-up of a pool thread). Summed per copy here, added to g's at its end.
static __thread struct {
    int64_t issue_ns, poll_ns, enqueue_ns;
    uint64_t polls;
} caller_clock;

static struct timespec deadline_after(int64_t ns) {
    int64_t at = now_ns() + ns;
    struct timespec t = {(time_t)(at / 1000000000), (long)(at % 1000000000)};
    return t;
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// --- host copies ---

// Non-temporal copy: the destination's lines are written without being read first, which
// saves a third of the memory traffic of a large memcpy whose target is not in the cache
// (the pinned buffer the DMA engine reads next; a large destination the caller reads later).
static void copy_stream(void *dst, const void *src, size_t n) {
#if defined(__x86_64__)
    char *d = dst;
    const char *s = src;
    size_t head = (size_t)(-(uintptr_t)d & 63);
    if (head > n)
        head = n;
    memcpy(d, s, head);
    d += head;
    s += head;
    n -= head;
    for (; n >= 64; n -= 64, d += 64, s += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)s);
        __m128i b = _mm_loadu_si128((const __m128i *)(s + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(s + 32));
        __m128i e = _mm_loadu_si128((const __m128i *)(s + 48));
        _mm_stream_si128((__m128i *)d, a);
        _mm_stream_si128((__m128i *)(d + 16), b);
        _mm_stream_si128((__m128i *)(d + 32), c);
        _mm_stream_si128((__m128i *)(d + 48), e);
    }
    memcpy(d, s, n);
    _mm_sfence(); // streaming stores are weakly ordered: complete them before we report done
#else
    memcpy(dst, src, n);
#endif
}

static void host_copy(int stream, void *dst, const void *src, size_t n) {
    if (stream)
        copy_stream(dst, src, n);
    else
        memcpy(dst, src, n);
}

// --- pool ---

// Pool threads do not all run for the lock when a piece is queued. A thread spinning for work
// first claims one of the `navail` queued pieces (an atomic decrement), and only a thread
// holding a claim takes the lock to dequeue. A piece that leaves the queue without a claim
// (a caller runs it, or a woken thread takes it) gives up one unit of `navail` if any is
// left. So the queue never holds more pieces than navail plus the claims outstanding, and
// a claim that finds the queue empty (a caller took the piece) only sends its thread back
// to spinning. Measured against taking the lock on sight (every spinner at once, losers
// going to sleep) on the H200: lock waits and misses per copy fell 3-15x, copy times stayed
// within the spread between processes (staging_bench_results.md, "Night").
static int claim_task(void) {
    int n = atomic_load_explicit(&g.navail, memory_order_relaxed);
    while (n > 0)
        if (atomic_compare_exchange_weak_explicit(&g.navail, &n, n - 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return 1;
    return 0;
}

static void unclaim_one(void) {
    int n = atomic_load_explicit(&g.navail, memory_order_relaxed);
    while (n > 0 && !atomic_compare_exchange_weak_explicit(&g.navail, &n, n - 1,
                                                          memory_order_relaxed,
                                                          memory_order_relaxed))
        ;
}

static void queue_push(um_stage_task_t *t) {
    t->prev = g.queue.prev;
    t->next = &g.queue;
    g.queue.prev->next = t;
    g.queue.prev = t;
    atomic_fetch_add_explicit(&g.navail, 1, memory_order_release);
}

// Under g.mu: takes a queued task off the queue to run it; `claimed`: the taker holds a
// claim (claim_task) for it.
static void queue_take(um_stage_task_t *t, int claimed) {
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->next = t->prev = NULL;
    if (!claimed)
        unclaim_one();
    atomic_store_explicit(&t->state, TASK_RUNNING, memory_order_relaxed);
}

// Runs a task taken off the queue, without the lock. Completion needs no lock either: the
// slot's condition is signalled only when a caller sleeps on it (`waiters`; both sides use
// sequentially consistent operations, so either the finisher sees the waiter or the waiter
// sees the finished task before it sleeps).
static void task_run(um_stage_task_t *t) {
    int64_t t0 = now_ns();
    host_copy(t->stream, t->dst, t->src, t->len);
    int64_t t1 = now_ns();
    atomic_fetch_add_explicit(&g.pieces, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&g.piece_ns, (uint64_t)(t1 - t0), memory_order_relaxed);
    atomic_fetch_add_explicit(&g.queued_ns, (uint64_t)(t0 - t->queued_at), memory_order_relaxed);
    um_stage_slot_t *s = t->slot;
    atomic_store(&t->state, TASK_DONE);
    atomic_fetch_add(&s->done_count, 1);
    if (atomic_load(&s->waiters) > 0) {
        lock_mu();
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&g.mu);
    }
}

// Spins up to spin_us (UM_STAGE_SPIN_NS) for a claim: within a copy the next piece usually
// comes within microseconds, and a futex wake-up costs tens of them.
static int spin_claim(void) {
    if (claim_task())
        return 1;
    int64_t spin = atomic_load_explicit(&g.spin_ns, memory_order_relaxed);
    if (spin <= 0)
        return 0;
    atomic_fetch_add(&g.nspinning, 1);
    int64_t until = now_ns() + spin;
    int got;
    while (!(got = claim_task()) && now_ns() < until)
        for (int i = 0; i < 32; i++)
            cpu_relax();
    atomic_fetch_sub(&g.nspinning, 1);
    return got;
}

static void *worker_main(void *arg) {
    (void)arg;
    for (;;) {
        int claimed = spin_claim();
        lock_mu();
        // At stop, tasks still queued are left to their callers, who run them themselves.
        if (g.stop)
            break;
        if (g.queue.next == &g.queue) {
            if (claimed) { // a caller ran the piece itself: spin again
                g.pool_misses++;
                pthread_mutex_unlock(&g.mu);
                continue;
            }
            while (g.queue.next == &g.queue && !g.stop) {
                g.nsleeping++;
                g.pool_sleeps++;
                pthread_cond_wait(&g.work, &g.mu);
                g.nsleeping--;
            }
            if (g.stop)
                break;
            claimed = 0;
        }
        um_stage_task_t *t = g.queue.next;
        queue_take(t, claimed);
        pthread_mutex_unlock(&g.mu);
        task_run(t);
    }
    pthread_mutex_unlock(&g.mu);
    return NULL;
}

// Under g.mu. Pool threads block every signal: the program's handlers run on its own threads.
static void start_workers_locked(int want) {
    if (g.nthreads >= want || g.stop)
        return;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (g.nthreads < want) {
        if (pthread_create(&g.thread[g.nthreads], NULL, worker_main, NULL) != 0)
            break; // fewer threads: callers copy their own pieces, just slower
        pthread_setname_np(g.thread[g.nthreads], "umshim-stage");
        g.nthreads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void task_enqueue(um_stage_task_t *t, void *dst, const void *src, size_t len, int stream) {
    int64_t now = now_ns();
    lock_mu();
    t->queued_at = now;
    t->dst = dst;
    t->src = src;
    t->len = len;
    t->stream = stream;
    atomic_store_explicit(&t->state, TASK_QUEUED, memory_order_relaxed);
    queue_push(t);
    // Wake a sleeper only for a piece no spinning thread is left to claim.
    if (g.nsleeping > 0 &&
        atomic_load(&g.navail) > atomic_load_explicit(&g.nspinning, memory_order_relaxed)) {
        pthread_cond_signal(&g.work);
        g.pool_wakes++;
    }
    pthread_mutex_unlock(&g.mu);
    caller_clock.enqueue_ns += now_ns() - now;
}

static int task_done(um_stage_task_t *t) {
    return atomic_load_explicit(&t->state, memory_order_acquire) == TASK_DONE;
}

// Waits for one task; runs it here if no pool thread has started it (progress guarantee).
static void task_wait(um_stage_task_t *t) {
    if (task_done(t))
        return;
    um_stage_slot_t *s = t->slot;
    lock_mu();
    atomic_fetch_add(&s->waiters, 1);
    while (atomic_load(&t->state) != TASK_DONE) {
        if (atomic_load_explicit(&t->state, memory_order_relaxed) == TASK_QUEUED) {
            queue_take(t, 0);
            atomic_fetch_sub(&s->waiters, 1);
            pthread_mutex_unlock(&g.mu);
            task_run(t);
            return;
        }
        pthread_cond_wait(&s->cond, &g.mu);
    }
    atomic_fetch_sub(&s->waiters, 1);
    pthread_mutex_unlock(&g.mu);
}

// Runs one of the copy's own tasks that no pool thread has started. A polling caller does so
// only when the pool has no threads or left the task queued for UM_STAGE_HELP_NS: a caller
// that takes fresh pieces itself (the sleeping first design) leaves its finished fills
// without DMAs for a whole piece copy, and without event_query ends up refilling buffers one
// by one itself. Polling with this rule measured 6-9 points of pinned better for H2D.
static int task_help(const um_stage_config_t *cfg, um_stage_slot_t *s, const unsigned char *host,
                     int nbuf) {
    int64_t stale = cfg->wait_mode == UM_STAGE_WAIT_SLEEP ? INT64_MAX : now_ns() - UM_STAGE_HELP_NS;
    um_stage_task_t *run = NULL;
    lock_mu();
    if (g.nthreads == 0)
        stale = INT64_MAX;
    for (int b = 0; b < nbuf && run == NULL; b++) {
        um_stage_task_t *t = &s->task[b];
        if (host[b] && atomic_load_explicit(&t->state, memory_order_relaxed) == TASK_QUEUED &&
            t->queued_at <= stale) {
            queue_take(t, 0);
            run = t;
        }
    }
    pthread_mutex_unlock(&g.mu);
    if (run != NULL)
        task_run(run);
    return run != NULL;
}

// Sleeps until a task of the slot finishes after *seen, or `ns` pass.
static void slot_wait(um_stage_slot_t *s, unsigned *seen, int64_t ns) {
    struct timespec deadline = deadline_after(ns);
    lock_mu();
    atomic_fetch_add(&s->waiters, 1);
    while (atomic_load(&s->done_count) == *seen)
        if (pthread_cond_timedwait(&s->cond, &g.mu, &deadline) == ETIMEDOUT)
            break;
    atomic_fetch_sub(&s->waiters, 1);
    *seen = atomic_load(&s->done_count);
    pthread_mutex_unlock(&g.mu);
}

// cfg->event_query, timed into caller_clock.
static CUresult query_event(const um_stage_config_t *cfg, CUevent e) {
    int64_t t0 = now_ns();
    CUresult r = cfg->event_query(e);
    caller_clock.poll_ns += now_ns() - t0;
    caller_clock.polls++;
    return r;
}

// Nothing to do right now: wait until a piece of the copy finishes, its oldest DMA completes,
// or (for the caller's own help, see task_help) time passes. A polling caller spins on the
// pieces' states and on event_query first, so a finished fill gets its DMA queued and a
// finished DMA frees (H2D) or hands on (D2H) its buffer within microseconds; a futex wake-up
// or a timed wait costs 50-100 us, and each buffer holds only ~40 us of DMA (2 MiB at 55
// GB/s). The caller is the program's thread, blocked in this copy anyway. After a spin that
// saw nothing (a busy pool), the next wait sleeps, so contended callers do not all spin.
static void caller_wait(const um_stage_config_t *cfg, um_stage_slot_t *s,
                        const unsigned char *host, int nbuf, unsigned *seen, int *spun_out) {
    int poll = cfg->wait_mode != UM_STAGE_WAIT_SLEEP && cfg->event_query != NULL;
    if (poll && !*spun_out) {
        int64_t until = now_ns() + UM_STAGE_CALLER_SPIN_NS;
        for (;;) {
            for (int b = 0; b < nbuf; b++)
                if (host[b] && task_done(&s->task[b]))
                    return;
            if (s->fifo_len > 0 &&
                query_event(cfg, s->ev[s->fifo[s->fifo_head]]) != CUDA_ERROR_NOT_READY)
                return;
            if (now_ns() >= until)
                break;
            for (int i = 0; i < 64; i++)
                cpu_relax();
        }
        *spun_out = 1;
        return;
    }
    *spun_out = 0;
    slot_wait(s, seen, s->fifo_len > 0 ? UM_STAGE_POLL_NS : UM_STAGE_SLEEP_NS);
}

// --- slots ---

// A copy's view of the engine, taken under the lock at the start of the copy.
typedef struct {
    um_stage_config_t cfg;
    um_stage_slot_t *s;
    CUcontext ctx;
} um_stage_copy_t;

static void fifo_push(um_stage_slot_t *s, int b) {
    s->fifo[(s->fifo_head + s->fifo_len) % UM_STAGE_MAX_BUFFERS] = b;
    s->fifo_len++;
    s->in_fifo[b] = 1;
}

static int fifo_pop(um_stage_slot_t *s) {
    int b = s->fifo[s->fifo_head];
    s->fifo_head = (s->fifo_head + 1) % UM_STAGE_MAX_BUFFERS;
    s->fifo_len--;
    s->in_fifo[b] = 0;
    return b;
}

// After the DMA into or out of buffer b, issued at t0, returned r: records b's event and
// queues b on the FIFO. A failure of either is kept in *err (a DMA queued without its event
// leaves b's state unknown: *unsafe); returns whether b was queued.
static int dma_queued(const um_stage_config_t *cfg, um_stage_slot_t *s, int b, CUresult r,
                      CUstream stream, int64_t t0, CUresult *err, int *unsafe) {
    if (r == CUDA_SUCCESS && (r = cfg->event_record(s->ev[b], stream)) != CUDA_SUCCESS)
        *unsafe = 1;
    caller_clock.issue_ns += now_ns() - t0;
    if (r != CUDA_SUCCESS) {
        keep_first(err, r);
        return 0;
    }
    fifo_push(s, b);
    return 1;
}

// Waits for (and forgets) every DMA still queued on the slot's buffers; first error.
static CUresult slot_sync_pending(const um_stage_config_t *cfg, um_stage_slot_t *s) {
    CUresult err = CUDA_SUCCESS;
    while (s->fifo_len > 0)
        keep_first(&err, cfg->event_synchronize(s->ev[fifo_pop(s)]));
    return err;
}

// Driver calls on a slot the caller owns (busy) or that nobody can reach (shutdown).
// Pinned memory and events are released with the context that made them current.
static void slot_free(const um_stage_config_t *cfg, um_stage_slot_t *s) {
    if (s->pinned == NULL && s->nev == 0)
        return;
    slot_sync_pending(cfg, s);
    CUcontext cur = NULL;
    cfg->ctx_get_current(&cur);
    CUcontext now = cur;
    if (s->nev > 0) {
        if (s->ev_ctx != now && cfg->ctx_set_current(s->ev_ctx) == CUDA_SUCCESS)
            now = s->ev_ctx;
        for (int b = 0; b < s->nev; b++)
            cfg->event_destroy(s->ev[b]);
        s->nev = 0;
    }
    if (s->pinned != NULL) {
        if (s->pinned_ctx != now && cfg->ctx_set_current(s->pinned_ctx) == CUDA_SUCCESS)
            now = s->pinned_ctx;
        if (cfg->mem_free_host(s->pinned) != CUDA_SUCCESS)
            atomic_fetch_add(&g.free_failures, 1);
        atomic_fetch_sub(&g.pinned_bytes, s->arena);
        s->pinned = NULL;
    }
    if (now != cur)
        cfg->ctx_set_current(cur);
}

// Pinned memory is bought with traffic. Pinning costs ~0.46 ms per MiB to allocate and ~0.11
// ms per MiB to free on the H100 machine (48 MiB: 22 ms + 5 ms), while staging saves ~0.12
// ms per MiB moved (7 GB/s pageable against ~40 GB/s staged): a full 48 MiB set made for
// one 293 MiB copy ate the whole gain (recall_demo's upload: 36.9 ms staged with 48 MiB
// against 41.6 ms plain, 22.9 ms with 16 MiB; tools/gpu/wall_phases.py, 2026-11-25). So a
// slot's pinned arena is at most 1/UM_STAGE_TRAFFIC_PER_PINNED of the bytes the engine has
// staged (this copy included), rounded up to a power of two, at least UM_STAGE_MIN_ARENA,
// at most buffers x chunk; it is replaced by a larger one as traffic grows (doubling: the
// arenas a process ever allocates add up to less than twice the last).
#define UM_STAGE_TRAFFIC_PER_PINNED 32
#define UM_STAGE_MIN_ARENA ((size_t)4 << 20)

// Bytes staged so far, a copy of `bytes` about to start included: what pinned memory and
// pool threads are bought with.
static size_t traffic_with(size_t bytes) {
    return (size_t)atomic_load(&g.staged_bytes) + bytes;
}

static size_t arena_for(const um_stage_config_t *cfg, size_t bytes) {
    size_t most = cfg->chunk * (size_t)cfg->buffers;
    size_t traffic = traffic_with(bytes);
    size_t want = cfg->min_arena > UM_STAGE_MIN_ARENA ? cfg->min_arena : UM_STAGE_MIN_ARENA;
    while (want < traffic / UM_STAGE_TRAFFIC_PER_PINNED && want < most)
        want *= 2;
    return want < most ? want : most;
}

// The arena is cut into at most `buffers` equal buffers, each at least min_piece (so every
// pool thread gets work without pieces so small that driver calls dominate) and at most
// chunk, a multiple of 64 KiB.
static size_t stride_for(const um_stage_config_t *cfg, size_t arena) {
    size_t per = (arena / (size_t)cfg->buffers + UM_STAGE_MIN_CHUNK - 1) & ~(UM_STAGE_MIN_CHUNK - 1);
    if (per < cfg->min_piece)
        per = cfg->min_piece;
    if (per > cfg->chunk)
        per = cfg->chunk;
    return per <= arena / 2 ? per : arena / 2 & ~(UM_STAGE_MIN_CHUNK - 1);
}

// Gets the slot's buffers and events ready for a copy of `bytes` in context c->ctx.
static CUresult slot_prepare(um_stage_copy_t *c, size_t bytes) {
    um_stage_slot_t *s = c->s;
    const um_stage_config_t *cfg = &c->cfg;
    size_t arena = arena_for(cfg, bytes);
    // Smaller than this copy's share of traffic, or made under another configuration: a new
    // arena (slot_free first waits for DMAs an earlier async H2D left on these buffers).
    if (s->pinned != NULL && (s->arena < arena || s->arena > cfg->chunk * (size_t)cfg->buffers ||
                              s->stride != stride_for(cfg, s->arena)))
        slot_free(cfg, s);
    if (s->nev > 0 && (s->ev_ctx != c->ctx || s->nev != cfg->buffers)) {
        slot_sync_pending(cfg, s);
        for (int b = 0; b < s->nev; b++)
            cfg->event_destroy(s->ev[b]);
        s->nev = 0;
    }
    if (s->pinned == NULL) {
        void *p = NULL;
        CUresult r = cfg->mem_host_alloc(&p, arena, CU_MEMHOSTALLOC_PORTABLE);
        if (r != CUDA_SUCCESS)
            return r;
        s->pinned = p;
        s->pinned_ctx = c->ctx;
        s->arena = arena;
        atomic_fetch_add(&g.pinned_bytes, arena);
        s->stride = stride_for(cfg, arena);
        s->nbuf = (int)(arena / s->stride);
        if (s->nbuf > cfg->buffers)
            s->nbuf = cfg->buffers;
    }
    if (s->nev == 0) {
        s->ev_ctx = c->ctx;
        for (int b = 0; b < cfg->buffers; b++) {
            CUresult r = cfg->event_create(&s->ev[b], CU_EVENT_DISABLE_TIMING);
            if (r != CUDA_SUCCESS) {
                for (int i = 0; i < b; i++)
                    cfg->event_destroy(s->ev[i]);
                return r;
            }
        }
        s->nev = cfg->buffers;
        s->fifo_head = s->fifo_len = 0;
        memset(s->in_fifo, 0, sizeof s->in_fifo);
    }
    return CUDA_SUCCESS;
}

// Pool threads are bought with traffic too. Every CPU the pool's threads have run on stays in
// the process's TLB-shootdown set, so each later munmap interrupts it (the driver's teardown
// at exit above all). On the H200 machine (a VM; 2026-12-03, tools/gpu/run.sh exit_threads)
// 5 runs of recall_demo caused 33 TLB-shootdown interrupts without the engine and 93-99 /
// 162-182 / 438-468 / 809-887 with 2 / 4 / 8 / 12 pool threads, and its exit was 8-18 ms
// longer after a 12-thread pool than without staging (7-run medians; the milliseconds per
// pool size are within that noise, the interrupt counts are not), while 4 threads staged its
// 293 MiB upload in 20.5-23.8 ms (12: 16.9-17.5, the driver: 47.9-50.0). So a pool of the
// engine's default size starts with UM_STAGE_START_THREADS and takes one more thread per
// UM_STAGE_TRAFFIC_PER_THREAD bytes staged (this copy included), up to the configured count
// (12 after 1.5 GiB); a count the caller set is used as given.
#define UM_STAGE_START_THREADS 4
#define UM_STAGE_TRAFFIC_PER_THREAD ((size_t)128 << 20)

static int threads_for(size_t bytes) { // under g.mu
    if (!g.grow_threads)
        return g.cfg.threads;
    size_t want = traffic_with(bytes) / UM_STAGE_TRAFFIC_PER_THREAD;
    if (want < UM_STAGE_START_THREADS)
        want = UM_STAGE_START_THREADS;
    return want < (size_t)g.cfg.threads ? (int)want : g.cfg.threads;
}

// Takes a free slot, preferring one already set up for this context. Returns 0 when the
// engine is off or every slot is busy: the caller then hands the copy to the driver.
static int slot_acquire(um_stage_copy_t *c, size_t bytes) {
    CUcontext ctx = NULL;
    lock_engine();
    if (!atomic_load(&g.enabled)) {
        pthread_mutex_unlock(&g.mu);
        return 0;
    }
    c->cfg = g.cfg;
    pthread_mutex_unlock(&g.mu);
    // Outside the lock: a driver call.
    if (c->cfg.ctx_get_current(&ctx) != CUDA_SUCCESS)
        ctx = NULL;
    lock_mu();
    um_stage_slot_t *best = NULL;
    int best_rank = 0;
    if (atomic_load(&g.enabled)) {
        for (int i = 0; i < g.cfg.slots; i++) {
            um_stage_slot_t *s = &g.slot[i];
            if (s->busy)
                continue;
            // Prefer buffers ready for this context, then ones with no DMA of an earlier
            // async H2D still queued (a copy on another stream would wait for it).
            int rank = s->pinned == NULL ? 2 : (s->nev > 0 && s->ev_ctx == ctx ? 6 : 4);
            rank += s->fifo_len == 0;
            if (rank > best_rank) {
                best = s;
                best_rank = rank;
            }
        }
    }
    if (best != NULL) {
        best->busy = 1;
        g.nbusy++;
        c->cfg = g.cfg;
        start_workers_locked(threads_for(bytes));
    }
    pthread_mutex_unlock(&g.mu);
    c->s = best;
    c->ctx = ctx;
    return best != NULL;
}

static void slot_release(um_stage_copy_t *c) {
    lock_mu();
    c->s->busy = 0;
    g.nbusy--;
    pthread_cond_broadcast(&g.idle);
    pthread_mutex_unlock(&g.mu);
}

// --- the two pipelines ---
// Both loops make every step that needs no waiting (retire finished DMAs, hand finished
// pieces on, start new ones), and only when none is possible wait for one thing: run one
// of their own queued pieces, block on the oldest DMA when no host piece is in flight, or
// sleep until a piece finishes (briefly, when DMAs are also outstanding, to poll them).

// Piece size for this copy: a whole buffer, or smaller so that a mid-size copy still
// spreads over every buffer (and hence every pool thread).
static size_t piece_size(const um_stage_config_t *cfg, const um_stage_slot_t *s, size_t bytes) {
    size_t per = (bytes + (size_t)s->nbuf - 1) / (size_t)s->nbuf;
    per = (per + UM_STAGE_MIN_CHUNK - 1) & ~(UM_STAGE_MIN_CHUNK - 1);
    if (per < cfg->min_piece)
        per = cfg->min_piece;
    return per < s->stride ? per : s->stride;
}

// Length of the piece at `off` of a copy of `bytes` whose full pieces are `piece`: shorter
// toward a D2H's end (see UM_STAGE_DEFAULT_TAPER), never past the end.
static size_t piece_at(const um_stage_config_t *cfg, size_t piece, size_t off, size_t bytes,
                       int taper) {
    size_t left = bytes - off, len = piece;
    if (taper && cfg->taper > 0) {
        size_t t = left / (size_t)cfg->taper;
        t = (t + UM_STAGE_MIN_CHUNK - 1) & ~(UM_STAGE_MIN_CHUNK - 1);
        if (t < UM_STAGE_TAPER_MIN)
            t = UM_STAGE_TAPER_MIN;
        if (t < len)
            len = t;
    }
    return len < left ? len : left;
}

static CUresult pipe_htod(um_stage_copy_t *c, CUdeviceptr dst, const char *src, size_t bytes,
                          CUstream stream, int sync) {
    const um_stage_config_t *cfg = &c->cfg;
    um_stage_slot_t *s = c->s;
    const int B = s->nbuf;
    const size_t piece = piece_size(cfg, s, bytes);
    size_t off_of[UM_STAGE_MAX_BUFFERS], len_of[UM_STAGE_MAX_BUFFERS]; // each buffer's piece
    unsigned char host[UM_STAGE_MAX_BUFFERS] = {0}; // a fill is queued or running
    size_t filled = 0, issued = 0;                  // bytes handed to fills / DMAs so far
    int inflight = 0, spun_out = 0;
    unsigned seen = 0;
    CUresult err = CUDA_SUCCESS, r;
    int unsafe = 0; // a DMA was queued without its event: the buffer's state is unknown
    while (err == CUDA_SUCCESS) {
        int progress = 0;
        // Retire finished DMAs, oldest first, without blocking.
        while (cfg->event_query != NULL && s->fifo_len > 0) {
            r = query_event(cfg, s->ev[s->fifo[s->fifo_head]]);
            if (r == CUDA_ERROR_NOT_READY)
                break;
            fifo_pop(s);
            progress = 1;
            if (r != CUDA_SUCCESS) {
                keep_first(&err, r);
                break;
            }
        }
        // Queue the DMA of every finished fill (in any order: each has its own range).
        for (int b = 0; b < B && err == CUDA_SUCCESS; b++) {
            if (!host[b] || !task_done(&s->task[b]))
                continue;
            host[b] = 0;
            inflight--;
            int64_t t0 = now_ns();
            r = cfg->memcpy_htod_async(dst + off_of[b], s->pinned + (size_t)b * s->stride,
                                       len_of[b], stream);
            if (!dma_queued(cfg, s, b, r, stream, t0, &err, &unsafe))
                break;
            issued += len_of[b];
            progress = 1;
        }
        if (err != CUDA_SUCCESS)
            break;
        // Fill every free buffer.
        for (int b = 0; b < B && filled < bytes; b++) {
            if (host[b] || s->in_fifo[b])
                continue;
            off_of[b] = filled;
            len_of[b] = piece_at(cfg, piece, filled, bytes, 0);
            host[b] = 1;
            inflight++;
            task_enqueue(&s->task[b], s->pinned + (size_t)b * s->stride, src + filled, len_of[b],
                         cfg->copy_mode == UM_STAGE_COPY_STREAM);
            filled += len_of[b];
            progress = 1;
        }
        // Async: every byte is in pinned memory and queued, the source may be reused.
        if (issued == bytes && (!sync || s->fifo_len == 0))
            break;
        if (progress) {
            spun_out = 0;
            continue;
        }
        if (inflight > 0 && task_help(cfg, s, host, B))
            continue;
        // Without event_query, DMAs retire only by waiting: wait for the oldest when no
        // fill is running or when two or more are queued (the GPU stays busy meanwhile).
        if (s->fifo_len > 0 && (inflight == 0 || (cfg->event_query == NULL && s->fifo_len >= 2))) {
            keep_first(&err, cfg->event_synchronize(s->ev[fifo_pop(s)]));
            continue;
        }
        caller_wait(cfg, s, host, B, &seen, &spun_out);
    }
    // Our fills read the caller's source and write our buffers: finish them before leaving.
    for (int b = 0; b < B; b++)
        if (host[b])
            task_wait(&s->task[b]);
    if (unsafe) {
        cfg->stream_synchronize(stream);
        while (s->fifo_len > 0)
            fifo_pop(s);
    }
    return err;
}

static CUresult pipe_dtoh(um_stage_copy_t *c, char *dst, CUdeviceptr src, size_t bytes,
                          CUstream stream) {
    const um_stage_config_t *cfg = &c->cfg;
    um_stage_slot_t *s = c->s;
    const int B = s->nbuf;
    const size_t piece = piece_size(cfg, s, bytes);
    size_t off_of[UM_STAGE_MAX_BUFFERS], len_of[UM_STAGE_MAX_BUFFERS]; // each buffer's piece
    unsigned char host[UM_STAGE_MAX_BUFFERS] = {0}; // a drain is queued or running
    unsigned char own[UM_STAGE_MAX_BUFFERS] = {0};  // in the fifo with one of our DMAs
    size_t queued = 0, drained = 0;                 // bytes with DMAs queued / drained so far
    int inflight = 0, spun_out = 0;
    unsigned seen = 0;
    CUresult err = CUDA_SUCCESS, r;
    int unsafe = 0;
    while (err == CUDA_SUCCESS) {
        int progress = 0;
        // Finished drains free their buffers.
        for (int b = 0; b < B; b++) {
            if (host[b] && task_done(&s->task[b])) {
                host[b] = 0;
                inflight--;
                drained += len_of[b];
                progress = 1;
            }
        }
        if (drained == bytes)
            break;
        // Finished DMAs (oldest first) go to the pool; blocking only when nothing else can
        // happen (see below).
        while (s->fifo_len > 0 && err == CUDA_SUCCESS) {
            int b = s->fifo[s->fifo_head];
            if (cfg->event_query == NULL)
                break;
            r = query_event(cfg, s->ev[b]);
            if (r == CUDA_ERROR_NOT_READY)
                break;
            fifo_pop(s);
            progress = 1;
            if (r != CUDA_SUCCESS) {
                own[b] = 0;
                keep_first(&err, r);
                break;
            }
            if (own[b]) {
                own[b] = 0;
                host[b] = 1;
                inflight++;
                task_enqueue(&s->task[b], dst + off_of[b], s->pinned + (size_t)b * s->stride,
                             len_of[b], cfg->copy_mode != UM_STAGE_COPY_MEMCPY);
            }
        }
        if (err != CUDA_SUCCESS)
            break;
        // Queue DMAs into every free buffer.
        for (int b = 0; b < B && queued < bytes; b++) {
            if (host[b] || s->in_fifo[b])
                continue;
            size_t len = piece_at(cfg, piece, queued, bytes, 1);
            int64_t t0 = now_ns();
            r = cfg->memcpy_dtoh_async(s->pinned + (size_t)b * s->stride, src + queued, len,
                                       stream);
            if (!dma_queued(cfg, s, b, r, stream, t0, &err, &unsafe))
                break;
            own[b] = 1;
            off_of[b] = queued;
            len_of[b] = len;
            queued += len;
            progress = 1;
        }
        if (progress)
            spun_out = 0;
        if (err != CUDA_SUCCESS || progress)
            continue;
        if (inflight > 0 && task_help(cfg, s, host, B))
            continue;
        if (s->fifo_len > 0 && (inflight == 0 || cfg->event_query == NULL)) {
            int b = fifo_pop(s);
            r = cfg->event_synchronize(s->ev[b]);
            if (r != CUDA_SUCCESS) {
                own[b] = 0;
                keep_first(&err, r);
            } else if (own[b]) {
                own[b] = 0;
                host[b] = 1;
                inflight++;
                task_enqueue(&s->task[b], dst + off_of[b], s->pinned + (size_t)b * s->stride,
                             len_of[b], cfg->copy_mode != UM_STAGE_COPY_MEMCPY);
            }
            continue;
        }
        caller_wait(cfg, s, host, B, &seen, &spun_out);
    }
    for (int b = 0; b < B; b++) // drains write the caller's destination
        if (host[b])
            task_wait(&s->task[b]);
    if (unsafe) {
        cfg->stream_synchronize(stream);
        while (s->fifo_len > 0)
            fifo_pop(s);
    }
    return err;
}

// --- entry points ---

static CUresult direct_copy(const um_stage_config_t *cfg, int h2d, CUdeviceptr dptr, void *host,
                            size_t bytes, CUstream stream, int sync) {
    atomic_fetch_add(&g.direct_copies, 1);
    CUresult r = h2d ? cfg->memcpy_htod_async(dptr, host, bytes, stream)
                     : cfg->memcpy_dtoh_async(host, dptr, bytes, stream);
    if (r == CUDA_SUCCESS && sync)
        r = cfg->stream_synchronize(stream);
    return r;
}

static CUresult stage(int h2d, CUdeviceptr dptr, void *host, size_t bytes, CUstream stream,
                      int sync) {
    if (bytes == 0)
        return CUDA_SUCCESS;
    um_stage_copy_t c;
    if (!slot_acquire(&c, bytes)) {
        lock_mu();
        um_stage_config_t cfg = g.cfg;
        pthread_mutex_unlock(&g.mu);
        if (cfg.memcpy_htod_async == NULL || cfg.memcpy_dtoh_async == NULL)
            return CUDA_ERROR_NOT_INITIALIZED;
        return direct_copy(&cfg, h2d, dptr, host, bytes, stream, sync);
    }
    CUresult r = slot_prepare(&c, bytes);
    if (r != CUDA_SUCCESS) {
        // No pinned memory or events to be had: nothing moved yet, the driver does the copy.
        slot_release(&c);
        return direct_copy(&c.cfg, h2d, dptr, host, bytes, stream, sync);
    }
    memset(&caller_clock, 0, sizeof caller_clock);
    r = h2d ? pipe_htod(&c, dptr, host, bytes, stream, sync)
            : pipe_dtoh(&c, host, dptr, bytes, stream);
    slot_release(&c);
    atomic_fetch_add_explicit(&g.issue_ns, (uint64_t)caller_clock.issue_ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&g.polls, caller_clock.polls, memory_order_relaxed);
    atomic_fetch_add_explicit(&g.poll_ns, (uint64_t)caller_clock.poll_ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&g.enqueue_ns, (uint64_t)caller_clock.enqueue_ns,
                              memory_order_relaxed);
    atomic_fetch_add(&g.staged_copies, 1);
    atomic_fetch_add(&g.staged_bytes, bytes);
    if (r != CUDA_SUCCESS)
        atomic_fetch_add(&g.errors, 1);
    return r;
}

CUresult um_stage_htod(CUdeviceptr dst, const void *src, size_t bytes, CUstream stream, int sync) {
    return stage(1, dst, (void *)src, bytes, stream, sync);
}

CUresult um_stage_dtoh(void *dst, CUdeviceptr src, size_t bytes, CUstream stream, int sync) {
    return stage(0, src, dst, bytes, stream, sync);
}

int um_stage_wants(size_t bytes, int h2d) {
    if (!atomic_load_explicit(&g.enabled, memory_order_acquire) ||
        bytes < atomic_load_explicit(h2d ? &g.threshold : &g.d2h_threshold, memory_order_relaxed))
        return 0;
    size_t after = atomic_load_explicit(&g.after, memory_order_relaxed);
    if (after == 0)
        return 1;
    uint64_t seen = atomic_fetch_add_explicit(&g.eligible_bytes, bytes, memory_order_relaxed);
    if (seen + bytes >= after)
        return 1;
    atomic_fetch_add_explicit(&g.deferred_copies, 1, memory_order_relaxed);
    return 0;
}

static int clamp(int v, int lo, int hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

int um_stage_default_threads(void) {
    // The CPUs this process may run on (taskset, cpusets), not the machine's.
    cpu_set_t set;
    long cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                             : sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    // A quarter of the CPUs, and at least one, stays with the program's own threads.
    long keep = cpus / 4 > 1 ? cpus / 4 : 1;
    return clamp((int)(cpus - keep), 1, UM_STAGE_DEFAULT_THREADS_MAX);
}

int um_stage_init(const um_stage_config_t *cfg) {
    um_stage_shutdown();
    um_stage_config_t c = *cfg;
    lock_engine(); // the first call makes the condition variables
    pthread_mutex_unlock(&g.mu);
    if (!c.mem_host_alloc || !c.mem_free_host || !c.memcpy_htod_async || !c.memcpy_dtoh_async ||
        !c.event_create || !c.event_destroy || !c.event_record || !c.event_synchronize ||
        !c.stream_synchronize || !c.ctx_get_current || !c.ctx_set_current)
        return -1;
    int grow = c.threads <= 0;
    c.threads = c.threads > 0   ? clamp(c.threads, 1, UM_STAGE_MAX_THREADS)
                 : c.threads < 0 ? clamp(-c.threads, 1, UM_STAGE_MAX_THREADS)
                                 : um_stage_default_threads();
    c.buffers = clamp(c.buffers > 0 ? c.buffers : 2 * c.threads, 2, UM_STAGE_MAX_BUFFERS);
    c.slots = clamp(c.slots > 0 ? c.slots : UM_STAGE_DEFAULT_SLOTS, 1, UM_STAGE_MAX_SLOTS);
    if (c.copy_mode < UM_STAGE_COPY_MEMCPY || c.copy_mode > UM_STAGE_COPY_STREAM_D2H)
        c.copy_mode = UM_STAGE_DEFAULT_COPY;
    if (c.wait_mode != UM_STAGE_WAIT_POLL && c.wait_mode != UM_STAGE_WAIT_SLEEP)
        c.wait_mode = UM_STAGE_DEFAULT_WAIT;
    if (c.min_piece == 0)
        c.min_piece = UM_STAGE_DEFAULT_MIN_PIECE;
    if (c.taper == 0)
        c.taper = UM_STAGE_DEFAULT_TAPER;
    c.min_piece = (c.min_piece + UM_STAGE_MIN_CHUNK - 1) & ~(UM_STAGE_MIN_CHUNK - 1);
    if (c.chunk == 0)
        c.chunk = UM_STAGE_DEFAULT_CHUNK;
    if (c.chunk < UM_STAGE_MIN_CHUNK)
        c.chunk = UM_STAGE_MIN_CHUNK;
    c.chunk = (c.chunk + UM_STAGE_MIN_CHUNK - 1) & ~(UM_STAGE_MIN_CHUNK - 1);
    lock_mu();
    g.cfg = c;
    g.grow_threads = grow;
    g.configured = 1;
    g.stop = 0;
    atomic_store(&g.staged_copies, 0);
    atomic_store(&g.staged_bytes, 0);
    atomic_store(&g.direct_copies, 0);
    atomic_store(&g.errors, 0);
    atomic_store(&g.threshold, c.threshold);
    atomic_store(&g.d2h_threshold, c.d2h_threshold ? c.d2h_threshold : c.threshold);
    atomic_store(&g.after, c.after);
    atomic_store(&g.eligible_bytes, 0);
    atomic_store(&g.deferred_copies, 0);
    atomic_store(&g.spin_ns, c.spin_us > 0 ? (int64_t)c.spin_us * 1000
                             : c.spin_us < 0 ? 0
                                             : UM_STAGE_SPIN_NS);
    atomic_store_explicit(&g.enabled, 1, memory_order_release);
    pthread_mutex_unlock(&g.mu);
    return 0;
}

// Stops the pool and frees idle slots' resources; with `disable` the engine stays off.
static void stop_all(int disable) {
    lock_engine();
    if (!g.configured) {
        pthread_mutex_unlock(&g.mu);
        return;
    }
    if (disable)
        atomic_store(&g.enabled, 0);
    // Wait (bounded) for copies in flight; what is still busy afterwards keeps its buffers.
    struct timespec deadline = deadline_after(UM_STAGE_SHUTDOWN_WAIT_NS);
    while (disable && g.nbusy > 0) {
        if (pthread_cond_timedwait(&g.idle, &g.mu, &deadline) == ETIMEDOUT)
            break;
    }
    int nthreads = 0;
    pthread_t threads[UM_STAGE_MAX_THREADS];
    if (disable) {
        g.stop = 1;
        pthread_cond_broadcast(&g.work);
        nthreads = g.nthreads;
        memcpy(threads, g.thread, sizeof threads);
        g.nthreads = 0;
    }
    // Claim the idle slots so no copy takes them while their buffers are freed.
    int claimed[UM_STAGE_MAX_SLOTS] = {0};
    for (int i = 0; i < UM_STAGE_MAX_SLOTS; i++) {
        if (!g.slot[i].busy && (g.slot[i].pinned != NULL || g.slot[i].nev > 0)) {
            g.slot[i].busy = 1;
            g.nbusy++;
            claimed[i] = 1;
        }
    }
    um_stage_config_t cfg = g.cfg;
    pthread_mutex_unlock(&g.mu);
    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < UM_STAGE_MAX_SLOTS; i++)
        if (claimed[i])
            slot_free(&cfg, &g.slot[i]);
    lock_mu();
    for (int i = 0; i < UM_STAGE_MAX_SLOTS; i++) {
        if (claimed[i]) {
            g.slot[i].busy = 0;
            g.nbusy--;
        }
    }
    if (disable)
        g.stop = 0; // the pool may start again after the next um_stage_init
    pthread_cond_broadcast(&g.idle);
    pthread_mutex_unlock(&g.mu);
}

void um_stage_shutdown(void) {
    stop_all(1);
}

void um_stage_trim(void) {
    stop_all(0);
}

// fork (entry.c): the engine's lock is held across fork(), so the configuration and
// counters the child keeps are whole; the child then forgets the rest (below).
void um_stage_atfork_prepare(void) {
    pthread_mutex_lock(&g.mu);
}

void um_stage_atfork_parent(void) {
    pthread_mutex_unlock(&g.mu);
}

void um_stage_atfork_child(void) {
    // Only this thread exists in the child, and it holds the lock (prepare): rebuild the
    // synchronisation objects rather than unlock them (their waiters were parent threads).
    // Copies in flight, pool threads, buffers and events are the parent's (its driver state
    // is not the child's): forgotten, not freed. The configuration stays, so the child
    // starts afresh at its next staged copy.
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.work, NULL);
    for (int i = 0; i < UM_STAGE_MAX_SLOTS; i++) {
        um_stage_slot_t *s = &g.slot[i];
        s->busy = 0;
        s->pinned = NULL;
        s->nev = 0;
        s->fifo_head = s->fifo_len = 0;
        memset(s->in_fifo, 0, sizeof s->in_fifo);
        atomic_store(&s->done_count, 0);
        atomic_store(&s->waiters, 0);
        for (int b = 0; b < UM_STAGE_MAX_BUFFERS; b++) {
            s->task[b].next = s->task[b].prev = NULL;
            atomic_store(&s->task[b].state, TASK_IDLE);
        }
    }
    atomic_store(&g.navail, 0);
    atomic_store(&g.nspinning, 0);
    atomic_store(&g.pinned_bytes, 0);
    // The child starts without the parent's pool and buffers, so it pays their cost anew:
    // its own copies count towards `after` from zero.
    atomic_store(&g.eligible_bytes, 0);
    g.nthreads = 0;
    g.nsleeping = 0;
    g.nbusy = 0;
    g.stop = 0;
    init_conds();
}

void um_stage_stats(um_stage_stats_t *out) {
    out->staged_copies = atomic_load(&g.staged_copies);
    out->staged_bytes = atomic_load(&g.staged_bytes);
    out->direct_copies = atomic_load(&g.direct_copies);
    out->errors = atomic_load(&g.errors);
    out->pinned_bytes = atomic_load(&g.pinned_bytes);
    out->free_failures = atomic_load(&g.free_failures);
    out->deferred_copies = atomic_load(&g.deferred_copies);
    lock_mu();
    out->lock_waits = g.lock_waits;
    out->pool_sleeps = g.pool_sleeps;
    out->pool_wakes = g.pool_wakes;
    out->pool_misses = g.pool_misses;
    out->pieces = atomic_load(&g.pieces);
    out->piece_ns = atomic_load(&g.piece_ns);
    out->queued_ns = atomic_load(&g.queued_ns);
    out->issue_ns = atomic_load(&g.issue_ns);
    out->polls = atomic_load(&g.polls);
    out->poll_ns = atomic_load(&g.poll_ns);
    out->enqueue_ns = atomic_load(&g.enqueue_ns);
    pthread_mutex_unlock(&g.mu);
}
