/* JSON text without a tree: a strict single-pass validator for payload objects,
 * UTF-8 checking and string escaping. track() runs these on every event, so they
 * never allocate, make one pass, and step over plain ASCII a word (8 bytes) at a
 * time. */
#include "json_text.h"

/* Objects and arrays nested in a payload, the payload object included. A
 * promise of the public API: segops.h (segops_track) and the README state it,
 * and tests/unit/test_documented_limits.c holds them to this value. */
#define MAX_DEPTH 64

/* One table lookup per byte on the byte-wise paths. COPY: written as is inside a
 * JSON string (not a control byte, quote or backslash). SCAN: also plain ASCII,
 * so the validator can skip it without decoding UTF-8. */
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

/* Word-at-a-time tests (SWAR): each sets bit 7 of the bytes of w it marks. A
 * byte's subtraction can borrow from the next and mark it too, but never marks
 * a byte before the first real match: callers use only whether a word has marks
 * and, in the validator, where the first one is. Every word loaded lies inside
 * the text, so nothing past its end is read. */
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS (ONES * 0x80)

static inline uint64_t load_word(const unsigned char *p) {
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

/* For an ASCII byte x and c <= 0x20, x - c sets bit 7 (and borrows) only when
 * x < c: so bit 7 here marks bytes below 0x20, '"' and '\\' among ASCII bytes.
 * On bytes 0x80 and up it means nothing (they never borrow): callers mask them. */
static inline uint64_t special_bits(uint64_t w) {
    return ((w ^ (ONES * '"')) - ONES) | ((w ^ (ONES * '\\')) - ONES) | (w - ONES * 0x20);
}

/* Bytes that are not SCAN. */
static inline uint64_t scan_marks(uint64_t w) { return (special_bits(w) | w) & HIGHS; }

/* Bytes that are not COPY: bytes 0x80 and up are. */
static inline uint64_t escape_marks(uint64_t w) { return special_bits(w) & ~w & HIGHS; }

/* Bytes that are NUL or not ASCII. */
static inline uint64_t utf8_marks(uint64_t w) { return ((w - ONES) | w) & HIGHS; }

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* Offset of the first marked byte (the lowest, on a little-endian machine): the
 * validator jumps straight to it. Elsewhere a byte-wise loop finds it. */
#define FIRST_MARK(marks) ((unsigned)__builtin_ctzll(marks) / 8)
#endif

/* The end of the word at p: 8 bytes on, or the end of the text. */
static inline const unsigned char *word_end(const unsigned char *p, const unsigned char *end) {
    return end - p > 8 ? p + 8 : end;
}

/* The 8 bytes that vouch for p up to word_end(p, end): those at p or, for a
 * shorter tail, the last 8 of the text, re-testing bytes already passed (which
 * a test for bytes to stop at does not mind). Only for texts of 8 bytes or more,
 * so that short tails skip the byte-wise path too. */
static inline uint64_t word_from(const unsigned char *p, const unsigned char *end) {
    return load_word(end - p >= 8 ? p : end - 8);
}

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

/* The validator's scanners take the position and return the one after what they
 * scanned, or NULL when it is malformed, so the position stays in a register. */

static inline bool is_ws(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end) {
    if (p < end && ' ' < *p) return p; /* compact JSON: one test */
    while (p < end && is_ws(*p)) p++;
    return p;
}

static inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static inline const unsigned char *skip_digits(const unsigned char *p, const unsigned char *end) {
    while (p < end && is_digit(*p)) p++;
    return p;
}

static int hex_value(unsigned char h) {
    if (h >= '0' && h <= '9') return h - '0';
    if (h >= 'a' && h <= 'f') return h - 'a' + 10;
    if (h >= 'A' && h <= 'F') return h - 'A' + 10;
    return -1;
}

/* The value of the 4 hex digits at p; -1 when malformed or cut. */
static long read_hex4(const unsigned char *p, const unsigned char *end) {
    if (end - p < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(p[i]);
        if (h < 0) return -1;
        v = (v << 4) | h;
    }
    return v;
}

/* Called with p just after a backslash. A \u escape must not be a lone
 * surrogate: a high one needs a \u low one right after it. */
static const unsigned char *scan_escape(const unsigned char *p, const unsigned char *end) {
    if (p == end) return NULL;
    switch (*p) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't': return p + 1;
    case 'u': break;
    default: return NULL;
    }
    long u = read_hex4(p + 1, end);
    if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF)) return NULL;
    p += 5;
    if (u >= 0xD800 && u <= 0xDBFF) {
        if (end - p < 2 || p[0] != '\\' || p[1] != 'u') return NULL;
        long lo = read_hex4(p + 2, end);
        if (lo < 0xDC00 || lo > 0xDFFF) return NULL;
        p += 6;
    }
    return p;
}

/* Skips the plain printable ASCII (SCAN bytes) at p, the bulk of most strings. */
static inline const unsigned char *skip_scan(const unsigned char *p, const unsigned char *end) {
    for (; end - p >= 8; p += 8) {
        uint64_t marks = scan_marks(load_word(p));
#ifdef FIRST_MARK
        if (marks) return p + FIRST_MARK(marks);
#else
        if (marks) break; /* the byte-wise loop below finds the mark */
#endif
    }
    while (p < end && (byte_class[*p] & SCAN)) p++;
    return p;
}

