/*  fling_tasks.c - see fling_tasks.h. */
#include "fling_tasks.h"
#include "fling_error.h"
#include "fling_log.h"
#include "fling_logfmt.h"
#include "fling_pause.h"
#include "fling_ratelog.h"
#include "fling_unique.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

unsigned fling_tasks_max_attempts (const fling_btask_t *task)
{
    unsigned own = fling_btask_max_attempts (task);
    return own ? own : fling_queue_settings (task->queue)->max_attempts;
}

unsigned fling_tasks_poison_limit (const fling_btask_t *task)
{
    return fling_queue_settings (task->queue)->poison_limit;
}

void fling_tasks_forget (fling_broker_t *self, fling_btask_t *task)
{
    fling_task_id_t id;
    fling_btask_id (task, &id);
    fling_unique_drop (self, task); /* a key it still holds as a live task */
    fling_idmap_remove (self->ids, &id);
    self->bytes -= task->size;
    if (self->auth)
        fling_limits_producer_remove (self->limits, fling_task_id_producer (&id), task->queue,
                                      task->size);
    if (fling_queue_held (task->queue) <= 1)
        self->names_sweep = true; /* this was its last task (it is still counted here) */
    fling_btask_destroy (&task);
}

void fling_tasks_prefetch_id (const fling_broker_t *self, const fling_task_id_t *id)
{
    fling_idmap_prefetch (self->ids, id);
    fling_dedup_prefetch (self->dedup, id);
}

void fling_tasks_finish (fling_broker_t *self, fling_btask_t *task)
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
    fling_unique_end (self, task); /* its key stays for its TTL: after the DONE record */
    fling_tasks_forget (self, task);
}

/* When a DELAYED task is due, as the store keeps it: a UTC instant. `due`
   is monotonic and wraps (fling_due_in), so what is left of the wait is
   added to the turn's wall clock; that clock is read at or after `now_ms`,
   so the instant errs late, never early. */
int64_t fling_tasks_due_wall_ms (fling_broker_t *self, const fling_btask_t *task)
{
    int32_t left = (int32_t)(task->due - (uint32_t)self->now_ms);
    int64_t due = fling_state_wall_ms (self) + left;
    return due ? due : 1; /* 0 says "not waiting" */
}

static inline void store_task_of (fling_broker_t *self, const fling_btask_t *task,
                                  fling_store_task_t *out)
{
    fling_task_state_t where = fling_btask_state (task);
    *out = (fling_store_task_t){.record = task->raw,
                                .record_size = task->size,
                                .attempt = task->attempt,
                                .crashes = task->crashes,
                                .leased = where == FLING_TASK_LEASED};
    if (where == FLING_TASK_DELAYED)
        out->due_ms = fling_tasks_due_wall_ms (self, task);
    if (where == FLING_TASK_DEAD) {
        out->reason = task->dead->reason;
        out->error = task->dead->error;
        out->error_size = task->dead->error_size;
    }
}

void fling_tasks_store_state (fling_broker_t *self, const fling_btask_t *task)
{
    if (self->store_failed)
        return;
    fling_task_id_t id;
    fling_store_task_t state;
    fling_btask_id (task, &id);
    store_task_of (self, task, &state);
    if (fling_store_state (self->store, &id, &state)) {
        if (errno == ENOSPC) /* a full store: the task may rerun after a restart, not be lost */
            fling_debug ("store full: state record of a task not written");
        else
            fling_error ("store state failed: %s", fling_strerror (errno));
    }
    self->store_dirty = true;
}

fling_reason_t fling_tasks_hold (fling_broker_t *self, const fling_record_t *record,
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
    fling_tasks_requeue (self, task, false);
    self->bytes += task->size;
    *held = task;
    return FLING_REASON_OK;
}

/* ---- placing tasks: queued, delayed, dead -------------------------------- */

void fling_tasks_release (fling_broker_t *self, fling_btask_t *task)
{
    task->attempt--;
    fling_tasks_store_state (self, task);
    fling_tasks_requeue (self, task, true);
    self->counters.requeued++;
}

void fling_tasks_requeue (fling_broker_t *self, fling_btask_t *task, bool head)
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

/* The delay heap is a pairing heap threaded through the tasks' own links
   (unused while DELAYED): link.prev is a task's first child, link.next its
   next sibling. No array beside the tasks: at a million delayed tasks a
   pointer array cost 8 bytes a task (issue #20's memory figure). */
static fling_btask_t *heap_child (const fling_btask_t *task)
{
    return FLING_DLIST_ITEM (task->link.prev, fling_btask_t, link);
}

