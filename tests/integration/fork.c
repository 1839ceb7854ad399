// fork() while five threads use the driver: four allocate, launch, copy and free in a loop,
// a fifth uploads a 2 MiB buffer again and again (with UMSHIM_STAGING_THRESHOLD=1M, auto
// mode stages it: pool threads, pinned buffers and the engine's lock are busy). The main
// thread forks 30 times, each time while the uploader is inside its copy when it can; each
// child resolves a driver entry point through dlsym, makes a small round trip and a staged
// 2 MiB one, and leaves through exit(), so the shim's exit handler runs in it. A shim whose
// locks a parent thread left held deadlocks the child; one whose state a parent thread left
// half-updated corrupts it (ASan sees that); one whose exit handler writes the stats file in
// the child clobbers the parent's. The parent notices a child that does not finish and stops
// at the first. (Against the real driver a child may not use CUDA; the test double allows
// it, which is what lets this test reach the shim's own state.)
#include "tests/integration/driver.h"
#include "tests/integration/expect.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

expect_t expect;

#define FORKS 30 // FORK_COUNT=N for fewer (valgrind starts each child: seconds apiece)
#define STAGED_BYTES ((size_t)2 << 20) // with UMSHIM_STAGING_THRESHOLD=1M: staged in auto mode
#define CHILD_LIMIT_S 60               // valgrind on a loaded machine is slow; a deadlock is forever
#define FORK_LIMIT_S 120               // fork() itself: the prepare handlers take locks

// --- the allocator under ASan ---
#if defined(__SANITIZE_ADDRESS__)
// GCC 12's AddressSanitizer allocator has its own locks and, unlike glibc's malloc, does not
// hold them across fork() (LLVM's ASan does since release 18, llvm-project#75290): a child
// forked while a parent thread was inside malloc or free waits forever on ASan's lock. The
// shim and the test double allocate in the child, as programs do with glibc. So under ASan
// this program gives the allocator what glibc's has: one lock around every allocator call,
// taken after every other prepare handler (registered first, so it runs last) and released
// after fork() on both sides. Without ASan, glibc (or valgrind's allocator) is used as is.
void *__interceptor_malloc(size_t n);
void *__interceptor_calloc(size_t n, size_t size);
void *__interceptor_realloc(void *p, size_t n);
void *__interceptor_reallocarray(void *p, size_t n, size_t size);
void __interceptor_free(void *p);
int __interceptor_posix_memalign(void **p, size_t align, size_t n);
void *__interceptor_aligned_alloc(size_t align, size_t n);
void *__interceptor_memalign(size_t align, size_t n);
void *__interceptor_valloc(size_t n);

// A spin lock: ASan intercepts pthread_mutex_lock, and the allocator is called before that
// interceptor is ready (ASan's own start-up calls malloc through dlsym).
static atomic_flag alloc_lock = ATOMIC_FLAG_INIT;
static void alloc_lock_take(void) {
    while (atomic_flag_test_and_set_explicit(&alloc_lock, memory_order_acquire)) sched_yield();
}
static void alloc_lock_drop(void) { atomic_flag_clear_explicit(&alloc_lock, memory_order_release); }
#define ALLOC_LOCKED(type, call)                                                                   \
    {                                                                                              \
        alloc_lock_take();                                                                         \
        type r_ = call;                                                                            \
        alloc_lock_drop();                                                                         \
        return r_;                                                                                 \
    }
void *malloc(size_t n) ALLOC_LOCKED(void *, __interceptor_malloc(n))
void *calloc(size_t n, size_t size) ALLOC_LOCKED(void *, __interceptor_calloc(n, size))
void *realloc(void *p, size_t n) ALLOC_LOCKED(void *, __interceptor_realloc(p, n))
void *reallocarray(void *p, size_t n, size_t size) ALLOC_LOCKED(void *, __interceptor_reallocarray(p, n, size))
int posix_memalign(void **p, size_t align, size_t n) ALLOC_LOCKED(int, __interceptor_posix_memalign(p, align, n))
void *aligned_alloc(size_t align, size_t n) ALLOC_LOCKED(void *, __interceptor_aligned_alloc(align, n))
void *memalign(size_t align, size_t n) ALLOC_LOCKED(void *, __interceptor_memalign(align, n))
void *valloc(size_t n) ALLOC_LOCKED(void *, __interceptor_valloc(n))
void free(void *p) {
    alloc_lock_take();
    __interceptor_free(p);
    alloc_lock_drop();
}
static void alloc_fork_safe(void) { pthread_atfork(alloc_lock_take, alloc_lock_drop, alloc_lock_drop); }
// LeakSanitizer counts what the dynamic loader allocates (dlopen's dependency lists) as
// reachable, recognising it by malloc's caller, which is now the wrapper above.
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:_dl_map_object_deps\n"; }
#else
static void alloc_fork_safe(void) {}
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CHILD_EXIT _exit // LeakSanitizer at a child's exit() would miss the parent threads' stacks
#else
#define CHILD_EXIT exit // runs the shim's exit handler in the child, as many programs do
#endif

static CUcontext ctx;
static CUfunction fill;
static atomic_int stop;
static atomic_int in_copy;      // the uploader is inside cuMemcpyHtoD
static atomic_long uploads;     // finished uploads
static int fork_at;             // the fork in progress, for the watchdog's message

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

