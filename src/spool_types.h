/* The plain types of the spool's interface (spool.h) that its inside
 * (spool_impl.h) keeps too: its limits and the losses it counts. */
#ifndef SEGOPS_SPOOL_TYPES_H
#define SEGOPS_SPOOL_TYPES_H

#include "common.h"

typedef struct segops__spool_limits {
    uint64_t max_bytes;     /* segment bytes on disk, all runs held; 0 = no bound */
    uint64_t max_age_ms;    /* older records are dropped as expired; 0 = never */
    uint64_t segment_bytes; /* rotation size; 0 = min(4 MiB, max(64 KiB, max_bytes / 16)) */
    uint32_t max_adopted;   /* earlier runs held open at once; 0 = 16 */
    bool durable;           /* the caller calls segops__spool_sync (spool_fsync_ms > 0): a segment
                               is also synced when it is closed for the next one */
} segops__spool_limits_t;

/* Records the spool dropped on its own since the last segops__spool_take_losses.
 * The caller reports each non-zero kind once through on_error. */
typedef struct segops__spool_losses {
    uint64_t corrupt;               /* lost to damaged bytes (SEGOPS_DROP_SPOOL_CORRUPT) */
    uint64_t corrupt_bytes;         /* damaged bytes; may be > 0 with corrupt == 0 (garbage) */
    uint64_t expired;               /* older than max_age_ms (SEGOPS_DROP_EXPIRED) */
    uint64_t overflow;              /* dropped by segops__spool_drop_oldest */
    uint64_t adopted;               /* how many of corrupt + expired + overflow came from earlier
                                       runs: they count as recovered, the rest as pending */
    uint64_t places;                /* files or gaps where corrupt records or bytes were found */
    char where[SEGOPS__DETAIL_LEN]; /* the first of them, naming the file, for the log */
} segops__spool_losses_t;

#endif
