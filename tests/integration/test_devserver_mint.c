/* The dev server's pk_ handshake: minting, rejections, signed mints, Bearer rewrite, expiry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <segops/segops.h>

#include "devserver.h"
#include "testutil.h"

#include "cJSON.h"
#include "rawhttp.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "devserver_raw.h"

static void test_mint_and_bearer_rewrite(void **state) {
    devsrv_t *srv = *state;
    raw_resp_t r;
    const char *mint_body = "{\"user_id\":\"u-42\",\"anonymous_id\":\"a-9\"}";
    cJSON *ans = mint(srv, PK, mint_body, &r);
    assert_non_null(ans);
    const char *token = cJSON_GetObjectItemCaseSensitive(ans, "token")->valuestring;
    const char *expires = cJSON_GetObjectItemCaseSensitive(ans, "expires_at")->valuestring;
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ans, "uid")->valuestring, "u-42");
    assert_true(strlen(token) >= 32);
    /* RFC 3339 UTC with milliseconds: 2026-11-26T06:42:09.123Z */
    assert_int_equal(strlen(expires), 24);
    assert_int_equal(expires[19], '.');
    assert_int_equal(expires[23], 'Z');

    char buf[512];
    assert_int_equal(devsrv_last_token(srv, buf, sizeof buf), strlen(token));
    assert_string_equal(buf, token);
    assert_int_equal(devsrv_last_mint_body(srv, buf, sizeof buf), strlen(mint_body));
    assert_string_equal(buf, mint_body);

    char auth[256];
    snprintf(auth, sizeof auth, "Bearer %s", token);
    const char *body = "{\"events\":[" EVENT("spoofed", "order_placed") "]}";
    post_batch(srv, auth, body, &r);
    assert_int_equal(r.status, 200);
    devsrv_event_t ev;
    assert_int_equal(devsrv_event_at(srv, 0, &ev), 0);
    assert_string_equal(ev.user_id, "u-42");
    assert_non_null(strstr(ev.raw_json, "spoofed")); /* raw stays as sent */
    devsrv_event_free(&ev);

    /* Revoked tokens get 401, both ways of revoking. */
    devsrv_revoke_tokens(srv);
    post_batch(srv, auth, body, &r);
    assert_int_equal(r.status, 401);
    cJSON_Delete(ans);

    ans = mint(srv, PK, "{\"anonymous_id\":\"a-1\"}", &r);
    assert_non_null(ans);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ans, "uid")->valuestring, "anon:a-1");
    snprintf(auth, sizeof auth, "Bearer %s",
             cJSON_GetObjectItemCaseSensitive(ans, "token")->valuestring);
    post_batch(srv, auth, body, &r);
    assert_int_equal(r.status, 200);
    raw_request(devsrv_url(srv), "/_dev/revoke", NULL, "", 5000, &r);
    assert_int_equal(r.status, 200);
    post_batch(srv, auth, body, &r);
    assert_int_equal(r.status, 401);
    cJSON_Delete(ans);

    ans = mint(srv, PK, "{}", &r);
    assert_non_null(ans);
    assert_memory_equal(cJSON_GetObjectItemCaseSensitive(ans, "uid")->valuestring, "anon:", 5);
    cJSON_Delete(ans);

    devsrv_stats_t st = server_stats(srv);
    assert_int_equal(st.mints, 3);
    assert_int_equal(st.mint_requests, 3);
    assert_int_equal(st.auth_failures, 2);
}

