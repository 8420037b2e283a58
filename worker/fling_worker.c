/*  fling_worker.c - the worker: handlers, dispatch, results, drain.

    Life of a task: a DISPATCH record becomes a heap task (fling_task.c).
    If its class has a free slot (async_limit for async handlers, the
    pool's threads for blocking ones) it starts at once: an async handler
    gets it on the loop thread, a blocking one goes to the pool
    (fling_pool.c). Otherwise it waits in its class's backlog
    (fling_backlog.c, filled by prefetch) and starts the moment a slot
    frees, in arrival order. Either way its outcome is appended to the
    pending RESULT batch, which leaves once per turn of the event loop: at
    the end of each of our loop callbacks, or from a 0 ms timer when the
    task finished inside someone else's callback (an async handler's timer).

    Deadlines (a record's timeout_ms) are kept by fling_overrun.c.

    Stop: CAPACITY(0, 0) so the broker sends nothing more; tasks not started
    go back as RELEASED; the tasks running finish (up to drain_timeout_ms);
    then BYE, and fling_worker_run returns. Tasks already reported TIMEOUT
    are not waited for.
*/
#include "fling_log.h"
#include "fling_worker_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define DEFAULT_ENDPOINT         "tcp://127.0.0.1:5556"
#define DEFAULT_ASYNC_LIMIT      1000
#define DEFAULT_PREFETCH         1
#define DEFAULT_HEARTBEAT_MS     1000
#define DEFAULT_DRAIN_TIMEOUT_MS 30000
#define CLOSE_LINGER_MS          2000 /* time for the last RESULT and BYE to leave */
#define WARN_PER_SECOND          10   /* task failure lines; a poison flood is counted */
#define STUCK_TASKS_LOGGED       10

/* ---- options, construction ----------------------------------------------- */

void fling_worker_options_init (fling_worker_options_t *options)
{
    memset (options, 0, sizeof *options);
    const char *endpoint = getenv ("FLING_WORKER_ENDPOINT");
    options->endpoint = endpoint && *endpoint ? endpoint : DEFAULT_ENDPOINT;
    options->pool_size = fling_pool_default_size ();
    options->async_limit = DEFAULT_ASYNC_LIMIT;
    options->prefetch = DEFAULT_PREFETCH;
    options->heartbeat_ms = DEFAULT_HEARTBEAT_MS;
    options->drain_timeout_ms = DEFAULT_DRAIN_TIMEOUT_MS;
}

static char *s_default_name (void)
{
    char host[256] = "worker";
    gethostname (host, sizeof host);
    host[100] = '\0'; /* leaves room for "-PID" within FLING_NAME_MAX */
    char name[FLING_NAME_MAX + 1];
    snprintf (name, sizeof name, "%.100s-%d", host, (int)getpid ());
    return strdup (name);
}

/* The READY frame carries at most FLING_NAME_MAX bytes of name. */
static char *s_name_copy (const char *name)
{
    return strndup (name, FLING_NAME_MAX);
}

fling_worker_t *fling_worker_new (const fling_worker_options_t *options)
{
    fling_worker_options_t defaults;
    fling_worker_options_init (&defaults);
    if (!options)
        options = &defaults;
    /* A library must not take the program's signals: czmq installs SIGINT
       and SIGTERM handlers when it starts, unless told not to first. */
    zsys_handler_set (NULL);

    fling_worker_t *self = (fling_worker_t *)calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->stop_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    self->endpoint = strdup (options->endpoint ? options->endpoint : defaults.endpoint);
    self->name = options->name && *options->name ? s_name_copy (options->name) : s_default_name ();
    self->pool_size = options->pool_size ? options->pool_size : defaults.pool_size;
    self->async_limit = options->async_limit ? options->async_limit : defaults.async_limit;
    self->prefetch = options->prefetch; /* 0 is a choice: no prefetch */
    self->heartbeat_ms = options->heartbeat_ms ? options->heartbeat_ms : defaults.heartbeat_ms;
    self->drain_timeout_ms =
        options->drain_timeout_ms ? options->drain_timeout_ms : defaults.drain_timeout_ms;
    self->handlers = zhashx_new ();
    self->loop = zloop_new ();
    self->results = fling_results_new ();
    self->deadlines = fling_deadlines_new ();
    self->deadline_timer = -1;
    if (self->stop_fd < 0 || !self->endpoint || !self->name || !self->handlers || !self->loop ||
        !self->results || !self->deadlines) {
        fling_worker_destroy (&self);
        errno = ENOMEM;
        return NULL;
    }
    /* Without this, zloop quits when czmq sees SIGINT/SIGTERM. */
    zloop_set_nonstop (self->loop, true);
    return self;
}

