/*
 * basic.c — the secret-key quick start (the C twin of the Python SDK's example).
 *
 *   SEGOPS_API_URL=https://api.segops.ai SEGOPS_API_KEY=sk_... ./basic
 *
 * A secret key authenticates directly: use it on servers only, never in an app
 * that ships to users. Events are queued by segops_track and sent in batches by
 * the client's worker thread; segops_shutdown flushes whatever is left.
 */
#include <segops/segops.h>

#include <stdio.h>
#include <stdlib.h>

/* Called on the worker thread for every group of events that could not be
 * delivered. Without it, libsegops prints one line per drop on stderr. */
static void on_error(const segops_error_info_t *error, void *userdata) {
    (void)userdata;
    fprintf(stderr, "basic: %zu event(s) dropped: %s (%s)\n", error->event_count,
            segops_strerror(error->code), error->message);
}

int main(int argc, char **argv) {
    const char *url = argc > 1 ? argv[1] : getenv("SEGOPS_API_URL");
    const char *key = getenv("SEGOPS_API_KEY"); /* from the environment: not in `ps` */
    if (!url || !key) {
        fprintf(stderr, "usage: SEGOPS_API_KEY=sk_... basic [API_URL]  (or set SEGOPS_API_URL)\n");
        return 2;
    }

    segops_options_t *opts = NULL;
    segops_err_t err = segops_options_new(&opts);
    if (err == SEGOPS_OK) err = segops_options_set_api_url(opts, url);
    if (err == SEGOPS_OK) err = segops_options_set_api_key(opts, key);
    if (err == SEGOPS_OK) err = segops_options_set_on_error(opts, on_error, NULL);
    segops_client_t *client = NULL;
    if (err == SEGOPS_OK) err = segops_client_new(opts, &client);
    segops_options_free(opts); /* the client keeps its own copy */
    if (err != SEGOPS_OK) {
        fprintf(stderr, "basic: cannot create the client: %s\n", segops_strerror(err));
        return 1;
    }

    /* Dynamic values go through the payload builder, which escapes strings (this
     * product name has quotes) and writes numbers exactly: no hand-written JSON. */
    const char *product = "Mug \"XL\"";
    double total = 2 * 21.25;
    segops_props_t *order = NULL;
    err = segops_props_new(&order);
    if (err == SEGOPS_OK) err = segops_props_set_string(order, "product", product);
    if (err == SEGOPS_OK) err = segops_props_set_double(order, "total", total);
    if (err == SEGOPS_OK) err = segops_props_set_int(order, "quantity", 2);
    if (err == SEGOPS_OK) err = segops_props_set_string(order, "currency", "EUR");
    /* track() validates the ids, stamps occurred_at and queues; it never waits on
     * the network. The builder is copied: reuse it or free it right after. */
    if (err == SEGOPS_OK) err = segops_track_props(client, "u-123", "order_placed", order);
    segops_props_free(order);
    /* A constant payload can stay JSON text. */
    if (err == SEGOPS_OK)
        err = segops_track(client, "u-123", "page_viewed", "{\"path\": \"/home\"}");
    if (err == SEGOPS_OK)
        err = segops_identify(client, "u-123",
                              "{\"email\": \"alice@example.com\", \"plan\": \"pro\"}");
    if (err != SEGOPS_OK) fprintf(stderr, "basic: track failed: %s\n", segops_strerror(err));

    /* Flush and stop the worker; whatever is still undelivered after 10 s is
     * dropped and reported through on_error. */
    segops_err_t shut = segops_shutdown(client, 10000);

    segops_stats_t stats;
    segops_client_stats(client, &stats);
    printf("basic: tracked %llu, delivered %llu, dropped %llu in %llu request(s)\n",
           (unsigned long long)stats.enqueued, (unsigned long long)stats.delivered,
           (unsigned long long)stats.dropped, (unsigned long long)stats.requests);
    segops_client_free(client);
    return err == SEGOPS_OK && shut == SEGOPS_OK && stats.dropped == 0 ? 0 : 1;
}
