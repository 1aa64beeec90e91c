/* The spool record format and its reader (src/spool_record.c, src/crc32c.c):
 * round trips, and recovery from truncation at every byte, random bytes, bit
 * flips, garbage and torn writes, each damaged region counted once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "spool_record.h"

#define HDR SEGOPS__SPOOL_RECORD_HEADER

/* A file image: records appended one after the other, with their offsets. */
typedef struct image {
    uint8_t *buf;
    size_t len, cap;
    size_t start[64]; /* offset of record i */
    char payload[64][256];
    size_t count;
} image_t;

static void put(image_t *im, const void *bytes, size_t n) {
    if (im->len + n > im->cap) {
        im->cap = (im->len + n) * 2;
        im->buf = realloc(im->buf, im->cap);
        assert_non_null(im->buf);
    }
    memcpy(im->buf + im->len, bytes, n);
    im->len += n;
}

static void add_record(image_t *im, uint64_t seq, const char *json) {
    uint8_t header[HDR];
    segops__spool_record_header(header, seq, (int64_t)(1795000000000 + seq), json,
                                (uint32_t)strlen(json));
    im->start[im->count] = im->len;
    snprintf(im->payload[im->count], sizeof im->payload[0], "%s", json);
    im->count++;
    put(im, header, HDR);
    put(im, json, strlen(json));
}

/* n records of different lengths, seqs 1..n. */
static image_t make_image(size_t n) {
    image_t im = {0};
    for (size_t i = 0; i < n; i++) {
        char json[200];
        snprintf(json, sizeof json,
                 "{\"user_id\":\"u%zu\",\"event_type\":\"e\",\"occurred_at\":"
                 "\"2026-11-18T11:06:40.123Z\",\"payload\":{\"pad\":\"%.*s\"}}",
                 i, (int)(i * 7 % 50), "..................................................");
        add_record(&im, i + 1, json);
    }
    return im;
}

/* What a walk handed to its callback. */
typedef struct seen {
    size_t count;
    uint64_t seq[64];
    int64_t time_ms[64];
    char payload[64][256];
} seen_t;

static bool collect(void *ctx, const segops__spool_record_t *rec) {
    seen_t *seen = ctx;
    if (seen->count < 64) {
        seen->seq[seen->count] = rec->seq;
        seen->time_ms[seen->count] = rec->time_ms;
        snprintf(seen->payload[seen->count], sizeof seen->payload[0], "%.*s", (int)rec->len,
                 (const char *)rec->payload);
    }
    seen->count++;
    return true;
}

static segops__spool_walk_stats_t walk(const uint8_t *buf, size_t len, seen_t *seen) {
    segops__spool_walk_stats_t st;
    memset(seen, 0, sizeof *seen);
    /* An exact-size copy: ASan catches a read past the end. */
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, buf, len);
    assert_int_equal(segops__spool_record_walk(copy, len, collect, seen, &st), len);
    free(copy);
    assert_int_equal(st.records, seen->count);
    return st;
}

/* The records of im other than `except` (SIZE_MAX: none) came back intact. */
static void expect_records(const image_t *im, const seen_t *seen, size_t upto, size_t except) {
    size_t j = 0;
    for (size_t i = 0; i < upto; i++) {
        if (i == except) continue;
        assert_true(j < seen->count);
        assert_int_equal(seen->seq[j], i + 1);
        assert_int_equal(seen->time_ms[j], 1795000000000 + (int64_t)(i + 1));
        assert_string_equal(seen->payload[j], im->payload[i]);
        j++;
    }
    assert_int_equal(seen->count, j);
}

static void test_crc32c_known_answers(void **state) {
    (void)state;
    /* The CRC-32C check value (RFC 3720 B.4 / the Castagnoli catalogue). */
    assert_int_equal(segops__crc32c("123456789", 9), 0xE3069283u);
    uint8_t zeros[32] = {0}, ones[32];
    memset(ones, 0xff, sizeof ones);
    assert_int_equal(segops__crc32c(zeros, 32), 0x8A9136AAu); /* RFC 3720 B.4 */
    assert_int_equal(segops__crc32c(ones, 32), 0x62A8AB43u);
    assert_int_equal(segops__crc32c("", 0), 0);
    /* Any split gives the same value (the 8-byte path and the byte path agree). */
    const char *text = "the quick brown fox jumps over the lazy dog, twice over";
    uint32_t whole = segops__crc32c(text, strlen(text));
    for (size_t cut = 0; cut <= strlen(text); cut++)
        assert_int_equal(
            segops__crc32c_update(segops__crc32c(text, cut), text + cut, strlen(text) - cut),
            whole);
}

