/* A random-fault soak of the spool: clients one after another on one
 * spool_dir, each with its own small spool_max_bytes or a nearly full disk (a
 * small tmpfs), overflow policy and memory bound (DROP_OLDEST evicts), server
 * outages while it tracks, and a shutdown with a short deadline that leaves
 * events on disk for the next client; between clients, spool segments are cut,
 * zeroed or deleted. All of it is drawn from one seeded PRNG (test_seed).
 *
 * After every client: its own books balance, on_error reported exactly what it
 * counted dropped, and across all clients so far every accepted event reached
 * the server at most once (a refused one never), with
 *   copies on the server + events reported dropped + events owed on disk
 *     == events accepted
 * (owed on disk: left pending by a client, or never read by one).
 * No process is killed, but a shutdown deadline or an outage can cut a request
 * the server took: the client never sees the answer, keeps the events (on
 * disk, or reports them SHUTDOWN) and a later client sends them again. The
 * test counts what the server took from each client beyond what it counted
 * delivered; only that many may arrive twice (or arrive and be reported), and
 * none where the shutdown met its deadline without an outage. A damaged
 * segment whose lost records the test can name is reported as SPOOL_CORRUPT
 * exactly. */
#include "spooltest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "residence.h"

#define PAD 900 /* about 1 KiB a record: 60 in a 64 KiB segment */
#define EVENTS_MAX 40000
#define RECORDS_MAX 300     /* in a segment of 256 KiB (spool_max_bytes 4 MiB) */
#define NO_COUNT UINT64_MAX /* the lost records are not known exactly */

typedef struct soak {
    fixture_t f;
    unsigned seed;
    int runs, burst_max;
    char mount_point[512]; /* empty when mounting a tmpfs is not permitted */
    char dir[600];
    bool accepted[EVENTS_MAX];
    int next_id, n_accepted;
    uint64_t on_disk;           /* owed on disk by the clients so far: left pending or never read */
    uint64_t corrupt;           /* what damage since the last drain costs, or NO_COUNT */
    uint64_t corrupt_seen;      /* what the clients since then reported SPOOL_CORRUPT */
    uint64_t delivered;         /* what the clients counted delivered */
    uint64_t again;             /* copies beyond the first on the server */
    bool clean_last_run;        /* it neither evicted nor failed a write nor had a request cut */
    char own_run[RUN_NAME_MAX]; /* the last client's run directory */
} soak_t;

static soak_t s;

static unsigned roll(unsigned n) { return (unsigned)rand_r(&s.seed) % n; }

/* ---- the disk ---- */

/* Remounts the tmpfs with `room` bytes free beyond what it holds now (0:
 * plenty): a spool on it fills the disk after that many. */
static void set_disk_room(uint64_t room) {
    if (!s.mount_point[0]) return;
    struct statvfs sv;
    assert_int_equal(statvfs(s.mount_point, &sv), 0);
    uint64_t used = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
    char size[64];
    snprintf(size, sizeof size, "size=%llu", (unsigned long long)(room ? used + room : 64u << 20));
    assert_int_equal(mount("tmpfs", s.mount_point, "tmpfs", MS_REMOUNT, size), 0);
}

/* ---- the books ---- */

/* Across every client so far: no refused event arrived, and
 * arrivals + reports + owed on disk == accepted + arrivals in cut requests,
 * with no more second copies than arrivals in cut requests. */
