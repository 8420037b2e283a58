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

#include "fling_blockpool.h"
#include "fling_bucket.h"
#include "fling_dlist.h"
#include "fling_proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLING_PRIORITY_LEVELS (FLING_PRIORITY_MAX + 1)

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fling_queue fling_queue_t;
typedef struct fling_bworker fling_bworker_t; /* defined by the worker table */
typedef struct fling_btask fling_btask_t;
typedef struct fling_group fling_group_t; /* suspects tried together (fling_suspects.h) */

/*  Where a held task is. */
typedef enum {
    FLING_TASK_QUEUED = 0, /* on its queue's waiting list */
    FLING_TASK_LEASED,     /* on its owner's lease list */
    FLING_TASK_DELAYED,    /* in the broker's delay heap (due time or backoff) */
    FLING_TASK_PARKED,     /* recovered in flight: waits for HOLDING a while */
    FLING_TASK_DEAD,       /* on its queue's dead-letter list */
    FLING_TASK_SUSPECT     /* in a suspect group, waiting for a trial (fling_suspects.h) */
} fling_task_state_t;

/*  flags: bits 0-2 state, bit 3 class, and: */
#define FLING_BTASK_STATE_MASK 0x07u
#define FLING_BTASK_POOL       0x08u /* leased in class pool (else loop) */
#define FLING_BTASK_ORPHANED   0x10u /* its worker was declared dead under this attempt */
#define FLING_BTASK_FENCED     0x20u /* this attempt expired: HOLDING may not claim it */
#define FLING_BTASK_DEADLINE   0x40u /* leased with a deadline (`due`) */
/*  It was running on a worker that died, together with other tasks, and
    has not ended a run since: if a worker dies under it again, it is tried
    apart (a suspect). The only flag a lease keeps. */
#define FLING_BTASK_SUSPECT 0x80u

/*  A dead task's last error (owned by the task while it is dead). */
typedef struct {
    uint8_t reason; /* fling_dead_reason_t */
    uint16_t error_size;
    char error[];
} fling_dead_t;

/*  A task the broker holds: 48 bytes of header on LP64, then the record.
    What the record already says (the id, max_attempts...) is read back
    from it through the codec rather than copied here: at millions of
    tasks every header byte counts, and a second per-task index would cost
    more than the whole header. */
struct fling_btask {
    fling_dlink_t link;   /* in the queue, lease, parked or dead list; DELAYED: the
                             delay heap's first child (prev) and sibling (next) */
    fling_queue_t *queue; /* the queue of its name; outlives the task */
    union {
        fling_bworker_t *owner; /* LEASED: worker holding the lease */
        fling_dead_t *dead;     /* DEAD: why */
        fling_group_t *group;   /* SUSPECT: the group it waits in */
    };
    uint32_t size : 28;    /* bytes in raw[] (a record fits a frame: < 8 MiB) */
    uint32_t priority : 4; /* its record's (SPEC.md §3.6), copied: its waiting list */
    uint16_t attempt;      /* runs started: 0 before the first dispatch */
    uint8_t crashes;       /* workers that died running it (poison count) */
    uint8_t flags;         /* state, class, FLING_BTASK_* */
    uint32_t segment;      /* store locator of its live record (0 = none) */
    uint32_t due;          /* ms, wrapping: lease deadline, retry time, or (QUEUED)
                              when it entered its queue (priority aging) */
    uint8_t raw[];         /* the record, length prefix included */
};

static inline fling_task_state_t fling_btask_state (const fling_btask_t *task)
{
    return (fling_task_state_t)(task->flags & FLING_BTASK_STATE_MASK);
}

static inline void fling_btask_set_state (fling_btask_t *task, fling_task_state_t state)
{
    task->flags = (uint8_t)((task->flags & ~FLING_BTASK_STATE_MASK) | (unsigned)state);
}

static inline fling_class_t fling_btask_cls (const fling_btask_t *task)
{
    return task->flags & FLING_BTASK_POOL ? FLING_CLASS_POOL : FLING_CLASS_LOOP;
}

/*  Largest record a task holds (the `size` field's bits). */
#define FLING_BTASK_SIZE_MAX ((1u << 28) - 1)

