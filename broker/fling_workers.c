/*  fling_workers.c - the broker's worker table: registration (READY),
    outcomes (RESULT, HOLDING), capacity, and forgetting a worker that
    leaves or dies (proto/SPEC.md §5.2). Who is dead is decided here (BYE)
    and in fling_reaper.c; what that means for its tasks (crash charges,
    suspects) in fling_orphans.c; the lease bookkeeping in fling_leases.c.

    Credit: a worker holds at most capacity[class] tasks of a class; each
    RESULT gives one unit back. A worker's tasks sit on its lease list, so
    a dead worker's tasks go back to their queues without any search.
*/
#include "fling_workers.h"
#include "fling_access.h"
#include "fling_leases.h"
#include "fling_log.h"
#include "fling_names.h"
#include "fling_orphans.h"
#include "fling_ratelog.h"
#include "fling_tasks.h"
#include "fling_wire.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static fling_bworker_t *find (fling_broker_t *self, const fling_peer_t *peer)
{
    char key[FLING_PEER_HEX_SIZE];
    fling_peer_hex (peer, key);
    return (fling_bworker_t *)zhashx_lookup (self->workers, key);
}

fling_bworker_t *fling_workers_touch (fling_broker_t *self, const fling_peer_t *peer)
{
    fling_bworker_t *worker = find (self, peer);
    if (worker)
        worker->last_seen_ms = self->now_ms;
    return worker;
}

/* ---- registration ------------------------------------------------------ */

static void unregister_names (fling_broker_t *self, fling_bworker_t *worker)
{
    for (size_t i = 0; i < worker->reg_count; i++)
        fling_queue_remove_server (worker->regs[i].queue, worker);
    if (worker->reg_count)
        self->names_sweep = true; /* names it alone served may go now */
    worker->reg_count = 0;
}

/* Registers one name of a READY. NULL, or why it could not. */
static const char *register_name (fling_broker_t *self, fling_bworker_t *worker, fling_class_t cls,
                                  const char *name, size_t name_size)
{
    fling_queue_t *queue = fling_names_queue (self, name, name_size, FLING_QUEUE_FIND);
    for (size_t i = 0; queue && i < worker->reg_count; i++)
        if (worker->regs[i].queue == queue) {
            fling_queue_add_server (queue, worker, cls); /* same name twice: the last wins */
            worker->regs[i].cls = (uint8_t)cls;
            return NULL;
        }
    if (worker->reg_count >= self->config.max_worker_names)
        return "this worker has registered --max-worker-names names";
    if (!queue && !(queue = fling_names_queue (self, name, name_size, FLING_QUEUE_FOR_WORKER)))
        return errno == ENOSPC ? "the name table is three quarters full (--max-names): the rest "
                                 "is kept for names that carry tasks"
                               : "out of memory";
    if (fling_queue_add_server (queue, worker, cls)) {
        self->names_sweep = true;
        return "out of memory";
    }
    worker->regs[worker->reg_count].queue = queue;
    worker->regs[worker->reg_count++].cls = (uint8_t)cls;
    return NULL;
}

/* What a worker may hold: what it asks for, up to --max-worker-credit. */
static void set_capacity (fling_broker_t *self, fling_bworker_t *worker,
                          const uint32_t capacity[FLING_CLASS_COUNT],
                          const uint32_t slots[FLING_CLASS_COUNT], bool ready)
{
    uint32_t cap = self->config.max_worker_credit;
    for (int cls = 0; cls < FLING_CLASS_COUNT; cls++) {
        if (capacity[cls] > cap)
            self->counters.credit_capped++;
        worker->capacity[cls] = capacity[cls] < cap ? capacity[cls] : cap;
        uint32_t s = slots[cls] < worker->capacity[cls] ? slots[cls] : worker->capacity[cls];
        /* The largest since READY (fling_bworker_t.slots); READY starts over. */
        if (ready || s > worker->slots[cls])
            worker->slots[cls] = s;
    }
}

/* "a:pool,b:loop" for the log line, cut short when long. */
static void names_text (const fling_bworker_t *worker, char *out, size_t out_size)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < worker->reg_count; i++) {
        int wrote = snprintf (out + n, out_size - n, "%s%s:%s", i ? "," : "",
                              fling_queue_name (worker->regs[i].queue),
                              fling_class_name (worker->regs[i].cls));
        if (wrote < 0 || (size_t)wrote >= out_size - n) {
            if (out_size > 4)
                strcpy (out + out_size - 4, "...");
            return;
        }
        n += (size_t)wrote;
    }
}

