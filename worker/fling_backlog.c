/*  fling_backlog.c - see fling_backlog.h. */
#include "fling_backlog.h"

void fling_backlog_push (fling_backlog_t *self, fling_task_t *task)
{
    task->wait_next = NULL;
    task->wait_prev = self->tail;
    if (self->tail)
        self->tail->wait_next = task;
    else
        self->head = task;
    self->tail = task;
    task->waiting = true;
    self->count++;
}

void fling_backlog_remove (fling_backlog_t *self, fling_task_t *task)
{
    if (task->wait_prev)
        task->wait_prev->wait_next = task->wait_next;
    else
        self->head = task->wait_next;
    if (task->wait_next)
        task->wait_next->wait_prev = task->wait_prev;
    else
        self->tail = task->wait_prev;
    task->wait_prev = task->wait_next = NULL;
    task->waiting = false;
    self->count--;
}

fling_task_t *fling_backlog_pop (fling_backlog_t *self)
{
    fling_task_t *task = self->head;
    if (task)
        fling_backlog_remove (self, task);
    return task;
}
