/* Drop reports: the reason names, the per-reason tally and its summary text. */
#include "drops.h"

#include "cli.h"

#include <stdio.h>

/* Past this many drop reports the summary line says the rest. */
#define MAX_DROP_REPORTS 20

/* Indexed by segops_drop_reason_t; the names are what users grep for: never renamed. */
static const char *const drop_names[CLI_DROP_REASONS] = {
    "other",    "queue_overflow", "too_large",     "rejected", "retries_exhausted",
    "shutdown", "skipped",        "spool_corrupt", "expired",
};

void cli_drops_report(cli_drops_t *drops, const char *cmd, const segops_error_info_t *info) {
    unsigned reason = (unsigned)info->reason < CLI_DROP_REASONS ? (unsigned)info->reason : 0;
    atomic_fetch_add(&drops->by_reason[reason], info->event_count);
    uint64_t n = atomic_fetch_add(&drops->reports, 1) + 1;
    if (n > MAX_DROP_REPORTS) {
        return;
    }
    char status[32] = "";
    if (info->http_status != 0) {
        snprintf(status, sizeof status, " (HTTP %d)", info->http_status);
    }
    cli_err("%s: dropped %zu event%s [%s]: %s%s%s%s", cmd, info->event_count,
            info->event_count == 1 ? "" : "s", drop_names[reason], segops_strerror(info->code),
            status, info->message != NULL && info->message[0] != '\0' ? ": " : "",
            info->message != NULL ? info->message : "");
}

void cli_drops_format(cli_drops_t *drops, uint64_t refused, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned r = 0; r <= CLI_DROP_REASONS; r++) {
        uint64_t n = r < CLI_DROP_REASONS ? atomic_load(&drops->by_reason[r]) : refused;
        const char *name = r < CLI_DROP_REASONS ? drop_names[r] : "not_accepted";
        if (n > 0 && used < len) {
            used += (size_t)snprintf(buf + used, len - used, "%s%s %llu", used == 0 ? " (" : ", ",
                                     name, (unsigned long long)n);
        }
    }
    if (used > 0 && used < len) {
        snprintf(buf + used, len - used, ")");
    }
}
