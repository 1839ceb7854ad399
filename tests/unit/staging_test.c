// Unit tests for the transfer engine (shim/staging.c), run against a fake driver built here:
// "device memory" is host memory, every stream is an in-order queue executed by its own
// thread (so copies really are asynchronous), events complete when the stream reaches them,
// and pinned allocations are tracked. Like the real driver, a fake async copy from pinned
// memory reads its source when the stream executes it (so a staging buffer reused too early
// shows up as wrong bytes), while one from pageable memory is taken at call time, and a copy
// into pageable memory returns only when done. Errors can be injected per entry point.
#include "shim/staging.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "tests/unit/check_main.h"

// --- fake driver: state ---

typedef struct fake_event {
    CUcontext ctx;
    uint64_t target;    // sequence number of the latest record
    uint64_t completed; // highest record the stream has reached
    int destroyed;      // destroyed while a record was pending: freed when it completes
} fake_event_t;

enum { OP_COPY, OP_EVENT, OP_FN };

typedef struct fake_op {
    struct fake_op *next;
    int kind;
    void *dst;
    const void *src;
    size_t n;
    void *tmp; // snapshot of a pageable source
    fake_event_t *ev;
    uint64_t seq;
    void (*fn)(void *);
    void *arg;
} fake_op_t;

typedef struct fake_stream {
    struct fake_stream *all_next;
    pthread_cond_t work;
    fake_op_t *head, *tail;
    uint64_t queued, done;
    long copies; // copy ops executed
    int started, stop;
    pthread_t thread;
} fake_stream_t;

typedef struct {
    atomic_int at;    // 1-based call that fails (0: none)
    atomic_int calls;
    CUresult code;  // returned by the failing call
    CUresult later; // returned by every later call
} fake_inject_t;

#define FAKE_CTX1 ((CUcontext)(uintptr_t)0x1000)
#define FAKE_CTX2 ((CUcontext)(uintptr_t)0x2000)
#define FAKE_MAX_PINNED 256

static struct {
    pthread_mutex_t mu;
    pthread_cond_t progress; // an op completed
    fake_stream_t *all;
    fake_stream_t *legacy;
    struct {
        char *p;
        size_t n;
    } pinned[FAKE_MAX_PINNED];
    size_t pinned_live_bytes, pinned_peak_bytes;
    int pinned_live, events_live, events_created;
    int misuse; // calls a real driver would reject or that would corrupt memory
    atomic_int delay_us;
    fake_inject_t htod, dtoh, record, esync, equery, halloc, ecreate;
    atomic_int stream_syncs;
    size_t dtoh_len[FAKE_MAX_PINNED]; // sizes of the D2H DMAs, in the order they were queued
    int ndtoh;
} fk = {.mu = PTHREAD_MUTEX_INITIALIZER, .progress = PTHREAD_COND_INITIALIZER};

static __thread CUcontext fake_cur_ctx = FAKE_CTX1;
static __thread fake_stream_t *fake_ptds;

static CUresult inject(fake_inject_t *in) {
    int at = atomic_load(&in->at);
    if (at == 0)
        return CUDA_SUCCESS;
    int call = atomic_fetch_add(&in->calls, 1) + 1;
    if (call == at)
        return in->code;
    return call > at ? in->later : CUDA_SUCCESS;
}

static void inject_set(fake_inject_t *in, int at, CUresult code, CUresult later) {
    atomic_store(&in->calls, 0);
    in->code = code;
    in->later = later;
    atomic_store(&in->at, at);
}

// --- fake driver: streams ---

static void *fake_stream_main(void *arg) {
    fake_stream_t *s = arg;
    pthread_mutex_lock(&fk.mu);
    for (;;) {
        while (s->head == NULL && !s->stop)
            pthread_cond_wait(&s->work, &fk.mu);
        if (s->head == NULL)
            break;
        fake_op_t *op = s->head;
        pthread_mutex_unlock(&fk.mu);
        if (op->kind == OP_COPY) {
            int d = atomic_load(&fk.delay_us);
            if (d > 0)
                usleep((useconds_t)d);
            memcpy(op->dst, op->tmp ? op->tmp : op->src, op->n);
        } else if (op->kind == OP_FN) {
            op->fn(op->arg);
        }
        pthread_mutex_lock(&fk.mu);
        if (op->kind == OP_EVENT) {
            if (op->seq > op->ev->completed)
                op->ev->completed = op->seq;
            if (op->ev->destroyed && op->ev->completed >= op->ev->target)
                free(op->ev);
        }
        if (op->kind == OP_COPY)
            s->copies++;
        s->head = op->next;
        if (s->head == NULL)
            s->tail = NULL;
        s->done++;
        free(op->tmp);
        free(op);
        pthread_cond_broadcast(&fk.progress);
    }
    pthread_mutex_unlock(&fk.mu);
    return NULL;
}

// Under fk.mu.
static fake_stream_t *fake_stream_new_locked(void) {
    fake_stream_t *s = calloc(1, sizeof *s);
    pthread_cond_init(&s->work, NULL);
    s->all_next = fk.all;
    fk.all = s;
    return s;
}

static fake_stream_t *fake_resolve_locked(CUstream h) {
    if (h == NULL || h == CU_STREAM_LEGACY) {
        if (fk.legacy == NULL)
            fk.legacy = fake_stream_new_locked();
        return fk.legacy;
    }
    if (h == CU_STREAM_PER_THREAD) {
        if (fake_ptds == NULL)
            fake_ptds = fake_stream_new_locked();
        return fake_ptds;
    }
    return (fake_stream_t *)h;
}

static void fake_enqueue(CUstream h, fake_op_t *op) {
    pthread_mutex_lock(&fk.mu);
    fake_stream_t *s = fake_resolve_locked(h);
    if (!s->started) {
        s->started = 1;
        pthread_create(&s->thread, NULL, fake_stream_main, s);
    }
    if (s->tail)
        s->tail->next = op;
    else
        s->head = op;
    s->tail = op;
    s->queued++;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&fk.mu);
}

static CUstream fake_stream_create(void) {
    pthread_mutex_lock(&fk.mu);
    fake_stream_t *s = fake_stream_new_locked();
    pthread_mutex_unlock(&fk.mu);
    return (CUstream)s;
}

// Queues a host function, as a kernel stands in: it runs when the stream reaches it.
static void fake_stream_fn(CUstream h, void (*fn)(void *), void *arg) {
    fake_op_t *op = calloc(1, sizeof *op);
    op->kind = OP_FN;
    op->fn = fn;
    op->arg = arg;
    fake_enqueue(h, op);
}

static long fake_stream_copies(CUstream h) {
    pthread_mutex_lock(&fk.mu);
    long n = fake_resolve_locked(h)->copies;
    pthread_mutex_unlock(&fk.mu);
    return n;
}

static uint64_t fake_stream_pending(CUstream h) {
    pthread_mutex_lock(&fk.mu);
    fake_stream_t *s = fake_resolve_locked(h);
    uint64_t n = s->queued - s->done;
    pthread_mutex_unlock(&fk.mu);
    return n;
}

// Stops every stream thread (after it drains) and frees the streams.
static void fake_teardown(void) {
    pthread_mutex_lock(&fk.mu);
    fake_stream_t *all = fk.all;
    for (fake_stream_t *s = all; s; s = s->all_next) {
        s->stop = 1;
        pthread_cond_signal(&s->work);
    }
    fk.all = NULL;
    fk.legacy = NULL;
    pthread_mutex_unlock(&fk.mu);
    while (all) {
        fake_stream_t *next = all->all_next;
        if (all->started)
            pthread_join(all->thread, NULL);
        pthread_cond_destroy(&all->work);
        free(all);
        all = next;
    }
    fake_ptds = NULL;
}

// In a fork child: the stream threads are gone; forget them and their queues.
static void fake_atfork_child(void) {
    pthread_mutex_init(&fk.mu, NULL);
    pthread_cond_init(&fk.progress, NULL);
    for (fake_stream_t *s = fk.all; s; s = s->all_next) {
        pthread_cond_init(&s->work, NULL);
        s->started = 0;
        s->head = s->tail = NULL;
        s->queued = s->done = 0;
    }
}

// --- fake driver: entry points ---

static int fake_is_pinned_locked(const void *p) {
    for (int i = 0; i < FAKE_MAX_PINNED; i++)
        if (fk.pinned[i].p && (const char *)p >= fk.pinned[i].p &&
            (const char *)p < fk.pinned[i].p + fk.pinned[i].n)
            return 1;
    return 0;
}