/*  Copies `record` into a new task of `queue` (not linked anywhere yet).
    attempt starts at `attempt` (0 for a new task). If the record's
    timeout_ms is 0, the copy carries `timeout_ms` instead (the name's
    default), written by the codec, so the worker knows its deadline.
    NULL + ENOMEM. */
fling_btask_t *fling_btask_new (const fling_record_t *record, fling_queue_t *queue,
                                uint16_t attempt, uint32_t timeout_ms);

/*  Frees the task and its dead-letter info. */
void fling_btask_destroy (fling_btask_t **self_p);

/*  The task's id, its max_attempts (0 = the broker's default), its
    timeout_ms (the effective one, written in at accept; 0 = none), and its
    whole record view, read back from its record through the codec. */
void fling_btask_id (const fling_btask_t *self, fling_task_id_t *id);
uint16_t fling_btask_max_attempts (const fling_btask_t *self);
uint32_t fling_btask_timeout_ms (const fling_btask_t *self);
void fling_btask_record (const fling_btask_t *self, fling_record_t *record);

/*  Makes the task dead with `reason` and `error` (copied, cut at
    FLING_ERROR_TEXT_MAX). The caller links it to the dead list. -1 +
    ENOMEM (the task is unchanged). */
int fling_btask_kill (fling_btask_t *self, uint8_t reason, const char *error, size_t error_size);

/*  Frees the dead-letter info of a dead task (before it lives again). */
void fling_btask_revive (fling_btask_t *self);

/*  A list of tasks through their links (fling_dlist.h): a task is on at
    most one list at a time. `count` is the list's length. */
typedef fling_dlist_t fling_tasklist_t;

static inline fling_btask_t *fling_tasklist_head (const fling_tasklist_t *list)
{
    return FLING_DLIST_ITEM (list->head, fling_btask_t, link);
}

static inline fling_btask_t *fling_tasklist_tail (const fling_tasklist_t *list)
{
    return FLING_DLIST_ITEM (list->tail, fling_btask_t, link);
}

/*  The task after `task` on its list, or NULL. */
static inline fling_btask_t *fling_tasklist_next (const fling_btask_t *task)
{
    return FLING_DLIST_ITEM (task->link.next, fling_btask_t, link);
}

static inline void fling_tasklist_push_tail (fling_tasklist_t *list, fling_btask_t *task)
{
    fling_dlist_push_tail (list, &task->link);
}

static inline void fling_tasklist_push_head (fling_tasklist_t *list, fling_btask_t *task)
{
    fling_dlist_push_head (list, &task->link);
}

static inline void fling_tasklist_remove (fling_tasklist_t *list, fling_btask_t *task)
{
    fling_dlist_remove (list, &task->link);
}

static inline fling_btask_t *fling_tasklist_pop_head (fling_tasklist_t *list)
{
    return FLING_DLIST_ITEM (fling_dlist_pop_head (list), fling_btask_t, link);
}

/*  Counters a queue keeps (read by the stats reply and the metrics). */
typedef struct {
    uint64_t inflight; /* tasks of this name leased to workers now */
    uint64_t delayed;  /* waiting for a retry time, or parked after recovery */
    uint64_t retrying; /* of `delayed`, waiting for a retry's backoff (on the heap, attempt > 0) */
    uint64_t suspects; /* waiting for a trial (fling_suspects.h) */
    uint64_t done;
    uint64_t failed; /* dead-lettered, any reason */
    uint64_t retried;
    /* for the metrics: accepted + recovered - done - purged = held */
    uint64_t accepted;      /* new tasks acknowledged */
    uint64_t recovered;     /* tasks the store gave back at start */
    uint64_t run_failures;  /* runs whose handler answered FAIL or RETRY */
    uint64_t timed_out;     /* runs that ended TIMEOUT or passed their lease deadline */
    uint64_t crashed;       /* runs ended by the death of their worker */
    uint64_t purged;        /* dead tasks purged */
    uint64_t registrations; /* workers that registered this name, ever */
    uint64_t keys;          /* unique keys held under this name (fling_unique.c) */
} fling_queue_counters_t;

