/* The byte-level tools the JSON text modules share (json_check.c validates,
 * json_text.c checks UTF-8 and escapes): a byte-class table, word-at-a-time
 * tests and UTF-8 sequence decoding. Private to those two files. */
#ifndef SEGOPS_JSON_BYTES_H
#define SEGOPS_JSON_BYTES_H

#include "common.h"

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
static inline size_t utf8_sequence(const unsigned char *s, const unsigned char *end) {
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

#endif
