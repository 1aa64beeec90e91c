/* Event memory (src/event_pool.c): carving, recycling, release orders, big
 * events, allocation failure and a producer/consumer pair on two threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "alloc.h"
#include "event_pool.h"
#include "residence.h"

/* Standard blocks are 64 KiB; these events are 200 bytes with their header and NUL. */
#define SMALL_JSON (199 - offsetof(segops__event_t, json))
#define PER_BLOCK (64 * 1024 / 200)
/* The space a small event takes in a block: header, JSON, NUL, 8-byte aligned. */
#define FOOTPRINT(json_len) ((offsetof(segops__event_t, json) + (json_len) + 1 + 7) & ~(size_t)7)

static segops__event_t *carve(segops__event_pool_t *pool, size_t json_len, char fill) {
    segops__event_t *e = segops__event_pool_alloc(pool, json_len);
    assert_non_null(e);
    assert_int_equal(e->len, json_len);
    assert_null(e->next);
    assert_int_equal((uintptr_t)e % 8, 0);
    memset(e->json, fill, json_len); /* the whole room is the caller's */
    e->json[json_len] = '\0';
    return e;
}

static void test_events_are_carved_apart(void **state) {
    (void)state;
    segops__event_pool_t pool;
    segops__event_pool_init(&pool);
    long base = segops__alloc_test_live();
    segops__event_t *e[3];
    for (int i = 0; i < 3; i++) e[i] = carve(&pool, 10 + i, (char)('a' + i));
    assert_int_equal(segops__alloc_test_live(), base + 1); /* one block for all three */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(strlen(e[i]->json), 10 + i); /* no neighbour overwrote it */
        assert_int_equal(e[i]->json[0], 'a' + i);
    }
    assert_true((char *)e[1] >= e[0]->json + e[0]->len + 1);
    segops__event_release(e, 3);
    segops__event_pool_destroy(&pool);
    assert_int_equal(segops__alloc_test_live(), base);
}

/* A FIFO stream with a bounded backlog: after warm-up, no malloc at all. */
static void test_steady_stream_never_mallocs(void **state) {
    (void)state;
    segops__event_pool_t pool;
    segops__event_pool_init(&pool);
    long base = segops__alloc_test_live();
    enum { BACKLOG = 300, TOTAL = 200000, BATCH = 50 };
    static segops__event_t *ring[BACKLOG];
    size_t head = 0, count = 0;
    uint64_t allocs_after_warmup = 0;
    for (size_t i = 0; i < TOTAL; i++) {
        if (i == 4 * PER_BLOCK) allocs_after_warmup = segops__alloc_test_count();
        if (count == BACKLOG) { /* the worker settles a batch */
            segops__event_t *batch[BATCH];
            for (size_t k = 0; k < BATCH; k++) batch[k] = ring[(head + k) % BACKLOG];
            segops__event_release(batch, BATCH);
            head = (head + BATCH) % BACKLOG;
            count -= BATCH;
        }
        ring[(head + count++) % BACKLOG] = carve(&pool, SMALL_JSON, 'x');
    }
    assert_int_equal(segops__alloc_test_count(), allocs_after_warmup);
    assert_true(segops__alloc_test_live() <= base + 3); /* current, spare, one draining */
    while (count) {
        segops__event_release(&ring[head], 1);
        head = (head + 1) % BACKLOG;
        count--;
    }
    segops__event_pool_destroy(&pool);
    assert_int_equal(segops__alloc_test_live(), base);
}

