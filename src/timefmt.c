/* RFC 3339 and HTTP-date text <-> unix time. Pure, no allocation, no libc time
 * functions (gmtime/timegm depend on TZ and are not reentrant everywhere).
 * Every parser reads only s[0..len) and checks the length before each access:
 * the input comes from the network and is not NUL-terminated. */
#include "common.h"

#include "timefmt.h"

#define MS_PER_DAY INT64_C(86400000)
#define S_PER_DAY INT64_C(86400)

/* Howard Hinnant's days_from_civil: days since 1970-01-01 for a proleptic
 * Gregorian date. Valid far beyond the 0000..9999 range used here. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);                       /* [0, 399] */
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse: civil date for a day count since 1970-01-01. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);                          /* [0, 146096] */
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    const unsigned mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(unsigned y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned days_in_month(unsigned y, unsigned m) {
    static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29u : days[m - 1];
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Reads exactly n decimal digits at s[pos..pos+n) if they lie inside len. */
static bool read_digits(const char *s, size_t len, size_t pos, size_t n, unsigned *out) {
    if (pos > len || n > len - pos) {
        return false;
    }
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[pos + i])) {
            return false;
        }
        v = v * 10 + (unsigned)(s[pos + i] - '0');
    }
    *out = v;
    return true;
}

static bool char_at(const char *s, size_t len, size_t pos, char c) {
    return pos < len && s[pos] == c;
}

/* Validates a calendar date and time of day and returns the unix second count.
 * Second 60 (a leap second) is folded into 59: unix time has no leap seconds. */
static bool civil_to_unix_s(unsigned y, unsigned mo, unsigned d, unsigned h, unsigned mi,
                            unsigned sec, int64_t *out) {
    if (y > 9999 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        sec > 60) {
        return false;
    }
    if (sec == 60) {
        sec = 59;
    }
    *out =
        days_from_civil(y, mo, d) * S_PER_DAY + (int64_t)h * 3600 + (int64_t)mi * 60 + (int64_t)sec;
    return true;
}

/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the instants RFC 3339
 * UTC text with a four-digit year can hold. */
static int64_t min_epoch_ms(void) { return days_from_civil(0, 1, 1) * MS_PER_DAY; }
static int64_t max_epoch_ms(void) { return days_from_civil(10000, 1, 1) * MS_PER_DAY - 1; }

void segops__rfc3339_format_ms(int64_t epoch_ms, char out[SEGOPS__RFC3339_MS_LEN + 1]) {
    const int64_t min_ms = min_epoch_ms(), max_ms = max_epoch_ms();
    if (epoch_ms < min_ms) {
        epoch_ms = min_ms;
    } else if (epoch_ms > max_ms) {
        epoch_ms = max_ms;
    }

    /* Floor division so times before 1970 land in the right day. */
    int64_t days = epoch_ms / MS_PER_DAY;
    int64_t rem = epoch_ms % MS_PER_DAY;
    if (rem < 0) {
        rem += MS_PER_DAY;
        days -= 1;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);

    const unsigned msd = (unsigned)rem; /* milliseconds into the day */
    const unsigned fields[7] = {
        (unsigned)y, m, d, msd / 3600000u, msd / 60000u % 60u, msd / 1000u % 60u, msd % 1000u,
    };
    /* Field widths and the separator written after each field. */
    static const unsigned char widths[7] = {4, 2, 2, 2, 2, 2, 3};
    static const char seps[7] = {'-', '-', 'T', ':', ':', '.', 'Z'};

    size_t pos = 0;
    for (size_t f = 0; f < 7; f++) {
        unsigned v = fields[f];
        for (size_t i = widths[f]; i > 0; i--) {
            out[pos + i - 1] = (char)('0' + v % 10);
            v /= 10;
        }
        pos += widths[f];
        out[pos++] = seps[f];
    }
    out[pos] = '\0';
}

