// libFuzzer target: the stats-file parser behind `umshim ab` (tools/ab.h). Beyond "no crash":
// it returns 0 or -1, an error always carries a "line N: " message, and what parses is sane
// (a terminated mode, every numeric key missing, "na" or a finite non-negative number).
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/ab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 16383) {
        return 0; // um_ab_read_stats reads at most this much of a file
    }
    char *text = malloc(size + 1);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    um_ab_stats_t st;
    char err[128]; // the size um_ab_read_stats gives it
    err[0] = '\0';
    int rc = um_ab_parse_stats(text, &st, err, sizeof err);
    free(text);
    if (rc == -1) {
        if (strncmp(err, "line ", 5) != 0) {
            abort(); // every error says where
        }
        return 0;
    }
    if (rc != 0 || memchr(st.mode, '\0', sizeof st.mode) == NULL) {
        abort();
    }
    for (int k = 0; k < UM_AB_NKEYS; k++) {
        if (st.have[k] > UM_AB_NA ||
            (st.have[k] == UM_AB_VALUE && (!isfinite(st.v[k]) || st.v[k] < 0))) {
            abort();
        }
    }
    if (st.have_hash != 0 && st.have_hash != 1) {
        abort();
    }
    return 0;
}
