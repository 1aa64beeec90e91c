/* What comes back from a client's spool (see spooler.h): acknowledging the
 * records of settled events, reporting what the spool lost, and the worker's
 * read of the backlog. */
#include "spooler.h"

#include <stdio.h>

#include "clock.h"
#include "log.h"
#include "residence.h"
#include "spooler_impl.h"

bool segops__spooler_keeps(void *arg) { return !((segops__spooler_t *)arg)->inert; }

void segops__spooler_settled(void *arg, const uint64_t *records, size_t n) {
    segops__spooler_t *sp = arg;
    segops__spool_pos_t pos[SEGOPS__MAX_EVENTS_PER_REQUEST];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (records[i]) pos[k++] = segops__spooler_unpack(records[i]);
        if (k == SEGOPS__ARRAY_LEN(pos) || (i + 1 == n && k)) {
            if (segops__spool_ack_batch(sp->spool, pos, k) == SEGOPS_E_IO)
                segops__log(sp->cfg, SEGOPS_LOG_WARN,
                            "spool: an acknowledgement could not be written; those events may "
                            "be sent again after a crash");
            k = 0;
        }
    }
}

void segops__spooler_report_losses(segops__spooler_t *sp) {
    segops__spool_losses_t losses;
    segops__spool_take_losses(sp->spool, &losses);
    if (losses.adopted) segops__ledger_recover(sp->ledger, losses.adopted, 0);
    const struct {
        uint64_t count;
        segops_err_t code;
        segops_drop_reason_t reason;
        const char *message;
    } kinds[] = {
        {losses.corrupt, SEGOPS_E_IO, SEGOPS_DROP_SPOOL_CORRUPT,
         "spool records could not be read: damaged (a crash mid-write, a bad disk) or in a "
         "segment file cut short, deleted or unreadable"},
        {losses.expired, SEGOPS_E_TIMEOUT, SEGOPS_DROP_EXPIRED,
         "spooled events were older than spool_max_age_ms"},
        {losses.overflow, SEGOPS_E_QUEUE_FULL, SEGOPS_DROP_QUEUE_OVERFLOW,
         "the spool was full (spool_max_bytes); the oldest events were dropped"},
    };
    for (size_t i = 0; i < SEGOPS__ARRAY_LEN(kinds); i++) {
        if (!kinds[i].count) continue;
        segops__drop_t drop = {
            .count = (size_t)kinds[i].count, .code = kinds[i].code, .reason = kinds[i].reason};
        snprintf(drop.message, sizeof drop.message, "%s", kinds[i].message);
        segops__ledger_settle(sp->ledger, SEGOPS__HELD_BY_DISK, 0, &drop, 0);
    }
    char more[48] = "";
    if (losses.places > 1)
        snprintf(more, sizeof more, " and %llu more places",
                 (unsigned long long)(losses.places - 1));
    if (losses.corrupt)
        segops__log(sp->cfg, SEGOPS_LOG_WARN, "spool: %llu records could not be read: %s%s",
                    (unsigned long long)losses.corrupt, losses.where, more);
    else if (losses.corrupt_bytes)
        segops__log(sp->cfg, SEGOPS_LOG_WARN, "spool: skipped %llu damaged bytes: %s%s",
                    (unsigned long long)losses.corrupt_bytes, losses.where, more);
}

/* ---- reading the backlog back ---- */

typedef struct read_ctx {
    segops__spooler_t *sp;
    segops__event_t **events;
    size_t max, max_bytes, n, bytes, adopted, adopted_bytes;
} read_ctx_t;

static bool take_record(void *arg, const segops__spool_rec_t *rec) {
    read_ctx_t *r = arg;
    if (r->n == r->max || (r->n && r->bytes + rec->len + 1 > r->max_bytes)) return false;
    segops__event_t *event = segops__event_pool_alloc(&r->sp->read_pool, rec->len);
    if (!event) return false;
    memcpy(event->json, rec->json, rec->len);
    event->json[rec->len] = '\0';
    segops__residence_adopt(event, segops__spooler_pack(rec->pos), rec->time_ms);
    r->events[r->n++] = event;
    r->bytes += rec->len + 1;
    if (rec->adopted) {
        r->adopted++;
        r->adopted_bytes += rec->len;
    }
    return true;
}

size_t segops__spooler_read(segops__spooler_t *sp, segops__event_t **events, size_t max_events,
                            size_t max_bytes, size_t *bytes) {
    read_ctx_t r = {sp, events, max_events, max_bytes, 0, 0, 0, 0};
    atomic_store(&sp->reading, 1); /* a backlog until the ledger holds them */
    segops__spool_read(sp->spool, segops__clock_realtime_ms(), max_events, take_record, &r, NULL);
    /* Records of earlier runs become this client's to account for now. */
    if (r.adopted) segops__ledger_recover(sp->ledger, r.adopted, r.adopted_bytes);
    segops__spooler_report_losses(sp); /* what this read found it could not hand out */
    atomic_store(&sp->reading, 0);
    *bytes = r.bytes >= r.n ? r.bytes - r.n : 0;
    return r.n;
}

bool segops__spooler_backlog(segops__spooler_t *sp) {
    if (sp->inert) return false;
    if (atomic_load(&sp->reading)) return true;
    segops__spool_usage_t usage;
    segops__spool_usage(sp->spool, &usage);
    return !usage.own_caught_up || usage.adopted_runs > 0;
}
