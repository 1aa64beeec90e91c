/* A client's spool: persisting and spilling what track accepted, the spool
 * thread and the lifecycle (see spooler.h; acknowledgements, losses and the
 * read-back: spooler_read.c). */
#include "spooler.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "clock.h"
#include "event_pool.h"
#include "log.h"
#include "residence.h"
#include "spool.h"
#include "spooler_impl.h"

/* How often the spool thread drops expired records and looks for runs whose
 * owner has gone since the client started. */
#define EXPIRE_EVERY_MS 1000
#define ADOPT_EVERY_MS 5000

static void count(segops__spooler_t *sp, size_t spooled, size_t failed) {
    pthread_mutex_lock(&sp->lock);
    sp->spooled += spooled;
    sp->write_failures += failed;
    if (spooled) sp->appended_since_sync = true;
    pthread_mutex_unlock(&sp->lock);
}

/* A write that failed keeps the events in memory only: said once per streak. */
static void note_write(segops__spooler_t *sp, segops_err_t err, size_t failed) {
    if (err == SEGOPS_OK) {
        sp->failing = false;
        return;
    }
    if (!failed || sp->failing) return;
    sp->failing = true;
    char why[SEGOPS__DETAIL_LEN] = "spool full (spool_max_bytes)";
    if (err == SEGOPS_E_IO) segops__spool_describe_error(sp->spool, why, sizeof why);
    segops__log(sp->cfg, SEGOPS_LOG_WARN,
                "%s; %zu events kept in memory only (not crash-safe) until the spool recovers", why,
                failed);
}

static bool grow_items(segops__spooler_t *sp, size_t n) {
    if (n <= sp->items_cap) return true;
    size_t cap = SEGOPS__MAX(n, sp->items_cap * 2);
    segops__spool_item_t *items = segops__realloc(sp->items, cap * sizeof *items);
    if (items) sp->items = items;
    segops__event_t **events = items ? segops__realloc(sp->events, cap * sizeof *events) : NULL;
    if (events) sp->events = events;
    if (!items || !events) return false;
    sp->items_cap = cap;
    return true;
}

/* Appends events[from, n) to disk only (not handed out: the worker reads them
 * back in order), at spool_max_bytes dropping the oldest backlog under
 * DROP_OLDEST as memory does. Returns the error of the last try and moves
 * *done past what was written. */
static segops_err_t append_to_disk(segops__spooler_t *sp, size_t n, size_t *done) {
    segops_err_t err = SEGOPS_OK;
    for (int tries = 0; *done < n; tries++) {
        uint64_t seq = 0;
        size_t appended = 0;
        err = segops__spool_append(sp->spool, sp->items + *done, n - *done, false, &seq, &appended);
        for (size_t i = 0; i < appended; i++)
            segops__residence_to_disk(
                sp->events[*done + i],
                segops__spooler_pack((segops__spool_pos_t){SEGOPS__SPOOL_OWN_RUN, seq + i}));
        *done += appended;
        if (err != SEGOPS_E_QUEUE_FULL || sp->cfg->overflow != SEGOPS_OVERFLOW_DROP_OLDEST ||
            tries == 64 || segops__spool_drop_oldest(sp->spool) != SEGOPS_OK)
            break;
    }
    return err;
}

/* Writes one batch the spool thread took from admission. While the spool has
 * handed out all it holds, the events before the first one past the memory
 * bound stay queued in memory too (SPOOLED); from there on, or once the spool
 * is behind, they live on disk only (ON_DISK). What the spool refuses stays
 * in memory only (MEMORY), counted in spool_write_failures. Returns true when
 * the spool refused some. No admission lock is held. */
static bool write_batch(segops__spooler_t *sp, segops__queue_t *batch) {
    size_t n = batch->count;
    if (!n) return false;
    if (sp->inert || !grow_items(sp, n)) {
        count(sp, 0, n);
        note_write(sp, sp->inert ? SEGOPS_E_STATE : SEGOPS_E_NOMEM, n);
        return true;
    }
    size_t bound = n, i = 0;
    for (segops__event_t *e = batch->head; i < n; e = e->next, i++) {
        sp->events[i] = e;
        sp->items[i] = (segops__spool_item_t){e->json, e->len, e->accepted_ms};
        if (e->over_bound && bound == n) bound = i;
    }
    size_t done = 0;
    segops_err_t err = SEGOPS_OK;
    if (bound) {
        uint64_t seq = 0;
        err = segops__spool_append(sp->spool, sp->items, bound, true, &seq, &done);
        for (i = 0; i < done; i++)
            segops__residence_written(sp->events[i], segops__spooler_pack((segops__spool_pos_t){
                                                         SEGOPS__SPOOL_OWN_RUN, seq + i}));
        if (err == SEGOPS_E_STATE) err = SEGOPS_OK; /* behind: all of it goes to disk only */
    }
    if (err == SEGOPS_OK) err = append_to_disk(sp, n, &done);
    count(sp, done, n - done);
    note_write(sp, err, n - done);
    return done < n;
}

