/* Where an accepted event lives with a spool that cannot take everything: a
 * spool capped at spool_max_bytes or on a full disk, evictions, expiry in
 * memory. Whatever happens, every event track accepted is delivered once or
 * reported dropped once, across the client that accepted it and the next one
 * on the same spool_dir (the server counts copies). */
#include "spooltest.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "bounded_thread.h"

#include "admission.h"
#include "residence.h"

/* Events on_error reported so far. */
static uint64_t reported(recorder_t *rec) {
    size_t reports;
    uint64_t events;
    recorder_snapshot(rec, &reports, &events);
    return events;
}

/* Tracks events 0..n-1 (each accepted or refused with SEGOPS_E_QUEUE_FULL);
 * accepted[i] says which. Returns how many were accepted. */
static int track_all(segops_client_t *client, int n, bool *accepted) {
    int count = 0;
    for (int i = 0; i < n; i++) {
        segops_err_t err = track_one_padded(client, i);
        if (err != SEGOPS_OK) assert_int_equal(err, SEGOPS_E_QUEUE_FULL);
        accepted[i] = err == SEGOPS_OK;
        count += accepted[i];
    }
    return count;
}

/* A second client on dir delivers what the first left there, then stops. */
static segops_stats_t next_client_delivers(fixture_t *f, const char *dir) {
    segops_client_t *client = NULL;
    segops_options_t *opts = spool_options(f, 500, dir);
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    assert_int_equal(segops_flush(client, 60000), SEGOPS_OK);
    segops_stats_t st = stats_of(client);
    assert_conservation(client);
    assert_int_equal(segops_shutdown(client, 10000), SEGOPS_OK);
    segops_client_free(client);
    return st;
}

/* Every accepted event reached the server once or was reported once (and the
 * refused ones never reached it): copies + reports == accepted. */
static void assert_one_outcome_each(fixture_t *f, int n, const bool *accepted, int n_accepted) {
    tally_t got;
    tally_server(f->srv, 0, n, &got);
    uint64_t delivered = 0;
    for (int i = 0; i < n; i++) {
        if (got.copies[i] > 1) fail_msg("event %d arrived %d times", i, got.copies[i]);
        if (!accepted[i] && got.copies[i]) fail_msg("event %d was refused and arrived", i);
        delivered += (uint64_t)got.copies[i];
    }
    assert_int_equal(got.others, 0);
    tally_free(&got);
    uint64_t dropped = reported(&f->rec);
    print_message("accepted %d: delivered %llu, reported dropped %llu\n", n_accepted,
                  (unsigned long long)delivered, (unsigned long long)dropped);
    assert_int_equal(delivered + dropped, (uint64_t)n_accepted);
    assert_int_equal(segops__residence_refused(), 0);
}

/* The server down, the spool full (at spool_max_bytes, or the disk), a short
 * shutdown deadline: what is in the spool stays for the next client, what is
 * only in memory is reported as SHUTDOWN and counted, nothing vanishes.
 * mount_point: the small tmpfs dir is on, given room before the next client
 * (which needs some for its own run directory). */