static CUresult fake_mem_host_alloc(void **pp, size_t bytes, unsigned int flags) {
    CUresult r = inject(&fk.halloc);
    if (r != CUDA_SUCCESS)
        return r;
    if (fake_cur_ctx == NULL)
        return CUDA_ERROR_INVALID_CONTEXT;
    char *p = aligned_alloc(4096, (bytes + 4095) & ~(size_t)4095);
    pthread_mutex_lock(&fk.mu);
    if (!(flags & CU_MEMHOSTALLOC_PORTABLE))
        fk.misuse++; // the engine's buffers serve every context
    for (int i = 0; i < FAKE_MAX_PINNED; i++) {
        if (fk.pinned[i].p == NULL) {
            fk.pinned[i].p = p;
            fk.pinned[i].n = bytes;
            break;
        }
    }
    fk.pinned_live++;
    fk.pinned_live_bytes += bytes;
    if (fk.pinned_live_bytes > fk.pinned_peak_bytes)
        fk.pinned_peak_bytes = fk.pinned_live_bytes;
    pthread_mutex_unlock(&fk.mu);
    *pp = p;
    return CUDA_SUCCESS;
}

static CUresult fake_mem_free_host(void *p) {
    pthread_mutex_lock(&fk.mu);
    int found = 0;
    for (int i = 0; i < FAKE_MAX_PINNED; i++) {
        if (fk.pinned[i].p == p) {
            fk.pinned_live--;
            fk.pinned_live_bytes -= fk.pinned[i].n;
            fk.pinned[i].p = NULL;
            found = 1;
            break;
        }
    }
    if (!found)
        fk.misuse++;
    pthread_mutex_unlock(&fk.mu);
    if (!found)
        return CUDA_ERROR_INVALID_VALUE;
    free(p);
    return CUDA_SUCCESS;
}

static void fake_wait_stream_op(fake_stream_t *s, uint64_t upto) {
    pthread_mutex_lock(&fk.mu);
    while (s->done < upto)
        pthread_cond_wait(&fk.progress, &fk.mu);
    pthread_mutex_unlock(&fk.mu);
}

static CUresult fake_copy(void *dst, const void *src, size_t n, CUstream h, int d2h) {
    fake_op_t *op = calloc(1, sizeof *op);
    op->kind = OP_COPY;
    op->dst = dst;
    op->src = src;
    op->n = n;
    pthread_mutex_lock(&fk.mu);
    int pinned_host = fake_is_pinned_locked(d2h ? dst : src);
    pthread_mutex_unlock(&fk.mu);
    if (!d2h && !pinned_host) { // the driver stages a pageable source before returning
        op->tmp = malloc(n ? n : 1);
        memcpy(op->tmp, src, n);
    }
    fake_enqueue(h, op);
    if (d2h && !pinned_host) { // and is synchronous for a pageable destination
        pthread_mutex_lock(&fk.mu);
        fake_stream_t *s = fake_resolve_locked(h);
        uint64_t upto = s->queued;
        pthread_mutex_unlock(&fk.mu);
        fake_wait_stream_op(s, upto);
    }
    return CUDA_SUCCESS;
}

static CUresult fake_memcpy_htod_async(CUdeviceptr dst, const void *src, size_t n, CUstream s) {
    CUresult r = inject(&fk.htod);
    return r != CUDA_SUCCESS ? r : fake_copy((void *)(uintptr_t)dst, src, n, s, 0);
}

static CUresult fake_memcpy_dtoh_async(void *dst, CUdeviceptr src, size_t n, CUstream s) {
    CUresult r = inject(&fk.dtoh);
    pthread_mutex_lock(&fk.mu);
    if (r == CUDA_SUCCESS && fk.ndtoh < FAKE_MAX_PINNED)
        fk.dtoh_len[fk.ndtoh++] = n;
    pthread_mutex_unlock(&fk.mu);
    return r != CUDA_SUCCESS ? r : fake_copy(dst, (const void *)(uintptr_t)src, n, s, 1);
}

static CUresult fake_event_create(CUevent *e, unsigned int flags) {
    CUresult r = inject(&fk.ecreate);
    if (r != CUDA_SUCCESS)
        return r;
    if (fake_cur_ctx == NULL)
        return CUDA_ERROR_INVALID_CONTEXT;
    fake_event_t *ev = calloc(1, sizeof *ev);
    ev->ctx = fake_cur_ctx;
    pthread_mutex_lock(&fk.mu);
    fk.events_live++;
    fk.events_created++;
    pthread_mutex_unlock(&fk.mu);
    *e = (CUevent)ev;
    return CUDA_SUCCESS;
}

static CUresult fake_event_destroy(CUevent e) {
    fake_event_t *ev = (fake_event_t *)e;
    pthread_mutex_lock(&fk.mu);
    fk.events_live--;
    int pending = ev->completed < ev->target;
    if (pending)
        ev->destroyed = 1;
    pthread_mutex_unlock(&fk.mu);
    if (!pending)
        free(ev);
    return CUDA_SUCCESS;
}

static CUresult fake_event_record(CUevent e, CUstream h) {
    CUresult r = inject(&fk.record);
    if (r != CUDA_SUCCESS)
        return r;
    fake_event_t *ev = (fake_event_t *)e;
    if (ev->ctx != fake_cur_ctx) // the real driver rejects an event of another context
        return CUDA_ERROR_INVALID_HANDLE;
    fake_op_t *op = calloc(1, sizeof *op);
    op->kind = OP_EVENT;
    op->ev = ev;
    pthread_mutex_lock(&fk.mu);
    op->seq = ++ev->target;
    pthread_mutex_unlock(&fk.mu);
    fake_enqueue(h, op);
    return CUDA_SUCCESS;
}

static CUresult fake_event_synchronize(CUevent e) {
    CUresult r = inject(&fk.esync);
    fake_event_t *ev = (fake_event_t *)e;
    pthread_mutex_lock(&fk.mu);
    uint64_t t = ev->target;
    while (ev->completed < t)
        pthread_cond_wait(&fk.progress, &fk.mu);
    pthread_mutex_unlock(&fk.mu);
    return r;
}

static CUresult fake_event_query(CUevent e) {
    CUresult r = inject(&fk.equery);
    if (r != CUDA_SUCCESS)
        return r;
    fake_event_t *ev = (fake_event_t *)e;
    pthread_mutex_lock(&fk.mu);
    int done = ev->completed >= ev->target;
    pthread_mutex_unlock(&fk.mu);
    return done ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

static CUresult fake_stream_synchronize(CUstream h) {
    atomic_fetch_add(&fk.stream_syncs, 1);
    pthread_mutex_lock(&fk.mu);
    fake_stream_t *s = fake_resolve_locked(h);
    uint64_t upto = s->queued;
    pthread_mutex_unlock(&fk.mu);
    fake_wait_stream_op(s, upto);
    return CUDA_SUCCESS;
}

static CUresult fake_ctx_get_current(CUcontext *c) {
    *c = fake_cur_ctx;
    return CUDA_SUCCESS;
}

static CUresult fake_ctx_set_current(CUcontext c) {
    fake_cur_ctx = c;
    return CUDA_SUCCESS;
}

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static um_stage_config_t fake_config(size_t chunk, int threads, int buffers, int slots) {
    um_stage_config_t c = {
        .mem_host_alloc = fake_mem_host_alloc,
        .mem_free_host = fake_mem_free_host,
        .memcpy_htod_async = fake_memcpy_htod_async,
        .memcpy_dtoh_async = fake_memcpy_dtoh_async,
        .event_create = fake_event_create,
        .event_destroy = fake_event_destroy,
        .event_record = fake_event_record,
        .event_synchronize = fake_event_synchronize,
        .stream_synchronize = fake_stream_synchronize,
        .ctx_get_current = fake_ctx_get_current,
        .ctx_set_current = fake_ctx_set_current,
        .threshold = 0,
        .chunk = chunk,
        .threads = threads,
        .buffers = buffers,
        .slots = slots,
        .event_query = fake_event_query,
    };
    return c;
}

// --- helpers ---

// Buffers with guard bytes on both sides, so an overrun shows.
#define GUARD 64
#define GUARD_BYTE 0xA5

typedef struct {
    unsigned char *base;
    unsigned char *p;
    size_t n;
} buf_t;

static buf_t buf_new(size_t n) {
    buf_t b = {malloc(n + 2 * GUARD), NULL, n};
    b.p = b.base + GUARD;
    memset(b.base, GUARD_BYTE, n + 2 * GUARD);
    return b;
}

static int buf_guards_ok(const buf_t *b) {
    for (size_t i = 0; i < GUARD; i++)
        if (b->base[i] != GUARD_BYTE || b->p[b->n + i] != GUARD_BYTE)
            return 0;
    return 1;
}

static void buf_free(buf_t *b) {
    free(b->base);
    b->base = b->p = NULL;
}

static void pattern(unsigned char *p, size_t n, uint64_t seed) {
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        if ((i & 7) == 0) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        p[i] = (unsigned char)(x >> ((i & 7) * 8));
    }
}

