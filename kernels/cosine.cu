// The cosine-similarity kernels behind recall.h.
//
// Scores are dot(q, x) * inv_norm(q) * inv_norm(x): norms are computed once per vector set
// (um_recall_gpu_inv_norms), so the product kernels are plain FP32 matrix products with a
// scaling epilogue. Three product kernels:
//   - tile_kernel: an SGEMM-style 128x128x16 tile, 256 threads with 8x8 register blocks,
//     16-byte loads staged through registers into double-buffered shared memory. Its epilogue
//     either writes scores or, fused, keeps a running per-query top-k of the block's column
//     range in shared memory: a score enters a small candidate pool only if it beats the
//     query's current k-th best, so after the first tiles almost nothing is written anywhere.
//   - small_kernel: Q <= 16 is bandwidth-bound (each stored vector is used by few queries), so
//     a warp streams 4 stored vectors at a time against all queries instead of tiling.
//   - select_kernel: row-wise top-k of scores in memory by 8-bit radix selection, used for the
//     unfused baseline, for merging the fused kernels' per-block lists, and for k > 128.
// Ordering everywhere: higher score, then lower index. Partial lists are laid out in index
// order so that the selection's "first among equals" is the lowest index.
#include "kernels/recall.h"
#include "kernels/recall_internal.h"

#include <cuda_runtime.h>
#include <cub/block/block_scan.cuh>
#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// --- shared helpers ---
#define UM_FUSED_K_MAX 128

static __device__ __forceinline__ bool um_better(float as, int ai, float bs, int bi) {
    return as > bs || (as == bs && ai < bi);
}

// Clamped to [-1, 1] (rounding can overshoot); "+ 0" turns -0 into +0 so that zero scores
// order by index alone (the radix keys of -0 and +0 differ).
static __device__ __forceinline__ float um_clamp_cos(float s) {
    return fminf(fmaxf(s, -1.0f), 1.0f) + 0.0f;
}

