/*
 * devserver — a local SegOps server (see devserver.h and ../shared/PROTOCOL.md).
 *
 * libmicrohttpd runs one thread per connection, so a scripted delay or silence
 * blocks only its own connection. One mutex (mu) guards every piece of mutable
 * state; a second one (ctl_mu) only serialises starting and stopping the daemon,
 * which must happen without mu held because stopping joins handler threads that
 * need mu. Handlers that wait (delays, "no answer") watch `active` and `epoch` so
 * pause and stop never hang on them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "devserver.h"

#include <segops/segops.h>

#include <microhttpd.h>

#include "cJSON.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS_PER_REQUEST 500 /* the real service's limit */
#define DEFAULT_MAX_BODY ((size_t)5 * 1024 * 1024)
#define DEFAULT_TOKEN_TTL_S 900
#define SIG_TOLERANCE_S 300
#define SMALL_BODY_MAX ((size_t)1024 * 1024) /* mint and /_dev bodies */
#define IDLE_TIMEOUT_S 120u                  /* frees threads of idle keep-alive connections */
#define WAIT_SLICE_MS 50
#define TLS_FILE_MAX ((size_t)1024 * 1024)

enum route { R_BATCH, R_SESSION, R_STATS, R_SCRIPT, R_REVOKE, R_NOT_FOUND, R_BAD_METHOD };

struct fault {
    devsrv_fault_kind_t kind;
    int status;
    char *retry_after;
    char *body;
    uint32_t delay_ms;
};

struct token {
    char *token;
    char *uid;
    int64_t expires_ms; /* wall clock, like the expires_at we hand out */
};

struct pk_key {
    char *key;
    char *secret;
    bool require_signed;
};

struct devsrv {
    /* Set by devsrv_start, read-only afterwards. */
    char **sk;
    size_t nsk;
    struct pk_key *pk;
    size_t npk;
    uint32_t token_ttl_s;
    size_t max_body;
    char *skip_type;
    bool keep_events;
    bool log_requests;
    char *tls_cert;
    char *tls_key;
    FILE *record;
    bool record_owned;
    uint16_t port;
    char url[48];

    pthread_mutex_t ctl_mu;
    struct MHD_Daemon *daemon; /* ctl_mu */

    pthread_mutex_t mu;
    pthread_cond_t cond; /* events recorded, or active/epoch changed */
    bool active;         /* false while paused or stopping */
    uint64_t epoch;      /* bumped by every pause/stop: waiting handlers give up */
    uint32_t answer_delay_ms;
    struct fault *faults;
    size_t fault_head, fault_len, fault_cap;
    struct token *tokens;
    size_t ntokens, token_cap;
    char *last_token;
    char *last_mint_body;
    devsrv_expires_style_t expires_style;
    int mint_fail_status;
    uint32_t mint_fail_count;       /* session requests still to answer mint_fail_status */
    char mint_fail_retry_after[64]; /* Retry-After on those answers, "" = none */
    devsrv_stats_t stats;
    devsrv_last_headers_t headers;
    devsrv_event_t *events;
    size_t nevents, event_cap;
};

/* Per-request state, owned by libmicrohttpd's con_cls slot. */
struct req {
    enum route route;
    char *body;
    size_t len, cap;
    size_t limit;
    uint64_t total; /* bytes the client sent, including what was discarded */
    bool too_large;
    uint64_t epoch;
};

/* ------------------------------------------------------------------ helpers */

static char *dupstr(const char *s) { return s ? strdup(s) : NULL; }

static char *dupmem(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static int64_t clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void copy_trunc(char *dst, size_t cap, const char *src) {
    if (!src) src = "";
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void logline(const devsrv_t *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void logline(const devsrv_t *srv, const char *fmt, ...) {
    if (!srv->log_requests) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "devsrv: %s\n", line);
}

/* libmicrohttpd's own diagnostics are mostly client disconnects: noise in tests. */
static void mhd_log(void *cls, const char *fmt, va_list ap) {
    const devsrv_t *srv = cls;
    if (!srv->log_requests) return;
    fputs("devsrv: mhd: ", stderr);
    vfprintf(stderr, fmt, ap);
}

static bool random_bytes(unsigned char *buf, size_t n) {
    while (n > 0) {
        ssize_t got = getrandom(buf, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        buf += got;
        n -= (size_t)got;
    }
    return true;
}

static void hex_encode(const unsigned char *in, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool new_uuid(char out[37]) {
    unsigned char b[16];
    if (!random_bytes(b, sizeof b)) return false;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char hex[33];
    hex_encode(b, sizeof b, hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
    return true;
}

static void format_rfc3339_ms(int64_t ms, char out[64]) {
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* expires_at as the configured style writes it. */
static void format_expires(int64_t ms, devsrv_expires_style_t style, char out[64]) {
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    switch (style) {
    case DEVSRV_EXPIRES_SECONDS_Z:
        gmtime_r(&secs, &tm);
        strftime(out, 64, "%Y-%m-%dT%H:%M:%SZ", &tm);
        break;
    case DEVSRV_EXPIRES_MICROS_Z:
        gmtime_r(&secs, &tm);
        snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03d456Z", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
        break;
    case DEVSRV_EXPIRES_OFFSET:
        secs += 2 * 3600;
        gmtime_r(&secs, &tm);
        snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+02:00", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
        break;
    case DEVSRV_EXPIRES_GARBAGE: snprintf(out, 64, "in 15 minutes"); break;
    case DEVSRV_EXPIRES_PAST:
        format_rfc3339_ms(ms - 3600 * 1000 - 900 * 1000, out); /* the token still works */
        break;
    case DEVSRV_EXPIRES_MS_Z:
    default: format_rfc3339_ms(ms, out); break;
    }
}

static bool read_digits(const char **pp, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*pp)[i];
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    *pp += n;
    *out = v;
    return true;
}

static bool expect_char(const char **pp, const char *set) {
    if (**pp == '\0' || !strchr(set, **pp)) return false;
    (*pp)++;
    return true;
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
static bool rfc3339_valid(const char *s) {
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se, oh, om;
    const char *p = s;
    if (!read_digits(&p, 4, &y) || !expect_char(&p, "-") || !read_digits(&p, 2, &mo) ||
        !expect_char(&p, "-") || !read_digits(&p, 2, &d) || !expect_char(&p, "Tt") ||
        !read_digits(&p, 2, &h) || !expect_char(&p, ":") || !read_digits(&p, 2, &mi) ||
        !expect_char(&p, ":") || !read_digits(&p, 2, &se))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap) return false;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9') return false;
        while (*p >= '0' && *p <= '9') p++;
    }
    if (*p == 'Z' || *p == 'z') return p[1] == '\0';
    if (!expect_char(&p, "+-") || !read_digits(&p, 2, &oh) || !expect_char(&p, ":") ||
        !read_digits(&p, 2, &om))
        return false;
    return *p == '\0' && oh <= 23 && om <= 59;
}

/* -------------------------------------------------------- JSON span scanner
 * cJSON reports no offsets, so raw_json comes from this scanner. It runs only
 * over text cJSON already accepted (or guards every step with `end`), so it
 * needs to find boundaries, not to validate. */

struct span {
    const char *start, *end;
};

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* p at the opening quote; returns just past the closing one, or NULL. */
static const char *skip_string(const char *p, const char *end) {
    for (p++; p < end; p++) {
        if (*p == '\\') {
            p++;
            continue;
        }
        if (*p == '"') return p + 1;
    }
    return NULL;
}

/* p at the first character of a value; returns just past its end, or NULL. */
static const char *skip_value(const char *p, const char *end) {
    if (p >= end) return NULL;
    if (*p == '"') return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            char c = *p;
            if (c == '"') {
                p = skip_string(p, end);
                if (!p) return NULL;
                continue;
            }
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0) return p + 1;
            }
            p++;
        }
        return NULL;
    }
    const char *s = p;
    while (p < end && *p != '\0' && !strchr(",:}] \t\r\n", *p)) p++;
    return p > s ? p : NULL;
}

