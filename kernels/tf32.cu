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
#include <stdlib.h>
#include <string.h>

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

// --- mma.sync kernels (the default for 16-byte-aligned rows) ---
// 128x128 block tile, BK = 32, 8 warps (2 x 4) of 64 x 32, each k8 step 16
// mma.sync.m16n8k8 TF32 instructions per warp. Operands go global -> shared memory with
// cp.async (16 bytes, zero-filled past Q, N or D), STAGES deep, so no registers stage them
// and the copy of stage kt + 2 overlaps the math on stage kt. Rows of a stage are 32 floats
// (8 chunks of 16 bytes); chunk c of row r is stored at chunk c ^ (r & 7), which makes the
// fragment loads (8 rows x 4 consecutive words per instruction) hit 32 distinct banks.
// Fragments are rounded to TF32 (cvt.rna) as they are loaded. Variants (template
// arguments, UM_RECALL_TF32_KERNEL knob): LDM loads fragments with ldmatrix (a TF32 8x4
// block is an 8x8 b16 matrix: 6 instead of 24 shared loads per k8 step), STAGES 3 (2 blocks
// per SM, 128 registers) or 4 (1 block per SM, uncapped).
#define M_BM 128
#define M_BN 128
#define M_BK 32
#define M_THREADS 256
#define M_STAGE_FLOATS ((M_BM + M_BN) * M_BK)

static __device__ __forceinline__ unsigned m_tf32(float x) {
    unsigned u;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(u) : "f"(x));
    return u;
}

static __device__ __forceinline__ void m_cp16(float *dst, const float *src, bool valid) {
    unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    int n = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(n));
}

static __device__ __forceinline__ void m_ldm4(unsigned (&r)[4], const float *p) {
    unsigned a = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}

static __device__ __forceinline__ unsigned m_tf32u(unsigned x) { return m_tf32(__uint_as_float(x)); }

static __device__ __forceinline__ void m_commit(void) { asm volatile("cp.async.commit_group;\n" ::); }

template <int N>
static __device__ __forceinline__ void m_wait(void) {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// One operand of one stage: 128 rows x 32 floats = 1024 chunks, 4 per thread.
static __device__ __forceinline__ void m_load(float *sm, const float *__restrict__ base, long rows,
                                              int d, long r0, int k0) {
#pragma unroll
    for (int h = 0; h < 4; h++) {
        int e = threadIdx.x + h * M_THREADS;
        int r = e >> 3, c = e & 7;
        long gr = r0 + r;
        int gc = k0 + c * 4;
        bool ok = gr < rows && gc < d; // d % 4 == 0 here: a chunk is all in or all out
        const float *src = ok ? base + (size_t)gr * d + gc : base;
        m_cp16(sm + r * M_BK + ((c ^ (r & 7)) << 2), src, ok);
    }
}

template <int STAGES, bool LDM>
static __global__ void __launch_bounds__(M_THREADS, STAGES == 3 ? 2 : 1)
    tf32_mma_kernel(const float *__restrict__ qv, const float *__restrict__ q_inv, long q,
                    const float *__restrict__ xv, const float *__restrict__ x_inv, long n, int d,
                    float *scores, long ld, long qtiles) {
    extern __shared__ __align__(128) float msm[];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int wm = warp >> 2, wn = warp & 3;
    const int g = lane >> 2, t = lane & 3;
    // Query tiles vary fastest: the blocks resident together share stored-vector tiles, so
    // each stored vector comes from DRAM about once however large Q is.
    const long q0 = (long)(blockIdx.x % qtiles) * M_BM, n0 = (long)(blockIdx.x / qtiles) * M_BN;
    const int nk = (d + M_BK - 1) / M_BK;

    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int c = 0; c < 4; c++) acc[i][j][c] = 0.f;

#pragma unroll
    for (int s = 0; s < STAGES - 1; s++) {
        if (s < nk) {
            m_load(msm + s * M_STAGE_FLOATS, qv, q, d, q0, s * M_BK);
            m_load(msm + s * M_STAGE_FLOATS + M_BM * M_BK, xv, n, d, n0, s * M_BK);
        }
        m_commit();
    }
    for (int kt = 0; kt < nk; kt++) {
        m_wait<STAGES - 2>();
        __syncthreads(); // stage kt is in for every thread; stage kt - 1 is free for reuse
        int nx = kt + STAGES - 1;
        if (nx < nk) {
            float *dst = msm + (nx % STAGES) * M_STAGE_FLOATS;
            m_load(dst, qv, q, d, q0, nx * M_BK);
            m_load(dst + M_BM * M_BK, xv, n, d, n0, nx * M_BK);
        }
        m_commit();
        const float *As = msm + (kt % STAGES) * M_STAGE_FLOATS + (wm * 64) * M_BK;
        const float *Bs = msm + (kt % STAGES) * M_STAGE_FLOATS + M_BM * M_BK + (wn * 32) * M_BK;
#pragma unroll
        for (int kk = 0; kk < M_BK / 8; kk++) {
            // Rows used here are all = g (mod 8): the swizzle is the same for every one.
            const int c0 = (((2 * kk) ^ g) << 2) + t, c1 = (((2 * kk + 1) ^ g) << 2) + t;
            unsigned a[4][4], b[4][2];
            if (LDM) {
                // Lane l addresses row l & 7 of matrix l >> 3. A (m-tile i): matrices are rows
                // 0-7 / 8-15 (bit 0) x words 0-3 / 4-7 of the k8 step (bit 1): a0..a3. B: two
                // n-tiles (bit 1) x words 0-3 / 4-7 (bit 0): b[j][0..1], b[j+1][0..1].
                const int mi = lane >> 3, rr = lane & 7;
                const int ca = (((2 * kk + (mi >> 1)) ^ rr) << 2), cb = (((2 * kk + (mi & 1)) ^ rr) << 2);
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    m_ldm4(a[i], As + (i * 16 + (mi & 1) * 8 + rr) * M_BK + ca);
#pragma unroll
                    for (int e = 0; e < 4; e++) a[i][e] = m_tf32u(a[i][e]);
                }
#pragma unroll
                for (int j = 0; j < 4; j += 2) {
                    unsigned r[4];
                    m_ldm4(r, Bs + ((j + (mi >> 1)) * 8 + rr) * M_BK + cb);
                    b[j][0] = m_tf32u(r[0]);
                    b[j][1] = m_tf32u(r[1]);
                    b[j + 1][0] = m_tf32u(r[2]);
                    b[j + 1][1] = m_tf32u(r[3]);
                }
            } else {
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const float *ar = As + (i * 16 + g) * M_BK;
                a[i][0] = m_tf32(ar[c0]);
                a[i][1] = m_tf32(ar[8 * M_BK + c0]);
                a[i][2] = m_tf32(ar[c1]);
                a[i][3] = m_tf32(ar[8 * M_BK + c1]);
            }
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const float *br = Bs + (j * 8 + g) * M_BK;
                b[j][0] = m_tf32(br[c0]);
                b[j][1] = m_tf32(br[c1]);
            }
            }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++)
                    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
                                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                                 : "+f"(acc[i][j][0]), "+f"(acc[i][j][1]), "+f"(acc[i][j][2]), "+f"(acc[i][j][3])
                                 : "r"(a[i][0]), "r"(a[i][1]), "r"(a[i][2]), "r"(a[i][3]), "r"(b[j][0]), "r"(b[j][1]));
        }
    }
    m_wait<0>(); // nothing is in flight at exit (the last groups are empty)

    // Epilogue straight from the accumulators: element (i, j, c) is row
    // wm*64 + i*16 + g + 8*(c >> 1), column wn*32 + j*8 + 2t + (c & 1).
    float xs[4][2];
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            long c = n0 + wn * 32 + j * 8 + 2 * t + h;
            xs[j][h] = c < n ? __ldg(x_inv + c) : 0.f;
        }
    const bool pair = (ld & 1) == 0 && ((uintptr_t)scores & 7) == 0;
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int rh = 0; rh < 2; rh++) {
            long r = q0 + wm * 64 + i * 16 + g + 8 * rh;
            if (r >= q) continue;
            float qs = __ldg(q_inv + r);
            float *o = scores + (size_t)r * ld;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                long c = n0 + wn * 32 + j * 8 + 2 * t;
                float v0 = fminf(fmaxf(acc[i][j][2 * rh] * qs * xs[j][0], -1.f), 1.f) + 0.f;
                float v1 = fminf(fmaxf(acc[i][j][2 * rh + 1] * qs * xs[j][1], -1.f), 1.f) + 0.f;
                if (pair && c + 1 < n) {
                    *(float2 *)(o + c) = make_float2(v0, v1);
                } else {
                    if (c < n) o[c] = v0;
                    if (c + 1 < n) o[c + 1] = v1;
                }
            }
        }
}

