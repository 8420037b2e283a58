/*  fling_wal_segments.h - the log's segments in id order: the list
    fling_wal.c keeps of its segment files, how many live records each one
    holds, and which one to empty next (compaction). No I/O here but closing
    the descriptor of a segment that leaves the list: fling_wal.c creates,
    writes, syncs, reads and removes the files. The last segment is the
    active one, the only one written to.
*/
#ifndef FLING_WAL_SEGMENTS_H_INCLUDED
#define FLING_WAL_SEGMENTS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t id;
    int fd;             /* open while active (or being read); -1 when sealed */
    bool regular;       /* a regular file (else: a directory or such, named like a segment) */
    uint64_t live;      /* records in it that still matter (fling_wal_segment_live) */
    bool dirty;         /* written since the last fdatasync */
    const char *damage; /* why it could not be read in full; NULL if it could */
} fling_wal_segment_t;

typedef struct fling_wal_segments fling_wal_segments_t;

/*  An empty list; NULL + ENOMEM. */
fling_wal_segments_t *fling_wal_segments_new (void);
/*  Closes the descriptors still open. */
void fling_wal_segments_destroy (fling_wal_segments_t **self_p);

size_t fling_wal_segments_count (const fling_wal_segments_t *self);
/*  How many of them are regular files. */
uint32_t fling_wal_segments_files (const fling_wal_segments_t *self);

/*  The segment at `index` (0 = the oldest), the newest (NULL if none), or
    the one with `id` (NULL if none). A pointer stays valid until the next
    push or drop, which move the list. */
fling_wal_segment_t *fling_wal_segments_at (fling_wal_segments_t *self, size_t index);
fling_wal_segment_t *fling_wal_segments_active (fling_wal_segments_t *self);
fling_wal_segment_t *fling_wal_segments_find (fling_wal_segments_t *self, uint32_t id);

/*  Appends segment `id`, above every id in the list. 0, or -1 + ENOMEM. */
int fling_wal_segments_push (fling_wal_segments_t *self, uint32_t id, int fd, bool regular);
/*  Takes `seg` out of the list and closes its descriptor if open. */
void fling_wal_segments_drop (fling_wal_segments_t *self, fling_wal_segment_t *seg);

/*  Adds `delta` (may be negative; the count stops at 0) to the live records
    of segment `id`; nothing if there is no such segment. */
void fling_wal_segments_live (fling_wal_segments_t *self, uint32_t id, int delta);
/*  True if a segment was written since its last fdatasync. */
bool fling_wal_segments_dirty (const fling_wal_segments_t *self);

/*  The id of the segment whose live records should move to the newest one,
    or -1: a damaged segment that still holds live records first (it may
    not stay their only copy, and is quarantined only once empty), else the
    oldest when few of its records are live (it pins every later one) and
    there are at least three. Never the active segment. */
int64_t fling_wal_segments_compaction_candidate (fling_wal_segments_t *self, size_t segment_bytes);

#endif