/* Compares a raw JSON key token (with quotes) to name, decoding escapes if any. */
static bool key_equals(const char *ks, const char *ke, const char *name) {
    size_t n = (size_t)(ke - ks) - 2;
    if (!memchr(ks + 1, '\\', n)) return n == strlen(name) && memcmp(ks + 1, name, n) == 0;
    cJSON *k = cJSON_ParseWithLength(ks, (size_t)(ke - ks));
    bool eq = cJSON_IsString(k) && strcmp(k->valuestring, name) == 0;
    cJSON_Delete(k);
    return eq;
}

/* Span of the first top-level member `name` of an object, like
 * cJSON_GetObjectItemCaseSensitive picks the first of duplicate keys. */
static bool find_member(const char *p, const char *end, const char *name, struct span *out) {
    p = skip_ws(p, end);
    if (p >= end || *p != '{') return false;
    p = skip_ws(p + 1, end);
    while (p < end && *p == '"') {
        const char *ks = p, *ke = skip_string(p, end);
        if (!ke) return false;
        p = skip_ws(ke, end);
        if (p >= end || *p != ':') return false;
        p = skip_ws(p + 1, end);
        const char *ve = skip_value(p, end);
        if (!ve) return false;
        if (key_equals(ks, ke, name)) {
            out->start = p;
            out->end = ve;
            return true;
        }
        p = skip_ws(ve, end);
        if (p >= end || *p != ',') return false;
        p = skip_ws(p + 1, end);
    }
    return false;
}

/* ----------------------------------------------------------- batch scanner
 * Checks a batch body in one pass, without building a tree: the verdicts are
 * exactly those of the cJSON tree the server used to build for every batch
 * (parse failure, root type, first "events" member, per-event rules). So it
 * follows cJSON 1.7's grammar, quirks included: whitespace is any byte 1..32,
 * a leading UTF-8 BOM is skipped, a number is what strtod takes from the run
 * of [0-9+-.eE] after a '-' or digit, containers nest at most 1000 deep
 * (CJSON_NESTING_LIMIT), raw control bytes are allowed in strings, and a key
 * names the first member whose decoded key compares equal with strcmp. A
 * string with a backslash (rare) is validated and decoded by cJSON itself. */

#define SCAN_NESTING_LIMIT 1000 /* CJSON_NESTING_LIMIT */

struct scan_str {
    const char *s; /* the raw text between the quotes */
    size_t n;
    char *dec; /* decoded by cJSON (malloc'd) when the raw text has escapes */
};

struct event_scan {
    struct span span;
    bool valid; /* event_valid() of the tree */
    bool skip;  /* valid, and event_type is skip_event_type */
};

struct batch_scan {
    const char *skip_type;
    bool events_found; /* the first "events" member of the root */
    bool events_array; /* ... and it is an array */
    int count;         /* its elements (only the first MAX_EVENTS_PER_REQUEST are kept) */
    struct event_scan ev[MAX_EVENTS_PER_REQUEST];
};

static const char *scan_value(const char *p, const char *end, int depth);

static inline const char *scan_ws(const char *p, const char *end) {
    while (p < end && (unsigned char)*p <= 32) p++;
    return p;
}

static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Decodes the string token [s, e) (quotes included) with cJSON; false when
 * cJSON rejects it (bad escape, bad surrogate). *out gets the text if asked. */
static bool decode_string(const char *s, const char *e, char **out) {
    cJSON *item = cJSON_ParseWithLength(s, (size_t)(e - s));
    bool ok = cJSON_IsString(item);
    if (ok && out) {
        *out = item->valuestring;
        item->valuestring = NULL; /* keep it; cJSON_Delete skips NULL */
    }
    cJSON_Delete(item);
    return ok;
}

/* p at the opening quote; returns just past the closing one, or NULL. When
 * str is given it receives the text (decoded when it has escapes). */
static const char *scan_string(const char *p, const char *end, struct scan_str *str) {
    const char *s = p;
    bool esc = false;
    for (p++; p < end; p++) {
        if (*p == '"') {
            p++;
            if (esc && !decode_string(s, p, str ? &str->dec : NULL)) return NULL;
            if (str) {
                str->s = s + 1;
                str->n = (size_t)(p - s) - 2;
            }
            return p;
        }
        if (*p == '\\') {
            esc = true;
            p++;
        }
    }
    return NULL;
}

/* What strtod accepts of a number at p ('-' or a digit), or NULL. */
static const char *scan_number(const char *p, const char *end) {
    size_t digits = 0;
    if (*p == '-') p++;
    for (; p < end && is_digit(*p); p++) digits++;
    if (p < end && *p == '.')
        for (p++; p < end && is_digit(*p); p++) digits++;
    if (digits == 0) return NULL;
    if (p < end && (*p == 'e' || *p == 'E')) {
        const char *x = p + 1;
        if (x < end && (*x == '+' || *x == '-')) x++;
        if (x < end && is_digit(*x)) {
            while (x < end && is_digit(*x)) x++;
            p = x;
        }
    }
    return p;
}

/* Does the key token's decoded text equal name (strcmp, as cJSON looks up)? */
static bool scan_key_is(const struct scan_str *k, const char *name, size_t name_len) {
    if (k->dec) return strcmp(k->dec, name) == 0;
    return k->n == name_len && memcmp(k->s, name, name_len) == 0;
}

/* Object or array at p (p at '{' or '['); depth = containers already open. */
static const char *scan_container(const char *p, const char *end, int depth) {
    if (depth >= SCAN_NESTING_LIMIT) return NULL;
    bool object = *p == '{';
    char close = object ? '}' : ']';
    p = scan_ws(p + 1, end);
    if (p < end && *p == close) return p + 1;
    for (;;) {
        if (object) {
            if (p >= end || *p != '"') return NULL;
            p = scan_string(p, end, NULL);
            if (!p) return NULL;
            p = scan_ws(p, end);
            if (p >= end || *p != ':') return NULL;
            p = scan_ws(p + 1, end);
        }
        p = scan_value(p, end, depth + 1);
        if (!p) return NULL;
        p = scan_ws(p, end);
        if (p < end && *p == ',') {
            p = scan_ws(p + 1, end);
            continue;
        }
        return (p < end && *p == close) ? p + 1 : NULL;
    }
}

static const char *scan_value(const char *p, const char *end, int depth) {
    if (p >= end) return NULL;
    switch (*p) {
    case 'n': return end - p >= 4 && memcmp(p, "null", 4) == 0 ? p + 4 : NULL;
    case 'f': return end - p >= 5 && memcmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 't': return end - p >= 4 && memcmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case '"': return scan_string(p, end, NULL);
    case '{':
    case '[': return scan_container(p, end, depth);
    default: return (*p == '-' || is_digit(*p)) ? scan_number(p, end) : NULL;
    }
}

/* The members of an event the server looks at, first occurrence of each. */
enum { F_USER, F_TYPE, F_AT, F_PAYLOAD, F_ANON, F_COUNT };

struct field {
    bool seen;
    char kind; /* 's' string, 'o' object, 'x' anything else */
    struct scan_str str;
};

static bool field_nonempty(const struct field *f) {
    return f->seen && f->kind == 's' && (f->str.dec ? f->str.dec[0] != '\0' : f->str.n > 0);
}

static bool field_rfc3339(const struct field *f) {
    if (!f->seen || f->kind != 's') return false;
    if (f->str.dec) return rfc3339_valid(f->str.dec);
    char small[64];
    char *s = f->str.n < sizeof small ? small : malloc(f->str.n + 1);
    if (!s) return false;
    memcpy(s, f->str.s, f->str.n);
    s[f->str.n] = '\0';
    bool ok = rfc3339_valid(s);
    if (s != small) free(s);
    return ok;
}

/* One element of the events array (p at '{'), at the given depth. Fills the
 * verdicts of event_valid() and skip_event_type into *ev. */
