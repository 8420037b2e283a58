/*  fling_events.h - the broker's task and worker lifecycle events, for
    `fling events` (ADMIN {"op":"events"}, proto/SPEC.md §5.3).

    A ring of the last FLING_EVENTS_MAX events, kept only while someone
    reads them: a reader's request switches recording on for the next
    FLING_EVENTS_LISTEN_MS; when nobody asked for that long, recording
    stops and each lifecycle point costs one comparison (no clock read, no
    copy). Memory is bounded by the ring, allocated at the first request.
    A reader that falls more than the ring behind is told how many events
    it missed; the broker never waits for a reader.

    Broker thread only, like the rest of the broker.
*/
#ifndef FLING_EVENTS_H_INCLUDED
#define FLING_EVENTS_H_INCLUDED

#include "fling_queue.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define FLING_EVENTS_MAX       8192
#define FLING_EVENTS_LISTEN_MS 10000

typedef enum {
    FLING_EVENT_ACCEPTED = 0, /* stored and acknowledged */
    FLING_EVENT_LEASED,       /* dispatched to a worker (or claimed back by it) */
    FLING_EVENT_DONE,
    FLING_EVENT_FAILED,       /* a run ended without success; retried after a backoff */
    FLING_EVENT_DEAD,         /* dead-lettered */
    FLING_EVENT_REQUEUED,     /* back to its queue: released unrun, or its worker died */
    FLING_EVENT_DEAD_RETRIED, /* taken out of the dead-letter queue by an operator */
    FLING_EVENT_PURGED,
    FLING_EVENT_WORKER_JOINED,
    FLING_EVENT_WORKER_LEFT, /* said BYE */
    FLING_EVENT_WORKER_LOST, /* silent or unreachable: declared dead */
    FLING_EVENT_REJECTED,    /* accepted, then its commit failed: refused UNAVAILABLE after all */
    FLING_EVENT_CRASHED,     /* its worker died holding only it: a crash charged (SPEC §6.4) */
    FLING_EVENT_SUSPECTED,   /* its worker died holding it and others: it waits for a trial */
    FLING_EVENT_KINDS
} fling_event_kind_t;

typedef struct fling_events fling_events_t;

fling_events_t *fling_events_new (void);
void fling_events_destroy (fling_events_t **self_p);

/*  True while someone reads events: only then record them. */
static inline bool fling_events_on (const fling_events_t *self, int64_t now_ms);

/*  Records a task event (`worker`: its worker's name, or NULL). */
void fling_events_task (fling_events_t *self, fling_event_kind_t kind, const fling_btask_t *task,
                        const char *worker, int64_t wall_ms);

/*  Records a worker event. */
void fling_events_worker (fling_events_t *self, fling_event_kind_t kind, const char *worker,
                          uint32_t pid, int64_t wall_ms);

/*  {"op":"events","after":SEQ?,"name":NAME?,"limit":N?}: the events after
    SEQ (none before this request when SEQ is absent), of task name NAME
    when given, at most N (default and cap 1000):
    {"events":[...],"next":SEQ,"dropped":N,"unrecorded":bool}: dropped
    counts events overwritten before this reader got them; unrecorded
    says nobody read for FLING_EVENTS_LISTEN_MS before this request, so
    events of that time were not kept. Switches recording on. */
json_t *fling_events_read (fling_events_t *self, json_t *request, int64_t now_ms);

/* ---- inline ---------------------------------------------------------------- */

/* fling_events.c's struct begins with this, so the check inlines. */
struct fling_events_gate {
    int64_t listening_until_ms;
};

static inline bool fling_events_on (const fling_events_t *self, int64_t now_ms)
{
    return self && now_ms < ((const struct fling_events_gate *)self)->listening_until_ms;
}

#endif
