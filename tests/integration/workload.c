// The integration workload: one deterministic driver-API program that exercises what the shim
// rewrites -- large and small allocations, sync/async/2D/UVA copies, memsets, launches through
// kernelParams, `extra` and cuLaunchKernelEx, a kernel pipeline, pinned memory and streams,
// stream capture with graph replay, a stream-ordered pool allocation, the program's own
// managed memory, pointer queries, and the error codes of bad frees and bad copies. It prints
// only what must not change under the shim in any mode (results, error codes, consistency
// verdicts), writes what it made to $WORKLOAD_EXPECT (for the trace check) and what the test
// double saw to $WORKLOAD_DRIVER_REPORT (for per-mode checks). Its kernels are the double's
// builtins (image_double.c); tests/gpu links the same program with real PTX of the same
// kernels (driver_kernels.cu) for the real-GPU suite.
#include "tests/integration/driver.h"
#include "tests/integration/expect.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

expect_t expect;

// The module image: the test double accepts any bytes (its kernels are builtins); the GPU
// build links PTX of the same kernels (tests/gpu/driver_kernels.cu).
extern const char workload_image[];

#define BIG_N (1 << 20)            // 4 MiB of floats: above UMSHIM_MANAGED_THRESHOLD's default
#define BIG_BYTES (BIG_N * sizeof(float))
#define SMALL_BYTES 4096

static uint64_t fnv(const void *p, size_t n) {
    return drv_fnv(p, n, DRV_FNV_BASIS);
}

// The fold of `rows` rows of `width` bytes, `pitch` apart: what the shim's trace records as
// the hash of a pitched read-back (one slice of it, for a 3D copy).
static uint64_t fold_rows(const unsigned char *p, size_t pitch, size_t width, size_t rows) {
    uint64_t h = 0;
    for (size_t r = 0; r < rows; r++) h = h * 0x100000001b3ull + fnv(p + r * pitch, width);
    return h;
}

static uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

// --- counted wrappers (what the trace must show) ---
static void alloc(CUdeviceptr *p, size_t n) {
    CK(drv.cuMemAlloc(p, n));
    expect.alloc++;
}
static void dfree(CUdeviceptr p) {
    CK(drv.cuMemFree(p));
    expect.free++;
}
static void h2d(CUdeviceptr d, const void *h, size_t n) {
    CK(drv.cuMemcpyHtoD(d, h, n));
    expect.copy_h2d++;
    expect.bytes_h2d += (long long)n;
}
static void d2h(void *h, CUdeviceptr d, size_t n) {
    CK(drv.cuMemcpyDtoH(h, d, n));
    expect.copy_d2h++;
    expect.bytes_d2h += (long long)n;
}
static void launch(CUfunction f, unsigned blocks, CUstream s, void **params, void **extra) {
    CK(drv.cuLaunchKernel(f, blocks, 1, 1, 256, 1, 1, 0, s, params, extra));
    expect.launch++;
}

static CUfunction fn(CUmodule m, const char *name) {
    CUfunction f;
    CK(drv.cuModuleGetFunction(&f, m, name));
    return f;
}

static const char *rcname(CUresult rc) {
    const char *s = NULL;
    drv.cuGetErrorName(rc, &s);
    return s ? s : "?";
}

