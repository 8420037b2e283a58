/*  fling_results.h - the worker's pending RESULT batch.

    Outcomes are appended as result records (SPEC.md §4.2) and leave as one
    RESULT message per turn of the event loop, or as soon as a batch holds
    FLING_BATCH_TASKS_MAX results: batching is what makes a worker fast.
*/
#ifndef FLING_RESULTS_H_INCLUDED
#define FLING_RESULTS_H_INCLUDED

#include <czmq.h>
#include <stddef.h>

#include "fling_proto.h"

typedef struct _fling_results_t fling_results_t;

fling_results_t *fling_results_new (void);
void fling_results_destroy (fling_results_t **self_p);

/*  Appends one result (error text clipped to FLING_ERROR_TEXT_MAX).
    0, or -1 with errno ENOMEM. */
int fling_results_add (fling_results_t *self, const fling_result_t *result);

size_t fling_results_count (fling_results_t *self);

/*  Returns a RESULT message holding every pending result and empties the
    batch; NULL if it was empty or out of memory (the batch is emptied
    either way). */
zmsg_t *fling_results_take (fling_results_t *self);

#endif
