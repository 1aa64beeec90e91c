/* JSON strings: UTF-8 checking, escaped lengths and escaping. track() runs
 * these on every id, so they never allocate, make one pass, and step over plain
 * ASCII a word (8 bytes) at a time. The validator is json_check.c. */
#include "json_bytes.h"
#include "json_text.h"

bool segops__utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        const unsigned char *stop = word_end(p, end);
        if (len >= 8 && !utf8_marks(word_from(p, end))) {
            p = stop;
            continue;
        }
        /* A sequence may run past stop: it is checked against end. */
        while (p < stop) {
            size_t n = utf8_sequence(p, end);
            if (!n) return false;
            p += n;
        }
    }
    return true;
}

/* Bytes each byte becomes when escaped: 1, 2 ("\n") or 6 ("\u0001"). */
static size_t escaped_width(unsigned char ch) {
    if (ch == '"' || ch == '\\') return 2;
    if (ch >= 0x20) return 1;
    if (ch == '\b' || ch == '\f' || ch == '\n' || ch == '\r' || ch == '\t') return 2;
    return 6;
}

/* Bytes that escaping adds to [p, stop). */
static size_t extra_width(const unsigned char *p, const unsigned char *stop) {
    size_t extra = 0;
    for (; p < stop; p++) {
        if (!(byte_class[*p] & COPY)) extra += escaped_width(*p) - 1;
    }
    return extra;
}

size_t segops__json_escaped_len(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t out = len;
    while (p < end) {
        const unsigned char *stop = word_end(p, end);
        if (len >= 8 && !escape_marks(word_from(p, end))) {
            p = stop;
            continue;
        }
        out += extra_width(p, stop);
        p = stop;
    }
    return out;
}

bool segops__json_string_measure(const char *s, size_t len, size_t *escaped_len) {
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t out = len;
    while (p < end) {
        const unsigned char *stop = word_end(p, end);
        if (len >= 8 && !scan_marks(word_from(p, end))) {
            p = stop;
            continue;
        }
        while (p < stop) {
            unsigned char ch = *p;
            if (ch >= 0x80) { /* copied as is: 1 byte out per byte in */
                size_t n = utf8_sequence(p, end);
                if (!n) return false;
                p += n;
                continue;
            }
            if (ch == '\0') return false;
            out += escaped_width(ch) - 1;
            p++;
        }
    }
    *escaped_len = out;
    return true;
}

/* Writes the escape for a byte that is not COPY; returns the new end of dst. */
static char *write_escape(char *d, unsigned char ch) {
    static const char hex[] = "0123456789abcdef";
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
    return d;
}

size_t segops__json_escape(char *dst, const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    char *d = dst;
    while (p < end) {
        if (end - p >= 8 && !escape_marks(load_word(p))) {
            memcpy(d, p, 8);
            d += 8;
            p += 8;
            continue;
        }
        for (const unsigned char *stop = word_end(p, end); p < stop; p++) {
            if (byte_class[*p] & COPY)
                *d++ = (char)*p;
            else
                d = write_escape(d, *p);
        }
    }
    return (size_t)(d - dst);
}
