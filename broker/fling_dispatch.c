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

    Before that, while suspects wait (fling_suspects.h), trials: a group
    of suspects goes to a *prover*, a worker that holds nothing else and
    gets nothing else until every task of the trial has ended, so that if
    it dies the crash points at that group alone (SPEC.md §6.4). Provers
    are workers that are idle anyway, and when none is, one server of the
    name is reserved: it gets no new work until it has drained. Without
    suspects, dispatch pays one test for all this (free_credit's).
*/
#include "fling_dispatch.h"
#include "fling_deliver.h"
#include "fling_leases.h"
#include "fling_log.h"
#include "fling_tasks.h"

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
    if (capacity <= inflight || worker->prover)
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

/* How many of the first `max` tasks from `task` on fit in one DISPATCH,
   and their record bytes. The first record always goes, whatever its
   size. */
static size_t chunk_fit (const fling_btask_t *task, size_t max, size_t *bytes_out)
{
    size_t count = 0, bytes = 0;
    for (; task && count < max; task = fling_tasklist_next (task)) {
        size_t wire = fling_record_wire_size (task->raw);
        if (count && bytes + wire > FLING_DISPATCH_BYTES_MAX)
            break;
        bytes += wire;
        count++;
    }
    *bytes_out = bytes;
    return count;
}

/* Leases `tasks` (on no list, `bytes` of records) to `worker` and builds
   their DISPATCH, which goes out after the turn's commit (fling_deliver.h).
   -1 when out of memory: the tasks are back at the head of their queue. */
static int send_tasks (fling_broker_t *self, fling_bworker_t *worker, fling_class_t cls,
                       fling_btask_t **tasks, size_t count, size_t bytes)
{
    /* The records are copied once, straight into the frame that goes to
       libzmq (no staging buffer, no copy on send). */
    zframe_t *body = zframe_new (NULL, bytes);
    if (!body) {
        for (size_t i = count; i-- > 0;)
            fling_tasks_requeue (self, tasks[i], true);
        fling_error ("out of memory: DISPATCH of %zu tasks not built", count);
        return -1;
    }
    uint8_t *cursor = zframe_data (body);
    for (size_t i = 0; i < count; i++) {
        fling_leases_grant (self, worker, tasks[i], cls, false); /* sets the record's attempt */
        /* Without its extensions (a held due time): SPEC.md §4.7. */
        size_t wire = fling_record_wire_size (tasks[i]->raw);
        memcpy (cursor, tasks[i]->raw, wire);
        if (wire != tasks[i]->size)
            fling_record_strip_ext (cursor);
        cursor += wire;
        fling_tasks_store_state (self, tasks[i]);
    }
    zmsg_t *msg = fling_msg_dispatch_frame ((uint32_t)count, &body);
    if (worker->version != FLING_PROTO_VERSION)
        fling_msg_set_version (msg, worker->version);
    self->counters.dispatched += count;
    return fling_deliver_hold (self, worker, &msg, (uint32_t)count);
}

/* Leases up to `chunk` tasks of `queue` to `worker` and builds their
   DISPATCH (send_tasks), one token of the name's rate limit each. -1
   when out of memory (the tokens stay spent: fewer tasks, never more). */
static int send_chunk (fling_broker_t *self, fling_queue_t *queue, fling_bworker_t *worker,
                       fling_class_t cls, size_t chunk)
{
    size_t bytes = 0, count = 0;
    fling_btask_t *tasks[FLING_BATCH_TASKS_MAX];
    /* In the queue's order (priorities, fling_queue.h), while they fit
       one DISPATCH; the first always goes, whatever its size. */
    for (; count < chunk; count++) {
        size_t room = !count                             ? SIZE_MAX
                      : bytes < FLING_DISPATCH_BYTES_MAX ? FLING_DISPATCH_BYTES_MAX - bytes
                                                         : 0;
        size_t wire;
        fling_btask_t *task = fling_queue_pop_within (queue, room, &wire);
        if (!task)
            break;
        tasks[count] = task;
        bytes += wire;
    }
    fling_bucket_take (fling_queue_bucket (queue), count);
    return send_tasks (self, worker, cls, tasks, count, bytes);
}

/* The tasks the rate limit of `queue` lets go now, at most `chunk`. With
   none, the loop wakes when the next token is due (rate_wake_ms). */
static size_t rate_allows (fling_broker_t *self, fling_queue_t *queue, size_t chunk)
{
    fling_bucket_t *bucket = fling_queue_bucket (queue);
    uint64_t tokens = fling_bucket_tokens (bucket, self->now_ms);
    if (tokens == 0) {
        int64_t wake = self->now_ms + fling_bucket_wait_ms (bucket);
        if (!self->rate_wake_ms || wake < self->rate_wake_ms)
            self->rate_wake_ms = wake;
    }
    return tokens < chunk ? (size_t)tokens : chunk;
}

static void dispatch_queue (fling_broker_t *self, fling_queue_t *queue)
{
    size_t queued;
    if (fling_queue_settings (queue)->paused) /* queue_pause: SPEC.md §6.8 */
        return;
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
        chunk = rate_allows (self, queue, chunk);
        if (chunk == 0)
            return;
        if (send_chunk (self, queue, worker, cls, chunk))
            return; /* out of memory: the next turn tries again */
    }
}

/* ---- trials --------------------------------------------------------- */

/* The class `worker` would run a trial of `queue` in, or -1: it serves the
   name and runs at least one such task at once (it is not draining). */
static int trial_class (const fling_bworker_t *worker, const fling_queue_t *queue)
{
    int cls = fling_queue_server_class (queue, worker);
    if (cls < 0 || worker->capacity[cls] == 0 || worker->slots[cls] == 0)
        return -1;
    return cls;
}

