/*  fling_producers.c - the broker's producer side: SUBMIT, its ACK after
    the group commit, PING and ADMIN on the producer socket.

    SUBMITs are applied to the tables as they are read (so a resend within
    the same turn is already a DUPLICATE), but their ACKs wait for the one
    store commit at the end of the turn: an ACK promises that the store has
    the tasks (proto/SPEC.md §4.2). A failed commit turns the whole turn's
    answers into UNAVAILABLE and drops the tasks it accepted.
*/
#include "fling_producers.h"
#include "fling_access.h"
#include "fling_admin.h"
#include "fling_deliver.h"
#include "fling_error.h"
#include "fling_log.h"
#include "fling_names.h"
#include "fling_ops.h"
#include "fling_ratelog.h"
#include "fling_tasks.h"
#include "fling_unique.h"
#include "fling_wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*  A SUBMIT waiting for the end-of-turn commit. One allocation: the struct,
    then `count` task pointers (the tasks accepted, to undo on a failed
    commit), then `count` status bytes. */
struct pending_ack {
    fling_peer_t peer;
    uint64_t batch_seq;
    uint32_t count;
    uint8_t version; /* the SUBMIT's: the ACK goes out in it */
    uint8_t *statuses;
    fling_btask_t *tasks[];
};

/* ---- accepting tasks ---------------------------------------------------- */

/* Undoes fling_tasks_hold for a task that was never acknowledged:
   the store is not told, since it never confirmed the task. */
static void drop_unacked (fling_broker_t *self, fling_btask_t *task)
{
    fling_queue_remove (task->queue, task);
    fling_tasks_forget (self, task);
}

/* The queue of a record's name. A batch's records mostly share one name:
   `last` (the previous record's queue) spares the table lookup, which
   hashes the name. Queues outlive a SUBMIT: unused names are swept only
   at the end of a turn (or during a READY, never a SUBMIT). */
static fling_queue_t *queue_of (fling_broker_t *self, const fling_record_t *record,
                                fling_queue_t **last)
{
    if (*last) {
        const char *name = fling_queue_name (*last);
        if (strncmp (name, record->name, record->name_size) == 0 && name[record->name_size] == '\0')
            return *last;
    }
    fling_queue_t *queue =
        fling_names_queue (self, record->name, record->name_size, FLING_QUEUE_FOR_TASK);
    if (queue)
        *last = queue;
    else if (errno == ENOSPC)
        fling_names_refused (self, record->name, record->name_size,
                             "the name table is full (--max-names)");
    return queue;
}

/* The id lookup leaves its slot to fling_tasks_hold's insert (see
   fling_idmap_lookup): one probe of the id index per new task. */
/* A task with a due time, a priority or a unique key (proto/SPEC.md §3.6)
   is held with them as extensions at the end of its record, in increasing
   type order (a due-at, the priority, the key): in memory, in the store (so
   a restart and a compaction keep them) and never on the wire (the
   DISPATCH copy leaves them out, fling_dispatch.c). A delay becomes a
   due-at on the broker's wall clock now. `full` gets the record to hold;
   its size is at most the record's plus FLING_DUE_EXT_SIZE (a delay becomes
   a due-at; the priority and the key are kept as they came). */
static fling_reason_t with_due_at (fling_broker_t *self, const fling_record_t *record,
                                   uint8_t *full, fling_record_t *out)
{
    fling_task_ext_t due = {.due_at_ms = record->ext.due_at_ms,
                            .priority = record->ext.priority,
                            .key_ttl_ms = record->ext.key_ttl_ms,
                            .key = record->ext.key,
                            .key_size = record->ext.key_size};
    if (!due.due_at_ms && record->ext.delay_ms)
        due.due_at_ms = (uint64_t)fling_state_wall_ms (self) + record->ext.delay_ms;
    fling_record_write_ext (full, &record->id, 0, record->max_attempts, record->timeout_ms,
                            record->backoff_ms, record->name, record->name_size, record->payload,
                            record->payload_size, &due);
    const uint8_t *cursor = full;
    fling_record_read (&cursor, out);
    return FLING_REASON_OK;
}

static fling_reason_t accept_record (fling_broker_t *self, const fling_record_t *record,
                                     int64_t due_ms, fling_queue_t **last_queue,
                                     fling_btask_t **accepted);

