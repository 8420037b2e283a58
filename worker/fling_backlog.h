/*  fling_backlog.h - tasks a worker holds but has not started (internal).

    With prefetch (fling_worker_options_t.prefetch) the broker sends a
    worker more tasks of a class than it runs at once. The extra ones wait
    here, one FIFO per class, and a slot that frees is refilled at once on
    the loop thread instead of after a RESULT/DISPATCH round trip through
    the broker. Tasks start strictly in the order they arrived.

    A plain list (fling_dlist.h; `count` is its length) embedded in the
    worker: the links live in the tasks themselves, so holding a task
    costs no allocation.
*/
#ifndef FLING_BACKLOG_H_INCLUDED
#define FLING_BACKLOG_H_INCLUDED

#include <stddef.h>

#include "fling_task.h"

typedef fling_dlist_t fling_backlog_t;

/*  Appends `task` (not in any backlog) at the tail. */
void fling_backlog_push (fling_backlog_t *self, fling_task_t *task);

/*  The oldest task, left in; NULL when empty. */
fling_task_t *fling_backlog_first (const fling_backlog_t *self);

/*  Takes the oldest task out, or NULL when empty. */
fling_task_t *fling_backlog_pop (fling_backlog_t *self);

/*  Takes `task` out from wherever it is in this backlog. */
void fling_backlog_remove (fling_backlog_t *self, fling_task_t *task);

#endif
