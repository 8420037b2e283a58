/*  fling_link.h - the worker's connection to the broker (internal).

    The lowest of the worker's modules: it sends what the others give it
    and returns what it received, so it calls none of them. The event loop
    (fling_worker.c) owns the socket's reader and the heartbeat timer and
    hands their callbacks to fling_link_start; the link registers them
    again with each new socket. Loop thread only.
*/
#ifndef FLING_LINK_H_INCLUDED
#define FLING_LINK_H_INCLUDED

#include <czmq.h>

#include "fling_proto.h"
#include "fling_worker.h"

/*  Arms the heartbeat timer and opens the socket, saying READY: `on_broker`
    reads the socket, `on_heartbeat` ticks once per heartbeat interval
    (and calls fling_link_heartbeat). 0, or -1 with errno. */
int fling_link_start (fling_worker_t *self, zloop_reader_fn *on_broker,
                      zloop_timer_fn *on_heartbeat);
void fling_link_close (fling_worker_t *self, int linger_ms);
/*  Sends `msg` (taking it; NULL counts as out of memory). Never blocks: at
    the high-water mark the message is dropped and counted. */
void fling_link_send (fling_worker_t *self, zmsg_t *msg);
/*  Sends the pending results as one RESULT (fling_results_send), kept
    until the broker acknowledges it. */
void fling_link_send_results (fling_worker_t *self);
/*  Handles a message from the broker. Returns 1 when `decoded` is a
    DISPATCH for the caller to take (it points into `msg`), 0 when the link
    dealt with it (WELCOME, RESULT_ACK, ERROR, ...) or it did not decode. */
int fling_link_handle (fling_worker_t *self, zmsg_t *msg, fling_msg_t *decoded);
/*  One heartbeat interval passed: reconnect after a silence, else PING and
    send again what the broker did not acknowledge. */
void fling_link_heartbeat (fling_worker_t *self);

#endif
