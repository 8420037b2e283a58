/*  fling_deliver.c - see fling_deliver.h. */
#include "fling_deliver.h"
#include "fling_leases.h"
#include "fling_log.h"
#include "fling_tasks.h"
#include "fling_wire.h"
#include "fling_workers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The last `count` leases of `worker` were never delivered: back to the
   head of their queues in their order, the attempt not counted, the store
   told (their lease may be committed already). */
static void undeliver (fling_broker_t *self, fling_bworker_t *worker, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        fling_btask_t *task = fling_tasklist_tail (&worker->leased);
        fling_leases_revoke (task);
        task->attempt--;
        fling_record_set_attempt (task->raw, task->attempt);
        fling_tasks_store_state (self, task);
        fling_tasks_requeue (self, task, true);
    }
    self->counters.dispatched -= count;
    self->counters.requeued += count;
}

int fling_deliver_hold (fling_broker_t *self, fling_bworker_t *worker, zmsg_t **msg_p,
                        uint32_t count)
{
    zmsg_t *msg = *msg_p;
    *msg_p = NULL;
    if (msg && self->held_count == self->held_alloc) {
        size_t alloc = self->held_alloc ? 2 * self->held_alloc : 64;
        fling_held_dispatch_t *grown =
            (fling_held_dispatch_t *)realloc (self->held, alloc * sizeof *grown);
        if (grown) {
            self->held = grown;
            self->held_alloc = alloc;
        } else
            zmsg_destroy (&msg);
    }
    if (!msg) {
        fling_error ("out of memory: DISPATCH of %u tasks not sent", (unsigned)count);
        undeliver (self, worker, count);
        return -1;
    }
    self->held[self->held_count++] = (fling_held_dispatch_t){worker, msg, count};
    return 0;
}

/* Held DISPATCHes to `worker` from index `from` on: never delivered. Undone
   newest first, so its leases come off the tail of its list. */
static void undeliver_from (fling_broker_t *self, fling_bworker_t *worker, size_t from)
{
    for (size_t j = self->held_count; j-- > from;) {
        fling_held_dispatch_t *held = &self->held[j];
        if (held->worker != worker)
            continue;
        undeliver (self, worker, held->count);
        zmsg_destroy (&held->msg);
        held->worker = NULL;
    }
}

void fling_deliver_send (fling_broker_t *self)
{
    for (size_t i = 0; i < self->held_count; i++) {
        fling_held_dispatch_t *held = &self->held[i];
        fling_bworker_t *worker = held->worker;
        if (!worker)
            continue; /* undone with an earlier one to the same worker */
        if (fling_wire_send (self, self->worker_sock, &worker->peer, &held->msg) == 0)
            continue;
        fling_debug ("dispatch failed worker=%s tasks=%u: %s", worker->name, (unsigned)held->count,
                     strerror (errno));
        undeliver_from (self, worker, i);
        fling_workers_drop (self, worker, FLING_WORKER_UNREACHABLE);
    }
    self->held_count = 0;
}

void fling_deliver_cancel (fling_broker_t *self)
{
    for (size_t j = self->held_count; j-- > 0;) {
        fling_held_dispatch_t *held = &self->held[j];
        if (!held->worker)
            continue;
        undeliver (self, held->worker, held->count);
        zmsg_destroy (&held->msg);
    }
    self->held_count = 0;
}
