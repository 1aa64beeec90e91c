/* The inside of the spool facade (spool.h), shared by its source files:
 * spool.c (open, append, sync, adopt, tidy, close, fork) and spool_settle.c
 * (read, acknowledge, expire, drop). Not for other modules. */
#ifndef SEGOPS_SPOOL_IMPL_H
#define SEGOPS_SPOOL_IMPL_H

#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

#include "spool_read.h"
#include "spool_run.h"
#include "spool_types.h"
#include "spool_write.h"

struct segops__spool {
    pthread_mutex_t lock;
    bool fork_locked; /* prepare took the lock */
    bool forked;      /* in a child: inert */
    int dir_fd;
    char *dir;
    segops__spool_limits_t limits;
    segops__spool_run_t own;
    segops__spool_run_t *adopted; /* oldest first */
    size_t nadopted, adopted_cap;
    uint32_t next_run_id;
    bool dir_unsynced;     /* the spool directory gained our run */
    bool own_dir_unsynced; /* our run directory gained or lost segments */
    segops__spool_readbuf_t rb;
    segops__spool_writer_t writer;
    segops__spool_losses_t losses;
    int err_no;
    char err_what[96];
    /* What segops__spool_usage reports, published by every call that holds
     * the lock as it lets go (segops__spool_unlock): the lock is held across
     * file I/O (a write, an fdatasync), and usage (client stats, the worker's
     * look for a backlog) must not wait for the disk. */
    _Atomic uint64_t pub_disk_bytes, pub_adopted_runs;
    _Atomic bool pub_caught_up;
};

/* Remembers the last I/O error (errno) for segops__spool_describe_error. */
void segops__spool_note_error(struct segops__spool *s, const segops__spool_run_t *run,
                              const char *what);

/* Publishes the usage (above) and releases the lock. */
void segops__spool_unlock(struct segops__spool *s);

/* Writes moved cursors, deletes settled segments and drops earlier runs that
 * are done. Every call that settles or reads ends here. Lock held. */
segops_err_t segops__spool_tidy(struct segops__spool *s);

/* The runs in reading order: earlier runs first, then our own. */
static inline segops__spool_run_t *segops__spool_run_at(struct segops__spool *s, size_t i) {
    return i < s->nadopted ? &s->adopted[i] : &s->own;
}

#endif