static fling_btask_t *heap_sibling (const fling_btask_t *task)
{
    return FLING_DLIST_ITEM (task->link.next, fling_btask_t, link);
}

static void heap_set (fling_btask_t *task, fling_btask_t *child, fling_btask_t *sibling)
{
    task->link.prev = child ? &child->link : NULL;
    task->link.next = sibling ? &sibling->link : NULL;
}

/* Two roots (siblings ignored) into one; `a` stays on top on a tie. The
   result has no sibling. */
static fling_btask_t *heap_meld (fling_btask_t *a, fling_btask_t *b)
{
    if (!a || !b) {
        fling_btask_t *one = a ? a : b;
        if (one)
            one->link.next = NULL;
        return one;
    }
    if (heap_less (b, a)) {
        fling_btask_t *t = a;
        a = b;
        b = t;
    }
    heap_set (b, heap_child (b), heap_child (a));
    heap_set (a, b, NULL);
    return a;
}

/* The children of a removed root into one heap: the two-pass pairing
   (pairs left to right, then melded right to left), without recursion. */
static fling_btask_t *heap_pairs (fling_btask_t *first)
{
    fling_btask_t *pairs = NULL; /* melded pairs, last first, through link.next */
    while (first) {
        fling_btask_t *a = first, *b = heap_sibling (a);
        first = b ? heap_sibling (b) : NULL;
        fling_btask_t *m = heap_meld (a, b);
        m->link.next = pairs ? &pairs->link : NULL;
        pairs = m;
    }
    fling_btask_t *root = NULL;
    while (pairs) {
        fling_btask_t *next = heap_sibling (pairs);
        root = heap_meld (pairs, root);
        pairs = next;
    }
    return root;
}

static void heap_push (fling_delayheap_t *heap, fling_btask_t *task)
{
    heap_set (task, NULL, NULL);
    heap->count++;
    if (!heap->bulk) {
        heap->root = heap_meld (heap->root, task);
        return;
    }
    /* Each meld joins two roots touched moments ago (the new task and a
       recent tree): no cache miss, where pairing a million children of
       one root later costs one each. */
    size_t rank = 0;
    for (; heap->ranks[rank] && rank + 1 < sizeof heap->ranks / sizeof heap->ranks[0]; rank++) {
        task = heap_meld (heap->ranks[rank], task);
        heap->ranks[rank] = NULL;
    }
    heap->ranks[rank] = heap_meld (heap->ranks[rank], task);
}

void fling_tasks_bulk_begin (fling_broker_t *self)
{
    self->delayed.bulk = true;
}

void fling_tasks_bulk_end (fling_broker_t *self)
{
    fling_delayheap_t *heap = &self->delayed;
    for (size_t rank = 0; rank < sizeof heap->ranks / sizeof heap->ranks[0]; rank++) {
        heap->root = heap_meld (heap->root, heap->ranks[rank]);
        heap->ranks[rank] = NULL;
    }
    heap->bulk = false;
}

static fling_btask_t *heap_pop (fling_delayheap_t *heap)
{
    fling_btask_t *top = heap->root;
    if (!top)
        return NULL;
    heap->root = heap_pairs (heap_child (top));
    heap->count--;
    heap_set (top, NULL, NULL);
    return top;
}

/* Takes every task off the heap, in no order, through `work` (linked by
   link.next): O(n), no memory. Returns the next one or NULL. */
static fling_btask_t *heap_take_any (fling_btask_t **work)
{
    fling_btask_t *task = *work;
    if (!task)
        return NULL;
    *work = heap_sibling (task);
    fling_btask_t *child = heap_child (task);
    if (child) { /* its children go in front of the rest */
        fling_btask_t *last = child;
        while (heap_sibling (last))
            last = heap_sibling (last);
        last->link.next = *work ? &(*work)->link : NULL;
        *work = child;
    }
    heap_set (task, NULL, NULL);
    return task;
}

/* A task on the heap that has run waits for its retry, one that has not
   for its due time: `attempt` does not change while it waits. */
static void retry_count (const fling_btask_t *task, int step)
{
    if (task->attempt > 0)
        fling_queue_counters (task->queue)->retrying += (uint64_t)(int64_t)step;
}

void fling_tasks_delay (fling_broker_t *self, fling_btask_t *task, uint32_t delay_ms)
{
    if (delay_ms > FLING_DELAY_MAX_MS)
        delay_ms = FLING_DELAY_MAX_MS;
    task->due = fling_due_in (self->now_ms, delay_ms);
    if (delay_ms == 0) {
        fling_tasks_requeue (self, task, false);
        return;
    }
    heap_push (&self->delayed, task);
    fling_btask_set_state (task, FLING_TASK_DELAYED);
    fling_queue_counters (task->queue)->delayed++;
    retry_count (task, +1);
}

