/* Static text for error codes and drop reasons. */
#include "common.h"

#include "log.h"

const char *segops_strerror(segops_err_t err) {
    switch (err) {
    case SEGOPS_OK: return "success";
    case SEGOPS_E_INVALID_ARG: return "invalid argument";
    case SEGOPS_E_NOMEM: return "out of memory";
    case SEGOPS_E_STATE: return "operation not allowed in the client's current state";
    case SEGOPS_E_CONFIG: return "invalid configuration";
    case SEGOPS_E_INVALID_JSON: return "payload is not a JSON object";
    case SEGOPS_E_TOO_LARGE: return "too large";
    case SEGOPS_E_QUEUE_FULL: return "event queue is full";
    case SEGOPS_E_TIMEOUT: return "timed out";
    case SEGOPS_E_NETWORK: return "network error";
    case SEGOPS_E_TLS: return "TLS error";
    case SEGOPS_E_HTTP: return "HTTP error";
    case SEGOPS_E_AUTH: return "authentication failed";
    case SEGOPS_E_RATE_LIMITED: return "rate limited";
    case SEGOPS_E_SERVER: return "server error";
    case SEGOPS_E_HANDSHAKE: return "session handshake failed";
    case SEGOPS_E_CRYPTO: return "cryptography error";
    case SEGOPS_E_INTERNAL: return "internal error";
    case SEGOPS_E_SKIPPED: return "events skipped by the server as invalid";
    case SEGOPS_E_IO: return "spool file I/O failed";
    }
    return "unknown error";
}

const char *segops__drop_reason_name(segops_drop_reason_t reason) {
    switch (reason) {
    case SEGOPS_DROP_NONE: return "none";
    case SEGOPS_DROP_QUEUE_OVERFLOW: return "queue overflow";
    case SEGOPS_DROP_TOO_LARGE: return "too large";
    case SEGOPS_DROP_REJECTED: return "rejected";
    case SEGOPS_DROP_RETRIES_EXHAUSTED: return "retries exhausted";
    case SEGOPS_DROP_SHUTDOWN: return "shutdown deadline";
    case SEGOPS_DROP_SKIPPED: return "skipped by server";
    case SEGOPS_DROP_SPOOL_CORRUPT: return "spool corrupt";
    case SEGOPS_DROP_EXPIRED: return "expired";
    }
    return "unknown";
}

const char *segops_version(void) { return SEGOPS_VERSION_STRING; }
