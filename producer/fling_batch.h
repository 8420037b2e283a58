/*  fling_batch.h - one batch of the producer's outbox: a buffer of task
    records that callers append to and the I/O thread sends as one SUBMIT.

    Internal to the outbox (fling_outbox.c, which hands batches out and
    takes them back, and fling_batch.c): its fields are visible here
    because the outbox reads and writes them under its own locks; every
    other file sees only the accessors of fling_outbox.h.
*/
#ifndef FLING_BATCH_H_INCLUDED
#define FLING_BATCH_H_INCLUDED

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fling_outbox.h"

struct fling_batch {
    uint8_t *data;
    size_t size; /* reserved bytes */
    size_t capacity;
    uint32_t count;           /* reserved records */
    _Atomic uint32_t written; /* records in place; == count once settled */
    uint64_t first_seq;       /* sequence of the first task; the others are higher */
    int64_t opened_us;        /* when the first task went in */
    fling_batch_t *next;
    bool extended;             /* its tasks carry FLP/1.2 extensions (fling_outbox.h) */
    int shard;                 /* sealed: whose it was */
    fling_batch_t *shard_next; /* sealed: that shard's next sealed batch */
};

/*  A new empty batch of `first_capacity` bytes, its pages already faulted
    in (a fresh 64 KiB buffer is 16 page faults: never under a lock). NULL
    when out of memory. */
fling_batch_t *fling_batch_new (size_t first_capacity);
void fling_batch_free (fling_batch_t *batch);
/*  Frees a list linked by `next`. */
void fling_batch_list_free (fling_batch_t *batch);

/*  Room for `more` bytes: 0, or -1 when out of memory. Moves the buffer:
    only for a quiet batch (no writer holds a place in it). */
int fling_batch_reserve (fling_batch_t *batch, size_t more);

/*  No writer holds a place in the batch: its records are all in place and
    its buffer may move. */
bool fling_batch_quiet (fling_batch_t *batch);

/*  Waits until a batch that takes no more reservations (sealed, or taken)
    is quiet. */
void fling_batch_settle (fling_batch_t *batch);

#endif
