// The unified buffer's one decision, managed or pinned, kept free of CUDA so that the CPU
// tests cover it (unified_buffer.c asks the device, then calls this).
#include "kernels/unified_buffer.h"

#include <string.h>

// --- choice ---
um_ub_kind_t um_ub_choose_kind(int concurrent_managed_access, unsigned flags, const char *env_value,
                               size_t bytes) {
    if (flags & UM_UB_FORCE_PINNED) return UM_UB_PINNED;
    if (env_value && (!strcmp(env_value, "1") || !strcmp(env_value, "true") || !strcmp(env_value, "yes")))
        return UM_UB_PINNED;
    if (bytes < UM_UB_SMALL_BYTES && !(flags & UM_UB_ALLOW_SMALL_MANAGED)) return UM_UB_PINNED;
    // Without concurrent managed access (pre-Pascal, Windows, some virtualised GPUs) every
    // CPU touch after a launch faults whole allocations back: explicit copies win there.
    return concurrent_managed_access ? UM_UB_MANAGED : UM_UB_PINNED;
}

const char *um_ub_kind_name(um_ub_kind_t k) {
    return k == UM_UB_MANAGED ? "managed" : k == UM_UB_PINNED ? "pinned" : "none";
}
