// The real driver: one typed function pointer per hooks.def row, filled from libcuda.so.1
// with the real dlsym (never the shim's own). Wrappers call the driver only through it, so
// a test can point it at the driver test double.
#ifndef UMSHIM_SHIM_REAL_H
#define UMSHIM_SHIM_REAL_H

#include <stddef.h>

#include "shim/cuda_api.h"

typedef struct {
#define UM_HOOK(sym, base, since, pt, pfn) pfn sym;
#define UM_REAL(sym, pfn) pfn sym;
#include "shim/hooks.def"
} um_real_t;

// Row ids over every hooks.def row (hooked rows first are not guaranteed: use the enum).
typedef enum {
#define UM_HOOK(sym, base, since, pt, pfn) UM_ID_##sym,
#define UM_REAL(sym, pfn) UM_ID_##sym,
#include "shim/hooks.def"
    UM_ID_COUNT
} um_id_t;

extern um_real_t um_real;

typedef void *(*um_dlsym_fn)(void *handle, const char *name);

// The slot of row `id` in um_real (as a generic pointer), and its symbol name.
void **um_real_slot(um_id_t id);
const char *um_real_name(um_id_t id);

// Fills every empty slot from `handle` through `lookup`. Returns how many slots are filled.
int um_real_load(void *handle, um_dlsym_fn lookup);

// Stores `fn` into row `id` if that slot is still empty (dlsym and cuGetProcAddress learn
// real pointers this way before the shim has initialised).
void um_real_offer(um_id_t id, void *fn);

#endif
