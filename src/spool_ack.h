/* Which records of one spool run are settled (delivered or dropped), and the
 * run's ack file that keeps it across a crash.
 *
 * In memory: a cursor (every seq <= cursor is settled) plus the settled ranges
 * above it, so settlements may arrive in any order; the cursor moves when the
 * gap below a range closes. On disk, the run's "ack" file: the two slots of
 * spool_slot.h (magic "\xffSPA", flags 0, the value the cursor): a torn write
 * damages one slot and the other still holds the previous cursor. From byte 64, the ranges above the
 * cursor (magic "\xffSPR", count u32, generation u64, count pairs lo u64, hi
 * u64, CRC-32C of all that u32), written before the slot of the same
 * generation: they count only with the slot they were written for, so a torn
 * or stale block is ignored (those records are merely sent again). Ranges
 * settled out of order (an evicted event, a later request settled first)
 * therefore stay settled across a restart. */
#ifndef SEGOPS_SPOOL_ACK_H
#define SEGOPS_SPOOL_ACK_H

#include "common.h"

#define SEGOPS__SPOOL_ACK_FILE "ack"

typedef struct segops__spool_range {
    uint64_t lo, hi;
} segops__spool_range_t;

typedef struct segops__spool_acks {
    int fd;                        /* the ack file, -1 when closed */
    uint64_t cursor;               /* every seq <= cursor is settled */
    uint64_t persisted;            /* the cursor the file holds */
    uint64_t generation;           /* of the newest slot written */
    bool unsynced;                 /* written since the last sync */
    segops__spool_range_t *ranges; /* settled above cursor + 1: sorted, disjoint, not adjacent */
    size_t count, cap;
    bool ranges_dirty; /* the ranges changed since they were last written */
} segops__spool_acks_t;

/* Opens (creating it when missing) and reads the ack file of the run directory
 * dir_fd. A file with no valid slot reads as cursor 0. Returns SEGOPS_OK or
 * SEGOPS_E_IO (errno set). */
segops_err_t segops__spool_acks_open(int dir_fd, segops__spool_acks_t *acks);

/* Marks lo..hi settled. SEGOPS_OK or SEGOPS_E_NOMEM (nothing changed). */
segops_err_t segops__spool_acks_settle(segops__spool_acks_t *acks, uint64_t lo, uint64_t hi);

bool segops__spool_acks_is_settled(const segops__spool_acks_t *acks, uint64_t seq);
/* How many of the seqs lo..hi are not settled (0 when lo > hi). */
uint64_t segops__spool_acks_unsettled(const segops__spool_acks_t *acks, uint64_t lo, uint64_t hi);

/* True when the ack file as last written says every seq lo..hi is settled:
 * only then may their segment go (a later reader must not find them owed). */
bool segops__spool_acks_persisted_settled(const segops__spool_acks_t *acks, uint64_t lo,
                                          uint64_t hi);

/* Writes the cursor and the ranges when they changed since the last write
 * (one pwrite each). SEGOPS_OK or SEGOPS_E_IO (errno set). */
segops_err_t segops__spool_acks_persist(segops__spool_acks_t *acks);

/* fdatasync of the file when it was written since the last sync. */
segops_err_t segops__spool_acks_sync(segops__spool_acks_t *acks);

/* Closes the file (close_fd) and frees the ranges. */
void segops__spool_acks_close(segops__spool_acks_t *acks, bool close_fd);

#endif
