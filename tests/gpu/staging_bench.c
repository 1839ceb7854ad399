// Transfer-engine benchmark on a real GPU: pageable H2D and D2H through the plain driver
// copy, from/to pinned memory, and through shim/staging.c with several thread/chunk configs,
// side by side in one run, into device memory and into GPU-resident managed memory. Every
// variant's data is verified byte for byte after its timed runs (the destination is zeroed
// first, so a variant that moved nothing cannot pass on an earlier variant's bytes). Calls
// the real driver directly and hands its function pointers to um_stage_init, as the shim does.
//
//   staging_bench [max_MiB [configs [sizes_MiB [fill_threads]]]]
//   configs: "threads:chunkMiB[:buffers[:mode[:query[:wait[:min_piece_KiB[:taper[:arenaMiB
//   [:spin_us]]]]]]]]],..." (mode: UM_STAGE_COPY_*, wait: UM_STAGE_WAIT_*; query 0 = no
//   event_query; spin_us = how long idle pool threads spin for work, -1 = not at all; taper
//   -1 = D2H pieces all full size, N = a D2H's last pieces at most 1/N of what is left; arena = the
//   pinned bytes a slot starts with, e.g. 48 for the default's steady state: switching configs
//   sets the engine up anew, which restarts its traffic-grown arena at 4 MiB); 0 = the engine's
//   default for every other field). The first config is the one used for the shim-path,
//   async, cold and managed rows. sizes_MiB: "1,2,4,...". fill_threads: "8,12,16"
//   (fill-only rows, see below). Sizes under 16 MiB run only the first three configs.
//
// Timing: the variants of one size and direction run interleaved, round-robin (2 rounds
// warm-up, then 7-21 rounds), and the median of each is reported, so slow drifts of the
// machine hit every variant alike. One copy's time is the host wall clock around the call
// plus cuCtxSynchronize (a pageable copy's host side is most of its cost, and a plain
// pageable cuMemcpyHtoD may return before its last DMA); CUDA-event time on the legacy stream
// is printed beside it. Before every timed copy, untimed: the variant makes one copy of the
// same size (at most 32 MiB) between scratch buffers by the same path (engine threads started,
// pinned buffers made: every variant gets the same warm-up, plain ones too; the engine is set
// up once per config, as the shim sets it up once), and from 64 MiB up the host caches are
// flushed (the machine has a 300 MiB L3: a 256 MiB source would otherwise stay cached from
// the previous round). Pageable sources hold data written before the rounds (a program copies
// data it has produced); destinations are resident, except in the "cold dst" D2H rows, where
// the destination's pages are dropped (MADV_DONTNEED) before each copy, like a fresh malloc.
// "fill-only" rows run the engine with the DMAs and events stubbed out: the host side of the
// pipeline alone, to tell a host-copy bound from a DMA or overlap bound.
// Engine rows end with the pool's counters per timed copy (um_stage_stats_t, counted from just
// before the copy to after its cuCtxSynchronize): lockw = the engine's lock found held, sleeps
// = pool threads that went to sleep, wakes = sleeping threads woken for a piece, misses = a
// spinning thread saw a piece that another took first; pieces = host copies run (fills or
// drains), piece_us = their mean time, queue_us = their mean time from queued to started; then
// the copying thread's own time per copy: issue_us queueing DMAs, polls and poll_us of event
// queries, enq_us queueing pieces (wake-ups of pool threads included).
#include "shim/staging.h"

#include <pthread.h>
#include <sys/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cuda.h>

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#define MiB ((size_t)1 << 20)

#define CK(call)                                                                                   \
    do {                                                                                           \
        CUresult ck_r = (call);                                                                    \
        if (ck_r != CUDA_SUCCESS) {                                                                \
            const char *ck_s = "?";                                                                \
            cuGetErrorName(ck_r, &ck_s);                                                           \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, ck_s);            \
            exit(2);                                                                               \
        }                                                                                          \
    } while (0)

// --- data ---

static void pattern_fill(void *p, size_t n, uint64_t seed) {
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x1234567;
    uint64_t *w = p;
    size_t nw = n / 8;
    for (size_t i = 0; i < nw; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w[i] = x;
    }
    for (size_t i = nw * 8; i < n; i++)
        ((unsigned char *)p)[i] = (unsigned char)(seed + i);
}

static size_t pattern_check(const void *p, size_t n, uint64_t seed) {
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x1234567;
    const uint64_t *w = p;
    size_t nw = n / 8;
    for (size_t i = 0; i < nw; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (w[i] != x)
            return i * 8 + 1;
    }
    for (size_t i = nw * 8; i < n; i++)
        if (((const unsigned char *)p)[i] != (unsigned char)(seed + i))
            return i + 1;
    return 0;
}

