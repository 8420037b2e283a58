/*  fling_flight.c - the tasks in a worker's hands: intake, slots and the
    backlog, start, finish, and the RESULT batch (fling_flight.h).

    Life of a task: a DISPATCH record becomes a heap task (fling_task.c).
    If its class has a free slot (async_limit for async handlers, the
    pool's threads for blocking ones) it starts at once: an async handler
    gets it on the loop thread, a blocking one goes to the pool
    (fling_pool.c). Otherwise it waits in its class's backlog
    (fling_backlog.c, filled by prefetch) and starts the moment a slot
    frees, in arrival order. Either way its outcome is appended to the
    pending RESULT batch, which leaves once per turn of the event loop: at
    the end of each of our loop callbacks, or from a 0 ms timer when the
    task finished inside someone else's callback (an async handler's timer),
    or from a refill mark placed behind a group of async tasks' timers.
*/
#include "fling_flight.h"
#include "fling_capacity.h"
#include "fling_link.h"
#include "fling_log.h"
#include "fling_logfmt.h"
#include "fling_worker_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WARN_PER_SECOND     10  /* task failure lines; a poison flood is counted */
#define REFILL_MARK_TASKS   256 /* async starts per refill mark */
#define REFILL_SAMPLE_EVERY 64  /* async completions per duration sample */

/* ---- results ----------------------------------------------------------- */

size_t fling_flight_running (fling_worker_t *self)
{
    return self->running_count[FLING_CLASS_POOL] + self->running_count[FLING_CLASS_LOOP];
}

void fling_flight_flush (fling_worker_t *self)
{
    fling_link_send_results (self);
}

static int on_flush_timer (zloop_t *loop, int timer_id, void *arg)
{
    fling_worker_t *self = (fling_worker_t *)arg;
    self->flush_armed = false;
    self->in_callback = true;
    return fling_flight_end_turn (self);
}

static void warn_window (fling_worker_t *self);
static void start_waiting (fling_worker_t *self);
static void sample_async (fling_worker_t *self, const fling_task_t *task);

/* Called at the end of each of our loop callbacks: one RESULT per turn,
   and the end of a drain once nothing runs any more. Returns the value
   for zloop: -1 ends fling_worker_run's loop. */
int fling_flight_end_turn (fling_worker_t *self)
{
    /* Results leave before waiting tasks take the freed slots: if one of
       those crashes the worker, the broker has what finished before it
       and counts the crash against the tasks that were running (SPEC.md
       §6.4), not against a finished one whose RESULT died with us. */
    fling_flight_flush (self);
    start_waiting (self);
    self->in_callback = false;
    fling_flight_flush (self); /* what the new tasks finished at once */
    if (self->warn_suppressed) /* a flood's count, once its window is over */
        warn_window (self);
    /* A drain ends once nothing runs and the broker has every RESULT
       (acknowledged): a RESULT lost at the end would run its task again. */
    if (self->draining && !self->finished && fling_flight_running (self) == 0 &&
        fling_unacked_messages (self->unacked) == 0) {
        fling_link_send (self, fling_msg_bye ());
        self->finished = true;
        self->rc = 0;
    }
    return self->finished ? -1 : 0;
}

/* Starts a new one-second window of task failure lines once the last one
   is over, saying how many the last one left out. */
static void warn_window (fling_worker_t *self)
{
    int64_t now = fling_clock_ms ();
    if (now - self->warn_window_ms < 1000)
        return;
    if (self->warn_suppressed)
        fling_warn ("%" PRIu64 " more failed tasks not logged", self->warn_suppressed);
    self->warn_window_ms = now;
    self->warn_count = 0;
    self->warn_suppressed = 0;
}

static void warn_outcome (fling_worker_t *self, const fling_task_t *task, fling_outcome_t outcome)
{
    warn_window (self);
    if (self->warn_count >= WARN_PER_SECOND) {
        self->warn_suppressed++;
        return;
    }
    self->warn_count++;
    char error[512];
    fling_logfmt_quote (error, sizeof error, task->error ? task->error : "", task->error_size);
    fling_warn ("task %s name=%s id=%s attempt=%u error=%s", fling_outcome_name (outcome),
                task->name, fling_task_id (task), task->attempt, error);
}

