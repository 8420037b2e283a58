/*  fling_broker.c - the broker's loop, sockets, shared task bookkeeping
    and life cycle.

    One thread, one loop (see fling_broker.h). A turn reads up to
    FLING_BROKER_DRAIN_MAX messages from each socket, then once: commits the
    store and sends the turn's ACKs (fling_producers.c), declares silent
    workers dead (fling_workers.c) and dispatches (fling_dispatch.c).
*/
#include "fling_broker_private.h"
#include "fling_error.h"
#include "fling_log.h"
#include "fling_logfmt.h"
#include "fling_ops.h"
#include "fling_ratelog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- sending and refusing ---------------------------------------------- */

int fling_broker_send (fling_broker_t *self, zsock_t *sock, const fling_peer_t *peer,
                       zmsg_t **msg_p)
{
    zmsg_t *msg = *msg_p;
    *msg_p = NULL;
    if (!msg) {
        errno = ENOMEM;
        return -1;
    }
    /* Raw zmq_send with DONTWAIT: a ROUTER with ROUTER_MANDATORY reports an
       unknown peer (EHOSTUNREACH) or a full pipe (EAGAIN) on the routing
       frame, where it would otherwise drop silently or block the loop. */
    /* The frames themselves are handed over (zframe_send), not copied as
       zmq_send would: a DISPATCH body is up to 256 KB. Once the routing
       frame is accepted, the rest cannot fail for want of a peer or room:
       a ROUTER takes a whole message or none of it. */
    void *handle = zsock_resolve (sock);
    int rc = zmq_send (handle, peer->bytes, peer->size, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zframe_t *frame;
    while (rc >= 0 && (frame = zmsg_pop (msg))) {
        int more = zmsg_size (msg) ? ZFRAME_MORE : 0;
        rc = zframe_send (&frame, handle, more | ZFRAME_DONTWAIT);
        zframe_destroy (&frame); /* kept by some czmq versions when the send failed */
    }
    int err = errno;
    zmsg_destroy (&msg);
    if (rc >= 0)
        return 0;
    self->counters.router_unroutable++;
    /* EAGAIN: its queue is at the high-water mark, so it does not read.
       Close it: libzmq then frees what it queued for it. */
    if (err == EAGAIN)
        fling_broker_close_peer (self, peer);
    errno = err;
    return -1;
}

void fling_broker_close_peer (fling_broker_t *self, const fling_peer_t *peer)
{
    fling_conns_close (self->conns, peer->fd, peer->bytes, peer->size);
}

void fling_peer_hex (const fling_peer_t *peer, char out[FLING_PEER_HEX_SIZE])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < peer->size; i++) {
        out[2 * i] = digits[peer->bytes[i] >> 4];
        out[2 * i + 1] = digits[peer->bytes[i] & 15];
    }
    out[2 * peer->size] = '\0';
}

void fling_broker_count_refusal (fling_broker_t *self, zsock_t *sock, const fling_peer_t *peer,
                                 const fling_msg_t *about, fling_reason_t reason, const char *why)
{
    int slot = reason < FLING_REASON_MAX ? (int)reason : FLING_REASON_MALFORMED;
    self->refused[slot]++;
    self->refused_quiet[slot]++;
    /* A hostile peer must not be able to flood the log: one line per
       reason per second, carrying the count of the lines it stands for. */
    if (self->now_ms - self->refused_logged_ms[slot] >= 1000 ||
        self->refused_logged_ms[slot] == 0) {
        char hex[FLING_PEER_HEX_SIZE];
        fling_peer_hex (peer, hex);
        char quoted[256];
        fling_warn (
            "refused reason=%s socket=%s peer=%s command=%s count=%" PRIu64 " why=%s",
            fling_reason_name (slot), sock == self->producer_sock ? "producer" : "worker", hex,
            about && about->cmd ? fling_cmd_name (about->cmd) : "-", self->refused_quiet[slot],
            fling_logfmt_quote (quoted, sizeof quoted, why ? why : "", why ? strlen (why) : 0));
        self->refused_quiet[slot] = 0;
        self->refused_logged_ms[slot] = self->now_ms;
    }
}

void fling_broker_refuse (fling_broker_t *self, zsock_t *sock, const fling_peer_t *peer,
                          const fling_msg_t *about, fling_reason_t reason, const char *why)
{
    fling_broker_count_refusal (self, sock, peer, about, reason, why);
    if (reason == FLING_REASON_BAD_SIGNATURE)
        return; /* cannot trust the framing: answer nothing (SPEC.md §7.1) */
    /* In the peer's version; a version we do not speak gets version 1,
       the layout every FLP peer reads. */
    uint8_t version = about && about->version ? about->version : 1;
    uint64_t batch_seq = about && (about->cmd == FLING_CMD_SUBMIT || about->cmd == FLING_CMD_RESULT)
                             ? about->batch_seq
                             : 0;
    zmsg_t *reply =
        fling_msg_error (version, reason, about ? (uint8_t)about->cmd : 0, batch_seq, why);
    fling_broker_send (self, sock, peer, &reply);
}

/* ---- DISPATCH after the commit (write-ahead leases) ----------------------- */

/* The last `count` leases of `worker` were never delivered: back to the
   head of their queues in their order, the attempt not counted, the store
   told (their lease may be committed already). */
static void undeliver (fling_broker_t *self, fling_bworker_t *worker, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        fling_btask_t *task = fling_tasklist_tail (&worker->leased);
        fling_worker_unlease (task);
        task->attempt--;
        fling_record_set_attempt (task->raw, task->attempt);
        fling_broker_store_state (self, task);
        fling_broker_requeue (self, task, true);
    }
    self->counters.dispatched -= count;
    self->counters.requeued += count;
}

