/* The spool facade: the own run written and synced, earlier runs adopted,
 * tidying, usage, losses, close and fork (reading and settling records:
 * spool_settle.c). */
#include "spool.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "spool_dir.h"
#include "spool_impl.h"
#include "spool_record.h"

#define DEFAULT_MAX_ADOPTED 16

void segops__spool_note_error(segops__spool_t *s, const segops__spool_run_t *run,
                              const char *what) {
    s->err_no = errno;
    snprintf(s->err_what, sizeof s->err_what, "%s in %s", what, run ? run->name : s->dir);
}

void segops__spool_describe_error(segops__spool_t *s, char *buf, size_t len) {
    if (!buf || !len) return;
    if (!s) {
        snprintf(buf, len, "no spool");
        return;
    }
    pthread_mutex_lock(&s->lock);
    char text[128];
    if (s->err_no)
        snprintf(buf, len, "spool %s: %s", s->err_what,
                 segops__errno_text(s->err_no, text, sizeof text));
    else
        snprintf(buf, len, "spool: no error");
    pthread_mutex_unlock(&s->lock);
}

static uint64_t disk_bytes(const segops__spool_t *s) {
    uint64_t total = s->own.bytes;
    for (size_t i = 0; i < s->nadopted; i++) total += s->adopted[i].bytes;
    return total;
}

static void publish(segops__spool_t *s) {
    atomic_store(&s->pub_disk_bytes, disk_bytes(s));
    atomic_store(&s->pub_adopted_runs, (uint64_t)s->nadopted);
    atomic_store(&s->pub_caught_up, !s->forked && segops__spool_read_caught_up(&s->own));
}

void segops__spool_unlock(segops__spool_t *s) {
    publish(s);
    pthread_mutex_unlock(&s->lock);
}

/* Writes the own run's end mark (spool_end.h): its settlements first, so no
 * seq the mark covers that was settled unwritten (a sealed chunk) reads as
 * lost. */
static segops_err_t mark_end(segops__spool_t *s, bool final) {
    if (segops__spool_acks_persist(&s->own.acks) != SEGOPS_OK) {
        segops__spool_note_error(s, &s->own, "writing the ack file");
        return SEGOPS_E_IO;
    }
    if (segops__spool_end_write(&s->own.end, s->own.next_seq, final) != SEGOPS_OK) {
        segops__spool_note_error(s, &s->own, "writing the end file");
        return SEGOPS_E_IO;
    }
    return SEGOPS_OK;
}

segops_err_t segops__spool_tidy(segops__spool_t *s) {
    segops_err_t err = SEGOPS_OK;
    if (segops__spool_acks_persist(&s->own.acks) != SEGOPS_OK) {
        segops__spool_note_error(s, &s->own, "writing the ack file");
        err = SEGOPS_E_IO;
    }
    if (segops__spool_run_delete_settled(&s->own)) s->own_dir_unsynced = true;
    size_t kept = 0;
    for (size_t i = 0; i < s->nadopted; i++) {
        segops__spool_run_t *run = &s->adopted[i];
        if (segops__spool_acks_persist(&run->acks) != SEGOPS_OK) {
            segops__spool_note_error(s, run, "writing the ack file");
            err = SEGOPS_E_IO;
        }
        segops__spool_run_delete_settled(run);
        if (segops__spool_run_is_settled(run)) {
            segops__spool_run_remove(s->dir_fd, run);
            segops__spool_run_close(run);
            continue;
        }
        s->adopted[kept++] = *run;
    }
    s->nadopted = kept;
    return err;
}

static size_t adopt_locked(segops__spool_t *s) {
    char **names;
    size_t count, adopted = 0;
    if (segops__spool_run_list(s->dir_fd, &names, &count) != SEGOPS_OK) return 0;
    for (size_t i = 0; i < count; i++) {
        bool held = strcmp(names[i], s->own.name) == 0;
        for (size_t j = 0; j < s->nadopted && !held; j++)
            held = strcmp(names[i], s->adopted[j].name) == 0;
        if (held || s->nadopted >= s->limits.max_adopted) continue;
        if (s->nadopted == s->adopted_cap) {
            size_t cap = s->adopted_cap ? s->adopted_cap * 2 : 4;
            segops__spool_run_t *grown = segops__realloc(s->adopted, cap * sizeof *grown);
            if (!grown) break;
            s->adopted = grown;
            s->adopted_cap = cap;
        }
        segops__spool_run_t *run = &s->adopted[s->nadopted];
        if (segops__spool_run_adopt(s->dir_fd, names[i], s->next_run_id, run) != SEGOPS_OK)
            continue;
        s->next_run_id++;
        s->nadopted++;
        adopted++;
        /* Nothing to read and nothing owed: removed by tidy. */
        if (!run->nsegs && run->end_mark <= run->acks.cursor + 1) run->drained = true;
    }
    for (size_t i = 0; i < count; i++) segops__free(names[i]);
    segops__free(names);
    segops__spool_tidy(s);
    return adopted;
}

