/*  fling_outbox.h - the bounded outbox between fling_send() callers and
    the producer's I/O thread.

    Callers append task records straight into an open batch (one copy):
    each calling thread has a shard of the outbox with an open batch of its
    own, so threads sending at once do not wait on each other. A batch is
    sealed when it reaches the task or byte limit; the I/O thread takes
    sealed batches, or an open one when it decides not to wait for more,
    and gives each batch back with fling_outbox_resolve() once the
    broker has answered for it. The bounds count every task from append to
    resolve, so a slow or absent broker fills the outbox and the overflow
    policy decides what fling_send() does.

    Waking the I/O thread costs one eventfd write per I/O-thread cycle at
    most, and only when there is new work for it (see fling_outbox.c).
*/
#ifndef FLING_OUTBOX_H_INCLUDED
#define FLING_OUTBOX_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fling_producer.h"
#include "fling_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fling_outbox fling_outbox_t;
typedef struct fling_batch fling_batch_t;

typedef struct {
    size_t max_tasks; /* tasks held, queued + unacknowledged */
    size_t max_bytes; /* record bytes held */
    fling_overflow_t overflow;
    size_t batch_max_tasks; /* 1..FLING_BATCH_TASKS_MAX */
    size_t batch_max_bytes;
    uint64_t producer_id; /* first 8 bytes of every task id */
    uint64_t seq_base;    /* added to each task's sequence in its id (0: ids count from 1) */
} fling_outbox_config_t;

/*  Creates an outbox and its wake-up eventfd. NULL + errno on failure
    (EINVAL for a zero bound). */
fling_outbox_t *fling_outbox_new (const fling_outbox_config_t *config);

/*  Frees the outbox and every batch it still holds. The I/O thread must
    have stopped and given back (resolved) the batches it took. */
void fling_outbox_destroy (fling_outbox_t **self_p);

/*  One task, already validated. */
typedef struct {
    const char *name;
    size_t name_size;
    const char *payload;
    size_t payload_size;
    uint16_t max_attempts;
    uint32_t timeout_ms;
    uint32_t backoff_ms;
    fling_task_ext_t ext; /* FLP/1.2 extensions, valid (fling_task_ext_problem); zero = none */
} fling_outbox_task_t;

/*  Tasks with extensions and tasks without never share a batch: a batch
    with any goes out as an FLP/1.2 SUBMIT, which an older broker refuses
    whole (proto/SPEC.md §2.3), and that must not take plain tasks along. */

/*  Appends a task record to the calling thread's open batch and writes
    its id to *id (may be NULL). Returns 0 when queued; 1 when the outbox
    is full and the policy is DROP (nothing queued, no id); -1 with errno
    EAGAIN when full and the policy is FAIL, FLING_ECLOSED after
    fling_outbox_close(). */
int fling_outbox_append (fling_outbox_t *self, const fling_outbox_task_t *task,
                         fling_task_id_t *id);

/*  Refuses further appends (FLING_ECLOSED). */
void fling_outbox_close (fling_outbox_t *self);

/*  I/O thread: takes the oldest sealed batch. When none is sealed, takes
    an open batch that is not empty and whose first task has waited at
    least `linger_us` (0: take it now; negative: leave them open). Returns
    NULL when there is nothing to take; *due_us (may be NULL) then holds
    the monotonic time in microseconds when the first open batch will be
    due, or -1 if there is none. The caller owns the batch until it resolves
    it. */
fling_batch_t *fling_outbox_take (fling_outbox_t *self, int64_t now_us, int64_t linger_us,
                                  int64_t *due_us);

/*  I/O thread: the broker answered for (or we gave up on) every task of
    the batch. Releases its room in the outbox, frees the batch and wakes
    fling_outbox_flush() callers. `unresolved_min_seq` is the lowest first
    task sequence among the batches the caller still holds (UINT64_MAX
    if none): not necessarily the oldest batch's, since shards seal in any
    order. */
void fling_outbox_resolve (fling_outbox_t *self, fling_batch_t **batch_p,
                           uint64_t unresolved_min_seq);

/*  Waits until every task appended before the call has been resolved.
    Returns 0, or -1 with errno ETIMEDOUT. */
int fling_outbox_flush (fling_outbox_t *self, unsigned timeout_ms);

/*  Tasks held now (queued + taken, not yet resolved). Lock-free read. */
uint64_t fling_outbox_held (fling_outbox_t *self);

/*  Tasks ever appended (appends that returned 0). Lock-free read; exact
    once the appends it should count have returned. */
uint64_t fling_outbox_appended (fling_outbox_t *self);

/*  The eventfd the I/O thread polls for "new work". */
int fling_outbox_wake_fd (fling_outbox_t *self);

/*  I/O thread, after the wake fd polled readable and before looking at
    the outbox: consumes the wake-up and re-arms it. */
void fling_outbox_wake_clear (fling_outbox_t *self);

/*  I/O thread: the batches it has taken and not resolved yet, published
    before each look at the outbox (fling_outbox_take) and after its window
    changed. While it is not 0 the thread will wake for their ACKs (or ACK
    timeouts) anyway, so appends skip the eventfd write. */
void fling_outbox_set_in_flight (fling_outbox_t *self, size_t batches);

/*  Wakes the I/O thread whatever the state (used to stop it). */
void fling_outbox_wake_force (fling_outbox_t *self);

/*  Batch accessors, for the holder of a taken batch. */
const uint8_t *fling_batch_data (const fling_batch_t *batch);
size_t fling_batch_size (const fling_batch_t *batch);
uint32_t fling_batch_count (const fling_batch_t *batch);
uint64_t fling_batch_first_seq (const fling_batch_t *batch);
/*  True when the batch's tasks carry FLP/1.2 extensions (all of them do). */
bool fling_batch_extended (const fling_batch_t *batch);

#ifdef __cplusplus
}
#endif

#endif