/* Blocks free whichever comes last: their retirement or their last release. */
static void test_release_orders(void **state) {
    (void)state;
    segops__event_pool_t pool;
    segops__event_pool_init(&pool);
    long base = segops__alloc_test_live();
    enum { N = 3 * PER_BLOCK + 7 };
    static segops__event_t *e[N];
    for (size_t i = 0; i < N; i++) e[i] = carve(&pool, SMALL_JSON, 'y');
    assert_int_equal(segops__alloc_test_live(), base + 4);
    /* Newest first, one at a time: the current block is never freed early. */
    for (size_t i = N; i-- > 0;) segops__event_release(&e[i], 1);
    /* Three retired blocks emptied: one kept as the spare, two freed. */
    assert_int_equal(segops__alloc_test_live(), base + 2);
    /* Released before their block retires: the retirement frees it. */
    for (size_t i = 0; i < PER_BLOCK; i++) e[i] = carve(&pool, SMALL_JSON, 'z');
    segops__event_release(e, PER_BLOCK);
    for (size_t i = 0; i < 2 * PER_BLOCK; i++) {
        segops__event_t *x = carve(&pool, SMALL_JSON, 'w');
        segops__event_release(&x, 1);
    }
    assert_true(segops__alloc_test_live() <= base + 2);
    segops__event_pool_destroy(&pool);
    assert_int_equal(segops__alloc_test_live(), base);
}

static void test_big_events_get_their_own_block(void **state) {
    (void)state;
    segops__event_pool_t pool;
    segops__event_pool_init(&pool);
    long base = segops__alloc_test_live();
    segops__event_t *small = carve(&pool, 10, 's');
    segops__event_t *big = carve(&pool, 100000, 'b');
    segops__event_t *after = carve(&pool, 10, 'a');
    assert_int_equal(segops__alloc_test_live(), base + 2);
    /* The big event did not use the standard block: its neighbours are adjacent. */
    assert_ptr_equal((char *)after, (char *)small + FOOTPRINT(10));
    segops__event_release(&big, 1);
    assert_int_equal(segops__alloc_test_live(), base + 1); /* freed at once */
    segops__event_t *pair[2] = {small, after};
    segops__event_release(pair, 2);
    segops__event_pool_destroy(&pool);
    assert_int_equal(segops__alloc_test_live(), base);
}

static void test_allocation_failure_leaves_pool_usable(void **state) {
    (void)state;
    segops__event_pool_t pool;
    segops__event_pool_init(&pool);
    long base = segops__alloc_test_live();
    segops__alloc_test_set_fail_after(0);
    assert_null(segops__event_pool_alloc(&pool, 10)); /* the first block */
    segops__event_t *first = carve(&pool, 10, 'f');
    static segops__event_t *fill[PER_BLOCK];
    for (size_t i = 0; i < PER_BLOCK; i++) fill[i] = carve(&pool, SMALL_JSON, 'g');
    assert_int_equal(segops__alloc_test_live(), base + 1); /* the block is full now */
    segops__alloc_test_set_fail_after(0);
    assert_null(segops__event_pool_alloc(&pool, SMALL_JSON)); /* no second block */
    segops__alloc_test_set_fail_after(0);
    assert_null(segops__event_pool_alloc(&pool, 100000)); /* a big event's own block */
    segops__alloc_test_set_fail_after(-1);
    segops__event_t *next = carve(&pool, SMALL_JSON, 'h');
    assert_int_equal(segops__alloc_test_live(), base + 2);
    for (size_t i = 0; i < PER_BLOCK; i++) assert_int_equal(fill[i]->json[0], 'g');
    assert_int_equal(first->json[0], 'f');
    segops__event_release(fill, PER_BLOCK);
    segops__event_release(&first, 1);
    segops__event_release(&next, 1);
    segops__event_pool_destroy(&pool);
    assert_int_equal(segops__alloc_test_live(), base);
}

/* Track on one thread, settle on another, as the client does. ThreadSanitizer
 * checks the handoff; the counts check that every block came back. */
enum { HANDOFF = 1024, STREAM = 300000 };
static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    segops__event_t *slots[HANDOFF];
    size_t head, count;
    bool done;
    /* What the settler saw, checked on the main thread: */
    size_t settled, overwritten; /* overwritten: an event whose text a neighbour changed */
} channel = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0, false, 0, 0};