bool segops__rfc3339_parse_ms(const char *s, size_t len, int64_t *epoch_ms) {
    if (s == NULL || epoch_ms == NULL) {
        return false;
    }
    unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    if (!read_digits(s, len, 0, 4, &y) || !char_at(s, len, 4, '-') ||
        !read_digits(s, len, 5, 2, &mo) || !char_at(s, len, 7, '-') ||
        !read_digits(s, len, 8, 2, &d) || !(char_at(s, len, 10, 'T') || char_at(s, len, 10, 't')) ||
        !read_digits(s, len, 11, 2, &h) || !char_at(s, len, 13, ':') ||
        !read_digits(s, len, 14, 2, &mi) || !char_at(s, len, 16, ':') ||
        !read_digits(s, len, 17, 2, &sec)) {
        return false;
    }
    size_t pos = 19;

    /* Fraction: one or more digits (RFC 3339 sets no maximum), truncated (not
     * rounded) to milliseconds, so it never carries into the next second. */
    unsigned frac_ms = 0;
    if (char_at(s, len, pos, '.')) {
        pos++;
        size_t n = 0;
        while (pos < len && is_digit(s[pos])) {
            if (n < 3) {
                frac_ms = frac_ms * 10 + (unsigned)(s[pos] - '0');
            }
            n++;
            pos++;
        }
        if (n < 1) {
            return false;
        }
        for (; n < 3; n++) {
            frac_ms *= 10;
        }
    }

    /* Offset: 'Z'/'z' or +HH:MM / -HH:MM, and then nothing more. */
    int64_t offset_s = 0;
    if (pos >= len) {
        return false;
    }
    if (s[pos] == 'Z' || s[pos] == 'z') {
        pos += 1;
    } else if (s[pos] == '+' || s[pos] == '-') {
        unsigned oh = 0, om = 0;
        if (!read_digits(s, len, pos + 1, 2, &oh) || !char_at(s, len, pos + 3, ':') ||
            !read_digits(s, len, pos + 4, 2, &om) || oh > 23 || om > 59) {
            return false;
        }
        offset_s = (int64_t)oh * 3600 + (int64_t)om * 60;
        if (s[pos] == '-') {
            offset_s = -offset_s;
        }
        pos += 6;
    } else {
        return false;
    }
    if (pos != len) {
        return false;
    }

    int64_t local_s;
    if (!civil_to_unix_s(y, mo, d, h, mi, sec, &local_s)) {
        return false;
    }
    /* Local time minus its offset is UTC. An offset can move a local time in
     * year 0000 or 9999 out of 0000..9999 UTC, which cannot be written back as
     * RFC 3339 UTC: refused rather than clamped to another instant. */
    const int64_t ms = (local_s - offset_s) * 1000 + (int64_t)frac_ms;
    if (ms < min_epoch_ms() || ms > max_epoch_ms()) {
        return false;
    }
    *epoch_ms = ms;
    return true;
}

static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const day_names[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                         "Friday", "Saturday", "Sunday"};

/* HTTP-date is case-sensitive (RFC 9110 5.6.7): exact byte comparison. */
static bool match_at(const char *s, size_t len, size_t pos, const char *lit, size_t n) {
    return pos <= len && n <= len - pos && memcmp(s + pos, lit, n) == 0;
}

/* A three-letter month name at pos: 1..12, or 0 if none. */
static unsigned month_at(const char *s, size_t len, size_t pos) {
    for (unsigned i = 0; i < 12; i++) {
        if (match_at(s, len, pos, month_names[i], 3)) {
            return i + 1;
        }
    }
    return 0;
}

