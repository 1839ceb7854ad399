#!/usr/bin/env bash
# Runs on the GPU machine, from the repo root, over the pack made by tools/gpu/pack.sh:
#   bash tools/gpu/run.sh suite   the real-GPU test suite; ends with `N passed, N failed`
#   bash tools/gpu/run.sh bench [STEP...]   the benchmarks (all, or the named steps: see
#                                 bench_steps below), printing their figures (never pass/fail)
#   bash tools/gpu/run.sh all     both, suite first
# Logs go to $OUT (the device tool's folder) when set, else to .gpu/out/.
# RUN_SECONDS=S bounds the whole run (the device tool allows one command 600 s): each step runs
# under `timeout`, cut to what is left, and a step with too little time left is skipped and
# says so. Steps run in the order of what matters most: suite, A/B, transfer engine, the rest.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

what=${1:-all}
pack=$PWD/.gpu/suite
bin=$pack/bin
out=${OUT:-$PWD/.gpu/out}
mkdir -p "$out"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
shim=$bin/libumshim.so

if [ ! -x "$bin/umshim" ] && [ ! -f "$shim" ]; then
    echo "run.sh: no pack at $pack (run tools/gpu/pack.sh where Bazel is, carry .gpu/suite)" >&2
    exit 2
fi

deadline=$(($(date +%s) + ${RUN_SECONDS:-86400}))

# left: seconds until the deadline.
left() {
    echo $((deadline - $(date +%s)))
}

# step SECONDS CMD...: CMD under `timeout`, given SECONDS or what is left if less; skipped with
# one line when under 15 s are left.
step() {
    local want=$1 l rc
    shift
    l=$(left)
    if [ "$l" -lt 15 ]; then
        echo "run.sh: skipped, ${l}s left of RUN_SECONDS: $*"
        return 124
    fi
    [ "$want" -le "$l" ] || want=$l
    timeout -k 5 "$want" "$@"
    rc=$?
    [ "$rc" -ne 124 ] || echo "run.sh: stopped after ${want}s: $*"
    return "$rc"
}

header() {
    printf '\n##### %s\n' "$*"
}

machine() {
    header "machine"
    date -u +%Y-%m-%dT%H:%M:%SZ
    echo "kernel $(uname -r), $(nproc) CPUs"
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader
    echo "clock source $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null || echo unknown)"
    echo "commit $(cat "$pack/COMMIT" 2>/dev/null || echo unknown) (the pack's, from tools/gpu/pack.sh)"
}

run_suite() {
    if [ -f "$pack/tests/gpu/run_suite.sh" ]; then
        # The suite keeps one log per run; they come back as one archive (the device tool
        # returns at most 8 files).
        local logs rc
        logs=$(mktemp -d)
        OUT=$logs SUITE_CUPTI=1 step 360 bash "$pack/tests/gpu/run_suite.sh" "$pack" 2>&1 | tee "$out/suite.log"
        rc=${PIPESTATUS[0]}
        tar czf "$out/suite-logs.tgz" -C "$logs" . 2>/dev/null
        rm -rf "$logs"
        return "$rc"
    fi
    echo "run.sh: the pack has no tests/gpu/run_suite.sh" | tee "$out/suite.log"
    return 1
}

# Median of the numbers on stdin.
median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "nan" }'
}

