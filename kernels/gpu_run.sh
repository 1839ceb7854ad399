#!/bin/bash
# One device-machine call for kernels/: correctness, demos, bad input, benchmark, memcheck.
# Run from the repo root there, with the binaries copied into .gpu/kernels/ (see the report
# in the commit log); logs go to $OUT.
set -o pipefail
B=.gpu/kernels
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1 | tee "$OUT/smi.txt"
echo "=== gpu test"; timeout 300 $B/recall_gpu_test 2>&1 | tee "$OUT/gpu_test.log"; echo "rc=$?"
{
echo "=== demo (legacy, defaults)"; timeout 120 $B/recall_demo; echo "rc=$?"
echo "=== demo_um (defaults)"; timeout 120 $B/recall_demo_um; echo "rc=$?"
echo "=== demo_um (pinned fallback)"; UMSHIM_UB_FALLBACK=1 timeout 120 $B/recall_demo_um; echo "rc=$?"
echo "=== demo tf32"; timeout 120 $B/recall_demo --tf32 --batches 2; echo "rc=$?"
echo "=== demo k=1000 odd d"; timeout 120 $B/recall_demo --n 20000 --q 33 --d 100 --k 1000 --batches 2 --show 1; echo "rc=$?"
echo "=== demo q=1"; timeout 120 $B/recall_demo --q 1 --k 5; echo "rc=$?"
echo "=== data file"; $B/recall_demo --n 5000 --d 64 --write-data /tmp/x.bin && timeout 60 $B/recall_demo --data /tmp/x.bin --q 10 --k 3 --show 1; echo "rc=$?"
head -c 4000 /tmp/x.bin > /tmp/t.bin; $B/recall_demo --data /tmp/t.bin; echo "rc=$?"
$B/recall_demo --bogus; echo "rc=$?"; $B/recall_demo --n 5 --k 6; echo "rc=$?"; $B/recall_demo --d 0; echo "rc=$?"
CUDA_VISIBLE_DEVICES= $B/recall_demo --n 1000; echo "rc=$? (no GPU visible)"
} 2>&1 | tee "$OUT/demo.log"
echo "=== bench"; timeout 300 $B/recall_bench "$@" 2>&1 | tee "$OUT/bench.log"; echo "rc=$?"
echo "=== bench k=100"; timeout 300 $B/recall_bench --k 100 2>&1 | tee "$OUT/bench_k100.log" | grep -E "^\|"
if [ -f $B/libumshim.so ]; then
{
  echo "=== recall_demo under umshim vs the hand port (N=1e5 Q=100, 10 batches)"
  A="--batches 10 --validate 1 --show 0"
  $B/recall_demo $A | grep -E "digest|timing"
  $B/recall_demo_um $A | grep -E "digest|timing"
  for m in passthrough managed prefetch auto; do
    echo "--- UMSHIM_MODE=$m"; UMSHIM_MODE=$m LD_PRELOAD=$PWD/$B/libumshim.so timeout 120 $B/recall_demo $A 2>&1 | grep -E "digest|timing|umshim|error"; echo "rc=$?"
  done
} 2>&1 | tee "$OUT/shim.log"
fi
{
echo "=== memcheck"; timeout 200 compute-sanitizer --tool memcheck --print-limit 5 $B/recall_gpu_test 2>&1 | tail -6
echo "=== racecheck (tile fused, small-Q fused, chunked)"
for a in "--n 3000 --q 20" "--n 3000 --q 5" "--n 3000 --q 20 --k 200"; do
  timeout 120 compute-sanitizer --tool racecheck --print-limit 5 $B/recall_demo $a --batches 1 --validate 1 --show 0 2>&1 | grep -E "RACECHECK|ERROR SUMMARY|hazard|error" | head -5
done
} 2>&1 | tee "$OUT/sanitizer.log"
