/*  fling_suspects.c - see fling_suspects.h. */
#include "fling_suspects.h"

#include <errno.h>
#include <stdlib.h>

struct fling_group {
    fling_dlink_t link; /* in fling_suspects.groups */
    fling_tasklist_t tasks;
    fling_queue_t *queue;
    bool charged;
};

struct fling_suspects {
    fling_dlist_t groups; /* trial order */
};

fling_suspects_t *fling_suspects_new (void)
{
    fling_suspects_t *self = (fling_suspects_t *)calloc (1, sizeof *self);
    if (!self)
        errno = ENOMEM;
    return self;
}

static fling_group_t *group_of (fling_dlink_t *link)
{
    return FLING_DLIST_ITEM (link, fling_group_t, link);
}

void fling_suspects_destroy (fling_suspects_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_suspects_t *self = *self_p;
    fling_group_t *group;
    while ((group = group_of (fling_dlist_pop_head (&self->groups)))) {
        fling_btask_t *task;
        while ((task = fling_tasklist_pop_head (&group->tasks)))
            fling_btask_destroy (&task);
        free (group);
    }
    free (self);
    *self_p = NULL;
}

fling_group_t *fling_suspects_group (fling_suspects_t *self, fling_queue_t *queue, bool first,
                                     bool charged)
{
    fling_group_t *group = (fling_group_t *)calloc (1, sizeof *group);
    if (!group) {
        errno = ENOMEM;
        return NULL;
    }
    group->queue = queue;
    group->charged = charged;
    if (first)
        fling_dlist_push_head (&self->groups, &group->link);
    else
        fling_dlist_push_tail (&self->groups, &group->link);
    /* The set is reached through the list: a group needs no back pointer
       to it, the caller passes it to remove. */
    return group;
}

void fling_group_push (fling_group_t *group, fling_btask_t *task)
{
    fling_btask_set_state (task, FLING_TASK_SUSPECT);
    task->group = group;
    fling_tasklist_push_tail (&group->tasks, task);
    fling_queue_counters (task->queue)->suspects++;
}

void fling_suspects_remove (fling_suspects_t *self, fling_btask_t *task)
{
    fling_group_t *group = task->group;
    fling_tasklist_remove (&group->tasks, task);
    fling_queue_counters (task->queue)->suspects--;
    task->group = NULL;
    if (group->tasks.count == 0) {
        fling_dlist_remove (&self->groups, &group->link);
        free (group);
    }
}

fling_group_t *fling_suspects_first (const fling_suspects_t *self)
{
    return group_of (self->groups.head);
}

fling_group_t *fling_group_next (const fling_group_t *group)
{
    return group_of (group->link.next);
}

fling_queue_t *fling_group_queue (const fling_group_t *group)
{
    return group->queue;
}

size_t fling_group_size (const fling_group_t *group)
{
    return group->tasks.count;
}

bool fling_group_charged (const fling_group_t *group)
{
    return group->charged;
}

fling_btask_t *fling_group_peek (const fling_group_t *group)
{
    return fling_tasklist_head (&group->tasks);
}