// --- the engine's driver table ---

// The shim's D2H threshold (its H2D one is passed to engine_config).
static size_t d2h_threshold = UM_STAGE_DEFAULT_D2H_THRESHOLD;

static um_stage_config_t engine_config(int threads, size_t chunk, size_t threshold) {
    um_stage_config_t c;
    memset(&c, 0, sizeof c);
    c.mem_host_alloc = cuMemHostAlloc;
    c.mem_free_host = cuMemFreeHost;
    c.memcpy_htod_async = cuMemcpyHtoDAsync;
    c.memcpy_dtoh_async = cuMemcpyDtoHAsync;
    c.event_create = cuEventCreate;
    c.event_destroy = cuEventDestroy;
    c.event_record = cuEventRecord;
    c.event_synchronize = cuEventSynchronize;
    c.stream_synchronize = cuStreamSynchronize;
    c.ctx_get_current = cuCtxGetCurrent;
    c.ctx_set_current = cuCtxSetCurrent;
    c.event_query = cuEventQuery;
    c.threshold = threshold;
    c.d2h_threshold = d2h_threshold;
    c.chunk = chunk;
    c.threads = threads;
    return c;
}

// The DMAs and events of a "fill-only" engine: they succeed at once and move nothing.
static CUresult stub_htod(CUdeviceptr dst, const void *src, size_t n, CUstream s) {
    return CUDA_SUCCESS;
}
static CUresult stub_dtoh(void *dst, CUdeviceptr src, size_t n, CUstream s) {
    return CUDA_SUCCESS;
}
static CUresult stub_event(CUevent e) {
    return CUDA_SUCCESS;
}
static CUresult stub_record(CUevent e, CUstream s) {
    return CUDA_SUCCESS;
}
static CUresult stub_stream(CUstream s) {
    return CUDA_SUCCESS;
}

// --- timing ---

enum { K_PLAIN, K_STAGE, K_SHIM, K_STAGE_ASYNC, K_FILL_ONLY };

typedef struct {
    int h2d;
    int kind;
    CUdeviceptr dev;
    void *host;
    size_t n;
    CUstream stream; // K_STAGE_ASYNC
} op_t;

