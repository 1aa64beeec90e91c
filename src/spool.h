/* The on-disk spool: every accepted event written to files under spool_dir so
 * a crash, a restart or a long outage loses nothing.
 *
 * A spool holds one run directory of its own (spool_run.h), which it alone
 * writes, and reads the runs earlier clients left behind (adopted once their
 * owner is gone). Each run is a log of records (spool_record.h) in segment
 * files, with an ack cursor (spool_ack.h): records are appended in batches (one
 * write per batch), handed to the sender in order, and settled (delivered or
 * dropped) by seq; a segment is deleted once every record in it is settled,
 * and a run directory once all of it is.
 *
 * What survives what (no fsync, the default): a record is in the kernel's page
 * cache once segops__spool_append returns, so it survives the process (crash,
 * kill -9, OOM kill) but not a power loss; segops__spool_sync makes it durable.
 * A settlement is written when segops__spool_ack returns, so after a crash the
 * only records sent twice are those sent and not yet acked: the requests in
 * flight. How far the run was written (its end file, spool_end.h) is noted
 * after each append, in the page cache like the records (synced at each sync),
 * and marked final at close: a later reader counts exactly the records missing
 * below that mark.
 *
 * Thread-safety: every function but segops__spool_usage takes the spool's own
 * lock, so any thread may call; the read callback runs under it, must not call back into the spool
 * and takes no lock (the lock order is in client.c). Errors: a function that returns an error
 * changed nothing unless it says so. */
#ifndef SEGOPS_SPOOL_H
#define SEGOPS_SPOOL_H

#include "common.h"

#include "spool_record.h"
#include "spool_types.h"

typedef struct segops__spool segops__spool_t;

/* The run id of the spool's own run (records it appended). */
#define SEGOPS__SPOOL_OWN_RUN 1u

/* Where a record lives: pass it back to segops__spool_ack. */
typedef struct segops__spool_pos {
    uint32_t run;
    uint64_t seq;
} segops__spool_pos_t;

/* A record handed out by segops__spool_read. */
typedef struct segops__spool_rec {
    const char *json; /* not NUL-terminated; valid during the callback only */
    uint32_t len;
    int64_t time_ms;
    segops__spool_pos_t pos;
    bool adopted; /* from an earlier run: count it as recovered */
} segops__spool_rec_t;

/* Takes one record (copying what it keeps). Return false to refuse it: the
 * read stops and the record stays first in line. */
typedef bool (*segops__spool_read_fn)(void *ctx, const segops__spool_rec_t *rec);

typedef struct segops__spool_usage {
    uint64_t disk_bytes;   /* segment bytes on disk in every run held */
    uint64_t adopted_runs; /* earlier runs held now */
    bool own_caught_up;    /* every own record was handed out: hand_out appends allowed */
} segops__spool_usage_t;

/* Opens the spool in dir (created when missing, if its parent exists): creates
 * and locks a run directory of its own and adopts the runs nobody holds (up to
 * max_adopted; see segops__spool_adopt). Reads no records. Returns SEGOPS_OK,
 * SEGOPS_E_INVALID_ARG (NULL/empty dir or out), SEGOPS_E_CONFIG with a one-line
 * reason in why (missing parent, not a directory, no permission, read-only
 * file system, no space, no file locking), or SEGOPS_E_NOMEM. */
segops_err_t segops__spool_open(const char *dir, const segops__spool_limits_t *limits,
                                segops__spool_t **out, char *why, size_t why_len);

/* Writes the ack cursors, deletes what is settled (the own run directory too
 * when nothing in it is left), closes every file (releasing the locks) and
 * frees the spool. Unsettled records stay for the next client. NULL-safe. In a
 * forked child it only frees memory. */
void segops__spool_close(segops__spool_t *spool);

/* Appends items[0..n) to the own run with consecutive seqs from *first_seq,
 * one write() per batch (several only past 512 records or a segment boundary).
 * hand_out: the caller keeps these events in memory and sends them itself, so
 * read never returns them; allowed only while usage.own_caught_up.
 * Returns SEGOPS_OK (*appended == n); SEGOPS_E_QUEUE_FULL (max_bytes reached)
 * or SEGOPS_E_IO (ENOSPC, EIO ...: see segops__spool_describe_error) after
 * appending only the first *appended items, in which case the rest are not in
 * the spool; SEGOPS_E_INVALID_ARG (a payload is empty, over 1 MiB or holds
 * 0xFF; nothing written), SEGOPS_E_STATE (hand_out while not caught up, or in a
 * forked child) or SEGOPS_E_NOMEM. */
