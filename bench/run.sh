#!/usr/bin/env bash
# Builds the benchmark in Release, runs every scenario against segops-dev-server
# (a separate process) several times, and writes BENCHMARKS.md with the medians.
#
#   bench/run.sh           full run (~7 minutes on 2 cores), writes BENCHMARKS.md
#   bench/run.sh --quick   one short run of each scenario (smoke test); writes
#                          BENCHMARKS.quick.md instead, so the real report survives
#   bench/run.sh --spool   only the spool on/off rows (bench/spool.sh), 3 short
#                          runs; prints their table and writes nothing
#
# Environment: SEGOPS_BENCH_BUILD_DIR (default build-bench-release).
set -euo pipefail

QUICK=0 SPOOL_ONLY=0
case "${1:-}" in
--quick) QUICK=1 ;;
--spool) SPOOL_ONLY=1 ;;
"") ;;
*) echo "usage: bench/run.sh [--quick | --spool]" >&2; exit 2 ;;
esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SEGOPS_BENCH_BUILD_DIR:-$ROOT/build-bench-release}
if ((SPOOL_ONLY)); then
    OUT=
    RUNS=3 ENQ_CALLS=200000 ENQ_SAMPLES=50000 E2E_EVENTS=200000
elif ((QUICK)); then
    OUT=$ROOT/BENCHMARKS.quick.md
    RUNS=1 SLOW_RUNS=1 ENQ_CALLS=200000 ENQ_SAMPLES=50000 E2E_EVENTS=200000 SLOW_SECONDS=2
    PROPS_CALLS=50000 PACING_SECONDS=5
else
    OUT=$ROOT/BENCHMARKS.md
    RUNS=5 SLOW_RUNS=3 ENQ_CALLS=1000000 ENQ_SAMPLES=400000 E2E_EVENTS=1000000 SLOW_SECONDS=10
    PROPS_CALLS=200000 PACING_SECONDS=20
fi
E2E_THREADS=4
STEADY_RATE=150000 # calls/s of the paced 1-thread steady-state pass (1 ms ticks)
SLOW_THREADS=2
BURST_EVENTS=200000
PACING_RATES=(20 100 1000 10000) # events/s of the pacing row, one producer thread
INFLIGHT_DELAYS=(0 50 200 500)   # ms per request of the in-flight rows
# The library's default max_in_flight, as the report names it.
DEFAULT_IN_FLIGHT=$(sed -n 's/^ *\.max_in_flight = \([0-9]*\),.*/\1/p' "$ROOT/src/config.c")
# A local-only key; passed through the environment so it stays out of `ps`.
export SEGOPS_DEV_SK=sk_bench_local SEGOPS_BENCH_KEY=sk_bench_local

echo "== building (Release) in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSEGOPS_BUILD_BENCH=ON \
    -DSEGOPS_BUILD_TESTS=OFF -DSEGOPS_BUILD_EXAMPLES=OFF -DSEGOPS_INSTALL=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target segops-bench segops-dev-server >/dev/null
BENCH=$BUILD/bench/segops-bench
SERVER=$BUILD/tools/segops-dev-server

RES=$(mktemp -d)
SRV_PID=
cleanup() {
    [[ -n $SRV_PID ]] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
    rm -rf "$RES"
}
trap cleanup EXIT

# start_server PROGRAM ARGS...: starts a server, waits for its port, sets URL.
start_server() {
    rm -f "$RES/port"
    "$@" --port-file "$RES/port" >/dev/null 2>>"$RES/server.log" &
    SRV_PID=$!
    for _ in $(seq 100); do
        [[ -s $RES/port ]] && break
        sleep 0.05
    done
    [[ -s $RES/port ]] || { echo "server did not start" >&2; cat "$RES/server.log" >&2; exit 1; }
    URL=http://127.0.0.1:$(cat "$RES/port")
}
start_devserver() { start_server "$SERVER" --port 0 --quiet "$@"; }
start_sink() { start_server "$BENCH" sink; }
stop_server() {
    kill "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
    SRV_PID=
}
# CPU seconds (user + system) the server process has used so far.
server_cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$SRV_PID/stat"; }