overhead() {
    header "shim overhead per intercepted call (host µs per call, median of 5 interleaved runs)"
    local d
    d=$(mktemp -d)
    local variants=(plain pass trace_on auto) i j v
    one() {
        case "$1" in
            plain) "$bin/shim_overhead" ;;
            pass) LD_PRELOAD=$shim UMSHIM_MODE=passthrough "$bin/shim_overhead" ;;
            trace_on) LD_PRELOAD=$shim UMSHIM_MODE=passthrough UMSHIM_TRACE=$d/trace "$bin/shim_overhead"
                rm -f "$d/trace" ;;
            auto) LD_PRELOAD=$shim UMSHIM_MODE=auto "$bin/shim_overhead" ;;
        esac
    }
    # The order rotates each round, so no variant always runs first.
    for i in 0 1 2 3 4; do
        for j in 0 1 2 3; do
            v=${variants[$(((i + j) % 4))]}
            one "$v" >>"$d/$v"
        done
    done
    printf '%-28s %12s %14s\n' "variant" "launch_us" "alloc_free_us"
    for v in plain pass trace_on auto; do
        printf '%-28s %12s %14s\n' "$v" \
            "$(awk '/^launch_us/ { print $2 }' "$d/$v" | median)" \
            "$(awk '/^alloc_free_us/ { print $2 }' "$d/$v" | median)"
    done
    rm -rf "$d"
}

# enough SECONDS NAME: true when SECONDS are left for the shell-level step NAME, else one line.
enough() {
    [ "$(left)" -ge "$1" ] && return 0
    echo "run.sh: skipped, $(left)s left of RUN_SECONDS: $2"
    return 1
}

# The demo's flags for every comparison: ten batches, one validated query (validation is CPU
# work that would drown the data movement being compared).
demo_flags=(--batches 10 --validate 1)
# For the A/B: no CPU validation, whose 1-1.5 s of FP64 work swings +-250 ms between runs and
# would drown the data movement compared (the d2h hashes prove identical results).
ab_flags=(--batches 10 --validate 0)
# The baseline of every wall_phases.py comparison: the program alone and under passthrough.
baseline=(--variant no-shim --variant passthrough:UMSHIM_MODE=passthrough)

# --- benchmark steps, one function each (bench_NAME), run in the order of `bench_steps` ---

bench_ab_demo() {
    [ -x "$bin/umshim" ] || return 0
    header "umshim ab -- recall_demo ${ab_flags[*]}"
    # 11 runs a mode: start-up (the demo's CPU data generation, process and driver teardown)
    # swings +-100 ms between runs, more than what the modes change.
    step 120 "$bin/umshim" ab --runs 11 --html "$out/ab-recall.html" -- "$bin/recall_demo" "${ab_flags[@]}"
}

bench_ab_alternating() {
    [ -x "$bin/umshim" ] && [ -x "$bin/alternating" ] || return 0
    header "umshim ab -- alternating 64 20"
    step 90 "$bin/umshim" ab --runs 11 --html "$out/ab-alternating.html" -- "$bin/alternating" 64 20
}

# The suite's CUDA programs under `umshim ab` (auto against passthrough end to end, each run a
# whole process: context creation and teardown included).
bench_ab_programs() {
    [ -x "$bin/umshim" ] || return 0
    local p
    for p in streams_async_static many_allocs_static big_alloc_static pipeline_static \
        graph_capture_static threads_static cublas_gemm_shared; do
        [ -x "$bin/$p" ] || continue
        header "umshim ab -- $p"
        step 40 "$bin/umshim" ab --runs 7 -- "$bin/$p"
    done
}

bench_staging() {
    [ -x "$bin/staging_bench" ] || return 0
    header "transfer engine"
    step 150 "$bin/staging_bench"
}

# The D2H taper (shim/staging.h, UM_STAGE_DEFAULT_TAPER) against full-size pieces and other
# divisors, side by side at the sizes it matters for; first config = the engine's defaults.
bench_staging_taper() {
    [ -x "$bin/staging_bench" ] || return 0
    header "transfer engine: D2H taper (default 8) vs flat pieces vs taper 4 / 16"
    # Every config starts at the default's full arena (48 MiB) and with its 12 pool threads, as
    # a program's engine runs once its traffic has grown both (each config switch sets the
    # engine up anew, and a default-sized pool would start again at 4 threads).
    step 120 "$bin/staging_bench" 64 "12:0:0:0:1:0:0:0:48,12:0:0:0:1:0:0:-1:48,12:0:0:0:1:0:0:4:48,12:0:0:0:1:0:0:16:48" "4,8,16,32,64"
}