static void test_round_trip(void **state) {
    (void)state;
    image_t im = make_image(20);
    seen_t seen;
    segops__spool_walk_stats_t st = walk(im.buf, im.len, &seen);
    expect_records(&im, &seen, 20, SIZE_MAX);
    assert_int_equal(st.damaged_regions, 0);
    assert_int_equal(st.damaged_bytes, 0);
    /* The header layout is the documented one. */
    const uint8_t *h = im.buf + im.start[3];
    assert_memory_equal(h, "\xffSPL", 4);
    assert_int_equal(h[4] | h[5] << 8 | h[6] << 16 | (uint32_t)h[7] << 24, strlen(im.payload[3]));
    assert_int_equal(h[8], 4);
    assert_int_equal(segops__crc32c(h, 28),
                     h[28] | h[29] << 8 | h[30] << 16 | (uint32_t)h[31] << 24);
    free(im.buf);
}

static void test_truncated_at_every_offset_of_last_record(void **state) {
    (void)state;
    image_t im = make_image(6);
    size_t last = im.start[5];
    for (size_t cut = last; cut < im.len; cut++) {
        seen_t seen;
        segops__spool_walk_stats_t st = walk(im.buf, cut, &seen);
        expect_records(&im, &seen, 5, SIZE_MAX);
        if (cut == last) {
            assert_int_equal(st.damaged_regions, 0);
            continue;
        }
        /* The cut record is one damaged region, reported once, as one record. */
        assert_int_equal(st.damaged_regions, 1);
        assert_int_equal(st.damaged_bytes, cut - last);
        assert_int_equal(st.broken_records, 1);
        /* Not at EOF (the file may still be growing), a cut record asks for more. */
        segops__spool_scan_t s = segops__spool_record_scan(im.buf + last, cut - last, false);
        assert_int_equal(s.kind, SEGOPS__SCAN_NEED_MORE);
        assert_true(s.step > cut - last && s.step <= im.len - last);
    }
    free(im.buf);
}

/* xorshift64*: deterministic bytes. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static void test_random_bytes(void **state) {
    (void)state;
    uint8_t buf[4096];
    for (int round = 0; round < 2000; round++) {
        size_t len = rng() % sizeof buf;
        for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)rng();
        /* Plant magics so header checks run, not only the search. */
        for (int m = 0; m < 4 && len >= 4; m++) memcpy(buf + rng() % (len - 3), "\xffSPL", 4);
        seen_t seen;
        segops__spool_walk_stats_t st = walk(buf, len, &seen);
        assert_int_equal(st.records, 0);
        assert_int_equal(st.damaged_bytes, len);
        assert_int_equal(st.damaged_regions, len ? 1 : 0);
    }
}

static void test_bit_flips_lose_one_record(void **state) {
    (void)state;
    image_t im = make_image(3);
    for (size_t bit = 0; bit < im.len * 8; bit++) {
        size_t byte = bit / 8, victim = byte >= im.start[2] ? 2 : byte >= im.start[1] ? 1 : 0;
        size_t victim_end = victim == 2 ? im.len : im.start[victim + 1];
        im.buf[byte] ^= (uint8_t)(1u << (bit % 8));
        seen_t seen;
        segops__spool_walk_stats_t st = walk(im.buf, im.len, &seen);
        im.buf[byte] ^= (uint8_t)(1u << (bit % 8));
        expect_records(&im, &seen, 3, victim);
        assert_int_equal(st.damaged_regions, 1);
        assert_int_equal(st.damaged_bytes, victim_end - im.start[victim]);
        assert_int_equal(st.broken_records, byte - im.start[victim] < 4 ? 0 : 1);
    }
    free(im.buf);
}

static void test_garbage_between_records_resyncs(void **state) {
    (void)state;
    image_t im = make_image(4);
    /* Text garbage after record 2 (no 0xFF), a fake magic with a bad header
     * after record 3, and a zero-filled tail as a crash on ext4 leaves. */
    image_t out = {0};
    const char *garbage = "garbage that is not a record at all";
    uint8_t fake[40] = "\xffSPLxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    uint8_t zeros[4096] = {0};
    put(&out, im.buf, im.start[2]);
    put(&out, garbage, strlen(garbage));
    put(&out, im.buf + im.start[2], im.start[3] - im.start[2]);
    put(&out, fake, sizeof fake);
    put(&out, im.buf + im.start[3], im.len - im.start[3]);
    put(&out, zeros, sizeof zeros);
    seen_t seen;
    segops__spool_walk_stats_t st = walk(out.buf, out.len, &seen);
    expect_records(&im, &seen, 4, SIZE_MAX);
    assert_int_equal(st.damaged_regions, 3);
    assert_int_equal(st.damaged_bytes, strlen(garbage) + sizeof fake + sizeof zeros);
    assert_int_equal(st.broken_records, 1); /* only the fake header began as a record */
    free(im.buf);
    free(out.buf);
}

