// Streams with async copies and memsets: four streams each move a slice through pinned and
// pageable host memory with cudaMemcpyAsync, cudaMemsetAsync and a kernel, plus synchronous
// cudaMemset/cudaMemcpy on the legacy stream. Prints one hash per stream.
#include "tests/gpu/gpu_common.h"

#include <vector>

__global__ void add_scaled(float *y, const float *x, float a, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] += a * x[i];
}

int main() {
    need_gpu();
    const int S = 4, N = 1 << 20;
    const size_t bytes = N * sizeof(float);
    cudaStream_t st[S];
    float *dx[S], *dy[S], *pinned[S];
    std::vector<std::vector<float>> pageable(S, std::vector<float>(N));
    for (int s = 0; s < S; s++) {
        CHECK(cudaStreamCreateWithFlags(&st[s], cudaStreamNonBlocking));
        dev_alloc(&dx[s], bytes);
        dev_alloc(&dy[s], bytes);
        CHECK(cudaMallocHost((void **)&pinned[s], bytes));
        expect.alloc++;
        for (int i = 0; i < N; i++) {
            pinned[s][i] = (float)((i * 7 + s) % 1013) * 0.125f;
            pageable[s][i] = (float)(i % 17) - 8.0f;
        }
    }
    for (int round = 0; round < 3; round++) {
        for (int s = 0; s < S; s++) {
            copy(dx[s], pinned[s], bytes, cudaMemcpyHostToDevice, st[s], true);
            copy(dy[s], pageable[s].data(), bytes, cudaMemcpyHostToDevice, st[s], true);
            dev_memset(dy[s], 0, 4096, st[s], true);
            add_scaled<<<(N + 255) / 256, 256, 0, st[s]>>>(dy[s], dx[s], 0.5f + (float)round, N);
            launched();
            copy(pinned[s], dy[s], bytes, cudaMemcpyDeviceToHost, st[s], true);
        }
        for (int s = 0; s < S; s++) CHECK(cudaStreamSynchronize(st[s]));
    }
    // Legacy stream: synchronous memset and copy.
    dev_memset(dx[0], 0x3f, bytes);
    copy(pageable[0].data(), dx[0], bytes, cudaMemcpyDeviceToHost);
    for (int s = 0; s < S; s++) std::printf("stream %d %016llx\n", s, (unsigned long long)fnv(pinned[s], bytes));
    std::printf("legacy %016llx\n", (unsigned long long)fnv(pageable[0].data(), bytes));
    for (int s = 0; s < S; s++) {
        dev_free(dx[s]);
        dev_free(dy[s]);
        CHECK(cudaFreeHost(pinned[s]));
        expect.free++;
        CHECK(cudaStreamDestroy(st[s]));
    }
    expect_write();
    std::printf("done\n");
    return 0;
}
