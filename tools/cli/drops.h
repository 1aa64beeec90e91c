/* Dropped events as on_error reports them: counted by reason, the first few
 * printed, the tally for the summary line. */
#ifndef SEGOPS_CLI_DROPS_H
#define SEGOPS_CLI_DROPS_H

#include <segops/segops.h>

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* One counter per segops_drop_reason_t; unknown (newer) reasons count as 0, "other". */
#define CLI_DROP_REASONS (SEGOPS_DROP_EXPIRED + 1)

typedef struct cli_drops {
    atomic_uint_fast64_t by_reason[CLI_DROP_REASONS];
    atomic_uint_fast64_t reports;
} cli_drops_t;

/* Counts one report and prints it as "CMD: dropped N events [reason]: ..."
 * (only the first 20 reports are printed). Thread-safe (on_error runs on the
 * worker). */
void cli_drops_report(cli_drops_t *drops, const char *cmd, const segops_error_info_t *info);

/* Writes " (rejected 3, expired 1, not_accepted 2)" for the reasons with a
 * count, plus `refused` events track did not accept, or "" when none. */
void cli_drops_format(cli_drops_t *drops, uint64_t refused, char *buf, size_t len);

#endif /* SEGOPS_CLI_DROPS_H */