// Orderable key: larger float -> larger unsigned.
static __device__ __forceinline__ unsigned um_key(float f) {
    unsigned u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
static __device__ __forceinline__ float um_unkey(unsigned k) {
    return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// --- norms ---
// One warp per vector.
static __global__ void norms_kernel(const float *__restrict__ v, long n, int d, float *inv) {
    long row = (long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (row >= n) return;
    const float *p = v + (size_t)row * d;
    float s = 0.f;
    for (int j = lane; j < d; j += 32) s = fmaf(p[j], p[j], s);
    for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) inv[row] = s > 0.f ? 1.0f / sqrtf(s) : 0.f;
}

// --- fused top-k state (shared memory) ---
// Lists are position-major (lst[pos * ROWS + row]) so that one thread per row walks its list
// without bank conflicts. Candidates go to a pool first; a merge sorts the pool by row
// (counting sort) so that each row's thread touches only its own candidates.
struct um_topk_smem {
    float *lst_s;
    int *lst_i;
    float *thr_s;
    int *thr_i;
    int *seg_cnt;
    int *seg_off;
    float *pool_s;
    int *pool_i;
    int *pool_q; // row | (position within the row's segment << 8)
    float *srt_s;
    int *srt_i;
    int *pool_cnt;
};

static __host__ __device__ size_t um_topk_bytes(int rows, int kcap, int pcap) {
    return (size_t)rows * kcap * 8 + (size_t)rows * 16 + (size_t)pcap * 20 + 16;
}

static __device__ um_topk_smem um_topk_carve(char *base, int rows, int kcap, int pcap) {
    um_topk_smem t;
    t.lst_s = (float *)base;
    t.lst_i = (int *)(t.lst_s + (size_t)rows * kcap);
    t.thr_s = (float *)(t.lst_i + (size_t)rows * kcap);
    t.thr_i = (int *)(t.thr_s + rows);
    t.seg_cnt = t.thr_i + rows;
    t.seg_off = t.seg_cnt + rows;
    t.pool_s = (float *)(t.seg_off + rows);
    t.pool_i = (int *)(t.pool_s + pcap);
    t.pool_q = t.pool_i + pcap;
    t.srt_s = (float *)(t.pool_q + pcap);
    t.srt_i = (int *)(t.srt_s + pcap);
    t.pool_cnt = t.srt_i + pcap;
    return t;
}

static __device__ void um_topk_init(um_topk_smem &t, int rows, int kcap) {
    for (int e = threadIdx.x; e < rows * kcap; e += blockDim.x) {
        t.lst_s[e] = -INFINITY;
        t.lst_i[e] = INT_MAX;
    }
    for (int r = threadIdx.x; r < rows; r += blockDim.x) {
        t.thr_s[r] = -INFINITY;
        t.thr_i[r] = INT_MAX;
    }
    if (threadIdx.x == 0) *t.pool_cnt = 0;
    __syncthreads();
}

// Offers one candidate; returns false when the pool is full (caller retries after a merge).
static __device__ __forceinline__ bool um_topk_offer(um_topk_smem &t, int pcap, int row, float s,
                                                     int idx) {
    if (!um_better(s, idx, t.thr_s[row], t.thr_i[row])) return true; // never enters the top-k
    int slot = atomicAdd(t.pool_cnt, 1);
    if (slot >= pcap) return false;
    t.pool_s[slot] = s;
    t.pool_i[slot] = idx;
    t.pool_q[slot] = row;
    return true;
}

// Reserves `cnt` consecutive pool slots for this thread with one atomic per warp; returns the
// first. The counter may run past the pool's capacity: slots >= pcap are not written, and the
// caller offers those candidates again after the merge (merge and reset clamp the count).
static __device__ __forceinline__ int um_warp_reserve(int *pool_cnt, int cnt) {
    const int lane = threadIdx.x & 31;
    int incl = cnt;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        int v = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += v;
    }
    int base = 0;
    if (lane == 31 && incl > 0) base = atomicAdd(pool_cnt, incl);
    base = __shfl_sync(0xffffffffu, base, 31);
    return base + incl - cnt;
}

// Block-wide: folds the pool into the lists, resets the pool. Rows <= 128 (one warp scans the
// segment counts, 4 rows a lane). Must be called by all threads after a __syncthreads().
// Insertion order within a row does not matter: (score, index) is a total order.
static __device__ void um_topk_merge(um_topk_smem &t, int rows, int k, int pcap) {
    int cnt = min(*t.pool_cnt, pcap);
    for (int r = threadIdx.x; r < rows; r += blockDim.x) t.seg_cnt[r] = 0;
    __syncthreads();
    for (int e = threadIdx.x; e < cnt; e += blockDim.x) {
        int q = t.pool_q[e];
        int pos = atomicAdd(&t.seg_cnt[q], 1);
        t.pool_q[e] = q | (pos << 8);
    }
    __syncthreads();
    if (threadIdx.x < 32) {
        int lane = threadIdx.x, base = lane * 4;
        int c0 = base < rows ? t.seg_cnt[base] : 0;
        int c1 = base + 1 < rows ? t.seg_cnt[base + 1] : 0;
        int c2 = base + 2 < rows ? t.seg_cnt[base + 2] : 0;
        int c3 = base + 3 < rows ? t.seg_cnt[base + 3] : 0;
        int local = c0 + c1 + c2 + c3, incl = local;
        for (int o = 1; o < 32; o <<= 1) {
            int v = __shfl_up_sync(0xffffffffu, incl, o);
            if (lane >= o) incl += v;
        }
        int off = incl - local;
        if (base < rows) t.seg_off[base] = off;
        if (base + 1 < rows) t.seg_off[base + 1] = off + c0;
        if (base + 2 < rows) t.seg_off[base + 2] = off + c0 + c1;
        if (base + 3 < rows) t.seg_off[base + 3] = off + c0 + c1 + c2;
    }
    __syncthreads();
    for (int e = threadIdx.x; e < cnt; e += blockDim.x) {
        int v = t.pool_q[e];
        int dst = t.seg_off[v & 255] + (v >> 8);
        t.srt_s[dst] = t.pool_s[e];
        t.srt_i[dst] = t.pool_i[e];
    }
    __syncthreads();
    for (int r = threadIdx.x; r < rows; r += blockDim.x) {
        float ts = t.thr_s[r];
        int ti = t.thr_i[r];
        int e0 = t.seg_off[r], e1 = e0 + t.seg_cnt[r];
        for (int e = e0; e < e1; e++) {
            float s = t.srt_s[e];
            int i = t.srt_i[e];
            if (!um_better(s, i, ts, ti)) continue;
            int pos = k - 1;
            while (pos > 0) {
                float ps = t.lst_s[(pos - 1) * rows + r];
                int pi = t.lst_i[(pos - 1) * rows + r];
                if (!um_better(s, i, ps, pi)) break;
                t.lst_s[pos * rows + r] = ps;
                t.lst_i[pos * rows + r] = pi;
                pos--;
            }
            t.lst_s[pos * rows + r] = s;
            t.lst_i[pos * rows + r] = i;
            ts = t.lst_s[(k - 1) * rows + r];
            ti = t.lst_i[(k - 1) * rows + r];
        }
        t.thr_s[r] = ts;
        t.thr_i[r] = ti;
    }
    __syncthreads();
    if (threadIdx.x == 0) *t.pool_cnt = 0;
    __syncthreads();
}

// Writes the block's lists to part[(q0 + r) * ldp + slot * k + pos].
static __device__ void um_topk_store(um_topk_smem &t, int rows, int k, long q0, long q,
                                     size_t ldp, int slot, float *part_s, int *part_i) {
    for (int e = threadIdx.x; e < rows * k; e += blockDim.x) {
        int r = e / k, pos = e % k;
        if (q0 + r >= q) continue;
        size_t o = (size_t)(q0 + r) * ldp + (size_t)slot * k + pos;
        part_s[o] = t.lst_s[pos * rows + r];
        part_i[o] = t.lst_i[pos * rows + r];
    }
}

// --- tile kernel (SGEMM-style) ---
#define T_BM 128
#define T_BN 128 // column tile of the big configurations (64 for underfilled grids)
#define T_PAD 4
#define T_THREADS 256
#define T_PCAP 2048

enum { UM_OUT_SCORES = 0, UM_OUT_TOPK = 1 };

// BK (the K depth of a stage) is 16 or 8: ROWS x BK floats are ROWS * BK / 1024 float4 per
// thread. BK = 8 halves the staging registers (an attempt at an unspilled 128-register
// variant; ptxas still spills a few words) at twice the barriers per tile; 16 is the
// default. ROWS is 128, or 64 for the stored side of BN = 64.
#define T_NV(ROWS, BK) ((ROWS) * (BK) / 1024)

template <bool VEC, int BK, int ROWS>
static __device__ __forceinline__ void tile_load(const float *__restrict__ base, long rows, int d,
                                                 long r0, int k0, float (&reg)[T_NV(ROWS, BK)][4]) {
    // ROWS x BK: thread t loads rows t/(BK/4) + h*(1024/BK), columns (t%(BK/4))*4 .. +3.
    int t = threadIdx.x;
#pragma unroll
    for (int h = 0; h < T_NV(ROWS, BK); h++) {
        long r = r0 + t / (BK / 4) + h * (1024 / BK);
        int c = k0 + (t % (BK / 4)) * 4;
        if (VEC) {
            float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
            if (r < rows && c < d) v = __ldg((const float4 *)(base + (size_t)r * d + c));
            reg[h][0] = v.x;
            reg[h][1] = v.y;
            reg[h][2] = v.z;
            reg[h][3] = v.w;
        } else {
#pragma unroll
            for (int j = 0; j < 4; j++)
                reg[h][j] = (r < rows && c + j < d) ? __ldg(base + (size_t)r * d + c + j) : 0.f;
        }
    }
}

template <int BK, int ROWS>
static __device__ __forceinline__ void tile_store(float *sm, const float (&reg)[T_NV(ROWS, BK)][4]) {
    int t = threadIdx.x;
#pragma unroll
    for (int h = 0; h < T_NV(ROWS, BK); h++)
#pragma unroll
        for (int j = 0; j < 4; j++)
            sm[((t % (BK / 4)) * 4 + j) * (ROWS + T_PAD) + t / (BK / 4) + h * (1024 / BK)] = reg[h][j];
}

// One BK slice of the product from shared memory. HI = false skips the thread's upper 4 rows
// (rows 64 + ...) when a warp's upper rows are all past Q (e.g. Q = 100 in a 128-row tile):
// the warp then issues half the FMAs and frees issue slots for the SM's other warps.
// BN = 64 (JN = 4 columns a thread) drops the b1 half.
#define T_JN(BN) ((BN) / 16)

template <bool HI, int BK, int BN>
static __device__ __forceinline__ void tile_slice(const float *a, const float *b, float (&acc)[8][T_JN(BN)]) {
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll
    for (int kk = 0; kk < BK; kk++) {
        float fa[8], fb[8];
        float4 a0 = *(const float4 *)(a + kk * (T_BM + T_PAD) + ty * 4);
        float4 b0 = *(const float4 *)(b + kk * (BN + T_PAD) + tx * 4);
        fa[0] = a0.x; fa[1] = a0.y; fa[2] = a0.z; fa[3] = a0.w;
        if (HI) {
            float4 a1 = *(const float4 *)(a + kk * (T_BM + T_PAD) + 64 + ty * 4);
            fa[4] = a1.x; fa[5] = a1.y; fa[6] = a1.z; fa[7] = a1.w;
        }
        fb[0] = b0.x; fb[1] = b0.y; fb[2] = b0.z; fb[3] = b0.w;
        if (BN == 128) {
            float4 b1 = *(const float4 *)(b + kk * (BN + T_PAD) + 64 + tx * 4);
            fb[4] = b1.x; fb[5] = b1.y; fb[6] = b1.z; fb[7] = b1.w;
        }
#pragma unroll
        for (int i = 0; i < (HI ? 8 : 4); i++)
#pragma unroll
            for (int j = 0; j < T_JN(BN); j++) acc[i][j] = fmaf(fa[i], fb[j], acc[i][j]);
    }
}

// Computes the 128 x BN block of raw dot products at (q0, n0) into acc.
template <bool VEC, int BK, int BN>
static __device__ __forceinline__ void tile_product(const float *__restrict__ qv, long q,
                                                    const float *__restrict__ xv, long n, int d,
                                                    long q0, long n0, float *As, float *Bs,
                                                    float (&acc)[8][T_JN(BN)]) {
    const int stage = BK * (T_BM + T_PAD), bstage = BK * (BN + T_PAD);
    // Warp w owns upper rows 64 + 8w .. 64 + 8w + 7 (warp-uniform test).
    const bool hi = q0 + 64 + (threadIdx.x / 32) * 8 < q;
#pragma unroll
    for (int i = 0; i < 8; i++)
#pragma unroll
        for (int j = 0; j < T_JN(BN); j++) acc[i][j] = 0.f;

    float ra[T_NV(T_BM, BK)][4], rb[T_NV(BN, BK)][4];
    tile_load<VEC, BK, T_BM>(qv, q, d, q0, 0, ra);
    tile_load<VEC, BK, BN>(xv, n, d, n0, 0, rb);
    tile_store<BK, T_BM>(As, ra);
    tile_store<BK, BN>(Bs, rb);
    __syncthreads();
    int nk = (d + BK - 1) / BK;
    for (int kt = 0; kt < nk; kt++) {
        int cur = kt & 1;
        bool more = kt + 1 < nk;
        if (more) {
            tile_load<VEC, BK, T_BM>(qv, q, d, q0, (kt + 1) * BK, ra);
            tile_load<VEC, BK, BN>(xv, n, d, n0, (kt + 1) * BK, rb);
        }
        if (hi) tile_slice<true, BK, BN>(As + cur * stage, Bs + cur * bstage, acc);
        else tile_slice<false, BK, BN>(As + cur * stage, Bs + cur * bstage, acc);
        if (more) {
            tile_store<BK, T_BM>(As + (cur ^ 1) * stage, ra);
            tile_store<BK, BN>(Bs + (cur ^ 1) * bstage, rb);
        }
        __syncthreads();
    }
}

// Row/column of accumulator element (i, j) inside the tile.
static __device__ __forceinline__ int tile_row(int i) { return (i < 4 ? 0 : 64) + (threadIdx.x / 16) * 4 + (i & 3); }
static __device__ __forceinline__ int tile_col(int j) { return (j < 4 ? 0 : 64) + (threadIdx.x % 16) * 4 + (j & 3); }

// For k <= 16: per row, the k-th largest of the 16 per-thread row maxima (the 16 threads
// sharing a row are one half-warp). Any score strictly below it is below k distinct scores
// of its own row, so it can never be in that row's top-k: early tiles, where the running
// threshold is still low, then offer ~k candidates per row instead of 128.
template <int JN>
static __device__ __forceinline__ float tile_row_floor(const float (&sc)[8][JN], int i, long n0, long n,
                                                      int k) {
    float m = -INFINITY;
#pragma unroll
    for (int j = 0; j < JN; j++)
        if (n0 + tile_col(j) < n) m = fmaxf(m, sc[i][j]);
    int me = threadIdx.x & 15, rank = 0;
#pragma unroll
    for (int l = 0; l < 16; l++) {
        float o = __shfl_sync(0xffffffffu, m, l, 16);
        rank += (o > m) || (o == m && l < me);
    }
    unsigned hit = __ballot_sync(0xffffffffu, rank == k - 1);
    int src = __ffs((hit >> (threadIdx.x & 16)) & 0xffffu) - 1;
    return __shfl_sync(0xffffffffu, m, src, 16);
}

// grid: x = query tiles, y = column splits; each block walks column tiles
// [y * nt / splits, (y + 1) * nt / splits) (balanced: counts differ by at most one) and either
// writes scores or keeps its top-k.
template <bool VEC, int MODE, int MINB, int BK, int BN>
static __global__ void __launch_bounds__(T_THREADS, MINB)
    tile_kernel(const float *__restrict__ qv, const float *__restrict__ q_inv, long q,
                const float *__restrict__ xv, const float *__restrict__ x_inv, long n, int d,
                float *scores, long ld, int k, int kcap, float *part_s,
                int *part_i, size_t ldp) {
    extern __shared__ __align__(16) char smem[];
    float *As = (float *)smem;
    float *Bs = As + 2 * BK * (T_BM + T_PAD);
    long q0 = (long)blockIdx.x * T_BM;
    long ntiles = (n + BN - 1) / BN;
    long t_begin = (long)blockIdx.y * ntiles / gridDim.y;
    long t_end = (long)(blockIdx.y + 1) * ntiles / gridDim.y;

    um_topk_smem tk;
    if (MODE == UM_OUT_TOPK) {
        tk = um_topk_carve((char *)(Bs + 2 * BK * (BN + T_PAD)), T_BM, kcap, T_PCAP);
        um_topk_init(tk, T_BM, kcap);
    }
    for (long t = t_begin; t < t_end; t++) {
        long n0 = t * BN;
        constexpr int JN = T_JN(BN);
        float acc[8][JN];
        tile_product<VEC, BK, BN>(qv, q, xv, n, d, q0, n0, As, Bs, acc);
        // Norms are (re)read here, not held across the product, to keep registers for it.
        float qs[8], xs[JN];
#pragma unroll
        for (int i = 0; i < 8; i++) {
            long r = q0 + tile_row(i);
            qs[i] = r < q ? __ldg(q_inv + r) : 0.f;
        }
#pragma unroll
        for (int j = 0; j < JN; j++) {
            long c = n0 + tile_col(j);
            xs[j] = c < n ? __ldg(x_inv + c) : 0.f;
        }
#pragma unroll
        for (int i = 0; i < 8; i++)
#pragma unroll
            for (int j = 0; j < JN; j++) acc[i][j] = um_clamp_cos(acc[i][j] * qs[i] * xs[j]);
        if (MODE == UM_OUT_SCORES) {
#pragma unroll
            for (int i = 0; i < 8; i++) {
                long r = q0 + tile_row(i);
                if (r >= q) continue;
#pragma unroll
                for (int h = 0; h < JN / 4; h++) {
                    long c = n0 + tile_col(h * 4);
                    float *o = scores + (size_t)r * ld + c;
                    if (c + 3 < n && (ld & 3) == 0) {
                        *(float4 *)o = make_float4(acc[i][h * 4], acc[i][h * 4 + 1], acc[i][h * 4 + 2], acc[i][h * 4 + 3]);
                    } else {
#pragma unroll
                        for (int j = 0; j < 4; j++)
                            if (c + j < n) o[j] = acc[i][h * 4 + j];
                    }
                }
            }
        } else {
            // Bit (i * JN + j) pending: not yet offered, or offered into a full pool.
            unsigned long long pending = 0;
            const bool early = k <= 16 && t - t_begin < 4; // block-uniform
#pragma unroll
            for (int i = 0; i < 8; i++) {
                float floor_i = early ? tile_row_floor(acc, i, n0, n, k) : -INFINITY;
#pragma unroll
                for (int j = 0; j < JN; j++)
                    if (q0 + tile_row(i) < q && n0 + tile_col(j) < n && !(acc[i][j] < floor_i))
                        pending |= 1ull << (i * JN + j);
            }
            // Offers are warp-aggregated: one shared atomic per warp and round reserves pool
            // slots for all of the warp's candidates (a per-candidate atomic on the one pool
            // counter serialised ~2,000 times per early tile).
            for (;;) {
                unsigned long long want = 0;
#pragma unroll
                for (int i = 0; i < 8; i++) {
                    const int r = tile_row(i);
                    const float ts = tk.thr_s[r];
                    const int ti = tk.thr_i[r];
#pragma unroll
                    for (int j = 0; j < JN; j++) {
                        unsigned long long bit = 1ull << (i * JN + j);
                        if ((pending & bit) && um_better(acc[i][j], (int)(n0 + tile_col(j)), ts, ti)) want |= bit;
                    }
                }
                pending = want; // what no longer beats its row's k-th best never will
                int slot = um_warp_reserve(tk.pool_cnt, __popcll(want));
#pragma unroll
                for (int i = 0; i < 8; i++)
#pragma unroll
                    for (int j = 0; j < JN; j++) {
                        unsigned long long bit = 1ull << (i * JN + j);
                        if (want & bit) {
                            if (slot < T_PCAP) {
                                tk.pool_s[slot] = acc[i][j];
                                tk.pool_i[slot] = (int)(n0 + tile_col(j));
                                tk.pool_q[slot] = tile_row(i);
                                pending &= ~bit;
                            }
                            slot++;
                        }
                    }
                __syncthreads();
                if (*tk.pool_cnt > 0) um_topk_merge(tk, T_BM, k, T_PCAP);
                if (!__syncthreads_or(pending != 0)) break;
            }
        }
    }
    if (MODE == UM_OUT_TOPK) um_topk_store(tk, T_BM, k, q0, q, ldp, blockIdx.y, part_s, part_i);
}

static size_t tile_smem_bytes(int mode, int kcap, int bk, int bn) {
    size_t b = (size_t)2 * bk * (T_BM + T_PAD + bn + T_PAD) * 4;
    if (mode == UM_OUT_TOPK) b += um_topk_bytes(T_BM, kcap, T_PCAP);
    return b;
}

// --- small-Q kernel (bandwidth-bound) ---
#define S_THREADS 256
#define S_V 4 // stored vectors per warp step
#define S_PCAP 1024

template <int QS, bool VEC>
static __device__ __forceinline__ void small_dots(const float *__restrict__ qv, long q,
                                                  const float *__restrict__ xv, long n, int d,
                                                  long v0, float (&acc)[QS][S_V]) {
    int lane = threadIdx.x & 31;
#pragma unroll
    for (int a = 0; a < QS; a++)
#pragma unroll
        for (int b = 0; b < S_V; b++) acc[a][b] = 0.f;
    if (VEC) {
        for (int c = lane * 4; c < d; c += 128) {
            float4 xr[S_V];
#pragma unroll
            for (int b = 0; b < S_V; b++)
                xr[b] = (v0 + b < n) ? __ldg((const float4 *)(xv + (size_t)(v0 + b) * d + c))
                                     : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
            for (int a = 0; a < QS; a++) {
                if (a >= q) break;
                float4 qr = __ldg((const float4 *)(qv + (size_t)a * d + c));
#pragma unroll
                for (int b = 0; b < S_V; b++) {
                    acc[a][b] = fmaf(qr.x, xr[b].x, acc[a][b]);
                    acc[a][b] = fmaf(qr.y, xr[b].y, acc[a][b]);
                    acc[a][b] = fmaf(qr.z, xr[b].z, acc[a][b]);
                    acc[a][b] = fmaf(qr.w, xr[b].w, acc[a][b]);
                }
            }
        }
    } else {
        for (int c = lane; c < d; c += 32) {
            float xr[S_V];
#pragma unroll
            for (int b = 0; b < S_V; b++) xr[b] = (v0 + b < n) ? __ldg(xv + (size_t)(v0 + b) * d + c) : 0.f;
#pragma unroll
            for (int a = 0; a < QS; a++) {
                if (a >= q) break;
                float qr = __ldg(qv + (size_t)a * d + c);
#pragma unroll
                for (int b = 0; b < S_V; b++) acc[a][b] = fmaf(qr, xr[b], acc[a][b]);
            }
        }
    }
#pragma unroll
    for (int a = 0; a < QS; a++)
#pragma unroll
        for (int b = 0; b < S_V; b++)
#pragma unroll
            for (int o = 16; o; o >>= 1) acc[a][b] += __shfl_xor_sync(0xffffffffu, acc[a][b], o);
}

// grid.x = column splits of vecs_per_split vectors each (a multiple of 8 warps * S_V).
template <int QS, bool VEC, int MODE>
static __global__ void __launch_bounds__(S_THREADS)
    small_kernel(const float *__restrict__ qv, const float *__restrict__ q_inv, long q,
                 const float *__restrict__ xv, const float *__restrict__ x_inv, long n, int d,
                 float *scores, long ld, int k, int kcap, long vecs_per_split, float *part_s,
                 int *part_i, size_t ldp) {
    extern __shared__ __align__(16) char smem[];
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
    const int step = (S_THREADS / 32) * S_V;
    long begin = (long)blockIdx.x * vecs_per_split;
    long end = min(n, begin + vecs_per_split);
    um_topk_smem tk;
    if (MODE == UM_OUT_TOPK) {
        tk = um_topk_carve(smem, QS, kcap, S_PCAP);
        um_topk_init(tk, QS, kcap);
    }
    for (long base = begin; base < end; base += step) {
        long v0 = base + warp * S_V;
        float acc[QS][S_V];
        small_dots<QS, VEC>(qv, q, xv, n, d, v0, acc);
        if (MODE == UM_OUT_SCORES) {
#pragma unroll
            for (int a = 0; a < QS; a++)
#pragma unroll
                for (int b = 0; b < S_V; b++)
                    if (lane == ((a * S_V + b) & 31) && a < q && v0 + b < end)
                        scores[(size_t)a * ld + v0 + b] = um_clamp_cos(acc[a][b] * q_inv[a] * x_inv[v0 + b]);
        } else {
            // Lane l offers the values with (a * S_V + b) % 32 == l.
            unsigned long long pending = 0;
#pragma unroll
            for (int a = 0; a < QS; a++)
#pragma unroll
                for (int b = 0; b < S_V; b++)
                    if (lane == ((a * S_V + b) & 31) && a < q && v0 + b < end)
                        pending |= 1ull << (a * S_V + b);
            for (;;) {
#pragma unroll
                for (int a = 0; a < QS; a++)
#pragma unroll
                    for (int b = 0; b < S_V; b++) {
                        unsigned long long bit = 1ull << (a * S_V + b);
                        if (pending & bit) {
                            float s = um_clamp_cos(acc[a][b] * q_inv[a] * x_inv[v0 + b]);
                            if (um_topk_offer(tk, S_PCAP, a, s, (int)(v0 + b))) pending &= ~bit;
                        }
                    }
                __syncthreads();
                if (*tk.pool_cnt > 0) um_topk_merge(tk, QS, k, S_PCAP);
                if (!__syncthreads_or(pending != 0)) break;
            }
        }
    }
    if (MODE == UM_OUT_TOPK) um_topk_store(tk, QS, k, 0, q, ldp, blockIdx.x, part_s, part_i);
}

static size_t small_smem_bytes(int qs, int mode, int kcap) {
    if (mode != UM_OUT_TOPK) return 0;
    return um_topk_bytes(qs, kcap, S_PCAP);
}

// --- selection ---
#define SEL_THREADS 256
#define SEL_ITEMS 4

// One block per row: four 8-bit radix passes find the k-th largest key T; then every key > T
// and the first (in row order) keys == T fill k slots, which a bitonic sort orders.
// in_idx (may be NULL: index = position + idx_offset) gives each element's stored index.
static __global__ void __launch_bounds__(SEL_THREADS)
    select_kernel(const float *__restrict__ s, const int *__restrict__ in_idx, long cols, long ld,
                  int k, long idx_offset, int *out_idx, float *out_score, size_t ldo) {
    typedef cub::BlockScan<int, SEL_THREADS> Scan;
    __shared__ typename Scan::TempStorage scan_tmp;
    __shared__ unsigned hist[256];
    __shared__ unsigned sel_prefix, sel_mask;
    __shared__ int sel_need, n_gt, n_eq;
    __shared__ unsigned cand_k[UM_RECALL_K_MAX];
    __shared__ int cand_i[UM_RECALL_K_MAX];
    const float *row = s + (size_t)blockIdx.x * ld;
    const int *irow = in_idx ? in_idx + (size_t)blockIdx.x * ld : NULL;
    const int lane = threadIdx.x & 31;

    if (threadIdx.x == 0) {
        sel_prefix = 0;
        sel_mask = 0;
        sel_need = k;
        n_gt = 0;
        n_eq = 0;
    }
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int b = threadIdx.x; b < 256; b += SEL_THREADS) hist[b] = 0;
        __syncthreads();
        unsigned prefix = sel_prefix, mask = sel_mask;
        for (long base = 0; base < cols; base += SEL_THREADS) {
            long j = base + threadIdx.x;
            bool in = false;
            unsigned digit = 0;
            if (j < cols) {
                unsigned key = um_key(row[j]);
                in = (key & mask) == prefix;
                digit = (key >> shift) & 255u;
            }
            // Scores cluster in a few digits: aggregate equal digits per warp before the atomic.
            unsigned active = __ballot_sync(0xffffffffu, in);
            if (in) {
                unsigned peers = __match_any_sync(active, digit);
                if (lane == __ffs(peers) - 1) atomicAdd(&hist[digit], __popc(peers));
            }
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            unsigned need = sel_need, cum = 0;
            int dsel = 0;
            for (int b = 255; b >= 0; b--) {
                if (cum + hist[b] >= need) {
                    dsel = b;
                    break;
                }
                cum += hist[b];
            }
            sel_need = need - cum;
            sel_prefix = prefix | ((unsigned)dsel << shift);
            sel_mask = mask | (255u << shift);
        }
        __syncthreads();
    }
    const unsigned T = sel_prefix;
    const int need_eq = sel_need; // how many keys == T to take (lowest positions first)
    const int n_greater = k - need_eq;
    // Collect in row order: > T anywhere (count n_greater), == T first need_eq.
    for (long base = 0; base < cols; base += (long)SEL_THREADS * SEL_ITEMS) {
        int eq_flag[SEL_ITEMS], gt_flag[SEL_ITEMS];
        unsigned keys[SEL_ITEMS];
        int eq_cnt = 0, gt_cnt = 0;
#pragma unroll
        for (int it = 0; it < SEL_ITEMS; it++) {
            long j = base + (long)threadIdx.x * SEL_ITEMS + it;
            keys[it] = j < cols ? um_key(row[j]) : 0u;
            gt_flag[it] = j < cols && keys[it] > T;
            eq_flag[it] = j < cols && keys[it] == T;
            gt_cnt += gt_flag[it];
            eq_cnt += eq_flag[it];
        }
        int eq_pos, eq_tot, gt_pos, gt_tot;
        Scan(scan_tmp).ExclusiveSum(eq_cnt, eq_pos, eq_tot);
        __syncthreads();
        Scan(scan_tmp).ExclusiveSum(gt_cnt, gt_pos, gt_tot);
        int eq_base = n_eq, gt_base = n_gt;
#pragma unroll
        for (int it = 0; it < SEL_ITEMS; it++) {
            long j = base + (long)threadIdx.x * SEL_ITEMS + it;
            int idx = (gt_flag[it] || eq_flag[it]) ? (irow ? irow[j] : (int)(j + idx_offset)) : 0;
            if (gt_flag[it]) {
                int p = gt_base + gt_pos++;
                cand_k[p] = keys[it];
                cand_i[p] = idx;
            }
            if (eq_flag[it]) {
                int p = eq_base + eq_pos++;
                if (p < need_eq) {
                    cand_k[n_greater + p] = keys[it];
                    cand_i[n_greater + p] = idx;
                }
            }
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            n_eq = eq_base + eq_tot;
            n_gt = gt_base + gt_tot;
        }
        __syncthreads();
    }
    // Bitonic sort of k slots (padded to a power of two) by (key desc, index asc).
    int p2 = 1;
    while (p2 < k) p2 <<= 1;
    for (int e = k + threadIdx.x; e < p2; e += SEL_THREADS) {
        cand_k[e] = 0u;
        cand_i[e] = INT_MAX;
    }
    __syncthreads();
    for (int size = 2; size <= p2; size <<= 1) {
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            for (int e = threadIdx.x; e < p2; e += SEL_THREADS) {
                int partner = e ^ stride;
                if (partner > e) {
                    bool desc = (e & size) == 0;
                    unsigned ka = cand_k[e], kb = cand_k[partner];
                    int ia = cand_i[e], ib = cand_i[partner];
                    bool a_first = ka > kb || (ka == kb && ia < ib);
                    if (a_first != desc) {
                        cand_k[e] = kb;
                        cand_k[partner] = ka;
                        cand_i[e] = ib;
                        cand_i[partner] = ia;
                    }
                }
            }
            __syncthreads();
        }
    }
    for (int e = threadIdx.x; e < k; e += SEL_THREADS) {
        out_idx[(size_t)blockIdx.x * ldo + e] = cand_i[e];
        out_score[(size_t)blockIdx.x * ldo + e] = um_unkey(cand_k[e]);
    }
}