bench_handport() {
    [ -x "$bin/recall_demo_um" ] && [ -x "$bin/recall_demo" ] || return 0
    header "hand port vs shimmed legacy demo (auto), 5 interleaved runs"
    local i
    for i in 1 2 3 4 5; do
        step 20 "$bin/recall_demo_um" "${demo_flags[@]}" | grep 'ms/batch' | sed 's/^/hand-port: /'
        step 20 env LD_PRELOAD="$shim" UMSHIM_MODE=auto "$bin/recall_demo" "${demo_flags[@]}" | grep 'ms/batch' | sed 's/^/shim-auto: /'
        step 20 "$bin/recall_demo" "${demo_flags[@]}" | grep 'ms/batch' | sed 's/^/no-shim:   /'
    done
}

# Where auto's per-batch time goes: the legacy demo without the shim, in passthrough, in auto,
# in auto without staging, in auto with nothing managed (staging only), and the hand port;
# 5 rounds, order rotating; then the median ms/batch and upload of each.
bench_demo_variants() {
    [ -x "$bin/recall_demo_um" ] && [ -x "$bin/recall_demo" ] || return 0
    header "legacy demo per batch: shim variants and the hand port, 5 rotating rounds"
    local d names=(no-shim passthrough auto auto-nostaging auto-nomanaged hand-port) i j v cmd
    d=$(mktemp -d)
    for i in 0 1 2 3 4; do
        for j in 0 1 2 3 4 5; do
            v=${names[$(((i + j) % 6))]}
            case "$v" in
                no-shim) cmd=("$bin/recall_demo") ;;
                passthrough) cmd=(env LD_PRELOAD="$shim" UMSHIM_MODE=passthrough "$bin/recall_demo") ;;
                auto) cmd=(env LD_PRELOAD="$shim" UMSHIM_MODE=auto "$bin/recall_demo") ;;
                auto-nostaging) cmd=(env LD_PRELOAD="$shim" UMSHIM_MODE=auto UMSHIM_STAGING=0 "$bin/recall_demo") ;;
                auto-nomanaged) cmd=(env LD_PRELOAD="$shim" UMSHIM_MODE=auto UMSHIM_MANAGED_THRESHOLD=1024G "$bin/recall_demo") ;;
                hand-port) cmd=("$bin/recall_demo_um") ;;
            esac
            step 30 "${cmd[@]}" "${ab_flags[@]}" | grep 'ms/batch' >>"$d/$v"
        done
    done
    printf '%-16s %5s %14s %14s %14s\n' variant runs "ms/batch" "upload_ms" "data_ms"
    for v in "${names[@]}"; do
        [ -f "$d/$v" ] || continue
        printf '%-16s %5s %14s %14s %14s\n' "$v" "$(wc -l <"$d/$v")" \
            "$(sed -n 's/.*(\([0-9.]*\) ms\/batch).*/\1/p' "$d/$v" | median)" \
            "$(sed -n 's/.*upload+norms \([0-9.]*\) ms.*/\1/p' "$d/$v" | median)" \
            "$(sed -n 's/.*data \([0-9.]*\) ms.*/\1/p' "$d/$v" | median)"
    done
    rm -rf "$d"
}