int64_t fling_tasks_record_due_ms (const fling_btask_t *task)
{
    if (fling_record_wire_size (task->raw) == task->size)
        return 0; /* no extension: the common case costs two field reads */
    fling_record_t record;
    fling_btask_record (task, &record);
    return (int64_t)record.ext.due_at_ms;
}

uint8_t *fling_tasks_record_with_due (const fling_btask_t *task, int64_t due_ms, size_t *size)
{
    fling_record_t r;
    fling_btask_record (task, &r);
    r.ext.due_at_ms = (uint64_t)due_ms;
    uint8_t *out = (uint8_t *)malloc (fling_record_size_ext (r.name_size, r.payload_size, &r.ext));
    if (!out)
        return NULL;
    *size =
        fling_record_write_ext (out, &r.id, r.attempt, r.max_attempts, r.timeout_ms, r.backoff_ms,
                                r.name, r.name_size, r.payload, r.payload_size, &r.ext);
    return out;
}

int64_t fling_tasks_lean_record (fling_broker_t *self, const fling_record_t *record, uint8_t *dest,
                                 size_t size, fling_record_t *lean)
{
    *lean = *record;
    int64_t due = (int64_t)record->ext.due_at_ms;
    int64_t until = due ? due - fling_state_wall_ms (self) : 0;
    /* The wait fling_tasks_wait_ms gives may exceed `until` by the gap
       between the clocks and the rounding: the margin keeps it within
       FLING_DELAY_MAX_MS, which the heap's `due` holds. */
    if (until <= 0 || until > (int64_t)FLING_DELAY_MAX_MS - 1000 || record->raw_size > size)
        return 0;
    fling_task_ext_t ext = record->ext;
    ext.due_at_ms = 0;
    fling_record_write_ext (dest, &record->id, record->attempt, record->max_attempts,
                            record->timeout_ms, record->backoff_ms, record->name, record->name_size,
                            record->payload, record->payload_size, &ext);
    const uint8_t *cursor = dest;
    fling_record_read (&cursor, lean);
    return due;
}

int64_t fling_tasks_wait_ms (fling_broker_t *self, int64_t due_wall_ms)
{
    /* Both clocks read now, together: the turn's wall clock is read when
       first needed, maybe well after now_ms, and would shorten the wait by
       the gap. Each clock counts whole ms, so the wait gets one more: a
       task due at 5.0 ms is never released at 4.6 (2,517 of 20,000 were,
       by up to 0.43 ms, in bench/delayed before this). */
    int64_t wall = fling_store_wall_ms ();
    if (due_wall_ms <= wall)
        return 0;
    return due_wall_ms - wall + (fling_clock_ms () - self->now_ms) + 1;
}

/* Milliseconds until the task's due time, 0 when it has none or it passed. */
static int64_t until_due_ms (fling_broker_t *self, const fling_btask_t *task)
{
    int64_t due = fling_tasks_record_due_ms (task);
    return due ? fling_tasks_wait_ms (self, due) : 0;
}

void fling_tasks_hold_until_due (fling_broker_t *self, fling_btask_t *task)
{
    int64_t until = until_due_ms (self, task);
    if (!until || fling_btask_state (task) != FLING_TASK_QUEUED)
        return;
    fling_queue_remove (task->queue, task);
    /* Past the heap's reach (2^30 ms) it comes back and is held again. */
    fling_tasks_delay (self, task,
                       until > FLING_DELAY_MAX_MS ? FLING_DELAY_MAX_MS : (uint32_t)until);
}

size_t fling_tasks_purge_waiting (fling_broker_t *self, fling_queue_t *queue)
{
    size_t purged = 0;
    fling_btask_t *task;
    while ((task = fling_queue_pop (queue))) {
        fling_tasks_finish (self, task);
        purged++;
    }
    /* The retry heap: keep the others, meld them again (rare, admin only). */
    fling_btask_t *work = self->delayed.root;
    self->delayed = (fling_delayheap_t){0};
    while ((task = heap_take_any (&work))) {
        if (task->queue != queue) {
            heap_push (&self->delayed, task);
            continue;
        }
        fling_queue_counters (queue)->delayed--;
        retry_count (task, -1);
        fling_tasks_finish (self, task);
        purged++;
    }
    fling_btask_t *next;
    for (task = fling_tasklist_head (&self->parked); task; task = next) {
        next = fling_tasklist_next (task);
        if (task->queue != queue)
            continue;
        fling_tasks_unlist (self, task);
        fling_tasks_finish (self, task);
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
            fling_tasks_unlist (self, task);
            fling_tasks_finish (self, task);
            purged++;
            if (last)
                break; /* the group is gone */
        }
    }
    return purged;
}

