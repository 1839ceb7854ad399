// Logging (log.h), modelled on mimalloc's _mi_warning_message: one sink, a stack buffer,
// write(2) straight to stderr so a log line never allocates or takes stdio's lock (the
// shim logs from inside driver calls, at exit, and in fork children).
#include "shim/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define UM_LOG_MAX_LINES 1000 // then one "suppressed" line: a broken loop must not flood

static int um_log_level = UM_LOG_WARNING;
static unsigned long um_log_count;
static __thread int um_log_busy;

static const char *const um_level_names[] = {"error", "warning", "info", "debug"};

void um_log_set_level(int level) {
    __atomic_store_n(&um_log_level, level, __ATOMIC_RELAXED);
}

int um_log_enabled(int level) {
    return level <= __atomic_load_n(&um_log_level, __ATOMIC_RELAXED);
}

unsigned long um_log_lines(void) {
    return __atomic_load_n(&um_log_count, __ATOMIC_RELAXED);
}

void um_log(int level, const char *fmt, ...) {
    if (level < 0 || level > UM_LOG_DEBUG || !um_log_enabled(level) || um_log_busy)
        return;
    um_log_busy = 1;
    unsigned long n = __atomic_fetch_add(&um_log_count, 1, __ATOMIC_RELAXED);
    if (n < UM_LOG_MAX_LINES) {
        char buf[1024];
        int off = snprintf(buf, sizeof buf, "umshim: %s: ", um_level_names[level]);
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(buf + off, sizeof buf - (size_t)off - 1, fmt, ap);
        va_end(ap);
        size_t len = (size_t)off + (m < 0 ? 0 : (size_t)m);
        if (len > sizeof buf - 2)
            len = sizeof buf - 2;
        buf[len++] = '\n';
        ssize_t w = write(2, buf, len);
        (void)w;
    } else if (n == UM_LOG_MAX_LINES) {
        static const char msg[] = "umshim: warning: further log messages suppressed\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
    }
    um_log_busy = 0;
}