static const char *scan_event(const char *p, const char *end, int depth, const char *skip_type,
                              struct event_scan *ev) {
    static const struct {
        const char *name;
        size_t len;
    } names[F_COUNT] = {{"user_id", 7},
                        {"event_type", 10},
                        {"occurred_at", 11},
                        {"payload", 7},
                        {"anonymous_id", 12}};
    struct field f[F_COUNT];
    memset(f, 0, sizeof f);
    const char *ret = NULL;
    ev->valid = ev->skip = false;
    if (depth >= SCAN_NESTING_LIMIT) return NULL;
    p = scan_ws(p + 1, end);
    if (p < end && *p == '}') {
        ret = p + 1;
        goto done;
    }
    for (;;) {
        if (p >= end || *p != '"') goto done;
        struct scan_str key = {NULL, 0, NULL};
        p = scan_string(p, end, &key);
        if (!p) goto done;
        int which = -1;
        for (int i = 0; i < F_COUNT; i++)
            if (!f[i].seen && scan_key_is(&key, names[i].name, names[i].len)) {
                which = i;
                break;
            }
        /* A later duplicate of a key already seen is ignored, like the lookup does. */
        free(key.dec);
        p = scan_ws(p, end);
        if (p >= end || *p != ':') goto done;
        p = scan_ws(p + 1, end);
        if (which >= 0 && p < end && *p == '"') {
            f[which].seen = true;
            f[which].kind = 's';
            p = scan_string(p, end, &f[which].str);
        } else {
            if (which >= 0) {
                f[which].seen = true;
                f[which].kind = (p < end && *p == '{') ? 'o' : 'x';
            }
            p = scan_value(p, end, depth + 1);
        }
        if (!p) goto done;
        p = scan_ws(p, end);
        if (p < end && *p == ',') {
            p = scan_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == '}') ret = p + 1;
        goto done;
    }
done:
    if (ret) {
        ev->valid = field_nonempty(&f[F_USER]) && field_nonempty(&f[F_TYPE]) &&
                    field_rfc3339(&f[F_AT]) && f[F_PAYLOAD].seen && f[F_PAYLOAD].kind == 'o' &&
                    (!f[F_ANON].seen || f[F_ANON].kind == 's');
        if (ev->valid && skip_type) {
            const struct scan_str *t = &f[F_TYPE].str;
            ev->skip = t->dec ? strcmp(t->dec, skip_type) == 0
                              : t->n == strlen(skip_type) && memcmp(t->s, skip_type, t->n) == 0;
        }
    }
    for (int i = 0; i < F_COUNT; i++) free(f[i].str.dec);
    return ret;
}

/* The events array at p (p at '['), depth = containers already open. */
static const char *scan_events(const char *p, const char *end, int depth, struct batch_scan *bs) {
    if (depth >= SCAN_NESTING_LIMIT) return NULL;
    p = scan_ws(p + 1, end);
    if (p < end && *p == ']') return p + 1;
    for (;;) {
        struct event_scan scratch,
            *ev = bs->count < MAX_EVENTS_PER_REQUEST ? &bs->ev[bs->count] : &scratch;
        const char *start = p;
        if (p < end && *p == '{') {
            p = scan_event(p, end, depth + 1, bs->skip_type, ev);
        } else {
            ev->valid = ev->skip = false;
            p = scan_value(p, end, depth + 1);
        }
        if (!p) return NULL;
        ev->span.start = start;
        ev->span.end = p;
        bs->count++;
        p = scan_ws(p, end);
        if (p < end && *p == ',') {
            p = scan_ws(p + 1, end);
            continue;
        }
        return (p < end && *p == ']') ? p + 1 : NULL;
    }
}

/* The whole body (len bytes, NUL-terminated, no NUL inside). False when cJSON
 * would not have parsed it as an object. */
