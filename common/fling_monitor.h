/*  fling_monitor.h - libzmq's socket monitor, read on the owner's thread.

    libzmq reports a socket's transport events (a connection accepted, its
    handshake failed or succeeded, it closed) on an inproc PAIR socket.
    The socket's owner polls that PAIR in its own loop, so no extra thread
    is involved: the broker counts and limits connections with it, clients
    tell a refused CURVE handshake from a broker that is just not there. ACCEPTED and DISCONNECTED
   carry the connection's file descriptor; handshake failures carry a code instead (libzmq 4.3).
*/
#ifndef FLING_MONITOR_H_INCLUDED
#define FLING_MONITOR_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

typedef struct fling_monitor fling_monitor_t;

/*  Starts monitoring `events` (ZMQ_EVENT_* bits) of `sock`. NULL + errno. */
fling_monitor_t *fling_monitor_new (zsock_t *sock, int events);

/*  Stops monitoring and closes the PAIR. */
void fling_monitor_destroy (fling_monitor_t **self_p);

/*  The PAIR socket to poll (ZMQ_POLLIN). */
void *fling_monitor_handle (fling_monitor_t *self);

/*  The next event without waiting: 1 with *event and *value (the fd, or
    the event's code), 0 when none is pending. */
int fling_monitor_next (fling_monitor_t *self, uint16_t *event, uint32_t *value);

#endif
