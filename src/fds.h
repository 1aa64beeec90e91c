/* Descriptor bookkeeping for fork(): the set of descriptors a module owns, so
 * that a forked child can close its copies without running the code that made
 * them (libcurl must not run in the child), and snapshots of the descriptors
 * open in the process, to find the ones a library call created. */
#ifndef SEGOPS_FDS_H
#define SEGOPS_FDS_H

#include "common.h"

#include <stdatomic.h>

#define SEGOPS__OWNED_FDS 16

/* Lock-free, because a fork may land while another thread opens or closes a
 * descriptor: a slot is filled after its descriptor opens and emptied before it
 * closes, so a child closes only descriptors that were open at the fork (at
 * worst it keeps one that was in transit). Each slot also keeps its file's
 * identity, and a child closes a descriptor only while it still names that
 * file: one closed behind the set's back, its number reused, is left alone. */
typedef struct segops__owned_fd {
    atomic_int fd;        /* -1 = empty, -2 = being filled or emptied */
    _Atomic uint64_t dev; /* st_dev and st_ino of the file, set while fd == -2 */
    _Atomic uint64_t inode;
} segops__owned_fd_t;

typedef struct segops__owned_fds {
    segops__owned_fd_t slot[SEGOPS__OWNED_FDS];
} segops__owned_fds_t;

void segops__owned_fds_init(segops__owned_fds_t *set);
/* Records fd and marks it close-on-exec. false when the set is full (the
 * descriptor is then not recorded: a forked child would keep its copy). */
bool segops__owned_fds_add(segops__owned_fds_t *set, int fd);
/* Forgets fd; call before closing it. */
void segops__owned_fds_remove(segops__owned_fds_t *set, int fd);
/* In a forked child: closes every recorded descriptor and forgets it. Closing a
 * copy sends nothing while the parent holds the original. */
void segops__owned_fds_close_all(segops__owned_fds_t *set);

/* The descriptors open in this process, sorted. */
typedef struct segops__fd_snapshot {
    int *fd;
    size_t count;
} segops__fd_snapshot_t;

/* SEGOPS_OK; SEGOPS_E_NOMEM; SEGOPS_E_INTERNAL when the system lists no
 * descriptors (neither /proc/self/fd nor /dev/fd can be read). */
segops_err_t segops__fd_snapshot_take(segops__fd_snapshot_t *out);
void segops__fd_snapshot_free(segops__fd_snapshot_t *snap);

/* Writes up to `max` descriptors open now but not in `before` into out[] and
 * returns how many there are (which may exceed max), or -1 when none can be listed. */
int segops__fd_snapshot_new_since(const segops__fd_snapshot_t *before, int *out, int max);

/* Whether fd has data to read now (never blocks). */
bool segops__fd_readable(int fd);

/* Whether `reader` and `other` can be the two ends of one wake-up channel: a
 * pipe (both ends share an inode) or a pair of nonblocking AF_UNIX stream
 * sockets; other < 0: a channel of one descriptor (an eventfd), neither pipe nor
 * socket. */
bool segops__fd_one_channel(int reader, int other);

#endif
