#!/usr/bin/env bash
# Runs one integration program against the driver test double, without the shim and under
# LD_PRELOAD=libumshim.so, and judges the difference.
#
#   run.sh CHECK SHIM DOUBLE TRACE_CHECK PROGRAM [KEY=VALUE ...]
#
# CHECK is one of
#   modes      baseline, then each UMSHIM_MODE (passthrough managed prefetch auto): same exit
#              status and byte-identical stdout; per-mode driver calls as DESIGN.md's "Modes"
#              says (passthrough: no extra managed allocations, no prefetch/advise; managed:
#              managed allocations, no prefetch/advise; prefetch: managed + prefetches; auto:
#              managed allocations kept); the passthrough trace holds exactly the program's
#              events (trace_check); the stats file names the mode; passthrough with
#              UMSHIM_STAGING=1 stages large copies and rewrites nothing; with UMSHIM_HASH=1
#              every mode reports the same hash of all device-to-host data.
#   badinput   UMSHIM_MODE=bogus (and a bad byte value): one warning naming the variable and
#              its accepted values, default mode used, output unchanged.
#   guard      the oversubscription guard with UMSHIM_DEVICE_BUDGET / free memory minus margin,
#              and UMSHIM_OVERSUBSCRIBE=1 as the explicit opt-in.
#   ipc        cuIpcGetMemHandle on a rewritten allocation: the driver's error, one log line
#              naming the site and UMSHIM_KEEP_DEVICE, and that option keeping the site on device.
#   fork       fork() while threads use the driver and a staged upload is in flight: children
#              must neither deadlock on the shim's locks nor see its state half-updated (run it
#              under ASan); auto mode must have staged the uploads.
#   exitpaths  each EXIT_SCENARIO of exit_paths.c (context reset or destroyed by the program,
#              threads still running at exit(), the program's own late exit handler): same exit
#              status and stdout as without the shim in every mode, and the stats file written.
#   nomanaged  UMDOUBLE_NO_MANAGED=1 (a device without managed memory): every mode falls back,
#              output unchanged, at most one warning.
# KEY=VALUE pairs are added to every run (baseline included). VALGRIND=1 runs every program
# under valgrind (memcheck; any error fails). Ends with `PASS` or a list of failures.
set -uo pipefail

check=$1 shim=$2 double=$3 tcheck=$4 prog=$5
shift 5
extra_env=("$@")
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
shim=$(abs "$shim")
double_dir=$(dirname "$(abs "$double")")
tcheck=$(abs "$tcheck")
prog=$(abs "$prog")
work=${TEST_TMPDIR:-$(mktemp -d)}/$(basename "$prog")-$check
rm -rf "$work"
mkdir -p "$work"

failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# An ASan build of the shim needs the ASan runtime first in the library list.
preload=$shim
asan_rt=$(ldd "$shim" 2>/dev/null | awk '/libasan/ {print $3}')
[ -n "$asan_rt" ] && preload="$asan_rt:$shim"

vg=()
if [ "${VALGRIND:-0}" = 1 ] && { grep -qa __asan_init "$prog" || ldd "$prog" 2>/dev/null | grep -q libasan; }; then
    # valgrind cannot run ASan-instrumented code (bazel test --config=asan): ASan checks it.
    echo "note: $(basename "$prog") is an ASan build; running it under ASan instead of valgrind"
elif [ "${VALGRIND:-0}" = 1 ]; then
    command -v valgrind >/dev/null || { echo "FAIL: VALGRIND=1 but valgrind is not installed (tools/setup.sh installs it)"; exit 1; }
    vg=(valgrind --quiet --error-exitcode=97 --leak-check=no --trace-children=no)
fi

