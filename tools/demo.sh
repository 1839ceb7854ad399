#!/usr/bin/env bash
# The main job: Engram's legacy recall demo, unmodified, run under umshim in all four modes
# (`umshim ab`), with identical results checked and the A/B summary printed. Needs an NVIDIA
# GPU; without one it says so in one line and exits non-zero.
#   tools/demo.sh [--runs N] [demo flags...]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! { [ -e /dev/nvidiactl ] || ls /proc/driver/nvidia/gpus/* >/dev/null 2>&1; }; then
    echo "umshim demo: no NVIDIA GPU on this machine; the demo needs one (tests run without: tools/test.sh)" >&2
    exit 1
fi

runs=5
if [ "${1:-}" = "--runs" ]; then
    runs=$2
    shift 2
fi

if command -v bazel >/dev/null 2>&1 || [ ! -x .gpu/suite/bin/umshim ]; then
    bash tools/setup.sh
    bazel build //tools:umshim //shim:libumshim.so //kernels:recall_demo >&2
    bin=bazel-bin/tools/umshim
    demo=bazel-bin/kernels/recall_demo
else
    # A packed tree (tools/gpu/pack.sh) on a machine without Bazel.
    bin=.gpu/suite/bin/umshim
    demo=.gpu/suite/bin/recall_demo
fi
exec "$bin" ab --runs "$runs" --html umshim-ab.html -- "$demo" "$@"
