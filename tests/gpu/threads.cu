// Twelve host threads allocate, copy (sync and async), memset, launch and free at the same
// time, each on its own stream. One hash per thread, printed in thread order after the joins.
#include "tests/gpu/gpu_common.h"

#include <thread>
#include <vector>

__global__ void mix(unsigned int *p, int n, unsigned int salt) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) p[i] = (p[i] ^ salt) * 2654435761u + (unsigned int)i;
}

int main() {
    need_gpu();
    const int T = 12, ITERS = 20, N = 1 << 18;
    const size_t bytes = N * sizeof(unsigned int);
    std::vector<uint64_t> result(T);
    std::vector<std::thread> th;
    for (int t = 0; t < T; t++)
        th.emplace_back([&, t]() {
            cudaStream_t s;
            // A blocking stream: the even iterations' cudaMemcpy runs on the legacy stream, and a
            // pageable H2D cudaMemcpy may return before its DMA lands; only a blocking stream
            // orders the kernel after it (a non-blocking one raced here on the H100).
            CHECK(cudaStreamCreate(&s));
            std::vector<unsigned int> host(N);
            uint64_t h = 1469598103934665603ull;
            for (int it = 0; it < ITERS; it++) {
                unsigned int *a, *b;
                dev_alloc(&a, bytes);
                dev_alloc(&b, 4096);
                for (int i = 0; i < N; i++) host[i] = (unsigned int)(i * (t + 1) + it);
                if (it & 1) copy(a, host.data(), bytes, cudaMemcpyHostToDevice, s, true);
                else copy(a, host.data(), bytes, cudaMemcpyHostToDevice);
                dev_memset(b, t, 4096, s, true);
                mix<<<N / 256, 256, 0, s>>>(a, N, (unsigned int)(t * 977 + it));
                launched();
                copy(host.data(), a, bytes, cudaMemcpyDeviceToHost, s, true);
                CHECK(cudaStreamSynchronize(s));
                h = fnv(host.data(), bytes, h);
                dev_free(a);
                dev_free(b);
            }
            CHECK(cudaStreamDestroy(s));
            result[t] = h;
        });
    for (auto &x : th) x.join();
    for (int t = 0; t < T; t++) std::printf("thread %d %016llx\n", t, (unsigned long long)result[t]);
    expect_write();
    std::printf("done\n");
    return 0;
}
