// recall_bench: the recall kernels against cuBLAS on the same shapes, all in one run.
//
// For D = 768 (or --d), N in {1e4, 1e5, 1e6} and Q in {1, 100, 1000}: FP32 scores (ours vs
// cublasSgemm), TF32 scores (ours vs cublasGemmEx with CUBLAS_COMPUTE_32F_FAST_TF32), and
// top-k end to end: our fused top-k (never writes Q x N) vs cuBLAS SGEMM + our row-wise
// selection, and the TF32 equivalents. Vectors are unit-normalised on the GPU first so that
// cuBLAS's dot products are cosines too and both sides rank the same thing; the bench checks
// that the two top-k answers agree. Timing: CUDA events, warm-up, median of repeats;
// --variants adds, per shape, every tile-kernel configuration and both TF32 kernels timed
// side by side in interleaved rounds (how the defaults were chosen).
#include "kernels/recall.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <algorithm>
#include <functional>
#include <vector>

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "recall_bench: error: %s: %s\n", #call, cudaGetErrorString(e_));      \
            exit(3);                                                                               \
        }                                                                                          \
    } while (0)
#define CB(call)                                                                                   \
    do {                                                                                           \
        cublasStatus_t s_ = (call);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                         \
            fprintf(stderr, "recall_bench: error: %s: cuBLAS status %d\n", #call, (int)s_);       \
            exit(3);                                                                               \
        }                                                                                          \
    } while (0)
#define RK(call)                                                                                   \
    do {                                                                                           \
        int r_ = (call);                                                                           \
        if (r_ != UM_RECALL_OK) {                                                                  \
            fprintf(stderr, "recall_bench: error: %s: %s\n", #call, um_recall_strerror(r_));       \
            exit(3);                                                                               \
        }                                                                                          \
    } while (0)

// --- data ---
static __global__ void fill_kernel(float *v, size_t count, unsigned long long seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {
        unsigned long long z = seed + i * 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        v[i] = (float)((long long)(z >> 40) - (1 << 23)) / (float)(1 << 23);
    }
}

static __global__ void scale_rows(float *v, long n, int d, const float *inv) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (size_t)n * d; i += (size_t)gridDim.x * blockDim.x)
        v[i] *= inv[i / d];
}

// Random unit vectors; inv receives the inverse norms of the normalised rows (~1).
static void make_unit(float *v, long n, int d, float *inv, unsigned long long seed) {
    fill_kernel<<<1024, 256>>>(v, (size_t)n * d, seed);
    RK(um_recall_gpu_inv_norms(v, n, d, inv, NULL));
    scale_rows<<<1024, 256>>>(v, n, d, inv);
    RK(um_recall_gpu_inv_norms(v, n, d, inv, NULL));
    CK(cudaDeviceSynchronize());
}

// --- timing ---
template <typename F>
static double time_ms(F fn, double budget_ms = 400) {
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    fn(); // warm-up (module load, handles, caches)
    CK(cudaDeviceSynchronize());
    CK(cudaEventRecord(a));
    fn();
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b));
    float first = 0;
    CK(cudaEventElapsedTime(&first, a, b));
    int reps = (int)(budget_ms / (first > 0.01 ? first : 0.01));
    reps = std::max(5, std::min(reps, 50));
    std::vector<float> t;
    for (int r = 0; r < reps; r++) {
        CK(cudaEventRecord(a));
        fn();
        CK(cudaEventRecord(b));
        CK(cudaEventSynchronize(b));
        float ms = 0;
        CK(cudaEventElapsedTime(&ms, a, b));
        t.push_back(ms);
    }
    CK(cudaGetLastError());
    std::sort(t.begin(), t.end());
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return t[t.size() / 2];
}

// Interleaved: each round times every variant once (events around each), so that clock and
// thermal drift hit all of them alike; returns the median per variant.
static std::vector<double> time_set(const std::vector<std::function<void()>> &fns, int rounds) {
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    for (const auto &f : fns) f(); // warm-up
    CK(cudaDeviceSynchronize());
    std::vector<std::vector<float>> t(fns.size());
    for (int r = 0; r < rounds; r++) {
        for (size_t v = 0; v < fns.size(); v++) {
            CK(cudaEventRecord(a));
            fns[v]();
            CK(cudaEventRecord(b));
            CK(cudaEventSynchronize(b));
            float ms = 0;
            CK(cudaEventElapsedTime(&ms, a, b));
            t[v].push_back(ms);
        }
    }
    CK(cudaGetLastError());
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    std::vector<double> med;
    for (auto &x : t) {
        std::sort(x.begin(), x.end());
        med.push_back(x[x.size() / 2]);
    }
    return med;
}