# median KEY FILE...: the median of KEY=value over the files (lower middle when even).
median() {
    local key=$1
    shift
    grep -h "^$key=" "$@" | cut -d= -f2 | sort -g |
        awk '{v[NR] = $1} END {if (NR == 0) print "n/a"; else print v[int((NR + 1) / 2)]}'
}
m() { median "$@"; }
# verdict VALUE OP LIMIT: "met" or "missed" (awk does the float comparison).
verdict() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
    ok = (op == "<=") ? v <= l : v >= l; print (v == "n/a") ? "n/a" : (ok ? "met" : "missed") }'; }
# requests_per_min FILE: the server's requests in a `slow` run's window, per minute.
requests_per_min() {
    awk -F= '/^server_requests=/ {r = $2} /^window_s=/ {w = $2} END {printf "%.0f", r * 60 / w}' "$1"
}
# range KEY FILE...: "min–max" over the runs.
range() {
    local key=$1
    shift
    grep -h "^$key=" "$@" | cut -d= -f2 | sort -g | awk 'NR == 1 {a = $1} {b = $1} END {print a "–" b}'
}

# shellcheck source=bench/spool.sh
source "$ROOT/bench/spool.sh"
if ((SPOOL_ONLY)); then
    spool_measure
    echo
    spool_report
    echo
    echo "| target | measured | verdict |"
    echo "|---|---|---|"
    spool_targets
    exit 0
fi

echo "== enqueue (1, 2, 4, 8 producer threads; $RUNS runs each)"
start_devserver
for t in 1 2 4 8; do
    # 1 thread also runs the paced steady-state pass (--rate), after the burst pass.
    rate=()
    ((t == 1)) && rate=(--rate "$STEADY_RATE")
    for r in $(seq "$RUNS"); do
        "$BENCH" enqueue --url "$URL" --threads "$t" --calls "$ENQ_CALLS" --samples "$ENQ_SAMPLES" \
            "${rate[@]}" >"$RES/enq_${t}_$r"
    done
    echo "   $t threads: $(median track_calls_per_s "$RES"/enq_"${t}"_*) calls/s"
done

echo "== payload builder vs snprintf text + segops_track ($RUNS runs)"
for r in $(seq "$RUNS"); do
    "$BENCH" props --url "$URL" --calls "$PROPS_CALLS" >"$RES/props_$r"
done
echo "   builder $(median props_builder_track_ns "$RES"/props_*) ns, text $(median props_text_track_ns "$RES"/props_*) ns per call"
stop_server

echo "== end to end ($E2E_EVENTS events, $E2E_THREADS threads; $RUNS runs)"
for r in $(seq "$RUNS"); do
    start_devserver # fresh server: max_events_per_request is per server
    "$BENCH" e2e --url "$URL" --threads "$E2E_THREADS" --events "$E2E_EVENTS" >"$RES/e2e_$r"
    echo "server_cpu_s=$(server_cpu)" >>"$RES/e2e_$r"
    stop_server
done
echo "   $(median events_per_s "$RES"/e2e_*) events/s"

echo "== client capacity: the same against a sink that does not parse ($RUNS runs)"
for r in $(seq "$RUNS"); do
    start_sink
    "$BENCH" e2e --url "$URL" --threads "$E2E_THREADS" --events "$E2E_EVENTS" >"$RES/cap_$r"
    stop_server
done
echo "   $(median events_per_s "$RES"/cap_*) events/s"

echo "== slow server (--delay-ms 50, ${SLOW_SECONDS}s window; $SLOW_RUNS runs)"
for r in $(seq "$SLOW_RUNS"); do
    start_devserver --delay-ms 50
    "$BENCH" slow --url "$URL" --threads "$SLOW_THREADS" --seconds "$SLOW_SECONDS" >"$RES/slow_$r"
    stop_server
done
echo "   $(median events_per_s "$RES"/slow_*) events/s"

