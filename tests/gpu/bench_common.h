// Shared by the standalone GPU benchmarks (batch_copy_bench, populate_bench): exit on the
// first CUDA error, naming the call; a monotonic host clock.
#ifndef UMSHIM_TESTS_GPU_BENCH_COMMON_H
#define UMSHIM_TESTS_GPU_BENCH_COMMON_H

#include <cuda_runtime.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t ck_e = (call);                                                                 \
        if (ck_e != cudaSuccess) {                                                                 \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(ck_e)); \
            exit(2);                                                                               \
        }                                                                                          \
    } while (0)

static inline double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

#endif