# run NAME SHIM(0|1) [KEY=VALUE ...]: runs the program; stdout/stderr/status in $work/NAME.*
run() {
    local name=$1 with=$2
    shift 2
    local envs=(LD_LIBRARY_PATH="$double_dir" WORKLOAD_EXPECT="$work/$name.expect"
        WORKLOAD_DRIVER_REPORT="$work/$name.report" "${extra_env[@]}" "$@")
    [ "$with" = 1 ] && envs+=(LD_PRELOAD="$preload" UMSHIM_STATS="$work/$name.stats")
    env -u LD_PRELOAD -u UMSHIM_MODE "${envs[@]}" "${vg[@]}" "$prog" >"$work/$name.out" 2>"$work/$name.err"
    echo $? >"$work/$name.rc"
}

rc_of() { cat "$work/$1.rc"; }
val() { awk -v k="$2" '$1 == k {print $2}' "$work/$1.report" 2>/dev/null; }
stat_of() { awk -v k="$2" '$1 == k {print $2}' "$work/$1.stats" 2>/dev/null; }

# same_as_baseline NAME [BASE]: exit status and stdout identical to the run without the shim.
same_as_baseline() {
    local name=$1 base=${2:-baseline}
    if [ "$(rc_of "$name")" != "$(rc_of "$base")" ]; then
        fail "$name: exit status $(rc_of "$name"), without the shim $(rc_of "$base")"
        sed 's/^/    stderr: /' "$work/$name.err" | tail -n 15
        return
    fi
    if ! cmp -s "$work/$base.out" "$work/$name.out"; then
        fail "$name: stdout differs from the run without the shim"
        diff "$work/$base.out" "$work/$name.out" | head -n 20 | sed 's/^/    /'
    fi
    if grep -q '^umshim: error: ' "$work/$name.err"; then
        fail "$name: the shim logged an error"
        grep '^umshim: error: ' "$work/$name.err" | head -n 5 | sed 's/^/    /'
    fi
}

need_baseline() {
    run baseline 0 "$@"
    if [ "$(rc_of baseline)" != 0 ]; then
        echo "FAIL: the program fails without the shim (status $(rc_of baseline)):"
        cat "$work/baseline.err"
        exit 1
    fi
}

