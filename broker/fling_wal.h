/*  fling_wal.h - the broker's segmented append-only log with group commit.

    The durable store (fling_store_disk) writes every state change of a task
    as one record here: accepted (with the task record), leased, crashed,
    completed, dead-lettered. A record is durable once fling_wal_commit()
    has returned 0: one fdatasync covers every record appended since the
    previous commit (group commit). At start, fling_wal_replay() reads every
    record back, oldest first, checking each one's CRC-32C. The bytes on
    disk: fling_wal_format.h; the directory: fling_wal_dir.h.

    Rules kept here (broker/STORE.md, "Rules"):
    - a failed write or fdatasync is never retried: the log turns failed
      (fling_wal_failed) and every later commit returns -1, so nothing staged
      after the failure can be acknowledged;
    - a bad record after the newest segment's last commit marker is a torn
      write: the log is truncated there. Any other bad record is damage: it
      is counted and logged at ERROR, the records after it are still read,
      and its segment is never written to or deleted again: it is moved to
      the quarantine once no live task depends on it (the caller moves the
      live ones out: fling_wal_compaction_candidate names it first);
    - records that end tasks always find room: the caller reserves their
      bytes (fling_wal_reserve) when it accepts a task, and the log keeps
      that many bytes preallocated (the active segment's rest and spare
      segments) before it takes the task; when the disk or the configured
      cap leaves no room to allocate, the log is full and refuses new tasks
      (fling_wal_has_room), while records that end tasks still go in.

    Faults are injected through the swappable I/O table (fling_wal_io.h).
*/
#ifndef FLING_WAL_H_INCLUDED
#define FLING_WAL_H_INCLUDED

#include "fling_wal_format.h"
#include "fling_wal_io.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fling_wal fling_wal_t;

typedef struct {
    size_t segment_bytes;      /* default 64 MiB */
    uint64_t max_bytes;        /* cap on all segments; 0 = no cap but the disk */
    uint64_t free_floor_bytes; /* refuse tasks when the filesystem has less free; default 256 MiB */
    const fling_io_t *io;      /* NULL = fling_io_default */
    bool read_only;     /* replay only (store checker): no mkdir, no truncation, no new segment */
    bool spare_segment; /* keep segments preallocated ahead of need (fling_wal_spares.h) */
} fling_wal_options_t;

void fling_wal_options_init (fling_wal_options_t *options);

/*  Opens (creating if needed) the log in `dir`. NULL + errno on failure. */
fling_wal_t *fling_wal_open (const char *dir, const fling_wal_options_t *options);
void fling_wal_destroy (fling_wal_t **self_p);

typedef struct {
    uint64_t records;         /* valid records read */
    uint64_t corrupt_records; /* bad stretches of once-durable data, skipped */
    uint64_t torn_bytes;      /* bytes cut off the newest segment's tail */
    uint32_t segments;
    uint32_t damaged_segments; /* segments not read in full (kept, later quarantined) */
    uint32_t quarantined;      /* files waiting in the quarantine for an operator */
    uint64_t bytes;            /* bytes of valid records read */
} fling_wal_replay_stats_t;

/*  Reads every record back (fn: fling_wal_format.h; `segment` is where the
    record lives, for fling_wal_segment_live). Once, right after open,
    before any append. */
int fling_wal_replay (fling_wal_t *self, fling_wal_record_fn *fn, void *arg,
                      fling_wal_replay_stats_t *stats);

/*  True while the log can take a record of `size` bytes and still hold
    `reserve_after` more bytes plus every byte reserved (fling_wal_reserve)
    in space already allocated. With spare_segment it allocates spare
    segments as the reservations grow (no cap on tasks but the disk and
    max_bytes), so records that end tasks can always be written even when
    the disk suddenly refuses to allocate; when it cannot allocate, the log
    turns full. A full log refuses every record with `reserve_after` > 0
    (a new task) until fling_wal_check_space finds room again. False sets
    errno: ENOSPC, EMSGSIZE (no segment can take it) or EIO (failed). */
bool fling_wal_has_room (fling_wal_t *self, size_t size, size_t reserve_after);

/*  Adds `delta` (may be negative; floored at 0) to the bytes reserved for
    records that must fit later (e.g. each live task's completion). */
void fling_wal_reserve (fling_wal_t *self, int64_t delta);

/*  Record overhead on disk (header bytes added to each body). A commit
    adds one marker of FLING_WAL_COMMIT_SIZE bytes. */
#define FLING_WAL_RECORD_OVERHEAD FLING_WAL_RECORD_HEADER

/*  Appends a record made of two parts (`head` may be NULL) to the write
    buffer. Returns the segment it lands in, or -1 + errno (ENOSPC when the
    log is full, EIO when it failed, EMSGSIZE for a record that cannot fit
    in one segment, EINVAL for type 0 or 255). Not durable before
    fling_wal_commit.
    `essential` records (those that end or shrink a task's state) may use
    the headroom that the free-space floor and the cap keep, so a full log
    can still complete tasks and drain. */
int64_t fling_wal_append (fling_wal_t *self, uint8_t type, bool essential, const void *head,
                          size_t head_size, const void *body, size_t body_size);

/*  Ends the appended records with a commit marker, writes the buffer and
    fdatasyncs every segment written since the last commit. 0 = all
    appended records are durable; -1 = the log failed (and stays failed).
    With nothing appended, returns 0 at once. */
int fling_wal_commit (fling_wal_t *self);

/*  True if there are appended records not yet committed. */
bool fling_wal_dirty (fling_wal_t *self);

/*  Deletes empty segments, oldest first, when nothing is pending (a
    damaged one is moved to the quarantine instead). Slow-ish (unlink of a
    big file): call it after acknowledgements went out. */
void fling_wal_sweep (fling_wal_t *self);

/*  Counts live records per segment: +1 when a record that keeps a task
    alive is appended or replayed, -1 when that task ends. Empty segments
    are deleted by fling_wal_sweep, oldest first (a later segment may hold
    the records that ended an older one's tasks). */
void fling_wal_segment_live (fling_wal_t *self, uint32_t segment, int delta);

/*  A segment whose live records should move, or -1: first any damaged
    segment still holding live records, else the oldest sealed one when
    few of its records are live. The caller re-appends the live records it
    holds in memory for that segment, moving them to the newest segment;
    the old one then empties. */
int64_t fling_wal_compaction_candidate (fling_wal_t *self);

/*  Re-checks free space and the cap; clears or sets the full state. */
void fling_wal_check_space (fling_wal_t *self);

/*  True while the last try to open the next segment found no descriptor
    left (EMFILE/ENFILE): a put is then refused as unavailable, not as a
    full store; the next check of free space tries again. */
bool fling_wal_fd_short (fling_wal_t *self);

bool fling_wal_failed (fling_wal_t *self);
bool fling_wal_full (fling_wal_t *self);

typedef struct {
    uint64_t bytes_on_disk; /* segments' and spares' allocated size */
    uint64_t bytes_written; /* since open */
    uint64_t commits;
    uint32_t segments;
    uint32_t spares; /* preallocated segments not yet in use */
    uint32_t active_segment;
} fling_wal_stats_t;

void fling_wal_stats (fling_wal_t *self, fling_wal_stats_t *stats);

/*  For fault tests: the offset up to which the newest segment is known to
    be durable (fdatasynced), and that segment's path. */
uint64_t fling_wal_synced_offset (fling_wal_t *self, char *path, size_t path_size);

#endif
