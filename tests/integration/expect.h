// What a program made, counted by the program itself, so the test can compare it with the
// shim's passthrough trace (tests/integration/trace_check.c). Only successful calls count.
#ifndef UMSHIM_TESTS_INTEGRATION_EXPECT_H
#define UMSHIM_TESTS_INTEGRATION_EXPECT_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

// EXPECT_KEYS(X): the keys of the expect file, in the order trace_check prints them.
#define EXPECT_KEYS(X)                                                                             \
    X(alloc) X(free) X(copy_h2d) X(bytes_h2d) X(copy_d2h) X(bytes_d2h) X(copy_d2d) X(bytes_d2d)   \
    X(memset) X(launch) X(graph)

typedef struct {
#define EXPECT_FIELD(k) atomic_llong k;
    EXPECT_KEYS(EXPECT_FIELD)
#undef EXPECT_FIELD
} expect_t;

extern expect_t expect;

// Writes `key value` lines to $WORKLOAD_EXPECT, when set.
static inline void expect_write(void) {
    const char *path = getenv("WORKLOAD_EXPECT");
    if (!path || !*path) return;
    FILE *f = fopen(path, "w");
    if (!f) return;
#define EXPECT_PRINT(k) fprintf(f, "%s %lld\n", #k, (long long)atomic_load(&expect.k));
    EXPECT_KEYS(EXPECT_PRINT)
#undef EXPECT_PRINT
    fclose(f);
}

#endif
