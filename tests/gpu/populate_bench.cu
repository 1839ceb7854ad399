// populate_bench: what making a large allocation managed costs before its first kernel, and
// whether the way the shim creates its pages (one prefetch of the whole never-touched range,
// shim/memory.c populate) can be cheaper. big_alloc under auto spends ~14 ms more in its body
// than with cudaMalloc, most of it system time: the UVM driver's own work per 2 MiB block,
// not copying (no data moves). Variants, interleaved round by round, medians of host wall
// time; each allocates, creates its pages, runs one fill kernel over the whole range, syncs
// (alloc..fill), then frees (free):
//   device         cudaMalloc, fill                                  (the program as written)
//   managed        cudaMallocManaged, one prefetch to the GPU, fill  (what the shim does)
//   managed+pref   the same after cudaMemAdviseSetPreferredLocation(GPU)
//   chunks-T       one prefetch per 1/T of the range, one thread, one stream
//   threads-T      T host threads, each prefetching its 1/T on its own non-blocking stream
//                  and waiting for it; the fill starts when all are done
//   faults         cudaMallocManaged, fill with no prefetch (GPU page faults; the naive port)
// Never asks for more than free memory: skips (exit 77) unless the size + 4 GiB is free.
//
//   populate_bench [MiB [rounds]]   defaults: 1280 (big_alloc's 1.25 GiB), 7
#include "tests/gpu/bench_common.h"

#include <cuda_runtime.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

__global__ void fill(unsigned int *p, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        p[i] = (unsigned int)(i * 2654435761u);
}

enum { V_DEVICE, V_MANAGED, V_MANAGED_PREF, V_CHUNKS, V_THREADS, V_FAULTS };

typedef struct {
    const char *name;
    int kind, parts;
} variant_t;

static const variant_t variants[] = {
    {"device", V_DEVICE, 1},      {"managed", V_MANAGED, 1},    {"managed+pref", V_MANAGED_PREF, 1},
    {"chunks-4", V_CHUNKS, 4},    {"chunks-16", V_CHUNKS, 16},  {"threads-2", V_THREADS, 2},
    {"threads-4", V_THREADS, 4},  {"threads-8", V_THREADS, 8},  {"faults", V_FAULTS, 1},
};
#define NV ((int)(sizeof variants / sizeof variants[0]))
#define MAX_ROUNDS 64

static cudaMemLocation gpu0(void) {
    cudaMemLocation l;
    memset(&l, 0, sizeof l);
    l.type = cudaMemLocationTypeDevice;
    l.id = 0;
    return l;
}

typedef struct {
    char *base;
    size_t bytes;
} slice_t;

static void *prefetch_slice(void *arg) {
    slice_t *s = (slice_t *)arg;
    cudaStream_t st;
    CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    CHECK(cudaMemPrefetchAsync(s->base, s->bytes, gpu0(), 0, st));
    CHECK(cudaStreamSynchronize(st));
    CHECK(cudaStreamDestroy(st));
    return NULL;
}

// One run of a variant: alloc..fill done, then the free; returns the fill's check word.
static unsigned int run(const variant_t *v, size_t bytes, double *t_fill, double *t_free) {
    const size_t n = bytes / sizeof(unsigned int);
    unsigned int *p = NULL;
    double t0 = now_us() / 1e3;
    if (v->kind == V_DEVICE) {
        CHECK(cudaMalloc((void **)&p, bytes));
    } else {
        CHECK(cudaMallocManaged((void **)&p, bytes, cudaMemAttachGlobal));
        if (v->kind == V_MANAGED_PREF)
            CHECK(cudaMemAdvise(p, bytes, cudaMemAdviseSetPreferredLocation, gpu0()));
        if (v->kind == V_MANAGED || v->kind == V_MANAGED_PREF)
            CHECK(cudaMemPrefetchAsync(p, bytes, gpu0(), 0, 0));
        if (v->kind == V_CHUNKS || v->kind == V_THREADS) {
            size_t per = (bytes / v->parts + ((size_t)2 << 20) - 1) & ~(((size_t)2 << 20) - 1);
            slice_t s[16];
            pthread_t th[16];
            int k = 0;
            for (size_t off = 0; off < bytes && k < 16; off += per, k++) {
                s[k].base = (char *)p + off;
                s[k].bytes = bytes - off < per ? bytes - off : per;
                if (v->kind == V_CHUNKS)
                    CHECK(cudaMemPrefetchAsync(s[k].base, s[k].bytes, gpu0(), 0, 0));
                else if (pthread_create(&th[k], NULL, prefetch_slice, &s[k]) != 0) {
                    fprintf(stderr, "populate_bench: pthread_create failed\n");
                    exit(2);
                }
            }
            if (v->kind == V_THREADS)
                for (int i = 0; i < k; i++)
                    pthread_join(th[i], NULL);
        }
    }
    fill<<<1024, 256>>>(p, n);
    CHECK(cudaGetLastError());
    CHECK(cudaDeviceSynchronize());
    double t1 = now_us() / 1e3;
    unsigned int check = 0;
    CHECK(cudaMemcpy(&check, p + n - 1, sizeof check, cudaMemcpyDeviceToHost));
    double t2 = now_us() / 1e3;
    CHECK(cudaFree(p));
    *t_fill = t1 - t0;
    *t_free = now_us() / 1e3 - t2;
    return check;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1280;
    int rounds = argc > 2 ? atoi(argv[2]) : 7;
    if (mib < 2 || mib > ((size_t)1 << 20) || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: populate_bench [MiB (2..1048576) [rounds (1..%d)]]\n", MAX_ROUNDS);
        return 2;
    }
    const size_t bytes = mib << 20;
    int dev_count = 0;
    if (cudaGetDeviceCount(&dev_count) != cudaSuccess || dev_count == 0) {
        printf("populate_bench: skipped, no GPU\n");
        return 77;
    }
    size_t fr = 0, total = 0;
    CHECK(cudaMemGetInfo(&fr, &total));
    if (fr < bytes + ((size_t)4 << 30)) {
        printf("populate_bench: skipped, %zu MiB free, need %zu MiB\n", fr >> 20, mib + 4096);
        return 77;
    }
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0));
    printf("populate_bench: %s, %zu MiB, %d rounds, variants interleaved (order rotating)\n",
           prop.name, mib, rounds);
    double t_fill[NV][MAX_ROUNDS], t_free[NV][MAX_ROUNDS], t;
    unsigned int want = 0;
    int bad = 0;
    (void)run(&variants[0], bytes, &t, &t); // warm-up: context, module, allocator
    for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < NV; j++) {
            int i = (r + j) % NV;
            unsigned int c = run(&variants[i], bytes, &t_fill[i][r], &t_free[i][r]);
            if (r == 0 && j == 0)
                want = c;
            else if (c != want)
                bad = 1;
        }
    }
    printf("%-14s %12s %12s %12s %12s\n", "variant", "alloc..fill", "free", "total", "vs device");
    double base = 0;
    for (int i = 0; i < NV; i++) {
        double tot[MAX_ROUNDS];
        for (int r = 0; r < rounds; r++)
            tot[r] = t_fill[i][r] + t_free[i][r];
        double mt = median(tot, rounds);
        if (i == 0)
            base = mt;
        printf("%-14s %9.2f ms %9.2f ms %9.2f ms %11.2fx\n", variants[i].name, median(t_fill[i], rounds),
               median(t_free[i], rounds), mt, mt / base);
    }
    printf("data: %s\n", bad ? "MISMATCH" : "ok (the last word filled is the same in every run)");
    return bad ? 1 : 0;
}
