/*  fling_suspects.h - tasks suspected of killing their worker, kept in
    groups that are tried apart from everything else (internal to the
    broker).

    When a worker dies holding several tasks that may have started, the
    broker cannot tell which of them killed it. It charges a crash only to
    a task its worker held alone (proto/SPEC.md §6.4); the others become
    suspects, in groups: each group runs as a *trial* on a worker that
    holds nothing else until the trial ends, so a crash during a trial
    points at that group only, and a group of one points at one task.

    This module only keeps the groups: an ordered list of them, each with
    the tasks of one name in arrival order. Who becomes a suspect and how
    groups split is decided where workers die (fling_orphans.c); which
    worker runs which trial, in fling_dispatch.c. A task in a group is in
    state FLING_TASK_SUSPECT, counted in its queue's `suspects` counter,
    and its `group` names the group. One thread; no copies of tasks.
*/
#ifndef FLING_SUSPECTS_H_INCLUDED
#define FLING_SUSPECTS_H_INCLUDED

#include "fling_queue.h"

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fling_suspects fling_suspects_t;

/*  An empty set of groups. NULL + ENOMEM. */
fling_suspects_t *fling_suspects_new (void);

/*  Frees every group and destroys the tasks still in them. */
void fling_suspects_destroy (fling_suspects_t **self_p);

/*  A new empty group for tasks of `queue`, tried after every group there
    is now (or before them, with `first`: tasks given back unrun).
    `charged`: its one task was charged a crash when it was formed, so a
    worker that claims the task back (HOLDING) undoes that crash. NULL +
    ENOMEM. The caller adds a task at once: a group is freed when the last
    task leaves it, and an empty one would wait in the list for ever. */
fling_group_t *fling_suspects_group (fling_suspects_t *self, fling_queue_t *queue, bool first,
                                     bool charged);

/*  Adds `task` (of the group's queue, on no list) at the tail of `group`. */
void fling_group_push (fling_group_t *group, fling_btask_t *task);

/*  Takes `task` (state SUSPECT) out of its group, which is freed once
    empty. The task's state is left for the caller to set. */
void fling_suspects_remove (fling_suspects_t *self, fling_btask_t *task);

/*  The first group, in trial order, and the one after `group`; NULL at
    the end. Removing tasks frees emptied groups: take the next group
    before taking tasks from this one. */
fling_group_t *fling_suspects_first (const fling_suspects_t *self);
fling_group_t *fling_group_next (const fling_group_t *group);

fling_queue_t *fling_group_queue (const fling_group_t *group);
size_t fling_group_size (const fling_group_t *group);
bool fling_group_charged (const fling_group_t *group);

/*  The group's oldest task, left in (NULL for an empty group). */
fling_btask_t *fling_group_peek (const fling_group_t *group);

#ifdef __cplusplus
}
#endif

#endif
