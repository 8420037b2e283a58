/*  fling_connmon.h - counts the connections open on a ZeroMQ socket.

    A ROUTER does not say who is connected. libzmq's socket monitor does:
    it reports each accepted and each closed connection on an inproc
    socket, which the broker polls beside its own; this keeps the count.
    Nothing is done per message, so the count costs the hot path nothing.
    A connection that never completes its ZMTP handshake (a port scanner,
    a slow or silent peer) counts while it is open, as it holds a file
    descriptor all the same.
*/
#ifndef FLING_CONNMON_H_INCLUDED
#define FLING_CONNMON_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

typedef struct fling_connmon fling_connmon_t;

/*  Starts monitoring `sock` (which must outlive the monitor). NULL + errno. */
fling_connmon_t *fling_connmon_new (zsock_t *sock);

/*  Stops monitoring and frees it. Call before the socket is closed. */
void fling_connmon_destroy (fling_connmon_t **self_p);

/*  The monitor's socket, to poll for ZMQ_POLLIN. */
void *fling_connmon_handle (fling_connmon_t *self);

/*  Reads the events waiting (without blocking) and updates the counts. */
void fling_connmon_drain (fling_connmon_t *self);

/*  Connections open now; connections accepted since the start. */
uint64_t fling_connmon_open (const fling_connmon_t *self);
uint64_t fling_connmon_accepted (const fling_connmon_t *self);

#endif
