/* segops_last_error: every options setter that refuses says why, client_new
 * names the real cause of SEGOPS_E_CONFIG (a refused setter included), track
 * says which field was wrong, the reason is one line without the key, a
 * success leaves it alone, and each thread sees its own. No network: the
 * client here never sends. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define KEY "sk_test_LASTERR_CANARY_1234"

static segops_options_t *new_options(void) {
    segops_options_t *o = NULL;
    assert_int_equal(segops_options_new(&o), SEGOPS_OK);
    return o;
}

/* The last error is exactly one line, holds `want` and never the key. */
static void expect_reason(const char *want) {
    const char *got = segops_last_error();
    assert_non_null(got);
    if (!strstr(got, want)) fail_msg("reason \"%s\" does not say \"%s\"", got, want);
    if (strchr(got, '\n') || strchr(got, '\r')) fail_msg("reason is not one line: \"%s\"", got);
    if (strstr(got, "LASTERR_CANARY")) fail_msg("reason holds the key: \"%s\"", got);
}

/* A reason left by an earlier failure, so each EXPECT proves its call set one. */
static void leave_stale_reason(void) {
    assert_int_equal(segops_options_set_max_retries(NULL, 0), SEGOPS_E_INVALID_ARG);
    expect_reason("segops_options_set_max_retries: opts is NULL");
}

