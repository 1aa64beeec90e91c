# The spool rows of the benchmark: the memory-only client ("off") against the
# same client with a spool_dir ("on"). Sourced by bench/run.sh, which defines
# BENCH, RES, RUNS, ENQ_CALLS, ENQ_SAMPLES, STEADY_RATE, E2E_EVENTS,
# E2E_THREADS, start_devserver, stop_server and median.
#
# Each run measures off and on back to back, each against a fresh dev server:
# `enqueue --threads 1` (the burst pass, then the steady state paced at
# STEADY_RATE) and `e2e`. The targets compare on/off within one run (the
# median of the per-run ratios), so both sides see the same machine noise.
#
# spool_sync_measure (the end of spool_measure) adds the cost of a durable
# spool's append and fsync on this disk, from segops-bench-spool-sync (built
# here, in run.sh's BUILD). By hand, after a build with SEGOPS_BUILD_BENCH=ON:
#   build-bench-release/bench/segops-bench-spool-sync /var/tmp 100

# spool_value KEY FILE: the value of KEY=value in FILE, "n/a" when absent.
spool_value() { grep -h "^$1=" "$2" | head -1 | cut -d= -f2 | grep . || echo n/a; }

# spool_ratio A B: A / B with 3 decimals, "n/a" when either is missing or B is 0.
spool_ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.3f\n", a / b }'
}

spool_measure() {
    echo "== spool off vs on (enqueue 1 thread, steady $STEADY_RATE calls/s; end to end" \
        "$E2E_EVENTS events, $E2E_THREADS threads; $RUNS runs, alternating)"
    local r mode spool key
    for r in $(seq "$RUNS"); do
        for mode in off on; do
            # A directory per process: what the enqueue clients leave on disk
            # (they shut down without delivering) must not be e2e's backlog.
            spool=()
            [[ $mode == on ]] && mkdir -p "$RES/spool/enq" && spool=(--spool "$RES/spool/enq")
            start_devserver
            "$BENCH" enqueue --url "$URL" --threads 1 --calls "$ENQ_CALLS" \
                --samples "$ENQ_SAMPLES" --rate "$STEADY_RATE" "${spool[@]}" \
                >"$RES/spool_enq_${mode}_$r"
            stop_server
            [[ $mode == on ]] && mkdir -p "$RES/spool/e2e" && spool=(--spool "$RES/spool/e2e")
            start_devserver
            "$BENCH" e2e --url "$URL" --threads "$E2E_THREADS" --events "$E2E_EVENTS" \
                "${spool[@]}" >"$RES/spool_e2e_${mode}_$r"
            stop_server
            rm -rf "$RES/spool"
        done
        {
            for key in track_p50_ns track_p99_ns steady_p50_ns steady_p99_ns; do
                echo "$key=$(spool_ratio "$(spool_value $key "$RES/spool_enq_on_$r")" \
                    "$(spool_value $key "$RES/spool_enq_off_$r")")"
            done
            for key in events_per_s cpu_ns_per_event; do
                echo "$key=$(spool_ratio "$(spool_value $key "$RES/spool_e2e_on_$r")" \
                    "$(spool_value $key "$RES/spool_e2e_off_$r")")"
            done
        } >"$RES/spool_ratio_$r"
        echo "   run $r: track p50 on/off $(spool_value track_p50_ns "$RES/spool_ratio_$r")," \
            "CPU/event on/off $(spool_value cpu_ns_per_event "$RES/spool_ratio_$r")"
    done
    spool_sync_measure
}

# The durable spool's cost on the disk under RES: 100 appends of 20 events,
# each followed by an fsync (printed, no target).
spool_sync_measure() {
    cmake --build "$BUILD" --target segops-bench-spool-sync >/dev/null
    "$BUILD/bench/segops-bench-spool-sync" "$RES" 100 >"$RES/spool_sync"
    echo "== durable spool on $RES: append of 20 events p50 $(spool_value append_p50_us \
"$RES/spool_sync") us; fsync p50 $(spool_value sync_p50_us "$RES/spool_sync") us," \
        "p90 $(spool_value sync_p90_us "$RES/spool_sync") us"
}

# The target rows (markdown table lines without the header).
spool_targets() {
    local p50_off p50_on p50_r cpu_off cpu_on cpu_r
    p50_off=$(median track_p50_ns "$RES"/spool_enq_off_*)
    p50_on=$(median track_p50_ns "$RES"/spool_enq_on_*)
    p50_r=$(median track_p50_ns "$RES"/spool_ratio_*)
    cpu_off=$(median cpu_ns_per_event "$RES"/spool_e2e_off_*)
    cpu_on=$(median cpu_ns_per_event "$RES"/spool_e2e_on_*)
    cpu_r=$(median cpu_ns_per_event "$RES"/spool_ratio_*)
    echo "| spool on: track p50 <= 1.5x memory-only, 1 thread (median of per-run on/off) |" \
        "$p50_on vs $p50_off ns (ratio $p50_r) | $(verdict "$p50_r" "<=" 1.5) |"
    echo "| spool on: client CPU per delivered event <= 2x memory-only (end to end) |" \
        "$cpu_on vs $cpu_off ns (ratio $cpu_r) | $(verdict "$cpu_r" "<=" 2) |"
}

spool_report() {
    local f
    echo "## Spool on vs off"
    echo
    echo "The same client without a spool (off) and with \`spool_dir\` in a temporary directory"
    echo "on the machine's disk (on: every accepted event written to the spool files by the"
    echo "spool thread, default options otherwise: no fsync). In each of $RUNS runs both are"
    echo "measured back to back, each against a fresh dev server: \`enqueue --threads 1\`"
    echo "($ENQ_CALLS calls unpaced, then $ENQ_SAMPLES timed calls; then the steady state paced at"
    echo "$STEADY_RATE calls/s) and \`e2e\` ($E2E_EVENTS events, $E2E_THREADS threads, default"
    echo "options). Figures are medians over the runs; the last row is the median of the per-run"
    echo "on/off ratios."
    echo
    echo "| client | track p50 ns | track p99 ns | steady p50 ns | steady p99 ns | end to end events/s | client CPU ns/event | events spooled (e2e) |"
    echo "|---|---|---|---|---|---|---|---|"
    for f in off on; do
        echo "| spool $f | $(median track_p50_ns "$RES"/spool_enq_"$f"_*) |" \
            "$(median track_p99_ns "$RES"/spool_enq_"$f"_*) |" \
            "$(median steady_p50_ns "$RES"/spool_enq_"$f"_*) |" \
            "$(median steady_p99_ns "$RES"/spool_enq_"$f"_*) |" \
            "$(median events_per_s "$RES"/spool_e2e_"$f"_*) |" \
            "$(median cpu_ns_per_event "$RES"/spool_e2e_"$f"_*) |" \
            "$(median spooled "$RES"/spool_e2e_"$f"_*) |"
    done
    echo "| on / off | $(median track_p50_ns "$RES"/spool_ratio_*) |" \
        "$(median track_p99_ns "$RES"/spool_ratio_*) |" \
        "$(median steady_p50_ns "$RES"/spool_ratio_*) |" \
        "$(median steady_p99_ns "$RES"/spool_ratio_*) |" \
        "$(median events_per_s "$RES"/spool_ratio_*) |" \
        "$(median cpu_ns_per_event "$RES"/spool_ratio_*) | – |"
}