static void spool_full_at_the_deadline(const char *dir, uint64_t max_bytes, int n,
                                       segops_overflow_t policy, size_t max_queue,
                                       const char *mount_point) {
    fixture_t f;
    fixture_start(&f, NULL);
    segops_options_t *opts = spool_options(&f, 500, dir);
    if (max_bytes) assert_int_equal(segops_options_set_spool_max_bytes(opts, max_bytes), SEGOPS_OK);
    assert_int_equal(segops_options_set_overflow(opts, policy), SEGOPS_OK);
    if (max_queue)
        assert_int_equal(segops_options_set_max_queue_events(opts, max_queue), SEGOPS_OK);
    fixture_client(&f, opts);
    assert_int_equal(devsrv_pause(f.srv), 0);
    bool *accepted = calloc((size_t)n, sizeof *accepted);
    assert_non_null(accepted);
    int n_accepted = track_all(f.client, n, accepted);
    assert_int_equal(segops_shutdown(f.client, 200), SEGOPS_E_TIMEOUT);
    segops_stats_t st = stats_of(f.client);
    assert_conservation(f.client);
    print_message("spooled %llu, write failures %llu, dropped at the deadline %llu, left %llu\n",
                  (unsigned long long)st.spooled, (unsigned long long)st.spool_write_failures,
                  (unsigned long long)st.dropped_shutdown, (unsigned long long)st.pending);
    assert_true(st.spool_write_failures > 0); /* the spool did fill up */
    assert_int_equal(st.dropped, reported(&f.rec));
    assert_true(st.dropped_shutdown > 0); /* memory-only events were not parked */
    segops_client_free(f.client);
    f.client = NULL;
    if (mount_point)
        assert_int_equal(mount("tmpfs", mount_point, "tmpfs", MS_REMOUNT, "size=16m"), 0);
    assert_int_equal(devsrv_resume(f.srv), 0);
    segops_stats_t next = next_client_delivers(&f, dir);
    assert_int_equal(next.recovered, st.pending);
    assert_one_outcome_each(&f, n, accepted, n_accepted);
    free(accepted);
    fixture_stop(&f);
}

static void test_spool_at_max_bytes_every_policy(void **state) {
    (void)state;
    const segops_overflow_t policies[] = {SEGOPS_OVERFLOW_DROP_NEWEST, SEGOPS_OVERFLOW_DROP_OLDEST,
                                          SEGOPS_OVERFLOW_BLOCK};
    for (size_t i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "capped_%zu", i);
        /* DROP_OLDEST with a memory queue that fills too, so it evicts. */
        size_t max_queue = policies[i] == SEGOPS_OVERFLOW_DROP_OLDEST ? 5000 : 0;
        spool_full_at_the_deadline(spool_path(name), 1 << 20, 20000, policies[i], max_queue, NULL);
    }
}

static void test_disk_full_at_the_deadline(void **state) {
    (void)state;
    const char *mnt = mount_tmpfs("small", "size=2m");
    if (!mnt) SEGOPS_SKIP("mounting a tmpfs is not permitted here", geteuid() != 0);
    char mount_point[512], dir[600];
    snprintf(mount_point, sizeof mount_point, "%s", mnt);
    snprintf(dir, sizeof dir, "%s/spool", mount_point);
    spool_full_at_the_deadline(dir, 0, 30000, SEGOPS_OVERFLOW_DROP_NEWEST, 0, mount_point);
    assert_int_equal(umount(mount_point), 0);
}

/* DROP_OLDEST with the spool full: an evicted event is reported once and
 * never delivered (its record is settled, here and for the next client), and
 * the spool does not stay full once the backlog is delivered. */
static void test_drop_oldest_with_a_full_spool(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    const char *dir = spool_path("evict");
    segops_options_t *opts = spool_options(&f, 500, dir);
    assert_int_equal(segops_options_set_spool_max_bytes(opts, 1 << 20), SEGOPS_OK);
    assert_int_equal(segops_options_set_overflow(opts, SEGOPS_OVERFLOW_DROP_OLDEST), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_queue_events(opts, 3000), SEGOPS_OK);
    fixture_client(&f, opts);
    assert_int_equal(devsrv_pause(f.srv), 0);
    const int n = 20000, more = 1000;
    bool *accepted = calloc((size_t)(n + more), sizeof *accepted);
    assert_non_null(accepted);
    int n_accepted = track_all(f.client, n, accepted);
    assert_int_equal(n_accepted, n); /* DROP_OLDEST accepts every event */
    segops_stats_t st = stats_of(f.client);
    assert_true(st.dropped_queue_overflow > 0);
    assert_true(st.spool_write_failures > 0);
    assert_int_equal(devsrv_resume(f.srv), 0);
    assert_int_equal(segops_flush(f.client, 60000), SEGOPS_OK);
    /* Not jammed: with the backlog delivered, new events are spooled again. */
    st = stats_of(f.client);
    for (int i = n; i < n + more; i++) {
        accepted[i] = true;
        assert_int_equal(track_one_padded(f.client, i), SEGOPS_OK);
    }
    wait_spooled(f.client, st.spooled + (uint64_t)more);
    assert_int_equal(stats_of(f.client).spool_write_failures, st.spool_write_failures);
    assert_int_equal(segops_flush(f.client, 60000), SEGOPS_OK);
    assert_conservation(f.client);
    assert_int_equal(segops_shutdown(f.client, 10000), SEGOPS_OK);
    segops_client_free(f.client);
    f.client = NULL;
    segops_stats_t next = next_client_delivers(&f, dir); /* nothing evicted comes back */
    assert_int_equal(next.recovered, 0);
    assert_one_outcome_each(&f, n + more, accepted, n + more);
    free(accepted);
    fixture_stop(&f);
}

