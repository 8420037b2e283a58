/*  fling_wal.c - segmented append-only log with group commit (fling_wal.h). */
#include "fling_fdreserve.h"
#include "fling_wal.h"
#include "fling_crc32c.h"
#include "fling_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define SEGMENT_MAGIC       "FLINGWAL"
#define SEGMENT_HEADER_SIZE 32
#define RECORD_HEADER_SIZE  9 /* crc u32, size u32, type u8 */
#define RECORD_BODY_MAX     (16u << 20)
#define WRITE_BUFFER_FLUSH  (1u << 20) /* write out the buffer past this, commit or not */

typedef struct {
    uint32_t id;
    int fd;
    uint64_t live;
    bool dirty; /* written since the last fdatasync */
} segment_t;

struct _fling_wal_t {
    fling_wal_options_t options;
    fling_io_t io;
    char *dir;
    int dir_fd;
    segment_t *segments; /* ascending ids; the last one is active */
    size_t segment_count, segment_cap;
    uint64_t active_offset; /* next free byte in the active segment (buffered bytes included) */
    uint64_t buffer_offset; /* where buf[0] goes in the active segment */
    uint64_t synced_offset; /* active segment durable up to here */
    uint8_t *buf;
    size_t buf_len, buf_cap;
    bool dir_dirty; /* a segment was created or removed: fsync the directory */
    bool failed;
    bool full;
    int spare_fd;      /* preallocated next segment ("spare.tmp"), -1 = none */
    bool fd_short;     /* the spare could not be opened: no descriptor left (not a full disk) */
    uint64_t reserved; /* bytes promised to later records (fling_wal_reserve) */
    uint64_t free_bytes; /* filesystem free space at the last check */
    fling_wal_stats_t stats;
};

/* ---- default I/O --------------------------------------------------------- */

static int default_fallocate (int fd, off_t offset, off_t size)
{
    int rc = posix_fallocate (fd, offset, size);
    if (rc == 0)
        return 0;
    errno = rc;
    return -1;
}

const fling_io_t fling_io_default = {pwrite, fdatasync, default_fallocate};

void fling_wal_options_init (fling_wal_options_t *options)
{
    memset (options, 0, sizeof *options);
    options->segment_bytes = 64u << 20;
    options->free_floor_bytes = 256u << 20;
}

/* ---- little helpers ------------------------------------------------------ */

static void put_u32 (uint8_t *p, uint32_t v)
{
    memcpy (p, &v, 4); /* on-disk integers are little-endian: x86 and ARM both */
}

static uint32_t get_u32 (const uint8_t *p)
{
    uint32_t v;
    memcpy (&v, p, 4);
    return v;
}

static segment_t *active (fling_wal_t *self)
{
    return self->segment_count ? &self->segments[self->segment_count - 1] : NULL;
}

static void segment_path (fling_wal_t *self, uint32_t id, char *path, size_t size)
{
    snprintf (path, size, "%s/%016" PRIx32 ".seg", self->dir, id);
}

