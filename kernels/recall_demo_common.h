// What the two recall demos share: flags, the dataset, validation against the CPU reference,
// the printed results and digest. Only memory management differs between them
// (recall_demo.c: cudaMalloc/cudaMemcpy; recall_demo_um.c: the unified buffer).
#ifndef UMSHIM_KERNELS_RECALL_DEMO_COMMON_H
#define UMSHIM_KERNELS_RECALL_DEMO_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    long n, q, k;
    int d;
    int batches;
    uint64_t seed;
    const char *data;       // --data FILE (stored vectors), or NULL: generated
    const char *write_data; // --write-data FILE: write the generated set and exit
    unsigned flags;         // UM_RECALL_TF32 with --tf32
    int validate;           // queries checked per batch (0 = none)
    int show;               // queries printed (batch 0)
} um_demo_opts_t;

// 0: run; 1: --help printed; -1: error (one line in why).
int um_demo_parse(int argc, char **argv, um_demo_opts_t *o, char *why, size_t why_len);

// Dataset per the options: *x malloc'ed (n x d). Fills o->n, o->d from a file.
int um_demo_dataset(um_demo_opts_t *o, float **x, char *why, size_t why_len);

// Results of one batch: validates a sample against the reference, prints the first rows,
// folds everything into the digest. Returns the number of validation failures.
typedef struct {
    uint64_t digest;
    long checked, failed;
    double worst_recall;
} um_demo_tally_t;

void um_demo_tally_init(um_demo_tally_t *t);
long um_demo_batch_results(const um_demo_opts_t *o, int batch, const float *queries,
                           const float *x, const int *idx, const float *score, um_demo_tally_t *t);

// Prints "error: ..." prefixed by the program name on stderr.
void um_demo_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

double um_demo_now(void); // seconds, monotonic

#ifdef __cplusplus
}
#endif

// Error exits shared by both demos, used inside main() (they name argv[0]): CK for CUDA
// runtime calls (the caller includes the runtime header), RK for um_recall_* calls; both
// print one line and return 3.
#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (cudaError_t)(call);                                                      \
        if (e_ != cudaSuccess) {                                                                   \
            um_demo_error(argv[0], "%s failed: %s", #call, cudaGetErrorString(e_));                \
            return 3;                                                                              \
        }                                                                                          \
    } while (0)

#define RK(call)                                                                                   \
    do {                                                                                           \
        int r_ = (call);                                                                           \
        if (r_ != UM_RECALL_OK) {                                                                  \
            um_demo_error(argv[0], "%s failed: %s", #call, um_recall_strerror(r_));                \
            return 3;                                                                              \
        }                                                                                          \
    } while (0)

#endif
