// A multi-kernel pipeline: upload, five kernels chained through intermediate buffers
// (init -> transform -> stencil -> block sums -> normalise), an intermediate read-back, a
// device-to-device copy and a final download. Deterministic: fixed-order block reductions.
#include "tests/gpu/gpu_common.h"

#include <vector>

__global__ void k_init(float *a, const float *in, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) a[i] = in[i] * 0.5f + 1.0f;
}
__global__ void k_transform(float *b, const float *a, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) b[i] = a[i] * a[i] - 0.25f * a[i];
}
__global__ void k_stencil(float *c, const float *b, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) c[i] = 0.25f * b[i > 0 ? i - 1 : i] + 0.5f * b[i] + 0.25f * b[i < n - 1 ? i + 1 : i];
}
__global__ void k_block_sums(float *sums, const float *c, int n) {
    __shared__ float s[256];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    s[threadIdx.x] = i < n ? c[i] : 0.0f;
    __syncthreads();
    for (int k = 128; k > 0; k >>= 1) {
        if ((int)threadIdx.x < k) s[threadIdx.x] += s[threadIdx.x + k];
        __syncthreads();
    }
    if (threadIdx.x == 0) sums[blockIdx.x] = s[0];
}
__global__ void k_normalise(float *d, const float *c, const float *sums, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) d[i] = c[i] / (1.0f + fabsf(sums[blockIdx.x]));
}

int main() {
    need_gpu();
    const int N = 1 << 22, B = N / 256;
    const size_t bytes = N * sizeof(float);
    std::vector<float> in(N), out(N), sums(B);
    for (int i = 0; i < N; i++) in[i] = (float)((i * 37) % 4099) / 64.0f;
    float *din, *a, *b, *c, *d, *ds, *e;
    dev_alloc(&din, bytes);
    dev_alloc(&a, bytes);
    dev_alloc(&b, bytes);
    dev_alloc(&c, bytes);
    dev_alloc(&d, bytes);
    dev_alloc(&e, bytes);
    dev_alloc(&ds, B * sizeof(float));
    copy(din, in.data(), bytes, cudaMemcpyHostToDevice);
    for (int iter = 0; iter < 3; iter++) {
        k_init<<<B, 256>>>(a, din, N);
        launched();
        k_transform<<<B, 256>>>(b, a, N);
        launched();
        k_stencil<<<B, 256>>>(c, b, N);
        launched();
        k_block_sums<<<B, 256>>>(ds, c, N);
        launched();
        copy(sums.data(), ds, B * sizeof(float), cudaMemcpyDeviceToHost);
        k_normalise<<<B, 256>>>(d, c, ds, N);
        launched();
        copy(din, d, bytes, cudaMemcpyDeviceToDevice);
    }
    copy(e, din, bytes, cudaMemcpyDeviceToDevice);
    copy(out.data(), e, bytes, cudaMemcpyDeviceToHost);
    std::printf("pipeline sums %016llx out %016llx\n", (unsigned long long)fnv(sums.data(), B * sizeof(float)),
                (unsigned long long)fnv(out.data(), bytes));
    for (float *p : {din, a, b, c, d, e, ds}) dev_free(p);
    expect_write();
    std::printf("done\n");
    return 0;
}
