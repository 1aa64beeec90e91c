/* The spool's little-endian fields, and the checksummed slot its two small
 * files keep two of (the ack file, spool_ack.h, and a run's end file,
 * spool_end.h). The two slots are written in turn, so a torn write damages one
 * and the other still holds the previous value; the newer valid slot counts.
 *
 * A slot is 32 bytes: magic (4), flags (1), 3 zero bytes, generation u64,
 * value u64, CRC-32C of bytes 0..23 (4), 4 zero bytes, little-endian. The file
 * starts with both slots (written at once when it is made, so that a later
 * write needs no new space on a full disk); slot (generation & 1) is next. */
#ifndef SEGOPS_SPOOL_SLOT_H
#define SEGOPS_SPOOL_SLOT_H

#include "common.h"

#include <errno.h>
#include <unistd.h>

#include "crc32c.h"

#define SEGOPS__SPOOL_SLOT 32

static inline void segops__put_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline void segops__put_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t segops__get_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t segops__get_le64(const uint8_t *p) {
    return (uint64_t)segops__get_le32(p) | (uint64_t)segops__get_le32(p + 4) << 32;
}

typedef struct segops__spool_slot {
    uint8_t flags;
    uint64_t generation;
    uint64_t value;
} segops__spool_slot_t;

static inline void segops__spool_slot_encode(uint8_t out[SEGOPS__SPOOL_SLOT],
                                             const uint8_t magic[4],
                                             const segops__spool_slot_t *slot) {
    memset(out, 0, SEGOPS__SPOOL_SLOT);
    memcpy(out, magic, 4);
    out[4] = slot->flags;
    segops__put_le64(out + 8, slot->generation);
    segops__put_le64(out + 16, slot->value);
    segops__put_le32(out + 24, segops__crc32c(out, 24));
}

/* The newer of the valid slots among the `len` bytes at buf (a file's first
 * two slots, or fewer when it is short): false when none is valid. */
static inline bool segops__spool_slot_newest(const uint8_t *buf, size_t len, const uint8_t magic[4],
                                             segops__spool_slot_t *out) {
    bool found = false;
    for (size_t at = 0; at + SEGOPS__SPOOL_SLOT <= len && at < 2 * SEGOPS__SPOOL_SLOT;
         at += SEGOPS__SPOOL_SLOT) {
        const uint8_t *s = buf + at;
        if (memcmp(s, magic, 4) != 0 || segops__get_le32(s + 24) != segops__crc32c(s, 24)) continue;
        uint64_t generation = segops__get_le64(s + 8);
        if (found && generation < out->generation) continue;
        *out = (segops__spool_slot_t){s[4], generation, segops__get_le64(s + 16)};
        found = true;
    }
    return found;
}

/* Writes `slot` into its place, or both places at once (a new file). SEGOPS_OK
 * or SEGOPS_E_IO with errno set (ENOSPC for a short write). */
static inline segops_err_t segops__spool_slot_write(int fd, const uint8_t magic[4],
                                                    const segops__spool_slot_t *slot, bool both) {
    uint8_t buf[2 * SEGOPS__SPOOL_SLOT];
    segops__spool_slot_encode(buf, magic, slot);
    if (both) memcpy(buf + SEGOPS__SPOOL_SLOT, buf, SEGOPS__SPOOL_SLOT);
    size_t len = both ? sizeof buf : SEGOPS__SPOOL_SLOT;
    off_t at = both ? 0 : (off_t)(slot->generation & 1) * SEGOPS__SPOOL_SLOT;
    ssize_t wrote = pwrite(fd, buf, len, at);
    if (wrote == (ssize_t)len) return SEGOPS_OK;
    if (wrote >= 0) errno = ENOSPC;
    return SEGOPS_E_IO;
}

#endif