static bool scan_batch(const char *body, size_t len, struct batch_scan *bs) {
    const char *p = body, *end = body + len;
    bs->events_found = bs->events_array = false;
    bs->count = 0;
    if (len >= 4 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
    p = scan_ws(p, end);
    if (p >= end || *p != '{') return false; /* parse error or not an object: one answer */
    p = scan_ws(p + 1, end);
    if (p < end && *p == '}') return scan_ws(p + 1, end) == end;
    for (;;) {
        if (p >= end || *p != '"') return false;
        struct scan_str key = {NULL, 0, NULL};
        p = scan_string(p, end, &key);
        if (!p) return false;
        bool events = !bs->events_found && scan_key_is(&key, "events", 6);
        free(key.dec);
        p = scan_ws(p, end);
        if (p >= end || *p != ':') return false;
        p = scan_ws(p + 1, end);
        if (events) {
            bs->events_found = true;
            bs->events_array = p < end && *p == '[';
        }
        p = events && bs->events_array ? scan_events(p, end, 1, bs) : scan_value(p, end, 1);
        if (!p) return false;
        p = scan_ws(p, end);
        if (p < end && *p == ',') {
            p = scan_ws(p + 1, end);
            continue;
        }
        if (p >= end || *p != '}') return false;
        return scan_ws(p + 1, end) == end;
    }
}

/* --------------------------------------------------------------- responses */

static void count_answer(devsrv_t *srv, unsigned status) {
    if (status == 401 || status == 403) {
        pthread_mutex_lock(&srv->mu);
        srv->stats.auth_failures++;
        pthread_mutex_unlock(&srv->mu);
    }
}

static enum MHD_Result send_body(devsrv_t *srv, struct MHD_Connection *conn, unsigned status,
                                 const char *body, const char *retry_after) {
    count_answer(srv, status);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (retry_after) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Error answers carry {"detail": "..."} like the real service; details are fixed text. */
static enum MHD_Result send_detail(devsrv_t *srv, struct MHD_Connection *conn, unsigned status,
                                   const char *detail) {
    char body[256];
    snprintf(body, sizeof body, "{\"detail\":\"%s\"}", detail);
    return send_body(srv, conn, status, body, NULL);
}

struct cut_body {
    char *data;
    size_t limit;
};

/* Serves the first half of the body, then fails so the connection closes short. */
static ssize_t cut_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    struct cut_body *cb = cls;
    if (pos >= cb->limit) return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = cb->limit - (size_t)pos;
    if (n > max) n = max;
    memcpy(buf, cb->data + pos, n);
    return (ssize_t)n;
}

static void cut_free(void *cls) {
    struct cut_body *cb = cls;
    free(cb->data);
    free(cb);
}

static enum MHD_Result send_cut(struct MHD_Connection *conn, unsigned status, const char *body) {
    struct cut_body *cb = calloc(1, sizeof *cb);
    size_t len = strlen(body);
    if (!cb || !(cb->data = dupstr(body))) {
        free(cb);
        return MHD_NO;
    }
    cb->limit = len / 2;
    struct MHD_Response *r = MHD_create_response_from_callback(len, 1024, cut_reader, cb, cut_free);
    if (!r) {
        cut_free(cb);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* ------------------------------------------------------------------ waiting */

static bool peer_closed(int fd) {
    struct pollfd pfd = {.fd = fd, .events = POLLRDHUP};
    return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Waits ms (< 0: indefinitely). Returns true when the time passed, false when
 * the server paused or stopped meanwhile or (fd >= 0) the client hung up. */
static bool wait_running(devsrv_t *srv, uint64_t epoch, int64_t ms, int fd) {
    int64_t deadline = ms < 0 ? INT64_MAX : clock_ms(CLOCK_MONOTONIC) + ms;
    bool ok = true;
    pthread_mutex_lock(&srv->mu);
    for (;;) {
        if (!srv->active || srv->epoch != epoch) {
            ok = false;
            break;
        }
        int64_t now = clock_ms(CLOCK_MONOTONIC);
        if (now >= deadline) break;
        int64_t slice = deadline - now < WAIT_SLICE_MS ? deadline - now : WAIT_SLICE_MS;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(slice / 1000);
        ts.tv_nsec += (long)(slice % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&srv->cond, &srv->mu, &ts);
        /* A client that gave up would otherwise pin this thread until stop. */
        if (fd >= 0 && peer_closed(fd)) {
            ok = false;
            break;
        }
    }
    pthread_mutex_unlock(&srv->mu);
    return ok;
}

/* ------------------------------------------------------------------- faults */

static void fault_clear(struct fault *f) {
    free(f->retry_after);
    free(f->body);
    memset(f, 0, sizeof *f);
}

/* Appends already-owned faults; takes them all or none. Call with mu held. */
static bool push_faults(devsrv_t *srv, struct fault *items, size_t n) {
    if (srv->fault_head > 0) {
        memmove(srv->faults, srv->faults + srv->fault_head,
                (srv->fault_len - srv->fault_head) * sizeof *srv->faults);
        srv->fault_len -= srv->fault_head;
        srv->fault_head = 0;
    }
    if (srv->fault_len + n > srv->fault_cap) {
        size_t cap = srv->fault_cap ? srv->fault_cap : 8;
        while (cap < srv->fault_len + n) cap *= 2;
        struct fault *f = realloc(srv->faults, cap * sizeof *f);
        if (!f) return false;
        srv->faults = f;
        srv->fault_cap = cap;
    }
    memcpy(srv->faults + srv->fault_len, items, n * sizeof *items);
    srv->fault_len += n;
    return true;
}

/* Parses one script item at *pp (see devserver.h). Returns false on a syntax error. */
static bool parse_item(const char **pp, struct fault *f) {
    const char *p = *pp;
    memset(f, 0, sizeof *f);
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    size_t word = strcspn(p, ", \t\r\n");
    if (word == 8 && strncmp(p, "noanswer", 8) == 0) {
        f->kind = DEVSRV_NO_ANSWER;
        p += 8;
    } else if (word == 8 && strncmp(p, "closemid", 8) == 0) {
        f->kind = DEVSRV_CLOSE_MID;
        p += 8;
    } else if (word == 5 && strncmp(p, "close", 5) == 0) {
        f->kind = DEVSRV_CLOSE_BEFORE;
        p += 5;
    } else if (strncmp(p, "delay=", 6) == 0) {
        char *e;
        errno = 0;
        unsigned long ms = strtoul(p + 6, &e, 10);
        if (e == p + 6 || errno || ms > UINT32_MAX || p[6] == '-' || p[6] == '+') return false;
        f->kind = DEVSRV_DELAY;
        f->delay_ms = (uint32_t)ms;
        p = e;
    } else {
        int status;
        if (!read_digits(&p, 3, &status) || status < 100 || status > 599 ||
            (*p >= '0' && *p <= '9'))
            return false;
        f->kind = DEVSRV_STATUS;
        f->status = status;
        while (*p == ':') {
            p++;
            const char *v, *ve;
            if (strncmp(p, "ra=", 3) == 0 && !f->retry_after) {
                v = p + 3;
                if (*v == '"') { /* HTTP-dates contain commas and colons */
                    ve = strchr(v + 1, '"');
                    if (!ve) return false;
                    f->retry_after = dupmem(v + 1, (size_t)(ve - v - 1));
                    p = ve + 1;
                } else {
                    ve = v + strcspn(v, ",:");
                    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
                    if (ve == v) return false;
                    f->retry_after = dupmem(v, (size_t)(ve - v));
                    p = v + strcspn(v, ",:");
                }
                if (!f->retry_after) return false;
            } else if (strncmp(p, "body=", 5) == 0 && !f->body) {
                v = p + 5;
                if (*v == '{' || *v == '[') /* JSON bodies may hold commas */
                    ve = skip_value(v, v + strlen(v));
                else
                    ve = v + strcspn(v, ",");
                if (!ve || ve == v || !(f->body = dupmem(v, (size_t)(ve - v)))) return false;
                p = ve;
            } else {
                return false;
            }
        }
    }
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    if (*p != ',' && *p != '\0') return false;
    *pp = p;
    return true;
}

/* ---------------------------------------------------------------- batches */

static bool nonempty_string(const cJSON *item) {
    return cJSON_IsString(item) && item->valuestring[0] != '\0';
}

/* Matches "<scheme> <credential>"; returns the credential or NULL. */
static const char *auth_credential(const char *header, const char *scheme) {
    size_t n = strlen(scheme);
    if (!header || strncasecmp(header, scheme, n) != 0 || header[n] != ' ') return NULL;
    header += n;
    while (*header == ' ') header++;
    return *header ? header : NULL;
}

/* Checks batch credentials. Returns NULL when accepted (*uid set, malloc'd, for
 * a Bearer token), else the reason for the 401. */
static const char *batch_auth(devsrv_t *srv, const char *header, char **uid) {
    *uid = NULL;
    const char *cred = auth_credential(header, "ApiKey");
    if (cred) {
        for (size_t i = 0; i < srv->nsk; i++)
            if (strcmp(cred, srv->sk[i]) == 0) return NULL;
        return "Invalid API key.";
    }
    cred = auth_credential(header, "Bearer");
    if (!cred) return "Authentication credentials were not provided.";
    const char *why = "Invalid or revoked token.";
    pthread_mutex_lock(&srv->mu);
    for (size_t i = 0; i < srv->ntokens; i++) {
        if (strcmp(cred, srv->tokens[i].token) != 0) continue;
        if (srv->tokens[i].expires_ms <= clock_ms(CLOCK_REALTIME)) {
            why = "Token expired.";
        } else {
            *uid = dupstr(srv->tokens[i].uid);
            why = *uid ? NULL : "Out of memory.";
        }
        break;
    }
    pthread_mutex_unlock(&srv->mu);
    return why;
}

struct accepted {
    devsrv_event_t *events; /* keep_events only */
    size_t n;
    char *ndjson;
    size_t ndjson_len, ndjson_cap;
};

static void event_clear(devsrv_event_t *ev) {
    free(ev->user_id);
    free(ev->event_type);
    free(ev->occurred_at);
    free(ev->payload_json);
    free(ev->anonymous_id);
    free(ev->raw_json);
    memset(ev, 0, sizeof *ev);
}

static bool ndjson_append(struct accepted *acc, const char *line) {
    size_t n = strlen(line);
    if (acc->ndjson_len + n + 2 > acc->ndjson_cap) {
        size_t cap = acc->ndjson_cap ? acc->ndjson_cap : 1024;
        while (cap < acc->ndjson_len + n + 2) cap *= 2;
        char *p = realloc(acc->ndjson, cap);
        if (!p) return false;
        acc->ndjson = p;
        acc->ndjson_cap = cap;
    }
    memcpy(acc->ndjson + acc->ndjson_len, line, n);
    acc->ndjson_len += n;
    acc->ndjson[acc->ndjson_len++] = '\n';
    acc->ndjson[acc->ndjson_len] = '\0';
    return true;
}

/* Builds the kept copy of one accepted event (after the user_id rewrite). */
static bool keep_event(devsrv_event_t *out, const cJSON *ev, const struct span *raw,
                       uint64_t request_no) {
    const cJSON *anon = cJSON_GetObjectItemCaseSensitive(ev, "anonymous_id");
    memset(out, 0, sizeof *out);
    out->user_id = dupstr(cJSON_GetObjectItemCaseSensitive(ev, "user_id")->valuestring);
    out->event_type = dupstr(cJSON_GetObjectItemCaseSensitive(ev, "event_type")->valuestring);
    out->occurred_at = dupstr(cJSON_GetObjectItemCaseSensitive(ev, "occurred_at")->valuestring);
    out->payload_json = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(ev, "payload"));
    out->anonymous_id = anon ? dupstr(anon->valuestring) : NULL;
    out->raw_json =
        raw ? dupmem(raw->start, (size_t)(raw->end - raw->start)) : cJSON_PrintUnformatted(ev);
    out->request_no = request_no;
    if (!out->user_id || !out->event_type || !out->occurred_at || !out->payload_json ||
        (anon && !out->anonymous_id) || !out->raw_json) {
        event_clear(out);
        return false;
    }
    return true;
}

/* Validates and records one batch body. Returns the HTTP status and sets *answer
 * (malloc'd JSON, or a static detail via *detail). */
static unsigned process_batch(devsrv_t *srv, struct req *rq, const char *auth_header,
                              uint64_t request_no, char **answer, const char **detail) {
    *answer = NULL;
    if (rq->too_large) {
        *detail = "Request body too large.";
        return 413;
    }
    char *uid = NULL;
    const char *why = batch_auth(srv, auth_header, &uid);
    if (why) {
        *detail = why;
        return 401;
    }

    const char *body = rq->body ? rq->body : "";
    /* One pass validates the body (an embedded NUL is not JSON); trees are
     * built below only for the accepted events that are kept or recorded. */
    struct batch_scan *bs = malloc(sizeof *bs);
    unsigned status = 500;
    *detail = "Out of memory.";
    if (!bs) goto out;
    bs->skip_type = srv->skip_type;
    bool parsed = strlen(body) == rq->len && scan_batch(body, rq->len, bs);
    status = 400;
    if (!parsed) {
        *detail = "Body must be a JSON object.";
        goto out;
    }
    if (!bs->events_array) {
        *detail = "Body must hold an events array.";
        goto out;
    }
    int count = bs->count;
    if (count > MAX_EVENTS_PER_REQUEST) {
        *detail = "At most 500 events per request.";
        goto out;
    }

    struct accepted acc = {0};
    uint64_t skipped = 0;
    status = 500;
    *detail = "Out of memory.";
    if (srv->keep_events && count > 0 && !(acc.events = calloc((size_t)count, sizeof *acc.events)))
        goto out;
    for (int i = 0; i < count; i++) {
        const struct event_scan *es = &bs->ev[i];
        if (!es->valid || es->skip) {
            skipped++;
            continue;
        }
        if (srv->record || srv->keep_events) {
            /* The event's own text parses to the same tree as inside the body. */
            cJSON *ev =
                cJSON_ParseWithLength(es->span.start, (size_t)(es->span.end - es->span.start));
            if (!ev) goto fail;
            /* The real service attributes token-carried events to the token's uid. */
            if (uid) {
                cJSON *s = cJSON_CreateString(uid);
                if (!s || !cJSON_ReplaceItemInObjectCaseSensitive(ev, "user_id", s)) {
                    cJSON_Delete(s);
                    cJSON_Delete(ev);
                    goto fail;
                }
            }
            bool ok = true;
            if (srv->record) {
                char *line = cJSON_PrintUnformatted(ev);
                ok = line && ndjson_append(&acc, line);
                free(line);
            }
            if (ok && srv->keep_events)
                ok = keep_event(&acc.events[acc.n], ev, &es->span, request_no);
            cJSON_Delete(ev);
            if (!ok) goto fail;
        }
        acc.n++;
    }

    pthread_mutex_lock(&srv->mu);
    if (srv->keep_events && acc.n > 0) {
        if (srv->nevents + acc.n > srv->event_cap) {
            size_t cap = srv->event_cap ? srv->event_cap : 64;
            while (cap < srv->nevents + acc.n) cap *= 2;
            devsrv_event_t *p = realloc(srv->events, cap * sizeof *p);
            if (!p) {
                pthread_mutex_unlock(&srv->mu);
                goto fail;
            }
            srv->events = p;
            srv->event_cap = cap;
        }
        memcpy(srv->events + srv->nevents, acc.events, acc.n * sizeof *acc.events);
        srv->nevents += acc.n;
        acc.n = 0; /* ownership moved */
    }
    if (srv->record && acc.ndjson_len > 0) {
        fwrite(acc.ndjson, 1, acc.ndjson_len, srv->record);
        fflush(srv->record);
    }
    uint64_t queued = (uint64_t)count - skipped;
    srv->stats.events_received += queued;
    srv->stats.events_skipped += skipped;
    srv->stats.batch_accepted++;
    if ((uint64_t)count > srv->stats.max_events_per_request)
        srv->stats.max_events_per_request = (uint64_t)count;
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->mu);

    char buf[96];
    snprintf(buf, sizeof buf, "{\"queued\":%" PRIu64 ",\"skipped\":%" PRIu64 "}", queued, skipped);
    *answer = dupstr(buf);
    status = *answer ? 200 : 500;
fail:
    for (size_t k = 0; acc.events && k < acc.n; k++) event_clear(&acc.events[k]);
    free(acc.events);
    free(acc.ndjson);
out:
    free(bs);
    free(uid);
    return status;
}

static enum MHD_Result handle_batch(devsrv_t *srv, struct MHD_Connection *conn, struct req *rq) {
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    struct fault f = {0};
    bool have_fault = false;
    uint64_t request_no;
    uint32_t delay;

    pthread_mutex_lock(&srv->mu);
    request_no = ++srv->stats.batch_requests;
    srv->stats.bytes_received += rq->total;
    copy_trunc(srv->headers.authorization, sizeof srv->headers.authorization, auth);
    copy_trunc(srv->headers.user_agent, sizeof srv->headers.user_agent,
               MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT));
    copy_trunc(srv->headers.content_type, sizeof srv->headers.content_type,
               MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE));
    if (srv->fault_head < srv->fault_len) {
        f = srv->faults[srv->fault_head++]; /* takes ownership of its strings */
        have_fault = true;
        srv->stats.faults_applied++;
    }
    delay = srv->answer_delay_ms;
    pthread_mutex_unlock(&srv->mu);

    enum MHD_Result ret = MHD_NO;
    if (have_fault) {
        switch (f.kind) {
        case DEVSRV_STATUS:
            if (wait_running(srv, rq->epoch, delay, -1)) {
                char dflt[64];
                snprintf(dflt, sizeof dflt, "{\"detail\":\"Scripted status %d.\"}", f.status);
                logline(srv, "batch #%" PRIu64 ": scripted %d", request_no, f.status);
                ret =
                    send_body(srv, conn, (unsigned)f.status, f.body ? f.body : dflt, f.retry_after);
            }
            goto out;
        case DEVSRV_NO_ANSWER: {
            logline(srv, "batch #%" PRIu64 ": scripted no answer", request_no);
            const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
            wait_running(srv, rq->epoch, -1, ci ? ci->connect_fd : -1);
            goto out;
        }
        case DEVSRV_CLOSE_BEFORE:
            logline(srv, "batch #%" PRIu64 ": scripted close", request_no);
            goto out; /* MHD_NO closes the connection without a response */
        case DEVSRV_DELAY:
            logline(srv, "batch #%" PRIu64 ": scripted delay %" PRIu32 " ms", request_no,
                    f.delay_ms);
            if (!wait_running(srv, rq->epoch, f.delay_ms, -1)) goto out;
            break;
        case DEVSRV_CLOSE_MID: break;
        }
    }
    if (!wait_running(srv, rq->epoch, delay, -1)) goto out;

    char *answer = NULL;
    const char *detail = NULL;
    unsigned status = process_batch(srv, rq, auth, request_no, &answer, &detail);
    char dbuf[256];
    if (!answer) snprintf(dbuf, sizeof dbuf, "{\"detail\":\"%s\"}", detail);
    bool cut = have_fault && f.kind == DEVSRV_CLOSE_MID;
    logline(srv, "batch #%" PRIu64 ": %u %s%s", request_no, status, answer ? answer : detail,
            cut ? " (cut mid-response)" : "");
    if (cut) {
        count_answer(srv, status);
        ret = send_cut(conn, status, answer ? answer : dbuf);
    } else {
        ret = send_body(srv, conn, status, answer ? answer : dbuf, NULL);
    }
    free(answer);
out:
    if (have_fault) fault_clear(&f);
    return ret;
}

