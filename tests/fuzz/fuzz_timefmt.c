/* RFC 3339 and HTTP-date parsing on arbitrary bytes, plus the format round-trip.
 *
 * Properties: the parsers read only s[0..len) (ASan catches a byte more: the
 * input is copied to an exact-size buffer); whatever RFC 3339 parses formats
 * back to a string that parses to the same millisecond (after the formatter's
 * year 0..9999 clamp); any int64 formats to 24 characters that parse back. */
#include "timefmt.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static int64_t clamp_ms(int64_t ms) {
    /* 0000-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z */
    const int64_t lo = INT64_C(-62167219200000), hi = INT64_C(253402300799999);
    return ms < lo ? lo : ms > hi ? hi : ms;
}

static void check_round_trip(int64_t ms) {
    char out[SEGOPS__RFC3339_MS_LEN + 1];
    memset(out, 'x', sizeof out);
    segops__rfc3339_format_ms(ms, out);
    CHECK(strlen(out) == SEGOPS__RFC3339_MS_LEN);
    int64_t back = 0;
    CHECK(segops__rfc3339_parse_ms(out, SEGOPS__RFC3339_MS_LEN, &back));
    CHECK(back == clamp_ms(ms));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size ? size : 1);
    if (size) memcpy(s, data, size);

    int64_t ms = 0;
    if (segops__rfc3339_parse_ms(s, size, &ms)) check_round_trip(ms);

    int64_t secs = 0;
    if (segops__http_date_parse(s, size, &secs)) {
        /* Every HTTP-date form names a year 0..9999: in range of the formatter. */
        CHECK(secs >= INT64_C(-62167219200) && secs <= INT64_C(253402300799));
        check_round_trip(secs * 1000);
    }

    /* The first 8 bytes as an arbitrary int64 for the formatter. */
    if (size >= 8) {
        uint64_t raw;
        memcpy(&raw, data, 8);
        check_round_trip((int64_t)raw);
    }
    free(s);
    return 0;
}
