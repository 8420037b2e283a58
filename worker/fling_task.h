/*  fling_task.h - a task in the worker's hands (internal).

    One heap block holds the task and a copy of its record, so the name and
    payload handed to a handler point into the copy (the record keeps a zero
    byte after each). Blocks come from the worker's block pools and go back
    to them (common/fling_blockpool.h): an async worker at a million tasks a
    second spent ~17% of its time in glibc's bins otherwise. Async tasks'
    blocks are carved from slabs, away from the zloop timers their handlers
    add (zloop walks all its timers every turn). The public
    accessors live in fling_task.c; this header is for the worker library's
    own modules only.
*/
#ifndef FLING_TASK_H_INCLUDED
#define FLING_TASK_H_INCLUDED

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "fling_blockpool.h"
#include "fling_dlist.h"
#include "fling_proto.h"
#include "fling_worker.h"

struct fling_handler; /* the worker's handler entry (fling_worker.c) */

struct fling_task {
    fling_worker_t *worker;
    fling_blockpool_t *blocks;     /* where its block came from and goes back to */
    struct fling_handler *handler; /* NULL: no handler for the name */
    fling_dlink_t flight_link;     /* on the worker's running or overdue list, loop thread only */
    fling_dlink_t wait_link;       /* in its class's backlog (fling_backlog.c) */
    fling_task_id_t id;
    uint16_t attempt;
    fling_class_t cls;
    fling_status_t status; /* a blocking handler's return, set on its thread */
    char *error;           /* fling_task_set_error text, or NULL */
    size_t error_size;
    const char *name; /* point into record[] */
    const char *payload;
    size_t payload_size;
    int64_t started_ms;  /* when it arrived, then when it was handed to its handler */
    uint64_t run_us;     /* blocking: its handler's run time, set on its pool thread */
    uint32_t timeout_ms; /* from the record; 0 = no deadline */
    /* Waiting in the backlog: arrival + timeout_ms, the latest it may
       start (past it, it is handed back unrun). Started: started_ms +
       timeout_ms (fling_clock_ms). */
    int64_t deadline_ms;
    size_t deadline_slot;        /* fling_deadlines.c: lane + 1, 0 = not in it */
    fling_dlink_t deadline_link; /* in that lane */
    bool waiting;                /* in its class's backlog; else, while in our hands, started */
    bool timed_out;              /* TIMEOUT sent; the task is no longer ours to report */
    /* The id as text, formatted on first use (fling_task_id): most tasks
       never need it. Read it through fling_task_id(), not directly. */
    atomic_uchar id_state; /* FLING_TASK_ID_* in fling_task.c */
    char id_text[FLING_TASK_ID_TEXT_SIZE];
    uint32_t record_size;
    uint8_t record[]; /* the record as received */
};

/*  The task whose flight_link is `link` (NULL for NULL). */
static inline fling_task_t *fling_task_of_flight (fling_dlink_t *link)
{
    return FLING_DLIST_ITEM (link, fling_task_t, flight_link);
}

/*  Copies `record` into a new task of `worker`, class `cls`, run by
    `handler` (NULL: none), in a block taken from `blocks`: for an async
    task the loop's slab pool, for any other a pool of malloc'd blocks
    (an abandoned pool thread may free those on its own, fling_task_free).
    Loop thread only. NULL with errno on failure. */
fling_task_t *fling_task_new (fling_worker_t *worker, fling_blockpool_t *blocks,
                              const fling_record_t *record, struct fling_handler *handler,
                              fling_class_t cls);
/*  Gives the task's block back to its worker's pool. Loop thread only. */
void fling_task_destroy (fling_task_t **self_p);
/*  Frees a blocking task without its worker (any thread, even after the
    worker is destroyed); an async task's block belongs to the worker. */
void fling_task_free (fling_task_t **self_p);

#endif
