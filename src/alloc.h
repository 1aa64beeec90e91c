/* The only place libsegops allocates from. Everything else calls these, so a
 * test can count live allocations and fail the Nth one (see tests/support). */
#ifndef SEGOPS_ALLOC_H
#define SEGOPS_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *segops__malloc(size_t size);
void *segops__calloc(size_t count, size_t size);
void *segops__realloc(void *ptr, size_t size);
void segops__free(void *ptr);
/* NULL in, NULL out; otherwise a copy or NULL on allocation failure. */
char *segops__strdup(const char *s);
char *segops__strndup(const char *s, size_t len);

/* Test hooks (not part of the public API). fail_after < 0 disables failure
 * injection; otherwise the allocation after `fail_after` more successes fails. */
void segops__alloc_test_set_fail_after(long fail_after);
/* Allocations made through this module minus those freed, since process start. */
long segops__alloc_test_live(void);
/* Allocations attempted since process start (successful or failed). */
uint64_t segops__alloc_test_count(void);

#endif