static void handle_ready (fling_broker_t *self, const fling_peer_t *peer, fling_bworker_t *worker,
                          const fling_msg_t *msg)
{
    bool joined = !worker;
    if (joined) {
        worker = (fling_bworker_t *)calloc (1, sizeof *worker);
        if (!worker) {
            fling_wire_refuse (self, self->worker_sock, peer, msg, FLING_REASON_UNAVAILABLE,
                               "out of memory");
            return;
        }
        worker->peer = *peer;
        fling_peer_hex (peer, worker->key);
        zhashx_insert (self->workers, worker->key, worker);
    } else
        unregister_names (self, worker); /* a re-READY replaces names, keeps leases */
    fling_log_printable (worker->name, sizeof worker->name, msg->worker_name,
                         msg->worker_name_size);
    worker->pid = msg->pid;
    worker->version = msg->version;
    set_capacity (self, worker, msg->capacity, msg->slots, true);
    worker->last_seen_ms = self->now_ms;

    const uint8_t *cursor = msg->body, *end = msg->body + msg->body_size;
    fling_class_t cls;
    const char *name, *why = NULL;
    size_t name_size, refused = 0;
    while (fling_ready_name_next (&cursor, end, &cls, &name, &name_size) == 1) {
        const char *no = register_name (self, worker, cls, name, name_size);
        if (no) {
            fling_names_refused (self, name, name_size, no);
            why = no;
            refused++;
        }
    }
    if (refused) {
        /* Tell the worker, once per READY, which it logs. */
        char text[256];
        snprintf (text, sizeof text, "%zu task names not registered: %s", refused, why);
        fling_wire_refuse (self, self->worker_sock, peer, NULL, FLING_REASON_QUEUE_FULL, text);
    }
    char names[512];
    names_text (worker, names, sizeof names);
    if (joined)
        FLING_EVENT_WORKER (self, FLING_EVENT_WORKER_JOINED, worker);
    FLING_LOG_LIMITED (FLING_LOG_INFO,
                       "worker %s name=%s pid=%" PRIu32 " pool=%" PRIu32 " loop=%" PRIu32
                       " names=%s protocol=%u",
                       joined ? "joined" : "registered again", worker->name, worker->pid,
                       worker->capacity[FLING_CLASS_POOL], worker->capacity[FLING_CLASS_LOOP],
                       names, (unsigned)worker->version);
    self->dispatch_needed = true;
    if (worker->version >= 2) {
        /* The answer to READY, with the timings the worker must keep to
           stay registered (FLP/1 workers learn it from a PONG). */
        zmsg_t *welcome =
            fling_msg_welcome (self->config.heartbeat_ms, self->config.worker_timeout_ms);
        fling_wire_send (self, self->worker_sock, peer, &welcome);
    }
}

/* ---- outcomes ---------------------------------------------------------- */

static bool claim (fling_broker_t *self, fling_bworker_t *worker, fling_btask_t *task,
                   uint16_t attempt);

/* A result for a lease that expired on this worker: it did read that
   DISPATCH after all, so one stuck credit comes back. */
static void unstick (fling_bworker_t *worker, const fling_btask_t *task)
{
    int cls = task ? fling_btask_cls (task) : (worker->stuck[0] ? 0 : 1);
    if (worker->stuck[cls])
        worker->stuck[cls]--;
    else if (worker->stuck[!cls])
        worker->stuck[!cls]--;
}

static void apply_result (fling_broker_t *self, fling_bworker_t *worker,
                          const fling_result_t *result)
{
    /* fling_tasks_finish's removal from the index reuses the slot
       this lookup found (see fling_idmap_lookup): one probe per result. */
    fling_btask_t *task = (fling_btask_t *)fling_idmap_lookup (self->ids, &result->id);
    /* Fencing: a late answer from a worker that lost the lease (or for an
       earlier attempt) must never decide the fate of the current run. */
    if (!task || task->attempt != result->attempt) {
        self->counters.stale_results++;
        unstick (worker, task);
        return;
    }
    /* A result for a run the broker gave up on without fencing it (its
       worker was cut off, or the broker restarted and parked the task) is
       that run's result: as if HOLDING had claimed it first. */
    if ((fling_btask_state (task) != FLING_TASK_LEASED || task->owner != worker) &&
        !claim (self, worker, task, result->attempt)) {
        self->counters.stale_results++;
        unstick (worker, task); /* e.g. an expired lease's attempt, dead-lettered since */
        return;
    }
    fling_leases_revoke (task);
    self->dispatch_needed = true;
    /* A run that ended is no longer under suspicion (RELEASED: never ran). */
    if (result->outcome != FLING_OUTCOME_RELEASED)
        task->flags &= (uint8_t)~FLING_BTASK_SUSPECT;
    fling_queue_counters_t *counters = fling_queue_counters (task->queue);
    switch (result->outcome) {
    case FLING_OUTCOME_DONE:
        counters->done++;
        worker->done++;
        self->counters.done++;
        FLING_EVENT_TASK (self, FLING_EVENT_DONE, task, worker->name);
        fling_tasks_finish (self, task);
        return;
    case FLING_OUTCOME_RELEASED:
        fling_tasks_release (self, task);
        return;
    case FLING_OUTCOME_TIMEOUT:
        self->counters.timed_out++;
        counters->timed_out++;
        fling_tasks_run_failed (self, task, FLING_DEAD_TIMEOUT, 0, result->error,
                                result->error_size);
        return;
    default: /* RETRY, FAIL */
        counters->run_failures++;
        fling_tasks_run_failed (self, task, FLING_DEAD_FAILED,
                                result->outcome == FLING_OUTCOME_RETRY ? result->retry_delay_ms : 0,
                                result->error, result->error_size);
    }
}