static void s_free_tasks (fling_task_t **list)
{
    while (*list) {
        fling_task_t *task = *list;
        *list = task->next;
        fling_task_destroy (&task);
    }
}

void fling_worker_destroy (fling_worker_t **self_p)
{
    fling_worker_t *self = *self_p;
    if (!self)
        return;
    self->tearing_down = true;
    fling_link_close (self, 0);
    fling_pool_destroy (&self->pool);
    /* Async tasks never completed: their timers die with the loop. */
    zloop_destroy (&self->loop);
    fling_deadlines_destroy (&self->deadlines);
    s_free_tasks (&self->running);
    s_free_tasks (&self->overdue);
    for (size_t i = 0; i < self->handler_count; i++)
        free (self->handler_list[i]);
    zhashx_destroy (&self->handlers);
    fling_results_destroy (&self->results);
    if (self->stop_fd >= 0)
        close (self->stop_fd);
    free (self->endpoint);
    free (self->name);
    free (self);
    *self_p = NULL;
}

/* ---- registration -------------------------------------------------------- */

static int s_register (fling_worker_t *self, const char *name, fling_class_t cls,
                       fling_blocking_fn *blocking, fling_async_fn *async, void *arg)
{
    if (!self || !name || (!blocking && !async)) {
        errno = EINVAL;
        return -1;
    }
    if (self->started) {
        errno = EBUSY;
        return -1;
    }
    if (!fling_name_valid (name, strlen (name))) {
        errno = FLING_EBADNAME;
        return -1;
    }
    if (zhashx_lookup (self->handlers, name)) {
        errno = EEXIST;
        return -1;
    }
    if (self->handler_count == FLING_NAMES_MAX) {
        errno = ENOSPC;
        return -1;
    }
    fling_handler_t *handler = (fling_handler_t *)calloc (1, sizeof *handler);
    if (!handler)
        return -1;
    snprintf (handler->name, sizeof handler->name, "%s", name);
    handler->cls = cls;
    handler->blocking = blocking;
    handler->async = async;
    handler->arg = arg;
    if (zhashx_insert (self->handlers, handler->name, handler)) {
        free (handler);
        errno = ENOMEM;
        return -1;
    }
    self->handler_list[self->handler_count++] = handler;
    self->class_handlers[cls]++;
    return 0;
}

int fling_worker_register_blocking (fling_worker_t *self, const char *name, fling_blocking_fn *fn,
                                    void *arg)
{
    return s_register (self, name, FLING_CLASS_POOL, fn, NULL, arg);
}

int fling_worker_register_async (fling_worker_t *self, const char *name, fling_async_fn *fn,
                                 void *arg)
{
    return s_register (self, name, FLING_CLASS_LOOP, NULL, fn, arg);
}

int fling_worker_add_thread_hooks (fling_worker_t *self, fling_thread_start_fn *start,
                                   fling_thread_stop_fn *stop, void *arg)
{
    if (!self || (!start && !stop)) {
        errno = EINVAL;
        return -1;
    }
    if (self->started) {
        errno = EBUSY;
        return -1;
    }
    if (self->hook_count == FLING_POOL_HOOKS_MAX) {
        errno = ENOSPC;
        return -1;
    }
    self->hooks[self->hook_count] = (fling_pool_hooks_t){start, stop, arg};
    return (int)self->hook_count++;
}

zloop_t *fling_worker_loop (fling_worker_t *self)
{
    return self->loop;
}