#define EXPECT(call, code, want)                                                                   \
    do {                                                                                           \
        leave_stale_reason();                                                                      \
        assert_int_equal((call), (code));                                                          \
        expect_reason(want);                                                                       \
        if (strstr(segops_last_error(), "set_max_retries: opts is NULL"))                          \
            fail_msg("%s did not set a reason", #call);                                            \
    } while (0)

static void test_every_setter_says_why(void **state) {
    (void)state;
    segops_options_t *o = new_options();
    /* The newcomer's mistakes from the issue. */
    EXPECT(segops_options_set_api_key(o, KEY "\n"), SEGOPS_E_INVALID_ARG,
           "segops_options_set_api_key: the key ends with a line break");
    EXPECT(segops_options_set_api_key(o, KEY "\r\n"), SEGOPS_E_INVALID_ARG,
           "ends with a line break");
    EXPECT(segops_options_set_api_key(o, " " KEY), SEGOPS_E_INVALID_ARG,
           "contains white space or a control character");
    EXPECT(segops_options_set_api_key(o, "LASTERR_CANARY"), SEGOPS_E_CONFIG,
           "does not start with sk_ or pk_");
    EXPECT(segops_options_set_api_key(o, "sk_"), SEGOPS_E_CONFIG, "nothing after its sk_/pk_");
    /* Keys shorter than a prefix (fuzz_options read past the end of one). */
    EXPECT(segops_options_set_api_key(o, "s"), SEGOPS_E_CONFIG, "does not start with sk_ or pk_");
    EXPECT(segops_options_set_api_key(o, "sk"), SEGOPS_E_CONFIG, "does not start with sk_ or pk_");
    EXPECT(segops_options_set_api_key(o, ""), SEGOPS_E_INVALID_ARG, "the key is empty");
    EXPECT(segops_options_set_api_key(o, NULL), SEGOPS_E_INVALID_ARG, "the key is NULL");
    EXPECT(segops_options_set_api_key(o, "sk_caf\xc3\xa9"), SEGOPS_E_INVALID_ARG, "non-ASCII");
    EXPECT(segops_options_set_api_url(o, "api.segops.ai"), SEGOPS_E_INVALID_ARG,
           "segops_options_set_api_url: the url has no scheme");
    EXPECT(segops_options_set_api_url(o, "ftp://api.segops.ai"), SEGOPS_E_INVALID_ARG,
           "not http:// or https://");
    EXPECT(segops_options_set_api_url(o, "https://"), SEGOPS_E_INVALID_ARG, "has no host");
    EXPECT(segops_options_set_api_url(o, "https://u:LASTERR_CANARY@h"), SEGOPS_E_INVALID_ARG,
           "holds credentials");
    EXPECT(segops_options_set_api_url(o, "https://h/?q=1"), SEGOPS_E_INVALID_ARG,
           "query or fragment");
    EXPECT(segops_options_set_api_url(o, "https://h\n"), SEGOPS_E_INVALID_ARG,
           "ends with a line break");
    /* Ranges name the value and the range. */
    EXPECT(segops_options_set_batch_size(o, 0), SEGOPS_E_INVALID_ARG,
           "segops_options_set_batch_size: 0 is outside 1..100000");
    EXPECT(segops_options_set_flush_interval_ms(o, 0), SEGOPS_E_INVALID_ARG,
           "segops_options_set_flush_interval_ms: 0 is outside 1..3600000");
    EXPECT(segops_options_set_max_queue_events(o, 0), SEGOPS_E_INVALID_ARG,
           "max_queue_events: 0 is outside");
    EXPECT(segops_options_set_max_queue_bytes(o, 4095), SEGOPS_E_INVALID_ARG,
           "max_queue_bytes: 4095 is outside 4096..");
    EXPECT(segops_options_set_block_timeout_ms(o, 600001), SEGOPS_E_INVALID_ARG,
           "block_timeout_ms: 600001 is outside 0..600000");
    EXPECT(segops_options_set_max_event_bytes(o, 255), SEGOPS_E_INVALID_ARG,
           "max_event_bytes: 255 is outside 256..1048576");
    EXPECT(segops_options_set_max_request_bytes(o, 1), SEGOPS_E_INVALID_ARG,
           "max_request_bytes: 1 is outside");
    EXPECT(segops_options_set_max_retries(o, 101), SEGOPS_E_INVALID_ARG,
           "max_retries: 101 is outside 0..100");
    EXPECT(segops_options_set_retry_budget_ms(o, 0), SEGOPS_E_INVALID_ARG, "retry_budget_ms: 0");
    EXPECT(segops_options_set_retry_after_max_ms(o, 3600001), SEGOPS_E_INVALID_ARG,
           "retry_after_max_ms: 3600001");
    EXPECT(segops_options_set_connect_timeout_ms(o, 0), SEGOPS_E_INVALID_ARG,
           "connect_timeout_ms: 0");
    EXPECT(segops_options_set_request_timeout_ms(o, 0), SEGOPS_E_INVALID_ARG,
           "request_timeout_ms: 0");
    EXPECT(segops_options_set_sync_timeout_ms(o, 0), SEGOPS_E_INVALID_ARG, "sync_timeout_ms: 0");
    EXPECT(segops_options_set_max_requests_per_minute(o, 100001), SEGOPS_E_INVALID_ARG,
           "max_requests_per_minute: 100001 is outside 0..100000");
    EXPECT(segops_options_set_spool_max_bytes(o, 1), SEGOPS_E_INVALID_ARG, "spool_max_bytes: 1");
    EXPECT(segops_options_set_spool_max_age_ms(o, 999), SEGOPS_E_INVALID_ARG,
           "spool_max_age_ms: 999");
    EXPECT(segops_options_set_spool_fsync_ms(o, 60001), SEGOPS_E_INVALID_ARG,
           "spool_fsync_ms: 60001");
    EXPECT(segops_options_set_retry_backoff_ms(o, 50, 10), SEGOPS_E_INVALID_ARG,
           "base 50 ms and cap 10 ms break 1 <= base <= cap <= 600000");
    EXPECT(segops_options_set_overflow(o, (segops_overflow_t)7), SEGOPS_E_INVALID_ARG,
           "overflow: 7 is not a segops_overflow_t");
    EXPECT(segops_options_set_logger(o, NULL, (segops_log_level_t)9, NULL), SEGOPS_E_INVALID_ARG,
           "logger: min_level 9 is not a segops_log_level_t");
    EXPECT(segops_options_set_ca_file(o, ""), SEGOPS_E_INVALID_ARG, "ca_file: the path is empty");
    EXPECT(segops_options_set_ca_path(o, ""), SEGOPS_E_INVALID_ARG, "ca_path: the path is empty");
    EXPECT(segops_options_set_spool_dir(o, ""), SEGOPS_E_INVALID_ARG,
           "spool_dir: the path is empty");
    char long_path[4100];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = '\0';
    EXPECT(segops_options_set_ca_file(o, long_path), SEGOPS_E_INVALID_ARG, "longer than 4096");
    EXPECT(segops_options_set_proxy(o, "http://u:LASTERR_CANARY@p:3128 "), SEGOPS_E_INVALID_ARG,
           "proxy: the proxy url contains white space");
    EXPECT(segops_options_set_user_agent_suffix(o, ""), SEGOPS_E_INVALID_ARG,
           "user_agent_suffix: the suffix is empty");
    EXPECT(segops_options_set_user_agent_suffix(o, "app\t1"), SEGOPS_E_INVALID_ARG,
           "byte 3 is not printable ASCII");
    segops_options_free(o);

    /* Every setter with NULL opts. */
    EXPECT(segops_options_set_batch(NULL, true), SEGOPS_E_INVALID_ARG,
           "segops_options_set_batch: opts is NULL");
    EXPECT(segops_options_set_get_user(NULL, NULL, NULL), SEGOPS_E_INVALID_ARG,
           "set_get_user: opts is NULL");
    EXPECT(segops_options_set_on_error(NULL, NULL, NULL), SEGOPS_E_INVALID_ARG,
           "set_on_error: opts is NULL");
    EXPECT(segops_options_set_allow_insecure_http(NULL, true), SEGOPS_E_INVALID_ARG,
           "set_allow_insecure_http: opts is NULL");
    EXPECT(segops_options_set_spool_fsync_ms(NULL, 0), SEGOPS_E_INVALID_ARG,
           "set_spool_fsync_ms: opts is NULL");
    EXPECT(segops_options_new(NULL), SEGOPS_E_INVALID_ARG, "segops_options_new: out is NULL");
}

/* A success leaves the reason of the failure before it. */
static void test_success_leaves_the_reason(void **state) {
    (void)state;
    segops_options_t *o = new_options();
    EXPECT(segops_options_set_max_retries(o, 1000), SEGOPS_E_INVALID_ARG, "1000 is outside");
    assert_int_equal(segops_options_set_max_retries(o, 3), SEGOPS_OK);
    assert_int_equal(segops_options_set_api_url(o, "https://api.segops.ai"), SEGOPS_OK);
    expect_reason("max_retries: 1000 is outside 0..100");
    segops_options_free(o);
}

/* ---- segops_client_new: the real cause ---- */

static segops_err_t ignore_user(segops_user_t *user, void *userdata) {
    (void)user;
    (void)userdata;
    return SEGOPS_OK;
}

static segops_options_t *valid_options(void) {
    segops_options_t *o = new_options();
    assert_int_equal(segops_options_set_api_url(o, "http://127.0.0.1:9"), SEGOPS_OK);
    assert_int_equal(segops_options_set_api_key(o, KEY), SEGOPS_OK);
    return o;
}

/* client_new on o must fail with SEGOPS_E_CONFIG saying want; frees o. */
static void expect_config(segops_options_t *o, const char *want) {
    segops_client_t *client = NULL;
    EXPECT(segops_client_new(o, &client), SEGOPS_E_CONFIG, want);
    expect_reason("segops_client_new: ");
    assert_null(client);
    segops_options_free(o);
}

static void test_client_new_names_the_cause(void **state) {
    (void)state;
    segops_options_t *o = new_options();
    assert_int_equal(segops_options_set_api_key(o, KEY), SEGOPS_OK);
    expect_config(o, "segops_client_new: api_url is not set");

    /* The case: the URL was refused, so it is not "not set". */
    o = new_options();
    assert_int_equal(segops_options_set_api_key(o, KEY), SEGOPS_OK);
    assert_int_equal(segops_options_set_api_url(o, "api.segops.ai"), SEGOPS_E_INVALID_ARG);
    expect_config(o, "api_url was refused by its setter: the url has no scheme");

    /* A refusal after an accepted URL keeps that one: no error. */
    o = valid_options();
    assert_int_equal(segops_options_set_api_url(o, "api.segops.ai"), SEGOPS_E_INVALID_ARG);
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(o, &client), SEGOPS_OK);
    segops_client_free(client);
    segops_options_free(o);
    /* And a later accepted URL clears the refusal. */
    o = new_options();
    assert_int_equal(segops_options_set_api_url(o, "api.segops.ai"), SEGOPS_E_INVALID_ARG);
    assert_int_equal(segops_options_set_api_url(o, "http://127.0.0.1:9"), SEGOPS_OK);
    expect_config(o, "segops_client_new: api_key is not set");

    o = new_options();
    assert_int_equal(segops_options_set_api_url(o, "http://127.0.0.1:9"), SEGOPS_OK);
    assert_int_equal(segops_options_set_api_key(o, KEY "\n"), SEGOPS_E_INVALID_ARG);
    expect_config(o, "api_key was refused by its setter: the key ends with a line break");

    o = valid_options();
    assert_int_equal(segops_options_set_api_key(o, "pk_test_LASTERR_CANARY"), SEGOPS_OK);
    expect_config(o, "a pk_ key needs a get_user callback");
    o = valid_options();
    assert_int_equal(segops_options_set_api_key(o, "pk_test_LASTERR_CANARY"), SEGOPS_OK);
    assert_int_equal(segops_options_set_get_user(o, ignore_user, NULL), SEGOPS_OK);
    assert_int_equal(segops_options_set_api_url(o, "http://segops.example"), SEGOPS_OK);
    expect_config(o, "plain http:// to a non-loopback host");

    o = valid_options();
    assert_int_equal(segops_options_set_batch_size(o, 50), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_queue_events(o, 10), SEGOPS_OK);
    expect_config(o, "batch_size 50 is larger than max_queue_events 10");

    o = valid_options();
    assert_int_equal(segops_options_set_max_queue_bytes(o, 4096), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_event_bytes(o, 8192), SEGOPS_OK);
    expect_config(o, "max_event_bytes 8192 is larger than max_queue_bytes 4096");

    o = valid_options();
    assert_int_equal(segops_options_set_spool_dir(o, "/nonexistent-parent/segops-spool"),
                     SEGOPS_OK);
    segops_client_t *none = NULL;
    assert_int_equal(segops_client_new(o, &none), SEGOPS_E_CONFIG);
    expect_reason("segops_client_new: ");
    expect_reason("/nonexistent-parent/segops-spool");
    segops_options_free(o);

    EXPECT(segops_client_new(NULL, &none), SEGOPS_E_INVALID_ARG, "segops_client_new: opts is NULL");
    EXPECT(segops_client_new(o, NULL), SEGOPS_E_INVALID_ARG, "segops_client_new: out is NULL");
}