static CUdeviceptr dptr(const buf_t *b) {
    return (CUdeviceptr)(uintptr_t)b->p;
}

static int count_workers(void) {
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[32] = {0};
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f) {
            if (fgets(comm, sizeof comm, f) && strncmp(comm, "umshim-stage", 12) == 0)
                n++;
            fclose(f);
        }
    }
    if (d)
        closedir(d);
    return n;
}

// Copies `n` bytes host -> "device" -> host through the engine and checks every byte.
static void roundtrip(size_t n, CUstream s, int sync, uint64_t seed) {
    buf_t src = buf_new(n), dev = buf_new(n), back = buf_new(n);
    pattern(src.p, n, seed);
    memset(dev.p, 0, n);
    memset(back.p, 0, n);
    ck_assert_int_eq(um_stage_htod(dptr(&dev), src.p, n, s, sync), CUDA_SUCCESS);
    if (!sync)
        fake_stream_synchronize(s);
    ck_assert_msg(memcmp(dev.p, src.p, n) == 0, "H2D mismatch at %zu bytes (sync %d)", n, sync);
    ck_assert(buf_guards_ok(&dev));
    ck_assert_int_eq(um_stage_dtoh(back.p, dptr(&dev), n, s, sync), CUDA_SUCCESS);
    // D2H returns with the data in place, async or not.
    ck_assert_msg(memcmp(back.p, src.p, n) == 0, "D2H mismatch at %zu bytes (sync %d)", n, sync);
    ck_assert(buf_guards_ok(&back));
    buf_free(&src);
    buf_free(&dev);
    buf_free(&back);
}

static void setup_default(void) {
    um_stage_config_t c = fake_config(256 * KiB, 4, 0, 4);
    ck_assert_int_eq(um_stage_init(&c), 0);
}

static void teardown(void) {
    um_stage_shutdown();
    fake_teardown();
    ck_assert_int_eq(fk.misuse, 0);
}

// --- core ---

static const size_t sizes[] = {1,          4095,           256 * KiB - 1,    256 * KiB,
                               256 * KiB + 1, 1 * MiB + 17, 3 * MiB + 4097, 5 * MiB};

START_TEST(test_copy_sizes_byte_exact) {
    atomic_store(&fk.delay_us, 20);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        roundtrip(sizes[i], CU_STREAM_LEGACY, 1, i);
        roundtrip(sizes[i], CU_STREAM_LEGACY, 0, i + 100);
    }
    um_stage_stats_t st;
    um_stage_stats(&st);
    ck_assert_uint_eq(st.staged_copies, 4 * (sizeof sizes / sizeof sizes[0]));
    ck_assert_uint_eq(st.direct_copies, 0);
    ck_assert_uint_eq(st.errors, 0);
}
END_TEST

START_TEST(test_copy_chunk_configs) {
    // Chunk not a multiple of the piece floor, one buffer short of the threads, one thread;
    // pieces floors below, at and above the chunk; both ways of waiting.
    static const struct {
        size_t chunk, min_piece;
        int threads, buffers;
    } cfgs[] = {{300 * KiB, 0, 3, 2},          {64 * KiB, 100 * KiB, 1, 0},
                {1 * MiB, 64 * KiB, 8, 3},     {4 * MiB, 1 * MiB, 2, 32},
                {512 * KiB, 2 * MiB, 4, 0},    {256 * KiB, 1, 2, 5}};
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        um_stage_config_t c = fake_config(cfgs[i].chunk, cfgs[i].threads, cfgs[i].buffers, 2);
        if (i % 2)
            c.event_query = NULL; // optional: the engine then blocks on events instead
        c.copy_mode = (int)i % 3 + 1; // every host copy routine
        c.wait_mode = (int)(i / 2) % 2 ? UM_STAGE_WAIT_SLEEP : 0;
        c.min_piece = cfgs[i].min_piece;
        ck_assert_int_eq(um_stage_init(&c), 0);
        roundtrip(7 * MiB + 3, CU_STREAM_LEGACY, 1, i);
        roundtrip(9 * MiB + 1, CU_STREAM_LEGACY, 0, i + 7);
    }
}
END_TEST

// The D2H DMAs of one copy of n bytes under `taper`, after a byte-exact round trip.
static int dtoh_pieces(int taper, size_t min_arena, size_t n, size_t *len, int max) {
    um_stage_config_t c = fake_config(1 * MiB, 4, 8, 1);
    c.taper = taper;
    c.min_arena = min_arena;
    ck_assert_int_eq(um_stage_init(&c), 0);
    pthread_mutex_lock(&fk.mu);
    fk.ndtoh = 0;
    pthread_mutex_unlock(&fk.mu);
    roundtrip(n, CU_STREAM_LEGACY, 1, 5);
    pthread_mutex_lock(&fk.mu);
    int k = fk.ndtoh < max ? fk.ndtoh : max;
    memcpy(len, fk.dtoh_len, (size_t)k * sizeof *len);
    pthread_mutex_unlock(&fk.mu);
    return k;
}

START_TEST(test_dtoh_last_pieces_taper) {
    // 20 MiB + 5: full pieces (the slot's buffer size, P) first; then each piece is at most
    // an eighth of what is left (and at least 128 KiB): non-increasing, ending small.
    const size_t n = 20 * MiB + 5;
    size_t len[FAKE_MAX_PINNED], sum = 0;
    int k = dtoh_pieces(0, 0, n, len, FAKE_MAX_PINNED);
    ck_assert_int_lt(k, FAKE_MAX_PINNED);
    const size_t P = len[0];
    ck_assert_uint_ge(P, 256 * KiB);
    for (int i = 0; i < k; i++) {
        size_t after = n - sum - len[i];
        sum += len[i];
        if (i > 0)
            ck_assert_uint_le(len[i], len[i - 1]);
        size_t cap = (after + len[i]) / UM_STAGE_DEFAULT_TAPER + 64 * KiB; // 64 KiB rounding
        if (len[i] < P && i + 1 < k) // a tapered piece, not the remainder
            ck_assert_uint_le(len[i], cap > UM_STAGE_TAPER_MIN ? cap : UM_STAGE_TAPER_MIN);
        if (i + 1 < k)
            ck_assert_uint_ge(len[i], UM_STAGE_TAPER_MIN);
    }
    ck_assert_uint_eq(sum, n);
    ck_assert_uint_le(len[k - 1], UM_STAGE_TAPER_MIN);
    ck_assert_uint_le(len[k - 2], UM_STAGE_TAPER_MIN);
    ck_assert_int_gt(k, (int)((n + P - 1) / P)); // more pieces than untapered
}
END_TEST

START_TEST(test_dtoh_taper_off_full_pieces) {
    const size_t n = 20 * MiB + 5;
    size_t len[FAKE_MAX_PINNED];
    int k = dtoh_pieces(-1, 0, n, len, FAKE_MAX_PINNED);
    const size_t P = len[0];
    ck_assert_uint_lt(P, 1 * MiB); // the first copy's arena is 4 MiB: 8 buffers of 512 KiB
    ck_assert_int_eq(k, (int)((n + P - 1) / P));
    for (int i = 0; i + 1 < k; i++)
        ck_assert_uint_eq(len[i], P);
    ck_assert_uint_eq(len[k - 1], n - (size_t)(k - 1) * P);
}
END_TEST