/* The first group `worker` could run, and the class; NULL if none. */
static fling_group_t *group_for (const fling_broker_t *self, const fling_bworker_t *worker,
                                 fling_class_t *cls)
{
    for (fling_group_t *group = fling_suspects_first (self->suspects); group;
         group = fling_group_next (group)) {
        if (fling_queue_settings (fling_group_queue (group))->paused)
            continue; /* a trial is a dispatch too */
        int c = trial_class (worker, fling_group_queue (group));
        if (c >= 0) {
            *cls = (fling_class_t)c;
            return group;
        }
    }
    return NULL;
}

static void set_prover (fling_broker_t *self, fling_bworker_t *worker, bool prover)
{
    if (worker->prover == prover)
        return;
    worker->prover = prover;
    worker->trial = 0;
    if (prover)
        self->provers++;
    else {
        self->provers--;
        self->dispatch_needed = true; /* its credit is free for other work */
    }
}

/* Builds a trial of `group` for `worker`, which holds nothing: as many of
   its tasks as the worker runs at once (none waits in its prefetch), in
   one DISPATCH that goes out after the turn's commit. -1 when out of
   memory. If the DISPATCH cannot be built or sent (the worker is gone),
   its tasks go back to the head of their queue still marked suspects: the
   next death under them sends them to a trial again. */
static int send_trial (fling_broker_t *self, fling_bworker_t *worker, fling_group_t *group,
                       fling_class_t cls)
{
    size_t max =
        worker->slots[cls] < worker->capacity[cls] ? worker->slots[cls] : worker->capacity[cls];
    if (max > FLING_BATCH_TASKS_MAX)
        max = FLING_BATCH_TASKS_MAX;
    size_t bytes, count = chunk_fit (fling_group_peek (group), max, &bytes);
    fling_queue_t *queue = fling_group_queue (group);
    fling_btask_t *tasks[FLING_BATCH_TASKS_MAX];
    for (size_t i = 0; i < count; i++) { /* the last one may free the group */
        tasks[i] = fling_group_peek (group);
        fling_suspects_remove (self->suspects, tasks[i]);
    }
    if (send_tasks (self, worker, cls, tasks, count, bytes))
        return -1;
    worker->trial = (uint32_t)count;
    self->counters.trials++;
    fling_debug ("trial worker=%s name=%s tasks=%zu", worker->name, fling_queue_name (queue),
                 count);
    return 0;
}

/* True if a prover could run the trials of `queue`. */
static bool has_prover (fling_broker_t *self, const fling_queue_t *queue)
{
    for (size_t i = 0; i < fling_queue_server_count (queue); i++) {
        fling_bworker_t *worker = fling_queue_server (queue, i, NULL);
        if (worker->prover && trial_class (worker, queue) >= 0)
            return true;
    }
    return false;
}

/* Reserves a server of each group's name that has no prover: the one
   holding the fewest tasks, so it drains soonest. It gets no new work
   from now on; its trial starts once it holds nothing. */
static void reserve_provers (fling_broker_t *self)
{
    fling_queue_t *done = NULL; /* halves of a name come in a row: look once */
    for (fling_group_t *group = fling_suspects_first (self->suspects); group;
         group = fling_group_next (group)) {
        fling_queue_t *queue = fling_group_queue (group);
        if (queue == done || fling_queue_settings (queue)->paused || has_prover (self, queue))
            continue;
        done = queue;
        fling_bworker_t *best = NULL;
        for (size_t i = 0; i < fling_queue_server_count (queue); i++) {
            fling_bworker_t *worker = fling_queue_server (queue, i, NULL);
            if (trial_class (worker, queue) >= 0 &&
                (!best || worker->leased.count < best->leased.count))
                best = worker;
        }
        if (best) {
            set_prover (self, best, true);
            fling_debug ("prover reserved worker=%s name=%s holding=%zu", best->name,
                         fling_queue_name (queue), best->leased.count);
        }
    }
}

/* Trials: a prover whose trial ended takes the next group it can run, or
   goes back to other work; an idle worker takes a group left waiting; a
   group nobody can take gets a reserved prover; a reserved prover with no
   group left for it goes back to other work. Out of memory: stop, and go
   on at the next turn. */
static void plan_trials (fling_broker_t *self)
{
    fling_class_t cls = FLING_CLASS_LOOP;
    fling_bworker_t *worker;
    for (worker = (fling_bworker_t *)zhashx_first (self->workers); worker;
         worker = (fling_bworker_t *)zhashx_next (self->workers)) {
        if (worker->leased.count || (!worker->prover && !fling_suspects_first (self->suspects)))
            continue;
        fling_group_t *group = group_for (self, worker, &cls);
        if (!group) {
            set_prover (self, worker, false);
            continue;
        }
        set_prover (self, worker, true);
        if (send_trial (self, worker, group, cls)) {
            self->dispatch_needed = true;
            return;
        }
    }
    reserve_provers (self);
    for (worker = (fling_bworker_t *)zhashx_first (self->workers); worker;
         worker = (fling_bworker_t *)zhashx_next (self->workers))
        if (worker->prover && !worker->trial && !group_for (self, worker, &cls))
            set_prover (self, worker, false);
}

void fling_dispatch (fling_broker_t *self)
{
    self->rate_wake_ms = 0; /* set again by each name still waiting for a token */
    if (self->provers || fling_suspects_first (self->suspects))
        plan_trials (self);
    size_t count = self->queue_count;
    if (count == 0)
        return;
    size_t start = self->dispatch_cursor++ % count;
    for (size_t i = 0; i < count; i++)
        dispatch_queue (self, self->queues[(start + i) % count]);
}
