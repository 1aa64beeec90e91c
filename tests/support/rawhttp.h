/* Raw HTTP requests to the local server with libcurl, for tests of the dev
 * server itself: what it answers to bodies and headers the library would never
 * send. Results are recorded, never asserted, so a caller on any thread may use
 * them. */
#ifndef SEGOPS_TEST_RAWHTTP_H
#define SEGOPS_TEST_RAWHTTP_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

typedef struct raw_resp {
    CURLcode rc;
    long status;
    char body[65536]; /* the first 64 KiB - 1 of the answer, NUL-terminated */
    size_t len;
    char retry_after[128]; /* the Retry-After value, "" when none */
    long connects;         /* new connections this request opened */
    int64_t elapsed_ms;
} raw_resp_t;

/* One request on handle h (a reused handle keeps its connection alive). body
 * NULL means GET; auth is the whole Authorization value or NULL. */
void raw_request_on(CURL *h, const char *url, const char *path, const char *auth, const char *body,
                    size_t body_len, long timeout_ms, raw_resp_t *r);

/* The same on a handle of its own; body is a C string. */
void raw_request(const char *url, const char *path, const char *auth, const char *body,
                 long timeout_ms, raw_resp_t *r);

#endif
