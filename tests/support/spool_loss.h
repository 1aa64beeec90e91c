/* Spool records made unreadable, for test_spool_loss_*.c: a segment harmed one way,
 * and the check that each lost record is counted, reported once and logged, the rest delivered. */
#ifndef SEGOPS_TEST_SPOOL_LOSS_H
#define SEGOPS_TEST_SPOOL_LOSS_H

#include "spooltest.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EVENTS 200
#define PAD 900 /* about 1 KiB a record: 60 in a 64 KiB segment, 4 segments */
#define RECORDS_MAX 512

/* The test program's server and recorder (loss_setup and loss_teardown). */
extern fixture_t loss;

int loss_setup(void **state);

int loss_teardown(void **state);

typedef enum damage { DELETED, EMPTIED, CUT, UNKNOWN_FORMAT, DIRECTORY } damage_t;

/* What was done to a segment and what it must cost. */
typedef struct harm {
    bool lost[EVENTS];
    uint64_t nlost;
    char named[128]; /* the log line about it holds this */
} harm_t;

/* The run directory (the only one) in dir. */
void only_run(const char *dir, char *out, size_t len);

/* Damages segment `victim`, which must have one after it (whose name says
 * where the victim's records end). `listed`: the spool listed the run's
 * segments before the harm (its own run), so a directory in the victim's place
 * is met as an unreadable segment; a run adopted after it never lists the
 * directory (it is no segment file) and finds its seqs missing instead. */
void harm_segment(const seg_list_t *segs, size_t victim, damage_t how, bool listed, harm_t *h);

/* One client's view of a case. */
typedef struct observed {
    recorder_t rec;
    log_recorder_t logs;
    size_t server_from; /* server events before the client existed */
} observed_t;

void observe(observed_t *o, segops_options_t *opts);

/* Exactly the harmed events are missing on the server and were reported once,
 * in one report and one WARN log line that names the place. */
void expect_losses(observed_t *o, segops_client_t *client, const harm_t *h, uint64_t recovered);

#endif
