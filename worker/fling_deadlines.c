/*  fling_deadlines.c - see fling_deadlines.h.

    task->deadline_slot is the task's lane index plus one, so 0 means "not
    in" (a new task is zeroed). Lane FLING_DEADLINE_LANES is the shared
    lane for periods that found no lane of their own.
*/
#include "fling_deadlines.h"

#include <stdlib.h>

#define SHARED_LANE FLING_DEADLINE_LANES

typedef struct {
    uint32_t period_ms;
    fling_dlist_t tasks; /* earliest first */
} lane_t;

struct fling_deadlines {
    lane_t lanes[FLING_DEADLINE_LANES + 1];
    size_t size;
};

static fling_task_t *task_of (fling_dlink_t *link)
{
    return FLING_DLIST_ITEM (link, fling_task_t, deadline_link);
}

fling_deadlines_t *fling_deadlines_new (void)
{
    return (fling_deadlines_t *)calloc (1, sizeof (fling_deadlines_t));
}

void fling_deadlines_destroy (fling_deadlines_t **self_p)
{
    fling_deadlines_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i <= SHARED_LANE; i++)
        for (fling_task_t *task = task_of (self->lanes[i].tasks.head); task;
             task = task_of (task->deadline_link.next))
            task->deadline_slot = 0;
    free (self);
    *self_p = NULL;
}

/* The lane for `period_ms`: its own, else an empty one it takes, else the
   shared one. */
static size_t lane_for (fling_deadlines_t *self, uint32_t period_ms)
{
    size_t empty = SHARED_LANE;
    for (size_t i = 0; i < FLING_DEADLINE_LANES; i++) {
        if (self->lanes[i].tasks.count && self->lanes[i].period_ms == period_ms)
            return i;
        if (!self->lanes[i].tasks.count && empty == SHARED_LANE)
            empty = i;
    }
    if (empty != SHARED_LANE)
        self->lanes[empty].period_ms = period_ms;
    return empty;
}

/* Inserts after the last task due no later, searching from the tail: the
   first step almost always finds it (same period, later clock). */
static void insert (lane_t *lane, fling_task_t *task)
{
    fling_task_t *before = task_of (lane->tasks.tail);
    while (before && before->deadline_ms > task->deadline_ms)
        before = task_of (before->deadline_link.prev);
    fling_dlist_insert_after (&lane->tasks, before ? &before->deadline_link : NULL,
                              &task->deadline_link);
}

void fling_deadlines_add (fling_deadlines_t *self, fling_task_t *task, uint32_t period_ms)
{
    fling_deadlines_remove (self, task);
    size_t index = lane_for (self, period_ms);
    insert (&self->lanes[index], task);
    task->deadline_slot = index + 1;
    self->size++;
}

void fling_deadlines_remove (fling_deadlines_t *self, fling_task_t *task)
{
    size_t slot = task->deadline_slot;
    if (slot == 0 || slot > SHARED_LANE + 1)
        return;
    fling_dlist_remove (&self->lanes[slot - 1].tasks, &task->deadline_link);
    task->deadline_slot = 0;
    self->size--;
}

fling_task_t *fling_deadlines_first (fling_deadlines_t *self)
{
    fling_task_t *first = NULL;
    for (size_t i = 0; i <= SHARED_LANE; i++) {
        fling_task_t *head = task_of (self->lanes[i].tasks.head);
        if (head && (!first || head->deadline_ms < first->deadline_ms))
            first = head;
    }
    return first;
}

size_t fling_deadlines_size (fling_deadlines_t *self)
{
    return self->size;
}
