// Shared by the GPU programs: CHECK, which exits 2 on the first CUDA error, naming the call
// (also used by every test program, through gpu_common.h); a monotonic host clock for the
// standalone benchmarks (batch_copy_bench, populate_bench).
#ifndef UMSHIM_TESTS_GPU_BENCH_COMMON_H
#define UMSHIM_TESTS_GPU_BENCH_COMMON_H

#include <cuda_runtime.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHECK(call)                                                                                \
    do {                                                                                           \
        cudaError_t check_e = (call);                                                              \
        if (check_e != cudaSuccess) {                                                              \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call,                  \
                    cudaGetErrorString(check_e));                                                  \
            exit(2);                                                                               \
        }                                                                                          \
    } while (0)

static inline double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

#endif