static void assert_every_event_accounted(void) {
    tally_t got;
    tally_server(s.f.srv, 0, s.next_id, &got);
    uint64_t arrived = 0, again = 0;
    for (int i = 0; i < s.next_id; i++) {
        if (!s.accepted[i] && got.copies[i]) fail_msg("event %d was refused and arrived", i);
        arrived += (uint64_t)got.copies[i];
        again += got.copies[i] > 1 ? (uint64_t)got.copies[i] - 1 : 0;
    }
    assert_int_equal(got.others, 0);
    tally_free(&got);
    /* The server holds what the clients counted delivered, plus the events
     * of requests in flight when a deadline or an outage cut them (the
     * client never saw the answer): only those may arrive again, or arrive
     * and also be reported dropped. */
    if (arrived < s.delivered)
        fail_msg("the clients counted %llu delivered, the server holds %llu",
                 (unsigned long long)s.delivered, (unsigned long long)arrived);
    uint64_t in_doubt = arrived - s.delivered;
    if (again != s.again)
        print_message("%llu events arrived more than once so far\n", (unsigned long long)again);
    s.again = again;
    if (again > in_doubt)
        fail_msg("%llu events arrived again, %llu were in requests cut in flight",
                 (unsigned long long)again, (unsigned long long)in_doubt);
    uint64_t reported = events_reported(&s.f.rec);
    if (arrived + reported + s.on_disk != (uint64_t)s.n_accepted + in_doubt)
        fail_msg("accepted %d: arrived %llu + reported %llu + owed on disk %llu - in doubt %llu",
                 s.n_accepted, (unsigned long long)arrived, (unsigned long long)reported,
                 (unsigned long long)s.on_disk, (unsigned long long)in_doubt);
    assert_int_equal(segops__residence_refused(), 0);
}

/* ---- one client ---- */

typedef struct run_plan {
    size_t batch, max_queue;
    segops_overflow_t policy;
    uint64_t max_bytes;
    uint64_t disk_room; /* 0: plenty */
    int bursts;
    bool drain; /* a full flush and shutdown with the server up at the end */
} run_plan_t;

static run_plan_t draw_plan(bool drain) {
    run_plan_t p = {
        .max_queue = 50 + roll(500),
        .policy = (segops_overflow_t)roll(3),
        .max_bytes = (uint64_t)(1 + roll(4)) << 20, /* segments of max_bytes / 16 */
        .disk_room = s.mount_point[0] && !roll(3) ? (uint64_t)(128 + roll(512)) << 10 : 0,
        .bursts = 1 + (int)roll(4),
        .drain = drain || !roll(4),
    };
    p.batch = 10 + roll((unsigned)p.max_queue - 9); /* at most max_queue */
    return p;
}

/* Tracks up to n new events: each accepted, or refused with QUEUE_FULL. */
static void track_burst(segops_client_t *client, int n) {
    for (int k = 0; k < n && s.next_id < EVENTS_MAX; k++) {
        int i = s.next_id++;
        segops_err_t err = track_one_with_pad(client, i, PAD);
        if (err != SEGOPS_OK) assert_int_equal(err, SEGOPS_E_QUEUE_FULL);
        s.accepted[i] = err == SEGOPS_OK;
        s.n_accepted += s.accepted[i];
    }
}

