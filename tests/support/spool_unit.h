/* Helpers of the spool layer's unit tests (tests/unit/test_spool_*.c): a scratch root,
 * spools with given limits, events appended and read back, runs written by hand. */
#ifndef SEGOPS_TEST_SPOOL_UNIT_H
#define SEGOPS_TEST_SPOOL_UNIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "spool.h"
#include "spool_ack.h"
#include "spool_record.h"
#include "spooltest.h" /* remove_tree */

extern char root[256];

/* A fresh, empty spool directory path under root. */
const char *fresh_dir(const char *name);

segops__spool_limits_t limits(uint64_t segment_bytes);

segops__spool_t *open_spool(const char *dir, const segops__spool_limits_t *l);

void event_json(char *out, size_t len, const char *tag, size_t i);

/* Appends events tag-from .. tag-(from+n-1). */
segops_err_t append_events(segops__spool_t *s, const char *tag, size_t from, size_t n,
                           int64_t time_ms, bool hand_out, size_t *appended);

/* What a read handed out, copied. */
#define MAX_SEEN 65536
typedef struct seen {
    size_t count, refuse_after;
    char json[MAX_SEEN][128];
    segops__spool_pos_t pos[MAX_SEEN];
    bool adopted[MAX_SEEN];
} seen_t;

bool take(void *ctx, const segops__spool_rec_t *rec);

seen_t *read_all(segops__spool_t *s, int64_t now_ms);

/* seen holds exactly tag-from .. tag-(from+n-1), in order. */
void expect_events(const seen_t *seen, size_t at, const char *tag, size_t from, size_t n);

/* Settles everything seen, as a worker settles requests: in batches of 7. */
void ack_seen(segops__spool_t *s, const seen_t *seen);

/* Entries in dir whose name starts with prefix (recursively for runs' files). */
size_t count_entries(const char *dir, const char *prefix);

/* The one run directory in dir whose name is not `except`, into out. */
bool find_run(const char *dir, const char *except, char *out, size_t len);

/* Bytes of every .seg file under a run directory path. */
uint64_t seg_bytes(const char *run);

void write_file(const char *path, const void *data, size_t len);

/* A run directory "left by a dead process": records seq from..to, written by
 * hand with the record encoder into one segment; returns the file image size. */
size_t write_dead_run(const char *dir, const char *name, size_t from, size_t to,
                      uint8_t **image_out);

/* Exits the child with a line number when a fact does not hold. */
#define CHILD_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child: %s:%d: %s\n", __FILE__, __LINE__, #cond);                      \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

int wait_child(pid_t pid);

int setup_root(void **state);

int teardown_root(void **state);

/* Every test frees what the spool allocated: note_live before, check_live after. */
int note_live(void **state);
int check_live(void **state);

#endif