// Fills buf with a pattern that depends on `seed`; 0 when buf holds it.
static int pattern(unsigned *buf, size_t bytes, unsigned seed, int check) {
    for (size_t i = 0; i < bytes / sizeof *buf; i += 1021) {
        unsigned want = (unsigned)i * 2654435761u + seed;
        if (!check) buf[i] = want;
        else if (buf[i] != want) return 1;
    }
    return 0;
}

static void *uploader(void *arg) {
    CK(drv.cuCtxSetCurrent(ctx));
    CUdeviceptr d;
    CK(drv.cuMemAlloc(&d, STAGED_BYTES));
    unsigned *host = calloc(1, STAGED_BYTES), *back = calloc(1, STAGED_BYTES);
    if (!host || !back) abort();
    for (unsigned seed = 1; !atomic_load(&stop); seed++) {
        pattern(host, STAGED_BYTES, seed, 0);
        atomic_store(&in_copy, 1);
        CK(drv.cuMemcpyHtoD(d, host, STAGED_BYTES));
        atomic_store(&in_copy, 0);
        CK(drv.cuMemcpyDtoH(back, d, STAGED_BYTES));
        if (pattern(back, STAGED_BYTES, seed, 1)) abort();
        atomic_fetch_add(&uploads, 1);
    }
    CK(drv.cuMemFree(d));
    free(host);
    free(back);
    return arg;
}

// The child: through dlsym (the shim's hook) and the table, a small and a staged round trip.
static int child(void) {
    void *sym = dlsym(drv.handle, "cuMemAlloc_v2");
    if (!sym) return 10;
    if (drv.cuCtxSetCurrent(ctx) != CUDA_SUCCESS) return 11;
    CUdeviceptr d;
    if (drv.cuMemAlloc(&d, 4096) != CUDA_SUCCESS) return 12;
    char in[64] = "child", out[64] = "";
    if (drv.cuMemcpyHtoD(d, in, sizeof in) || drv.cuMemcpyDtoH(out, d, sizeof out) || drv.cuMemFree(d)) return 13;
    if (strcmp(in, out) != 0) return 14;
    unsigned *host = calloc(1, STAGED_BYTES), *back = calloc(1, STAGED_BYTES);
    if (!host || !back) return 15;
    pattern(host, STAGED_BYTES, 7, 0);
    if (drv.cuMemAlloc(&d, STAGED_BYTES) != CUDA_SUCCESS) return 16;
    if (drv.cuMemcpyHtoD(d, host, STAGED_BYTES) || drv.cuMemcpyDtoH(back, d, STAGED_BYTES) || drv.cuMemFree(d))
        return 17;
    return pattern(back, STAGED_BYTES, 7, 1) ? 18 : 0;
}

static double since(const struct timespec *t0) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

// A fork() that never returns is a deadlock in a prepare handler: say so instead of
// leaving the test to its runner's timeout.
static void watchdog(int sig) {
    (void)sig;
    char msg[96];
    int n = snprintf(msg, sizeof msg, "fork %d: fork() did not return in %d s (prepare handler deadlock)\n",
                     fork_at, FORK_LIMIT_S);
    ssize_t w = write(2, msg, (size_t)n);
    (void)w;
    _exit(3);
}

int main(void) {
    alloc_fork_safe(); // first registered: its prepare handler runs after the shim's and the double's
    signal(SIGALRM, watchdog);
    CUmodule mod = drv_start(&ctx);
    CK(drv.cuModuleGetFunction(&fill, mod, "fill_f32"));
    pthread_t th[5];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, busy, NULL);
    pthread_create(&th[4], NULL, uploader, NULL);
    while (atomic_load(&uploads) == 0) usleep(1000); // the staging pool has started
    int ok = 0, hung = 0, bad = 0, during = 0;
    const char *count = getenv("FORK_COUNT");
    int forks = count && atoi(count) > 0 && atoi(count) < FORKS ? atoi(count) : FORKS;
    for (int f = 0; f < forks && !hung; f++) {
        // Fork while the uploader is inside its copy, if that happens within 200 ms.
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (!atomic_load(&in_copy) && since(&t0) < 0.2) sched_yield();
        fork_at = f;
        alarm(FORK_LIMIT_S);
        during += atomic_load(&in_copy);
        pid_t pid = fork();
        if (pid == 0) CHILD_EXIT(child());
        alarm(0);
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        int status = 0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
            pid_t r = waitpid(pid, &status, WNOHANG);
            if (r == pid) break;
            if (since(&t0) > CHILD_LIMIT_S) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                hung++;
                fprintf(stderr, "child %d: did not finish in %d s (deadlocked); no more forks\n", f, CHILD_LIMIT_S);
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
    for (int i = 0; i < 5; i++) pthread_join(th[i], NULL);
    CK(drv.cuModuleUnload(mod));
    // The children exited through the shim's exit handler: the stats file is still the
    // parent's to write (a child's counters are a stale copy of the parent's).
    const char *stats = getenv("UMSHIM_STATS");
    if (stats && *stats && access(stats, F_OK) == 0) {
        fprintf(stderr, "a fork child wrote UMSHIM_STATS=%s\n", stats);
        bad++;
    }
    fprintf(stderr, "forks while the uploader was inside cuMemcpyHtoD: %d; uploads %ld\n", during,
            atomic_load(&uploads));
    printf("forks %d ok %d hung %d failed %d\n", forks, ok, hung, bad);
    printf("done\n");
    return hung || bad ? 1 : 0;
}