/* Called with p (< end) on a byte that is not SCAN or '"': an escape, a UTF-8
 * sequence, or a raw control byte, which is refused. */
static const unsigned char *scan_special(const unsigned char *p, const unsigned char *end) {
    if (*p == '\\') return scan_escape(p + 1, end);
    if (*p < 0x80) return NULL;
    size_t n = utf8_sequence(p, end);
    return n ? p + n : NULL;
}

/* Called with p just after the opening quote. */
static inline const unsigned char *scan_string(const unsigned char *p, const unsigned char *end) {
    for (;;) {
        p = skip_scan(p, end);
        if (p == end) return NULL;
        if (*p == '"') return p + 1;
        p = scan_special(p, end);
        if (!p) return NULL;
    }
}

/* Called with p on '-' or a digit. */
static const unsigned char *scan_number(const unsigned char *p, const unsigned char *end) {
    if (*p == '-') p++;
    if (p == end) return NULL;
    const unsigned char *q = *p == '0' ? p + 1 : skip_digits(p, end);
    if (q == p) return NULL;
    p = q;
    if (p < end && *p == '.') {
        q = skip_digits(p + 1, end);
        if (q == p + 1) return NULL;
        p = q;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        q = skip_digits(p, end);
        if (q == p) return NULL;
        p = q;
    }
    return p;
}

static const unsigned char *scan_literal(const unsigned char *p, const unsigned char *end,
                                         const char *word, size_t len) {
    if ((size_t)(end - p) < len || memcmp(p, word, len) != 0) return NULL;
    return p + len;
}

/* The position after c, which may follow white space; NULL when c is not next. */
static inline const unsigned char *skip_past(const unsigned char *p, const unsigned char *end,
                                             unsigned char c) {
    if (!(p < end && *p == c)) { /* compact JSON has no white space here */
        p = skip_ws(p, end);
        if (!(p < end && *p == c)) return NULL;
    }
    return p + 1;
}

/* Called where an object member starts: its key and the colon after it. */
static inline const unsigned char *scan_key(const unsigned char *p, const unsigned char *end) {
    p = skip_past(p, end, '"');
    if (p) p = scan_string(p, end);
    if (p) p = skip_past(p, end, ':');
    return p;
}

/* Called with p where a value starts; returns the position after it (for '{'
 * or '[', after its matching close).
 * Iterative, so hostile nesting costs no stack: bit i of `objects` says whether
 * the container i levels out from the innermost is an object, and 64 bits hold
 * exactly MAX_DEPTH levels. */
static const unsigned char *scan_nested(const unsigned char *p, const unsigned char *end) {
    uint64_t objects = 0;
    int depth = 0; /* open containers */
    for (;;) {
        /* p is where an element starts: with a key when the innermost is an object. */
        if ((objects & 1) && !(p = scan_key(p, end))) return NULL;
        p = skip_ws(p, end);
        if (p == end) return NULL;
        switch (*p) {
        case '{':
        case '[':
            if (depth == MAX_DEPTH) return NULL;
            objects = objects << 1 | (*p == '{');
            depth++;
            p = skip_ws(p + 1, end);
            if (p < end && *p == ((objects & 1) ? '}' : ']')) break; /* empty */
            continue;
        case '"': p = scan_string(p + 1, end); break;
        case 't': p = scan_literal(p, end, "true", 4); break;
        case 'f': p = scan_literal(p, end, "false", 5); break;
        case 'n': p = scan_literal(p, end, "null", 4); break;
        case '-':
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9': p = scan_number(p, end); break;
        default: return NULL;
        }
        if (!p) return NULL;
        /* A value is complete: close each container it completes, up to a comma. */
        for (;;) {
            if (depth == 0) return p;
            p = skip_ws(p, end);
            if (p == end) return NULL;
            if (*p == ',') {
                p++;
                break;
            }
            if (*p != ((objects & 1) ? '}' : ']')) return NULL;
            p++;
            objects >>= 1;
            depth--;
        }
    }
}

segops_err_t segops__json_check_object(const char *s, size_t len) {
    if (!s) return SEGOPS_E_INVALID_JSON;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    p = skip_ws(p, end);
    if (p == end || *p != '{') return SEGOPS_E_INVALID_JSON;
    p = scan_nested(p, end);
    if (!p || skip_ws(p, end) != end) return SEGOPS_E_INVALID_JSON;
    return SEGOPS_OK;
}

segops_err_t segops__json_check_value(const char *s, size_t len) {
    if (!s) return SEGOPS_E_INVALID_JSON;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    p = skip_ws(p, end);
    if (p == end) return SEGOPS_E_INVALID_JSON;
    p = scan_nested(p, end); /* a scalar too: it returns after the one value */
    if (!p || skip_ws(p, end) != end) return SEGOPS_E_INVALID_JSON;
    return SEGOPS_OK;
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
