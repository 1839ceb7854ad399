// CPU reference for recall.h in double precision, and the comparisons the tests and demos use
// to judge GPU results: scores within a stated bound, top-k sets equal up to ties.
#ifndef UMSHIM_KERNELS_RECALL_REF_H
#define UMSHIM_KERNELS_RECALL_REF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// Cosine of a and b (length d) in double; 0 when either is a zero vector.
double um_recall_ref_cosine(const float *a, const float *b, int d);

// Top-k of one query against n stored vectors: idx[k], score[k], ordered by higher score, then
// lower index. Returns 0, or -1 if k is out of [1, n] or memory runs out.
int um_recall_ref_topk(const float *query, const float *x, long n, int d, int k, int *idx,
                       double *score);

// Bound on |FP32 score - exact score| the FP32 kernels guarantee for dimension d: the
// worst-case accumulation error of a d-term dot product of unit vectors, 2 * d * 2^-24, plus
// the scaling roundings (a few ulps).
double um_recall_score_bound(int d);

// Checks a GPU top-k list of one query (idx[k], score[k]) against the reference list
// (ref_idx[k], ref_score[k]) with score tolerance eps:
//   - indices are distinct and in [0, n); order is non-increasing in score;
//   - each returned score is within eps of the exact score of its index;
//   - each returned index's exact score is >= the reference k-th score - 2 eps (a tie, or
//     better), and every reference entry scoring above the k-th by more than 2 eps is returned.
// Returns the number of violations (0 = pass) and writes the first reason to why.
int um_recall_ref_check_topk(const float *query, const float *x, long n, int d, int k,
                             const int *idx, const float *score, const int *ref_idx,
                             const double *ref_score, double eps, char *why, size_t why_len);

// |{idx} ∩ {ref_idx}| / k.
double um_recall_ref_recall(const int *idx, const int *ref_idx, int k);

#ifdef __cplusplus
}
#endif

#endif