static CUresult op_run(const op_t *o) {
    int staged = o->kind == K_STAGE || o->kind == K_STAGE_ASYNC || o->kind == K_FILL_ONLY ||
                 (o->kind == K_SHIM && um_stage_wants(o->n, o->h2d));
    if (!staged)
        return o->h2d ? cuMemcpyHtoD(o->dev, o->host, o->n) : cuMemcpyDtoH(o->host, o->dev, o->n);
    if (o->kind == K_STAGE_ASYNC) {
        CUresult r = o->h2d ? um_stage_htod(o->dev, o->host, o->n, o->stream, 0)
                            : um_stage_dtoh(o->host, o->dev, o->n, o->stream, 0);
        return r != CUDA_SUCCESS ? r : cuStreamSynchronize(o->stream);
    }
    return o->h2d ? um_stage_htod(o->dev, o->host, o->n, CU_STREAM_LEGACY, 1)
                  : um_stage_dtoh(o->host, o->dev, o->n, CU_STREAM_LEGACY, 1);
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// --- the run ---

#define SCRATCH ((size_t)32 << 20)
#define FLUSH_BYTES ((size_t)384 << 20) // more than the 300 MiB L3
#define MAX_ROUNDS 32

static char *h_src, *h_dst, *h_pin, *h_chk, *h_scr, *h_scr_pin, *h_flush;
static CUdeviceptr d_buf, m_buf, d_scr;
static size_t max_n;
static int failures;
static CUevent ev0, ev1;

typedef struct {
    int threads; // 0: the engine's default
    size_t chunk;
    int buffers; // 0: the engine's default
    int mode;    // UM_STAGE_COPY_*; 0: the engine's default
    int query;   // hand the engine cuEventQuery
    int stub;    // fill-only: DMAs and events stubbed out
    int wait;    // UM_STAGE_WAIT_*; 0: the engine's default
    size_t min_piece; // 0: the engine's default
    int taper;        // 0: the engine's default; < 0: off
    size_t min_arena; // 0: the engine's default
    int spin_us;      // 0: the engine's default; < 0: pool threads do not spin
} cfg_t;

static cfg_t cfgs[16], fills[4];
static int ncfgs, nfills;
static size_t threshold = UM_STAGE_DEFAULT_THRESHOLD;

static void cfg_name(const cfg_t *c, int dflt, char *out, size_t size) {
    int mode = c->mode ? c->mode : UM_STAGE_DEFAULT_COPY;
    static const char *const names[] = {"?", "mc", "nt", "mc/nt"};
    char t[24], ch[24], b[24], p[32] = "", tp[24] = "", ar[24] = "", sp[24] = "";
    snprintf(t, sizeof t, c->threads > 0 ? "%d" : "D", c->threads);
    snprintf(ch, sizeof ch, c->chunk > 0 ? "%zuM" : "D", c->chunk / MiB);
    snprintf(b, sizeof b, c->buffers > 0 ? "%d" : "D", c->buffers);
    if (c->min_piece)
        snprintf(p, sizeof p, " p%zuK", c->min_piece >> 10);
    if (c->taper)
        snprintf(tp, sizeof tp, c->taper < 0 ? " flat" : " taper%d", c->taper);
    if (c->min_arena)
        snprintf(ar, sizeof ar, " a%zuM", c->min_arena / MiB);
    if (c->spin_us)
        snprintf(sp, sizeof sp, " spin%d", c->spin_us < 0 ? 0 : c->spin_us);
    snprintf(out, size, "%s t%s c%s b%s %s%s%s%s%s%s%s%s", c->stub ? "fill-only" : "staged", t, ch,
             b, names[mode & 3], p, tp, ar, sp, c->wait == UM_STAGE_WAIT_SLEEP ? " sleep" : "",
             c->query ? "" : " noq", dflt ? "*" : "");
}

static const cfg_t *loaded;
static size_t loaded_thr;

static void use_engine(const cfg_t *c, size_t thr) {
    if (loaded == c && loaded_thr == thr)
        return;
    um_stage_config_t sc = engine_config(c->threads, c->chunk, thr);
    sc.buffers = c->buffers;
    sc.copy_mode = c->mode;
    sc.wait_mode = c->wait;
    sc.min_piece = c->min_piece;
    sc.taper = c->taper;
    sc.min_arena = c->min_arena;
    sc.spin_us = c->spin_us;
    if (!c->query)
        sc.event_query = NULL;
    if (c->stub) {
        sc.memcpy_htod_async = stub_htod;
        sc.memcpy_dtoh_async = stub_dtoh;
        sc.event_record = stub_record;
        sc.event_synchronize = stub_event;
        sc.event_query = stub_event;
        sc.stream_synchronize = stub_stream;
    }
    if (um_stage_init(&sc) != 0) {
        fprintf(stderr, "um_stage_init failed\n");
        exit(2);
    }
    loaded = c;
    loaded_thr = thr;
}

static int reps_for(size_t n) {
    return n >= 1024 * MiB ? 7 : n >= 256 * MiB ? 9 : n >= 64 * MiB ? 11 : 21;
}

static void flush_caches(void) {
    volatile uint64_t sink = 0;
    const uint64_t *w = (const uint64_t *)h_flush;
    uint64_t x = 0;
    for (size_t i = 0; i < FLUSH_BYTES / 8; i += 8)
        x += w[i];
    sink = x;
    (void)sink;
}

typedef struct {
    const char *target;
    int h2d;
    int kind;
    const cfg_t *cfg; // NULL: no engine (plain) or config 0 (shim path, async)
    int pinned;       // host side is h_pin
    int cold;         // D2H: destination pages dropped before each copy
    double wall[MAX_ROUNDS], evt[MAX_ROUNDS];
    um_stage_stats_t pool; // the engine's pool counters over the timed copies (summed)
} variant_t;

// Every engine is loaded with the shim's thresholds: only the shim path asks um_stage_wants
// (staged variants call the engine directly), and config 0 then serves the staged, shim-path
// and async variants without being set up again between them. (Re-initialising the engine
// before each shim-path copy, as an earlier version did, is nothing a program sees: the shim
// sets the engine up once.)
static void variant_engine(const variant_t *v) {
    if (v->kind != K_PLAIN)
        use_engine(v->cfg, threshold);
}

static op_t variant_op(const variant_t *v, CUdeviceptr dev, size_t n, CUstream s) {
    void *host = v->pinned ? h_pin : v->h2d ? h_src : h_dst;
    op_t o = {v->h2d, v->kind, dev, host, n, s};
    return o;
}

// sum += the engine's counters' growth from a to b (um_stage_stats_t has only uint64_t
// fields, so word by word is field by field; pinned_bytes, a level, is summed but not shown).
// A field added or of another type changes the size and stops the build here, until this is
// checked again.
_Static_assert(sizeof(um_stage_stats_t) == 18 * sizeof(uint64_t),
               "um_stage_stats_t changed: check that pool_add still sums it right");
static void pool_add(um_stage_stats_t *sum, const um_stage_stats_t *a, const um_stage_stats_t *b) {
    uint64_t *w = (uint64_t *)sum;
    const uint64_t *x = (const uint64_t *)a, *y = (const uint64_t *)b;
    for (size_t i = 0; i < sizeof *sum / sizeof(uint64_t); i++)
        w[i] += y[i] - x[i];
}

// One copy of the variant, timed; `round` < 0: warm-up, not recorded.
static void variant_time(variant_t *v, CUdeviceptr dev, size_t n, CUstream s, int round) {
    variant_engine(v);
    op_t o = variant_op(v, dev, n, s);
    // Untimed warm-up between scratch buffers (same kind of host memory as the variant, and
    // the same path: a shim-path copy under the threshold is warmed up by the driver's copy).
    op_t w = o;
    w.dev = d_scr;
    w.host = v->pinned ? h_scr_pin : h_scr;
    w.n = SCRATCH < n ? SCRATCH : n;
    CK(op_run(&w));
    if (v->cold)
        madvise(h_dst, n, MADV_DONTNEED);
    if (n >= 64 * MiB)
        flush_caches();
    CK(cuCtxSynchronize());
    um_stage_stats_t p0, p1;
    um_stage_stats(&p0);
    CK(cuEventRecord(ev0, CU_STREAM_LEGACY));
    double t0 = now_ms();
    CK(op_run(&o));
    CK(cuEventRecord(ev1, CU_STREAM_LEGACY));
    CK(cuCtxSynchronize());
    double ms = now_ms() - t0;
    um_stage_stats(&p1);
    float ems = 0;
    CK(cuEventElapsedTime(&ems, ev0, ev1));
    if (round >= 0) {
        v->wall[round] = ms;
        v->evt[round] = ems;
        pool_add(&v->pool, &p0, &p1);
    }
}

// One more copy after zeroing the destination, then the pattern is checked.
static int variant_verify(const variant_t *v, CUdeviceptr dev, size_t n, CUstream s,
                          uint64_t seed) {
    variant_engine(v);
    op_t o = variant_op(v, dev, n, s);
    if (v->h2d)
        CK(cuMemsetD8(dev, 0, n));
    else
        memset(o.host, 0, n);
    CK(cuCtxSynchronize());
    CK(op_run(&o));
    CK(cuCtxSynchronize());
    if (v->h2d) {
        CK(cuMemcpyDtoH(h_chk, dev, n));
        return pattern_check(h_chk, n, seed) == 0;
    }
    return pattern_check(o.host, n, seed) == 0;
}

static void row(const variant_t *v, size_t n, int reps, double plain, double pinned, int ok) {
    char name[128];
    switch (v->kind) {
    case K_PLAIN: snprintf(name, sizeof name, "plain %s", v->pinned ? "pinned" : "pageable"); break;
    case K_SHIM: snprintf(name, sizeof name, "shim path (threshold)"); break;
    case K_STAGE_ASYNC: snprintf(name, sizeof name, "staged* async stream"); break;
    default: cfg_name(v->cfg, v->cfg == &cfgs[0], name, sizeof name);
    }
    if (v->cold)
        strncat(name, " cold dst", sizeof name - strlen(name) - 1);
    double wall[MAX_ROUNDS], evt[MAX_ROUNDS];
    memcpy(wall, v->wall, sizeof wall);
    memcpy(evt, v->evt, sizeof evt);
    double med = median(wall, reps), ev_med = median(evt, reps);
    double gbs = (double)n / (med * 1e6);
    char ratio[32] = "", pct[32] = "";
    if (plain > 0 && !(v->kind == K_PLAIN && !v->pinned && !v->cold))
        snprintf(ratio, sizeof ratio, "%5.2fx", plain / med);
    if (pinned > 0 && !(v->kind == K_PLAIN && v->pinned))
        snprintf(pct, sizeof pct, "%4.0f%%", 100.0 * pinned / med);
    char pool[192] = "";
    if (v->kind != K_PLAIN) {
        const um_stage_stats_t *p = &v->pool;
        double pieces = p->pieces ? (double)p->pieces : 1;
        snprintf(pool, sizeof pool,
                 " %6.1f %6.1f %6.1f %6.1f %6.1f %7.1f %7.1f %7.1f %6.0f %7.1f %7.1f",
                 (double)p->lock_waits / reps, (double)p->pool_sleeps / reps,
                 (double)p->pool_wakes / reps, (double)p->pool_misses / reps,
                 (double)p->pieces / reps, (double)p->piece_ns / pieces / 1e3,
                 (double)p->queued_ns / pieces / 1e3, (double)p->issue_ns / reps / 1e3,
                 (double)p->polls / reps, (double)p->poll_ns / reps / 1e3,
                 (double)p->enqueue_ns / reps / 1e3);
    }
    printf("%-3s %6zu %-7s %-29s %9.3f %9.3f %7.2f %7s %6s %9.3f %-8s%s\n", v->h2d ? "H2D" : "D2H",
           n / MiB, v->target, name, med, wall[0], gbs, ratio, pct, ev_med,
           ok < 0 ? "n/a" : ok ? "ok" : "MISMATCH", pool);
    if (ok == 0)
        failures++;
    fflush(stdout);
}

static uint64_t seed_counter = 1000;

// All variants of one size, direction and target, interleaved round by round.
static void run_group(int h2d, const char *target, CUdeviceptr dev, size_t n, int sweep,
                      CUstream s) {
    variant_t v[40];
    int nv = 0;
    int device = dev == d_buf;
    memset(v, 0, sizeof v);
#define ADD(kind_, cfg_, pinned_, cold_)                                                           \
    v[nv++] = (variant_t){target, h2d, kind_, cfg_, pinned_, cold_, {0}, {0}, {0}}
    ADD(K_PLAIN, NULL, 0, 0);
    ADD(K_PLAIN, NULL, 1, 0);
    // Mid-size and small copies: only the first three configs (the candidates).
    int last = !(sweep && device) ? 1 : n < 16 * MiB && ncfgs > 3 ? 3 : ncfgs;
    for (int c = 0; c < last; c++)
        ADD(K_STAGE, &cfgs[c], 0, 0);
    ADD(K_SHIM, &cfgs[0], 0, 0);
    if (device)
        ADD(K_STAGE_ASYNC, &cfgs[0], 0, 0);
    if (device && !h2d && n >= 16 * MiB) {
        ADD(K_PLAIN, NULL, 0, 1);
        ADD(K_STAGE, &cfgs[0], 0, 1);
        if (sweep && ncfgs > 1)
            ADD(K_STAGE, &cfgs[1], 0, 1);
    }
    if (sweep && device && n >= 256 * MiB)
        for (int f = 0; f < nfills; f++)
            ADD(K_FILL_ONLY, &fills[f], 0, 0);
#undef ADD
    uint64_t seed = seed_counter++;
    if (h2d) {
        pattern_fill(h_src, n, seed);
        memcpy(h_pin, h_src, n);
    } else {
        pattern_fill(h_chk, n, seed);
        CK(cuMemcpyHtoD(dev, h_chk, n));
    }
    int reps = reps_for(n);
    for (int r = -2; r < reps; r++)
        for (int i = 0; i < nv; i++)
            variant_time(&v[i], dev, n, s, r);
    double plain = 0, plain_cold = 0, pinned = 0;
    for (int i = 0; i < nv; i++) {
        double w[MAX_ROUNDS];
        memcpy(w, v[i].wall, sizeof w);
        if (v[i].kind == K_PLAIN && v[i].pinned)
            pinned = median(w, reps);
        else if (v[i].kind == K_PLAIN && v[i].cold)
            plain_cold = median(w, reps);
        else if (v[i].kind == K_PLAIN)
            plain = median(w, reps);
    }
    for (int i = 0; i < nv; i++) {
        int ok = v[i].kind == K_FILL_ONLY ? -1 : variant_verify(&v[i], dev, n, s, seed);
        row(&v[i], n, reps, v[i].cold ? plain_cold : plain, pinned, ok);
    }
}

static void run_size(size_t n, int sweep, CUstream s) {
    for (int h2d = 1; h2d >= 0; h2d--) {
        run_group(h2d, "device", d_buf, n, sweep, s);
        if (m_buf && (n == 16 * MiB || n == 256 * MiB || n == 1024 * MiB))
            run_group(h2d, "managed", m_buf, n, sweep, s);
    }
}

// --- host copy ceiling: T threads memcpy pageable <-> pinned, each its own share ---

typedef struct {
    char *dst;
    const char *src;
    size_t n;
} share_t;

static int share_nt; // streaming stores instead of memcpy

static void *share_copy(void *arg) {
    share_t *a = arg;
#if defined(__x86_64__)
    if (share_nt) {
        char *d = a->dst;
        const char *s = a->src;
        size_t n = a->n; // shares start page-aligned
        for (; n >= 64; n -= 64, d += 64, s += 64) {
            __m128i x0 = _mm_loadu_si128((const __m128i *)s);
            __m128i x1 = _mm_loadu_si128((const __m128i *)(s + 16));
            __m128i x2 = _mm_loadu_si128((const __m128i *)(s + 32));
            __m128i x3 = _mm_loadu_si128((const __m128i *)(s + 48));
            _mm_stream_si128((__m128i *)d, x0);
            _mm_stream_si128((__m128i *)(d + 16), x1);
            _mm_stream_si128((__m128i *)(d + 32), x2);
            _mm_stream_si128((__m128i *)(d + 48), x3);
        }
        memcpy(d, s, n);
        _mm_sfence();
        return NULL;
    }
#endif
    memcpy(a->dst, a->src, a->n);
    return NULL;
}

static double host_copy_gbs(char *dst, const char *src, size_t n, int threads) {
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        pthread_t t[32];
        share_t a[32];
        size_t per = (n / (size_t)threads) & ~(size_t)4095;
        double t0 = now_ms();
        for (int i = 0; i < threads; i++) {
            a[i] = (share_t){dst + (size_t)i * per, src + (size_t)i * per,
                             i + 1 == threads ? n - (size_t)i * per : per};
            pthread_create(&t[i], NULL, share_copy, &a[i]);
        }
        for (int i = 0; i < threads; i++)
            pthread_join(t[i], NULL);
        double ms = now_ms() - t0;
        if (ms < best)
            best = ms;
    }
    return (double)n / (best * 1e6);
}

