// Names of the event, memory and direction enums of event.h: one table each, used by the
// trace format (both directions), reports and logs. The tables are indexed by the enum
// value and checked against the enum's COUNT at compile time, so adding an enumerator
// without a name breaks the build instead of printing "?" at run time.
#include "policy/event.h"

#include <string.h>

// --- tables ---

static const char *const ev_kind_names[] = {
    [UM_EV_ALLOC] = "alloc",
    [UM_EV_FREE] = "free",
    [UM_EV_COPY] = "copy",
    [UM_EV_MEMSET] = "memset",
    [UM_EV_LAUNCH] = "launch",
    [UM_EV_SYNC] = "sync",
    [UM_EV_PREFETCH] = "prefetch",
    [UM_EV_ADVISE] = "advise",
    [UM_EV_HOST_ACCESS] = "host_access",
    [UM_EV_FALLBACK] = "fallback",
    [UM_EV_GRAPH] = "graph",
};
_Static_assert(sizeof ev_kind_names / sizeof ev_kind_names[0] == UM_EV_KIND_COUNT,
               "every um_ev_kind_t needs a name");

static const char *const mem_kind_names[] = {
    [UM_MEM_UNKNOWN] = "unknown",
    [UM_MEM_DEVICE] = "device",
    [UM_MEM_MANAGED] = "managed",
    [UM_MEM_HOST] = "host",
    [UM_MEM_POOL] = "pool",
    [UM_MEM_VMM] = "vmm",
    [UM_MEM_PITCH] = "pitch",
};
_Static_assert(sizeof mem_kind_names / sizeof mem_kind_names[0] == UM_MEM_KIND_COUNT,
               "every um_mem_kind_t needs a name");

static const char *const dir_names[] = {
    [UM_DIR_NONE] = "none",
    [UM_DIR_H2D] = "h2d",
    [UM_DIR_D2H] = "d2h",
    [UM_DIR_D2D] = "d2d",
    [UM_DIR_H2H] = "h2h",
    [UM_DIR_PEER] = "peer",
};
_Static_assert(sizeof dir_names / sizeof dir_names[0] == UM_DIR_COUNT,
               "every um_dir_t needs a name");

// --- lookups ---

// Enum values arrive from untrusted places (a corrupt struct, a cast int), so the range
// check is done as unsigned to also catch negative values.
static const char *name_at(const char *const *table, unsigned count, int v) {
    return (unsigned)v < count ? table[v] : "?";
}

static int index_of(const char *const *table, unsigned count, const char *s, size_t len) {
    for (unsigned i = 0; i < count; i++) {
        if (strlen(table[i]) == len && memcmp(table[i], s, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

const char *um_ev_kind_name(um_ev_kind_t k) {
    return name_at(ev_kind_names, UM_EV_KIND_COUNT, (int)k);
}

const char *um_mem_kind_name(um_mem_kind_t k) {
    return name_at(mem_kind_names, UM_MEM_KIND_COUNT, (int)k);
}

const char *um_dir_name(um_dir_t d) {
    return name_at(dir_names, UM_DIR_COUNT, (int)d);
}

int um_ev_kind_from_name(const char *s, size_t len, um_ev_kind_t *out) {
    int i = index_of(ev_kind_names, UM_EV_KIND_COUNT, s, len);
    if (i < 0) {
        return -1;
    }
    *out = (um_ev_kind_t)i;
    return 0;
}

int um_mem_kind_from_name(const char *s, size_t len, um_mem_kind_t *out) {
    int i = index_of(mem_kind_names, UM_MEM_KIND_COUNT, s, len);
    if (i < 0) {
        return -1;
    }
    *out = (um_mem_kind_t)i;
    return 0;
}

int um_dir_from_name(const char *s, size_t len, um_dir_t *out) {
    int i = index_of(dir_names, UM_DIR_COUNT, s, len);
    if (i < 0) {
        return -1;
    }
    *out = (um_dir_t)i;
    return 0;
}
