/*  fault_shim.c - LD_PRELOAD fault injection for the broker's store (F07, F09, F10).

    Wraps the calls the store makes (fling_io_default takes the libc symbols,
    so a dynamically linked broker calls these instead):

      pwrite / write / ftruncate  track, per descriptor, the highest byte
                                  written (the store only appends)
      fdatasync / fsync           after a successful call, append one line
                                  "PATH OFFSET" to $FLING_FAULT_SYNC_LOG: the
                                  file is durable up to OFFSET (F07 cuts it
                                  there); fail with EIO, without syncing,
                                  while the file $FLING_FAULT_FSYNC_EIO exists.
                                  After a failure, as Linux may drop the dirty
                                  pages, later syncs of that descriptor
                                  "succeed" but the durable offset never
                                  moves again: a store that retries a failed
                                  fsync and acknowledges loses those tasks in
                                  the next power cut (F10)
      posix_fallocate / fallocate fail with ENOSPC while the file
                                  $FLING_FAULT_ENOSPC exists; pwrite / write
                                  too, but only past the end of the file
                                  (preallocated space stays usable, as on a
                                  really full disk)

    Only regular files under $FLING_FAULT_DIR (every regular file if unset)
    are tracked or failed, so logs, sockets and eventfds pass untouched.
    Trigger files are looked at most every 5 ms (a coarse monotonic clock is
    a vDSO call, not a system call), so the shim costs little per call.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define FD_MAX 65536
#define EXPORT __attribute__ ((visibility ("default")))

typedef ssize_t (*pwrite_fn) (int, const void *, size_t, off_t);
typedef ssize_t (*write_fn) (int, const void *, size_t);
typedef int (*sync_fn) (int);
typedef int (*palloc_fn) (int, off_t, off_t);
typedef int (*falloc_fn) (int, int, off_t, off_t);
typedef int (*trunc_fn) (int, off_t);
typedef int (*close_fn) (int);
typedef int (*open_fn) (const char *, int, ...);
typedef int (*openat_fn) (int, const char *, int, ...);

static struct {
    pwrite_fn pwrite, pwrite64;
    write_fn write;
    sync_fn fdatasync, fsync;
    palloc_fn posix_fallocate, posix_fallocate64;
    falloc_fn fallocate, fallocate64;
    trunc_fn ftruncate, ftruncate64;
    close_fn close;
    open_fn open, open64;
    openat_fn openat, openat64;
} real;

/* Per-descriptor state; a lock because the broker has several threads and
   this table is shared by all of them. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int8_t fd_kind[FD_MAX];      /* 0 unknown, 1 tracked, -1 not ours */
static uint64_t fd_written[FD_MAX]; /* highest byte written + 1 */
static uint64_t synced[FD_MAX];     /* durable up to here (last logged offset) */
static bool poisoned[FD_MAX];       /* an fdatasync failed: nothing after synced is durable */
static const char *dir, *sync_log, *eio_file, *enospc_file;
static size_t dir_len;
static int log_fd = -1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *next (const char *name)
{
    return dlsym (RTLD_NEXT, name);
}