// --- merge of the fused kernels' partial lists (k <= 16) ---
// One warp per query row: each lane keeps the best 16 of its share of the row's
// splits x k candidates in registers (sorted; compile-time indices only), then k rounds of a
// warp-wide arg-max pop the answer in order. Replaces the radix selection for this small,
// common case: its four serial digit scans cost more than the whole merge.
#define M_KEEP 16
// One warp per block: at Q = 100 eight-warp blocks put the whole merge on 13 SMs (run 5, ncu:
// 26 us, instruction-bound), one-warp blocks spread it over 100.
#define M_THREADS 32
#define M_BATCH 8

static __global__ void __launch_bounds__(M_THREADS)
    merge_kernel(const float *__restrict__ in_s, const int *__restrict__ in_i, long rows,
                 long cols, size_t ld, int k, int *out_idx, float *out_score) {
    const int lane = threadIdx.x & 31;
    const long row = (long)blockIdx.x * (M_THREADS / 32) + threadIdx.x / 32;
    if (row >= rows) return; // warp-uniform
    float ls[M_KEEP];
    int li[M_KEEP];
#pragma unroll
    for (int p = 0; p < M_KEEP; p++) ls[p] = -INFINITY, li[p] = INT_MAX;
    const float *rs = in_s + (size_t)row * ld;
    const int *ri = in_i + (size_t)row * ld;
    // M_BATCH independent loads per lane before any use: one memory latency per batch, not
    // per element (at Q = 1 a single warp walks thousands of entries).
    for (long base = 0; base < cols; base += 32 * M_BATCH) {
        float bs[M_BATCH];
        int bi[M_BATCH];
#pragma unroll
        for (int b = 0; b < M_BATCH; b++) {
            long e = base + b * 32 + lane;
            bs[b] = e < cols ? rs[e] : -INFINITY;
            bi[b] = e < cols ? ri[e] : INT_MAX;
        }
#pragma unroll
        for (int b = 0; b < M_BATCH; b++) {
            float s = bs[b];
            int i = bi[b];
            if (!um_better(s, i, ls[M_KEEP - 1], li[M_KEEP - 1])) continue;
            // Insertion by compare-and-swap down the list (sorted; indices stay constant).
#pragma unroll
            for (int p = 0; p < M_KEEP; p++) {
                if (um_better(s, i, ls[p], li[p])) {
                    float ts = ls[p];
                    int ti = li[p];
                    ls[p] = s, li[p] = i;
                    s = ts, i = ti;
                }
            }
        }
    }
    for (int r = 0; r < k; r++) {
        float bs = ls[0];
        int bi = li[0], bl = lane;
#pragma unroll
        for (int o = 16; o; o >>= 1) {
            float os = __shfl_xor_sync(0xffffffffu, bs, o);
            int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            int ol = __shfl_xor_sync(0xffffffffu, bl, o);
            if (um_better(os, oi, bs, bi) || (os == bs && oi == bi && ol < bl)) bs = os, bi = oi, bl = ol;
        }
        if (lane == 0) {
            out_idx[(size_t)row * k + r] = bi;
            out_score[(size_t)row * k + r] = bs;
        }
        if (lane == bl) {
#pragma unroll
            for (int p = 0; p < M_KEEP - 1; p++) ls[p] = ls[p + 1], li[p] = li[p + 1];
            ls[M_KEEP - 1] = -INFINITY;
            li[M_KEEP - 1] = INT_MAX;
        }
    }
}

