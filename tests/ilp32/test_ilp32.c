/* The pure modules on a 32-bit (ILP32) target, where size_t is 32 bits: the
 * option setters and the client-time check (config.c), RFC 3339 (timefmt.c),
 * payload validation (json_text.c), event planning (event.c), the event pool
 * and queue (event_pool.c, queue.c) and the retry arithmetic (retry.c).
 *
 * Plain C without cmocka (no 32-bit cmocka is installed): run.sh builds this
 * file with the sources above using `cc -m32` and runs it; it prints one line
 * per failed check and exits 1 if any failed. */
#include "common.h"

#include <stdio.h>

#include "config.h"
#include "event.h"
#include "event_pool.h"
#include "json_text.h"
#include "queue.h"
#include "retry.h"
#include "timefmt.h"

/* crypto.h's wipe helpers live in sign.c, which needs OpenSSL (no 32-bit
 * build here); config.c only frees secrets through them. */
#include "crypto.h"
void segops__secure_wipe(void *p, size_t len) {
    volatile unsigned char *b = p;
    while (len--) *b++ = 0;
}
void segops__secret_free(char *secret) {
    if (secret) segops__secure_wipe(secret, strlen(secret));
    segops__free(secret);
}

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

#define CHECK_ERR(call, want)                                                                      \
    do {                                                                                           \
        segops_err_t got_ = (call);                                                                \
        if (got_ != (want)) {                                                                      \
            printf("FAIL %s:%d: %s returned %d (%s), want %s\n", __FILE__, __LINE__, #call,        \
                   (int)got_, segops_strerror(got_), #want);                                       \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* The documented cap of max_queue_bytes where size_t is 32 bits: 2 GiB. */
#define ILP32_QUEUE_BYTES_CAP ((size_t)1 << 31)

static void test_queue_bytes_bound(void) {
    segops_options_t *o = NULL;
    CHECK_ERR(segops_options_new(&o), SEGOPS_OK);
    if (!o) return;
    CHECK(o->max_queue_bytes == (size_t)32 << 20); /* the default survives the narrow size_t */
    CHECK_ERR(segops_options_set_max_queue_bytes(o, 4096), SEGOPS_OK);
    CHECK(o->max_queue_bytes == 4096);
    CHECK_ERR(segops_options_set_max_queue_bytes(o, (size_t)32 << 20), SEGOPS_OK);
    CHECK_ERR(segops_options_set_max_queue_bytes(o, (size_t)1 << 30), SEGOPS_OK);
    CHECK_ERR(segops_options_set_max_queue_bytes(o, ILP32_QUEUE_BYTES_CAP), SEGOPS_OK);
    CHECK(o->max_queue_bytes == ILP32_QUEUE_BYTES_CAP);
    CHECK_ERR(segops_options_set_max_queue_bytes(o, 4095), SEGOPS_E_INVALID_ARG);
    CHECK_ERR(segops_options_set_max_queue_bytes(o, ILP32_QUEUE_BYTES_CAP + 1),
              SEGOPS_E_INVALID_ARG);
    CHECK_ERR(segops_options_set_max_queue_bytes(o, SIZE_MAX), SEGOPS_E_INVALID_ARG);
    CHECK(o->max_queue_bytes == ILP32_QUEUE_BYTES_CAP); /* a refusal changes nothing */
    /* The queue reserves an event's bytes before it compares them with the
     * bound (client.c): the cap plus the largest event must not wrap. */
    CHECK(ILP32_QUEUE_BYTES_CAP <= SIZE_MAX - 1048576);

    CHECK_ERR(segops_options_set_max_request_bytes(o, (size_t)16 << 20), SEGOPS_OK);
    CHECK_ERR(segops_options_set_max_request_bytes(o, ((size_t)16 << 20) + 1),
              SEGOPS_E_INVALID_ARG);
    CHECK_ERR(segops_options_set_max_event_bytes(o, 1048576), SEGOPS_OK);
    CHECK_ERR(segops_options_set_max_queue_events(o, 10000000), SEGOPS_OK);
    CHECK_ERR(segops_options_set_max_queue_events(o, 10000001), SEGOPS_E_INVALID_ARG);
    segops_options_free(o);
}

static void test_client_time_check(void) {
    segops_options_t *o = NULL;
    CHECK_ERR(segops_options_new(&o), SEGOPS_OK);
    if (!o) return;
    char why[160] = "";
    CHECK_ERR(segops_options_set_api_url(o, "http://127.0.0.1:1"), SEGOPS_OK);
    CHECK_ERR(segops_options_set_api_key(o, "sk_test_ilp32"), SEGOPS_OK);
    CHECK_ERR(segops__config_check(o, why, sizeof why), SEGOPS_OK);
    CHECK_ERR(segops_options_set_max_queue_bytes(o, ILP32_QUEUE_BYTES_CAP), SEGOPS_OK);
    CHECK_ERR(segops_options_set_max_event_bytes(o, 1048576), SEGOPS_OK);
    CHECK_ERR(segops__config_check(o, why, sizeof why), SEGOPS_OK);
    CHECK_ERR(segops_options_set_max_queue_bytes(o, 4096), SEGOPS_OK);
    CHECK_ERR(segops__config_check(o, why, sizeof why), SEGOPS_E_CONFIG);
    CHECK(strstr(why, "max_event_bytes") != NULL);
    segops_options_free(o);
}

static void test_time_text(void) {
    const int64_t max_ms = INT64_C(253402300799999); /* 9999-12-31T23:59:59.999Z */
    int64_t ms = 0;
    CHECK(segops__rfc3339_parse_ms("9999-12-31T23:59:59.999Z", 24, &ms) && ms == max_ms);
    CHECK(segops__rfc3339_parse_ms("2106-02-07T06:28:16Z", 20, &ms) &&
          ms == INT64_C(4294967296000)); /* past 2^32 seconds */
    char out[SEGOPS__RFC3339_MS_LEN + 1];
    segops__rfc3339_format_ms(max_ms, out);
    CHECK(strcmp(out, "9999-12-31T23:59:59.999Z") == 0);
    int64_t s = 0;
    CHECK(segops__http_date_parse("Fri, 31 Dec 9999 23:59:59 GMT", 29, &s) &&
          s == INT64_C(253402300799));
}

static void test_payload_and_event(void) {
    /* {"k":[[...]]} with `depth` levels in all: 64 pass, 65 do not. */
    for (int depth = 64; depth <= 65; depth++) {
        char doc[200];
        size_t n = 0;
        memcpy(doc, "{\"k\":", 5);
        n = 5;
        for (int i = 1; i < depth; i++) doc[n++] = '[';
        for (int i = 1; i < depth; i++) doc[n++] = ']';
        doc[n++] = '}';
        CHECK_ERR(segops__json_check_object(doc, n),
                  depth <= 64 ? SEGOPS_OK : SEGOPS_E_INVALID_JSON);
    }

    segops_event_t ev = {.user_id = "u-1",
                         .event_type = "order_placed",
                         .payload_json = "{\"total\":42}",
                         .occurred_at = "2106-02-07T06:28:16.5Z"};
    segops__event_plan_t plan;
    CHECK_ERR(segops__event_prepare(&ev, 32768, 0, &plan), SEGOPS_OK);
    CHECK(strcmp(plan.stamp, "2106-02-07T06:28:16.500Z") == 0);
    CHECK_ERR(segops__event_prepare(&ev, 64, 0, &plan), SEGOPS_E_TOO_LARGE);
}

/* The largest event (1 MiB) in its own pool block, queued and counted. */
static void test_pool_and_queue(void) {
    segops__event_pool_t pool;
    segops__event_pool_init(&pool);
    segops__queue_t q;
    segops__queue_init(&q);
    const size_t sizes[] = {100, 1048576, 5000, 60000};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        segops__event_t *ev = segops__event_pool_alloc(&pool, sizes[i]);
        CHECK(ev != NULL);
        if (!ev) continue;
        CHECK(ev->len == sizes[i]);
        memset(ev->json, 'x', sizes[i]);
        ev->json[sizes[i]] = '\0';
        segops__queue_push(&q, ev);
        total += sizes[i];
    }
    CHECK(q.count == 4);
    CHECK(q.bytes == total);
    for (segops__event_t *ev; (ev = segops__queue_pop(&q)) != NULL;) {
        CHECK(strlen(ev->json) == ev->len);
        segops__event_release(&ev, 1);
    }
    CHECK(q.count == 0 && q.bytes == 0);
    CHECK(segops__event_pool_alloc(&pool, SIZE_MAX - 8) == NULL); /* no wrap to a tiny block */
    segops__event_pool_destroy(&pool);
}

static void test_retry_arithmetic(void) {
    /* Large attempts and caps stay in 32 bits without wrapping. */
    CHECK(segops__retry_backoff_ms(500, 600000, 40, NULL) == 600000);
    CHECK(segops__retry_backoff_ms(500, 600000, 11, NULL) == 512000);
    CHECK(segops__retry_backoff_ms(1, 600000, 33, NULL) == 600000);
    uint32_t wait = 0;
    CHECK(segops__retry_after_parse("99999999999999999999", 20, 0, 3600000, &wait) &&
          wait == 3600000);
    CHECK(segops__retry_after_parse("Fri, 31 Dec 9999 23:59:59 GMT", 29, INT64_C(1795675329),
                                    300000, &wait) &&
          wait == 300000);
}

int main(void) {
    if (sizeof(size_t) != 4) {
        printf("FAIL: built with a %u-byte size_t; this test is for ILP32 (-m32)\n",
               (unsigned)sizeof(size_t));
        return 1;
    }
    test_queue_bytes_bound();
    test_client_time_check();
    test_time_text();
    test_payload_and_event();
    test_pool_and_queue();
    test_retry_arithmetic();
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("ILP32: all checks passed\n");
    return 0;
}