segops_err_t segops__spool_open(const char *dir, const segops__spool_limits_t *limits,
                                segops__spool_t **out, char *why, size_t why_len) {
    if (!out) return SEGOPS_E_INVALID_ARG;
    *out = NULL;
    if (!dir || !*dir || !limits) return SEGOPS_E_INVALID_ARG;
    segops__spool_t *s = segops__calloc(1, sizeof *s);
    if (!s) return SEGOPS_E_NOMEM;
    s->dir_fd = -1;
    s->own.dir_fd = -1;
    s->limits = *limits;
    if (!s->limits.segment_bytes) {
        uint64_t sixteenth = s->limits.max_bytes ? s->limits.max_bytes / 16 : UINT64_MAX;
        s->limits.segment_bytes = SEGOPS__MIN((uint64_t)4 << 20, SEGOPS__MAX(sixteenth, 64 << 10));
    }
    if (!s->limits.max_adopted) s->limits.max_adopted = DEFAULT_MAX_ADOPTED;
    s->dir = segops__strdup(dir);
    segops_err_t err = SEGOPS_E_NOMEM;
    if (!s->dir ||
        segops__spool_writer_init(&s->writer, s->limits.segment_bytes, s->limits.durable) !=
            SEGOPS_OK ||
        pthread_mutex_init(&s->lock, NULL) != 0)
        goto fail;
    if ((s->dir_fd = segops__spool_dir_open(dir, why, why_len)) < 0) {
        err = SEGOPS_E_CONFIG;
        goto fail_locked;
    }
    err = segops__spool_run_create(s->dir_fd, SEGOPS__SPOOL_OWN_RUN, &s->own);
    if (err == SEGOPS_E_IO) {
        segops__spool_dir_reason(errno, dir, why, why_len);
        err = SEGOPS_E_CONFIG;
    }
    if (err != SEGOPS_OK) goto fail_locked;
    s->next_run_id = SEGOPS__SPOOL_OWN_RUN + 1;
    s->dir_unsynced = true;
    adopt_locked(s);
    publish(s);
    *out = s;
    return SEGOPS_OK;
fail_locked:
    pthread_mutex_destroy(&s->lock);
fail:
    if (s->dir_fd >= 0) close(s->dir_fd);
    segops__spool_writer_free(&s->writer);
    segops__free(s->dir);
    segops__free(s);
    return err;
}

segops_err_t segops__spool_append(segops__spool_t *s, const segops__spool_item_t *items, size_t n,
                                  bool hand_out, uint64_t *first_seq, size_t *appended) {
    if (appended) *appended = 0;
    if (!s || (!items && n)) return SEGOPS_E_INVALID_ARG;
    for (size_t i = 0; i < n; i++)
        if (!items[i].json || !segops__spool_record_payload_ok(items[i].json, items[i].len))
            return SEGOPS_E_INVALID_ARG;
    pthread_mutex_lock(&s->lock);
    segops_err_t err = SEGOPS_OK;
    if (s->forked || (hand_out && !segops__spool_read_caught_up(&s->own))) err = SEGOPS_E_STATE;
    if (first_seq) *first_seq = s->own.next_seq;
    size_t done = 0;
    while (err == SEGOPS_OK && done < n) {
        uint64_t used = disk_bytes(s), room = UINT64_MAX;
        if (s->limits.max_bytes) room = s->limits.max_bytes > used ? s->limits.max_bytes - used : 0;
        size_t taken;
        bool rotated;
        const char *failed = NULL;
        err = segops__spool_write_chunk(&s->writer, &s->own, items + done, n - done, room, &taken,
                                        &rotated, &failed);
        if (err == SEGOPS_E_IO) segops__spool_note_error(s, &s->own, failed);
        if (rotated) {
            s->own_dir_unsynced = true;
            (void)mark_end(s, false); /* the segment before is complete */
        }
        done += taken;
        if (hand_out) segops__spool_read_skip_to_end(&s->own);
    }
    /* What was just written survives the process (kill -9): from now on a later
     * reader is owed it. Synced only at segops__spool_sync. */
    if (done) (void)mark_end(s, false);
    if (appended) *appended = done;
    segops__spool_unlock(s);
    return err;
}

static segops_err_t sync_fd(segops__spool_t *s, int fd, bool data_only, const char *what) {
    if ((data_only ? fdatasync(fd) : fsync(fd)) == 0) return SEGOPS_OK;
    segops__spool_note_error(s, NULL, what);
    return SEGOPS_E_IO;
}

