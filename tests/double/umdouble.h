// In-process inspection hooks of the driver test double (//tests/double:libcuda.so.1).
// Test programs and integration tests reach them with dlsym(RTLD_DEFAULT, "umdouble_count")
// so the same binary still runs against the real driver (where they are absent).
#ifndef UMSHIM_TESTS_UMDOUBLE_H
#define UMSHIM_TESTS_UMDOUBLE_H

// Calls made to one exported entry point ("cuMemAlloc_v2"), or, for a base name that is not
// itself exported ("cuMemcpyHtoD"), the sum over its variants (_v2, _v2_ptds); "*" = all calls.
int umdouble_count(const char *name);

// A driver-side statistic, -1 for an unknown key: live_allocs, device_bytes, managed_bytes,
// managed_peak, host_bytes, gpu_faults (kernel touches of managed memory not resident on the
// launch's device: the double's stand-in for GPU page-fault groups), prefetches,
// prefetch_bytes, advises, launches, copies, copy_bytes.
long long umdouble_value(const char *key);

#endif
