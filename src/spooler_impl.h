/* The inside of a client's spool (spooler.h), shared by spooler.c (writing,
 * the spool thread, lifecycle) and spooler_read.c (acknowledgements, losses,
 * reading the backlog back). Not for other modules. */
#ifndef SEGOPS_SPOOLER_IMPL_H
#define SEGOPS_SPOOLER_IMPL_H

#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

#include "admission.h"
#include "event_pool.h"
#include "fork.h"
#include "gate.h"
#include "ledger.h"
#include "spool.h"

/* A record's place in the spool packed into segops__event_t.spool_pos: the run
 * in the top 16 bits (the own run is 1, so a spooled event is never 0). */
#define POS_RUN_SHIFT 48

struct segops__spooler {
    const segops_options_t *cfg;
    segops__ledger_t *ledger;
    segops__gate_t *gate;
    segops__spool_t *spool;
    segops__admission_store_t store;
    bool inert; /* a forked child: memory only */

    /* The spool thread's writing (write_round): no other thread uses these. */
    segops__spool_item_t *items;
    segops__event_t **events;
    size_t items_cap;
    bool failing; /* in a streak of write failures: warned once */

    /* The worker's read-back (one thread). */
    segops__event_pool_t read_pool;

    _Atomic int reading;  /* a read-back is between the spool and the ledger */
    pthread_mutex_t lock; /* counters and the thread's state */
    pthread_cond_t wake;
    uint64_t spooled, write_failures;
    bool appended_since_sync;
    bool stop, started;
    bool woken;                         /* wake() came while the thread was busy */
    uint64_t rounds_begun, rounds_done; /* write rounds: a flush waits for one */
    pthread_cond_t written;             /* a round is done */
    pthread_t thread;
    segops__admission_t *adm;
    segops__fork_hook_t fork_hook;
};

static inline uint64_t segops__spooler_pack(segops__spool_pos_t pos) {
    return (uint64_t)pos.run << POS_RUN_SHIFT | pos.seq;
}

static inline segops__spool_pos_t segops__spooler_unpack(uint64_t packed) {
    segops__spool_pos_t pos = {(uint32_t)(packed >> POS_RUN_SHIFT),
                               packed & ((UINT64_C(1) << POS_RUN_SHIFT) - 1)};
    return pos;
}

/* Reports what the spool dropped on its own since the last call, once per
 * kind, then counts it; a loss of records also gets a log line naming where.
 * Called by whichever thread made the spool find them (the worker's read, the
 * spool thread's rounds), with no lock held. */
void segops__spooler_report_losses(struct segops__spooler *sp);

#endif