void fling_worker_on_registered (fling_worker_t *self, fling_worker_event_fn *fn, void *arg)
{
    self->on_registered = fn;
    self->on_registered_arg = arg;
}

void fling_worker_stats (fling_worker_t *self, fling_worker_stats_t *stats)
{
    *stats = self->stats;
    stats->running = self->running_count[FLING_CLASS_POOL] + self->running_count[FLING_CLASS_LOOP];
    stats->waiting = self->backlog[FLING_CLASS_POOL].count + self->backlog[FLING_CLASS_LOOP].count;
    stats->stuck_threads = self->pool ? fling_pool_stuck (self->pool) : 0;
}

/* ---- results ----------------------------------------------------------- */

static size_t s_running (fling_worker_t *self)
{
    return self->running_count[FLING_CLASS_POOL] + self->running_count[FLING_CLASS_LOOP];
}

static void s_flush (fling_worker_t *self)
{
    if (fling_results_count (self->results))
        fling_link_send (self, fling_results_take (self->results));
}

static int s_on_flush_timer (zloop_t *loop, int timer_id, void *arg)
{
    fling_worker_t *self = (fling_worker_t *)arg;
    self->flush_armed = false;
    self->in_callback = true;
    return fling_worker_after_callback (self);
}

static void s_warn_window (fling_worker_t *self);
static void s_start_waiting (fling_worker_t *self);

/* Called at the end of each of our loop callbacks: one RESULT per turn,
   and the end of a drain once nothing runs any more. Returns the value
   for zloop: -1 ends fling_worker_run's loop. */
int fling_worker_after_callback (fling_worker_t *self)
{
    /* Results leave before waiting tasks take the freed slots: if one of
       those crashes the worker, the broker has what finished before it
       and counts the crash against the tasks that were running (SPEC.md
       §6.4), not against a finished one whose RESULT died with us. */
    s_flush (self);
    s_start_waiting (self);
    self->in_callback = false;
    s_flush (self); /* what the new tasks finished at once */
    if (self->warn_suppressed) /* a flood's count, once its window is over */
        s_warn_window (self);
    if (self->draining && !self->finished && s_running (self) == 0) {
        fling_link_send (self, fling_msg_bye ());
        self->finished = true;
        self->rc = 0;
    }
    return self->finished ? -1 : 0;
}

/* Error text for a log line: one line, bounded. */
static void s_log_text (char *out, size_t out_size, const char *text, size_t size)
{
    size_t n = size < out_size - 1 ? size : out_size - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)text[i] < 0x20 ? ' ' : text[i];
    out[n] = '\0';
}

/* Starts a new one-second window of task failure lines once the last one
   is over, saying how many the last one left out. */
static void s_warn_window (fling_worker_t *self)
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

static void s_warn_outcome (fling_worker_t *self, const fling_task_t *task, fling_outcome_t outcome)
{
    s_warn_window (self);
    if (self->warn_count >= WARN_PER_SECOND) {
        self->warn_suppressed++;
        return;
    }
    self->warn_count++;
    char error[256];
    s_log_text (error, sizeof error, task->error ? task->error : "", task->error_size);
    fling_warn ("task %s name=%s id=%s attempt=%u error=%s", fling_outcome_name (outcome),
                task->name, fling_task_id (task), task->attempt, error);
}

static void s_count (fling_worker_t *self, fling_outcome_t outcome)
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

void fling_worker_add_result (fling_worker_t *self, const fling_result_t *result)
{
    if (fling_results_add (self->results, result)) {
        char id[FLING_TASK_ID_TEXT_SIZE];
        fling_error ("out of memory: result of %s lost (the broker reruns it)",
                     fling_task_id_format (&result->id, id));
    }
    s_count (self, (fling_outcome_t)result->outcome);
    if (fling_results_count (self->results) >= FLING_BATCH_TASKS_MAX)
        s_flush (self);
    else if (!self->in_callback && !self->flush_armed && !self->tearing_down) {
        if (zloop_timer (self->loop, 0, 1, s_on_flush_timer, self) == -1)
            s_flush (self);
        else
            self->flush_armed = true;
    }
}

