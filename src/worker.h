/* The background thread of a batching client: waits for a due batch, takes it
 * from the queue and hands it to the delivery pipeline, until shutdown. */
#ifndef SEGOPS_WORKER_H
#define SEGOPS_WORKER_H

#include "common.h"

#include "client.h"

/* Starts the worker with every signal blocked in it. SEGOPS_OK or SEGOPS_E_INTERNAL. */
segops_err_t segops__worker_start(segops_client_t *c);

#endif
