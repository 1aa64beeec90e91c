/* How long queued events have waited (see waiting.h). */
#include "waiting.h"

void segops__waiting_seen(segops__waiting_t *w, int64_t now_ms, size_t queued) {
    if (queued && !w->any) w->since = now_ms;
    w->any = queued != 0;
}

void segops__waiting_took(segops__waiting_t *w, int64_t now_ms) {
    w->any = true; /* seen() clears it if the queue turns out empty */
    w->since = now_ms;
}

segops__deadline_t segops__waiting_due(const segops__waiting_t *w, int64_t max_wait_ms) {
    return w->any ? segops__deadline_after(w->since, max_wait_ms) : segops__deadline_none();
}