int fling_broker_hold_dispatch (fling_broker_t *self, fling_bworker_t *worker, zmsg_t **msg_p,
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

void fling_broker_send_dispatches (fling_broker_t *self)
{
    for (size_t i = 0; i < self->held_count; i++) {
        fling_held_dispatch_t *held = &self->held[i];
        fling_bworker_t *worker = held->worker;
        if (!worker)
            continue; /* undone with an earlier one to the same worker */
        if (fling_broker_send (self, self->worker_sock, &worker->peer, &held->msg) == 0)
            continue;
        fling_debug ("dispatch failed worker=%s tasks=%u: %s", worker->name, (unsigned)held->count,
                     strerror (errno));
        undeliver_from (self, worker, i);
        fling_workers_drop (self, worker, FLING_WORKER_UNREACHABLE);
    }
    self->held_count = 0;
}

void fling_broker_cancel_dispatches (fling_broker_t *self)
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

/* ---- tasks and queues -------------------------------------------------- */

static void settings_for (const fling_broker_config_t *config, const char *name,
                          fling_queue_settings_t *out)
{
    out->max_attempts = (uint16_t)config->max_attempts;
    out->backoff_ms = config->backoff_ms;
    out->timeout_ms = config->task_timeout_ms;
    out->poison_limit = (uint8_t)config->poison_limit;
    for (size_t i = 0; i < config->queue_count; i++) { /* the last entry for a name wins */
        const fling_queue_config_t *q = &config->queues[i];
        if (strcmp (q->name, name) != 0)
            continue;
        if ((q->set & 1) && q->max_attempts)
            out->max_attempts = (uint16_t)q->max_attempts;
        if (q->set & 2)
            out->backoff_ms = q->backoff_ms;
        if (q->set & 4)
            out->timeout_ms = q->timeout_ms;
        if ((q->set & 8) && q->poison_limit)
            out->poison_limit = (uint8_t)q->poison_limit;
    }
}

static void sweep_names (fling_broker_t *self);

fling_queue_t *fling_broker_queue (fling_broker_t *self, const char *name, size_t name_size,
                                   fling_queue_use_t use)
{
    char key[FLING_NAME_MAX + 1];
    if (name_size > FLING_NAME_MAX) {
        errno = EINVAL;
        return NULL;
    }
    memcpy (key, name, name_size);
    key[name_size] = '\0';
    fling_queue_t *queue = (fling_queue_t *)zhashx_lookup (self->queue_index, key);
    if (queue || use == FLING_QUEUE_FIND)
        return queue;
    uint64_t room = self->config.max_names;
    if (use == FLING_QUEUE_FOR_WORKER)
        room -= room / 4;
    /* A READY may find the table full of names that READYs of this very
       turn gave up: sweep them now (again at once while sweeps free
       something, else at most every 100 ms). Only here: a SUBMIT keeps a
       queue pointer across records, a READY does not. */
    if (use == FLING_QUEUE_FOR_WORKER && self->queue_count >= room && self->names_sweep &&
        (self->names_swept_last || self->now_ms - self->names_swept_ms >= 100))
        sweep_names (self);
    if (use != FLING_QUEUE_RECOVERED && self->queue_count >= room) {
        errno = ENOSPC;
        return NULL;
    }
    if (self->queue_count == self->queue_alloc) {
        size_t alloc = self->queue_alloc ? self->queue_alloc * 2 : 16;
        fling_queue_t **grown = (fling_queue_t **)realloc (self->queues, alloc * sizeof *grown);
        if (!grown) {
            errno = ENOMEM;
            return NULL;
        }
        self->queues = grown;
        self->queue_alloc = alloc;
    }
    queue = fling_queue_new (name, name_size);
    if (!queue || zhashx_insert (self->queue_index, key, queue)) {
        fling_queue_destroy (&queue);
        errno = ENOMEM;
        return NULL;
    }
    fling_queue_set_pool (queue, self->pool);
    settings_for (&self->config, key, fling_queue_settings (queue));
    self->queues[self->queue_count++] = queue;
    return queue;
}

unsigned fling_broker_max_attempts (const fling_btask_t *task)
{
    unsigned own = fling_btask_max_attempts (task);
    return own ? own : fling_queue_settings (task->queue)->max_attempts;
}

unsigned fling_broker_poison_limit (const fling_btask_t *task)
{
    return fling_queue_settings (task->queue)->poison_limit;
}

void fling_broker_name_refused (fling_broker_t *self, const char *name, size_t name_size,
                                const char *why)
{
    char text[FLING_NAME_MAX + 1];
    self->counters.names_refused++;
    fling_log_printable (text, sizeof text, name, name_size);
    if (fling_limits_log_name (self->limits, text, self->now_ms))
        fling_warn ("task name refused name=%s reason=\"%s\" (logged once a minute per name;"
                    " names_refused=%" PRIu64 ")",
                    text, why, self->counters.names_refused);
}

void fling_broker_forget_task (fling_broker_t *self, fling_btask_t *task)
{
    fling_task_id_t id;
    fling_btask_id (task, &id);
    fling_idmap_remove (self->ids, &id);
    self->bytes -= task->size;
    if (self->auth)
        fling_limits_producer_remove (self->limits, fling_task_id_producer (&id), task->queue,
                                      task->size);
    if (fling_queue_held (task->queue) <= 1)
        self->names_sweep = true; /* this was its last task (it is still counted here) */
    fling_btask_destroy (&task);
}

/* Forgets the names that hold no task and that no worker serves: a name
   table filled by made-up names empties again as their peers go. A
   name's counters in stats start from zero when it comes back. */
static void sweep_names (fling_broker_t *self)
{
    self->names_sweep = false;
    self->names_swept_ms = self->now_ms;
    size_t kept = 0, freed = 0;
    for (size_t i = 0; i < self->queue_count; i++) {
        fling_queue_t *queue = self->queues[i];
        if (fling_queue_held (queue) || fling_queue_server_count (queue)) {
            self->queues[kept++] = queue;
            continue;
        }
        zhashx_delete (self->queue_index, fling_queue_name (queue));
        fling_queue_destroy (&queue);
        freed++;
    }
    self->queue_count = kept;
    self->counters.names_freed += freed;
    self->names_swept_last = freed;
    if (freed)
        fling_debug ("task names forgotten: %zu (no task, no worker); %zu held", freed, kept);
}

void fling_broker_prefetch_id (const fling_broker_t *self, const fling_task_id_t *id)
{
    fling_idmap_prefetch (self->ids, id);
    fling_dedup_prefetch (self->dedup, id);
}

void fling_broker_finish_task (fling_broker_t *self, fling_btask_t *task)
{
    fling_task_id_t id;
    fling_btask_id (task, &id);
    if (!self->store_failed) {
        /* One clock read per turn, not per task: the time only ages the
           duplicate window after a restart. */
        if (!self->wall_ms)
            self->wall_ms = fling_store_wall_ms ();
        if (fling_store_complete (self->store, &id, task->segment, self->wall_ms))
            fling_error ("store complete failed: %s", fling_strerror (errno));
        self->store_dirty = true;
    }
    fling_dedup_add (self->dedup, &id, self->now_ms, self->now_ms);
    fling_broker_forget_task (self, task);
}

static void store_task_of (const fling_btask_t *task, fling_store_task_t *out)
{
    memset (out, 0, sizeof *out);
    out->record = task->raw;
    out->record_size = task->size;
    out->attempt = task->attempt;
    out->crashes = task->crashes;
    out->leased = fling_btask_state (task) == FLING_TASK_LEASED;
    if (fling_btask_state (task) == FLING_TASK_DEAD) {
        out->reason = task->dead->reason;
        out->error = task->dead->error;
        out->error_size = task->dead->error_size;
    }
}

void fling_broker_store_state (fling_broker_t *self, const fling_btask_t *task)
{
    if (self->store_failed)
        return;
    fling_task_id_t id;
    fling_store_task_t state;
    fling_btask_id (task, &id);
    store_task_of (task, &state);
    if (fling_store_state (self->store, &id, &state)) {
        if (errno == ENOSPC) /* a full store: the task may rerun after a restart, not be lost */
            fling_debug ("store full: state record of a task not written");
        else
            fling_error ("store state failed: %s", fling_strerror (errno));
    }
    self->store_dirty = true;
}

fling_reason_t fling_broker_hold_task (fling_broker_t *self, const fling_record_t *record,
                                       fling_queue_t *queue, uint16_t attempt, fling_btask_t **held)
{
    fling_btask_t *task =
        fling_btask_new (record, queue, attempt, fling_queue_settings (queue)->timeout_ms);
    if (!task)
        return FLING_REASON_UNAVAILABLE;
    uint64_t tag = fling_task_id_producer (&record->id);
    if (self->auth && fling_limits_producer_add (self->limits, tag, queue, task->size)) {
        fling_btask_destroy (&task);
        return FLING_REASON_UNAVAILABLE;
    }
    if (fling_idmap_insert (self->ids, &record->id, task)) {
        if (self->auth)
            fling_limits_producer_remove (self->limits, tag, queue, task->size);
        fling_btask_destroy (&task);
        return FLING_REASON_UNAVAILABLE;
    }
    fling_broker_requeue (self, task, false);
    self->bytes += task->size;
    *held = task;
    return FLING_REASON_OK;
}

/* ---- placing tasks: queued, delayed, dead -------------------------------- */

void fling_broker_release (fling_broker_t *self, fling_btask_t *task)
{
    task->attempt--;
    fling_broker_store_state (self, task);
    fling_broker_requeue (self, task, true);
    self->counters.requeued++;
}

void fling_broker_requeue (fling_broker_t *self, fling_btask_t *task, bool head)
{
    fling_btask_set_state (task, FLING_TASK_QUEUED);
    if (head)
        fling_queue_push_head (task->queue, task);
    else
        fling_queue_push_tail (task->queue, task);
    self->dispatch_needed = true;
}

static bool heap_less (const fling_btask_t *a, const fling_btask_t *b)
{
    return (int32_t)(a->due - b->due) < 0;
}

static void heap_swap (fling_delayheap_t *heap, size_t i, size_t j)
{
    fling_btask_t *t = heap->items[i];
    heap->items[i] = heap->items[j];
    heap->items[j] = t;
}

static int heap_push (fling_delayheap_t *heap, fling_btask_t *task)
{
    if (heap->count == heap->alloc) {
        size_t alloc = heap->alloc ? heap->alloc * 2 : 64;
        fling_btask_t **grown = (fling_btask_t **)realloc (heap->items, alloc * sizeof *grown);
        if (!grown)
            return -1;
        heap->items = grown;
        heap->alloc = alloc;
    }
    size_t i = heap->count++;
    heap->items[i] = task;
    while (i > 0 && heap_less (heap->items[i], heap->items[(i - 1) / 2])) {
        heap_swap (heap, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return 0;
}

static void heap_down (fling_delayheap_t *heap, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < heap->count && heap_less (heap->items[l], heap->items[m]))
            m = l;
        if (r < heap->count && heap_less (heap->items[r], heap->items[m]))
            m = r;
        if (m == i)
            break;
        heap_swap (heap, i, m);
        i = m;
    }
}

static fling_btask_t *heap_pop (fling_delayheap_t *heap)
{
    if (!heap->count)
        return NULL;
    fling_btask_t *top = heap->items[0];
    heap->items[0] = heap->items[--heap->count];
    heap_down (heap, 0);
    return top;
}

void fling_broker_delay (fling_broker_t *self, fling_btask_t *task, uint32_t delay_ms)
{
    if (delay_ms > FLING_DELAY_MAX_MS)
        delay_ms = FLING_DELAY_MAX_MS;
    task->due = fling_due_in (self->now_ms, delay_ms);
    if (delay_ms == 0 || heap_push (&self->delayed, task)) {
        fling_broker_requeue (self, task, false); /* no delay, or no memory for one */
        return;
    }
    fling_btask_set_state (task, FLING_TASK_DELAYED);
    fling_queue_counters (task->queue)->delayed++;
}

size_t fling_broker_purge_waiting (fling_broker_t *self, fling_queue_t *queue)
{
    size_t purged = 0;
    fling_btask_t *task;
    while ((task = fling_queue_pop (queue))) {
        fling_broker_finish_task (self, task);
        purged++;
    }
    /* The retry heap: keep the others, heapify again (rare, admin only). */
    size_t kept = 0;
    for (size_t i = 0; i < self->delayed.count; i++) {
        task = self->delayed.items[i];
        if (task->queue != queue) {
            self->delayed.items[kept++] = task;
            continue;
        }
        fling_queue_counters (queue)->delayed--;
        fling_broker_finish_task (self, task);
        purged++;
    }
    self->delayed.count = kept;
    for (size_t i = kept / 2; i-- > 0;)
        heap_down (&self->delayed, i);
    fling_btask_t *next;
    for (task = fling_tasklist_head (&self->parked); task; task = next) {
        next = fling_tasklist_next (task);
        if (task->queue != queue)
            continue;
        fling_broker_unlist (self, task);
        fling_broker_finish_task (self, task);
        purged++;
    }
    /* Suspects waiting for a trial: the next group is taken before this
       one empties (an emptied group is freed). */
    for (fling_group_t *group = fling_suspects_first (self->suspects), *after; group;
         group = after) {
        after = fling_group_next (group);
        if (fling_group_queue (group) != queue)
            continue;
        while ((task = fling_group_peek (group))) {
            bool last = fling_group_size (group) == 1;
            fling_broker_unlist (self, task);
            fling_broker_finish_task (self, task);
            purged++;
            if (last)
                break; /* the group is gone */
        }
    }
    return purged;
}

/* Due retries go to the tail of their queues. */
static void promote_due (fling_broker_t *self)
{
    while (self->delayed.count && fling_due_passed (self->delayed.items[0]->due, self->now_ms)) {
        fling_btask_t *task = heap_pop (&self->delayed);
        fling_queue_counters (task->queue)->delayed--;
        fling_broker_requeue (self, task, false);
    }
}

/* Recovered in-flight tasks not claimed by HOLDING in time: queued at the
   head, in their order. */
static void release_parked (fling_broker_t *self)
{
    if (!self->parked.count || self->now_ms < self->parked_until_ms)
        return;
    fling_info ("queueing %zu recovered in-flight tasks no worker claimed", self->parked.count);
    fling_btask_t *task;
    while ((task = fling_tasklist_tail (&self->parked))) {
        fling_tasklist_remove (&self->parked, task);
        fling_queue_counters (task->queue)->delayed--;
        fling_broker_requeue (self, task, true);
    }
}

void fling_broker_unlist (fling_broker_t *self, fling_btask_t *task)
{
    switch (fling_btask_state (task)) {
    case FLING_TASK_QUEUED:
        fling_queue_remove (task->queue, task);
        break;
    case FLING_TASK_PARKED:
        fling_tasklist_remove (&self->parked, task);
        fling_queue_counters (task->queue)->delayed--;
        break;
    case FLING_TASK_DEAD:
        fling_tasklist_remove (fling_queue_dead (task->queue), task);
        break;
    case FLING_TASK_SUSPECT:
        fling_suspects_remove (self->suspects, task);
        break;
    default:
        break; /* LEASED and DELAYED are never unlisted this way */
    }
}

void fling_broker_kill (fling_broker_t *self, fling_btask_t *task, uint8_t reason,
                        const char *error, size_t error_size)
{
    char id_text[FLING_TASK_ID_TEXT_SIZE], text[512];
    fling_task_id_t id;
    fling_btask_id (task, &id);
    fling_task_id_format (&id, id_text);
    fling_logfmt_quote (text, sizeof text, error, error_size);
    /* A worker decides how fast tasks fail: rate-limited. */
    FLING_LOG_LIMITED (FLING_LOG_WARN,
                       "task dead-lettered id=%s name=%s reason=%s attempts=%u crashes=%u"
                       " error=%s",
                       id_text, fling_queue_name (task->queue), fling_dead_reason_name (reason),
                       (unsigned)task->attempt, (unsigned)task->crashes, text);
    fling_queue_counters (task->queue)->failed++;
    self->counters.dead_lettered++;
    FLING_EVENT_TASK (self, FLING_EVENT_DEAD, task, NULL);
    /* dead_retry starts it afresh: no suspicion carried over. */
    task->flags &= (uint8_t) ~(FLING_BTASK_SUSPECT | FLING_BTASK_ORPHANED);
    if (reason != FLING_DEAD_CRASHED)
        self->counters.failed++;
    if (fling_btask_kill (task, reason, error, error_size)) {
        fling_error ("out of memory: dead task dropped id=%s", id_text);
        fling_broker_finish_task (self, task);
        return;
    }
    fling_tasklist_push_tail (fling_queue_dead (task->queue), task);
    fling_broker_store_state (self, task);
}

static uint32_t backoff_ms (fling_broker_t *self, const fling_btask_t *task)
{
    fling_record_t record;
    fling_btask_record (task, &record);
    uint64_t delay =
        record.backoff_ms ? record.backoff_ms : fling_queue_settings (task->queue)->backoff_ms;
    unsigned doublings = task->attempt > 1 ? task->attempt - 1u : 0u;
    for (unsigned i = 0; i < doublings && delay < self->config.backoff_max_ms; i++)
        delay *= 2;
    if (delay > self->config.backoff_max_ms)
        delay = self->config.backoff_max_ms;
    /* +-20% jitter (xorshift64*), so tasks that failed together spread out. */
    self->rng ^= self->rng >> 12;
    self->rng ^= self->rng << 25;
    self->rng ^= self->rng >> 27;
    uint64_t r = (self->rng * 0x2545F4914F6CDD1Dull) >> 11; /* 53 bits */
    double factor = 0.8 + 0.4 * ((double)r / (double)(1ull << 53));
    return (uint32_t)((double)delay * factor);
}

void fling_broker_run_failed (fling_broker_t *self, fling_btask_t *task, uint8_t reason,
                              uint32_t delay_ms, const char *error, size_t error_size)
{
    if (task->attempt >= fling_broker_max_attempts (task)) {
        fling_broker_kill (self, task, reason, error, error_size);
        return;
    }
    fling_queue_counters (task->queue)->retried++;
    self->counters.retried++;
    FLING_EVENT_TASK (self, FLING_EVENT_FAILED, task, NULL);
    fling_broker_store_state (self, task); /* not leased any more */
    fling_broker_delay (self, task, delay_ms ? delay_ms : backoff_ms (self, task));
}

/* ---- the turn: read, commit, acknowledge, dispatch ---------------------- */

/* The connection's key (CURVE), its limits and its state: 0 = go on,
   -1 = dropped or refused already. */
static int admit (fling_broker_t *self, zsock_t *sock, fling_peer_t *peer, const char *user_id)
{
    bool from_worker = sock == self->worker_sock;
    const fling_principal_t *principal;
    fling_conn_verdict_t verdict =
        fling_conns_message (self->conns, from_worker ? FLING_CONNS_WORKER : FLING_CONNS_PRODUCER,
                             peer->fd, peer->bytes, peer->size, user_id, &principal, self->now_ms);
    if (verdict == FLING_CONN_DROP)
        return -1;
    if (verdict == FLING_CONN_UNKNOWN_KEY) {
        fling_broker_refuse (self, sock, peer, NULL, FLING_REASON_FORBIDDEN,
                             "key not in the broker's allowed directory");
        return -1;
    }
    peer->principal = principal;
    return 0;
}

/* May this key send this command here (CURVE)? Checked on the command
   byte, before the message is decoded; a refusal names the command (and
   a SUBMIT's batch, answered with an ACK of FORBIDDEN statuses, so the
   producer resolves it instead of sending it again). 0 = go on. */
static int authorise (fling_broker_t *self, zsock_t *sock, const fling_peer_t *peer, zmsg_t *msg)
{
    bool from_worker = sock == self->worker_sock;
    zframe_t *header = zmsg_first (msg);
    if (!self->auth || !header || zframe_size (header) != 4)
        return 0; /* a bad header is refused by the decoder, answering nothing */
    fling_cmd_t cmd = (fling_cmd_t)zframe_data (header)[3];
    if (fling_auth_permits (peer->principal->role, from_worker, cmd))
        return 0;
    char why[128];
    snprintf (why, sizeof why, "a %s key may not send %s on the %s endpoint",
              fling_role_name (peer->principal->role), fling_cmd_name (cmd),
              from_worker ? "worker" : "producer");
    fling_msg_t about;
    fling_reason_t reason;
    bool decoded = fling_msg_decode (msg, &about, &reason) == 0 || about.cmd;
    if (decoded && about.has_batch && !from_worker)
        fling_producers_refuse_batch (self, peer, &about, FLING_REASON_FORBIDDEN);
    else
        fling_broker_refuse (self, sock, peer, decoded ? &about : NULL, FLING_REASON_FORBIDDEN,
                             why);
    return -1;
}

static void handle_message (fling_broker_t *self, zsock_t *sock, fling_peer_t *peer,
                            const char *user_id, zmsg_t *msg)
{
    if (admit (self, sock, peer, user_id) || authorise (self, sock, peer, msg))
        return;
    bool from_worker = sock == self->worker_sock;
    fling_bworker_t *worker = from_worker ? fling_workers_touch (self, peer) : NULL;
    if (worker && worker->peer.principal != peer->principal) {
        /* A routing id a client chose, once another key's: never its leases. */
        fling_broker_refuse (self, sock, peer, NULL, FLING_REASON_FORBIDDEN,
                             "routing id registered by another key");
        return;
    }
    fling_msg_t decoded;
    fling_reason_t reason;
    if (fling_msg_decode (msg, &decoded, &reason)) {
        /* A SUBMIT whose batch can be named is answered for that batch:
           an ACK, so that any producer can tell which batch it was. */
        if (decoded.has_batch && !from_worker)
            fling_producers_refuse_batch (self, peer, &decoded, reason);
        else if (decoded.cmd == FLING_CMD_ERROR || decoded.cmd == FLING_CMD_PONG)
            /* never answered, even malformed: no ping-pong of errors */
            fling_broker_count_refusal (self, sock, peer, &decoded, reason, decoded.problem);
        else
            fling_broker_refuse (self, sock, peer, &decoded, reason, decoded.problem);
        return;
    }
    if (from_worker)
        fling_workers_handle (self, peer, worker, &decoded);
    else
        fling_producers_handle (self, peer, &decoded);
}

/* Reads a message. The routing-id frame and the FLP header frame by hand:
   libzmq attaches to the header what the broker needs to know of the
   sender, the connection's descriptor (ZMQ_SRCFD) and, with CURVE, its key
   (User-Id). Not to the routing id: a poll that prefetched the message
   made that frame without them (libzmq 4.3). The header is put back in
   front of the other frames for the decoder (cut at 64 bytes: anything
   longer than 4 is refused the same way). */
static void drain (fling_broker_t *self, zsock_t *sock)
{
    void *handle = zsock_resolve (sock);
    for (int i = 0; i < FLING_BROKER_DRAIN_MAX; i++) {
        zmq_msg_t routing, header;
        zmq_msg_init (&routing);
        if (zmq_msg_recv (&routing, handle, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&routing);
            return;
        }
        fling_peer_t peer = {.size = 0, .fd = -1};
        if (zmq_msg_size (&routing) <= FLING_ROUTING_ID_MAX) {
            peer.size = (uint8_t)zmq_msg_size (&routing);
            memcpy (peer.bytes, zmq_msg_data (&routing), peer.size);
        }
        zmq_msg_init (&header);
        bool have_header =
            zmq_msg_more (&routing) && zmq_msg_recv (&header, handle, ZMQ_DONTWAIT) >= 0;
        zmq_msg_close (&routing);
        const char *user_id = NULL;
        zmsg_t *msg = NULL;
        if (have_header) {
            peer.fd = zmq_msg_get (&header, ZMQ_SRCFD);
            user_id = self->auth ? zmq_msg_gets (&header, "User-Id") : NULL;
            msg = zmq_msg_more (&header) ? zmsg_recv (sock) : zmsg_new ();
            size_t size = zmq_msg_size (&header);
            if (msg && zmsg_pushmem (msg, zmq_msg_data (&header), size < 64 ? size : 64))
                zmsg_destroy (&msg);
        } else
            msg = zmsg_new ();
        if (msg)
            handle_message (self, sock, &peer, user_id, msg);
        zmsg_destroy (&msg);
        zmq_msg_close (&header); /* after user_id's last use: it points into its metadata */
    }
}

/* Moves the live records of the store's compaction candidate (if any) to
   the log's head, so the old segment can go. Walks every task: rare (once
   per segment at most) and bounded by the tasks held. */
static void compact (fling_broker_t *self)
{
    int64_t candidate = fling_store_compaction_candidate (self->store);
    if (candidate < 0 || self->store_failed)
        return;
    size_t moved = 0, slots = fling_idmap_slots (self->ids);
    for (size_t i = 0; i < slots; i++) {
        fling_btask_t *task = (fling_btask_t *)fling_idmap_slot_value (self->ids, i);
        if (!task || task->segment != (uint32_t)candidate)
            continue;
        fling_task_id_t id;
        fling_store_task_t state;
        fling_btask_id (task, &id);
        store_task_of (task, &state);
        if (fling_store_put (self->store, &id, &state, &task->segment))
            break; /* full or failed: try again later */
        moved++;
    }
    if (moved) {
        self->store_dirty = true;
        fling_debug ("store compaction segment=%" PRId64 " moved=%zu", candidate, moved);
    }
}

/* The turn's duties, in the order that keeps every promise: tasks leave
   for workers (dispatch) before the commit, so the commit that makes this
   turn's SUBMITs and completions durable also records the leases, and only
   then do ACKs, RESULT_ACKs and DISPATCHes go out. */
static void end_turn (fling_broker_t *self)
{
    promote_due (self);
    release_parked (self);
    if (self->now_ms >= self->next_reap_ms) {
        fling_workers_reap (self);
        fling_workers_expire_leases (self);
        fling_dedup_expire (self->dedup, self->now_ms);
        unsigned step = self->config.heartbeat_ms / 4;
        self->next_reap_ms = self->now_ms + (step ? step : 1);
    }
    if (self->names_sweep)
        sweep_names (self);
    fling_access_turn (self);
    if (self->dispatch_needed) {
        self->dispatch_needed = false;
        fling_dispatch (self);
    }
    fling_producers_commit_and_ack (self);
    fling_workers_ack_results (self);
    fling_broker_send_dispatches (self);
    fling_ops_tick (self);
    /* After the ACKs went out: unlinking a segment takes ~15 ms. */
    if (!self->store_failed) {
        fling_store_maintain (self->store, self->now_ms);
        compact (self);
    }
}

static void announce (fling_broker_t *self)
{
    const char *http = fling_ops_http_address (self);
    fling_info ("listening producer=%s worker=%s%s%s", self->producer_endpoint,
                self->worker_endpoint, http ? " http=" : "", http ? http : "");
    int fd = self->config.ready_fd;
    if (fd < 0)
        return;
    self->config.ready_fd = -1;
    char line[3 * FLING_ENDPOINT_MAX + 48];
    int size =
        snprintf (line, sizeof line, "ready producer=%s worker=%s%s%s\n", self->producer_endpoint,
                  self->worker_endpoint, http ? " http=" : "", http ? http : "");
    for (int sent = 0; sent < size;) {
        ssize_t n = write (fd, line + sent, (size_t)(size - sent));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fling_warn ("cannot write the ready line to fd %d: %s", fd, strerror (errno));
            break;
        }
        sent += (int)n;
    }
    close (fd);
}

