// CPU cost of the shim's allocation path: N cuMemAlloc/cuMemFree pairs (sizes 256 B-63 KiB,
// below the managed threshold) through cuGetProcAddress, as cudart reaches the driver. Run
// against the driver test double under callgrind by tools/alloc_cost.sh, which prints the
// instructions each mode spends per pair; the double's own work is the same in every mode.
//   alloc_loop [pairs]
#include "tests/integration/driver.h"
#include "tests/integration/expect.h"

#include <stdio.h>
#include <stdlib.h>

expect_t expect;

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    if (n <= 0) {
        fprintf(stderr, "usage: alloc_loop [pairs > 0]\n");
        return 2;
    }
    CUcontext ctx;
    drv_start(&ctx);
    for (int i = 0; i < n; i++) {
        CUdeviceptr p;
        CK(drv.cuMemAlloc(&p, 256 + (size_t)(i % 63) * 1024));
        CK(drv.cuMemFree(p));
    }
    printf("pairs %d\n", n);
    return 0;
}
