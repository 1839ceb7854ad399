// Internal seams between the kernel files of kernels/ (not part of the C API).
#ifndef UMSHIM_KERNELS_RECALL_INTERNAL_H
#define UMSHIM_KERNELS_RECALL_INTERNAL_H

#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

// TF32 tensor-core scores (tf32.cu); same contract as um_recall_gpu_scores.
int um_recall_tf32_scores(const float *qv, const float *q_inv, long q, const float *xv,
                          const float *x_inv, long n, int d, float *scores, long ld,
                          cudaStream_t st);

// Fills columns [cols, k) of each of q rows with -inf (short last chunk of the chunked top-k).
int um_recall_pad_scores(float *sc, long q, long cols, long ld, int k, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif
