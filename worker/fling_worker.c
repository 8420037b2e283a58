/*  fling_worker.c - the worker: options, handlers, the event loop's
    callbacks, run, drain.

    The top of the worker's modules (fling_worker_impl.h): the loop's
    callbacks for the broker's socket, the heartbeat and the stop call the
    link (fling_link.c), hand the DISPATCHes it returns to the tasks in
    flight (fling_flight.c) and end the turn there. Deadlines (a record's
    timeout_ms) are handled by fling_overrun.c.

    Stop: CAPACITY(0, 0) so the broker sends nothing more; tasks not started
    go back as RELEASED; the tasks running finish and the broker
    acknowledges every RESULT (up to drain_timeout_ms); then BYE, and
    fling_worker_run returns. Tasks already reported TIMEOUT are not waited
    for.
*/
#include "fling_capacity.h"
#include "fling_flight.h"
#include "fling_link.h"
#include "fling_log.h"
#include "fling_logfmt.h"
#include "fling_overrun.h"
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
#define READ_BURST               256  /* messages per callback, so timers still get a turn */
/* RESULTs kept until the broker acknowledges them (fling_unacked.h):
   160,000 results without error text; mapped as the ring is first used. */
#define UNACKED_BYTES      (4u << 20)
#define STUCK_TASKS_LOGGED 10
/* Freed task blocks kept for the next DISPATCH: 4 MB is ~10,000 tasks of
   a 100-byte payload, what a busy async worker frees in a few ms. */
#define TASK_BLOCKS_BYTES (4u << 20)
/* Async tasks' blocks are carved from mapped slabs of this size, out of
   the heap where their handlers' zloop timers live. */
#define LOOP_SLAB_BYTES (256u << 10)
/* Reserved at start for each async task the worker may hold (its slots
   and their prefetch): a task block with a record of ~250 bytes. The
   first burst (10,000 tasks at once in bench W3) then takes no page
   faults for its blocks; a fault costs ~1.5 us here, as much as starting
   three tasks. Capped: past it, slabs are added as tasks come. */
#define LOOP_RESERVE_PER_TASK 512u
#define LOOP_RESERVE_MAX      (64u << 20)

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
    options->curve_broker_key = getenv ("FLING_CURVE_BROKER_KEY");
    options->curve_key = getenv ("FLING_CURVE_KEY");
}

int fling_log_configure (const char *component, const char *level, const char *format)
{
    int threshold = level ? fling_log_level_parse (level) : (int)fling_log_level ();
    int style = format ? fling_log_format_parse (format) : -2;
    if (threshold < 0 || style == -1) {
        char detail[160];
        snprintf (detail, sizeof detail, "unknown log %s \"%.64s\"",
                  threshold < 0 ? "level" : "format", threshold < 0 ? level : format);
        fling_set_last_error (EINVAL, detail);
        return -1;
    }
    fling_log_init (component, (fling_log_level_t)threshold);
    if (style >= 0)
        fling_log_set_format (style);
    return 0;
}

/* Reads the key files once: every reconnect applies the same keys, and a
   bad file fails the constructor with its reason. */
static int load_curve (fling_worker_t *self, const fling_worker_options_t *options,
                       const fling_worker_options_t *defaults)
{
    fling_curve_client_t curve = {options->curve_broker_key ? options->curve_broker_key
                                                            : defaults->curve_broker_key,
                                  options->curve_key ? options->curve_key : defaults->curve_key};
    if (!fling_curve_client_on (&curve))
        return 0;
    char error[256];
    if (fling_curve_client_apply (&curve, NULL, NULL, error, sizeof error) == 0 &&
        fling_curve_load_public (curve.broker_key, self->curve_broker, error, sizeof error) == 0)
        self->curve_cert = fling_curve_load_secret (curve.key, error, sizeof error);
    if (!self->curve_cert) {
        fling_set_last_error (EINVAL, error);
        return -1;
    }
    return 0;
}

static char *default_name (void)
{
    char host[256] = "worker";
    gethostname (host, sizeof host);
    host[100] = '\0'; /* leaves room for "-PID" within FLING_NAME_MAX */
    char name[FLING_NAME_MAX + 1];
    snprintf (name, sizeof name, "%.100s-%d", host, (int)getpid ());
    return strdup (name);
}

/* The READY frame carries at most FLING_NAME_MAX bytes of name. */
static char *name_copy (const char *name)
{
    return strndup (name, FLING_NAME_MAX);
}

