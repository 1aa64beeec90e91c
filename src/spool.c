/* The spool facade: one own run written, earlier runs adopted and read, acks,
 * limits, losses and fork. */
#include "spool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "spool_dir.h"
#include "spool_read.h"
#include "spool_record.h"
#include "spool_run.h"
#include "spool_write.h"

#define DEFAULT_MAX_ADOPTED 16

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
};

static void note_error(segops__spool_t *s, const segops__spool_run_t *run, const char *what) {
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

/* Writes the own run's end mark (spool_end.h): its settlements first, so no
 * seq the mark covers that was settled unwritten (a sealed chunk) reads as
 * lost. */
static segops_err_t mark_end(segops__spool_t *s, bool final) {
    if (segops__spool_acks_persist(&s->own.acks) != SEGOPS_OK) {
        note_error(s, &s->own, "writing the ack file");
        return SEGOPS_E_IO;
    }
    if (segops__spool_end_write(&s->own.end, s->own.next_seq, final) != SEGOPS_OK) {
        note_error(s, &s->own, "writing the end file");
        return SEGOPS_E_IO;
    }
    return SEGOPS_OK;
}

static segops__spool_run_t *find_run(segops__spool_t *s, uint32_t id) {
    if (id == s->own.id) return &s->own;
    for (size_t i = 0; i < s->nadopted; i++)
        if (s->adopted[i].id == id) return &s->adopted[i];
    return NULL;
}

/* Writes moved cursors, deletes settled segments and drops earlier runs that
 * are done. Every call that settles or reads ends here. */
static segops_err_t tidy(segops__spool_t *s) {
    segops_err_t err = SEGOPS_OK;
    if (segops__spool_acks_persist(&s->own.acks) != SEGOPS_OK) {
        note_error(s, &s->own, "writing the ack file");
        err = SEGOPS_E_IO;
    }
    if (segops__spool_run_delete_settled(&s->own)) s->own_dir_unsynced = true;
    size_t kept = 0;
    for (size_t i = 0; i < s->nadopted; i++) {
        segops__spool_run_t *run = &s->adopted[i];
        if (segops__spool_acks_persist(&run->acks) != SEGOPS_OK) {
            note_error(s, run, "writing the ack file");
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
    tidy(s);
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
        if (err == SEGOPS_E_IO) note_error(s, &s->own, failed);
        if (rotated) {
            s->own_dir_unsynced = true;
            (void)mark_end(s, false); /* the segment before is complete */
        }
        done += taken;
        if (hand_out) segops__spool_read_skip_to_end(&s->own);
    }
    if (appended) *appended = done;
    pthread_mutex_unlock(&s->lock);
    return err;
}

/* One line naming where a read lost records, for the log. */
static void describe_place(const segops__spool_run_t *run, const segops__spool_loss_place_t *p,
                           char *buf, size_t len) {
    char seg[SEGOPS__SPOOL_SEG_NAME_LEN + 1], prev[SEGOPS__SPOOL_SEG_NAME_LEN + 1], text[128];
    segops__spool_seg_name(p->seg, seg);
    segops__spool_seg_name(p->prev_seg, prev);
    switch (p->kind) {
    case SEGOPS__LOSS_DAMAGED: snprintf(buf, len, "%s/%s: damaged bytes", run->name, seg); break;
    case SEGOPS__LOSS_UNREADABLE:
        snprintf(buf, len, "%s/%s: unreadable (%s), skipped", run->name, seg,
                 segops__errno_text(p->err_no, text, sizeof text));
        break;
    case SEGOPS__LOSS_MISSING:
        snprintf(buf, len, "%s: seqs %llu..%llu are in no segment (after %s, before %s)", run->name,
                 (unsigned long long)p->lo, (unsigned long long)p->hi,
                 p->prev_seg ? prev : "the start", p->seg ? seg : "the end");
        break;
    }
}

static void count_loss(segops__spool_t *s, const segops__spool_run_t *run,
                       const segops__spool_next_t *next) {
    s->losses.corrupt += next->lost_records;
    s->losses.corrupt_bytes += next->lost_bytes;
    if (!run->own) s->losses.adopted += next->lost_records;
    if (!next->placed) return;
    if (!s->losses.places++)
        describe_place(run, &next->place, s->losses.where, sizeof s->losses.where);
}

/* Drops the record next returned (expired or overflow) and counts it. */
static void drop_record(segops__spool_t *s, segops__spool_run_t *run,
                        const segops__spool_next_t *next, uint64_t *counter) {
    segops__spool_read_consume(run, next);
    (void)segops__spool_acks_settle(&run->acks, next->rec.seq, next->rec.seq);
    (*counter)++;
    if (!run->own) s->losses.adopted++;
}

static bool expired(const segops__spool_t *s, int64_t now_ms, int64_t time_ms) {
    return s->limits.max_age_ms && now_ms > time_ms &&
           (uint64_t)(now_ms - time_ms) > s->limits.max_age_ms;
}

/* The runs in reading order: earlier runs first, then our own. */
static segops__spool_run_t *run_at(segops__spool_t *s, size_t i) {
    return i < s->nadopted ? &s->adopted[i] : &s->own;
}

/* Every call that reads or settles: take the lock (refused in a forked
 * child) ... */
static segops_err_t begin(segops__spool_t *s) {
    pthread_mutex_lock(&s->lock);
    return s->forked ? SEGOPS_E_STATE : SEGOPS_OK;
}

/* ... and end by writing cursors and deleting what is settled. */
static segops_err_t finish(segops__spool_t *s, segops_err_t err) {
    if (!s->forked) {
        segops_err_t tidy_err = tidy(s);
        if (err == SEGOPS_OK) err = tidy_err;
    }
    pthread_mutex_unlock(&s->lock);
    return err;
}

/* Reads run until fn refuses, max is reached or the run ends. */
static segops_err_t read_run(segops__spool_t *s, segops__spool_run_t *run, int64_t now_ms,
                             size_t max, segops__spool_read_fn fn, void *ctx, size_t *taken,
                             bool *refused) {
    while (*taken < max) {
        segops__spool_next_t next = segops__spool_read_next(run, &s->rb);
        count_loss(s, run, &next);
        if (next.kind == SEGOPS__NEXT_END) return SEGOPS_OK;
        if (next.kind == SEGOPS__NEXT_ERROR) {
            note_error(s, run, "reading a segment");
            return next.err;
        }
        if (expired(s, now_ms, next.rec.time_ms)) {
            drop_record(s, run, &next, &s->losses.expired);
            continue;
        }
        segops__spool_rec_t rec = {(const char *)next.rec.payload,
                                   next.rec.len,
                                   next.rec.time_ms,
                                   {run->id, next.rec.seq},
                                   !run->own};
        if (!fn(ctx, &rec)) {
            *refused = true;
            return SEGOPS_OK;
        }
        segops__spool_read_consume(run, &next);
        (*taken)++;
    }
    return SEGOPS_OK;
}

segops_err_t segops__spool_read(segops__spool_t *s, int64_t now_ms, size_t max,
                                segops__spool_read_fn fn, void *ctx, size_t *count) {
    if (count) *count = 0;
    if (!s || !fn) return SEGOPS_E_INVALID_ARG;
    segops_err_t err = begin(s);
    size_t taken = 0;
    bool refused = false;
    for (size_t i = 0; err == SEGOPS_OK && !refused && taken < max && i <= s->nadopted; i++)
        err = read_run(s, run_at(s, i), now_ms, max, fn, ctx, &taken, &refused);
    if (count) *count = taken;
    return finish(s, err);
}

segops_err_t segops__spool_ack_range(segops__spool_t *s, uint32_t run_id, uint64_t lo,
                                     uint64_t hi) {
    if (!s || lo > hi) return SEGOPS_E_INVALID_ARG;
    segops_err_t err = begin(s);
    segops__spool_run_t *run = err == SEGOPS_OK ? find_run(s, run_id) : NULL;
    if (run) err = segops__spool_acks_settle(&run->acks, lo, hi);
    return finish(s, err);
}

segops_err_t segops__spool_ack(segops__spool_t *s, segops__spool_pos_t pos) {
    return segops__spool_ack_range(s, pos.run, pos.seq, pos.seq);
}

segops_err_t segops__spool_ack_batch(segops__spool_t *s, const segops__spool_pos_t *pos, size_t n) {
    if (!s || (!pos && n)) return SEGOPS_E_INVALID_ARG;
    segops_err_t err = begin(s);
    for (size_t i = 0; err == SEGOPS_OK && i < n; i++) {
        /* Consecutive seqs of one run settle as one range. */
        size_t j = i;
        while (j + 1 < n && pos[j + 1].run == pos[i].run && pos[j + 1].seq == pos[j].seq + 1) j++;
        segops__spool_run_t *run = find_run(s, pos[i].run);
        if (run) err = segops__spool_acks_settle(&run->acks, pos[i].seq, pos[j].seq);
        i = j;
    }
    return finish(s, err);
}

static segops_err_t sync_fd(segops__spool_t *s, int fd, bool data_only, const char *what) {
    if ((data_only ? fdatasync(fd) : fsync(fd)) == 0) return SEGOPS_OK;
    note_error(s, NULL, what);
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
        note_error(s, own, "syncing the end file");
        err = SEGOPS_E_IO;
    }
    if (err == SEGOPS_OK && s->own_dir_unsynced &&
        (err = sync_fd(s, own->dir_fd, false, "syncing the run directory")) == SEGOPS_OK)
        s->own_dir_unsynced = false;
    if (err == SEGOPS_OK && s->dir_unsynced &&
        (err = sync_fd(s, s->dir_fd, false, "syncing the spool directory")) == SEGOPS_OK)
        s->dir_unsynced = false;
    for (size_t i = 0; err == SEGOPS_OK && i <= s->nadopted; i++)
        if (segops__spool_acks_sync(&run_at(s, i)->acks) != SEGOPS_OK) {
            note_error(s, run_at(s, i), "syncing the ack file");
            err = SEGOPS_E_IO;
        }
    pthread_mutex_unlock(&s->lock);
    return err;
}

/* Which records a drop pass takes, from each run's read position on. */
typedef struct drop_pass {
    int64_t now_ms;    /* expire: older than max_age_ms at this time */
    bool oldest;       /* drop_oldest: the rest of the first segment with any */
    uint64_t segment;  /* ... which is this one, once found */
    uint64_t *counter; /* losses.expired or losses.overflow */
} drop_pass_t;

static bool drops(const segops__spool_t *s, segops__spool_run_t *run,
                  const segops__spool_next_t *next, drop_pass_t *pass) {
    if (!pass->oldest) return expired(s, pass->now_ms, next->rec.time_ms);
    uint64_t here = run->segs[run->rd_seg].first_seq;
    if (pass->segment && here != pass->segment) return false;
    pass->segment = here;
    return true;
}

static segops_err_t drop_records(segops__spool_t *s, drop_pass_t *pass) {
    segops_err_t err = begin(s);
    uint64_t before = *pass->counter;
    for (size_t i = 0; err == SEGOPS_OK && i <= s->nadopted; i++) {
        segops__spool_run_t *run = run_at(s, i);
        if (pass->oldest && *pass->counter != before) break; /* one segment per call */
        pass->segment = 0;
        for (;;) {
            segops__spool_next_t next = segops__spool_read_next(run, &s->rb);
            count_loss(s, run, &next);
            if (next.kind == SEGOPS__NEXT_ERROR) err = next.err;
            if (next.kind != SEGOPS__NEXT_RECORD || !drops(s, run, &next, pass)) break;
            drop_record(s, run, &next, pass->counter);
        }
    }
    return finish(s, err);
}

segops_err_t segops__spool_expire(segops__spool_t *s, int64_t now_ms) {
    if (!s) return SEGOPS_E_INVALID_ARG;
    drop_pass_t pass = {.now_ms = now_ms, .counter = &s->losses.expired};
    return drop_records(s, &pass);
}

segops_err_t segops__spool_drop_oldest(segops__spool_t *s) {
    if (!s) return SEGOPS_E_INVALID_ARG;
    drop_pass_t pass = {.oldest = true, .counter = &s->losses.overflow};
    return drop_records(s, &pass);
}

size_t segops__spool_adopt(segops__spool_t *s) {
    if (!s) return 0;
    pthread_mutex_lock(&s->lock);
    size_t adopted = s->forked ? 0 : adopt_locked(s);
    pthread_mutex_unlock(&s->lock);
    return adopted;
}

void segops__spool_usage(segops__spool_t *s, segops__spool_usage_t *out) {
    memset(out, 0, sizeof *out);
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    out->disk_bytes = disk_bytes(s);
    out->adopted_runs = s->nadopted;
    out->own_caught_up = !s->forked && segops__spool_read_caught_up(&s->own);
    pthread_mutex_unlock(&s->lock);
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
        tidy(s);
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
    if (s->fork_locked) {
        s->fork_locked = false;
        pthread_mutex_unlock(&s->lock);
    } else {
        pthread_mutex_init(&s->lock, NULL);
    }
}
