/* One run directory of the spool: the files one client (the owner) writes,
 * held under an exclusive flock() on the directory itself for as long as its
 * holder lives. Its owner holds it from creation; once the owner is gone (exit,
 * crash, kill -9: the kernel drops the lock with the last descriptor) the next
 * client to take the lock adopts the run and sends what is left in it.
 *
 *   <spool_dir>/run-<16 hex ms>-<pid>-<8 hex random>/   0700, the lock
 *       0000000000000001.seg   records (spool_record.h), named by their first seq
 *       0000000000001a2b.seg   ...
 *       ack                    the settled cursor (spool_ack.h)
 *       end                    how far the owner wrote (spool_end.h); runs of
 *                              older versions lack it
 *
 * Only runs and segment files owned by the effective user are adopted, so
 * another user who can write to spool_dir cannot have events sent with our
 * key.
 *
 * Why flock on the directory: a flock belongs to the open file description, so
 * two clients in one process exclude each other (fcntl/POSIX locks belong to
 * the process: a second client of the same process would "lock" the first
 * one's live run and send its events twice, and closing any descriptor of the
 * file drops them). A forked child shares the description, so the parent's
 * lock stays held while the child lives and after the child closes its copy;
 * nothing ever calls LOCK_UN (on a shared description it would unlock the
 * parent). O_CLOEXEC keeps the lock out of exec'd programs. Local file
 * systems only: over NFS Linux emulates flock with POSIX locks. */
#ifndef SEGOPS_SPOOL_RUN_H
#define SEGOPS_SPOOL_RUN_H

#include "common.h"

#include "spool_ack.h"
#include "spool_end.h"

#define SEGOPS__SPOOL_RUN_NAME_MAX 64
/* "0000000000000001.seg" */
#define SEGOPS__SPOOL_SEG_NAME_LEN 20

typedef struct segops__spool_seg {
    uint64_t first_seq; /* from its name */
    uint64_t size;      /* bytes to read: what the owner wrote, or the file's size */
    uint64_t last_seq;  /* highest intact seq seen in it; 0 = none */
} segops__spool_seg_t;

typedef struct segops__spool_run {
    uint32_t id; /* unique within the spool, never reused */
    bool own;    /* ours: the only run we write */
    int dir_fd;  /* holds the flock; -1 when closed */
    char name[SEGOPS__SPOOL_RUN_NAME_MAX];
    segops__spool_seg_t *segs; /* by first_seq */
    size_t nsegs, cap;
    uint64_t bytes; /* sum of segs[].size */
    segops__spool_acks_t acks;
    uint64_t end_mark; /* adopted: the next seq its owner's end file names; 0 = unknown */
    bool end_final;    /* ... written at its owner's clean close */

    /* Reading (spool_read.c): the next unread byte and what preceded it. */
    size_t rd_seg;
    uint64_t rd_off;
    uint64_t rd_expected; /* the seq the next record should carry */
    int rd_fd;            /* segment rd_fd_first open for reading, or -1 */
    uint64_t rd_fd_first;
    bool drained;  /* an adopted run read to its end */
    bool dmg_open; /* damaged or unreadable bytes seen, not yet attributed to lost records */
    uint64_t dmg_bytes, dmg_broken, dmg_off;
    uint64_t dmg_first; /* first_seq of the segment the damage began in */
    int dmg_errno;      /* the damage is an unreadable segment: why (0: damaged bytes) */

    /* Writing (own run). */
    int wr_fd;               /* the last segment, O_APPEND; -1 before the first append */
    bool wr_sealed;          /* a failed write could not be undone: append elsewhere */
    bool wr_unsynced;        /* written since the last fdatasync */
    uint64_t next_seq;       /* of the next record appended */
    segops__spool_end_t end; /* the end file */
} segops__spool_run_t;

/* Creates and locks a new run directory in the spool directory spool_fd.
 * SEGOPS_OK, SEGOPS_E_IO (errno says why) or SEGOPS_E_NOMEM. */
segops_err_t segops__spool_run_create(int spool_fd, uint32_t id, segops__spool_run_t *run);

/* Takes the lock of the run directory `name` and loads its segment list and
 * cursor. SEGOPS_OK; SEGOPS_E_STATE when it is locked (its owner lives) or
 * gone; SEGOPS_E_IO (errno) or SEGOPS_E_NOMEM. */
segops_err_t segops__spool_run_adopt(int spool_fd, const char *name, uint32_t id,
                                     segops__spool_run_t *run);

/* The names of the run directories in spool_fd, sorted (oldest first). The
 * caller frees each name and the array. SEGOPS_OK, SEGOPS_E_IO, SEGOPS_E_NOMEM. */
segops_err_t segops__spool_run_list(int spool_fd, char ***names, size_t *count);

/* Starts a new segment for records from run->next_seq (own run).
 * SEGOPS_OK, SEGOPS_E_IO (errno), SEGOPS_E_NOMEM. */
segops_err_t segops__spool_run_new_segment(segops__spool_run_t *run);

/* Deletes every segment that was read past and whose records are all settled
 * (never the own run's segment being written). Returns the bytes freed. */
uint64_t segops__spool_run_delete_settled(segops__spool_run_t *run);

/* True when nothing in the run is left to send: every record appended (own) or
 * present (adopted, read to the end) is settled. */
bool segops__spool_run_is_settled(const segops__spool_run_t *run);

/* Deletes the run's files and directory (keeping the lock until the end).
 * Files it does not know keep the directory. */
void segops__spool_run_remove(int spool_fd, segops__spool_run_t *run);

/* Closes every descriptor (so releases the lock when no other process shares
 * it) and frees the run's memory. */
void segops__spool_run_close(segops__spool_run_t *run);

/* The file name of a segment, NUL-terminated. */
void segops__spool_seg_name(uint64_t first_seq, char out[SEGOPS__SPOOL_SEG_NAME_LEN + 1]);

#endif
