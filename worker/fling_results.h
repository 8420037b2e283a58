/*  fling_results.h - the worker's pending RESULT batch.

    Outcomes are appended as result records (SPEC.md §3.2) and leave as one
    RESULT message per turn of the event loop, or as soon as a batch holds
    FLING_BATCH_TASKS_MAX results: batching is what makes a worker fast.

    A batch's buffer goes to libzmq as the RESULT's body, not copied
    (fling_msg_send_result), and comes back from libzmq's I/O thread when
    sent, to be filled again. Buffers are mapped, not malloc'd: a malloc
    that large makes glibc consolidate every small free chunk the loop
    thread's heap holds (its handlers' zloop timers). A buffer holds a full
    batch of results without error text; error texts can make it grow.
    Buffers still inside libzmq when the batch is destroyed are freed as
    they come back.
*/
#ifndef FLING_RESULTS_H_INCLUDED
#define FLING_RESULTS_H_INCLUDED

#include <czmq.h>
#include <stddef.h>

#include "fling_proto.h"

typedef struct fling_results fling_results_t;

/*  NULL + ENOMEM. */
fling_results_t *fling_results_new (void);
void fling_results_destroy (fling_results_t **self_p);

/*  Appends one result (error text clipped to FLING_ERROR_TEXT_MAX).
    0, or -1 with errno ENOMEM. */
int fling_results_add (fling_results_t *self, const fling_result_t *result);

size_t fling_results_count (fling_results_t *self);

/*  The pending results' records (fling_results_size bytes), for a copy
    kept until the broker acknowledges them (fling_unacked.h). */
const uint8_t *fling_results_data (fling_results_t *self);
size_t fling_results_size (fling_results_t *self);

/*  Sends every pending result as RESULT number `result_seq` on `socket` (a
    libzmq DEALER; NULL: not now) and empties the batch, sent or not. 0, or
    -1 with errno when the message could not go (ENOTCONN for NULL). Never
    blocks. */
int fling_results_send (fling_results_t *self, void *socket, uint64_t result_seq);

/*  Buffers lent to libzmq and not yet back, and spare ones held (tests). */
size_t fling_results_lent (fling_results_t *self);
size_t fling_results_spares (fling_results_t *self);

#endif
