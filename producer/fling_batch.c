/*  fling_batch.c - see fling_batch.h. */
#include "fling_batch.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

void fling_batch_free (fling_batch_t *batch)
{
    if (batch) {
        free (batch->data);
        free (batch);
    }
}

void fling_batch_list_free (fling_batch_t *batch)
{
    while (batch) {
        fling_batch_t *next = batch->next;
        fling_batch_free (batch);
        batch = next;
    }
}

/* A new empty batch, its pages already faulted in. Called without the lock. */
fling_batch_t *fling_batch_new (size_t first_capacity)
{
    fling_batch_t *batch = (fling_batch_t *)calloc (1, sizeof *batch);
    if (!batch)
        return NULL;
    batch->capacity = first_capacity;
    batch->data = (uint8_t *)malloc (batch->capacity);
    if (!batch->data) {
        free (batch);
        return NULL;
    }
    memset (batch->data, 0, batch->capacity);
    return batch;
}

int fling_batch_reserve (fling_batch_t *batch, size_t more)
{
    if (batch->size + more <= batch->capacity)
        return 0;
    size_t capacity = batch->capacity * 2;
    if (capacity < batch->size + more)
        capacity = batch->size + more;
    uint8_t *data = (uint8_t *)realloc (batch->data, capacity);
    if (!data)
        return -1;
    batch->data = data;
    batch->capacity = capacity;
    return 0;
}

/* No writer holds a place in the batch: its records are all in place and
   its buffer may move. For the open batch, with the lock held (no
   reservation can start meanwhile). */
bool fling_batch_quiet (fling_batch_t *batch)
{
    return atomic_load_explicit (&batch->written, memory_order_acquire) == batch->count;
}

/* Waits until a batch that takes no more reservations (sealed, or taken)
   is quiet. Writers are a memcpy away from done unless the scheduler
   stopped them: spin briefly, then yield. */
void fling_batch_settle (fling_batch_t *batch)
{
    for (unsigned spins = 0; !fling_batch_quiet (batch); spins++)
        if (spins >= 64)
            sched_yield ();
}

const uint8_t *fling_batch_data (const fling_batch_t *batch)
{
    return batch->data;
}

size_t fling_batch_size (const fling_batch_t *batch)
{
    return batch->size;
}

uint32_t fling_batch_count (const fling_batch_t *batch)
{
    return batch->count;
}

uint64_t fling_batch_first_seq (const fling_batch_t *batch)
{
    return batch->first_seq;
}

bool fling_batch_extended (const fling_batch_t *batch)
{
    return batch->extended;
}
