/* The per-thread reason for the last failed public call. */
#include "last_error.h"

#include <stdarg.h>
#include <stdio.h>

/* A static buffer per thread: nothing to allocate (it works when memory has
 * run out) and nothing to free when a thread ends. */
static _Thread_local char last_error[SEGOPS__DETAIL_LEN + 64];

/* One line: a server's message or a transport's text may hold line breaks. */
static void to_one_line(char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = ' ';
}

segops_err_t segops__fail(segops_err_t err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    to_one_line(last_error);
    return err;
}

segops_err_t segops__failed(segops_err_t err, const char *function) {
    if (err != SEGOPS_OK) segops__fail(err, "%s: %s", function, segops_strerror(err));
    return err;
}

const char *segops_last_error(void) { return last_error; }
