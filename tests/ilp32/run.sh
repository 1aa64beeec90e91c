#!/usr/bin/env bash
# Builds tests/ilp32/test_ilp32.c with the pure library modules for a 32-bit
# target (`cc -m32`) and runs it.
# Usage: run.sh <C compiler> <source dir> <work dir>
# Exit 77 (ctest SKIP_RETURN_CODE) when this machine cannot do it: the compiler
# cannot build a 32-bit program (Debian: apt-get install gcc-multilib; under
# CI=true that is a failure, since scripts/deps.sh installs it), or the kernel
# cannot execute one (no IA32 emulation: nothing a script can install). A build
# failure of the test itself is a failure.
set -u
cc=$1 src=$2 out=$3
# shellcheck source=../support/skip.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/skip.sh"
mkdir -p "$out"
printf 'int main(void) { return 0; }\n' >"$out/probe.c"
if ! "$cc" -m32 "$out/probe.c" -o "$out/probe" >"$out/probe.log" 2>&1; then
    head -3 "$out/probe.log"
    segops_skip unit/test_ilp32 "'$cc -m32' cannot build a program (install gcc-multilib)" \
        installable
    exit
fi
if ! "$out/probe" >"$out/probe.log" 2>&1; then
    segops_skip unit/test_ilp32 \
        "this kernel cannot execute 32-bit programs ($(head -1 "$out/probe.log"))" machine-cannot
    exit
fi
sources=(config alloc error last_error timefmt json_check json_text event event_pool queue retry)
files=("$src/tests/ilp32/test_ilp32.c")
for s in "${sources[@]}"; do files+=("$src/src/$s.c"); done
"$cc" -m32 -std=c11 -O1 -Wall -Wextra -Werror -I"$src/include" -I"$src/src" "${files[@]}" \
    -o "$out/test_ilp32" || { echo "FAIL: the 32-bit build failed"; exit 1; }
exec "$out/test_ilp32"
