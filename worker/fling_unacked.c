/*  fling_unacked.c - see fling_unacked.h.

    The bodies sit in one mapped ring, each where the last one ended, or at
    the start of the ring when it does not fit before the end; an index of
    (seq, count, offset, size), itself a ring, says where. Live bodies are
    the bytes from the oldest one's offset to the end of the newest one,
    going round at most once.
*/
#include "fling_unacked.h"

#include "fling_pages.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ENTRIES_MAX 4096 /* RESULTs kept at most, whatever their size */

typedef struct {
    uint64_t seq;
    uint32_t count;
    uint32_t size;
    size_t offset;
} entry_t;

struct fling_unacked {
    uint8_t *ring;
    size_t capacity;
    entry_t entries[ENTRIES_MAX]; /* oldest at `first` */
    size_t first;
    size_t used; /* entries */
    size_t results;
};

fling_unacked_t *fling_unacked_new (size_t bytes)
{
    fling_unacked_t *self = (fling_unacked_t *)calloc (1, sizeof *self);
    if (!self) {
        errno = ENOMEM;
        return NULL;
    }
    self->capacity = bytes;
    self->ring = (uint8_t *)fling_pages_map (&self->capacity, false);
    if (!self->ring) {
        free (self);
        errno = ENOMEM;
        return NULL;
    }
    return self;
}

void fling_unacked_destroy (fling_unacked_t **self_p)
{
    fling_unacked_t *self = *self_p;
    if (!self)
        return;
    fling_pages_unmap (self->ring, self->capacity);
    free (self);
    *self_p = NULL;
}

static entry_t *entry_at (fling_unacked_t *self, size_t i)
{
    return &self->entries[(self->first + i) % ENTRIES_MAX];
}

static void drop_oldest (fling_unacked_t *self)
{
    self->results -= self->entries[self->first].count;
    self->first = (self->first + 1) % ENTRIES_MAX;
    self->used--;
}

/* Where a body of `size` bytes can go without touching a live one: 1 and
 *offset, or 0 when it cannot go anywhere now. */
static int place (const fling_unacked_t *self, size_t size, size_t *offset)
{
    if (self->used == 0) {
        *offset = 0;
        return size <= self->capacity;
    }
    const entry_t *oldest = &self->entries[self->first];
    const entry_t *newest = &self->entries[(self->first + self->used - 1) % ENTRIES_MAX];
    size_t start = oldest->offset, end = newest->offset + newest->size;
    if (start < end) {
        /* not gone round: free after `end` to the ring's end, and before `start` */
        if (end + size <= self->capacity) {
            *offset = end;
            return 1;
        }
        *offset = 0;
        return size <= start;
    }
    /* gone round: free between `end` and `start` only */
    *offset = end;
    return end + size <= start;
}

size_t fling_unacked_add (fling_unacked_t *self, uint64_t seq, uint32_t count, const uint8_t *body,
                          size_t size)
{
    size_t forgotten = 0, offset = 0;
    if (size > self->capacity)
        return count;
    while (self->used == ENTRIES_MAX || !place (self, size, &offset)) {
        forgotten += self->entries[self->first].count;
        drop_oldest (self);
    }
    memcpy (self->ring + offset, body, size);
    entry_t *entry = entry_at (self, self->used++);
    *entry = (entry_t){.seq = seq, .count = count, .size = (uint32_t)size, .offset = offset};
    self->results += count;
    return forgotten;
}

void fling_unacked_ack (fling_unacked_t *self, uint64_t seq)
{
    while (self->used && self->entries[self->first].seq <= seq)
        drop_oldest (self);
}

int fling_unacked_each (fling_unacked_t *self, fling_unacked_fn *fn, void *arg)
{
    for (size_t i = 0; i < self->used; i++) {
        const entry_t *entry = entry_at (self, i);
        int rc = fn (entry->seq, entry->count, self->ring + entry->offset, entry->size, arg);
        if (rc)
            return rc;
    }
    return 0;
}

size_t fling_unacked_messages (const fling_unacked_t *self)
{
    return self->used;
}

size_t fling_unacked_results (const fling_unacked_t *self)
{
    return self->results;
}
