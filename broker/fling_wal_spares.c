/*  fling_wal_spares.c - see fling_wal_spares.h. */
#include "fling_fdreserve.h"
#include "fling_wal_spares.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Spares are files in the directory, known by number (spare-<n>.tmp); no
   descriptor is kept open for them: a store with small segments may hold
   thousands. */
struct fling_wal_spares {
    char *dir;
    size_t segment_bytes;
    fling_io_t io;
    unsigned *numbers;
    size_t count, cap;
    unsigned next_number;
};

static void spare_path (fling_wal_spares_t *self, unsigned number, char *path, size_t size)
{
    snprintf (path, size, "%s/spare-%u.tmp", self->dir, number);
}

static int push (fling_wal_spares_t *self, unsigned number)
{
    if (self->count == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 8;
        unsigned *grown = realloc (self->numbers, cap * sizeof *grown);
        if (!grown) {
            errno = ENOMEM;
            return -1;
        }
        self->numbers = grown;
        self->cap = cap;
    }
    self->numbers[self->count++] = number;
    if (number >= self->next_number)
        self->next_number = number + 1;
    return 0;
}

/* A spare left by the last run: kept if it has the segment size (its
   blocks allocated), else removed. "spare.tmp" is an older broker's. */
static void adopt (fling_wal_spares_t *self, const char *name)
{
    unsigned number = 0;
    char tail;
    bool ours = sscanf (name, "spare-%u.tm%c", &number, &tail) == 2 && tail == 'p';
    if (!ours && strcmp (name, "spare.tmp") != 0)
        return;
    char path[4096];
    snprintf (path, sizeof path, "%s/%s", self->dir, name);
    struct stat st;
    if (ours && lstat (path, &st) == 0 && S_ISREG (st.st_mode) &&
        (size_t)st.st_size == self->segment_bytes &&
        (uint64_t)st.st_blocks * 512 >= self->segment_bytes && push (self, number) == 0)
        return;
    unlink (path);
}

fling_wal_spares_t *fling_wal_spares_new (const char *dir, size_t segment_bytes,
                                          const fling_io_t *io)
{
    fling_wal_spares_t *self = calloc (1, sizeof *self);
    if (!self || !(self->dir = strdup (dir))) {
        free (self);
        errno = ENOMEM;
        return NULL;
    }
    self->segment_bytes = segment_bytes;
    self->io = *io;
    DIR *d = opendir (dir);
    if (!d) {
        int err = errno;
        fling_wal_spares_destroy (&self);
        errno = err;
        return NULL;
    }
    struct dirent *entry;
    while ((entry = readdir (d)))
        if (strncmp (entry->d_name, "spare", 5) == 0)
            adopt (self, entry->d_name);
    closedir (d);
    return self;
}

void fling_wal_spares_destroy (fling_wal_spares_t **self_p)
{
    fling_wal_spares_t *self = *self_p;
    if (!self)
        return;
    free (self->numbers);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

size_t fling_wal_spares_count (fling_wal_spares_t *self)
{
    return self->count;
}

int fling_wal_spares_add (fling_wal_spares_t *self)
{
    char path[4096];
    unsigned number = self->next_number;
    spare_path (self, number, path, sizeof path);
    int fd = fling_fdreserve_open (path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    if (self->io.fallocate (fd, 0, (off_t)self->segment_bytes) != 0 || push (self, number) != 0) {
        int err = errno;
        close (fd);
        unlink (path);
        errno = err;
        return -1;
    }
    close (fd);
    return 0;
}

int fling_wal_spares_take (fling_wal_spares_t *self, const char *path, const void *header,
                           size_t header_size)
{
    if (!self->count) {
        errno = ENOENT;
        return -1;
    }
    char from[4096];
    spare_path (self, self->numbers[self->count - 1], from, sizeof from);
    int fd = fling_fdreserve_open (from, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fd < 0)
        return -1;
    if (fling_io_write_all (&self->io, fd, header, header_size, 0) != 0 ||
        rename (from, path) != 0) {
        int err = errno;
        close (fd);
        errno = err;
        return -1;
    }
    self->count--;
    return fd;
}
