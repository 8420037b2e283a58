/*  fling_wal.c - segmented append-only log with group commit (fling_wal.h). */
#include "fling_wal.h"
#include "fling_log.h"
#include "fling_fdreserve.h"
#include "fling_wal_dir.h"
#include "fling_wal_segments.h"
#include "fling_wal_space.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER             FLING_WAL_SEGMENT_HEADER
#define RECORD_HEADER      FLING_WAL_RECORD_HEADER
#define MARKER             FLING_WAL_COMMIT_SIZE
#define WRITE_BUFFER_FLUSH (1u << 20) /* write out the buffer past this, commit or not */

typedef fling_wal_segment_t segment_t;

struct fling_wal {
    fling_wal_options_t options;
    fling_io_t io;
    char *dir;
    int dir_fd;
    fling_wal_segments_t *segments; /* ascending ids; the last one is active */
    /* Read per record: kept here, set again whenever the list changes
       (segments_changed), rather than asked of the list each time. */
    segment_t *active;
    uint32_t files;
    fling_wal_space_t *space; /* cap, floor, reservations, spares */
    uint64_t active_offset;   /* next free byte in the active segment (buffered bytes included) */
    uint64_t buffer_offset;   /* where buf[0] goes in the active segment */
    uint64_t synced_offset;   /* active segment durable up to here */
    uint8_t *buf;
    size_t buf_len, buf_cap;
    bool unmarked;  /* records appended since the last commit marker */
    bool dir_dirty; /* a segment was created or removed: fsync the directory */
    bool failed;
    uint32_t quarantined;
    fling_wal_stats_t stats;
};

void fling_wal_options_init (fling_wal_options_t *options)
{
    memset (options, 0, sizeof *options);
    options->segment_bytes = 64u << 20;
    options->free_floor_bytes = 256u << 20;
}

/* ---- little helpers ------------------------------------------------------ */

static segment_t *active (fling_wal_t *self)
{
    return self->active;
}

static size_t segment_count (fling_wal_t *self)
{
    return self->stats.segments;
}

/* After every push and drop: the list may have moved. */
static void segments_changed (fling_wal_t *self)
{
    self->active = fling_wal_segments_active (self->segments);
    self->files = fling_wal_segments_files (self->segments);
    self->stats.segments = (uint32_t)fling_wal_segments_count (self->segments);
}

static int segments_push (fling_wal_t *self, uint32_t id, int fd, bool regular)
{
    int rc = fling_wal_segments_push (self->segments, id, fd, regular);
    segments_changed (self);
    return rc;
}

static void set_failed (fling_wal_t *self, const char *what)
{
    if (!self->failed)
        fling_error ("store failed: %s error: %s; refusing new tasks until restart", what,
                     strerror (errno));
    self->failed = true;
}

static fling_wal_fill_t fill_of (fling_wal_t *self)
{
    return (fling_wal_fill_t){.active_offset = segment_count (self) ? self->active_offset : 0,
                              .files = self->files};
}

/* ---- space (fling_wal_space.h) ------------------------------------------- */

void fling_wal_check_space (fling_wal_t *self)
{
    if (!self->failed && !self->options.read_only)
        fling_wal_space_check (self->space, fill_of (self));
}

bool fling_wal_has_room (fling_wal_t *self, size_t size, size_t reserve_after)
{
    if (self->failed) {
        errno = EIO;
        return false;
    }
    return fling_wal_space_has_room (self->space, fill_of (self), RECORD_HEADER + size,
                                     reserve_after);
}

void fling_wal_reserve (fling_wal_t *self, int64_t delta)
{
    fling_wal_space_reserve (self->space, delta);
}

/* ---- segments ---------------------------------------------------------------- */

/* Makes the open, preallocated file `fd` the active segment `id`.
   -1 + ENOMEM; the caller then closes (and removes) the file. */
