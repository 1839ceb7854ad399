// recall_demo_um: recall_demo hand-ported to the unified buffer (the yardstick for umshim's
// automatic port). Same flags, dataset, validation, digest and output as recall_demo; only the
// memory management differs: stored vectors and queries are written in place on the host side
// of a unified buffer, prefetched with advice, and results are read in place after a prefetch
// back. Buffers under 1 MiB (queries at small Q, results) are pinned + explicit copies, as the
// unified buffer decides (a prefetch costs more than such a copy). UMSHIM_UB_FALLBACK=1 runs
// the pinned + explicit-copy fallback for every buffer.
#include "kernels/recall.h"
#include "kernels/recall_data.h"
#include "kernels/recall_demo_common.h"
#include "kernels/unified_buffer.h"

#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    um_demo_opts_t o;
    char why[512];
    int pr = um_demo_parse(argc, argv, &o, why, sizeof why);
    if (pr == 1) return 0;
    if (pr < 0) {
        um_demo_error(argv[0], "%s", why);
        return 2;
    }
    if (o.write_data) {
        um_demo_error(argv[0], "--write-data is recall_demo's (this build only reads)");
        return 2;
    }
    int ndev = 0;
    cudaError_t ce = cudaGetDeviceCount(&ndev);
    if (ce != cudaSuccess || ndev == 0) {
        um_demo_error(argv[0], "no CUDA device available (%s)",
                      ce != cudaSuccess ? cudaGetErrorString(ce) : "device count is 0");
        return 3;
    }
    // The dataset is produced straight into the unified buffer (no second host copy).
    float *tmp = NULL;
    double t0 = um_demo_now();
    if (um_demo_dataset(&o, &tmp, why, sizeof why) != 0) {
        um_demo_error(argv[0], "%s", why);
        return 2;
    }
    size_t xb = (size_t)o.n * o.d * sizeof(float), qb = (size_t)o.q * o.d * sizeof(float);
    size_t rb = (size_t)o.q * o.k;
    size_t wsb = um_recall_topk_workspace_bytes(o.q, o.n, o.d, (int)o.k, o.flags);
    um_ub_t x, xinv, q, qinv, idx, score;
    void *d_ws = NULL;
    CK(um_ub_init(&x, xb, 0, 0));
    memcpy(x.host, tmp, xb);
    free(tmp);
    double t_data = um_demo_now() - t0;
    double t1 = um_demo_now();
    CK(um_ub_init(&xinv, (size_t)o.n * sizeof(float), 0, 0));
    CK(um_ub_init(&q, qb, 0, 0));
    CK(um_ub_init(&qinv, (size_t)o.q * sizeof(float), 0, 0));
    CK(um_ub_init(&idx, rb * sizeof(int), 0, 0));
    CK(um_ub_init(&score, rb * sizeof(float), 0, 0));
    CK(cudaMalloc(&d_ws, wsb)); // scratch never leaves the GPU
    CK(um_ub_advise(&x, UM_UB_READ_MOSTLY));
    CK(um_ub_advise(&x, UM_UB_PREFER_DEVICE));
    CK(um_ub_advise(&q, UM_UB_READ_MOSTLY));
    CK(um_ub_advise(&idx, UM_UB_ACCESSED_BY_CPU));
    CK(um_ub_advise(&score, UM_UB_ACCESSED_BY_CPU));
    CK(um_ub_to_device(&x, 0, xb, NULL));
    CK(um_ub_to_device(&xinv, 0, xinv.bytes, NULL));
    RK(um_recall_gpu_inv_norms(x.dev, o.n, o.d, xinv.dev, NULL));
    CK(cudaDeviceSynchronize());
    double t_upload = um_demo_now() - t1;

    um_demo_tally_t tally;
    um_demo_tally_init(&tally);
    double t_batches = 0, t_validate = 0;
    for (int b = 0; b < o.batches; b++) {
        double tb0 = um_demo_now();
        // Queries are generated in place; validation reads the stored vectors on the host
        // (read-mostly keeps a host copy, so that costs no migration).
        um_recall_gen_queries(o.seed, b, o.q, o.d, x.host, o.n, q.host);
        double tb = um_demo_now();
        (void)tb0;
        CK(um_ub_to_device(&q, 0, qb, NULL));
        RK(um_recall_gpu_inv_norms(q.dev, o.q, o.d, qinv.dev, NULL));
        RK(um_recall_gpu_topk(q.dev, qinv.dev, o.q, x.dev, xinv.dev, o.n, o.d, (int)o.k, o.flags,
                              d_ws, wsb, idx.dev, score.dev, NULL));
        CK(um_ub_to_host(&idx, 0, idx.bytes, NULL));
        CK(um_ub_to_host(&score, 0, score.bytes, NULL));
        CK(cudaDeviceSynchronize());
        double te = um_demo_now();
        t_batches += te - tb;
        printf("batch %d: %.3f ms\n", b, (te - tb) * 1e3);
        um_demo_batch_results(&o, b, q.host, x.host, idx.host, score.host, &tally);
        t_validate += um_demo_now() - te;
    }
    printf("digest %016llx n=%ld q=%ld d=%d k=%ld batches=%d%s\n", (unsigned long long)tally.digest,
           o.n, o.q, o.d, o.k, o.batches, (o.flags & UM_RECALL_TF32) ? " tf32" : "");
    printf("validation: %ld queries checked, %ld failed, worst recall@%ld %.3f\n", tally.checked,
           tally.failed, o.k, tally.worst_recall);
    printf("timing: data %.1f ms, upload+norms %.1f ms, batches %.3f ms total (%.3f ms/batch), "
           "validation %.1f ms; buffers: stored %s, queries %s, results %s\n",
           t_data * 1e3, t_upload * 1e3, t_batches * 1e3, t_batches * 1e3 / o.batches,
           t_validate * 1e3, um_ub_kind_name(x.kind), um_ub_kind_name(q.kind),
           um_ub_kind_name(idx.kind));
    um_ub_free(&x);
    um_ub_free(&xinv);
    um_ub_free(&q);
    um_ub_free(&qinv);
    um_ub_free(&idx);
    um_ub_free(&score);
    CK(cudaFree(d_ws));
    if (tally.failed) {
        um_demo_error(argv[0], "%ld of %ld validated queries disagree with the CPU reference",
                      tally.failed, tally.checked);
        return 1;
    }
    return 0;
}
