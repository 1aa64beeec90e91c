#!/usr/bin/env bash
# The whole test suite: builds libsegops and runs every test program with ctest,
# then the same suite under the sanitizers and valgrind, the fuzzers and the
# source/symbol checks. `scripts/test.sh --quick` runs only the first stage.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test

jobs=$(nproc)
stage() { printf '\n==== %s\n' "$*"; }

stage "build and test (Debug, warnings as errors)"
cmake -S . -B build/test -DCMAKE_BUILD_TYPE=Debug -DSEGOPS_WARNINGS_AS_ERRORS=ON >/dev/null
cmake --build build/test -j"$jobs"
ctest --test-dir build/test --output-on-failure -j"$jobs"

if [ "${1:-}" = "--quick" ]; then exit 0; fi
