// Proves the driver test double itself, loaded the way static cudart loads the real driver:
// dlopen("libcuda.so.1"), dlsym("cuGetProcAddress_v2"), every entry point resolved by name.
// Each test runs in its own process (Check's fork mode), so knobs set with setenv() before the
// first driver call apply to that test only.
#include <check.h>
#include <cuda.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef CUresult (*gpa_fn)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *);
static void *lib;
static gpa_fn gpa;

static void load(void) {
    const char *path = getenv("UMDOUBLE_TEST_LIB");
    char buf[4096];
    if (path && path[0] != '/') {
        snprintf(buf, sizeof buf, "./%s", path);
        path = buf;
    }
    lib = dlopen(path ? path : "libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(lib != NULL, "dlopen: %s", dlerror());
    gpa = (gpa_fn)dlsym(lib, "cuGetProcAddress_v2");
    ck_assert_ptr_nonnull(gpa);
}

static void *proc(const char *name, int version, cuuint64_t flags) {
    void *p = NULL;
    CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    CUresult rc = gpa(name, &p, version, flags, &st);
    ck_assert_msg(rc == CUDA_SUCCESS && st == CU_GET_PROC_ADDRESS_SUCCESS && p, "lookup %s", name);
    return p;
}

// F(cuMemAlloc) resolves "cuMemAlloc" at CUDA 13.0 and types it as cuda.h's cuMemAlloc_v2.
#define F(name) ((__typeof__(&name))proc(#name, 13000, 0))
#define OK(call) ck_assert_int_eq((call), CUDA_SUCCESS)

static int count(const char *name) {
    int (*fn)(const char *) = (int (*)(const char *))dlsym(lib, "umdouble_count");
    ck_assert_ptr_nonnull(fn);
    return fn(name);
}

static long long value(const char *key) {
    long long (*fn)(const char *) = (long long (*)(const char *))dlsym(lib, "umdouble_value");
    ck_assert_ptr_nonnull(fn);
    return fn(key);
}

static CUmodule mod;

static void init_ctx(void) {
    OK(F(cuInit)(0));
    CUcontext ctx;
    OK(F(cuDevicePrimaryCtxRetain)(&ctx, 0));
    OK(F(cuCtxSetCurrent)(ctx));
    OK(F(cuModuleLoadData)(&mod, "fatbin"));
}

static void setup(void) {
    load();
    init_ctx();
}

static CUfunction fn(const char *name) {
    CUfunction f;
    OK(F(cuModuleGetFunction)(&f, mod, name));
    return f;
}

// --- core ---
START_TEST(test_procaddress_picks_abi_by_version_and_flags) {
    load();
    void *p = NULL;
    CUdriverProcAddressQueryResult st;
    ck_assert_ptr_eq(proc("cuMemAlloc", 13000, 0), dlsym(lib, "cuMemAlloc_v2"));
    ck_assert_ptr_eq(proc("cuMemcpyHtoD", 13000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM),
                     dlsym(lib, "cuMemcpyHtoD_v2_ptds"));
    ck_assert_ptr_eq(proc("cuMemcpyHtoD", 13000, CU_GET_PROC_ADDRESS_LEGACY_STREAM), dlsym(lib, "cuMemcpyHtoD_v2"));
    ck_assert_ptr_eq(proc("cuLaunchKernel", 12000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM),
                     dlsym(lib, "cuLaunchKernel_ptsz"));
    ck_assert_ptr_eq(proc("cuLaunchKernel", 6050, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM),
                     dlsym(lib, "cuLaunchKernel")); // _ptsz only from 7.0
    ck_assert_ptr_eq(proc("cuMemPrefetchAsync", 12010, 0), dlsym(lib, "cuMemPrefetchAsync"));
    ck_assert_ptr_eq(proc("cuMemPrefetchAsync", 12020, 0), dlsym(lib, "cuMemPrefetchAsync_v2"));
    ck_assert_ptr_eq(proc("cuMemAdvise", 13000, 0), dlsym(lib, "cuMemAdvise_v2"));
    ck_assert_ptr_eq(proc("cuStreamGetCaptureInfo", 12030, 0), dlsym(lib, "cuStreamGetCaptureInfo_v3"));
    // The real driver keeps the 5-argument ABI behind "cuGraphInstantiate" (H100, CUDA 13.0);
    // cuda.h's cuGraphInstantiate macro names cuGraphInstantiateWithFlags instead.
    ck_assert_ptr_eq(proc("cuGraphInstantiate", 13000, 0), dlsym(lib, "cuGraphInstantiate_v2"));
    ck_assert_ptr_eq(proc("cuGraphInstantiateWithFlags", 13000, 0), dlsym(lib, "cuGraphInstantiateWithFlags"));
    ck_assert_ptr_eq(proc("cuGetProcAddress", 13000, 0), dlsym(lib, "cuGetProcAddress_v2"));
    ck_assert_ptr_eq(proc("cuCtxSynchronize", 12090, 0), dlsym(lib, "cuCtxSynchronize"));
    ck_assert_ptr_eq(proc("cuCtxSynchronize", 13000, 0), dlsym(lib, "cuCtxSynchronize_v2"));
    // Unknown names and too-old versions fail the way the real driver reports them.
    ck_assert_int_eq(gpa("cuNoSuchThing", &p, 13000, 0, &st), CUDA_ERROR_NOT_FOUND);
    ck_assert_int_eq(st, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(gpa("cuFuncGetParamInfo", &p, 12000, 0, &st), CUDA_ERROR_NOT_FOUND);
    ck_assert_int_eq(st, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
}
END_TEST

START_TEST(test_memory_roundtrip_and_memset) {
    CUdeviceptr d;
    float in[64], out[64];
    for (int i = 0; i < 64; i++) in[i] = (float)i * 0.5f;
    OK(F(cuMemAlloc)(&d, sizeof in));
    OK(F(cuMemcpyHtoD)(d, in, sizeof in));
    OK(F(cuMemcpyDtoH)(out, d, sizeof out));
    ck_assert_mem_eq(in, out, sizeof in);
    OK(F(cuMemsetD32)(d + 16, 0x3f800000u, 4)); // interior pointer: four 1.0f
    OK(F(cuMemcpyDtoH)(out, d, sizeof out));
    ck_assert(out[3] == 1.5f && out[4] == 1.0f && out[7] == 1.0f && out[8] == 4.0f);
    CUdeviceptr base;
    size_t size;
    OK(F(cuMemGetAddressRange)(&base, &size, d + 100));
    ck_assert(base == d && size == sizeof in);
    OK(F(cuMemFree)(d));
    ck_assert_int_eq(count("cuMemAlloc_v2"), 1);
    ck_assert_int_eq(count("cuMemcpyDtoH"), 2);
}
END_TEST

START_TEST(test_launch_params_extra_and_paraminfo) {
    CUdeviceptr x, y;
    float hx[8], hy[8];
    for (int i = 0; i < 8; i++) hx[i] = (float)i, hy[i] = 1.0f;
    OK(F(cuMemAlloc)(&x, sizeof hx));
    OK(F(cuMemAlloc)(&y, sizeof hy));
    OK(F(cuMemcpyHtoD)(x, hx, sizeof hx));
    OK(F(cuMemcpyHtoD)(y, hy, sizeof hy));
    CUfunction saxpy = fn("saxpy");
    size_t off, sz, expect_off[] = {0, 8, 16, 24}, expect_sz[] = {4, 8, 8, 4};
    for (size_t i = 0; i < 4; i++) {
        OK(F(cuFuncGetParamInfo)(saxpy, i, &off, &sz));
        ck_assert(off == expect_off[i] && sz == expect_sz[i]);
    }
    ck_assert_int_eq(F(cuFuncGetParamInfo)(saxpy, 4, &off, &sz), CUDA_ERROR_INVALID_VALUE);
    float a = 2.0f;
    int n = 8;
    void *params[] = {&a, &x, &y, &n};
    OK(F(cuLaunchKernel)(saxpy, 1, 1, 1, 8, 1, 1, 0, NULL, params, NULL));
    struct { float a; int pad; CUdeviceptr x, y; int n; } buf = {3.0f, 0, x, y, 8};
    size_t bufsize = sizeof buf;
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &buf, CU_LAUNCH_PARAM_BUFFER_SIZE, &bufsize, CU_LAUNCH_PARAM_END};
    OK(F(cuLaunchKernel)(saxpy, 1, 1, 1, 8, 1, 1, 0, NULL, NULL, extra));
    OK(F(cuMemcpyDtoH)(hy, y, sizeof hy));
    for (int i = 0; i < 8; i++) ck_assert(hy[i] == 1.0f + 5.0f * (float)i);
    const char *name;
    OK(F(cuFuncGetName)(&name, saxpy));
    ck_assert_str_eq(name, "saxpy");
    ck_assert_int_eq(value("launches"), 2);
}
END_TEST

START_TEST(test_capture_records_and_graph_replays) {
    CUstream s;
    OK(F(cuStreamCreate)(&s, CU_STREAM_NON_BLOCKING));
    CUdeviceptr d;
    OK(F(cuMemAlloc)(&d, 16 * sizeof(float)));
    OK(F(cuMemsetD32)(d, 0x3f800000u, 16)); // 1.0f
    OK(F(cuStreamBeginCapture)(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
    CUstreamCaptureStatus st;
    OK(F(cuStreamIsCapturing)(s, &st));
    ck_assert_int_eq(st, CU_STREAM_CAPTURE_STATUS_ACTIVE);
    float k = 2.0f;
    int n = 16;
    void *params[] = {&d, &k, &n};
    OK(F(cuLaunchKernel)(fn("scale_inplace"), 1, 1, 1, 16, 1, 1, 0, s, params, NULL));
    float h[16];
    OK(F(cuMemcpyDtoHAsync)(h, d, sizeof h, s));
    CUgraph g;
    OK(F(cuStreamEndCapture)(s, &g));
    size_t nodes = 0;
    OK(F(cuGraphGetNodes)(g, NULL, &nodes));
    ck_assert_uint_eq(nodes, 2);
    float probe;
    OK(F(cuMemcpyDtoH)(&probe, d, sizeof probe));
    ck_assert(probe == 1.0f); // captured, not run
    CUgraphExec e;
    OK(((__typeof__(&cuGraphInstantiate))proc("cuGraphInstantiateWithFlags", 13000, 0))(&e, g, 0));
    OK(F(cuGraphLaunch)(e, s));
    OK(F(cuGraphLaunch)(e, s));
    OK(F(cuStreamSynchronize)(s));
    ck_assert(h[0] == 4.0f && h[15] == 4.0f);
    OK(F(cuGraphExecDestroy)(e));
    OK(F(cuGraphDestroy)(g));
    OK(F(cuStreamDestroy)(s));
}
END_TEST

START_TEST(test_managed_residency_and_hints) {
    CUdeviceptr m;
    OK(F(cuMemAllocManaged)(&m, 1024 * sizeof(float), CU_MEM_ATTACH_GLOBAL));
    unsigned int managed = 0;
    OK(F(cuPointerGetAttribute)(&managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, m));
    ck_assert_uint_eq(managed, 1);
    float v = 1.0f;
    int n = 1024;
    void *params[] = {&m, &v, &n};
    CUfunction fill = fn("fill_f32");
    OK(F(cuLaunchKernel)(fill, 4, 1, 1, 256, 1, 1, 0, NULL, params, NULL));
    ck_assert_int_eq(value("gpu_faults"), 1); // first touch on the GPU
    OK(F(cuLaunchKernel)(fill, 4, 1, 1, 256, 1, 1, 0, NULL, params, NULL));
    ck_assert_int_eq(value("gpu_faults"), 1); // resident now
    CUmemLocation host = {.type = CU_MEM_LOCATION_TYPE_HOST, .id = 0};
    CUmemLocation dev0 = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0};
    OK(F(cuMemPrefetchAsync)(m, 4096, host, 0, NULL));
    ck_assert(((float *)(uintptr_t)m)[5] == 1.0f); // host access to managed memory
    OK(F(cuMemPrefetchAsync)(m, 4096, dev0, 0, NULL));
    OK(F(cuLaunchKernel)(fill, 4, 1, 1, 256, 1, 1, 0, NULL, params, NULL));
    ck_assert_int_eq(value("gpu_faults"), 1); // prefetched: no fault
    OK(F(cuMemAdvise)(m, 4096, CU_MEM_ADVISE_SET_READ_MOSTLY, dev0));
    int rm = 0;
    OK(F(cuMemRangeGetAttribute)(&rm, sizeof rm, CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY, m, 4096));
    ck_assert_int_eq(rm, 1);
    ck_assert_int_eq(value("prefetches"), 2);
    ck_assert_int_eq(value("managed_bytes"), 4096);
    OK(F(cuMemFree)(m));
    ck_assert_int_eq(value("managed_bytes"), 0);
}
END_TEST

START_TEST(test_log_has_one_line_per_call) {
    char path[] = "/tmp/umdouble_logXXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    setenv("UMDOUBLE_LOG", path, 1);
    load();
    init_ctx();
    CUdeviceptr d;
    OK(F(cuMemAlloc)(&d, 4096));
    ck_assert_int_eq(F(cuMemFree)(d + 8), CUDA_ERROR_INVALID_VALUE);
    OK(F(cuMemFree)(d));
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[600];
    int lines = 0, alloc = 0, badfree = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        if (strncmp(line, "cuMemAlloc_v2 bytes=4096 ", 25) == 0 && strstr(line, " rc=0\n")) alloc++;
        if (strncmp(line, "cuMemFree_v2 ", 13) == 0 && strstr(line, " rc=1\n")) badfree++;
    }
    fclose(f);
    unlink(path);
    ck_assert_int_eq(lines, count("*"));
    ck_assert_int_eq(alloc, 1);
    ck_assert_int_eq(badfree, 1);
}
END_TEST

// --- limits ---
START_TEST(test_free_mem_knob_limits_device_allocations) {
    setenv("UMDOUBLE_FREE_MEM", "1M", 1);
    setup();
    size_t fr, total;
    OK(F(cuMemGetInfo)(&fr, &total));
    ck_assert_uint_eq(fr, 1u << 20);
    CUdeviceptr a, b, m;
    OK(F(cuMemAlloc)(&a, 768 << 10));
    OK(F(cuMemGetInfo)(&fr, &total));
    ck_assert_uint_eq(fr, 256u << 10);
    ck_assert_int_eq(F(cuMemAlloc)(&b, 512 << 10), CUDA_ERROR_OUT_OF_MEMORY);
    OK(F(cuMemAllocManaged)(&m, 512 << 10, CU_MEM_ATTACH_GLOBAL)); // managed may oversubscribe
    ck_assert_int_eq(value("managed_peak"), 512 << 10);
    OK(F(cuMemFree)(a));
    OK(F(cuMemFree)(m));
}
END_TEST

START_TEST(test_devices_knob_models_two_devices) {
    setenv("UMDOUBLE_DEVICES", "2", 1);
    setup();
    int n = 0;
    OK(F(cuDeviceGetCount)(&n));
    ck_assert_int_eq(n, 2);
    CUcontext c1;
    OK(F(cuDevicePrimaryCtxRetain)(&c1, 1));
    OK(F(cuCtxPushCurrent)(c1));
    CUdeviceptr d;
    OK(F(cuMemAlloc)(&d, 256));
    int ord = -1;
    OK(F(cuPointerGetAttribute)(&ord, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, d));
    ck_assert_int_eq(ord, 1);
    CUcontext popped;
    OK(F(cuCtxPopCurrent)(&popped));
    ck_assert_ptr_eq(popped, c1);
    CUdevice dev;
    OK(((__typeof__(&cuCtxGetDevice))proc("cuCtxGetDevice", 12000, 0))(&dev)); // 12.x ABI
    ck_assert_int_eq(dev, 0);
}
END_TEST

START_TEST(test_no_managed_knob) {
    setenv("UMDOUBLE_NO_MANAGED", "1", 1);
    setup();
    int v = -1;
    OK(F(cuDeviceGetAttribute)(&v, CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY, 0));
    ck_assert_int_eq(v, 0);
    OK(F(cuDeviceGetAttribute)(&v, CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS, 0));
    ck_assert_int_eq(v, 0);
    CUdeviceptr m;
    ck_assert_int_eq(F(cuMemAllocManaged)(&m, 4096, CU_MEM_ATTACH_GLOBAL), CUDA_ERROR_NOT_SUPPORTED);
}
END_TEST

START_TEST(test_no_paraminfo_knob) {
    setenv("UMDOUBLE_NO_PARAMINFO", "1", 1);
    load();
    void *p = NULL;
    CUdriverProcAddressQueryResult st;
    ck_assert_int_eq(gpa("cuFuncGetParamInfo", &p, 13000, 0, &st), CUDA_ERROR_NOT_FOUND);
    ck_assert_int_eq(st, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
}
END_TEST

static void *worker(void *arg) {
    CUcontext ctx;
    if (F(cuDevicePrimaryCtxRetain)(&ctx, 0) || F(cuCtxSetCurrent)(ctx)) return (void *)1;
    CUfunction fill = fn("fill_f32");
    for (int it = 0; it < 200; it++) {
        CUdeviceptr d;
        float v = (float)(uintptr_t)arg, h[32];
        int n = 32;
        void *params[] = {&d, &v, &n};
        if (F(cuMemAlloc)(&d, sizeof h) || F(cuLaunchKernel)(fill, 1, 1, 1, 32, 1, 1, 0, NULL, params, NULL) ||
            F(cuMemcpyDtoH)(h, d, sizeof h) || F(cuMemFree)(d) || h[31] != v)
            return (void *)1;
    }
    return NULL;
}

START_TEST(test_threads_allocate_launch_concurrently) {
    pthread_t t[8];
    for (uintptr_t i = 0; i < 8; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(t[i], &r);
        ck_assert_ptr_null(r);
    }
    ck_assert_int_eq(count("cuMemAlloc_v2"), 1600);
    ck_assert_int_eq(count("cuLaunchKernel"), 1600);
    ck_assert_int_eq(value("live_allocs"), 0);
}
END_TEST

// --- errors ---
START_TEST(test_free_unknown_and_double_free) {
    CUdeviceptr d;
    OK(F(cuMemAlloc)(&d, 512));
    ck_assert_int_eq(F(cuMemFree)(0xdeadbeef000ull), CUDA_ERROR_INVALID_VALUE);
    ck_assert_int_eq(F(cuMemFree)(d + 4), CUDA_ERROR_INVALID_VALUE);
    OK(F(cuMemFree)(d));
    ck_assert_int_eq(F(cuMemFree)(d), CUDA_ERROR_INVALID_VALUE);
}
END_TEST

START_TEST(test_copy_with_invalid_pointer) {
    CUdeviceptr d;
    char h[1024];
    OK(F(cuMemAlloc)(&d, 512));
    ck_assert_int_eq(F(cuMemcpyHtoD)(0xdeadbeef000ull, h, 16), CUDA_ERROR_INVALID_VALUE);
    ck_assert_int_eq(F(cuMemcpyHtoD)(d, h, 1024), CUDA_ERROR_INVALID_VALUE); // past the end
    ck_assert_int_eq(F(cuMemcpyDtoH)(h, d + 256, 512), CUDA_ERROR_INVALID_VALUE);
    ck_assert_int_eq(F(cuMemsetD8)(d + 500, 0, 64), CUDA_ERROR_INVALID_VALUE);
    OK(F(cuMemFree)(d));
    ck_assert_int_eq(F(cuMemcpyDtoH)(h, d, 16), CUDA_ERROR_INVALID_VALUE); // freed
}
END_TEST

START_TEST(test_calls_before_init_and_without_context) {
    load();
    CUdeviceptr d;
    ck_assert_int_eq(F(cuMemAlloc)(&d, 64), CUDA_ERROR_NOT_INITIALIZED);
    OK(F(cuInit)(0));
    ck_assert_int_eq(F(cuMemAlloc)(&d, 64), CUDA_ERROR_INVALID_CONTEXT);
    int v;
    OK(F(cuDriverGetVersion)(&v));
    ck_assert_int_eq(v, 13000);
}
END_TEST

START_TEST(test_ipc_handle_fails_on_managed) {
    CUdeviceptr d, m;
    CUipcMemHandle h;
    OK(F(cuMemAlloc)(&d, 4096));
    OK(F(cuMemAllocManaged)(&m, 4096, CU_MEM_ATTACH_GLOBAL));
    OK(F(cuIpcGetMemHandle)(&h, d));
    ck_assert_int_eq(F(cuIpcGetMemHandle)(&h, m), CUDA_ERROR_INVALID_VALUE);
}
END_TEST

START_TEST(test_sync_work_during_capture_invalidates_it) {
    CUstream s;
    CUdeviceptr d, m;
    char h[64];
    OK(F(cuStreamCreate)(&s, 0));
    OK(F(cuMemAlloc)(&d, 64));
    OK(F(cuMemAllocManaged)(&m, 64, CU_MEM_ATTACH_GLOBAL));
    OK(F(cuStreamBeginCapture)(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
    ck_assert_int_eq(F(cuMemcpyHtoD)(d, h, 64), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    CUgraph g = (CUgraph)1;
    ck_assert_int_eq(F(cuStreamEndCapture)(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
    ck_assert_ptr_null(g);
    // A prefetch on the capturing stream is refused too (the shim must never insert one).
    OK(F(cuStreamBeginCapture)(s, CU_STREAM_CAPTURE_MODE_RELAXED));
    CUmemLocation dev0 = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0};
    ck_assert_int_eq(F(cuMemPrefetchAsync)(m, 64, dev0, 0, s), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    ck_assert_int_eq(F(cuStreamEndCapture)(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
    // Relaxed capture allows synchronous work elsewhere.
    OK(F(cuStreamBeginCapture)(s, CU_STREAM_CAPTURE_MODE_RELAXED));
    OK(F(cuMemcpyHtoD)(d, h, 64));
    OK(F(cuStreamEndCapture)(s, &g));
    OK(F(cuGraphDestroy)(g));
}
END_TEST

START_TEST(test_pointer_queries_on_unknown_memory) {
    char host[16];
    unsigned int type = 99;
    ck_assert_int_eq(F(cuPointerGetAttribute)(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr)(uintptr_t)host),
                     CUDA_ERROR_INVALID_VALUE);
    CUpointer_attribute at[] = {CU_POINTER_ATTRIBUTE_MEMORY_TYPE, CU_POINTER_ATTRIBUTE_IS_MANAGED};
    unsigned int managed = 7;
    void *data[] = {&type, &managed};
    OK(F(cuPointerGetAttributes)(2, at, data, (CUdeviceptr)(uintptr_t)host));
    ck_assert_uint_eq(type, 0);
    ck_assert_uint_eq(managed, 0);
    CUdeviceptr base;
    ck_assert_int_eq(F(cuMemGetAddressRange)(&base, NULL, (CUdeviceptr)(uintptr_t)host), CUDA_ERROR_NOT_FOUND);
}
END_TEST

START_TEST(test_vmm_map_copy_unmap) {
    CUmemAllocationProp prop = {.type = CU_MEM_ALLOCATION_TYPE_PINNED,
                                .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = 0}};
    size_t gran = 0;
    OK(F(cuMemGetAllocationGranularity)(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
    CUdeviceptr va;
    CUmemGenericAllocationHandle h;
    OK(F(cuMemAddressReserve)(&va, 2 * gran, 0, 0, 0));
    OK(F(cuMemCreate)(&h, gran, &prop, 0));
    OK(F(cuMemMap)(va + gran, gran, 0, h, 0));
    OK(F(cuMemRelease)(h)); // the mapping keeps the memory
    char in[64] = "mapped", out[64];
    ck_assert_int_eq(F(cuMemcpyHtoD)(va, in, sizeof in), CUDA_ERROR_INVALID_VALUE); // reserved, unmapped
    OK(F(cuMemcpyHtoD)(va + gran + 100, in, sizeof in));
    OK(F(cuMemcpyDtoH)(out, va + gran + 100, sizeof out));
    ck_assert_str_eq(out, "mapped");
    ck_assert_int_eq(F(cuMemFree)(va + gran), CUDA_ERROR_INVALID_VALUE); // not cuMemAlloc memory
    OK(F(cuMemUnmap)(va + gran, gran));
    ck_assert_int_eq(F(cuMemcpyDtoH)(out, va + gran, 8), CUDA_ERROR_INVALID_VALUE);
    OK(F(cuMemAddressFree)(va, 2 * gran));
}
END_TEST

static Suite *double_suite(void) {
    Suite *s = suite_create("double");
    TCase *core = tcase_create("core");
    tcase_add_checked_fixture(core, setup, NULL);
    tcase_add_test(core, test_memory_roundtrip_and_memset);
    tcase_add_test(core, test_launch_params_extra_and_paraminfo);
    tcase_add_test(core, test_capture_records_and_graph_replays);
    tcase_add_test(core, test_managed_residency_and_hints);
    tcase_add_test(core, test_vmm_map_copy_unmap);
    suite_add_tcase(s, core);
    TCase *bare = tcase_create("core_unfixtured");
    tcase_add_test(bare, test_procaddress_picks_abi_by_version_and_flags);
    tcase_add_test(bare, test_log_has_one_line_per_call);
    suite_add_tcase(s, bare);
    TCase *limits = tcase_create("limits");
    tcase_add_test(limits, test_free_mem_knob_limits_device_allocations);
    tcase_add_test(limits, test_devices_knob_models_two_devices);
    tcase_add_test(limits, test_no_managed_knob);
    tcase_add_test(limits, test_no_paraminfo_knob);
    suite_add_tcase(s, limits);
    TCase *threads = tcase_create("threads");
    tcase_add_checked_fixture(threads, setup, NULL);
    tcase_add_test(threads, test_threads_allocate_launch_concurrently);
    suite_add_tcase(s, threads);
    TCase *errors = tcase_create("errors");
    tcase_add_checked_fixture(errors, setup, NULL);
    tcase_add_test(errors, test_free_unknown_and_double_free);
    tcase_add_test(errors, test_copy_with_invalid_pointer);
    tcase_add_test(errors, test_ipc_handle_fails_on_managed);
    tcase_add_test(errors, test_sync_work_during_capture_invalidates_it);
    tcase_add_test(errors, test_pointer_queries_on_unknown_memory);
    suite_add_tcase(s, errors);
    TCase *init = tcase_create("errors_unfixtured");
    tcase_add_test(init, test_calls_before_init_and_without_context);
    suite_add_tcase(s, init);
    return s;
}

// Same shape as tests/unit/check_main.h (private to //tests/unit).
int main(void) {
    SRunner *runner = srunner_create(double_suite());
    srunner_set_fork_status(runner, CK_FORK); // knobs are per process: one process per test
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
