// The shim's one log sink: `umshim: <level>: message` on stderr, formatted into a stack
// buffer (no malloc, no stdio), rate-limited, with a per-thread recursion guard.
#ifndef UMSHIM_SHIM_LOG_H
#define UMSHIM_SHIM_LOG_H

typedef enum { UM_LOG_ERROR = 0, UM_LOG_WARNING, UM_LOG_INFO, UM_LOG_DEBUG } um_log_level_t;

// Messages above this level are dropped (UMSHIM_LOG; warning until options are read).
void um_log_set_level(int level);
int um_log_enabled(int level);

void um_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Lines written since start (for tests).
unsigned long um_log_lines(void);

#define UM_ERROR(...) do { um_log(UM_LOG_ERROR, __VA_ARGS__); } while (0)
#define UM_WARN(...) do { um_log(UM_LOG_WARNING, __VA_ARGS__); } while (0)
#define UM_INFO(...) do { if (um_log_enabled(UM_LOG_INFO)) um_log(UM_LOG_INFO, __VA_ARGS__); } while (0)
#define UM_DEBUG(...) do { if (um_log_enabled(UM_LOG_DEBUG)) um_log(UM_LOG_DEBUG, __VA_ARGS__); } while (0)

// Logs once per call site for the life of the process.
#define UM_LOG_ONCE(level, ...)                                                                  \
    do {                                                                                         \
        static int um_once_;                                                                     \
        if (!__atomic_exchange_n(&um_once_, 1, __ATOMIC_RELAXED))                                \
            um_log(level, __VA_ARGS__);                                                          \
    } while (0)

#endif
