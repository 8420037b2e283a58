/*  fling_queue.h - the broker's tasks and its per-name FIFO queues.

    A held task is ONE allocation: a small header and the raw record bytes
    exactly as they came in the SUBMIT frame (the broker never parses the
    payload; it rewrites only the attempt field before a DISPATCH). The
    header carries a list link so that the same task moves, without any
    allocation, between its queue (waiting) and its worker's lease list (in
    flight). That is why fling_btask_t is visible here rather than opaque:
    an intrusive node must be reachable by the lists that hold it.

    A queue is opaque: the tasks of one name waiting to run, its counters,
    and the workers that registered the name (with the class they run it in).
*/
#ifndef FLING_QUEUE_H_INCLUDED
#define FLING_QUEUE_H_INCLUDED

#include "fling_proto.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fling_queue fling_queue_t;
typedef struct fling_bworker fling_bworker_t; /* defined by the worker table */
typedef struct fling_btask fling_btask_t;

/*  A task the broker holds: 40 bytes of header on LP64, then the record.
    What the record already says (the id, max_attempts) is read back from
    it through the codec rather than copied here: at millions of tasks
    every header byte counts. */
struct fling_btask {
    fling_btask_t *next; /* link in the queue or in the owner's lease list */
    fling_btask_t *prev;
    fling_queue_t *queue;   /* the queue of its name; outlives the task */
    fling_bworker_t *owner; /* worker holding the lease, NULL while queued */
    uint32_t size;          /* bytes in raw[] */
    uint16_t attempt;       /* runs started: 0 before the first dispatch */
    uint8_t cls;            /* fling_class_t it was leased in */
    uint8_t flags;          /* reserved for the durable store */
    uint8_t raw[];          /* the record, length prefix included */
};

/*  Copies `record` into a new task of `queue` (not linked anywhere yet).
    attempt starts at `attempt` (0 for a new task). NULL + ENOMEM. */
fling_btask_t *fling_btask_new (const fling_record_t *record, fling_queue_t *queue,
                                uint16_t attempt);
void fling_btask_destroy (fling_btask_t **self_p);

/*  The task's id, and its max_attempts (0 = the broker's default), read
    back from its record through the codec. */
void fling_btask_id (const fling_btask_t *self, fling_task_id_t *id);
uint16_t fling_btask_max_attempts (const fling_btask_t *self);

/*  A doubly linked list of tasks through their next/prev links. A task is
    on at most one list at a time. */
typedef struct {
    fling_btask_t *head;
    fling_btask_t *tail;
    size_t count;
} fling_tasklist_t;

void fling_tasklist_push_tail (fling_tasklist_t *list, fling_btask_t *task);
void fling_tasklist_push_head (fling_tasklist_t *list, fling_btask_t *task);
void fling_tasklist_remove (fling_tasklist_t *list, fling_btask_t *task);
fling_btask_t *fling_tasklist_pop_head (fling_tasklist_t *list);

/*  Counters a queue keeps (read by the stats reply). */
typedef struct {
    uint64_t inflight; /* tasks of this name leased to workers now */
    uint64_t done;
    uint64_t failed;
    uint64_t retried;
} fling_queue_counters_t;

/*  Creates an empty queue for `name` (name_size bytes, already validated).
    NULL + errno. */
fling_queue_t *fling_queue_new (const char *name, size_t name_size);

/*  Destroys the queue. Tasks still on it are freed too. */
void fling_queue_destroy (fling_queue_t **self_p);

const char *fling_queue_name (const fling_queue_t *self);
size_t fling_queue_queued (const fling_queue_t *self);
fling_queue_counters_t *fling_queue_counters (fling_queue_t *self);

/*  Tasks held for this name: queued plus in flight. */
size_t fling_queue_held (const fling_queue_t *self);

/*  Waiting tasks: new ones and retries at the tail; tasks that never ran
    (released, undeliverable) or whose worker died at the head, so they do
    not wait behind the whole queue again. */
void fling_queue_push_tail (fling_queue_t *self, fling_btask_t *task);
void fling_queue_push_head (fling_queue_t *self, fling_btask_t *task);
fling_btask_t *fling_queue_pop (fling_queue_t *self);
fling_btask_t *fling_queue_peek (const fling_queue_t *self);
void fling_queue_remove (fling_queue_t *self, fling_btask_t *task);

/*  Workers that registered this name, with the class each runs it in.
    add replaces the class if the worker is already there. -1 + ENOMEM. */
int fling_queue_add_server (fling_queue_t *self, fling_bworker_t *worker, fling_class_t cls);
void fling_queue_remove_server (fling_queue_t *self, fling_bworker_t *worker);
size_t fling_queue_server_count (const fling_queue_t *self);
fling_bworker_t *fling_queue_server (const fling_queue_t *self, size_t index, fling_class_t *cls);

#ifdef __cplusplus
}
#endif

#endif
