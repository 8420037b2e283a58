/*  fling_deadlines.h - the worker's task deadlines (internal).

    Every task in the worker's hands with a deadline is here, so thousands
    of async tasks cost one zloop timer (armed for the earliest deadline)
    instead of one timer each: zloop keeps its timers in a list and scans
    it on every turn.

    Deadlines are kept in lanes, one per period (the time limit a deadline
    was set from): tasks given the same period arrive in deadline order,
    since the clock only moves forward, so each lane is a FIFO and adding,
    removing and finding the earliest task cost O(1) (O(lanes) for the
    earliest), with no allocation. Tasks normally share a few periods (a
    queue's timeout); past FLING_DEADLINE_LANES distinct periods in use at
    once, the rest share one sorted lane. Loop thread only.
*/
#ifndef FLING_DEADLINES_H_INCLUDED
#define FLING_DEADLINES_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "fling_task.h"

#define FLING_DEADLINE_LANES 16

typedef struct fling_deadlines fling_deadlines_t;

fling_deadlines_t *fling_deadlines_new (void);
/*  Frees the lanes, not the tasks in them. */
void fling_deadlines_destroy (fling_deadlines_t **self_p);

/*  Adds `task`, keyed by task->deadline_ms, which the caller set to a
    clock reading plus `period_ms` (moves it if it is in already). */
void fling_deadlines_add (fling_deadlines_t *self, fling_task_t *task, uint32_t period_ms);
/*  Removes `task` if it is in; no-op otherwise. */
void fling_deadlines_remove (fling_deadlines_t *self, fling_task_t *task);
/*  The task with the earliest deadline, or NULL. */
fling_task_t *fling_deadlines_first (fling_deadlines_t *self);
size_t fling_deadlines_size (fling_deadlines_t *self);

#endif
