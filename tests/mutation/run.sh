#!/usr/bin/env bash
# A small mutation check: does the suite catch these bugs? Each mutant is one
# textual change to a source file of a copy of the tree (build/mutation/src, the
# tracked files as they are in the work tree). The copy is built once, the
# relevant tests must pass on it unchanged, then for each mutant: apply it,
# rebuild those tests, run each (a non-zero exit or a timeout kills the
# mutant), restore the file. Prints one line per mutant and test and exits
# non-zero when a mutant survives every test meant to kill it, or a mutant no
# longer applies (its text changed: update it here).
#
# Usage: tests/mutation/run.sh [MUTANT...]   (default: all; names below)
# Environment: SEGOPS_MUTATION_TIMEOUT (seconds per test run, default 120);
# SEGOPS_MUTATION_TESTS_FROM=REV takes tests/ from git revision REV instead, to
# see which mutants an older suite let through.
# Results of a run are recorded in tests/mutation/RESULTS.md by hand.
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$src/build/mutation
copy=$work/src
build=$work/build
timeout_s=${SEGOPS_MUTATION_TIMEOUT:-120}

# mutant NAME FILE TESTS OLD NEW: OLD (exact text, once in FILE) becomes NEW.
names=() files=() tests=() olds=() news=()
mutant() {
    names+=("$1") files+=("$2") tests+=("$3") olds+=("$4") news+=("$5")
}

mutant drop-not-reported src/ledger.c \
    "test_faults_overflow test_faults_deadlines test_promises_deadlines" \
    '    segops__report(l->cfg, &info);' \
    '    (void)info; /* MUTANT: the drop is never reported */'
mutant batch-size-trigger-removed src/worker.c "test_delivery_triggers" \
    ' || st.count >= cfg->batch_size ||' \
    ' || /* MUTANT: no batch_size trigger */'
mutant drop-settled-not-counted src/ledger.c \
    "test_faults_overflow test_faults_deadlines" \
    '    if (dropped) count_drop(&l->stats, drop->reason, dropped);' \
    '    /* MUTANT: settled drops are not counted */'
mutant flush-deadline-ignored src/client.c \
    "test_faults_deadlines test_promises_deadlines" \
    '        err = segops__ledger_wait_settled(c->ledger, target, deadline);' \
    '        err = segops__ledger_wait_settled(c->ledger, target, segops__deadline_none()); /* MUTANT */'
mutant shutdown-without-deadline-gets-one src/client.c "test_promises_deadlines" \
    '    segops__deadline_t deadline = segops__deadline_after(segops__clock_monotonic_ms(), timeout_ms);
    /* Read before the stop' \
    '    segops__deadline_t deadline =
        segops__deadline_after(segops__clock_monotonic_ms(), timeout_ms < 0 ? 1000 : timeout_ms);
    /* MUTANT: -1 waits 1 s. Read before the stop'
mutant blocked-track-not-urgent src/admission_overflow.c "test_faults_queue_bounds" \
    '            adm->blocked++; /* makes the queue urgent */
        }
        segops__gate_kick(adm->gate);' \
    '            /* MUTANT: a blocked track neither marks the queue urgent nor wakes the worker */
        }'
mutant flush-interval-ignored src/config.c "test_delivery_triggers" \
    'RANGE_SETTER(flush_interval_ms, uint32_t, flush_interval_ms, 1, 3600000)' \
    'segops_err_t segops_options_set_flush_interval_ms(segops_options_t *opts, uint32_t value) {
    return opts && in_range(value, 1, 3600000) ? SEGOPS_OK : SEGOPS_E_INVALID_ARG; /* MUTANT */
}'
mutant report-inside-callback-nested src/ledger.c "test_promises_callbacks" \
    '        if (segops__in_callback()) {' \
    '        if (0 && segops__in_callback()) { /* MUTANT: reports nest */'
mutant secret-not-wiped src/sign.c "test_secrets_wipe" \
    '    OPENSSL_cleanse(secret, strlen(secret));
    segops__free(secret);' \
    '    segops__free(secret); /* MUTANT: not wiped */'
# Issue 19's untested promises (tests/integration/test_options_*, test_promises_readme,
# test_spool_no_flock, test_error_codes).
mutant redirect-followed src/transport_curl.c "test_promises_readme" \
    'SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);' \
    'SETOPT(e, CURLOPT_FOLLOWLOCATION, 1L); /* MUTANT */'
mutant sync-idle-unbounded src/sync_send.c "test_promises_readme" \
    '#define IDLE_KEPT 8' \
    '#define IDLE_KEPT 16 /* MUTANT */'
mutant free-inside-callback src/client.c "test_promises_readme" \
    '    if (!c || segops__in_callback()) return;' \
    '    if (!c) return; /* MUTANT: frees inside a callback */'
mutant user-agent-suffix-lost src/transport_curl.c "test_options_wire" \
    'cfg->user_agent_suffix ? " " : "",' \
    '"", /* MUTANT: no space before the suffix */'
mutant retry-after-uncapped src/pacer.c "test_options_wire" \
    'r.wait_ms = (uint32_t)SEGOPS__MIN(retry_after_ms, (int64_t)cap);' \
    'r.wait_ms = (uint32_t)SEGOPS__MIN(retry_after_ms, (int64_t)cap * 1000); /* MUTANT */'
mutant sync-timeout-ignored src/sync_send.c "test_options_wire" \
    ' ctx->cfg->sync_timeout_ms);' \
    ' 30000); /* MUTANT: the default */'
