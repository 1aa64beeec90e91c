/* Trigger latencies against the pacing (see latency.h). */
#include "latency.h"

#include <stdio.h>

int64_t time_arrival(devsrv_t *srv, uint64_t server_total, int64_t since) {
    uint64_t have = devsrv_wait_events(srv, server_total, 10000);
    int64_t took = now_ms() - since;
    if (have < server_total)
        fail_msg("the server holds %llu events, not %llu, after 10 s", (unsigned long long)have,
                 (unsigned long long)server_total);
    return took;
}

int64_t track_and_time_arrival(segops_client_t *client, devsrv_t *srv, int seq,
                               uint64_t server_total) {
    char payload[32];
    snprintf(payload, sizeof payload, "{\"lone\":%d}", seq);
    int64_t start = now_ms();
    assert_int_equal(segops_track(client, "u", "lone", payload), SEGOPS_OK);
    return time_arrival(srv, server_total, start);
}

void assert_sooner_than_pacing(int64_t trigger_ms, int64_t pacing_ms, const char *trigger) {
    print_message("%s: sent after %lld ms; a lone event waited %lld ms for the pacing\n", trigger,
                  (long long)trigger_ms, (long long)pacing_ms);
    if (trigger_ms * 2 >= pacing_ms)
        fail_msg("%s took %lld ms to reach the server, a lone event %lld ms: the trigger did not "
                 "send, the pacing did",
                 trigger, (long long)trigger_ms, (long long)pacing_ms);
}
