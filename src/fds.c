/* Descriptor bookkeeping for fork() (see fds.h). */
#include "fds.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOT_EMPTY -1
#define SLOT_BUSY -2

void segops__owned_fds_init(segops__owned_fds_t *set) {
    for (size_t i = 0; i < SEGOPS__OWNED_FDS; i++) {
        atomic_init(&set->slot[i].fd, SLOT_EMPTY);
        atomic_init(&set->slot[i].dev, 0);
        atomic_init(&set->slot[i].inode, 0);
    }
}

bool segops__owned_fds_add(segops__owned_fds_t *set, int fd) {
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) return false;
    /* A child that execs keeps none of them either. */
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    for (size_t i = 0; i < SEGOPS__OWNED_FDS; i++) {
        segops__owned_fd_t *slot = &set->slot[i];
        int empty = SLOT_EMPTY;
        if (!atomic_compare_exchange_strong(&slot->fd, &empty, SLOT_BUSY)) continue;
        atomic_store(&slot->dev, (uint64_t)st.st_dev);
        atomic_store(&slot->inode, (uint64_t)st.st_ino);
        atomic_store(&slot->fd, fd);
        return true;
    }
    return false;
}

void segops__owned_fds_remove(segops__owned_fds_t *set, int fd) {
    for (size_t i = 0; i < SEGOPS__OWNED_FDS; i++) {
        segops__owned_fd_t *slot = &set->slot[i];
        int expected = fd;
        if (!atomic_compare_exchange_strong(&slot->fd, &expected, SLOT_BUSY)) continue;
        atomic_store(&slot->dev, 0);
        atomic_store(&slot->inode, 0);
        atomic_store(&slot->fd, SLOT_EMPTY);
        return;
    }
}

void segops__owned_fds_close_all(segops__owned_fds_t *set) {
    for (size_t i = 0; i < SEGOPS__OWNED_FDS; i++) {
        segops__owned_fd_t *slot = &set->slot[i];
        int fd = atomic_exchange(&slot->fd, SLOT_EMPTY);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_dev == atomic_load(&slot->dev) &&
            (uint64_t)st.st_ino == atomic_load(&slot->inode))
            close(fd);
    }
}

/* Opens the directory listing this process's descriptors. */
static DIR *open_fd_dir(void) {
    DIR *dir = opendir("/proc/self/fd");
    return dir ? dir : opendir("/dev/fd");
}

/* The next descriptor in dir, skipping "." and the listing's own descriptor;
 * -1 at the end. */
static int next_fd(DIR *dir) {
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        char *end;
        long fd = strtol(entry->d_name, &end, 10);
        if (end == entry->d_name || *end || fd < 0 || fd > INT32_MAX) continue;
        if ((int)fd != dirfd(dir)) return (int)fd;
    }
    return -1;
}

static int compare_fd(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

segops_err_t segops__fd_snapshot_take(segops__fd_snapshot_t *out) {
    out->fd = NULL;
    out->count = 0;
    DIR *dir = open_fd_dir();
    if (!dir) return SEGOPS_E_INTERNAL;
    size_t capacity = 0;
    int fd;
    while ((fd = next_fd(dir)) >= 0) {
        if (out->count == capacity) {
            size_t grown = capacity ? capacity * 2 : 64;
            int *bigger = segops__realloc(out->fd, grown * sizeof *bigger);
            if (!bigger) {
                closedir(dir);
                segops__fd_snapshot_free(out);
                return SEGOPS_E_NOMEM;
            }
            out->fd = bigger;
            capacity = grown;
        }
        out->fd[out->count++] = fd;
    }
    closedir(dir);
    if (out->count) qsort(out->fd, out->count, sizeof *out->fd, compare_fd);
    return SEGOPS_OK;
}

void segops__fd_snapshot_free(segops__fd_snapshot_t *snap) {
    segops__free(snap->fd);
    snap->fd = NULL;
    snap->count = 0;
}

int segops__fd_snapshot_new_since(const segops__fd_snapshot_t *before, int *out, int max) {
    DIR *dir = open_fd_dir();
    if (!dir) return -1;
    int found = 0, fd;
    while ((fd = next_fd(dir)) >= 0) {
        if (before->count && bsearch(&fd, before->fd, before->count, sizeof fd, compare_fd))
            continue;
        if (found < max) out[found] = fd;
        found++;
    }
    closedir(dir);
    return found;
}

bool segops__fd_readable(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static bool unix_stream_nonblocking(int fd) {
    struct sockaddr_storage addr;
    socklen_t addr_len = sizeof addr;
    int type = 0, flags = fcntl(fd, F_GETFL);
    socklen_t type_len = sizeof type;
    return flags >= 0 && (flags & O_NONBLOCK) &&
           getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) == 0 && type == SOCK_STREAM &&
           getsockname(fd, (struct sockaddr *)&addr, &addr_len) == 0 && addr.ss_family == AF_UNIX;
}

bool segops__fd_one_channel(int reader, int other) {
    struct stat r, o;
    if (fstat(reader, &r) != 0) return false;
    if (other < 0) return !S_ISFIFO(r.st_mode) && !S_ISSOCK(r.st_mode);
    if (fstat(other, &o) != 0) return false;
    if (S_ISFIFO(r.st_mode))
        return S_ISFIFO(o.st_mode) && r.st_dev == o.st_dev && r.st_ino == o.st_ino;
    return S_ISSOCK(r.st_mode) && S_ISSOCK(o.st_mode) && unix_stream_nonblocking(reader) &&
           unix_stream_nonblocking(other);
}
