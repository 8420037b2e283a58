/*  fling_worker.h - run fling task handlers.

    A worker connects to the broker's worker endpoint, registers the task
    names it has handlers for, and runs each task it is given:

    - async handlers run on the worker's event loop (czmq zloop) on the
      thread that called fling_worker_run(). They must not block. They
      finish now or later (after a zloop timer or reader they add) by
      calling fling_task_complete().
    - blocking handlers run on a pool of threads. They may sleep, do file or
      network I/O, burn CPU; their return value is the outcome. Thread hooks
      (fling_worker_add_thread_hooks) run once on each pool thread at start
      and at exit, so each thread can own its own clients.

    The worker tells the broker how many tasks of each kind it can take:
    its slots (pool size, async limit) times (1 + prefetch); the broker
    never sends more. Prefetch (default 1: one task waiting per slot) hides
    the round trip through the broker: when a task ends, the next one of
    its kind starts at once from the worker's own backlog, in arrival
    order. Its cost: a task may wait at a busy worker while another worker
    is idle (the broker sends each task to the worker with the most free
    credit, so this happens only when there are fewer tasks than total
    credit), and a worker that crashes takes its waiting tasks down with
    it (they count a crash, SPEC.md §6.4). Set prefetch to 0 for long
    tasks, or where one task must never wait behind another. Heartbeats
    come from the event loop, so a long blocking task keeps its lease
    while the worker lives.

    Deadlines: a task may carry a time limit (the broker puts the task's
    or its queue's timeout in each dispatched record; 0 = none). It counts
    from the moment the task starts (is handed to its handler). A task
    that waits in the backlog longer than its time limit without finding
    a free slot never starts: it goes back to the broker unrun (RELEASED,
    the attempt does not count) to run elsewhere. A task still running at
    its deadline is reported to the broker as TIMEOUT at once (the broker
    may then run it again, elsewhere) and a WARN line is logged
    ("task overran its deadline id=.. name=.. timeout_ms=.. class=..").
    The handler is not interrupted; what happens next:
    - async handler: the task is marked timed out. A later
      fling_task_complete() on it is accepted silently: it frees the task
      and sends nothing. Until then the task stays valid.
    - blocking handler still waiting for a pool thread: it never runs.
    - blocking handler running: its pool thread is stuck in the handler and
      is never killed (no thread can be cancelled safely). The worker
      detaches that thread from the pool and starts a replacement thread
      (the start hooks run on it, with a new thread index, pool_size or
      above), so the pool keeps its capacity. The handler may go on using
      its task and fling_thread_state() until it returns; then its outcome
      is discarded, the stop hooks run on that thread and it exits. At most
      pool_size threads are replaced this way: each stuck thread beyond
      that lowers the pool capacity announced to the broker (CAPACITY) by
      one instead, with a WARN line, so a flood of hanging tasks cannot
      create threads without bound (at most 2 x pool_size threads exist).
      Capacity comes back as stuck handlers return. A stuck thread still
      inside its handler at fling_worker_destroy() is left to finish
      alone, without its stop hooks (their arguments may be gone by then).
    Tasks reported TIMEOUT do not hold up a drain.

    Threads: every function here is for the loop thread only, except
    fling_worker_request_stop() (any thread, async-signal-safe) and the
    fling_task_* accessors inside a blocking handler (its own task only).
*/
#ifndef FLING_WORKER_H_INCLUDED
#define FLING_WORKER_H_INCLUDED

#include <czmq.h>
#include <stddef.h>

#include "fling_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fling_worker fling_worker_t;
typedef struct fling_task fling_task_t;

/*  A handler's outcome. */
typedef enum {
    FLING_OK = 0,    /* done: the broker forgets the task */
    FLING_RETRY = 1, /* run it again later, with backoff */
    FLING_FAIL = 2   /* failed: retried while attempts remain, then dead-lettered */
} fling_status_t;

typedef fling_status_t (fling_blocking_fn) (fling_task_t *task, void *arg);
typedef void (fling_async_fn) (fling_task_t *task, void *arg);

/*  Pool thread hooks. start returns the thread's state (any pointer,
    readable there with fling_thread_state); stop receives it back. */
typedef void *(fling_thread_start_fn)(unsigned thread_index, void *arg);
typedef void (fling_thread_stop_fn) (unsigned thread_index, void *state, void *arg);

typedef struct {
    const char *endpoint;      /* default $FLING_WORKER_ENDPOINT or tcp://127.0.0.1:5556 */
    const char *name;          /* for logs and stats, at most 127 bytes (longer:
                                  fling_worker_new fails, EINVAL); default "HOSTNAME-PID" */
    unsigned pool_size;        /* blocking threads; default: number of cores */
    unsigned async_limit;      /* async tasks at once; default 1000. With async
                                  handlers, fling_worker_run maps 512 bytes per
                                  task it may hold (async_limit x (1 + prefetch),
                                  at most 64 MB), faulted in, for their blocks */
    unsigned prefetch;         /* tasks held per slot beyond the running ones;
                                  fling_worker_options_init sets 1; 0 = none */
    unsigned heartbeat_ms;     /* default 1000 */
    unsigned drain_timeout_ms; /* on stop: wait this long for tasks in flight; default 30000 */
    /* CurveZMQ (SECURITY.md): both set = CURVE on; "" = off even if the
       environment says otherwise. Read once, by fling_worker_new. */
    const char *curve_broker_key; /* the broker's .pub file or its Z85 public key;
                                     default $FLING_CURVE_BROKER_KEY */
    const char *curve_key;        /* this worker's NAME.secret file (private: mode
                                     0600); default $FLING_CURVE_KEY */
} fling_worker_options_t;

