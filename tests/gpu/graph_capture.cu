// Stream capture and graph replay: captures upload, three kernels, a memset and a download on
// a non-blocking stream, instantiates the graph and replays it 10 times, re-uploading new
// input between replays. The shim must insert nothing into the capture (it would be
// invalidated) and replays must produce the same bytes as without it.
#include "tests/gpu/gpu_common.h"

#include <vector>

__global__ void axpb(float *y, const float *x, float a, float b, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i] + b;
}
__global__ void square(float *y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = y[i] * y[i];
}

int main() {
    need_gpu();
    const int N = 1 << 20;
    const size_t bytes = N * sizeof(float);
    float *host_in, *host_out;
    CHECK(cudaMallocHost((void **)&host_in, bytes));
    CHECK(cudaMallocHost((void **)&host_out, bytes));
    expect.alloc += 2;
    float *x, *y, *z;
    dev_alloc(&x, bytes);
    dev_alloc(&y, bytes);
    dev_alloc(&z, bytes);
    cudaStream_t s;
    CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    copy(x, host_in, bytes, cudaMemcpyHostToDevice, s, true);
    axpb<<<N / 256, 256, 0, s>>>(y, x, 1.5f, -2.0f, N);
    launched();
    square<<<N / 256, 256, 0, s>>>(y, N);
    launched();
    dev_memset(z, 0, bytes, s, true);
    axpb<<<N / 256, 256, 0, s>>>(z, y, 0.25f, 1.0f, N);
    launched();
    copy(host_out, z, bytes, cudaMemcpyDeviceToHost, s, true);
    cudaGraph_t g;
    CHECK(cudaStreamEndCapture(s, &g));
    cudaGraphExec_t e;
    CHECK(cudaGraphInstantiate(&e, g, 0));
    uint64_t h = 1469598103934665603ull;
    for (int r = 0; r < 10; r++) {
        for (int i = 0; i < N; i++) host_in[i] = (float)((i + r * 131) % 997) / 32.0f;
        CHECK(cudaGraphLaunch(e, s));
        expect.graph++;
        CHECK(cudaStreamSynchronize(s));
        h = fnv(host_out, bytes, h);
    }
    std::printf("graph replays 10 hash %016llx\n", (unsigned long long)h);
    CHECK(cudaGraphExecDestroy(e));
    CHECK(cudaGraphDestroy(g));
    CHECK(cudaStreamDestroy(s));
    dev_free(x);
    dev_free(y);
    dev_free(z);
    CHECK(cudaFreeHost(host_in));
    CHECK(cudaFreeHost(host_out));
    expect.free += 2;
    expect_write();
    std::printf("done\n");
    return 0;
}
