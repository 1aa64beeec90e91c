/* Appending to the own run of a spool: a batch of records in one writev, a
 * new segment when the current one is full, a bound on bytes, and a write
 * that failed halfway undone (or its segment sealed) so no half record is
 * ever followed by more. */
#ifndef SEGOPS_SPOOL_WRITE_H
#define SEGOPS_SPOOL_WRITE_H

#include "common.h"

#include <sys/uio.h>

#include "spool_record.h"
#include "spool_run.h"

/* Records per writev: two iovecs each, within every system's IOV_MAX (>= 1024). */
#define SEGOPS__SPOOL_CHUNK_RECORDS 512

typedef struct segops__spool_writer {
    uint8_t (*headers)[SEGOPS__SPOOL_RECORD_HEADER]; /* scratch for one chunk */
    struct iovec *iov;
    uint64_t segment_bytes; /* rotate before a segment would grow past this */
    bool durable;           /* fdatasync a segment before leaving it for the next */
} segops__spool_writer_t;

/* SEGOPS_OK or SEGOPS_E_NOMEM. */
segops_err_t segops__spool_writer_init(segops__spool_writer_t *w, uint64_t segment_bytes,
                                       bool durable);
void segops__spool_writer_free(segops__spool_writer_t *w);

/* Appends the longest prefix of items[0..n) that fits one writev, the current
 * segment (a new one is started first when it is full or sealed; *rotated
 * says so) and `room` bytes. *taken says how many were written.
 * Returns SEGOPS_OK; SEGOPS_E_QUEUE_FULL when room ran out after *taken;
 * SEGOPS_E_IO with errno set and *failed naming the step (nothing written);
 * SEGOPS_E_NOMEM. */
segops_err_t segops__spool_write_chunk(segops__spool_writer_t *w, segops__spool_run_t *run,
                                       const segops__spool_item_t *items, size_t n, uint64_t room,
                                       size_t *taken, bool *rotated, const char **failed);

#endif
