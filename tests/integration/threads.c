// Eight threads allocate, copy, launch, synchronise and free at the same time, each on its own
// stream and the legacy stream, through the cuGetProcAddress path. Output (one hash per
// thread, printed in thread order after the joins) must not change under the shim; the
// passthrough trace must hold exactly the events the threads made (expect.h), no more, no fewer.
#include "tests/integration/driver.h"
#include "tests/integration/expect.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

expect_t expect;

#define THREADS 8
#define ITERS 12
#define BYTES (256 * 1024) // above the UMSHIM_MANAGED_THRESHOLD the test sets (64K)

static CUcontext ctx;
static CUfunction fill, saxpy;
static uint64_t results[THREADS];

static void *worker(void *arg) {
    int t = (int)(intptr_t)arg;
    CK(drv.cuCtxSetCurrent(ctx));
    CUstream s;
    CK(drv.cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    float *host = malloc(BYTES);
    uint64_t h = DRV_FNV_BASIS;
    for (int it = 0; it < ITERS; it++) {
        CUdeviceptr x, y, small;
        CK(drv.cuMemAlloc(&x, BYTES));
        CK(drv.cuMemAlloc(&y, BYTES));
        CK(drv.cuMemAlloc(&small, 1024));
        expect.alloc += 3;
        for (int i = 0; i < BYTES / 4; i++) host[i] = (float)(t * 1000 + it) + (float)(i & 63);
        CK(drv.cuMemcpyHtoD(x, host, BYTES));
        expect.copy_h2d++;
        expect.bytes_h2d += BYTES;
        float v = (float)t, a = 0.5f;
        int n = BYTES / 4;
        void *pf[] = {&y, &v, &n};
        void *ps[] = {&a, &x, &y, &n};
        CK(drv.cuLaunchKernel(fill, (unsigned)n / 256, 1, 1, 256, 1, 1, 0, s, pf, NULL));
        CK(drv.cuLaunchKernel(saxpy, (unsigned)n / 256, 1, 1, 256, 1, 1, 0, s, ps, NULL));
        expect.launch += 2;
        CK(drv.cuMemsetD32Async(small, (unsigned)it, 256, s));
        expect.memset++;
        CK(drv.cuMemcpyDtoHAsync(host, y, BYTES, s));
        expect.copy_d2h++;
        expect.bytes_d2h += BYTES;
        CK(drv.cuStreamSynchronize(s));
        unsigned int tail[4];
        CK(drv.cuMemcpyDtoH(tail, small + 1008, sizeof tail));
        expect.copy_d2h++;
        expect.bytes_d2h += sizeof tail;
        h = drv_fnv(host, BYTES, h);
        h = drv_fnv(&tail[3], sizeof tail[3], h);
        CK(drv.cuMemFree(x));
        CK(drv.cuMemFree(y));
        CK(drv.cuMemFree(small));
        expect.free += 3;
    }
    CK(drv.cuStreamDestroy(s));
    free(host);
    results[t] = h;
    return NULL;
}

int main(void) {
    CUmodule mod = drv_start(&ctx);
    CK(drv.cuModuleGetFunction(&fill, mod, "fill_f32"));
    CK(drv.cuModuleGetFunction(&saxpy, mod, "saxpy"));
    pthread_t th[THREADS];
    for (intptr_t t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, worker, (void *)t);
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    for (int t = 0; t < THREADS; t++) printf("thread %d %016" PRIx64 "\n", t, results[t]);
    CK(drv.cuModuleUnload(mod));
    expect_write();
    drv_write_report();
    printf("done\n");
    return 0;
}