fling_worker_t *fling_worker_new (const fling_worker_options_t *options)
{
    fling_worker_options_t defaults;
    fling_worker_options_init (&defaults);
    if (!options)
        options = &defaults;
    /* Refused, not cut: a name cut short would show up in stats as another worker. */
    if (options->name && strlen (options->name) > FLING_NAME_MAX) {
        fling_set_last_error (EINVAL, "worker name longer than 127 bytes");
        return NULL;
    }
    /* A library must not take the program's signals: czmq installs SIGINT
       and SIGTERM handlers when it starts, unless told not to first. */
    zsys_handler_set (NULL);

    fling_worker_t *self = (fling_worker_t *)calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->stop_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    self->endpoint = strdup (options->endpoint ? options->endpoint : defaults.endpoint);
    self->name = options->name && *options->name ? name_copy (options->name) : default_name ();
    self->pool_size = options->pool_size ? options->pool_size : defaults.pool_size;
    self->async_limit = options->async_limit ? options->async_limit : defaults.async_limit;
    self->prefetch = options->prefetch; /* 0 is a choice: no prefetch */
    self->heartbeat_ms = options->heartbeat_ms ? options->heartbeat_ms : defaults.heartbeat_ms;
    self->drain_timeout_ms =
        options->drain_timeout_ms ? options->drain_timeout_ms : defaults.drain_timeout_ms;
    self->handlers = zhashx_new ();
    self->loop = zloop_new ();
    self->results = fling_results_new ();
    self->unacked = fling_unacked_new (UNACKED_BYTES);
    self->heartbeat_timer = -1;
    self->deadlines = fling_deadlines_new ();
    self->task_blocks = fling_blockpool_new (TASK_BLOCKS_BYTES);
    self->loop_blocks = fling_blockpool_new_slabs (LOOP_SLAB_BYTES);
    self->deadline_timer = -1;
    if (self->stop_fd < 0 || !self->endpoint || !self->name || !self->handlers || !self->loop ||
        !self->results || !self->unacked || !self->deadlines || !self->task_blocks ||
        !self->loop_blocks) {
        fling_worker_destroy (&self);
        errno = ENOMEM;
        return NULL;
    }
    if (load_curve (self, options, &defaults)) {
        fling_worker_destroy (&self);
        errno = EINVAL;
        return NULL;
    }
    /* Without this, zloop quits when czmq sees SIGINT/SIGTERM. */
    zloop_set_nonstop (self->loop, true);
    FLING_HISTOGRAM_INIT (&self->run_time[FLING_CLASS_LOOP], fling_histogram_run_bounds_us);
    FLING_HISTOGRAM_INIT (&self->run_time[FLING_CLASS_POOL], fling_histogram_run_bounds_us);
    return self;
}

static void free_tasks (fling_dlist_t *list)
{
    fling_task_t *task;
    while ((task = fling_task_of_flight (fling_dlist_pop_head (list))))
        fling_task_destroy (&task);
}

void fling_worker_destroy (fling_worker_t **self_p)
{
    fling_worker_t *self = *self_p;
    if (!self)
        return;
    self->tearing_down = true;
    fling_link_close (self, 0);
    fling_pool_destroy (&self->pool);
    fling_alarm_destroy (&self->alarm);
    /* Async tasks never completed: their timers die with the loop. */
    zloop_destroy (&self->loop);
    fling_deadlines_destroy (&self->deadlines);
    free_tasks (&self->running);
    free_tasks (&self->overdue);
    for (size_t i = 0; i < self->handler_count; i++)
        free (self->handler_list[i]);
    zhashx_destroy (&self->handlers);
    fling_results_destroy (&self->results);
    fling_unacked_destroy (&self->unacked);
    fling_blockpool_destroy (&self->task_blocks); /* after every task went back to it */
    fling_blockpool_destroy (&self->loop_blocks);
    if (self->stop_fd >= 0)
        close (self->stop_fd);
    free (self->endpoint);
    free (self->name);
    zcert_destroy (&self->curve_cert);
    free (self);
    *self_p = NULL;
}

/* ---- registration -------------------------------------------------------- */

static int add_handler (fling_worker_t *self, const char *name, fling_class_t cls,
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
    handler->name_size = strlen (handler->name);
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
    return add_handler (self, name, FLING_CLASS_POOL, fn, NULL, arg);
}

