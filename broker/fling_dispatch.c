/*  fling_dispatch.c - handing waiting tasks to workers.

    For each queue with waiting tasks, among the workers that serve its
    name and have free credit in the class they run it in, the one with the
    MOST free credit gets a chunk of
        min(its free credit, ceil(waiting / eligible workers),
            FLING_BATCH_TASKS_MAX, ~FLING_DISPATCH_BYTES_MAX of records)
    in one DISPATCH; repeat until no worker is eligible or the queue is
    empty. So an idle worker is always served before a busy one, the work
    is spread over all eligible workers, and a slow worker (fewer free
    slots) gets less. A worker whose prefetch is still at least half full
    waits for a bigger refill (free_credit). The starting queue rotates between calls so that one
    busy name cannot take all the credit of workers it shares.
*/
#include "fling_broker_private.h"
#include "fling_log.h"

#include <errno.h>
#include <string.h>

/* The credit a worker may be sent now. A worker that still holds at
   least half its prefetch waiting (leased beyond its slots) is not sent
   more until that drops below half or a full DISPATCH of credit is free:
   its slots have work meanwhile, and refills go in fewer, larger
   DISPATCHes. Every DISPATCH costs the worker a loop turn, and with
   thousands of tasks in flight a turn of zloop walks all their timers
   (W3: +2.4 points, bench/README.md). Without prefetch (capacity =
   slots) any free credit is a free slot and is sent at once. */
static uint32_t free_credit (const fling_bworker_t *worker, fling_class_t cls)
{
    uint32_t capacity = worker->capacity[cls];
    uint32_t inflight = worker->inflight[cls] + worker->stuck[cls]; /* stuck: unread, maybe */
    if (capacity <= inflight)
        return 0;
    uint32_t credit = capacity - inflight;
    uint32_t slots = worker->slots[cls];
    uint32_t prefetch = capacity > slots ? capacity - slots : 0;
    if (prefetch && credit < FLING_BATCH_TASKS_MAX && inflight >= slots + (prefetch + 1) / 2)
        return 0;
    return credit;
}

/* The eligible worker with the most free credit, or NULL. */
static fling_bworker_t *pick_worker (const fling_queue_t *queue, fling_class_t *cls_out,
                                     uint32_t *credit_out, size_t *eligible_out)
{
    fling_bworker_t *best = NULL;
    size_t eligible = 0;
    *credit_out = 0;
    for (size_t i = 0; i < fling_queue_server_count (queue); i++) {
        fling_class_t cls;
        fling_bworker_t *worker = fling_queue_server (queue, i, &cls);
        uint32_t credit = free_credit (worker, cls);
        if (credit == 0)
            continue;
        eligible++;
        if (credit > *credit_out) {
            best = worker;
            *cls_out = cls;
            *credit_out = credit;
        }
    }
    *eligible_out = eligible;
    return best;
}

/* How many of the first `chunk` waiting tasks fit in one DISPATCH, and
   their record bytes. The first record always goes, whatever its size. */
static size_t chunk_fit (const fling_queue_t *queue, size_t chunk, size_t *bytes_out)
{
    size_t count = 0, bytes = 0;
    for (const fling_btask_t *task = fling_queue_peek (queue); task && count < chunk;
         task = fling_tasklist_next (task)) {
        if (count && bytes + task->size > FLING_DISPATCH_BYTES_MAX)
            break;
        bytes += task->size;
        count++;
    }
    *bytes_out = bytes;
    return count;
}

/* Leases up to `chunk` tasks of `queue` to `worker` and builds their
   DISPATCH, which goes out after the turn's commit (fling_broker.c).
   -1 when out of memory: the tasks are back in the queue. */
static int send_chunk (fling_broker_t *self, fling_queue_t *queue, fling_bworker_t *worker,
                        fling_class_t cls, size_t chunk)
{
    /* Sized first, then the records are copied once, straight into the
       frame that goes to libzmq (no staging buffer, no copy on send). */
    size_t bytes;
    chunk = chunk_fit (queue, chunk, &bytes);
    zframe_t *body = zframe_new (NULL, bytes);
    uint8_t *cursor = body ? zframe_data (body) : NULL;
    size_t count = 0;
    for (; body && count < chunk; count++) { /* no frame: no message, as below */
        fling_btask_t *task = fling_queue_pop (queue);
        fling_worker_lease (self, worker, task, cls, false); /* sets the record's attempt */
        memcpy (cursor, task->raw, task->size);
        cursor += task->size;
        fling_broker_store_state (self, task);
    }
    zmsg_t *msg = fling_msg_dispatch_frame ((uint32_t)count, &body);
    if (worker->version != FLING_PROTO_VERSION)
        fling_msg_set_version (msg, worker->version);
    self->counters.dispatched += count;
    return fling_broker_hold_dispatch (self, worker, &msg, (uint32_t)count);
}

static void dispatch_queue (fling_broker_t *self, fling_queue_t *queue)
{
    size_t queued;
    while ((queued = fling_queue_queued (queue)) > 0) {
        fling_class_t cls = FLING_CLASS_LOOP;
        uint32_t credit;
        size_t eligible;
        fling_bworker_t *worker = pick_worker (queue, &cls, &credit, &eligible);
        if (!worker)
            return;
        size_t chunk = (queued + eligible - 1) / eligible;
        if (chunk > credit)
            chunk = credit;
        if (chunk > FLING_BATCH_TASKS_MAX)
            chunk = FLING_BATCH_TASKS_MAX;
        if (send_chunk (self, queue, worker, cls, chunk))
            return; /* out of memory: the next turn tries again */
    }
}

void fling_dispatch (fling_broker_t *self)
{
    size_t count = self->queue_count;
    if (count == 0)
        return;
    size_t start = self->dispatch_cursor++ % count;
    for (size_t i = 0; i < count; i++)
        dispatch_queue (self, self->queues[(start + i) % count]);
}