static void count (fling_worker_t *self, fling_outcome_t outcome)
{
    if (outcome == FLING_OUTCOME_DONE)
        self->stats.done++;
    else if (outcome == FLING_OUTCOME_RETRY)
        self->stats.retried++;
    else if (outcome == FLING_OUTCOME_RELEASED)
        self->stats.released++;
    else if (outcome == FLING_OUTCOME_TIMEOUT)
        self->stats.timed_out++;
    else
        self->stats.failed++;
}

/* The 0 ms flush timer: its callback ends the turn (RESULT out, freed
   slots refilled). 0, or -1 if zloop could not arm it. */
static int arm_flush_timer (fling_worker_t *self)
{
    if (zloop_timer (self->loop, 0, 1, on_flush_timer, self) == -1)
        return -1;
    self->flush_armed = true;
    return 0;
}

void fling_flight_add_result (fling_worker_t *self, const fling_result_t *result)
{
    if (fling_results_add (self->results, result)) {
        char id[FLING_TASK_ID_TEXT_SIZE];
        fling_error ("out of memory: result of %s lost (the broker reruns it)",
                     fling_task_id_format (&result->id, id));
    }
    count (self, (fling_outcome_t)result->outcome);
    if (fling_results_count (self->results) >= FLING_BATCH_TASKS_MAX)
        fling_flight_flush (self);
    else if (!self->in_callback && !self->flush_armed && !self->tearing_down &&
             arm_flush_timer (self))
        fling_flight_flush (self);
}

/* Appends a task's outcome to the pending RESULT batch. */
static void record_outcome (fling_worker_t *self, fling_task_t *task, fling_outcome_t outcome)
{
    fling_result_t result = {.id = task->id,
                             .attempt = task->attempt,
                             .outcome = (uint8_t)outcome,
                             .retry_delay_ms = 0,
                             .error = task->error,
                             .error_size = task->error_size};
    if (outcome == FLING_OUTCOME_FAIL || outcome == FLING_OUTCOME_RETRY)
        warn_outcome (self, task, outcome);
    fling_flight_add_result (self, &result);
}

/* ---- tasks in flight ------------------------------------------------------ */

static void track (fling_worker_t *self, fling_task_t *task)
{
    fling_dlist_push_head (&self->running, &task->flight_link);
    self->running_count[task->cls]++;
}

static void untrack (fling_worker_t *self, fling_task_t *task)
{
    fling_dlist_remove (&self->running, &task->flight_link);
    self->running_count[task->cls]--;
    if (task->waiting)
        fling_backlog_remove (&self->backlog[task->cls], task);
    else
        self->started_count[task->cls]--; /* a task in our hands waits or has started */
    if (self->deadlines)
        fling_deadlines_remove (self->deadlines, task);
}

void fling_flight_untrack (fling_worker_t *self, fling_task_t *task)
{
    /* Its callers outside this file (fling_overrun.c) log the task's
       id_text next; it is formatted on demand since most tasks never need
       it, so make sure it is there. */
    fling_task_id (task);
    untrack (self, task);
}

void fling_flight_keep_overdue (fling_worker_t *self, fling_task_t *task)
{
    task->timed_out = true;
    fling_dlist_push_head (&self->overdue, &task->flight_link);
}

static fling_outcome_t outcome (fling_task_t *task, fling_status_t status)
{
    switch (status) {
    case FLING_OK:
        return FLING_OUTCOME_DONE;
    case FLING_RETRY:
        return FLING_OUTCOME_RETRY;
    case FLING_FAIL:
        return FLING_OUTCOME_FAIL;
    default:
        fling_task_set_error (task, "handler returned an invalid status %d", (int)status);
        return FLING_OUTCOME_FAIL;
    }
}

/* A task leaves the worker: result recorded, memory freed. */
void fling_flight_finish (fling_worker_t *self, fling_task_t *task, fling_outcome_t outcome)
{
    untrack (self, task);
    record_outcome (self, task, outcome);
    fling_task_destroy (&task);
    /* Its slot, if it had one, is refilled from the backlog at the end of
       this loop callback (fling_flight_end_turn), after the RESULT. */
}

