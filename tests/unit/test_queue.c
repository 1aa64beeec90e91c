/* The bounded FIFO and event encoding (src/queue.c, src/event.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "alloc.h"
#include "event.h"
#include "event_pool.h"
#include "queue.h"

static segops__event_pool_t pool;

/* What track does: prepare, then carve from the pool and encode. */
static segops_err_t build(const segops_event_t *in, size_t max_bytes, int64_t now_ms,
                          segops__event_t **out) {
    segops__event_plan_t plan;
    *out = NULL;
    segops_err_t err = segops__event_prepare(in, max_bytes, now_ms, &plan);
    if (err != SEGOPS_OK) return err;
    *out = segops__event_pool_alloc(&pool, plan.len);
    assert_non_null(*out);
    segops__event_encode(&plan, *out);
    return SEGOPS_OK;
}

static void release(segops__event_t *event) { segops__event_release(&event, 1); }

static segops__event_t *make(const char *type) {
    segops_event_t in = {"u", type, NULL, NULL, NULL};
    segops__event_t *ev;
    assert_int_equal(build(&in, 4096, 0, &ev), SEGOPS_OK);
    return ev;
}

static void test_event_encoding(void **state) {
    (void)state;
    segops_event_t in = {"u\"1", "order_placed", "{\"total\":42}", NULL, "a1"};
    segops__event_t *ev;
    /* 1795000000.123 s is 2026-11-18T11:06:40.123Z (python3 datetime.fromtimestamp, UTC) */
    assert_int_equal(build(&in, 4096, 1795000000123LL, &ev), SEGOPS_OK);
    const char *expect = "{\"user_id\":\"u\\\"1\",\"event_type\":\"order_placed\","
                         "\"occurred_at\":\"2026-11-18T11:06:40.123Z\",\"anonymous_id\":\"a1\","
                         "\"payload\":{\"total\":42}}";
    assert_string_equal(ev->json, expect);
    assert_int_equal(ev->len, strlen(expect));
    release(ev);
    /* The size limit counts the encoded event, escapes included. */
    segops_event_t big = {"u", "e", "{\"k\":\"\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\"}", NULL, NULL};
    size_t need = strlen("{\"user_id\":\"u\",\"event_type\":\"e\",\"occurred_at\":\"") + 24 +
                  strlen("\",\"payload\":") + strlen(big.payload_json) + 1;
    assert_int_equal(build(&big, need, 0, &ev), SEGOPS_OK);
    release(ev);
    assert_int_equal(build(&big, need - 1, 0, &ev), SEGOPS_E_TOO_LARGE);
    assert_null(ev);
}

static void test_fifo_and_positions(void **state) {
    (void)state;
    segops__queue_t q;
    segops__event_t *a = make("a"), *b = make("b"), *c = make("c");
    segops__queue_init(&q);
    segops__queue_push(&q, a);
    segops__queue_push(&q, b);
    assert_int_equal(q.count, 2);
    assert_int_equal(q.bytes, a->len + b->len);
    assert_ptr_equal(segops__queue_pop(&q), a);
    assert_ptr_equal(a->next, b); /* a popped event keeps its link */
    segops__queue_push(&q, c);
    assert_int_equal(q.pushed, 3);
    assert_int_equal(q.popped, 1);
    release(a);
    assert_int_equal(segops__queue_clear(&q), 2);
    assert_int_equal(q.count, 0);
    assert_int_equal(q.bytes, 0);
    assert_null(q.head);
    assert_null(q.tail);
}

/* A lane's events join the client's queue behind what it holds, in order. */
static void test_splice(void **state) {
    (void)state;
    segops__queue_t main_q, lane;
    segops__queue_init(&main_q);
    segops__queue_init(&lane);
    segops__queue_splice(&main_q, &lane); /* empty into empty */
    assert_null(main_q.head);
    segops__event_t *e[5];
    for (int i = 0; i < 5; i++) e[i] = make(i < 2 ? "main" : "lane");
    segops__queue_push(&lane, e[0]); /* into an empty queue: lane becomes the queue */
    segops__queue_splice(&main_q, &lane);
    segops__queue_push(&main_q, e[1]);
    for (int i = 2; i < 5; i++) segops__queue_push(&lane, e[i]);
    segops__queue_splice(&main_q, &lane);
    assert_int_equal(main_q.count, 5);
    assert_int_equal(main_q.pushed, 5);
    assert_int_equal(lane.count, 0);
    assert_int_equal(lane.bytes, 0);
    assert_int_equal(lane.popped, 4);
    assert_null(lane.head);
    assert_null(lane.tail);
    size_t bytes = 0;
    for (int i = 0; i < 5; i++) bytes += e[i]->len;
    assert_int_equal(main_q.bytes, bytes);
    for (int i = 0; i < 5; i++) assert_ptr_equal(segops__queue_pop(&main_q), e[i]);
    assert_null(main_q.tail);
    for (int i = 0; i < 5; i++) release(e[i]);
}

/* What the worker does: peek (no lock needed), then detach. */
static size_t take(segops__queue_t *q, segops__event_t **out, size_t max_events, size_t max_bytes) {
    size_t bytes;
    size_t n = segops__queue_peek(q->head, q->count, out, max_events, max_bytes, &bytes);
    segops__queue_detach(q, out, n, bytes);
    return n;
}

static void test_take_respects_limits(void **state) {
    (void)state;
    segops__queue_t q;
    segops__queue_init(&q);
    for (int i = 0; i < 10; i++) segops__queue_push(&q, make("e"));
    size_t one = q.head->len + 1;
    segops__event_t *out[10];
    assert_int_equal(take(&q, out, 4, 1 << 20), 4); /* event cap */
    for (int i = 0; i < 4; i++) release(out[i]);
    assert_int_equal(take(&q, out, 10, 3 * one), 3); /* byte budget */
    for (int i = 0; i < 3; i++) release(out[i]);
    assert_int_equal(take(&q, out, 10, 1), 1); /* always at least one */
    release(out[0]);
    assert_int_equal(q.count, 2);
    assert_int_equal(q.popped, 8);
    assert_int_equal(q.bytes, 2 * (one - 1)); /* detach subtracts exactly what it took */
    segops__queue_clear(&q);
}

static void test_no_leaks(void **state) {
    (void)state;
    segops__event_pool_destroy(&pool); /* starts from no blocks */
    long before = segops__alloc_test_live();
    segops__queue_t q;
    segops__queue_init(&q);
    for (int i = 0; i < 50; i++) segops__queue_push(&q, make("e"));
    segops__queue_clear(&q);
    segops__event_pool_destroy(&pool);
    assert_int_equal(segops__alloc_test_live(), before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_encoding), cmocka_unit_test(test_fifo_and_positions),
        cmocka_unit_test(test_splice),         cmocka_unit_test(test_take_respects_limits),
        cmocka_unit_test(test_no_leaks),
    };
    segops__event_pool_init(&pool);
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    segops__event_pool_destroy(&pool);
    return failed;
}