// Fraction of queries whose top-k index sets agree exactly (order-insensitive).
static double agree(const int *a, const int *b, long q, int k) {
    long same = 0;
    std::vector<int> x(k), y(k);
    for (long i = 0; i < q; i++) {
        memcpy(x.data(), a + i * k, k * 4);
        memcpy(y.data(), b + i * k, k * 4);
        std::sort(x.begin(), x.end());
        std::sort(y.begin(), y.end());
        same += x == y;
    }
    return (double)same / q;
}

int main(int argc, char **argv) {
    int d = 768, k = 10, variants = 0;
    std::vector<long> ns = {10000, 100000, 1000000}, qs = {1, 100, 1000};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--d") && i + 1 < argc) d = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--k") && i + 1 < argc) k = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) ns = {10000, 100000}, qs = {1, 100};
        else if (!strcmp(argv[i], "--variants")) variants = 1;
        else if (!strcmp(argv[i], "--n") && i + 1 < argc) ns = {atol(argv[++i])};
        else if (!strcmp(argv[i], "--q") && i + 1 < argc) qs = {atol(argv[++i])};
        else {
            fprintf(stderr, "recall_bench: error: unknown flag '%s' (flags: --d D --k K --quick --variants --n N --q Q)\n", argv[i]);
            return 2;
        }
    }
    if (d < 1 || d > UM_RECALL_D_MAX || k < 1 || k > UM_RECALL_K_MAX || ns[0] < k || ns[0] > 1000000 ||
        qs[0] < 1 || qs[0] > 1000) {
        fprintf(stderr, "recall_bench: error: --d, --k, --n or --q out of range\n");
        return 2;
    }
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        fprintf(stderr, "recall_bench: error: no CUDA device available\n");
        return 3;
    }
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    int drv = 0, rt = 0, cbv = 0;
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    cublasHandle_t h;
    CB(cublasCreate(&h));
    CB(cublasGetVersion(h, &cbv));
    char date[64];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    printf("recall_bench: %s, %d SMs, driver %d, runtime %d, cuBLAS %d, %s\n", prop.name,
           prop.multiProcessorCount, drv, rt, cbv, date);
    printf("D=%d, k=%d, medians of CUDA-event-timed repeats after warm-up\n", d, k);

    long nmax = *std::max_element(ns.begin(), ns.end()), qmax = *std::max_element(qs.begin(), qs.end());
    float *x, *xi, *q, *qi, *sc;
    int *i_ours, *i_base;
    float *s_ours, *s_base;
    CK(cudaMalloc((void **)&x, (size_t)nmax * d * 4));
    CK(cudaMalloc((void **)&xi, (size_t)nmax * 4));
    CK(cudaMalloc((void **)&q, (size_t)qmax * d * 4));
    CK(cudaMalloc((void **)&qi, (size_t)qmax * 4));
    CK(cudaMalloc((void **)&sc, (size_t)qmax * nmax * 4));
    CK(cudaMalloc((void **)&i_ours, (size_t)qmax * k * 4));
    CK(cudaMalloc((void **)&i_base, (size_t)qmax * k * 4));
    CK(cudaMalloc((void **)&s_ours, (size_t)qmax * k * 4));
    CK(cudaMalloc((void **)&s_base, (size_t)qmax * k * 4));
    make_unit(x, nmax, d, xi, 1);
    make_unit(q, qmax, d, qi, 2);
    const float one = 1.f, zero = 0.f;

    struct row_t {
        long n, q;
        double f32, cb32, tf32, cbtf, fused, base, tfk, basetf, agree32, agreetf;
    };
    std::vector<row_t> rows;
    for (long n : ns) {
        for (long nq : qs) {
            row_t r = {};
            r.n = n, r.q = nq;
            double flop = 2.0 * nq * n * d;
            size_t ws32 = um_recall_topk_workspace_bytes(nq, n, d, k, 0);
            size_t wstf = um_recall_topk_workspace_bytes(nq, n, d, k, UM_RECALL_TF32);
            void *ws;
            CK(cudaMalloc(&ws, std::max(ws32, wstf) + 256));
            if (variants && nq > 16) {
                // Tile-kernel configurations (register budget / stage depth / column tile) and
                // the two TF32 kernels, against cuBLAS, interleaved. Knobs are the library's
                // environment overrides.
                static const char *cfg[5][3] = {{"1", "16", "128"}, {"1", "8", "128"}, {"2", "16", "128"},
                                                {"2", "8", "128"}, {"2", "16", "64"}};
                auto set_cfg = [](int c) {
                    setenv("UM_RECALL_TILE_MINB", cfg[c][0], 1);
                    setenv("UM_RECALL_TILE_BK", cfg[c][1], 1);
                    setenv("UM_RECALL_TILE_BN", cfg[c][2], 1);
                };
                // Each configuration plans its own split count: size the workspace for all.
                size_t wsv = std::max(ws32, wstf);
                for (int c = 0; c < 5; c++) {
                    set_cfg(c);
                    wsv = std::max(wsv, um_recall_topk_workspace_bytes(nq, n, d, k, 0));
                }
                CK(cudaFree(ws));
                CK(cudaMalloc(&ws, wsv + 256));
                std::vector<std::function<void()>> fns;
                for (int c = 0; c < 5; c++)
                    fns.push_back([&, c] {
                        set_cfg(c);
                        RK(um_recall_gpu_scores(q, qi, nq, x, xi, n, d, sc, n, 0, NULL));
                    });
                for (int c = 0; c < 5; c++)
                    fns.push_back([&, c] {
                        set_cfg(c);
                        RK(um_recall_gpu_topk(q, qi, nq, x, xi, n, d, k, 0, ws, wsv, i_ours, s_ours, NULL));
                    });
                fns.push_back([&] { RK(um_recall_gpu_scores(q, qi, nq, x, xi, n, d, sc, n, UM_RECALL_TF32, NULL)); });
                fns.push_back([&] {
                    setenv("UM_RECALL_TF32_KERNEL", "wmma", 1);
                    RK(um_recall_gpu_scores(q, qi, nq, x, xi, n, d, sc, n, UM_RECALL_TF32, NULL));
                    unsetenv("UM_RECALL_TF32_KERNEL");
                });
                fns.push_back([&] {
                    setenv("UM_RECALL_TF32_KERNEL", "mma", 1);
                    RK(um_recall_gpu_scores(q, qi, nq, x, xi, n, d, sc, n, UM_RECALL_TF32, NULL));
                    unsetenv("UM_RECALL_TF32_KERNEL");
                });
                fns.push_back([&] {
                    setenv("UM_RECALL_TF32_KERNEL", "mma4-ldm", 1);
                    RK(um_recall_gpu_scores(q, qi, nq, x, xi, n, d, sc, n, UM_RECALL_TF32, NULL));
                    unsetenv("UM_RECALL_TF32_KERNEL");
                });
                fns.push_back([&] {
                    CB(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)n, (int)nq, d, &one, x, d, q, d, &zero, sc, (int)n));
                });
                fns.push_back([&] {
                    CB(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)n, (int)nq, d, &one, x, d, q, d, &zero, sc, (int)n));
                    RK(um_recall_gpu_select(sc, nq, n, n, k, NULL, 0, i_base, s_base, NULL));
                });
                fns.push_back([&] {
                    CB(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)n, (int)nq, d, &one, x, CUDA_R_32F, d, q,
                                    CUDA_R_32F, d, &zero, sc, CUDA_R_32F, (int)n, CUBLAS_COMPUTE_32F_FAST_TF32,
                                    CUBLAS_GEMM_DEFAULT));
                });
                int rounds = n * nq >= 100000000L ? 7 : 21;
                std::vector<double> m = time_set(fns, rounds);
                unsetenv("UM_RECALL_TILE_MINB");
                unsetenv("UM_RECALL_TILE_BK");
                unsetenv("UM_RECALL_TILE_BN");
                double tf = 2.0 * nq * n * d / 1e9;
                printf("variants N=%ld Q=%ld, medians of %d interleaved rounds, ms:", n, nq, rounds);
                // m: 0-4 scores, 5-9 fused, 10 tf32 default (mma-ldm), 11 wmma, 12 mma, 13 mma4-ldm,
                // 14 cuBLAS sgemm, 15 sgemm+select, 16 cuBLAS tf32.
                for (int c = 0; c < 5; c++)
                    printf(" scores[%s/%s/%s] %.3f (%.2fx cuBLAS)", cfg[c][0], cfg[c][1], cfg[c][2], m[c], m[14] / m[c]);
                for (int c = 0; c < 5; c++)
                    printf(" fused[%s/%s/%s] %.3f (%.2fx sgemm+select)", cfg[c][0], cfg[c][1], cfg[c][2], m[5 + c], m[15] / m[5 + c]);
                printf(" | cuBLAS sgemm %.3f, sgemm+select %.3f | tf32 mma-ldm %.3f (%.1f TF/s) wmma %.3f (%.1f TF/s) "
                       "mma %.3f (%.1f TF/s) mma4-ldm %.3f (%.1f TF/s) cuBLAS tf32 %.3f (%.1f TF/s)\n",
                       m[14], m[15], m[10], tf / m[10], m[11], tf / m[11], m[12], tf / m[12], m[13], tf / m[13],
                       m[16], tf / m[16]);
                fflush(stdout);
            }
            r.f32 = time_ms([&] { RK(um_recall_gpu_scores(q, qi, nq, x, xi, n, d, sc, n, 0, NULL)); });
            r.cb32 = time_ms([&] {
                CB(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)n, (int)nq, d, &one, x, d, q, d, &zero, sc, (int)n));
            });
            r.tf32 = time_ms([&] { RK(um_recall_gpu_scores(q, qi, nq, x, xi, n, d, sc, n, UM_RECALL_TF32, NULL)); });
            r.cbtf = time_ms([&] {
                CB(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)n, (int)nq, d, &one, x, CUDA_R_32F, d, q,
                                CUDA_R_32F, d, &zero, sc, CUDA_R_32F, (int)n, CUBLAS_COMPUTE_32F_FAST_TF32,
                                CUBLAS_GEMM_DEFAULT));
            });
            r.fused = time_ms([&] {
                RK(um_recall_gpu_topk(q, qi, nq, x, xi, n, d, k, 0, ws, ws32, i_ours, s_ours, NULL));
            });
            r.base = time_ms([&] {
                CB(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)n, (int)nq, d, &one, x, d, q, d, &zero, sc, (int)n));
                RK(um_recall_gpu_select(sc, nq, n, n, k, NULL, 0, i_base, s_base, NULL));
            });
            std::vector<int> ha((size_t)nq * k), hb((size_t)nq * k);
            CK(cudaMemcpy(ha.data(), i_ours, ha.size() * 4, cudaMemcpyDeviceToHost));
            CK(cudaMemcpy(hb.data(), i_base, hb.size() * 4, cudaMemcpyDeviceToHost));
            r.agree32 = agree(ha.data(), hb.data(), nq, k);
            r.tfk = time_ms([&] {
                RK(um_recall_gpu_topk(q, qi, nq, x, xi, n, d, k, UM_RECALL_TF32, ws, wstf, i_ours, s_ours, NULL));
            });
            r.basetf = time_ms([&] {
                CB(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)n, (int)nq, d, &one, x, CUDA_R_32F, d, q,
                                CUDA_R_32F, d, &zero, sc, CUDA_R_32F, (int)n, CUBLAS_COMPUTE_32F_FAST_TF32,
                                CUBLAS_GEMM_DEFAULT));
                RK(um_recall_gpu_select(sc, nq, n, n, k, NULL, 0, i_base, s_base, NULL));
            });
            CK(cudaMemcpy(ha.data(), i_ours, ha.size() * 4, cudaMemcpyDeviceToHost));
            r.agreetf = agree(ha.data(), hb.data(), nq, k); // TF32 ours vs FP32 cuBLAS+select
            CK(cudaFree(ws));
            rows.push_back(r);
            double gb_x = ((double)n * d * 4 + (double)nq * d * 4) / 1e9;
            double gb_s = (double)nq * n * 4 / 1e9;
            printf("N=%-8ld Q=%-5ld fp32 %.3f ms (%.1f TF/s, %.0f GB/s) cublas %.3f ms (%.1f TF/s) | "
                   "tf32 %.3f ms (%.1f TF/s) cublas-tf32 %.3f ms (%.1f TF/s) | fused %.3f ms (%.0f GB/s) "
                   "sgemm+select %.3f ms | tf32 top-k %.3f ms, cublas-tf32+select %.3f ms | agree %.3f/%.3f\n",
                   n, nq, r.f32, flop / r.f32 / 1e9, (gb_x + gb_s) / r.f32 * 1e3, r.cb32, flop / r.cb32 / 1e9,
                   r.tf32, flop / r.tf32 / 1e9, r.cbtf, flop / r.cbtf / 1e9, r.fused, gb_x / r.fused * 1e3,
                   r.base, r.tfk, r.basetf, r.agree32, r.agreetf);
            fflush(stdout);
        }
    }
    printf("\n| N | Q | FP32 TFLOP/s ours | cuBLAS SGEMM | ratio | TF32 TFLOP/s ours | cuBLAS TF32 | ratio |"
           " fused top-%d ms | SGEMM+select ms | speedup | fused GB/s | TF32 top-%d ms | cuBLAS TF32+select ms | speedup | top-k agree |\n",
           k, k);
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const row_t &r : rows) {
        double flop = 2.0 * r.q * r.n * d;
        double gb_x = ((double)r.n * d * 4 + (double)r.q * d * 4) / 1e9;
        printf("| %ld | %ld | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f | %.3f | %.3f | %.2fx | %.0f | %.3f | %.3f | %.2fx | %.3f |\n",
               r.n, r.q, flop / r.f32 / 1e9, flop / r.cb32 / 1e9, r.cb32 / r.f32, flop / r.tf32 / 1e9,
               flop / r.cbtf / 1e9, r.cbtf / r.tf32, r.fused, r.base, r.base / r.fused, gb_x / r.fused * 1e3,
               r.tfk, r.basetf, r.basetf / r.tfk, r.agree32);
    }
    cublasDestroy(h);
    return 0;
}