FLING_EXPORT void fling_worker_options_init (fling_worker_options_t *options);

/*  Creates a worker (no connection yet). NULL with errno on failure
    (EINVAL for a missing or unreadable key file, or a secret file others
    may read: fling_last_error() says which). */
FLING_EXPORT fling_worker_t *fling_worker_new (const fling_worker_options_t *options);
FLING_EXPORT void fling_worker_destroy (fling_worker_t **self_p);

/*  Registers a handler for a task name. Before fling_worker_run only.
    Returns 0, or -1 with errno (FLING_EBADNAME, EEXIST). */
FLING_EXPORT int fling_worker_register_blocking (fling_worker_t *self, const char *name,
                                                 fling_blocking_fn *fn, void *arg);
FLING_EXPORT int fling_worker_register_async (fling_worker_t *self, const char *name,
                                              fling_async_fn *fn, void *arg);

/*  Adds a set of pool thread hooks (at most 16 sets, before
    fling_worker_run). Each pool thread calls every start hook once before
    its first task, and every stop hook once as it exits. Thread indexes
    are 0..pool_size-1, then higher numbers for threads that replace stuck
    ones (see Deadlines); an index is never reused. Returns the set's
    slot (>= 0) for fling_thread_state(), or -1 with errno. */
FLING_EXPORT int fling_worker_add_thread_hooks (fling_worker_t *self, fling_thread_start_fn *start,
                                                fling_thread_stop_fn *stop, void *arg);

/*  On a pool thread: the state that hook set `slot` returned on this
    thread. NULL elsewhere. */
FLING_EXPORT void *fling_thread_state (int slot);

/*  The event loop, for async handlers' timers and readers. */
FLING_EXPORT zloop_t *fling_worker_loop (fling_worker_t *self);

/*  Starts the pool, connects and runs tasks until a stop is requested, then
    drains: takes no new tasks, waits up to drain_timeout_ms for the tasks
    in flight, hands back to the broker what it never started. Returns 0
    after a clean drain, -1 if tasks were still running at the timeout. */
FLING_EXPORT int fling_worker_run (fling_worker_t *self);

/*  Asks fling_worker_run to drain and return. Async-signal-safe, any thread. */
FLING_EXPORT void fling_worker_request_stop (fling_worker_t *self);

/*  Task accessors. Valid until the task completes. */
FLING_EXPORT const char *fling_task_name (const fling_task_t *task);
FLING_EXPORT const char *fling_task_payload (const fling_task_t *task); /* NUL-terminated JSON */
FLING_EXPORT size_t fling_task_payload_size (const fling_task_t *task);
FLING_EXPORT const char *fling_task_id (const fling_task_t *task);   /* "0123456789abcdef:42" */
FLING_EXPORT unsigned fling_task_attempt (const fling_task_t *task); /* 1 for the first run */
FLING_EXPORT fling_worker_t *fling_task_worker (const fling_task_t *task);

/*  Attaches an error text to the task's outcome (logged, and kept by the
    broker with a failed task). printf-style. */
FLING_EXPORT void fling_task_set_error (fling_task_t *task, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

/*  Finishes an async task. On the loop thread only, exactly once per async
    task; the task is freed by this call. */
FLING_EXPORT void fling_task_complete (fling_task_t *task, fling_status_t status);

/*  The library's log: one line on stderr for each event worth a look (the
    broker lost, a task failed or overran its deadline), e.g.
    "2026-12-07T13:20:35.123Z worker WARN task FAIL name=.. id=..". Sets, for
    the whole process: the name in each line (`component`, cut to 31 bytes;
    "fling" until set), the lowest level written (`level`: "debug", "info",
    "warn" or "error"; "info" until set) and the format (`format`: "text",
    "logfmt" (key=value pairs) or "json" (one object a line); "text" until
    set). NULL leaves one as it is. Call it before fling_worker_new, not
    while a worker runs. Returns 0, or -1 with errno EINVAL for an unknown
    level or format (fling_last_error() says which), changing nothing.
    fling-worker sets it from its --log-level and --log-format. */
FLING_EXPORT int fling_log_configure (const char *component, const char *level, const char *format);

/*  A handler module (a shared object loaded by fling-worker --module)
    exports this function. `args` is the text after ':' in
    "--module path.so:args", or "" if none. Return 0, or -1 to abort start. */
#define FLING_MODULE_INIT_SYMBOL "fling_module_init"
typedef int (fling_module_init_fn) (fling_worker_t *worker, const char *args);

#ifdef __cplusplus
}
#endif

#endif
