/* The payload builder (segops_props_t): a JSON object or array kept as compact
 * text that is valid by construction, so tracking it needs no validation pass. */
#ifndef SEGOPS_PROPS_H
#define SEGOPS_PROPS_H

#include "common.h"

/* Containers a builder's text may open, itself included: the payload
 * validator's limit (json_text.c), so a builder never holds what segops_track
 * would refuse as too deep. */
#define SEGOPS__PROPS_MAX_DEPTH 64

/* True for a builder made by segops_props_new_array. props must not be NULL. */
bool segops__props_is_array(const segops_props_t *props);

#endif