static void test_torn_write_followed_by_records(void **state) {
    (void)state;
    /* A record cut in its payload, then more records appended after it: the
     * magic of the next record inside the claimed payload resynchronises
     * without trusting the cut record's length. */
    image_t im = make_image(4);
    image_t out = {0};
    size_t cut = im.start[1] + HDR + 10;
    put(&out, im.buf, cut);
    put(&out, im.buf + im.start[2], im.len - im.start[2]);
    seen_t seen;
    segops__spool_walk_stats_t st = walk(out.buf, out.len, &seen);
    assert_int_equal(seen.count, 3);
    assert_int_equal(seen.seq[0], 1);
    assert_int_equal(seen.seq[1], 3);
    assert_int_equal(seen.seq[2], 4);
    assert_string_equal(seen.payload[1], im.payload[2]);
    assert_int_equal(st.damaged_regions, 1);
    assert_int_equal(st.damaged_bytes, HDR + 10);
    free(im.buf);
    free(out.buf);
}

static void test_header_limits(void **state) {
    (void)state;
    /* A header whose CRC is right but whose length is over the cap, zero, or
     * whose seq is 0 is damage, and nothing past the buffer is read. */
    const uint32_t lens[] = {SEGOPS__SPOOL_RECORD_MAX + 1, 0, 5};
    const uint64_t seqs[] = {1, 1, 0};
    for (size_t i = 0; i < 3; i++) {
        uint8_t rec[HDR + 5];
        segops__spool_record_header(rec, 1, 0, "abcde", 5);
        for (int b = 0; b < 4; b++) rec[4 + b] = (uint8_t)(lens[i] >> (8 * b));
        for (int b = 0; b < 8; b++) rec[8 + b] = (uint8_t)(seqs[i] >> (8 * b));
        uint32_t crc = segops__crc32c(rec, 28);
        for (int b = 0; b < 4; b++) rec[28 + b] = (uint8_t)(crc >> (8 * b));
        memcpy(rec + HDR, "abcde", 5);
        seen_t seen;
        segops__spool_walk_stats_t st = walk(rec, sizeof rec, &seen);
        assert_int_equal(st.records, 0);
        assert_int_equal(st.damaged_bytes, sizeof rec);
    }
    /* The largest payload is accepted; payloads with 0xFF or out of range are not. */
    assert_true(segops__spool_record_payload_ok("{}", 2));
    assert_false(segops__spool_record_payload_ok("{\xff}", 3));
    assert_false(segops__spool_record_payload_ok("", 0));
    char *big = malloc(SEGOPS__SPOOL_RECORD_MAX + 1);
    memset(big, 'a', SEGOPS__SPOOL_RECORD_MAX + 1);
    assert_true(segops__spool_record_payload_ok(big, SEGOPS__SPOOL_RECORD_MAX));
    assert_false(segops__spool_record_payload_ok(big, SEGOPS__SPOOL_RECORD_MAX + 1));
    image_t im = {0};
    uint8_t header[HDR];
    segops__spool_record_header(header, 7, -5, big, SEGOPS__SPOOL_RECORD_MAX);
    put(&im, header, HDR);
    put(&im, big, SEGOPS__SPOOL_RECORD_MAX);
    segops__spool_scan_t s = segops__spool_record_scan(im.buf, im.len, true);
    assert_int_equal(s.kind, SEGOPS__SCAN_RECORD);
    assert_int_equal(s.rec.seq, 7);
    assert_int_equal(s.rec.time_ms, -5);
    assert_int_equal(s.rec.len, SEGOPS__SPOOL_RECORD_MAX);
    free(big);
    free(im.buf);
}

static void test_incremental_scan_matches_walk(void **state) {
    (void)state;
    /* Feeding a stream in small windows (at_eof false until the end) finds the
     * same records as walking it whole: what the spool's reader does. */
    image_t im = make_image(10);
    im.buf[im.start[4] + HDR + 3] ^= 0x01; /* damage record 5 */
    for (size_t window = 1; window < 300; window += 7) {
        size_t off = 0, have = 0, found = 0;
        while (off < im.len) {
            have = have < off ? off : have;
            if (have == off) have = off + window < im.len ? off + window : im.len;
            segops__spool_scan_t s =
                segops__spool_record_scan(im.buf + off, have - off, have == im.len);
            if (s.kind == SEGOPS__SCAN_NEED_MORE) {
                assert_true(s.step > have - off);
                have = off + s.step < im.len ? off + s.step : im.len;
                continue;
            }
            assert_true(s.step > 0 && s.step <= have - off);
            if (s.kind == SEGOPS__SCAN_RECORD) {
                assert_int_equal(s.rec.seq, found < 4 ? found + 1 : found + 2);
                found++;
            }
            off += s.step;
        }
        assert_int_equal(found, 9);
    }
    free(im.buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_known_answers),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_truncated_at_every_offset_of_last_record),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_bit_flips_lose_one_record),
        cmocka_unit_test(test_garbage_between_records_resyncs),
        cmocka_unit_test(test_torn_write_followed_by_records),
        cmocka_unit_test(test_header_limits),
        cmocka_unit_test(test_incremental_scan_matches_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
