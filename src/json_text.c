/* JSON text without a tree: a strict single-pass validator for payload objects,
 * UTF-8 checking and string escaping. track() runs these on every event, so they
 * never allocate and touch each byte once. */
#include "json_text.h"

#define MAX_DEPTH 64

/* One table lookup per byte on the hot paths. COPY: written as is inside a JSON
 * string (not a control byte, quote or backslash). SCAN: also plain ASCII, so
 * the validator can skip it without decoding UTF-8. */
enum { COPY = 1, SCAN = 2, P = COPY | SCAN };
#define ROW(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
static const unsigned char byte_class[256] = {
    ROW(0),    ROW(0),    P,         P,         0,         P,
    P,         P,         P,         P,         P,         P,
    P,         P,         P,         P,         P,         P, /* 0x22 '"' */
    ROW(P),    ROW(P),    P,         P,         P,         P,
    P,         P,         P,         P,         P,         P,
    P,         P,         0,         P,         P,         P, /* 0x5c '\\' */
    ROW(P),    ROW(P),    ROW(COPY), ROW(COPY), ROW(COPY), ROW(COPY),
    ROW(COPY), ROW(COPY), ROW(COPY), ROW(COPY)};
#undef ROW

/* Length of the UTF-8 sequence at s (s < end), or 0 when it is malformed:
 * overlong forms, surrogates, code points past U+10FFFF and NUL are refused. */
static size_t utf8_sequence(const unsigned char *s, const unsigned char *end) {
    unsigned char c = s[0];
    if (c >= 0x01 && c < 0x80) return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if ((size_t)(end - s) < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if (n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
    if (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
    return n;
}

bool segops__utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        if (*p >= 0x01 && *p < 0x80) {
            p++;
            continue;
        }
        size_t n = utf8_sequence(p, end);
        if (!n) return false;
        p += n;
    }
    return true;
}

typedef struct cursor {
    const unsigned char *p;
    const unsigned char *end;
} cursor_t;

/* The scanners work on a local copy of the position: byte reads may alias the
 * cursor, so the compiler would otherwise reload and store c->p per byte. */
static void skip_ws(cursor_t *c) {
    const unsigned char *p = c->p;
    while (p < c->end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    c->p = p;
}

static int hex_value(unsigned char h) {
    if (h >= '0' && h <= '9') return h - '0';
    if (h >= 'a' && h <= 'f') return h - 'a' + 10;
    if (h >= 'A' && h <= 'F') return h - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits after "\u"; -1 when malformed. */
static long read_u_escape(cursor_t *c) {
    if (c->end - c->p < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(c->p[i]);
        if (h < 0) return -1;
        v = (v << 4) | h;
    }
    c->p += 4;
    return v;
}

/* Called with c->p just after the opening quote. */
static bool scan_string(cursor_t *c) {
    while (c->p < c->end) {
        /* Fast path: the run of plain printable ASCII that most strings are. */
        const unsigned char *p = c->p, *end = c->end;
        while (p < end && (byte_class[*p] & SCAN)) p++;
        c->p = p;
        if (p >= end) break;
        unsigned char ch = *c->p;
        if (ch == '"') {
            c->p++;
            return true;
        }
        if (ch < 0x20) return false;
        if (ch == '\\') {
            if (++c->p >= c->end) return false;
            unsigned char e = *c->p++;
            if (e == 'u') {
                long u = read_u_escape(c);
                if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF)) return false;
                if (u >= 0xD800 && u <= 0xDBFF) { /* a high surrogate needs its low half */
                    if (c->end - c->p < 2 || c->p[0] != '\\' || c->p[1] != 'u') return false;
                    c->p += 2;
                    long lo = read_u_escape(c);
                    if (lo < 0xDC00 || lo > 0xDFFF) return false;
                }
            } else if (!strchr("\"\\/bfnrt", e) || e == '\0') {
                return false;
            }
            continue;
        }
        if (ch < 0x80) {
            c->p++;
            continue;
        }
        size_t n = utf8_sequence(c->p, c->end);
        if (!n) return false;
        c->p += n;
    }
    return false;
}

static bool scan_digits(cursor_t *c) {
    const unsigned char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') c->p++;
    return c->p > start;
}

static bool scan_number(cursor_t *c) {
    if (*c->p == '-') c->p++;
    if (c->p >= c->end) return false;
    if (*c->p == '0') {
        c->p++;
    } else if (!scan_digits(c)) {
        return false;
    }
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (!scan_digits(c)) return false;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) c->p++;
        if (!scan_digits(c)) return false;
    }
    return true;
}