static void init (void)
{
    real.pwrite = (pwrite_fn)next ("pwrite");
    real.pwrite64 = (pwrite_fn)next ("pwrite64");
    real.write = (write_fn)next ("write");
    real.fdatasync = (sync_fn)next ("fdatasync");
    real.fsync = (sync_fn)next ("fsync");
    real.posix_fallocate = (palloc_fn)next ("posix_fallocate");
    real.posix_fallocate64 = (palloc_fn)next ("posix_fallocate64");
    real.fallocate = (falloc_fn)next ("fallocate");
    real.fallocate64 = (falloc_fn)next ("fallocate64");
    real.ftruncate = (trunc_fn)next ("ftruncate");
    real.ftruncate64 = (trunc_fn)next ("ftruncate64");
    real.close = (close_fn)next ("close");
    real.open = (open_fn)next ("open");
    real.open64 = (open_fn)next ("open64");
    real.openat = (openat_fn)next ("openat");
    real.openat64 = (openat_fn)next ("openat64");
    dir = getenv ("FLING_FAULT_DIR");
    dir_len = dir ? strlen (dir) : 0;
    sync_log = getenv ("FLING_FAULT_SYNC_LOG");
    eio_file = getenv ("FLING_FAULT_FSYNC_EIO");
    enospc_file = getenv ("FLING_FAULT_ENOSPC");
    if (sync_log)
        log_fd = real.open (sync_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static void ensure_init (void)
{
    pthread_once (&once, init);
}

/* ---- triggers ------------------------------------------------------------ */

typedef struct {
    const char *const *path;
    int64_t checked_ms;
    bool on;
} trigger_t;

static trigger_t eio = {&eio_file, -1000, false};
static trigger_t enospc = {&enospc_file, -1000, false};

static int64_t coarse_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool trigger_on (trigger_t *t)
{
    if (!*t->path)
        return false;
    int64_t now = coarse_ms ();
    pthread_mutex_lock (&lock);
    if (now - t->checked_ms >= 5) {
        t->on = access (*t->path, F_OK) == 0;
        t->checked_ms = now;
    }
    bool on = t->on;
    pthread_mutex_unlock (&lock);
    return on;
}

/* ---- descriptors ---------------------------------------------------------- */

static bool fd_path (int fd, char *path, size_t size)
{
    char link[64];
    snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink (link, path, size - 1);
    if (n <= 0)
        return false;
    path[n] = 0;
    return true;
}

/* Whether `fd` is a regular file under FLING_FAULT_DIR. Decided once per
   descriptor; close() forgets it, so a reused number is looked at again. */
static bool tracked (int fd)
{
    if (fd < 0 || fd >= FD_MAX)
        return false;
    pthread_mutex_lock (&lock);
    int8_t kind = fd_kind[fd];
    pthread_mutex_unlock (&lock);
    if (kind)
        return kind > 0;
    struct stat st;
    char path[PATH_MAX];
    bool ours = fstat (fd, &st) == 0 && S_ISREG (st.st_mode) && fd_path (fd, path, sizeof path) &&
                (!dir || strncmp (path, dir, dir_len) == 0);
    pthread_mutex_lock (&lock);
    fd_kind[fd] = ours ? 1 : -1;
    fd_written[fd] = 0;
    synced[fd] = 0;
    poisoned[fd] = false;
    pthread_mutex_unlock (&lock);
    return ours;
}

static void forget (int fd)
{
    if (fd < 0 || fd >= FD_MAX)
        return;
    pthread_mutex_lock (&lock);
    fd_kind[fd] = 0;
    fd_written[fd] = 0;
    synced[fd] = 0;
    poisoned[fd] = false;
    pthread_mutex_unlock (&lock);
}

static void note_written (int fd, uint64_t end)
{
    pthread_mutex_lock (&lock);
    if (end > fd_written[fd])
        fd_written[fd] = end;
    pthread_mutex_unlock (&lock);
}

static void note_truncated (int fd, uint64_t length)
{
    pthread_mutex_lock (&lock);
    fd_written[fd] = length;
    if (synced[fd] > length)
        synced[fd] = length;
    pthread_mutex_unlock (&lock);
}

/* One line per successful sync, with one write(2) on an O_APPEND file. */
static void log_synced (int fd)
{
    if (log_fd < 0)
        return;
    char path[PATH_MAX], line[PATH_MAX + 32];
    if (!fd_path (fd, path, sizeof path) || strstr (path, " (deleted)"))
        return;
    pthread_mutex_lock (&lock);
    if (!poisoned[fd])
        synced[fd] = fd_written[fd];
    uint64_t written = synced[fd];
    pthread_mutex_unlock (&lock);
    int n = snprintf (line, sizeof line, "%s %llu\n", path, (unsigned long long)written);
    if (n > 0 && (size_t)n < sizeof line) {
        ssize_t rc = real.write (log_fd, line, (size_t)n);
        (void)rc;
    }
}

static bool past_end (int fd, uint64_t end)
{
    struct stat st;
    return fstat (fd, &st) != 0 || end > (uint64_t)st.st_size;
}

/* ---- wrappers -------------------------------------------------------------- */

static ssize_t do_pwrite (pwrite_fn fn, int fd, const void *buf, size_t size, off_t offset)
{
    ensure_init ();
    if (!tracked (fd))
        return fn (fd, buf, size, offset);
    if (trigger_on (&enospc) && past_end (fd, (uint64_t)offset + size)) {
        errno = ENOSPC;
        return -1;
    }
    ssize_t n = fn (fd, buf, size, offset);
    if (n > 0)
        note_written (fd, (uint64_t)offset + (uint64_t)n);
    return n;
}

EXPORT ssize_t pwrite (int fd, const void *buf, size_t size, off_t offset)
{
    ensure_init ();
    return do_pwrite (real.pwrite, fd, buf, size, offset);
}

EXPORT ssize_t pwrite64 (int fd, const void *buf, size_t size, off_t offset)
{
    ensure_init ();
    return do_pwrite (real.pwrite64 ? real.pwrite64 : real.pwrite, fd, buf, size, offset);
}

EXPORT ssize_t write (int fd, const void *buf, size_t size)
{
    ensure_init ();
    if (!tracked (fd))
        return real.write (fd, buf, size);
    off_t at = lseek (fd, 0, SEEK_CUR);
    if (trigger_on (&enospc) && at >= 0 && past_end (fd, (uint64_t)at + size)) {
        errno = ENOSPC;
        return -1;
    }
    ssize_t n = real.write (fd, buf, size);
    if (n > 0) {
        off_t end = lseek (fd, 0, SEEK_CUR);
        if (end >= 0)
            note_written (fd, (uint64_t)end);
    }
    return n;
}

static int do_sync (sync_fn fn, int fd)
{
    ensure_init ();
    if (!tracked (fd))
        return fn (fd);
    if (trigger_on (&eio)) {
        pthread_mutex_lock (&lock);
        poisoned[fd] = true;
        pthread_mutex_unlock (&lock);
        errno = EIO;
        return -1;
    }
    int rc = fn (fd);
    if (rc == 0)
        log_synced (fd);
    return rc;
}

EXPORT int fdatasync (int fd)
{
    ensure_init ();
    return do_sync (real.fdatasync, fd);
}

EXPORT int fsync (int fd)
{
    ensure_init ();
    return do_sync (real.fsync, fd);
}

/* posix_fallocate returns the error number instead of setting errno. */
static int do_posix_fallocate (palloc_fn fn, int fd, off_t offset, off_t size)
{
    if (tracked (fd) && trigger_on (&enospc))
        return ENOSPC;
    return fn (fd, offset, size);
}

EXPORT int posix_fallocate (int fd, off_t offset, off_t size)
{
    ensure_init ();
    return do_posix_fallocate (real.posix_fallocate, fd, offset, size);
}

EXPORT int posix_fallocate64 (int fd, off_t offset, off_t size)
{
    ensure_init ();
    return do_posix_fallocate (
        real.posix_fallocate64 ? real.posix_fallocate64 : real.posix_fallocate, fd, offset, size);
}

static int do_fallocate (falloc_fn fn, int fd, int mode, off_t offset, off_t size)
{
    if (tracked (fd) && trigger_on (&enospc)) {
        errno = ENOSPC;
        return -1;
    }
    return fn (fd, mode, offset, size);
}

EXPORT int fallocate (int fd, int mode, off_t offset, off_t size)
{
    ensure_init ();
    return do_fallocate (real.fallocate, fd, mode, offset, size);
}

EXPORT int fallocate64 (int fd, int mode, off_t offset, off_t size)
{
    ensure_init ();
    return do_fallocate (real.fallocate64 ? real.fallocate64 : real.fallocate, fd, mode, offset,
                         size);
}

static int do_ftruncate (trunc_fn fn, int fd, off_t length)
{
    int rc = fn (fd, length);
    if (rc == 0 && tracked (fd))
        note_truncated (fd, (uint64_t)length);
    return rc;
}

EXPORT int ftruncate (int fd, off_t length)
{
    ensure_init ();
    return do_ftruncate (real.ftruncate, fd, length);
}

EXPORT int ftruncate64 (int fd, off_t length)
{
    ensure_init ();
    return do_ftruncate (real.ftruncate64 ? real.ftruncate64 : real.ftruncate, fd, length);
}

EXPORT int close (int fd)
{
    ensure_init ();
    forget (fd);
    return real.close (fd);
}

/* A descriptor number that libc closed behind our back (closedir, fclose)
   may come back from open: look at it afresh. */
static int opened (int fd)
{
    if (fd >= 0)
        forget (fd);
    return fd;
}

static mode_t open_mode (int flags, va_list ap)
{
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg (ap, int) : 0;
}

EXPORT int open (const char *path, int flags, ...)
{
    ensure_init ();
    va_list ap;
    va_start (ap, flags);
    mode_t mode = open_mode (flags, ap);
    va_end (ap);
    return opened (real.open (path, flags, mode));
}

EXPORT int open64 (const char *path, int flags, ...)
{
    ensure_init ();
    va_list ap;
    va_start (ap, flags);
    mode_t mode = open_mode (flags, ap);
    va_end (ap);
    return opened ((real.open64 ? real.open64 : real.open) (path, flags, mode));
}

EXPORT int openat (int dirfd, const char *path, int flags, ...)
{
    ensure_init ();
    va_list ap;
    va_start (ap, flags);
    mode_t mode = open_mode (flags, ap);
    va_end (ap);
    return opened (real.openat (dirfd, path, flags, mode));
}

EXPORT int openat64 (int dirfd, const char *path, int flags, ...)
{
    ensure_init ();
    va_list ap;
    va_start (ap, flags);
    mode_t mode = open_mode (flags, ap);
    va_end (ap);
    return opened ((real.openat64 ? real.openat64 : real.openat) (dirfd, path, flags, mode));
}
