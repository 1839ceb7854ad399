// Transfer-engine benchmark on a real GPU: pageable H2D and D2H through the plain driver
// copy, from/to pinned memory, and through shim/staging.c with several thread/chunk configs,
// side by side in one run, into device memory and into GPU-resident managed memory. Every
// variant's data is verified byte for byte (each variant writes its own pattern, so a copy
// that moved nothing cannot pass on a previous variant's bytes). Calls the real driver
// directly and hands its function pointers to um_stage_init, exactly as the shim does.
//
//   staging_bench [max_MiB [configs]]
//   configs: "threads:chunkMiB[:buffers[:mode]],..." (mode: UM_STAGE_COPY_*; the
//   first config is the one used for the shim-path, async and managed rows)
//
// Timing: host wall clock around the call plus cuCtxSynchronize (a pageable copy's host
// side is most of its cost, and a plain pageable cuMemcpyHtoD may return before its last
// DMA); CUDA-event time on the legacy stream is printed beside it. Warm-up first (it also
// makes the engine's pinned buffers), then the median of several repetitions. Pageable
// sources are written (faulted in) before timing; destinations are touched before timing.
#include "shim/staging.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cuda.h>

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
    c.chunk = chunk;
    c.threads = threads;
    return c;
}

// --- timing ---

enum { K_PLAIN, K_STAGE, K_SHIM, K_STAGE_ASYNC };

typedef struct {
    int h2d;
    int kind;
    CUdeviceptr dev;
    void *host;
    size_t n;
    CUstream stream; // K_STAGE_ASYNC
} op_t;