int main(void) {
    drv_load();
    CUresult init = drv.cuInit(0);
    if (init == CUDA_ERROR_NO_DEVICE || init == CUDA_ERROR_STUB_LIBRARY) {
        printf("skipped: cuInit: no device\n");
        return 77;
    }
    CK(init);
    int ndev = 0, major = 0;
    CK(drv.cuDeviceGetCount(&ndev));
    CUdevice dev;
    CK(drv.cuDeviceGet(&dev, 0));
    CK(drv.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev));
    printf("devices %d cc %d\n", ndev, major);
    CUcontext ctx;
    CK(drv.cuDevicePrimaryCtxRetain(&ctx, dev));
    CK(drv.cuCtxSetCurrent(ctx));
    CUmodule mod;
    CK(drv.cuModuleLoadData(&mod, workload_image));
    CUfunction saxpy = fn(mod, "saxpy"), scale = fn(mod, "scale_inplace"), fill = fn(mod, "fill_f32"),
               sum = fn(mod, "sum_reduce"), vadd = fn(mod, "vec_add");

    // --- 1. explicit copies and a kernel pipeline on large buffers ---
    float *hx = malloc(BIG_BYTES), *hy = malloc(BIG_BYTES), *hz = malloc(BIG_BYTES);
    for (int i = 0; i < BIG_N; i++) {
        hx[i] = (float)(i % 1000) * 0.25f;
        hy[i] = 1.0f + (float)(i % 7);
    }
    CUdeviceptr x, y, z, small;
    alloc(&x, BIG_BYTES);
    alloc(&y, BIG_BYTES);
    alloc(&z, BIG_BYTES);
    alloc(&small, SMALL_BYTES);
    h2d(x, hx, BIG_BYTES);
    h2d(y, hy, BIG_BYTES);
    float a = 2.0f, half = 0.5f;
    int n = BIG_N;
    void *p_saxpy[] = {&a, &x, &y, &n};
    launch(saxpy, BIG_N / 256, NULL, p_saxpy, NULL);
    struct { CUdeviceptr p; float s; int n; } scale_args = {y, half, BIG_N};
    size_t scale_size = sizeof scale_args;
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &scale_args, CU_LAUNCH_PARAM_BUFFER_SIZE, &scale_size,
                     CU_LAUNCH_PARAM_END};
    launch(scale, BIG_N / 256, NULL, NULL, extra);
    void *p_vadd[] = {&x, &y, &z, &n};
    launch(vadd, BIG_N / 256, NULL, p_vadd, NULL);
    CK(drv.cuMemsetD8(small, 0, SMALL_BYTES));
    expect.memset++;
    CUdeviceptr sum_out = small + 64; // an interior pointer as a kernel argument
    void *p_sum[] = {&z, &sum_out, &n};
    CUlaunchConfig cfg = {.gridDimX = 1, .gridDimY = 1, .gridDimZ = 1, .blockDimX = 256, .blockDimY = 1,
                          .blockDimZ = 1};
    CK(drv.cuLaunchKernelEx(&cfg, sum, p_sum, NULL));
    expect.launch++;
    float total = 0;
    d2h(&total, sum_out, sizeof total);
    d2h(hz, z, BIG_BYTES);
    printf("pipeline sum %08" PRIx32 " z %016" PRIx64 "\n", bits(total), fnv(hz, BIG_BYTES));
    CK(drv.cuMemcpyDtoD(x, z, BIG_BYTES));
    expect.copy_d2d++;
    expect.bytes_d2d += BIG_BYTES;
    d2h(hx, x, BIG_BYTES);
    printf("dtod %s\n", memcmp(hx, hz, BIG_BYTES) == 0 ? "equal" : "DIFFERENT");

    // --- 2. pinned memory, a stream, async copies and memsets ---
    CUstream s;
    CK(drv.cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    float *pinned;
    CK(drv.cuMemAllocHost((void **)&pinned, BIG_BYTES));
    expect.alloc++;
    for (int i = 0; i < BIG_N; i++) pinned[i] = (float)(i & 255);
    CK(drv.cuMemcpyHtoDAsync(x, pinned, BIG_BYTES, s));
    expect.copy_h2d++;
    expect.bytes_h2d += BIG_BYTES;
    CK(drv.cuMemsetD32Async(y, bits(3.0f), BIG_N, s));
    expect.memset++;
    launch(saxpy, BIG_N / 256, s, p_saxpy, NULL);
    CK(drv.cuMemcpyDtoHAsync(pinned, y, BIG_BYTES, s));
    expect.copy_d2h++;
    expect.bytes_d2h += BIG_BYTES;
    CUevent ev;
    CK(drv.cuEventCreate(&ev, CU_EVENT_DISABLE_TIMING));
    CK(drv.cuEventRecord(ev, s));
    CK(drv.cuEventSynchronize(ev));
    CK(drv.cuStreamSynchronize(s));
    printf("stream %016" PRIx64 "\n", fnv(pinned, BIG_BYTES));
    CK(drv.cuEventDestroy(ev));
    CK(drv.cuMemFreeHost(pinned));
    expect.free++;

    // --- 3. unified-addressing and 2D copies ---
    char text[256], back[256];
    for (int i = 0; i < 256; i++) text[i] = (char)(i * 7);
    CK(drv.cuMemcpy(small + 1024, (CUdeviceptr)(uintptr_t)text, sizeof text));
    expect.copy_h2d++;
    expect.bytes_h2d += sizeof text;
    CK(drv.cuMemcpy((CUdeviceptr)(uintptr_t)back, small + 1024, sizeof back));
    expect.copy_d2h++;
    expect.bytes_d2h += sizeof back;
    printf("uva %s\n", memcmp(text, back, sizeof text) == 0 ? "equal" : "DIFFERENT");
    // A module global: device memory the shim never saw allocated (it does not hook
    // cuModuleGetGlobal), copied to and from rewritten buffers with cuMemcpy, which leaves the
    // direction to the pointers: device to device. The shim must not touch the global on the
    // host (a GPU's device memory is not host-readable, nor the double's strict memory).
    CUdeviceptr glob;
    size_t gbytes = 0;
    CK(drv.cuModuleGetGlobal(&glob, &gbytes, mod, "workload_global"));
    CK(drv.cuMemcpy(glob, x, gbytes));
    CK(drv.cuMemcpy(z, glob, gbytes));
    expect.copy_d2d += 2;
    expect.bytes_d2d += 2 * (long long)gbytes;
    d2h(hz, z, gbytes);
    d2h(hy, x, gbytes);
    printf("global %s\n", memcmp(hz, hy, gbytes) == 0 ? "equal" : "DIFFERENT");
    unsigned char rows[16][64];
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 64; c++) rows[r][c] = (unsigned char)(r * 16 + c);
    CUDA_MEMCPY2D c2 = {.srcMemoryType = CU_MEMORYTYPE_HOST, .srcHost = rows, .srcPitch = 64,
                        .dstMemoryType = CU_MEMORYTYPE_DEVICE, .dstDevice = z, .dstPitch = 1024,
                        .WidthInBytes = 64, .Height = 16};
    CK(drv.cuMemcpy2D(&c2));
    expect.copy_h2d++;
    expect.bytes_h2d += 64 * 16;
    unsigned char row5[64];
    d2h(row5, z + 5 * 1024, sizeof row5);
    printf("2d %s\n", memcmp(row5, rows[5], sizeof row5) == 0 ? "equal" : "DIFFERENT");
    // Back to the host with offsets on both sides: rows 2..13, bytes 8..47 of each, into a
    // pitched host buffer at (x 4, y 3); then a 3D copy of 3 slices of 2 rows (4 device rows
    // a slice) into (x 2, y 1, z 1) of a 5-row-per-slice host volume. Each prints the FNV-1a
    // fold of the rows it wrote, the hash the shim's trace must record for it (UMSHIM_HASH).
    unsigned char rows_back[16][80], vol[4][5][48];
    memset(rows_back, 0, sizeof rows_back);
    memset(vol, 0, sizeof vol);
    CUDA_MEMCPY2D b2 = {.srcXInBytes = 8, .srcY = 2, .srcMemoryType = CU_MEMORYTYPE_DEVICE,
                        .srcDevice = z, .srcPitch = 1024, .dstXInBytes = 4, .dstY = 3,
                        .dstMemoryType = CU_MEMORYTYPE_HOST, .dstHost = rows_back, .dstPitch = 80,
                        .WidthInBytes = 40, .Height = 12};
    CK(drv.cuMemcpy2D(&b2));
    expect.copy_d2h++;
    expect.bytes_d2h += 40 * 12;
    int ok2 = 1;
    for (int r = 0; r < 12; r++) ok2 &= memcmp(&rows_back[3 + r][4], &rows[2 + r][8], 40) == 0;
    uint64_t h2 = fold_rows(&rows_back[3][4], sizeof rows_back[0], 40, 12);
    CUDA_MEMCPY3D b3 = {.srcMemoryType = CU_MEMORYTYPE_DEVICE, .srcDevice = z, .srcPitch = 1024,
                        .srcHeight = 4, .dstXInBytes = 2, .dstY = 1, .dstZ = 1,
                        .dstMemoryType = CU_MEMORYTYPE_HOST, .dstHost = vol, .dstPitch = 48,
                        .dstHeight = 5, .WidthInBytes = 32, .Height = 2, .Depth = 3};
    CK(drv.cuMemcpy3D(&b3));
    expect.copy_d2h++;
    expect.bytes_d2h += 32 * 2 * 3;
    uint64_t h3 = 0;
    int ok3 = 1;
    for (int sl = 0; sl < 3; sl++) {
        for (int r = 0; r < 2; r++) ok3 &= memcmp(&vol[1 + sl][1 + r][2], rows[sl * 4 + r], 32) == 0;
        h3 = h3 * 0x100000001b3ull + fold_rows(&vol[1 + sl][1][2], sizeof vol[0][0], 32, 2);
    }
    printf("2d back %s hash 0x%016llx\n", ok2 ? "equal" : "DIFFERENT", (unsigned long long)h2);
    printf("3d back %s hash 0x%016llx\n", ok3 ? "equal" : "DIFFERENT", (unsigned long long)h3);

    // --- 4. stream capture and graph replay ---
    CUstream cs;
    CK(drv.cuStreamCreate(&cs, CU_STREAM_NON_BLOCKING));
    CUdeviceptr g = small + 2048;
    float one = 1.0f, two = 2.0f;
    int gn = 256;
    void *p_gfill[] = {&g, &one, &gn};
    launch(fill, 1, NULL, p_gfill, NULL);
    CK(drv.cuStreamBeginCapture(cs, CU_STREAM_CAPTURE_MODE_GLOBAL));
    void *p_gscale[] = {&g, &two, &gn};
    launch(scale, 1, cs, p_gscale, NULL);
    // A device-to-device copy in the capture (a pageable-host memcpy node is not portable).
    CUdeviceptr gcopy = small + 3072;
    CK(drv.cuMemcpyAsync(gcopy, g, 256 * sizeof(float), cs));
    expect.copy_d2d++;
    expect.bytes_d2d += 256 * sizeof(float);
    CUgraph graph;
    CK(drv.cuStreamEndCapture(cs, &graph));
    CUgraphExec exec;
    CK(drv.cuGraphInstantiate(&exec, graph, 0));
    for (int i = 0; i < 3; i++) {
        CK(drv.cuGraphLaunch(exec, cs));
        expect.graph++;
    }
    CK(drv.cuStreamSynchronize(cs));
    float gout[256];
    d2h(gout, gcopy, sizeof gout);
    printf("graph %08" PRIx32 " %08" PRIx32 "\n", bits(gout[0]), bits(gout[255]));
    CK(drv.cuGraphExecDestroy(exec));
    CK(drv.cuGraphDestroy(graph));
    CK(drv.cuStreamDestroy(cs));

    // --- 5. stream-ordered pool allocation ---
    CUdeviceptr pool;
    CK(drv.cuMemAllocAsync(&pool, 65536, s));
    expect.alloc++;
    CK(drv.cuMemsetD32Async(pool, 7, 16384, s));
    expect.memset++;
    unsigned int pv[4];
    CK(drv.cuMemcpyDtoHAsync(pv, pool + 100 * 4, sizeof pv, s));
    expect.copy_d2h++;
    expect.bytes_d2h += sizeof pv;
    CK(drv.cuMemFreeAsync(pool, s));
    expect.free++;
    CK(drv.cuStreamSynchronize(s));
    printf("pool %u %u\n", pv[0], pv[3]);
    CK(drv.cuStreamDestroy(s));

    // --- 6. the program's own managed memory ---
    CUdeviceptr m;
    CK(drv.cuMemAllocManaged(&m, 1 << 20, CU_MEM_ATTACH_GLOBAL));
    expect.alloc++;
    float five = 5.0f;
    int mn = (1 << 20) / 4;
    void *p_mfill[] = {&m, &five, &mn};
    launch(fill, (unsigned)mn / 256, NULL, p_mfill, NULL);
    CK(drv.cuCtxSynchronize());
    printf("managed %08" PRIx32 "\n", bits(((float *)(uintptr_t)m)[12345]));
    dfree(m);

    // --- 7. pointer queries: one answer through either call ---
    unsigned int mt1 = 0, mt2 = 0;
    size_t rs1 = 0, rs2 = 0;
    CK(drv.cuPointerGetAttribute(&mt1, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, x + 4096));
    CK(drv.cuPointerGetAttribute(&rs1, CU_POINTER_ATTRIBUTE_RANGE_SIZE, x + 4096));
    CUpointer_attribute at[] = {CU_POINTER_ATTRIBUTE_MEMORY_TYPE, CU_POINTER_ATTRIBUTE_RANGE_SIZE};
    void *data[] = {&mt2, &rs2};
    CK(drv.cuPointerGetAttributes(2, at, data, x + 4096));
    CUdeviceptr base;
    size_t bsize;
    CK(drv.cuMemGetAddressRange(&base, &bsize, x + 4096));
    // The memory type itself may change with the mode (managed memory); the two calls must agree.
    printf("pointer range %zu %s base %s\n", rs1, mt1 == mt2 && rs1 == rs2 ? "consistent" : "INCONSISTENT",
           base == x && bsize == BIG_BYTES ? "ok" : "WRONG");
    size_t fr = 0, tot = 0;
    CK(drv.cuMemGetInfo(&fr, &tot));
    printf("meminfo %s\n", fr <= tot && tot > 0 ? "ok" : "WRONG");

    // --- 8. IPC on a small device allocation (stays device memory in every mode) ---
    CUipcMemHandle ih;
    printf("ipc small %s\n", rcname(drv.cuIpcGetMemHandle(&ih, small)));

    // --- 9. a VMM mapping (recorded, never rewritten) ---
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = dev}};
    size_t gran = 0;
    CK(drv.cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
    size_t vsz = gran > (2u << 20) ? gran : (2u << 20);
    vsz = (vsz + gran - 1) / gran * gran;
    CUdeviceptr va;
    CUmemGenericAllocationHandle vh;
    CK(drv.cuMemAddressReserve(&va, vsz, 0, 0, 0));
    CK(drv.cuMemCreate(&vh, vsz, &prop, 0));
    CK(drv.cuMemMap(va, vsz, 0, vh, 0));
    expect.alloc++;
    CUmemAccessDesc acc = {.location = prop.location, .flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
    CK(drv.cuMemSetAccess(va, vsz, &acc, 1));
    float seven = 7.0f;
    int vn = (int)(vsz / sizeof(float));
    void *p_vfill[] = {&va, &seven, &vn};
    launch(fill, (unsigned)vn / 256, NULL, p_vfill, NULL);
    h2d(va + 4096, text, sizeof text);
    float *vback = malloc(vsz);
    d2h(vback, va, vsz);
    printf("vmm %016" PRIx64 "\n", fnv(vback, vsz));
    free(vback);
    CK(drv.cuMemUnmap(va, vsz));
    expect.free++;
    CK(drv.cuMemRelease(vh));
    CK(drv.cuMemAddressFree(va, vsz));

    // --- 10. bad input: the shim must return the driver's own codes ---
    CUdeviceptr victim;
    alloc(&victim, SMALL_BYTES);
    printf("free unknown %s\n", rcname(drv.cuMemFree((CUdeviceptr)0xdead0000ull)));
    printf("free interior %s\n", rcname(drv.cuMemFree(victim + 16)));
    dfree(victim);
    printf("double free %s\n", rcname(drv.cuMemFree(victim)));
    printf("htod invalid %s\n", rcname(drv.cuMemcpyHtoD((CUdeviceptr)0xdead0000ull, text, 16)));
    if (drv_double_count("*") >= 0) {
        // Only the test double checks these: a real driver sub-allocates small buffers, so a
        // copy just past the end or from a freed buffer may land in mapped memory and succeed.
        printf("htod past end %s\n", rcname(drv.cuMemcpyHtoD(small + SMALL_BYTES - 8, text, 16)));
        printf("dtoh freed %s\n", rcname(drv.cuMemcpyDtoH(back, victim, 16)));
        // Unmapped host memory on the host side of a copy into or out of a rewritten buffer:
        // in managed and prefetch modes the shim would copy on the host and fault there.
        long pg = sysconf(_SC_PAGESIZE);
        void *hole = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (hole != MAP_FAILED && munmap(hole, (size_t)pg) == 0) {
            printf("htod unmapped host %s\n", rcname(drv.cuMemcpyHtoD(z, hole, BIG_BYTES / 2)));
            printf("dtoh unmapped host %s\n", rcname(drv.cuMemcpyDtoH(hole, z, BIG_BYTES / 2)));
        }
    }
    printf("memset invalid %s\n", rcname(drv.cuMemsetD32((CUdeviceptr)0xdead0000ull, 0, 4)));
    // The data survived all of that.
    d2h(hz, z, BIG_BYTES);
    printf("after errors %016" PRIx64 "\n", fnv(hz + 4096, BIG_BYTES - 4096 * sizeof(float)));

    dfree(x);
    dfree(y);
    dfree(z);
    dfree(small);
    CK(drv.cuModuleUnload(mod));
    CK(drv.cuDevicePrimaryCtxRelease(dev));
    free(hx);
    free(hy);
    free(hz);
    expect_write();
    drv_write_report();
    printf("done\n");
    return 0;
}