/* ---- track: which field ---- */

static void test_track_says_which_field(void **state) {
    (void)state;
    segops_options_t *o = valid_options();
    assert_int_equal(segops_options_set_max_event_bytes(o, 256), SEGOPS_OK);
    segops_client_t *c = NULL;
    assert_int_equal(segops_client_new(o, &c), SEGOPS_OK);
    segops_options_free(o);
    EXPECT(segops_track(NULL, "u", "e", NULL), SEGOPS_E_INVALID_ARG,
           "segops_track: client is NULL");
    EXPECT(segops_track(c, NULL, "e", NULL), SEGOPS_E_INVALID_ARG, "user_id is NULL");
    EXPECT(segops_track(c, "", "e", NULL), SEGOPS_E_INVALID_ARG, "user_id is empty or not UTF-8");
    EXPECT(segops_track(c, "u", "\xff", NULL), SEGOPS_E_INVALID_ARG,
           "event_type is empty or not UTF-8");
    EXPECT(segops_track(c, "u", "e", "[1]"), SEGOPS_E_INVALID_JSON,
           "the payload is not the text of one JSON object");
    char big[400];
    memset(big, ' ', sizeof big - 1);
    big[0] = '{';
    big[sizeof big - 2] = '}';
    big[sizeof big - 1] = '\0';
    EXPECT(segops_track(c, "u", "e", big), SEGOPS_E_TOO_LARGE, "over max_event_bytes 256");
    segops_event_t ev = {.user_id = "u", .event_type = "e", .occurred_at = "yesterday"};
    EXPECT(segops_track_event(c, &ev), SEGOPS_E_INVALID_ARG, "occurred_at is not an RFC 3339");
    segops_props_t *arr = NULL;
    assert_int_equal(segops_props_new_array(&arr), SEGOPS_OK);
    EXPECT(segops_track_props(c, "u", "e", arr), SEGOPS_E_INVALID_JSON, "holds an array");
    segops_props_free(arr);
    assert_int_equal(segops_shutdown(c, 0), SEGOPS_OK);
    EXPECT(segops_track(c, "u", "e", NULL), SEGOPS_E_STATE, "the client is shut down");
    EXPECT(segops_flush(c, 0), SEGOPS_E_STATE, "segops_flush: the client is shut down");
    segops_stats_t st;
    EXPECT(segops_client_stats(c, NULL), SEGOPS_E_INVALID_ARG, "segops_client_stats: out is NULL");
    assert_int_equal(segops_client_stats(c, &st), SEGOPS_OK);
    assert_int_equal(st.enqueued, 0);
    segops_client_free(c);
}

