/* The spool record reader on arbitrary bytes (a spool file after a crash, a
 * bad disk or another program's writes).
 *
 * Properties: the walk reads only data[0..size) (ASan: the input is copied to
 * an exact-size buffer) and accounts for every byte as a record or damage;
 * every record it returns re-encodes to the same bytes (both CRCs hold) and
 * fits the format's limits; scanning the same bytes through small windows
 * (not at EOF until the end, asking for more when a record is cut) finds the
 * same records in the same order, as the spool's file reader does. */
#include "spool_record.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define MAX_RECORDS 4096

typedef struct found {
    size_t count;
    uint64_t seq[MAX_RECORDS];
    const uint8_t *at[MAX_RECORDS];
    const uint8_t *base;
    size_t size;
    uint64_t record_bytes;
} found_t;

static bool check_record(void *ctx, const segops__spool_record_t *rec) {
    found_t *f = ctx;
    const uint8_t *start = rec->payload - SEGOPS__SPOOL_RECORD_HEADER;
    CHECK(start >= f->base && rec->payload + rec->len <= f->base + f->size);
    CHECK(rec->seq >= 1 && rec->len >= 1 && rec->len <= SEGOPS__SPOOL_RECORD_MAX);
    CHECK(segops__spool_record_payload_ok(rec->payload, rec->len));
    uint8_t header[SEGOPS__SPOOL_RECORD_HEADER];
    segops__spool_record_header(header, rec->seq, rec->time_ms, rec->payload, rec->len);
    CHECK(memcmp(header, start, sizeof header) == 0);
    if (f->count < MAX_RECORDS) {
        f->seq[f->count] = rec->seq;
        f->at[f->count] = start;
    }
    f->count++;
    f->record_bytes += SEGOPS__SPOOL_RECORD_HEADER + rec->len;
    return true;
}

/* Scans buf in windows of `window` bytes, growing one when a record is cut,
 * and checks each record against the whole walk's. */
static void check_windows(const found_t *whole, const uint8_t *buf, size_t size, size_t window) {
    size_t off = 0, have = 0, count = 0;
    while (off < size) {
        if (have <= off) have = off + window < size ? off + window : size;
        segops__spool_scan_t s = segops__spool_record_scan(buf + off, have - off, have == size);
        CHECK(s.kind != SEGOPS__SCAN_END);
        if (s.kind == SEGOPS__SCAN_NEED_MORE) {
            CHECK(have < size && s.step > have - off);
            CHECK(s.step <= SEGOPS__SPOOL_RECORD_HEADER + SEGOPS__SPOOL_RECORD_MAX);
            have = off + s.step < size ? off + s.step : size;
            continue;
        }
        CHECK(s.step >= 1 && s.step <= have - off);
        if (s.kind == SEGOPS__SCAN_RECORD) {
            CHECK(count < whole->count);
            if (count < MAX_RECORDS) {
                CHECK(whole->seq[count] == s.rec.seq);
                CHECK(whole->at[count] == buf + off);
            }
            count++;
        }
        off += s.step;
    }
    CHECK(count == whole->count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);
    if (size) memcpy(buf, data, size);

    found_t *whole = calloc(1, sizeof *whole);
    whole->base = buf;
    whole->size = size;
    segops__spool_walk_stats_t st;
    CHECK(segops__spool_record_walk(buf, size, check_record, whole, &st) == size);
    CHECK(st.records == whole->count);
    CHECK(whole->record_bytes + st.damaged_bytes == size);
    CHECK(st.damaged_regions <= st.records + 1);
    CHECK((st.damaged_bytes == 0) == (st.damaged_regions == 0));
    CHECK(st.broken_records <= st.damaged_bytes);

    /* A window size from the input's first byte, and the smallest one. */
    size_t window = size ? 1 + (size_t)data[0] * 3 : 1;
    check_windows(whole, buf, size, window);
    check_windows(whole, buf, size, 1);

    free(whole);
    free(buf);
    return 0;
}