// --- host side ---
#define UM_DEV_CACHE 16

// True when a kernel's dynamic shared-memory limit must still be raised to `bytes` on the
// current device (remembered per device in `done`, one array per kernel instantiation).
static bool um_attr_needed(int *done, size_t bytes) {
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= UM_DEV_CACHE) {
        cudaGetLastError();
        return true;
    }
    if (done[dev] >= (int)bytes) return false;
    done[dev] = (int)bytes;
    return true;
}

static int um_sm_count(void) {
    static int cached = 0;
    if (cached) return cached;
    int dev = 0, sms = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || sms <= 0) {
        cudaGetLastError();
        sms = 132;
    }
    cached = sms;
    return cached;
}

static int um_launch_status(void) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        fprintf(stderr, "recall: CUDA error: %s\n", cudaGetErrorString(e));
        return UM_RECALL_ECUDA;
    }
    return UM_RECALL_OK;
}

static bool um_is_vec(const void *a, const void *b, int d) {
    return (d % 4) == 0 && ((uintptr_t)a % 16) == 0 && ((uintptr_t)b % 16) == 0;
}

#define UM_SMALL_Q 16

static int um_kcap(int k) {
    int c = 16;
    while (c < k) c <<= 1;
    return c;
}

// Tile kernel configuration: register budget (MINB = 2 caps it at 128 registers, 2 blocks
// per SM; 1 leaves it uncapped, 1 block per SM), stage depth BK and column tile BN.
typedef struct {
    int minb, bk, bn;
} um_tile_cfg_t;