case $check in
modes)
    need_baseline
    base_managed=$(val baseline count.cuMemAllocManaged)
    hashes=()
    for mode in passthrough managed prefetch auto; do
        args=(UMSHIM_MODE=$mode UMSHIM_HASH=1)
        [ $mode = passthrough ] && args+=(UMSHIM_TRACE="$work/$mode.trace")
        run $mode 1 "${args[@]}"
        same_as_baseline $mode
        [ "$(stat_of $mode mode)" = $mode ] || fail "$mode: stats file says mode '$(stat_of $mode mode)'"
        managed=$(val $mode count.cuMemAllocManaged)
        pf=$(val $mode value.prefetches)
        adv=$(val $mode value.advises)
        case $mode in
        passthrough)
            for k in count.cuMemAllocManaged count.cuMemAlloc_v2 count.cuMemFree_v2 count.cuMemcpyHtoD \
                count.cuMemcpyDtoH count.cuLaunchKernel count.cuMemcpyHtoD_v2_ptds count.cuLaunchKernel_ptsz \
                count.cuIpcGetMemHandle value.prefetches value.advises; do
                [ "$(val $mode $k)" = "$(val baseline $k)" ] ||
                    fail "passthrough: driver saw $k=$(val $mode $k), without the shim $(val baseline $k)"
            done
            if "$tcheck" "$work/passthrough.trace" "$work/baseline.expect" >"$work/trace_check.out" 2>&1; then
                :
            else
                fail "passthrough: the trace does not record exactly the program's events"
                sed 's/^/    /' "$work/trace_check.out"
            fi
            # The workload's 2D and 3D read-backs (its "2d back" / "3d back" lines): the trace's
            # hash is the fold of exactly the rows each wrote into host memory, as the program
            # computed it.
            for nd in 2d:cuMemcpy2D_v2 3d:cuMemcpy3D_v2; do
                want=$(awk -v k="${nd%%:*}" '$1 == k && $2 == "back" {print $5}' "$work/$mode.out")
                [ -n "$want" ] || continue
                got=$(grep -E "^copy .* dir=d2h .*name=${nd#*:}(_ptds)? " "$work/$mode.trace" |
                    sed -n 's/.* hash=\(0x[0-9a-f]*\) .*/\1/p')
                [ "$want" = "$got" ] ||
                    fail "passthrough: ${nd#*:} D2H hash in the trace '$got', the program's fold of the rows it read '$want'"
            done
            ;;
        managed)
            [ "${managed:-0}" -gt "${base_managed:-0}" ] || fail "managed: no allocation became managed ($managed managed allocations, program's own $base_managed)"
            [ "${pf:-0}" = 0 ] || fail "managed: $pf prefetches (the naive port inserts none)"
            [ "${adv:-0}" = 0 ] || fail "managed: $adv advise hints (the naive port applies none)"
            ;;
        prefetch)
            [ "${managed:-0}" -gt "${base_managed:-0}" ] || fail "prefetch: no allocation became managed"
            [ "${pf:-0}" -gt 0 ] || fail "prefetch: no prefetch was issued"
            ;;
        auto)
            [ "${managed:-0}" -gt "${base_managed:-0}" ] || fail "auto: large allocations did not stay managed"
            # Auto adds no GPU faults of its own: new allocations are populated on the device,
            # launches and graph launches prefetch what is not resident (the program's own
            # managed memory may still fault, as it does without the shim).
            faults=$(val auto value.gpu_faults)
            base_faults=$(val baseline value.gpu_faults)
            [ "${faults:-1}" -le "${base_faults:-0}" ] 2>/dev/null ||
                fail "auto: $faults GPU faults in the double, without the shim $base_faults"
            ;;
        esac
        hashes+=("$(stat_of $mode d2h_hash)")
    done
    # Passthrough with the transfer engine on its own (UMSHIM_STAGING=1): output unchanged,
    # nothing rewritten, and the large pageable copies really went through the engine.
    run pt_staging 1 UMSHIM_MODE=passthrough UMSHIM_STAGING=1 UMSHIM_STAGING_THRESHOLD=64K \
        UMSHIM_STAGING_D2H_THRESHOLD=64K \
        UMSHIM_STAGING_THREADS=2 UMSHIM_HASH=1
    same_as_baseline pt_staging
    [ "$(val pt_staging count.cuMemAllocManaged)" = "$(val baseline count.cuMemAllocManaged)" ] ||
        fail "passthrough + staging: $(val pt_staging count.cuMemAllocManaged) managed allocations, without the shim $(val baseline count.cuMemAllocManaged)"
    [ "$(stat_of pt_staging staged_copies)" -gt 0 ] 2>/dev/null ||
        fail "passthrough + staging: staged_copies '$(stat_of pt_staging staged_copies)' (UMSHIM_STAGING=1 staged nothing)"
    hashes+=("$(stat_of pt_staging d2h_hash)")
    # UMSHIM_STAGING_AFTER beyond all the program's traffic: the engine is on but the driver
    # copies everything, with the same results.
    run pt_staging_after 1 UMSHIM_MODE=passthrough UMSHIM_STAGING=1 UMSHIM_STAGING_THRESHOLD=64K \
        UMSHIM_STAGING_D2H_THRESHOLD=64K UMSHIM_STAGING_AFTER=1T \
        UMSHIM_STAGING_THREADS=2 UMSHIM_HASH=1
    same_as_baseline pt_staging_after
    [ "$(stat_of pt_staging_after staged_copies)" = 0 ] ||
        fail "passthrough + staging after 1T: staged_copies '$(stat_of pt_staging_after staged_copies)' (want 0)"
    hashes+=("$(stat_of pt_staging_after d2h_hash)")
    # UMSHIM_HASH=1: the FNV-1a of all device-to-host data is the same in every mode.
    if [ -z "${hashes[0]}" ] || [ "$(printf '%s\n' "${hashes[@]}" | sort -u | wc -l)" != 1 ] ||
        [ "${hashes[0]}" = 0000000000000000 ]; then
        fail "d2h_hash per mode (passthrough managed prefetch auto, passthrough + staging, + staging after 1T): ${hashes[*]}"
    fi
    ;;
