// The alternating reader through the driver API: a buffer uploaded once, then each round a
// kernel reads it and the host reads it back (the pattern auto's read_mostly rule is for);
// then a kernel writes it and the rounds go on (the write must revoke read_mostly), and a
// second buffer from the same call site repeats the reads (the site remembers the write).
// Stdout (a hash of every read-back) must not change under the shim; the test reads the
// shim's trace to judge what auto did.
#include "tests/integration/driver.h"
#include "tests/integration/expect.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

expect_t expect;

static CUfunction sum, scale;

// FNV-1a of every 64th byte (one per cache line: cheap enough under valgrind).
static uint64_t hash(const unsigned char *p, size_t n, uint64_t h) {
    for (size_t i = 0; i < n; i += 64) h = drv_fnv(p + i, 1, h);
    return h;
}

static CUdeviceptr buffer(size_t bytes, const float *init) {
    CUdeviceptr d;
    CK(drv.cuMemAlloc(&d, bytes)); // the one call site of both buffers
    CK(drv.cuMemcpyHtoD(d, init, bytes));
    return d;
}

// A round: a kernel reads x, the host reads it back.
// ALT_PARTIAL=1: read back only the first half, which vouches for nothing about the rest.
static int partial;

static uint64_t round_trip(CUdeviceptr x, CUdeviceptr out, int n, float *back, uint64_t h) {
    void *params[] = {&x, &out, &n};
    CK(drv.cuLaunchKernel(sum, 1, 1, 1, 256, 1, 1, 0, NULL, params, NULL));
    size_t len = (size_t)n * sizeof(float) / (partial ? 2 : 1);
    CK(drv.cuMemcpyDtoH(back, x, len));
    return hash((const unsigned char *)back, len, h);
}

int main(void) {
    const char *sr = getenv("ALT_ROUNDS");
    int rounds = sr ? atoi(sr) : 4;
    if (rounds < 1 || rounds > 100) return 2;
    partial = getenv("ALT_PARTIAL") != NULL && atoi(getenv("ALT_PARTIAL")) != 0;
    size_t bytes = 16u << 20; // above the parallel host-copy size
    int n = (int)(bytes / sizeof(float));
    CUcontext ctx;
    CUmodule mod = drv_start(&ctx);
    CK(drv.cuModuleGetFunction(&sum, mod, "sum_reduce"));
    CK(drv.cuModuleGetFunction(&scale, mod, "scale_inplace"));
    float *init = malloc(bytes), *back = malloc(bytes);
    if (!init || !back) return 2;
    for (int i = 0; i < n; i++) init[i] = (float)(i % 1000) * 0.5f;
    CUdeviceptr out;
    CK(drv.cuMemAlloc(&out, 4096));
    uint64_t h = DRV_FNV_BASIS;

    CUdeviceptr x = buffer(bytes, init);
    for (int r = 0; r < rounds; r++) h = round_trip(x, out, n, back, h);
    printf("read-only rounds %d hash %016" PRIx64 "\n", rounds, h);
    float two = 2.0f;
    void *params[] = {&x, &two, &n};
    CK(drv.cuLaunchKernel(scale, 1, 1, 1, 256, 1, 1, 0, NULL, params, NULL));
    for (int r = 0; r < rounds; r++) h = round_trip(x, out, n, back, h);
    printf("after a write %d rounds hash %016" PRIx64 " back[3] %g\n", rounds, h, (double)back[3]);
    CK(drv.cuMemFree(x));

    CUdeviceptr y = buffer(bytes, init);
    for (int r = 0; r < rounds; r++) h = round_trip(y, out, n, back, h);
    printf("same site again %d rounds hash %016" PRIx64 "\n", rounds, h);
    drv_write_report();
    CK(drv.cuMemFree(y));
    CK(drv.cuMemFree(out));
    CK(drv.cuModuleUnload(mod));
    free(init);
    free(back);
    printf("done\n");
    return 0;
}
