/* One NDJSON input line turned into a segops_event_t (the only CLI file using cJSON). */
#ifndef SEGOPS_CLI_NDJSON_H
#define SEGOPS_CLI_NDJSON_H

#include <segops/segops.h>

#include <stddef.h>

typedef struct cli_ndjson_event {
    segops_event_t event; /* points into this struct's storage */
    void *root;           /* the parsed line (cJSON *) */
    char *payload;        /* the payload re-serialised compactly, or NULL for {} */
} cli_ndjson_event_t;

/* Parses {"user_id","event_type","payload","occurred_at","anonymous_id"} from
 * line[0..len). Returns NULL with *out filled (release it with
 * cli_ndjson_release), or a static reason why the line is malformed. */
const char *cli_ndjson_parse(const char *line, size_t len, cli_ndjson_event_t *out);

/* Frees what cli_ndjson_parse allocated. Safe on a zeroed struct. */
void cli_ndjson_release(cli_ndjson_event_t *ev);

#endif /* SEGOPS_CLI_NDJSON_H */