readmostly)
    # Auto's read_mostly rule end to end: granted after two unchanged read-backs (advice
    # 1 = CU_MEM_ADVISE_SET_READ_MOSTLY, then host read-backs), revoked by the first changed
    # one (2 = UNSET_READ_MOSTLY), never granted again at that call site.
    need_baseline
    run auto 1 UMSHIM_MODE=auto UMSHIM_HASH=1 UMSHIM_TRACE="$work/auto.trace"
    same_as_baseline auto
    t=$work/auto.trace
    set_at=$(grep -n '^advise .*advice=1 ' "$t" | head -n 1 | cut -d: -f1)
    unset_at=$(grep -n '^advise .*advice=2 ' "$t" | head -n 1 | cut -d: -f1)
    # content=2: sampled bytes changed; 3: the host copy was gone (its read ran at fault
    # speed: under valgrind that comes first, from the slow memcpy, and revokes just the same).
    changed_at=$(grep -n '^copy .*dir=d2h.*content=[23]' "$t" | head -n 1 | cut -d: -f1)
    same=$(grep -c '^copy .*dir=d2h.*content=1' "$t")
    [ "$same" -ge 2 ] || fail "readmostly: $same read-backs seen unchanged (want >= 2)"
    [ -n "$set_at" ] || fail "readmostly: auto never set ReadMostly on the alternating buffer"
    [ -n "$changed_at" ] || fail "readmostly: the kernel's write was not seen at the next read-back"
    [ -n "$unset_at" ] || fail "readmostly: ReadMostly was not revoked after the write"
    if [ -n "$set_at" ] && [ -n "$changed_at" ] && [ -n "$unset_at" ]; then
        [ "$set_at" -lt "$changed_at" ] && [ "$changed_at" -lt "$unset_at" ] ||
            fail "readmostly: order set $set_at, write seen $changed_at, unset $unset_at"
        [ "$(grep -c '^advise .*advice=1 ' "$t")" = 1 ] ||
            fail "readmostly: ReadMostly set again after the write (the site must remember it)"
        host_reads=$(sed -n "${set_at},${changed_at}p" "$t" | grep -c '^host_access .*dir=d2h')
        [ "$host_reads" -ge 1 ] || fail "readmostly: no host read-back while ReadMostly was set"
    fi
    [ "$(stat_of auto host_copies)" -ge 1 ] 2>/dev/null || fail "readmostly: stats show no host copies"
    # Read-backs of half the buffer vouch only for that half: never ReadMostly on the whole.
    run partial 1 UMSHIM_MODE=auto ALT_PARTIAL=1 UMSHIM_TRACE="$work/partial.trace"
    [ "$(rc_of partial)" = 0 ] || fail "readmostly: ALT_PARTIAL=1 run exited $(rc_of partial)"
    ! grep -q '^advise .*advice=1 ' "$work/partial.trace" ||
        fail "readmostly: ReadMostly granted on read-backs of half the buffer"
    ;;
badinput)
    need_baseline
    run bogus 1 UMSHIM_MODE=bogus
    same_as_baseline bogus
    n=$(grep -c 'UMSHIM_MODE' "$work/bogus.err")
    [ "$n" = 1 ] || fail "UMSHIM_MODE=bogus: $n log lines name UMSHIM_MODE (want exactly one warning)"
    grep 'UMSHIM_MODE' "$work/bogus.err" | grep -q '^umshim: warning: ' || fail "UMSHIM_MODE=bogus: no 'umshim: warning: ' line"
    for v in passthrough managed prefetch auto; do
        grep 'UMSHIM_MODE' "$work/bogus.err" | grep -q "$v" || fail "UMSHIM_MODE=bogus: the warning does not list '$v'"
    done
    [ "$(stat_of bogus mode)" = auto ] || fail "UMSHIM_MODE=bogus: mode '$(stat_of bogus mode)', want the default auto"
    run badbytes 1 UMSHIM_MODE=passthrough UMSHIM_MANAGED_THRESHOLD=12Q
    same_as_baseline badbytes
    n=$(grep -c 'UMSHIM_MANAGED_THRESHOLD' "$work/badbytes.err")
    [ "$n" = 1 ] || fail "UMSHIM_MANAGED_THRESHOLD=12Q: $n log lines name it (want exactly one)"
    ;;
