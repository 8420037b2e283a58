/*  fling_monitor.c - see fling_monitor.h. */
#include "fling_monitor.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fling_monitor {
    void *watched; /* the monitored socket's libzmq handle */
    void *pair;    /* our end of the event pipe */
};

fling_monitor_t *fling_monitor_new (zsock_t *sock, int events)
{
    static atomic_uint serial;
    fling_monitor_t *self = (fling_monitor_t *)calloc (1, sizeof *self);
    if (!self)
        return NULL;
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "inproc://fling-monitor-%u-%p",
              atomic_fetch_add (&serial, 1), (void *)self);
    self->watched = zsock_resolve (sock);
    /* A connection flood makes many events between two turns of the
       loop: a deep pipe, so libzmq does not drop them. */
    int hwm = 100000;
    self->pair = zmq_socket (zsys_init (), ZMQ_PAIR);
    if (!self->pair || zmq_setsockopt (self->pair, ZMQ_RCVHWM, &hwm, sizeof hwm) ||
        zmq_socket_monitor (self->watched, endpoint, events) ||
        zmq_connect (self->pair, endpoint)) {
        int err = zmq_errno ();
        fling_monitor_destroy (&self);
        errno = err ? err : ENOMEM;
        return NULL;
    }
    return self;
}

void fling_monitor_destroy (fling_monitor_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_monitor_t *self = *self_p;
    if (self->watched)
        zmq_socket_monitor (self->watched, NULL, 0);
    if (self->pair) {
        int linger = 0;
        zmq_setsockopt (self->pair, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close (self->pair);
    }
    free (self);
    *self_p = NULL;
}

void *fling_monitor_handle (fling_monitor_t *self)
{
    return self->pair;
}

int fling_monitor_next (fling_monitor_t *self, uint16_t *event, uint32_t *value)
{
    zmq_msg_t head, address;
    zmq_msg_init (&head);
    if (zmq_msg_recv (&head, self->pair, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&head);
        return 0;
    }
    /* Frame 1: event (u16) and value (u32), native byte order; frame 2:
       the endpoint, not needed here. */
    int ok = zmq_msg_size (&head) == 6;
    if (ok) {
        const uint8_t *data = (const uint8_t *)zmq_msg_data (&head);
        memcpy (event, data, 2);
        memcpy (value, data + 2, 4);
    }
    int more = zmq_msg_more (&head);
    while (more) {
        zmq_msg_init (&address);
        if (zmq_msg_recv (&address, self->pair, ZMQ_DONTWAIT) < 0)
            more = 0;
        else
            more = zmq_msg_more (&address);
        zmq_msg_close (&address);
    }
    zmq_msg_close (&head);
    return ok ? 1 : fling_monitor_next (self, event, value);
}
