/*
 * public_key — a client that holds only a public (pk_) key.
 *
 * A pk_ key cannot send events by itself: the library trades it for a
 * short-lived session token (the handshake, PROTOCOL.md), asking the
 * get_user callback below who the user is each time it mints one. Keys that
 * require signed identities also need the user id signed with the key's HMAC
 * secret, which only your backend knows.
 *
 *   export SEGOPS_API_URL=http://127.0.0.1:8080 SEGOPS_API_KEY=pk_...
 *   export SEGOPS_USER_ID=user_42       # the signed-in user (default user_42)
 *   export SEGOPS_HMAC_SECRET=<hex>     # demo only: see get_user
 *   ./public_key [api_url [api_key]]
 *
 * Exit status: 0 when every event was delivered, 1 otherwise, 2 on a usage error.
 */
#include <segops/segops.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct app {
    const char *user_id;
    const char *hmac_secret; /* NULL: send the identity unsigned */
} app_t;

/* Called by the library when it needs a session token, on the thread that
 * needs it. Keep it quick; any error code fails that mint. */
static segops_err_t get_user(segops_user_t *user, void *userdata) {
    const app_t *app = userdata;
    segops_err_t err = segops_user_set_id(user, app->user_id);
    if (err != SEGOPS_OK || !app->hmac_secret) return err;
    /* DEMO ONLY: a real app never holds the HMAC secret. It asks its backend,
     * which signs the logged-in user's id (see examples/sign_user.c) and returns
     * {"user_id","user_id_sig","user_id_ts"}; the app passes those fields here.
     * Signatures are accepted for about five minutes, so fetch one per mint. */
    segops_signed_user_t signed_user;
    err = segops_sign_user_id(app->hmac_secret, app->user_id, 0, &signed_user);
    if (err != SEGOPS_OK) return err;
    return segops_user_set_signature(user, signed_user.user_id_sig, signed_user.user_id_ts);
}

static void on_error(const segops_error_info_t *error, void *userdata) {
    (void)userdata;
    fprintf(stderr, "dropped %zu event(s): %s (HTTP %d): %s\n", error->event_count,
            segops_strerror(error->code), error->http_status, error->message);
}

int main(int argc, char **argv) {
    const char *url = argc > 1 ? argv[1] : getenv("SEGOPS_API_URL");
    const char *key = argc > 2 ? argv[2] : getenv("SEGOPS_API_KEY");
    if (argc > 3 || !url || !key) {
        fprintf(stderr, "usage: %s [api_url [pk_key]]  (or SEGOPS_API_URL / SEGOPS_API_KEY)\n",
                argc > 0 ? argv[0] : "public_key");
        return 2;
    }
    const char *user_id = getenv("SEGOPS_USER_ID");
    const char *secret = getenv("SEGOPS_HMAC_SECRET");
    app_t app = {user_id && user_id[0] ? user_id : "user_42", secret && secret[0] ? secret : NULL};

    segops_options_t *opts = NULL;
    segops_err_t err = segops_options_new(&opts);
    if (err == SEGOPS_OK) err = segops_options_set_api_url(opts, url);
    if (err == SEGOPS_OK) err = segops_options_set_api_key(opts, key);
    if (err == SEGOPS_OK) err = segops_options_set_get_user(opts, get_user, &app);
    if (err == SEGOPS_OK) err = segops_options_set_on_error(opts, on_error, NULL);
    segops_client_t *client = NULL;
    if (err == SEGOPS_OK) err = segops_client_new(opts, &client);
    segops_options_free(opts); /* the client keeps its own copy */
    if (err != SEGOPS_OK) {
        fprintf(stderr, "cannot create the client: %s\n", segops_strerror(err));
        return err == SEGOPS_E_CONFIG || err == SEGOPS_E_INVALID_ARG ? 2 : 1;
    }

    /* The user_id given here is replaced by the server with the token's uid. */
    segops_track(client, app.user_id, "app_opened", "{\"platform\":\"linux\"}");
    segops_track(client, app.user_id, "page_viewed", "{\"path\":\"/pricing\"}");
    segops_identify(client, app.user_id, "{\"plan\":\"pro\"}");
    segops_track(client, app.user_id, "order_placed", "{\"total\":42.5,\"currency\":\"EUR\"}");

    err = segops_shutdown(client, 10000); /* mints, sends, waits up to 10 s */
    segops_stats_t st;
    segops_client_stats(client, &st);
    printf("enqueued %" PRIu64 ", delivered %" PRIu64 ", dropped %" PRIu64 ", requests %" PRIu64
           ", token mints %" PRIu64 "\n",
           st.enqueued, st.delivered, st.dropped, st.requests, st.token_mints);
    segops_client_free(client);
    return err == SEGOPS_OK && st.delivered == st.enqueued ? 0 : 1;
}