guard)
    need_baseline
    # A: explicit 1 MiB budget, 4 x 512 KiB: two fit, two fall back to cuMemAlloc.
    run budget 1 UMSHIM_MODE=managed UMSHIM_MANAGED_THRESHOLD=64K UMSHIM_DEVICE_BUDGET=1M
    same_as_baseline budget
    [ "$(val budget count.cuMemAllocManaged)" = 2 ] ||
        fail "budget 1M: $(val budget count.cuMemAllocManaged) managed allocations of 512K, want 2"
    [ "$(val budget value.managed_peak)" -le 1048576 ] 2>/dev/null ||
        fail "budget 1M: managed_peak $(val budget value.managed_peak) exceeds the budget"
    [ "$(val budget count.cuMemAlloc_v2)" -ge 2 ] 2>/dev/null ||
        fail "budget 1M: $(val budget count.cuMemAlloc_v2) cuMemAlloc calls, want the fallbacks (>= 2)"
    run budget_auto 1 UMSHIM_MODE=auto UMSHIM_MANAGED_THRESHOLD=64K UMSHIM_DEVICE_BUDGET=1M
    same_as_baseline budget_auto
    [ "$(val budget_auto value.managed_peak)" -le 1048576 ] 2>/dev/null ||
        fail "auto, budget 1M: managed_peak $(val budget_auto value.managed_peak) exceeds the budget"
    # B: budget 0 = device free memory (8M here) minus the margin (6M) = 2M.
    run freemem 1 UMSHIM_MODE=managed UMSHIM_MANAGED_THRESHOLD=64K UMSHIM_DEVICE_BUDGET=0 \
        UMSHIM_BUDGET_MARGIN=6M UMDOUBLE_FREE_MEM=8M GUARD_BUFS=8
    run freemem_base 0 UMDOUBLE_FREE_MEM=8M GUARD_BUFS=8
    same_as_baseline freemem freemem_base
    [ "$(val freemem value.managed_peak)" -le 2097152 ] 2>/dev/null ||
        fail "free 8M - margin 6M: managed_peak $(val freemem value.managed_peak) exceeds 2M"
    [ "$(val freemem count.cuMemAllocManaged)" -ge 1 ] 2>/dev/null ||
        fail "free 8M - margin 6M: no managed allocation at all (the budget is 2M)"
    # C: the opt-in.
    run over 1 UMSHIM_MODE=managed UMSHIM_MANAGED_THRESHOLD=64K UMSHIM_DEVICE_BUDGET=1M UMSHIM_OVERSUBSCRIBE=1
    same_as_baseline over
    [ "$(val over count.cuMemAllocManaged)" = 4 ] ||
        fail "UMSHIM_OVERSUBSCRIBE=1: $(val over count.cuMemAllocManaged) managed allocations, want all 4"
    ;;
ipc)
    need_baseline
    grep -qx 'ipc CUDA_SUCCESS' "$work/baseline.out" || fail "without the shim IPC fails: $(head -n 1 "$work/baseline.out")"
    run ipc_pass 1 UMSHIM_MODE=passthrough
    same_as_baseline ipc_pass
    run ipc_managed 1 UMSHIM_MODE=managed
    [ "$(rc_of ipc_managed)" = 0 ] || fail "managed: exit status $(rc_of ipc_managed)"
    grep -qx 'ipc CUDA_ERROR_INVALID_VALUE' "$work/ipc_managed.out" ||
        fail "managed: cuIpcGetMemHandle on a rewritten allocation returned '$(head -n 1 "$work/ipc_managed.out")', want the driver's CUDA_ERROR_INVALID_VALUE"
    [ "$(sed -n 2p "$work/ipc_managed.out")" = "$(sed -n 2p "$work/baseline.out")" ] || fail "managed: the buffer's data changed"
    n=$(grep -c 'UMSHIM_KEEP_DEVICE' "$work/ipc_managed.err")
    [ "$n" = 1 ] || fail "managed: $n log lines name UMSHIM_KEEP_DEVICE (want exactly one, with the call site)"
    site=$(grep -o 'UMSHIM_KEEP_DEVICE=[^ ]*' "$work/ipc_managed.err" | head -n 1 | sed 's/^UMSHIM_KEEP_DEVICE=//; s/[.,;:)]*$//')
    if [ -z "$site" ]; then
        fail "managed: the log line gives no UMSHIM_KEEP_DEVICE=<site> to copy"
    else
        run ipc_keep 1 UMSHIM_MODE=managed UMSHIM_KEEP_DEVICE="$site"
        same_as_baseline ipc_keep
    fi
    ;;
