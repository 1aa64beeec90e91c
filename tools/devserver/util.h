/* Tiny helpers shared by the dev server's files: copies and clocks. Plain libc
 * malloc (never the library's counting allocator: tests count only the client). */
#ifndef DEVSRV_UTIL_H
#define DEVSRV_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* NULL in, NULL out; otherwise a malloc'd copy or NULL. */
char *devsrv__dupstr(const char *s);
/* A malloc'd, NUL-terminated copy of n bytes, or NULL. */
char *devsrv__dupmem(const char *s, size_t n);
/* Copies src (NULL = "") into dst[cap], truncating; always NUL-terminates. */
void devsrv__copy_trunc(char *dst, size_t cap, const char *src);
/* Copies src into buf[buflen] like copy_trunc (when buf is given) and returns
 * strlen(src), or 0 for NULL. */
size_t devsrv__copy_out(const char *src, char *buf, size_t buflen);
/* Milliseconds of the given clock (CLOCK_MONOTONIC or CLOCK_REALTIME). */
int64_t devsrv__clock_ms(clockid_t id);
/* An absolute CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait. */
struct timespec devsrv__deadline_in(int64_t ms);

#endif
