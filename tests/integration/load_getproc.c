// Loading path (a): dlopen("libcuda.so.1"), one dlsym of cuGetProcAddress_v2, then every
// entry point by base name at CUDA 13.0 with default flags -- what static and shared cudart do.
#include "tests/integration/driver.h"

#include <dlfcn.h>

// The per-thread default stream build (workload_ptds) asks for the _ptds/_ptsz variants.
#ifndef DRV_GETPROC_FLAGS
#define DRV_GETPROC_FLAGS CU_GET_PROC_ADDRESS_DEFAULT
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The ABI the table expects: cuda.h's cuCtxSynchronize is the 12.x one (no argument); asked for
// at 13000 the driver returns cuCtxSynchronize_v2 (PFN_cuCtxSynchronize_v13000), so ask for the
// version whose ABI matches, as cudart does per function.
static int drv_version(const char *name) {
    return strcmp(name, "cuCtxSynchronize") == 0 || strcmp(name, "cuCtxGetDevice") == 0 ? 12000 : 13000;
}

void drv_load(void) {
    drv.handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!drv.handle) {
        printf("skipped: no libcuda.so.1 (%s)\n", dlerror());
        exit(77); // no driver here: skipped, never passed
    }
    CUresult (*gpa)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *) =
        (CUresult(*)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *))dlsym(
            drv.handle, "cuGetProcAddress_v2");
    if (!gpa) {
        fprintf(stderr, "no cuGetProcAddress_v2\n");
        exit(3);
    }
    // #name is the unexpanded base name ("cuMemAlloc", not cuda.h's cuMemAlloc_v2), as cudart
    // passes it.
#define DRV_GET(name)                                                                              \
    {                                                                                              \
        void *p = NULL;                                                                            \
        CUdriverProcAddressQueryResult st;                                                         \
        if (gpa(#name, &p, drv_version(#name), DRV_GETPROC_FLAGS, &st) != CUDA_SUCCESS || !p) {     \
            fprintf(stderr, "cuGetProcAddress(%s) failed\n", #name);                           \
            exit(3);                                                                               \
        }                                                                                          \
        drv.name = (__typeof__(&name))p;                                                           \
    }
    DRV_TABLE(DRV_GET)
#undef DRV_GET
}