/* spool_max_age_ms applies to events held in memory too: with the server
 * down past it, every event expires (reported once), none is delivered. */
static void test_events_in_memory_expire(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    segops_options_t *opts = spool_options(&f, 500, spool_path("age"));
    assert_int_equal(segops_options_set_spool_max_age_ms(opts, 1000), SEGOPS_OK);
    fixture_client(&f, opts);
    assert_int_equal(devsrv_pause(f.srv), 0);
    const int n = 3000;
    bool accepted[3000];
    assert_int_equal(track_all(f.client, n, accepted), n);
    wait_spooled(f.client, (uint64_t)n);
    sleep_ms(1500); /* past spool_max_age_ms: not a bound on the library's speed */
    assert_int_equal(devsrv_resume(f.srv), 0);
    assert_int_equal(segops_flush(f.client, 60000), SEGOPS_OK);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.dropped_expired, n);
    assert_int_equal(st.dropped, n);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(f.rec.by_reason[SEGOPS_DROP_EXPIRED], n);
    assert_conservation(f.client);
    assert_one_outcome_each(&f, n, accepted, n);
    fixture_finish(&f);
}

/* ---- a logger that calls back into the client ---- */

typedef struct reentrant_logger {
    segops_client_t *_Atomic client;
    atomic_int inside; /* logger calls under way */
    atomic_int calls, tracked, stats_ok;
} reentrant_logger_t;

static void reentrant_log(segops_log_level_t level, const char *message, void *userdata) {
    (void)level;
    (void)message;
    reentrant_logger_t *l = userdata;
    atomic_fetch_add(&l->inside, 1);
    segops_client_t *client = atomic_load(&l->client);
    if (client) {
        atomic_fetch_add(&l->calls, 1);
        segops_stats_t st;
        if (segops_client_stats(client, &st) == SEGOPS_OK) atomic_fetch_add(&l->stats_ok, 1);
        if (segops_track(client, "u", "logged", "{}") == SEGOPS_OK)
            atomic_fetch_add(&l->tracked, 1);
    }
    atomic_fetch_sub(&l->inside, 1);
}

/* No logger call tracks any more once this returns. */
static void quiet_logger(reentrant_logger_t *l) {
    atomic_store(&l->client, NULL);
    int64_t until = now_ms() + HANG_MS;
    while (atomic_load(&l->inside) && now_ms() < until) sleep_ms(1);
    assert_int_equal(atomic_load(&l->inside), 0);
}

typedef struct producer {
    segops_client_t *client;
    int n;
    _Atomic int done; /* events accepted so far */
} producer_t;

static void *produce(void *arg) {
    producer_t *p = arg;
    for (int i = 0; i < p->n; i++)
        if (track_one_padded(p->client, i) == SEGOPS_OK) atomic_fetch_add(&p->done, 1);
    return NULL;
}

/* The spool full and failing (WARN lines), the server down: a logger that
 * calls segops_client_stats and segops_track never wedges the client. */
