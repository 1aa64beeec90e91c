/* Bump allocation of events in blocks, freed by a count per block. */
#include "event_pool.h"

#include <stdalign.h>

#define BLOCK_BYTES ((size_t)64 * 1024)
/* An event over this size gets a block of its own rather than stranding the
 * tail of a standard one. */
#define OWN_BLOCK_OVER (BLOCK_BYTES / 8)

struct segops__pool_block {
    /* Events released minus, once the block is retired, events carved from it.
     * While the block is current it only grows (the carved count lives in the
     * pool); retiring subtracts the carved count, so the block is empty exactly
     * when this returns to zero, and whoever brings it there recycles it: the
     * retiring allocator or the last release, never both. */
    _Atomic int64_t settled;
    size_t size;                 /* bytes of data */
    segops__event_pool_t *owner; /* whose spare it becomes when emptied */
    alignas(16) char data[];
};

/* An event's offset in its block fits event->block_offset (16 bits of 8-byte
 * units); an own block's one event sits at the start of its data. */
_Static_assert((offsetof(segops__pool_block_t, data) + BLOCK_BYTES) / 8 <= UINT16_MAX,
               "block offsets no longer fit segops__event_t.block_offset");

/* The JSON starts right after the header's last field: sizeof would add the
 * struct's tail padding (2 bytes on LP64) to every event. */
static size_t event_size(size_t json_len) {
    size_t bytes = offsetof(segops__event_t, json) + json_len + 1; /* + NUL */
    return (bytes + 7) & ~(size_t)7; /* keeps the next event aligned */
}

static segops__pool_block_t *block_of(const segops__event_t *event) {
    return (segops__pool_block_t *)((char *)(uintptr_t)event - (size_t)event->block_offset * 8);
}

static segops__pool_block_t *block_new(segops__event_pool_t *owner, size_t size) {
    segops__pool_block_t *b = segops__malloc(sizeof *b + size);
    if (!b) return NULL;
    atomic_init(&b->settled, 0);
    b->size = size;
    b->owner = owner;
    return b;
}

/* An emptied block: a standard one becomes its pool's spare (replacing an
 * older one), so a steady stream reuses the same two blocks. */
static void recycle(segops__pool_block_t *b) {
    if (b->size != BLOCK_BYTES) {
        segops__free(b);
        return;
    }
    atomic_store_explicit(&b->settled, 0, memory_order_relaxed);
    segops__free(atomic_exchange_explicit(&b->owner->spare, b, memory_order_acq_rel));
}

static void retire(segops__pool_block_t *b, uint32_t carved) {
    int64_t before = atomic_fetch_sub_explicit(&b->settled, carved, memory_order_acq_rel);
    if (before == (int64_t)carved) recycle(b);
}

static segops__event_t *carve(segops__pool_block_t *b, size_t offset, size_t json_len) {
    segops__event_t *event = (segops__event_t *)(b->data + offset);
    event->next = NULL;
    event->len = (uint32_t)json_len;
    event->spool_pos = 0;
    event->accepted_ms = 0;
    event->residence = 0; /* SEGOPS__RES_MEMORY */
    event->over_bound = false;
    event->read_back = false;
    /* In 8-byte units: events are 8-aligned, and a block's data is at most 64 KiB. */
    event->block_offset = (offsetof(segops__pool_block_t, data) + offset) / 8;
    return event;
}

void segops__event_pool_init(segops__event_pool_t *pool) {
    pool->current = NULL;
    pool->used = 0;
    pool->carved = 0;
    atomic_init(&pool->spare, NULL);
}

void segops__event_pool_destroy(segops__event_pool_t *pool) {
    segops__free(pool->current);
    segops__free(atomic_exchange(&pool->spare, NULL));
    segops__event_pool_init(pool);
}

segops__event_t *segops__event_pool_alloc(segops__event_pool_t *pool, size_t json_len) {
    if (json_len > UINT32_MAX - BLOCK_BYTES) return NULL;
    size_t need = event_size(json_len);
    if (need > OWN_BLOCK_OVER) {
        segops__pool_block_t *own = block_new(pool, need);
        if (!own) return NULL;
        atomic_init(&own->settled, -1); /* retired at once with its one event */
        return carve(own, 0, json_len);
    }
    if (!pool->current || pool->used + need > BLOCK_BYTES) {
        segops__pool_block_t *next =
            atomic_exchange_explicit(&pool->spare, NULL, memory_order_acq_rel);
        if (!next && !(next = block_new(pool, BLOCK_BYTES))) return NULL;
        if (pool->current) retire(pool->current, pool->carved);
        pool->current = next;
        pool->used = 0;
        pool->carved = 0;
    }
    segops__event_t *event = carve(pool->current, pool->used, json_len);
    pool->used += need;
    pool->carved++;
    return event;
}

void segops__event_release(segops__event_t *const *events, size_t n) {
    /* A batch is mostly runs of events from one block: one atomic per run. */
    for (size_t i = 0; i < n;) {
        segops__pool_block_t *b = block_of(events[i]);
        size_t run = 1;
        while (i + run < n && block_of(events[i + run]) == b) run++;
        int64_t before = atomic_fetch_add_explicit(&b->settled, (int64_t)run, memory_order_acq_rel);
        if (before + (int64_t)run == 0) recycle(b);
        i += run;
    }
}
