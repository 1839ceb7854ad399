// The CUDA driver API as the shim sees it: cuda.h plus the versioned PFN_* typedefs, with the
// few cuda.h macros removed that would rename a symbol the shim defines under its exported
// (driver ABI) name. Every shim file includes this instead of cuda.h directly.
#ifndef UMSHIM_SHIM_CUDA_API_H
#define UMSHIM_SHIM_CUDA_API_H

#include <cuda.h>
#include <cudaTypedefs.h>

// cuda.h maps these names to their newest ABI (cuGetProcAddress -> cuGetProcAddress_v2 ...);
// the shim also exports the older ABIs under their literal driver names, so drop the aliases.
#undef cuGetProcAddress
#undef cuMemAdvise
#undef cuMemPrefetchAsync
#undef cuStreamBeginCapture

#endif