START_TEST(test_min_arena_full_pieces_at_once) {
    // Started at its full 8 x 1 MiB, the arena gives the very first copy 1 MiB pieces.
    const size_t n = 20 * MiB + 5;
    size_t len[FAKE_MAX_PINNED];
    int k = dtoh_pieces(-1, 8 * MiB, n, len, FAKE_MAX_PINNED);
    ck_assert_int_eq(k, 21);
    ck_assert_uint_eq(len[0], 1 * MiB);
    ck_assert_uint_eq(len[20], 5);
    // Larger than buffers x chunk: capped there.
    k = dtoh_pieces(-1, 64 * MiB, n, len, FAKE_MAX_PINNED);
    ck_assert_int_eq(k, 21);
    ck_assert_uint_le(fk.pinned_peak_bytes, 8 * MiB);
}
END_TEST

START_TEST(test_copy_unaligned_both_modes) {
    // Host pointers at every offset within a cache line, both host copy routines.
    const size_t n = 1 * MiB + 77;
    for (int mode = UM_STAGE_COPY_MEMCPY; mode <= UM_STAGE_COPY_STREAM_D2H; mode++) {
        um_stage_config_t c = fake_config(256 * KiB, 3, 0, 1);
        c.copy_mode = mode;
        ck_assert_int_eq(um_stage_init(&c), 0);
        for (size_t off = 0; off < 64; off += 7) {
            buf_t src = buf_new(n + 64), dev = buf_new(n + 64), back = buf_new(n + 64);
            pattern(src.p, n + 64, off);
            memset(back.p, 0, n + 64);
            ck_assert_int_eq(um_stage_htod(dptr(&dev) + off, src.p + off, n, NULL, 1),
                             CUDA_SUCCESS);
            ck_assert(memcmp(dev.p + off, src.p + off, n) == 0);
            ck_assert_int_eq(um_stage_dtoh(back.p + 63 - off, dptr(&dev) + off, n, NULL, 1),
                             CUDA_SUCCESS);
            ck_assert(memcmp(back.p + 63 - off, src.p + off, n) == 0);
            for (size_t i = 0; i < 63 - off; i++) // nothing written before the destination
                ck_assert_int_eq(back.p[i], 0);
            for (size_t i = 63 - off + n; i < n + 64; i++) // nor after it
                ck_assert_int_eq(back.p[i], 0);
            buf_free(&src);
            buf_free(&dev);
            buf_free(&back);
        }
    }
}
END_TEST

START_TEST(test_copy_null_and_legacy_streams) {
    roundtrip(2 * MiB + 5, NULL, 1, 1);
    roundtrip(2 * MiB + 5, CU_STREAM_LEGACY, 0, 2);
    CUstream s = fake_stream_create();
    roundtrip(2 * MiB + 5, s, 0, 3);
    ck_assert_int_gt(fake_stream_copies(s), 0);
}
END_TEST

// A "kernel" that writes the copy's destination (H2D) or source (D2H) some time later.
typedef struct {
    unsigned char *p;
    size_t n;
    int byte;
    uint64_t seed;
    int use_seed;
    const unsigned char *from; // snapshot source
    unsigned char *into;
} scribble_t;

static void scribble(void *arg) {
    scribble_t *s = arg;
    usleep(20000);
    if (s->use_seed)
        pattern(s->p, s->n, s->seed);
    else
        memset(s->p, s->byte, s->n);
}

static void snapshot(void *arg) {
    scribble_t *s = arg;
    memcpy(s->into, s->from, s->n);
}

START_TEST(test_htod_stream_order) {
    const size_t n = 6 * MiB + 11;
    CUstream s = fake_stream_create();
    buf_t src = buf_new(n), dev = buf_new(n), seen = buf_new(n);
    pattern(src.p, n, 42);
    scribble_t before = {.p = dev.p, .n = n, .byte = 0x55};
    scribble_t after = {.n = n, .from = dev.p, .into = seen.p};
    for (int sync = 0; sync <= 1; sync++) {
        memset(seen.p, 0, n);
        fake_stream_fn(s, scribble, &before); // prior work on the stream: must land first
        ck_assert_int_eq(um_stage_htod(dptr(&dev), src.p, n, s, sync), CUDA_SUCCESS);
        fake_stream_fn(s, snapshot, &after); // later work must see the copied data
        fake_stream_synchronize(s);
        ck_assert(memcmp(seen.p, src.p, n) == 0);
        ck_assert(memcmp(dev.p, src.p, n) == 0);
    }
    buf_free(&src);
    buf_free(&dev);
    buf_free(&seen);
}
END_TEST

START_TEST(test_dtoh_stream_order) {
    const size_t n = 6 * MiB + 11;
    CUstream s = fake_stream_create();
    buf_t dev = buf_new(n), dst = buf_new(n), want = buf_new(n);
    for (int sync = 0; sync <= 1; sync++) {
        pattern(want.p, n, 7 + sync);
        memset(dev.p, 0, n);
        memset(dst.p, 0, n);
        scribble_t before = {.p = dev.p, .n = n, .use_seed = 1, .seed = 7 + sync};
        fake_stream_fn(s, scribble, &before);
        ck_assert_int_eq(um_stage_dtoh(dst.p, dptr(&dev), n, s, sync), CUDA_SUCCESS);
        // No synchronisation here: D2H into pageable memory is complete on return.
        ck_assert(memcmp(dst.p, want.p, n) == 0);
        ck_assert(buf_guards_ok(&dst));
    }
    buf_free(&dev);
    buf_free(&dst);
    buf_free(&want);
}
END_TEST

// Holds a stream until released, like a long kernel.
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open;
} gate_t;

