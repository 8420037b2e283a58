/*  fling_wake.h - the producer's wake-up of its I/O thread: an eventfd the
    thread polls, written at most once per I/O-thread cycle and never while
    the thread will look anyway.

    Callers of fling_send() call fling_wake_signal() when they started or
    sealed a batch; the I/O thread polls fling_wake_fd(), calls
    fling_wake_clear() before it looks at the outbox, and publishes with
    fling_wake_set_in_flight() how many batches it holds awaiting an ACK
    (while any, it wakes for their ACKs or timeouts and no signal is
    written). The outbox says when that count is read (fling_outbox.c).
*/
#ifndef FLING_WAKE_H_INCLUDED
#define FLING_WAKE_H_INCLUDED

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fling_wake fling_wake_t;

/*  NULL with errno when no eventfd could be made. */
fling_wake_t *fling_wake_new (void);
void fling_wake_destroy (fling_wake_t **self_p);

/*  Any thread: there is new work for the I/O thread. */
void fling_wake_signal (fling_wake_t *self);
/*  Wakes the I/O thread whatever the state (used to stop it). */
void fling_wake_force (fling_wake_t *self);

/*  I/O thread: the fd to poll; consume a wake-up (before looking); the
    batches it holds awaiting their ACKs. */
int fling_wake_fd (fling_wake_t *self);
void fling_wake_clear (fling_wake_t *self);
void fling_wake_set_in_flight (fling_wake_t *self, size_t batches);

#ifdef __cplusplus
}
#endif

#endif
