/*
 * segops-bench pacing: what the default pacing costs and saves at a given rate.
 *
 * One producer thread tracks on a fixed schedule (event k at start + k / rate),
 * noting CLOCK_MONOTONIC just before each call. The dev server logs every
 * request with its arrival on the same clock (GET /_dev/requests) and the number
 * of events a 2xx answer queued. One thread's events travel in the order it
 * tracked them and the client has one request in flight at a time, so the k-th
 * event tracked is the k-th event the accepted requests carried, in arrival
 * order: event k's delay is the arrival of the request that carried it minus
 * its track time. The run checks that the log accounts for every event.
 * Percentiles are of the steady state (see TAIL_MS); the maximum is of all.
 */
#include "pacing.h"

#include <segops/segops.h>

#include <curl/curl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* After the last track call the client is left alone this long, so the last
 * partial request goes out on its own (default pacing: 1,050 ms) rather than
 * being hurried by the shutdown. */
#define SETTLE_MS 1500
/* The steady-state percentiles leave out the events tracked in the run's last
 * 2 s: when a stream stops, its last partial request waits out the pacing
 * interval (up to 1.05 s), which says nothing about the stream's delay. The
 * maximum is over every event. */
#define TAIL_MS 2000

static const char PAYLOAD[] = "{\"order_id\":\"ord-8812734\",\"amount\":42.5,\"currency\":\"EUR\","
                              "\"items\":3,\"gift\":false}";

typedef struct logged {
    int64_t arrival_ms;
    int status;
    uint32_t events;
    bool batch;
} logged_t;

typedef struct body {
    char *data;
    size_t len, cap;
} body_t;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    body_t *b = ud;
    size_t k = size * n;
    if (b->len + k + 1 > b->cap) {
        size_t cap = (b->len + k + 1) * 2;
        char *data = realloc(b->data, cap);
        if (!data) return 0; /* curl reports the write error */
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, k);
    b->len += k;
    b->data[b->len] = '\0';
    return k;
}

