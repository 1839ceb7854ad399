// trace_check TRACE EXPECT: parses a umshim trace through policy/trace_format.h and compares
// what it records with what the program says it made (expect.h's `key value` file). Counts
// only events whose call succeeded (res absent or 0). Prints one line per key
// (`key trace=N expected=M`) and exits 1 on any difference, a malformed line or a missing
// header -- so a lost or duplicated event fails the test.
#include "policy/event.h"
#include "policy/trace_format.h"
#include "tests/integration/expect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

expect_t expect; // unused here; expect.h declares it for the programs

typedef struct {
#define F(k) long long k;
    EXPECT_KEYS(F)
#undef F
} counts_t;

static int load_expect(const char *path, counts_t *c) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "trace_check: cannot open %s\n", path);
        return -1;
    }
    char key[64];
    long long v;
    while (fscanf(f, "%63s %lld", key, &v) == 2) {
#define F(k) if (strcmp(key, #k) == 0) c->k = v;
        EXPECT_KEYS(F)
#undef F
    }
    fclose(f);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: trace_check TRACE EXPECT\n");
        return 2;
    }
    counts_t want = {0}, got = {0};
    if (load_expect(argv[2], &want) != 0) return 2;
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        fprintf(stderr, "trace_check: cannot open trace %s\n", argv[1]);
        return 1;
    }
    static char line[UM_TRACE_LINE_MAX * 2];
    static um_event_t ev;
    char err[256];
    int lineno = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (lineno == 1 && !um_trace_is_header(line)) {
            fprintf(stderr, "%s:1: missing header '%s'\n", argv[1], "# umshim trace v1");
            bad = 1;
        }
        int r = um_trace_parse_line(line, &ev, err, sizeof err);
        if (r < 0) {
            fprintf(stderr, "%s:%d: %s\n", argv[1], lineno, err);
            bad = 1;
            continue;
        }
        if (r > 0 || ev.result != 0) continue;
        switch (ev.kind) {
        case UM_EV_ALLOC: got.alloc++; break;
        case UM_EV_FREE: got.free++; break;
        case UM_EV_MEMSET: got.memset++; break;
        case UM_EV_LAUNCH: got.launch++; break;
        case UM_EV_GRAPH: got.graph++; break;
        case UM_EV_COPY:
            if (ev.dir == UM_DIR_H2D) got.copy_h2d++, got.bytes_h2d += (long long)ev.bytes;
            else if (ev.dir == UM_DIR_D2H) got.copy_d2h++, got.bytes_d2h += (long long)ev.bytes;
            else if (ev.dir == UM_DIR_D2D) got.copy_d2d++, got.bytes_d2d += (long long)ev.bytes;
            break;
        default: break;
        }
    }
    fclose(f);
    if (lineno == 0) {
        fprintf(stderr, "%s: empty trace\n", argv[1]);
        bad = 1;
    }
#define F(k)                                                                                       \
    printf("%-10s trace=%-10lld expected=%-10lld%s\n", #k, got.k, want.k, got.k == want.k ? "" : "  MISMATCH"); \
    if (got.k != want.k) bad = 1;
    EXPECT_KEYS(F)
#undef F
    return bad;
}