static int um_env_pick(const char *name, int a, int b) {
    const char *e = getenv(name);
    if (!e) return 0;
    int v = atoi(e);
    return v == a || v == b ? v : 0;
}

// Measured on the H100, every configuration side by side (kernels/results/run5_bench.log,
// "variants" lines): MINB = 2 wins for scores and fused top-k once there are >= 2 column
// tiles per SM (N >= 1e5: e.g. Q = 1000, N = 1e5 scores 3.57 vs 3.78 ms, fused 4.18 vs
// 4.34), MINB = 1 below (Q = 1000, N = 1e4: 0.419 vs 0.450); BK = 8 never won a scores
// race; BN = 64 when the 128-wide grid leaves SMs idle (Q = 100, N = 1e4: 79 tiles for 132
// SMs; fused 0.134 vs 0.140 ms). Bench knobs: UM_RECALL_TILE_MINB=1|2,
// UM_RECALL_TILE_BK=8|16, UM_RECALL_TILE_BN=64|128.
static um_tile_cfg_t um_tile_config(long q, long n) {
    um_tile_cfg_t c;
    long qt = (q + T_BM - 1) / T_BM, nt = (n + T_BN - 1) / T_BN;
    int bn = um_env_pick("UM_RECALL_TILE_BN", 64, 128);
    c.bn = bn ? bn : (qt * nt < um_sm_count() ? 64 : 128);
    if (c.bn == 64) { // one instantiation: small accumulators fit 128 registers unspilled
        c.minb = 2;
        c.bk = 16;
        return c;
    }
    int mb = um_env_pick("UM_RECALL_TILE_MINB", 1, 2);
    c.minb = mb ? mb : nt >= 2L * um_sm_count() ? 2 : 1;
    int bk = um_env_pick("UM_RECALL_TILE_BK", 8, 16);
    c.bk = bk ? bk : 16;
    return c;
}