/* Appends a task's outcome to the pending RESULT batch. */
static void s_record (fling_worker_t *self, fling_task_t *task, fling_outcome_t outcome)
{
    fling_result_t result = {.id = task->id,
                             .attempt = task->attempt,
                             .outcome = (uint8_t)outcome,
                             .retry_delay_ms = 0,
                             .error = task->error,
                             .error_size = task->error_size};
    if (outcome == FLING_OUTCOME_FAIL || outcome == FLING_OUTCOME_RETRY)
        s_warn_outcome (self, task, outcome);
    fling_worker_add_result (self, &result);
}

/* ---- tasks in flight ------------------------------------------------------ */

static void s_list_push (fling_task_t **head, fling_task_t *task)
{
    task->prev = NULL;
    task->next = *head;
    if (*head)
        (*head)->prev = task;
    *head = task;
}

static void s_list_unlink (fling_task_t **head, fling_task_t *task)
{
    if (task->prev)
        task->prev->next = task->next;
    else
        *head = task->next;
    if (task->next)
        task->next->prev = task->prev;
    task->prev = task->next = NULL;
}

static void s_track (fling_worker_t *self, fling_task_t *task)
{
    s_list_push (&self->running, task);
    self->running_count[task->cls]++;
}

static void s_untrack (fling_worker_t *self, fling_task_t *task)
{
    s_list_unlink (&self->running, task);
    self->running_count[task->cls]--;
    if (task->waiting)
        fling_backlog_remove (&self->backlog[task->cls], task);
    if (task->started) {
        task->started = false;
        self->started_count[task->cls]--;
    }
    if (self->deadlines)
        fling_deadlines_remove (self->deadlines, task);
}

void fling_worker_untrack (fling_worker_t *self, fling_task_t *task)
{
    /* Its callers outside this file (fling_overrun.c) log the task's
       id_text next; it is formatted on demand since most tasks never need
       it, so make sure it is there. */
    fling_task_id (task);
    s_untrack (self, task);
}

void fling_worker_keep_overdue (fling_worker_t *self, fling_task_t *task)
{
    task->timed_out = true;
    s_list_push (&self->overdue, task);
}

static fling_outcome_t s_outcome (fling_task_t *task, fling_status_t status)
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
static void s_finish (fling_worker_t *self, fling_task_t *task, fling_outcome_t outcome)
{
    s_untrack (self, task);
    s_record (self, task, outcome);
    fling_task_destroy (&task);
    /* Its slot, if it had one, is refilled from the backlog at the end of
       this loop callback (fling_worker_after_callback), after the RESULT. */
}

void fling_task_complete (fling_task_t *task, fling_status_t status)
{
    if (!task)
        return;
    if (task->cls != FLING_CLASS_LOOP) {
        fling_error ("fling_task_complete on blocking task %s ignored: return the status instead",
                     fling_task_id (task));
        return;
    }
    if (task->timed_out) {
        /* TIMEOUT went out already; the broker may run it elsewhere. */
        s_list_unlink (&task->worker->overdue, task);
        fling_debug ("late completion of timed-out task %s ignored", fling_task_id (task));
        fling_task_destroy (&task);
        return;
    }
    s_finish (task->worker, task, s_outcome (task, status));
}

/* On a pool thread. */
static void s_run_blocking (void *job, void *arg)
{
    fling_task_t *task = (fling_task_t *)job;
    task->status = task->handler->blocking (task, task->handler->arg);
}

static void s_on_pool_done (void *job, void *arg)
{
    fling_worker_t *self = (fling_worker_t *)arg;
    fling_task_t *task = (fling_task_t *)job;
    if (self->tearing_down) {
        fling_task_destroy (&task); /* untracked already; nobody to tell */
        return;
    }
    s_finish (self, task, s_outcome (task, task->status));
}

static void s_discard (void *job)
{
    fling_task_t *task = (fling_task_t *)job;
    fling_task_destroy (&task);
}

