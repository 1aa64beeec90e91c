/* Reading, acknowledging and dropping spool records (spool.h): the runs in
 * order, the losses a read finds, the settlements, expiry and overflow. */
#include "spool.h"

#include <stdio.h>

#include "spool_dir.h"
#include "spool_impl.h"

static segops__spool_run_t *find_run(segops__spool_t *s, uint32_t id) {
    if (id == s->own.id) return &s->own;
    for (size_t i = 0; i < s->nadopted; i++)
        if (s->adopted[i].id == id) return &s->adopted[i];
    return NULL;
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

/* Every call that reads or settles: take the lock (refused in a forked
 * child) ... */
static segops_err_t begin(segops__spool_t *s) {
    pthread_mutex_lock(&s->lock);
    return s->forked ? SEGOPS_E_STATE : SEGOPS_OK;
}

/* ... and end by writing cursors and deleting what is settled. */
static segops_err_t finish(segops__spool_t *s, segops_err_t err) {
    if (!s->forked) {
        segops_err_t tidy_err = segops__spool_tidy(s);
        if (err == SEGOPS_OK) err = tidy_err;
    }
    segops__spool_unlock(s);
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
            segops__spool_note_error(s, run, "reading a segment");
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
        err = read_run(s, segops__spool_run_at(s, i), now_ms, max, fn, ctx, &taken, &refused);
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
        segops__spool_run_t *run = segops__spool_run_at(s, i);
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
