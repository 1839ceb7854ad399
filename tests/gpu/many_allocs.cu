// Many small allocations: 3000 buffers of 256 B .. 64 KiB (fixed pseudo-random sizes), each
// memset, incremented by a kernel, copied back and hashed; freed in a shuffled order.
#include "tests/gpu/gpu_common.h"

#include <vector>

__global__ void bump(unsigned char *p, size_t n, unsigned char v) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i < n) p[i] = (unsigned char)(p[i] + v + (unsigned char)i);
}

int main() {
    need_gpu();
    const int K = 3000;
    std::vector<unsigned char *> bufs(K);
    std::vector<size_t> sizes(K);
    uint32_t rng = 12345;
    auto next = [&]() { rng = rng * 1664525u + 1013904223u; return rng >> 8; };
    for (int k = 0; k < K; k++) {
        sizes[k] = 256 + (next() % (64 * 1024 - 256));
        dev_alloc(&bufs[k], sizes[k]);
        dev_memset(bufs[k], k & 0xff, sizes[k]);
        bump<<<(unsigned)((sizes[k] + 255) / 256), 256>>>(bufs[k], sizes[k], (unsigned char)(k * 3));
        launched();
    }
    uint64_t h = 1469598103934665603ull;
    std::vector<unsigned char> host(64 * 1024);
    for (int k = 0; k < K; k++) {
        copy(host.data(), bufs[k], sizes[k], cudaMemcpyDeviceToHost);
        h = fnv(host.data(), sizes[k], h);
    }
    for (int k = 0; k < K; k++) {
        int j = (int)(next() % (unsigned)K);
        std::swap(bufs[k], bufs[j]);
    }
    for (int k = 0; k < K; k++) dev_free(bufs[k]);
    std::printf("allocations %d hash %016llx\n", K, (unsigned long long)h);
    expect_write();
    std::printf("done\n");
    return 0;
}