void fling_task_complete (fling_task_t *task, fling_status_t status)
{
    if (!task)
        return;
    if (task->cls != FLING_CLASS_LOOP) {
        fling_error ("fling_task_complete on a blocking task ignored (return the status instead) "
                     "id=%s name=%s",
                     fling_task_id (task), task->name);
        return;
    }
    if (task->timed_out) {
        /* TIMEOUT went out already; the broker may run it elsewhere. */
        fling_dlist_remove (&task->worker->overdue, &task->flight_link);
        fling_debug ("late completion of a timed-out task ignored id=%s name=%s",
                     fling_task_id (task), task->name);
        fling_task_destroy (&task);
        return;
    }
    sample_async (task->worker, task);
    fling_flight_finish (task->worker, task, outcome (task, status));
}

/* On a pool thread. */
void fling_flight_run_blocking (void *job, void *arg)
{
    fling_task_t *task = (fling_task_t *)job;
    int64_t started_us = fling_clock_us ();
    task->status = task->handler->blocking (task, task->handler->arg);
    task->run_us = (uint64_t)(fling_clock_us () - started_us);
}

/* Called from the pool's reader of a thread's pipe, a loop callback like
   ours: the turn's work (RESULT out, the freed thread given the next
   task) is done here, not a turn later from the flush timer. Every turn
   polls each pool thread's pipe, and 50 threads finishing together made
   50 such extra turns. */
void fling_flight_on_pool_done (void *job, void *arg)
{
    fling_worker_t *self = (fling_worker_t *)arg;
    fling_task_t *task = (fling_task_t *)job;
    if (self->tearing_down) {
        fling_task_destroy (&task); /* untracked already; nobody to tell */
        return;
    }
    bool nested = self->in_callback;
    self->in_callback = true;
    fling_histogram_observe (&self->run_time[FLING_CLASS_POOL], task->run_us);
    fling_flight_finish (self, task, outcome (task, task->status));
    if (nested)
        return;
    /* The drain ended: only a callback's -1 stops zloop, and the pool's
       reader returns 0, so the flush timer (which returns it) goes next. */
    if (fling_flight_end_turn (self) == -1 && !self->flush_armed)
        arm_flush_timer (self);
}

/* Also on an abandoned pool thread, after the worker may be gone: the
   block goes back to malloc, not to the worker's pool. */
void fling_flight_discard (void *job)
{
    fling_task_t *task = (fling_task_t *)job;
    fling_task_free (&task);
}

/* ---- slots and the backlog -------------------------------------------------- */

/* The one deadline timer, armed for the earliest deadline; what a
   deadline does is fling_overrun.c's (self->on_deadline). */
void fling_flight_arm_deadline (fling_worker_t *self)
{
    fling_task_t *first = self->deadlines ? fling_deadlines_first (self->deadlines) : NULL;
    if (!first || self->tearing_down || !self->on_deadline)
        return;
    if (self->deadline_timer != -1) {
        if (self->deadline_armed_ms <= first->deadline_ms)
            return; /* fires early enough; it re-arms for the rest */
        zloop_timer_end (self->loop, self->deadline_timer);
        self->deadline_timer = -1;
    }
    int64_t delay = first->deadline_ms - fling_clock_ms ();
    self->deadline_timer =
        zloop_timer (self->loop, delay > 0 ? (size_t)delay : 0, 1, self->on_deadline, self);
    if (self->deadline_timer == -1)
        fling_error ("cannot arm the deadline timer: deadlines wait for the next task");
    else
        self->deadline_armed_ms = first->deadline_ms;
}

/* (Re)places the task's deadline at `from` + its timeout. */
static void set_deadline (fling_worker_t *self, fling_task_t *task, int64_t from)
{
    if (!task->timeout_ms || (task->deadline_slot && task->deadline_ms == from + task->timeout_ms))
        return;
    task->deadline_ms = from + task->timeout_ms;
    fling_deadlines_add (self->deadlines, task, task->timeout_ms);
    /* Only a deadline earlier than the armed timer needs a new one; a
       timer that fires early finds nothing due and re-arms. */
    if (self->deadline_timer == -1 || task->deadline_ms < self->deadline_armed_ms)
        fling_flight_arm_deadline (self);
}

