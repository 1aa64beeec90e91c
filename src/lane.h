/* Lanes: the client's queue, sliced for producers. Each lane has its own lock,
 * FIFO and event pool; track() appends to its thread's lane, so threads on
 * different lanes never wait for one another. Whoever holds the admission lock
 * moves every lane's events onto the admission queue (segops__lanes_collect),
 * which is what the worker sends from; a thread always uses the same lane, so
 * its events stay in the order it tracked them. */
#ifndef SEGOPS_LANE_H
#define SEGOPS_LANE_H

#include "common.h"

#include <pthread.h>

#include "event_pool.h"
#include "queue.h"

#define SEGOPS__LANES 8

typedef struct segops__lane {
    pthread_mutex_t lock;
    segops__queue_t queue;
    segops__event_pool_t pool;
    bool open;    /* track may append here; see segops__lanes_set_open */
    char pad[64]; /* keeps neighbouring lanes off each other's cache lines */
} segops__lane_t;

void segops__lanes_init(segops__lane_t *lanes);
/* Releases what the lanes still hold and frees their pools and locks. */
void segops__lanes_destroy(segops__lane_t *lanes);

/* This thread's lane: threads are dealt lanes in turn on first use. */
segops__lane_t *segops__lane_of_this_thread(segops__lane_t *lanes);

/* Moves every lane's events to the tail of q, lane by lane; returns how many
 * and adds their bytes to *bytes. */
size_t segops__lanes_collect(segops__lane_t *lanes, segops__queue_t *q, size_t *bytes);

/* Opens or closes every lane to track's fast path; a closed lane sends track
 * to the admission lock (at shutdown, and in a forked child until its worker runs). */
void segops__lanes_set_open(segops__lane_t *lanes, bool open);

/* fork: take every lane lock (after the admission lock), release them again. */
void segops__lanes_lock_all(segops__lane_t *lanes);
void segops__lanes_unlock_all(segops__lane_t *lanes);

#endif