static void run_client(const run_plan_t *p, int round) {
    set_disk_room(p->disk_room);
    segops_options_t *opts = spool_options(&s.f, p->batch, s.dir);
    assert_int_equal(segops_options_set_spool_max_bytes(opts, p->max_bytes), SEGOPS_OK);
    assert_int_equal(segops_options_set_max_queue_events(opts, p->max_queue), SEGOPS_OK);
    assert_int_equal(segops_options_set_overflow(opts, p->policy), SEGOPS_OK);
    assert_int_equal(segops_options_set_block_timeout_ms(opts, roll(5)), SEGOPS_OK);
    const uint64_t reported_before = events_reported(&s.f.rec);
    const size_t arrived_before = server_events(s.f.srv);
    char before[16][RUN_NAME_MAX], after[16][RUN_NAME_MAX];
    size_t nbefore = SEGOPS__MIN(spool_runs(s.dir, before, 16), 16);
    segops_client_t *client = NULL;
    segops_err_t made = segops_client_new(opts, &client);
    segops_options_free(opts);
    if (made != SEGOPS_OK)
        fail_msg("round %d: segops_client_new returned %d: %s", round, made, segops_last_error());
    /* Its own run directory is the one that was not there before. */
    size_t nafter = SEGOPS__MIN(spool_runs(s.dir, after, 16), 16);
    s.own_run[0] = '\0';
    for (size_t i = 0; i < nafter; i++) {
        bool old = false;
        for (size_t j = 0; j < nbefore && !old; j++) old = !strcmp(after[i], before[j]);
        if (!old) snprintf(s.own_run, sizeof s.own_run, "%s", after[i]);
    }
    assert_true(s.own_run[0]);

    bool paused = false;
    int outages = 0;
    for (int b = 0; b < p->bursts; b++) {
        if (!roll(3)) { /* an outage begins or ends */
            assert_int_equal(paused ? devsrv_resume(s.f.srv) : devsrv_pause(s.f.srv), 0);
            outages += !paused;
            paused = !paused;
        }
        track_burst(client, 1 + (int)roll((unsigned)s.burst_max));
        if (!roll(3)) {
            segops_err_t err = segops_flush(client, (int)roll(100));
            if (err != SEGOPS_OK) assert_int_equal(err, SEGOPS_E_TIMEOUT);
        }
    }

    segops_err_t down;
    if (p->drain) {
        if (paused) assert_int_equal(devsrv_resume(s.f.srv), 0);
        paused = false;
        assert_int_equal(segops_flush(client, 60000), SEGOPS_OK);
        down = segops_shutdown(client, 10000);
        assert_int_equal(down, SEGOPS_OK);
    } else {
        down = segops_shutdown(client, (int)roll(3) * 100); /* 0, 100 or 200 ms */
        if (down != SEGOPS_OK) assert_int_equal(down, SEGOPS_E_TIMEOUT);
    }
    segops_stats_t st = stats_of(client);
    assert_conservation(client);
    print_message("round %d: policy %d queue %zu max_bytes %llu room %llu: accepted %llu, "
                  "recovered %llu, delivered %llu, dropped %llu (overflow %llu, shutdown %llu, "
                  "corrupt %llu), write failures %llu, left %llu\n",
                  round, p->policy, p->max_queue, (unsigned long long)p->max_bytes,
                  (unsigned long long)p->disk_room, (unsigned long long)st.enqueued,
                  (unsigned long long)st.recovered, (unsigned long long)st.delivered,
                  (unsigned long long)st.dropped, (unsigned long long)st.dropped_queue_overflow,
                  (unsigned long long)st.dropped_shutdown,
                  (unsigned long long)st.dropped_spool_corrupt,
                  (unsigned long long)st.spool_write_failures, (unsigned long long)st.pending);
    /* Every drop this client counted, it reported by the time shutdown returned. */
    assert_int_equal(events_reported(&s.f.rec) - reported_before, st.dropped);
    /* The backlog is read as it is needed (`recovered` counts what was read):
     * all of it once a flush succeeded. */
    assert_true(st.recovered <= s.on_disk);
    if (p->drain) assert_int_equal(st.recovered, s.on_disk);
    if (down == SEGOPS_OK) assert_int_equal(st.pending, 0);
    /* Once a drain has read everything, the damage since the last one was
     * reported exactly, when the test knows what it cost. */
    s.corrupt_seen += st.dropped_spool_corrupt;
    if (p->drain) {
        if (s.corrupt != NO_COUNT) assert_int_equal(s.corrupt_seen, s.corrupt);
        s.corrupt = s.corrupt_seen = 0;
    }
    segops_client_free(client);
    /* A pause joins the server's handlers: one still storing a request the
     * client hung up on has finished (else it lands in the next client's count). */
    if (!paused) assert_int_equal(devsrv_pause(s.f.srv), 0);
    assert_int_equal(devsrv_resume(s.f.srv), 0);

    s.on_disk = s.on_disk - st.recovered + st.pending;
    /* What the server took from this client beyond what it counted
     * delivered was in requests cut in flight: by the shutdown deadline or
     * an outage, never otherwise. */
    const size_t arrived = server_events(s.f.srv) - arrived_before;
    assert_true(arrived >= st.delivered);
    const uint64_t cut = arrived - st.delivered;
    if (cut)
        print_message("round %d: %llu events arrived in requests cut in flight (shutdown %d, "
                      "%d outages)\n",
                      round, (unsigned long long)cut, down, outages);
    if (down == SEGOPS_OK && !outages) assert_int_equal(cut, 0);
    s.delivered += st.delivered;
    s.clean_last_run = !st.dropped_queue_overflow && !st.spool_write_failures && !cut;
    assert_every_event_accounted();
}

/* ---- damage between clients ---- */

