/*
 * threaded_server.c — how a server uses libsegops: one client, created at
 * start-up and shared by every request-handling thread.
 *
 *   SEGOPS_API_URL=https://api.segops.ai SEGOPS_API_KEY=sk_... ./threaded_server [THREADS]
 * [REQUESTS]
 *
 * Each "request handler" tracks an event per request. segops_track costs a
 * validation, one allocation and a short lock — no I/O — so it is safe on the
 * request path; the client's single worker thread does the sending.
 */
#include <segops/segops.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct handler {
    segops_client_t *client; /* shared: the client is thread-safe */
    int id;
    int requests;
    int refused; /* tracks the SDK refused (queue full, bad input) */
} handler_t;

static void *handle_requests(void *arg) {
    handler_t *h = arg;
    char user[32], payload[128];
    for (int r = 0; r < h->requests; r++) {
        snprintf(user, sizeof user, "user-%d", (h->id * 7919 + r) % 1000);
        snprintf(payload, sizeof payload, "{\"path\":\"/orders/%d\",\"status\":200,\"worker\":%d}",
                 r, h->id);
        /* The return value is immediate; delivery is reported later via on_error. */
        if (segops_track(h->client, user, "request_served", payload) != SEGOPS_OK) h->refused++;
    }
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 8;
    int requests = argc > 2 ? atoi(argv[2]) : 1000;
    const char *url = getenv("SEGOPS_API_URL");
    const char *key = getenv("SEGOPS_API_KEY");
    if (!url || !key || threads < 1 || threads > 256 || requests < 0) {
        fprintf(stderr, "usage: SEGOPS_API_URL=... SEGOPS_API_KEY=sk_... threaded_server [THREADS] "
                        "[REQUESTS]\n");
        return 2;
    }

    segops_options_t *opts = NULL;
    segops_client_t *client = NULL;
    segops_err_t err = segops_options_new(&opts);
    if (err == SEGOPS_OK) err = segops_options_set_api_url(opts, url);
    if (err == SEGOPS_OK) err = segops_options_set_api_key(opts, key);
    /* A server would rather wait a moment than lose an event during a burst. */
    if (err == SEGOPS_OK) err = segops_options_set_overflow(opts, SEGOPS_OVERFLOW_BLOCK);
    if (err == SEGOPS_OK) err = segops_options_set_block_timeout_ms(opts, 50);
    if (err == SEGOPS_OK) err = segops_client_new(opts, &client);
    segops_options_free(opts);
    if (err != SEGOPS_OK) {
        fprintf(stderr, "threaded_server: %s\n", segops_strerror(err));
        return 1;
    }

    pthread_t tids[256];
    handler_t handlers[256];
    for (int t = 0; t < threads; t++) {
        handlers[t] = (handler_t){client, t, requests, 0};
        pthread_create(&tids[t], NULL, handle_requests, &handlers[t]);
    }
    int refused = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tids[t], NULL);
        refused += handlers[t].refused;
    }

    /* On the way out: deliver what is queued, give up after 10 s. */
    segops_shutdown(client, 10000);
    segops_stats_t st;
    segops_client_stats(client, &st);
    printf("threaded_server: %d threads x %d requests: tracked %llu (refused %d), delivered %llu, "
           "dropped %llu, in %llu requests\n",
           threads, requests, (unsigned long long)st.enqueued, refused,
           (unsigned long long)st.delivered, (unsigned long long)st.dropped,
           (unsigned long long)st.requests);
    segops_client_free(client);
    return st.dropped == 0 && refused == 0 ? 0 : 1;
}
