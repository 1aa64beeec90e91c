/* Helpers the spool integration tests share: scratch directories, the run
 * directories a spool_dir holds, spool options, events left on disk by an
 * earlier client, a tally of numbered events on the server, a recorder of log
 * lines and a helper child process. Assertions run on the test's main thread. */
#ifndef SEGOPS_TEST_SPOOLTEST_H
#define SEGOPS_TEST_SPOOLTEST_H

#include <sys/types.h>

#include "fixture.h"

/* A fresh, empty path `name` under this program's scratch directory (made on
 * first use, removed at exit by the process that made it). Not created. */
const char *spool_path(const char *name);
/* Removes a file or a directory tree. */
void remove_tree(const char *path);

/* The run directories (run-*) in dir, sorted: how many (names copied into
 * names[0..max) when names is not NULL). */
#define RUN_NAME_MAX 64
size_t spool_runs(const char *dir, char (*names)[RUN_NAME_MAX], size_t max);
/* Bytes of every regular file in dir and its run directories. */
uint64_t spool_file_bytes(const char *dir);
/* Bytes of the segment files (records) alone. */
uint64_t spool_segment_bytes(const char *dir);

/* fault_options(f, batch_size) with a spool at dir. */
segops_options_t *spool_options(fixture_t *f, size_t batch_size, const char *dir);

/* Leaves events first..first+n-1 of user "u" on disk in dir, as a client does
 * whose server is down at its shutdown: tracked, then shutdown(0), which must
 * return SEGOPS_E_TIMEOUT with nothing dropped. The server is paused for it
 * and resumed after. */
void leave_on_disk(fixture_t *f, const char *dir, int first, int n);

/* Tracks events first..first+n-1 of user "u" as {"i":k,"pad":"aa…"} with pad
 * bytes of padding, so a few hundred of them fill several spool segments;
 * each must be accepted. */
void track_numbered_padded(segops_client_t *client, int first, int n, size_t pad);
/* Tracks event i of user "u" as {"i":i,"pad":"aa…"} with SPOOLTEST_PAD bytes of
 * padding and returns what segops_track returned. */
#define SPOOLTEST_PAD 200
segops_err_t track_one_padded(segops_client_t *client, int i);
/* The same with pad bytes of padding (at most SPOOLTEST_PAD_MAX). */
#define SPOOLTEST_PAD_MAX 4096
segops_err_t track_one_with_pad(segops_client_t *client, int i, size_t pad);
/* leave_on_disk with padded events and a 1 MiB spool, whose segments are
 * 64 KiB (README: the spool's files). */
void leave_padded_on_disk(fixture_t *f, const char *dir, int first, int n, size_t pad);

/* The whole file at path, malloc'd (one spare byte); *len its size. */
uint8_t *read_whole_file(const char *path, size_t *len);
/* The next seq a run directory's end file names (src/spool_end.h: two 32-byte
 * slots, magic "\xffSPE", generation at 8, mark at 16; the newer one counts),
 * or 0 when it has none. */
uint64_t spool_end_mark(const char *run_dir);

/* The segment files (*.seg) of one run directory, sorted by name, which is
 * the seq of their first record in 16 hex digits. */
#define SEG_MAX 64
typedef struct seg_list {
    size_t n;
    uint64_t first[SEG_MAX];
    char name[SEG_MAX][32];
    char path[SEG_MAX][768];
} seg_list_t;
void list_segments(const char *run_dir, seg_list_t *out);
/* The records of a segment file, back to back: how many (at most max), the
 * offset each starts at (offsets[n] = the end) and the number k of each
 * event {"i":k,...} (numbers may be NULL). */
size_t segment_records(const char *path, size_t *offsets, int *numbers, size_t max);

/* Copies of each numbered event {"i":k,...} the server holds, k in [0, n),
 * among the events it received from index `from` on; `others` counts events
 * with any other payload or number. */
typedef struct tally {
    int n;
    int *copies;
    size_t others;
} tally_t;
void tally_server(devsrv_t *srv, size_t from, int n, tally_t *out);
void tally_free(tally_t *t);
/* From server event index `from` on: events first..first+n-1 once each and
 * nothing else. */
void assert_numbered_once(devsrv_t *srv, size_t from, int first, int n);

/* Every log line, counted by level; the lines that start with "spool" and the
 * first ERROR line are kept. */
#define LOG_KEPT 16
typedef struct log_recorder {
    pthread_mutex_t lock;
    size_t by_level[4];
    size_t spool_lines, spool_warns;
    char spool_text[LOG_KEPT][256];
    char first_error[256];
} log_recorder_t;
void log_recorder_init(log_recorder_t *l);
void log_recorder_destroy(log_recorder_t *l);
void log_recorder_fn(segops_log_level_t level, const char *message, void *userdata);
/* Snapshot under the lock. */
log_recorder_t log_snapshot(log_recorder_t *l);

/* Waits (hang-detector bound) until the client has written n events to its spool. */
void wait_spooled(segops_client_t *client, uint64_t n);

/* A helper program (tests/integration/spool_child.c) started with posix_spawn
 * (no code runs between fork and exec in a threaded test process): its stdout
 * is a pipe the test reads. argv[0] is the program's path; argv ends in NULL. */
typedef struct child {
    pid_t pid;
    int out_fd; /* read end of its stdout */
    char partial[32];
    size_t partial_len;
} child_t;
void child_spawn(child_t *c, const char *const *argv);
/* The same, with "NAME=value" in the child's environment, over any NAME it
 * inherits (NULL: nothing added). */
void child_spawn_env(child_t *c, const char *const *argv, const char *extra_env);
/* Reads what the child has written so far (non-blocking) and returns the last
 * complete number it printed, or `last` when none came. */
long child_read_count(child_t *c, long last);
/* Waits for the child and returns its wait status (out_fd stays open: read
 * what it wrote before it ended, then close it). */
int child_wait(child_t *c);

/* Enters a private mount namespace (root only; call before any thread
 * starts) so tmpfs mounts leak nowhere. False when that is not permitted. */
bool enter_mount_namespace(void);
/* A tmpfs (mount options such as "size=1m") at a fresh path `name` in that
 * namespace; NULL when mounting is not permitted. */
const char *mount_tmpfs(const char *name, const char *options);

/* Server events received so far. */
size_t server_events(devsrv_t *srv);

#endif
