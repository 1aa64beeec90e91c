/*
 * A C program that uses libsegops the way an application does: options, client, two
 * events (JSON text and the payload builder), flush, a signed user id, shutdown, stats.
 * Exits 0 only if everything worked.
 *
 * Usage: consumer_c [API_URL [API_KEY]]   (defaults: $SEGOPS_API_URL, $SEGOPS_API_KEY)
 */
#include <segops/segops.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(segops_err_t err, const char *what) {
    if (err != SEGOPS_OK) {
        fprintf(stderr, "consumer_c: %s: %s (%d)\n", what, segops_strerror(err), (int)err);
        failures++;
    }
}

static const char *arg_or_env(int argc, char **argv, int index, const char *name) {
    const char *value = argc > index ? argv[index] : getenv(name);
    if (value == NULL || value[0] == '\0') {
        fprintf(stderr, "consumer_c: pass argument %d or set %s\n", index, name);
        exit(2);
    }
    return value;
}

int main(int argc, char **argv) {
    const char *url = arg_or_env(argc, argv, 1, "SEGOPS_API_URL");
    const char *key = arg_or_env(argc, argv, 2, "SEGOPS_API_KEY");
    segops_options_t *opts = NULL;
    segops_client_t *client = NULL;
    segops_signed_user_t signed_user;
    segops_stats_t stats;
    char json[256];

    printf("consumer_c: libsegops %s (header %s)\n", segops_version(), SEGOPS_VERSION_STRING);
    if (strcmp(segops_version(), SEGOPS_VERSION_STRING) != 0) {
        fprintf(stderr, "consumer_c: library and header versions differ\n");
        failures++;
    }

    check(segops_options_new(&opts), "segops_options_new");
    if (opts == NULL) return 1;
    check(segops_options_set_api_url(opts, url), "set_api_url");
    check(segops_options_set_api_key(opts, key), "set_api_key");
    check(segops_options_set_flush_interval_ms(opts, 200), "set_flush_interval_ms");
    check(segops_client_new(opts, &client), "segops_client_new");
    segops_options_free(opts);
    if (client == NULL) return 1;

    check(segops_track(client, "user-c-1", "consumer_c_ran", "{\"lang\":\"c\",\"n\":1}"),
          "segops_track");
    /* The payload builder writes doubles with nearbyint(): this links libm (segops.pc's -lm). */
    segops_props_t *props = NULL;
    check(segops_props_new(&props), "segops_props_new");
    check(segops_props_set_double(props, "total", 42.5), "segops_props_set_double");
    check(segops_track_props(client, "user-c-1", "consumer_c_props", props), "segops_track_props");
    segops_props_free(props);
    check(segops_flush(client, 10000), "segops_flush");

    memset(&signed_user, 0, sizeof signed_user);
    check(segops_sign_user_id("00112233445566778899aabbccddeeff", "user-c-1", 1700000000,
                              &signed_user),
          "segops_sign_user_id");
    if (strlen(signed_user.user_id_sig) != 64 || signed_user.user_id_ts != 1700000000) {
        fprintf(stderr, "consumer_c: unexpected signature \"%s\" ts %lld\n",
                signed_user.user_id_sig, (long long)signed_user.user_id_ts);
        failures++;
    }
    check(segops_verify_user_id("00112233445566778899aabbccddeeff", "user-c-1",
                                signed_user.user_id_sig, signed_user.user_id_ts, 1700000010, 60),
          "segops_verify_user_id");
    check(segops_signed_user_json("user-c-1", &signed_user, json, sizeof json, NULL),
          "segops_signed_user_json");

    check(segops_shutdown(client, 10000), "segops_shutdown");
    memset(&stats, 0, sizeof stats);
    check(segops_client_stats(client, &stats), "segops_client_stats");
    segops_client_free(client);

    printf("consumer_c: enqueued=%llu delivered=%llu dropped=%llu pending=%llu requests=%llu\n",
           (unsigned long long)stats.enqueued, (unsigned long long)stats.delivered,
           (unsigned long long)stats.dropped, (unsigned long long)stats.pending,
           (unsigned long long)stats.requests);
    if (stats.enqueued != 2 || stats.delivered != 2 || stats.dropped != 0 || stats.pending != 0) {
        fprintf(stderr, "consumer_c: expected exactly two delivered events\n");
        failures++;
    }
    if (failures != 0) {
        fprintf(stderr, "consumer_c: FAILED (%d)\n", failures);
        return 1;
    }
    printf("consumer_c: OK\n");
    return 0;
}
