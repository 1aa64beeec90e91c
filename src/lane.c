/* Lanes: per-thread slices of the client's queue (see lane.h). */
#include "lane.h"

#include <stdatomic.h>

void segops__lanes_init(segops__lane_t *lanes) {
    for (size_t i = 0; i < SEGOPS__LANES; i++) {
        segops__lane_t *lane = &lanes[i];
        pthread_mutex_init(&lane->lock, NULL);
        segops__queue_init(&lane->queue);
        segops__event_pool_init(&lane->pool);
        lane->open = false;
    }
}

void segops__lanes_destroy(segops__lane_t *lanes) {
    for (size_t i = 0; i < SEGOPS__LANES; i++) {
        segops__lane_t *lane = &lanes[i];
        segops__queue_clear(&lane->queue);
        segops__event_pool_destroy(&lane->pool);
        pthread_mutex_destroy(&lane->lock);
    }
}

segops__lane_t *segops__lane_of_this_thread(segops__lane_t *lanes) {
    static atomic_uint dealt;
    static _Thread_local unsigned lane_plus_one; /* 0: not dealt yet */
    if (!lane_plus_one)
        lane_plus_one =
            atomic_fetch_add_explicit(&dealt, 1, memory_order_relaxed) % SEGOPS__LANES + 1;
    return &lanes[lane_plus_one - 1];
}

size_t segops__lanes_collect(segops__lane_t *lanes, segops__queue_t *q, size_t *bytes) {
    size_t moved = 0;
    for (size_t i = 0; i < SEGOPS__LANES; i++) {
        segops__lane_t *lane = &lanes[i];
        pthread_mutex_lock(&lane->lock);
        moved += lane->queue.count;
        *bytes += lane->queue.bytes;
        segops__queue_splice(q, &lane->queue);
        pthread_mutex_unlock(&lane->lock);
    }
    return moved;
}

void segops__lanes_set_open(segops__lane_t *lanes, bool open) {
    for (size_t i = 0; i < SEGOPS__LANES; i++) {
        pthread_mutex_lock(&lanes[i].lock);
        lanes[i].open = open;
        pthread_mutex_unlock(&lanes[i].lock);
    }
}

void segops__lanes_lock_all(segops__lane_t *lanes) {
    for (size_t i = 0; i < SEGOPS__LANES; i++) pthread_mutex_lock(&lanes[i].lock);
}

void segops__lanes_unlock_all(segops__lane_t *lanes) {
    for (size_t i = SEGOPS__LANES; i-- > 0;) pthread_mutex_unlock(&lanes[i].lock);
}
