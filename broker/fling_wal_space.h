/*  fling_wal_space.h - what the broker's log may still write: the cap, the
    free-space floor, and the room kept allocated for records promised to
    come later.

    The store promises each live task the room for the record that will end
    it (fling_wal_reserve). Those bytes are kept allocated before a task is
    taken: in the active segment's rest and in spare segments
    (fling_wal_spares.h), as many as the promises need, so a disk that
    suddenly refuses to allocate can still end every task it holds, and the
    number of tasks is capped by the disk and the cap, never by the segment
    size. The log is full when it cannot allocate one more segment (the cap
    or the floor is reached, or the disk refused); a full log takes no new
    task until a check finds room again.
*/
#ifndef FLING_WAL_SPACE_H_INCLUDED
#define FLING_WAL_SPACE_H_INCLUDED

#include "fling_wal_io.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fling_wal_space fling_wal_space_t;

typedef struct {
    size_t segment_bytes;
    uint64_t max_bytes;        /* cap on segments and spares; 0 = none */
    uint64_t free_floor_bytes; /* free disk to leave */
    bool allocate_ahead; /* keep spares and honour reservations (else: a record fits or not) */
} fling_wal_space_options_t;

/*  The log as it is now. */
typedef struct {
    uint64_t active_offset; /* next free byte of the active segment; 0 = none */
    uint32_t files;         /* segment files (the spares not counted) */
} fling_wal_fill_t;

/*  `dir_fd` (kept by the caller) for the free space; spares in `dir` are
    taken back when allocate_ahead. NULL + errno. */
fling_wal_space_t *fling_wal_space_new (const char *dir, int dir_fd,
                                        const fling_wal_space_options_t *options,
                                        const fling_io_t *io);
void fling_wal_space_destroy (fling_wal_space_t **self_p);

/*  True if a record of `need` bytes (header included) fits, and `reserve_after`
    more bytes plus every reservation still fit in allocated space after it
    (allocating the spares that takes, if it may). A full log refuses every
    record with reserve_after > 0. False + errno: EMSGSIZE for a record no
    segment can take, else ENOSPC (and the log turns full if it could not
    allocate). */
bool fling_wal_space_has_room (fling_wal_space_t *self, fling_wal_fill_t fill, uint64_t need,
                               uint64_t reserve_after);

void fling_wal_space_reserve (fling_wal_space_t *self, int64_t delta);

/*  Re-reads the free space and the cap, allocates ahead what is missing,
    and sets the full state from what it found. */
void fling_wal_space_check (fling_wal_space_t *self, fling_wal_fill_t fill);

/*  The disk refused to allocate a segment (ENOSPC). */
void fling_wal_space_refused (fling_wal_space_t *self, fling_wal_fill_t fill);

bool fling_wal_space_full (fling_wal_space_t *self);
size_t fling_wal_space_spares (fling_wal_space_t *self);
uint64_t fling_wal_space_on_disk (fling_wal_space_t *self, fling_wal_fill_t fill);

/*  The next segment from a spare: see fling_wal_spares_take. -1 + ENOENT
    if there is none. */
int fling_wal_space_take_spare (fling_wal_space_t *self, const char *path, const void *header,
                                size_t header_size);

#endif
