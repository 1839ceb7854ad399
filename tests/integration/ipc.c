// IPC on an allocation the shim made managed: cuIpcGetMemHandle must return the driver's own
// error (managed memory has no IPC handle), the shim must log one line naming the call site
// and UMSHIM_KEEP_DEVICE, and with that option the site stays device memory and IPC works.
// Prints the result code and a hash of the buffer (which must survive either way).
#include "tests/integration/driver.h"
#include "tests/integration/expect.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

expect_t expect;

int main(void) {
    drv_load();
    CK(drv.cuInit(0));
    CUcontext ctx;
    CK(drv.cuDevicePrimaryCtxRetain(&ctx, 0));
    CK(drv.cuCtxSetCurrent(ctx));
    const size_t bytes = 4 << 20;
    unsigned char *host = malloc(bytes);
    for (size_t i = 0; i < bytes; i++) host[i] = (unsigned char)(i * 31);
    CUdeviceptr d;
    CK(drv.cuMemAlloc(&d, bytes)); // the call site UMSHIM_KEEP_DEVICE names
    CK(drv.cuMemcpyHtoD(d, host, bytes));
    CUipcMemHandle h;
    CUresult rc = drv.cuIpcGetMemHandle(&h, d);
    const char *name = NULL;
    drv.cuGetErrorName(rc, &name);
    printf("ipc %s\n", name ? name : "?");
    memset(host, 0, bytes);
    CK(drv.cuMemcpyDtoH(host, d, bytes));
    uint64_t hash = drv_fnv(host, bytes, DRV_FNV_BASIS);
    printf("data %016" PRIx64 "\n", hash);
    CK(drv.cuMemFree(d));
    free(host);
    drv_write_report();
    return 0;
}
