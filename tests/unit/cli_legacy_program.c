// A known legacy explicit-copy program for the command line's end-to-end tests: it runs
// against the driver test double (//tests/double:libcuda.so.1) under the real shim, so
// `umshim profile` traces it and the report's numbers can be asserted exactly:
//   x: 4 MiB, uploaded twice before any launch (1 redundant upload), read by 3 saxpy launches
//   y: 4 MiB, uploaded once, written by 3 launches, read back 4 times (the last one unchanged)
//   scratch: 4 KiB, uploaded, never used by a kernel, never freed (a leak)
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>

#define CK(call)                                                                                   \
    do {                                                                                           \
        CUresult r_ = (call);                                                                      \
        if (r_ != CUDA_SUCCESS) {                                                                  \
            fprintf(stderr, "%s failed: %d\n", #call, (int)r_);                                    \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

int main(void) {
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CUfunction saxpy;
    CK(cuInit(0));
    CK(cuDeviceGet(&dev, 0));
    CK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CK(cuCtxSetCurrent(ctx));
    CK(cuModuleLoadData(&mod, "builtin")); // the double's builtin kernels
    CK(cuModuleGetFunction(&saxpy, mod, "saxpy"));
    int n = 1 << 20;
    size_t bytes = (size_t)n * sizeof(float);
    float *hx = malloc(bytes), *hy = malloc(bytes);
    for (int i = 0; i < n; i++) {
        hx[i] = (float)i;
        hy[i] = 1.0f;
    }
    CUdeviceptr x, y, scratch;
    CK(cuMemAlloc(&x, bytes));
    CK(cuMemAlloc(&y, bytes));
    CK(cuMemAlloc(&scratch, 4096));
    CK(cuMemcpyHtoD(x, hx, bytes));
    CK(cuMemcpyHtoD(x, hx, bytes)); // the same bytes again: redundant
    CK(cuMemcpyHtoD(y, hy, bytes));
    CK(cuMemcpyHtoD(scratch, hy, 4096));
    for (int it = 0; it < 3; it++) {
        float a = 2.0f;
        void *args[] = {&a, &x, &y, &n};
        CK(cuLaunchKernel(saxpy, 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL));
        CK(cuMemcpyDtoH(hy, y, bytes));
    }
    CK(cuMemcpyDtoH(hy, y, bytes)); // unchanged since the last read-back: redundant
    printf("y[10] = %g\n", hy[10]);
    CK(cuMemFree(x));
    CK(cuMemFree(y));
    free(hx);
    free(hy);
    return 0;
}