static size_t tile_smem_bytes(int mode, int kcap, int bk, int bn);
template <bool VEC, int MODE, int MINB, int BK, int BN>
static __global__ void tile_kernel(const float *, const float *, long, const float *, const float *,
                                   long, int, float *, long, int, int, float *, int *, size_t);

template <int MINB, int BK, int BN>
static cudaError_t um_tile_occupancy(int *nb, size_t sm) {
    cudaFuncSetAttribute(tile_kernel<true, UM_OUT_TOPK, MINB, BK, BN>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm);
    return cudaOccupancyMaxActiveBlocksPerMultiprocessor(nb, tile_kernel<true, UM_OUT_TOPK, MINB, BK, BN>, T_THREADS, sm);
}

// Index of an instantiated configuration (0..4).
static int um_tile_cfg_index(um_tile_cfg_t c) {
    if (c.bn == 64) return 4;
    return (c.minb == 2 ? 2 : 0) + (c.bk == 8 ? 1 : 0);
}

// Resident fused tile blocks per SM for this configuration and list size.
static int um_tile_blocks_per_sm(um_tile_cfg_t c, int kcap) {
    // Cached per device, configuration and list size: the occupancy query and the
    // attribute call cost microseconds of host time inside every short top-k call.
    static int cache[UM_DEV_CACHE][5][4];
    int dev = 0, kc = kcap <= 16 ? 0 : kcap <= 32 ? 1 : kcap <= 64 ? 2 : 3;
    if (cudaGetDevice(&dev) != cudaSuccess) cudaGetLastError(), dev = -1;
    int ci = um_tile_cfg_index(c);
    int *slot = (dev >= 0 && dev < UM_DEV_CACHE) ? &cache[dev][ci][kc] : NULL;
    if (slot && *slot) return *slot;
    size_t sm = tile_smem_bytes(UM_OUT_TOPK, kcap, c.bk, c.bn);
    int nb = 0;
    cudaError_t e;
    switch (ci) {
    case 0: e = um_tile_occupancy<1, 16, 128>(&nb, sm); break;
    case 1: e = um_tile_occupancy<1, 8, 128>(&nb, sm); break;
    case 2: e = um_tile_occupancy<2, 16, 128>(&nb, sm); break;
    case 3: e = um_tile_occupancy<2, 8, 128>(&nb, sm); break;
    default: e = um_tile_occupancy<2, 16, 64>(&nb, sm); break;
    }
    if (e != cudaSuccess || nb < 1) {
        cudaGetLastError();
        nb = 1;
    }
    if (slot) *slot = nb;
    return nb;
}

// Layout of one fused call: how many column splits, and how much they cover each.
typedef struct {
    int small;  // small-Q kernel?
    int splits; // grid columns
    long per;   // vectors per split (small kernel)
    um_tile_cfg_t cfg; // tile kernel configuration
} um_fused_plan_t;

static um_fused_plan_t um_fused_plan(long q, long n, int k) {
    um_fused_plan_t p;
    int sms = um_sm_count();
    p.cfg = um_tile_config(q, n);
    if (q <= UM_SMALL_Q) {
        long step = (S_THREADS / 32) * S_V;
        long chunks = (n + step - 1) / step;
        long want = (long)sms * 8;
        if (want > chunks) want = chunks;
        long per_chunks = (chunks + want - 1) / want;
        p.small = 1;
        p.per = per_chunks * step;
        p.splits = (int)((n + p.per - 1) / p.per);
    } else {
        // Choose the split count that minimises (waves x tiles per block): each block keeps
        // one query tile's lists and walks a balanced range of column tiles. Fewer splits
        // win ties (less merging, fewer first-tile costs).
        long qt = (q + T_BM - 1) / T_BM;
        long nt = (n + p.cfg.bn - 1) / p.cfg.bn;
        long slots = (long)sms * um_tile_blocks_per_sm(p.cfg, um_kcap(k));
        long best = 1;
        double best_cost = 1e300;
        long smax = nt < 65535 ? nt : 65535;
        if (smax > 8 * slots) smax = 8 * slots;
        for (long sp = 1; sp <= smax; sp++) {
            double cost = (double)((qt * sp + slots - 1) / slots) * (double)((nt + sp - 1) / sp) + 1e-3 * sp;
            if (cost < best_cost) best_cost = cost, best = sp;
        }
        p.small = 0;
        p.per = 0;
        p.splits = (int)best;
    }
    return p;
}

