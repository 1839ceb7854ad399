#!/usr/bin/env bash
# Builds everything the GPU suite and the benchmarks need and packs it into .gpu/suite/
# (ignored by git, carried to the GPU machine by the device tool), well under 64 MiB:
#   bin/      the programs and libumshim.so, side by side (umshim finds the library there)
#   tests/, tools/gpu/   the suite's scripts
# Which programs: the fixed list below plus every target and file in tests/gpu/MANIFEST
# (lines `//pkg:target` are Bazel targets, other lines are files copied with their path).
set -euo pipefail
cd "$(dirname "$0")/../.."

pack=.gpu/suite
targets=(
    //shim:libumshim.so
    //tools:umshim
    //tools:bench_transfer
    //kernels:recall_demo
    //kernels:recall_demo_um
    //kernels:recall_bench
    //tests/bench:shim_overhead
    //tests/bench:alternating
    //tests/gpu:staging_bench
    //tests/gpu:batch_copy_bench
    //tests/gpu:populate_bench
)
files=()
if [ -f tests/gpu/MANIFEST ]; then
    while read -r line; do
        line=${line%%#*}
        line=$(echo "$line" | xargs)
        [ -n "$line" ] || continue
        case "$line" in
            //*) targets+=("$line") ;;
            *) files+=("$line") ;;
        esac
    done <tests/gpu/MANIFEST
fi

# Keep only targets that exist, so a pack never fails on a program not yet written.
existing=()
for t in "${targets[@]}"; do
    if bazel query "$t" >/dev/null 2>&1; then
        existing+=("$t")
    else
        echo "pack: skipping $t (no such target)" >&2
    fi
done
bazel build "${existing[@]}" >&2

rm -rf "$pack"
mkdir -p "$pack/bin"
for t in "${existing[@]}"; do
    pkg=${t#//}
    pkg=${pkg%%:*}
    name=${t##*:}
    cp -L "bazel-bin/$pkg/$name" "$pack/bin/$name"
    chmod u+w "$pack/bin/$name"
done
for f in "${files[@]}"; do
    mkdir -p "$pack/$(dirname "$f")"
    cp -L "$f" "$pack/$f"
done
strip --strip-debug "$pack"/bin/* 2>/dev/null || true
# The GPU machine gets a copy of the working tree whose .git may be stale: the pack says which
# commit it was built from (and whether the tree had uncommitted changes).
{ git rev-parse HEAD; git diff --quiet HEAD -- . ':!.gpu' || echo "(with uncommitted changes)"; } |
    paste -sd' ' >"$pack/COMMIT"
du -sh "$pack" >&2
echo "pack: ready; on the GPU machine run: bash tools/gpu/run.sh [suite|bench|all]" >&2
