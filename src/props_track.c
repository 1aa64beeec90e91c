/* Tracking a builder's object: the event is prepared without scanning the
 * payload (the builder only ever holds valid JSON), then accepted like any. */
#include "props.h"

#include "clock.h"
#include "event.h"
#include "last_error.h"
#include "track.h"

segops_err_t segops_track_event_props(segops_client_t *client, const segops_event_t *event,
                                      const segops_props_t *props) {
    if (!client) return segops__fail(SEGOPS_E_INVALID_ARG, "segops_track: client is NULL");
    if (!event || event->payload_json)
        return segops__track_reject(
            client, segops__fail(SEGOPS_E_INVALID_ARG, "segops_track: %s",
                                 event ? "event->payload_json must be NULL with a props builder"
                                       : "the event is NULL"));
    size_t len;
    const char *payload = segops_props_json(props, &len);
    segops__event_plan_t plan;
    segops_err_t err =
        segops__event_prepare_trusted(event, payload, len, segops__track_max_event_bytes(client),
                                      segops__clock_realtime_ms(), &plan);
    if (err == SEGOPS_OK && props && segops__props_is_array(props))
        err = segops__fail(SEGOPS_E_INVALID_JSON,
                           "segops_track: the payload builder holds an array, not an object");
    if (err != SEGOPS_OK) return segops__track_reject(client, err);
    return segops__track_plan(client, &plan);
}

segops_err_t segops_track_props(segops_client_t *client, const char *user_id,
                                const char *event_type, const segops_props_t *props) {
    segops_event_t event = {user_id, event_type, NULL, NULL, NULL};
    return segops_track_event_props(client, &event, props);
}

segops_err_t segops_identify_props(segops_client_t *client, const char *user_id,
                                   const segops_props_t *traits) {
    return segops_track_props(client, user_id, "context_identified", traits);
}