/* ------------------------------------------------------------------ minting */

static const struct pk_key *find_pk(const devsrv_t *srv, const char *header) {
    const char *cred = auth_credential(header, "ApiKey");
    for (size_t i = 0; cred && i < srv->npk; i++)
        if (strcmp(cred, srv->pk[i].key) == 0) return &srv->pk[i];
    return NULL;
}

static bool lower_hex64(const char *s) {
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))) return false;
    return n == 64;
}

/* A JSON integer: cJSON keeps only a double, so look at the token itself. */
static bool raw_integer(const char *body, size_t len, const char *name, int64_t *out) {
    struct span sp;
    if (!find_member(body, body + len, name, &sp)) return false;
    const char *p = sp.start;
    if (*p == '-') p++;
    if (p == sp.end) return false;
    for (; p < sp.end; p++)
        if (*p < '0' || *p > '9') return false;
    char *tok = dupmem(sp.start, (size_t)(sp.end - sp.start));
    if (!tok) return false;
    errno = 0;
    long long v = strtoll(tok, NULL, 10);
    free(tok);
    *out = (int64_t)v;
    return errno == 0;
}

static void prune_tokens(devsrv_t *srv, int64_t now_ms) {
    size_t w = 0;
    for (size_t i = 0; i < srv->ntokens; i++) {
        if (srv->tokens[i].expires_ms <= now_ms) {
            free(srv->tokens[i].token);
            free(srv->tokens[i].uid);
        } else {
            srv->tokens[w++] = srv->tokens[i];
        }
    }
    srv->ntokens = w;
}

