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

// A correct cuGetProcAddress program asks, per function, for the name and version of exactly
// the ABI it will call -- here the one cuda.h declares for the spelling the table uses:
// - the name is cuda.h's spelling after macro expansion, less its _vN suffix: the driver
//   knows "cuMemAlloc" (not "cuMemAlloc_v2"), and cuda.h's cuGraphInstantiate is a macro for
//   cuGraphInstantiateWithFlags, a function of its own -- the driver's "cuGraphInstantiate"
//   is the older 5-argument ABI, which the 3-argument call here would feed garbage;
// - the version is 13000 except where cuda.h kept an older declaration under a name whose
//   driver answer changed in 13.0: cuCtxSynchronize and cuCtxGetDevice take a CUcontext
//   there (PFN_..._v13000), while cuda.h's cuCtxSynchronize(void) is the 12.x ABI.
static int drv_version(const char *name) {
    return strcmp(name, "cuCtxSynchronize") == 0 || strcmp(name, "cuCtxGetDevice") == 0 ? 12000 : 13000;
}

static const char *drv_base(const char *expanded, char *buf, size_t n) {
    snprintf(buf, n, "%s", expanded);
    char *v = strrchr(buf, '_');
    if (v != NULL && v[1] == 'v' && v[2] >= '0' && v[2] <= '9' && strspn(v + 2, "0123456789") == strlen(v + 2))
        *v = 0;
    return buf;
}
#define DRV_XSTR(x) DRV_STR(x)
#define DRV_STR(x) #x

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
#define DRV_GET(name)                                                                              \
    {                                                                                              \
        void *p = NULL;                                                                            \
        char base[64];                                                                             \
        drv_base(DRV_XSTR(name), base, sizeof base);                                               \
        CUdriverProcAddressQueryResult st;                                                         \
        if (gpa(base, &p, drv_version(base), DRV_GETPROC_FLAGS, &st) != CUDA_SUCCESS || !p) {      \
            fprintf(stderr, "cuGetProcAddress(%s) failed\n", base);                            \
            exit(3);                                                                               \
        }                                                                                          \
        /* Identity with the exported symbol of cuda.h's spelling proves the ABI (the driver  \
           answers with its exports; under the shim both paths give the same wrapper). */      \
        void *exported = dlsym(drv.handle, DRV_XSTR(name));                                        \
        if (DRV_GETPROC_FLAGS == CU_GET_PROC_ADDRESS_DEFAULT && exported != NULL && exported != p) { \
            fprintf(stderr, "cuGetProcAddress(%s, %d) is not the %s this program calls\n", base,  \
                    drv_version(base), DRV_XSTR(name));                                            \
            exit(3);                                                                               \
        }                                                                                          \
        drv.name = (__typeof__(&name))p;                                                           \
    }
    DRV_TABLE(DRV_GET)
#undef DRV_GET
}
