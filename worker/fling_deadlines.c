/*  fling_deadlines.c - see fling_deadlines.h.

    task->deadline_slot is the task's index in the heap plus one, so 0
    means "not in the heap" (a new task is zeroed).
*/
#include "fling_deadlines.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

struct _fling_deadlines_t {
    fling_task_t **items;
    size_t size;
    size_t capacity;
};

fling_deadlines_t *fling_deadlines_new (void)
{
    return (fling_deadlines_t *)calloc (1, sizeof (fling_deadlines_t));
}

void fling_deadlines_destroy (fling_deadlines_t **self_p)
{
    fling_deadlines_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->size; i++)
        self->items[i]->deadline_slot = 0;
    free (self->items);
    free (self);
    *self_p = NULL;
}

static void s_place (fling_deadlines_t *self, size_t index, fling_task_t *task)
{
    self->items[index] = task;
    task->deadline_slot = index + 1;
}

static void s_up (fling_deadlines_t *self, size_t index)
{
    fling_task_t *task = self->items[index];
    while (index > 0) {
        size_t parent = (index - 1) / 2;
        if (self->items[parent]->deadline_ms <= task->deadline_ms)
            break;
        s_place (self, index, self->items[parent]);
        index = parent;
    }
    s_place (self, index, task);
}

static void s_down (fling_deadlines_t *self, size_t index)
{
    fling_task_t *task = self->items[index];
    while (true) {
        size_t child = 2 * index + 1;
        if (child >= self->size)
            break;
        if (child + 1 < self->size &&
            self->items[child + 1]->deadline_ms < self->items[child]->deadline_ms)
            child++;
        if (task->deadline_ms <= self->items[child]->deadline_ms)
            break;
        s_place (self, index, self->items[child]);
        index = child;
    }
    s_place (self, index, task);
}

int fling_deadlines_add (fling_deadlines_t *self, fling_task_t *task)
{
    if (task->deadline_slot)
        fling_deadlines_remove (self, task);
    if (self->size == self->capacity) {
        size_t capacity = self->capacity ? self->capacity * 2 : 64;
        fling_task_t **items =
            (fling_task_t **)realloc (self->items, capacity * sizeof *self->items);
        if (!items) {
            errno = ENOMEM;
            return -1;
        }
        self->items = items;
        self->capacity = capacity;
    }
    self->items[self->size++] = task;
    s_up (self, self->size - 1);
    return 0;
}

void fling_deadlines_remove (fling_deadlines_t *self, fling_task_t *task)
{
    size_t slot = task->deadline_slot;
    if (slot == 0 || slot > self->size || self->items[slot - 1] != task)
        return;
    size_t index = slot - 1;
    task->deadline_slot = 0;
    fling_task_t *last = self->items[--self->size];
    if (index == self->size)
        return;
    /* The last item fills the hole, then moves whichever way it must. */
    s_place (self, index, last);
    s_up (self, index);
    s_down (self, last->deadline_slot - 1);
}

fling_task_t *fling_deadlines_first (fling_deadlines_t *self)
{
    return self->size ? self->items[0] : NULL;
}

size_t fling_deadlines_size (fling_deadlines_t *self)
{
    return self->size;
}
