#!/usr/bin/env bash
# The whole test suite: builds libsegops and runs every test program with ctest,
# then the same suite under the sanitizers and valgrind, the fuzzers and the
# source/symbol checks. `scripts/test.sh --quick` runs only the first stage.
#
# Every stage runs, and every check inside a stage, whatever failed before it;
# one summary at the end gives each stage's result, time, tests run and tests
# skipped (with the reasons), and the script exits non-zero if anything failed.
#
# Skips are counted: a test that cannot run here (tests/support/skip.h and
# skip.sh) appends its reason to $SEGOPS_SKIP_LOG, and so does this script for
# a test it leaves out. Under CI=true a skip whose cause the machine can be given
# (scripts/deps.sh installs it, CI runs as root) is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test || { echo "test.sh: installing the dependencies failed" >&2; exit 1; }

jobs=$(nproc)
summary=() skips=() skipped_tests=() failures=()

# check CMD...: runs one check of a stage; a failure is remembered, not fatal, so
# the checks after it still run. Stage functions return check_status.
check_status=0
check() {
    if ! "$@"; then
        printf '**** check failed: %s\n' "$*"
        check_status=1
    fi
}

# ctest_run LOG CTEST-ARGS...: runs ctest, keeping its output in LOG for the
# summary (tests run, skipped and why).
ctest_run() {
    local log=$1
    shift
    ctest "$@" 2>&1 | tee "$log"
    return "${PIPESTATUS[0]}"
}

# script_skip installable|machine-cannot "TEST: REASON": records a test this
# script leaves out, like a test's own skip; under CI=true an installable cause
# fails the stage.
script_skip() {
    local cause=$1 what=$2 note=""
    if [ "$cause" = installable ] && [ "${CI:-}" = true ]; then
        note=" (a FAILURE under CI: the machine can be given this)"
        check_status=1
    fi
    printf 'skipped: %s%s\n' "$what" "$note"
    printf 'test.sh %s%s\n' "$what" "$note" >>"$SEGOPS_SKIP_LOG"
}

# The "N tests ... out of M" line and the skipped tests of a ctest log, and the
# skipped tests recorded in the stage's skip log.
ctest_counts() { # ctest_counts LOG SKIP-LOG -> "M run, K programs skipped, S tests skipped"
    local log=$1 skip_log=$2 total skipped tests_skipped=0
    total=$(sed -nE 's/.*tests failed out of ([0-9]+).*/\1/p' "$log" | awk '{ n += $1 } END { print n }')
    skipped=$(grep -cE '\*\*\*Skipped|\(Skipped\)' "$log" || true)
    [ -s "$skip_log" ] && tests_skipped=$(wc -l <"$skip_log")
    printf '%s run, %s programs skipped, %s tests skipped' "${total:-?}" "$skipped" "$tests_skipped"
}

run_stage() { # run_stage "TITLE" FUNCTION
    local title=$1 fn=$2 started=$SECONDS rc
    printf '\n==== %s\n' "$title"
    stage_log=build/stage-$fn.log
    mkdir -p build
    : >"$stage_log"
    export SEGOPS_SKIP_LOG=$PWD/build/skips-$fn.log
    : >"$SEGOPS_SKIP_LOG"
    check_status=0
    "$fn"
    rc=$?
    [ "$check_status" -eq 0 ] || rc=1
    local result=ok elapsed=$((SECONDS - started)) counts=""
    if [ "$rc" -ne 0 ]; then
        result=FAILED
        failures+=("$title")
        printf '**** FAILED: %s\n' "$title"
    fi
    if [ -s "$stage_log" ] || [ -s "$SEGOPS_SKIP_LOG" ]; then
        counts=$(ctest_counts "$stage_log" "$SEGOPS_SKIP_LOG")
    fi
    summary+=("$(printf '%-46s %-6s %3dm%02ds  %s' "$title" "$result" $((elapsed / 60)) \
        $((elapsed % 60)) "$counts")")
    local t
    while read -r t; do
        [ -n "$t" ] && skips+=("$title: $t")
    done < <(grep -E '\*\*\*Skipped' "$stage_log" 2>/dev/null |
             sed -E 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+) .*/\1/')
    while read -r t; do
        [ -n "$t" ] && skipped_tests+=("$title: $t")
    done <"$SEGOPS_SKIP_LOG"
}

