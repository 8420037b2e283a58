/*  fling_wal_spares.h - segment files allocated ahead of need.

    The log keeps preallocated files ("spare-<n>.tmp", names replay
    ignores) in its directory and turns one into the next segment by a
    rename: a roll then never waits for fallocate, a crash never leaves an
    empty newest segment after a torn tail, and, above all, the room
    promised to the records that will end the live tasks is allocated
    before those tasks are accepted. A disk that suddenly refuses to
    allocate can then still complete every task it holds.

    Spares hold only zeros (plus a header once taken): a spare left by a
    crash is taken back by the next open if it has the segment size, else
    removed.
*/
#ifndef FLING_WAL_SPARES_H_INCLUDED
#define FLING_WAL_SPARES_H_INCLUDED

#include "fling_wal_io.h"

#include <stddef.h>

typedef struct fling_wal_spares fling_wal_spares_t;

/*  Takes back the spare files in `dir`. NULL + errno. */
fling_wal_spares_t *fling_wal_spares_new (const char *dir, size_t segment_bytes,
                                          const fling_io_t *io);
void fling_wal_spares_destroy (fling_wal_spares_t **self_p);

size_t fling_wal_spares_count (fling_wal_spares_t *self);

/*  Allocates one more. 0, or -1 + errno (ENOSPC, EDQUOT...). */
int fling_wal_spares_add (fling_wal_spares_t *self);

/*  Writes `header` at the start of a spare and renames it to `path`;
    returns its descriptor (the caller owns it), or -1 + errno (ENOENT if
    there is none). */
int fling_wal_spares_take (fling_wal_spares_t *self, const char *path, const void *header,
                           size_t header_size);

#endif
