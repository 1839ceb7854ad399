#!/usr/bin/env bash
# The shim's CPU work per cudaMalloc/cudaFree pair, per mode, counted by callgrind against
# the driver test double (no GPU needed): instructions of a run with 3000 pairs minus one with
# 1000, over 2000, so start-up and exit cancel. The double's own work is the same in every
# mode, so the differences between the modes are the shim's. Instructions, not time: use it to
# compare changes to the allocation path; time it on a GPU with tests/bench/shim_overhead.
#   tools/alloc_cost.sh [--live] [MODE...]     (default: passthrough auto)
# --live: per item of tests/gpu/many_allocs.cu's pattern instead (an allocation kept live, a
# memset, a launch, a D2H copy and a free; alloc_loop's `live`), from runs of 1000 and 3000.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "alloc_cost: valgrind is not installed (tools/setup.sh installs it)" >&2; exit 1; }
bazel build -c opt //shim:libumshim.so //tests/double:libcuda.so.1 //tests/integration:alloc_loop >/dev/null 2>&1 ||
    { echo "alloc_cost: bazel build failed" >&2; exit 1; }
bin=$(bazel info -c opt bazel-bin 2>/dev/null)
pattern=()
unit=pair
if [ "${1:-}" = --live ]; then
    pattern=(live)
    unit=item
    shift
fi
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(passthrough auto)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ir() { # MODE PAIRS -> instructions of the whole run
    LD_LIBRARY_PATH="$bin/tests/double" LD_PRELOAD="$bin/shim/libumshim.so" UMSHIM_MODE="$1" \
        valgrind --tool=callgrind --callgrind-out-file="$work/cg" \
        "$bin/tests/integration/alloc_loop" "$2" "${pattern[@]}" \
        2>&1 >/dev/null | awk '/Collected :/ { print $4 }'
}
printf '%-12s %14s\n' mode "instr/$unit"
for m in "${modes[@]}"; do
    a=$(ir "$m" 1000)
    b=$(ir "$m" 3000)
    printf '%-12s %14d\n' "$m" $(((b - a) / 2000))
done
