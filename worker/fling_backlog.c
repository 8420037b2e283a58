/*  fling_backlog.c - see fling_backlog.h. */
#include "fling_backlog.h"

void fling_backlog_push (fling_backlog_t *self, fling_task_t *task)
{
    fling_dlist_push_tail (self, &task->wait_link);
    task->waiting = true;
}

void fling_backlog_remove (fling_backlog_t *self, fling_task_t *task)
{
    fling_dlist_remove (self, &task->wait_link);
    task->waiting = false;
}

fling_task_t *fling_backlog_first (const fling_backlog_t *self)
{
    return FLING_DLIST_ITEM (self->head, fling_task_t, wait_link);
}

fling_task_t *fling_backlog_pop (fling_backlog_t *self)
{
    fling_task_t *task = fling_backlog_first (self);
    if (task)
        fling_backlog_remove (self, task);
    return task;
}
