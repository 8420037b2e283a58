/*  fling_dedup.c - see fling_dedup.h. */
#include "fling_dedup.h"
#include "fling_idmap.h"

#include <errno.h>
#include <stdlib.h>

/* A full window drops its oldest id at each add: the index slot of the id
   this many adds ahead is prefetched, so its removal finds it in cache. */
#define EVICT_AHEAD 8

typedef struct {
    fling_task_id_t id;
    int64_t at_ms;
} entry_t;

struct fling_dedup {
    entry_t *ring; /* calloc'd once: pages are touched only as it fills */
    size_t max, head, count;
    int64_t window_ms;
    fling_idmap_t *index; /* id -> entry in ring */
};

static void entry_key (const void *value, fling_task_id_t *id)
{
    *id = ((const entry_t *)value)->id;
}

fling_dedup_t *fling_dedup_new (size_t max_ids, int64_t window_ms)
{
    fling_dedup_t *self = (fling_dedup_t *)calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->window_ms = window_ms > 0 ? window_ms : 0;
    self->max = self->window_ms ? max_ids : 0;
    if (self->max) {
        self->ring = (entry_t *)calloc (self->max, sizeof *self->ring);
        self->index = fling_idmap_new (entry_key, NULL);
        if (!self->ring || !self->index) {
            fling_dedup_destroy (&self);
            errno = ENOMEM;
            return NULL;
        }
    }
    return self;
}

void fling_dedup_destroy (fling_dedup_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_dedup_t *self = *self_p;
    fling_idmap_destroy (&self->index);
    free (self->ring);
    free (self);
    *self_p = NULL;
}

/* The lookup leaves its slot to the remove: one probe. */
static void drop_oldest (fling_dedup_t *self)
{
    entry_t *oldest = &self->ring[self->head];
    if (fling_idmap_lookup (self->index, &oldest->id) == oldest)
        fling_idmap_remove (self->index, &oldest->id);
    self->head = (self->head + 1) % self->max;
    self->count--;
}

/* Undoes drop_oldest when the id that would have replaced it was in the
   window already (rare: a DONE replayed twice, or a task accepted again
   after its entry went stale but before it expired). */
static void undrop_oldest (fling_dedup_t *self, const entry_t *evicted)
{
    self->head = (self->head + self->max - 1) % self->max;
    entry_t *oldest = &self->ring[self->head];
    *oldest = *evicted;
    if (fling_idmap_insert (self->index, &oldest->id, oldest) == 0)
        self->count++;
}

void fling_dedup_expire (fling_dedup_t *self, int64_t now_ms)
{
    while (self->count && now_ms - self->ring[self->head].at_ms >= self->window_ms)
        drop_oldest (self);
}

/* No lookup first: the insert reports an id already present (EEXIST) and
   leaves the map unchanged. When the ring is full, the oldest entry is
   dropped first (its ring slot is the one the new id takes) and put back
   if the new id was a duplicate, so the window is as if nothing happened. */
void fling_dedup_add (fling_dedup_t *self, const fling_task_id_t *id, int64_t at_ms, int64_t now_ms)
{
    if (!self->max || now_ms - at_ms >= self->window_ms)
        return;
    bool full = self->count == self->max;
    entry_t evicted = {.at_ms = 0};
    if (full && self->max > EVICT_AHEAD)
        fling_idmap_prefetch (self->index, &self->ring[(self->head + EVICT_AHEAD) % self->max].id);
    if (full) {
        evicted = self->ring[self->head];
        drop_oldest (self);
    }
    entry_t *entry = &self->ring[(self->head + self->count) % self->max];
    entry->id = *id;
    entry->at_ms = at_ms;
    if (fling_idmap_insert (self->index, id, entry) == 0)
        self->count++;
    else if (errno == EEXIST && full)
        undrop_oldest (self, &evicted);
}

bool fling_dedup_contains (fling_dedup_t *self, const fling_task_id_t *id, int64_t now_ms)
{
    if (!self->max)
        return false;
    const entry_t *entry = (const entry_t *)fling_idmap_lookup (self->index, id);
    return entry && now_ms - entry->at_ms < self->window_ms;
}

bool fling_dedup_ended (fling_dedup_t *self, const fling_task_id_t *id, int64_t now_ms,
                        int64_t *at_ms)
{
    const entry_t *entry = self->max ? (const entry_t *)fling_idmap_lookup (self->index, id) : NULL;
    if (!entry || now_ms - entry->at_ms >= self->window_ms)
        return false;
    *at_ms = entry->at_ms;
    return true;
}

void fling_dedup_prefetch (const fling_dedup_t *self, const fling_task_id_t *id)
{
    if (self->max)
        fling_idmap_prefetch (self->index, id);
}

size_t fling_dedup_size (const fling_dedup_t *self)
{
    return self->count;
}
