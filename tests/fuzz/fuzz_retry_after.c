/* Retry-After parsing (delta-seconds or HTTP-date) on arbitrary bytes.
 *
 * Input: 8 bytes of "now" (unix seconds), 4 bytes of max_ms, then the header
 * value. Properties: reads only value[0..len); a parsed wait is within
 * [0, max_ms]; a failed parse leaves *wait_ms alone. */
#include "retry.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 12) return 0;
    int64_t now;
    uint32_t max_ms;
    memcpy(&now, data, 8);
    memcpy(&max_ms, data + 8, 4);
    const size_t len = size - 12;
    char *value = malloc(len ? len : 1);
    if (len) memcpy(value, data + 12, len);

    uint32_t wait = 0xDEADBEEF;
    if (segops__retry_after_parse(value, len, now, max_ms, &wait))
        CHECK(wait <= max_ms);
    else
        CHECK(wait == 0xDEADBEEF);

    /* A realistic clock too, so HTTP-dates land near now and are not all clamped. */
    wait = 0;
    if (segops__retry_after_parse(value, len, INT64_C(1764139329), 300000, &wait))
        CHECK(wait <= 300000);
    free(value);
    return 0;
}