static void *settler(void *arg) {
    (void)arg;
    segops__event_t *batch[64];
    for (;;) {
        pthread_mutex_lock(&channel.lock);
        while (!channel.count && !channel.done) pthread_cond_wait(&channel.changed, &channel.lock);
        size_t n = channel.count < 64 ? channel.count : 64;
        for (size_t i = 0; i < n; i++) batch[i] = channel.slots[(channel.head + i) % HANDOFF];
        channel.head = (channel.head + n) % HANDOFF;
        channel.count -= n;
        bool done = channel.done && !channel.count;
        pthread_cond_signal(&channel.changed);
        pthread_mutex_unlock(&channel.lock);
        size_t overwritten = 0;
        for (size_t i = 0; i < n; i++) overwritten += batch[i]->json[0] != 'p';
        segops__event_release(batch, n); /* no lock, as the worker */
        pthread_mutex_lock(&channel.lock);
        channel.settled += n;
        channel.overwritten += overwritten;
        pthread_mutex_unlock(&channel.lock);
        if (done) return NULL;
    }
}

static void test_release_on_another_thread(void **state) {
    (void)state;
    segops__event_pool_t pool;
    segops__event_pool_init(&pool);
    long base = segops__alloc_test_live();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, settler, NULL), 0);
    for (size_t i = 0; i < STREAM; i++) {
        pthread_mutex_lock(&channel.lock); /* the client lock guards alloc */
        while (channel.count == HANDOFF) pthread_cond_wait(&channel.changed, &channel.lock);
        segops__event_t *e = segops__event_pool_alloc(&pool, 20 + i % 300);
        assert_non_null(e);
        e->json[0] = 'p';
        channel.slots[(channel.head + channel.count++) % HANDOFF] = e;
        pthread_cond_signal(&channel.changed);
        pthread_mutex_unlock(&channel.lock);
    }
    pthread_mutex_lock(&channel.lock);
    channel.done = true;
    pthread_cond_signal(&channel.changed);
    pthread_mutex_unlock(&channel.lock);
    pthread_join(t, NULL);
    assert_int_equal(channel.settled, STREAM);
    assert_int_equal(channel.overwritten, 0);
    assert_true(segops__alloc_test_live() <= base + 2); /* current and spare */
    segops__event_pool_destroy(&pool);
    assert_int_equal(segops__alloc_test_live(), base);
}

/* The header packs accepted_ms into 48 bits beside the block offset: a real
 * wall clock comes back exactly, and a read-back record's time beyond the 48
 * bits is clamped so that expiry decides as it would with the full value. */
static void test_packed_times_keep_their_meaning(void **state) {
    (void)state;
    segops__event_pool_t pool;
    segops__event_pool_init(&pool);
    const int64_t now = INT64_C(1796601600000); /* 2026-12-07 */
    const uint64_t year = UINT64_C(365) * 24 * 3600 * 1000;
    segops__event_t *e[4];
    for (int i = 0; i < 4; i++) e[i] = carve(&pool, 100, 'a');
    segops__event_set_accepted(e[0], now - 1234);
    assert_int_equal(e[0]->accepted_ms, now - 1234);
    assert_int_equal(segops__event_track_ms(e[0]), now - 1234);
    segops__residence_adopt(e[1], 7, INT64_MAX); /* a damaged record: far future */
    assert_false(segops__residence_expired(e[1], year, now));
    assert_int_equal(segops__event_track_ms(e[1]), 0); /* read back: no track time */
    segops__residence_adopt(e[2], 8, INT64_MIN);       /* far past */
    assert_true(segops__residence_expired(e[2], year, now));
    segops__residence_adopt(e[3], 9, now - (int64_t)year - 1); /* just over a year old */
    assert_true(segops__residence_expired(e[3], year, now));
    assert_false(segops__residence_expired(e[3], year + 1, now));
    /* The neighbours' fields and the offsets back to their block are intact. */
    assert_int_equal(e[1]->spool_pos, 7);
    assert_int_equal(e[3]->residence, SEGOPS__RES_SENDING);
    assert_int_equal(e[3]->len, 100);
    segops__event_release(e, 4);
    segops__event_pool_destroy(&pool);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_are_carved_apart),
        cmocka_unit_test(test_steady_stream_never_mallocs),
        cmocka_unit_test(test_release_orders),
        cmocka_unit_test(test_big_events_get_their_own_block),
        cmocka_unit_test(test_allocation_failure_leaves_pool_usable),
        cmocka_unit_test(test_release_on_another_thread),
        cmocka_unit_test(test_packed_times_keep_their_meaning),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
