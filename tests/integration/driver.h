// The driver entry points the integration programs use, gathered in one table so the same
// workload runs through each way a program can reach libcuda.so.1:
//   drv_load_getproc(): dlopen("libcuda.so.1") + dlsym("cuGetProcAddress_v2"), then every
//                       function by base name at CUDA 13.0 (what static and shared cudart do)
//   drv_load_direct():  the cu* symbols the program was linked against (@cuda//:cuda_driver_stub,
//                       DT_NEEDED libcuda.so.1)
//   drv_load_dlsym():   dlopen("libcuda.so.1") + dlsym() of each versioned symbol name
// Each program defines which loader it uses; nothing else differs.
#ifndef UMSHIM_TESTS_INTEGRATION_DRIVER_H
#define UMSHIM_TESTS_INTEGRATION_DRIVER_H

#include <cuda.h>

#include <stddef.h>
#include <stdint.h>

// DRV(name): `name` as cuda.h spells it for callers (a macro such as cuMemAlloc ->
// cuMemAlloc_v2 picks the current ABI, exactly as in an application).
#define DRV_TABLE(DRV)                                                                             \
    DRV(cuInit) DRV(cuDeviceGet) DRV(cuDeviceGetCount) DRV(cuDeviceGetAttribute)                  \
    DRV(cuDevicePrimaryCtxRetain) DRV(cuDevicePrimaryCtxRelease) DRV(cuCtxSetCurrent)              \
    DRV(cuCtxSynchronize) DRV(cuMemAlloc) DRV(cuMemAllocManaged) DRV(cuMemFree)                    \
    DRV(cuMemAllocHost) DRV(cuMemFreeHost) DRV(cuMemcpyHtoD) DRV(cuMemcpyDtoH) DRV(cuMemcpyDtoD)   \
    DRV(cuMemcpyHtoDAsync) DRV(cuMemcpyDtoHAsync) DRV(cuMemcpy) DRV(cuMemcpyAsync) DRV(cuMemcpy2D)  \
    DRV(cuMemcpy3D) DRV(cuMemsetD8)                                                                \
    DRV(cuMemsetD32) DRV(cuMemsetD32Async) DRV(cuMemGetInfo) DRV(cuMemGetAddressRange)             \
    DRV(cuPointerGetAttribute) DRV(cuPointerGetAttributes) DRV(cuStreamCreate)                     \
    DRV(cuStreamDestroy) DRV(cuStreamSynchronize) DRV(cuStreamBeginCapture)                        \
    DRV(cuStreamEndCapture) DRV(cuGraphInstantiate) DRV(cuGraphLaunch) DRV(cuGraphExecDestroy)     \
    DRV(cuGraphDestroy) DRV(cuModuleLoadData) DRV(cuModuleGetFunction) DRV(cuModuleUnload)         \
    DRV(cuModuleGetGlobal)                                                                         \
    DRV(cuLaunchKernel) DRV(cuLaunchKernelEx) DRV(cuEventCreate) DRV(cuEventRecord)                \
    DRV(cuEventSynchronize) DRV(cuEventDestroy) DRV(cuMemAllocAsync) DRV(cuMemFreeAsync)           \
    DRV(cuIpcGetMemHandle) DRV(cuGetErrorName) DRV(cuMemGetAllocationGranularity)                 \
    DRV(cuMemAddressReserve) DRV(cuMemAddressFree) DRV(cuMemCreate) DRV(cuMemRelease) DRV(cuMemMap) \
    DRV(cuMemUnmap) DRV(cuMemSetAccess)

typedef struct {
#define DRV_FIELD(name) __typeof__(&name) name;
    DRV_TABLE(DRV_FIELD)
#undef DRV_FIELD
    void *handle; // for dlsym of the double's umdouble_* hooks (RTLD_DEFAULT when linked)
} drv_t;

extern drv_t drv;

// Fills `drv` or exits with a message naming the missing function.
void drv_load(void);

// drv_load, cuInit, the primary context of device 0 made current (stored in *ctx) and the
// double's built-in kernel module loaded; exits with a message on any failure.
CUmodule drv_start(CUcontext *ctx);

// The double's inspection hooks when present (-1 against a real driver).
int drv_double_count(const char *name);
long long drv_double_value(const char *key);

// Writes what the test double saw (umdouble_count / umdouble_value of the calls and values the
// per-mode checks need) to $WORKLOAD_DRIVER_REPORT, when set: `count.<name> N`, `value.<key> N`.
void drv_write_report(void);

// FNV-1a 64 of n bytes, continuing from h (start with DRV_FNV_BASIS): the programs' checksum
// of what they read back, and the per-row hash the shim folds for UMSHIM_HASH.
#define DRV_FNV_BASIS 0xcbf29ce484222325ull
uint64_t drv_fnv(const void *p, size_t n, uint64_t h);

// Exits with the failing call's name and CUresult name unless rc == CUDA_SUCCESS.
void drv_check(CUresult rc, const char *what, int line);
#define CK(call) drv_check((call), #call, __LINE__)

#endif
