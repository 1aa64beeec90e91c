/* The end file of a spool run: two checksummed slots holding the next seq. */
#include "spool_end.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "spool_slot.h"

static const uint8_t end_magic[4] = {0xFF, 'S', 'P', 'E'};

#define FLAG_FINAL 1u

segops_err_t segops__spool_end_create(int dir_fd, segops__spool_end_t *end) {
    memset(end, 0, sizeof *end);
    end->mark = 1;
    end->fd = openat(dir_fd, SEGOPS__SPOOL_END_FILE,
                     O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (end->fd < 0) return SEGOPS_E_IO;
    segops__spool_slot_t first = {0, 0, end->mark};
    if (segops__spool_slot_write(end->fd, end_magic, &first, true) == SEGOPS_OK) return SEGOPS_OK;
    int saved = errno;
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
    uint8_t buf[2 * SEGOPS__SPOOL_SLOT];
    ssize_t got = pread(fd, buf, sizeof buf, 0);
    close(fd);
    segops__spool_slot_t newest;
    if (got <= 0 || !segops__spool_slot_newest(buf, (size_t)got, end_magic, &newest)) return 0;
    *final = newest.flags & FLAG_FINAL;
    return newest.value;
}

segops_err_t segops__spool_end_write(segops__spool_end_t *end, uint64_t next_seq, bool final) {
    if (next_seq == end->mark && final == end->final) return SEGOPS_OK;
    if (end->fd < 0) {
        errno = EBADF;
        return SEGOPS_E_IO;
    }
    uint64_t generation = end->generation + 1;
    segops__spool_slot_t slot = {final ? FLAG_FINAL : 0, generation, next_seq};
    if (segops__spool_slot_write(end->fd, end_magic, &slot, false) != SEGOPS_OK) return SEGOPS_E_IO;
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
