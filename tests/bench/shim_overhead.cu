// Cost of the CUDA calls the shim intercepts, as seen by the program: kernel launches and
// small alloc/free pairs, timed on the host (the cost is CPU time in the API call). Run it
// with and without LD_PRELOAD=libumshim.so, interleaved (tools/gpu/run.sh does), and compare
// medians: the difference is what the shim adds per call.
//   shim_overhead [launches] [allocs] [reps]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

__global__ void empty_kernel(float *p, int n) {
    if (p != nullptr && threadIdx.x == 0 && blockIdx.x == 0 && n < 0) {
        p[0] = 1.0f;
    }
}

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        cudaError_t err_ = (call);                                                                 \
        if (err_ != cudaSuccess) {                                                                 \
            fprintf(stderr, "shim_overhead: %s failed: %s\n", #call, cudaGetErrorString(err_));    \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv) {
    int launches = argc > 1 ? atoi(argv[1]) : 20000;
    int allocs = argc > 2 ? atoi(argv[2]) : 2000;
    int reps = argc > 3 ? atoi(argv[3]) : 7;
    if (launches <= 0 || allocs <= 0 || reps <= 0) {
        fprintf(stderr, "usage: shim_overhead [launches>0] [allocs>0] [reps>0]\n");
        return 2;
    }
    float *buf = nullptr;
    CHECK(cudaMalloc(&buf, 1 << 20)); // a registered allocation the launch refers to
    cudaStream_t stream;
    CHECK(cudaStreamCreate(&stream));
    // Warm-up: module load, first launch, allocator caches.
    for (int i = 0; i < 1000; i++) {
        empty_kernel<<<1, 32, 0, stream>>>(buf, i);
    }
    CHECK(cudaStreamSynchronize(stream));

    std::vector<double> launch_us, alloc_us;
    for (int r = 0; r < reps; r++) {
        // Launch cost: enqueue `launches` kernels; the queue never fills at this size because
        // each kernel finishes in a few microseconds.
        double t0 = now_us();
        for (int i = 0; i < launches; i++) {
            empty_kernel<<<1, 32, 0, stream>>>(buf, i);
        }
        double t1 = now_us();
        CHECK(cudaStreamSynchronize(stream));
        launch_us.push_back((t1 - t0) / launches);

        // Alloc/free pair cost at a small size (stays device memory in every mode).
        t0 = now_us();
        for (int i = 0; i < allocs; i++) {
            void *p = nullptr;
            CHECK(cudaMalloc(&p, 256));
            CHECK(cudaFree(p));
        }
        t1 = now_us();
        alloc_us.push_back((t1 - t0) / allocs);
    }
    CHECK(cudaGetLastError());
    printf("launch_us %.4f\nalloc_free_us %.4f\n", median(launch_us), median(alloc_us));
    CHECK(cudaStreamDestroy(stream));
    CHECK(cudaFree(buf));
    return 0;
}