/* Acknowledges the records of events admission evicted (settled there). */
static void ack_forgotten(segops__spooler_t *sp, const uint64_t *forgotten, size_t n) {
    segops__spool_pos_t pos[256];
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; i < n && k < SEGOPS__ARRAY_LEN(pos); i++)
            pos[k++] = segops__spooler_unpack(forgotten[i]);
        if (segops__spool_ack_batch(sp->spool, pos, k) == SEGOPS_E_IO)
            segops__log(sp->cfg, SEGOPS_LOG_WARN,
                        "spool: an acknowledgement could not be written; evicted events may be "
                        "sent after a crash");
    }
}

/* One round of the spool thread: what track accepted goes to the spool files,
 * then to the worker; evicted records are acknowledged. */
static void write_round(segops__spooler_t *sp) {
    pthread_mutex_lock(&sp->lock);
    uint64_t round = ++sp->rounds_begun;
    pthread_mutex_unlock(&sp->lock);
    uint64_t forgotten[512];
    size_t nforgotten;
    do {
        segops__queue_t batch;
        nforgotten =
            segops__admission_unwritten(sp->adm, &batch, forgotten, SEGOPS__ARRAY_LEN(forgotten));
        ack_forgotten(sp, forgotten, nforgotten);
        bool refusing = write_batch(sp, &batch);
        segops__admission_written(sp->adm, &batch, refusing);
    } while (nforgotten == SEGOPS__ARRAY_LEN(forgotten));
    pthread_mutex_lock(&sp->lock);
    sp->rounds_done = round;
    pthread_cond_broadcast(&sp->written);
    pthread_mutex_unlock(&sp->lock);
}

void segops__spooler_write_rest(segops__spooler_t *sp) {
    if (sp->inert) return;
    write_round(sp);
    segops__spooler_report_losses(sp); /* what it dropped at spool_max_bytes (DROP_OLDEST) */
}

/* admission's wake hook: many events wait to be written. */
static void wake(void *arg) {
    segops__spooler_t *sp = arg;
    pthread_mutex_lock(&sp->lock);
    sp->woken = true;
    pthread_cond_signal(&sp->wake);
    pthread_mutex_unlock(&sp->lock);
}

void segops__spooler_write_now(segops__spooler_t *sp, segops__deadline_t deadline) {
    pthread_mutex_lock(&sp->lock);
    uint64_t want = sp->rounds_begun + 1; /* a round that begins after this call */
    sp->woken = true;
    pthread_cond_signal(&sp->wake);
    /* A stop ends the wait: the thread's last round may have begun before. */
    while (sp->started && !sp->stop && !sp->inert && sp->rounds_done < want &&
           segops__clock_cond_wait(&sp->written, &sp->lock, deadline)) {
    }
    pthread_mutex_unlock(&sp->lock);
}

/* ---- the spool thread ---- */

static void *spool_main(void *arg) {
    segops__spooler_t *sp = arg;
    pthread_setname_np(pthread_self(), "segops-spool");
    int64_t next_expire = 0, next_adopt = segops__clock_monotonic_ms() + ADOPT_EVERY_MS;
    int64_t last_sync = segops__clock_monotonic_ms();
    pthread_mutex_lock(&sp->lock);
    for (;;) {
        if (!sp->stop && !sp->woken)
            segops__clock_cond_wait(
                &sp->wake, &sp->lock,
                segops__deadline_after(segops__clock_monotonic_ms(), SEGOPS__SPOOL_FLUSH_MS));
        sp->woken = false;
        /* A round always follows the stop being seen: the last one reports
         * what the worker's final reads left, whenever the stop came. */
        bool stop = sp->stop;
        pthread_mutex_unlock(&sp->lock);
        write_round(sp); /* what track accepted goes to the files, then to the worker */
        int64_t now = segops__clock_monotonic_ms();
        if (now >= next_expire) {
            segops__spool_expire(sp->spool, segops__clock_realtime_ms());
            next_expire = now + EXPIRE_EVERY_MS;
        }
        if (now >= next_adopt) {
            if (segops__spool_adopt(sp->spool)) segops__gate_kick(sp->gate);
            next_adopt = now + ADOPT_EVERY_MS;
        }
        segops__spooler_report_losses(sp);
        pthread_mutex_lock(&sp->lock);
        bool sync = sp->cfg->spool_fsync_ms && sp->appended_since_sync &&
                    (stop || now - last_sync >= sp->cfg->spool_fsync_ms);
        if (sync) sp->appended_since_sync = false;
        pthread_mutex_unlock(&sp->lock);
        if (sync) {
            segops__spool_sync(sp->spool);
            last_sync = now;
        }
        if (stop) return NULL;
        pthread_mutex_lock(&sp->lock);
    }
}

