#!/usr/bin/env bash
# Runs every CPU-side test of umshim: the README's test command, and what CI runs.
#   1. bazel test //...                  (unit suites, driver test double, LD_PRELOAD integration)
#   2. the same under ASan + UBSan       (--config=asan)
#   3. under TSan, the targets tagged `tsan`: threaded suites and the LD_PRELOAD integration tests
#   4. the Check suites under valgrind
#   5. every parser's libFuzzer fuzzer for a bounded time
# GPU tests are tagged `gpu` and `manual`: they never run here and are reported as skipped.
# Ends with one line `tests: N passed, N failed`. Installs what it needs (tools/setup.sh).
set -uo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh || exit 1

passed=0
failed=0
log=$(mktemp)
# What failed, with the end of each failing test's log: printed last, because CI shows only
# the tail of this script's output, far below bazel's inline report of the failure.
failures=$(mktemp)
trap 'rm -f "$log" "$failures"' EXIT
# bazel's summary line of a target that did not pass.
not_passed='^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FLAKY|INCOMPLETE)'

# Runs `bazel test` with the given arguments and adds its per-target results to the totals.
stage() {
    local name=$1
    shift
    printf '\n=== %s: bazel test %s\n' "$name" "$*"
    bazel test --test_summary=short "$@" 2>&1 | tee "$log"
    local p f
    p=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
    f=$(grep -cE "$not_passed" "$log")
    # A build error leaves no per-target lines: count the stage itself as one failure.
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        f=1
        printf '%s: no test ran (build error?); the stage output ends:\n' "$name" >>"$failures"
        tail -n 20 "$log" | sed 's/^/    /' >>"$failures"
    fi
    local line target
    grep -E "$not_passed" "$log" |
        while read -r line; do
            printf '%s: %s\n' "$name" "$line" >>"$failures"
            # //pkg:name -> bazel-testlogs/pkg/name/test.log (this stage's logs, until the next).
            target=${line%% *}
            target=${target#//}
            target=bazel-testlogs/${target/://}/test.log
            [ -f "$target" ] && tail -n 25 "$target" | sed 's/^/    /' >>"$failures"
        done
    printf '=== %s: %d passed, %d failed\n' "$name" "$p" "$f"
    passed=$((passed + p))
    failed=$((failed + f))
}

stage "tests" //...
stage "asan+ubsan" --config=asan //...
tsan_targets=$(bazel query 'attr(tags, "tsan", tests(//...))' 2>/dev/null)
if [ -n "$tsan_targets" ]; then
    # shellcheck disable=SC2086
    stage "tsan" --config=tsan $tsan_targets
fi
valgrind_targets=$(bazel query 'kind(cc_test, tests(//...)) except attr(tags, "no_valgrind|gpu|manual", tests(//...))' 2>/dev/null)
if [ -n "$valgrind_targets" ]; then
    # shellcheck disable=SC2086
    stage "valgrind" --run_under='valgrind --quiet --error-exitcode=97 --leak-check=full --errors-for-leak-kinds=definite' \
        --test_env=CK_TIMEOUT_MULTIPLIER=20 --test_timeout=900 $valgrind_targets
fi

if [ -x tests/fuzz/run.sh ]; then
    printf '\n=== fuzz: tests/fuzz/run.sh\n'
    if tests/fuzz/run.sh; then
        passed=$((passed + 1))
        echo "=== fuzz: 1 passed, 0 failed"
    else
        failed=$((failed + 1))
        echo "fuzz: tests/fuzz/run.sh failed (its output is above)" >>"$failures"
        echo "=== fuzz: 0 passed, 1 failed"
    fi
fi

gpu_targets=$(bazel query 'attr(tags, "gpu", //...)' 2>/dev/null | wc -l)
printf '\ngpu suite: %d targets skipped (no GPU here; see README, "Running the GPU suite")\n' "$gpu_targets"
if [ -s "$failures" ]; then
    printf '\nfailed:\n'
    cat "$failures"
fi
printf 'tests: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
