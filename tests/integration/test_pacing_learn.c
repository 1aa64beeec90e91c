/* What the client learns from 429s (issue 12): a burst limiter's short
 * Retry-After costs its waits and nothing more; a full per-minute window teaches
 * a pace, announced by one INFO line, counted in the stats, and not run into
 * again. The shutdown deadline is the only time asserted: it is behaviour. */
#include "pacing.h"

#include <stdio.h>

/* ---- a burst limiter: every 5th batch refused with Retry-After: 1 ---- */

#define BURST_THREADS 2
#define BURST_EVENTS 5000

typedef struct producer {
    segops_client_t *client;
    int first, n, failures;
} producer_t;

/* Tracks its share as fast as it can; records failures for the main thread. */
static void *produce(void *arg) {
    producer_t *p = arg;
    char payload[32];
    for (int i = p->first; i < p->first + p->n; i++) {
        snprintf(payload, sizeof payload, "{\"i\":%d}", i);
        if (segops_track(p->client, "u", "item_viewed", payload) != SEGOPS_OK) p->failures++;
    }
    return NULL;
}

/* 5,000 events from two threads against a server that refuses one request in
 * five with Retry-After: 1, whatever the rate: all delivered within a 30 s
 * shutdown. A client that read those refusals as a per-minute window would pace
 * itself to a few requests a minute and miss the deadline. */
static void test_burst_limiter_costs_only_its_waits(void **state) {
    (void)state;
    fixture_t f;
    log_sink_t sink;
    log_sink_init(&sink);
    pacing_start(&f, 0, 5);
    fixture_client(&f, pacing_options(&f, &sink));
    producer_t producers[BURST_THREADS];
    pthread_t threads[BURST_THREADS];
    const int share = BURST_EVENTS / BURST_THREADS;
    for (int t = 0; t < BURST_THREADS; t++) {
        producers[t] = (producer_t){f.client, t * share, share, 0};
        assert_int_equal(pthread_create(&threads[t], NULL, produce, &producers[t]), 0);
    }
    for (int t = 0; t < BURST_THREADS; t++) pthread_join(threads[t], NULL);
    for (int t = 0; t < BURST_THREADS; t++) assert_int_equal(producers[t].failures, 0);

    int64_t t0 = now_ms();
    segops_err_t err = segops_shutdown(f.client, 30000);
    int64_t took = now_ms() - t0;
    print_pacing_summary("burst limiter 1 in 5", &f);
    print_message("burst limiter: shutdown(30000) returned %s after %lld ms\n",
                  segops_strerror(err), (long long)took);
    assert_int_equal(err, SEGOPS_OK);
    assert_all_delivered(&f, BURST_EVENTS);
    assert_each_once(f.srv, BURST_EVENTS, NULL);

    devsrv_stats_t ss = server_stats(f.srv);
    assert_true(ss.burst_refused >= 1); /* the limiter was met */
    assert_int_equal(ss.answers_429, ss.burst_refused);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.rate_limited, ss.burst_refused);
    /* A burst limiter is waited out, not learned: the pace did not change. */
    assert_int_equal(st.pace_per_minute, 0);
    assert_int_equal(pacing_lines(&sink, NULL, 0), 0);
    fixture_stop(&f);
    log_sink_destroy(&sink);
}

/* ---- a full per-minute window teaches a pace ---- */

#define WINDOW_PLAN 5 /* calls per minute: met after about five paced requests */
#define WINDOW_RATE 50
#define WINDOW_CHUNK 10 /* events tracked between looks at the stats */

/* Default options at 50 events/s against 5 calls/min: the client makes a
 * partial request about every 1,050 ms until the sixth is refused with a
 * Retry-After of about 55 s, a window. Then: one 429 counted by both sides, a
 * pace above zero (no more than the plan), exactly one INFO line announcing it,
 * and no second 429 while the window is still full. */
static void test_window_429_teaches_a_pace(void **state) {
    (void)state;
    fixture_t f;
    log_sink_t sink;
    log_sink_init(&sink);
    pacing_start(&f, WINDOW_PLAN, 0);
    fixture_client(&f, pacing_options(&f, &sink));
    assert_int_equal(stats_of(f.client).pace_per_minute, 0);
    assert_int_equal(pacing_lines(&sink, NULL, 0), 0);

    /* Tracks until the client has counted the 429 (a hang bound, not a speed). */
    int tracked = 0;
    int64_t end = now_ms() + 30000;
    while (stats_of(f.client).rate_limited == 0 && now_ms() < end) {
        track_at_rate(f.client, tracked, WINDOW_CHUNK, WINDOW_RATE, NULL);
        tracked += WINDOW_CHUNK;
    }
    segops_stats_t st = stats_of(f.client);
    devsrv_stats_t ss = server_stats(f.srv);
    assert_int_equal(st.rate_limited, 1);
    assert_int_equal(ss.answers_429, 1);
    assert_int_equal(ss.plan_refused, 1);
    if (st.pace_per_minute == 0 || st.pace_per_minute > WINDOW_PLAN)
        fail_msg("pace %llu/min after a window 429 on a %d/min plan",
                 (unsigned long long)st.pace_per_minute, WINDOW_PLAN);
    char line[256];
    assert_int_equal(pacing_lines(&sink, line, sizeof line), 1);
    print_message("window 429 after %llu requests: pace %llu/min, logged \"%s\"\n",
                  (unsigned long long)ss.batch_requests, (unsigned long long)st.pace_per_minute,
                  line);

    /* Three more seconds of traffic: the client waits for the window instead of
     * asking again, and says nothing more. */
    track_at_rate(f.client, tracked, 3 * WINDOW_RATE, WINDOW_RATE, NULL);
    tracked += 3 * WINDOW_RATE;
    assert_int_equal(server_stats(f.srv).answers_429, 1);
    assert_int_equal(stats_of(f.client).rate_limited, 1);
    assert_int_equal(pacing_lines(&sink, NULL, 0), 1);

    /* The window stays full for most of a minute: a short shutdown drops the
     * rest, counted and reported as today. */
    assert_int_equal(segops_shutdown(f.client, 1000), SEGOPS_E_TIMEOUT);
    assert_conservation(f.client);
    st = stats_of(f.client);
    ss = server_stats(f.srv);
    assert_int_equal(st.enqueued, tracked);
    assert_int_equal(st.delivered, ss.events_received);
    assert_true(st.dropped > 0);
    assert_int_equal(st.dropped, st.dropped_shutdown);
    uint64_t reported;
    recorder_snapshot(&f.rec, NULL, &reported);
    assert_int_equal(reported, st.dropped);
    assert_int_equal(st.rate_limited, ss.answers_429);
    fixture_stop(&f);
    log_sink_destroy(&sink);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_limiter_costs_only_its_waits),
        cmocka_unit_test(test_window_429_teaches_a_pace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