segops_err_t segops__spooler_start(segops__spooler_t *sp, segops__admission_t *adm) {
    sp->adm = adm;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* as the worker: no host signal runs here */
    int rc = pthread_create(&sp->thread, NULL, spool_main, sp);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) return SEGOPS_E_INTERNAL;
    sp->started = true;
    return SEGOPS_OK;
}

void segops__spooler_stop(segops__spooler_t *sp) {
    pthread_mutex_lock(&sp->lock);
    bool started = sp->started;
    sp->stop = true;
    sp->started = false;
    pthread_cond_signal(&sp->wake);
    pthread_mutex_unlock(&sp->lock);
    if (started) pthread_join(sp->thread, NULL);
}

/* ---- lifecycle ---- */

static void fork_prepare(void *arg) {
    segops__spooler_t *sp = arg;
    pthread_mutex_lock(&sp->lock);
    segops__spool_fork_prepare(sp->spool);
}

static void fork_parent(void *arg) {
    segops__spooler_t *sp = arg;
    segops__spool_fork_parent(sp->spool);
    pthread_mutex_unlock(&sp->lock);
}

static void fork_child(void *arg) {
    segops__spooler_t *sp = arg;
    /* Never the parent's files: the child's client runs memory-only. */
    segops__spool_fork_child(sp->spool);
    sp->inert = true;
    sp->started = false;                  /* the parent's thread does not exist here */
    sp->spooled = sp->write_failures = 0; /* the child's counters start at zero */
    sp->appended_since_sync = sp->failing = false;
    segops__clock_cond_init(&sp->wake);
    segops__clock_cond_init(&sp->written);
    pthread_mutex_unlock(&sp->lock);
}

segops_err_t segops__spooler_new(const segops_options_t *cfg, segops__ledger_t *ledger,
                                 segops__gate_t *gate, segops__spooler_t **out, char *why,
                                 size_t why_len) {
    segops__spooler_t *sp = segops__calloc(1, sizeof *sp);
    *out = NULL;
    if (!sp) return SEGOPS_E_NOMEM;
    segops__spool_limits_t limits = {.max_bytes = cfg->spool_max_bytes,
                                     .max_age_ms = cfg->spool_max_age_ms,
                                     .durable = cfg->spool_fsync_ms > 0};
    segops_err_t err = segops__spool_open(cfg->spool_dir, &limits, &sp->spool, why, why_len);
    if (err != SEGOPS_OK) {
        segops__free(sp);
        return err;
    }
    sp->cfg = cfg;
    sp->ledger = ledger;
    sp->gate = gate;
    sp->store = (segops__admission_store_t){wake, sp};
    segops__event_pool_init(&sp->read_pool);
    pthread_mutex_init(&sp->lock, NULL);
    segops__clock_cond_init(&sp->wake);
    segops__clock_cond_init(&sp->written);
    sp->fork_hook = (segops__fork_hook_t){fork_prepare, fork_parent, fork_child, sp, NULL, NULL};
    *out = sp;
    return SEGOPS_OK;
}

void segops__spooler_free(segops__spooler_t *sp) {
    if (!sp) return;
    segops__spool_close(sp->spool);
    segops__event_pool_destroy(&sp->read_pool);
    segops__free(sp->items);
    segops__free(sp->events);
    pthread_cond_destroy(&sp->wake);
    pthread_cond_destroy(&sp->written);
    pthread_mutex_destroy(&sp->lock);
    segops__free(sp);
}

segops__fork_hook_t *segops__spooler_fork_hook(segops__spooler_t *sp) { return &sp->fork_hook; }

const segops__admission_store_t *segops__spooler_store(segops__spooler_t *sp) { return &sp->store; }

void segops__spooler_stats(segops__spooler_t *sp, segops_stats_t *out) {
    pthread_mutex_lock(&sp->lock);
    out->spooled = sp->spooled;
    out->spool_write_failures = sp->write_failures;
    pthread_mutex_unlock(&sp->lock);
    if (sp->inert) return;
    segops__spool_usage_t usage;
    segops__spool_usage(sp->spool, &usage);
    out->spool_bytes = usage.disk_bytes;
}
