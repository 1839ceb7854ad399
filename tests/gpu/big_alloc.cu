// One allocation of 1.25 GiB (>= 1 GiB), filled and reduced on the GPU, read back in part.
// Checks free memory first and skips (exit 77) unless 1.25 GiB + 4 GiB of headroom is free:
// under the shim this allocation becomes managed memory, which must never oversubscribe.
#include "tests/gpu/gpu_common.h"

#include <vector>

__global__ void fill(unsigned int *p, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        p[i] = (unsigned int)(i * 2654435761u);
}

__global__ void reduce_xor(const unsigned int *p, size_t n, unsigned int *out) {
    __shared__ unsigned int acc[256];
    unsigned int v = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        v ^= p[i] + (unsigned int)(i >> 20);
    acc[threadIdx.x] = v;
    __syncthreads();
    for (int s = 128; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) acc[threadIdx.x] ^= acc[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) atomicXor(out, acc[0]);
}

int main() {
    need_gpu();
    const size_t bytes = (size_t)5 << 28; // 1.25 GiB
    size_t fr = 0, total = 0;
    CHECK(cudaMemGetInfo(&fr, &total));
    if (fr < bytes + ((size_t)4 << 30)) {
        std::printf("skipped: %zu MiB free, need %zu MiB\n", fr >> 20, (bytes >> 20) + 4096);
        return GPU_SKIP;
    }
    const size_t n = bytes / sizeof(unsigned int);
    unsigned int *p, *out;
    dev_alloc(&p, bytes);
    dev_alloc(&out, sizeof(unsigned int));
    dev_memset(out, 0, sizeof(unsigned int));
    fill<<<1024, 256>>>(p, n);
    launched();
    reduce_xor<<<1024, 256>>>(p, n, out);
    launched();
    unsigned int r = 0;
    copy(&r, out, sizeof r, cudaMemcpyDeviceToHost);
    std::vector<unsigned int> tail(1 << 20);
    copy(tail.data(), p + n - tail.size(), tail.size() * sizeof(unsigned int), cudaMemcpyDeviceToHost);
    std::printf("big %zu MiB xor %08x tail %016llx\n", bytes >> 20, r,
                (unsigned long long)fnv(tail.data(), tail.size() * sizeof(unsigned int)));
    dev_free(p);
    dev_free(out);
    expect_write();
    std::printf("done\n");
    return 0;
}
