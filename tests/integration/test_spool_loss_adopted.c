/* Lost records of a run the client adopts: segments deleted, emptied, cut, unknown or a directory.
 */
#include "spool_loss.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounded_thread.h"

#include "spool_loss.h"

/* A client adopts the harmed run in dir, delivers what is left and loses
 * exactly h; `runs_left` run directories remain after it. */
static void deliver_adopted(const char *dir, const harm_t *h, size_t runs_left) {
    observed_t o;
    segops_options_t *opts = spool_options(&loss, 500, dir);
    observe(&o, opts);
    segops_client_t *client = NULL;
    assert_int_equal(segops_client_new(opts, &client), SEGOPS_OK);
    segops_options_free(opts);
    assert_int_equal(segops_flush(client, 30000), SEGOPS_OK);
    assert_int_equal(segops_shutdown(client, 10000), SEGOPS_OK);
    assert_conservation(client);
    expect_losses(&o, client, h, EVENTS);
    segops_client_free(client);
    assert_int_equal(spool_runs(dir, NULL, 0), runs_left);
    remove_tree(dir);
}

static void adopted_case(damage_t how, size_t victim) {
    const char *dir = spool_path("adopted");
    leave_padded_on_disk(&loss, dir, 0, EVENTS, PAD);
    char run[600];
    only_run(dir, run, sizeof run);
    seg_list_t segs;
    list_segments(run, &segs);
    harm_t h;
    harm_segment(&segs, victim, how, false, &h);
    /* Read to its end and settled: removed, so nobody reports it again (a
     * directory the spool did not make keeps it). */
    deliver_adopted(dir, &h, how == DIRECTORY ? 1 : 0);
}

static void test_adopted_segment_deleted(void **state) {
    (void)state;
    adopted_case(DELETED, 1);
}

static void test_adopted_first_segment_deleted(void **state) {
    (void)state;
    adopted_case(DELETED, 0); /* the cursor says seq 1 is owed */
}

static void test_adopted_segment_emptied(void **state) {
    (void)state;
    adopted_case(EMPTIED, 1);
}

static void test_adopted_segment_cut_at_a_record_boundary(void **state) {
    (void)state;
    adopted_case(CUT, 1);
}

static void test_adopted_segment_in_an_unknown_format(void **state) {
    (void)state;
    adopted_case(UNKNOWN_FORMAT, 1);
}

static void test_adopted_segment_replaced_by_a_directory(void **state) {
    (void)state;
    adopted_case(DIRECTORY, 1);
}

/* Every segment deleted but an empty last one, as a rotation on a full disk
 * leaves it: its name still says seqs 1..EVENTS were written. The spool used
 * to delete that empty segment before its reader saw the name, and every
 * event vanished unreported (test_spool_soak, seed 288818261). */
static void test_adopted_segments_deleted_before_an_empty_one(void **state) {
    (void)state;
    const char *dir = spool_path("adopted");
    leave_padded_on_disk(&loss, dir, 0, EVENTS, PAD);
    char run[600];
    only_run(dir, run, sizeof run);
    seg_list_t segs;
    list_segments(run, &segs);
    for (size_t i = 0; i < segs.n; i++) assert_int_equal(unlink(segs.path[i]), 0);
    char empty[700];
    snprintf(empty, sizeof empty, "%s/%016x.seg", run, EVENTS + 1);
    FILE *fp = fopen(empty, "wx");
    assert_non_null(fp);
    assert_int_equal(fclose(fp), 0);
    harm_t h = {.nlost = EVENTS};
    for (int i = 0; i < EVENTS; i++) h.lost[i] = true;
    snprintf(h.named, sizeof h.named, "seqs 1..%d", EVENTS);
    deliver_adopted(dir, &h, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adopted_segment_deleted),
        cmocka_unit_test(test_adopted_first_segment_deleted),
        cmocka_unit_test(test_adopted_segment_emptied),
        cmocka_unit_test(test_adopted_segment_cut_at_a_record_boundary),
        cmocka_unit_test(test_adopted_segment_in_an_unknown_format),
        cmocka_unit_test(test_adopted_segment_replaced_by_a_directory),
        cmocka_unit_test(test_adopted_segments_deleted_before_an_empty_one),
    };
    return cmocka_run_group_tests(tests, loss_setup, loss_teardown);
}