/* ---- per thread ---- */

typedef struct thread_case {
    pthread_barrier_t *failed; /* both threads have failed before either reads */
    size_t batch_size;         /* the refused value this thread sets */
    char seen[256];
} thread_case_t;

static void *fail_then_read(void *arg) {
    thread_case_t *t = arg;
    segops_options_t *o = NULL;
    if (segops_options_new(&o) == SEGOPS_OK) {
        (void)segops_options_set_batch_size(o, t->batch_size);
        segops_options_free(o);
    }
    pthread_barrier_wait(t->failed);
    snprintf(t->seen, sizeof t->seen, "%s", segops_last_error());
    return NULL;
}

static void *read_only(void *arg) {
    snprintf(arg, 8, "%s", segops_last_error());
    return NULL;
}

static void test_each_thread_has_its_own(void **state) {
    (void)state;
    segops_options_t *o = new_options();
    EXPECT(segops_options_set_max_retries(o, 500), SEGOPS_E_INVALID_ARG, "500 is outside");
    segops_options_free(o);
    pthread_barrier_t failed;
    pthread_barrier_init(&failed, NULL, 2);
    thread_case_t a = {.failed = &failed, .batch_size = 0};
    thread_case_t b = {.failed = &failed, .batch_size = 200000};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, fail_then_read, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, fail_then_read, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&failed);
    assert_string_equal(a.seen, "segops_options_set_batch_size: 0 is outside 1..100000");
    assert_string_equal(b.seen, "segops_options_set_batch_size: 200000 is outside 1..100000");
    /* The main thread's own reason is untouched by theirs. */
    expect_reason("segops_options_set_max_retries: 500 is outside 0..100");
    /* A thread whose calls never failed has none, whatever other threads did. */
    char fresh[8] = "unset";
    pthread_t tc;
    assert_int_equal(pthread_create(&tc, NULL, read_only, fresh), 0);
    pthread_join(tc, NULL);
    assert_string_equal(fresh, "");
}

