/* Event memory of one client. Events are carved from 64 KiB blocks by bumping
 * an offset, and a block goes back to malloc (or is kept as the spare) once
 * every event carved from it is released. Events leave in about the order they
 * arrived, so blocks empty in order: track() never calls malloc in steady
 * state, an event carries no malloc header, and releasing a whole batch costs
 * one atomic add per block it touched.
 *
 * Threads: alloc is called under its owner's lock (a lane's or admission's);
 * release may run on any thread without a lock. */
#ifndef SEGOPS_EVENT_POOL_H
#define SEGOPS_EVENT_POOL_H

#include "common.h"

#include <stdatomic.h>

#include "event.h"

typedef struct segops__pool_block segops__pool_block_t;

typedef struct segops__event_pool {
    segops__pool_block_t *current;         /* where new events are carved */
    size_t used;                           /* bytes of current handed out */
    uint32_t carved;                       /* events carved from current */
    _Atomic(segops__pool_block_t *) spare; /* one emptied block kept for reuse */
} segops__event_pool_t;

void segops__event_pool_init(segops__event_pool_t *pool);
/* Frees the current and spare blocks. Every event must have been released,
 * except in a forked child, where the parent's in-flight events are abandoned. */
void segops__event_pool_destroy(segops__event_pool_t *pool);

/* An event with room for json_len bytes of JSON plus a NUL, its len set; NULL
 * when memory is exhausted. Under the owner's lock. */
segops__event_t *segops__event_pool_alloc(segops__event_pool_t *pool, size_t json_len);

/* Releases n events, in any order and from any blocks or pools; none may be
 * used after. Any thread, no lock needed. */
void segops__event_release(segops__event_t *const *events, size_t n);

#endif
