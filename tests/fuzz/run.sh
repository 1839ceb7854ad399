#!/usr/bin/env bash
# Builds the parsers' libFuzzer targets (policy files and trace lines, UMSHIM_* option
# values, recall dataset files, ab's stats files) with clang (Bazel's toolchain here is gcc,
# which has no libFuzzer) and runs each for a bounded time. Fails on the first crash,
# sanitizer report or broken invariant; the reproducer is left in the work directory.
#
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]   (default 60 s, all targets)
#   UM_FUZZ_WORK=/tmp/x  work directory (built binaries, grown corpora, crash files); by
#                        default a fresh one per run, so two runs at once (a CI beside a
#                        hand run) never rebuild a binary the other is running; removed
#                        when every target passed, kept (and named) when one failed
#   UM_FUZZ_MERGE=1      afterwards, merge what each run found into the seed corpus
#                        (tests/fuzz/corpus/<target>), minimised, for `bazel test` replays
#
# The seed corpora are only read; new inputs go to $UM_FUZZ_WORK/corpus/<target>.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(trace_line policy_file policy_replay options_value recall_file ab_stats)
fi
own_work=0
if [ -n "${UM_FUZZ_WORK:-}" ]; then
    work=$UM_FUZZ_WORK
    mkdir -p "$work"
else
    work=$(mktemp -d /tmp/umshim-fuzz.XXXXXX)
    own_work=1
fi
cc=${CC_FUZZ:-clang}

# The sources each target links: pure C, no CUDA.
sources() {
    case "$1" in
    trace_line | policy_file | policy_replay)
        echo policy/event.c policy/trace_format.c policy/stats.c policy/policy.c policy/policy_file.c ;;
    options_value) echo shim/options.c shim/bytes.c shim/log.c ;;
    recall_file) echo kernels/recall_data.c ;;
    ab_stats) echo tools/ab.c tools/cli.c ;; # ab.c calls cli.c's helpers, nothing more
    *) echo "run.sh: unknown target $1" >&2; return 1 ;;
    esac
}
cflags=(-std=gnu11 -D_GNU_SOURCE -g -O1 -I. -Wall -Wextra -Wno-unused-parameter
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)

status=0
for t in "${targets[@]}"; do
    bin="$work/${t}_fuzz"
    srcs=$(sources "$t")
    echo "== $t: building $bin"
    # shellcheck disable=SC2086 # srcs is a list of plain paths
    "$cc" "${cflags[@]}" "tests/fuzz/${t}_fuzz.c" $srcs -lm -o "$bin"
    mkdir -p "$work/corpus/$t" "$work/crash/$t"
    echo "== $t: fuzzing for ${seconds}s"
    if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/crash/$t/" "$work/corpus/$t" "tests/fuzz/corpus/$t" \
        > "$work/$t.log" 2>&1; then
        echo "== $t: FAILED (log: $work/$t.log; reproducer in $work/crash/$t/)"
        tail -40 "$work/$t.log"
        status=1
        continue
    fi
    grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)|cov:' "$work/$t.log" |
        tail -4 || true
    if [ "${UM_FUZZ_MERGE:-0}" = 1 ]; then
        "$bin" -merge=1 "tests/fuzz/corpus/$t" "$work/corpus/$t" > "$work/$t.merge.log" 2>&1
        echo "== $t: seed corpus now $(ls "tests/fuzz/corpus/$t" | wc -l) files"
    fi
done
if [ "$status" -eq 0 ] && [ "$own_work" = 1 ]; then
    rm -rf "$work"
elif [ "$status" -ne 0 ]; then
    echo "== work directory kept: $work"
fi
exit $status
