/*  fling_tasks.h - task placement: where each task the broker holds is.

    Taking a task in (hold), queued at the head or tail of its queue
    (requeue, release), delayed on the retry heap (delay, run_failed),
    dead-lettered (kill), finished or forgotten, and what the store is told
    of each change. Handlers of every side (intake, workers, dispatch,
    reaper, admin, recovery) call it; it calls none of them, and never the
    loop: it only marks `dispatch_needed` for the loop to see.
*/
#ifndef FLING_TASKS_H_INCLUDED
#define FLING_TASKS_H_INCLUDED

#include "fling_state.h"

/*  Items of a batch (records of a SUBMIT, results of a RESULT) whose ids
    are prefetched ahead of the one being handled: enough to cover a
    memory access with the work of the items in between. */
#define FLING_TASKS_PREFETCH_AHEAD 8

/*  Starts loading what handling `id` will probe first: its slots in the id
    index and in the duplicate window (fling_idmap_prefetch). */
void fling_tasks_prefetch_id (const fling_broker_t *self, const fling_task_id_t *id);

/*  A task left the broker for good (done or purged): tells the store,
    remembers its id in the duplicate window, then frees it. It must not
    be on any list. */
void fling_tasks_finish (fling_broker_t *self, fling_btask_t *task);

/*  Removes a task from the id index and the byte count and frees it,
    without telling the store. It must not be on any list. */
void fling_tasks_forget (fling_broker_t *self, fling_btask_t *task);

/*  Tells the store a task's attempt / crash / dead / leased state changed
    (rides along with the next commit). */
void fling_tasks_store_state (fling_broker_t *self, const fling_btask_t *task);

/*  Takes a task into the tables (queue tail, id index, byte count) with
    `attempt` runs already made. Not the store: the caller stages it. */
fling_reason_t fling_tasks_hold (fling_broker_t *self, const fling_record_t *record,
                                 fling_queue_t *queue, uint16_t attempt, fling_btask_t **held);

/*  A lease that never started (the worker said RELEASED, or it died with
    the task waiting in its prefetch): the attempt is given back, and the
    task goes to the head of its queue. */
void fling_tasks_release (fling_broker_t *self, fling_btask_t *task);

/*  Places a task that is on no list: QUEUED at the head or tail of its
    queue; DELAYED for `delay_ms` (0 = queued at the tail at once); DEAD
    with a reason and error text (logged, counted, stored). */
void fling_tasks_requeue (fling_broker_t *self, fling_btask_t *task, bool head);
void fling_tasks_delay (fling_broker_t *self, fling_btask_t *task, uint32_t delay_ms);

/*  When a DELAYED task is due: UTC wall-clock ms, never 0 (what the store
    keeps of a retry's wait; proto/SPEC.md §6.8). */
int64_t fling_tasks_due_wall_ms (fling_broker_t *self, const fling_btask_t *task);
/*  Milliseconds from the turn's `now_ms` (the delay heap's clock) until
    the UTC instant `due_wall_ms`; 0 when it has come. Rounded up, so that
    a task held this long never starts before its due time on the wall
    clock (proto/SPEC.md §6.8). */
int64_t fling_tasks_wait_ms (fling_broker_t *self, int64_t due_wall_ms);

/*  Bytes of the due-at extension a task with a due time holds at the end
    of its record (fling_producers.c, proto/SPEC.md §3.6). */
#define FLING_DUE_EXT_SIZE 10

/*  The due time in the task's record (its due-at extension), UTC ms; 0
    when it has none. */
int64_t fling_tasks_record_due_ms (const fling_btask_t *task);

/*  The task's record with a due-at extension of `due_ms` (UTC ms) added,
    in a new buffer of *size bytes that the caller frees: what the store
    keeps of a task held without its due-at (the delay heap has it in
    `due`). NULL + ENOMEM. */
uint8_t *fling_tasks_record_with_due (const fling_btask_t *task, int64_t due_ms, size_t *size);

/*  `record` without its due-at, written at `dest` (`size` bytes) and read
    into `lean`, when the delay heap can hold its due time in the task's
    `due` (due within FLING_DELAY_MAX_MS, less a margin): a new task's and
    a recovered one's (the store's copy keeps the due-at). Returns the due
    time left out (UTC ms), or 0: then `lean` is `record`. At a million
    delayed tasks the 10 bytes cost 16 a task (the next block size). */
int64_t fling_tasks_lean_record (fling_broker_t *self, const fling_record_t *record, uint8_t *dest,
                                 size_t size, fling_record_t *lean);

/*  Between these, tasks delayed (fling_tasks_delay) enter the delay heap
    as a balanced tree, not as children of its root, whom the first pop
    would pair all at once (a million after a recovery: 70-120 ms in one
    turn when the first comes due, bench/delay_heap.c). For recovery only:
    the heap is not complete until fling_tasks_bulk_end. */
void fling_tasks_bulk_begin (fling_broker_t *self);
void fling_tasks_bulk_end (fling_broker_t *self);

/*  A queued task whose record holds a due time still ahead on the wall
    clock goes to the delay heap until then (accepted, or recovered after a
    restart); any other stays where it is. */
void fling_tasks_hold_until_due (fling_broker_t *self, fling_btask_t *task);
void fling_tasks_kill (fling_broker_t *self, fling_btask_t *task, uint8_t reason, const char *error,
                       size_t error_size);

/*  A run ended without success (RETRY, FAIL, TIMEOUT result, or the lease
    deadline passed): retried after a backoff (or `delay_ms` if non-zero)
    while attempts remain, else dead-lettered with `reason`. */
void fling_tasks_run_failed (fling_broker_t *self, fling_btask_t *task, uint8_t reason,
                             uint32_t delay_ms, const char *error, size_t error_size);

/*  Finishes (as done) every task of `queue` that waits: queued, delayed
    for a retry, parked after a restart, or suspect. Returns how many. */
size_t fling_tasks_purge_waiting (fling_broker_t *self, fling_queue_t *queue);

/*  Takes a QUEUED, PARKED, SUSPECT or DEAD task off its list (state
    unchanged). */
void fling_tasks_unlist (fling_broker_t *self, fling_btask_t *task);

/*  The effective settings of a task: its record's value, else its name's. */
unsigned fling_tasks_max_attempts (const fling_btask_t *task);
unsigned fling_tasks_poison_limit (const fling_btask_t *task);

/*  End of turn: due retries go to the tail of their queues; recovered
    in-flight tasks nobody claimed in time (parked) to the head. */
void fling_tasks_promote_due (fling_broker_t *self);
void fling_tasks_release_parked (fling_broker_t *self);

/*  Milliseconds until the earliest retry is due (<= 0: due now), or
    `none_ms` when no task waits for a retry. */
long fling_tasks_next_due_ms (const fling_broker_t *self, int64_t now_ms, long none_ms);

/*  Moves the live records of the store's compaction candidate (if any) to
    the log's head, so the old segment can go. */
void fling_tasks_compact (fling_broker_t *self);

/*  Frees the tasks on the retry heap and the parked list (destroy). */
void fling_tasks_destroy_waiting (fling_broker_t *self);

#endif
