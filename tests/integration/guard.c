// The oversubscription-guard and no-managed-memory program: GUARD_BUFS buffers of GUARD_SIZE
// bytes (defaults 4 x 512 KiB), each filled by a kernel, updated by a copy, read back and
// hashed. It allocates no managed memory itself, so it also runs where the device has none
// (UMDOUBLE_NO_MANAGED=1). Its stdout must not change under the shim; what the driver saw
// (managed allocations, managed_peak) goes to $WORKLOAD_DRIVER_REPORT for the test to judge.
#include "tests/integration/driver.h"
#include "tests/integration/expect.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

expect_t expect;

int main(void) {
    const char *sb = getenv("GUARD_BUFS"), *ss = getenv("GUARD_SIZE");
    int nbufs = sb ? atoi(sb) : 4;
    size_t size = ss ? (size_t)strtoull(ss, NULL, 10) : 512 * 1024;
    if (nbufs < 1 || nbufs > 64 || size < 4096) return 2;
    CUcontext ctx;
    CUmodule mod = drv_start(&ctx);
    CUfunction fill;
    CK(drv.cuModuleGetFunction(&fill, mod, "fill_f32"));
    CUdeviceptr bufs[64];
    unsigned char *host = malloc(size);
    uint64_t h = DRV_FNV_BASIS;
    for (int b = 0; b < nbufs; b++) {
        CK(drv.cuMemAlloc(&bufs[b], size));
        float v = 1.5f * (float)(b + 1);
        int n = (int)(size / sizeof(float));
        void *params[] = {&bufs[b], &v, &n};
        CK(drv.cuLaunchKernel(fill, (unsigned)(n + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, params, NULL));
        memset(host, b, 256);
        CK(drv.cuMemcpyHtoD(bufs[b] + size / 2, host, 256));
    }
    for (int b = 0; b < nbufs; b++) {
        CK(drv.cuMemcpyDtoH(host, bufs[b], size));
        h = drv_fnv(host, size, h);
    }
    printf("guard buffers %d size %zu hash %016" PRIx64 "\n", nbufs, size, h);
    drv_write_report();
    for (int b = 0; b < nbufs; b++) CK(drv.cuMemFree(bufs[b]));
    CK(drv.cuModuleUnload(mod));
    free(host);
    printf("done\n");
    return 0;
}