int fling_worker_register_async (fling_worker_t *self, const char *name, fling_async_fn *fn,
                                 void *arg)
{
    return add_handler (self, name, FLING_CLASS_LOOP, NULL, fn, arg);
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

void fling_worker_metrics (fling_worker_t *self, fling_worker_metrics_t *metrics)
{
    uint32_t capacity[FLING_CLASS_COUNT], slots[FLING_CLASS_COUNT];
    fling_capacity_get (self, capacity, slots);
    metrics->registered = self->registered;
    for (int cls = 0; cls < FLING_CLASS_COUNT; cls++) {
        fling_worker_class_metrics_t *m = &metrics->classes[cls];
        m->capacity = capacity[cls];
        m->slots = slots[cls];
        m->inflight = self->running_count[cls];
        m->waiting = self->backlog[cls].count;
        m->run_time = self->run_time[cls];
    }
}

void fling_worker_stats (fling_worker_t *self, fling_worker_stats_t *stats)
{
    *stats = self->stats;
    stats->running = self->running_count[FLING_CLASS_POOL] + self->running_count[FLING_CLASS_LOOP];
    stats->waiting = self->backlog[FLING_CLASS_POOL].count + self->backlog[FLING_CLASS_LOOP].count;
    stats->stuck_threads = self->pool ? fling_pool_stuck (self->pool) : 0;
    stats->results_unacked = fling_unacked_results (self->unacked);
}

/* ---- drain ----------------------------------------------------------------- */

static void log_stuck (fling_worker_t *self)
{
    int64_t now = fling_clock_ms ();
    size_t shown = 0;
    fling_warn ("drain timeout after %u ms: %zu tasks still running", self->drain_timeout_ms,
                fling_flight_running (self));
    for (fling_task_t *task = fling_task_of_flight (self->running.head);
         task && shown < STUCK_TASKS_LOGGED;
         task = fling_task_of_flight (task->flight_link.next), shown++)
        fling_warn ("still running: name=%s id=%s attempt=%u class=%s for %" PRId64 " ms",
                    task->name, fling_task_id (task), task->attempt, fling_class_name (task->cls),
                    now - task->started_ms);
    if (fling_flight_running (self) > shown)
        fling_warn ("... and %zu more", fling_flight_running (self) - shown);
}

static int on_drain_timeout (zloop_t *loop, int timer_id, void *arg)
{
    fling_worker_t *self = (fling_worker_t *)arg;
    if (self->finished)
        return -1;
    fling_flight_flush (self);
    self->rc = 0;
    if (fling_flight_running (self)) {
        log_stuck (self);
        self->rc = -1;
    } else
        fling_warn ("drain timeout after %u ms: the broker has not acknowledged %zu results"
                    " (they may run again)",
                    self->drain_timeout_ms, fling_unacked_results (self->unacked));
    /* The broker requeues what we still hold when it sees BYE. */
    fling_link_send (self, fling_msg_bye ());
    self->finished = true;
    return -1;
}

static void start_drain (fling_worker_t *self)
{
    if (self->draining)
        return;
    self->draining = true;
    size_t queued = (self->pool ? fling_pool_queued (self->pool) : 0) +
                    self->backlog[FLING_CLASS_POOL].count + self->backlog[FLING_CLASS_LOOP].count;
    fling_info ("draining: %zu tasks running, %zu not started (released), timeout %u ms",
                fling_flight_running (self) - queued, queued, self->drain_timeout_ms);
    /* Not registered yet: the WELCOME says it (fling_link.c). */
    uint32_t none[FLING_CLASS_COUNT] = {0, 0};
    if (self->registered)
        fling_link_send (self, fling_msg_capacity (none, NULL));
    fling_task_t *task;
    while (self->pool && (task = (fling_task_t *)fling_pool_take_queued (self->pool)))
        fling_flight_finish (self, task, FLING_OUTCOME_RELEASED);
    for (int cls = 0; cls < FLING_CLASS_COUNT; cls++)
        while ((task = fling_backlog_first (&self->backlog[cls])))
            fling_flight_finish (self, task, FLING_OUTCOME_RELEASED);
    if (zloop_timer (self->loop, self->drain_timeout_ms, 1, on_drain_timeout, self) == -1)
        fling_error ("cannot arm the drain timer: stopping without waiting");
}

static int on_stop (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    fling_worker_t *self = (fling_worker_t *)arg;
    uint64_t count;
    ssize_t rc = read (self->stop_fd, &count, sizeof count);
    (void)rc;
    self->in_callback = true;
    start_drain (self);
    return fling_flight_end_turn (self);
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

/* ---- the broker's socket and the heartbeat ---------------------------------- */

static int on_broker (zloop_t *loop, zsock_t *sock, void *arg)
{
    fling_worker_t *self = (fling_worker_t *)arg;
    self->in_callback = true;
    /* Stop when a message replaced the socket: `sock` is gone then. */
    for (int i = 0; i < READ_BURST && self->sock == sock; i++) {
        zmsg_t *msg = zmsg_recv (sock);
        if (!msg)
            break;
        self->last_recv_ms = fling_clock_ms ();
        fling_msg_t decoded;
        if (fling_link_handle (self, msg, &decoded))
            fling_flight_accept_dispatch (self, &decoded);
        zmsg_destroy (&msg);
    }
    return fling_flight_end_turn (self);
}

static int on_heartbeat (zloop_t *loop, int timer_id, void *arg)
{
    fling_worker_t *self = (fling_worker_t *)arg;
    self->in_callback = true;
    fling_link_heartbeat (self);
    return fling_flight_end_turn (self);
}

/* ---- run ---------------------------------------------------------------------- */

static void log_started (fling_worker_t *self)
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

/* Both are optional: without them async tasks run as well, a little slower. */
static void setup_async (fling_worker_t *self)
{
    uint64_t tasks = (uint64_t)self->async_limit * (1u + (uint64_t)self->prefetch);
    uint64_t bytes = tasks * LOOP_RESERVE_PER_TASK;
    if (fling_blockpool_reserve (self->loop_blocks,
                                 bytes > LOOP_RESERVE_MAX ? LOOP_RESERVE_MAX : (size_t)bytes))
        fling_warn ("cannot reserve memory for async tasks: blocks come as tasks do");
    self->alarm = fling_alarm_new (self->loop);
    if (!self->alarm)
        fling_warn ("cannot make the refill alarm (%s): zloop wakes at its own time",
                    strerror (errno));
}

static int setup (fling_worker_t *self)
{
    if (self->class_handlers[FLING_CLASS_POOL]) {
        self->pool = fling_pool_new (self->pool_size, self->hooks, self->hook_count,
                                     fling_flight_run_blocking, NULL, fling_flight_discard);
        if (!self->pool ||
            fling_pool_attach (self->pool, self->loop, fling_flight_on_pool_done, self))
            return -1;
    }
    if (self->class_handlers[FLING_CLASS_LOOP])
        setup_async (self);
    if (fling_overrun_setup (self))
        return -1;
    zmq_pollitem_t stop_item = {NULL, self->stop_fd, ZMQ_POLLIN, 0};
    if (zloop_poller (self->loop, &stop_item, on_stop, self))
        return -1;
    return fling_link_start (self, on_broker, on_heartbeat);
}

/* zloop_start returns 0 when a signal interrupted its poll (the program's
   own SIGTERM handler, say): carry on until the drain says we are done.
   A restart re-arms zloop's timers from now, delaying them once. */
static void run_loop (fling_worker_t *self)
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
            start_drain (self);
            fling_flight_end_turn (self);
            continue;
        }
        fling_error ("event loop failed: %s", zmq_strerror (zmq_errno ()));
        self->rc = -1;
        break;
    }
}

