// batch_copy_bench: where a legacy batch loses to a hand port, and how much of it a
// transparent shim could win back. One batch is the recall demo's shape: upload the queries
// (Q x D floats), run a kernel that reads them, read two small result arrays back. Variants,
// interleaved round by round, medians of host wall time per batch (after a device sync):
//   legacy      pageable source and destinations, synchronous cudaMemcpy (recall_demo)
//   bounce      what a shim can do without changing the program: the upload copied into a
//               pinned buffer and queued asynchronously, returning before its DMA (the
//               driver documents that a pageable H2D may); read-backs through a pinned buffer
//   hand port   queries written in place in pinned memory, async copies, one sync at the end
//               (recall_demo_um's small-buffer path)
// The bounce variant's upload includes the host copy out of the program's pageable buffer,
// which the hand port never makes (it produces the queries in pinned memory).
//
//   batch_copy_bench [query_bytes [kernel_us [rounds]]]   defaults: 307200 (Q=100, D=768),
//                                                          550 us, 201
#include "tests/gpu/bench_common.h"

#include <cuda_runtime.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


// Reads the queries (so the upload must have landed) and spins for `cycles`.
__global__ void work(const float *q, size_t n, float *out, long long cycles) {
    long long t0 = clock64();
    float acc = 0;
    for (size_t i = threadIdx.x; i < n; i += blockDim.x) acc += q[i];
    while (clock64() - t0 < cycles) {
    }
    if (threadIdx.x == 0)
        out[0] = acc;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

enum { LEGACY, BOUNCE, HAND, NV };
static const char *const names[NV] = {"legacy", "bounce", "hand port"};

int main(int argc, char **argv) {
    size_t qb = argc > 1 ? strtoull(argv[1], NULL, 10) : 307200;
    double kernel_us = argc > 2 ? atof(argv[2]) : 550;
    int rounds = argc > 3 ? atoi(argv[3]) : 201;
    if (qb < 4 || kernel_us < 0 || rounds < 3) {
        fprintf(stderr, "usage: batch_copy_bench [query_bytes>=4 [kernel_us>=0 [rounds>=3]]]\n");
        return 2;
    }
    const size_t rb = 4000; // Q=100 x k=10 x 4 bytes, twice (indices and scores)
    int clock_khz = 0;
    CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0));
    long long cycles = (long long)(kernel_us * clock_khz / 1e3);
    size_t n = qb / sizeof(float);
    float *hq = (float *)malloc(qb), *hr1 = (float *)malloc(rb), *hr2 = (float *)malloc(rb);
    float *pq, *pr1, *pr2, *dq, *dr1, *dr2;
    CHECK(cudaMallocHost(&pq, qb));
    CHECK(cudaMallocHost(&pr1, rb));
    CHECK(cudaMallocHost(&pr2, rb));
    CHECK(cudaMalloc(&dq, qb));
    CHECK(cudaMalloc(&dr1, rb));
    CHECK(cudaMalloc(&dr2, rb));
    CHECK(cudaMemset(dr2, 0, rb));
    if (!hq || !hr1 || !hr2)
        return 2;
    for (size_t i = 0; i < n; i++)
        hq[i] = pq[i] = (float)(i & 1023);
    double *t = (double *)malloc(sizeof(double) * NV * (size_t)rounds);
    for (int r = -3; r < rounds; r++) {
        for (int k = 0; k < NV; k++) {
            int v = (k + (r < 0 ? 0 : r)) % NV; // rotate the order
            CHECK(cudaDeviceSynchronize());
            double t0 = now_us();
            switch (v) {
            case LEGACY:
                CHECK(cudaMemcpy(dq, hq, qb, cudaMemcpyHostToDevice));
                work<<<1, 128>>>(dq, n, dr1, cycles);
                CHECK(cudaMemcpy(hr1, dr1, rb, cudaMemcpyDeviceToHost));
                CHECK(cudaMemcpy(hr2, dr2, rb, cudaMemcpyDeviceToHost));
                break;
            case BOUNCE:
                memcpy(pq, hq, qb);
                CHECK(cudaMemcpyAsync(dq, pq, qb, cudaMemcpyHostToDevice, 0));
                work<<<1, 128>>>(dq, n, dr1, cycles);
                CHECK(cudaMemcpyAsync(pr1, dr1, rb, cudaMemcpyDeviceToHost, 0));
                CHECK(cudaStreamSynchronize(0));
                memcpy(hr1, pr1, rb);
                CHECK(cudaMemcpyAsync(pr2, dr2, rb, cudaMemcpyDeviceToHost, 0));
                CHECK(cudaStreamSynchronize(0));
                memcpy(hr2, pr2, rb);
                break;
            case HAND:
                CHECK(cudaMemcpyAsync(dq, pq, qb, cudaMemcpyHostToDevice, 0));
                work<<<1, 128>>>(dq, n, dr1, cycles);
                CHECK(cudaMemcpyAsync(pr1, dr1, rb, cudaMemcpyDeviceToHost, 0));
                CHECK(cudaMemcpyAsync(pr2, dr2, rb, cudaMemcpyDeviceToHost, 0));
                CHECK(cudaDeviceSynchronize());
                break;
            }
            CHECK(cudaGetLastError());
            CHECK(cudaDeviceSynchronize());
            if (r >= 0)
                t[v * rounds + r] = now_us() - t0;
        }
    }
    // All three read back the same kernel output: check it agrees.
    if (memcmp(hr1, pr1, sizeof(float)) != 0) {
        fprintf(stderr, "batch_copy_bench: legacy and pinned read-backs differ\n");
        return 1;
    }
    double med[NV];
    for (int v = 0; v < NV; v++) {
        qsort(t + v * rounds, (size_t)rounds, sizeof(double), cmp);
        med[v] = t[v * rounds + rounds / 2];
    }
    printf("batch: %zu-byte upload, %.0f us kernel, 2 x %zu-byte read-backs; median of %d "
           "interleaved rounds\n",
           qb, kernel_us, rb, rounds);
    for (int v = 0; v < NV; v++)
        printf("  %-10s %8.1f us  %.3fx hand port\n", names[v], med[v], med[v] / med[HAND]);
    printf("  gap to the hand port: legacy %.1f us, bounce %.1f us (%.0f%% of it won back)\n",
           med[LEGACY] - med[HAND], med[BOUNCE] - med[HAND],
           100.0 * (med[LEGACY] - med[BOUNCE]) / (med[LEGACY] - med[HAND]));
    return 0;
}