// --- host ---
extern "C" int um_recall_tf32_scores(const float *qv, const float *q_inv, long q, const float *xv,
                                     const float *x_inv, long n, int d, float *scores, long ld,
                                     cudaStream_t st) {
    bool vec = (d % 4) == 0 && ((uintptr_t)qv % 16) == 0 && ((uintptr_t)xv % 16) == 0;
    // UM_RECALL_TF32_KERNEL=wmma|mma|mma4-ldm picks another kernel (bench knob).
    const char *knob = getenv("UM_RECALL_TF32_KERNEL");
    long qt = (q + M_BM - 1) / M_BM, nt = (n + M_BN - 1) / M_BN;
    size_t sm = (size_t)2 * (W_BM + W_BN) * W_LD * 4; // 40,960 B; the epilogue reuses 18 KB of it
    dim3 grid((unsigned)((n + W_BN - 1) / W_BN), (unsigned)((q + W_BM - 1) / W_BM));
    // Default: ldmatrix fragments, 3 stages (run 5, interleaved: 125 vs 119 TF/s for plain
    // shared loads and 108 for 4 stages at N = 1e5, Q = 1000; ahead on 5 of 6 shapes).
    int var = !knob ? 1 : !strcmp(knob, "wmma") ? -1 : !strcmp(knob, "mma") ? 0 : !strcmp(knob, "mma4-ldm") ? 2 : 1;
    if (vec && var >= 0 && qt * nt <= 0x7fffffffL) {
        static int done[3][16];
        int dev = 0;
        int stages = var == 2 ? 4 : 3;
        size_t msm = (size_t)stages * M_STAGE_FLOATS * 4; // 96 KB (two blocks per SM) or 128 KB
        void (*kern)(const float *, const float *, long, const float *, const float *, long, int, float *, long, long) =
            var == 0 ? tf32_mma_kernel<3, false> : var == 1 ? tf32_mma_kernel<3, true> : tf32_mma_kernel<4, true>;
        if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 16 || !done[var][dev]) {
            cudaGetLastError();
            cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)msm);
            if (dev >= 0 && dev < 16) done[var][dev] = 1;
        }
        kern<<<(unsigned)(qt * nt), M_THREADS, msm, st>>>(qv, q_inv, q, xv, x_inv, n, d, scores, ld, qt);
    } else if (vec) {
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