static void teardown (fling_worker_t *self)
{
    fling_flight_flush (self);
    fling_link_close (self, CLOSE_LINGER_MS);
    /* Pool tasks leave our list now: a thread still running one at the
       drain timeout is abandoned and frees its task itself. */
    self->tearing_down = true;
    for (fling_task_t *task = fling_task_of_flight (self->running.head), *next; task; task = next) {
        next = fling_task_of_flight (task->flight_link.next);
        if (task->waiting) {
            fling_flight_untrack (self, task); /* never handed to the pool: ours to free */
            fling_task_destroy (&task);
        } else if (task->cls == FLING_CLASS_POOL)
            fling_flight_untrack (self, task);
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
    if (setup (self)) {
        int err = errno;
        fling_error ("cannot start: %s", fling_strerror (err));
        teardown (self);
        errno = err;
        return -1;
    }
    log_started (self);
    run_loop (self);
    teardown (self);
    fling_info ("stopped done=%" PRIu64 " failed=%" PRIu64 " retried=%" PRIu64 " released=%" PRIu64
                " timed_out=%" PRIu64 " reconnects=%" PRIu64,
                self->stats.done, self->stats.failed, self->stats.retried, self->stats.released,
                self->stats.timed_out, self->stats.reconnects);
    return self->rc;
}
