/* Allocator wrappers with an optional counting / fail-the-Nth hook for tests.
 * The counters are atomics so the hot path stays lock-free. */
#include "common.h"

#include <stdatomic.h>
#include <stdlib.h>

static atomic_long live_allocations;
static atomic_ullong allocation_attempts;
static atomic_long fail_countdown = -1;

static int should_fail(void) {
    atomic_fetch_add_explicit(&allocation_attempts, 1, memory_order_relaxed);
    long n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (n < 0) return 0;
    /* Count down to zero, then fail exactly once and disarm. */
    while (n >= 0) {
        long next = n == 0 ? -1 : n - 1;
        if (atomic_compare_exchange_weak(&fail_countdown, &n, next)) return n == 0;
    }
    return 0;
}

void *segops__malloc(size_t size) {
    if (should_fail()) return NULL;
    void *p = malloc(size ? size : 1);
    if (p) atomic_fetch_add_explicit(&live_allocations, 1, memory_order_relaxed);
    return p;
}

void *segops__calloc(size_t count, size_t size) {
    if (should_fail()) return NULL;
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p) atomic_fetch_add_explicit(&live_allocations, 1, memory_order_relaxed);
    return p;
}

void *segops__realloc(void *ptr, size_t size) {
    if (!ptr) return segops__malloc(size);
    if (should_fail()) return NULL;
    return realloc(ptr, size ? size : 1);
}

void segops__free(void *ptr) {
    if (!ptr) return;
    atomic_fetch_sub_explicit(&live_allocations, 1, memory_order_relaxed);
    free(ptr);
}

char *segops__strndup(const char *s, size_t len) {
    if (!s) return NULL;
    char *copy = segops__malloc(len + 1);
    if (!copy) return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

char *segops__strdup(const char *s) { return s ? segops__strndup(s, strlen(s)) : NULL; }

void segops__alloc_test_set_fail_after(long fail_after) {
    atomic_store(&fail_countdown, fail_after < 0 ? -1 : fail_after);
}

long segops__alloc_test_live(void) { return atomic_load(&live_allocations); }

uint64_t segops__alloc_test_count(void) { return atomic_load(&allocation_attempts); }
