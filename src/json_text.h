/* JSON text without a parse tree: strict validation of a payload object
 * (json_check.c), UTF-8 checks and string escaping (json_text.c). No
 * allocation, so track() can call it cheaply. */
#ifndef SEGOPS_JSON_TEXT_H
#define SEGOPS_JSON_TEXT_H

#include "common.h"

/* True when s[0..len) is well-formed UTF-8 (no overlongs, surrogates or NULs). */
bool segops__utf8_valid(const char *s, size_t len);

/* SEGOPS_OK when s[0..len) is exactly one JSON object (RFC 8259, surrounding
 * white space allowed, nesting at most 64 deep), else SEGOPS_E_INVALID_JSON. */
segops_err_t segops__json_check_object(const char *s, size_t len);

/* SEGOPS_OK when s[0..len) is exactly one JSON value of any kind (object,
 * array, string, number, true, false, null), with the same rules, else
 * SEGOPS_E_INVALID_JSON. */
segops_err_t segops__json_check_value(const char *s, size_t len);

/* Bytes that segops__json_escape writes for s[0..len) (without quotes or NUL). */
size_t segops__json_escaped_len(const char *s, size_t len);

/* Both checks an id needs, in one pass: false when s[0..len) is not valid UTF-8
 * or holds a NUL (as segops__utf8_valid), else true with *escaped_len set to
 * segops__json_escaped_len(s, len). *escaped_len is untouched on false. */
bool segops__json_string_measure(const char *s, size_t len, size_t *escaped_len);

/* Writes s[0..len) escaped as the inside of a JSON string (", \\ and control
 * characters escaped; valid UTF-8 copied as is) and returns the bytes written,
 * exactly segops__json_escaped_len(s, len). No NUL is written. */
size_t segops__json_escape(char *dst, const char *s, size_t len);

#endif
