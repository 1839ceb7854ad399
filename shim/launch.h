// Kernel launch decoding: which allocations a launch's parameters point into. The layout
// of each kernel's parameters comes from cuFuncGetParamInfo, cached per CUfunction; the
// decoding itself is pure so it is unit-tested without a driver.
#ifndef UMSHIM_SHIM_LAUNCH_H
#define UMSHIM_SHIM_LAUNCH_H

#include <stddef.h>
#include <stdint.h>

#define UM_LAYOUT_MAX_PARAMS 1024 // more parameters than this: treated as unknown layout
#define UM_SCAN_MAX_BYTES 4096    // bytes of packed or struct parameters scanned for pointers

typedef struct {
    int n; // number of parameters; -1: layout unknown (no cuFuncGetParamInfo)
    char name[96];
    uint32_t *off, *size; // n entries each
} um_layout_t;

// Collects candidate pointer values (each aligned 8-byte word of every parameter of at
// least 8 bytes) into out[0..max). kernelParams (void *[n], each pointing at a value) needs
// a known layout; `extra` (CU_LAUNCH_PARAM_BUFFER_POINTER/SIZE/END) is decoded with the
// layout when known, else scanned word by word. Returns the number of values, or -1 when
// the parameters cannot be decoded (kernelParams without a layout).
int um_params_collect(const um_layout_t *lay, void **kernelParams, void **extra, uint64_t *out,
                      int max);

// The cached layout of f (queried from the driver on first use; never NULL).
const um_layout_t *um_layout_get(void *f);

#endif
