// The shim owner's driver-API self-check: linked directly against libcuda (the exported
// cu* path), kernels from PTX, launched both with kernelParams and with an `extra` packed
// buffer. stdout must be identical with and without the shim in every mode.
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CK(x)                                                                                      \
    do {                                                                                           \
        CUresult r_ = (x);                                                                         \
        if (r_ != CUDA_SUCCESS) {                                                                  \
            printf("FAIL line %d: %s = %d\n", __LINE__, #x, (int)r_);                              \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static uint64_t fnv(const void *d, size_t n) {
    const unsigned char *p = d;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

int main(int argc, char **argv) {
    const char *ptx = argc > 1 ? argv[1] : "drvk.ptx";
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CUfunction f;
    CK(cuInit(0));
    CK(cuDeviceGet(&dev, 0));
    CK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CK(cuCtxSetCurrent(ctx));
    CK(cuModuleLoad(&mod, ptx));
    CK(cuModuleGetFunction(&f, mod, "saxpy"));
    int n = 8 << 20;
    size_t bytes = (size_t)n * 4;
    float *hx = malloc(bytes), *hy = malloc(bytes);
    for (int i = 0; i < n; i++) {
        hx[i] = (float)(i % 100) * 0.01f;
        hy[i] = (float)(i % 3);
    }
    CUdeviceptr dx, dy;
    CK(cuMemAlloc(&dx, bytes));
    CK(cuMemAlloc(&dy, bytes));
    CK(cuMemcpyHtoD(dx, hx, bytes));
    CK(cuMemcpyHtoD(dy, hy, bytes));
    float a = 2.0f;
    int half = n / 2;
    CUdeviceptr yhi = dy + (size_t)half * 4, xhi = dx + (size_t)half * 4;
    void *args[] = {&a, &dx, &dy, &half};
    for (int it = 0; it < 5; it++)
        CK(cuLaunchKernel(f, (half + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, args, NULL));
    struct {
        float a;
        int pad;
        CUdeviceptr x, y;
        int n;
    } packed = {3.0f, 0, xhi, yhi, half};
    size_t psize = 28; // the kernel's parameter bytes (float, pad, 2 pointers, int); not sizeof (padded)
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &packed, CU_LAUNCH_PARAM_BUFFER_SIZE, &psize,
                     CU_LAUNCH_PARAM_END};
    for (int it = 0; it < 5; it++)
        CK(cuLaunchKernel(f, (half + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, NULL, extra));
    CK(cuCtxSynchronize());
    CK(cuMemcpyDtoH(hy, dy, bytes));
    printf("result %016llx\n", (unsigned long long)fnv(hy, bytes));
    unsigned int managed = 7;
    CK(cuPointerGetAttribute(&managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, dy + 64));
    printf("is_managed %u\n", managed);
    CK(cuMemFree(dx));
    printf("double_free %d unknown_free %d\n", (int)cuMemFree(dx), (int)cuMemFree(0x1000));
    CK(cuMemFree(dy));
    printf("done\n");
    return 0;
}