static segment_t *segment_find (fling_wal_t *self, uint32_t id)
{
    size_t lo = 0, hi = self->segment_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (self->segments[mid].id == id)
            return &self->segments[mid];
        if (self->segments[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int segments_push (fling_wal_t *self, uint32_t id, int fd)
{
    if (self->segment_count == self->segment_cap) {
        size_t cap = self->segment_cap ? self->segment_cap * 2 : 16;
        segment_t *grown = realloc (self->segments, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->segments = grown;
        self->segment_cap = cap;
    }
    self->segments[self->segment_count++] = (segment_t){.id = id, .fd = fd};
    return 0;
}

static void set_failed (fling_wal_t *self, const char *what)
{
    if (!self->failed)
        fling_error ("store failed: %s error: %s; refusing new tasks until restart", what,
                     strerror (errno));
    self->failed = true;
}

/* ---- space ----------------------------------------------------------------- */

static void spare_create (fling_wal_t *self);

void fling_wal_check_space (fling_wal_t *self)
{
    struct statvfs vfs;
    if (fstatvfs (self->dir_fd, &vfs) == 0)
        self->free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    bool was_full = self->full;
    uint64_t seg = self->options.segment_bytes;
    bool cap_ok =
        !self->options.max_bytes || self->stats.bytes_on_disk + seg <= self->options.max_bytes;
    bool disk_ok = self->free_bytes >= seg + self->options.free_floor_bytes;
    self->full = !(cap_ok && disk_ok);
    if (!self->full && self->options.spare_segment && self->spare_fd < 0 && active (self)) {
        spare_create (self); /* space came back: allocate ahead again */
        if (self->spare_fd < 0 && !self->fd_short)
            self->full = true; /* out of descriptors is no full disk (fling_wal_fd_short) */
    }
    if (self->full != was_full)
        fling_log (self->full ? FLING_LOG_WARN : FLING_LOG_INFO,
                   "store %s: free_disk=%" PRIu64 " on_disk=%" PRIu64 " cap=%" PRIu64,
                   self->full ? "full, refusing new tasks" : "has room again", self->free_bytes,
                   self->stats.bytes_on_disk, self->options.max_bytes);
}

bool fling_wal_has_room (fling_wal_t *self, size_t size, size_t reserve_after)
{
    if (self->failed)
        return false;
    uint64_t need = RECORD_HEADER_SIZE + size;
    uint64_t promised = self->reserved + reserve_after;
    uint64_t seg = self->options.segment_bytes;
    uint64_t usable = seg - SEGMENT_HEADER_SIZE;
    if (!self->options.spare_segment) {
        if (self->active_offset + need + reserve_after <= seg)
            return true;
        return !self->full;
    }
    uint64_t spare = self->spare_fd >= 0 ? usable : 0;
    if (active (self) && self->active_offset + need <= seg)
        return seg - self->active_offset - need + spare >= promised;
    /* A roll: the spare becomes the active segment; count only it (the
       next spare may fail to allocate). */
    return !self->full && (self->spare_fd >= 0 || !active (self)) && usable - need >= promised;
}

void fling_wal_reserve (fling_wal_t *self, int64_t delta)
{
    if (delta < 0 && self->reserved < (uint64_t)-delta)
        self->reserved = 0;
    else
        self->reserved += (uint64_t)delta;
}

/* ---- segments ---------------------------------------------------------------- */

static void header_make (uint8_t header[SEGMENT_HEADER_SIZE], uint32_t id)
{
    memset (header, 0, SEGMENT_HEADER_SIZE);
    memcpy (header, SEGMENT_MAGIC, 8);
    put_u32 (header + 8, 1); /* format version */
    put_u32 (header + 12, id);
    put_u32 (header + 16, fling_crc32c (0, header, 16));
}

/* Makes the open, preallocated file `fd` the active segment `id`.
   -1 + ENOMEM; the caller then closes (and removes) the file. */
static int segment_adopt (fling_wal_t *self, uint32_t id, int fd)
{
    if (segments_push (self, id, fd) != 0) {
        errno = ENOMEM;
        return -1;
    }
    active (self)->dirty = true;
    self->active_offset = self->buffer_offset = SEGMENT_HEADER_SIZE;
    self->synced_offset = 0;
    self->dir_dirty = true;
    self->stats.bytes_on_disk += self->options.segment_bytes;
    self->stats.segments = (uint32_t)self->segment_count;
    self->stats.active_segment = id;
    return 0;
}

static int segment_create (fling_wal_t *self, uint32_t id)
{
    char path[4096];
    segment_path (self, id, path, sizeof path);
    int fd = fling_fdreserve_open (path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    uint8_t header[SEGMENT_HEADER_SIZE];
    header_make (header, id);
    if (self->io.fallocate (fd, 0, (off_t)self->options.segment_bytes) != 0 ||
        self->io.pwrite (fd, header, sizeof header, 0) != (ssize_t)sizeof header) {
        int saved = errno;
        close (fd);
        unlink (path);
        errno = saved;
        return -1;
    }
    if (segment_adopt (self, id, fd) != 0) {
        close (fd);
        unlink (path);
        return -1;
    }
    return 0;
}

static void segment_remove (fling_wal_t *self, segment_t *segment)
{
    char path[4096];
    segment_path (self, segment->id, path, sizeof path);
    close (segment->fd);
    if (unlink (path) != 0)
        fling_warn ("store: cannot remove %s: %s", path, strerror (errno));
    self->stats.bytes_on_disk -= self->options.segment_bytes;
    size_t index = (size_t)(segment - self->segments);
    memmove (segment, segment + 1, (self->segment_count - index - 1) * sizeof *segment);
    self->segment_count--;
    self->stats.segments = (uint32_t)self->segment_count;
    self->dir_dirty = true;
}

static void spare_path (fling_wal_t *self, char *path, size_t size)
{
    snprintf (path, size, "%s/spare.tmp", self->dir);
}

/* Preallocates the next segment under a name replay ignores, so that a
   crash never leaves an empty segment after a torn tail. */
static void spare_create (fling_wal_t *self)
{
    if (!self->options.spare_segment || self->spare_fd >= 0 || self->failed ||
        self->options.read_only)
        return;
    if (self->options.max_bytes &&
        self->stats.bytes_on_disk + self->options.segment_bytes > self->options.max_bytes)
        return; /* the cap counts the spare */
    char path[4096];
    spare_path (self, path, sizeof path);
    int fd = fling_fdreserve_open (path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    self->fd_short = fd < 0 && (errno == EMFILE || errno == ENFILE);
    if (fd < 0)
        return;
    if (self->io.fallocate (fd, 0, (off_t)self->options.segment_bytes) != 0) {
        int saved = errno;
        close (fd);
        unlink (path);
        if (saved == ENOSPC || saved == EDQUOT) {
            if (!self->full)
                fling_warn ("store full: cannot preallocate the spare segment: %s",
                            strerror (saved));
            self->full = true;
        }
        return;
    }
    self->spare_fd = fd;
    self->stats.bytes_on_disk += self->options.segment_bytes;
}

/* Turns the spare into segment `id`: a rename and a header, no allocation. */
static int spare_activate (fling_wal_t *self, uint32_t id)
{
    char from[4096], to[4096];
    spare_path (self, from, sizeof from);
    segment_path (self, id, to, sizeof to);
    uint8_t header[SEGMENT_HEADER_SIZE];
    header_make (header, id);
    int fd = self->spare_fd;
    if (self->io.pwrite (fd, header, sizeof header, 0) != (ssize_t)sizeof header ||
        rename (from, to) != 0) {
        set_failed (self, "spare segment");
        return -1;
    }
    self->spare_fd = -1;
    self->stats.bytes_on_disk -= self->options.segment_bytes; /* segment_adopt adds it back */
    if (segment_adopt (self, id, fd) != 0) {
        close (fd);
        return -1;
    }
    return 0;
}

/* Writes the buffered records to the active segment (no sync). */
static int buffer_write (fling_wal_t *self)
{
    if (!self->buf_len)
        return 0;
    segment_t *seg = active (self);
    const uint8_t *p = self->buf;
    size_t left = self->buf_len;
    off_t offset = (off_t)self->buffer_offset;
    while (left) {
        ssize_t n = self->io.pwrite (seg->fd, p, left, offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            set_failed (self, "write");
            return -1;
        }
        p += n;
        left -= (size_t)n;
        offset += n;
    }
    seg->dirty = true;
    self->stats.bytes_written += self->buf_len;
    self->buffer_offset += self->buf_len;
    self->buf_len = 0;
    return 0;
}

/* Seals the active segment and starts the next. The old segment is synced
   now, so a torn write can only ever sit at the tail of the newest segment
   (where replay truncates it) and never look like corruption of a sealed
   one. `essential` records (those that end tasks) may roll into the
   headroom the free-space floor or the cap keeps: otherwise a full log
   could never complete a task and would stay full forever. */
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
    fling_wal_check_space (self);
    uint32_t next_id = old ? old->id + 1 : 1;
    if (self->spare_fd >= 0) {
        if (spare_activate (self, next_id) != 0)
            return -1;
        spare_create (self);
        fling_wal_check_space (self);
        return 0;
    }
    if (self->full && !essential) {
        errno = ENOSPC;
        return -1;
    }
    if (segment_create (self, next_id) != 0) {
        if (errno == ENOSPC || errno == EDQUOT) {
            self->full = true;
            fling_warn ("store full: cannot preallocate a segment: %s", strerror (errno));
            errno = ENOSPC;
        }
        return -1;
    }
    spare_create (self);
    fling_wal_check_space (self); /* this segment may have been the last that fits */
    return 0;
}

/* ---- open / destroy ---------------------------------------------------------- */

static int by_id (const void *a, const void *b)
{
    uint32_t x = ((const segment_t *)a)->id, y = ((const segment_t *)b)->id;
    return x < y ? -1 : x > y;
}

static int segments_load (fling_wal_t *self)
{
    DIR *dir = opendir (self->dir);
    if (!dir)
        return -1;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        /* Exactly the names segment_path makes: a stray "1.seg" must not
           load segment 1 twice. */
        if (strlen (entry->d_name) != 20 || strcmp (entry->d_name + 16, ".seg") != 0
            || strspn (entry->d_name, "0123456789abcdef") != 16)
            continue;
        unsigned long id = strtoul (entry->d_name, NULL, 16);
        if (id == 0 || id > UINT32_MAX)
            continue;
        char path[4096];
        segment_path (self, (uint32_t)id, path, sizeof path);
        int fd = open (path, (self->options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        if (fd < 0 || segments_push (self, (uint32_t)id, fd) != 0) {
            int saved = errno;
            if (fd >= 0)
                close (fd);
            closedir (dir);
            errno = saved;
            return -1;
        }
        self->stats.bytes_on_disk += self->options.segment_bytes;
    }
    closedir (dir);
    if (self->segment_count > 1)
        qsort (self->segments, self->segment_count, sizeof *self->segments, by_id);
    self->stats.segments = (uint32_t)self->segment_count;
    return 0;
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
    self->io = self->options.io ? *self->options.io : fling_io_default;
    self->dir = strdup (dir);
    self->dir_fd = -1;
    self->spare_fd = -1;
    if (!self->dir || (!self->options.read_only && mkdir (dir, 0700) != 0 && errno != EEXIST))
        goto fail;
    self->dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (self->dir_fd < 0 || segments_load (self) != 0)
        goto fail;
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
    for (size_t i = 0; i < self->segment_count; i++)
        close (self->segments[i].fd);
    if (self->dir_fd >= 0)
        close (self->dir_fd);
    if (self->spare_fd >= 0)
        close (self->spare_fd);
    free (self->segments);
    free (self->buf);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

/* ---- replay -------------------------------------------------------------------- */

/* Size of a valid record at `p` (within `avail` bytes), or 0 if none. */
static size_t record_valid (const uint8_t *p, size_t avail)
{
    if (avail < RECORD_HEADER_SIZE)
        return 0;
    uint32_t size = get_u32 (p + 4);
    if (p[8] == 0 || size > RECORD_BODY_MAX || RECORD_HEADER_SIZE + (size_t)size > avail)
        return 0;
    if (fling_crc32c (0, p + 4, 5 + (size_t)size) != get_u32 (p))
        return 0;
    return RECORD_HEADER_SIZE + size;
}

static bool all_zero (const uint8_t *p, size_t size)
{
    for (size_t i = 0; i < size; i++)
        if (p[i])
            return false;
    return true;
}

/* Replays one segment's bytes; returns the end of its valid records. */
static size_t replay_segment (segment_t *seg, const uint8_t *data, size_t size, bool newest,
                              fling_wal_record_fn *fn, void *arg, fling_wal_replay_stats_t *stats)
{
    size_t offset = SEGMENT_HEADER_SIZE, end_of_valid = SEGMENT_HEADER_SIZE;
    while (offset < size) {
        size_t n = record_valid (data + offset, size - offset);
        if (n) {
            fn (data[offset + 8], data + offset + RECORD_HEADER_SIZE, n - RECORD_HEADER_SIZE,
                seg->id, arg);
            stats->records++;
            stats->bytes += n;
            offset += n;
            end_of_valid = offset;
            continue;
        }
        if (all_zero (data + offset, size - offset))
            break; /* the unwritten, preallocated rest */
        if (newest) {
            /* A bad record in the newest segment: torn write at the tail,
               unless a valid record follows, which would make it corruption. */
            size_t probe = offset + 1;
            while (probe < size && !record_valid (data + probe, size - probe))
                probe++;
            if (probe >= size) {
                size_t last = size;
                while (last > offset && data[last - 1] == 0)
                    last--;
                stats->torn_bytes += last - offset;
                break;
            }
            stats->corrupt_records++;
            offset = probe;
            continue;
        }
        stats->corrupt_records++;
        fling_error ("store: corrupt record in segment %" PRIu32 " at offset %zu; skipping",
                     seg->id, offset);
        while (offset < size && !record_valid (data + offset, size - offset))
            offset++;
    }
    return end_of_valid;
}

static uint8_t *read_all (int fd, size_t *size)
{
    struct stat st;
    if (fstat (fd, &st) != 0)
        return NULL;
    *size = (size_t)st.st_size;
    uint8_t *data = malloc (*size ? *size : 1);
    size_t got = 0;
    while (data && got < *size) {
        ssize_t n = pread (fd, data + got, *size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *size = got;
            break;
        }
        got += (size_t)n;
    }
    return data;
}

static bool header_valid (const uint8_t *data, size_t size, uint32_t id)
{
    return size >= SEGMENT_HEADER_SIZE && memcmp (data, SEGMENT_MAGIC, 8) == 0 &&
           get_u32 (data + 12) == id && get_u32 (data + 16) == fling_crc32c (0, data, 16);
}

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

int fling_wal_replay (fling_wal_t *self, fling_wal_record_fn *fn, void *arg,
                      fling_wal_replay_stats_t *stats)
{
    fling_wal_replay_stats_t local;
    stats = stats ? stats : &local;
    memset (stats, 0, sizeof *stats);
    size_t newest_end = 0;
    for (size_t i = 0; i < self->segment_count; i++) {
        segment_t *seg = &self->segments[i];
        size_t size;
        uint8_t *data = read_all (seg->fd, &size);
        if (!data)
            return -1;
        bool newest = i + 1 == self->segment_count;
        if (!header_valid (data, size, seg->id)) {
            stats->corrupt_records++;
            fling_error ("store: segment %" PRIu32 " has a bad header; skipping it", seg->id);
        } else {
            size_t end = replay_segment (seg, data, size, newest, fn, arg, stats);
            if (newest)
                newest_end = end;
        }
        free (data);
        stats->segments++;
    }
    if (self->options.read_only) {
        self->failed = true; /* nothing may be appended */
        return 0;
    }
    if (self->segment_count == 0 || newest_end == 0)
        return segment_roll (self, true); /* fresh log, or newest unusable: start a new one */
    segment_t *seg = active (self);
    if (stats->torn_bytes && truncate_tail (self, seg, newest_end) != 0) {
        set_failed (self, "truncate");
        return -1;
    }
    self->active_offset = self->buffer_offset = self->synced_offset = newest_end;
    self->stats.active_segment = seg->id;
    spare_create (self);
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
    size_t total = RECORD_HEADER_SIZE + size;
    if (type == 0 || size > RECORD_BODY_MAX ||
        SEGMENT_HEADER_SIZE + total > self->options.segment_bytes) {
        errno = EINVAL;
        return -1;
    }
    if (!active (self) || self->active_offset + total > self->options.segment_bytes)
        if (segment_roll (self, essential) != 0)
            return -1;
    if (buffer_reserve (self, total) != 0) {
        errno = ENOMEM;
        return -1;
    }
    uint8_t *p = self->buf + self->buf_len;
    put_u32 (p + 4, (uint32_t)size);
    p[8] = type;
    if (head_size)
        memcpy (p + RECORD_HEADER_SIZE, head, head_size);
    if (body_size)
        memcpy (p + RECORD_HEADER_SIZE + head_size, body, body_size);
    put_u32 (p, fling_crc32c (0, p + 4, 5 + size));
    self->buf_len += total;
    self->active_offset += total;
    if (self->buf_len >= WRITE_BUFFER_FLUSH && buffer_write (self) != 0)
        return -1;
    return active (self)->id;
}

bool fling_wal_dirty (fling_wal_t *self)
{
    if (self->buf_len || self->dir_dirty)
        return true;
    for (size_t i = 0; i < self->segment_count; i++)
        if (self->segments[i].dirty)
            return true;
    return false;
}

int fling_wal_commit (fling_wal_t *self)
{
    if (self->failed) {
        errno = EIO;
        return -1;
    }
    if (!fling_wal_dirty (self))
        return 0;
    if (buffer_write (self) != 0)
        return -1;
    for (size_t i = 0; i < self->segment_count; i++) {
        segment_t *seg = &self->segments[i];
        if (!seg->dirty)
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
    segment_t *seg = segment_find (self, id);
    if (!seg)
        return;
    if (delta < 0 && seg->live < (uint64_t)-delta)
        seg->live = 0;
    else
        seg->live += (uint64_t)(int64_t)delta;
}

/* Deletes empty segments from the oldest end only: a record that ends a
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
    while (self->segment_count > 1 && self->segments[0].live == 0) {
        segment_remove (self, &self->segments[0]);
        removed = true;
    }
    if (removed) {
        if (fsync (self->dir_fd) == 0)
            self->dir_dirty = false;
        fling_wal_check_space (self);
    }
}

int64_t fling_wal_compaction_candidate (fling_wal_t *self)
{
    if (self->segment_count < 3 || self->full || self->failed)
        return -1;
    /* The oldest segment pins every later one (see sweep), so it is the one
       to empty: worth it when few of its records are still live. */
    segment_t *oldest = &self->segments[0];
    uint64_t few = self->options.segment_bytes / 4 / 160;
    return oldest->live > 0 && oldest->live < few ? (int64_t)oldest->id : -1;
}

bool fling_wal_failed (fling_wal_t *self)
{
    return self->failed;
}

bool fling_wal_fd_short (fling_wal_t *self)
{
    return self->fd_short;
}

bool fling_wal_full (fling_wal_t *self)
{
    return self->full;
}

void fling_wal_stats (fling_wal_t *self, fling_wal_stats_t *stats)
{
    *stats = self->stats;
}

uint64_t fling_wal_synced_offset (fling_wal_t *self, char *path, size_t path_size)
{
    segment_t *seg = active (self);
    if (!seg)
        return 0;
    segment_path (self, seg->id, path, path_size);
    return self->synced_offset;
}
