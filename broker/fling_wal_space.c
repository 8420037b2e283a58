/*  fling_wal_space.c - see fling_wal_space.h. */
#include "fling_wal_space.h"
#include "fling_log.h"
#include "fling_wal_format.h"
#include "fling_wal_spares.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/statvfs.h>

/* Per segment, what reserved records cannot use: the room always kept for
   a commit marker, and the end piece too small for one more record. */
#define SEGMENT_SLACK 128

struct fling_wal_space {
    fling_wal_space_options_t options;
    int dir_fd;
    fling_wal_spares_t *spares; /* NULL unless allocate_ahead */
    uint64_t reserved;          /* bytes promised to later records */
    uint64_t free_bytes;        /* at the last look */
    bool full;
};

fling_wal_space_t *fling_wal_space_new (const char *dir, int dir_fd,
                                        const fling_wal_space_options_t *options,
                                        const fling_io_t *io)
{
    fling_wal_space_t *self = calloc (1, sizeof *self);
    if (!self) {
        errno = ENOMEM;
        return NULL;
    }
    self->options = *options;
    self->dir_fd = dir_fd;
    if (options->allocate_ahead &&
        !(self->spares = fling_wal_spares_new (dir, options->segment_bytes, io))) {
        int err = errno;
        free (self);
        errno = err;
        return NULL;
    }
    return self;
}

void fling_wal_space_destroy (fling_wal_space_t **self_p)
{
    fling_wal_space_t *self = *self_p;
    if (!self)
        return;
    fling_wal_spares_destroy (&self->spares);
    free (self);
    *self_p = NULL;
}

size_t fling_wal_space_spares (fling_wal_space_t *self)
{
    return self->spares ? fling_wal_spares_count (self->spares) : 0;
}

uint64_t fling_wal_space_on_disk (fling_wal_space_t *self, fling_wal_fill_t fill)
{
    return (fill.files + fling_wal_space_spares (self)) * (uint64_t)self->options.segment_bytes;
}

bool fling_wal_space_full (fling_wal_space_t *self)
{
    return self->full;
}

/* The one place the full state changes: logged when it does. */
static void set_full (fling_wal_space_t *self, fling_wal_fill_t fill, bool full)
{
    if (full == self->full)
        return;
    self->full = full;
    fling_log (full ? FLING_LOG_WARN : FLING_LOG_INFO,
               "store %s: free_disk=%" PRIu64 " on_disk=%" PRIu64 " cap=%" PRIu64 " floor=%" PRIu64,
               full ? "full, refusing new tasks" : "has room again", self->free_bytes,
               fling_wal_space_on_disk (self, fill), self->options.max_bytes,
               self->options.free_floor_bytes);
}

/* True if one more segment may be allocated: under the cap, and leaving
   the free-space floor. Reads the free space afresh. */
static bool may_grow (fling_wal_space_t *self, fling_wal_fill_t fill)
{
    struct statvfs vfs;
    if (fstatvfs (self->dir_fd, &vfs) == 0)
        self->free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    uint64_t seg = self->options.segment_bytes, cap = self->options.max_bytes;
    return (!cap || fling_wal_space_on_disk (self, fill) + seg <= cap) &&
           self->free_bytes >= seg + self->options.free_floor_bytes;
}

/* How many more spares a record of `need` bytes, and `promised` bytes of
   reserved records after it, need in allocated space: 0 if it all fits,
   SIZE_MAX if the record cannot fit in a segment at all. On the path of
   every task: no division unless something is missing. */