/*  Per-name settings (the broker's defaults, or --queue NAME:...). */
typedef struct {
    uint16_t max_attempts;
    uint32_t backoff_ms;
    uint32_t timeout_ms; /* 0 = no deadline */
    uint8_t poison_limit;
    uint32_t rate; /* rate limit: tokens per rate_period_ms; 0 = none */
    uint32_t rate_period_ms;
    uint32_t burst;
    bool paused;            /* queue_pause: nothing dispatched (fling_pause.c) */
    uint32_t pause_segment; /* store locator of its pause record (0 = none) */
} fling_queue_settings_t;

/*  Creates an empty queue for `name` (name_size bytes, already validated).
    NULL + errno. */
fling_queue_t *fling_queue_new (const char *name, size_t name_size);

/*  Tasks of this queue take their blocks from `pool` and give them back
    to it (default: none, plain malloc and free). Set before the first
    task; the pool must outlive the queue and its tasks. */
void fling_queue_set_pool (fling_queue_t *self, fling_blockpool_t *pool);

/*  Destroys the queue. Tasks still on it (waiting or dead) are freed too. */
void fling_queue_destroy (fling_queue_t **self_p);

const char *fling_queue_name (const fling_queue_t *self);
size_t fling_queue_queued (const fling_queue_t *self);
fling_queue_counters_t *fling_queue_counters (fling_queue_t *self);
fling_queue_settings_t *fling_queue_settings (fling_queue_t *self);

/*  The name's rate limit (fling_bucket.h): rate 0 until set. */
fling_bucket_t *fling_queue_bucket (fling_queue_t *self);

/*  Tasks held for this name: queued, delayed, suspects, in flight and dead. */
size_t fling_queue_held (const fling_queue_t *self);

/*  The dead-letter list (oldest first). The queue frees the tasks still on
    it when destroyed. */
fling_tasklist_t *fling_queue_dead (fling_queue_t *self);

/*  Waiting tasks, one FIFO per priority level (the record's, SPEC.md
    §3.6): new ones and retries at the tail of their level; tasks that
    never ran (released, undeliverable) or whose worker died at the head,
    so they do not wait behind their whole level again. pop and peek take
    the task with the highest effective priority (SPEC.md §6.8):
    fling_queue_effective of its level and the time since it entered its
    queue, oldest first among equals. O(1) when every waiting task is
    priority 0, else O(FLING_PRIORITY_LEVELS). */
void fling_queue_push_tail (fling_queue_t *self, fling_btask_t *task);
void fling_queue_push_head (fling_queue_t *self, fling_btask_t *task);
fling_btask_t *fling_queue_pop (fling_queue_t *self);
fling_btask_t *fling_queue_peek (const fling_queue_t *self);
void fling_queue_remove (fling_queue_t *self, fling_btask_t *task);
/*  Pops the next task when its record's wire size (what a DISPATCH
    carries: fling_record_wire_size) is at most `room`, and sets *wire to
    it; NULL when the queue is empty or the next task does not fit. One
    call per task on the dispatch path. */
fling_btask_t *fling_queue_pop_within (fling_queue_t *self, size_t room, size_t *wire);

/*  Entry times are read from `now_ms` (the broker's turn clock, which
    must outlive the queue; NULL: always 0) and a task's priority grows by
    one each `age_ms` it waits (0: never). Set before the first task. */
void fling_queue_set_aging (fling_queue_t *self, const int64_t *now_ms, uint32_t age_ms);

/*  min(9, priority + floor(waited_ms / age_ms)); `priority` when age_ms
    is 0. */
unsigned fling_queue_effective (unsigned priority, uint32_t waited_ms, uint32_t age_ms);

/*  Waiting tasks of one priority level (0 above FLING_PRIORITY_MAX). */
size_t fling_queue_queued_at (const fling_queue_t *self, unsigned priority);

/*  Workers that registered this name, with the class each runs it in.
    add replaces the class if the worker is already there. -1 + ENOMEM. */
int fling_queue_add_server (fling_queue_t *self, fling_bworker_t *worker, fling_class_t cls);
void fling_queue_remove_server (fling_queue_t *self, fling_bworker_t *worker);
size_t fling_queue_server_count (const fling_queue_t *self);
/*  The class `worker` runs this name in, or -1 if it does not serve it. */
int fling_queue_server_class (const fling_queue_t *self, const fling_bworker_t *worker);
fling_bworker_t *fling_queue_server (const fling_queue_t *self, size_t index, fling_class_t *cls);

#ifdef __cplusplus
}
#endif

#endif