static enum MHD_Result handle_session(devsrv_t *srv, struct MHD_Connection *conn, struct req *rq) {
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *body = rq->body ? rq->body : "";
    pthread_mutex_lock(&srv->mu);
    srv->stats.mint_requests++;
    free(srv->last_mint_body);
    srv->last_mint_body = rq->too_large ? NULL : dupmem(body, rq->len);
    devsrv_expires_style_t style = srv->expires_style;
    pthread_mutex_unlock(&srv->mu);

    const struct pk_key *pk = find_pk(srv, auth);
    if (!pk) {
        logline(srv, "mint: 401 unknown public key");
        return send_detail(srv, conn, 401, "Invalid public key.");
    }
    int fail_status = 0;
    char retry_after[64] = "";
    pthread_mutex_lock(&srv->mu);
    if (srv->mint_fail_count > 0) {
        srv->mint_fail_count--;
        fail_status = srv->mint_fail_status;
        memcpy(retry_after, srv->mint_fail_retry_after, sizeof retry_after);
    }
    pthread_mutex_unlock(&srv->mu);
    if (fail_status) {
        logline(srv, "mint: scripted %d", fail_status);
        return send_body(srv, conn, (unsigned)fail_status,
                         "{\"detail\":\"Scripted mint failure.\"}",
                         retry_after[0] ? retry_after : NULL);
    }
    if (rq->too_large) return send_detail(srv, conn, 413, "Request body too large.");

    cJSON *root = NULL;
    if (rq->len == 0) /* nothing to identify: an anonymous mint */
        root = cJSON_CreateObject();
    else if (strlen(body) == rq->len)
        root = cJSON_ParseWithLengthOpts(body, rq->len + 1, NULL, 1);
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(root, "user_id");
    const cJSON *anon = cJSON_GetObjectItemCaseSensitive(root, "anonymous_id");
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(root, "user_id_sig");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(root, "user_id_ts");
    int64_t ts_val = 0;
    const char *bad = NULL;
    if (!cJSON_IsObject(root))
        bad = "Body must be a JSON object.";
    else if (user && !nonempty_string(user))
        bad = "user_id must be a non-empty string.";
    else if (anon && !nonempty_string(anon))
        bad = "anonymous_id must be a non-empty string.";
    else if (sig && !(cJSON_IsString(sig) && lower_hex64(sig->valuestring)))
        bad = "user_id_sig must be 64 lowercase hex digits.";
    else if (ts && !(cJSON_IsNumber(ts) && raw_integer(body, rq->len, "user_id_ts", &ts_val)))
        bad = "user_id_ts must be an integer.";
    else if (sig && (!ts || !user))
        bad = "user_id_sig needs user_id and user_id_ts.";
    if (bad) {
        cJSON_Delete(root);
        logline(srv, "mint: 400");
        return send_detail(srv, conn, 400, bad);
    }

    bool signed_ok = false;
    if (sig && pk->secret) {
        if (segops_verify_user_id(pk->secret, user->valuestring, sig->valuestring, ts_val, 0,
                                  SIG_TOLERANCE_S) != SEGOPS_OK) {
            cJSON_Delete(root);
            logline(srv, "mint: 401 bad or stale signature");
            return send_detail(srv, conn, 401, "Invalid or stale user_id signature.");
        }
        signed_ok = true;
    }
    if (pk->require_signed && !signed_ok) {
        cJSON_Delete(root);
        logline(srv, "mint: 401 signature required");
        return send_detail(srv, conn, 401, "This key requires a signed user_id.");
    }

    char uuid[37];
    unsigned char raw[32];
    char token_hex[65];
    char *uid = NULL;
    if (user) {
        uid = dupstr(user->valuestring);
    } else if (anon || new_uuid(uuid)) {
        const char *a = anon ? anon->valuestring : uuid;
        size_t n = strlen(a) + 6;
        if ((uid = malloc(n))) snprintf(uid, n, "anon:%s", a);
    }
    cJSON_Delete(root);
    if (!uid || !random_bytes(raw, sizeof raw)) {
        free(uid);
        return send_detail(srv, conn, 500, "Could not mint a token.");
    }
    hex_encode(raw, sizeof raw, token_hex);

    int64_t now = clock_ms(CLOCK_REALTIME);
    int64_t expires = now + (int64_t)srv->token_ttl_s * 1000;
    char expires_at[64];
    format_expires(expires, style, expires_at);

    cJSON *out = cJSON_CreateObject();
    char *answer = NULL;
    if (out && cJSON_AddStringToObject(out, "token", token_hex) &&
        cJSON_AddStringToObject(out, "expires_at", expires_at) &&
        cJSON_AddStringToObject(out, "uid", uid))
        answer = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);

    bool stored = false;
    pthread_mutex_lock(&srv->mu);
    prune_tokens(srv, now);
    if (answer && srv->ntokens == srv->token_cap) {
        size_t cap = srv->token_cap ? srv->token_cap * 2 : 16;
        struct token *t = realloc(srv->tokens, cap * sizeof *t);
        if (t) {
            srv->tokens = t;
            srv->token_cap = cap;
        }
    }
    char *tok = dupstr(token_hex);
    char *last = dupstr(token_hex);
    if (answer && srv->ntokens < srv->token_cap && tok && last) {
        srv->tokens[srv->ntokens++] = (struct token){tok, uid, expires};
        free(srv->last_token);
        srv->last_token = last;
        srv->stats.mints++;
        stored = true;
    }
    pthread_mutex_unlock(&srv->mu);
    if (!stored) {
        free(tok);
        free(last);
        free(uid);
        free(answer);
        return send_detail(srv, conn, 500, "Could not mint a token.");
    }
    logline(srv, "mint: 200 (expires %s)", expires_at);
    enum MHD_Result ret = send_body(srv, conn, 200, answer, NULL);
    free(answer);
    return ret;
}

/* ------------------------------------------------------------ dispatching */

static enum route route_of(const char *method, const char *url) {
    static const struct {
        const char *path, *method;
        enum route route;
    } table[] = {
        {"/api/ingestion/track/batch/", "POST", R_BATCH},
        {"/api/auth/session/", "POST", R_SESSION},
        {"/_dev/stats", "GET", R_STATS},
        {"/_dev/script", "POST", R_SCRIPT},
        {"/_dev/revoke", "POST", R_REVOKE},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(url, table[i].path) == 0)
            return strcmp(method, table[i].method) == 0 ? table[i].route : R_BAD_METHOD;
    return R_NOT_FOUND;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    devsrv_t *srv = cls;
    struct req *rq = *con_cls;
    (void)version;

    if (!rq) { /* headers only: set up, then let MHD read the body */
        pthread_mutex_lock(&srv->mu);
        bool active = srv->active;
        uint64_t epoch = srv->epoch;
        pthread_mutex_unlock(&srv->mu);
        if (!active || !(rq = calloc(1, sizeof *rq))) return MHD_NO;
        rq->route = route_of(method, url);
        rq->limit = rq->route == R_BATCH ? srv->max_body : SMALL_BODY_MAX;
        rq->epoch = epoch;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        rq->total += n;
        if (rq->too_large || rq->len + n > rq->limit) {
            /* Keep reading (and discarding) so the 413 reaches the client. */
            rq->too_large = true;
            free(rq->body);
            rq->body = NULL;
            rq->len = rq->cap = 0;
            return MHD_YES;
        }
        if (rq->len + n + 1 > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 4096;
            while (cap < rq->len + n + 1) cap *= 2;
            char *b = realloc(rq->body, cap);
            if (!b) return MHD_NO;
            rq->body = b;
            rq->cap = cap;
        }
        memcpy(rq->body + rq->len, upload_data, n);
        rq->len += n;
        rq->body[rq->len] = '\0';
        return MHD_YES;
    }

