/* The spool directory itself: opening it (creating the last path component)
 * and turning what went wrong into the one-line reason segops_client_new
 * returns with SEGOPS_E_CONFIG. */
#ifndef SEGOPS_SPOOL_DIR_H
#define SEGOPS_SPOOL_DIR_H

#include "common.h"

/* Opens (creating it, mode 0700, when only the last component is missing) the
 * spool directory. Returns its descriptor, or -1 with a reason in why. */
int segops__spool_dir_open(const char *path, char *why, size_t why_len);

/* The text of an errno value, thread-safely (buf holds it if needed). */
const char *segops__errno_text(int err, char *buf, size_t len);

/* Writes "spool_dir <path>: <what errno means for a spool>" into why. */
void segops__spool_dir_reason(int err, const char *path, char *why, size_t why_len);

#endif