/* accept_record for a record that may carry extensions. */
static fling_reason_t accept_any (fling_broker_t *self, const fling_record_t *record,
                                  fling_queue_t **last_queue, fling_btask_t **accepted)
{
    if (!record->ext_size)
        return accept_record (self, record, 0, last_queue, accepted);
    size_t room = record->raw_size + FLING_DUE_EXT_SIZE;
    uint8_t *full = (uint8_t *)malloc (2 * room);
    if (!full)
        return FLING_REASON_UNAVAILABLE;
    fling_record_t held, lean;
    fling_reason_t status = with_due_at (self, record, full, &held);
    int64_t due = fling_tasks_lean_record (self, &held, full + room, room, &lean);
    if (status == FLING_REASON_OK)
        status = accept_record (self, &lean, due, last_queue, accepted);
    if (status == FLING_REASON_OK && due) {
        int64_t until = fling_tasks_wait_ms (self, due);
        fling_queue_remove ((*accepted)->queue, *accepted);
        fling_tasks_delay (self, *accepted, (uint32_t)until); /* < FLING_DELAY_MAX_MS */
    } else if (status == FLING_REASON_OK)
        fling_tasks_hold_until_due (self, *accepted);
    free (full);
    return status;
}

/* due_ms: the due time (UTC ms) the held record left out, which the
   store's copy carries; 0 = the store keeps the held record as it is. */
static fling_reason_t accept_record (fling_broker_t *self, const fling_record_t *record,
                                     int64_t due_ms, fling_queue_t **last_queue,
                                     fling_btask_t **accepted)
{
    if (fling_idmap_lookup (self->ids, &record->id) ||
        fling_dedup_contains (self->dedup, &record->id, self->now_ms))
        return FLING_REASON_DUPLICATE;
    if (self->shutting_down || self->store_failed)
        return FLING_REASON_UNAVAILABLE;
    if (record->raw_size > self->config.max_bytes)
        return FLING_REASON_TOO_LARGE;
    if (fling_idmap_size (self->ids) >= self->config.max_tasks ||
        self->bytes + record->raw_size > self->config.max_bytes)
        return FLING_REASON_QUEUE_FULL;
    if (self->config.refuse_unknown_names &&
        !fling_ops_name_known (self, record->name, record->name_size))
        return FLING_REASON_BAD_TASK;
    fling_queue_t *queue = queue_of (self, record, last_queue);
    if (!queue)
        return errno == ENOSPC ? FLING_REASON_QUEUE_FULL : FLING_REASON_UNAVAILABLE;
    /* With CURVE each producer key holds at most its share (SECURITY.md). */
    if (self->auth &&
        fling_limits_producer_room (self->limits, fling_task_id_producer (&record->id), queue,
                                    record->raw_size)) {
        self->counters.producer_full++;
        return FLING_REASON_QUEUE_FULL;
    }
    if (fling_queue_held (queue) >= self->config.max_queue_tasks)
        return FLING_REASON_QUEUE_FULL;
    fling_reason_t status = fling_tasks_hold (self, record, queue, 0, accepted);
    if (status != FLING_REASON_OK)
        return status;
    /* After the hold, so a refusal is undone like any unacknowledged task. */
    if (record->ext.key && (status = fling_unique_take (self, record, queue)) != FLING_REASON_OK) {
        drop_unacked (self, *accepted);
        *accepted = NULL;
        return status;
    }
    fling_store_task_t state = {.record = (*accepted)->raw, .record_size = (*accepted)->size};
    uint8_t *with_due =
        due_ms ? fling_tasks_record_with_due (*accepted, due_ms, &state.record_size) : NULL;
    if (with_due)
        state.record = with_due;
    int failed = due_ms && !with_due
                     ? (errno = ENOMEM, -1)
                     : fling_store_put (self->store, &record->id, &state, &(*accepted)->segment);
    free (with_due);
    if (failed) {
        int err = errno;
        if (err != ENOSPC && err != EMSGSIZE) /* a full store logs its own state changes */
            FLING_LOG_LIMITED (FLING_LOG_ERROR, "store append failed: %s", fling_strerror (err));
        drop_unacked (self, *accepted);
        *accepted = NULL;
        if (err == EMSGSIZE) /* larger than one store segment (--segment-bytes) */
            return FLING_REASON_TOO_LARGE;
        return err == ENOSPC ? FLING_REASON_STORE_FULL : FLING_REASON_UNAVAILABLE;
    }
    self->store_dirty = true;
    fling_queue_counters (queue)->accepted++; /* undone by fail_turn */
    /* Now, not at the ACK: the turn's dispatch may lease it before that. */
    FLING_EVENT_TASK (self, FLING_EVENT_ACCEPTED, *accepted, NULL);
    return FLING_REASON_OK;
}

