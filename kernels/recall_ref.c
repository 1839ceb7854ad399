// The double-precision reference for batch cosine recall. Deliberately simple: scores every
// stored vector exactly (double accumulation), keeps the best k in a sorted array. Used by the
// CPU tests, the GPU test, and the demos' validation step (on a sample of queries).
#include "kernels/recall_ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// --- scores ---
double um_recall_ref_cosine(const float *a, const float *b, int d) {
    double ab = 0, aa = 0, bb = 0;
    for (int j = 0; j < d; j++) {
        ab += (double)a[j] * b[j];
        aa += (double)a[j] * a[j];
        bb += (double)b[j] * b[j];
    }
    if (aa == 0 || bb == 0) return 0.0;
    double c = ab / (sqrt(aa) * sqrt(bb));
    return c > 1 ? 1 : (c < -1 ? -1 : c);
}

double um_recall_score_bound(int d) { return 2.0 * d * ldexp(1.0, -24) + 8 * ldexp(1.0, -24); }

// --- top-k ---
static int um_ref_better(double as, int ai, double bs, int bi) {
    return as > bs || (as == bs && ai < bi);
}

int um_recall_ref_topk(const float *query, const float *x, long n, int d, int k, int *idx,
                       double *score) {
    if (k < 1 || k > n) return -1;
    for (int r = 0; r < k; r++) {
        idx[r] = -1;
        score[r] = -INFINITY;
    }
    // A sorted array of k: each stored vector either beats the last entry or is dropped.
    for (long i = 0; i < n; i++) {
        double s = um_recall_ref_cosine(query, x + (size_t)i * d, d);
        if (idx[k - 1] >= 0 && !um_ref_better(s, (int)i, score[k - 1], idx[k - 1])) continue;
        int pos = k - 1;
        while (pos > 0 && (idx[pos - 1] < 0 || um_ref_better(s, (int)i, score[pos - 1], idx[pos - 1]))) {
            idx[pos] = idx[pos - 1];
            score[pos] = score[pos - 1];
            pos--;
        }
        idx[pos] = (int)i;
        score[pos] = s;
    }
    return 0;
}

// --- comparison ---
#define UM_WHY(...)                                                                                \
    do {                                                                                           \
        if (bad++ == 0 && why && why_len) snprintf(why, why_len, __VA_ARGS__);                     \
    } while (0)

int um_recall_ref_check_topk(const float *query, const float *x, long n, int d, int k,
                             const int *idx, const float *score, const int *ref_idx,
                             const double *ref_score, double eps, char *why, size_t why_len) {
    int bad = 0;
    if (why && why_len) why[0] = 0;
    double kth = ref_score[k - 1];
    for (int r = 0; r < k; r++) {
        if (idx[r] < 0 || idx[r] >= n) {
            UM_WHY("rank %d: index %d out of [0, %ld)", r, idx[r], n);
            continue;
        }
        for (int o = 0; o < r; o++)
            if (idx[o] == idx[r]) UM_WHY("rank %d: index %d repeated (rank %d)", r, idx[r], o);
        if (r > 0 && score[r] > score[r - 1]) UM_WHY("rank %d: score %.9g above rank %d's %.9g", r, score[r], r - 1, score[r - 1]);
        if (isnan(score[r])) UM_WHY("rank %d: score is NaN", r);
        double exact = um_recall_ref_cosine(query, x + (size_t)idx[r] * d, d);
        if (fabs(exact - score[r]) > eps)
            UM_WHY("rank %d: index %d score %.9g, exact %.12g (|diff| %.3g > bound %.3g)", r, idx[r],
                   score[r], exact, fabs(exact - score[r]), eps);
        if (exact < kth - 2 * eps)
            UM_WHY("rank %d: index %d (exact %.12g) is not in the top %d (k-th exact %.12g)", r,
                   idx[r], exact, k, kth);
    }
    for (int r = 0; r < k; r++) {
        if (ref_score[r] <= kth + 2 * eps) continue; // ties (within rounding) may be swapped
        int found = 0;
        for (int o = 0; o < k && !found; o++) found = idx[o] == ref_idx[r];
        if (!found)
            UM_WHY("reference rank %d (index %d, exact %.12g) missing from the result", r, ref_idx[r],
                   ref_score[r]);
    }
    return bad;
}

double um_recall_ref_recall(const int *idx, const int *ref_idx, int k) {
    int hit = 0;
    for (int r = 0; r < k; r++)
        for (int o = 0; o < k; o++)
            if (idx[r] == ref_idx[o]) {
                hit++;
                break;
            }
    return (double)hit / k;
}