echo "== in flight: delivered events/s and requests/min at ${INFLIGHT_DELAYS[*]} ms per request, 1 vs default in flight"
for d in "${INFLIGHT_DELAYS[@]}"; do
    for f in 1 default; do
        fl=()
        [[ $f == 1 ]] && fl=(--in-flight 1)
        start_devserver --delay-ms "$d"
        "$BENCH" slow --url "$URL" --threads "$SLOW_THREADS" --seconds "$SLOW_SECONDS" "${fl[@]}" \
            >"$RES/inflight_${d}_$f"
        stop_server
        echo "   ${d} ms, $f in flight: $(m events_per_s "$RES/inflight_${d}_$f") events/s," \
            "$(requests_per_min "$RES/inflight_${d}_$f") requests/min"
    done
done
echo "== in flight: client CPU per delivered event on loopback, 1 vs default in flight ($RUNS runs)"
start_devserver
for r in $(seq "$RUNS"); do
    "$BENCH" e2e --url "$URL" --threads "$E2E_THREADS" --events "$E2E_EVENTS" --in-flight 1 >"$RES/cpu1_$r"
    "$BENCH" e2e --url "$URL" --threads "$E2E_THREADS" --events "$E2E_EVENTS" >"$RES/cpun_$r"
done
stop_server
echo "   1 in flight $(median cpu_ns_per_event "$RES"/cpu1_*) ns/event," \
    "default $(median cpu_ns_per_event "$RES"/cpun_*) ns/event"

echo "== burst memory ($BURST_EVENTS events, server stopped; $RUNS runs)"
# A port that was just closed: bind an ephemeral one via the sink, then stop it.
start_sink
CLOSED_URL=$URL
stop_server
for r in $(seq "$RUNS"); do
    "$BENCH" burst --url "$CLOSED_URL" --events "$BURST_EVENTS" >"$RES/burst_$r"
done
echo "   $(median overhead_bytes_per_event "$RES"/burst_*) bytes overhead per event"

echo "== pacing (default options, 1 thread, ${PACING_SECONDS}s at each of ${PACING_RATES[*]} events/s)"
# One run per rate: the figures follow from the pacing rule, not from machine noise.
for rate in "${PACING_RATES[@]}"; do
    start_devserver # fresh server: its request log holds this rate's requests only
    "$BENCH" pacing --url "$URL" --rate "$rate" --seconds "$PACING_SECONDS" >"$RES/pacing_$rate"
    stop_server
    echo "   $rate events/s: $(median pacing_requests_per_min "$RES/pacing_$rate") requests/min," \
        "$(median pacing_events_per_request "$RES/pacing_$rate") events/request," \
        "delay p50 $(median pacing_delay_p50_ms "$RES/pacing_$rate") ms," \
        "p99 $(median pacing_delay_p99_ms "$RES/pacing_$rate") ms"
done

spool_measure

# ------------------------------------------------------------------ report

CPU_MODEL=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain -- src 2>/dev/null | grep -q . && echo " (src/ modified)" || true)

E1=$RES/enq_1_*
P50_1=$(m track_p50_ns $E1)
P99_1=$(m track_p99_ns $E1)
SP50_1=$(m steady_p50_ns $E1)
SP99_1=$(m steady_p99_ns $E1)
SP999_1=$(m steady_p999_ns $E1)
THR_1=$(m track_calls_per_s $E1)
THR_8=$(m track_calls_per_s "$RES"/enq_8_*)
E2E_RATE=$(m events_per_s "$RES"/e2e_*)
E2E_CPU=$(m cpu_ns_per_event "$RES"/e2e_*)
E2E_MAXREQ=$(grep -h '^server_max_events_per_request=' "$RES"/e2e_* | cut -d= -f2 | sort -g | tail -1)
CAP_RATE=$(m events_per_s "$RES"/cap_*)
CAP_CPU=$(m cpu_ns_per_event "$RES"/cap_*)
SLOW_RATE=$(m events_per_s "$RES"/slow_*)
OVERHEAD=$(m overhead_bytes_per_event "$RES"/burst_*)
PROPS_B=$(m props_builder_track_ns "$RES"/props_*)
PROPS_T=$(m props_text_track_ns "$RES"/props_*)
PROPS_R=$(m props_ratio "$RES"/props_*)
PACE_RPM_1000=$(m pacing_requests_per_min "$RES/pacing_1000")
PACE_RPM_PARTIAL=$(grep -h '^pacing_requests_per_min=' "$RES/pacing_20" "$RES/pacing_100" | cut -d= -f2 | sort -g | tail -1)
PACE_P99_20=$(m pacing_delay_p99_ms "$RES/pacing_20")

