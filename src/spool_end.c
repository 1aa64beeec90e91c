/* The end file of a spool run: two checksummed slots holding the next seq. */
#include "spool_end.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "crc32c.h"

#define SLOT 32
static const uint8_t end_magic[4] = {0xFF, 'S', 'P', 'E'};

static void put_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

#define FLAG_FINAL 1u

static void slot_encode(uint8_t slot[SLOT], uint64_t generation, uint64_t mark, bool final) {
    memset(slot, 0, SLOT);
    memcpy(slot, end_magic, 4);
    slot[4] = final ? FLAG_FINAL : 0;
    put_le64(slot + 8, generation);
    put_le64(slot + 16, mark);
    uint32_t crc = segops__crc32c(slot, 24);
    for (int i = 0; i < 4; i++) slot[24 + i] = (uint8_t)(crc >> (8 * i));
}

static bool slot_decode(const uint8_t *slot, uint64_t *generation, uint64_t *mark, bool *final) {
    uint32_t crc = segops__crc32c(slot, 24);
    uint8_t want[4] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16),
                       (uint8_t)(crc >> 24)};
    if (memcmp(slot, end_magic, 4) != 0 || memcmp(slot + 24, want, 4) != 0) return false;
    *generation = get_le64(slot + 8);
    *mark = get_le64(slot + 16);
    *final = slot[4] & FLAG_FINAL;
    return true;
}

segops_err_t segops__spool_end_create(int dir_fd, segops__spool_end_t *end) {
    memset(end, 0, sizeof *end);
    end->mark = 1;
    end->fd = openat(dir_fd, SEGOPS__SPOOL_END_FILE,
                     O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (end->fd < 0) return SEGOPS_E_IO;
    uint8_t buf[2 * SLOT];
    slot_encode(buf, 0, end->mark, false);
    slot_encode(buf + SLOT, 0, end->mark, false);
    ssize_t wrote = pwrite(end->fd, buf, sizeof buf, 0);
    if (wrote == (ssize_t)sizeof buf) return SEGOPS_OK;
    int saved = wrote < 0 ? errno : ENOSPC;
    close(end->fd);
    end->fd = -1;
    unlinkat(dir_fd, SEGOPS__SPOOL_END_FILE, 0);
    errno = saved;
    return SEGOPS_E_IO;
}

uint64_t segops__spool_end_load(int dir_fd, bool *final) {
    *final = false;
    int fd = openat(dir_fd, SEGOPS__SPOOL_END_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return 0;
    uint8_t buf[2 * SLOT];
    ssize_t got = pread(fd, buf, sizeof buf, 0);
    close(fd);
    uint64_t best_generation = 0, best = 0;
    bool found = false;
    for (ssize_t at = 0; at + SLOT <= got; at += SLOT) {
        uint64_t generation, mark;
        bool is_final;
        if (slot_decode(buf + at, &generation, &mark, &is_final) &&
            (!found || generation >= best_generation)) {
            found = true;
            best_generation = generation;
            best = mark;
            *final = is_final;
        }
    }
    return best;
}

segops_err_t segops__spool_end_write(segops__spool_end_t *end, uint64_t next_seq, bool final) {
    if (next_seq == end->mark && final == end->final) return SEGOPS_OK;
    if (end->fd < 0) {
        errno = EBADF;
        return SEGOPS_E_IO;
    }
    uint8_t slot[SLOT];
    uint64_t generation = end->generation + 1;
    slot_encode(slot, generation, next_seq, final);
    ssize_t wrote = pwrite(end->fd, slot, SLOT, (off_t)(generation & 1) * SLOT);
    if (wrote != SLOT) {
        if (wrote >= 0) errno = ENOSPC;
        return SEGOPS_E_IO;
    }
    end->generation = generation;
    end->mark = next_seq;
    end->final = final;
    end->unsynced = true;
    return SEGOPS_OK;
}

segops_err_t segops__spool_end_sync(segops__spool_end_t *end) {
    if (!end->unsynced || end->fd < 0) return SEGOPS_OK;
    if (fdatasync(end->fd) != 0) return SEGOPS_E_IO;
    end->unsynced = false;
    return SEGOPS_OK;
}

void segops__spool_end_close(segops__spool_end_t *end, bool close_fd) {
    if (close_fd && end->fd >= 0) close(end->fd);
    end->fd = -1;
}
