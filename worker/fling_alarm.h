/*  fling_alarm.h - wakes the worker's zloop at the start of a given
    millisecond (internal).

    zloop counts time in whole milliseconds of CLOCK_MONOTONIC (zclock_mono)
    and sleeps for the whole milliseconds between that truncated clock and
    its earliest timer. Entered 0.7 ms into a millisecond, its poll wakes
    0.7 ms after the timer came due; and a timer armed during a turn gets its
    due time when the next turn starts. An async task that completes on a
    zloop timer thus ends up to a millisecond late, and the task that
    takes its slot starts that much later too: 10,000 tasks on 10 ms timers
    drifted 0.1-0.6 ms a round (bench W3, a probe stamping every start).

    The worker knows when its async tasks are due to complete (its refill
    marks, fling_flight.c): it asks for an alarm at that millisecond, and a
    timerfd wakes the poll right as it begins, when zloop's timers due then
    are ready to fire. An alarm that finds nothing due costs one turn.

    Loop thread only.
*/
#ifndef FLING_ALARM_H_INCLUDED
#define FLING_ALARM_H_INCLUDED

#include <czmq.h>
#include <stdint.h>

typedef struct fling_alarm fling_alarm_t;

/*  An alarm polled by `loop`. NULL + errno on failure. */
fling_alarm_t *fling_alarm_new (zloop_t *loop);

/*  Stops polling and frees it. NULL-safe. */
void fling_alarm_destroy (fling_alarm_t **self_p);

/*  Wakes the loop when CLOCK_MONOTONIC reaches millisecond `ms` (the
    scale of zclock_mono and fling_clock_ms). Alarms in the past are
    ignored; beyond FLING_ALARM_PENDING_MAX pending, the latest are
    dropped (their wake comes at zloop's own time). */
void fling_alarm_at (fling_alarm_t *self, int64_t ms);

/*  Alarms pending. */
size_t fling_alarm_pending (const fling_alarm_t *self);

/*  The first pending alarm's millisecond, or -1. */
int64_t fling_alarm_next (const fling_alarm_t *self);

#define FLING_ALARM_PENDING_MAX 64

#endif
