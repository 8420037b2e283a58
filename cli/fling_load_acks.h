/*  fling_load_acks.h - fling-load's record of the producer's verdicts:
    counts of accepted, rejected and dropped tasks, and the ledger file
    the multi-process tests judge (one line a task: "accepted ID",
    "rejected ID REASON", "dropped ID").

    fling_load_acks_on_ack is the producer's ack callback (its I/O
    thread); the other functions are for fling-load's main thread.
*/
#ifndef FLING_LOAD_ACKS_H_INCLUDED
#define FLING_LOAD_ACKS_H_INCLUDED

#include <stdint.h>

#include "fling_producer.h"

typedef struct fling_load_acks fling_load_acks_t;

/*  Counts verdicts and, if `ledger_path` is not NULL, writes them there.
    NULL (the reason said on stderr) if the ledger cannot be opened. */
fling_load_acks_t *fling_load_acks_new (const char *ledger_path);
/*  Closes the ledger. -1 (said on stderr) if writing it failed. */
int fling_load_acks_destroy (fling_load_acks_t **self_p);
/*  The producer's ack_fn; `arg` is the fling_load_acks_t. */
void fling_load_acks_on_ack (const char *task_id, fling_ack_t ack, int err, void *arg);
/*  Pushes what the ledger holds to the file, so a reader sees it while
    fling-load runs. */
void fling_load_acks_flush (fling_load_acks_t *self);
uint64_t fling_load_acks_accepted (fling_load_acks_t *self);
uint64_t fling_load_acks_rejected (fling_load_acks_t *self);
uint64_t fling_load_acks_dropped (fling_load_acks_t *self);

#endif
