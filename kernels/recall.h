// Engram batch recall: cosine similarity of Q query vectors against N stored vectors of
// dimension D (float32, row-major, one vector per row), returning the top-k stored vectors
// per query and, optionally, the full Q x N score matrix. Usable from C.
//
// Results are defined for every input the limits below admit: a zero vector scores 0 against
// everything (never NaN), D need not be a tile multiple, N need not be a block multiple, Q may
// be 1. Top-k order is deterministic: higher score first, then lower stored index.
//
// Host-side helpers (limits, error strings) need no GPU; the um_recall_gpu_* functions take
// device pointers, enqueue on `stream` and return a um_recall_status_t.
#ifndef UMSHIM_KERNELS_RECALL_H
#define UMSHIM_KERNELS_RECALL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// --- limits ---
#define UM_RECALL_K_MAX 1024
#define UM_RECALL_D_MAX 65536
#define UM_RECALL_N_MAX 100000000L // 1e8 stored vectors (index fits an int32)
#define UM_RECALL_Q_MAX 1000000L

// --- status ---
typedef enum {
    UM_RECALL_OK = 0,
    UM_RECALL_EINVAL = 1,  // a dimension or argument out of range (see um_recall_check_dims)
    UM_RECALL_ECUDA = 2,   // a CUDA call or launch failed
    UM_RECALL_ENOSPACE = 3 // the workspace is smaller than um_recall_topk_workspace_bytes()
} um_recall_status_t;

// --- flags ---
#define UM_RECALL_TF32 0x1u          // tensor-core TF32 products (FP32 accumulate)
#define UM_RECALL_FORCE_CHUNKED 0x2u // top-k through score chunks + selection (tests)

const char *um_recall_strerror(int status);

// Validates sizes against the limits, including k <= n. Returns UM_RECALL_OK or
// UM_RECALL_EINVAL with a one-line reason in `why` (may be NULL).
int um_recall_check_dims(long n, long q, long d, long k, char *why, size_t why_len);

// --- GPU entry points (device pointers; the stream is a cudaStream_t, 0 = legacy default) ---

// inv[i] = 1 / ||v_i|| (0 for a zero vector), computed in FP32 with a compensated sum.
int um_recall_gpu_inv_norms(const float *v, long n, int d, float *inv, void *stream);

// scores[i * ld + j] = cos(q_i, x_j) for i < q, j < n (ld >= n).
int um_recall_gpu_scores(const float *qv, const float *q_inv, long q, const float *xv,
                         const float *x_inv, long n, int d, float *scores, long ld,
                         unsigned flags, void *stream);

// Scratch the top-k call needs for these sizes (bytes, device memory).
size_t um_recall_topk_workspace_bytes(long q, long n, int d, int k, unsigned flags);

// Top-k: out_idx[i * k + r], out_score[i * k + r] hold the r-th best stored vector for
// query i. The fused path (k <= 16, or Q <= 16 with N >= 1e6 and k <= 128; FP32) never writes
// scores to memory: blocks keep running per-query lists in shared memory, then merge. Other
// cases (and TF32 with Q > 16) compute scores in bounded chunks (<= 256 MiB) and select within
// them; the full Q x N matrix is never materialised either way.
int um_recall_gpu_topk(const float *qv, const float *q_inv, long q, const float *xv,
                       const float *x_inv, long n, int d, int k, unsigned flags, void *ws,
                       size_t ws_bytes, int *out_idx, float *out_score, void *stream);

// Row-wise top-k of an existing score matrix (rows x cols, leading dimension ld), with the
// same ordering rules. The "separate top-k" half of the unfused baseline.
size_t um_recall_select_workspace_bytes(long rows, long cols, int k);
int um_recall_gpu_select(const float *scores, long rows, long cols, long ld, int k, void *ws,
                         size_t ws_bytes, int *out_idx, float *out_score, void *stream);

#ifdef __cplusplus
}
#endif

#endif
