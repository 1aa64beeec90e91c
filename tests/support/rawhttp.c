/* Raw HTTP requests (see rawhttp.h). */
#include "rawhttp.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "testutil.h"

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    raw_resp_t *r = ud;
    size_t k = size * n;
    size_t room = sizeof r->body - 1 - r->len;
    size_t take = k < room ? k : room;
    memcpy(r->body + r->len, p, take);
    r->len += take;
    r->body[r->len] = '\0';
    return k;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    raw_resp_t *r = ud;
    size_t k = size * n;
    if (k > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        size_t start = 12, end = k;
        while (start < end && p[start] == ' ') start++;
        while (end > start && (p[end - 1] == '\r' || p[end - 1] == '\n')) end--;
        size_t len =
            end - start < sizeof r->retry_after - 1 ? end - start : sizeof r->retry_after - 1;
        memcpy(r->retry_after, p + start, len);
        r->retry_after[len] = '\0';
    }
    return k;
}

void raw_request_on(CURL *h, const char *url, const char *path, const char *auth, const char *body,
                    size_t body_len, long timeout_ms, raw_resp_t *r) {
    char full[256], hdr[1024];
    memset(r, 0, sizeof *r);
    snprintf(full, sizeof full, "%s%s", url, path);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (auth) {
        snprintf(hdr, sizeof hdr, "Authorization: %s", auth);
        headers = curl_slist_append(headers, hdr);
    }
    curl_easy_setopt(h, CURLOPT_URL, full);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    int64_t t0 = now_ms();
    r->rc = curl_easy_perform(h);
    r->elapsed_ms = now_ms() - t0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &r->connects);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
}

void raw_request(const char *url, const char *path, const char *auth, const char *body,
                 long timeout_ms, raw_resp_t *r) {
    CURL *h = curl_easy_init();
    if (!h) {
        memset(r, 0, sizeof *r);
        r->rc = CURLE_FAILED_INIT;
        return;
    }
    raw_request_on(h, url, path, auth, body, body ? strlen(body) : 0, timeout_ms, r);
    curl_easy_cleanup(h);
}