// Chunked top-k: score chunks of `chunk` columns.
static long um_chunk_cols(long q, long n, int k) {
    long budget = 256L << 20; // bytes of scores per chunk
    long c = budget / (4 * (q > 0 ? q : 1));
    c = (c / T_BN) * T_BN;
    if (c < k) c = ((k + T_BN - 1) / T_BN) * T_BN;
    if (c > n) c = n;
    return c;
}

static size_t um_align(size_t b) { return (b + 255) & ~(size_t)255; }

extern "C" const char *um_recall_strerror(int status) {
    switch (status) {
    case UM_RECALL_OK: return "ok";
    case UM_RECALL_EINVAL: return "invalid argument";
    case UM_RECALL_ECUDA: return "CUDA error";
    case UM_RECALL_ENOSPACE: return "workspace too small";
    default: return "unknown status";
    }
}

extern "C" int um_recall_gpu_inv_norms(const float *v, long n, int d, float *inv, void *stream) {
    if (n <= 0 || d <= 0 || d > UM_RECALL_D_MAX) return UM_RECALL_EINVAL;
    long blocks = (n + 7) / 8;
    norms_kernel<<<(unsigned)blocks, 256, 0, (cudaStream_t)stream>>>(v, n, d, inv);
    return um_launch_status();
}

template <int QS>
static void launch_small(bool vec, int mode, const float *qv, const float *q_inv, long q,
                         const float *xv, const float *x_inv, long n, int d, float *scores, long ld,
                         int k, int kcap, long per, int splits, float *ps, int *pi, size_t ldp,
                         cudaStream_t st) {
    size_t sm = small_smem_bytes(QS, mode, kcap);
#define UM_SMALL_GO(V, M)                                                                          \
    do {                                                                                           \
        static int done_[UM_DEV_CACHE];                                                            \
        if (um_attr_needed(done_, sm))                                                             \
            cudaFuncSetAttribute(small_kernel<QS, V, M>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm); \
        small_kernel<QS, V, M><<<splits, S_THREADS, sm, st>>>(qv, q_inv, q, xv, x_inv, n, d, scores, ld, k, \
                                                             kcap, per, ps, pi, ldp);              \
    } while (0)
    if (vec && mode == UM_OUT_TOPK) UM_SMALL_GO(true, UM_OUT_TOPK);
    else if (vec) UM_SMALL_GO(true, UM_OUT_SCORES);
    else if (mode == UM_OUT_TOPK) UM_SMALL_GO(false, UM_OUT_TOPK);
    else UM_SMALL_GO(false, UM_OUT_SCORES);
#undef UM_SMALL_GO
}

static void launch_small_any(bool vec, int mode, const float *qv, const float *q_inv, long q,
                             const float *xv, const float *x_inv, long n, int d, float *scores,
                             long ld, int k, int kcap, long per, int splits, float *ps, int *pi,
                             size_t ldp, cudaStream_t st) {
    if (q <= 1) launch_small<1>(vec, mode, qv, q_inv, q, xv, x_inv, n, d, scores, ld, k, kcap, per, splits, ps, pi, ldp, st);
    else if (q <= 2) launch_small<2>(vec, mode, qv, q_inv, q, xv, x_inv, n, d, scores, ld, k, kcap, per, splits, ps, pi, ldp, st);
    else if (q <= 4) launch_small<4>(vec, mode, qv, q_inv, q, xv, x_inv, n, d, scores, ld, k, kcap, per, splits, ps, pi, ldp, st);
    else if (q <= 8) launch_small<8>(vec, mode, qv, q_inv, q, xv, x_inv, n, d, scores, ld, k, kcap, per, splits, ps, pi, ldp, st);
    else launch_small<16>(vec, mode, qv, q_inv, q, xv, x_inv, n, d, scores, ld, k, kcap, per, splits, ps, pi, ldp, st);
}

template <int MINB, int BK, int BN>
static void launch_tile_cfg(bool vec, int mode, const float *qv, const float *q_inv, long q,
                             const float *xv, const float *x_inv, long n, int d, float *scores,
                             long ld, int k, int kcap, int splits, float *ps, int *pi,
                             size_t ldp, cudaStream_t st) {
    size_t sm = tile_smem_bytes(mode, kcap, BK, BN);
    dim3 grid((unsigned)((q + T_BM - 1) / T_BM), (unsigned)splits);
#define UM_TILE_GO(V, M)                                                                           \
    do {                                                                                           \
        static int done_[UM_DEV_CACHE];                                                            \
        if (um_attr_needed(done_, sm))                                                             \
            cudaFuncSetAttribute(tile_kernel<V, M, MINB, BK, BN>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm); \
        tile_kernel<V, M, MINB, BK, BN><<<grid, T_THREADS, sm, st>>>(qv, q_inv, q, xv, x_inv, n, d, scores, ld, k, \
                                                            kcap, ps, pi, ldp);                    \
    } while (0)
    if (vec && mode == UM_OUT_TOPK) UM_TILE_GO(true, UM_OUT_TOPK);
    else if (vec) UM_TILE_GO(true, UM_OUT_SCORES);
    else if (mode == UM_OUT_TOPK) UM_TILE_GO(false, UM_OUT_TOPK);
    else UM_TILE_GO(false, UM_OUT_SCORES);
#undef UM_TILE_GO
}

static void launch_tile(bool vec, int mode, const float *qv, const float *q_inv, long q,
                        const float *xv, const float *x_inv, long n, int d, float *scores, long ld,
                        int k, int kcap, um_tile_cfg_t cfg, int splits, float *ps, int *pi, size_t ldp,
                        cudaStream_t st) {
#define UM_TILE_CFG(MB, BK, BN)                                                                    \
    launch_tile_cfg<MB, BK, BN>(vec, mode, qv, q_inv, q, xv, x_inv, n, d, scores, ld, k, kcap, splits, ps, pi, ldp, st)
    switch (um_tile_cfg_index(cfg)) {
    case 0: UM_TILE_CFG(1, 16, 128); break;
    case 1: UM_TILE_CFG(1, 8, 128); break;
    case 2: UM_TILE_CFG(2, 16, 128); break;
    case 3: UM_TILE_CFG(2, 8, 128); break;
    default: UM_TILE_CFG(2, 16, 64); break;
    }
#undef UM_TILE_CFG
}

// Scores for columns [0, n) of the given (already offset) stored vectors.
static int um_scores_any(const float *qv, const float *q_inv, long q, const float *xv,
                         const float *x_inv, long n, int d, float *scores, long ld, unsigned flags,
                         cudaStream_t st) {
    bool vec = um_is_vec(qv, xv, d);
    // TF32 only where the product is compute-bound: Q <= 16 streams the stored vectors once
    // and runs at memory bandwidth in FP32 already.
    if ((flags & UM_RECALL_TF32) && q > UM_SMALL_Q)
        return um_recall_tf32_scores(qv, q_inv, q, xv, x_inv, n, d, scores, ld, st);
    if (q <= UM_SMALL_Q) {
        um_fused_plan_t p = um_fused_plan(q, n, 1);
        launch_small_any(vec, UM_OUT_SCORES, qv, q_inv, q, xv, x_inv, n, d, scores, ld, 0, 16,
                         p.per, p.splits, NULL, NULL, 0, st);
    } else {
        um_tile_cfg_t cfg = um_tile_config(q, n);
        long nt = (n + cfg.bn - 1) / cfg.bn;
        // About one tile per block (grid.y is limited to 65535).
        long per = (nt + 65534) / 65535;
        launch_tile(vec, UM_OUT_SCORES, qv, q_inv, q, xv, x_inv, n, d, scores, ld, 0, 16, cfg,
                    (int)((nt + per - 1) / per), NULL, NULL, 0, st);
    }
    return um_launch_status();
}