fling_reason_t fling_producers_accept (fling_broker_t *self, const fling_record_t *record)
{
    fling_queue_t *last_queue = NULL;
    fling_btask_t *task = NULL;
    return accept_any (self, record, &last_queue, &task);
}

/* ---- requests ----------------------------------------------------------- */

static struct pending_ack *pending_new (fling_broker_t *self, const fling_peer_t *peer,
                                        const fling_msg_t *msg)
{
    if (self->ack_count == FLING_BROKER_DRAIN_MAX)
        return NULL; /* cannot happen: one SUBMIT per message read this turn */
    size_t count = msg->count;
    struct pending_ack *ack =
        (struct pending_ack *)calloc (1, sizeof *ack + count * (sizeof (fling_btask_t *) + 1));
    if (!ack)
        return NULL;
    ack->peer = *peer;
    ack->batch_seq = msg->batch_seq;
    ack->count = msg->count;
    ack->version = msg->version;
    ack->statuses = (uint8_t *)&ack->tasks[count];
    self->acks[self->ack_count++] = ack;
    return ack;
}

/* A SUBMIT with records whose content is bad: each record is judged on its
   own, the bad ones get BAD_TASK or TOO_LARGE, the others are taken. Rare:
   the producer library validates every task before it sends. */
static void accept_each (fling_broker_t *self, const fling_msg_t *msg, struct pending_ack *ack)
{
    const uint8_t *cursor = msg->body, *end = msg->body + msg->body_size;
    fling_queue_t *last_queue = NULL;
    fling_record_t record;
    fling_reason_t status;
    for (size_t i = 0; i < ack->count; i++) {
        if (fling_submit_record_next_v (&cursor, end, &record, &status, msg->version) != 1)
            status = FLING_REASON_MALFORMED; /* decode checked the framing: cannot happen */
        ack->statuses[i] = (uint8_t)(status == FLING_REASON_OK
                                         ? accept_any (self, &record, &last_queue, &ack->tasks[i])
                                         : status);
    }
}

static void handle_submit (fling_broker_t *self, const fling_peer_t *peer, const fling_msg_t *msg)
{
    struct pending_ack *ack = pending_new (self, peer, msg);
    if (!ack) {
        fling_wire_refuse (self, self->producer_sock, peer, msg, FLING_REASON_UNAVAILABLE,
                           "out of memory");
        return;
    }
    if (msg->bad_records) {
        accept_each (self, msg, ack);
        return;
    }
    size_t count = msg->count;
    /* fling_msg_decode checked every record already: read them unchecked.
       `ahead` runs FLING_TASKS_PREFETCH_AHEAD records in front. */
    const uint8_t *cursor = msg->body, *ahead = msg->body;
    fling_record_t record, next;
    size_t read_ahead = 0;
    for (; read_ahead < count && read_ahead < FLING_TASKS_PREFETCH_AHEAD; read_ahead++) {
        fling_record_read (&ahead, &next);
        fling_tasks_prefetch_id (self, &next.id);
    }
    fling_queue_t *last_queue = NULL;
    for (size_t i = 0; i < count; i++) {
        if (read_ahead < count) {
            fling_record_read (&ahead, &next);
            fling_tasks_prefetch_id (self, &next.id);
            read_ahead++;
        }
        fling_record_read (&cursor, &record);
        /* With CURVE a key submits only ids that start with its own tag,
           so no key can occupy (or dedup away) another key's ids. */
        if (peer->principal && fling_task_id_producer (&record.id) != peer->principal->tag)
            ack->statuses[i] = FLING_REASON_FORBIDDEN;
        else
            ack->statuses[i] = (uint8_t)accept_any (self, &record, &last_queue, &ack->tasks[i]);
    }
}

void fling_producers_refuse_batch (fling_broker_t *self, const fling_peer_t *peer,
                                   const fling_msg_t *msg, fling_reason_t status)
{
    fling_wire_count_refusal (self, self->producer_sock, peer, msg, status, msg->problem);
    struct pending_ack *ack = pending_new (self, peer, msg);
    if (!ack) {
        fling_wire_refuse (self, self->producer_sock, peer, msg, status, msg->problem);
        return;
    }
    /* Answered with the turn's other ACKs, in the order the SUBMITs came. */
    memset (ack->statuses, status, ack->count);
}