# Where the exit time goes with the transfer engine on: wall_phases with the exit split at
# the shim's first exit handler (before it: the program's frees and own exit handlers; after:
# the shim's handlers, the CUDA runtime's and the driver's teardown), and a variant whose
# pinned arena is capped at 6 MiB (24 buffers x 256 KiB), one with one pool thread, and one
# with the engine on but never used (thresholds of 1 TiB), to tell pinned memory, the pool's
# threads and the engine's mere presence apart.
bench_exit_split() {
    local prog
    for prog in "recall_demo ${ab_flags[*]}" "alternating 64 20"; do
        [ -x "$bin/${prog%% *}" ] || continue
        header "exit split: $prog"
        # shellcheck disable=SC2086
        step 60 python3 tools/gpu/wall_phases.py --runs 7 --exit-mark --shim "$shim" "${baseline[@]}" \
            --variant staging:UMSHIM_MODE=passthrough,UMSHIM_STAGING=1 \
            --variant staging-6M:UMSHIM_MODE=passthrough,UMSHIM_STAGING=1,UMSHIM_STAGING_CHUNK=256K \
            --variant staging-1thread:UMSHIM_MODE=passthrough,UMSHIM_STAGING=1,UMSHIM_STAGING_THREADS=1 \
            --variant staging-unused:UMSHIM_MODE=passthrough,UMSHIM_STAGING=1,UMSHIM_STAGING_THRESHOLD=1T,UMSHIM_STAGING_D2H_THRESHOLD=1T \
            --variant auto:UMSHIM_MODE=auto -- "$bin"/$prog
    done
    header "exit: what the staging engine holds (UMSHIM_LOG=debug, one run)"
    [ -x "$bin/alternating" ] &&
        env LD_PRELOAD="$shim" UMSHIM_MODE=auto UMSHIM_LOG=debug "$bin/alternating" 64 20 2>&1 >/dev/null |
        grep -E "exit|teardown"
    return 0
}

# The pool's thread count against the exit cost it brings: the demo's upload and exit split
# with 2, 4, 8 and 12 pool threads (passthrough + staging), and the machine's TLB-shootdown
# interrupts (/proc/interrupts, all CPUs) over 5 runs of each, to test whether the exit cost
# is the driver's teardown flushing the TLBs of every CPU the pool's threads ran on.
bench_exit_threads() {
    [ -x "$bin/recall_demo" ] || return 0
    header "exit cost vs pool threads (recall_demo ${ab_flags[*]})"
    local t v vars=("${baseline[@]}")
    for t in 2 4 8 12; do
        vars+=(--variant "staging-t$t:UMSHIM_MODE=passthrough,UMSHIM_STAGING=1,UMSHIM_STAGING_THREADS=$t")
    done
    step 90 python3 tools/gpu/wall_phases.py --runs 7 --exit-mark --shim "$shim" "${vars[@]}" \
        --field 'upload\+norms ([0-9.]+) ms' -- "$bin/recall_demo" "${ab_flags[@]}"
    tlb() { awk '/TLB shootdowns/ { s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; print s }' /proc/interrupts; }
    enough 45 "TLB shootdowns" || return 0
    echo "TLB shootdowns (all CPUs) over 5 runs of each:"
    for v in "" 0 2 4 8 12; do
        local a b i
        a=$(tlb)
        for i in 1 2 3 4 5; do
            if [ -z "$v" ]; then
                "$bin/recall_demo" "${ab_flags[@]}" >/dev/null
            elif [ "$v" = 0 ]; then
                env LD_PRELOAD="$shim" UMSHIM_MODE=passthrough "$bin/recall_demo" "${ab_flags[@]}" >/dev/null
            else
                env LD_PRELOAD="$shim" UMSHIM_MODE=passthrough UMSHIM_STAGING=1 UMSHIM_STAGING_THREADS="$v" \
                    "$bin/recall_demo" "${ab_flags[@]}" >/dev/null
            fi
        done
        b=$(tlb)
        case $v in
            "") v="no shim" ;;
            0) v=passthrough ;;
            *) v="staging, $v threads" ;;
        esac
        printf '  %-22s %8s\n' "$v" "$((b - a))"
    done
}

# Each intercepted call's time inside the shim, passthrough against auto, on the demo
# (tools/gpu/call_costs.py: from the shim's trace, tracing on in both).
bench_call_costs() {
    [ -x "$bin/recall_demo" ] || return 0
    header "per-call time inside the shim, passthrough vs auto (recall_demo, 3 runs each)"
    step 90 python3 tools/gpu/call_costs.py --runs 3 --by-site --shim "$shim" -- "$bin/recall_demo" \
        --batches 50 --validate 0
}

