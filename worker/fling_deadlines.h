/*  fling_deadlines.h - the worker's task deadlines: a binary min-heap
    (internal).

    One heap for every task in flight with a deadline, so thousands of async
    tasks cost one zloop timer (armed for the earliest deadline) instead of
    one timer each: zloop keeps its timers in a list and scans it on every
    turn. Each task records its position (task->deadline_slot) so removing
    a task that finishes in time is O(log n). Loop thread only.
*/
#ifndef FLING_DEADLINES_H_INCLUDED
#define FLING_DEADLINES_H_INCLUDED

#include <stddef.h>

#include "fling_task.h"

typedef struct _fling_deadlines_t fling_deadlines_t;

fling_deadlines_t *fling_deadlines_new (void);
/*  Frees the heap, not the tasks in it. */
void fling_deadlines_destroy (fling_deadlines_t **self_p);

/*  Adds `task`, keyed by task->deadline_ms. 0, or -1 with errno ENOMEM. */
int fling_deadlines_add (fling_deadlines_t *self, fling_task_t *task);
/*  Removes `task` if it is in the heap; no-op otherwise. */
void fling_deadlines_remove (fling_deadlines_t *self, fling_task_t *task);
/*  The task with the earliest deadline, or NULL. */
fling_task_t *fling_deadlines_first (fling_deadlines_t *self);
size_t fling_deadlines_size (fling_deadlines_t *self);

#endif