/* ---- slots and the backlog -------------------------------------------------- */

/* Tasks of a class that run at once. */
static size_t s_slots (fling_worker_t *self, fling_class_t cls)
{
    if (cls == FLING_CLASS_LOOP)
        return self->async_limit;
    return self->pool ? fling_pool_capacity (self->pool) : self->pool_size;
}

void fling_worker_capacity (fling_worker_t *self, uint32_t capacity[FLING_CLASS_COUNT],
                            uint32_t slots[FLING_CLASS_COUNT])
{
    slots[FLING_CLASS_POOL] = fling_overrun_pool_capacity (self);
    slots[FLING_CLASS_LOOP] = self->class_handlers[FLING_CLASS_LOOP] ? self->async_limit : 0;
    for (int cls = 0; cls < FLING_CLASS_COUNT; cls++) {
        uint64_t credit = (uint64_t)slots[cls] * (1u + (uint64_t)self->prefetch);
        capacity[cls] = credit > UINT32_MAX ? UINT32_MAX : (uint32_t)credit;
    }
}

/* (Re)places the task's deadline at `from` + its timeout. */
static void s_set_deadline (fling_worker_t *self, fling_task_t *task, int64_t from)
{
    if (!task->timeout_ms || (task->deadline_slot && task->deadline_ms == from + task->timeout_ms))
        return;
    task->deadline_ms = from + task->timeout_ms;
    fling_deadlines_add (self->deadlines, task, task->timeout_ms);
    fling_overrun_arm (self);
}

/* Hands the task to its handler; its time limit runs from `now`. */
static void s_begin (fling_worker_t *self, fling_task_t *task, int64_t now)
{
    task->started = true;
    self->started_count[task->cls]++;
    task->started_ms = now;
    s_set_deadline (self, task, now);
    if (task->cls == FLING_CLASS_LOOP) {
        task->handler->async (task, task->handler->arg); /* may complete it now */
        return;
    }
    if (fling_pool_submit (self->pool, task)) {
        fling_task_set_error (task, "out of memory");
        s_finish (self, task, FLING_OUTCOME_RELEASED);
    }
}

/* Starts waiting tasks while their class has free slots. A handler that
   completes at once frees its slot for the next turn of this loop. */
static void s_start_waiting (fling_worker_t *self)
{
    if (self->draining || self->tearing_down)
        return;
    int64_t now = 0;
    for (int cls = 0; cls < FLING_CLASS_COUNT; cls++) {
        fling_backlog_t *backlog = &self->backlog[cls];
        while (backlog->count && self->started_count[cls] < s_slots (self, (fling_class_t)cls)) {
            if (!now)
                now = fling_clock_ms (); /* once per refill, not per task */
            s_begin (self, fling_backlog_pop (backlog), now);
        }
    }
}

void fling_worker_release_waiting (fling_worker_t *self, fling_task_t *task)
{
    fling_debug ("task waited past its timeout of %u ms without a free slot: handed back unrun "
                 "id=%s name=%s",
                 (unsigned)task->timeout_ms, fling_task_id (task), task->name);
    s_finish (self, task, FLING_OUTCOME_RELEASED);
}