/* ---- refill marks -------------------------------------------------------

   An async handler that completes on a zloop timer calls
   fling_task_complete inside zloop's timer scan, and the freed slot may
   only be refilled from a callback of ours once the RESULT has left (the
   poison-task rule above). Our 0 ms flush timer is appended to the end of
   zloop's timer list, so every slot freed in a scan waited for the whole
   scan: with 10,000 tasks on 10 ms timers (bench W3) whole clumps of
   2,000-4,500 completions, a median 0.45 ms per slot per task.

   zloop fires due timers in the order they were created. So after every
   REFILL_MARK_TASKS async starts the worker adds a one-shot timer of its
   own, due when those tasks typically complete (the moving average of
   their measured time): it sits right behind their timers in zloop's list
   and flushes and refills their slots as soon as they have fired. If the
   tasks take longer or complete otherwise (on I/O, another thread), the
   mark finds little to do and the end-of-turn flush does the rest, as
   before; it costs two timers per REFILL_MARK_TASKS tasks. Measured in W3
   (a probe stamping every task): a freed slot refilled after a median
   0.33-0.80 ms before, 0.04-0.09 ms with marks. The run as a whole gains
   less (1-3 points, bench/README.md): a clump's fire-and-refill work is
   the same, now spread among its groups instead of all at its end. */

static int on_refill_mark (zloop_t *loop, int timer_id, void *arg)
{
    fling_worker_t *self = (fling_worker_t *)arg;
    self->in_callback = true;
    return fling_flight_end_turn (self);
}

/* A refill mark `ms` from `now`, and the alarm that wakes zloop for it. */
static void mark_at (fling_worker_t *self, size_t ms, int64_t now)
{
    zloop_timer (self->loop, ms, 1, on_refill_mark, self);
    if (self->alarm)
        fling_alarm_at (self->alarm, now + (int64_t)ms);
}

/* A task's measured time is its timer's delay plus up to a millisecond or
   so (zloop counts whole ms, and the loop may be late): the delay is the
   average's whole ms or one less, so a mark goes at each. One that fires
   before its group finds little to do. No mark, no harm either: the
   end-of-turn flush still comes. */
static void mark_refill (fling_worker_t *self)
{
    if (++self->starts_unmarked < REFILL_MARK_TASKS || self->async_ms_x16 < 16)
        return;
    self->starts_unmarked = 0;
    size_t ms = self->async_ms_x16 / 16;
    int64_t now = fling_clock_ms ();
    if (ms > 1)
        mark_at (self, ms - 1, now);
    mark_at (self, ms, now);
}

/* Samples how long an async task took (one in REFILL_SAMPLE_EVERY: a clock
   read per task cost 5% of an async worker). */
static void sample_async (fling_worker_t *self, const fling_task_t *task)
{
    if (++self->async_unsampled < REFILL_SAMPLE_EVERY)
        return;
    self->async_unsampled = 0;
    int64_t ms = fling_clock_ms () - task->started_ms;
    fling_histogram_observe (&self->run_time[FLING_CLASS_LOOP], (uint64_t)(ms > 0 ? ms : 0) * 1000);
    unsigned x16 = (unsigned)(ms < 0 ? 0 : ms > 3600000 ? 3600000 : ms) * 16;
    /* The first sample sets it; then each moves it an eighth of the way. */
    self->async_ms_x16 =
        self->async_ms_x16 ? self->async_ms_x16 - self->async_ms_x16 / 8 + x16 / 8 : x16;
}

/* Hands the task to its handler; its time limit runs from `now`. */
static void begin (fling_worker_t *self, fling_task_t *task, int64_t now)
{
    self->started_count[task->cls]++;
    task->started_ms = now;
    set_deadline (self, task, now);
    if (task->cls == FLING_CLASS_LOOP) {
        task->handler->async (task, task->handler->arg); /* may complete it now */
        mark_refill (self);
        return;
    }
    if (fling_pool_submit (self->pool, task)) {
        fling_task_set_error (task, "out of memory");
        fling_flight_finish (self, task, FLING_OUTCOME_RELEASED);
    }
}