{
    echo "# libsegops benchmarks"
    echo
    echo "Generated by \`bench/run.sh$( ((QUICK)) && echo " --quick")\` — every figure below was measured by that run."
    echo "Medians of $RUNS runs (slow server: $SLOW_RUNS runs); each run is its own process."
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- Commit: $COMMIT$DIRTY"
    echo "- Machine: $(nproc) CPUs, $CPU_MODEL, $MEM RAM, $(uname -sr)"
    echo "- Compiler: $(${CC:-cc} --version | head -1); build type Release"
    echo "- Server: \`segops-dev-server\` (libmicrohttpd + cJSON) as a separate process on 127.0.0.1;"
    echo "  it shares the same CPUs with the client."
    echo
    echo "## Targets"
    echo
    echo "| target | measured (median) | verdict |"
    echo "|---|---|---|"
    echo "| track p50 <= 250 ns, 1 thread | $P50_1 ns | $(verdict "$P50_1" "<=" 250) |"
    echo "| track p99 <= 2 us, 1 thread, steady state (paced $STEADY_RATE calls/s, queue not growing) | $SP99_1 ns | $(verdict "$SP99_1" "<=" 2000) |"
    echo "| (burst, informational) track p99, 1 thread, unpaced, queue growing without bound | $P99_1 ns | – |"
    echo "| 8 threads aggregate >= 1 thread | $THR_8 vs $THR_1 calls/s | $(verdict "$THR_8" ">=" "$THR_1") |"
    echo "| end to end >= 500,000 events/s delivered (dev server) | $E2E_RATE events/s | $(verdict "$E2E_RATE" ">=" 500000) |"
    echo "| end to end client capacity (sink server, see below) | $CAP_RATE events/s | $(verdict "$CAP_RATE" ">=" 500000) |"
    echo "| <= 1 us client CPU per delivered event (dev server) | $E2E_CPU ns | $(verdict "$E2E_CPU" "<=" 1000) |"
    echo "| every request <= 500 events | max $E2E_MAXREQ | $(verdict "$E2E_MAXREQ" "<=" 500) |"
    echo "| slow server (50 ms) >= 9,000 events/s, default options | $SLOW_RATE events/s | $(verdict "$SLOW_RATE" ">=" 9000) |"
    echo "| <= 100 bytes overhead per queued event beyond its strings | $OVERHEAD bytes | $(verdict "$OVERHEAD" "<=" 100) |"
    echo "| payload builder + segops_track_props no slower than snprintf of the text + segops_track (same payload) | $PROPS_B vs $PROPS_T ns/call (ratio $PROPS_R) | $(verdict "$PROPS_R" "<=" 1) |"
    echo "| pacing: 1,000 events/s within a Starter plan (<= 300 requests/min), default options | $PACE_RPM_1000 requests/min | $(verdict "$PACE_RPM_1000" "<=" 300) |"
    echo "| pacing: 20 and 100 events/s within a Free plan (<= 60 requests/min), default options | at most $PACE_RPM_PARTIAL requests/min | $(verdict "$PACE_RPM_PARTIAL" "<=" 60) |"
    echo "| pacing: low traffic waits about a second at most (20 events/s, p99 delay <= 1,150 ms) | $PACE_P99_20 ms | $(verdict "$PACE_P99_20" "<=" 1150) |"
    spool_targets
    echo
    echo "## Enqueue: segops_track from N producer threads"
    echo
    echo "Payload: an 82-byte JSON object; user ids \`user-NNNNNN\`, type \`order_placed\`."
    echo "The queue bound is raised (10M events, 4 GiB) so nothing overflows; the worker"
    echo "delivers to the dev server meanwhile. calls/s is aggregate wall-clock throughput"
    echo "($ENQ_CALLS calls, no timer in the loop). Latencies are per call from $ENQ_SAMPLES"
    echo "clock_gettime-timed calls, with the median cost of an empty timer pair (\"timer\")"
    echo "subtracted. The floor is, in the same process and run, a shared mutex"
    echo "lock/unlock + malloc + memcpy of the caller's bytes + free."
    echo
    echo "| threads | track calls/s | floor calls/s | track cost / floor cost | track mean ns/call/thread | p50 ns | p99 ns | p99.9 ns | timer ns | minor faults/call |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    for t in 1 2 4 8; do
        f=("$RES"/enq_"${t}"_*)
        tr=$(m track_calls_per_s "${f[@]}")
        fl=$(m floor_calls_per_s "${f[@]}")
        ratio=$(awk -v a="$fl" -v b="$tr" 'BEGIN {printf "%.1fx", a / b}')
        echo "| $t | $tr | $fl | $ratio | $(m track_mean_ns "${f[@]}") | $(m track_p50_ns "${f[@]}") |" \
            "$(m track_p99_ns "${f[@]}") | $(m track_p999_ns "${f[@]}") | $(m timer_overhead_ns "${f[@]}") |" \
            "$(m track_faults_per_call "${f[@]}") |"
    done
    echo
    echo "Steady state, 1 thread (the p99 target's verdict uses it): the same client against the"
    echo "dev server, but the producer is paced like a server handling requests: every 1 ms it"
    echo "makes $((STEADY_RATE / 1000)) calls, then sleeps to the next tick ($STEADY_RATE calls/s), so"
    echo "the worker keeps up and freed events are reused. $ENQ_SAMPLES timed calls after 0.2 s of"
    echo "warm-up. The unpaced rows above are a burst: the queue grows without bound (track"
    echo "outpaces delivery), so every call touches fresh heap; a server's steady state is the"
    echo "realistic case for a latency target."
    echo
    echo "| case | p50 ns | p99 ns | p99.9 ns | minor faults/call | largest queue seen | queued at end | producer context switches (voluntary / involuntary) |"
    echo "|---|---|---|---|---|---|---|---|"
    echo "| steady state, paced $STEADY_RATE calls/s | $SP50_1 | $SP99_1 | $SP999_1 | $(m steady_faults_per_call $E1) |" \
        "$(m steady_max_pending $E1) | $(m steady_pending_end $E1) |" \
        "$(m steady_voluntary_switches $E1) / $(m steady_involuntary_switches $E1) |"
    echo "| burst, unpaced (row 1 above) | $P50_1 | $P99_1 | $(m track_p999_ns $E1) | $(m track_faults_per_call $E1) | – | $(m pending $E1) | – |"
    echo "| floor, paced the same way | $(m steady_floor_p50_ns $E1) | $(m steady_floor_p99_ns $E1) | $(m steady_floor_p999_ns $E1) | $(m steady_floor_faults_per_call $E1) | – | – |" \
        "$(m steady_floor_voluntary_switches $E1) / $(m steady_floor_involuntary_switches $E1) |"
    echo
    echo "Range over runs, steady p99: $(range steady_p99_ns $E1) ns; burst p99: $(range track_p99_ns $E1) ns."
    echo
    echo "Floor latency, 1 thread (timer subtracted): p50 $(m floor_p50_ns $E1) ns," \
        "p99 $(m floor_p99_ns $E1) ns, p99.9 $(m floor_p999_ns $E1) ns." \
        "Track p50 without subtracting the timer: $(m track_raw_p50_ns $E1) ns."
    echo
    echo "## Payload builder vs hand-formatted text"
    echo
    echo "\`segops-bench props\`, 1 thread, $PROPS_CALLS calls per pass: the same"
    echo "$(m props_payload_bytes "$RES"/props_*)-byte payload, \`$(grep -h '^props_payload=' "$RES"/props_* | head -1 | cut -d= -f2-)\`,"
    echo "with dynamic values (order id, amount, items, gift change per call), made either by"
    echo "the builder (\`segops_props_clear\` + 5 typed setters, then \`segops_track_props\`, which"
    echo "does not re-validate) or by one \`snprintf\` of the text (\`%.17g\` for the amount, the"
    echo "same bytes; the order id is not escaped, which favours the text path) then"
    echo "\`segops_track\` (which validates it). Each pass has a fresh client with the enqueue"
    echo "setup above; passes alternate over 5 rounds per run and each run reports the median"
    echo "round. \"Making the payload only\" runs the same loops without tracking."
    echo
    echo "| path | ns per call, payload + track | ns per call, making the payload only |"
    echo "|---|---|---|"
    echo "| builder + \`segops_track_props\` | $PROPS_B | $(m props_builder_build_ns "$RES"/props_*) |"
    echo "| \`snprintf\` + \`segops_track\` | $PROPS_T | $(m props_text_format_ns "$RES"/props_*) |"
    echo
    echo "Ratio builder / text: $PROPS_R (range over runs $(range props_ratio "$RES"/props_*))."
    echo
    echo "## End to end: $E2E_EVENTS events, $E2E_THREADS threads, default options"
    echo
    echo "Wall time runs from the first track call to segops_flush returning (all delivered)."
    echo "Producers retry after 200 us when the default 100,000-event queue is full."
    echo "Client CPU is getrusage(RUSAGE_SELF) of the client process only."
    echo
    echo "| server | wall s | delivered events/s (server count) | client CPU ns/event | server CPU s | peak RSS KiB | requests | bytes sent | max events/request | queue-full retries |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    echo "| dev server | $(m wall_s "$RES"/e2e_*) | $E2E_RATE | $E2E_CPU | $(m server_cpu_s "$RES"/e2e_*) |" \
        "$(m maxrss_kb "$RES"/e2e_*) | $(m requests "$RES"/e2e_*) | $(m bytes_sent "$RES"/e2e_*) | $E2E_MAXREQ |" \
        "$(m queue_full_retries "$RES"/e2e_*) |"
    echo "| sink (no parsing) | $(m wall_s "$RES"/cap_*) | $CAP_RATE | $CAP_CPU | – |" \
        "$(m maxrss_kb "$RES"/cap_*) | $(m requests "$RES"/cap_*) | $(m bytes_sent "$RES"/cap_*) |" \
        "$(grep -h '^server_max_events_per_request=' "$RES"/cap_* | cut -d= -f2 | sort -g | tail -1) |" \
        "$(m queue_full_retries "$RES"/cap_*) |"
    echo
    echo "Range over runs, dev server: $(range events_per_s "$RES"/e2e_*) events/s; sink:" \
        "$(range events_per_s "$RES"/cap_*) events/s."
    echo "The sink (\`segops-bench sink\`) answers each batch after counting its events with"
    echo "memmem, so it shows what the client side can push when the server is not the limit."
    echo
    echo "## Slow server: --delay-ms 50, default options, $SLOW_THREADS producer threads"
    echo
    echo "Measured over a ${SLOW_SECONDS} s window after 1 s of warm-up, from the server's counters."
    echo "Default max_in_flight (4): the ceiling is 4 x 500 events / 50 ms = 40,000 events/s."
    echo
    echo "| delivered events/s | requests in window | events/request | max events/request |"
    echo "|---|---|---|---|"
    echo "| $SLOW_RATE | $(m server_requests "$RES"/slow_*) | $(m events_per_request "$RES"/slow_*) |" \
        "$(m server_max_events_per_request "$RES"/slow_*) |"
    echo
    echo "## Several requests in flight: delivered events/s and requests/min by server latency"
    echo
    echo "\`segops-bench slow --threads $SLOW_THREADS --seconds $SLOW_SECONDS\` against"
    echo "\`segops-dev-server --delay-ms D\`, one run each, no plan limit (the producers never stop);"
    echo "\"1 in flight\" adds \`--in-flight 1\`."
    echo
    echo "| ms per request | 1 in flight | default ($DEFAULT_IN_FLIGHT) in flight |"
    echo "|---|---|---|"
    for d in "${INFLIGHT_DELAYS[@]}"; do
        row="| $d |"
        for f in 1 default; do
            file=$RES/inflight_${d}_$f
            row="$row $(m events_per_s "$file") events/s, $(requests_per_min "$file") requests/min |"
        done
        echo "$row"
    done
    echo
    echo "Client CPU per delivered event on loopback (\`segops-bench e2e --threads $E2E_THREADS" \
        "--events $E2E_EVENTS\`, median of $RUNS): $(m cpu_ns_per_event "$RES"/cpu1_*) ns with 1 in" \
        "flight, $(m cpu_ns_per_event "$RES"/cpun_*) ns with the default."
    echo
    echo "## Burst memory: $BURST_EVENTS events tracked with the server down"
    echo
    echo "The client points at a closed port; RSS is read from /proc/self/statm before and"
    echo "after the burst. \"Own strings\" are the user id, event type, payload and the"
    echo "24-character occurred_at the event carries."
    echo
    echo "| track s | RSS delta bytes | RSS bytes/event | encoded bytes/event (pending_bytes/pending) | own string bytes | overhead bytes/event |"
    echo "|---|---|---|---|---|---|"
    echo "| $(m track_s "$RES"/burst_*) | $(m rss_delta_bytes "$RES"/burst_*) | $(m rss_bytes_per_event "$RES"/burst_*) |" \
        "$(m encoded_bytes_per_event "$RES"/burst_*) | $(m own_string_bytes "$RES"/burst_*) | $OVERHEAD |"
    echo
    echo "## Pacing: requests and delays at 20 to 10,000 events/s, default options"
    echo
    echo "\`segops-bench pacing\`: one producer thread tracks on a fixed schedule for"
    echo "${PACING_SECONDS} s, then leaves the client alone for 1.5 s and shuts it down; a fresh dev"
    echo "server per rate, one run each. The rule (README, threading model): a partial request"
    echo "at most every 1,050 ms, a full one (500 events or max_request_bytes) at once."
    echo
    echo "- Requests per minute: 60 s over the mean gap between the batch POSTs that arrived"
    echo "  while the producer ran. Events per request: over every accepted request."
    echo "- Delay: from an event's track call to the arrival of the request that carried it"
    echo "  (the server's request log, GET /_dev/requests, on the same monotonic clock; one"
    echo "  producer's events arrive in the order tracked, and the run checks that the log"
    echo "  accounts for every one). p50 and p99 are of the steady state: the events tracked in"
    echo "  the last 2 s are left out, because when a stream stops its last partial request"
    echo "  waits out the pacing interval. The maximum is over every event."
    echo
    echo "| events/s | requests/min | events/request | delay p50 ms | delay p99 ms | delay max ms | 429s | all delivered |"
    echo "|---|---|---|---|---|---|---|---|"
    for rate in "${PACING_RATES[@]}"; do
        f=$RES/pacing_$rate
        echo "| $rate | $(m pacing_requests_per_min "$f") | $(m pacing_events_per_request "$f") |" \
            "$(m pacing_delay_p50_ms "$f") | $(m pacing_delay_p99_ms "$f") | $(m pacing_delay_max_ms "$f") |" \
            "$(m pacing_429 "$f") | $( [[ $(m pacing_complete "$f") == 1 ]] && echo yes || echo no) |"
    done
    echo
    spool_report
    if [[ -f $ROOT/bench/NOTES.md ]]; then
        echo
        cat "$ROOT/bench/NOTES.md"
    fi
} >"$OUT"
echo "== wrote $OUT"
echo "== targets"
# The Targets table, one line per target: "met"/"missed" and the figure.
awk '/^## Targets/ {on = 1; next} on && /^## / {exit}
    on && /^\| / && !/^\| target/ && !/^\|---/ {
        n = split($0, f, "|"); gsub(/^ +| +$/, "", f[2]); gsub(/^ +| +$/, "", f[3]); gsub(/^ +| +$/, "", f[4])
        printf "   %-7s %s: %s\n", f[4], f[2], f[3] }' "$OUT"