/* The turn's clocks: monotonic now, the wall clock when first needed. */
static void start_turn (fling_broker_t *self)
{
    self->now_ms = fling_clock_ms ();
    self->wall_ms = 0;
}

static void log_counters (fling_broker_t *self, const char *event)
{
    const fling_broker_counters_t *c = &self->counters;
    uint64_t refused = 0;
    for (int i = 0; i < FLING_REASON_MAX; i++)
        refused += self->refused[i];
    fling_info ("%s tasks=%zu accepted=%" PRIu64 " duplicates=%" PRIu64 " rejected=%" PRIu64
                " dispatched=%" PRIu64 " done=%" PRIu64 " failed=%" PRIu64 " retried=%" PRIu64
                " requeued=%" PRIu64 " stale_results=%" PRIu64 " worker_lost=%" PRIu64
                " router_unroutable=%" PRIu64 " refused=%" PRIu64 " dead_lettered=%" PRIu64
                " crashed=%" PRIu64 " suspected=%" PRIu64 " trials=%" PRIu64 " timed_out=%" PRIu64
                " store_full=%" PRIu64 " unavailable=%" PRIu64 " holding_leased=%" PRIu64
                " holding_ignored=%" PRIu64,
                event, fling_idmap_size (self->ids), c->accepted, c->duplicates, c->rejected,
                c->dispatched, c->done, c->failed, c->retried, c->requeued, c->stale_results,
                c->worker_lost, c->router_unroutable, refused, c->dead_lettered, c->crashed,
                c->suspected, c->trials, c->timed_out, c->store_full, c->unavailable,
                c->holding_leased, c->holding_ignored);
}

