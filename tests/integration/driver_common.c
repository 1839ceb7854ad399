// Shared by every loader: the table, error checking and the double's inspection hooks.
#include "tests/integration/driver.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

drv_t drv;

void drv_check(CUresult rc, const char *what, int line) {
    if (rc == CUDA_SUCCESS) return;
    const char *name = NULL;
    if (drv.cuGetErrorName) drv.cuGetErrorName(rc, &name);
    fprintf(stderr, "line %d: %s failed: %d (%s)\n", line, what, (int)rc, name ? name : "?");
    exit(2);
}

CUmodule drv_start(CUcontext *ctx) {
    drv_load();
    CK(drv.cuInit(0));
    CK(drv.cuDevicePrimaryCtxRetain(ctx, 0));
    CK(drv.cuCtxSetCurrent(*ctx));
    CUmodule mod;
    CK(drv.cuModuleLoadData(&mod, "umdouble builtin kernels"));
    return mod;
}

int drv_double_count(const char *name) {
    int (*fn)(const char *) = (int (*)(const char *))dlsym(drv.handle, "umdouble_count");
    return fn ? fn(name) : -1;
}

long long drv_double_value(const char *key) {
    long long (*fn)(const char *) = (long long (*)(const char *))dlsym(drv.handle, "umdouble_value");
    return fn ? fn(key) : -1;
}

void drv_write_report(void) {
    const char *path = getenv("WORKLOAD_DRIVER_REPORT");
    if (!path || !*path) return;
    FILE *f = fopen(path, "w");
    if (!f) return;
    static const char *const counts[] = {"cuMemAllocManaged", "cuMemAlloc_v2", "cuMemFree_v2", "cuMemPrefetchAsync",
                                         "cuMemAdvise", "cuMemcpyHtoD", "cuMemcpyDtoH", "cuLaunchKernel",
                                         "cuMemcpyHtoD_v2_ptds", "cuLaunchKernel_ptsz", "cuIpcGetMemHandle"};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        fprintf(f, "count.%s %d\n", counts[i], drv_double_count(counts[i]));
    static const char *const values[] = {"prefetches", "advises", "managed_peak", "gpu_faults", "live_allocs"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        fprintf(f, "value.%s %lld\n", values[i], drv_double_value(values[i]));
    fclose(f);
}

uint64_t drv_fnv(const void *p, size_t n, uint64_t h) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}
