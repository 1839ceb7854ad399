// fork() while four threads allocate, copy, launch and free: each child resolves a driver
// entry point through dlsym, allocates, copies, frees and exits. A shim whose locks are left
// held by a parent thread (no fork handler) deadlocks the child; the parent notices with a
// timeout. (Against the real driver a child may not use CUDA; the test double allows it, which
// is what lets this test reach the shim's own locks.)
#include "tests/integration/driver.h"
#include "tests/integration/expect.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

expect_t expect;

static CUcontext ctx;
static CUfunction fill;
static atomic_int stop;

static void *busy(void *arg) {
    CK(drv.cuCtxSetCurrent(ctx));
    float host[1024];
    while (!atomic_load(&stop)) {
        CUdeviceptr d;
        CK(drv.cuMemAlloc(&d, 3 << 20));
        float v = 2.0f;
        int n = 1024;
        void *params[] = {&d, &v, &n};
        CK(drv.cuLaunchKernel(fill, 4, 1, 1, 256, 1, 1, 0, NULL, params, NULL));
        CK(drv.cuMemcpyDtoH(host, d, sizeof host));
        CK(drv.cuMemFree(d));
        if (host[1023] != 2.0f) abort();
    }
    return arg;
}

// The child: through dlsym (the shim's hook) and the table, a small round trip.
static int child(void) {
    void *sym = dlsym(drv.handle, "cuMemAlloc_v2");
    if (!sym) return 10;
    if (drv.cuCtxSetCurrent(ctx) != CUDA_SUCCESS) return 11;
    CUdeviceptr d;
    if (drv.cuMemAlloc(&d, 4096) != CUDA_SUCCESS) return 12;
    char in[64] = "child", out[64] = "";
    if (drv.cuMemcpyHtoD(d, in, sizeof in) || drv.cuMemcpyDtoH(out, d, sizeof out) || drv.cuMemFree(d)) return 13;
    return strcmp(in, out) == 0 ? 0 : 14;
}

int main(void) {
    drv_load();
    CK(drv.cuInit(0));
    CK(drv.cuDevicePrimaryCtxRetain(&ctx, 0));
    CK(drv.cuCtxSetCurrent(ctx));
    CUmodule mod;
    CK(drv.cuModuleLoadData(&mod, "umdouble builtin kernels"));
    CK(drv.cuModuleGetFunction(&fill, mod, "fill_f32"));
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, busy, NULL);
    int ok = 0, hung = 0, bad = 0;
    for (int f = 0; f < 30; f++) {
        pid_t pid = fork();
        if (pid == 0) _exit(child());
        int status = 0;
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
            pid_t r = waitpid(pid, &status, WNOHANG);
            if (r == pid) break;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - t0.tv_sec > 20) { // valgrind is slow; a deadlock is forever
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                hung++;
                status = -1;
                break;
            }
            usleep(1000);
        }
        if (status == 0) ok++;
        else if (status != -1) {
            bad++;
            fprintf(stderr, "child %d: status 0x%x\n", f, status);
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    CK(drv.cuModuleUnload(mod));
    printf("forks %d ok %d hung %d failed %d\n", 30, ok, hung, bad);
    printf("done\n");
    return hung || bad ? 1 : 0;
}