static void test_mint_rejections(void **state) {
    devsrv_t *srv = *state;
    raw_resp_t r;
    assert_null(mint(srv, "pk_unknown", "{}", &r));
    assert_int_equal(r.status, 401);
    assert_null(mint(srv, SK, "{}", &r)); /* the handshake takes pk_ keys only */
    assert_int_equal(r.status, 401);

    static const char *const bad[] = {
        "[]",
        "nope",
        "{\"user_id\":5}",
        "{\"user_id\":\"\"}",
        "{\"user_id\":\"u\",\"user_id_sig\":\"ABC\",\"user_id_ts\":1}",
        "{\"user_id\":\"u\",\"user_id_sig\":"
        "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\","
        "\"user_id_ts\":\"1764139329\"}",
        "{\"user_id\":\"u\",\"user_id_sig\":"
        "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\","
        "\"user_id_ts\":1764139329.5}",
        "{\"user_id\":\"u\",\"user_id_sig\":"
        "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\","
        "\"user_id_ts\":1.7e9}",
        "{\"user_id\":\"u\",\"user_id_sig\":"
        "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(mint(srv, PK_SECRET_ONLY, bad[i], &r));
        assert_int_equal(r.status, 400);
    }
    assert_int_equal(server_stats(srv).mints, 0);
}

static void test_signed_mint(void **state) {
    devsrv_t *srv = *state;
    raw_resp_t r;
    char body[512];
    segops_signed_user_t su;

    assert_null(mint(srv, PK_SIGNED, "{\"user_id\":\"u-7\"}", &r));
    assert_int_equal(r.status, 401);

    assert_int_equal(segops_sign_user_id(SECRET, "u-7", 0, &su), SEGOPS_OK);
    snprintf(body, sizeof body, "{\"user_id\":\"u-7\",\"user_id_sig\":\"%s\",\"user_id_ts\":%lld}",
             su.user_id_sig, (long long)su.user_id_ts);
    cJSON *ans = mint(srv, PK_SIGNED, body, &r);
    assert_non_null(ans);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(ans, "uid")->valuestring, "u-7");
    cJSON_Delete(ans);

    /* Signed for someone else. */
    snprintf(body, sizeof body, "{\"user_id\":\"u-8\",\"user_id_sig\":\"%s\",\"user_id_ts\":%lld}",
             su.user_id_sig, (long long)su.user_id_ts);
    assert_null(mint(srv, PK_SIGNED, body, &r));
    assert_int_equal(r.status, 401);
    assert_null(mint(srv, PK_SECRET_ONLY, body, &r)); /* a bad signature is never ignored */
    assert_int_equal(r.status, 401);

    /* Stale: outside the 5-minute window. */
    assert_int_equal(segops_sign_user_id(SECRET, "u-7", (int64_t)time(NULL) - 1000, &su),
                     SEGOPS_OK);
    snprintf(body, sizeof body, "{\"user_id\":\"u-7\",\"user_id_sig\":\"%s\",\"user_id_ts\":%lld}",
             su.user_id_sig, (long long)su.user_id_ts);
    assert_null(mint(srv, PK_SIGNED, body, &r));
    assert_int_equal(r.status, 401);

    /* Unsigned mints are fine where signatures are optional. */
    ans = mint(srv, PK_SECRET_ONLY, "{\"user_id\":\"u-7\"}", &r);
    assert_non_null(ans);
    cJSON_Delete(ans);
    assert_int_equal(server_stats(srv).auth_failures, 4);
}

static void test_token_expiry(void **state) {
    (void)state;
    devsrv_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.token_lifetime_s = 1;
    devsrv_t *srv = start_with(&cfg);
    raw_resp_t r;
    cJSON *ans = mint(srv, PK, "{\"user_id\":\"u\"}", &r);
    assert_non_null(ans);
    char auth[256];
    snprintf(auth, sizeof auth, "Bearer %s",
             cJSON_GetObjectItemCaseSensitive(ans, "token")->valuestring);
    cJSON_Delete(ans);
    post_batch(srv, auth, one_event, &r);
    assert_int_equal(r.status, 200);
    sleep_ms(1100);
    post_batch(srv, auth, one_event, &r);
    assert_int_equal(r.status, 401);
    devsrv_stop(srv);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mint_and_bearer_rewrite, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_mint_rejections, server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_signed_mint, server_setup, server_teardown),
        cmocka_unit_test(test_token_expiry),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
