/* A growable byte buffer, always NUL-terminated after `len` bytes. */
#ifndef SEGOPS_BUF_H
#define SEGOPS_BUF_H

#include "common.h"

typedef struct segops__buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
} segops__buf_t;

/* Makes room for `extra` more bytes (plus the NUL). SEGOPS_E_NOMEM on failure. */
segops_err_t segops__buf_reserve(segops__buf_t *b, size_t extra);
segops_err_t segops__buf_append(segops__buf_t *b, const void *data, size_t len);
segops_err_t segops__buf_append_str(segops__buf_t *b, const char *s);
/* Empties the buffer but keeps its memory for reuse. */
void segops__buf_clear(segops__buf_t *b);
/* Frees the memory; the buffer is empty and reusable afterwards. */
void segops__buf_free(segops__buf_t *b);

#endif