static void handle_result (fling_broker_t *self, fling_bworker_t *worker, const fling_msg_t *msg)
{
    if (msg->version >= 2 && msg->batch_seq > worker->result_seq_seen) {
        worker->result_seq_seen = msg->batch_seq;
        self->results_to_ack = true;
    }
    const uint8_t *cursor = msg->body, *end = msg->body + msg->body_size;
    const uint8_t *ahead = cursor; /* FLING_TASKS_PREFETCH_AHEAD results in front */
    fling_result_t result, next;
    fling_reason_t reason;
    for (int i = 0; i < FLING_TASKS_PREFETCH_AHEAD; i++)
        if (fling_result_next (&ahead, end, &next, &reason) == 1)
            fling_tasks_prefetch_id (self, &next.id);
    while (fling_result_next (&cursor, end, &result, &reason) == 1) {
        if (fling_result_next (&ahead, end, &next, &reason) == 1)
            fling_tasks_prefetch_id (self, &next.id);
        apply_result (self, worker, &result);
    }
}

/* A worker that registered again names the tasks it still runs: lease
   back each one the broker holds queued (or parked after a restart) under
   exactly that attempt, so it does not run twice. */
static bool claim (fling_broker_t *self, fling_bworker_t *worker, fling_btask_t *task,
                   uint16_t attempt)
{
    /* Only runs whose end the broker never saw: parked after a restart, or
       requeued (or made a suspect) because their worker was declared dead. */
    fling_task_state_t state = fling_btask_state (task);
    bool open_run = state == FLING_TASK_PARKED || state == FLING_TASK_SUSPECT ||
                    (state == FLING_TASK_QUEUED && (task->flags & FLING_BTASK_ORPHANED));
    int cls = fling_queue_server_class (task->queue, worker);
    if (!open_run || attempt == 0 || task->attempt != attempt ||
        (task->flags & FLING_BTASK_FENCED) || cls < 0 ||
        !fling_access_may_claim (self, worker, task)) /* CURVE: its own key's runs only */
        return false;
    /* The worker was not dead after all, only cut off: a crash charged for
       that run is taken back. */
    if (state == FLING_TASK_SUSPECT && fling_group_charged (task->group) && task->crashes > 0)
        task->crashes--;
    fling_tasks_unlist (self, task);
    fling_leases_grant (self, worker, task, (fling_class_t)cls, true);
    fling_tasks_store_state (self, task);
    self->counters.holding_leased++;
    return true;
}

static void apply_holding (fling_broker_t *self, fling_bworker_t *worker, const fling_task_id_t *id,
                           uint16_t attempt)
{
    fling_btask_t *task = (fling_btask_t *)fling_idmap_lookup (self->ids, id);
    if (!task || !claim (self, worker, task, attempt))
        self->counters.holding_ignored++;
}

static void handle_holding (fling_broker_t *self, fling_bworker_t *worker, const fling_msg_t *msg)
{
    const uint8_t *cursor = msg->body, *end = msg->body + msg->body_size;
    fling_task_id_t id;
    uint16_t attempt;
    while (fling_lease_next (&cursor, end, &id, &attempt) == 1)
        apply_holding (self, worker, &id, attempt);
}

static void handle_capacity (fling_broker_t *self, fling_bworker_t *worker, const fling_msg_t *msg)
{
    /* May drop below what is in flight: then nothing more until it drains. */
    set_capacity (self, worker, msg->capacity, msg->slots, false);
    fling_debug ("worker capacity name=%s pid=%" PRIu32 " pool=%" PRIu32 " loop=%" PRIu32
                 " slots_pool=%" PRIu32 " slots_loop=%" PRIu32,
                 worker->name, worker->pid, worker->capacity[FLING_CLASS_POOL],
                 worker->capacity[FLING_CLASS_LOOP], msg->slots[FLING_CLASS_POOL],
                 msg->slots[FLING_CLASS_LOOP]);
    self->dispatch_needed = true;
}

