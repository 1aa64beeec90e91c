/* See util.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "util.h"

#include <stdlib.h>
#include <string.h>

char *devsrv__dupstr(const char *s) { return s ? strdup(s) : NULL; }

char *devsrv__dupmem(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void devsrv__copy_trunc(char *dst, size_t cap, const char *src) {
    if (!src) src = "";
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

size_t devsrv__copy_out(const char *src, char *buf, size_t buflen) {
    if (!src) return 0;
    size_t n = strlen(src);
    if (buf && buflen > 0) devsrv__copy_trunc(buf, buflen, src);
    return n;
}

int64_t devsrv__clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec devsrv__deadline_in(int64_t ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}
