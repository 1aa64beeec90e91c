/* The settled set of a spool run and its two-slot ack file. */
#include "spool_ack.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "crc32c.h"
#include "spool_slot.h"

static const uint8_t slot_magic[4] = {0xFF, 'S', 'P', 'A'};

/* The ranges block after the two slots: at most this many ranges are written
 * (the lowest; the others are merely sent again after a restart). */
#define RANGES_AT (2 * SEGOPS__SPOOL_SLOT)
#define RANGES_HEADER 16
#define RANGES_MAX 1024
static const uint8_t ranges_magic[4] = {0xFF, 'S', 'P', 'R'};

/* Loads the ranges block written with the slot of acks->generation, if it is
 * whole; anything else is ignored (those records are sent again). */
static void ranges_load(segops__spool_acks_t *acks) {
    uint8_t header[RANGES_HEADER];
    if (pread(acks->fd, header, sizeof header, RANGES_AT) != (ssize_t)sizeof header ||
        memcmp(header, ranges_magic, 4) != 0 || segops__get_le64(header + 8) != acks->generation)
        return;
    uint32_t count = segops__get_le32(header + 4);
    if (!count || count > RANGES_MAX) return;
    size_t len = RANGES_HEADER + (size_t)count * 16 + 4;
    uint8_t *buf = segops__malloc(len);
    if (!buf) return;
    if (pread(acks->fd, buf, len, RANGES_AT) == (ssize_t)len &&
        segops__get_le32(buf + len - 4) == segops__crc32c(buf, len - 4))
        for (uint32_t i = 0; i < count; i++)
            (void)segops__spool_acks_settle(acks, segops__get_le64(buf + RANGES_HEADER + 16 * i),
                                            segops__get_le64(buf + RANGES_HEADER + 16 * i + 8));
    segops__free(buf);
    acks->persisted = acks->cursor; /* the file says so already */
    acks->ranges_dirty = false;
}

/* Writes the ranges for the slot of `generation`. */
static segops_err_t ranges_write(const segops__spool_acks_t *acks, uint64_t generation) {
    size_t count = SEGOPS__MIN(acks->count, (size_t)RANGES_MAX);
    size_t len = RANGES_HEADER + count * 16 + 4;
    uint8_t *buf = segops__malloc(len);
    if (!buf) return SEGOPS_E_NOMEM;
    memcpy(buf, ranges_magic, 4);
    segops__put_le32(buf + 4, (uint32_t)count);
    segops__put_le64(buf + 8, generation);
    for (size_t i = 0; i < count; i++) {
        segops__put_le64(buf + RANGES_HEADER + 16 * i, acks->ranges[i].lo);
        segops__put_le64(buf + RANGES_HEADER + 16 * i + 8, acks->ranges[i].hi);
    }
    segops__put_le32(buf + len - 4, segops__crc32c(buf, len - 4));
    ssize_t wrote = pwrite(acks->fd, buf, len, RANGES_AT);
    segops__free(buf);
    if (wrote == (ssize_t)len) return SEGOPS_OK;
    if (wrote >= 0) errno = ENOSPC;
    return SEGOPS_E_IO;
}

