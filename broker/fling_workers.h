/*  fling_workers.h - the broker's worker table: READY, RESULT, HOLDING,
    capacity, leases, and what a worker's death means for its tasks.
*/
#ifndef FLING_WORKERS_H_INCLUDED
#define FLING_WORKERS_H_INCLUDED

#include "fling_state.h"

/*  Refreshes the last-seen time of the worker at `peer` (any message is a
    sign of life) and returns it, or NULL if it is not registered. */
fling_bworker_t *fling_workers_touch (fling_broker_t *self, const fling_peer_t *peer);

/*  Handles a decoded message from the worker socket; `worker` is what
    fling_workers_touch returned for `peer`. */
void fling_workers_handle (fling_broker_t *self, const fling_peer_t *peer, fling_bworker_t *worker,
                           const fling_msg_t *msg);

/*  After the turn's store commit: RESULT_ACK to each FLP/1.1 worker whose
    RESULTs of this turn are now applied and durable. Nothing while the
    store has failed (they are not durable: the workers keep them). */
void fling_workers_ack_results (fling_broker_t *self);

typedef enum { FLING_WORKER_LEFT, FLING_WORKER_TIMEOUT, FLING_WORKER_UNREACHABLE } fling_drop_t;

/*  Forgets a worker: its tasks go back to the head of their queues (or fail
    when they have used all their attempts), it leaves every queue's server
    list, and it is freed. */
void fling_workers_drop (fling_broker_t *self, fling_bworker_t *worker, fling_drop_t why);

/*  Frees every worker, returning their tasks to the queues, without logs. */
void fling_workers_destroy_all (fling_broker_t *self);

#endif
