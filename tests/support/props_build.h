/* Payload builders for the unit tests of src/props.c (test_props_*.c). */
#ifndef SEGOPS_TEST_PROPS_BUILD_H
#define SEGOPS_TEST_PROPS_BUILD_H

#include <segops/segops.h>

/* A new object builder; a new array builder. */
segops_props_t *new_props(void);
segops_props_t *new_array(void);

/* The builder's text, which must always be valid JSON. */
const char *props_text(const segops_props_t *p);

#endif
