// Ways a program can end that the shim's exit handlers must survive, in every mode, with the
// stats file still written (EXIT_SCENARIO picks one):
//   reset    the program resets its device's primary context itself (cudaDeviceReset) and
//            exits with allocations still live
//   destroy  the program destroys a context it created (cuCtxDestroy) before exiting
//   threads  worker threads are still allocating and copying when main calls exit()
//   atexit   the program's own exit handler, registered before the shim initialised (so it
//            runs after the shim's), still frees and copies through the shim
// Prints only what must not change under the shim.
#include "tests/integration/driver.h"

#include <cudaTypedefs.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BYTES (1 << 20)

static CUcontext ctx;
static CUdeviceptr late_buf;
static char late_host[4096];

static void *resolve(const char *sym) {
    void *p = dlsym(drv.handle, sym);
    if (!p) {
        fprintf(stderr, "no %s\n", sym);
        exit(3);
    }
    return p;
}

static void roundtrip(CUdeviceptr d, char *host, size_t n, char seed) {
    for (size_t i = 0; i < n; i++) host[i] = (char)(seed + (char)i);
    CK(drv.cuMemcpyHtoD(d, host, n));
    memset(host, 0, n);
    CK(drv.cuMemcpyDtoH(host, d, n));
}

static void late_exit_handler(void) {
    // Runs after every handler registered later, the shim's included.
    roundtrip(late_buf, late_host, sizeof late_host, 7);
    int ok = late_host[100] == (char)(7 + 100);
    CK(drv.cuMemFree(late_buf));
    printf("late handler %s\n", ok ? "ok" : "WRONG");
    fflush(stdout);
}

static void *busy(void *arg) {
    (void)arg;
    CK(drv.cuCtxSetCurrent(ctx));
    static __thread char host[65536];
    for (;;) { // until the process exits under it
        CUdeviceptr d;
        if (drv.cuMemAlloc(&d, sizeof host) != CUDA_SUCCESS) continue;
        drv.cuMemcpyHtoD(d, host, sizeof host);
        drv.cuMemcpyDtoH(host, d, sizeof host);
        drv.cuMemFree(d);
    }
    return NULL;
}

int main(void) {
    const char *scenario = getenv("EXIT_SCENARIO");
    if (!scenario) scenario = "reset";
    if (strcmp(scenario, "atexit") == 0) atexit(late_exit_handler); // before the shim's
    drv_load();
    CK(drv.cuInit(0));
    CUdevice dev;
    CK(drv.cuDeviceGet(&dev, 0));
    CK(drv.cuDevicePrimaryCtxRetain(&ctx, dev));
    CK(drv.cuCtxSetCurrent(ctx));
    CUdeviceptr a, b;
    CK(drv.cuMemAlloc(&a, BYTES));
    CK(drv.cuMemAlloc(&b, BYTES));
    static char host[BYTES];
    roundtrip(a, host, BYTES, 1);
    CK(drv.cuMemcpyDtoD(b, a, BYTES));
    roundtrip(b, host, 4096, 3);
    printf("%s: data %s\n", scenario, host[100] == (char)(3 + 100) ? "ok" : "WRONG");
    fflush(stdout);

    if (strcmp(scenario, "reset") == 0) {
        CK(((PFN_cuDevicePrimaryCtxReset_v11000)resolve("cuDevicePrimaryCtxReset_v2"))(dev));
    } else if (strcmp(scenario, "destroy") == 0) {
        CUcontext own;
        CK(((PFN_cuCtxCreate_v3020)resolve("cuCtxCreate_v2"))(&own, 0, dev));
        CUdeviceptr c;
        CK(drv.cuMemAlloc(&c, BYTES));
        roundtrip(c, host, 4096, 5);
        CK(((PFN_cuCtxDestroy_v4000)resolve("cuCtxDestroy_v2"))(own));
        CK(drv.cuCtxSetCurrent(ctx));
    } else if (strcmp(scenario, "threads") == 0) {
        for (int i = 0; i < 4; i++) {
            pthread_t t;
            pthread_create(&t, NULL, busy, NULL);
            pthread_detach(t);
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        exit(0); // with the workers mid-call
    } else if (strcmp(scenario, "atexit") == 0) {
        CK(drv.cuMemAlloc(&late_buf, sizeof late_host));
    }
    return 0;
}
