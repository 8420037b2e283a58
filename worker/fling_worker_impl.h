/*  fling_worker_impl.h - the worker's state, shared by its source files
    (internal).

    fling_worker.c: the public API, run and the drain.
    fling_flight.c: the tasks in our hands: intake, slots, backlog, results.
    fling_link.c:   the broker connection: socket, READY, HOLDING,
                    heartbeats, reconnects, incoming messages.
    fling_overrun.c: task deadlines, TIMEOUT, stuck pool threads and the
                    pool capacity announced to the broker.
    Everything here runs on the loop thread.
*/
#ifndef FLING_WORKER_IMPL_H_INCLUDED
#define FLING_WORKER_IMPL_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "fling_alarm.h"
#include "fling_backlog.h"
#include "fling_blockpool.h"
#include "fling_deadlines.h"
#include "fling_histogram.h"
#include "fling_pool.h"
#include "fling_proto.h"
#include "fling_results.h"
#include "fling_curve.h"
#include "fling_task.h"
#include "fling_unacked.h"
#include "fling_worker.h"
#include "fling_worker_host.h"

typedef struct fling_handler {
    char name[FLING_NAME_MAX + 1];
    size_t name_size;
    fling_class_t cls;
    fling_blocking_fn *blocking;
    fling_async_fn *async;
    void *arg;
} fling_handler_t;

struct _fling_worker_t {
    /* configuration, fixed once fling_worker_run starts */
    char *endpoint;
    zcert_t *curve_cert;                     /* CURVE: our key pair; NULL = off */
    char curve_broker[FLING_CURVE_KEY_TEXT]; /* CURVE: the broker's public key */
    char *name;
    unsigned pool_size;
    unsigned async_limit;
    unsigned prefetch;     /* tasks held per slot beyond those running */
    unsigned heartbeat_ms; /* ours; the one followed is heartbeat_now_ms */
    unsigned drain_timeout_ms;
    zhashx_t *handlers;            /* name -> fling_handler_t */
    fling_handler_t *last_handler; /* the last one a task asked for */
    fling_handler_t *handler_list[FLING_NAMES_MAX];
    size_t handler_count;
    size_t class_handlers[FLING_CLASS_COUNT];
    fling_pool_hooks_t hooks[FLING_POOL_HOOKS_MAX];
    size_t hook_count;

    /* running state */
    zloop_t *loop;
    fling_pool_t *pool;
    int stop_fd;              /* eventfd: fling_worker_request_stop writes it */
    fling_results_t *results; /* outcomes waiting for the next RESULT */
    fling_unacked_t *unacked; /* RESULTs sent, not acknowledged yet */
    uint64_t result_seq;      /* of the last RESULT made */
    fling_blockpool_t
        *task_blocks; /* freed blocking-task blocks (fling_task.c), loop thread only */
    fling_blockpool_t *loop_blocks; /* async tasks' slabs (fling_task.c), loop thread only */
    fling_alarm_t *alarm;           /* wakes the loop when refill marks are due; async workers */
    fling_dlist_t running;          /* tasks in our hands, started or not; newest first */
    size_t running_count[FLING_CLASS_COUNT];
    fling_backlog_t backlog[FLING_CLASS_COUNT]; /* received, not started */
    size_t started_count[FLING_CLASS_COUNT];    /* handed to their handlers */
    fling_dlist_t overdue; /* async tasks past their deadline, not completed yet */

    /* deadlines (fling_overrun.c) */
    fling_deadlines_t *deadlines;
    int deadline_timer;        /* zloop timer id, -1 when none is armed */
    int64_t deadline_armed_ms; /* when that timer fires */
    uint32_t announced_pool;   /* pool capacity the broker was last told */
    bool started;              /* fling_worker_run was called */
    bool in_callback;          /* one of our loop callbacks is on the stack */
    bool flush_armed;          /* the 0 ms flush timer is pending */
    /* Refill marks (fling_flight.c): how long async tasks take, from
       start to fling_task_complete, in 1/16 ms (a moving average of one
       completion in REFILL_SAMPLE_EVERY); async starts since the last mark. */
    unsigned async_ms_x16;
    unsigned async_unsampled;
    unsigned starts_unmarked;
    bool draining;
    bool finished; /* BYE sent: the loop must end */
    bool tearing_down;
    int rc; /* what fling_worker_run returns */