/* Due retries go to the tail of their queues. */
void fling_tasks_promote_due (fling_broker_t *self)
{
    while (self->delayed.root && fling_due_passed (self->delayed.root->due, self->now_ms)) {
        fling_btask_t *task = heap_pop (&self->delayed);
        fling_queue_counters (task->queue)->delayed--;
        retry_count (task, -1);
        fling_tasks_requeue (self, task, false);
        fling_tasks_hold_until_due (self, task); /* a due time beyond the heap's reach */
    }
}

/* Recovered in-flight tasks not claimed by HOLDING in time: queued at the
   head, in their order. */
void fling_tasks_release_parked (fling_broker_t *self)
{
    if (!self->parked.count || self->now_ms < self->parked_until_ms)
        return;
    fling_info ("queueing %zu recovered in-flight tasks no worker claimed", self->parked.count);
    fling_btask_t *task;
    while ((task = fling_tasklist_tail (&self->parked))) {
        fling_tasklist_remove (&self->parked, task);
        fling_queue_counters (task->queue)->delayed--;
        fling_tasks_requeue (self, task, true);
    }
}

void fling_tasks_unlist (fling_broker_t *self, fling_btask_t *task)
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

void fling_tasks_kill (fling_broker_t *self, fling_btask_t *task, uint8_t reason, const char *error,
                       size_t error_size)
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
        fling_tasks_finish (self, task);
        return;
    }
    fling_tasklist_push_tail (fling_queue_dead (task->queue), task);
    fling_tasks_store_state (self, task);
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

void fling_tasks_run_failed (fling_broker_t *self, fling_btask_t *task, uint8_t reason,
                             uint32_t delay_ms, const char *error, size_t error_size)
{
    if (task->attempt >= fling_tasks_max_attempts (task)) {
        fling_tasks_kill (self, task, reason, error, error_size);
        return;
    }
    fling_queue_counters (task->queue)->retried++;
    self->counters.retried++;
    FLING_EVENT_TASK (self, FLING_EVENT_FAILED, task, NULL);
    fling_tasks_delay (self, task, delay_ms ? delay_ms : backoff_ms (self, task));
    fling_tasks_store_state (self, task); /* not leased any more; its due time if delayed */
}

/* Walks every task: rare (once per segment at most) and bounded by the
   tasks held. */
void fling_tasks_compact (fling_broker_t *self)
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
        store_task_of (self, task, &state);
        /* A new task held without its due-at (fling_producers.c): its
           compacted copy gets it back from `due`. */
        uint8_t *with_due = NULL;
        if (fling_btask_state (task) == FLING_TASK_DELAYED && task->attempt == 0 &&
            !fling_tasks_record_due_ms (task)) {
            with_due = fling_tasks_record_with_due (task, state.due_ms, &state.record_size);
            if (!with_due)
                break; /* no memory: try again later */
            state.record = with_due;
        }
        int failed = fling_store_put (self->store, &id, &state, &task->segment);
        free (with_due);
        if (failed)
            break; /* full or failed: try again later */
        /* A TASK record has no due time: the retry's goes after it again,
           as its old state record may leave with the old segment. */
        if (fling_btask_state (task) == FLING_TASK_DELAYED)
            fling_tasks_store_state (self, task);
        moved++;
    }
    fling_pause_compact (self, (uint32_t)candidate); /* these set store_dirty themselves */
    fling_unique_compact (self, (uint32_t)candidate);
    if (moved) {
        self->store_dirty = true;
        fling_debug ("store compaction segment=%" PRId64 " moved=%zu", candidate, moved);
    }
}

long fling_tasks_next_due_ms (const fling_broker_t *self, int64_t now_ms, long none_ms)
{
    if (!self->delayed.root)
        return none_ms;
    int32_t until = (int32_t)(self->delayed.root->due - (uint32_t)now_ms);
    return until < none_ms ? until : none_ms;
}

void fling_tasks_destroy_waiting (fling_broker_t *self)
{
    fling_btask_t *task;
    /* Taken apart, not popped: a pop pairs the root's children, and at a
       million delayed tasks popping them all took about a second. */
    fling_btask_t *work = self->delayed.root;
    self->delayed = (fling_delayheap_t){0};
    while ((task = heap_take_any (&work)))
        fling_btask_destroy (&task);
    while ((task = fling_tasklist_pop_head (&self->parked)))
        fling_btask_destroy (&task);
}