static void gate_wait(void *arg) {
    gate_t *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_open(gate_t *g) {
    pthread_mutex_lock(&g->mu);
    g->open = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

START_TEST(test_htod_async_returns_before_dma) {
    // 4 buffers of 256 KiB and a 1 MiB copy: everything fits, so an async copy behind a
    // blocked stream must return (source reusable) without waiting for the GPU.
    um_stage_config_t c = fake_config(256 * KiB, 2, 4, 1);
    ck_assert_int_eq(um_stage_init(&c), 0);
    const size_t n = 1 * MiB;
    CUstream s = fake_stream_create();
    buf_t src = buf_new(n), dev = buf_new(n), orig = buf_new(n);
    pattern(src.p, n, 5);
    memcpy(orig.p, src.p, n);
    memset(dev.p, 0, n);
    gate_t g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    fake_stream_fn(s, gate_wait, &g);
    ck_assert_int_eq(um_stage_htod(dptr(&dev), src.p, n, s, 0), CUDA_SUCCESS);
    ck_assert_uint_gt(fake_stream_pending(s), 1); // the DMAs are still queued
    memset(src.p, 0xEE, n);                       // the caller reuses its source at once
    gate_open(&g);
    fake_stream_synchronize(s);
    ck_assert(memcmp(dev.p, orig.p, n) == 0);
    buf_free(&src);
    buf_free(&dev);
    buf_free(&orig);
}
END_TEST

START_TEST(test_htod_async_source_reusable) {
    // Many more pieces than buffers, a slow stream: the source is overwritten on return.
    atomic_store(&fk.delay_us, 200);
    const size_t n = 8 * MiB + 123;
    CUstream s = fake_stream_create();
    buf_t src = buf_new(n), dev = buf_new(n), orig = buf_new(n);
    pattern(src.p, n, 9);
    memcpy(orig.p, src.p, n);
    ck_assert_int_eq(um_stage_htod(dptr(&dev), src.p, n, s, 0), CUDA_SUCCESS);
    memset(src.p, 0, n);
    fake_stream_synchronize(s);
    ck_assert(memcmp(dev.p, orig.p, n) == 0);
    buf_free(&src);
    buf_free(&dev);
    buf_free(&orig);
}
END_TEST

typedef struct {
    uint64_t seed;
    long own_copies;
    int ok;
} ptds_arg_t;

static void *ptds_thread(void *arg) {
    ptds_arg_t *a = arg;
    const size_t n = 3 * MiB + 7;
    buf_t src = buf_new(n), dev = buf_new(n), back = buf_new(n);
    pattern(src.p, n, a->seed);
    a->ok = um_stage_htod(dptr(&dev), src.p, n, CU_STREAM_PER_THREAD, 0) == CUDA_SUCCESS;
    fake_stream_synchronize(CU_STREAM_PER_THREAD);
    a->ok &= um_stage_dtoh(back.p, dptr(&dev), n, CU_STREAM_PER_THREAD, 0) == CUDA_SUCCESS;
    a->ok &= memcmp(back.p, src.p, n) == 0 && memcmp(dev.p, src.p, n) == 0;
    // Every DMA must have gone to this thread's own per-thread stream.
    a->own_copies = fake_stream_copies(CU_STREAM_PER_THREAD);
    buf_free(&src);
    buf_free(&dev);
    buf_free(&back);
    return NULL;
}

START_TEST(test_copy_per_thread_stream_on_caller) {
    pthread_t t[3];
    ptds_arg_t a[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (ptds_arg_t){.seed = (uint64_t)i + 1};
        pthread_create(&t[i], NULL, ptds_thread, &a[i]);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        ck_assert(a[i].ok);
        // 3 MiB in pieces of at most 256 KiB, both ways: at least 2 x 12 copies.
        ck_assert_int_ge(a[i].own_copies, 24);
    }
    ck_assert_int_eq(fake_stream_copies(CU_STREAM_LEGACY), 0);
}
END_TEST

START_TEST(test_copy_context_switch) {
    // One slot, two contexts: events must be made in the caller's current context.
    um_stage_config_t c = fake_config(256 * KiB, 2, 0, 1);
    ck_assert_int_eq(um_stage_init(&c), 0);
    roundtrip(2 * MiB, CU_STREAM_LEGACY, 1, 1);
    fake_ctx_set_current(FAKE_CTX2);
    roundtrip(2 * MiB, CU_STREAM_LEGACY, 1, 2);
    fake_ctx_set_current(FAKE_CTX1);
    roundtrip(2 * MiB, CU_STREAM_LEGACY, 0, 3);
    um_stage_stats_t st;
    um_stage_stats(&st);
    ck_assert_uint_eq(st.direct_copies, 0);
    ck_assert_uint_eq(st.errors, 0);
}
END_TEST

START_TEST(test_wants_threshold) {
    um_stage_config_t c = fake_config(1 * MiB, 2, 0, 1);
    c.threshold = 4 * MiB;
    ck_assert_int_eq(um_stage_init(&c), 0);
    ck_assert(!um_stage_wants(4 * MiB - 1, 1));
    ck_assert(um_stage_wants(4 * MiB, 1));
    ck_assert(um_stage_wants((size_t)1 << 40, 1));
    // Without a D2H threshold of its own, D2H follows the H2D one.
    ck_assert(!um_stage_wants(4 * MiB - 1, 0));
    ck_assert(um_stage_wants(4 * MiB, 0));
    // Nothing is created before the first staged copy.
    ck_assert_int_eq(count_workers(), 0);
    ck_assert_int_eq(fk.pinned_live, 0);
    roundtrip(4 * MiB, CU_STREAM_LEGACY, 1, 1);
    ck_assert_int_eq(count_workers(), 2);
    ck_assert_int_eq(fk.pinned_live, 1);
}
END_TEST

START_TEST(test_wants_d2h_threshold) {
    um_stage_config_t c = fake_config(1 * MiB, 2, 0, 1);
    c.threshold = 4 * MiB;
    c.d2h_threshold = 16 * MiB;
    ck_assert_int_eq(um_stage_init(&c), 0);
    ck_assert(um_stage_wants(4 * MiB, 1));
    ck_assert(!um_stage_wants(4 * MiB, 0));
    ck_assert(!um_stage_wants(16 * MiB - 1, 0));
    ck_assert(um_stage_wants(16 * MiB, 0));
}
END_TEST

START_TEST(test_wants_after) {
    // With `after`, copies past the thresholds go to the driver until their bytes, the one
    // asking included, add up to `after`; both directions count; smaller copies do not.
    um_stage_config_t c = fake_config(1 * MiB, 2, 0, 1);
    c.threshold = 4 * MiB;
    c.d2h_threshold = 16 * MiB;
    c.after = 40 * MiB;
    ck_assert_int_eq(um_stage_init(&c), 0);
    ck_assert(!um_stage_wants(4 * MiB - 1, 1)); // below the threshold: not counted
    ck_assert(!um_stage_wants(4 * MiB, 1));     // 4 MiB seen
    ck_assert(!um_stage_wants(16 * MiB, 0));    // 20
    ck_assert(!um_stage_wants(8 * MiB, 0));     // below the D2H threshold: not counted
    ck_assert(!um_stage_wants(16 * MiB - 1, 1)); // 36 MiB - 1
    // A fork child has none of the parent's pool and buffers: its count starts from zero.
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        fake_atfork_child();
        um_stage_atfork_child();
        _exit(um_stage_wants(4 * MiB + 1, 1) ? 1 : um_stage_wants(36 * MiB, 0) ? 0 : 2);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert(um_stage_wants(4 * MiB + 1, 1));  // 40 MiB: from here on, every copy
    ck_assert(um_stage_wants(4 * MiB, 1));
    ck_assert(um_stage_wants(16 * MiB, 0));
    um_stage_stats_t st;
    um_stage_stats(&st);
    ck_assert_uint_eq(st.deferred_copies, 3);
    ck_assert_uint_eq(st.staged_copies, 0);
    // Nothing was created for the deferred copies.
    ck_assert_int_eq(count_workers(), 0);
    ck_assert_int_eq(fk.pinned_live, 0);
    // A copy big enough alone is staged at once; init starts the count again.
    ck_assert_int_eq(um_stage_init(&c), 0);
    um_stage_stats(&st);
    ck_assert_uint_eq(st.deferred_copies, 0);
    ck_assert(um_stage_wants(40 * MiB, 0));
    // after = 0: no deferral.
    c.after = 0;
    ck_assert_int_eq(um_stage_init(&c), 0);
    ck_assert(um_stage_wants(4 * MiB, 1));
}
END_TEST

START_TEST(test_init_default_threads_follow_affinity) {
    // The default thread count leaves a quarter of the usable CPUs (at least one) to the
    // program, at most 12 threads, at least 1.
    cpu_set_t old, one;
    ck_assert_int_eq(sched_getaffinity(0, sizeof old, &old), 0);
    int cpus = CPU_COUNT(&old);
    int want = cpus - (cpus / 4 > 1 ? cpus / 4 : 1);
    want = want < 1 ? 1 : want > UM_STAGE_DEFAULT_THREADS_MAX ? UM_STAGE_DEFAULT_THREADS_MAX : want;
    ck_assert_int_eq(um_stage_default_threads(), want);
    CPU_ZERO(&one);
    for (int i = 0; i < CPU_SETSIZE; i++) {
        if (CPU_ISSET(i, &old)) {
            CPU_SET(i, &one);
            break;
        }
    }
    ck_assert_int_eq(sched_setaffinity(0, sizeof one, &one), 0);
    int on_one = um_stage_default_threads();
    ck_assert_int_eq(sched_setaffinity(0, sizeof old, &old), 0);
    ck_assert_int_eq(on_one, 1);
}
END_TEST

START_TEST(test_init_zero_uses_defaults) {
    // A zeroed config with only the function pointers set gets the measured defaults.
    um_stage_config_t c = fake_config(0, 0, 0, 0);
    c.threshold = UM_STAGE_DEFAULT_THRESHOLD;
    ck_assert_int_eq(um_stage_init(&c), 0);
    ck_assert(!um_stage_wants(UM_STAGE_DEFAULT_THRESHOLD - 1, 1));
    roundtrip(UM_STAGE_DEFAULT_THRESHOLD + 5, CU_STREAM_LEGACY, 1, 1);
    int threads = um_stage_default_threads();
    ck_assert_int_eq(count_workers(), threads);
    // One slot: 2 x threads buffers of the default chunk.
    ck_assert_uint_eq(fk.pinned_peak_bytes, 2 * (size_t)threads * UM_STAGE_DEFAULT_CHUNK);
}
END_TEST

// --- limits ---

typedef struct {
    int id, rounds;
    CUstream stream;
    int ok;
} caller_arg_t;

static void *caller_thread(void *arg) {
    caller_arg_t *a = arg;
    a->ok = 1;
    for (int r = 0; r < a->rounds; r++) {
        size_t n = (size_t)(1 + (a->id * 7 + r * 3) % 6) * MiB + (size_t)a->id * 513 + (size_t)r;
        buf_t src = buf_new(n), dev = buf_new(n), back = buf_new(n);
        pattern(src.p, n, (uint64_t)a->id * 1000 + (uint64_t)r);
        int sync = (a->id + r) & 1;
        CUstream s = (r % 3 == 0) ? CU_STREAM_PER_THREAD : a->stream;
        a->ok &= um_stage_htod(dptr(&dev), src.p, n, s, sync) == CUDA_SUCCESS;
        if (!sync)
            fake_stream_synchronize(s);
        a->ok &= um_stage_dtoh(back.p, dptr(&dev), n, s, sync) == CUDA_SUCCESS;
        a->ok &= memcmp(dev.p, src.p, n) == 0 && memcmp(back.p, src.p, n) == 0;
        a->ok &= buf_guards_ok(&dev) && buf_guards_ok(&back);
        buf_free(&src);
        buf_free(&dev);
        buf_free(&back);
    }
    return NULL;
}

static void many_callers(int ncallers, int rounds, int slots, int threads, int query) {
    um_stage_config_t c = fake_config(256 * KiB, threads, 0, slots);
    if (!query)
        c.event_query = NULL;
    ck_assert_int_eq(um_stage_init(&c), 0);
    atomic_store(&fk.delay_us, 10);
    pthread_t t[32];
    caller_arg_t a[32];
    CUstream shared = fake_stream_create();
    for (int i = 0; i < ncallers; i++) {
        // Half the callers share one stream, the others have their own.
        a[i] = (caller_arg_t){.id = i, .rounds = rounds,
                              .stream = i % 2 ? shared : fake_stream_create()};
        pthread_create(&t[i], NULL, caller_thread, &a[i]);
    }
    for (int i = 0; i < ncallers; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(a[i].ok, "caller %d", i);
    }
    um_stage_stats_t st;
    um_stage_stats(&st);
    ck_assert_uint_eq(st.staged_copies + st.direct_copies, (uint64_t)ncallers * rounds * 2);
    ck_assert_uint_eq(st.errors, 0);
    // Pinned memory never exceeds slots x buffers x chunk.
    ck_assert_uint_le(fk.pinned_peak_bytes, (size_t)slots * (size_t)(2 * threads) * 256 * KiB);
}

START_TEST(test_copy_many_callers) {
    many_callers(12, 4, 4, 3, 1);
}
END_TEST

START_TEST(test_copy_many_callers_one_slot) {
    many_callers(16, 3, 1, 2, 1);
    um_stage_stats_t st;
    um_stage_stats(&st);
    ck_assert_uint_gt(st.staged_copies, 0);
}
END_TEST

START_TEST(test_copy_many_callers_one_thread) {
    // One pool thread for eight slots: callers must copy their own chunks to progress.
    many_callers(8, 3, 8, 1, 0);
}
END_TEST

typedef struct {
    gate_t *gate;
} opener_t;

static void *open_later(void *arg) {
    usleep(50000);
    gate_open(((opener_t *)arg)->gate);
    return NULL;
}

START_TEST(test_slot_reuse_waits_pending_dma) {
    // An async H2D leaves DMAs queued on a blocked stream; the next copy takes the same slot
    // on another stream and must not overwrite those buffers before the DMAs ran.
    um_stage_config_t c = fake_config(256 * KiB, 2, 4, 1);
    ck_assert_int_eq(um_stage_init(&c), 0);
    const size_t n = 1 * MiB;
    CUstream s1 = fake_stream_create(), s2 = fake_stream_create();
    buf_t src = buf_new(n), dev = buf_new(n), dev2 = buf_new(n), back = buf_new(n);
    pattern(src.p, n, 1);
    pattern(dev2.p, n, 2);
    gate_t g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    fake_stream_fn(s1, gate_wait, &g);
    ck_assert_int_eq(um_stage_htod(dptr(&dev), src.p, n, s1, 0), CUDA_SUCCESS);
    pthread_t opener;
    opener_t o = {&g};
    pthread_create(&opener, NULL, open_later, &o);
    ck_assert_int_eq(um_stage_dtoh(back.p, dptr(&dev2), n, s2, 1), CUDA_SUCCESS);
    pthread_join(opener, NULL);
    fake_stream_synchronize(s1);
    ck_assert(memcmp(dev.p, src.p, n) == 0);
    ck_assert(memcmp(back.p, dev2.p, n) == 0);
    buf_free(&src);
    buf_free(&dev);
    buf_free(&dev2);
    buf_free(&back);
}
END_TEST

START_TEST(test_shutdown_frees_and_reinit) {
    um_stage_config_t c = fake_config(256 * KiB, 3, 0, 2);
    ck_assert_int_eq(um_stage_init(&c), 0);
    roundtrip(3 * MiB, CU_STREAM_LEGACY, 0, 1);
    ck_assert_int_eq(count_workers(), 3);
    ck_assert_int_gt(fk.pinned_live, 0);
    um_stage_shutdown();
    ck_assert_int_eq(count_workers(), 0);
    ck_assert_int_eq(fk.pinned_live, 0);
    ck_assert_int_eq(fk.events_live, 0);
    ck_assert(!um_stage_wants(1 * MiB, 1));
    // A copy after shutdown (say from a late destructor) goes to the driver unchanged.
    const size_t n = 1 * MiB;
    buf_t src = buf_new(n), dev = buf_new(n);
    pattern(src.p, n, 3);
    ck_assert_int_eq(um_stage_htod(dptr(&dev), src.p, n, CU_STREAM_LEGACY, 1), CUDA_SUCCESS);
    ck_assert(memcmp(dev.p, src.p, n) == 0);
    ck_assert_int_eq(count_workers(), 0);
    buf_free(&src);
    buf_free(&dev);
    um_stage_shutdown(); // twice is fine
    c.threads = 5;
    ck_assert_int_eq(um_stage_init(&c), 0);
    ck_assert(um_stage_wants(1 * MiB, 1));
    roundtrip(5 * MiB + 3, CU_STREAM_LEGACY, 1, 4);
    ck_assert_int_eq(count_workers(), 5);
    um_stage_stats_t st;
    um_stage_stats(&st);
    ck_assert_uint_eq(st.staged_copies, 2);
}
END_TEST

START_TEST(test_default_pool_grows_with_traffic) {
    // A grown pool (threads < 0: at most -threads) starts with 4 threads and takes one more
    // per 128 MiB staged.
    um_stage_config_t c = fake_config(2 * MiB, -6, 0, 1);
    ck_assert_int_eq(um_stage_init(&c), 0);
    roundtrip(4 * MiB, CU_STREAM_LEGACY, 1, 1);
    ck_assert_int_eq(count_workers(), 4);
    for (int i = 0; i < 10; i++) // 10 x 64 MiB staged (H2D + D2H): 640 MiB, 5 threads' worth
        roundtrip(32 * MiB, CU_STREAM_LEGACY, i & 1, (uint64_t)i + 2);
    ck_assert_int_eq(count_workers(), 5);
    for (int i = 0; i < 6; i++) // 1024 MiB: 8 threads' worth, capped at 6
        roundtrip(32 * MiB, CU_STREAM_LEGACY, i & 1, (uint64_t)i + 12);
    ck_assert_int_eq(count_workers(), 6);
    // The default cap, um_stage_default_threads(), is grown to the same way.
    c.threads = 0;
    ck_assert_int_eq(um_stage_init(&c), 0);
    const int most = um_stage_default_threads();
    roundtrip(4 * MiB, CU_STREAM_LEGACY, 1, 19);
    ck_assert_int_eq(count_workers(), most < 4 ? most : 4);
    // A count the caller sets is used from the first copy.
    c.threads = 3;
    ck_assert_int_eq(um_stage_init(&c), 0);
    roundtrip(4 * MiB, CU_STREAM_LEGACY, 1, 20);
    ck_assert_int_eq(count_workers(), 3);
}
END_TEST

START_TEST(test_pool_counters) {
    // Idle pool threads go to sleep and are counted; the next copy's pieces wake them.
    um_stage_config_t c = fake_config(256 * KiB, 3, 0, 1);
    ck_assert_int_eq(um_stage_init(&c), 0);
    um_stage_stats_t a, b;
    um_stage_stats(&a);
    roundtrip(4 * MiB, CU_STREAM_LEGACY, 1, 1);
    struct timespec idle = {0, 100 * 1000 * 1000}; // far past the pool's 30 us spin
    nanosleep(&idle, NULL);
    um_stage_stats(&b);
    ck_assert_uint_ge(b.pool_sleeps - a.pool_sleeps, 3);
    roundtrip(4 * MiB, CU_STREAM_LEGACY, 1, 2);
    um_stage_stats(&a);
    ck_assert_uint_ge(a.pool_wakes - b.pool_wakes, 1);
    ck_assert_uint_ge(a.pool_sleeps, b.pool_sleeps);
    ck_assert_uint_ge(a.lock_waits, b.lock_waits);
    ck_assert_uint_ge(a.pool_misses, b.pool_misses);
    // Every piece of both copies is counted with its time, and so is the copying thread's
    // own work: queueing DMAs, polling their events, queueing the pieces.
    ck_assert_uint_ge(a.pieces - b.pieces, 2);
    ck_assert_uint_gt(a.piece_ns - b.piece_ns, 0);
    ck_assert_uint_gt(a.issue_ns - b.issue_ns, 0);
    ck_assert_uint_ge(a.polls - b.polls, 1);
    ck_assert_uint_gt(a.poll_ns - b.poll_ns, 0);
    ck_assert_uint_gt(a.enqueue_ns - b.enqueue_ns, 0);
}
END_TEST

START_TEST(test_pool_without_spin) {
    // spin_us < 0: idle pool threads sleep at once, and every piece still gets copied.
    um_stage_config_t c = fake_config(256 * KiB, 3, 0, 1);
    c.spin_us = -1;
    ck_assert_int_eq(um_stage_init(&c), 0);
    atomic_store(&fk.delay_us, 50);
    for (int i = 0; i < 4; i++)
        roundtrip(3 * MiB + 5, CU_STREAM_LEGACY, i & 1, (uint64_t)i + 1);
    um_stage_stats_t st;
    um_stage_stats(&st);
    ck_assert_uint_eq(st.staged_copies, 8);
}
END_TEST

START_TEST(test_arena_grows_with_traffic) {
    // Pinned memory is bought with traffic: 4 MiB first, doubled once the bytes staged pass
    // 32 x the arena, never above buffers x chunk; the old arena is freed before the new one
    // is made (one arena per slot at a time).
    um_stage_config_t c = fake_config(2 * MiB, 2, 24, 1);
    ck_assert_int_eq(um_stage_init(&c), 0);
    roundtrip(16 * MiB, CU_STREAM_LEGACY, 1, 1);
    ck_assert_uint_eq(fk.pinned_live_bytes, 4 * MiB);
    for (int i = 0; i < 3; i++)
        roundtrip(16 * MiB, CU_STREAM_LEGACY, i & 1, (uint64_t)i + 2);
    ck_assert_uint_eq(fk.pinned_live_bytes, 4 * MiB); // 128 MiB staged: 1/32 of it is 4 MiB
    roundtrip(16 * MiB, CU_STREAM_LEGACY, 1, 9);      // 144 MiB / 32 > 4 MiB
    ck_assert_uint_eq(fk.pinned_live_bytes, 8 * MiB);
    ck_assert_int_eq(fk.pinned_live, 1);
    um_stage_stats_t st;
    um_stage_stats(&st); // the engine's own count of what it holds agrees
    ck_assert_uint_eq(st.pinned_bytes, 8 * MiB);
    ck_assert_uint_eq(st.free_failures, 0);
    ck_assert_uint_le(fk.pinned_peak_bytes, 8 * MiB);
    // A configuration whose whole set (buffers x chunk) is under 4 MiB gets just that.
    um_stage_config_t small = fake_config(256 * KiB, 2, 4, 1);
    ck_assert_int_eq(um_stage_init(&small), 0);
    roundtrip(3 * MiB + 5, CU_STREAM_LEGACY, 1, 10);
    ck_assert_uint_eq(fk.pinned_live_bytes, 1 * MiB);
}
END_TEST

START_TEST(test_trim_frees_idle) {
    roundtrip(2 * MiB, CU_STREAM_LEGACY, 1, 1);
    ck_assert_int_gt(fk.pinned_live, 0);
    um_stage_stats_t st;
    um_stage_stats(&st);
    ck_assert_uint_eq(st.pinned_bytes, fk.pinned_live_bytes);
    um_stage_trim();
    ck_assert_int_eq(fk.pinned_live, 0);
    ck_assert_int_eq(fk.events_live, 0);
    um_stage_stats(&st);
    ck_assert_uint_eq(st.pinned_bytes, 0);
    ck_assert(um_stage_wants(1, 1));
    roundtrip(2 * MiB, CU_STREAM_LEGACY, 0, 2);
    ck_assert_int_gt(fk.pinned_live, 0);
}
END_TEST

START_TEST(test_fork_child_resets) {
    roundtrip(3 * MiB, CU_STREAM_LEGACY, 1, 1);
    ck_assert_int_eq(count_workers(), 4);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        fake_atfork_child();
        um_stage_atfork_child();
        int code = 0;
        if (count_workers() != 0)
            code = 2;
#ifdef __SANITIZE_THREAD__
        // TSan cannot follow threads started in a child of a multi-threaded process
        // ("dup thread with used id"); the reset itself was checked above.
        _exit(code);
#endif
        // The child starts its own pool and buffers and copies correctly.
        const size_t n = 3 * MiB + 1;
        buf_t src = buf_new(n), dev = buf_new(n), back = buf_new(n);
        pattern(src.p, n, 77);
        if (um_stage_htod(dptr(&dev), src.p, n, CU_STREAM_LEGACY, 1) != CUDA_SUCCESS ||
            um_stage_dtoh(back.p, dptr(&dev), n, CU_STREAM_LEGACY, 1) != CUDA_SUCCESS)
            code = 3;
        else if (memcmp(back.p, src.p, n) != 0 || memcmp(dev.p, src.p, n) != 0)
            code = 4;
        else if (count_workers() != 4)
            code = 5;
        um_stage_shutdown();
        if (count_workers() != 0)
            code = 6;
        // Freed before _exit so valgrind's leak check (tools/test.sh) sees a clean child.
        buf_free(&src);
        buf_free(&dev);
        buf_free(&back);
        _exit(code);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    // The parent is unaffected.
    roundtrip(3 * MiB, CU_STREAM_LEGACY, 0, 2);
    ck_assert_int_eq(count_workers(), 4);
}
END_TEST

// --- errors ---

START_TEST(test_error_htod_first_returned) {
    // The 3rd DMA fails; later calls would fail differently: the first error comes back.
    const size_t n = 4 * MiB;
    buf_t src = buf_new(n), dev = buf_new(n);
    pattern(src.p, n, 1);
    inject_set(&fk.htod, 3, CUDA_ERROR_LAUNCH_FAILED, CUDA_ERROR_ILLEGAL_ADDRESS);
    ck_assert_int_eq(um_stage_htod(dptr(&dev), src.p, n, CU_STREAM_LEGACY, 1),
                     CUDA_ERROR_LAUNCH_FAILED);
    inject_set(&fk.htod, 0, CUDA_SUCCESS, CUDA_SUCCESS);
    um_stage_stats_t st;
    um_stage_stats(&st);
    ck_assert_uint_eq(st.errors, 1);
    roundtrip(n, CU_STREAM_LEGACY, 1, 2); // the engine is still usable
    buf_free(&src);
    buf_free(&dev);
}
END_TEST

START_TEST(test_error_dtoh_first_returned) {
    const size_t n = 4 * MiB;
    buf_t dev = buf_new(n), dst = buf_new(n);
    pattern(dev.p, n, 1);
    for (int sync = 0; sync <= 1; sync++) {
        inject_set(&fk.dtoh, 2, CUDA_ERROR_ILLEGAL_ADDRESS, CUDA_ERROR_LAUNCH_FAILED);
        ck_assert_int_eq(um_stage_dtoh(dst.p, dptr(&dev), n, CU_STREAM_LEGACY, sync),
                         CUDA_ERROR_ILLEGAL_ADDRESS);
        ck_assert(buf_guards_ok(&dst));
    }
    inject_set(&fk.dtoh, 0, CUDA_SUCCESS, CUDA_SUCCESS);
    roundtrip(n, CU_STREAM_LEGACY, 0, 2);
    buf_free(&dev);
    buf_free(&dst);
}
END_TEST

START_TEST(test_error_event_sync_returned) {
    // A sticky error surfacing at an event wait (a kernel before the copy faulted). Without
    // event_query every buffer is retired by a wait, so the failing wait is reached.
    um_stage_config_t c = fake_config(256 * KiB, 4, 0, 4);
    c.event_query = NULL;
    ck_assert_int_eq(um_stage_init(&c), 0);
    const size_t n = 6 * MiB;
    buf_t src = buf_new(n), dev = buf_new(n);
    pattern(src.p, n, 1);
    inject_set(&fk.esync, 2, CUDA_ERROR_ILLEGAL_ADDRESS, CUDA_ERROR_ILLEGAL_ADDRESS);
    ck_assert_int_eq(um_stage_htod(dptr(&dev), src.p, n, CU_STREAM_LEGACY, 1),
                     CUDA_ERROR_ILLEGAL_ADDRESS);
    ck_assert_int_eq(um_stage_dtoh(src.p, dptr(&dev), n, CU_STREAM_LEGACY, 1),
                     CUDA_ERROR_ILLEGAL_ADDRESS);
    inject_set(&fk.esync, 0, CUDA_SUCCESS, CUDA_SUCCESS);
    roundtrip(n, CU_STREAM_LEGACY, 1, 3);
    buf_free(&src);
    buf_free(&dev);
}
END_TEST

START_TEST(test_error_event_query_returned) {
    // The same sticky error seen by event_query (and by every later wait).
    const size_t n = 6 * MiB;
    buf_t src = buf_new(n), dev = buf_new(n);
    pattern(src.p, n, 1);
    inject_set(&fk.equery, 2, CUDA_ERROR_ILLEGAL_ADDRESS, CUDA_ERROR_ILLEGAL_ADDRESS);
    inject_set(&fk.esync, 1, CUDA_ERROR_ILLEGAL_ADDRESS, CUDA_ERROR_ILLEGAL_ADDRESS);
    ck_assert_int_eq(um_stage_htod(dptr(&dev), src.p, n, CU_STREAM_LEGACY, 1),
                     CUDA_ERROR_ILLEGAL_ADDRESS);
    ck_assert_int_eq(um_stage_dtoh(src.p, dptr(&dev), n, CU_STREAM_LEGACY, 1),
                     CUDA_ERROR_ILLEGAL_ADDRESS);
    inject_set(&fk.equery, 0, CUDA_SUCCESS, CUDA_SUCCESS);
    inject_set(&fk.esync, 0, CUDA_SUCCESS, CUDA_SUCCESS);
    roundtrip(n, CU_STREAM_LEGACY, 1, 3);
    buf_free(&src);
    buf_free(&dev);
}
END_TEST

START_TEST(test_error_event_record_syncs_stream) {
    // A DMA queued without its event: the engine waits for the stream before the buffers
    // can be reused, so the next copy is still exact.
    atomic_store(&fk.delay_us, 100);
    const size_t n = 4 * MiB;
    buf_t src = buf_new(n), dev = buf_new(n);
    pattern(src.p, n, 1);
    int syncs = atomic_load(&fk.stream_syncs);
    inject_set(&fk.record, 4, CUDA_ERROR_OUT_OF_MEMORY, CUDA_ERROR_LAUNCH_FAILED);
    ck_assert_int_eq(um_stage_htod(dptr(&dev), src.p, n, CU_STREAM_LEGACY, 0),
                     CUDA_ERROR_OUT_OF_MEMORY);
    inject_set(&fk.record, 0, CUDA_SUCCESS, CUDA_SUCCESS);
    ck_assert_int_gt(atomic_load(&fk.stream_syncs), syncs);
    roundtrip(n, CU_STREAM_LEGACY, 0, 2);
    buf_free(&src);
    buf_free(&dev);
}
END_TEST

START_TEST(test_error_host_alloc_falls_back_direct) {
    inject_set(&fk.halloc, 1, CUDA_ERROR_OUT_OF_MEMORY, CUDA_ERROR_OUT_OF_MEMORY);
    roundtrip(2 * MiB + 3, CU_STREAM_LEGACY, 1, 1);
    roundtrip(2 * MiB + 3, CU_STREAM_LEGACY, 0, 2);
    um_stage_stats_t st;
    um_stage_stats(&st);
    ck_assert_uint_eq(st.direct_copies, 4);
    ck_assert_uint_eq(st.staged_copies, 0);
    ck_assert_int_eq(fk.pinned_live, 0);
    inject_set(&fk.halloc, 0, CUDA_SUCCESS, CUDA_SUCCESS);
    roundtrip(2 * MiB + 3, CU_STREAM_LEGACY, 1, 3);
    um_stage_stats(&st);
    ck_assert_uint_eq(st.staged_copies, 2);
}
END_TEST

START_TEST(test_error_event_create_falls_back_direct) {
    inject_set(&fk.ecreate, 3, CUDA_ERROR_OUT_OF_MEMORY, CUDA_ERROR_OUT_OF_MEMORY);
    roundtrip(2 * MiB, CU_STREAM_LEGACY, 1, 1);
    ck_assert_int_eq(fk.events_live, 0); // the two made before the failure were destroyed
    inject_set(&fk.ecreate, 0, CUDA_SUCCESS, CUDA_SUCCESS);
    roundtrip(2 * MiB, CU_STREAM_LEGACY, 1, 2);
}
END_TEST

START_TEST(test_error_missing_pointer_disables) {
    um_stage_config_t c = fake_config(1 * MiB, 2, 0, 1);
    c.event_record = NULL;
    ck_assert_int_eq(um_stage_init(&c), -1);
    ck_assert(!um_stage_wants(64 * MiB, 1));
    ck_assert(!um_stage_wants(64 * MiB, 0));
}
END_TEST

// --- suite ---

Suite *staging_suite(void) {
    Suite *s = suite_create("staging");
    TCase *core = tcase_create("core");
    tcase_add_checked_fixture(core, setup_default, teardown);
    tcase_set_timeout(core, 120);
    tcase_add_test(core, test_copy_sizes_byte_exact);
    tcase_add_test(core, test_copy_chunk_configs);
    tcase_add_test(core, test_copy_unaligned_both_modes);
    tcase_add_test(core, test_dtoh_last_pieces_taper);
    tcase_add_test(core, test_dtoh_taper_off_full_pieces);
    tcase_add_test(core, test_min_arena_full_pieces_at_once);
    tcase_add_test(core, test_copy_null_and_legacy_streams);
    tcase_add_test(core, test_htod_stream_order);
    tcase_add_test(core, test_dtoh_stream_order);
    tcase_add_test(core, test_htod_async_returns_before_dma);
    tcase_add_test(core, test_htod_async_source_reusable);
    tcase_add_test(core, test_copy_per_thread_stream_on_caller);
    tcase_add_test(core, test_copy_context_switch);
    tcase_add_test(core, test_wants_threshold);
    tcase_add_test(core, test_wants_d2h_threshold);
    tcase_add_test(core, test_wants_after);
    tcase_add_test(core, test_init_zero_uses_defaults);
    tcase_add_test(core, test_init_default_threads_follow_affinity);
    suite_add_tcase(s, core);

    TCase *limits = tcase_create("limits");
    tcase_add_checked_fixture(limits, setup_default, teardown);
    tcase_set_timeout(limits, 180);
    tcase_add_test(limits, test_copy_many_callers);
    tcase_add_test(limits, test_copy_many_callers_one_slot);
    tcase_add_test(limits, test_copy_many_callers_one_thread);
    tcase_add_test(limits, test_slot_reuse_waits_pending_dma);
    tcase_add_test(limits, test_shutdown_frees_and_reinit);
    tcase_add_test(limits, test_arena_grows_with_traffic);
    tcase_add_test(limits, test_pool_counters);
    tcase_add_test(limits, test_pool_without_spin);
    tcase_add_test(limits, test_default_pool_grows_with_traffic);
    tcase_add_test(limits, test_trim_frees_idle);
    tcase_add_test(limits, test_fork_child_resets);
    suite_add_tcase(s, limits);

    TCase *errors = tcase_create("errors");
    tcase_add_checked_fixture(errors, setup_default, teardown);
    tcase_set_timeout(errors, 120);
    tcase_add_test(errors, test_error_htod_first_returned);
    tcase_add_test(errors, test_error_dtoh_first_returned);
    tcase_add_test(errors, test_error_event_sync_returned);
    tcase_add_test(errors, test_error_event_query_returned);
    tcase_add_test(errors, test_error_event_record_syncs_stream);
    tcase_add_test(errors, test_error_host_alloc_falls_back_direct);
    tcase_add_test(errors, test_error_event_create_falls_back_direct);
    tcase_add_test(errors, test_error_missing_pointer_disables);
    suite_add_tcase(s, errors);
    return s;
}

UM_CHECK_MAIN(staging_suite)