    /* broker link (fling_link.c) */
    zsock_t *sock;
    bool registered; /* WELCOME seen since the last READY */
    bool ever_registered;
    bool reconnect_pending;    /* reconnect at the next heartbeat */
    bool resend_pending;       /* a RESULT could not be sent: send the unacked again */
    unsigned heartbeat_now_ms; /* ours, or the broker's (WELCOME) if shorter */
    int heartbeat_timer;       /* zloop timer id, -1 when none */
    int64_t last_recv_ms;
    int64_t last_send_ms;
    int64_t last_connect_ms;
    unsigned failed_connects; /* reconnects since the broker last answered */
    fling_worker_event_fn *on_registered;
    void *on_registered_arg;

    /* log rate limit for task failures */
    int64_t warn_window_ms;
    unsigned warn_count;
    uint64_t warn_suppressed;

    fling_worker_stats_t stats;
    /* Run times per class (fling_worker_metrics): every blocking task,
       timed on its pool thread; one async task in REFILL_SAMPLE_EVERY,
       from its start to fling_task_complete, in whole ms (a clock read per
       async task costs an async worker 5%). */
    fling_histogram_t run_time[FLING_CLASS_COUNT];
};

/*  fling_link.c */
/*  Arms the heartbeat timer (fling_worker_run) and opens the socket. */
int fling_link_start (fling_worker_t *self);
int fling_link_connect (fling_worker_t *self);
void fling_link_close (fling_worker_t *self, int linger_ms);
void fling_link_send (fling_worker_t *self, zmsg_t *msg);
/*  Sends the pending results as one RESULT (fling_results_send). */
void fling_link_send_results (fling_worker_t *self);

/*  fling_flight.c: the tasks in our hands, for the other files */
void fling_worker_accept (fling_worker_t *self, const fling_record_t *record);
int fling_worker_after_callback (fling_worker_t *self);
/*  Appends a result to the pending RESULT batch and counts it. */
void fling_worker_add_result (fling_worker_t *self, const fling_result_t *result);
/*  Takes a task off the in-flight list (and its deadline off the heap). */
void fling_worker_untrack (fling_worker_t *self, fling_task_t *task);
/*  Hands a task that waited in the backlog past its deadline back to the
    broker unrun (RELEASED: the attempt does not count) and frees it. */
void fling_worker_release_waiting (fling_worker_t *self, fling_task_t *task);
/*  What to announce per class: slots (tasks run at once) and capacity
    (slots plus the prefetch). */
void fling_worker_capacity (fling_worker_t *self, uint32_t capacity[FLING_CLASS_COUNT],
                            uint32_t slots[FLING_CLASS_COUNT]);
/*  Puts a timed-out async task on the overdue list until it completes. */
void fling_worker_keep_overdue (fling_worker_t *self, fling_task_t *task);
/*  Tasks in our hands (started or waiting). */
size_t fling_worker_running (fling_worker_t *self);
/*  Sends the pending RESULT batch, if any. */
void fling_worker_flush (fling_worker_t *self);
/*  A task leaves the worker: untracked, its outcome recorded, freed. */
void fling_worker_finish (fling_worker_t *self, fling_task_t *task, fling_outcome_t outcome);
/*  The pool's job function, completion callback (loop thread) and discard
    function for jobs it never ran (fling_pool.h). */
void fling_worker_run_blocking (void *job, void *arg);
void fling_worker_on_pool_done (void *job, void *arg);
void fling_worker_discard (void *job);

/*  fling_overrun.c */
int fling_overrun_setup (fling_worker_t *self);
/*  Re-arms the deadline timer after a task with a deadline was added. */
void fling_overrun_arm (fling_worker_t *self);
/*  Pool capacity to announce: pool size less the stuck threads above the
    cap (0 without blocking handlers). */
uint32_t fling_overrun_pool_capacity (fling_worker_t *self);
/*  Sends CAPACITY if the pool capacity changed since last announced. */
void fling_overrun_announce (fling_worker_t *self);

#endif
