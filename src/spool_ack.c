/* The settled set of a spool run and its two-slot ack file. */
#include "spool_ack.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "crc32c.h"

#define SLOT 32
static const uint8_t slot_magic[4] = {0xFF, 'S', 'P', 'A'};

static void put_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static bool slot_read(const uint8_t *slot, uint64_t *generation, uint64_t *cursor) {
    uint32_t crc = segops__crc32c(slot, 24);
    uint8_t want[4] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16),
                       (uint8_t)(crc >> 24)};
    if (memcmp(slot, slot_magic, 4) != 0 || memcmp(slot + 24, want, 4) != 0) return false;
    *generation = get_le64(slot + 8);
    *cursor = get_le64(slot + 16);
    return true;
}

static void slot_encode(uint8_t slot[SLOT], uint64_t generation, uint64_t cursor) {
    memset(slot, 0, SLOT);
    memcpy(slot, slot_magic, 4);
    put_le64(slot + 8, generation);
    put_le64(slot + 16, cursor);
    uint32_t crc = segops__crc32c(slot, 24);
    for (int i = 0; i < 4; i++) slot[24 + i] = (uint8_t)(crc >> (8 * i));
}

segops_err_t segops__spool_acks_open(int dir_fd, segops__spool_acks_t *acks) {
    memset(acks, 0, sizeof *acks);
    acks->fd =
        openat(dir_fd, SEGOPS__SPOOL_ACK_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (acks->fd < 0) return SEGOPS_E_IO;
    uint8_t buf[2 * SLOT];
    ssize_t got = pread(acks->fd, buf, sizeof buf, 0);
    if (got < 0) {
        int saved = errno;
        close(acks->fd);
        acks->fd = -1;
        errno = saved;
        return SEGOPS_E_IO;
    }
    for (ssize_t at = 0; at + SLOT <= got; at += SLOT) {
        uint64_t generation, cursor;
        if (slot_read(buf + at, &generation, &cursor) && generation >= acks->generation) {
            acks->generation = generation;
            acks->cursor = acks->persisted = cursor;
        }
    }
    if (got < (ssize_t)sizeof buf) {
        /* A new file gets both slots now, so later pwrites overwrite bytes the
         * file system already holds and need no new space on a full disk. */
        slot_encode(buf, acks->generation, acks->cursor);
        slot_encode(buf + SLOT, acks->generation, acks->cursor);
        ssize_t wrote = pwrite(acks->fd, buf, sizeof buf, 0);
        if (wrote != (ssize_t)sizeof buf) {
            int saved = wrote < 0 ? errno : ENOSPC;
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

segops_err_t segops__spool_acks_persist(segops__spool_acks_t *acks) {
    if (acks->cursor == acks->persisted) return SEGOPS_OK;
    if (acks->fd < 0) {
        errno = EBADF;
        return SEGOPS_E_IO;
    }
    uint8_t slot[SLOT];
    uint64_t generation = acks->generation + 1;
    slot_encode(slot, generation, acks->cursor);
    ssize_t wrote = pwrite(acks->fd, slot, SLOT, (off_t)(generation & 1) * SLOT);
    if (wrote != SLOT) {
        if (wrote >= 0) errno = ENOSPC;
        return SEGOPS_E_IO;
    }
    acks->generation = generation;
    acks->persisted = acks->cursor;
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
