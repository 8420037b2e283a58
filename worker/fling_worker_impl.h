/*  fling_worker_impl.h - the worker's state, shared by its source files
    (internal). Each module declares its functions in its own header;
    calls go one way, from the top down:

    fling_worker.c:   the public API, the event loop's callbacks, run and
                      the drain.
    fling_overrun.c:  what a deadline does: RELEASED, TIMEOUT, stuck pool
                      threads and the pool capacity announced again.
    fling_flight.c:   the tasks in our hands: intake, slots, backlog, the
                      RESULT batch, the end of a loop turn.
    fling_link.c:     the broker connection: socket, READY, HOLDING,
                      heartbeats, reconnects; returns DISPATCHes to the loop.
    fling_capacity.c: slots and capacity per class.
    fling_task.c:     one task (it does not read this struct).
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

struct fling_worker {
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

    /* deadlines (armed by fling_flight.c, handled by fling_overrun.c) */
    fling_deadlines_t *deadlines;
    zloop_timer_fn *on_deadline; /* the deadline timer's callback (fling_overrun.c) */
    int deadline_timer;          /* zloop timer id, -1 when none is armed */
    int64_t deadline_armed_ms;   /* when that timer fires */
    uint32_t announced_pool;     /* pool capacity the broker was last told */
    bool started;                /* fling_worker_run was called */
    bool in_callback;            /* one of our loop callbacks is on the stack */
    bool flush_armed;            /* the 0 ms flush timer is pending */
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

    /* broker link (fling_link.c); the loop's callbacks for it (fling_worker.c) */
    zsock_t *sock;
    zloop_reader_fn *on_broker;
    zloop_timer_fn *on_heartbeat;
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

#endif
