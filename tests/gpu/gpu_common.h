// Shared by the real-GPU test programs (CUDA C++, built with nvcc, each linked twice: static
// cudart and shared cudart). Every program prints only results that must be identical with
// and without the shim (hashes of the bytes it reads back), counts what it makes in the
// format of tests/integration/expect.h (written to $WORKLOAD_EXPECT for the passthrough trace
// check), and exits 77 when it cannot run here (reported as skipped, never passed).
#ifndef UMSHIM_TESTS_GPU_COMMON_H
#define UMSHIM_TESTS_GPU_COMMON_H

#include <cuda_runtime.h>

#include "bench_common.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#define GPU_SKIP 77

// --- what the program made (keys of tests/integration/expect.h) ---
struct gpu_expect {
    std::atomic<long long> alloc{0}, free{0}, copy_h2d{0}, bytes_h2d{0}, copy_d2h{0}, bytes_d2h{0}, copy_d2d{0},
        bytes_d2d{0}, memset{0}, launch{0}, graph{0};
};
static gpu_expect expect;

static inline void expect_write() {
    const char *path = std::getenv("WORKLOAD_EXPECT");
    if (!path || !*path) return;
    FILE *f = std::fopen(path, "w");
    if (!f) return;
    std::fprintf(f, "alloc %lld\nfree %lld\ncopy_h2d %lld\nbytes_h2d %lld\ncopy_d2h %lld\nbytes_d2h %lld\n"
                    "copy_d2d %lld\nbytes_d2d %lld\nmemset %lld\nlaunch %lld\ngraph %lld\n",
                 expect.alloc.load(), expect.free.load(), expect.copy_h2d.load(), expect.bytes_h2d.load(),
                 expect.copy_d2h.load(), expect.bytes_d2h.load(), expect.copy_d2d.load(), expect.bytes_d2d.load(),
                 expect.memset.load(), expect.launch.load(), expect.graph.load());
    std::fclose(f);
}

// --- counted calls ---
template <typename T> static void dev_alloc(T **p, size_t n) {
    CHECK(cudaMalloc((void **)p, n));
    expect.alloc++;
}
static void dev_free(void *p) {
    CHECK(cudaFree(p));
    expect.free++;
}
static void copy(void *dst, const void *src, size_t n, cudaMemcpyKind kind, cudaStream_t s = 0, bool async = false) {
    if (async) CHECK(cudaMemcpyAsync(dst, src, n, kind, s));
    else CHECK(cudaMemcpy(dst, src, n, kind));
    if (kind == cudaMemcpyHostToDevice) expect.copy_h2d++, expect.bytes_h2d += (long long)n;
    else if (kind == cudaMemcpyDeviceToHost) expect.copy_d2h++, expect.bytes_d2h += (long long)n;
    else if (kind == cudaMemcpyDeviceToDevice) expect.copy_d2d++, expect.bytes_d2d += (long long)n;
}
static void dev_memset(void *p, int v, size_t n, cudaStream_t s = 0, bool async = false) {
    if (async) CHECK(cudaMemsetAsync(p, v, n, s));
    else CHECK(cudaMemset(p, v, n));
    expect.memset++;
}
// Call after every <<<>>> launch.
static void launched() {
    CHECK(cudaGetLastError());
    expect.launch++;
}

static inline uint64_t fnv(const void *p, size_t n, uint64_t h = 1469598103934665603ull) {
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

// Exits 77 (skipped) when there is no usable GPU.
static inline void need_gpu() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
        std::printf("skipped: no CUDA device\n");
        std::exit(GPU_SKIP);
    }
    // The context now, and a line, so tools/gpu/wall_phases.py's "start" is the process and
    // CUDA start-up and its "body" the program's own work.
    CHECK(cudaDeviceSynchronize());
    std::printf("cuda ready\n");
}

#endif