/* Starts waiting tasks while their class has free slots. A handler that
   completes at once frees its slot for the next turn of this loop. */
static void start_waiting (fling_worker_t *self)
{
    if (self->draining || self->tearing_down)
        return;
    int64_t now = 0;
    for (int cls = 0; cls < FLING_CLASS_COUNT; cls++) {
        fling_backlog_t *backlog = &self->backlog[cls];
        while (backlog->count &&
               self->started_count[cls] < fling_capacity_slots (self, (fling_class_t)cls)) {
            if (!now)
                now = fling_clock_ms (); /* once per refill, not per task */
            begin (self, fling_backlog_pop (backlog), now);
        }
    }
}

void fling_flight_release_waiting (fling_worker_t *self, fling_task_t *task)
{
    fling_debug ("task handed back unrun: no free slot within its timeout id=%s name=%s "
                 "timeout_ms=%u",
                 fling_task_id (task), task->name, (unsigned)task->timeout_ms);
    fling_flight_finish (self, task, FLING_OUTCOME_RELEASED);
}

/* The handler for `name` (`size` bytes, NUL-terminated), or NULL. Names
   repeat from task to task: the last one found is tried first, before
   hashing, with the length known (strcmp cost 4% of an async worker). */
static fling_handler_t *find_handler (fling_worker_t *self, const char *name, size_t size)
{
    fling_handler_t *last = self->last_handler;
    if (last && last->name_size == size && memcmp (last->name, name, size) == 0)
        return last;
    fling_handler_t *handler = (fling_handler_t *)zhashx_lookup (self->handlers, name);
    if (handler)
        self->last_handler = handler;
    return handler;
}

/* An async task's block comes from the loop's slabs; any other's is a
   malloc'd block, which an abandoned pool thread may free on its own. */
static fling_blockpool_t *blocks (fling_worker_t *self, fling_class_t cls)
{
    return cls == FLING_CLASS_LOOP ? self->loop_blocks : self->task_blocks;
}

/* A record from a DISPATCH becomes a running (or waiting) task. */
static void take_record (fling_worker_t *self, const fling_record_t *record)
{
    self->stats.dispatched++;
    fling_handler_t *handler = find_handler (self, record->name, record->name_size);
    fling_class_t cls = handler ? handler->cls : FLING_CLASS_POOL;
    fling_task_t *task = fling_task_new (self, blocks (self, cls), record, handler, cls);
    if (!task) {
        fling_result_t result = {
            .id = record->id, .attempt = record->attempt, .outcome = FLING_OUTCOME_RELEASED};
        fling_results_add (self->results, &result);
        self->stats.released++;
        return;
    }
    if (self->draining || !task->handler) {
        /* Sent before the broker saw our CAPACITY(0, 0), or a name we never
           registered: the broker should not do the latter. */
        if (!task->handler)
            fling_task_set_error (task, "no handler for %s", task->name);
        record_outcome (self, task, self->draining ? FLING_OUTCOME_RELEASED : FLING_OUTCOME_FAIL);
        fling_task_destroy (&task);
        return;
    }
    /* The DISPATCH's arrival, read once per message by fling_worker.c: a
       clock read per task cost 5% of the worker. */
    task->started_ms = self->last_recv_ms ? self->last_recv_ms : fling_clock_ms ();
    track (self, task);
    /* Started or waiting, a task with a timeout has a deadline from now on:
       a waiting one must start by then (the broker's lease runs from its
       dispatch and allows two timeouts, SPEC.md §6.4). */
    set_deadline (self, task, task->started_ms);
    fling_backlog_t *backlog = &self->backlog[task->cls];
    if (backlog->count == 0 &&
        self->started_count[task->cls] < fling_capacity_slots (self, task->cls))
        begin (self, task, task->started_ms);
    else
        fling_backlog_push (backlog, task);
}

void fling_flight_accept_dispatch (fling_worker_t *self, const fling_msg_t *msg)
{
    /* fling_msg_decode checked every record of the batch already. */
    const uint8_t *cursor = msg->body;
    fling_record_t record;
    for (uint32_t i = 0; i < msg->count; i++) {
        fling_record_read (&cursor, &record);
        take_record (self, &record);
    }
}
