"""Compiler flags for every umshim C target, kept in one place."""

UM_COPTS = [
    "-std=gnu11",
    "-D_GNU_SOURCE",
    "-O2",
    "-g",
    "-Wall",
    "-Wextra",
    "-Wno-unused-parameter",
    "-Wshadow",
    "-Wstrict-prototypes",
    "-Werror",
]

# The preload library exports only what its version script names.
UM_SHIM_COPTS = UM_COPTS + [
    "-fvisibility=hidden",
    "-fPIC",
]

# nvcc flags for every .cu file: Hopper (sm_90) code plus sm_90 PTX for newer parts.
UM_NVCC_FLAGS = [
    "-O3",
    "-std=c++17",
    "-Xcompiler", "-fPIC",
    "-gencode", "arch=compute_90,code=sm_90",
    "-gencode", "arch=compute_90,code=compute_90",
    "-Werror", "all-warnings",
]