# Where auto's end-to-end time goes on the suite programs of ab_programs: wall_phases with the
# exit split and CPU time, no shim / passthrough / auto / auto without the transfer engine /
# prefetch, 9 rounds; then each intercepted call's time, passthrough vs auto (call_costs.py),
# for the two programs with thousands of calls. PHASE_PROGS and COST_PROGS name other programs
# of the pack.
bench_program_phases() {
    local p
    for p in ${PHASE_PROGS:-streams_async_static many_allocs_static threads_static pipeline_static}; do
        [ -x "$bin/$p" ] || continue
        header "wall phases: $p"
        step 40 python3 tools/gpu/wall_phases.py --runs 9 --exit-mark --shim "$shim" "${baseline[@]}" \
            --variant auto:UMSHIM_MODE=auto --variant auto-nostaging:UMSHIM_MODE=auto,UMSHIM_STAGING=0 \
            --variant prefetch:UMSHIM_MODE=prefetch -- "$bin/$p"
    done
    for p in ${COST_PROGS:-many_allocs_static threads_static}; do
        [ -x "$bin/$p" ] || continue
        header "per-call time, passthrough vs auto: $p (3 runs each)"
        step 40 python3 tools/gpu/call_costs.py --runs 3 --shim "$shim" -- "$bin/$p"
    done
}

# staging_twice TITLE CONFIGS: staging_bench's CONFIGS at 16 and 64 MiB in two processes.
staging_twice() {
    [ -x "$bin/staging_bench" ] || return 0
    local i
    for i in 1 2; do
        header "transfer engine: $1 (process $i of 2)"
        step 60 "$bin/staging_bench" 64 "$2" "16,64"
    done
}

# What using the transfer engine costs a whole process, against what it saves: auto staging
# from the first copy (UMSHIM_STAGING_AFTER=0, the default) against auto staging only after
# 256 MiB of copies big enough to stage, and auto without the engine, on the suite programs
# that stage in auto and the demo; exit split and CPU time, 15 rounds each.
bench_staging_after() {
    local prog
    for prog in streams_async_static pipeline_static "recall_demo ${ab_flags[*]}"; do
        [ -x "$bin/${prog%% *}" ] || continue
        header "staging after: $prog"
        # shellcheck disable=SC2086
        step 90 python3 tools/gpu/wall_phases.py --runs 15 --exit-mark --shim "$shim" "${baseline[@]}" \
            --variant auto:UMSHIM_MODE=auto --variant auto-after256M:UMSHIM_MODE=auto,UMSHIM_STAGING_AFTER=256M \
            --variant auto-nostaging:UMSHIM_MODE=auto,UMSHIM_STAGING=0 -- "$bin"/$prog
    done
}

# Staged D2H against the pool's thread count at the sizes around the D2H threshold: 4, 6, 8
# and 12 threads, each with the default's full 24 x 2 MiB arena, interleaved.
bench_staging_threads() {
    staging_twice "pool threads 4 / 6 / 8 / 12 at 16-64 MiB" \
        "4:0:24:0:1:0:0:0:48,6:0:24:0:1:0:0:0:48,8:0:24:0:1:0:0:0:48,12:0:24:0:1:0:0:0:48"
}

# Two builds of the engine side by side: bin/staging_bench_a (an earlier commit's engine, put
# into the pack by hand: `cp .../staging_bench .gpu/suite/bin/staging_bench_a` after pack.sh,
# with its commit in bin/staging_bench_a.COMMIT) against this pack's staging_bench, in
# alternating processes, at 12 / 4 / 8 pool threads and 16-256 MiB.
bench_staging_ab() {
    [ -x "$bin/staging_bench_a" ] && [ -x "$bin/staging_bench" ] || return 0
    local i b
    for i in 1 2; do
        for b in staging_bench_a staging_bench; do
            header "transfer engine A/B: $b ($(cat "$bin/$b.COMMIT" 2>/dev/null || cat "$pack/COMMIT")), process $i of 2"
            step 75 "$bin/$b" 256 "12:0:24:0:1:0:0:0:48,4:0:24:0:1:0:0:0:48,8:0:24:0:1:0:0:0:48" "16,64,256"
        done
    done
}

