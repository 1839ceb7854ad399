// cuBLAS (which carries its own static cudart and reaches the driver through
// cuGetProcAddress): SGEMM and a TF32-free DGEMM on buffers uploaded with cudaMemcpy, results
// downloaded and hashed. cuBLAS GEMM with a fixed configuration is deterministic run to run.
#include "tests/gpu/gpu_common.h"

#include <cublas_v2.h>
#include <vector>

#define CB(call)                                                                                   \
    do {                                                                                           \
        cublasStatus_t st_ = (call);                                                               \
        if (st_ != CUBLAS_STATUS_SUCCESS) {                                                        \
            std::fprintf(stderr, "%s:%d: %s failed: %d\n", __FILE__, __LINE__, #call, (int)st_);   \
            std::exit(2);                                                                          \
        }                                                                                          \
    } while (0)

int main() {
    need_gpu();
    const int M = 1024, K = 768, N = 512;
    std::vector<float> a((size_t)M * K), b((size_t)K * N), c((size_t)M * N);
    for (size_t i = 0; i < a.size(); i++) a[i] = (float)((i * 13) % 101) / 50.0f - 1.0f;
    for (size_t i = 0; i < b.size(); i++) b[i] = (float)((i * 7) % 89) / 44.0f - 1.0f;
    float *da, *db, *dc;
    dev_alloc(&da, a.size() * sizeof(float));
    dev_alloc(&db, b.size() * sizeof(float));
    dev_alloc(&dc, c.size() * sizeof(float));
    copy(da, a.data(), a.size() * sizeof(float), cudaMemcpyHostToDevice);
    copy(db, b.data(), b.size() * sizeof(float), cudaMemcpyHostToDevice);
    cublasHandle_t h;
    CB(cublasCreate(&h));
    CB(cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH)); // no TF32: exact FP32 semantics
    const float one = 1.0f, zero = 0.0f;
    uint64_t hash = 1469598103934665603ull;
    for (int r = 0; r < 3; r++) {
        CB(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, M, N, K, &one, da, M, db, K, &zero, dc, M));
        CHECK(cudaDeviceSynchronize());
        CHECK(cudaMemcpy(c.data(), dc, c.size() * sizeof(float), cudaMemcpyDeviceToHost));
        hash = fnv(c.data(), c.size() * sizeof(float), hash);
    }
    std::printf("sgemm %dx%dx%d hash %016llx c[0] %a\n", M, N, K, (unsigned long long)hash, (double)c[0]);
    CB(cublasDestroy(h));
    CHECK(cudaFree(da));
    CHECK(cudaFree(db));
    CHECK(cudaFree(dc));
    std::printf("done\n");
    return 0; // cuBLAS allocates its own workspace: no trace expectations for this program
}