static void test_logger_calling_back_does_not_deadlock(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    reentrant_logger_t logger = {.client = NULL};
    segops_options_t *opts = spool_options(&f, 500, spool_path("logger"));
    assert_int_equal(segops_options_set_spool_max_bytes(opts, 1 << 20), SEGOPS_OK);
    assert_int_equal(segops_options_set_logger(opts, reentrant_log, SEGOPS_LOG_DEBUG, &logger),
                     SEGOPS_OK);
    fixture_client(&f, opts);
    atomic_store(&logger.client, f.client);
    assert_int_equal(devsrv_pause(f.srv), 0);
    producer_t p = {.client = f.client, .n = 20000};
    bounded_thread_t t;
    bounded_start(&t, produce, &p);
    if (!bounded_join(&t, now_ms() + 20 * HANG_MS)) {
        bounded_abandon(&t);
        fail_msg("tracking hung with a logger that calls back (%d log lines)",
                 atomic_load(&logger.calls));
    }
    wait_spooled(f.client, 1); /* the spool thread is alive */
    quiet_logger(&logger);
    segops_stats_t st = stats_of(f.client);
    print_message("log lines %d, stats from the logger %d, tracked from it %d, failures %llu\n",
                  atomic_load(&logger.calls), atomic_load(&logger.stats_ok),
                  atomic_load(&logger.tracked), (unsigned long long)st.spool_write_failures);
    assert_true(st.spool_write_failures > 0);
    assert_true(atomic_load(&logger.calls) > 0);
    assert_int_equal(atomic_load(&logger.stats_ok), atomic_load(&logger.calls));
    assert_int_equal(st.enqueued, (uint64_t)(atomic_load(&p.done) + atomic_load(&logger.tracked)));
    assert_int_equal(devsrv_resume(f.srv), 0);
    fixture_stop(&f);
}

/* Bytes this thread has passed to write() and its kind so far (any file). */
static long long thread_wchar(void) {
    FILE *io = fopen("/proc/thread-self/io", "r");
    if (!io) return -1;
    char line[128];
    long long wchar = -1;
    while (fgets(line, sizeof line, io))
        if (sscanf(line, "wchar: %lld", &wchar) == 1) break;
    fclose(io);
    return wchar;
}

typedef struct quiet_caller {
    segops_client_t *client;
    int n, accepted;
    long long wrote; /* by this thread while tracking and reading stats */
} quiet_caller_t;

static void *track_and_read_stats(void *arg) {
    quiet_caller_t *q = arg;
    long long before = thread_wchar();
    for (int i = 0; i < q->n; i++) {
        q->accepted += track_one_padded(q->client, i) == SEGOPS_OK;
        segops_stats_t st;
        if (i % 100 == 0) (void)segops_client_stats(q->client, &st);
    }
    long long after = thread_wchar();
    q->wrote = before < 0 || after < 0 ? -1 : after - before;
    return NULL;
}

/* track and segops_client_stats never write a spool file on the caller's
 * thread, not even with the memory queue full (the event goes to disk only):
 * the kernel's count of bytes this thread wrote stays where it was. */
static void test_track_and_stats_write_nothing_on_the_callers_thread(void **state) {
    (void)state;
    /* valgrind's scheduler writes to a pipe on every thread switch, counted as
     * the thread's writes. */
    require_or_skip(thread_wchar() >= 0 && !RUNNING_ON_VALGRIND,
                    "no /proc/thread-self/io here, or valgrind writes in it", SKIP_MACHINE_CANNOT);
    fixture_t f;
    fixture_start(&f, NULL);
    segops_options_t *opts = spool_options(&f, 500, spool_path("quiet"));
    assert_int_equal(segops_options_set_max_queue_events(opts, 1000), SEGOPS_OK);
    fixture_client(&f, opts);
    assert_int_equal(devsrv_pause(f.srv), 0);
    quiet_caller_t q = {.client = f.client, .n = 5000};
    bounded_thread_t t;
    bounded_start(&t, track_and_read_stats, &q);
    if (!bounded_join(&t, now_ms() + 20 * HANG_MS)) fail_msg("tracking hung");
    wait_spooled(f.client, (uint64_t)q.accepted);
    assert_true(q.accepted > 1000); /* past the memory bound: to disk only */
    assert_int_equal(q.wrote, 0);
    assert_int_equal(devsrv_resume(f.srv), 0);
    assert_int_equal(segops_flush(f.client, 60000), SEGOPS_OK);
    assert_int_equal(stats_of(f.client).delivered, (uint64_t)q.accepted);
    fixture_finish(&f);
}

