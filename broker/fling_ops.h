/*  fling_ops.h - what the broker shows its operators: the HTTP port
    (/metrics, the dashboard and the JSON behind it), connection counts,
    queues nobody serves, and a short history of throughput.

    Part of the broker module (it reads the broker's tables, on the
    broker's thread only): the HTTP thread never sees them, it hands each
    request over through fling_http (common/fling_http.h). fling_broker.c
    calls new/destroy, adds the poll items to its poll and calls handle
    after each turn, and tick at the end of each turn.
*/
#ifndef FLING_OPS_H_INCLUDED
#define FLING_OPS_H_INCLUDED

#include "fling_state.h"

#include <stdbool.h>
#include <stdint.h>

#define FLING_OPS_POLL_MAX 1

/*  Sets up self->ops: the HTTP port when
    config.http_addr is not empty. 0, or -1 after logging why. */
int fling_ops_new (fling_broker_t *self);
void fling_ops_destroy (fling_broker_t *self);

/*  Fills up to FLING_OPS_POLL_MAX poll items (ZMQ_POLLIN); returns how many. */
size_t fling_ops_poll_items (fling_broker_t *self, zmq_pollitem_t *items);

/*  Serves what the items filled by fling_ops_poll_items say is ready. */
void fling_ops_handle (fling_broker_t *self, const zmq_pollitem_t *items);

/*  Timed duties, at most once a second: throughput history, orphan queues. */
void fling_ops_tick (fling_broker_t *self);

/*  The HTTP port's address ("127.0.0.1:5557"), or NULL when there is none. */
const char *fling_ops_http_address (const fling_broker_t *self);

/*  Connections open on the producer and worker sockets. */
void fling_ops_connections (const fling_broker_t *self, uint64_t *producer, uint64_t *worker);

/*  --refuse-unknown-names: may a task of this name be accepted? Known: a
    worker registered the name since the broker started, or --allow-name
    lists it. A refusal is counted and logged (rate-limited) here. */
bool fling_ops_name_known (fling_broker_t *self, const char *name, size_t name_size);

#endif
