/*  fling_orphans.c - see fling_orphans.h. */
#include "fling_orphans.h"
#include "fling_leases.h"
#include "fling_log.h"
#include "fling_tasks.h"

#include <stdio.h>

/* Its worker died holding nothing else: the crash is charged to this task
   (SPEC.md §6.4). At poison_limit charges it is dead-lettered "crashed";
   until then it is a suspect of its own, run alone again, so that another
   crash is charged to it as well. */
static void charge_crash (fling_broker_t *self, fling_btask_t *task)
{
    if (task->crashes < UINT8_MAX)
        task->crashes++;
    self->counters.crashed++;
    FLING_EVENT_TASK (self, FLING_EVENT_CRASHED, task, NULL);
    unsigned limit = fling_tasks_poison_limit (task);
    if (task->crashes >= limit || task->attempt == UINT16_MAX) {
        char error[96];
        int size = snprintf (error, sizeof error, "worker died while running it %u times",
                             (unsigned)task->crashes);
        fling_tasks_kill (self, task, FLING_DEAD_CRASHED, error, (size_t)size);
        return;
    }
    char id_text[FLING_TASK_ID_TEXT_SIZE];
    fling_task_id_t id;
    fling_btask_id (task, &id);
    fling_warn ("task crashed its worker id=%s name=%s crashes=%u poison_limit=%u",
                fling_task_id_format (&id, id_text), fling_queue_name (task->queue),
                (unsigned)task->crashes, limit);
    task->flags |= FLING_BTASK_ORPHANED | FLING_BTASK_SUSPECT;
    fling_tasks_store_state (self, task);
    fling_group_t *group = fling_suspects_group (self->suspects, task->queue, false, true);
    if (group)
        fling_group_push (group, task);
    else
        fling_tasks_requeue (self, task, true); /* no memory for a group: a plain retry */
}

/* Tasks of `queue` on `list` (all of them suspects) go into two groups,
   halves in lease order, each tried apart: a half whose trial kills its
   worker is halved again, down to tasks run alone. */
static void suspect_halves (fling_broker_t *self, fling_tasklist_t *list, fling_queue_t *queue)
{
    size_t count = 0, placed = 0;
    for (fling_btask_t *task = fling_tasklist_head (list); task; task = fling_tasklist_next (task))
        count += task->queue == queue;
    fling_group_t *halves[2] = {
        fling_suspects_group (self->suspects, queue, false, false),
        count > 1 ? fling_suspects_group (self->suspects, queue, false, false) : NULL};
    fling_btask_t *task = fling_tasklist_head (list), *next;
    for (; task; task = next) {
        next = fling_tasklist_next (task);
        if (task->queue != queue)
            continue;
        fling_tasklist_remove (list, task);
        fling_tasks_store_state (self, task);
        fling_group_t *group = halves[placed++ < (count + 1) / 2 ? 0 : 1];
        if (group) {
            fling_group_push (group, task);
            self->counters.suspected++;
            FLING_EVENT_TASK (self, FLING_EVENT_SUSPECTED, task, NULL);
        } else
            fling_tasks_requeue (self, task, true); /* no memory for a group: a plain retry */
    }
}

/* A worker was declared dead (silence, unreachable) holding these leases.
   Per class its oldest `slots` leases may have started (a worker starts
   in arrival order); newer ones were waiting and go back as released.
   Of those that may have started:
   - the worker's only task is charged the crash;
   - a task that was a suspect already (a worker died under it before, or
     this was its trial) goes into a suspect group, to be tried apart;
   - any other goes back to the head of its queue, marked a suspect: the
     next worker to die under it sends it to a trial.
   So a worker killed from outside costs its tasks a rerun, never a
   crash, unless it held a single task. Returns the leases it held. */
size_t fling_orphans_lost (fling_broker_t *self, fling_bworker_t *worker)
{
    fling_tasklist_t back = {0}, suspects = {0};
    uint32_t seen[FLING_CLASS_COUNT] = {0, 0};
    size_t held = worker->leased.count;
    fling_btask_t *task;
    while ((task = fling_tasklist_head (&worker->leased))) {
        fling_class_t cls = fling_btask_cls (task);
        bool started = seen[cls]++ < worker->slots[cls];
        fling_leases_revoke (task);
        if (!started) {
            task->attempt--; /* released: that run does not count */
            fling_tasklist_push_tail (&back, task);
            continue;
        }
        fling_queue_counters (task->queue)->crashed++; /* a run ended by a death */
        if (held == 1) {
            charge_crash (self, task);
            continue;
        }
        /* Claimable by HOLDING if the worker was only cut off. */
        task->flags |= FLING_BTASK_ORPHANED;
        bool again = task->flags & FLING_BTASK_SUSPECT;
        task->flags |= FLING_BTASK_SUSPECT;
        fling_tasklist_push_tail (again ? &suspects : &back, task);
    }
    /* Oldest first at the head of their queues: pushed from the newest. */
    while ((task = fling_tasklist_tail (&back))) {
        fling_tasklist_remove (&back, task);
        fling_tasks_store_state (self, task);
        fling_tasks_requeue (self, task, true);
        self->counters.requeued++;
        FLING_EVENT_TASK (self, FLING_EVENT_REQUEUED, task, NULL);
    }
    while (suspects.count)
        suspect_halves (self, &suspects, fling_tasklist_head (&suspects)->queue);
    if (held)
        self->dispatch_needed = true;
    return held;
}

/* A worker that left (BYE) did not crash. Its waiting tasks go back as
   released; a task it was still running counts as a failed attempt
   (requeued at once while attempts remain), oldest first at the head of
   their queues. Returns the leases it held. */
size_t fling_orphans_left (fling_broker_t *self, fling_bworker_t *worker)
{
    size_t requeued = 0, held[FLING_CLASS_COUNT] = {0, 0};
    fling_btask_t *task;
    for (task = fling_tasklist_head (&worker->leased); task; task = fling_tasklist_next (task))
        held[fling_btask_cls (task)]++;
    while ((task = fling_tasklist_tail (&worker->leased))) {
        fling_class_t cls = fling_btask_cls (task);
        bool started = held[cls]-- <= worker->slots[cls];
        fling_leases_revoke (task);
        requeued++;
        if (!started) {
            fling_tasks_release (self, task);
            continue;
        }
        if (task->attempt >= fling_tasks_max_attempts (task)) {
            static const char error[] = "worker left while running the task";
            fling_tasks_kill (self, task, FLING_DEAD_FAILED, error, sizeof error - 1);
            continue;
        }
        fling_tasks_store_state (self, task);
        fling_tasks_requeue (self, task, true);
        self->counters.requeued++;
        FLING_EVENT_TASK (self, FLING_EVENT_REQUEUED, task, NULL);
    }
    if (requeued)
        self->dispatch_needed = true;
    return requeued;
}