/* A record from a DISPATCH becomes a running (or waiting) task. */
void fling_worker_accept (fling_worker_t *self, const fling_record_t *record)
{
    self->stats.dispatched++;
    fling_task_t *task = fling_task_new (self, record);
    if (!task) {
        fling_result_t result = {
            .id = record->id, .attempt = record->attempt, .outcome = FLING_OUTCOME_RELEASED};
        fling_results_add (self->results, &result);
        self->stats.released++;
        return;
    }
    task->handler = (fling_handler_t *)zhashx_lookup (self->handlers, task->name);
    if (self->draining || !task->handler) {
        /* Sent before the broker saw our CAPACITY(0, 0), or a name we never
           registered: the broker should not do the latter. */
        if (!task->handler)
            fling_task_set_error (task, "no handler for %s", task->name);
        s_record (self, task, self->draining ? FLING_OUTCOME_RELEASED : FLING_OUTCOME_FAIL);
        fling_task_destroy (&task);
        return;
    }
    task->cls = task->handler->cls;
    /* The DISPATCH's arrival, read once per message by fling_link.c: a
       clock read per task cost 5% of the worker. */
    task->started_ms = self->last_recv_ms ? self->last_recv_ms : fling_clock_ms ();
    s_track (self, task);
    /* Started or waiting, a task with a timeout has a deadline from now on:
       a waiting one must start by then (the broker's lease runs from its
       dispatch and allows two timeouts, SPEC.md §6.4). */
    s_set_deadline (self, task, task->started_ms);
    fling_backlog_t *backlog = &self->backlog[task->cls];
    if (backlog->count == 0 && self->started_count[task->cls] < s_slots (self, task->cls))
        s_begin (self, task, task->started_ms);
    else
        fling_backlog_push (backlog, task);
}

/* ---- drain ----------------------------------------------------------------- */

static void s_log_stuck (fling_worker_t *self)
{
    int64_t now = fling_clock_ms ();
    size_t shown = 0;
    fling_warn ("drain timeout after %u ms: %zu tasks still running", self->drain_timeout_ms,
                s_running (self));
    for (fling_task_t *task = self->running; task && shown < STUCK_TASKS_LOGGED;
         task = task->next, shown++)
        fling_warn ("still running: name=%s id=%s attempt=%u class=%s for %" PRId64 " ms",
                    task->name, fling_task_id (task), task->attempt, fling_class_name (task->cls),
                    now - task->started_ms);
    if (s_running (self) > shown)
        fling_warn ("... and %zu more", s_running (self) - shown);
}

static int s_on_drain_timeout (zloop_t *loop, int timer_id, void *arg)
{
    fling_worker_t *self = (fling_worker_t *)arg;
    if (self->finished)
        return -1;
    s_log_stuck (self);
    s_flush (self);
    /* The broker requeues what we still hold when it sees BYE. */
    fling_link_send (self, fling_msg_bye ());
    self->finished = true;
    self->rc = -1;
    return -1;
}

static void s_start_drain (fling_worker_t *self)
{
    if (self->draining)
        return;
    self->draining = true;
    size_t queued = (self->pool ? fling_pool_queued (self->pool) : 0) +
                    self->backlog[FLING_CLASS_POOL].count + self->backlog[FLING_CLASS_LOOP].count;
    fling_info ("draining: %zu tasks running, %zu not started (released), timeout %u ms",
                s_running (self) - queued, queued, self->drain_timeout_ms);
    uint32_t none[FLING_CLASS_COUNT] = {0, 0};
    fling_link_send (self, fling_msg_capacity (none, NULL));
    fling_task_t *task;
    while (self->pool && (task = (fling_task_t *)fling_pool_take_queued (self->pool)))
        s_finish (self, task, FLING_OUTCOME_RELEASED);
    for (int cls = 0; cls < FLING_CLASS_COUNT; cls++)
        while ((task = self->backlog[cls].head))
            s_finish (self, task, FLING_OUTCOME_RELEASED);
    if (zloop_timer (self->loop, self->drain_timeout_ms, 1, s_on_drain_timeout, self) == -1)
        fling_error ("cannot arm the drain timer: stopping without waiting");
}

static int s_on_stop (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    fling_worker_t *self = (fling_worker_t *)arg;
    uint64_t count;
    ssize_t rc = read (self->stop_fd, &count, sizeof count);
    (void)rc;
    self->in_callback = true;
    s_start_drain (self);
    return fling_worker_after_callback (self);
}

void fling_worker_request_stop (fling_worker_t *self)
{
    if (!self)
        return;
    /* Async-signal-safe: one write(2), errno preserved. */
    int saved = errno;
    uint64_t one = 1;
    ssize_t rc = write (self->stop_fd, &one, sizeof one);
    (void)rc;
    errno = saved;
}

/* ---- run ---------------------------------------------------------------------- */

