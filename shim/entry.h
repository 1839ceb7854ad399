// What every wrapper needs from the entry layer: the once-only initialisation, the
// thread-local re-entry guard, the process configuration derived from the options, and
// the export macro.
#ifndef UMSHIM_SHIM_ENTRY_H
#define UMSHIM_SHIM_ENTRY_H

#include "policy/policy.h"
#include "shim/hooks.h"
#include "shim/real.h"

#define UM_EXPORT __attribute__((visibility("default")))

typedef struct {
    um_mode_t mode;
    int trace;   // UMSHIM_TRACE set and open
    int events;  // someone consumes events (trace, or the policy engine learns)
    int hash;    // UMSHIM_HASH
    int staging; // staging engine configured and on
    int fast;    // passthrough with nothing to record beyond the registry and counters
} um_cfg_t;

extern um_cfg_t um_cfg;

// 1: the caller runs the shim's logic (and must call um_leave); 0: call the real function
// directly (re-entered from inside the shim, or initialisation failed / in progress).
int um_enter(void);
void um_leave(void);
// Whether this thread is inside the shim (for helpers that may be called either way).
int um_busy(void);

// Forces initialisation (tests, the command line); returns 0 when the shim is active.
int um_init(void);

// Called by the cuInit wrapper after the driver initialised (starts CUPTI when asked).
void um_entry_after_cuinit(void);

// The hooks.def row whose ABI the driver's cuGetProcAddress(symbol, version, flags) answer `fn`
// has, or NULL when no row matches it (the caller must then get `fn` itself, unwrapped).
const um_hook_t *um_entry_proc_row(const char *symbol, void *fn, int version, uint64_t flags);

// The real dlsym (glibc's), resolved with dlvsym.
void *um_real_dlsym(void *handle, const char *name);

// Calls the real function of a wrapper when the shim does not handle the call.
#define UM_REAL_CALL(sym, ...) (um_real.sym ? um_real.sym(__VA_ARGS__) : CUDA_ERROR_NOT_INITIALIZED)

// Wrapper prologue/epilogue:  UM_BEGIN(sym, args...); ... UM_END(expr);
#define UM_BEGIN(sym, ...)                                                                       \
    do {                                                                                         \
        if (!um_enter())                                                                         \
            return UM_REAL_CALL(sym, __VA_ARGS__);                                               \
    } while (0)
#define UM_END(expr)                                                                             \
    do {                                                                                         \
        CUresult um_r_ = (expr);                                                                 \
        um_leave();                                                                              \
        return um_r_;                                                                            \
    } while (0)

#endif
