/* Record encoding, the scanner that recognises intact records, and the walk. */
#include "spool_record.h"

#include "crc32c.h"
#include "spool_slot.h" /* the little-endian fields */

static const uint8_t magic[4] = {SEGOPS__SPOOL_MAGIC_BYTE, 'S', 'P', 'L'};

void segops__spool_record_header(uint8_t out[SEGOPS__SPOOL_RECORD_HEADER], uint64_t seq,
                                 int64_t time_ms, const void *payload, uint32_t len) {
    memcpy(out, magic, 4);
    segops__put_le32(out + 4, len);
    segops__put_le64(out + 8, seq);
    segops__put_le64(out + 16, (uint64_t)time_ms);
    segops__put_le32(out + 24, segops__crc32c(payload, len));
    segops__put_le32(out + 28, segops__crc32c(out, 28));
}

bool segops__spool_record_payload_ok(const void *payload, size_t len) {
    return len >= 1 && len <= SEGOPS__SPOOL_RECORD_MAX &&
           !memchr(payload, SEGOPS__SPOOL_MAGIC_BYTE, len);
}

/* The offset of the first magic in buf[from..len), counting a magic prefix cut
 * by the end of the buffer; len when there is none. */
static size_t find_magic(const uint8_t *buf, size_t from, size_t len) {
    while (from < len) {
        const uint8_t *p = memchr(buf + from, SEGOPS__SPOOL_MAGIC_BYTE, len - from);
        if (!p) return len;
        size_t at = (size_t)(p - buf);
        if (!memcmp(p, magic, SEGOPS__MIN(len - at, sizeof magic))) return at;
        from = at + 1;
    }
    return len;
}

static segops__spool_scan_t damage(const uint8_t *buf, size_t from, size_t len, bool broken) {
    segops__spool_scan_t s = {.kind = SEGOPS__SCAN_DAMAGE, .broken_record = broken};
    s.step = find_magic(buf, from, len);
    return s;
}

static segops__spool_scan_t need_more(size_t total) {
    segops__spool_scan_t s = {.kind = SEGOPS__SCAN_NEED_MORE, .step = total};
    return s;
}

segops__spool_scan_t segops__spool_record_scan(const uint8_t *buf, size_t len, bool at_eof) {
    segops__spool_scan_t s = {.kind = SEGOPS__SCAN_END};
    if (len == 0) return s;
    if (memcmp(buf, magic, SEGOPS__MIN(len, sizeof magic)) != 0) return damage(buf, 1, len, false);
    if (len < SEGOPS__SPOOL_RECORD_HEADER)
        /* A header cut by the end of the file: one broken record, whatever its
         * bytes (a 0xFF among them is no second record: none fits after it). */
        return at_eof ? damage(buf, len, len, true) : need_more(SEGOPS__SPOOL_RECORD_HEADER);

    uint32_t plen = segops__get_le32(buf + 4);
    uint64_t seq = segops__get_le64(buf + 8);
    if (segops__get_le32(buf + 28) != segops__crc32c(buf, 28) || plen == 0 ||
        plen > SEGOPS__SPOOL_RECORD_MAX || seq == 0)
        return damage(buf, 1, len, true);

    /* A 0xFF in the payload means the record's write stopped there (and another
     * record may start there): resynchronise at it without trusting the length. */
    size_t total = SEGOPS__SPOOL_RECORD_HEADER + (size_t)plen;
    size_t avail = SEGOPS__MIN(len, total);
    const uint8_t *body = buf + SEGOPS__SPOOL_RECORD_HEADER;
    const uint8_t *stray =
        memchr(body, SEGOPS__SPOOL_MAGIC_BYTE, avail - SEGOPS__SPOOL_RECORD_HEADER);
    if (stray) return damage(buf, (size_t)(stray - buf), len, true);
    if (total > len) return at_eof ? damage(buf, len, len, true) : need_more(total);
    if (segops__get_le32(buf + 24) != segops__crc32c(body, plen)) {
        s.kind = SEGOPS__SCAN_DAMAGE; /* a flipped payload bit: the length is still good */
        s.step = total;
        s.broken_record = true;
        return s;
    }
    s.kind = SEGOPS__SCAN_RECORD;
    s.step = total;
    s.rec.seq = seq;
    s.rec.time_ms = (int64_t)segops__get_le64(buf + 16);
    s.rec.len = plen;
    s.rec.payload = body;
    return s;
}

size_t segops__spool_record_walk(const uint8_t *buf, size_t len, segops__spool_record_fn fn,
                                 void *ctx, segops__spool_walk_stats_t *stats) {
    segops__spool_walk_stats_t local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    size_t off = 0;
    bool in_damage = false;
    while (off < len) {
        segops__spool_scan_t s = segops__spool_record_scan(buf + off, len - off, true);
        off += s.step;
        if (s.kind == SEGOPS__SCAN_RECORD) {
            in_damage = false;
            stats->records++;
            if (fn && !fn(ctx, &s.rec)) break;
            continue;
        }
        if (!in_damage) stats->damaged_regions++;
        in_damage = true;
        stats->damaged_bytes += s.step;
        if (s.broken_record) stats->broken_records++;
    }
    return off;
}