static void handle_admin (fling_broker_t *self, const fling_peer_t *peer, const fling_msg_t *msg)
{
    if (fling_access_deaf (self, peer))
        return;
    char *json = fling_admin_handle (self, msg->text, msg->text_size);
    if (!json) {
        fling_wire_refuse (self, self->producer_sock, peer, msg, FLING_REASON_UNAVAILABLE,
                           "out of memory");
        return;
    }
    zmsg_t *reply = fling_msg_admin_reply (json);
    free (json);
    fling_msg_set_version (reply, msg->version);
    fling_wire_send (self, self->producer_sock, peer, &reply);
}

void fling_producers_handle (fling_broker_t *self, const fling_peer_t *peer, const fling_msg_t *msg)
{
    zmsg_t *reply;
    switch (msg->cmd) {
    case FLING_CMD_SUBMIT:
        handle_submit (self, peer, msg);
        return;
    case FLING_CMD_PING:
        reply = fling_msg_pong ();
        fling_msg_set_version (reply, msg->version);
        fling_wire_send (self, self->producer_sock, peer, &reply);
        return;
    case FLING_CMD_ADMIN:
        handle_admin (self, peer, msg);
        return;
    case FLING_CMD_PONG:
    case FLING_CMD_ERROR:
        return; /* never answered: no ping-pong of errors between two peers */
    default:
        fling_wire_refuse (self, self->producer_sock, peer, msg, FLING_REASON_BAD_STATE,
                           "not a command of the producer endpoint");
    }
}

/* ---- end of turn -------------------------------------------------------- */

/* A failed commit: nothing of this turn may be acknowledged as stored. */
static void fail_turn (fling_broker_t *self)
{
    for (size_t a = 0; a < self->ack_count; a++) {
        struct pending_ack *ack = self->acks[a];
        for (uint32_t i = 0; i < ack->count; i++) {
            if (ack->tasks[i]) {
                fling_queue_counters (ack->tasks[i]->queue)->accepted--;
                FLING_EVENT_TASK (self, FLING_EVENT_REJECTED, ack->tasks[i], NULL);
                drop_unacked (self, ack->tasks[i]);
            }
            ack->tasks[i] = NULL;
            if (ack->statuses[i] == FLING_REASON_OK || ack->statuses[i] == FLING_REASON_DUPLICATE)
                ack->statuses[i] = FLING_REASON_UNAVAILABLE;
        }
    }
}

void fling_producers_commit_and_ack (fling_broker_t *self)
{
    if (self->store_dirty) {
        self->store_dirty = false;
        bool timed = self->commit_time.bound_count > 0; /* a disk store (fling_ops.c) */
        int64_t started_us = timed ? fling_clock_us () : 0;
        int rc = fling_store_commit (self->store);
        if (timed)
            fling_histogram_observe (&self->commit_time,
                                     (uint64_t)(fling_clock_us () - started_us));
        if (rc) {
            fling_error ("store commit failed: %s; refusing this turn's %zu batches and every"
                         " later SUBMIT (UNAVAILABLE); held tasks are still served from memory;"
                         " the broker is read-only until restarted",
                         fling_strerror (errno), self->ack_count);
            self->store_failed = true;
            fling_deliver_cancel (self); /* their tasks may be this turn's */
            fail_turn (self);
        }
    }
    for (size_t a = 0; a < self->ack_count; a++) {
        struct pending_ack *ack = self->acks[a];
        for (uint32_t i = 0; i < ack->count; i++) {
            uint8_t status = ack->statuses[i];
            if (status == FLING_REASON_OK)
                self->counters.accepted++;
            else if (status == FLING_REASON_DUPLICATE)
                self->counters.duplicates++;
            else {
                self->counters.rejected++;
                self->rejected[status < FLING_REASON_MAX ? status : FLING_REASON_MALFORMED]++;
                if (status == FLING_REASON_STORE_FULL)
                    self->counters.store_full++;
                else if (status == FLING_REASON_UNAVAILABLE)
                    self->counters.unavailable++;
                else if (status == FLING_REASON_FORBIDDEN)
                    self->counters.forbidden_ids++;
            }
        }
        zmsg_t *reply = fling_msg_ack (ack->batch_seq, ack->count, ack->statuses);
        fling_msg_set_version (reply, ack->version);
        fling_wire_send (self, self->producer_sock, &ack->peer, &reply);
        free (ack);
        self->acks[a] = NULL;
    }
    self->ack_count = 0;
}

void fling_producers_discard_acks (fling_broker_t *self)
{
    for (size_t a = 0; a < self->ack_count; a++)
        free (self->acks[a]);
    self->ack_count = 0;
}
