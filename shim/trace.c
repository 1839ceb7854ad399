// The trace writer and event delivery (trace.h). Lines are formatted by the policy owner's
// um_trace_format_line into a stack buffer and written with one write(2) under a mutex, so
// concurrent threads never interleave within a line and nothing allocates.
#include "shim/trace.h"

#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "policy/trace_format.h"
#include "shim/decide.h"
#include "shim/forklock.h"
#include "shim/log.h"

static int um_trace_fd = -1;
static pthread_mutex_t um_trace_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread uint32_t um_tid;

uint64_t um_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void um_strcpy(char *dst, size_t n, const char *src) {
    if (n == 0)
        return;
    size_t len = src ? strnlen(src, n - 1) : 0;
    if (len)
        memcpy(dst, src, len);
    dst[len] = 0;
}

int um_trace_open(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0644);
    if (fd < 0) {
        UM_WARN("UMSHIM_TRACE=%s cannot be opened; tracing is off", path);
        return -1;
    }
    ssize_t w = write(fd, UM_TRACE_HEADER, sizeof UM_TRACE_HEADER - 1);
    (void)w;
    __atomic_store_n(&um_trace_fd, fd, __ATOMIC_RELAXED);
    return 0;
}

void um_trace_close(void) {
    pthread_mutex_lock(&um_trace_lock);
    if (um_trace_fd >= 0)
        close(um_trace_fd);
    // Atomic: threads still running at exit test it without the lock (um_trace_write).
    __atomic_store_n(&um_trace_fd, -1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&um_trace_lock);
}

// fork (entry.c): held across fork() so no line is half-written into the child's view.
void um_trace_atfork_prepare(void) {
    pthread_mutex_lock(&um_trace_lock);
}

void um_trace_atfork_parent(void) {
    pthread_mutex_unlock(&um_trace_lock);
}

void um_trace_atfork_child(void) {
    um_mutex_renew(&um_trace_lock);
    um_tid = 0; // the child thread has a new tid
}

void um_ev_init(um_event_t *ev, um_ev_kind_t kind, const char *api) {
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    ev->t_ns = um_now_ns();
    if (um_tid == 0)
        um_tid = (uint32_t)syscall(SYS_gettid);
    ev->tid = um_tid;
    ev->device = -1;
    if (api != NULL) {
        size_t n = strlen(api);
        if (n >= sizeof ev->name)
            n = sizeof ev->name - 1;
        memcpy(ev->name, api, n);
    }
}

void um_trace_write(const um_event_t *ev) {
    char line[UM_TRACE_LINE_MAX];
    if (__atomic_load_n(&um_trace_fd, __ATOMIC_RELAXED) < 0)
        return;
    int n = um_trace_format_line(ev, line, sizeof line);
    if (n <= 0) {
        UM_LOG_ONCE(UM_LOG_WARNING, "an event could not be formatted for the trace (kind %d)",
                    (int)ev->kind);
        return;
    }
    pthread_mutex_lock(&um_trace_lock);
    if (um_trace_fd >= 0) {
        ssize_t w = write(um_trace_fd, line, (size_t)n);
        (void)w;
    }
    pthread_mutex_unlock(&um_trace_lock);
}

void um_emit(um_event_t *ev) {
    um_dec_observe(ev);
    um_trace_write(ev);
}
