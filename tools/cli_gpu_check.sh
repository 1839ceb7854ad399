#!/bin/bash
# The command line's check on the GPU machine (one device call; that machine has no Bazel).
# Here:   bazel build //tools:umshim //kernels:recall_demo && bash tools/cli_gpu_check.sh pack
# There:  bash tools/cli_gpu_check.sh run        (from the repo root, with .gpu/cli carried)
# It measures `umshim bench transfer`, profiles and A/Bs the legacy recall demo, and checks
# the no-GPU error; every log lands in $OUT.
set -u -o pipefail
B=.gpu/cli

if [ "${1:-}" = pack ]; then
    # umshim finds libumshim.so and bench_transfer in its own folder when packed.
    mkdir -p "$B"
    cp -f bazel-bin/tools/umshim bazel-bin/tools/bench_transfer bazel-bin/shim/libumshim.so \
        bazel-bin/kernels/recall_demo "$B"/
    chmod u+w "$B"/*
    ls -la "$B"
    exit 0
fi

OUT=${OUT:-/tmp/cli-out}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
U=$B/umshim
step() { echo; echo "=== $*"; }
{
step "device"
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv
date -u
step "umshim options"
$U options | head -5
step "bench transfer"
timeout 240 $U bench transfer; echo "rc=$?"
step "bench transfer, markdown"
timeout 120 $U bench transfer --sizes 4K,64K,1M,16M --markdown; echo "rc=$?"
step "no GPU visible"
CUDA_VISIBLE_DEVICES= $U bench transfer --sizes 4K; echo "rc=$? (expect 1)"
step "run: exit code through the real shim"
timeout 60 $U run -- /bin/sh -c 'exit 3'; echo "rc=$? (expect 3)"
step "run recall_demo under auto"
timeout 120 $U run -- $B/recall_demo --batches 2; echo "rc=$?"
step "run recall_demo with CUPTI counters and stats (what ab collects)"
UMSHIM_CUPTI=1 UMSHIM_HASH=1 UMSHIM_STATS="$OUT/cupti.stats" timeout 60 $U run -- $B/recall_demo --batches 1; echo "rc=$?"
cat "$OUT/cupti.stats"
step "profile recall_demo"
timeout 120 $U profile --out "$OUT/profile" -- $B/recall_demo --batches 2; echo "rc=$?"
step "ab recall_demo, 5 runs per mode"
timeout 300 $U ab --runs 5 --timeout 30 --html "$OUT/ab.html" --out "$OUT/abwork" -- $B/recall_demo; echo "rc=$?"
} 2>&1 | tee "$OUT/cli_gpu_check.log"
