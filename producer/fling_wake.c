/*  fling_wake.c - see fling_wake.h.

    Why no wake-up is lost: a caller that started or sealed a batch sets
    `pending` with an atomic exchange after writing its record, and writes
    the eventfd only if the flag was clear. The I/O thread, woken by the
    eventfd, first reads it, then clears the flag, then looks at the
    outbox (and waits for the writers of what it takes). If a caller's
    exchange ran before the clear, its batch was started or sealed before
    the look and is seen. If it ran after, it found the flag clear (or set
    by another caller whose write also came after the read) and the eventfd
    holds a write the thread has not consumed yet, so the thread wakes
    again. At most one write per I/O-thread cycle, and none while nothing
    new needs the thread's attention.
*/
#include "fling_wake.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct fling_wake {
    int fd;
    atomic_bool pending;
    _Atomic size_t in_flight;
};

fling_wake_t *fling_wake_new (void)
{
    fling_wake_t *self = (fling_wake_t *)calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->fd < 0) {
        free (self);
        return NULL;
    }
    atomic_init (&self->pending, false);
    atomic_init (&self->in_flight, 0);
    return self;
}

void fling_wake_destroy (fling_wake_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    close ((*self_p)->fd);
    free (*self_p);
    *self_p = NULL;
}

void fling_wake_force (fling_wake_t *self)
{
    uint64_t one = 1;
    /* Fails only if the counter would overflow 2^64-2: never. */
    if (write (self->fd, &one, sizeof one) < 0)
        return;
}

void fling_wake_signal (fling_wake_t *self)
{
    /* The I/O thread looks at the outbox again when an ACK for what it
       holds arrives (or its timeout): no need to wake it, and waking a
       sleeping thread is the dearest part of a call (fling_outbox.c). */
    if (atomic_load (&self->in_flight) > 0)
        return;
    if (atomic_exchange (&self->pending, true))
        return;
    fling_wake_force (self);
}

int fling_wake_fd (fling_wake_t *self)
{
    return self->fd;
}

void fling_wake_clear (fling_wake_t *self)
{
    uint64_t value;
    if (read (self->fd, &value, sizeof value) < 0) {
        /* EAGAIN: nothing to consume; the flag is cleared all the same. */
    }
    atomic_store (&self->pending, false);
}

void fling_wake_set_in_flight (fling_wake_t *self, size_t batches)
{
    atomic_store (&self->in_flight, batches);
}
