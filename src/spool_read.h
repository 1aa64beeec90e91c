/* Reading a spool run in order: segment after segment, through one bounded
 * buffer, skipping settled records, and turning damage into counts of lost
 * records.
 *
 * Lost records are counted from sequence numbers where possible: damage
 * followed by an intact record with seq s lost the seqs between the last
 * intact record and s, except those already settled (damage before a settled
 * record was reported before, or hid nothing that was still owed). Damage at
 * the end of an earlier run (a crash mid-write) lost at least one record, and
 * one per record start in it; the damaged tail is then cut off the file so a
 * later reader does not report it again. */
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

typedef struct segops__spool_next {
    segops__spool_next_kind_t kind;
    segops_err_t err;
    segops__spool_record_t rec; /* payload valid until the buffer is next used */
    size_t step;
    uint64_t lost_records; /* damage attributed during this call (any kind) */
    uint64_t lost_bytes;
} segops__spool_next_t;

segops__spool_next_t segops__spool_read_next(segops__spool_run_t *run, segops__spool_readbuf_t *rb);

/* Moves past the record the last segops__spool_read_next returned. */
void segops__spool_read_consume(segops__spool_run_t *run, const segops__spool_next_t *next);

/* Own run: true when every record written has been read or handed out. */
bool segops__spool_read_caught_up(const segops__spool_run_t *run);

/* Own run: marks everything written as handed out (the caller keeps it). */
void segops__spool_read_skip_to_end(segops__spool_run_t *run);

/* Reads the run again from its start: unsettled records are handed out again;
 * damage already counted is not counted again. */
void segops__spool_read_rewind(segops__spool_run_t *run);

void segops__spool_readbuf_free(segops__spool_readbuf_t *rb);

#endif
