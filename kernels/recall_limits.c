// Size validation for recall.h, shared by the GPU entry points, the demos and the CPU tests:
// one place decides what is out of range and says why in one line.
#include "kernels/recall.h"

#include <stdio.h>

// --- check ---
int um_recall_check_dims(long n, long q, long d, long k, char *why, size_t why_len) {
    const char *what = NULL;
    long lo = 0, hi = 0, v = 0;
    if (n < 1 || n > UM_RECALL_N_MAX) {
        what = "n (stored vectors)", v = n, lo = 1, hi = UM_RECALL_N_MAX;
    } else if (q < 1 || q > UM_RECALL_Q_MAX) {
        what = "q (queries)", v = q, lo = 1, hi = UM_RECALL_Q_MAX;
    } else if (d < 1 || d > UM_RECALL_D_MAX) {
        what = "d (dimension)", v = d, lo = 1, hi = UM_RECALL_D_MAX;
    } else if (k < 1 || k > UM_RECALL_K_MAX) {
        what = "k (results per query)", v = k, lo = 1, hi = UM_RECALL_K_MAX;
    } else if (k > n) {
        if (why && why_len)
            snprintf(why, why_len, "k (results per query) = %ld exceeds n (stored vectors) = %ld", k, n);
        return UM_RECALL_EINVAL;
    }
    if (!what) return UM_RECALL_OK;
    if (why && why_len) snprintf(why, why_len, "%s = %ld out of range [%ld, %ld]", what, v, lo, hi);
    return UM_RECALL_EINVAL;
}
