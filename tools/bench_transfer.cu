// The measurement behind `umshim bench transfer`: how long it takes to get N bytes of
// host-written data onto the GPU, four ways, on the current GPU:
//   pinned     cudaMemcpy H2D from cudaMallocHost memory (the explicit best case)
//   pageable   cudaMemcpy H2D from malloc memory (what most legacy code does)
//   prefetch   managed memory written by the CPU, then cudaMemPrefetchAsync to the GPU
//              (the seed's "Unified Memory (prefetch)" column)
//   fault      managed memory written by the CPU, then a kernel that reads all of it and
//              faults it in (naive Unified Memory)
// Each is timed with CUDA events around the transfer only, after warm-up; the host writes
// that put managed data back on the CPU happen outside the timed region. Prints one line
// per size (medians in microseconds) for umshim bench to format:
//   size BYTES pinned US pageable US prefetch US fault US
// or "skip BYTES reason". Exit status 2 with a message when there is no usable GPU.
// It never asks for more managed memory than the device has free (minus a margin).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#define CHECK(call)                                                                                \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "bench_transfer: %s: %s\n", #call, cudaGetErrorString(e_));            \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

// Reads every 16 bytes so each page is touched; the sum keeps the compiler honest.
__global__ void touch(const int4 *p, size_t n, int *sink) {
    int acc = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        acc ^= p[i].x ^ p[i].w;
    if (acc == 0x7fffffff)
        *sink = acc;
}

static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

struct timer {
    cudaEvent_t a, b;
    timer() {
        CHECK(cudaEventCreate(&a));
        CHECK(cudaEventCreate(&b));
    }
    ~timer() {
        cudaEventDestroy(a);
        cudaEventDestroy(b);
    }
    void start(cudaStream_t s) { CHECK(cudaEventRecord(a, s)); }
    double stop_us(cudaStream_t s) {
        CHECK(cudaEventRecord(b, s));
        CHECK(cudaEventSynchronize(b));
        float ms = 0;
        CHECK(cudaEventElapsedTime(&ms, a, b));
        return ms * 1000.0;
    }
};

int main(int argc, char **argv) {
    std::vector<size_t> sizes;
    int reps_override = 0, warmup = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps_override = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) {
            warmup = atoi(argv[++i]);
        } else {
            char *end;
            unsigned long long v = strtoull(argv[i], &end, 10);
            if (*end || v == 0) {
                fprintf(stderr, "usage: bench_transfer [--reps N] [--warmup N] BYTES...\n");
                return 64;
            }
            sizes.push_back((size_t)v);
        }
    }
    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev == 0) {
        fprintf(stderr, "bench_transfer: no CUDA GPU: %s\n",
                e != cudaSuccess ? cudaGetErrorString(e) : "no devices");
        return 2;
    }
    int dev = 0;
    CHECK(cudaSetDevice(dev));
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, dev));
    int cma = 0;
    CHECK(cudaDeviceGetAttribute(&cma, cudaDevAttrConcurrentManagedAccess, dev));
    size_t free_b = 0, total_b = 0;
    CHECK(cudaMemGetInfo(&free_b, &total_b));
    printf("device %s\n", prop.name);
    printf("memory free %zu total %zu\n", free_b, total_b);
    printf("concurrent_managed_access %d\n", cma);
    fflush(stdout);

    cudaStream_t s;
    CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    int *sink;
    CHECK(cudaMalloc(&sink, sizeof *sink));
    timer t;
    cudaMemLocation on_gpu = {};
    on_gpu.type = cudaMemLocationTypeDevice;
    on_gpu.id = dev;
    const size_t margin = 1ull << 30;

    for (size_t n : sizes) {
        CHECK(cudaMemGetInfo(&free_b, &total_b));
        // device buffer + managed buffer live together; keep a margin for everyone else
        if (2 * n + margin > free_b) {
            printf("skip %zu needs %zu bytes free, %zu are\n", n, 2 * n + margin, free_b);
            fflush(stdout);
            continue;
        }
        int reps = reps_override > 0 ? reps_override : n >= (512ull << 20) ? 5 : n >= (64ull << 20) ? 10 : 30;
        void *d, *pinned, *pageable, *managed;
        CHECK(cudaMalloc(&d, n));
        CHECK(cudaMallocHost(&pinned, n));
        pageable = malloc(n);
        if (pageable == NULL) {
            printf("skip %zu host memory\n", n);
            continue;
        }
        memset(pinned, 1, n);
        memset(pageable, 1, n);
        CHECK(cudaMallocManaged(&managed, n));
        std::vector<double> v_pinned, v_pageable, v_prefetch, v_fault;
        size_t n4 = n / sizeof(int4);
        for (int r = 0; r < warmup + reps; r++) {
            bool keep = r >= warmup;
            t.start(s);
            CHECK(cudaMemcpyAsync(d, pinned, n, cudaMemcpyHostToDevice, s));
            double us = t.stop_us(s);
            if (keep)
                v_pinned.push_back(us);

            t.start(s);
            CHECK(cudaMemcpyAsync(d, pageable, n, cudaMemcpyHostToDevice, s));
            us = t.stop_us(s);
            if (keep)
                v_pageable.push_back(us);

            memset(managed, r, n); // data written on the CPU: pages now live on the host
            t.start(s);
            CHECK(cudaMemPrefetchAsync(managed, n, on_gpu, 0, s));
            us = t.stop_us(s);
            if (keep)
                v_prefetch.push_back(us);

            memset(managed, r + 1, n);
            if (n4 > 0) {
                t.start(s);
                touch<<<std::min<size_t>((n4 + 255) / 256, 4096), 256, 0, s>>>((const int4 *)managed, n4, sink);
                CHECK(cudaGetLastError());
                us = t.stop_us(s);
                if (keep)
                    v_fault.push_back(us);
            }
        }
        printf("size %zu pinned %.2f pageable %.2f prefetch %.2f fault %.2f reps %d\n", n,
               median(v_pinned), median(v_pageable), median(v_prefetch),
               v_fault.empty() ? 0.0 : median(v_fault), reps);
        fflush(stdout);
        CHECK(cudaFree(managed));
        CHECK(cudaFree(d));
        CHECK(cudaFreeHost(pinned));
        free(pageable);
    }
    CHECK(cudaFree(sink));
    CHECK(cudaStreamDestroy(s));
    return 0;
}
