// The allocation registry (registry.h): records live on the heap, indexed by a sorted array
// of pointers (by base), searched with binary search under a reader-writer lock. Inserts
// and removals memmove pointers only, so tens of thousands of live allocations stay cheap.
#include "shim/registry.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_rwlock_t um_reg_lock = PTHREAD_RWLOCK_INITIALIZER;
static um_rec_t **um_recs;
static size_t um_nrecs, um_caprecs;
static uint64_t um_next_id = 1;

void um_reg_init(void) {
}

// fork (entry.c): the forking thread holds the lock across fork(), so the child's copy of
// the index is never half-updated (a record freed but still indexed, a count not yet moved).
void um_reg_atfork_prepare(void) {
    pthread_rwlock_wrlock(&um_reg_lock);
}

void um_reg_atfork_parent(void) {
    pthread_rwlock_unlock(&um_reg_lock);
}

void um_reg_atfork_child(void) {
    // Made anew rather than unlocked: the lock records its writer's thread id, and the
    // child's only thread has a new one.
    pthread_rwlock_t fresh = PTHREAD_RWLOCK_INITIALIZER;
    memcpy(&um_reg_lock, &fresh, sizeof fresh);
}

static uint64_t rec_end(const um_rec_t *r) {
    return r->base + (r->size ? r->size : 1);
}

// First index whose base is > addr.
static size_t upper(uint64_t addr) {
    size_t lo = 0, hi = um_nrecs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (um_recs[mid]->base <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void drop_at(size_t i) {
    free(um_recs[i]);
    memmove(&um_recs[i], &um_recs[i + 1], (um_nrecs - i - 1) * sizeof *um_recs);
    um_nrecs--;
}

uint64_t um_reg_insert(const um_rec_t *rec) {
    um_rec_t *r = malloc(sizeof *r);
    if (r == NULL)
        return 0;
    *r = *rec;
    pthread_rwlock_wrlock(&um_reg_lock);
    if (um_nrecs == um_caprecs) {
        size_t cap = um_caprecs ? um_caprecs * 2 : 256;
        um_rec_t **n = realloc(um_recs, cap * sizeof *n);
        if (n == NULL) {
            pthread_rwlock_unlock(&um_reg_lock);
            free(r);
            return 0;
        }
        um_recs = n;
        um_caprecs = cap;
    }
    r->id = um_next_id++;
    size_t i = upper(r->base);
    // Drop stale records overlapping [base, end).
    while (i > 0 && rec_end(um_recs[i - 1]) > r->base) {
        drop_at(i - 1);
        i--;
    }
    while (i < um_nrecs && um_recs[i]->base < rec_end(r))
        drop_at(i);
    memmove(&um_recs[i + 1], &um_recs[i], (um_nrecs - i) * sizeof *um_recs);
    um_recs[i] = r;
    um_nrecs++;
    uint64_t id = r->id;
    pthread_rwlock_unlock(&um_reg_lock);
    return id;
}

int um_reg_find(uint64_t addr, um_rec_t *out) {
    int found = 0;
    pthread_rwlock_rdlock(&um_reg_lock);
    size_t i = upper(addr);
    if (i > 0 && addr < rec_end(um_recs[i - 1])) {
        found = 1;
        if (out != NULL)
            *out = *um_recs[i - 1];
    }
    pthread_rwlock_unlock(&um_reg_lock);
    return found;
}

int um_reg_remove(uint64_t base, uint64_t id, um_rec_t *out) {
    int found = 0;
    pthread_rwlock_wrlock(&um_reg_lock);
    size_t i = upper(base);
    if (i > 0 && um_recs[i - 1]->base == base && (id == 0 || um_recs[i - 1]->id == id)) {
        found = 1;
        if (out != NULL)
            *out = *um_recs[i - 1];
        drop_at(i - 1);
    }
    pthread_rwlock_unlock(&um_reg_lock);
    return found;
}

int um_reg_update(uint64_t base, uint64_t id, int (*fn)(um_rec_t *rec, void *arg), void *arg) {
    int rc = -1;
    pthread_rwlock_wrlock(&um_reg_lock);
    size_t i = upper(base);
    if (i > 0 && um_recs[i - 1]->base == base && um_recs[i - 1]->id == id)
        rc = fn(um_recs[i - 1], arg);
    pthread_rwlock_unlock(&um_reg_lock);
    return rc;
}

void um_reg_foreach(void (*fn)(um_rec_t *rec, void *arg), void *arg) {
    pthread_rwlock_wrlock(&um_reg_lock);
    for (size_t i = 0; i < um_nrecs; i++)
        fn(um_recs[i], arg);
    pthread_rwlock_unlock(&um_reg_lock);
}

uint64_t um_reg_count(void) {
    pthread_rwlock_rdlock(&um_reg_lock);
    uint64_t n = um_nrecs;
    pthread_rwlock_unlock(&um_reg_lock);
    return n;
}
