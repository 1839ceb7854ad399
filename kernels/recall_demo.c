// recall_demo: Engram batch recall written the LEGACY way on purpose: cudaMalloc, synchronous
// cudaMemcpy in both directions, cudaFree, nvcc's default static cudart. This is the kind of
// unmodified program umshim intercepts; recall_demo_um.c is the same program hand-ported to the
// unified buffer, the yardstick the shimmed run is compared with.
//
// Prints the first result rows, a digest line over all top-k results (identical across umshim
// modes and without the shim), validation against the CPU reference, and timings.
#include "kernels/recall.h"
#include "kernels/recall_data.h"
#include "kernels/recall_demo_common.h"

#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    um_demo_opts_t o;
    char why[512];
    int pr = um_demo_parse(argc, argv, &o, why, sizeof why);
    if (pr == 1) return 0;
    if (pr < 0) {
        um_demo_error(argv[0], "%s", why);
        return 2;
    }
    float *x = NULL;
    double t0 = um_demo_now();
    if (um_demo_dataset(&o, &x, why, sizeof why) != 0) {
        um_demo_error(argv[0], "%s", why);
        return 2;
    }
    if (o.write_data) {
        if (um_recall_write_file(o.write_data, x, o.n, o.d, why, sizeof why) != 0) {
            um_demo_error(argv[0], "%s", why);
            return 2;
        }
        printf("wrote %s: n=%ld d=%d\n", o.write_data, o.n, o.d);
        free(x);
        return 0;
    }
    double t_data = um_demo_now() - t0;
    int ndev = 0;
    cudaError_t ce = cudaGetDeviceCount(&ndev);
    if (ce != cudaSuccess || ndev == 0) {
        um_demo_error(argv[0], "no CUDA device available (%s)",
                      ce != cudaSuccess ? cudaGetErrorString(ce) : "device count is 0");
        return 3;
    }
    size_t xb = (size_t)o.n * o.d * sizeof(float), qb = (size_t)o.q * o.d * sizeof(float);
    size_t rb = (size_t)o.q * o.k;
    size_t wsb = um_recall_topk_workspace_bytes(o.q, o.n, o.d, (int)o.k, o.flags);
    float *h_q = malloc(qb), *h_score = malloc(rb * sizeof(float));
    int *h_idx = malloc(rb * sizeof(int));
    if (!h_q || !h_score || !h_idx) {
        um_demo_error(argv[0], "out of host memory");
        return 3;
    }
    float *d_x, *d_xinv, *d_q, *d_qinv, *d_score;
    int *d_idx;
    void *d_ws;
    double t1 = um_demo_now();
    CK(cudaMalloc((void **)&d_x, xb));
    CK(cudaMalloc((void **)&d_xinv, (size_t)o.n * sizeof(float)));
    CK(cudaMalloc((void **)&d_q, qb));
    CK(cudaMalloc((void **)&d_qinv, (size_t)o.q * sizeof(float)));
    CK(cudaMalloc((void **)&d_score, rb * sizeof(float)));
    CK(cudaMalloc((void **)&d_idx, rb * sizeof(int)));
    CK(cudaMalloc(&d_ws, wsb));
    CK(cudaMemcpy(d_x, x, xb, cudaMemcpyHostToDevice));
    RK(um_recall_gpu_inv_norms(d_x, o.n, o.d, d_xinv, NULL));
    CK(cudaDeviceSynchronize());
    double t_upload = um_demo_now() - t1;

    um_demo_tally_t tally;
    um_demo_tally_init(&tally);
    double t_batches = 0, t_validate = 0;
    for (int b = 0; b < o.batches; b++) {
        um_recall_gen_queries(o.seed, b, o.q, o.d, x, o.n, h_q);
        double tb = um_demo_now();
        CK(cudaMemcpy(d_q, h_q, qb, cudaMemcpyHostToDevice));
        RK(um_recall_gpu_inv_norms(d_q, o.q, o.d, d_qinv, NULL));
        RK(um_recall_gpu_topk(d_q, d_qinv, o.q, d_x, d_xinv, o.n, o.d, (int)o.k, o.flags, d_ws, wsb,
                              d_idx, d_score, NULL));
        CK(cudaMemcpy(h_idx, d_idx, rb * sizeof(int), cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(h_score, d_score, rb * sizeof(float), cudaMemcpyDeviceToHost));
        double te = um_demo_now();
        t_batches += te - tb;
        printf("batch %d: %.3f ms\n", b, (te - tb) * 1e3);
        um_demo_batch_results(&o, b, h_q, x, h_idx, h_score, &tally);
        t_validate += um_demo_now() - te;
    }
    CK(cudaFree(d_x));
    CK(cudaFree(d_xinv));
    CK(cudaFree(d_q));
    CK(cudaFree(d_qinv));
    CK(cudaFree(d_score));
    CK(cudaFree(d_idx));
    CK(cudaFree(d_ws));
    printf("digest %016llx n=%ld q=%ld d=%d k=%ld batches=%d%s\n", (unsigned long long)tally.digest,
           o.n, o.q, o.d, o.k, o.batches, (o.flags & UM_RECALL_TF32) ? " tf32" : "");
    printf("validation: %ld queries checked, %ld failed, worst recall@%ld %.3f\n", tally.checked,
           tally.failed, o.k, tally.worst_recall);
    printf("timing: data %.1f ms, upload+norms %.1f ms, batches %.3f ms total (%.3f ms/batch), "
           "validation %.1f ms\n",
           t_data * 1e3, t_upload * 1e3, t_batches * 1e3, t_batches * 1e3 / o.batches, t_validate * 1e3);
    free(x);
    free(h_q);
    free(h_idx);
    free(h_score);
    if (tally.failed) {
        um_demo_error(argv[0], "%ld of %ld validated queries disagree with the CPU reference",
                      tally.failed, tally.checked);
        return 1;
    }
    return 0;
}
