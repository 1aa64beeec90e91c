/* Helpers of the dev server's own tests (tests/integration/test_devserver_*.c): raw requests. */
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

static const char *const sk_keys[] = {SK, SK2};
static const devsrv_pk_key_t pk_keys[] = {
    {PK, NULL, false}, {PK_SIGNED, SECRET, true}, {PK_SECRET_ONLY, SECRET, false}};

void post_batch(devsrv_t *srv, const char *auth, const char *body, raw_resp_t *r) {
    raw_request(devsrv_url(srv), BATCH, auth, body, 10000, r);
}

char *batch_of(int n) {
    size_t cap = (size_t)n * 128 + 32;
    char *s = malloc(cap);
    size_t len = (size_t)snprintf(s, cap, "{\"events\":[");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s" EVENT("u-%d", "page_viewed"), i ? "," : "",
                                i);
    snprintf(s + len, cap - len, "]}");
    return s;
}

const char *one_event = "{\"events\":[" EVENT("u-1", "order_placed") "]}";

devsrv_t *start_with(const devsrv_config_t *extra) {
    devsrv_config_t cfg;
    if (extra)
        cfg = *extra;
    else
        memset(&cfg, 0, sizeof cfg);
    cfg.port = 0;
    cfg.sk_keys = sk_keys;
    cfg.sk_key_count = 2;
    cfg.pk_keys = pk_keys;
    cfg.pk_key_count = 3;
    cfg.keep_events = true;
    if (!cfg.max_body_bytes) cfg.max_body_bytes = MAX_BODY;
    if (!cfg.skip_event_type) cfg.skip_event_type = "schema_violation";
    devsrv_t *srv = NULL;
    assert_int_equal(devsrv_start(&cfg, &srv), 0);
    assert_non_null(srv);
    return srv;
}

int server_setup(void **state) {
    *state = start_with(NULL);
    return 0;
}

int server_teardown(void **state) {
    devsrv_stop(*state);
    return 0;
}

cJSON *mint(devsrv_t *srv, const char *pk, const char *body, raw_resp_t *r) {
    char auth[128];
    snprintf(auth, sizeof auth, "ApiKey %s", pk);
    raw_request(devsrv_url(srv), SESSION, auth, body, 10000, r);
    return r->status == 200 ? cJSON_Parse(r->body) : NULL;
}

void *bg_post(void *arg) {
    bg_t *bg = arg;
    raw_request(bg->url, BATCH, "ApiKey " SK, one_event, 20000, &bg->r);
    return NULL;
}

bool wait_batch_requests(devsrv_t *srv, uint64_t n) {
    for (int i = 0; i < 500; i++) {
        if (server_stats(srv).batch_requests >= n) return true;
        sleep_ms(10);
    }
    return false;
}