fork)
    # Under valgrind every child starts a valgrind of its own (seconds each): 10 forks there.
    [ "${VALGRIND:-0}" = 1 ] && export FORK_COUNT=10
    need_baseline
    for mode in passthrough managed prefetch auto; do
        # Two pool threads keep valgrind runs short; 1M makes the uploader's 2 MiB staged (and
        # read-backs of 1 MiB and more, as before D2H had a threshold of its own).
        run fork_$mode 1 UMSHIM_MODE=$mode UMSHIM_MANAGED_THRESHOLD=1M UMSHIM_STAGING_THRESHOLD=1M \
            UMSHIM_STAGING_D2H_THRESHOLD=1M UMSHIM_STAGING_THREADS=2
        same_as_baseline fork_$mode
        sed -n 's/^forks while/    &/p' "$work/fork_$mode.err"
    done
    # auto stages large uploads: the forks really met copies in flight in the engine.
    [ "$(stat_of fork_auto staged_copies)" -gt 0 ] 2>/dev/null ||
        fail "auto: staged_copies '$(stat_of fork_auto staged_copies)' (the uploader's copies were not staged)"
    ;;
exitpaths)
    for scen in reset destroy threads atexit; do
        need_baseline EXIT_SCENARIO=$scen
        mv "$work/baseline.out" "$work/base_$scen.out"
        mv "$work/baseline.rc" "$work/base_$scen.rc"
        for mode in passthrough managed prefetch auto; do
            run ${scen}_$mode 1 EXIT_SCENARIO=$scen UMSHIM_MODE=$mode UMSHIM_MANAGED_THRESHOLD=64K
            same_as_baseline ${scen}_$mode base_$scen
            [ "$(stat_of ${scen}_$mode mode)" = $mode ] ||
                fail "$scen $mode: no stats file written at exit"
            [ "$(stat_of ${scen}_$mode allocs)" -ge 2 ] 2>/dev/null ||
                fail "$scen $mode: stats file counts $(stat_of ${scen}_$mode allocs) allocations (at least 2 made)"
        done
    done
    ;;
nomanaged)
    need_baseline UMDOUBLE_NO_MANAGED=1
    for mode in passthrough managed prefetch auto; do
        run nm_$mode 1 UMDOUBLE_NO_MANAGED=1 UMSHIM_MODE=$mode UMSHIM_MANAGED_THRESHOLD=64K
        same_as_baseline nm_$mode
        m=$(val nm_$mode count.cuMemAllocManaged)
        [ "${m:-0}" -le 1 ] || fail "$mode without managed memory: $m cuMemAllocManaged attempts (detect it, fall back)"
        w=$(grep -c '^umshim: warning: ' "$work/nm_$mode.err")
        [ "$w" -le 1 ] || fail "$mode without managed memory: $w warnings (log the fallback once)"
    done
    ;;
*)
    echo "unknown check $check"
    exit 2
    ;;
esac

if [ "$failures" -eq 0 ]; then
    echo "PASS: $check $(basename "$prog")${VALGRIND:+ (valgrind)}"
    exit 0
fi
echo "$failures check(s) failed; logs in $work"
exit 1