/* ---- the payload builder, identities and signing helpers ---- */

static void test_helpers_say_why(void **state) {
    (void)state;
    segops_props_t *p = NULL, *a = NULL;
    EXPECT(segops_props_new(NULL), SEGOPS_E_INVALID_ARG, "segops_props_new: out is NULL");
    assert_int_equal(segops_props_new(&p), SEGOPS_OK);
    assert_int_equal(segops_props_new_array(&a), SEGOPS_OK);
    EXPECT(segops_props_set_int(NULL, "k", 1), SEGOPS_E_INVALID_ARG, "props is NULL");
    EXPECT(segops_props_set_int(p, NULL, 1), SEGOPS_E_INVALID_ARG, "an object builder needs a key");
    EXPECT(segops_props_set_int(a, "k", 1), SEGOPS_E_INVALID_ARG,
           "an array builder takes key NULL");
    EXPECT(segops_props_set_int(p, "\xc3", 1), SEGOPS_E_INVALID_ARG, "the key is not valid UTF-8");
    EXPECT(segops_props_set_string(p, "k", NULL), SEGOPS_E_INVALID_ARG,
           "use segops_props_set_null");
    EXPECT(segops_props_set_string(p, "k", "\xff"), SEGOPS_E_INVALID_ARG,
           "the string is not valid UTF-8");
    EXPECT(segops_props_set_double(p, "k", NAN), SEGOPS_E_INVALID_ARG, "NaN or infinite");
    EXPECT(segops_props_set_json(p, "k", "{"), SEGOPS_E_INVALID_JSON, "not one JSON value");
    EXPECT(segops_props_set_json(p, "k", NULL), SEGOPS_E_INVALID_JSON, "the text is NULL");
    EXPECT(segops_props_set_props(p, "k", p), SEGOPS_E_INVALID_ARG, "the builder itself");
    segops_value_t bad = {.type = (segops_value_type_t)99};
    EXPECT(segops_props_set_value(p, "k", 1, &bad), SEGOPS_E_INVALID_ARG, "type 99 is unknown");
    segops_props_free(a);
    segops_props_free(p);

    EXPECT(segops_user_set_id(NULL, "u"), SEGOPS_E_INVALID_ARG, "segops_user_set_id: user is NULL");
    EXPECT(segops_user_set_signature(NULL, "ab", 1), SEGOPS_E_INVALID_ARG,
           "segops_user_set_signature: user is NULL");

    static const char secret[] = "5ec2e7ca4a2e75ec2e7ca4a2e7c0ffee";
    segops_signed_user_t su;
    EXPECT(segops_sign_user_id(secret, "u", 0, NULL), SEGOPS_E_INVALID_ARG, "out is NULL");
    EXPECT(segops_sign_user_id("5ec", "u", 0, &su), SEGOPS_E_INVALID_ARG,
           "segops_sign_user_id: hmac_secret_hex has an odd number of hex digits");
    EXPECT(segops_sign_user_id("zz", "u", 0, &su), SEGOPS_E_INVALID_ARG, "is not hex");
    EXPECT(segops_sign_user_id("", "u", 0, &su), SEGOPS_E_INVALID_ARG, "hmac_secret_hex is empty");
    EXPECT(segops_sign_user_id(secret, "", 0, &su), SEGOPS_E_INVALID_ARG,
           "user_id is empty or not UTF-8");
    if (strstr(segops_last_error(), "5ec2e7")) fail_msg("the secret is in the reason");
    assert_int_equal(segops_sign_user_id(secret, "u", 1700000000, &su), SEGOPS_OK);
    EXPECT(segops_verify_user_id(secret, "v", su.user_id_sig, su.user_id_ts, 1700000000, 300),
           SEGOPS_E_AUTH, "segops_verify_user_id: the signature does not match");
    EXPECT(segops_verify_user_id(secret, "u", su.user_id_sig, su.user_id_ts, 1700000400, 300),
           SEGOPS_E_AUTH, "user_id_ts is 400 s from now, over the tolerance of 300 s");
    EXPECT(segops_verify_user_id(secret, "u", "xyz", su.user_id_ts, 0, 300), SEGOPS_E_INVALID_ARG,
           "user_id_sig is not 64 hex digits");
    char small[8];
    size_t needed = 0;
    EXPECT(segops_signed_user_json("u", &su, small, sizeof small, &needed), SEGOPS_E_TOO_LARGE,
           "buflen 8 is below the");
    EXPECT(segops_new_anonymous_id(NULL), SEGOPS_E_INVALID_ARG, "out is NULL");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_setter_says_why),
        cmocka_unit_test(test_success_leaves_the_reason),
        cmocka_unit_test(test_client_new_names_the_cause),
        cmocka_unit_test(test_track_says_which_field),
        cmocka_unit_test(test_each_thread_has_its_own),
        cmocka_unit_test(test_helpers_say_why),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
