/* The JSON span scanner: finds where a value or a member lies in JSON text,
 * because cJSON reports no offsets. It finds boundaries, it does not validate:
 * run it over text cJSON accepted, or rely on its `end` guards. */
#ifndef DEVSRV_JSON_SPAN_H
#define DEVSRV_JSON_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct devsrv__span {
    const char *start, *end;
} devsrv__span_t;

/* p at the first character of a value; returns just past its end, or NULL. */
const char *devsrv__json_skip_value(const char *p, const char *end);

/* Span of the first top-level member `name` of the object in [p, end), as
 * cJSON_GetObjectItemCaseSensitive picks the first of duplicate keys. */
bool devsrv__json_find_member(const char *p, const char *end, const char *name,
                              devsrv__span_t *out);

/* The member `name` of the object body[0..len) when it is a JSON integer token
 * (cJSON keeps only a double, so this reads the token itself). */
bool devsrv__json_raw_integer(const char *body, size_t len, const char *name, int64_t *out);

#endif