static const int ceiling_threads[] = {1, 2, 4, 6, 8, 12, 16};
#define CEILING_N (sizeof ceiling_threads / sizeof ceiling_threads[0])

// One row of host_ceiling: GB/s of n bytes src -> dst at each thread count.
static void ceiling_row(const char *what, char *dst, const char *src, size_t n) {
    printf("\n  %s:", what);
    for (size_t i = 0; i < CEILING_N; i++)
        printf(" %.1f", host_copy_gbs(dst, src, n, ceiling_threads[i]));
}

static void host_ceiling(size_t n) {
    printf("host memcpy %zu MiB, best of 3 (GB/s): threads", n / MiB);
    for (size_t i = 0; i < CEILING_N; i++)
        printf(" %d", ceiling_threads[i]);
    ceiling_row("pageable->pinned", h_pin, h_src, n);
    ceiling_row("pinned->pageable", h_dst, h_pin, n);
    share_nt = 1;
    ceiling_row("pageable->pinned, streaming stores", h_pin, h_src, n);
    ceiling_row("pinned->pageable, streaming stores", h_dst, h_pin, n);
    share_nt = 0;
    printf("\n");
    fflush(stdout);
}

// --- concurrency and stream checks ---

typedef struct {
    int id;
    size_t n;
    CUcontext ctx;
    CUdeviceptr dev;
    char *src, *back;
    int ok;
} conc_t;