static bool leases_out (fling_broker_t *self)
{
    for (fling_bworker_t *worker = (fling_bworker_t *)zhashx_first (self->workers); worker;
         worker = (fling_bworker_t *)zhashx_next (self->workers))
        if (worker->leased.count)
            return true;
    return false;
}

/* Stop: no more DISPATCH; SUBMITs get UNAVAILABLE; RESULTs are still
   applied for a short grace (min(worker timeout, 2 s)) while workers hold
   leases, so work that finishes during the stop is not run again after
   the restart; then one last commit makes every completion durable. */
static void shut_down (fling_broker_t *self, zmq_pollitem_t *items)
{
    self->shutting_down = true;
    start_turn (self);
    unsigned grace = self->config.worker_timeout_ms < 2000 ? self->config.worker_timeout_ms : 2000;
    int64_t until = self->now_ms + grace;
    do {
        drain (self, self->producer_sock);
        drain (self, self->worker_sock);
        fling_producers_commit_and_ack (self);
        fling_workers_ack_results (self);
        if (!leases_out (self) || self->now_ms >= until)
            break;
        zmq_poll (items, 2, 20);
        start_turn (self);
    } while (true);
    if (!self->store_failed && fling_store_commit (self->store)) {
        fling_error ("store commit at shutdown failed: %s", fling_strerror (errno));
        self->store_failed = true;
    }
    log_counters (self, "shutdown");
}

