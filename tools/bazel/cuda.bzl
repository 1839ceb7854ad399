"""One small reusable rule for CUDA C: nvcc compiles each .cu file to an object that an
ordinary cc_library carries, so binaries link it like any other C code."""

load("//tools/bazel:copts.bzl", "UM_NVCC_FLAGS")

_NVCC = "/usr/local/cuda/bin/nvcc"

def cuda_library(name, srcs, hdrs = [], cu_deps = [], deps = [], nvcc_flags = [], visibility = None, testonly = False, tags = []):
    """Compiles `srcs` (.cu) with nvcc for sm_90; `hdrs` are the public headers,
    `cu_deps` any other headers the .cu files include."""
    objs = []
    for src in srcs:
        base = src.replace("/", "_").rsplit(".", 1)[0]
        obj = "_nvcc_%s_%s.o" % (name, base)
        native.genrule(
            name = "_nvcc_%s_%s" % (name, base),
            srcs = [src] + hdrs + cu_deps,
            outs = [obj],
            cmd = "%s -c %s %s -I. -I$(GENDIR) -o $@ $(location %s)" % (
                _NVCC,
                " ".join(UM_NVCC_FLAGS),
                " ".join(nvcc_flags),
                src,
            ),
            testonly = testonly,
            tags = tags,
        )
        objs.append(obj)
    native.cc_library(
        name = name,
        srcs = objs,
        hdrs = hdrs,
        deps = deps + ["@cuda//:headers"],
        linkstatic = True,
        visibility = visibility,
        testonly = testonly,
        tags = tags,
    )