segops_err_t segops__spool_append(segops__spool_t *spool, const segops__spool_item_t *items,
                                  size_t n, bool hand_out, uint64_t *first_seq, size_t *appended);

/* Hands up to max unsettled records not yet handed out to fn, oldest first:
 * earlier runs (in the order adopted), then the own run. Records older than
 * max_age_ms at now_ms are dropped on the way; records that cannot be read
 * (damaged, missing, in an unreadable segment, which is skipped) are counted
 * in the losses by the read that finds them (see spool_read.h).
 * *count (optional) receives how many fn took. Returns SEGOPS_OK, SEGOPS_E_IO
 * (a segment could not be opened for now: no descriptors or memory; read
 * again later), SEGOPS_E_NOMEM or SEGOPS_E_STATE (forked child); records taken
 * before an error stay taken. */
segops_err_t segops__spool_read(segops__spool_t *spool, int64_t now_ms, size_t max,
                                segops__spool_read_fn fn, void *ctx, size_t *count);

/* Settles one record, or the seqs lo..hi of one run (delivered, or dropped for
 * its own reason), in any order. The run's cursor (everything below the first
 * unsettled seq) is written before it returns, and fully settled segments and
 * drained earlier runs are deleted. Unknown runs are ignored (SEGOPS_OK).
 * Returns SEGOPS_OK, SEGOPS_E_IO (the cursor could not be written: records
 * may be sent again after a crash), SEGOPS_E_NOMEM or SEGOPS_E_STATE. */
segops_err_t segops__spool_ack(segops__spool_t *spool, segops__spool_pos_t pos);
segops_err_t segops__spool_ack_range(segops__spool_t *spool, uint32_t run, uint64_t lo,
                                     uint64_t hi);
/* Settles n records at once (a settled request): one cursor write per run. */
segops_err_t segops__spool_ack_batch(segops__spool_t *spool, const segops__spool_pos_t *pos,
                                     size_t n);

/* Makes what was appended and acked so far durable: fdatasync of the segment
 * written and of the ack files changed, fsync of directories that gained or
 * lost files. Blocks for the disk (about a millisecond on an SSD, tens on a
 * spinning disk). SEGOPS_OK, SEGOPS_E_IO or SEGOPS_E_STATE. */
segops_err_t segops__spool_sync(segops__spool_t *spool);

/* Drops the records not yet handed out that are older than max_age_ms at
 * now_ms, oldest first in each run (counted in losses.expired). */
segops_err_t segops__spool_expire(segops__spool_t *spool, int64_t now_ms);

/* For an overflow policy that drops the oldest: drops every record not yet
 * handed out in the oldest segment that has some (counted in losses.overflow)
 * and deletes what became settled. Call again while over the bound and
 * losses.overflow grows. */
segops_err_t segops__spool_drop_oldest(segops__spool_t *spool);

/* Adopts the runs whose owner is gone since the last look, up to max_adopted
 * held at once. Returns how many it adopted. */
size_t segops__spool_adopt(segops__spool_t *spool);

/* The usage as the last call that held the spool's lock left it. Takes no
 * lock, so it never waits for a call doing file I/O (client stats). */
void segops__spool_usage(segops__spool_t *spool, segops__spool_usage_t *out);

/* Moves the losses counted since the last call into *out (then zeroed). */
void segops__spool_take_losses(segops__spool_t *spool, segops__spool_losses_t *out);

/* One line about the last SEGOPS_E_IO: the operation, the file and strerror. */
void segops__spool_describe_error(segops__spool_t *spool, char *buf, size_t len);

/* fork() support, for the pthread_atfork handlers: prepare takes the spool's
 * lock (after the client's locks: the lock order is in client.c), parent releases it, child
 * closes every descriptor the child inherited (the parent's locks stay: they
 * belong to the open file descriptions the parent still holds) and leaves the
 * spool inert (calls return SEGOPS_E_STATE) so the child never writes, reads or
 * deletes the parent's files. A child that needs a spool opens its own. */
void segops__spool_fork_prepare(segops__spool_t *spool);
void segops__spool_fork_parent(segops__spool_t *spool);
void segops__spool_fork_child(segops__spool_t *spool);

#endif
