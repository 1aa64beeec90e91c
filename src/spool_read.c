/* The run reader: windows of segment bytes, the scanner, loss attribution. */
#include "spool_read.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#define WINDOW_BYTES ((size_t)128 << 10)

static segops_err_t open_segment(segops__spool_run_t *run, const segops__spool_seg_t *seg) {
    if (run->rd_fd >= 0 && run->rd_fd_first == seg->first_seq) return SEGOPS_OK;
    if (run->rd_fd >= 0) close(run->rd_fd);
    char name[SEGOPS__SPOOL_SEG_NAME_LEN + 1];
    segops__spool_seg_name(seg->first_seq, name);
    run->rd_fd = openat(run->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    run->rd_fd_first = seg->first_seq;
    return run->rd_fd >= 0 ? SEGOPS_OK : SEGOPS_E_IO;
}

/* The segment became shorter than we knew (removed or cut by someone else):
 * what is gone reads as its end. */
static void shrink(segops__spool_run_t *run, segops__spool_seg_t *seg, uint64_t size) {
    run->bytes -= seg->size - size;
    seg->size = size;
}

/* Points *p at the bytes from the read position, at least `min` of them unless
 * the segment ends first (then up to its end). */
static segops_err_t window(segops__spool_run_t *run, segops__spool_readbuf_t *rb,
                           segops__spool_seg_t *seg, size_t min, const uint8_t **p, size_t *avail) {
    uint64_t left = seg->size - run->rd_off;
    bool same = rb->run_id == run->id && rb->seg_first == seg->first_seq &&
                run->rd_off >= rb->off && run->rd_off < rb->off + rb->have;
    if (same) {
        size_t in = (size_t)(rb->off + rb->have - run->rd_off);
        if (in >= SEGOPS__MAX(min, 1) || in >= left) {
            *p = rb->data + (run->rd_off - rb->off);
            *avail = (size_t)SEGOPS__MIN((uint64_t)in, left);
            return SEGOPS_OK;
        }
    }
    size_t want = (size_t)SEGOPS__MIN(left, (uint64_t)SEGOPS__MAX(min, WINDOW_BYTES));
    if (want > rb->cap) {
        uint8_t *grown = segops__realloc(rb->data, want);
        if (!grown) return SEGOPS_E_NOMEM;
        rb->data = grown;
        rb->cap = want;
    }
    rb->have = 0;
    rb->run_id = run->id;
    rb->seg_first = seg->first_seq;
    rb->off = run->rd_off;
    if (open_segment(run, seg) != SEGOPS_OK) {
        if (errno != ENOENT) return SEGOPS_E_IO;
        shrink(run, seg, run->rd_off);
        *avail = 0;
        return SEGOPS_OK;
    }
    while (rb->have < want) {
        ssize_t got =
            pread(run->rd_fd, rb->data + rb->have, want - rb->have, (off_t)(rb->off + rb->have));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return SEGOPS_E_IO;
        if (got == 0) {
            shrink(run, seg, rb->off + rb->have);
            break;
        }
        rb->have += (size_t)got;
    }
    *p = rb->data;
    *avail = rb->have;
    return SEGOPS_OK;
}

/* Records the first place this call found a loss. */
static void place(segops__spool_next_t *out, segops__spool_loss_place_t where) {
    if (out->placed) return;
    out->placed = true;
    out->place = where;
}

static segops__spool_loss_place_t damage_place(const segops__spool_run_t *run) {
    segops__spool_loss_place_t where = {.kind = run->dmg_errno ? SEGOPS__LOSS_UNREADABLE
                                                               : SEGOPS__LOSS_DAMAGED,
                                        .seg = run->dmg_first,
                                        .err_no = run->dmg_errno};
    return where;
}

/* The segment listed before the one named next_seg (0: before the end). */
static uint64_t segment_before(const segops__spool_run_t *run, uint64_t next_seg) {
    uint64_t prev = 0;
    for (size_t i = 0; i < run->nsegs; i++)
        if (!next_seg || run->segs[i].first_seq < next_seg) prev = run->segs[i].first_seq;
    return prev;
}

/* Nothing below seq is left to read: an intact record with seq follows, or
 * the segment named seq begins (next_seg is where, 0 at the end of the own
 * run). Counts what is still owed below seq as lost (damage, or seqs no
 * segment holds) and settles those seqs so that nobody counts them again. */
static void attribute(segops__spool_run_t *run, uint64_t seq, uint64_t next_seg,
                      segops__spool_next_t *out) {
    uint64_t cursor = run->acks.cursor;
    uint64_t base = SEGOPS__MAX(run->rd_expected, cursor + 1);
    uint64_t lost = seq > base ? segops__spool_acks_unsettled(&run->acks, base, seq - 1) : 0;
    if (run->dmg_open) {
        run->dmg_open = false;
        /* Damage before a settled record was reported before, or hid nothing owed. */
        if (seq > cursor) {
            out->lost_bytes += run->dmg_bytes;
            place(out, damage_place(run));
        }
    } else if (lost) {
        segops__spool_loss_place_t missing = {.kind = SEGOPS__LOSS_MISSING,
                                              .seg = next_seg,
                                              .prev_seg = segment_before(run, next_seg),
                                              .lo = base,
                                              .hi = seq - 1};
        place(out, missing);
    }
    out->lost_records += lost;
    if (seq > base) (void)segops__spool_acks_settle(&run->acks, base, seq - 1);
    if (seq > run->rd_expected) run->rd_expected = seq;
}

/* Cuts a damaged tail off the last segment of an adopted run. */
static void repair_tail(segops__spool_run_t *run) {
    if (!run->nsegs || run->dmg_errno) return;
    segops__spool_seg_t *last = &run->segs[run->nsegs - 1];
    if (last->first_seq != run->dmg_first || run->dmg_off >= last->size) return;
    char name[SEGOPS__SPOOL_SEG_NAME_LEN + 1];
    segops__spool_seg_name(last->first_seq, name);
    int fd = openat(run->dir_fd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return;
    if (ftruncate(fd, (off_t)run->dmg_off) == 0) shrink(run, last, run->dmg_off);
    close(fd);
}

/* The end of what there is to read. Own run: every record the owner wrote has
 * been read past, so whatever is still owed up to its next seq is lost (a
 * damaged tail, or a segment emptied or deleted under it). Earlier run: its
 * end file names the seq its owner would have written next (spool_end.h), so
 * what is owed below it is lost, exactly. Damage after the records it names
 * held none when the mark is final (written at a clean close); otherwise
 * (records written after the owner's last mark), and in a run without the
 * file, it lost at least one record, one per record start. */
static void end_of_run(segops__spool_run_t *run, segops__spool_next_t *out) {
    out->kind = SEGOPS__NEXT_END;
    if (run->own) {
        attribute(run, run->next_seq, 0, out);
        return;
    }
    if (run->drained) return;
    bool damaged = run->dmg_open;
    if (run->end_mark > run->rd_expected) attribute(run, run->end_mark, 0, out);
    if (run->dmg_open && run->end_final && run->rd_expected <= run->end_mark) {
        out->lost_bytes += run->dmg_bytes;
        place(out, damage_place(run));
        run->dmg_open = false;
    }
    if (run->dmg_open) {
        uint64_t cursor = run->acks.cursor;
        uint64_t estimate = SEGOPS__MAX(run->dmg_broken, 1);
        uint64_t settled = cursor >= run->rd_expected ? cursor - run->rd_expected + 1 : 0;
        if (estimate > settled) {
            out->lost_records += estimate - settled;
            out->lost_bytes += run->dmg_bytes;
            place(out, damage_place(run));
        }
        run->dmg_open = false;
    }
    if (damaged) repair_tail(run);
    run->drained = true;
}

static void note_damage(segops__spool_run_t *run, uint64_t bytes, bool broken_record) {
    if (!run->dmg_open) {
        run->dmg_open = true;
        run->dmg_bytes = run->dmg_broken = 0;
        run->dmg_first = run->segs[run->rd_seg].first_seq;
        run->dmg_off = run->rd_off;
        run->dmg_errno = 0;
    }
    run->dmg_bytes += bytes;
    if (broken_record) run->dmg_broken++;
}

/* Errors that say nothing about the file: read it later. */
static bool transient(int err) {
    return err == EMFILE || err == ENFILE || err == ENOMEM || err == EAGAIN;
}

/* A segment that cannot be read (a directory in its place, EIO ...): the rest
 * of it is damage, at least one record, and reading goes on after it. */
static void skip_unreadable(segops__spool_run_t *run, segops__spool_seg_t *seg, int err) {
    if (run->rd_fd >= 0) close(run->rd_fd);
    run->rd_fd = -1;
    note_damage(run, seg->size - run->rd_off, true);
    if (!run->dmg_errno) run->dmg_errno = err;
    run->rd_off = seg->size;
}

segops__spool_next_t segops__spool_read_next(segops__spool_run_t *run,
                                             segops__spool_readbuf_t *rb) {
    segops__spool_next_t out = {.kind = SEGOPS__NEXT_END};
    size_t min = 1;
    for (;;) {
        if (run->rd_seg >= run->nsegs) {
            end_of_run(run, &out);
            return out;
        }
        segops__spool_seg_t *seg = &run->segs[run->rd_seg];
        /* Its name says every seq below it was written before it. */
        if (run->rd_off == 0) attribute(run, seg->first_seq, seg->first_seq, &out);
        if (run->rd_off >= seg->size) {
            if (run->rd_seg + 1 < run->nsegs) {
                run->rd_seg++;
                run->rd_off = 0;
                continue;
            }
            end_of_run(run, &out);
            return out;
        }
        const uint8_t *p = NULL;
        size_t avail = 0;
        segops_err_t err = window(run, rb, seg, min, &p, &avail);
        min = 1;
        if (err == SEGOPS_E_IO && !transient(errno)) {
            skip_unreadable(run, seg, errno);
            continue;
        }
        if (err != SEGOPS_OK) {
            out.kind = SEGOPS__NEXT_ERROR;
            out.err = err;
            return out;
        }
        if (avail == 0) continue; /* the segment ended early: seg->size was cut */
        bool at_eof = run->rd_off + avail >= seg->size;
        segops__spool_scan_t s = segops__spool_record_scan(p, avail, at_eof);
        if (s.kind == SEGOPS__SCAN_NEED_MORE) {
            min = s.step;
            continue;
        }
        if (s.kind == SEGOPS__SCAN_DAMAGE) {
            note_damage(run, s.step, s.broken_record);
            run->rd_off += s.step;
            continue;
        }
        if (s.rec.seq > seg->last_seq) seg->last_seq = s.rec.seq;
        attribute(run, s.rec.seq, seg->first_seq, &out);
        if (segops__spool_acks_is_settled(&run->acks, s.rec.seq)) {
            run->rd_off += s.step;
            run->rd_expected = s.rec.seq + 1;
            continue;
        }
        out.kind = SEGOPS__NEXT_RECORD;
        out.rec = s.rec;
        out.step = s.step;
        return out;
    }
}

void segops__spool_read_consume(segops__spool_run_t *run, const segops__spool_next_t *next) {
    run->rd_off += next->step;
    run->rd_expected = next->rec.seq + 1;
}

bool segops__spool_read_caught_up(const segops__spool_run_t *run) {
    if (run->rd_seg >= run->nsegs) return true;
    if (run->rd_off < run->segs[run->rd_seg].size) return false;
    for (size_t i = run->rd_seg + 1; i < run->nsegs; i++)
        if (run->segs[i].size) return false;
    return true;
}

void segops__spool_read_skip_to_end(segops__spool_run_t *run) {
    if (!run->nsegs) return;
    run->rd_seg = run->nsegs - 1;
    run->rd_off = run->segs[run->rd_seg].size;
    run->rd_expected = run->next_seq;
}

void segops__spool_readbuf_free(segops__spool_readbuf_t *rb) {
    segops__free(rb->data);
    memset(rb, 0, sizeof *rb);
}
