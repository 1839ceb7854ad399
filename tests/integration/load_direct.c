// Loading path (b): the program is linked against the driver (@cuda//:cuda_driver_stub,
// DT_NEEDED libcuda.so.1) and calls the exported cu* symbols; under LD_PRELOAD the dynamic
// linker binds them to the shim's exports first.
#include "tests/integration/driver.h"

#include <dlfcn.h>

void drv_load(void) {
#define DRV_SET(name) drv.name = &name;
    DRV_TABLE(DRV_SET)
#undef DRV_SET
    drv.handle = RTLD_DEFAULT;
}
