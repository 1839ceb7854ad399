// The real driver table (real.h): filled once at initialisation from the libcuda.so.1 the
// process uses, and topped up by dlsym / cuGetProcAddress answers seen before that.
#include "shim/real.h"

#include <stdint.h>

um_real_t um_real;

// --- row metadata generated from hooks.def ---
static const size_t um_real_offsets[UM_ID_COUNT] = {
#define UM_HOOK(sym, base, since, pt, pfn) offsetof(um_real_t, sym),
#define UM_REAL(sym, pfn) offsetof(um_real_t, sym),
#include "shim/hooks.def"
};

static const char *const um_real_names[UM_ID_COUNT] = {
#define UM_HOOK(sym, base, since, pt, pfn) #sym,
#define UM_REAL(sym, pfn) #sym,
#include "shim/hooks.def"
};

void **um_real_slot(um_id_t id) {
    return (void **)((char *)&um_real + um_real_offsets[id]);
}

const char *um_real_name(um_id_t id) {
    return (unsigned)id < UM_ID_COUNT ? um_real_names[id] : "?";
}

void um_real_offer(um_id_t id, void *fn) {
    if ((unsigned)id >= UM_ID_COUNT || fn == NULL)
        return;
    void *expected = NULL;
    // Benign race: every thread offers the same driver address for the same row.
    __atomic_compare_exchange_n(um_real_slot(id), &expected, fn, 0, __ATOMIC_RELEASE,
                                __ATOMIC_RELAXED);
}

int um_real_load(void *handle, um_dlsym_fn lookup) {
    int filled = 0;
    for (int i = 0; i < UM_ID_COUNT; i++) {
        void **slot = um_real_slot((um_id_t)i);
        if (__atomic_load_n(slot, __ATOMIC_ACQUIRE) == NULL && handle != NULL && lookup != NULL)
            um_real_offer((um_id_t)i, lookup(handle, um_real_names[i]));
        if (__atomic_load_n(slot, __ATOMIC_ACQUIRE) != NULL)
            filled++;
    }
    return filled;
}