static int segment_adopt (fling_wal_t *self, uint32_t id, int fd)
{
    if (segments_push (self, id, fd, true) != 0)
        return -1;
    active (self)->dirty = true;
    self->active_offset = self->buffer_offset = HEADER;
    self->synced_offset = 0;
    self->dir_dirty = true;
    self->stats.active_segment = id;
    return 0;
}

/* The next segment, from a spare (a rename) or allocated now. */
static int segment_start (fling_wal_t *self, uint32_t id)
{
    char path[4096];
    fling_wal_segment_path (self->dir, id, path, sizeof path);
    uint8_t header[HEADER];
    fling_wal_header_make (header, id);
    int fd = -1;
    if (fling_wal_space_spares (self->space)) {
        if ((fd = fling_wal_space_take_spare (self->space, path, header, sizeof header)) < 0) {
            /* No descriptor left is no broken store: the caller refuses the
               record as unavailable, and the next roll tries again. */
            if (errno != EMFILE && errno != ENFILE)
                set_failed (self, "spare segment");
            return -1;
        }
    } else {
        if ((fd = fling_fdreserve_open (path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
            return -1;
        if (self->io.fallocate (fd, 0, (off_t)self->options.segment_bytes) != 0 ||
            fling_io_write_all (&self->io, fd, header, sizeof header, 0) != 0)
            goto fail;
    }
    if (segment_adopt (self, id, fd) == 0)
        return 0;
fail : {
    int err = errno;
    close (fd);
    unlink (path);
    errno = err;
    return -1;
}
}

/* A segment leaves the log, oldest first (see fling_wal_sweep): deleted,
   or, if it could not be read in full, moved to the quarantine. */
static int segment_remove (fling_wal_t *self, segment_t *seg)
{
    char path[4096];
    fling_wal_segment_path (self->dir, seg->id, path, sizeof path);
    if (seg->damage) {
        if (fling_wal_quarantine (self->dir, seg->id, seg->damage) != 0) {
            fling_warn ("store: cannot move %s to the quarantine: %s; it stays", path,
                        strerror (errno));
            return -1;
        }
        self->quarantined++;
    } else if (unlink (path) != 0)
        fling_warn ("store: cannot remove %s: %s", path, strerror (errno));
    fling_wal_segments_drop (self->segments, seg);
    segments_changed (self);
    self->dir_dirty = true;
    return 0;
}

/* Writes the buffered records to the active segment (no sync). */
static int buffer_write (fling_wal_t *self)
{
    if (!self->buf_len)
        return 0;
    segment_t *seg = active (self);
    if (fling_io_write_all (&self->io, seg->fd, self->buf, self->buf_len,
                            (off_t)self->buffer_offset) != 0) {
        set_failed (self, "write");
        return -1;
    }
    seg->dirty = true;
    self->stats.bytes_written += self->buf_len;
    self->buffer_offset += self->buf_len;
    self->buf_len = 0;
    return 0;
}

/* Seals the active segment and starts the next. The old segment is synced
   now, so a torn write can only ever sit at the tail of the newest segment
   (where replay truncates it) and never look like damage to a sealed one.
   `essential` records (those that end tasks) may roll into the headroom
   the free-space floor or the cap keeps: otherwise a full log could never
   complete a task and would stay full forever. */
static int segment_roll (fling_wal_t *self, bool essential)
{
    if (buffer_write (self) != 0)
        return -1;
    segment_t *old = active (self);
    if (old && old->dirty) {
        if (self->io.fdatasync (old->fd) != 0) {
            set_failed (self, "fdatasync");
            return -1;
        }
        old->dirty = false;
    }
    if (!fling_wal_space_spares (self->space) && fling_wal_space_full (self->space) && !essential) {
        errno = ENOSPC;
        return -1;
    }
    size_t old_index = segment_count (self) - 1; /* the old active one, if any */
    if (segment_start (self, old ? old->id + 1 : 1) != 0) {
        if (errno == ENOSPC || errno == EDQUOT) {
            fling_wal_space_refused (self->space, fill_of (self));
            errno = ENOSPC;
        }
        return -1; /* the old segment stays the active one */
    }
    old = old ? fling_wal_segments_at (self->segments, old_index) : NULL; /* the list moved */
    if (old && old->fd >= 0) { /* sealed: no descriptor kept (small segments may be many) */
        close (old->fd);
        old->fd = -1;
    }
    fling_wal_check_space (self); /* refills the spares; the last segment that fits? */
    return 0;
}

/* ---- open / destroy ---------------------------------------------------------- */

static int segments_load (fling_wal_t *self)
{
    fling_wal_entry_t *entries;
    size_t count;
    if (fling_wal_dir_list (self->dir, &entries, &count) != 0)
        return -1;
    /* Not a regular file: kept in the list, damaged, with nothing to read
       (quarantined in its turn), for the broker and the checker alike. */
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++)
        rc = segments_push (self, entries[i].id, -1, entries[i].regular);
    free (entries);
    return rc;
}

fling_wal_t *fling_wal_open (const char *dir, const fling_wal_options_t *options)
{
    fling_wal_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    fling_wal_options_init (&self->options);
    if (options)
        self->options = *options;
    if (self->options.segment_bytes < 4096)
        self->options.segment_bytes = 4096;
    if (self->options.read_only)
        self->options.spare_segment = false;
    self->io = self->options.io ? *self->options.io : fling_io_default;
    self->dir = strdup (dir);
    self->dir_fd = -1;
    if (!self->dir || (!self->options.read_only && mkdir (dir, 0700) != 0 && errno != EEXIST))
        goto fail;
    self->dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (self->dir_fd < 0 || !(self->segments = fling_wal_segments_new ()) ||
        segments_load (self) != 0)
        goto fail;
    fling_wal_space_options_t space = {
        .segment_bytes = self->options.segment_bytes,
        .max_bytes = self->options.max_bytes,
        .free_floor_bytes = self->options.free_floor_bytes,
        .allocate_ahead = self->options.spare_segment,
    };
    if (!(self->space = fling_wal_space_new (dir, self->dir_fd, &space, &self->io)))
        goto fail;
    self->quarantined = (uint32_t)fling_wal_quarantine_report (dir);
    fling_wal_check_space (self);
    return self;
fail : {
    int saved = errno;
    fling_wal_destroy (&self);
    errno = saved;
    return NULL;
}
}

void fling_wal_destroy (fling_wal_t **self_p)
{
    fling_wal_t *self = *self_p;
    if (!self)
        return;
    fling_wal_segments_destroy (&self->segments);
    if (self->dir_fd >= 0)
        close (self->dir_fd);
    fling_wal_space_destroy (&self->space);
    free (self->buf);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

/* ---- replay -------------------------------------------------------------------- */

/* Cuts the newest segment at `end` and zero-fills the rest, so later
   appends never sit in front of old garbage. */
static int truncate_tail (fling_wal_t *self, segment_t *seg, size_t end)
{
    if (ftruncate (seg->fd, (off_t)end) != 0 ||
        self->io.fallocate (seg->fd, (off_t)end, (off_t)(self->options.segment_bytes - end)) != 0 ||
        self->io.fdatasync (seg->fd) != 0)
        return -1;
    return 0;
}

/* Reads one segment back into `stats`; only the newest stays open (it may
   go on as the active one). 0, or -1 + errno (a segment that cannot be
   opened, for permissions say, stops the replay: nothing is wrong with
   its data; ENOMEM). */
static int replay_segment (fling_wal_t *self, segment_t *seg, bool newest, fling_wal_record_fn *fn,
                           void *arg, fling_wal_replay_stats_t *stats, fling_wal_scan_t *scan)
{
    if (seg->regular &&
        (seg->fd = fling_wal_segment_open (self->dir, seg->id, self->options.read_only)) < 0)
        return -1;
    int rc =
        fling_wal_segment_read (self->dir, seg->id, seg->fd, newest, fn, arg, scan, &seg->damage);
    if (seg->fd >= 0 && (!newest || rc != 0)) {
        close (seg->fd);
        seg->fd = -1;
    }
    if (rc != 0)
        return -1;
    stats->records += scan->records;
    stats->bytes += scan->bytes;
    stats->corrupt_records += scan->corrupt_records;
    stats->torn_bytes += scan->torn_bytes;
    stats->segments++;
    stats->damaged_segments += seg->damage != NULL;
    return 0;
}

int fling_wal_replay (fling_wal_t *self, fling_wal_record_fn *fn, void *arg,
                      fling_wal_replay_stats_t *stats)
{
    fling_wal_replay_stats_t local;
    stats = stats ? stats : &local;
    memset (stats, 0, sizeof *stats);
    size_t count = segment_count (self);
    size_t newest = count; /* the last regular file: the only one with a tail */
    for (size_t i = 0; i < count; i++)
        if (fling_wal_segments_at (self->segments, i)->regular)
            newest = i;
    fling_wal_scan_t scan, tail = {0};
    for (size_t i = 0; i < count; i++) {
        segment_t *seg = fling_wal_segments_at (self->segments, i);
        if (replay_segment (self, seg, i == newest, fn, arg, stats, &scan) != 0)
            return -1;
        if (i == newest)
            tail = scan;
    }
    stats->quarantined = self->quarantined;
    if (self->options.read_only) {
        self->failed = true; /* nothing may be appended */
        return 0;
    }
    /* A torn tail is cut off (never in a damaged segment: that one is not
       written again). Appends go on in the newest segment only if it is the
       last entry, was read in full and has this version's format; else in
       a new one, and the old tail is sealed clean. */
    segment_t *seg = fling_wal_segments_at (self->segments, newest); /* NULL if none */
    if (seg && !seg->damage && tail.torn_bytes && truncate_tail (self, seg, tail.end) != 0) {
        set_failed (self, "truncate");
        return -1;
    }
    if (!seg || seg != active (self) || seg->damage || tail.version != FLING_WAL_VERSION) {
        if (seg && seg != active (self) && seg->fd >= 0) { /* the roll seals only the last */
            close (seg->fd);
            seg->fd = -1;
        }
        if (segment_roll (self, true) != 0)
            return -1;
    } else {
        self->active_offset = self->buffer_offset = self->synced_offset = tail.end;
        self->stats.active_segment = seg->id;
    }
    fling_wal_check_space (self);
    return 0;
}

/* ---- append / commit ------------------------------------------------------------- */

static int buffer_reserve (fling_wal_t *self, size_t more)
{
    if (self->buf_len + more <= self->buf_cap)
        return 0;
    size_t cap = self->buf_cap ? self->buf_cap : 65536;
    while (cap < self->buf_len + more)
        cap *= 2;
    uint8_t *grown = realloc (self->buf, cap);
    if (!grown)
        return -1;
    self->buf = grown;
    self->buf_cap = cap;
    return 0;
}

int64_t fling_wal_append (fling_wal_t *self, uint8_t type, bool essential, const void *head,
                          size_t head_size, const void *body, size_t body_size)
{
    if (self->failed) {
        errno = EIO;
        return -1;
    }
    size_t size = head_size + body_size;
    size_t total = RECORD_HEADER + size;
    if (type == 0 || type == FLING_WAL_TYPE_COMMIT) {
        errno = EINVAL;
        return -1;
    }
    if (size > FLING_WAL_RECORD_BODY_MAX || HEADER + total + MARKER > self->options.segment_bytes) {
        errno = EMSGSIZE;
        return -1;
    }
    /* Every segment keeps room for the marker of the commit that ends it. */
    if (!active (self) || self->active_offset + total + MARKER > self->options.segment_bytes)
        if (segment_roll (self, essential) != 0)
            return -1;
    if (buffer_reserve (self, total) != 0) {
        errno = ENOMEM;
        return -1;
    }
    fling_wal_record_encode (self->buf + self->buf_len, type, head, head_size, body, body_size);
    self->buf_len += total;
    self->active_offset += total;
    self->unmarked = true;
    if (self->buf_len >= WRITE_BUFFER_FLUSH && buffer_write (self) != 0)
        return -1;
    return active (self)->id;
}

bool fling_wal_dirty (fling_wal_t *self)
{
    return self->buf_len || self->dir_dirty || self->unmarked ||
           fling_wal_segments_dirty (self->segments);
}

/* The marker that makes the records before it "acknowledged" for replay
   (fling_wal_format.h); it rides in the same fdatasync as they do. */
static int append_marker (fling_wal_t *self)
{
    if (!self->unmarked)
        return 0;
    if (buffer_reserve (self, MARKER) != 0) {
        errno = ENOMEM;
        return -1;
    }
    fling_wal_commit_encode (self->buf + self->buf_len, active (self)->id, self->active_offset);
    self->buf_len += MARKER;
    self->active_offset += MARKER;
    self->unmarked = false;
    return 0;
}

int fling_wal_commit (fling_wal_t *self)
{
    if (self->failed) {
        errno = EIO;
        return -1;
    }
    if (!fling_wal_dirty (self))
        return 0;
    if (append_marker (self) != 0 || buffer_write (self) != 0)
        return -1;
    for (size_t i = 0; i < segment_count (self); i++) {
        segment_t *seg = fling_wal_segments_at (self->segments, i);
        if (!seg->dirty || seg->fd < 0)
            continue;
        /* Never retried: after a failed fdatasync the kernel may have
           dropped the dirty pages, and a second call could "succeed". */
        if (self->io.fdatasync (seg->fd) != 0) {
            set_failed (self, "fdatasync");
            return -1;
        }
        seg->dirty = false;
    }
    if (self->dir_dirty) {
        if (fsync (self->dir_fd) != 0) {
            set_failed (self, "directory fsync");
            return -1;
        }
        self->dir_dirty = false;
    }
    self->synced_offset = self->active_offset;
    self->stats.commits++;
    return 0;
}

/* ---- liveness and compaction -------------------------------------------------------- */

void fling_wal_segment_live (fling_wal_t *self, uint32_t id, int delta)
{
    fling_wal_segments_live (self->segments, id, delta);
}

/* Removes empty segments from the oldest end only: a record that ends a
   task may sit in a later segment than the task's own record, so a segment
   may go only when every older one is gone (else a restart would bring the
   older record back to life). Only when nothing is pending, so every record
   that emptied them is durable first. Unlinking a 64 MiB file takes ~15 ms
   on ext4: the broker calls this after it has sent its acknowledgements. */
void fling_wal_sweep (fling_wal_t *self)
{
    if (self->failed || fling_wal_dirty (self))
        return;
    bool removed = false;
    segment_t *oldest;
    while (segment_count (self) > 1 &&
           (oldest = fling_wal_segments_at (self->segments, 0))->live == 0 &&
           segment_remove (self, oldest) == 0)
        removed = true;
    if (removed) {
        if (fsync (self->dir_fd) == 0)
            self->dir_dirty = false;
        fling_wal_check_space (self);
    }
}

int64_t fling_wal_compaction_candidate (fling_wal_t *self)
{
    if (fling_wal_space_full (self->space) || self->failed)
        return -1;
    /* The oldest segment pins every later one (see sweep): emptying it
       frees the log from the front. */
    return fling_wal_segments_compaction_candidate (self->segments, self->options.segment_bytes);
}

bool fling_wal_failed (fling_wal_t *self)
{
    return self->failed;
}

bool fling_wal_full (fling_wal_t *self)
{
    return fling_wal_space_full (self->space);
}

void fling_wal_stats (fling_wal_t *self, fling_wal_stats_t *stats)
{
    *stats = self->stats;
    stats->bytes_on_disk = fling_wal_space_on_disk (self->space, fill_of (self));
    stats->spares = (uint32_t)fling_wal_space_spares (self->space);
}

uint64_t fling_wal_synced_offset (fling_wal_t *self, char *path, size_t path_size)
{
    segment_t *seg = active (self);
    if (!seg)
        return 0;
    fling_wal_segment_path (self->dir, seg->id, path, path_size);
    return self->synced_offset;
}