void fling_workers_handle (fling_broker_t *self, const fling_peer_t *peer, fling_bworker_t *worker,
                           const fling_msg_t *msg)
{
    zmsg_t *reply;
    switch (msg->cmd) {
    case FLING_CMD_READY:
        handle_ready (self, peer, worker, msg);
        return;
    case FLING_CMD_PING:
        if (!worker) {
            fling_wire_refuse (self, self->worker_sock, peer, msg, FLING_REASON_UNKNOWN_PEER,
                               "unknown worker: send READY");
            return;
        }
        reply = fling_msg_pong ();
        fling_msg_set_version (reply, msg->version);
        fling_wire_send (self, self->worker_sock, peer, &reply);
        return;
    case FLING_CMD_BYE:
        if (worker)
            fling_workers_drop (self, worker, FLING_WORKER_LEFT);
        return;
    case FLING_CMD_RESULT:
    case FLING_CMD_CAPACITY:
    case FLING_CMD_HOLDING:
        if (!worker)
            fling_wire_refuse (self, self->worker_sock, peer, msg, FLING_REASON_UNKNOWN_PEER,
                               "unknown worker: send READY");
        else if (msg->cmd == FLING_CMD_RESULT)
            handle_result (self, worker, msg);
        else if (msg->cmd == FLING_CMD_HOLDING)
            handle_holding (self, worker, msg);
        else
            handle_capacity (self, worker, msg);
        return;
    case FLING_CMD_PONG:
    case FLING_CMD_ERROR:
        return; /* never answer an ERROR */
    default:
        fling_wire_refuse (self, self->worker_sock, peer, msg, FLING_REASON_BAD_STATE,
                           "not a command of the worker endpoint");
    }
}

/* ---- leaving and dying ------------------------------------------------- */

static void forget (fling_broker_t *self, fling_bworker_t *worker)
{
    if (worker->prover)
        self->provers--;
    unregister_names (self, worker);
    zhashx_delete (self->workers, worker->key);
    free (worker);
}

void fling_workers_drop (fling_broker_t *self, fling_bworker_t *worker, fling_drop_t why)
{
    FLING_EVENT_WORKER (
        self, why == FLING_WORKER_LEFT ? FLING_EVENT_WORKER_LEFT : FLING_EVENT_WORKER_LOST, worker);
    if (why == FLING_WORKER_LEFT) {
        size_t requeued = fling_orphans_left (self, worker);
        FLING_LOG_LIMITED (FLING_LOG_INFO, "worker left name=%s pid=%" PRIu32 " requeued=%zu",
                           worker->name, worker->pid, requeued);
    } else {
        fling_access_note_leases (self, worker); /* it may come back and claim them */
        self->counters.worker_lost++;
        uint64_t crashed = self->counters.crashed, suspected = self->counters.suspected;
        uint32_t trial = worker->leased.count ? worker->trial : 0;
        size_t held = fling_orphans_lost (self, worker);
        FLING_LOG_LIMITED (FLING_LOG_WARN,
                           "worker lost name=%s pid=%" PRIu32 " requeued=%zu crashed=%" PRIu64
                           " suspected=%" PRIu64 " trial=%" PRIu32 " reason=%s",
                           worker->name, worker->pid, held, self->counters.crashed - crashed,
                           self->counters.suspected - suspected, trial,
                           why == FLING_WORKER_TIMEOUT ? "timeout" : "unreachable");
        /* Close its connection too, if it is still open: libzmq then frees
           whatever the worker never read. */
        fling_wire_close_peer (self, &worker->peer);
    }
    forget (self, worker);
}

void fling_workers_ack_results (fling_broker_t *self)
{
    if (!self->results_to_ack || self->store_failed)
        return;
    self->results_to_ack = false;
    for (fling_bworker_t *worker = (fling_bworker_t *)zhashx_first (self->workers); worker;
         worker = (fling_bworker_t *)zhashx_next (self->workers)) {
        if (worker->result_seq_seen <= worker->result_seq_acked)
            continue;
        worker->result_seq_acked = worker->result_seq_seen;
        zmsg_t *ack = fling_msg_result_ack (worker->result_seq_seen);
        /* Unroutable: it is gone, and the reap or the next dispatch says so. */
        fling_wire_send (self, self->worker_sock, &worker->peer, &ack);
    }
}

void fling_workers_destroy_all (fling_broker_t *self)
{
    fling_bworker_t *worker;
    while ((worker = (fling_bworker_t *)zhashx_first (self->workers))) {
        fling_btask_t *task;
        while ((task = fling_tasklist_head (&worker->leased))) {
            fling_leases_revoke (task);
            fling_btask_set_state (task, FLING_TASK_QUEUED);
            fling_queue_push_tail (task->queue, task); /* the queue frees it */
        }
        forget (self, worker);
    }
}