/* How long the next poll may sleep: never longer than half a heartbeat
   (stop requests are checked between polls), and no later than the next
   timed duty of end_turn: the earliest retry's due time, the reap tick
   (worker liveness, lease deadlines, dedup expiry) and the release of
   parked tasks. Otherwise a 300 ms retry fires up to 500 ms late.
   0 = poll without blocking. */
static long poll_timeout (const fling_broker_t *self)
{
    long timeout = self->config.heartbeat_ms / 2 > 0 ? (long)(self->config.heartbeat_ms / 2) : 1;
    int64_t now = fling_clock_ms ();
    if (self->delayed.count) {
        int32_t until = (int32_t)(self->delayed.items[0]->due - (uint32_t)now);
        if (until < timeout)
            timeout = until;
    }
    if (self->next_reap_ms - now < timeout)
        timeout = (long)(self->next_reap_ms - now);
    if (self->parked.count && self->parked_until_ms - now < timeout)
        timeout = (long)(self->parked_until_ms - now);
    return timeout > 0 ? timeout : 0;
}

int fling_broker_run (fling_broker_t *self)
{
    announce (self);
    zmq_pollitem_t items[4 + FLING_OPS_POLL_MAX] = {
        {zsock_resolve (self->producer_sock), 0, ZMQ_POLLIN, 0},
        {zsock_resolve (self->worker_sock), 0, ZMQ_POLLIN, 0},
        {fling_conns_monitor (self->conns, FLING_CONNS_PRODUCER), 0, ZMQ_POLLIN, 0},
        {fling_conns_monitor (self->conns, FLING_CONNS_WORKER), 0, ZMQ_POLLIN, 0},
    };
    int count = 4 + (int)fling_ops_poll_items (self, items + 4);
    while (!zsys_interrupted && !atomic_load (&self->stopping)) {
        int rc = zmq_poll (items, count, poll_timeout (self));
        if (rc < 0 && errno != EINTR) {
            fling_error ("poll failed: %s", zmq_strerror (errno));
            break;
        }
        start_turn (self);
        if (rc > 0) {
            /* Connection events first: a message may come from a
               connection whose ACCEPTED is still in the monitor pipe. */
            if ((items[2].revents | items[3].revents) & ZMQ_POLLIN)
                fling_conns_events (self->conns, self->now_ms);
            if (items[0].revents & ZMQ_POLLIN)
                drain (self, self->producer_sock);
            if (items[1].revents & ZMQ_POLLIN)
                drain (self, self->worker_sock);
        }
        end_turn (self);
        if (rc > 0) /* after the turn: the tables are consistent, the store committed */
            fling_ops_handle (self, items + 4);
    }
    shut_down (self, items);
    return 0;
}

