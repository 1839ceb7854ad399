// The pthread_atfork trio of a module whose state one mutex guards. entry.c's prepare
// handler takes every shim lock before fork(), so the child never inherits half-updated
// state; the parent then releases it, and the child makes it anew rather than unlocking it
// (its waiters were parent threads that do not exist there).
//   UM_FORK_MUTEX(um_dec, um_dec_lock)
// defines um_dec_atfork_prepare, um_dec_atfork_parent and um_dec_atfork_child.
#ifndef UMSHIM_SHIM_FORKLOCK_H
#define UMSHIM_SHIM_FORKLOCK_H

#include <pthread.h>
#include <string.h>

static inline void um_mutex_renew(pthread_mutex_t *m) {
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    memcpy(m, &fresh, sizeof fresh);
}

#define UM_FORK_MUTEX(prefix, lock)                                                                \
    void prefix##_atfork_prepare(void) {                                                           \
        pthread_mutex_lock(&lock);                                                                 \
    }                                                                                              \
    void prefix##_atfork_parent(void) {                                                            \
        pthread_mutex_unlock(&lock);                                                               \
    }                                                                                              \
    void prefix##_atfork_child(void) {                                                             \
        um_mutex_renew(&lock);                                                                     \
    }

#endif
