/* The end of a spool run: the "end" file of a run directory says how far its
 * owner had written (the seq of the next record it would append), so that a
 * reader of an earlier run knows which seqs it is owed after the last intact
 * record: a last segment cut at a record boundary, emptied, deleted or with a
 * damaged tail then loses an exact count of records, not "at least one".
 *
 * The owner writes it after every append (one pwrite, in the page cache like
 * the records it names, so a kill -9 leaves it true), syncs it at
 * segops__spool_sync (the spool_fsync_ms cadence: after the segment's
 * fdatasync), and marks it final at close. Below the mark every missing record
 * is counted lost. Records at or above it were never written, or written after
 * a power loss's last sync: nothing promised them to a reader. The mark written at a clean close is final: nothing follows
 * it, so damaged bytes after the last record it names held no record. A run
 * without the file (written by an older version) or
 * with no valid slot reads as mark 0: its end is unknown, as before.
 *
 * Format: the two slots of spool_slot.h, like the ack file's: magic
 * "\xffSPE", flags 1 = final, the value the next seq. A torn write damages one
 * slot and the other still holds the previous mark. */
#ifndef SEGOPS_SPOOL_END_H
#define SEGOPS_SPOOL_END_H

#include "common.h"

#define SEGOPS__SPOOL_END_FILE "end"

typedef struct segops__spool_end {
    int fd;              /* the own run's end file, -1 when closed */
    uint64_t generation; /* of the newest slot written */
    uint64_t mark;       /* the next seq, as the file holds it */
    bool final;          /* ... written at a clean close */
    bool unsynced;       /* written since the last sync */
} segops__spool_end_t;

/* Creates the end file of a new run in dir_fd, holding mark 1 (nothing
 * written). SEGOPS_OK or SEGOPS_E_IO (errno set). */
segops_err_t segops__spool_end_create(int dir_fd, segops__spool_end_t *end);

/* The mark an earlier run's end file holds (*final: written at its close);
 * 0 when it has none. */
uint64_t segops__spool_end_load(int dir_fd, bool *final);

/* Writes next_seq as the mark (final: at a clean close) when it changed (one
 * pwrite). SEGOPS_OK or SEGOPS_E_IO (errno set). */
segops_err_t segops__spool_end_write(segops__spool_end_t *end, uint64_t next_seq, bool final);

/* fdatasync of the file when it was written since the last sync. */
segops_err_t segops__spool_end_sync(segops__spool_end_t *end);

void segops__spool_end_close(segops__spool_end_t *end, bool close_fd);

#endif