/* The server's request log (GET /_dev/requests), or NULL. *n: its length. */
static logged_t *fetch_request_log(const char *base_url, size_t *n) {
    char url[512];
    snprintf(url, sizeof url, "%s/_dev/requests", base_url);
    body_t b = {0};
    CURL *h = curl_easy_init();
    if (!h) return NULL;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK || !b.data) {
        free(b.data);
        return NULL;
    }
    size_t count = 0;
    for (const char *p = b.data; (p = strstr(p, "{\"no\":")); p++) count++;
    logged_t *log = calloc(count ? count : 1, sizeof *log);
    size_t k = 0;
    for (const char *p = b.data; log && k < count && (p = strstr(p, "{\"no\":")); p++) {
        uint64_t no;
        int64_t unix_ms;
        char kind[8];
        logged_t *e = &log[k];
        if (sscanf(p,
                   "{\"no\":%" SCNu64 ",\"kind\":\"%7[a-z]\",\"arrival_ms\":%" SCNd64
                   ",\"arrival_unix_ms\":%" SCNd64 ",\"status\":%d,\"events\":%" SCNu32,
                   &no, kind, &e->arrival_ms, &unix_ms, &e->status, &e->events) != 6)
            break;
        e->batch = strcmp(kind, "batch") == 0;
        k++;
    }
    free(b.data);
    if (log && k != count) { /* a format this parser does not know */
        free(log);
        return NULL;
    }
    *n = count;
    return log;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until_ns(int64_t when) {
    struct timespec ts = {(time_t)(when / 1000000000), (long)(when % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
    }
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t pct(const int64_t *sorted, size_t n, double q) {
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

static void quiet_errors(const segops_error_info_t *e, void *u) {
    (void)e;
    (void)u;
}

static segops_client_t *default_client(const char *url, const char *key) {
    segops_options_t *o;
    segops_client_t *c = NULL;
    if (segops_options_new(&o) != SEGOPS_OK) return NULL;
    if (segops_options_set_api_url(o, url) == SEGOPS_OK &&
        segops_options_set_api_key(o, key) == SEGOPS_OK &&
        segops_options_set_on_error(o, quiet_errors, NULL) == SEGOPS_OK)
        segops_client_new(o, &c);
    segops_options_free(o);
    return c;
}

int bench_pacing_run(const char *url, const char *key, long rate, double seconds) {
    size_t n = (size_t)((double)rate * seconds);
    if (rate < 1 || n < 1) {
        fprintf(stderr, "segops-bench pacing: --rate and --seconds must be positive\n");
        return 1;
    }
    size_t before = 0;
    logged_t *old = fetch_request_log(url, &before); /* earlier runs on this server */
    int64_t *tracked_ms = malloc(n * sizeof *tracked_ms), *delay = malloc(n * sizeof *delay);
    segops_client_t *client = default_client(url, key);
    if (!old || !tracked_ms || !delay || !client) {
        fprintf(stderr, "segops-bench pacing: setup failed (is %s a dev server?)\n", url);
        return 1;
    }
    free(old);

    char user[32];
    int64_t start = now_ns();
    for (size_t k = 0; k < n; k++) {
        sleep_until_ns(start + (int64_t)((double)k * 1e9 / (double)rate));
        snprintf(user, sizeof user, "user-%06zu", k % 1024);
        tracked_ms[k] = now_ns() / 1000000;
        if (segops_track(client, user, "order_placed", PAYLOAD) != SEGOPS_OK) {
            fprintf(stderr, "segops-bench pacing: track failed\n");
            return 1;
        }
    }
    int64_t end = now_ns();
    sleep_until_ns(end + (int64_t)SETTLE_MS * 1000000);
    segops_err_t shut = segops_shutdown(client, 30000);
    segops_stats_t st;
    segops_client_stats(client, &st);
    segops_client_free(client);

    size_t total = 0;
    logged_t *log = fetch_request_log(url, &total);
    if (!log || total < before) {
        fprintf(stderr, "segops-bench pacing: cannot read the request log\n");
        return 1;
    }
    /* Map events to the accepted requests that carried them, in arrival order. */
    int64_t t0_ms = start / 1000000, t1_ms = end / 1000000;
    size_t next = 0, requests = 0, accepted = 0, in_window = 0, refused_429 = 0;
    int64_t first_in = 0, last_in = 0; /* arrivals of the first and last of those in_window */
    for (size_t i = before; i < total; i++) {
        const logged_t *e = &log[i];
        if (!e->batch) continue;
        requests++;
        if (e->arrival_ms >= t0_ms && e->arrival_ms <= t1_ms) {
            if (in_window++ == 0) first_in = e->arrival_ms;
            last_in = e->arrival_ms;
        }
        if (e->status == 429) refused_429++;
        if (e->status < 200 || e->status > 299) continue;
        accepted++;
        for (uint32_t j = 0; j < e->events && next < n; j++, next++)
            delay[next] = e->arrival_ms - tracked_ms[next];
    }
    free(log);
    bool complete = next == n && st.delivered == n;
    size_t steady = 0; /* events tracked before the tail, in tracking order */
    while (steady < next && tracked_ms[steady] <= t1_ms - TAIL_MS) steady++;
    int64_t max_delay = 0;
    for (size_t k = 0; k < next; k++) max_delay = delay[k] > max_delay ? delay[k] : max_delay;
    qsort(delay, steady, sizeof delay[0], cmp_i64);
    double window_s = (double)(end - start) / 1e9;

    printf("pacing_rate=%ld\npacing_seconds=%.1f\npacing_events=%zu\n", rate, window_s, n);
    printf("pacing_delivered=%" PRIu64 "\npacing_shutdown=%s\n", st.delivered,
           segops_strerror(shut));
    printf("pacing_requests=%zu\npacing_requests_accepted=%zu\npacing_429=%zu\n", requests,
           accepted, refused_429);
    /* The steady rate: 60 s over the mean gap between the requests that arrived
     * while the producer ran (counting them over the window would add one). */
    printf("pacing_requests_in_window=%zu\npacing_requests_per_min=%.1f\n", in_window,
           in_window > 1 && last_in > first_in
               ? (double)(in_window - 1) * 60000.0 / (double)(last_in - first_in)
               : 0.0);
    printf("pacing_events_per_request=%.1f\n", accepted ? (double)next / (double)accepted : 0.0);
    if (steady) {
        printf("pacing_delay_events=%zu\npacing_delay_p50_ms=%" PRId64
               "\npacing_delay_p99_ms=%" PRId64 "\n",
               steady, pct(delay, steady, 0.5), pct(delay, steady, 0.99));
    }
    if (next) printf("pacing_delay_max_ms=%" PRId64 "\n", max_delay);
    printf("pacing_client_rate_limited=%" PRIu64 "\npacing_client_pace_per_minute=%" PRIu64 "\n",
           st.rate_limited, st.pace_per_minute);
    printf("pacing_complete=%d\n", complete ? 1 : 0);
    free(tracked_ms);
    free(delay);
    return complete ? 0 : 1;
}