/* "HH:MM:SS" at pos. */
static bool time_at(const char *s, size_t len, size_t pos, unsigned *h, unsigned *mi,
                    unsigned *sec) {
    return read_digits(s, len, pos, 2, h) && char_at(s, len, pos + 2, ':') &&
           read_digits(s, len, pos + 3, 2, mi) && char_at(s, len, pos + 5, ':') &&
           read_digits(s, len, pos + 6, 2, sec);
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (29 bytes). */
static bool parse_imf(const char *s, size_t len, int64_t *out) {
    if (len != 29) {
        return false;
    }
    bool day_ok = false;
    for (size_t i = 0; i < 7; i++) {
        day_ok = day_ok || match_at(s, len, 0, day_names[i], 3);
    }
    unsigned d = 0, mo = 0, y = 0, h = 0, mi = 0, sec = 0;
    if (!day_ok || !match_at(s, len, 3, ", ", 2) || !read_digits(s, len, 5, 2, &d) ||
        !char_at(s, len, 7, ' ') || (mo = month_at(s, len, 8)) == 0 || !char_at(s, len, 11, ' ') ||
        !read_digits(s, len, 12, 4, &y) || !char_at(s, len, 16, ' ') ||
        !time_at(s, len, 17, &h, &mi, &sec) || !match_at(s, len, 25, " GMT", 4)) {
        return false;
    }
    return civil_to_unix_s(y, mo, d, h, mi, sec, out);
}

/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT". */
static bool parse_rfc850(const char *s, size_t len, int64_t *out) {
    size_t pos = 0;
    bool day_ok = false;
    for (size_t i = 0; i < 7 && !day_ok; i++) {
        const size_t n = strlen(day_names[i]);
        if (match_at(s, len, 0, day_names[i], n)) {
            day_ok = true;
            pos = n;
        }
    }
    unsigned d = 0, mo = 0, yy = 0, h = 0, mi = 0, sec = 0;
    if (!day_ok || !match_at(s, len, pos, ", ", 2) || !read_digits(s, len, pos + 2, 2, &d) ||
        !char_at(s, len, pos + 4, '-') || (mo = month_at(s, len, pos + 5)) == 0 ||
        !char_at(s, len, pos + 8, '-') || !read_digits(s, len, pos + 9, 2, &yy) ||
        !char_at(s, len, pos + 11, ' ') || !time_at(s, len, pos + 12, &h, &mi, &sec) ||
        !match_at(s, len, pos + 20, " GMT", 4) || pos + 24 != len) {
        return false;
    }
    /* Two-digit years: a fixed 1970..2069 window. RFC 9110's "more than 50 years
     * ahead means the past century" would need the clock; the form is obsolete and
     * the window agrees with that rule for any date a server sends today. */
    const unsigned y = yy < 70 ? 2000 + yy : 1900 + yy;
    return civil_to_unix_s(y, mo, d, h, mi, sec, out);
}

/* asctime: "Sun Nov  6 08:49:37 1994" (24 bytes; the day is space-padded). */
static bool parse_asctime(const char *s, size_t len, int64_t *out) {
    if (len != 24) {
        return false;
    }
    bool day_ok = false;
    for (size_t i = 0; i < 7; i++) {
        day_ok = day_ok || match_at(s, len, 0, day_names[i], 3);
    }
    unsigned d = 0, mo = 0, y = 0, h = 0, mi = 0, sec = 0;
    if (!day_ok || !char_at(s, len, 3, ' ') || (mo = month_at(s, len, 4)) == 0 ||
        !char_at(s, len, 7, ' ')) {
        return false;
    }
    if (char_at(s, len, 8, ' ')) {
        if (!read_digits(s, len, 9, 1, &d)) {
            return false;
        }
    } else if (!read_digits(s, len, 8, 2, &d)) {
        return false;
    }
    if (!char_at(s, len, 10, ' ') || !time_at(s, len, 11, &h, &mi, &sec) ||
        !char_at(s, len, 19, ' ') || !read_digits(s, len, 20, 4, &y)) {
        return false;
    }
    return civil_to_unix_s(y, mo, d, h, mi, sec, out);
}

bool segops__http_date_parse(const char *s, size_t len, int64_t *epoch_s) {
    if (s == NULL || epoch_s == NULL) {
        return false;
    }
    int64_t t;
    if (parse_imf(s, len, &t) || parse_rfc850(s, len, &t) || parse_asctime(s, len, &t)) {
        *epoch_s = t;
        return true;
    }
    return false;
}
