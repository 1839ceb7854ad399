// TF32 tensor-core scores (the optional fast path, UM_RECALL_TF32).
//
// A 128x128x16 block tile on 8 warps (2 x 4), each warp owning 64x32 through wmma
// m16n16k8 TF32 fragments with FP32 accumulation. Both operands are K-contiguous rows
// (queries and stored vectors), which is exactly wmma's row-major A and column-major B, so
// tiles are copied into shared memory without transposition. TF32 keeps 10 mantissa bits:
// scores differ from FP32 by ~1e-3 relative, which top-k recall tolerates (measured against
// the FP64 reference by the GPU test and the bench).
#include "kernels/recall.h"
#include "kernels/recall_internal.h"

#include <cuda_runtime.h>
#include <mma.h>
#include <stdio.h>

using namespace nvcuda;

#define W_BM 128
#define W_BN 128
#define W_BK 16 // 16 keeps the register staging small enough for 2 blocks per SM
#define W_LD (W_BK + 4) // floats; a multiple of 4 as wmma requires, padded against conflicts
#define W_THREADS 256

// --- loads ---
// 128 rows x 16 columns = 512 float4: 2 per thread.
#define W_V4 (W_BM * W_BK / 4 / W_THREADS)
template <bool VEC>
static __device__ __forceinline__ void w_load(const float *__restrict__ base, long rows, int d,
                                              long r0, int k0, float4 (&reg)[W_V4]) {
#pragma unroll
    for (int h = 0; h < W_V4; h++) {
        int e = threadIdx.x + h * W_THREADS;
        long r = r0 + e / (W_BK / 4);
        int c = k0 + (e % (W_BK / 4)) * 4;
        if (VEC) {
            reg[h] = (r < rows && c < d) ? __ldg((const float4 *)(base + (size_t)r * d + c))
                                         : make_float4(0.f, 0.f, 0.f, 0.f);
        } else {
            const float *p = base + (size_t)r * d + c;
            reg[h].x = (r < rows && c + 0 < d) ? __ldg(p + 0) : 0.f;
            reg[h].y = (r < rows && c + 1 < d) ? __ldg(p + 1) : 0.f;
            reg[h].z = (r < rows && c + 2 < d) ? __ldg(p + 2) : 0.f;
            reg[h].w = (r < rows && c + 3 < d) ? __ldg(p + 3) : 0.f;
        }
    }
}

static __device__ __forceinline__ void w_store(float *sm, const float4 (&reg)[W_V4]) {
#pragma unroll
    for (int h = 0; h < W_V4; h++) {
        int e = threadIdx.x + h * W_THREADS;
        float4 v = reg[h];
        v.x = wmma::__float_to_tf32(v.x);
        v.y = wmma::__float_to_tf32(v.y);
        v.z = wmma::__float_to_tf32(v.z);
        v.w = wmma::__float_to_tf32(v.w);
        *(float4 *)(sm + (e / (W_BK / 4)) * W_LD + (e % (W_BK / 4)) * 4) = v;
    }
}

