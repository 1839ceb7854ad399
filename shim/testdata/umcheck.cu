// The shim owner's GPU self-check: an ordinary explicit-copy CUDA program (cudaMalloc,
// cudaMemcpy, kernels with interior-pointer and struct arguments, memsets, async copies on
// a stream, pinned memory, stream-ordered allocations, stream capture + graph replay, bad
// frees). stdout is deterministic and must be identical with and without the shim in every
// mode; timings and IPC results go to stderr. Built static (nvcc default), with -cudart
// shared, and with --default-stream per-thread (the _ptds/_ptsz entry points).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cuda_runtime.h>

struct Pair {
    int n;
    float *a;
    float *b;
};

__global__ void saxpy(float a, const float *x, float *y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = a * x[i] + y[i];
}

__global__ void add_pair(Pair p) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < p.n)
        p.b[i] += p.a[i] * 0.25f;
}

__global__ void bump(float *p, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = p[i] * 0.5f + 1.0f;
}

static uint64_t fnv(const void *d, size_t n) {
    const unsigned char *p = (const unsigned char *)d;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#define CK(x)                                                                                      \
    do {                                                                                           \
        cudaError_t e_ = (x);                                                                      \
        if (e_ != cudaSuccess) {                                                                   \
            printf("FAIL %s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorName(e_));          \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv) {
    const int n = 16 << 20; // 64 MiB of floats per big array
    const size_t bytes = (size_t)n * sizeof(float);
    const int iters = argc > 1 ? atoi(argv[1]) : 10;
    std::vector<float> hx(n), hy(n), hz(n);
    for (int i = 0; i < n; i++) {
        hx[i] = (float)(i % 1000) * 0.001f;
        hy[i] = (float)(i % 7);
    }
    float *dx, *dy, *small, *dz;
    CK(cudaMalloc(&dx, bytes));
    CK(cudaMalloc(&dy, bytes));
    CK(cudaMalloc(&dz, bytes));
    CK(cudaMalloc(&small, 4096));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));

    // 1. sync copies + launches with interior pointers, repeated (steady state)
    CK(cudaMemcpy(dx, hx.data(), bytes, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dy, hy.data(), bytes, cudaMemcpyHostToDevice));
    CK(cudaMemset(small, 0, 4096));
    CK(cudaEventRecord(e0));
    for (int it = 0; it < iters; it++) {
        saxpy<<<(n / 2 + 255) / 256, 256>>>(1.5f, dx + n / 2, dy + n / 2, n / 2);
        saxpy<<<(n / 2 + 255) / 256, 256>>>(0.5f, dx, dy, n / 2);
    }
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    fprintf(stderr, "timing steady_launches_ms %.3f\n", ms);
    CK(cudaMemcpy(hz.data(), dy, bytes, cudaMemcpyDeviceToHost));
    printf("step1 %016llx\n", (unsigned long long)fnv(hz.data(), bytes));

    // 2. struct argument holding pointers, memset of part of an allocation
    Pair p = {n, dx, dz};
    CK(cudaMemset(dz, 0, bytes));
    CK(cudaMemset(dz + 100, 0x3f, 4096));
    add_pair<<<(n + 255) / 256, 256>>>(p);
    CK(cudaGetLastError());
    CK(cudaMemcpy(hz.data(), dz, bytes, cudaMemcpyDeviceToHost));
    printf("step2 %016llx\n", (unsigned long long)fnv(hz.data(), bytes));

    // 3. a stream: async copies (pageable and pinned), kernel, async read-back
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    float *pin;
    CK(cudaMallocHost(&pin, bytes));
    memcpy(pin, hy.data(), bytes);
    CK(cudaMemcpyAsync(dz, pin, bytes, cudaMemcpyHostToDevice, s));
    bump<<<(n + 255) / 256, 256, 0, s>>>(dz, n);
    CK(cudaMemcpyAsync(dy, hx.data(), bytes, cudaMemcpyHostToDevice, s));
    saxpy<<<(n + 255) / 256, 256, 0, s>>>(2.0f, dz, dy, n);
    CK(cudaMemcpyAsync(pin, dy, bytes, cudaMemcpyDeviceToHost, s));
    CK(cudaStreamSynchronize(s));
    printf("step3 %016llx\n", (unsigned long long)fnv(pin, bytes));

    // 4. stream-ordered allocation (recorded, not rewritten)
    float *pool;
    CK(cudaMallocAsync(&pool, bytes, s));
    CK(cudaMemcpyAsync(pool, dy, bytes, cudaMemcpyDeviceToDevice, s));
    bump<<<(n + 255) / 256, 256, 0, s>>>(pool, n);
    CK(cudaMemcpyAsync(hz.data(), pool, bytes, cudaMemcpyDeviceToHost, s));
    CK(cudaFreeAsync(pool, s));
    CK(cudaStreamSynchronize(s));
    printf("step4 %016llx\n", (unsigned long long)fnv(hz.data(), bytes));

    // 5. stream capture and graph replay (the shim must insert nothing while capturing)
    cudaGraph_t g;
    cudaGraphExec_t ge;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    bump<<<(n + 255) / 256, 256, 0, s>>>(dx, n);
    saxpy<<<(n + 255) / 256, 256, 0, s>>>(1.0f, dx, dy, n);
    CK(cudaStreamEndCapture(s, &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    for (int it = 0; it < 3; it++)
        CK(cudaGraphLaunch(ge, s));
    CK(cudaStreamSynchronize(s));
    CK(cudaMemcpy(hz.data(), dy, bytes, cudaMemcpyDeviceToHost));
    printf("step5 %016llx\n", (unsigned long long)fnv(hz.data(), bytes));

    // 6. many small allocations (stay device memory below the threshold)
    std::vector<float *> many(200);
    for (auto &m : many)
        CK(cudaMalloc(&m, 1024));
    for (size_t i = 0; i < many.size(); i++)
        CK(cudaMemcpy(many[i], hx.data() + i * 256, 1024, cudaMemcpyHostToDevice));
    uint64_t hsum = 0;
    for (size_t i = 0; i < many.size(); i++) {
        bump<<<1, 256>>>(many[i], 256);
        CK(cudaMemcpy(hz.data(), many[i], 1024, cudaMemcpyDeviceToHost));
        hsum += fnv(hz.data(), 1024);
    }
    for (auto &m : many)
        CK(cudaFree(m));
    printf("step6 %016llx\n", (unsigned long long)hsum);

    // 7. pointer attributes and memory info
    cudaPointerAttributes at;
    CK(cudaPointerGetAttributes(&at, dy + 5));
    printf("step7 type=%d device=%d\n", (int)at.type, at.device);
    size_t fr = 0, tot = 0;
    CK(cudaMemGetInfo(&fr, &tot));
    fprintf(stderr, "meminfo free=%zu total=%zu\n", fr, tot);

    // 8. IPC on a big allocation (fails under managed rewrite; result on stderr)
    cudaIpcMemHandle_t ih;
    cudaError_t ie = cudaIpcGetMemHandle(&ih, dy);
    fprintf(stderr, "ipc %s\n", cudaGetErrorName(ie));
    cudaGetLastError();

    // 9. bad frees: the same error codes as without the shim, and nothing breaks after
    cudaError_t f1 = cudaFree((void *)0x1234);
    cudaGetLastError();
    CK(cudaFree(dz));
    cudaError_t f2 = cudaFree(dz);
    cudaGetLastError();
    cudaError_t f3 = cudaFree(dx + 8);
    cudaGetLastError();
    printf("step9 unknown=%d double=%d interior=%d\n", (int)f1, (int)f2, (int)f3);
    CK(cudaMemcpy(hz.data(), dx, bytes, cudaMemcpyDeviceToHost));
    printf("step9b %016llx\n", (unsigned long long)fnv(hz.data(), bytes));

    CK(cudaFreeHost(pin));
    CK(cudaFree(dx));
    CK(cudaFree(dy));
    CK(cudaFree(small));
    CK(cudaStreamDestroy(s));
    printf("done\n");
    return 0;
}