/* Cuts, zeroes or deletes one segment of the spool, a run's last one too (its
 * end file names where the run ends). The records it held that the server has
 * not received are lost; they are known exactly when the victim is in the
 * last client's own run and that client neither evicted (a settled record
 * looks like any other), nor failed a write, nor had a request cut in flight,
 * and the segment holds every seq up to the next one's name (the last: up to
 * the end file's mark). */
static void damage_a_segment(void) {
    char runs[8][RUN_NAME_MAX];
    size_t nruns = spool_runs(s.dir, runs, 8);
    if (!nruns) return;
    nruns = SEGOPS__MIN(nruns, 8);
    size_t which = roll((unsigned)nruns);
    char run[700];
    snprintf(run, sizeof run, "%s/%s", s.dir, runs[which]);
    seg_list_t segs;
    list_segments(run, &segs);
    if (!segs.n) return;
    size_t victim = roll((unsigned)segs.n);
    uint64_t next_first = victim + 1 < segs.n ? segs.first[victim + 1] : spool_end_mark(run);
    size_t off[RECORDS_MAX + 1];
    int num[RECORDS_MAX];
    size_t n = segment_records(segs.path[victim], off, num, RECORDS_MAX);
    unsigned how = roll(3);
    size_t keep = how == 2 ? n / 2 : 0;
    tally_t got;
    tally_server(s.f.srv, 0, s.next_id, &got);
    uint64_t lost = 0;
    for (size_t i = keep; i < n; i++) {
        assert_true(num[i] >= 0 && num[i] < s.next_id);
        lost += !got.copies[num[i]];
    }
    tally_free(&got);
    if (how == 0) assert_int_equal(unlink(segs.path[victim]), 0);
    if (how == 1) assert_int_equal(truncate(segs.path[victim], 0), 0);
    if (how == 2) assert_int_equal(truncate(segs.path[victim], (off_t)off[keep]), 0);
    bool known = !strcmp(runs[which], s.own_run) && s.clean_last_run && next_first &&
                 n == next_first - segs.first[victim];
    const char *what[] = {"deleted", "zeroed", "cut"};
    print_message("damage: %s %s/%s%s (%zu records, %llu not delivered%s)\n", what[how],
                  runs[which], segs.name[victim], victim + 1 == segs.n ? ", the run's last" : "", n,
                  (unsigned long long)lost, known ? ", counted exactly" : "");
    s.corrupt = known && s.corrupt != NO_COUNT ? s.corrupt + lost : NO_COUNT;
}

/* ---- the soak ---- */

static void test_random_faults_every_event_accounted_once(void **state) {
    (void)state;
    memset(&s, 0, sizeof s);
    s.seed = test_seed("spool soak");
    s.runs = RUNNING_ON_VALGRIND ? 8 : 14;
    s.burst_max = RUNNING_ON_VALGRIND ? 200 : 600;
    fixture_start(&s.f, NULL);
    const char *mnt = mount_tmpfs("soak", "size=64m");
    if (mnt)
        snprintf(s.mount_point, sizeof s.mount_point, "%s", mnt);
    else
        print_message("no tmpfs (mounting is not permitted here): no disk-full rounds\n");
    snprintf(s.dir, sizeof s.dir, "%s/spool", mnt ? mnt : spool_path("soak_dir"));

    for (int round = 0; round < s.runs; round++) {
        run_plan_t p = draw_plan(false);
        run_client(&p, round);
        if (!roll(2)) damage_a_segment();
    }
    /* The last client, with room and the server up, delivers what is left. */
    run_plan_t last = draw_plan(true);
    last.disk_room = 0;
    run_client(&last, s.runs);
    assert_int_equal(s.on_disk, 0);
    assert_every_event_accounted();
    print_message("accepted %d of %d events; %zu arrived in requests cut in flight\n", s.n_accepted,
                  s.next_id, server_events(s.f.srv) - (size_t)s.delivered);

    if (s.mount_point[0]) assert_int_equal(umount(s.mount_point), 0);
    devsrv_stop(s.f.srv);
    recorder_destroy(&s.f.rec);
}

int main(void) {
    enter_mount_namespace(); /* before any thread */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_faults_every_event_accounted_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