/* Events of one encoded length: the pad shrinks as the number grows. */
static void *produce_fixed(void *arg) {
    producer_t *p = arg;
    for (int i = 0; i < p->n; i++) {
        char payload[SPOOLTEST_PAD + 64];
        int len = snprintf(payload, sizeof payload, "{\"i\":%d,\"pad\":\"", i);
        int pad = SPOOLTEST_PAD + 10 - len;
        memset(payload + len, 'x', (size_t)pad);
        snprintf(payload + len + pad, sizeof payload - (size_t)(len + pad), "\"}");
        if (segops_track(p->client, "u", "item_viewed", payload) == SEGOPS_OK)
            atomic_fetch_add(&p->done, 1);
    }
    return NULL;
}

/* The crash window, by counting: with a producer tracking flat out, at no
 * moment are more than SEGOPS__SPOOL_MAX_UNWRITTEN accepted events missing
 * from the spool files. The files are read, not the client (whose stats
 * must not do the writing); the server is down so no file shrinks, and every
 * record has one size, learnt at the end. */
#define SAMPLES_MAX 100000
static void test_unwritten_events_stay_bounded(void **state) {
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    const char *dir = spool_path("window");
    fixture_client(&f, spool_options(&f, 500, dir));
    assert_int_equal(devsrv_pause(f.srv), 0);
    producer_t p = {.client = f.client, .n = 60000};
    long *accepted = calloc(SAMPLES_MAX, sizeof *accepted);
    uint64_t *on_disk = calloc(SAMPLES_MAX, sizeof *on_disk);
    assert_true(accepted && on_disk);
    bounded_thread_t t;
    bounded_start(&t, produce_fixed, &p);
    size_t samples = 0;
    for (bool ended = false; !ended && samples < SAMPLES_MAX; samples++) {
        ended = bounded_join(&t, now_ms());
        accepted[samples] = atomic_load(&p.done);
        on_disk[samples] = spool_segment_bytes(dir); /* later: only more was written */
    }
    if (!bounded_join(&t, now_ms() + 20 * HANG_MS)) fail_msg("the producer hung");
    const int done = atomic_load(&p.done); /* a refusal (the bound's wait timed out) is fine */
    wait_spooled(f.client, (uint64_t)done);
    segops_stats_t st = stats_of(f.client);
    assert_int_equal(st.enqueued, done);
    uint64_t bytes = spool_segment_bytes(dir), record = bytes / st.spooled;
    assert_int_equal(bytes % st.spooled, 0); /* one record size */
    long worst = 0;
    for (size_t i = 0; i < samples; i++)
        worst = SEGOPS__MAX(worst, accepted[i] - (long)(on_disk[i] / record));
    print_message("%zu samples; at most %ld accepted events not in the files (bound %d)\n", samples,
                  worst, SEGOPS__SPOOL_MAX_UNWRITTEN);
    assert_true(worst <= SEGOPS__SPOOL_MAX_UNWRITTEN);
    free(accepted);
    free(on_disk);
    assert_int_equal(devsrv_resume(f.srv), 0);
    assert_int_equal(segops_flush(f.client, 120000), SEGOPS_OK);
    assert_int_equal(stats_of(f.client).delivered, (uint64_t)done);
    fixture_finish(&f);
}

int main(void) {
    enter_mount_namespace(); /* before any thread */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spool_at_max_bytes_every_policy),
        cmocka_unit_test(test_disk_full_at_the_deadline),
        cmocka_unit_test(test_drop_oldest_with_a_full_spool),
        cmocka_unit_test(test_events_in_memory_expire),
        cmocka_unit_test(test_logger_calling_back_does_not_deadlock),
        cmocka_unit_test(test_track_and_stats_write_nothing_on_the_callers_thread),
        cmocka_unit_test(test_unwritten_events_stay_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