    char buf[512];
    switch (rq->route) {
    case R_BATCH: return handle_batch(srv, conn, rq);
    case R_SESSION: return handle_session(srv, conn, rq);
    case R_STATS: {
        devsrv_stats_t st;
        devsrv_get_stats(srv, &st);
        devsrv_stats_json(&st, buf, sizeof buf);
        return send_body(srv, conn, 200, buf, NULL);
    }
    case R_SCRIPT:
        if (rq->too_large || !rq->body || strlen(rq->body) != rq->len ||
            devsrv_script_text(srv, rq->body) != 0)
            return send_detail(srv, conn, 400, "Malformed fault script.");
        snprintf(buf, sizeof buf, "{\"pending\":%zu}", devsrv_script_pending(srv));
        return send_body(srv, conn, 200, buf, NULL);
    case R_REVOKE:
        devsrv_revoke_tokens(srv);
        logline(srv, "revoked every token");
        return send_body(srv, conn, 200, "{\"revoked\":true}", NULL);
    case R_BAD_METHOD: return send_detail(srv, conn, 405, "Method not allowed.");
    case R_NOT_FOUND: break;
    }
    return send_detail(srv, conn, 404, "Not found.");
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    struct req *rq = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (rq) {
        free(rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

/* ------------------------------------------------------------ lifecycle */

static struct MHD_Daemon *start_daemon(devsrv_t *srv, uint16_t port) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned int flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};
    if (srv->tls_cert) {
        flags |= MHD_USE_TLS;
        tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key};
        tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert};
    }
    /* The logger must come first or MHD uses its own for the options before it. */
    return MHD_start_daemon(
        flags, port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        srv, MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(TLS_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, TLS_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (!buf || n == 0 || n > TLS_FILE_MAX) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static void free_server(devsrv_t *srv) {
    for (size_t i = 0; i < srv->nsk; i++) free(srv->sk[i]);
    free(srv->sk);
    for (size_t i = 0; i < srv->npk; i++) {
        free(srv->pk[i].key);
        free(srv->pk[i].secret);
    }
    free(srv->pk);
    free(srv->skip_type);
    free(srv->tls_cert);
    free(srv->tls_key);
    if (srv->record && srv->record_owned)
        fclose(srv->record);
    else if (srv->record)
        fflush(srv->record);
    for (size_t i = srv->fault_head; i < srv->fault_len; i++) fault_clear(&srv->faults[i]);
    free(srv->faults);
    prune_tokens(srv, INT64_MAX);
    free(srv->tokens);
    free(srv->last_token);
    free(srv->last_mint_body);
    for (size_t i = 0; i < srv->nevents; i++) event_clear(&srv->events[i]);
    free(srv->events);
    pthread_cond_destroy(&srv->cond);
    pthread_mutex_destroy(&srv->mu);
    pthread_mutex_destroy(&srv->ctl_mu);
    free(srv);
}

static int start_fail(devsrv_t *srv, const char *why) {
    fprintf(stderr, "devsrv: cannot start: %s\n", why);
    free_server(srv);
    return -1;
}

int devsrv_start(const devsrv_config_t *cfg, devsrv_t **out) {
    if (!out) return -1;
    *out = NULL;
    if (!cfg) {
        fprintf(stderr, "devsrv: cannot start: no configuration\n");
        return -1;
    }
    devsrv_t *srv = calloc(1, sizeof *srv);
    if (!srv) {
        fprintf(stderr, "devsrv: cannot start: out of memory\n");
        return -1;
    }
    pthread_mutex_init(&srv->mu, NULL);
    pthread_mutex_init(&srv->ctl_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* waits ignore wall-clock jumps */
    pthread_cond_init(&srv->cond, &ca);
    pthread_condattr_destroy(&ca);

    srv->token_ttl_s = cfg->token_lifetime_s ? cfg->token_lifetime_s : DEFAULT_TOKEN_TTL_S;
    srv->max_body = cfg->max_body_bytes ? cfg->max_body_bytes : DEFAULT_MAX_BODY;
    srv->keep_events = cfg->keep_events;
    srv->log_requests = cfg->log_requests;
    srv->answer_delay_ms = cfg->answer_delay_ms;
    srv->expires_style = cfg->expires_style;

    if (cfg->sk_key_count > 0) {
        if (!cfg->sk_keys || !(srv->sk = calloc(cfg->sk_key_count, sizeof *srv->sk)))
            return start_fail(srv, "bad sk_keys");
        for (; srv->nsk < cfg->sk_key_count; srv->nsk++)
            if (!cfg->sk_keys[srv->nsk] || !(srv->sk[srv->nsk] = dupstr(cfg->sk_keys[srv->nsk])))
                return start_fail(srv, "bad sk_keys");
    }
    if (cfg->pk_key_count > 0) {
        if (!cfg->pk_keys || !(srv->pk = calloc(cfg->pk_key_count, sizeof *srv->pk)))
            return start_fail(srv, "bad pk_keys");
        for (; srv->npk < cfg->pk_key_count; srv->npk++) {
            const devsrv_pk_key_t *k = &cfg->pk_keys[srv->npk];
            struct pk_key *d = &srv->pk[srv->npk];
            d->require_signed = k->require_signed;
            if (!k->key || !(d->key = dupstr(k->key)) ||
                (k->hmac_secret_hex && !(d->secret = dupstr(k->hmac_secret_hex)))) {
                srv->npk++;
                return start_fail(srv, "bad pk_keys");
            }
        }
    }
    if (cfg->skip_event_type && !(srv->skip_type = dupstr(cfg->skip_event_type)))
        return start_fail(srv, "out of memory");

    if (cfg->tls_cert_file || cfg->tls_key_file) {
        if (!cfg->tls_cert_file || !cfg->tls_key_file)
            return start_fail(srv, "TLS needs both tls_cert_file and tls_key_file");
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
            return start_fail(srv, "this libmicrohttpd has no TLS support");
        if (!(srv->tls_cert = read_file(cfg->tls_cert_file)))
            return start_fail(srv, "cannot read tls_cert_file");
        if (!(srv->tls_key = read_file(cfg->tls_key_file)))
            return start_fail(srv, "cannot read tls_key_file");
    }
    if (cfg->record_path) {
        if (strcmp(cfg->record_path, "-") == 0) {
            srv->record = stdout;
        } else {
            if (!(srv->record = fopen(cfg->record_path, "a")))
                return start_fail(srv, "cannot open record_path");
            srv->record_owned = true;
        }
    }

    srv->active = true;
    srv->daemon = start_daemon(srv, cfg->port);
    if (!srv->daemon) return start_fail(srv, "cannot listen on 127.0.0.1 (port in use?)");
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : cfg->port;
    if (srv->port == 0) {
        MHD_stop_daemon(srv->daemon);
        return start_fail(srv, "cannot read the bound port");
    }
    snprintf(srv->url, sizeof srv->url, "%s://127.0.0.1:%u", srv->tls_cert ? "https" : "http",
             (unsigned)srv->port);
    *out = srv;
    return 0;
}

int devsrv_pause(devsrv_t *srv) {
    if (!srv) return -1;
    pthread_mutex_lock(&srv->ctl_mu);
    struct MHD_Daemon *d = srv->daemon;
    srv->daemon = NULL;
    pthread_mutex_lock(&srv->mu);
    srv->active = false;
    srv->epoch++;
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->mu);
    if (d) MHD_stop_daemon(d); /* closes the listener and every connection, joins handlers */
    pthread_mutex_unlock(&srv->ctl_mu);
    return 0;
}

int devsrv_resume(devsrv_t *srv) {
    if (!srv) return -1;
    int rc = 0;
    pthread_mutex_lock(&srv->ctl_mu);
    if (!srv->daemon) {
        pthread_mutex_lock(&srv->mu);
        srv->active = true;
        pthread_mutex_unlock(&srv->mu);
        /* The port can stay busy for a moment (a client socket may hold it). */
        for (int attempt = 0; attempt < 40 && !srv->daemon; attempt++) {
            if (attempt > 0) usleep(50 * 1000);
            srv->daemon = start_daemon(srv, srv->port);
        }
        if (!srv->daemon) {
            pthread_mutex_lock(&srv->mu);
            srv->active = false;
            pthread_mutex_unlock(&srv->mu);
            fprintf(stderr, "devsrv: cannot listen again on port %u\n", (unsigned)srv->port);
            rc = -1;
        }
    }
    pthread_mutex_unlock(&srv->ctl_mu);
    return rc;
}

void devsrv_stop(devsrv_t *srv) {
    if (!srv) return;
    devsrv_pause(srv);
    free_server(srv);
}

uint16_t devsrv_port(const devsrv_t *srv) { return srv ? srv->port : 0; }

const char *devsrv_url(const devsrv_t *srv) { return srv ? srv->url : ""; }

/* --------------------------------------------------------- test controls */

void devsrv_script(devsrv_t *srv, const devsrv_fault_t *faults, size_t count) {
    if (!srv || !faults || count == 0) return;
    struct fault *items = calloc(count, sizeof *items);
    if (!items) return;
    size_t i = 0;
    for (; i < count; i++) {
        items[i].kind = faults[i].kind;
        items[i].status = faults[i].status;
        items[i].delay_ms = faults[i].delay_ms;
        if ((faults[i].retry_after && !(items[i].retry_after = dupstr(faults[i].retry_after))) ||
            (faults[i].body && !(items[i].body = dupstr(faults[i].body))))
            break;
    }
    pthread_mutex_lock(&srv->mu);
    bool ok = i == count && push_faults(srv, items, count);
    pthread_mutex_unlock(&srv->mu);
    if (!ok) {
        for (size_t k = 0; k < count; k++) fault_clear(&items[k]);
        fprintf(stderr, "devsrv: out of memory scripting faults\n");
    }
    free(items);
}

int devsrv_script_text(devsrv_t *srv, const char *script) {
    if (!srv || !script) return -1;
    size_t cap = 1;
    for (const char *p = script; *p; p++)
        cap += *p == ','; /* an upper bound: commas inside bodies only over-count */
    struct fault *items = calloc(cap, sizeof *items);
    if (!items) return -1;
    size_t n = 0;
    const char *p = script;
    bool ok = true;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    if (*p != '\0') {
        for (;;) {
            if (n >= cap || !parse_item(&p, &items[n])) {
                if (n < cap) fault_clear(&items[n]);
                ok = false;
                break;
            }
            n++;
            if (*p == '\0') break;
            p++; /* the comma */
        }
    }
    if (ok && n > 0) {
        pthread_mutex_lock(&srv->mu);
        ok = push_faults(srv, items, n);
        pthread_mutex_unlock(&srv->mu);
    }
    if (!ok)
        for (size_t k = 0; k < n; k++) fault_clear(&items[k]);
    free(items);
    return ok ? 0 : -1;
}

size_t devsrv_script_pending(devsrv_t *srv) {
    if (!srv) return 0;
    pthread_mutex_lock(&srv->mu);
    size_t n = srv->fault_len - srv->fault_head;
    pthread_mutex_unlock(&srv->mu);
    return n;
}

void devsrv_set_answer_delay(devsrv_t *srv, uint32_t ms) {
    if (!srv) return;
    pthread_mutex_lock(&srv->mu);
    srv->answer_delay_ms = ms;
    pthread_mutex_unlock(&srv->mu);
}

void devsrv_set_expires_style(devsrv_t *srv, devsrv_expires_style_t style) {
    if (!srv) return;
    pthread_mutex_lock(&srv->mu);
    srv->expires_style = style;
    pthread_mutex_unlock(&srv->mu);
}

void devsrv_fail_mints_retry_after(devsrv_t *srv, int status, uint32_t count,
                                   const char *retry_after) {
    if (!srv || status < 100 || status > 599) return;
    pthread_mutex_lock(&srv->mu);
    srv->mint_fail_status = status;
    srv->mint_fail_count = count;
    snprintf(srv->mint_fail_retry_after, sizeof srv->mint_fail_retry_after, "%s",
             retry_after ? retry_after : "");
    pthread_mutex_unlock(&srv->mu);
}

void devsrv_fail_mints(devsrv_t *srv, int status, uint32_t count) {
    devsrv_fail_mints_retry_after(srv, status, count, NULL);
}

void devsrv_revoke_tokens(devsrv_t *srv) {
    if (!srv) return;
    pthread_mutex_lock(&srv->mu);
    prune_tokens(srv, INT64_MAX);
    pthread_mutex_unlock(&srv->mu);
}

static size_t copy_out(const char *src, char *buf, size_t buflen) {
    if (!src) return 0;
    size_t n = strlen(src);
    if (buf && buflen > 0) copy_trunc(buf, buflen, src);
    return n;
}

size_t devsrv_last_token(devsrv_t *srv, char *buf, size_t buflen) {
    if (buf && buflen > 0) buf[0] = '\0';
    if (!srv) return 0;
    pthread_mutex_lock(&srv->mu);
    size_t n = copy_out(srv->last_token, buf, buflen);
    pthread_mutex_unlock(&srv->mu);
    return n;
}

size_t devsrv_last_mint_body(devsrv_t *srv, char *buf, size_t buflen) {
    if (buf && buflen > 0) buf[0] = '\0';
    if (!srv) return 0;
    pthread_mutex_lock(&srv->mu);
    size_t n = copy_out(srv->last_mint_body, buf, buflen);
    pthread_mutex_unlock(&srv->mu);
    return n;
}

void devsrv_get_stats(devsrv_t *srv, devsrv_stats_t *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!srv) return;
    pthread_mutex_lock(&srv->mu);
    *out = srv->stats;
    pthread_mutex_unlock(&srv->mu);
}

size_t devsrv_stats_json(const devsrv_stats_t *s, char *buf, size_t buflen) {
    static const devsrv_stats_t zero;
    if (!s) s = &zero;
    int n = snprintf(buf, buflen,
                     "{\"batch_requests\":%" PRIu64 ",\"batch_accepted\":%" PRIu64
                     ",\"events_received\":%" PRIu64 ",\"events_skipped\":%" PRIu64
                     ",\"max_events_per_request\":%" PRIu64 ",\"bytes_received\":%" PRIu64
                     ",\"auth_failures\":%" PRIu64 ",\"mints\":%" PRIu64
                     ",\"mint_requests\":%" PRIu64 ",\"faults_applied\":%" PRIu64 "}",
                     s->batch_requests, s->batch_accepted, s->events_received, s->events_skipped,
                     s->max_events_per_request, s->bytes_received, s->auth_failures, s->mints,
                     s->mint_requests, s->faults_applied);
    return n < 0 ? 0 : (size_t)n;
}

void devsrv_get_last_headers(devsrv_t *srv, devsrv_last_headers_t *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!srv) return;
    pthread_mutex_lock(&srv->mu);
    *out = srv->headers;
    pthread_mutex_unlock(&srv->mu);
}