void fling_broker_stop (fling_broker_t *self)
{
    /* A flag, not a message: like zsys_interrupted it must work from a
       signal handler, and a lock-free atomic store is async-signal-safe. */
    atomic_store (&self->stopping, 1);
}

/* ---- life cycle -------------------------------------------------------- */

static zsock_t *open_router (fling_broker_t *self, const char *endpoint,
                             char bound[FLING_ENDPOINT_MAX], fling_conns_socket_t kind)
{
    const char *which = kind == FLING_CONNS_WORKER ? "worker" : "producer";
    zsock_t *sock = zsock_new (ZMQ_ROUTER);
    if (!sock || fling_access_serve (self, sock, kind)) {
        fling_error ("cannot create the %s socket: %s", which, zmq_strerror (errno));
        zsock_destroy (&sock);
        return NULL;
    }
    zsock_set_router_mandatory (sock, 1);             /* a ROUTER drops silently otherwise */
    zsock_set_maxmsgsize (sock, FLING_MSG_BYTES_MAX); /* per frame; the codec caps the total */
    zsock_set_handshake_ivl (sock, 5000);             /* slowloris: drop silent connections */
    /* Per peer, in messages. Workers: credit bounds what is queued to
       one. Producers and admin clients are owed an ACK per SUBMIT in their
       window (at most 1,024) and one reply per request: a peer past 4,096
       does not read, and is closed at the EAGAIN (fling_broker_send). */
    zsock_set_sndhwm (sock, kind == FLING_CONNS_WORKER ? 100000 : 4096);
    zsock_set_rcvhwm (sock, 100000);
    zsock_set_linger (sock, 0);
    zsock_set_rcvtimeo (sock, 0);
    /* libzmq's own bind, not zsock_bind: for "tcp://host:*" czmq walks ports
       up from 49152 in every process, so brokers started side by side (tests)
       collide; libzmq lets the kernel pick a free ephemeral port. */
    if (zmq_bind (zsock_resolve (sock), endpoint) == -1) {
        int err = errno;
        fling_error ("cannot bind the %s socket to %s: %s", which, endpoint, zmq_strerror (err));
        zsock_destroy (&sock);
        errno = err;
        return NULL;
    }
    char *last = zsock_last_endpoint (sock);
    snprintf (bound, FLING_ENDPOINT_MAX, "%s", last ? last : endpoint);
    zstr_free (&last);
    return sock;
}