static void s_log_started (fling_worker_t *self)
{
    char names[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < self->handler_count && used < sizeof names; i++) {
        int n =
            snprintf (names + used, sizeof names - used, "%s%s(%s)", i ? "," : "",
                      self->handler_list[i]->name, fling_class_name (self->handler_list[i]->cls));
        used += n > 0 ? (size_t)n : 0;
    }
    fling_info ("started name=%s pid=%d pool=%u async_limit=%u prefetch=%u heartbeat_ms=%u "
                "endpoint=%s handlers=%s",
                self->name, (int)getpid (),
                self->class_handlers[FLING_CLASS_POOL] ? self->pool_size : 0,
                self->class_handlers[FLING_CLASS_LOOP] ? self->async_limit : 0, self->prefetch,
                self->heartbeat_ms, self->endpoint, names);
}

static int s_setup (fling_worker_t *self)
{
    if (self->class_handlers[FLING_CLASS_POOL]) {
        self->pool = fling_pool_new (self->pool_size, self->hooks, self->hook_count, s_run_blocking,
                                     NULL, s_discard);
        if (!self->pool || fling_pool_attach (self->pool, self->loop, s_on_pool_done, self))
            return -1;
    }
    if (fling_overrun_setup (self))
        return -1;
    zmq_pollitem_t stop_item = {NULL, self->stop_fd, ZMQ_POLLIN, 0};
    if (zloop_poller (self->loop, &stop_item, s_on_stop, self) ||
        zloop_timer (self->loop, self->heartbeat_ms, 0, fling_link_on_heartbeat, self) == -1)
        return -1;
    return fling_link_connect (self);
}

/* zloop_start returns 0 when a signal interrupted its poll (the program's
   own SIGTERM handler, say): carry on until the drain says we are done.
   A restart re-arms zloop's timers from now, delaying them once. */
static void s_run_loop (fling_worker_t *self)
{
    while (!self->finished) {
        int rc = zloop_start (self->loop);
        if (self->finished)
            break;
        if (rc == 0 && zmq_errno () == EINTR)
            continue;
        if (rc == -1) {
            /* A handler's own timer or reader returned -1: take it as a stop. */
            fling_warn ("a handler's callback ended the event loop: draining");
            self->in_callback = true;
            s_start_drain (self);
            fling_worker_after_callback (self);
            continue;
        }
        fling_error ("event loop failed: %s", zmq_strerror (zmq_errno ()));
        self->rc = -1;
        break;
    }
}

static void s_teardown (fling_worker_t *self)
{
    s_flush (self);
    fling_link_close (self, CLOSE_LINGER_MS);
    /* Pool tasks leave our list now: a thread still running one at the
       drain timeout is abandoned and frees its task itself. */
    self->tearing_down = true;
    for (fling_task_t *task = self->running, *next; task; task = next) {
        next = task->next;
        if (task->waiting) {
            s_untrack (self, task); /* never handed to the pool: ours to free */
            fling_task_destroy (&task);
        } else if (task->cls == FLING_CLASS_POOL)
            s_untrack (self, task);
    }
    fling_deadlines_destroy (&self->deadlines); /* no timer runs any more */
    fling_pool_destroy (&self->pool);
}

int fling_worker_run (fling_worker_t *self)
{
    if (!self || self->started) {
        errno = EINVAL;
        return -1;
    }
    if (self->handler_count == 0) {
        fling_error ("no task handlers registered");
        errno = EINVAL;
        return -1;
    }
    self->started = true;
    if (s_setup (self)) {
        int err = errno;
        fling_error ("cannot start: %s", fling_strerror (err));
        s_teardown (self);
        errno = err;
        return -1;
    }
    s_log_started (self);
    s_run_loop (self);
    s_teardown (self);
    fling_info ("stopped done=%" PRIu64 " failed=%" PRIu64 " retried=%" PRIu64 " released=%" PRIu64
                " timed_out=%" PRIu64 " reconnects=%" PRIu64,
                self->stats.done, self->stats.failed, self->stats.retried, self->stats.released,
                self->stats.timed_out, self->stats.reconnects);
    return self->rc;
}
