/*  fling_reaper.c - the broker's timed duties toward its workers, run
    every reap step (heartbeat/4, fling_broker.c's end of turn): workers
    silent past the worker timeout are declared dead, a silent worker
    that holds tasks is probed to find a connection that is gone, and
    leases past their deadline are taken back (proto/SPEC.md §6.1, §6.4).

    What a worker's death means for its tasks is fling_workers_drop's
    (and fling_orphans.c's); this file only decides who is dead, and never
    is called back by it.
*/
#include "fling_reaper.h"
#include "fling_leases.h"
#include "fling_log.h"
#include "fling_ratelog.h"
#include "fling_tasks.h"
#include "fling_wire.h"
#include "fling_workers.h"

#include <errno.h>

/* A worker that holds tasks and has been silent for a reap step is sent
   a PING (a probe): if its connection is gone (the process died, its
   socket closed) the ROUTER says so at once (EHOSTUNREACH), and its tasks
   go back within a reap step or two instead of the worker timeout. A
   crash during a trial is noticed this way too, so suspects are not kept
   waiting. A worker does not answer it. Not a PONG: a worker may count
   PONGs as answers to its own PINGs (SPEC.md §6.1). */
static bool connection_gone (fling_broker_t *self, fling_bworker_t *worker, int64_t step)
{
    if (!worker->leased.count || self->now_ms - worker->last_seen_ms < step ||
        self->now_ms - worker->probed_ms < step)
        return false;
    worker->probed_ms = self->now_ms;
    self->counters.probes++;
    zmsg_t *probe = fling_msg_ping ();
    if (worker->version != FLING_PROTO_VERSION)
        fling_msg_set_version (probe, worker->version); /* an FLP/1 worker reads version 1 */
    return fling_wire_send (self, self->worker_sock, &worker->peer, &probe) == -1 &&
           errno == EHOSTUNREACH;
}

/* Appends to *list, made on first use (most reaps drop nobody). */
static void collect (zlist_t **list, fling_bworker_t *worker)
{
    if (*list || (*list = zlist_new ()))
        zlist_append (*list, worker);
}

static void drop_all (fling_broker_t *self, zlist_t **list, fling_drop_t why)
{
    fling_bworker_t *worker;
    while (*list && (worker = (fling_bworker_t *)zlist_pop (*list)))
        fling_workers_drop (self, worker, why);
    zlist_destroy (list);
}

void fling_reaper_reap (fling_broker_t *self)
{
    /* Collect first: dropping edits the table being walked. */
    zlist_t *silent = NULL, *gone = NULL;
    int64_t step = self->config.heartbeat_ms / 4 ? self->config.heartbeat_ms / 4 : 1;
    for (fling_bworker_t *worker = (fling_bworker_t *)zhashx_first (self->workers); worker;
         worker = (fling_bworker_t *)zhashx_next (self->workers)) {
        if (self->now_ms - worker->last_seen_ms > (int64_t)self->config.worker_timeout_ms)
            collect (&silent, worker);
        else if (connection_gone (self, worker, step))
            collect (&gone, worker);
    }
    drop_all (self, &silent, FLING_WORKER_TIMEOUT);
    drop_all (self, &gone, FLING_WORKER_UNREACHABLE);
}

void fling_reaper_expire_leases (fling_broker_t *self)
{
    for (fling_bworker_t *worker = (fling_bworker_t *)zhashx_first (self->workers); worker;
         worker = (fling_bworker_t *)zhashx_next (self->workers)) {
        fling_btask_t *task = fling_tasklist_head (&worker->leased), *next;
        for (; task; task = next) {
            next = fling_tasklist_next (task);
            if (!(task->flags & FLING_BTASK_DEADLINE) ||
                !fling_due_passed (task->due, self->now_ms))
                continue;
            char id_text[FLING_TASK_ID_TEXT_SIZE];
            fling_task_id_t id;
            fling_btask_id (task, &id);
            FLING_LOG_LIMITED (FLING_LOG_WARN,
                               "lease deadline passed id=%s name=%s attempt=%u worker=%s",
                               fling_task_id_format (&id, id_text), fling_queue_name (task->queue),
                               (unsigned)task->attempt, worker->name);
            /* The credit stays taken (fling_bworker_t.stuck) until a late
               RESULT shows the worker did read that DISPATCH. */
            worker->stuck[fling_btask_cls (task)]++;
            fling_leases_revoke (task);
            task->flags |= FLING_BTASK_FENCED; /* its late RESULT or HOLDING is stale */
            /* Its worker lived through the run: no longer a suspect. */
            task->flags &= (uint8_t)~FLING_BTASK_SUSPECT;
            self->counters.timed_out++;
            self->counters.lease_expired++;
            fling_queue_counters (task->queue)->timed_out++;
            self->dispatch_needed = true;
            static const char error[] = "no result within the lease deadline";
            fling_tasks_run_failed (self, task, FLING_DEAD_TIMEOUT, 0, error, sizeof error - 1);
        }
    }
}