/* ---- recovery: the store's events, in log order ------------------------ */

/* Puts a recovered task where its state says: dead list, parked (it was in
   flight: its worker may claim it back with HOLDING), or its queue. */
static void recover_place (fling_broker_t *self, fling_btask_t *task, bool leased)
{
    if (fling_btask_state (task) == FLING_TASK_DEAD)
        fling_tasklist_push_tail (fling_queue_dead (task->queue), task);
    else if (leased && task->attempt > 0) {
        fling_btask_set_state (task, FLING_TASK_PARKED);
        fling_tasklist_push_tail (&self->parked, task);
        fling_queue_counters (task->queue)->delayed++;
    } else
        fling_broker_requeue (self, task, false);
}

static void recover_apply_state (fling_btask_t *task, const fling_store_task_t *state)
{
    fling_btask_revive (task);
    task->attempt = state->attempt;
    task->crashes = state->crashes;
    if (state->reason != FLING_DEAD_NONE &&
        fling_btask_kill (task, state->reason, state->error, state->error_size))
        fling_error ("out of memory: dead task recovered as queued");
}

static int recover_task (fling_broker_t *self, const fling_store_event_t *event)
{
    fling_btask_t *task = (fling_btask_t *)fling_idmap_lookup (self->ids, &event->id);
    if (task) { /* a newer copy (compaction): it replaces the older one */
        fling_broker_unlist (self, task);
        fling_store_unpin (self->store, task->segment);
    } else {
        const uint8_t *cursor = event->task.record;
        fling_record_t record;
        fling_reason_t reason;
        if (fling_record_next (&cursor, cursor + event->task.record_size, &record, &reason) != 1)
            return 0; /* the store checked it; cannot happen */
        fling_queue_t *queue =
            fling_broker_queue (self, record.name, record.name_size, FLING_QUEUE_RECOVERED);
        if (!queue)
            return -1;
        task = fling_btask_new (&record, queue, 0, fling_queue_settings (queue)->timeout_ms);
        if (!task || fling_idmap_insert (self->ids, &event->id, task)) {
            fling_btask_destroy (&task);
            return -1;
        }
        self->bytes += task->size;
        if (self->auth && fling_limits_producer_add (
                              self->limits, fling_task_id_producer (&event->id), queue, task->size))
            return -1;
    }
    task->segment = event->segment;
    recover_apply_state (task, &event->task);
    recover_place (self, task, event->task.leased);
    return 0;
}

static int recover_event (const fling_store_event_t *event, void *arg)
{
    fling_broker_t *self = (fling_broker_t *)arg;
    if (event->kind == FLING_STORE_EV_TASK)
        return recover_task (self, event);
    fling_btask_t *task = (fling_btask_t *)fling_idmap_lookup (self->ids, &event->id);
    if (event->kind == FLING_STORE_EV_STATE) {
        if (task) {
            fling_broker_unlist (self, task);
            recover_apply_state (task, &event->task);
            recover_place (self, task, event->task.leased);
        }
        return 0;
    }
    if (task) { /* DONE */
        fling_broker_unlist (self, task);
        fling_store_unpin (self->store, task->segment);
        fling_broker_forget_task (self, task);
    }
    /* Refill the duplicate window: wall clock in the log, monotonic here. */
    int64_t age = fling_store_wall_ms () - event->wall_ms;
    fling_dedup_add (self->dedup, &event->id, self->now_ms - (age > 0 ? age : 0), self->now_ms);
    return 0;
}

