// CPU cost of the shim's allocation path: N cuMemAlloc/cuMemFree pairs (sizes 256 B-63 KiB,
// below the managed threshold) through cuGetProcAddress, as cudart reaches the driver. Run
// against the driver test double under callgrind by tools/alloc_cost.sh, which prints the
// instructions each mode spends per pair; the double's own work is the same in every mode.
// With `live`, the pattern of tests/gpu/many_allocs.cu instead: N buffers allocated and kept,
// each memset and written by a kernel, then each copied back, then all freed in a shuffled
// order (per item: an alloc, a memset, a launch, a D2H copy and a free).
//   alloc_loop [pairs [live]]
#include "tests/integration/driver.h"
#include "tests/integration/expect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

expect_t expect;

static size_t size_of(int i) {
    return 256 + (size_t)(i % 63) * 1024;
}

static void live(CUmodule mod, int n) {
    CUfunction fill;
    CK(drv.cuModuleGetFunction(&fill, mod, "fill_f32"));
    CUdeviceptr *p = calloc((size_t)n, sizeof *p);
    unsigned char *host = malloc(size_of(62));
    if (p == NULL || host == NULL) {
        fprintf(stderr, "alloc_loop: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        CK(drv.cuMemAlloc(&p[i], size_of(i)));
        CK(drv.cuMemsetD8(p[i], (unsigned char)i, size_of(i)));
        float v = (float)i;
        int count = 16;
        void *params[] = {&p[i], &v, &count};
        CK(drv.cuLaunchKernel(fill, 1, 1, 1, 256, 1, 1, 0, NULL, params, NULL));
    }
    for (int i = 0; i < n; i++)
        CK(drv.cuMemcpyDtoH(host, p[i], size_of(i)));
    unsigned rng = 12345;
    for (int i = 0; i < n; i++) {
        rng = rng * 1664525u + 1013904223u;
        int j = (int)((rng >> 8) % (unsigned)n);
        CUdeviceptr t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
    for (int i = 0; i < n; i++)
        CK(drv.cuMemFree(p[i]));
    free(host);
    free(p);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    int is_live = argc > 2 && strcmp(argv[2], "live") == 0;
    if (n <= 0 || (argc > 2 && !is_live)) {
        fprintf(stderr, "usage: alloc_loop [pairs > 0 [live]]\n");
        return 2;
    }
    CUcontext ctx;
    CUmodule mod = drv_start(&ctx);
    if (is_live) {
        live(mod, n);
    } else {
        for (int i = 0; i < n; i++) {
            CUdeviceptr p;
            CK(drv.cuMemAlloc(&p, size_of(i)));
            CK(drv.cuMemFree(p));
        }
    }
    printf("%s %d\n", is_live ? "items" : "pairs", n);
    return 0;
}