static CUresult op_run(const op_t *o) {
    int staged = o->kind == K_STAGE || o->kind == K_STAGE_ASYNC ||
                 (o->kind == K_SHIM && um_stage_wants(o->n));
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

typedef struct {
    double med, min, ev_med;
} timing_t;

static CUevent ev0, ev1;

static timing_t time_op(const op_t *o, int warm, int reps) {
    double wall[64], evt[64];
    for (int i = 0; i < warm; i++) {
        CK(op_run(o));
        CK(cuCtxSynchronize());
    }
    for (int i = 0; i < reps; i++) {
        CK(cuCtxSynchronize());
        CK(cuEventRecord(ev0, CU_STREAM_LEGACY));
        double t0 = now_ms();
        CK(op_run(o));
        CK(cuEventRecord(ev1, CU_STREAM_LEGACY));
        CK(cuCtxSynchronize());
        wall[i] = now_ms() - t0;
        float ms = 0;
        CK(cuEventElapsedTime(&ms, ev0, ev1));
        evt[i] = ms;
    }
    qsort(wall, (size_t)reps, sizeof wall[0], cmp_double);
    qsort(evt, (size_t)reps, sizeof evt[0], cmp_double);
    timing_t t = {wall[reps / 2], wall[0], evt[reps / 2]};
    return t;
}

// --- the run ---

static char *h_src, *h_dst, *h_pin;
static CUdeviceptr d_buf, m_buf;
static size_t max_n;
static int failures;

typedef struct {
    int threads;
    size_t chunk;
    int buffers; // 0: the engine's default (2 x threads)
    int mode;    // UM_STAGE_COPY_*; 0: the engine's default
} cfg_t;

static cfg_t cfgs[16];
static int ncfgs;
static size_t threshold = UM_STAGE_DEFAULT_THRESHOLD;

static void cfg_name(const cfg_t *c, int dflt, char *out, size_t size) {
    int mode = c->mode ? c->mode : UM_STAGE_DEFAULT_COPY;
    static const char *const names[] = {"?", "mc", "nt", "mc/nt"};
    snprintf(out, size, "staged t%d c%zuM b%d %s%s", c->threads, c->chunk / MiB,
             c->buffers > 0 ? c->buffers : 2 * c->threads, names[mode & 3], dflt ? "*" : "");
}

static void use_engine(const cfg_t *c, size_t thr) {
    um_stage_config_t sc = engine_config(c->threads, c->chunk, thr);
    sc.buffers = c->buffers;
    sc.copy_mode = c->mode;
    if (um_stage_init(&sc) != 0) {
        fprintf(stderr, "um_stage_init failed\n");
        exit(2);
    }
}

static int reps_for(size_t n) {
    return n >= 1024 * MiB ? 5 : n >= 256 * MiB ? 7 : n >= 16 * MiB ? 11 : 21;
}

// Reads device (or managed) memory back through pinned memory and checks the pattern.
static int verify_dev(CUdeviceptr d, size_t n, uint64_t seed) {
    CK(cuMemcpyDtoH(h_pin, d, n));
    return pattern_check(h_pin, n, seed) == 0;
}

static uint64_t seed_counter = 1000;

typedef struct {
    double plain, pinned;
} ref_t;

static void row(const char *dir, size_t n, const char *target, const char *name, timing_t t,
                const ref_t *ref, int ok) {
    double gbs = (double)n / (t.med * 1e6);
    char ratio[32] = "", pct[32] = "";
    if (ref && ref->plain > 0)
        snprintf(ratio, sizeof ratio, "%5.2fx", ref->plain / t.med);
    if (ref && ref->pinned > 0)
        snprintf(pct, sizeof pct, "%4.0f%%", 100.0 * ref->pinned / t.med);
    printf("%-3s %6zu %-7s %-24s %9.3f %9.3f %7.2f %7s %6s %9.3f %s\n", dir, n / MiB, target, name,
           t.med, t.min, gbs, ratio, pct, t.ev_med, ok ? "ok" : "MISMATCH");
    if (!ok)
        failures++;
    fflush(stdout);
}

// One H2D variant: fresh pattern into the source, warm-up + timed runs, then verification.
static timing_t h2d_variant(const char *target, CUdeviceptr dst, size_t n, const char *name,
                            int kind, void *src, CUstream s, const ref_t *ref) {
    uint64_t seed = seed_counter++;
    pattern_fill(src, n, seed);
    op_t o = {1, kind, dst, src, n, s};
    timing_t t = time_op(&o, 2, reps_for(n));
    int ok = verify_dev(dst, n, seed);
    row("H2D", n, target, name, t, ref, ok);
    return t;
}

static timing_t d2h_variant(const char *target, CUdeviceptr src, size_t n, const char *name,
                            int kind, void *dst, CUstream s, const ref_t *ref) {
    uint64_t seed = seed_counter++;
    pattern_fill(h_pin, n, seed);
    CK(cuMemcpyHtoD(src, h_pin, n));
    memset(h_pin, 0, n); // the pinned variant's destination must not start out right
    op_t o = {0, kind, src, dst, n, s};
    timing_t t = time_op(&o, 2, reps_for(n));
    int ok = pattern_check(dst, n, seed) == 0;
    row("D2H", n, target, name, t, ref, ok);
    return t;
}

static void run_size(size_t n, int sweep, CUstream s) {
    char name[64];
    for (int h2d = 1; h2d >= 0; h2d--) {
        const char *targets[2] = {"device", "managed"};
        CUdeviceptr ptrs[2] = {d_buf, m_buf};
        for (int ti = 0; ti < 2; ti++) {
            if (ptrs[ti] == 0)
                continue;
            if (ti == 1 && !(n == 256 * MiB || n == 1024 * MiB || n == 16 * MiB))
                continue;
            ref_t ref = {0, 0};
            timing_t (*variant)(const char *, CUdeviceptr, size_t, const char *, int, void *,
                                CUstream, const ref_t *) = h2d ? h2d_variant : d2h_variant;
            void *pageable = h2d ? h_src : h_dst;
            ref.plain = variant(targets[ti], ptrs[ti], n, "plain pageable", K_PLAIN, pageable, s,
                                NULL)
                            .med;
            ref.pinned =
                variant(targets[ti], ptrs[ti], n, "plain pinned", K_PLAIN, h_pin, s, &ref).med;
            ref_t r2 = ref;
            int last = (sweep && ti == 0) ? ncfgs : 1;
            for (int c = 0; c < last; c++) {
                use_engine(&cfgs[c], 0);
                cfg_name(&cfgs[c], c == 0, name, sizeof name);
                variant(targets[ti], ptrs[ti], n, name, K_STAGE, pageable, s, &r2);
            }
            use_engine(&cfgs[0], threshold);
            variant(targets[ti], ptrs[ti], n, "shim path (threshold)", K_SHIM, pageable, s, &r2);
            if (ti == 0)
                variant(targets[ti], ptrs[ti], n, "staged* async stream", K_STAGE_ASYNC, pageable,
                        s, &r2);
        }
    }
}

// --- host copy ceiling: T threads memcpy pageable <-> pinned, each its own share ---

typedef struct {
    char *dst;
    const char *src;
    size_t n;
} share_t;

static void *share_copy(void *arg) {
    share_t *a = arg;
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

static void host_ceiling(size_t n) {
    static const int ts[] = {1, 2, 4, 6, 8, 12, 16};
    printf("host memcpy %zu MiB, best of 3 (GB/s): threads", n / MiB);
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        printf(" %d", ts[i]);
    printf("\n  pageable->pinned:");
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        printf(" %.1f", host_copy_gbs(h_pin, h_src, n, ts[i]));
    printf("\n  pinned->pageable:");
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        printf(" %.1f", host_copy_gbs(h_dst, h_pin, n, ts[i]));
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
    use_engine(&cfgs[0], 0);
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

int main(int argc, char **argv) {
    size_t max_mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1024;
    const char *spec = argc > 2 ? argv[2] : "8:2";
    for (const char *p = spec; *p && ncfgs < 16;) {
        int t = atoi(p);
        const char *colon = strchr(p, ':');
        if (!colon || t <= 0)
            break;
        cfgs[ncfgs].threads = t;
        cfgs[ncfgs].chunk = (size_t)atoi(colon + 1) * MiB;
        const char *comma = strchr(colon, ',');
        const char *colon2 = strchr(colon + 1, ':');
        if (colon2 && (!comma || colon2 < comma)) {
            cfgs[ncfgs].buffers = atoi(colon2 + 1);
            const char *colon3 = strchr(colon2 + 1, ':');
            if (colon3 && (!comma || colon3 < comma))
                cfgs[ncfgs].mode = atoi(colon3 + 1);
        }
        ncfgs++;
        if (!comma)
            break;
        p = comma + 1;
    }
    if (getenv("STAGING_BENCH_THRESHOLD_MIB"))
        threshold = (size_t)atoi(getenv("STAGING_BENCH_THRESHOLD_MIB")) * MiB;
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
    printf("configs (t threads, c chunk, b buffers; host copies mc = memcpy, nt = streaming "
           "stores, mc/nt = memcpy for H2D fills and streaming stores for D2H drains; "
           "* = default):");
    for (int i = 0; i < ncfgs; i++) {
        char name[64];
        cfg_name(&cfgs[i], i == 0, name, sizeof name);
        printf(" [%s]", name + 7);
    }
    printf("; shim threshold %zu MiB\n", threshold / MiB);

    CK(cuEventCreate(&ev0, CU_EVENT_DEFAULT));
    CK(cuEventCreate(&ev1, CU_EVENT_DEFAULT));
    h_src = malloc(max_n);
    h_dst = malloc(max_n);
    CK(cuMemHostAlloc((void **)&h_pin, max_n, 0));
    memset(h_src, 1, max_n); // fault every pageable page in before any timing
    memset(h_dst, 1, max_n);
    memset(h_pin, 1, max_n);
    CK(cuMemAlloc(&d_buf, max_n));
    CK(cuMemsetD8(d_buf, 0, max_n));
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
    printf("%-3s %6s %-7s %-24s %9s %9s %7s %7s %6s %9s %s\n", "dir", "MiB", "target", "variant",
           "med_ms", "min_ms", "GB/s", "xplain", "%pin", "event_ms", "data");
    static const size_t sizes_mib[] = {1, 2, 4, 8, 16, 64, 256, 1024};
    for (size_t i = 0; i < sizeof sizes_mib / sizeof sizes_mib[0]; i++) {
        size_t n = sizes_mib[i] * MiB;
        if (n > max_n)
            break;
        run_size(n, 1, s);
    }

    // Per-thread default stream from the calling thread, into managed memory, async.
    if (m_buf) {
        size_t n = 16 * MiB;
        use_engine(&cfgs[0], 0);
        pattern_fill(h_src, n, 4242);
        CK(um_stage_htod(m_buf, h_src, n, CU_STREAM_PER_THREAD, 0));
        memset(h_src, 0, n); // the source may be reused on return
        CK(cuStreamSynchronize(CU_STREAM_PER_THREAD));
        int ok = verify_dev(m_buf, n, 4242);
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
    CK(cuMemFreeHost(h_pin));
    free(h_src);
    free(h_dst);
    printf("staging_bench: %s\n", failures ? "FAILED (data mismatch)" : "all data verified");
    return failures ? 1 : 0;
}
