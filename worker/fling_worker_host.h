/*  fling_worker_host.h - extras for programs that host a worker (internal).

    Not installed: the fling-worker program and the tests use these to learn
    when the worker is registered and what it has done. libfling exports
    them (FLING_EXPORT) for its own host program, but they are not part of
    the API: they may change without notice. Loop thread only.
*/
#ifndef FLING_WORKER_HOST_H_INCLUDED
#define FLING_WORKER_HOST_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "fling_histogram.h"
#include "fling_proto.h"
#include "fling_worker.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Called on the loop thread each time the broker accepts a READY
    (WELCOME): at start and after a reconnect. */
typedef void (fling_worker_event_fn) (fling_worker_t *worker, void *arg);
FLING_EXPORT void fling_worker_on_registered (fling_worker_t *self, fling_worker_event_fn *fn,
                                              void *arg);

typedef struct {
    uint64_t done;              /* outcome DONE */
    uint64_t failed;            /* outcome FAIL, "no handler" included */
    uint64_t retried;           /* outcome RETRY */
    uint64_t released;          /* handed back unstarted (RELEASED) */
    uint64_t dispatched;        /* tasks received */
    uint64_t reconnects;        /* sockets replaced after a silence or UNKNOWN_PEER */
    uint64_t bad_messages;      /* messages from the broker that did not decode */
    uint64_t send_failures;     /* messages dropped because the socket would block */
    uint64_t timed_out;         /* outcome TIMEOUT: overran the deadline */
    uint64_t holding_sent;      /* leases named in HOLDING after re-registering */
    uint64_t results_resent;    /* results sent again after re-registering */
    uint64_t results_forgotten; /* results dropped unacknowledged (no room to keep them) */
    uint64_t results_unacked;   /* results sent and not acknowledged now */
    uint64_t running;           /* tasks in our hands now: started or waiting */
    uint64_t waiting;           /* of those, received but not started (prefetched) */
    uint64_t stuck_threads;     /* pool threads detached, still inside an overrun handler */
} fling_worker_stats_t;

FLING_EXPORT void fling_worker_stats (fling_worker_t *self, fling_worker_stats_t *stats);

/*  Per class (loop, pool), for the host's metrics. */
typedef struct {
    uint32_t capacity;          /* tasks announced to the broker (slots + prefetch) */
    uint32_t slots;             /* tasks run at once */
    uint64_t inflight;          /* in our hands: started or waiting */
    uint64_t waiting;           /* received, not started */
    fling_histogram_t run_time; /* pool: every task; loop: one in 64, whole ms */
} fling_worker_class_metrics_t;

typedef struct {
    bool registered; /* the broker confirmed our READY and we heard it since */
    fling_worker_class_metrics_t classes[FLING_CLASS_COUNT];
} fling_worker_metrics_t;

FLING_EXPORT void fling_worker_metrics (fling_worker_t *self, fling_worker_metrics_t *metrics);

#ifdef __cplusplus
}
#endif

#endif