segops_err_t segops__spool_acks_open(int dir_fd, segops__spool_acks_t *acks) {
    memset(acks, 0, sizeof *acks);
    acks->fd =
        openat(dir_fd, SEGOPS__SPOOL_ACK_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (acks->fd < 0) return SEGOPS_E_IO;
    uint8_t buf[2 * SEGOPS__SPOOL_SLOT];
    ssize_t got = pread(acks->fd, buf, sizeof buf, 0);
    if (got < 0) {
        int saved = errno;
        close(acks->fd);
        acks->fd = -1;
        errno = saved;
        return SEGOPS_E_IO;
    }
    segops__spool_slot_t newest;
    if (segops__spool_slot_newest(buf, (size_t)got, slot_magic, &newest)) {
        acks->generation = newest.generation;
        acks->cursor = acks->persisted = newest.value;
    }
    if (got == (ssize_t)sizeof buf) ranges_load(acks);
    if (got < (ssize_t)sizeof buf) {
        /* A new file gets both slots now, so later pwrites overwrite bytes the
         * file system already holds and need no new space on a full disk. */
        segops__spool_slot_t both = {0, acks->generation, acks->cursor};
        if (segops__spool_slot_write(acks->fd, slot_magic, &both, true) != SEGOPS_OK) {
            int saved = errno;
            close(acks->fd);
            acks->fd = -1;
            errno = saved;
            return SEGOPS_E_IO;
        }
    }
    return SEGOPS_OK;
}

/* Moves the cursor over every range that now touches it. */
static void absorb(segops__spool_acks_t *acks) {
    size_t taken = 0;
    while (taken < acks->count && acks->ranges[taken].lo <= acks->cursor + 1) {
        acks->cursor = SEGOPS__MAX(acks->cursor, acks->ranges[taken].hi);
        taken++;
    }
    if (!taken) return;
    acks->ranges_dirty = true;
    memmove(acks->ranges, acks->ranges + taken, (acks->count - taken) * sizeof *acks->ranges);
    acks->count -= taken;
}

segops_err_t segops__spool_acks_settle(segops__spool_acks_t *acks, uint64_t lo, uint64_t hi) {
    if (lo > hi || hi <= acks->cursor) return SEGOPS_OK;
    if (lo <= acks->cursor + 1) {
        acks->cursor = hi;
        absorb(acks);
        return SEGOPS_OK;
    }
    /* Find the ranges that overlap or touch [lo, hi] and merge them into one. */
    size_t first = 0;
    while (first < acks->count && acks->ranges[first].hi + 1 < lo) first++;
    size_t end = first;
    while (end < acks->count && acks->ranges[end].lo <= hi + 1) {
        lo = SEGOPS__MIN(lo, acks->ranges[end].lo);
        hi = SEGOPS__MAX(hi, acks->ranges[end].hi);
        end++;
    }
    if (end == first) { /* a new range at first */
        if (acks->count == acks->cap) {
            size_t cap = acks->cap ? acks->cap * 2 : 8;
            segops__spool_range_t *grown = segops__realloc(acks->ranges, cap * sizeof *grown);
            if (!grown) return SEGOPS_E_NOMEM;
            acks->ranges = grown;
            acks->cap = cap;
        }
        memmove(acks->ranges + first + 1, acks->ranges + first,
                (acks->count - first) * sizeof *acks->ranges);
        acks->count++;
    } else if (end > first + 1) {
        memmove(acks->ranges + first + 1, acks->ranges + end,
                (acks->count - end) * sizeof *acks->ranges);
        acks->count -= end - first - 1;
    }
    acks->ranges[first].lo = lo;
    acks->ranges[first].hi = hi;
    acks->ranges_dirty = true;
    return SEGOPS_OK;
}

bool segops__spool_acks_is_settled(const segops__spool_acks_t *acks, uint64_t seq) {
    if (seq <= acks->cursor) return true;
    size_t lo = 0, hi = acks->count;
    while (lo < hi) { /* the first range with hi >= seq */
        size_t mid = lo + (hi - lo) / 2;
        if (acks->ranges[mid].hi < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < acks->count && acks->ranges[lo].lo <= seq;
}

uint64_t segops__spool_acks_unsettled(const segops__spool_acks_t *acks, uint64_t lo, uint64_t hi) {
    lo = SEGOPS__MAX(lo, acks->cursor + 1);
    if (lo > hi) return 0;
    uint64_t open = hi - lo + 1;
    for (size_t i = 0; i < acks->count && acks->ranges[i].lo <= hi; i++) {
        uint64_t from = SEGOPS__MAX(lo, acks->ranges[i].lo),
                 to = SEGOPS__MIN(hi, acks->ranges[i].hi);
        if (from <= to) open -= to - from + 1;
    }
    return open;
}

bool segops__spool_acks_persisted_settled(const segops__spool_acks_t *acks, uint64_t lo,
                                          uint64_t hi) {
    if (hi <= acks->persisted) return true;
    /* Ranges not written since they changed count for nothing on disk. */
    if (acks->ranges_dirty) return false;
    size_t first = 0;
    while (first < acks->count && acks->ranges[first].hi < lo) first++;
    return first < acks->count && acks->ranges[first].lo <= lo && acks->ranges[first].hi >= hi;
}

segops_err_t segops__spool_acks_persist(segops__spool_acks_t *acks) {
    bool ranges = acks->ranges_dirty && acks->count;
    if (acks->cursor == acks->persisted && !ranges) return SEGOPS_OK;
    if (acks->fd < 0) {
        errno = EBADF;
        return SEGOPS_E_IO;
    }
    uint64_t generation = acks->generation + 1;
    /* The ranges first: until the slot of their generation is written they
     * count for nothing. Unwritten (a full disk: the block may need new
     * space, the slots never do), the cursor still is. */
    bool ranges_written = !acks->count || ranges_write(acks, generation) == SEGOPS_OK;
    segops__spool_slot_t slot = {0, generation, acks->cursor};
    if (segops__spool_slot_write(acks->fd, slot_magic, &slot, false) != SEGOPS_OK)
        return SEGOPS_E_IO;
    acks->generation = generation;
    acks->persisted = acks->cursor;
    acks->ranges_dirty = !ranges_written;
    acks->unsynced = true;
    return SEGOPS_OK;
}

segops_err_t segops__spool_acks_sync(segops__spool_acks_t *acks) {
    if (!acks->unsynced || acks->fd < 0) return SEGOPS_OK;
    if (fdatasync(acks->fd) != 0) return SEGOPS_E_IO;
    acks->unsynced = false;
    return SEGOPS_OK;
}

void segops__spool_acks_close(segops__spool_acks_t *acks, bool close_fd) {
    if (close_fd && acks->fd >= 0) close(acks->fd);
    acks->fd = -1;
    segops__free(acks->ranges);
    acks->ranges = NULL;
    acks->count = acks->cap = 0;
}
