// Datasets for the recall demos: a deterministic generator (the embedded default) and a small
// binary file format for real vectors.
//
// File format (all little-endian):
//   offset  size  field
//   0       8     magic "UMRECV1\0"
//   8       4     uint32 version (1)
//   12      4     uint32 d        dimension, 1..65536
//   16      8     uint64 n        stored vectors, 1..1e8
//   24      8     uint64 checksum FNV-1a 64 of the payload bytes
//   32      n*d*4 float32 payload, row-major (vector i at 32 + i*d*4)
// The file size must be exactly 32 + n*d*4.
#ifndef UMSHIM_KERNELS_RECALL_DATA_H
#define UMSHIM_KERNELS_RECALL_DATA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UM_RECALL_FILE_MAGIC "UMRECV1"
#define UM_RECALL_FILE_HEADER 32

uint64_t um_recall_fnv1a(uint64_t h, const void *p, size_t len);
#define UM_RECALL_FNV_INIT 0xcbf29ce484222325ull

// Stored vectors: uniform in [-1, 1) from `seed`; vector 1 (when n > 1) is all zeros so that
// every run exercises the zero-vector rule.
void um_recall_gen_stored(uint64_t seed, long n, int d, float *x);

// Queries of batch `batch`: query i is stored vector j(i) plus 25% noise, so its best match is
// usually j(i); query 0 of batch 0 is the zero vector.
void um_recall_gen_queries(uint64_t seed, int batch, long q, int d, const float *x, long n,
                           float *out);

// Writes x (n x d) to path. Returns 0 or -1 with a reason in why.
int um_recall_write_file(const char *path, const float *x, long n, int d, char *why, size_t why_len);

// Reads a file: *x is malloc'ed (caller frees). Returns 0, or -1 with a one-line reason
// (missing, truncated, bad magic/version/dims, size mismatch, checksum mismatch).
int um_recall_read_file(const char *path, float **x, long *n, int *d, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif

#endif
