#!/usr/bin/env bash
# Installs what umshim's build and tests need on a Debian 12 machine, and nothing when it is
# already there (idempotent). Says what it does. The CUDA toolkit itself (nvcc 13.0 at
# /usr/local/cuda) comes with the machine image; this script checks for it.
set -euo pipefail

say() { printf 'setup: %s\n' "$*" >&2; }

# Debian package -> a file that proves it is installed.
packages=(
    "bazel-bootstrap:/usr/bin/bazel"
    "bazel-rules-java:/usr/share/bazel/rules/java/WORKSPACE"
    "check:/usr/lib/x86_64-linux-gnu/libcheck_pic.a"
    "libsubunit-dev:/usr/lib/x86_64-linux-gnu/libsubunit.a"
    "valgrind:/usr/bin/valgrind"
    "clang:/usr/bin/clang"
    "python3:/usr/bin/python3"
)

missing=()
for entry in "${packages[@]}"; do
    pkg=${entry%%:*}
    proof=${entry#*:}
    [ -e "$proof" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
    say "all build and test packages are installed"
else
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    say "installing with apt-get: ${missing[*]}"
    $sudo apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    say "installed: ${missing[*]}"
fi

if [ ! -x /usr/local/cuda/bin/nvcc ] || [ ! -f /usr/local/cuda/include/cuda.h ]; then
    say "error: the CUDA toolkit (13.0) is not at /usr/local/cuda; install it first" 
    exit 1
fi
say "CUDA toolkit: $(/usr/local/cuda/bin/nvcc --version | tail -n 2 | head -n 1)"