size_t devsrv_event_count(devsrv_t *srv) {
    if (!srv) return 0;
    pthread_mutex_lock(&srv->mu);
    size_t n = srv->nevents;
    pthread_mutex_unlock(&srv->mu);
    return n;
}

int devsrv_event_at(devsrv_t *srv, size_t index, devsrv_event_t *out) {
    if (!out) return -1;
    memset(out, 0, sizeof *out);
    if (!srv) return -1;
    int rc = -1;
    pthread_mutex_lock(&srv->mu);
    if (index < srv->nevents) {
        const devsrv_event_t *ev = &srv->events[index];
        out->user_id = dupstr(ev->user_id);
        out->event_type = dupstr(ev->event_type);
        out->occurred_at = dupstr(ev->occurred_at);
        out->payload_json = dupstr(ev->payload_json);
        out->anonymous_id = dupstr(ev->anonymous_id);
        out->raw_json = dupstr(ev->raw_json);
        out->request_no = ev->request_no;
        rc = (out->user_id && out->event_type && out->occurred_at && out->payload_json &&
              (!ev->anonymous_id || out->anonymous_id) && out->raw_json)
                 ? 0
                 : -1;
    }
    pthread_mutex_unlock(&srv->mu);
    if (rc != 0) event_clear(out);
    return rc;
}

void devsrv_event_free(devsrv_event_t *ev) {
    if (ev) event_clear(ev);
}

uint64_t devsrv_wait_events(devsrv_t *srv, uint64_t n, int timeout_ms) {
    if (!srv) return 0;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    int64_t ms = timeout_ms < 0 ? 0 : timeout_ms;
    deadline.tv_sec += (time_t)(ms / 1000);
    deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&srv->mu);
    while (srv->stats.events_received < n) {
        if (pthread_cond_timedwait(&srv->cond, &srv->mu, &deadline) == ETIMEDOUT) break;
    }
    uint64_t got = srv->stats.events_received;
    pthread_mutex_unlock(&srv->mu);
    return got;
}
