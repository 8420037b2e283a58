/*  fling_store_lock.c - see fling_store_lock.h. */
#include "fling_store_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct fling_store_lock {
    int fd; /* -1: a shared lock on a directory with no lock file */
    bool exclusive;
};

static int lock_open (const char *path, bool shared)
{
    if (shared)
        return open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && errno == EACCES) /* made by another user: flock needs no write access */
        fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    return fd;
}

/* Names the holder for the refusal, from what the exclusive holder wrote
   into the file ("pid=N host=H"). A file naming no one, or a pid that is
   not running on this host, means a shared holder: an offline check. */
static void holder_describe (int fd, char *out, size_t size)
{
    char text[320] = "";
    ssize_t n = pread (fd, text, sizeof text - 1, 0);
    text[n > 0 ? n : 0] = 0;
    long pid = 0;
    char host[256] = "", here[256] = "";
    if (sscanf (text, "pid=%ld host=%255s", &pid, host) != 2 || pid <= 0) {
        snprintf (out, size,
                  "by a process that does not name itself (a fling-broker "
                  "--check-store reading it, or a broker that is still starting)");
        return;
    }
    gethostname (here, sizeof here - 1);
    if (strcmp (host, here) == 0 && kill ((pid_t)pid, 0) != 0 && errno == ESRCH)
        snprintf (out, size,
                  "by another process: the lock file names pid %ld on host %s, "
                  "which is not running (a fling-broker --check-store is probably "
                  "reading the store)",
                  pid, host);
    else
        snprintf (out, size, "by broker pid %ld on host %s", pid, host);
}

/* Writes "pid=N host=H" for the refusal message of the next one to try. */
static void holder_write (int fd)
{
    char host[256] = "", text[320];
    gethostname (host, sizeof host - 1);
    int n = snprintf (text, sizeof text, "pid=%ld host=%s\n", (long)getpid (),
                      host[0] ? host : "unknown");
    if (ftruncate (fd, 0) != 0 || pwrite (fd, text, (size_t)n, 0) != n) {
        /* a read-only lock file: the lock holds, the refusal names no pid */
    }
}

fling_store_lock_t *fling_store_lock_new (const char *dir, bool shared, char *error,
                                          size_t error_size)
{
    char path[4096];
    snprintf (error, error_size, "cannot lock the store directory %s", dir);
    if (snprintf (path, sizeof path, "%s/%s", dir, FLING_STORE_LOCK_FILE) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    if (!shared && mkdir (dir, 0700) != 0 && errno != EEXIST) {
        snprintf (error, error_size, "cannot create the store directory %s: %s", dir,
                  strerror (errno));
        return NULL;
    }
    fling_store_lock_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->exclusive = !shared;
    self->fd = lock_open (path, shared);
    if (self->fd < 0) {
        if (shared && errno == ENOENT)
            return self; /* nothing to share: no broker of this version ran here */
        int err = errno;
        snprintf (error, error_size, "cannot open the lock file %s: %s", path, strerror (err));
        free (self);
        errno = err;
        return NULL;
    }
    int rc;
    while ((rc = flock (self->fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB)) != 0 && errno == EINTR)
        ;
    if (rc != 0) {
        int err = errno;
        if (err == EWOULDBLOCK) {
            char holder[512];
            holder_describe (self->fd, holder, sizeof holder);
            snprintf (error, error_size,
                      shared ? "a broker is running on the store %s: it is locked %s (%s); "
                               "stop it first, or check a copy of the directory"
                             : "the store directory %s is in use: it is locked %s (%s); one "
                               "broker per store: stop that one first, or give this broker "
                               "its own --store-dir",
                      dir, holder, path);
            err = EBUSY;
        } else
            snprintf (error, error_size, "cannot lock %s: %s", path, strerror (err));
        close (self->fd);
        free (self);
        errno = err;
        return NULL;
    }
    if (!shared)
        holder_write (self->fd);
    return self;
}

void fling_store_lock_destroy (fling_store_lock_t **self_p)
{
    fling_store_lock_t *self = *self_p;
    if (!self)
        return;
    if (self->fd >= 0) {
        if (self->exclusive && ftruncate (self->fd, 0) != 0) {
            /* read-only lock file: nothing was written */
        }
        close (self->fd); /* the last descriptor of this open file: the lock goes */
    }
    free (self);
    *self_p = NULL;
}
