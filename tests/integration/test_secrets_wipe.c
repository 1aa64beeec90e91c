/* Every freed block that held a secret was wiped first (-Wl,--wrap=free), and nothing leaks. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "secrets_sink.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"

#include "secrets_sink.h"

/* Every free() libsegops makes comes here (test_secrets_wipe links with
 * -Wl,--wrap=free; only the static library's own calls are redirected). While
 * watching, a block still holding a canary secret as its text when it is
 * freed is counted: a secret must be wiped before its memory goes back. */
void __real_free(void *ptr);
void __wrap_free(void *ptr);
static atomic_bool watching_frees;
static atomic_ulong unwiped_frees;
static atomic_size_t unwiped_size; /* the last such block's size (never its text) */

void __wrap_free(void *ptr) {
    if (ptr && atomic_load(&watching_frees)) {
        size_t size = malloc_usable_size(ptr);
        size_t len = strnlen(ptr, size);
        if (len < size && memmem(ptr, len, CANARY, strlen(CANARY))) {
            atomic_fetch_add(&unwiped_frees, 1);
            atomic_store(&unwiped_size, size);
        }
    }
    __real_free(ptr);
}

static void watch_frees(bool on) {
    if (on) atomic_store(&unwiped_frees, 0);
    atomic_store(&watching_frees, on);
}

static void assert_every_secret_wiped(const char *when) {
    unsigned long unwiped = atomic_load(&unwiped_frees);
    if (unwiped)
        fail_msg("%s: %lu freed blocks (the last of %zu bytes) still held a secret", when, unwiped,
                 atomic_load(&unwiped_size));
}

static void test_free_wipes_without_leaks(void **state) {
    (void)state;
    watch_frees(true);
    long base = segops__alloc_test_live();
    segops_options_t *opts = NULL;
    assert_int_equal(segops_options_new(&opts), SEGOPS_OK);
    /* Replacing a key frees (and wipes) the old copy. */
    assert_int_equal(segops_options_set_api_key(opts, SK), SEGOPS_OK);
    assert_int_equal(segops_options_set_api_key(opts, PK), SEGOPS_OK);
    assert_int_equal(segops_options_set_api_key(opts, SK_WRONG), SEGOPS_OK);
    assert_int_equal(segops_options_set_proxy(opts, "http://u:" PROXY_PASS "@127.0.0.1:1"),
                     SEGOPS_OK);
    assert_int_equal(segops_options_set_proxy(opts, NULL), SEGOPS_OK);
    segops_options_free(opts);
    assert_int_equal(segops__alloc_test_live(), base);
    assert_every_secret_wiped("options replaced and freed");

    devsrv_t *srv = start_secret_server(NULL);
    static const char *const keys[] = {SK, PK};
    for (int sync = 0; sync < 2; sync++) {
        for (size_t k = 0; k < 2; k++) {
            segops_client_t *client = new_client(srv, &(spec_t){.key = keys[k], .sync = sync});
            if (sync)
                assert_int_equal(segops_track(client, "u", "e", NULL), SEGOPS_OK);
            else
                assert_int_equal(send_n(client, 2).delivered, 2);
            remember_token(srv);
            segops_client_free(client);
            assert_int_equal(segops__alloc_test_live(), base);
        }
    }
    watch_frees(false);
    devsrv_stop(srv);
    assert_every_secret_wiped("clients used and freed");
    sink_check(0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_free_wipes_without_leaks, secrets_setup),
    };
    return cmocka_run_group_tests(tests, secrets_group_setup, secrets_group_teardown);
}
