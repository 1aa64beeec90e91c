/* The server's JSON answers: a batch answer and a session answer.
 *
 * Properties: reads only body[0..len); skipped is a whole number <= 1e9; a
 * session token is a fresh non-empty string the caller owns; the reason is a
 * NUL-terminated string that fits why_len, for every why_len. */
#include "json.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *body = malloc(size ? size : 1);
    if (size) memcpy(body, data, size);

    uint64_t skipped = UINT64_MAX;
    if (segops__json_batch_skipped(body, size, &skipped))
        CHECK(skipped <= 1000000000u);
    else
        CHECK(skipped == UINT64_MAX);

    char *token = (char *)1;
    int64_t expires = 0;
    char why[96];
    memset(why, 'x', sizeof why);
    /* A why buffer as short as the first byte says, to exercise truncation. */
    const size_t why_len = size ? (size_t)data[0] % sizeof why : 0;
    segops_err_t err = segops__json_session(body, size, &token, &expires, why, why_len);
    if (err == SEGOPS_OK) {
        CHECK(token && token[0]);
        segops__free(token);
    } else {
        CHECK(token == NULL);
        CHECK(err == SEGOPS_E_HANDSHAKE || err == SEGOPS_E_NOMEM);
        if (why_len) CHECK(memchr(why, '\0', why_len) != NULL);
    }
    free(body);
    CHECK(segops__alloc_test_live() == 0);
    return 0;
}
