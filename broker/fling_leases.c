/*  fling_leases.c - see fling_leases.h. */
#include "fling_leases.h"

uint32_t fling_leases_deadline_ms (const fling_broker_t *self, const fling_btask_t *task)
{
    uint32_t timeout_ms = fling_btask_timeout_ms (task);
    if (!timeout_ms)
        return 0;
    uint64_t lease = 2ull * timeout_ms + 2ull * self->config.worker_timeout_ms;
    return lease > FLING_DELAY_MAX_MS ? FLING_DELAY_MAX_MS : (uint32_t)lease;
}

void fling_leases_grant (fling_broker_t *self, fling_bworker_t *worker, fling_btask_t *task,
                         fling_class_t cls, bool same_attempt)
{
    task->owner = worker;
    task->flags = (uint8_t)((task->flags & FLING_BTASK_SUSPECT) | FLING_TASK_LEASED |
                            (cls == FLING_CLASS_POOL ? FLING_BTASK_POOL : 0));
    if (!same_attempt && task->attempt < UINT16_MAX)
        task->attempt++;
    fling_record_set_attempt (task->raw, task->attempt);
    /* The broker's own deadline: twice the task's timeout (a worker that
       prefetches may hold a task up to its timeout before starting it,
       then run it up to its timeout) plus a grace of two worker timeouts.
       The worker enforces the timeout itself and reports TIMEOUT; this
       catches a worker that cannot. */
    uint32_t lease_ms = fling_leases_deadline_ms (self, task);
    task->due = fling_due_in (self->now_ms, lease_ms); /* without a deadline: when leased */
    if (lease_ms)
        task->flags |= FLING_BTASK_DEADLINE;
    fling_tasklist_push_tail (&worker->leased, task);
    worker->inflight[cls]++;
    fling_queue_counters (task->queue)->inflight++;
    FLING_EVENT_TASK (self, FLING_EVENT_LEASED, task, worker->name);
}

void fling_leases_revoke (fling_btask_t *task)
{
    fling_bworker_t *worker = task->owner;
    fling_tasklist_remove (&worker->leased, task);
    worker->inflight[fling_btask_cls (task)]--;
    fling_queue_counters (task->queue)->inflight--;
    task->owner = NULL;
    task->flags &= (uint8_t) ~(FLING_BTASK_DEADLINE | FLING_BTASK_STATE_MASK);
}
