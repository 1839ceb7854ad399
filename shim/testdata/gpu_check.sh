#!/usr/bin/env bash
# The shim owner's one-call GPU self-check (run from the repository root on the GPU machine,
# with .gpu/shim/ carried): every program runs without the shim, then under it in each mode;
# stdout must be identical; traces, stats (with CUPTI counters) and stderr land in $OUT.
set -u
B=.gpu/shim
OUTDIR=${OUT:-/tmp/umshim-out}
O=/tmp/umshim-check # everything here; $OUT gets the summary and one archive (8-file limit)
rm -rf "$O"
mkdir -p "$O" "$OUTDIR"
S=$PWD/$B/libumshim.so
SUM=$O/summary.txt
: >"$SUM"
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.free --format=csv >"$O/nvidia-smi.txt" 2>&1
export CUBLAS_WORKSPACE_CONFIG=:4096:8

kinds() { # event counts by kind in a trace
    [ -f "$1" ] && grep -v '^#' "$1" | awk '{print $1}' | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}'
}

check() { # name, then the command
    local name=$1
    shift
    (cd $B && timeout 180 "$@" >"$O/$name.base.out" 2>"$O/$name.base.err")
    echo "$name base rc=$? $(tail -1 "$O/$name.base.out")" >>"$SUM"
    for m in passthrough managed prefetch auto; do
        local cupti=0
        [ "$name" = umcheck_static ] || [ "$name" = torch ] && cupti=1
        (cd $B && UMSHIM_MODE=$m UMSHIM_TRACE="$O/$name.$m.trace" UMSHIM_STATS="$O/$name.$m.stats" \
            UMSHIM_HASH=1 UMSHIM_CUPTI=$cupti UMSHIM_LOG=info LD_PRELOAD=$S timeout 180 "$@" \
            >"$O/$name.$m.out" 2>"$O/$name.$m.err")
        local rc=$?
        local same=DIFFERENT
        cmp -s "$O/$name.base.out" "$O/$name.$m.out" && same=identical
        echo "$name $m rc=$rc stdout=$same $(grep -E '^(managed_allocs|host_copies|staged_copies|prefetches|launches|d2h_hash|cupti_gpu_page_fault_groups|cupti_htod_bytes) ' "$O/$name.$m.stats" 2>/dev/null | tr '\n' ' ')" >>"$SUM"
        echo "    trace: $(kinds "$O/$name.$m.trace")" >>"$SUM"
    done
}

check umcheck_static ./umcheck_static 10
check umcheck_shared ./umcheck_shared 10
check umcheck_ptds ./umcheck_ptds 10
check drvcheck ./drvcheck drvk.ptx
check torch python3 pt_check.py

# The guard on the real GPU, with a configured budget far below free memory: 64 MiB
# allocations, 100 MiB budget -> one managed, the rest fall back; output unchanged.
(cd $B && UMSHIM_MODE=auto UMSHIM_DEVICE_BUDGET=100M UMSHIM_STATS="$O/guard.stats" LD_PRELOAD=$S \
    timeout 120 ./umcheck_static 3 >"$O/guard.out" 2>"$O/guard.err")
echo "guard rc=$? stdout=$(cmp -s "$O/umcheck_static.base.out" "$O/guard.out" && echo identical || echo DIFFERENT) \
$(grep -E '^(managed_allocs|managed_bytes|fallbacks) ' "$O/guard.stats" | tr '\n' ' ')" >>"$SUM"

# IPC: the site named by the auto run's warning, kept on device memory, shares again.
site=$(grep -o 'UMSHIM_KEEP_DEVICE=[^ ]*' "$O/umcheck_shared.auto.err" | head -1 | cut -d= -f2)
(cd $B && UMSHIM_MODE=auto UMSHIM_KEEP_DEVICE="$site" LD_PRELOAD=$S timeout 120 ./umcheck_shared 3 \
    >"$O/keep.out" 2>"$O/keep.err")
echo "keep_device site=$site rc=$? $(grep '^ipc' "$O/keep.err") (auto without it: $(grep '^ipc' "$O/umcheck_shared.auto.err"))" >>"$SUM"

# Added cost per call (tests/bench/shim_overhead.cu), interleaved runs.
for r in 1 2 3; do
    (cd $B && ./shim_overhead >>"$O/overhead.none.txt" 2>&1)
    (cd $B && UMSHIM_MODE=passthrough LD_PRELOAD=$S ./shim_overhead >>"$O/overhead.passthrough.txt" 2>&1)
    (cd $B && UMSHIM_MODE=passthrough UMSHIM_TRACE=/dev/null LD_PRELOAD=$S ./shim_overhead >>"$O/overhead.trace.txt" 2>&1)
    (cd $B && UMSHIM_MODE=auto LD_PRELOAD=$S ./shim_overhead >>"$O/overhead.auto.txt" 2>&1)
done
for v in none passthrough trace auto; do echo "overhead $v: $(tr '\n' ' ' <"$O/overhead.$v.txt")" >>"$SUM"; done
grep -h "umshim:" "$O"/*.err | sort | uniq -c | sort -rn | head -20 >>"$SUM"
cp "$SUM" "$OUTDIR/summary.txt"
tar -C /tmp -czf "$OUTDIR/results.tgz" umshim-check
ls -la "$OUTDIR"
cat "$SUM"
