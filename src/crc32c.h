/* CRC-32C (Castagnoli), the checksum of the spool's records and ack files.
 * Table-driven (slice-by-8), no dependency; the same value as iSCSI, ext4 and
 * SSE4.2's crc32 instruction, so files can be checked with standard tools. */
#ifndef SEGOPS_CRC32C_H
#define SEGOPS_CRC32C_H

#include "common.h"

/* Extends a finished CRC-32C (0 for none yet) over data[0..len). So
 * crc32c(a+b) == segops__crc32c_update(segops__crc32c_update(0, a), b).
 * Thread-safe; never allocates. */
uint32_t segops__crc32c_update(uint32_t crc, const void *data, size_t len);

static inline uint32_t segops__crc32c(const void *data, size_t len) {
    return segops__crc32c_update(0, data, len);
}

#endif
