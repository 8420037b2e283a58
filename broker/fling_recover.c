/*  fling_recover.c - see fling_recover.h. */
#include "fling_recover.h"
#include "fling_error.h"
#include "fling_log.h"
#include "fling_names.h"
#include "fling_pause.h"
#include "fling_schedules.h"
#include "fling_tasks.h"
#include "fling_unique.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* Puts a recovered task where its state says: dead list, parked (it was in
   flight: its worker may claim it back with HOLDING), waiting for its retry
   or its record's due time (DELAYED but on no list until the log is read:
   see hold_recovered_until_due), or its queue. */
static void recover_place (fling_broker_t *self, fling_btask_t *task,
                           const fling_store_task_t *state, int64_t record_due)
{
    int64_t due = state->due_ms;
    if (!due && !state->leased)
        due = record_due;
    int64_t left = due ? fling_tasks_wait_ms (self, due) : 0;
    if (fling_btask_state (task) == FLING_TASK_DEAD)
        fling_tasklist_push_tail (fling_queue_dead (task->queue), task);
    else if (left > 0) {
        fling_btask_set_state (task, FLING_TASK_DELAYED);
        task->due = fling_due_in (self->now_ms,
                                  left > FLING_DELAY_MAX_MS ? FLING_DELAY_MAX_MS : (uint32_t)left);
    } else if (state->leased && task->attempt > 0) {
        fling_btask_set_state (task, FLING_TASK_PARKED);
        fling_tasklist_push_tail (&self->parked, task);
        fling_queue_counters (task->queue)->delayed++;
    } else
        fling_tasks_requeue (self, task, false);
}

/* Tasks whose due time is still ahead wait for it again (proto/SPEC.md
   §6.8): once the whole log is read, since a later record of a task (a
   state change, a compacted copy) replaces its state while it is read.
   recover_place left them DELAYED on no list (unlisting one is a no-op);
   now they go on the heap. The walk is in slot order, so each task is a
   cache miss: the ones ahead are prefetched (a million delayed tasks took
   ~0.3 s more without). */
#define PREFETCH_SLOTS 16

static size_t hold_recovered_until_due (fling_broker_t *self)
{
    size_t held = 0, slots = fling_idmap_slots (self->ids);
    for (size_t i = 0; i < slots; i++) {
        if (i + PREFETCH_SLOTS < slots) {
            const void *ahead = fling_idmap_slot_value (self->ids, i + PREFETCH_SLOTS);
            if (ahead)
                __builtin_prefetch (ahead);
        }
        fling_btask_t *task = (fling_btask_t *)fling_idmap_slot_value (self->ids, i);
        if (!task)
            continue;
        if (fling_btask_state (task) == FLING_TASK_QUEUED)
            fling_tasks_hold_until_due (self, task);
        else if (fling_btask_state (task) == FLING_TASK_DELAYED) {
            int32_t left = (int32_t)(task->due - (uint32_t)self->now_ms);
            fling_tasks_delay (self, task, left > 0 ? (uint32_t)left : 0);
        } else
            continue;
        held += fling_btask_state (task) == FLING_TASK_DELAYED;
    }
    return held;
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
    const uint8_t *cursor = event->task.record;
    fling_record_t record;
    fling_reason_t reason;
    if (fling_record_next (&cursor, cursor + event->task.record_size, &record, &reason) != 1)
        return 0; /* the store checked it; cannot happen */
    fling_btask_t *task = (fling_btask_t *)fling_idmap_lookup (self->ids, &event->id);
    if (task) { /* a newer copy (compaction): it replaces the older one */
        fling_tasks_unlist (self, task);
        fling_store_unpin (self->store, task->segment);
    } else {
        uint8_t lean_buf[1024];
        fling_record_t lean;
        fling_tasks_lean_record (self, &record, lean_buf, sizeof lean_buf, &lean);
        fling_queue_t *queue =
            fling_names_queue (self, record.name, record.name_size, FLING_QUEUE_RECOVERED);
        if (!queue)
            return -1;
        task = fling_btask_new (&lean, queue, 0, fling_queue_settings (queue)->timeout_ms);
        if (!task || fling_idmap_insert (self->ids, &event->id, task)) {
            fling_btask_destroy (&task);
            return -1;
        }
        self->bytes += task->size;
        if (self->auth && fling_limits_producer_add (
                              self->limits, fling_task_id_producer (&event->id), queue, task->size))
            return -1;
        fling_unique_recover_task (self, task);
    }
    task->segment = event->segment;
    recover_apply_state (task, &event->task);
    recover_place (self, task, &event->task, (int64_t)record.ext.due_at_ms);
    return 0;
}

/* Records of the broker's own (proto/SPEC.md §6.8): pauses, keys,
   schedules. */
static int recover_note (fling_broker_t *self, const fling_store_event_t *event)
{
    if (event->note_type == FLING_STORE_NOTE_PAUSE)
        return fling_pause_recover (self, event);
    if (event->note_type == FLING_STORE_NOTE_KEY)
        return fling_unique_recover_note (self, event);
    if (event->note_type == FLING_STORE_NOTE_SCHEDULE ||
        event->note_type == FLING_STORE_NOTE_SCHEDULE_REMOVED)
        return fling_schedules_recovered (self, event);
    fling_store_release (self->store, event->segment);
    return 0;
}

static int recover_event (const fling_store_event_t *event, void *arg)
{
    fling_broker_t *self = (fling_broker_t *)arg;
    self->store_had_records = true; /* before the first name is made again */
    if (event->kind == FLING_STORE_EV_TASK)
        return recover_task (self, event);
    if (event->kind == FLING_STORE_EV_NOTE)
        return recover_note (self, event);
    fling_btask_t *task = (fling_btask_t *)fling_idmap_lookup (self->ids, &event->id);
    if (event->kind == FLING_STORE_EV_STATE) {
        if (task) {
            fling_tasks_unlist (self, task);
            recover_apply_state (task, &event->task);
            recover_place (self, task, &event->task, fling_tasks_record_due_ms (task));
        }
        return 0;
    }
    if (task) { /* DONE */
        fling_tasks_unlist (self, task);
        fling_store_unpin (self->store, task->segment);
        fling_tasks_forget (self, task);
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

int fling_recover_open_store (fling_broker_t *self)
{
    fling_store_options_t options;
    store_options (&self->config, &options);
    int64_t started_us = fling_clock_us ();
    /* Both clocks read together: due times kept as UTC instants become
       monotonic ones (`due`) without the replay's time in between. */
    self->now_ms = fling_clock_ms ();
    self->wall_ms = fling_store_wall_ms ();
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
    fling_tasks_bulk_begin (self);
    size_t due_later = hold_recovered_until_due (self);
    fling_tasks_bulk_end (self);
    if (due_later)
        fling_info ("recovered %zu tasks due later (due times and retry waits): held until then",
                    due_later);
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