# What idle pool threads cost a copy: 12 threads spinning 30 us (the default), not spinning,
# spinning 200 us, against 4 and 8 threads; the rows end with the pool's counters per copy.
bench_staging_spin() {
    staging_twice "pool spin, 12 threads spin 30 / 0 / 200 us vs 4 and 8" \
        "12:0:24:0:1:0:0:0:48,4:0:24:0:1:0:0:0:48,12:0:24:0:1:0:0:0:48:-1,12:0:24:0:1:0:0:0:48:200,8:0:24:0:1:0:0:0:48"
}

bench_batch_copy() {
    [ -x "$bin/batch_copy_bench" ] || return 0
    header "a legacy batch's copies: legacy vs what a shim can do vs hand port"
    step 60 "$bin/batch_copy_bench"
}

bench_overhead() {
    [ -x "$bin/shim_overhead" ] || return 0
    enough 60 "shim overhead" && overhead
}

bench_transfer() {
    [ -x "$bin/umshim" ] || return 0
    header "umshim bench transfer"
    step 60 "$bin/umshim" bench transfer --markdown
}

bench_wall() {
    [ -x "$bin/recall_demo" ] || return 0
    header "where the demo's wall time goes, per variant (tools/gpu/wall_phases.py)"
    step 90 python3 tools/gpu/wall_phases.py --runs 11 --shim "$shim" --field 'upload\+norms ([0-9.]+) ms' \
        -- "$bin/recall_demo" "${ab_flags[@]}"
    if [ -x "$bin/alternating" ]; then
        step 60 python3 tools/gpu/wall_phases.py --runs 11 --shim "$shim" -- "$bin/alternating" 64 20
    fi
}

bench_recall() {
    [ -x "$bin/recall_bench" ] || return 0
    header "recall kernels vs cuBLAS"
    step 150 "$bin/recall_bench"
}

# Every tile-kernel configuration side by side at the one H200 shape under 0.8x cuBLAS.
bench_recall_small() {
    [ -x "$bin/recall_bench" ] || return 0
    header "recall kernels vs cuBLAS: N = 1e4, Q = 100, every configuration"
    step 60 "$bin/recall_bench" --n 10000 --q 100 --variants
}

# What making big_alloc's 1.25 GiB managed costs before its first kernel (the shim's one
# populate prefetch) against cudaMalloc, and split prefetches (tests/gpu/populate_bench.cu).
bench_populate() {
    [ -x "$bin/populate_bench" ] || return 0
    header "populate: a 1.25 GiB allocation's pages, device vs managed + prefetch variants"
    step 60 "$bin/populate_bench" 1280 7
}

# Most wanted first, so a bounded run (RUN_SECONDS) drops the least wanted.
bench_steps=(ab_demo ab_alternating ab_programs staging staging_taper handport demo_variants
    batch_copy overhead transfer wall recall exit_split exit_threads call_costs program_phases
    staging_after populate
    staging_threads staging_ab staging_spin recall_small)

# run_bench [STEP...]: the named steps (default: all, in the order above).
run_bench() {
    machine
    local steps=("$@") st
    [ ${#steps[@]} -gt 0 ] || steps=("${bench_steps[@]}")
    for st in "${steps[@]}"; do
        if ! declare -F "bench_$st" >/dev/null; then
            echo "run.sh: no bench step '$st' (steps: ${bench_steps[*]})"
            continue
        fi
        "bench_$st"
    done
}

case "$what" in
    suite) run_suite ;;
    bench)
        shift
        run_bench "$@" 2>&1 | tee "$out/bench.log"
        ;;
    all)
        run_suite
        rc=$?
        run_bench 2>&1 | tee "$out/bench.log"
        exit "$rc"
        ;;
    *)
        echo "usage: tools/gpu/run.sh [suite|bench [STEP...]|all]" >&2
        exit 2
        ;;
esac