static void store_options (const fling_broker_config_t *config, fling_store_options_t *options)
{
    fling_store_options_init (options);
    snprintf (options->dir, sizeof options->dir, "%s", config->store_dir);
    options->wal.segment_bytes = (size_t)config->segment_bytes;
    options->wal.max_bytes = config->store_max_bytes;
    options->wal.free_floor_bytes = config->store_free_floor_bytes;
}

static int open_store (fling_broker_t *self)
{
    fling_store_options_t options;
    store_options (&self->config, &options);
    int64_t started_us = fling_clock_us ();
    self->store = fling_store_open (self->config.store, &options);
    if (!self->store) {
        fling_error ("cannot open the %s store%s%s: %s", self->config.store,
                     strcmp (self->config.store, "disk") == 0 ? " in " : "",
                     strcmp (self->config.store, "disk") == 0 ? options.dir : "",
                     fling_strerror (errno));
        return -1;
    }
    if (fling_store_recover (self->store, recover_event, self)) {
        fling_error ("cannot recover the %s store: %s", self->config.store, fling_strerror (errno));
        return -1;
    }
    self->parked_until_ms = self->now_ms + self->config.worker_timeout_ms;
    fling_store_status_t status;
    fling_store_status (self->store, &status);
    size_t dead = 0;
    for (size_t i = 0; i < self->queue_count; i++)
        dead += fling_queue_dead (self->queues[i])->count;
    if (fling_idmap_size (self->ids) || status.records)
        fling_info ("recovered tasks=%zu dead=%zu in_flight=%zu bytes=%" PRIu64 " records=%" PRIu64
                    " corrupt_records=%" PRIu64 " torn_bytes=%" PRIu64
                    " duplicate_window=%zu ms=%" PRId64,
                    fling_idmap_size (self->ids), dead, self->parked.count, self->bytes,
                    status.records, status.corrupt_records, status.torn_bytes,
                    fling_dedup_size (self->dedup), (fling_clock_us () - started_us) / 1000);
    if (status.corrupt_records || status.damaged_segments || status.quarantined)
        fling_error ("store damaged: corrupt_records=%" PRIu64 " damaged_segments=%" PRIu32
                     " quarantined=%" PRIu32 "; every intact record was recovered; the ERROR lines "
                     "above name each place (broker/STORE.md, \"Damaged segments\")",
                     status.corrupt_records, status.damaged_segments, status.quarantined);
    return 0;
}

/* The id index keeps no copy of ids: each task's record holds its own. */
static void task_key (const void *task, fling_task_id_t *id)
{
    fling_btask_id ((const fling_btask_t *)task, id);
}

fling_broker_t *fling_broker_new (const fling_broker_config_t *config)
{
    fling_broker_t *self = (fling_broker_t *)calloc (1, sizeof *self);
    if (!self) {
        errno = ENOMEM;
        return NULL;
    }
    self->config = *config;
    self->started_ms = self->now_ms = fling_clock_ms ();
    self->pool = fling_blockpool_new (FLING_TASKPOOL_BYTES);
    self->ids = fling_idmap_new (task_key, NULL);
    self->dedup = fling_dedup_new ((size_t)config->dedup_max, (int64_t)config->dedup_window_ms);
    self->suspects = fling_suspects_new ();
    self->rng = (uint64_t)fling_clock_us () * 0x9E3779B97F4A7C15ull | 1;
    self->queue_index = zhashx_new ();
    self->workers = zhashx_new ();
    if (!self->pool || !self->ids || !self->dedup || !self->suspects || !self->queue_index ||
        !self->workers) {
        fling_broker_destroy (&self);
        errno = ENOMEM;
        return NULL;
    }
    int err = 0;
    if (fling_access_open (self) || open_store (self) ||
        !(self->producer_sock = open_router (self, config->producer_endpoint,
                                             self->producer_endpoint, FLING_CONNS_PRODUCER)) ||
        !(self->worker_sock = open_router (self, config->worker_endpoint, self->worker_endpoint,
                                           FLING_CONNS_WORKER)) ||
        fling_ops_new (self)) {
        err = errno;
        fling_broker_destroy (&self);
        errno = err;
        return NULL;
    }
    fling_info ("start store=%s max_tasks=%" PRIu64 " max_queue_tasks=%" PRIu64
                " max_bytes=%" PRIu64 " max_attempts=%u backoff_ms=%u poison_limit=%u"
                " task_timeout_ms=%u heartbeat_ms=%u worker_timeout_ms=%u",
                config->store, config->max_tasks, config->max_queue_tasks, config->max_bytes,
                config->max_attempts, config->backoff_ms, config->poison_limit,
                config->task_timeout_ms, config->heartbeat_ms, config->worker_timeout_ms);
    return self;
}

void fling_broker_destroy (fling_broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_broker_t *self = *self_p;
    fling_broker_cancel_dispatches (self); /* none outside a turn; before the workers go */
    if (self->workers)
        fling_workers_destroy_all (self);
    fling_producers_discard_acks (self);
    free (self->held);
    fling_btask_t *task;
    while ((task = heap_pop (&self->delayed)))
        fling_btask_destroy (&task);
    free (self->delayed.items);
    while ((task = fling_tasklist_pop_head (&self->parked)))
        fling_btask_destroy (&task);
    fling_dedup_destroy (&self->dedup);
    fling_suspects_destroy (&self->suspects); /* before the queues: tasks use their pool */
    fling_limits_destroy (&self->limits);
    for (size_t i = 0; i < self->queue_count; i++)
        fling_queue_destroy (&self->queues[i]); /* frees the tasks still queued */
    free (self->queues);
    zhashx_destroy (&self->queue_index);
    zhashx_destroy (&self->workers);
    fling_idmap_destroy (&self->ids);
    fling_blockpool_destroy (&self->pool); /* after every task went back to it */
    fling_store_destroy (&self->store);
    fling_ops_destroy (self);
    fling_access_close (self); /* its monitors first: they watch the sockets */
    zsock_destroy (&self->producer_sock);
    zsock_destroy (&self->worker_sock);
    free (self);
    *self_p = NULL;
}

const char *fling_broker_endpoint (const fling_broker_t *self, const char *which)
{
    if (strcmp (which, "producer") == 0)
        return self->producer_endpoint;
    if (strcmp (which, "worker") == 0)
        return self->worker_endpoint;
    if (strcmp (which, "http") == 0)
        return fling_ops_http_address (self);
    return NULL;
}
