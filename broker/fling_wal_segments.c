/*  fling_wal_segments.c - see fling_wal_segments.h. */
#include "fling_wal_segments.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fling_wal_segments {
    fling_wal_segment_t *items; /* ascending ids; the last one is active */
    size_t count, cap;
    uint32_t files; /* items that are regular files */
};

fling_wal_segments_t *fling_wal_segments_new (void)
{
    fling_wal_segments_t *self = calloc (1, sizeof *self);
    if (!self)
        errno = ENOMEM;
    return self;
}

void fling_wal_segments_destroy (fling_wal_segments_t **self_p)
{
    fling_wal_segments_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++)
        if (self->items[i].fd >= 0)
            close (self->items[i].fd);
    free (self->items);
    free (self);
    *self_p = NULL;
}

size_t fling_wal_segments_count (const fling_wal_segments_t *self)
{
    return self->count;
}

uint32_t fling_wal_segments_files (const fling_wal_segments_t *self)
{
    return self->files;
}

fling_wal_segment_t *fling_wal_segments_at (fling_wal_segments_t *self, size_t index)
{
    return index < self->count ? &self->items[index] : NULL;
}

fling_wal_segment_t *fling_wal_segments_active (fling_wal_segments_t *self)
{
    return self->count ? &self->items[self->count - 1] : NULL;
}

fling_wal_segment_t *fling_wal_segments_find (fling_wal_segments_t *self, uint32_t id)
{
    size_t lo = 0, hi = self->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (self->items[mid].id == id)
            return &self->items[mid];
        if (self->items[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int fling_wal_segments_push (fling_wal_segments_t *self, uint32_t id, int fd, bool regular)
{
    if (self->count == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        fling_wal_segment_t *grown = realloc (self->items, cap * sizeof *grown);
        if (!grown) {
            errno = ENOMEM;
            return -1;
        }
        self->items = grown;
        self->cap = cap;
    }
    self->items[self->count++] = (fling_wal_segment_t){.id = id, .fd = fd, .regular = regular};
    self->files += regular;
    return 0;
}

void fling_wal_segments_drop (fling_wal_segments_t *self, fling_wal_segment_t *seg)
{
    if (seg->fd >= 0)
        close (seg->fd);
    self->files -= seg->regular;
    size_t index = (size_t)(seg - self->items);
    memmove (seg, seg + 1, (self->count - index - 1) * sizeof *seg);
    self->count--;
}

void fling_wal_segments_live (fling_wal_segments_t *self, uint32_t id, int delta)
{
    fling_wal_segment_t *seg = fling_wal_segments_find (self, id);
    if (!seg)
        return;
    if (delta < 0 && seg->live < (uint64_t)-delta)
        seg->live = 0;
    else
        seg->live += (uint64_t)(int64_t)delta;
}

bool fling_wal_segments_dirty (const fling_wal_segments_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        if (self->items[i].dirty)
            return true;
    return false;
}

int64_t fling_wal_segments_compaction_candidate (fling_wal_segments_t *self, size_t segment_bytes)
{
    if (self->count < 2)
        return -1;
    for (size_t i = 0; i + 1 < self->count; i++)
        if (self->items[i].damage && self->items[i].live)
            return (int64_t)self->items[i].id;
    /* "Few": under a quarter of what the segment holds, at ~160 bytes a record. */
    fling_wal_segment_t *oldest = &self->items[0];
    uint64_t few = segment_bytes / 4 / 160;
    return self->count >= 3 && oldest->live > 0 && oldest->live < few ? (int64_t)oldest->id : -1;
}