static void *conc_thread(void *arg) {
    conc_t *a = arg;
    CK(cuCtxSetCurrent(a->ctx));
    a->ok = 1;
    for (int r = 0; r < 3; r++) {
        uint64_t seed = 77000 + (uint64_t)a->id * 10 + (uint64_t)r;
        pattern_fill(a->src, a->n, seed);
        CUstream s = (r == 1) ? CU_STREAM_PER_THREAD : CU_STREAM_LEGACY;
        a->ok &= um_stage_htod(a->dev, a->src, a->n, s, r != 2) == CUDA_SUCCESS;
        a->ok &= cuStreamSynchronize(s) == CUDA_SUCCESS;
        memset(a->back, 0, a->n);
        a->ok &= um_stage_dtoh(a->back, a->dev, a->n, s, 0) == CUDA_SUCCESS;
        a->ok &= pattern_check(a->back, a->n, seed) == 0;
    }
    return NULL;
}

static void concurrency_check(CUcontext ctx) {
    enum { NT = 12 };
    const size_t n = 64 * MiB;
    pthread_t t[NT];
    conc_t a[NT];
    loaded = NULL; // a fresh engine: its counters are this check's
    use_engine(&cfgs[0], threshold);
    for (int i = 0; i < NT; i++) {
        a[i] = (conc_t){.id = i, .n = n, .ctx = ctx};
        CK(cuMemAlloc(&a[i].dev, n));
        a[i].src = malloc(n);
        a[i].back = malloc(n);
        memset(a[i].src, 0, n);
        memset(a[i].back, 0, n);
    }
    double t0 = now_ms();
    for (int i = 0; i < NT; i++)
        pthread_create(&t[i], NULL, conc_thread, &a[i]);
    int ok = 1;
    for (int i = 0; i < NT; i++) {
        pthread_join(t[i], NULL);
        ok &= a[i].ok;
    }
    double ms = now_ms() - t0;
    um_stage_stats_t st;
    um_stage_stats(&st);
    printf("concurrency: %d threads x 3 rounds x (64 MiB H2D + D2H), legacy/per-thread streams, "
           "sync/async: %.1f ms, %.2f GB/s aggregate, staged %llu, direct %llu, errors %llu: %s\n",
           NT, ms, (double)NT * 3 * 2 * (double)n / (ms * 1e6),
           (unsigned long long)st.staged_copies, (unsigned long long)st.direct_copies,
           (unsigned long long)st.errors, ok ? "ok" : "MISMATCH");
    if (!ok)
        failures++;
    for (int i = 0; i < NT; i++) {
        CK(cuMemFree(a[i].dev));
        free(a[i].src);
        free(a[i].back);
    }
}

