/* The own run's writer: chunking, rotation and undoing failed writes. */
#include "spool_write.h"

#include <errno.h>
#include <unistd.h>

segops_err_t segops__spool_writer_init(segops__spool_writer_t *w, uint64_t segment_bytes,
                                       bool durable) {
    w->headers = segops__malloc(SEGOPS__SPOOL_CHUNK_RECORDS * sizeof *w->headers);
    w->iov = segops__malloc(2 * SEGOPS__SPOOL_CHUNK_RECORDS * sizeof *w->iov);
    w->segment_bytes = segment_bytes;
    w->durable = durable;
    if (w->headers && w->iov) return SEGOPS_OK;
    segops__spool_writer_free(w);
    return SEGOPS_E_NOMEM;
}

void segops__spool_writer_free(segops__spool_writer_t *w) {
    segops__free(w->headers);
    segops__free(w->iov);
    w->headers = NULL;
    w->iov = NULL;
}

static segops_err_t rotate(segops__spool_writer_t *w, segops__spool_run_t *run,
                           const char **failed) {
    if (w->durable && run->wr_fd >= 0 && run->wr_unsynced) {
        if (fdatasync(run->wr_fd) != 0) {
            *failed = "syncing a segment";
            return SEGOPS_E_IO;
        }
        run->wr_unsynced = false;
    }
    segops_err_t err = segops__spool_run_new_segment(run);
    if (err == SEGOPS_E_IO) *failed = "creating a segment";
    return err;
}

segops_err_t segops__spool_write_chunk(segops__spool_writer_t *w, segops__spool_run_t *run,
                                       const segops__spool_item_t *items, size_t n, uint64_t room,
                                       size_t *taken, bool *rotated, const char **failed) {
    const uint64_t first = SEGOPS__SPOOL_RECORD_HEADER + (uint64_t)items[0].len;
    *taken = 0;
    *rotated = false;
    if (first > room) return SEGOPS_E_QUEUE_FULL;
    segops__spool_seg_t *seg = run->nsegs ? &run->segs[run->nsegs - 1] : NULL;
    if (run->wr_fd < 0 || run->wr_sealed || (seg->size && seg->size + first > w->segment_bytes)) {
        segops_err_t err = rotate(w, run, failed);
        if (err != SEGOPS_OK) return err;
        *rotated = true;
        seg = &run->segs[run->nsegs - 1];
    }
    uint64_t seg_room = seg->size < w->segment_bytes ? w->segment_bytes - seg->size : 0;
    uint64_t bytes = 0;
    size_t k = 0;
    bool full = false;
    while (k < n && k < SEGOPS__SPOOL_CHUNK_RECORDS) {
        uint64_t rec = SEGOPS__SPOOL_RECORD_HEADER + (uint64_t)items[k].len;
        if (k && bytes + rec > seg_room) break; /* the rest goes to the next segment */
        if (bytes + rec > room) {
            full = true;
            break;
        }
        segops__spool_record_header(w->headers[k], run->next_seq + k, items[k].time_ms,
                                    items[k].json, items[k].len);
        w->iov[2 * k] = (struct iovec){w->headers[k], SEGOPS__SPOOL_RECORD_HEADER};
        w->iov[2 * k + 1] = (struct iovec){(void *)items[k].json, items[k].len};
        bytes += rec;
        k++;
    }
    ssize_t wrote;
    do wrote = writev(run->wr_fd, w->iov, (int)(2 * k));
    while (wrote < 0 && errno == EINTR);
    if (wrote != (ssize_t)bytes) {
        int saved = wrote < 0 ? errno : ENOSPC; /* a short write to a file: the disk filled */
        if (wrote > 0 && ftruncate(run->wr_fd, (off_t)seg->size) != 0) {
            /* Part of the chunk stays in the file: never reuse its seqs, never
             * read it, never append after it. */
            run->wr_sealed = true;
            (void)segops__spool_acks_settle(&run->acks, run->next_seq, run->next_seq + k - 1);
            run->next_seq += k;
        }
        errno = saved;
        *failed = "writing a segment";
        return SEGOPS_E_IO;
    }
    seg->size += bytes;
    run->bytes += bytes;
    run->next_seq += k;
    seg->last_seq = run->next_seq - 1;
    run->wr_unsynced = true;
    *taken = k;
    return full ? SEGOPS_E_QUEUE_FULL : SEGOPS_OK;
}
