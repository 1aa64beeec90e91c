# Counted skips for the shell test drivers (the counterpart of skip.h); source it.
# segops_skip NAME REASON installable|machine-cannot: prints "skipped: REASON",
# appends "NAME: REASON" to $SEGOPS_SKIP_LOG when set, and returns 77 (ctest's
# SKIP_RETURN_CODE), or 1 under CI=true when the cause is installable.
segops_skip() {
    local name=$1 reason=$2 cause=$3 note=""
    if [ "$cause" = installable ] && [ "${CI:-}" = true ]; then
        note=" (a FAILURE under CI: the machine can be given this)"
    fi
    echo "skipped: $reason"
    if [ -n "${SEGOPS_SKIP_LOG:-}" ]; then
        printf '%s: %s%s\n' "$name" "$reason" "$note" >>"$SEGOPS_SKIP_LOG"
    fi
    if [ -n "$note" ]; then
        echo "FAIL: skipped under CI=true, but the cause is installable (scripts/deps.sh --test)"
        return 1
    fi
    return 77
}
