/* Time text: RFC 3339 timestamps and HTTP dates. Pure functions, no allocation. */
#ifndef SEGOPS_TIMEFMT_H
#define SEGOPS_TIMEFMT_H

#include "common.h"

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" is 24 characters. */
#define SEGOPS__RFC3339_MS_LEN 24

/* Formats unix milliseconds as "2026-11-26T06:42:09.123Z" (UTC) into out and
 * NUL-terminates it. Valid for years 0000..9999; epoch_ms outside that range is
 * clamped to it. */
void segops__rfc3339_format_ms(int64_t epoch_ms, char out[SEGOPS__RFC3339_MS_LEN + 1]);

/* Parses an RFC 3339 date-time of exactly len bytes: "YYYY-MM-DDTHH:MM:SS", an
 * optional fraction of one or more digits (any number; truncated, not rounded,
 * to milliseconds), then 'Z' or a "+HH:MM" / "-HH:MM" offset ('T'/'Z' also
 * lowercase, per RFC 3339). Checks field ranges (days in month, leap years;
 * second 60 is accepted as 59) and that the instant lies in 0000..9999 UTC (a
 * year-0000 time at +14:00 does not). On success stores unix milliseconds (UTC)
 * and returns true; otherwise returns false and leaves *epoch_ms alone. */
bool segops__rfc3339_parse_ms(const char *s, size_t len, int64_t *epoch_ms);

/* Parses an HTTP-date (RFC 9110: IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT",
 * and the obsolete RFC 850 and asctime forms) into unix seconds. */
bool segops__http_date_parse(const char *s, size_t len, int64_t *epoch_s);

#endif
