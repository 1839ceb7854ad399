// Loading path (c): the program dlopen()s libcuda.so.1 itself and dlsym()s each versioned
// entry point by name (cuMemAlloc_v2, cuMemcpyHtoD_v2, ...), as some frameworks do.
#include "tests/integration/driver.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#define STR(x) #x
#define XSTR(x) STR(x) // expands cuda.h's macro first: cuMemAlloc -> "cuMemAlloc_v2"

void drv_load(void) {
    drv.handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!drv.handle) {
        printf("skipped: no libcuda.so.1 (%s)\n", dlerror());
        exit(77); // no driver here: skipped, never passed
    }
#define DRV_SYM(name)                                                                              \
    {                                                                                              \
        void *p = dlsym(drv.handle, XSTR(name));                                                   \
        if (!p) {                                                                                  \
            fprintf(stderr, "dlsym(%s) failed\n", XSTR(name));                                     \
            exit(3);                                                                               \
        }                                                                                          \
        drv.name = (__typeof__(&name))p;                                                           \
    }
    DRV_TABLE(DRV_SYM)
#undef DRV_SYM
}