// --- kernel ---
template <bool VEC>
static __global__ void __launch_bounds__(W_THREADS, 2)
    tf32_kernel(const float *__restrict__ qv, const float *__restrict__ q_inv, long q,
                const float *__restrict__ xv, const float *__restrict__ x_inv, long n, int d,
                float *scores, long ld) {
    extern __shared__ __align__(32) float wsm[];
    float *As = wsm;                      // [2][128][W_LD]
    float *Bs = wsm + 2 * W_BM * W_LD;    // [2][128][W_LD]
    const int warp = threadIdx.x / 32;
    const int wm = warp / 4, wn = warp % 4; // 2 x 4 warps, each 64 x 32
    long q0 = (long)blockIdx.y * W_BM, n0 = (long)blockIdx.x * W_BN;

    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[4][2];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.f);

    float4 ra[W_V4], rb[W_V4];
    w_load<VEC>(qv, q, d, q0, 0, ra);
    w_load<VEC>(xv, n, d, n0, 0, rb);
    w_store(As, ra);
    w_store(Bs, rb);
    __syncthreads();
    int nk = (d + W_BK - 1) / W_BK;
    for (int kt = 0; kt < nk; kt++) {
        int cur = kt & 1;
        bool more = kt + 1 < nk;
        if (more) {
            w_load<VEC>(qv, q, d, q0, (kt + 1) * W_BK, ra);
            w_load<VEC>(xv, n, d, n0, (kt + 1) * W_BK, rb);
        }
        const float *a = As + cur * W_BM * W_LD + (wm * 64) * W_LD;
        const float *b = Bs + cur * W_BN * W_LD + (wn * 32) * W_LD;
#pragma unroll
        for (int kk = 0; kk < W_BK; kk += 8) {
            wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa[4];
            wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fb[2];
#pragma unroll
            for (int i = 0; i < 4; i++) wmma::load_matrix_sync(fa[i], a + i * 16 * W_LD + kk, W_LD);
#pragma unroll
            for (int j = 0; j < 2; j++) wmma::load_matrix_sync(fb[j], b + j * 16 * W_LD + kk, W_LD);
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
        if (more) {
            w_store(As + (cur ^ 1) * W_BM * W_LD, ra);
            w_store(Bs + (cur ^ 1) * W_BN * W_LD, rb);
        }
        __syncthreads();
    }
    // Epilogue through shared memory (the operand stages are free after the last barrier):
    // each warp stages 16 x 32 of its block at a time, then scales and stores it row by row
    // (coalesced, bounds-checked).
    float *stage = wsm + warp * 16 * 36;
    int lane = threadIdx.x & 31;
    long c = n0 + wn * 32 + lane;
    float xs = c < n ? x_inv[c] : 0.f;
#pragma unroll
    for (int i = 0; i < 4; i++) {
#pragma unroll
        for (int j = 0; j < 2; j++)
            wmma::store_matrix_sync(stage + j * 16, acc[i][j], 36, wmma::mem_row_major);
        __syncwarp();
        for (int r = 0; r < 16; r++) {
            long row = q0 + wm * 64 + i * 16 + r;
            if (row >= q || c >= n) continue;
            float s = stage[r * 36 + lane] * q_inv[row] * xs;
            scores[(size_t)row * ld + c] = fminf(fmaxf(s, -1.f), 1.f) + 0.f; // -0 -> +0, as in cosine.cu
        }
        __syncwarp();
    }
}

// --- host ---
extern "C" int um_recall_tf32_scores(const float *qv, const float *q_inv, long q, const float *xv,
                                     const float *x_inv, long n, int d, float *scores, long ld,
                                     cudaStream_t st) {
    size_t sm = (size_t)2 * (W_BM + W_BN) * W_LD * 4; // 40,960 B; the epilogue reuses 18 KB of it
    dim3 grid((unsigned)((n + W_BN - 1) / W_BN), (unsigned)((q + W_BM - 1) / W_BM));
    bool vec = (d % 4) == 0 && ((uintptr_t)qv % 16) == 0 && ((uintptr_t)xv % 16) == 0;
    if (vec) {
        cudaFuncSetAttribute(tf32_kernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm);
        tf32_kernel<true><<<grid, W_THREADS, sm, st>>>(qv, q_inv, q, xv, x_inv, n, d, scores, ld);
    } else {
        cudaFuncSetAttribute(tf32_kernel<false>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm);
        tf32_kernel<false><<<grid, W_THREADS, sm, st>>>(qv, q_inv, q, xv, x_inv, n, d, scores, ld);
    }
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        fprintf(stderr, "recall: CUDA error: %s\n", cudaGetErrorString(e));
        return UM_RECALL_ECUDA;
    }
    return UM_RECALL_OK;
}