static size_t spares_missing (fling_wal_space_t *self, fling_wal_fill_t fill, uint64_t need,
                              uint64_t promised)
{
    uint64_t seg = self->options.segment_bytes;
    uint64_t capacity = seg - FLING_WAL_SEGMENT_HEADER - SEGMENT_SLACK;
    if (need > capacity)
        return SIZE_MAX;
    uint64_t spares = fling_wal_space_spares (self), avail;
    if (fill.active_offset && fill.active_offset + need + FLING_WAL_COMMIT_SIZE <= seg) {
        uint64_t rest = seg - fill.active_offset - need;
        avail = (rest > SEGMENT_SLACK ? rest - SEGMENT_SLACK : 0) + spares * capacity;
    } else { /* a roll: the active segment's rest is lost, a spare becomes active */
        if (!spares)
            return 1 + (promised > capacity - need
                            ? (promised - (capacity - need) + capacity - 1) / capacity
                            : 0);
        avail = capacity - need + (spares - 1) * capacity;
    }
    return avail >= promised ? 0 : (size_t)((promised - avail + capacity - 1) / capacity);
}

/* A spare that could not be opened for want of descriptors (after the
   broker's reserve, fling_fdreserve.h) says nothing about the disk. */
static bool out_of_descriptors (void)
{
    return errno == EMFILE || errno == ENFILE;
}

/* Allocates the spares missing; false if it cannot (or the record could
   never fit). A full log does not try: fling_wal_space_check does, about
   once a second. */
static bool grow_for (fling_wal_space_t *self, fling_wal_fill_t fill, uint64_t need,
                      uint64_t promised)
{
    size_t missing = spares_missing (self, fill, need, promised);
    errno = ENOSPC;
    if (missing == SIZE_MAX || (missing && self->full))
        return false;
    for (size_t i = 0; i < missing; i++) {
        if (!may_grow (self, fill)) {
            errno = ENOSPC;
            return false;
        }
        if (fling_wal_spares_add (self->spares) != 0)
            return false; /* errno from the allocation: EMFILE is no full disk */
    }
    return true;
}

bool fling_wal_space_has_room (fling_wal_space_t *self, fling_wal_fill_t fill, uint64_t need,
                               uint64_t reserve_after)
{
    uint64_t seg = self->options.segment_bytes;
    if (need + FLING_WAL_SEGMENT_HEADER + SEGMENT_SLACK > seg) {
        errno = EMSGSIZE; /* larger than a segment can take */
        return false;
    }
    if (!self->spares) { /* the record alone must fit, or a segment be allowed */
        if ((fill.active_offset &&
             fill.active_offset + need + FLING_WAL_COMMIT_SIZE + reserve_after <= seg) ||
            !self->full)
            return true;
    } else if (!(reserve_after && self->full)) { /* a full log takes no new task */
        if (grow_for (self, fill, need, self->reserved + reserve_after))
            return true;
        if (out_of_descriptors ())
            return false; /* errno EMFILE/ENFILE: refused UNAVAILABLE, never STORE_FULL */
        set_full (self, fill, true);
    }
    errno = ENOSPC;
    return false;
}

void fling_wal_space_reserve (fling_wal_space_t *self, int64_t delta)
{
    if (delta < 0 && self->reserved < (uint64_t)-delta)
        self->reserved = 0;
    else
        self->reserved += (uint64_t)delta;
}

void fling_wal_space_check (fling_wal_space_t *self, fling_wal_fill_t fill)
{
    bool full = !may_grow (self, fill);
    if (!full && self->spares && fill.active_offset) {
        /* Allocate ahead: one spare at least, and every reservation. */
        bool was = self->full;
        self->full = false;
        if (!fling_wal_space_spares (self) && fling_wal_spares_add (self->spares) != 0)
            full = true;
        else
            full = !grow_for (self, fill, FLING_WAL_RECORD_HEADER, self->reserved);
        self->full = was;
        if (full && out_of_descriptors ())
            return; /* no descriptor left is no full disk: the state stays as it was */
    }
    set_full (self, fill, full);
}

void fling_wal_space_refused (fling_wal_space_t *self, fling_wal_fill_t fill)
{
    set_full (self, fill, true);
}

int fling_wal_space_take_spare (fling_wal_space_t *self, const char *path, const void *header,
                                size_t header_size)
{
    if (!self->spares) {
        errno = ENOENT;
        return -1;
    }
    return fling_wal_spares_take (self->spares, path, header, header_size);
}