extern "C" int um_recall_gpu_scores(const float *qv, const float *q_inv, long q, const float *xv,
                                    const float *x_inv, long n, int d, float *scores, long ld,
                                    unsigned flags, void *stream) {
    if (um_recall_check_dims(n, q, d, 1, NULL, 0) != UM_RECALL_OK || ld < n) return UM_RECALL_EINVAL;
    return um_scores_any(qv, q_inv, q, xv, x_inv, n, d, scores, ld, flags, (cudaStream_t)stream);
}

// Fused top-k: FP32 products, per-block lists in shared memory. Measured on the H100
// (kernels/results/run3_bench*.log): at k = 10 fused wins or ties everywhere; at k = 100 the
// per-row insertion into 100-long lists dominates (0.04x-0.7x of SGEMM + select) except for
// Q <= 16 at N >= 1e6 (2.3x). So: fused for k <= 16 (where early tiles are also pre-filtered),
// or small Q over large N; score chunks + radix selection otherwise. TF32 top-k goes through
// score chunks for Q > 16 (its tensor-core kernel has no fused epilogue).
#define UM_FUSED_K_FAST 16
static int um_use_fused(long q, long n, int k, unsigned flags) {
    if (k > UM_FUSED_K_MAX || (flags & UM_RECALL_FORCE_CHUNKED)) return 0;
    if (k > UM_FUSED_K_FAST && !(q <= UM_SMALL_Q && n >= 1000000)) return 0;
    return !(flags & UM_RECALL_TF32) || q <= UM_SMALL_Q;
}

extern "C" size_t um_recall_select_workspace_bytes(long rows, long cols, int k) { return 0; }

static int um_select(const float *s, const int *idx, long rows, long cols, long ld, int k,
                     long idx_offset, int *out_idx, float *out_score, size_t ldo, cudaStream_t st) {
    select_kernel<<<(unsigned)rows, SEL_THREADS, 0, st>>>(s, idx, cols, ld, k, idx_offset, out_idx,
                                                          out_score, ldo);
    return um_launch_status();
}

extern "C" int um_recall_gpu_select(const float *scores, long rows, long cols, long ld, int k,
                                    void *ws, size_t ws_bytes, int *out_idx, float *out_score,
                                    void *stream) {
    if (rows <= 0 || cols <= 0 || ld < cols || k < 1 || k > UM_RECALL_K_MAX || k > cols)
        return UM_RECALL_EINVAL;
    return um_select(scores, NULL, rows, cols, ld, k, 0, out_idx, out_score, (size_t)k,
                     (cudaStream_t)stream);
}

extern "C" size_t um_recall_topk_workspace_bytes(long q, long n, int d, int k, unsigned flags) {
    if (um_recall_check_dims(n, q, d, k, NULL, 0) != UM_RECALL_OK) return 0;
    if (um_use_fused(q, n, k, flags)) {
        um_fused_plan_t p = um_fused_plan(q, n, k);
        return 2 * um_align((size_t)q * p.splits * k * 4);
    }
    long c = um_chunk_cols(q, n, k);
    long chunks = (n + c - 1) / c;
    return um_align((size_t)q * c * 4) + 2 * um_align((size_t)q * chunks * k * 4);
}

extern "C" int um_recall_gpu_topk(const float *qv, const float *q_inv, long q, const float *xv,
                                  const float *x_inv, long n, int d, int k, unsigned flags,
                                  void *ws, size_t ws_bytes, int *out_idx, float *out_score,
                                  void *stream) {
    cudaStream_t st = (cudaStream_t)stream;
    if (um_recall_check_dims(n, q, d, k, NULL, 0) != UM_RECALL_OK) return UM_RECALL_EINVAL;
    if (ws_bytes < um_recall_topk_workspace_bytes(q, n, d, k, flags)) return UM_RECALL_ENOSPACE;
    char *w = (char *)ws;
    if (um_use_fused(q, n, k, flags)) {
        um_fused_plan_t p = um_fused_plan(q, n, k);
        size_t ldp = (size_t)p.splits * k;
        float *ps = (float *)w;
        int *pi = (int *)(w + um_align((size_t)q * ldp * 4));
        int kcap = um_kcap(k);
        bool vec = um_is_vec(qv, xv, d);
        if (p.small)
            launch_small_any(vec, UM_OUT_TOPK, qv, q_inv, q, xv, x_inv, n, d, NULL, 0, k, kcap, p.per,
                             p.splits, ps, pi, ldp, st);
        else
            launch_tile(vec, UM_OUT_TOPK, qv, q_inv, q, xv, x_inv, n, d, NULL, 0, k, kcap, p.cfg,
                        p.splits, ps, pi, ldp, st);
        int r = um_launch_status();
        if (r != UM_RECALL_OK) return r;
        if (k <= M_KEEP) {
            merge_kernel<<<(unsigned)((q + M_THREADS / 32 - 1) / (M_THREADS / 32)), M_THREADS, 0, st>>>(
                ps, pi, q, (long)ldp, ldp, k, out_idx, out_score);
            return um_launch_status();
        }
        return um_select(ps, pi, q, (long)ldp, (long)ldp, k, 0, out_idx, out_score, (size_t)k, st);
    }
    // Chunked: scores for `c` columns at a time, selected per chunk, then merged.
    long c = um_chunk_cols(q, n, k);
    long chunks = (n + c - 1) / c;
    float *sc = (float *)w;
    size_t ldp = (size_t)chunks * k;
    float *ps = (float *)(w + um_align((size_t)q * c * 4));
    int *pi = (int *)((char *)ps + um_align((size_t)q * ldp * 4));
    for (long ci = 0; ci < chunks; ci++) {
        long c0 = ci * c;
        long cols = min(c, n - c0);
        int r = um_scores_any(qv, q_inv, q, xv + (size_t)c0 * d, x_inv + c0, cols, d, sc, c, flags, st);
        if (r != UM_RECALL_OK) return r;
        if (cols < k) {
            // A short last chunk: pad with -inf entries that never win (k <= n overall).
            r = um_recall_pad_scores(sc, q, cols, c, k, st);
            if (r != UM_RECALL_OK) return r;
        }
        r = um_select(sc, NULL, q, cols < k ? k : cols, c, k, c0, pi + ci * k, ps + ci * k, ldp, st);
        if (r != UM_RECALL_OK) return r;
    }
    return um_select(ps, pi, q, (long)ldp, (long)ldp, k, 0, out_idx, out_score, (size_t)k, st);
}

// --- padding helper for short chunks ---
static __global__ void pad_kernel(float *sc, long q, long cols, long ld, int k) {
    long e = (long)blockIdx.x * blockDim.x + threadIdx.x;
    long w = k - cols;
    if (e >= q * w) return;
    sc[(size_t)(e / w) * ld + cols + e % w] = -INFINITY;
}

extern "C" int um_recall_pad_scores(float *sc, long q, long cols, long ld, int k, cudaStream_t st) {
    long tot = q * (k - cols);
    pad_kernel<<<(unsigned)((tot + 255) / 256), 256, 0, st>>>(sc, q, cols, ld, k);
    return um_launch_status();
}
