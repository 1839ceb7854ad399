// The recall demos' datasets: a deterministic generator and the documented file format
// (recall_data.h). Pure C, no CUDA: unit-tested on machines without a GPU.
#include "kernels/recall_data.h"

#include "kernels/recall.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// --- hashing and random numbers ---
uint64_t um_recall_fnv1a(uint64_t h, const void *p, size_t len) {
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t um_splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Uniform in [-1, 1), exactly representable (24 random bits).
static float um_unit(uint64_t *s) { return (float)((int64_t)(um_splitmix(s) >> 40) - (1 << 23)) / (float)(1 << 23); }

// --- generator ---
void um_recall_gen_stored(uint64_t seed, long n, int d, float *x) {
    for (long i = 0; i < n; i++) {
        // One stream per vector: any prefix of the dataset is the same for every n.
        uint64_t s = seed * 0x2545f4914f6cdd1dull + (uint64_t)i;
        float *row = x + (size_t)i * d;
        for (int j = 0; j < d; j++) row[j] = (i == 1) ? 0.f : um_unit(&s);
    }
}

void um_recall_gen_queries(uint64_t seed, int batch, long q, int d, const float *x, long n,
                           float *out) {
    for (long i = 0; i < q; i++) {
        uint64_t s = (seed ^ 0xa0761d6478bd642full) * 0x9e3779b97f4a7c15ull + (uint64_t)batch * 1000003ull + (uint64_t)i;
        long j = (long)(um_splitmix(&s) % (uint64_t)n);
        float *row = out + (size_t)i * d;
        for (int c = 0; c < d; c++)
            row[c] = (batch == 0 && i == 0) ? 0.f : x[(size_t)j * d + c] + 0.25f * um_unit(&s);
    }
}

// --- file format ---
static void um_put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void um_put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t um_get32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t um_get64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int um_recall_write_file(const char *path, const float *x, long n, int d, char *why, size_t why_len) {
    unsigned char h[UM_RECALL_FILE_HEADER] = {0};
    size_t bytes = (size_t)n * d * sizeof(float);
    memcpy(h, UM_RECALL_FILE_MAGIC, 8);
    um_put32(h + 8, 1);
    um_put32(h + 12, (uint32_t)d);
    um_put64(h + 16, (uint64_t)n);
    um_put64(h + 24, um_recall_fnv1a(UM_RECALL_FNV_INIT, x, bytes));
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(why, why_len, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    int ok = fwrite(h, 1, sizeof h, f) == sizeof h && fwrite(x, 1, bytes, f) == bytes;
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        snprintf(why, why_len, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int um_recall_read_file(const char *path, float **x, long *n, int *d, char *why, size_t why_len) {
    *x = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, why_len, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char h[UM_RECALL_FILE_HEADER];
    int rc = -1;
    float *buf = NULL;
    if (fread(h, 1, sizeof h, f) != sizeof h) {
        snprintf(why, why_len, "%s: truncated header (need %d bytes)", path, UM_RECALL_FILE_HEADER);
        goto out;
    }
    if (memcmp(h, UM_RECALL_FILE_MAGIC, 8) != 0) {
        snprintf(why, why_len, "%s: not a recall vector file (bad magic)", path);
        goto out;
    }
    uint32_t ver = um_get32(h + 8), dd = um_get32(h + 12);
    uint64_t nn = um_get64(h + 16), sum = um_get64(h + 24);
    if (ver != 1) {
        snprintf(why, why_len, "%s: unsupported version %u (expected 1)", path, ver);
        goto out;
    }
    if (dd < 1 || dd > UM_RECALL_D_MAX || nn < 1 || nn > (uint64_t)UM_RECALL_N_MAX) {
        snprintf(why, why_len, "%s: bad dimensions n=%llu d=%u", path, (unsigned long long)nn, dd);
        goto out;
    }
    size_t bytes = (size_t)nn * dd * sizeof(float);
    if (fseek(f, 0, SEEK_END) != 0) {
        snprintf(why, why_len, "%s: cannot seek: %s", path, strerror(errno));
        goto out;
    }
    long size = ftell(f);
    if (size < 0 || (uint64_t)size != UM_RECALL_FILE_HEADER + bytes) {
        snprintf(why, why_len, "%s: size %ld bytes, expected %zu for n=%llu d=%u (%s)", path, size,
                 UM_RECALL_FILE_HEADER + bytes, (unsigned long long)nn, dd,
                 (uint64_t)size < UM_RECALL_FILE_HEADER + bytes ? "truncated" : "trailing bytes");
        goto out;
    }
    fseek(f, UM_RECALL_FILE_HEADER, SEEK_SET);
    buf = malloc(bytes);
    if (!buf) {
        snprintf(why, why_len, "%s: out of memory for %zu bytes", path, bytes);
        goto out;
    }
    if (fread(buf, 1, bytes, f) != bytes) {
        snprintf(why, why_len, "%s: short read", path);
        goto out;
    }
    if (um_recall_fnv1a(UM_RECALL_FNV_INIT, buf, bytes) != sum) {
        snprintf(why, why_len, "%s: checksum mismatch (corrupt payload)", path);
        goto out;
    }
    *x = buf;
    *n = (long)nn;
    *d = (int)dd;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}
