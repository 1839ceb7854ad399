// The name tables served to dlsym and cuGetProcAddress, generated from hooks.def, plus a
// compile-time check that every wrapper has exactly the driver ABI its row names.
#include "shim/hooks.h"

#include <string.h>

// --- wrapper declarations: a wrapper whose type differs from its PFN fails to compile ---
#define UM_HOOK(sym, base, since, pt, pfn)                                                     \
    extern __typeof__(*(pfn)0) sym __attribute__((visibility("default")));
#include "shim/hooks.def"

static const um_hook_t um_hooks[] = {
#define UM_HOOK(sym, base, since, pt, pfn) {#sym, base, since, pt, UM_ID_##sym, (void *)&sym},
#include "shim/hooks.def"
};

#define UM_NHOOKS ((int)(sizeof um_hooks / sizeof um_hooks[0]))

// Index arrays sorted by symbol and by (base, pt, since); filled by um_hooks_sort().
static unsigned short um_by_sym[UM_NHOOKS];
static unsigned short um_by_base[UM_NHOOKS];
static int um_sorted; // atomic: 1 once both arrays are sorted

int um_hook_count(void) {
    return UM_NHOOKS;
}

const um_hook_t *um_hook_at(int i) {
    return (i >= 0 && i < UM_NHOOKS) ? &um_hooks[i] : NULL;
}

static int cmp_sym(int a, int b) {
    return strcmp(um_hooks[a].sym, um_hooks[b].sym);
}

static int cmp_base(int a, int b) {
    int c = strcmp(um_hooks[a].base, um_hooks[b].base);
    if (c == 0)
        c = um_hooks[a].pt - um_hooks[b].pt;
    if (c == 0)
        c = um_hooks[a].since - um_hooks[b].since;
    return c;
}

// Insertion sort: ~100 rows, no allocation (qsort may malloc), safe in a constructor.
static void sort_index(unsigned short *idx, int (*cmp)(int, int)) {
    for (int i = 0; i < UM_NHOOKS; i++)
        idx[i] = (unsigned short)i;
    for (int i = 1; i < UM_NHOOKS; i++) {
        unsigned short v = idx[i];
        int j = i - 1;
        while (j >= 0 && cmp(idx[j], v) > 0) {
            idx[j + 1] = idx[j];
            j--;
        }
        idx[j + 1] = v;
    }
}

void um_hooks_sort(void) {
    static int busy;
    if (__atomic_load_n(&um_sorted, __ATOMIC_ACQUIRE))
        return;
    if (__atomic_exchange_n(&busy, 1, __ATOMIC_ACQ_REL))
        return; // another thread sorts; callers scan linearly meanwhile
    sort_index(um_by_sym, cmp_sym);
    sort_index(um_by_base, cmp_base);
    __atomic_store_n(&um_sorted, 1, __ATOMIC_RELEASE);
}

// Sorted at load so the first dlsym already gets a bsearch.
__attribute__((constructor)) static void um_hooks_ctor(void) {
    um_hooks_sort();
}

const um_hook_t *um_hook_by_sym(const char *sym) {
    if (sym == NULL || sym[0] != 'c' || sym[1] != 'u')
        return NULL;
    if (!__atomic_load_n(&um_sorted, __ATOMIC_ACQUIRE)) {
        for (int i = 0; i < UM_NHOOKS; i++)
            if (strcmp(um_hooks[i].sym, sym) == 0)
                return &um_hooks[i];
        return NULL;
    }
    int lo = 0, hi = UM_NHOOKS - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(um_hooks[um_by_sym[mid]].sym, sym);
        if (c == 0)
            return &um_hooks[um_by_sym[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

// The newest row among those for (base, pt) with since <= version.
static const um_hook_t *pick(const char *base, int pt, int version) {
    const um_hook_t *best = NULL;
    if (!__atomic_load_n(&um_sorted, __ATOMIC_ACQUIRE)) {
        for (int i = 0; i < UM_NHOOKS; i++) {
            const um_hook_t *h = &um_hooks[i];
            if (h->pt == pt && h->since <= version && strcmp(h->base, base) == 0 &&
                (best == NULL || h->since > best->since))
                best = h;
        }
        return best;
    }
    // lower bound of base in the (base, pt, since) order, then walk that base's rows.
    int lo = 0, hi = UM_NHOOKS;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (strcmp(um_hooks[um_by_base[mid]].base, base) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (int i = lo; i < UM_NHOOKS; i++) {
        const um_hook_t *h = &um_hooks[um_by_base[i]];
        if (strcmp(h->base, base) != 0)
            break;
        if (h->pt == pt && h->since <= version)
            best = h; // ascending since: the last match is the newest
    }
    return best;
}

const um_hook_t *um_hook_for_proc(const char *base, int cuda_version, uint64_t flags) {
    if (base == NULL || base[0] != 'c' || base[1] != 'u')
        return NULL;
    const um_hook_t *h = NULL;
    if (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM)
        h = pick(base, 1, cuda_version);
    if (h == NULL)
        h = pick(base, 0, cuda_version);
    return h;
}
