/*  fling_wal.h - the broker's segmented append-only log with group commit.

    The durable store (fling_store_disk) writes every state change of a task
    as one record here: accepted (with the task record), leased, crashed,
    completed, dead-lettered. A record is durable once fling_wal_commit()
    has returned 0: one fdatasync covers every record appended since the
    previous commit (group commit). At start, fling_wal_replay() reads every
    record back, oldest first, checking each one's CRC-32C.

    Layout: a directory of segment files "<16 hex digits>.seg", each
    preallocated to segment_bytes with a 32-byte header. Record on disk:

        u32 crc32c   of everything after this field
        u32 size     of the body
        u8  type     1..255 (0 marks the end of the written part)
        ... body

    Rules kept here (../shared/RELIABILITY.md §3-4):
    - a failed write or fdatasync is never retried: the log turns failed
      (fling_wal_failed) and every later commit returns -1, so nothing staged
      after the failure can be acknowledged;
    - a bad record at the tail of the newest segment is a torn write: the
      log is truncated there; a bad record anywhere else is corruption: it is
      counted, skipped by resynchronising on the next valid record, and never
      handed to the caller;
    - segments are preallocated when they are started; when the disk or
      the configured cap leaves no room for another, the log reports full
      and refuses new tasks, while records that finish tasks may still use
      the headroom kept by the free-space floor and the cap.

    Faults are injected through the swappable I/O table (as beanstalkd does
    with falloc), so tests can make fallocate, pwrite or fdatasync fail.
*/
#ifndef FLING_WAL_H_INCLUDED
#define FLING_WAL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct _fling_wal_t fling_wal_t;

/*  System calls the log makes, swappable for fault injection. Each returns
    as the system call does (-1 and errno on failure). */
typedef struct {
    ssize_t (*pwrite) (int fd, const void *buf, size_t size, off_t offset);
    int (*fdatasync) (int fd);
    int (*fallocate) (int fd, off_t offset, off_t size); /* -1 + errno, unlike posix_fallocate */
} fling_io_t;

extern const fling_io_t fling_io_default;

typedef struct {
    size_t segment_bytes;      /* default 64 MiB */
    uint64_t max_bytes;        /* cap on all segments; 0 = no cap but the disk */
    uint64_t free_floor_bytes; /* refuse tasks when the filesystem has less free; default 256 MiB */
    const fling_io_t *io;      /* NULL = fling_io_default */
    bool read_only;            /* replay only (store checker): no mkdir, no truncation, no new segment */
    bool spare_segment;        /* keep the next segment preallocated ("spare.tmp"), see below */
} fling_wal_options_t;

void fling_wal_options_init (fling_wal_options_t *options);

/*  Opens (creating if needed) the log in `dir`. NULL + errno on failure. */
fling_wal_t *fling_wal_open (const char *dir, const fling_wal_options_t *options);
void fling_wal_destroy (fling_wal_t **self_p);

typedef struct {
    uint64_t records;          /* valid records read */
    uint64_t corrupt_records;  /* bad records skipped outside the tail */
    uint64_t torn_bytes;       /* bytes cut off the newest segment's tail */
    uint32_t segments;
    uint64_t bytes;            /* bytes of valid records read */
} fling_wal_replay_stats_t;

/*  Called for each valid record, oldest first. `segment` is where it lives
    (for fling_wal_segment_live). */
typedef void (fling_wal_record_fn) (uint8_t type, const uint8_t *body, size_t size, uint32_t segment,
                                    void *arg);

/*  Reads every record back. Once, right after open, before any append. */
int fling_wal_replay (fling_wal_t *self, fling_wal_record_fn *fn, void *arg,
                      fling_wal_replay_stats_t *stats);

/*  True while the log can take a record of `size` bytes and still hold
    `reserve_after` more bytes plus every byte reserved (fling_wal_reserve)
    in space already allocated. With spare_segment, the next segment is
    preallocated ahead of need, so records that end tasks (essential) can
    always be written even when the disk suddenly refuses to allocate
    (fallocate ENOSPC): the reservation keeps their room in the active
    segment and the spare. Refresh with fling_wal_check_space. */
bool fling_wal_has_room (fling_wal_t *self, size_t size, size_t reserve_after);

/*  Adds `delta` (may be negative; floored at 0) to the bytes reserved for
    records that must fit later (e.g. each live task's completion). */
void fling_wal_reserve (fling_wal_t *self, int64_t delta);

/*  Record overhead on disk (header bytes added to each body). */
#define FLING_WAL_RECORD_OVERHEAD 9

/*  Appends a record made of two parts (`head` may be NULL) to the write
    buffer. Returns the segment it lands in, or -1 + errno (ENOSPC when the
    log is full, EIO when it failed). Not durable before fling_wal_commit.
    `essential` records (those that end or shrink a task's state) may use
    the headroom that the free-space floor and the cap keep, so a full log
    can still complete tasks and drain. */
int64_t fling_wal_append (fling_wal_t *self, uint8_t type, bool essential, const void *head,
                          size_t head_size, const void *body, size_t body_size);

/*  Writes the buffer and fdatasyncs every segment written since the last
    commit. 0 = all appended records are durable; -1 = the log failed (and
    stays failed). With nothing appended, returns 0 at once. */
int fling_wal_commit (fling_wal_t *self);

/*  True if there are appended records not yet committed. */
bool fling_wal_dirty (fling_wal_t *self);

/*  Deletes empty segments, oldest first, when nothing is pending. Slow-ish
    (unlink of a big file): call it after acknowledgements went out. */
void fling_wal_sweep (fling_wal_t *self);

/*  Counts live records per segment: +1 when a record that keeps a task
    alive is appended or replayed, -1 when that task ends. Empty segments
    are deleted by fling_wal_sweep, oldest first (a later segment may hold
    the records that ended an older one's tasks). */
void fling_wal_segment_live (fling_wal_t *self, uint32_t segment, int delta);

/*  A sealed segment worth compacting (few live records left), or -1.
    The caller re-appends the live records it holds in memory for that
    segment, moving them to the newest segment; the old one then empties. */
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
    uint64_t bytes_on_disk;   /* segments' allocated size */
    uint64_t bytes_written;   /* since open */
    uint64_t commits;
    uint32_t segments;
    uint32_t active_segment;
} fling_wal_stats_t;

void fling_wal_stats (fling_wal_t *self, fling_wal_stats_t *stats);

/*  For fault tests: the offset up to which the newest segment is known to
    be durable (fdatasynced), and that segment's path. */
uint64_t fling_wal_synced_offset (fling_wal_t *self, char *path, size_t path_size);

#endif
