/* Reading a spool run in order: segment after segment, through one bounded
 * buffer, skipping settled records, and turning whatever cannot be read into
 * counts of lost records.
 *
 * Records are numbered by seq without gaps, and a segment is named by the seq
 * of its first record, so the reader knows which seqs it is owed: from the ack
 * cursor on, every seq up to the next record read, and every seq below the
 * name of the next segment. Any of those it cannot hand out is lost: damaged
 * bytes, a segment cut short, emptied, deleted or unreadable (it is then
 * skipped, and reading goes on). Each is counted once, by the read that finds
 * it, with the place it was found, and settled so no reader counts it again.
 * Seqs already settled cost nothing. The end of an earlier run is the seq its
 * end file names (spool_end.h): the records after the last intact one, up to
 * that mark, are counted exactly too (a last segment cut at a record boundary,
 * emptied, deleted, or with a damaged tail); damage after them held nothing
 * when the mark was written at a clean close. What is not counted exactly:
 * records beyond a mark that is not final (a power loss after the owner's last
 * sync kept records whose mark it lost), and the end of a run of an older
 * version without the file. Damage that begins there lost at least one record, and
 * one per record start in it; a cut at a record boundary there, and damage
 * that runs on past the mark from below it, lose the records beyond the mark
 * unseen. A damaged tail is cut off the file so a later reader does not
 * report it again. */
#ifndef SEGOPS_SPOOL_READ_H
#define SEGOPS_SPOOL_READ_H

#include "common.h"

#include "spool_record.h"
#include "spool_run.h"

/* One window of one segment's bytes, shared by every run of a spool:
 * file bytes [off, off + have) of the segment seg_first of run run_id.
 * At most SEGOPS__SPOOL_RECORD_HEADER + SEGOPS__SPOOL_RECORD_MAX bytes. */
typedef struct segops__spool_readbuf {
    uint8_t *data;
    size_t cap, have;
    uint32_t run_id;
    uint64_t seg_first;
    uint64_t off;
} segops__spool_readbuf_t;

typedef enum segops__spool_next_kind {
    SEGOPS__NEXT_END,    /* nothing more to read now */
    SEGOPS__NEXT_RECORD, /* rec is the next unsettled record; consume it to move on */
    SEGOPS__NEXT_ERROR,  /* err: SEGOPS_E_IO (errno) or SEGOPS_E_NOMEM */
} segops__spool_next_kind_t;

/* Where records were lost, for the log line that names the place. */
typedef enum segops__spool_loss_kind {
    SEGOPS__LOSS_DAMAGED,    /* bytes that hold no intact record */
    SEGOPS__LOSS_UNREADABLE, /* a segment that cannot be read (err_no): skipped */
    SEGOPS__LOSS_MISSING,    /* seqs lo..hi in no segment: one cut short, emptied or deleted */
} segops__spool_loss_kind_t;

typedef struct segops__spool_loss_place {
    segops__spool_loss_kind_t kind;
    uint64_t seg;      /* first_seq of the segment it was in, or (missing) the one after: 0 none */
    uint64_t prev_seg; /* missing: the segment before the seqs (0: none) */
    uint64_t lo, hi;   /* missing: the seqs */
    int err_no;        /* unreadable: why */
} segops__spool_loss_place_t;

typedef struct segops__spool_next {
    segops__spool_next_kind_t kind;
    segops_err_t err;
    segops__spool_record_t rec; /* payload valid until the buffer is next used */
    size_t step;
    uint64_t lost_records; /* counted during this call (any cause) */
    uint64_t lost_bytes;   /* damaged bytes skipped during this call */
    bool placed;           /* place is set: the first loss this call found */
    segops__spool_loss_place_t place;
} segops__spool_next_t;

segops__spool_next_t segops__spool_read_next(segops__spool_run_t *run, segops__spool_readbuf_t *rb);

/* Moves past the record the last segops__spool_read_next returned. */
void segops__spool_read_consume(segops__spool_run_t *run, const segops__spool_next_t *next);

/* Own run: true when every record written has been read or handed out. */
bool segops__spool_read_caught_up(const segops__spool_run_t *run);

/* Own run: marks everything written as handed out (the caller keeps it). */
void segops__spool_read_skip_to_end(segops__spool_run_t *run);

void segops__spool_readbuf_free(segops__spool_readbuf_t *rb);

#endif
