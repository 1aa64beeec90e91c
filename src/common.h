/* The first header every libsegops source file includes: feature macros, the
 * public header, the allocator and a few tiny shared macros. */
#ifndef SEGOPS_COMMON_H
#define SEGOPS_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <segops/segops.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"

#define SEGOPS__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SEGOPS__UNUSED(x) ((void)(x))
#define SEGOPS__MIN(a, b) ((a) < (b) ? (a) : (b))
#define SEGOPS__MAX(a, b) ((a) > (b) ? (a) : (b))

/* The server's hard limit of events per batch request (SegOps protocol). */
#define SEGOPS__MAX_EVENTS_PER_REQUEST 500

/* The most requests a client may have in flight at once (max_in_flight). */
#define SEGOPS__MAX_IN_FLIGHT 16

/* Room for one line of detail in a drop report or transport error. */
#define SEGOPS__DETAIL_LEN 256

#endif
