/*  fling_connmon.c - see fling_connmon.h. */
#include "fling_connmon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fling_connmon {
    void *target; /* the monitored socket (libzmq handle) */
    void *pair;   /* our end of the monitor's inproc pipe */
    uint64_t open;
    uint64_t accepted;
};

fling_connmon_t *fling_connmon_new (zsock_t *sock)
{
    fling_connmon_t *self = (fling_connmon_t *)calloc (1, sizeof *self);
    if (!self)
        return NULL;
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "inproc://fling-connmon-%p", (void *)self);
    self->target = zsock_resolve (sock);
    /* The inproc endpoint must exist before the PAIR connects to it. */
    if (zmq_socket_monitor (self->target, endpoint,
                            ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0)
        goto failed;
    self->pair = zmq_socket (zsys_init (), ZMQ_PAIR);
    int linger = 0;
    if (!self->pair || zmq_setsockopt (self->pair, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_connect (self->pair, endpoint))
        goto failed;
    return self;
failed:;
    int err = errno;
    fling_connmon_destroy (&self);
    errno = err;
    return NULL;
}

void fling_connmon_destroy (fling_connmon_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_connmon_t *self = *self_p;
    zmq_socket_monitor (self->target, NULL, 0); /* stops the monitor */
    if (self->pair)
        zmq_close (self->pair);
    free (self);
    *self_p = NULL;
}

void *fling_connmon_handle (fling_connmon_t *self)
{
    return self->pair;
}

/* One event: frame 1 is the event number (u16) and a value (u32), native
   order; frame 2 the endpoint, which is not needed here. */
static int read_event (fling_connmon_t *self)
{
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    if (zmq_msg_recv (&frame, self->pair, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&frame);
        return -1;
    }
    uint16_t event = 0;
    if (zmq_msg_size (&frame) >= sizeof event)
        memcpy (&event, zmq_msg_data (&frame), sizeof event);
    while (zmq_msg_more (&frame)) { /* the rest of this event */
        zmq_msg_close (&frame);
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, self->pair, 0) < 0)
            break;
    }
    zmq_msg_close (&frame);
    if (event == ZMQ_EVENT_ACCEPTED) {
        self->open++;
        self->accepted++;
    } else if (event == ZMQ_EVENT_DISCONNECTED && self->open > 0)
        self->open--;
    return 0;
}

void fling_connmon_drain (fling_connmon_t *self)
{
    for (int i = 0; i < 1000 && read_event (self) == 0; i++)
        ;
}

uint64_t fling_connmon_open (const fling_connmon_t *self)
{
    return self->open;
}

uint64_t fling_connmon_accepted (const fling_connmon_t *self)
{
    return self->accepted;
}
