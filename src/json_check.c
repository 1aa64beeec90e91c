/* The payload validator: a strict single-pass check that a text is one JSON
 * value or object, without building a tree. track() runs it on every payload,
 * so it never allocates, keeps the position in a register, and steps over plain
 * ASCII in strings a word (8 bytes) at a time. */
#include "json_bytes.h"
#include "json_text.h"

/* Objects and arrays nested in a payload, the payload object included. A
 * promise of the public API: segops.h (segops_track) and the README state it,
 * and tests/unit/test_documented_limits.c holds them to this value. */
#define MAX_DEPTH 64

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
