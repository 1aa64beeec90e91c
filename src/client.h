/* The client object shared by the facade (client.c), the worker thread
 * (worker.c) and the delivery pipeline (deliver.c). One lock guards the queue,
 * the counters and the lifecycle; it is never held across I/O or callbacks.
 * track() usually takes only its lane's lock (lane.h) and reserves room in the
 * queue bounds with atomics. */
#ifndef SEGOPS_CLIENT_H
#define SEGOPS_CLIENT_H

#include "common.h"

#include <pthread.h>

#include "config.h"
#include "event_pool.h"
#include "fork.h"
#include "lane.h"
#include "queue.h"
#include "token.h"
#include "transport.h"

struct segops_client {
    segops_options_t *cfg; /* frozen copy */
    char *batch_url;
    char *apikey_auth;             /* "ApiKey sk_…" (sk_ keys), wiped on free */
    segops__token_cache_t *tokens; /* pk_ keys */
    segops__transport_t *worker_transport;
    segops__transport_t *sync_transport; /* batch = false; used under sync_lock */
    pthread_mutex_t sync_lock;

    pthread_mutex_t lock;
    pthread_cond_t wake_worker; /* a batch is due, a flush, a stop */
    pthread_cond_t progress;    /* events settled, or the lifecycle changed */
    segops__queue_t queue;      /* what the worker sends from; lanes are collected here */
    segops__event_pool_t pool;  /* memory of events tracked under the lock (slow path, sync) */
    segops_stats_t stats;       /* every counter but pending, dropped and token_mints */
    size_t inflight;            /* events the worker took and has not settled */
    size_t inflight_bytes;
    uint64_t inflight_first;  /* queue position of the first unsettled in-flight event */
    size_t sync_inflight;     /* events being sent by track calls (batch = false) */
    size_t evicting;          /* events evicted by DROP_OLDEST, being reported */
    uint64_t drain_upto;      /* the worker sends every event before this position now */
    uint64_t wake_generation; /* bumped by flush and shutdown: cuts a backoff short */
    size_t blocked_tracks;    /* track calls waiting for room (BLOCK): the queue is due */
    bool worker_napping;      /* the worker naps after a send and wakes itself: no signal */
    bool worker_walking;      /* the worker reads queued events without the lock ... */
    uint64_t walk_end;        /* ... up to this queue position: evicting one of those leaves
                                 its memory for the worker to release after its walk */
    bool stopping;            /* shutdown began: track refuses, the worker drains */
    int64_t stop_deadline;    /* monotonic ms; 0 = none */
    bool stopped;             /* shutdown finished */
    bool worker_started;
    pthread_t worker;
    segops__fork_link_t fork_link; /* guarded by the fork registry's lock */

    /* Events in the lanes and the queue together, and their bytes, which the
     * bounds max_queue_events and max_queue_bytes apply to: events in the top
     * 24 bits, bytes in the low 40, so track reserves both with one atomic add
     * and no lock (max_queue_events <= 10M, max_queue_bytes <= 4 GiB). */
    char pad[64];
    _Atomic uint64_t queued;
    segops__lane_t lanes[SEGOPS__LANES];
};

/* One report of dropped events, built by the sender, delivered after unlock. */
typedef struct segops__drop {
    size_t count;
    segops_err_t code;
    int http_status;
    segops_drop_reason_t reason;
    char message[SEGOPS__DETAIL_LEN];
} segops__drop_t;

/* The queue bounds: reserves room for one event of len bytes and returns the
 * events queued with it, or 0 when it does not fit (nothing reserved). Any
 * thread, no lock needed. */
size_t segops__client_reserve(segops_client_t *c, size_t len);
/* Gives back the room of n events, `bytes` in all, that left the queue. */
void segops__client_unreserve(segops_client_t *c, size_t n, size_t bytes);
/* Moves the lanes' events onto the queue and counts them as enqueued. Lock held. */
void segops__client_collect(segops_client_t *c);

/* Counts one batch POST attempt and the connections it opened. */
void segops__client_note_request(segops_client_t *c, size_t body_bytes, bool is_retry,
                                 long new_connections);

/* Settles `delivered` events plus drop->count (drop may be NULL), `bytes` of
 * encoded events in all, that a sender held: reports the drop through on_error
 * when `report` is set, then counts them and wakes waiters. from_queue says
 * the events came from the worker. */
void segops__client_settle(segops_client_t *c, bool from_queue, size_t delivered,
                           const segops__drop_t *drop, bool report, size_t bytes);

/* The flush/shutdown generation now. A sender reads it before an attempt so
 * that a flush arriving during the attempt still cuts the backoff after it. */
uint64_t segops__client_generation(segops_client_t *c);

/* Sleeps until `until` (monotonic ms). Returns false at once when the shutdown
 * deadline passes first. When flush_cuts is set, a flush or shutdown after
 * `generation` (see segops__client_generation) cuts the sleep short (true). */
bool segops__client_sleep(segops_client_t *c, int64_t until, bool flush_cuts, uint64_t generation);

/* pthread_atfork steps for one client (see fork.h): prepare takes its locks,
 * parent releases them, child resets the client to a fresh, empty state. */
void segops__client_fork_prepare(segops_client_t *c);
void segops__client_fork_parent(segops_client_t *c);
void segops__client_fork_child(segops_client_t *c);

/* True once the shutdown deadline has passed. */
bool segops__client_past_deadline(segops_client_t *c);

#endif