static bool scan_literal(cursor_t *c, const char *word, size_t len) {
    if ((size_t)(c->end - c->p) < len || memcmp(c->p, word, len) != 0) return false;
    c->p += len;
    return true;
}

static bool scan_value(cursor_t *c, int depth);

/* Called with c->p on '{' or '['. */
static bool scan_container(cursor_t *c, int depth) {
    if (depth >= MAX_DEPTH) return false;
    bool object = *c->p == '{';
    unsigned char close = object ? '}' : ']';
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return true;
    }
    for (;;) {
        if (object) {
            if (c->p >= c->end || *c->p != '"') return false;
            c->p++;
            if (!scan_string(c)) return false;
            skip_ws(c);
            if (c->p >= c->end || *c->p != ':') return false;
            c->p++;
            skip_ws(c);
        }
        if (!scan_value(c, depth + 1)) return false;
        skip_ws(c);
        if (c->p >= c->end) return false;
        if (*c->p == close) {
            c->p++;
            return true;
        }
        if (*c->p != ',') return false;
        c->p++;
        skip_ws(c);
    }
}

static bool scan_value(cursor_t *c, int depth) {
    if (c->p >= c->end) return false;
    switch (*c->p) {
    case '{':
    case '[': return scan_container(c, depth);
    case '"': c->p++; return scan_string(c);
    case 't': return scan_literal(c, "true", 4);
    case 'f': return scan_literal(c, "false", 5);
    case 'n': return scan_literal(c, "null", 4);
    default: return (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')) && scan_number(c);
    }
}

segops_err_t segops__json_check_object(const char *s, size_t len) {
    if (!s) return SEGOPS_E_INVALID_JSON;
    cursor_t c = {(const unsigned char *)s, (const unsigned char *)s + len};
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '{' || !scan_container(&c, 0)) return SEGOPS_E_INVALID_JSON;
    skip_ws(&c);
    return c.p == c.end ? SEGOPS_OK : SEGOPS_E_INVALID_JSON;
}

/* Bytes each byte becomes when escaped: 1, 2 ("\n") or 6 ("\u0001"). */
static size_t escaped_width(unsigned char ch) {
    if (ch == '"' || ch == '\\') return 2;
    if (ch >= 0x20) return 1;
    if (ch == '\b' || ch == '\f' || ch == '\n' || ch == '\r' || ch == '\t') return 2;
    return 6;
}

size_t segops__json_escaped_len(const char *s, size_t len) {
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        out += (byte_class[ch] & COPY) ? 1 : escaped_width(ch);
    }
    return out;
}

size_t segops__json_escape(char *dst, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    char *d = dst;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (byte_class[ch] & COPY) {
            *d++ = (char)ch;
            continue;
        }
        *d++ = '\\';
        switch (ch) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '\b': *d++ = 'b'; break;
        case '\f': *d++ = 'f'; break;
        case '\n': *d++ = 'n'; break;
        case '\r': *d++ = 'r'; break;
        case '\t': *d++ = 't'; break;
        default:
            *d++ = 'u';
            *d++ = '0';
            *d++ = '0';
            *d++ = hex[ch >> 4];
            *d++ = hex[ch & 0xF];
        }
    }
    return (size_t)(d - dst);
}
