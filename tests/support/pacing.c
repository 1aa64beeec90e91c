/* Helpers of the pacing tests (see pacing.h). */
#include "pacing.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void pacing_start(fixture_t *f, uint32_t calls_per_minute, uint32_t refuse_every) {
    devsrv_config_t cfg = {0};
    cfg.plan_calls_per_window = calls_per_minute;
    cfg.plan_window_ms = MINUTE_MS;
    cfg.refuse_every = refuse_every;
    fixture_start(f, &cfg);
}

void log_sink_init(log_sink_t *s) {
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
}

void log_sink_destroy(log_sink_t *s) { pthread_mutex_destroy(&s->lock); }

static bool mentions_pacing(const char *message) {
    for (const char *p = message; *p; p++) {
        size_t k = 0;
        while (k < 6 && p[k] && tolower((unsigned char)p[k]) == "pacing"[k]) k++;
        if (k == 6) return true;
    }
    return false;
}

void log_sink_fn(segops_log_level_t level, const char *message, void *userdata) {
    log_sink_t *s = userdata;
    if (!message) return;
    pthread_mutex_lock(&s->lock);
    if (strstr(message, TEST_SK)) s->secret_lines++;
    if (level == SEGOPS_LOG_INFO && mentions_pacing(message)) {
        s->pacing_info_lines++;
        snprintf(s->last_pacing, sizeof s->last_pacing, "%s", message);
    }
    pthread_mutex_unlock(&s->lock);
}

unsigned pacing_lines(log_sink_t *s, char *last, size_t last_len) {
    pthread_mutex_lock(&s->lock);
    unsigned lines = s->pacing_info_lines, secrets = s->secret_lines;
    if (last && last_len) snprintf(last, last_len, "%s", s->last_pacing);
    pthread_mutex_unlock(&s->lock);
    assert_int_equal(secrets, 0);
    return lines;
}

segops_options_t *pacing_options(fixture_t *f, log_sink_t *sink) {
    segops_options_t *opts = make_options(f->srv, TEST_SK, &f->rec);
    if (sink)
        assert_int_equal(segops_options_set_logger(opts, log_sink_fn, SEGOPS_LOG_INFO, sink),
                         SEGOPS_OK);
    return opts;
}

static void sleep_until_ns(const struct timespec *when) {
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, when, NULL) != 0) {
    }
}

void track_at_rate(segops_client_t *client, int first, int n, int per_second, int64_t *tracked_at) {
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    char payload[32];
    for (int k = 0; k < n; k++) {
        int64_t due_ns = (int64_t)k * 1000000000 / per_second;
        struct timespec due = {start.tv_sec + (time_t)(due_ns / 1000000000),
                               start.tv_nsec + (long)(due_ns % 1000000000)};
        if (due.tv_nsec >= 1000000000) due.tv_sec++, due.tv_nsec -= 1000000000;
        sleep_until_ns(&due); /* returns at once when already past */
        snprintf(payload, sizeof payload, "{\"i\":%d}", first + k);
        if (tracked_at) tracked_at[k] = now_ms();
        segops_err_t err = segops_track(client, "u", "item_viewed", payload);
        if (err != SEGOPS_OK) fail_msg("track of event %d: %s", first + k, segops_strerror(err));
    }
}

void assert_each_once(devsrv_t *srv, int n, int64_t *arrival_ms) {
    size_t held = devsrv_event_count(srv);
    unsigned char *seen = calloc((size_t)n, 1);
    assert_non_null(seen);
    int missing = 0, first_missing = -1;
    for (size_t k = 0; k < held; k++) {
        devsrv_event_t ev;
        assert_int_equal(devsrv_event_at(srv, k, &ev), 0);
        int i = -1;
        if (sscanf(ev.payload_json, "{\"i\":%d}", &i) != 1 || i < 0 || i >= n)
            fail_msg("the server holds an event nobody tracked: %s", ev.payload_json);
        if (seen[i]++) fail_msg("event %d arrived twice", i);
        if (arrival_ms) arrival_ms[i] = ev.arrival_ms;
        devsrv_event_free(&ev);
    }
    for (int i = 0; i < n; i++)
        if (!seen[i] && missing++ == 0) first_missing = i;
    free(seen);
    if (missing)
        fail_msg("%d of %d events never arrived (the first: %d)", missing, n, first_missing);
    assert_int_equal(held, n);
}

void assert_all_delivered(fixture_t *f, uint64_t n) {
    assert_conservation(f->client);
    segops_stats_t st = stats_of(f->client);
    devsrv_stats_t ss = server_stats(f->srv);
    if (st.delivered != n || st.dropped != 0)
        fail_msg("delivered %llu of %llu, dropped %llu (shutdown %llu, retries %llu)",
                 (unsigned long long)st.delivered, (unsigned long long)n,
                 (unsigned long long)st.dropped, (unsigned long long)st.dropped_shutdown,
                 (unsigned long long)st.dropped_retries_exhausted);
    assert_int_equal(st.pending, 0);
    assert_int_equal(reports_of(&f->rec), 0);
    assert_int_equal(ss.events_received, n);
    assert_int_equal(st.rate_limited, ss.answers_429);
}

void print_pacing_summary(const char *name, fixture_t *f) {
    devsrv_stats_t ss = server_stats(f->srv);
    segops_stats_t st = stats_of(f->client);
    size_t most = devsrv_max_requests_in_window(f->srv, MINUTE_MS, 0);
    print_message("%s: %llu requests (%llu accepted), %llu answered 429, at most %zu in a rolling "
                  "minute, %.1f events/request, max %llu; client pace %llu/min\n",
                  name, (unsigned long long)ss.batch_requests,
                  (unsigned long long)ss.batch_accepted, (unsigned long long)ss.answers_429, most,
                  ss.batch_accepted ? (double)ss.events_received / (double)ss.batch_accepted : 0.0,
                  (unsigned long long)ss.max_events_per_request,
                  (unsigned long long)st.pace_per_minute);
}