mutant connect-timeout-ignored src/transport_curl.c "test_options_wire" \
    'SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->connect_timeout_ms);' \
    'SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, 600000L); /* MUTANT */'
mutant spool-bound-doubled src/spool.c "test_options_spool" \
    'room = s->limits.max_bytes > used ? s->limits.max_bytes - used : 0;' \
    'room = 2 * s->limits.max_bytes > used ? 2 * s->limits.max_bytes - used : 0; /* MUTANT */'
mutant spool-never-synced src/spooler.c "test_options_spool" \
    'bool sync = sp->cfg->spool_fsync_ms && sp->appended_since_sync &&' \
    'bool sync = false && sp->appended_since_sync && /* MUTANT */'
mutant spool-synced-when-off src/spooler.c "test_options_spool" \
    'bool sync = sp->cfg->spool_fsync_ms && sp->appended_since_sync &&' \
    'bool sync = sp->appended_since_sync && /* MUTANT: syncs with spool_fsync_ms 0 */'
mutant no-flock-unexplained src/spool_dir.c "test_spool_no_flock" \
    '    case ENOLCK:
' \
    '    /* MUTANT: ENOLCK unexplained */
'
mutant random-failure-ignored src/sign.c "test_error_codes" \
    'if (segops__random_bytes(b, sizeof b) != SEGOPS_OK) {' \
    'if (segops__random_bytes(b, sizeof b) != SEGOPS_OK && 0) { /* MUTANT */'

selected=("$@")
wanted() { # wanted NAME: whether the command line selects it
    [ ${#selected[@]} -eq 0 ] && return 0
    local s
    for s in "${selected[@]}"; do [ "$s" = "$1" ] && return 0; done
    return 1
}

# apply FILE OLD NEW: replaces the one occurrence; fails when OLD is not there once.
apply() {
    OLD=$2 NEW=$3 perl -0pi -e 'BEGIN { $o = $ENV{OLD}; $n = $ENV{NEW}; $c = 0 }
        $c = () = /\Q$o\E/g; s/\Q$o\E/$n/ if $c == 1; END { exit($c == 1 ? 0 : 1) }' "$1"
}

run_test() { # run_test NAME -> 0 passed, 1 failed, 2 timed out
    timeout "$timeout_s" "$build/tests/$1" >"$work/logs/$1.$2.log" 2>&1
    case $? in 0) return 0 ;; 124) return 2 ;; *) return 1 ;; esac
}

echo "copying the tracked files of $src to $copy"
# A fresh build too: objects of an earlier run may hold a mutant.
rm -rf "$copy" "$build" && mkdir -p "$copy" "$work/logs"
(cd "$src" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$copy" || exit 1
if [ -n "${SEGOPS_MUTATION_TESTS_FROM:-}" ]; then
    echo "tests/ from $SEGOPS_MUTATION_TESTS_FROM"
    rm -rf "$copy/tests"
    git -C "$src" archive "$SEGOPS_MUTATION_TESTS_FROM" tests | tar -xf - -C "$copy" || exit 1
fi
cmake -S "$copy" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DSEGOPS_WARNINGS_AS_ERRORS=OFF \
    -DSEGOPS_BUILD_EXAMPLES=OFF -DSEGOPS_BUILD_BENCH=OFF -DCMAKE_MESSAGE_LOG_LEVEL=WARNING \
    >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }

all_tests=()
for i in "${!names[@]}"; do
    wanted "${names[$i]}" || continue
    for t in ${tests[$i]}; do [[ " ${all_tests[*]} " == *" $t "* ]] || all_tests+=("$t"); done
done
echo "baseline: ${all_tests[*]}"
nice cmake --build "$build" -j2 --target "${all_tests[@]}" >"$work/build.log" 2>&1 ||
    { tail -40 "$work/build.log"; exit 1; }
for t in "${all_tests[@]}"; do
    run_test "$t" baseline || { echo "baseline: $t fails unchanged (see $work/logs)"; exit 1; }
done

status=0
printf '\n%-36s %-26s %s\n' mutant test result
for i in "${!names[@]}"; do
    name=${names[$i]} file=$copy/${files[$i]}
    wanted "$name" || continue
    cp "$file" "$file.orig"
    if ! apply "$file" "${olds[$i]}" "${news[$i]}"; then
        printf '%-36s %-26s %s\n' "$name" - "NOT APPLIED (text changed in ${files[$i]})"
        mv "$file.orig" "$file"
        touch "$file"
        status=1
        continue
    fi
    killed=0
    read -r -a mt <<<"${tests[$i]}"
    if ! nice cmake --build "$build" -j2 --target "${mt[@]}" >"$work/build-$name.log" 2>&1; then
        printf '%-36s %-26s %s\n' "$name" - "does not build (see $work/build-$name.log)"
        killed=1
    else
        for t in "${mt[@]}"; do
            run_test "$t" "$name"
            case $? in
            0) result=survived ;;
            1) result=KILLED killed=1 ;;
            2) result="KILLED (timeout ${timeout_s}s)" killed=1 ;;
            esac
            printf '%-36s %-26s %s\n' "$name" "$t" "$result"
        done
    fi
    mv "$file.orig" "$file"
    touch "$file" # newer than the mutant's object, so the next build restores it
    [ "$killed" -eq 1 ] || status=1
done
# Leave the copy's build as the unchanged tree.
nice cmake --build "$build" -j2 --target "${all_tests[@]}" >"$work/build.log" 2>&1
exit "$status"
