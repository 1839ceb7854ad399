#!/bin/bash
# One device-machine call for kernels/ (what run 5 ran): GPU test, the benchmark table plus every
# tile/TF32 variant side by side (bench --variants), demos vs the hand port and under umshim
# (libumshim.so copied beside the binaries), digests in every mode, per-kernel durations (ncu),
# SASS of the tile and TF32 kernels, memcheck of the GPU test. Binaries (stripped) and this
# script go to .gpu/kernels/ in the tree that run() ships; logs go to $OUT.
B=.gpu/kernels
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv > "$OUT/smi.txt" 2>&1
echo "=== gpu test [t=$(el)s]"; timeout 60 $B/recall_gpu_test > "$OUT/gpu_test.log" 2>&1; echo "rc=$?" >> "$OUT/gpu_test.log"; tail -2 "$OUT/gpu_test.log"; grep FAIL "$OUT/gpu_test.log" | head -5
echo "=== bench --variants [t=$(el)s]"; timeout 120 $B/recall_bench --variants > "$OUT/bench.log" 2>&1; echo "rc=$?" >> "$OUT/bench.log"; grep -E "^\||rc=" "$OUT/bench.log"
{
echo "=== demos (N=1e5 Q=100 k=10, 20 batches, 2 interleaved rounds) [t=$(el)s]"
A="--batches 20 --validate 1 --show 0"
S=$PWD/$B/libumshim.so
for r in 1 2; do
  echo "legacy:        $($B/recall_demo $A | grep -E 'timing' | sed 's/.*batches/batches/')"
  echo "hand-port:     $($B/recall_demo_um $A | grep -E 'timing' | sed 's/.*batches/batches/')"
  echo "hand-port-pin: $(UMSHIM_UB_FALLBACK=1 $B/recall_demo_um $A | grep -E 'timing' | sed 's/.*batches/batches/')"
  echo "shim-pass:     $(UMSHIM_MODE=passthrough LD_PRELOAD=$S timeout 60 $B/recall_demo $A 2>&1 | grep -E 'timing|rror' | sed 's/.*batches/batches/')"
  echo "shim-auto:     $(UMSHIM_MODE=auto LD_PRELOAD=$S timeout 60 $B/recall_demo $A 2>&1 | grep -E 'timing|rror' | sed 's/.*batches/batches/')"
done
echo "digests (4 batches): no shim, each mode, hand port"
A4="--batches 4 --validate 1 --show 0"
$B/recall_demo $A4 | grep digest
for m in passthrough managed prefetch auto; do echo "$m: $(UMSHIM_MODE=$m LD_PRELOAD=$S timeout 60 $B/recall_demo $A4 2>&1 | grep -E 'digest|rror')"; done
$B/recall_demo_um $A4 | grep digest
} > "$OUT/demo.log" 2>&1; cat "$OUT/demo.log"
echo "=== ncu kernel durations (demo, one batch) [t=$(el)s]"
for a in "--n 10000 --q 100" "--n 10000 --q 1" "--n 100000 --q 1000"; do
  echo "--- recall_demo $a --batches 1"
  timeout 40 ncu --metrics gpu__time_duration.sum,sm__warps_active.avg.pct_of_peak_sustained_active,smsp__inst_executed.sum $B/recall_demo $a --batches 1 --validate 0 --show 0 2>&1 | grep -E "^  [a-z_]+.*\(|gpu__time|inst_executed" | sed 's/(const float.*//'
done > "$OUT/ncu.txt" 2>&1; cat "$OUT/ncu.txt" | head -40
echo "=== sass [t=$(el)s]"
cuobjdump -sass $B/recall_bench > /tmp/all.sass 2>&1
awk '/Function : _Z11tile_kernelILb1ELi[01]ELi1ELi16ELi128E/{p=1} /Function : /{if($0 !~ /_Z11tile_kernelILb1ELi[01]ELi1ELi16ELi128E/)p=0} p' /tmp/all.sass | gzip > "$OUT/sass_tile_1_16_128.txt.gz"
awk '/Function : _Z15tf32_mma_kernel/{p=1} /Function : /{if($0 !~ /tf32_mma_kernel/)p=0} p' /tmp/all.sass | gzip > "$OUT/sass_tf32_mma.txt.gz"
ls -la "$OUT"/*.gz
R=$(( 228 - $(el) )); [ $R -gt 150 ] && R=150
echo "=== memcheck gpu test (limit ${R}s) [t=$(el)s]"
if [ $R -gt 20 ]; then timeout $R compute-sanitizer --tool memcheck --print-limit 5 $B/recall_gpu_test > "$OUT/sanitizer.log" 2>&1; echo "rc=$?" >> "$OUT/sanitizer.log"; fi
tail -3 "$OUT/sanitizer.log"
echo "done [t=$(el)s]"