#define FIELDS 10

// "a:b:c,..." -> up to `max` rows of up to FIELDS integers (missing fields stay as given).
static int parse_list(const char *spec, int rows[][FIELDS], int max) {
    int n = 0;
    for (const char *p = spec; *p && n < max;) {
        for (int f = 0; f < FIELDS; f++) {
            char *end;
            long x = strtol(p, &end, 10);
            if (end == p)
                break;
            rows[n][f] = (int)x;
            p = end;
            if (*p != ':')
                break;
            p++;
        }
        n++;
        p = strchr(p, ',');
        if (!p)
            break;
        p++;
    }
    return n;
}

static void *map_pages(size_t n) {
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    return p;
}

int main(int argc, char **argv) {
    size_t max_mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1024;
    const char *spec = argc > 2 ? argv[2] : "0:0";
    const char *size_spec = argc > 3 ? argv[3] : "1,2,4,8,16,64,256,1024";
    const char *fill_spec = argc > 4 ? argv[4] : "";
    int rows[16][FIELDS];
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < 16; i++)
        rows[i][4] = 1;
    ncfgs = parse_list(spec, rows, 16);
    for (int i = 0; i < ncfgs; i++)
        cfgs[i] = (cfg_t){rows[i][0], (size_t)rows[i][1] * MiB, rows[i][2], rows[i][3],
                          rows[i][4], 0, rows[i][5], (size_t)rows[i][6] << 10, rows[i][7],
                          (size_t)rows[i][8] * MiB, rows[i][9]};
    if (ncfgs == 0) {
        fprintf(stderr, "no configs in '%s'\n", spec);
        return 2;
    }
    int frows[4][FIELDS] = {{0}};
    nfills = parse_list(fill_spec, frows, 4);
    for (int i = 0; i < nfills; i++)
        fills[i] = (cfg_t){frows[i][0], 2 * MiB, 2 * frows[i][0], UM_STAGE_COPY_STREAM, 1, 1, 0, 0,
                           0, 0, 0};
    int srows[16][FIELDS];
    int nsizes = parse_list(size_spec, srows, 16);
    if (getenv("STAGING_BENCH_THRESHOLD_MIB"))
        threshold = (size_t)atoi(getenv("STAGING_BENCH_THRESHOLD_MIB")) * MiB;
    if (getenv("STAGING_BENCH_D2H_THRESHOLD_MIB"))
        d2h_threshold = (size_t)atoi(getenv("STAGING_BENCH_D2H_THRESHOLD_MIB")) * MiB;
    max_n = max_mib * MiB;

    CK(cuInit(0));
    CUdevice dev;
    CK(cuDeviceGet(&dev, 0));
    CUcontext ctx;
    CK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CK(cuCtxSetCurrent(ctx));
    char devname[128];
    CK(cuDeviceGetName(devname, sizeof devname, dev));
    int drv = 0, cma = 0;
    CK(cuDriverGetVersion(&drv));
    CK(cuDeviceGetAttribute(&cma, CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS, dev));
    size_t free_b = 0, total_b = 0;
    CK(cuMemGetInfo(&free_b, &total_b));
    time_t now = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    printf("staging_bench: %s, driver API %d, concurrentManagedAccess %d, free %.1f GiB of %.1f, "
           "%ld host CPUs, %s\n",
           devname, drv, cma, free_b / 1073741824.0, total_b / 1073741824.0,
           sysconf(_SC_NPROCESSORS_ONLN), date);
    printf("configs (t threads, c chunk, b buffers, D = engine default; host copies mc = memcpy, "
           "nt = streaming stores, mc/nt = memcpy for H2D fills and streaming stores for D2H "
           "drains; noq = without event_query; * = config 0):");
    for (int i = 0; i < ncfgs; i++) {
        char name[128];
        cfg_name(&cfgs[i], i == 0, name, sizeof name);
        printf(" [%s]", name + 7);
    }
    printf("; shim thresholds %zu MiB H2D, %zu MiB D2H\n", threshold / MiB, d2h_threshold / MiB);

    CK(cuEventCreate(&ev0, CU_EVENT_DEFAULT));
    CK(cuEventCreate(&ev1, CU_EVENT_DEFAULT));
    // Page-aligned pageable buffers (mmap, like malloc's large blocks; 4 KiB pages as THP is
    // madvise-only there), so the cold rows can drop exactly the destination's pages.
    h_src = map_pages(max_n);
    h_dst = map_pages(max_n);
    h_chk = map_pages(max_n);
    h_scr = map_pages(SCRATCH);
    h_flush = map_pages(FLUSH_BYTES);
    CK(cuMemHostAlloc((void **)&h_pin, max_n, 0));
    CK(cuMemHostAlloc((void **)&h_scr_pin, SCRATCH, 0));
    memset(h_src, 1, max_n); // fault every pageable page in before any timing
    memset(h_dst, 1, max_n);
    memset(h_chk, 1, max_n);
    memset(h_scr, 1, SCRATCH);
    memset(h_flush, 1, FLUSH_BYTES);
    memset(h_pin, 1, max_n);
    memset(h_scr_pin, 1, SCRATCH);
    CK(cuMemAlloc(&d_buf, max_n));
    CK(cuMemAlloc(&d_scr, SCRATCH));
    CK(cuMemsetD8(d_buf, 0, max_n));
    CK(cuMemsetD8(d_scr, 0, SCRATCH));
    CK(cuMemGetInfo(&free_b, &total_b));
    // Managed memory only well below what the card has free (never oversubscribe).
    if (cma && free_b > 4 * max_n + ((size_t)8 << 30)) {
        CK(cuMemAllocManaged(&m_buf, max_n, CU_MEM_ATTACH_GLOBAL));
        CUmemLocation loc = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = dev};
        CK(cuMemPrefetchAsync(m_buf, max_n, loc, 0, CU_STREAM_LEGACY));
        CK(cuMemsetD8(m_buf, 0, max_n)); // populated on the GPU before any timing
        CK(cuCtxSynchronize());
    } else {
        printf("managed: skipped (free memory too low or no concurrentManagedAccess)\n");
    }
    CUstream s;
    CK(cuStreamCreate(&s, CU_STREAM_DEFAULT)); // blocking: the legacy-stream events bracket it

    host_ceiling(max_n < 256 * MiB ? max_n : 256 * MiB);
    printf("%-3s %6s %-7s %-29s %9s %9s %7s %7s %6s %9s %-8s %6s %6s %6s %6s %6s %7s %7s %7s "
           "%6s %7s %7s\n",
           "dir", "MiB", "target", "variant", "med_ms", "min_ms", "GB/s", "xplain", "%pin",
           "event_ms", "data", "lockw", "sleeps", "wakes", "misses", "pieces", "piece_us",
           "queue_us", "issue_us", "polls", "poll_us", "enq_us");
    for (int i = 0; i < nsizes; i++) {
        size_t n = (size_t)srows[i][0] * MiB;
        if (n == 0 || n > max_n)
            continue;
        double t0 = now_ms();
        run_size(n, 1, s);
        fprintf(stderr, "size %zu MiB: %.1f s\n", n / MiB, (now_ms() - t0) / 1e3);
    }

    // Per-thread default stream from the calling thread, into managed memory, async.
    if (m_buf) {
        size_t n = 16 * MiB;
        use_engine(&cfgs[0], threshold);
        pattern_fill(h_src, n, 4242);
        CK(um_stage_htod(m_buf, h_src, n, CU_STREAM_PER_THREAD, 0));
        memset(h_src, 0, n); // the source may be reused on return
        CK(cuStreamSynchronize(CU_STREAM_PER_THREAD));
        CK(cuMemcpyDtoH(h_chk, m_buf, n));
        int ok = pattern_check(h_chk, n, 4242) == 0;
        memset(h_dst, 0, n);
        CK(um_stage_dtoh(h_dst, m_buf, n, CU_STREAM_PER_THREAD, 0));
        ok &= pattern_check(h_dst, n, 4242) == 0;
        printf("per-thread stream, managed, async H2D + D2H 16 MiB: %s\n", ok ? "ok" : "MISMATCH");
        failures += !ok;
    }
    concurrency_check(ctx);

    um_stage_shutdown();
    CK(cuStreamDestroy(s));
    if (m_buf)
        CK(cuMemFree(m_buf));
    CK(cuMemFree(d_buf));
    CK(cuMemFree(d_scr));
    CK(cuMemFreeHost(h_pin));
    CK(cuMemFreeHost(h_scr_pin));
    printf("staging_bench: %s\n", failures ? "FAILED (data mismatch)" : "all data verified");
    return failures ? 1 : 0;
}
