/*  fling_flight.h - the tasks in a worker's hands (internal): intake,
    slots and the backlog, start, finish, the RESULT batch and the end of
    each turn of the event loop.

    Below the loop (fling_worker.c) and the overrun module, which call it;
    above the broker link, which it sends through. Loop thread only, but
    for fling_flight_run_blocking and fling_flight_discard (pool threads).
*/
#ifndef FLING_FLIGHT_H_INCLUDED
#define FLING_FLIGHT_H_INCLUDED

#include <stddef.h>

#include "fling_proto.h"
#include "fling_task.h"
#include "fling_worker.h"

/*  Every record of a decoded DISPATCH becomes a running (or waiting) task. */
void fling_flight_accept_dispatch (fling_worker_t *self, const fling_msg_t *msg);
/*  Ends a turn of the loop: called at the end of each of the worker's loop
    callbacks. The RESULT batch leaves, waiting tasks take the freed slots,
    and a drain ends (BYE) once nothing runs. Returns the value for zloop:
    -1 ends fling_worker_run's loop. */
int fling_flight_end_turn (fling_worker_t *self);
/*  Appends a result to the pending RESULT batch and counts it. */
void fling_flight_add_result (fling_worker_t *self, const fling_result_t *result);
/*  Sends the pending RESULT batch, if any. */
void fling_flight_flush (fling_worker_t *self);
/*  Takes a task off the in-flight list (and its deadline off the heap). */
void fling_flight_untrack (fling_worker_t *self, fling_task_t *task);
/*  A task leaves the worker: untracked, its outcome recorded, freed. */
void fling_flight_finish (fling_worker_t *self, fling_task_t *task, fling_outcome_t outcome);
/*  Hands a task that waited in the backlog past its deadline back to the
    broker unrun (RELEASED: the attempt does not count) and frees it. */
void fling_flight_release_waiting (fling_worker_t *self, fling_task_t *task);
/*  Puts a timed-out async task on the overdue list until it completes. */
void fling_flight_keep_overdue (fling_worker_t *self, fling_task_t *task);
/*  Tasks in our hands (started or waiting). */
size_t fling_flight_running (fling_worker_t *self);
/*  Arms the deadline timer for the earliest deadline, unless one fires
    early enough; the timer calls self->on_deadline (fling_overrun.c). */
void fling_flight_arm_deadline (fling_worker_t *self);
/*  The pool's job function (on a pool thread), completion callback (loop
    thread) and discard function for jobs it never ran (fling_pool.h). */
void fling_flight_run_blocking (void *job, void *arg);
void fling_flight_on_pool_done (void *job, void *arg);
void fling_flight_discard (void *job);

#endif
