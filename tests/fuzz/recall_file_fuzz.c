// libFuzzer target: the recall dataset reader (kernels/recall_data.h). The input is the whole
// file: it is written to a temporary file (the reader takes a path) and read back. Beyond "no
// crash, no leak", the reader must accept exactly the files the documented format allows
// (checked here from the bytes: header, limits, exact size, FNV-1a of the payload), hand back
// exactly the stored floats when it does, and give a reason and no buffer when it does not.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/recall.h"
#include "kernels/recall_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t le(const uint8_t *p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

// Whether the format admits these bytes (recall_data.h), decided from the bytes alone.
static int format_valid(const uint8_t *data, size_t size, uint64_t *n, uint64_t *d) {
    if (size < UM_RECALL_FILE_HEADER || memcmp(data, UM_RECALL_FILE_MAGIC, 8) != 0 ||
        le(data + 8, 4) != 1) {
        return 0;
    }
    *d = le(data + 12, 4);
    *n = le(data + 16, 8);
    if (*d < 1 || *d > UM_RECALL_D_MAX || *n < 1 || *n > (uint64_t)UM_RECALL_N_MAX) {
        return 0;
    }
    // n <= 1e8 and d <= 65536: n * d * 4 < 2^45, no overflow.
    size_t payload = size - UM_RECALL_FILE_HEADER;
    return payload == *n * *d * 4 &&
           um_recall_fnv1a(UM_RECALL_FNV_INIT, data + UM_RECALL_FILE_HEADER, payload) ==
               le(data + 24, 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) {
        return 0; // 1 MiB holds any shape worth trying; keeps every run fast
    }
    const char *tmp = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/recall_file_fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        abort(); // no place to write: say so rather than pass without testing anything
    }
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0) {
            abort();
        }
        done += (size_t)w;
    }
    close(fd);

    float *x = (float *)&x; // a non-NULL sentinel: the reader must clear it
    long n = -1;
    int d = -1;
    char why[512];
    why[0] = '\0';
    int rc = um_recall_read_file(path, &x, &n, &d, why, sizeof why);
    unlink(path);

    uint64_t want_n = 0, want_d = 0;
    int valid = format_valid(data, size, &want_n, &want_d);
    if (rc != 0 && rc != -1) {
        abort();
    }
    if (rc == -1) {
        if (valid || x != NULL || why[0] == '\0') {
            abort(); // a valid file refused, a buffer handed out on failure, or no reason
        }
        return 0;
    }
    if (!valid || x == NULL || n != (long)want_n || d != (int)want_d ||
        memcmp(x, data + UM_RECALL_FILE_HEADER, size - UM_RECALL_FILE_HEADER) != 0) {
        abort(); // an invalid file accepted, or not the stored vectors
    }
    free(x);
    return 0;
}