segops_err_t segops__spool_sync(segops__spool_t *s) {
    if (!s) return SEGOPS_E_INVALID_ARG;
    pthread_mutex_lock(&s->lock);
    segops_err_t err = s->forked ? SEGOPS_E_STATE : SEGOPS_OK;
    segops__spool_run_t *own = &s->own;
    if (err == SEGOPS_OK && own->wr_unsynced && own->wr_fd >= 0 &&
        (err = sync_fd(s, own->wr_fd, true, "syncing a segment")) == SEGOPS_OK)
        own->wr_unsynced = false;
    /* The records just synced are now owed to any later reader. */
    if (err == SEGOPS_OK) err = mark_end(s, false);
    if (err == SEGOPS_OK && segops__spool_end_sync(&own->end) != SEGOPS_OK) {
        segops__spool_note_error(s, own, "syncing the end file");
        err = SEGOPS_E_IO;
    }
    if (err == SEGOPS_OK && s->own_dir_unsynced &&
        (err = sync_fd(s, own->dir_fd, false, "syncing the run directory")) == SEGOPS_OK)
        s->own_dir_unsynced = false;
    if (err == SEGOPS_OK && s->dir_unsynced &&
        (err = sync_fd(s, s->dir_fd, false, "syncing the spool directory")) == SEGOPS_OK)
        s->dir_unsynced = false;
    for (size_t i = 0; err == SEGOPS_OK && i <= s->nadopted; i++)
        if (segops__spool_acks_sync(&segops__spool_run_at(s, i)->acks) != SEGOPS_OK) {
            segops__spool_note_error(s, segops__spool_run_at(s, i), "syncing the ack file");
            err = SEGOPS_E_IO;
        }
    pthread_mutex_unlock(&s->lock);
    return err;
}

size_t segops__spool_adopt(segops__spool_t *s) {
    if (!s) return 0;
    pthread_mutex_lock(&s->lock);
    size_t adopted = s->forked ? 0 : adopt_locked(s);
    segops__spool_unlock(s);
    return adopted;
}

void segops__spool_usage(segops__spool_t *s, segops__spool_usage_t *out) {
    memset(out, 0, sizeof *out);
    if (!s) return;
    out->disk_bytes = atomic_load(&s->pub_disk_bytes);
    out->adopted_runs = atomic_load(&s->pub_adopted_runs);
    out->own_caught_up = atomic_load(&s->pub_caught_up);
}

void segops__spool_take_losses(segops__spool_t *s, segops__spool_losses_t *out) {
    memset(out, 0, sizeof *out);
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    *out = s->losses;
    memset(&s->losses, 0, sizeof s->losses);
    pthread_mutex_unlock(&s->lock);
}

/* Closes every run (and, unless forked, the files' locks with them). */
static void close_runs(segops__spool_t *s) {
    for (size_t i = 0; i < s->nadopted; i++) segops__spool_run_close(&s->adopted[i]);
    s->nadopted = 0;
    segops__spool_run_close(&s->own);
    if (s->dir_fd >= 0) close(s->dir_fd);
    s->dir_fd = -1;
}

void segops__spool_close(segops__spool_t *s) {
    if (!s) return;
    if (!s->forked) {
        segops__spool_tidy(s);
        if (segops__spool_run_is_settled(&s->own))
            segops__spool_run_remove(s->dir_fd, &s->own);
        else if (mark_end(s, true) == SEGOPS_OK && s->limits.durable)
            (void)segops__spool_end_sync(&s->own.end);
    }
    close_runs(s);
    segops__free(s->adopted);
    segops__spool_readbuf_free(&s->rb);
    segops__spool_writer_free(&s->writer);
    segops__free(s->dir);
    pthread_mutex_destroy(&s->lock);
    segops__free(s);
}

void segops__spool_fork_prepare(segops__spool_t *s) {
    pthread_mutex_lock(&s->lock);
    s->fork_locked = true;
}

void segops__spool_fork_parent(segops__spool_t *s) {
    s->fork_locked = false;
    pthread_mutex_unlock(&s->lock);
}

void segops__spool_fork_child(segops__spool_t *s) {
    /* Closing our copies leaves the parent's descriptors, and so its locks,
     * as they are; nothing here unlinks or writes. */
    close_runs(s);
    s->forked = true;
    atomic_store(&s->pub_caught_up, false);
    atomic_store(&s->pub_adopted_runs, 0);
    if (s->fork_locked) {
        s->fork_locked = false;
        pthread_mutex_unlock(&s->lock);
    } else {
        pthread_mutex_init(&s->lock, NULL);
    }
}