print_summary() {
    printf '\n==== summary (%dm%02ds)\n' $((SECONDS / 60)) $((SECONDS % 60))
    printf '%s\n' "${summary[@]}"
    if [ ${#skips[@]} -gt 0 ]; then
        printf '\nskipped test programs (their output says why):\n'
        printf '  %s\n' "${skips[@]}"
    fi
    if [ ${#skipped_tests[@]} -gt 0 ]; then
        printf '\nskipped tests, with the reasons:\n'
        printf '  %s\n' "${skipped_tests[@]}"
    fi
    if [ ${#failures[@]} -gt 0 ]; then
        printf '\nFAILED: %s\n' "${failures[@]}"
    fi
}

stage_debug() {
    check cmake -S . -B build/test -DCMAKE_BUILD_TYPE=Debug -DSEGOPS_WARNINGS_AS_ERRORS=ON \
        -DSEGOPS_TEST_TIMEOUT_SCALE=1 -DCMAKE_MESSAGE_LOG_LEVEL=WARNING
    check cmake --build build/test -j"$jobs"
    [ "$check_status" -eq 0 ] || return 1
    # A skipped program prints why; show it (ctest hides the output of passes).
    check ctest_run "$stage_log" --test-dir build/test --output-on-failure -j"$jobs"
    local t
    for t in $(grep -E '\*\*\*Skipped' "$stage_log" | awk '{print $4}'); do
        printf -- '--- %s: ' "$t"
        ctest --test-dir build/test -R "^$t\$" -V 2>/dev/null | grep -m1 -iE 'skipped' || echo
    done
}

run_stage "build and test (Debug, warnings as errors)" stage_debug
if [ "${1:-}" = "--quick" ]; then
    print_summary
    [ ${#failures[@]} -eq 0 ]
    exit
fi

# ---- Stages after the first run even when one fails, so one CI log shows every
# problem; the script still exits non-zero if any failed. Each stage runs in a
# subshell with -e, in its own build directory under build/.

# Quiet configure/build: progress lines go to a log (printed on failure), compiler
# diagnostics still reach stderr.
build() { # build DIR [cmake args...]
    local dir=$1
    shift
    mkdir -p "$dir"
    if ! { cmake -S . -B "$dir" "$@" && cmake --build "$dir" -j"$jobs"; } >"$dir/build.log"; then
        tail -n 40 "$dir/build.log"
        return 1
    fi
}

# A test skips through SEGOPS_SKIP (tests/support/skip.h), which says why and is
# counted; cmocka's bare skip() would pass silently.
no_bare_skips() {
    local found
    found=$(grep -rnE '\bskip\(\)' tests --include='*.c' --include='*.cpp' --include='*.h' |
        grep -v '^tests/support/skip.h:')
    [ -z "$found" ] && return 0
    printf 'a bare skip() (use SEGOPS_SKIP from tests/support/skip.h):\n%s\n' "$found"
    return 1
}

stage_checks() {
    check no_bare_skips
    # Every global symbol of the static archive is segops_-prefixed (stage 1's build).
    check bash tools/check-symbols.sh build/test/libsegops.a
    # No banned libc calls in src/.
    check bash tools/check-banned.sh src
    # No include circle between src/ modules (files over 400 lines: a warning).
    check bash tools/check-includes.sh src
}

# ASan+UBSan builds with clang-19 when it is there (scripts/deps.sh installs it),
# in its own build directory (CMake ignores CC in an existing one), else with
# GCC 12; TSan builds with clang 14. consumers/all is not run under them: it
# rebuilds the library several times without them (stage 1 runs it).
# integration/test_fork (stage 1 and valgrind run it everywhere):
#   ASan: runs under clang-19, whose runtime holds its allocator locks across
#     fork(). GCC 12's does not: a child forked while another thread allocates
#     hangs in the sanitizer's malloc (4 runs of 5 hung, the child's worker
#     blocked in SizeClassAllocator64::GetFromAllocator).
#   TSan: not run. TSan does not check a child of a multi-threaded fork (it
#     kills it when it starts a thread, exit 66, unless die_after_fork=0, and
#     then ignores it), and clang-19's runtime still hangs there: with
#     die_after_fork=0, a child's new worker blocked in
#     __tsan::DenseSlabAlloc<MBlock>::AllocSuperBlock (1 run in 9 beside another
#     test; ctest -j2 timed out at 240 s).
sanitizer_cc=$(command -v clang-19 || true)
no_fork_test=(-E '^integration/test_fork$')
sanitizer_ctest() { # sanitizer_ctest BUILD_DIR [CTEST ARGS...]
    local dir=$1
    shift
    check ctest_run "$stage_log" --test-dir "$dir" --output-on-failure -j"$jobs" -LE consumers "$@"
}

stage_asan() {
    local dir=build/asan cc=cc cxx=c++ skip=("${no_fork_test[@]}")
    # The C++ wrapper's tests and example link the library: one compiler for both.
    if [ -n "$sanitizer_cc" ]; then
        dir=build/asan-clang19 cc=$sanitizer_cc cxx=${sanitizer_cc/clang/clang++} skip=()
    else
        script_skip installable "integration/test_fork: not run under ASan: no clang-19 (GCC 12's ASan hangs a forked child)"
    fi
    CC=$cc CXX=$cxx build "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEGOPS_SANITIZE=address ||
        return 1
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        sanitizer_ctest "$dir" "${skip[@]}"
}

stage_tsan() {
    # No suppressions are needed: libcurl, OpenSSL and libmicrohttpd report nothing.
    CC=clang CXX=clang++ build build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DSEGOPS_SANITIZE=thread || return 1
    script_skip machine-cannot "integration/test_fork: not run under TSan (it does not check a child of a multi-threaded fork)"
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 sanitizer_ctest build/tsan "${no_fork_test[@]}"
}

# valgrind memcheck over stage 1's Debug build (tests, and through --trace-children
# the segops CLI that test_cli_* spawn; system binaries are skipped). No suppressions:
# third-party "still reachable"/"possibly lost" blocks are not errors with these flags.
memcheck() { # memcheck "VALGRIND OPTIONS" CTEST-SELECTION...
    local opts=$1 tmp=build/test/Testing/Temporary
    shift
    rm -f "$tmp"/MemoryChecker.*.log
    if ! ctest --test-dir build/test -T memcheck --output-on-failure -j"$jobs" "$@" \
            --overwrite MemoryCheckCommand="$(command -v valgrind)" \
            --overwrite MemoryCheckCommandOptions="$opts" >build/test/memcheck.log 2>&1; then
        cat build/test/memcheck.log >>"$stage_log"
        grep -vE '^ +Start |^ *[0-9]+/[0-9]+ MemCheck.* Passed ' build/test/memcheck.log | tail -n 80
        # valgrind's own reports (ctest keeps them out of --output-on-failure).
        for log in "$tmp"/MemoryChecker.*.log; do
            if [ -s "$log" ]; then echo "--- $log"; head -n 150 "$log"; fi
        done
        return 1
    fi
    cat build/test/memcheck.log >>"$stage_log"
    grep -E 'tests passed' build/test/memcheck.log
}

# Not under the full check:
#   integration/test_signals: valgrind keeps SIGRTMAX (VG_SIGVGKILL) for itself, so no
#     thread can block it and the "worker blocks every signal" assertion cannot hold.
#   integration/test_fork and test_spool_fork (run below without the leak check):
#     a forked child inherits memory owned by the parent's worker thread, which
#     does not exist in the child, so valgrind calls it lost and every child would
#     exit 1. (test_spool_fork skips itself under TSan and GCC's ASan.)
#   unit/test_ilp32: it builds and runs 32-bit programs, which valgrind (following
#     children) cannot run without the i386 debug packages ("Cannot continue").
#   cpp/compile/*: each runs a compiler through cmake -P to see it refuse a misuse;
#     no library code runs there. The C++ programs (cpp/test_cpp_wrapper*) do run.
stage_valgrind() {
    if ! command -v valgrind >/dev/null; then
        script_skip installable "every test: no valgrind"
        return
    fi
    script_skip machine-cannot "integration/test_signals: not run under valgrind (it keeps SIGRTMAX)"
    script_skip machine-cannot "unit/test_ilp32: not run under valgrind (32-bit children)"
    # Valgrind runs a test 10 to 50 times slower: scale the ctest timeouts (the
    # tests' own hang bounds are events, not speed limits).
    check cmake -S . -B build/test -DSEGOPS_TEST_TIMEOUT_SCALE="${SEGOPS_VALGRIND_TIMEOUT_SCALE:-5}" \
        -DCMAKE_MESSAGE_LOG_LEVEL=WARNING
    local common="-q --error-exitcode=1 --num-callers=30 --trace-children=yes"
    common+=" --trace-children-skip=/bin/*,/usr/bin/*,/usr/sbin/*"
    check memcheck "$common --leak-check=full --errors-for-leak-kinds=definite,indirect \
--show-leak-kinds=definite,indirect" -L '^(unit|integration|cpp)$' \
        -E '^(integration/test_(signals|fork|spool_fork)|unit/test_ilp32|cpp/compile/.*)$'
    check memcheck "$common --leak-check=no" -R '^integration/test_(spool_)?fork$'
}

# libFuzzer, each target for SEGOPS_FUZZ_SECONDS (default 60), $jobs at a time. The
# checked-in corpus (seeds plus every input that once crashed) is replayed first.
fuzz_one() { # fuzz_one TARGET SECONDS
    local t=$1 out=build/fuzz/run/$1
    rm -rf "$out/crash-"* "$out/leak-"* "$out/timeout-"* "$out/oom-"*
    mkdir -p "$out/corpus"
    if build/fuzz/tests/fuzz/"$t" -max_total_time="$2" -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="$out/" "$out/corpus" "tests/fuzz/corpus/$t" >"$out/log" 2>&1; then
        awk -v t="$t" '$2 == "DONE" { sub(/^#/, "", $1); line = t ": " $1 " runs, cov " $4 \
            ", corpus " $8 } END { print line ? line : t ": ok" }' "$out/log"
    else
        echo "$t: FAILED; the input is kept in $out/, keep it in tests/fuzz/corpus/$t/"
        grep -vE '^#[0-9]+|^INFO:' "$out/log" | tail -n 60
        return 1
    fi
}

stage_fuzz() {
    local secs=${SEGOPS_FUZZ_SECONDS:-60} t failed=0
    CC=clang build build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEGOPS_FUZZ=ON \
        -DSEGOPS_BUILD_TESTS=OFF -DSEGOPS_BUILD_TOOLS=OFF -DSEGOPS_BUILD_EXAMPLES=OFF \
        -DSEGOPS_BUILD_BENCH=OFF -DSEGOPS_INSTALL=OFF || return 1
    local targets=(fuzz_payload fuzz_timefmt fuzz_retry_after fuzz_responses fuzz_options
                   fuzz_spool_reader)
    for t in "${targets[@]}"; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
        (if fuzz_one "$t" "$secs"; then echo 0; else echo 1; fi) \
            >"build/fuzz/run-$t.out" 2>&1 &
    done
    wait
    for t in "${targets[@]}"; do # the last line of each output is its status
        sed '$d' "build/fuzz/run-$t.out"
        [ "$(tail -n 1 "build/fuzz/run-$t.out")" = 0 ] || failed=1
    done
    return "$failed"
}

run_stage "symbol, banned-function and include checks" stage_checks
run_stage "ASan+UBSan (RelWithDebInfo)" stage_asan
run_stage "TSan (clang, RelWithDebInfo)" stage_tsan
run_stage "valgrind memcheck (stage 1 Debug build)" stage_valgrind
run_stage "libFuzzer (${SEGOPS_FUZZ_SECONDS:-60}s per target)" stage_fuzz

print_summary
[ ${#failures[@]} -eq 0 ]
