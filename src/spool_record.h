/* The spool's record format and the reader that recovers records from damaged
 * bytes. Pure: no I/O, no allocation, reads only the buffer it is given.
 *
 * A record is a 32-byte header and a payload (one encoded event, the exact
 * bytes the worker sends), all integers little-endian:
 *
 *   0  magic        FF 53 50 4C ("\xffSPL")
 *   4  length       payload bytes, 1 .. SEGOPS__SPOOL_RECORD_MAX
 *   8  seq          sequence number in its run, >= 1
 *   16 time_ms      wall-clock ms when the event was accepted (for the max age)
 *   24 payload_crc  CRC-32C of the payload
 *   28 header_crc   CRC-32C of bytes 0..27
 *
 * Payloads are UTF-8 JSON and never hold the byte 0xFF, so the magic cannot
 * occur inside a payload: after damage the reader resynchronises at the next
 * magic, and a payload that holds one is known to be cut short by a write that
 * did not finish. A valid header makes the length trustworthy, so a bit flip in
 * a payload loses that record only. Every byte is scanned a bounded number of
 * times: reading is linear in the input, whatever it holds. */
#ifndef SEGOPS_SPOOL_RECORD_H
#define SEGOPS_SPOOL_RECORD_H

#include "common.h"

#define SEGOPS__SPOOL_RECORD_HEADER 32u
/* The largest payload: the largest max_event_bytes (1 MiB). */
#define SEGOPS__SPOOL_RECORD_MAX 1048576u
/* The byte that starts the magic and never appears in a payload. */
#define SEGOPS__SPOOL_MAGIC_BYTE 0xFFu

typedef struct segops__spool_record {
    uint64_t seq;
    int64_t time_ms;
    uint32_t len;
    const uint8_t *payload; /* points into the scanned buffer */
} segops__spool_record_t;

/* Writes the header of a record holding payload[0..len) into out. */
void segops__spool_record_header(uint8_t out[SEGOPS__SPOOL_RECORD_HEADER], uint64_t seq,
                                 int64_t time_ms, const void *payload, uint32_t len);

/* True when payload[0..len) may be stored: 1..SEGOPS__SPOOL_RECORD_MAX bytes
 * without the byte 0xFF. */
bool segops__spool_record_payload_ok(const void *payload, size_t len);

typedef enum segops__spool_scan_kind {
    SEGOPS__SCAN_END,       /* the buffer is empty */
    SEGOPS__SCAN_RECORD,    /* an intact record starts at buf[0]; step is its size */
    SEGOPS__SCAN_DAMAGE,    /* buf[0..step) holds no record start: skip it */
    SEGOPS__SCAN_NEED_MORE, /* (not at EOF) buf[0] may start a record of step bytes */
} segops__spool_scan_kind_t;

typedef struct segops__spool_scan {
    segops__spool_scan_kind_t kind;
    size_t step;                /* > 0 unless END */
    bool broken_record;         /* DAMAGE that began at a magic: one record lost */
    segops__spool_record_t rec; /* RECORD only */
} segops__spool_scan_t;

/* Looks at buf[0..len). at_eof says no bytes follow buf[len-1]; without it a
 * record (or magic) cut by the end of the buffer asks for more instead of
 * counting as damage. */
segops__spool_scan_t segops__spool_record_scan(const uint8_t *buf, size_t len, bool at_eof);

/* What a walk found. Damaged bytes come in regions: maximal runs of bytes that
 * hold no intact record, each reported once. */
typedef struct segops__spool_walk_stats {
    uint64_t records;         /* intact records */
    uint64_t damaged_regions; /* runs of unreadable bytes */
    uint64_t damaged_bytes;
    uint64_t broken_records; /* damaged bytes that began as a record: a lower bound of
                                the records lost (a region of zeros or garbage has none) */
} segops__spool_walk_stats_t;

/* Called for each intact record; return false to stop the walk. */
typedef bool (*segops__spool_record_fn)(void *ctx, const segops__spool_record_t *rec);

/* Walks a whole file's bytes, calling fn (may be NULL) for every intact record
 * in order. Returns the bytes walked (len unless fn stopped it). */
size_t segops__spool_record_walk(const uint8_t *buf, size_t len, segops__spool_record_fn fn,
                                 void *ctx, segops__spool_walk_stats_t *stats);

/* One event to append: the encoded JSON the worker sends (1 byte .. 1 MiB,
 * never the byte 0xFF, which no UTF-8 text holds) and when it was accepted. */
typedef struct segops__spool_item {
    const char *json;
    uint32_t len;
    int64_t time_ms; /* wall clock, for the max age */
} segops__spool_item_t;

#endif
