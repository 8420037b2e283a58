/*  fling_wal_io.c - see fling_wal_io.h. */
#include "fling_wal_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int default_fallocate (int fd, off_t offset, off_t size)
{
    int rc = posix_fallocate (fd, offset, size);
    if (rc == 0)
        return 0;
    errno = rc;
    return -1;
}

const fling_io_t fling_io_default = {pwrite, fdatasync, default_fallocate};

int fling_io_write_all (const fling_io_t *io, int fd, const void *buf, size_t size, off_t offset)
{
    const uint8_t *p = (const uint8_t *)buf;
    while (size) {
        ssize_t n = io->pwrite (fd, p, size, offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        p += n;
        size -= (size_t)n;
        offset += n;
    }
    return 0;
}

uint8_t *fling_io_read_all (int fd, size_t *size, int *read_error)
{
    struct stat st;
    *read_error = 0;
    *size = 0;
    if (fstat (fd, &st) != 0) {
        *read_error = errno;
        st.st_size = 0;
    }
    size_t want = (size_t)st.st_size;
    uint8_t *data = (uint8_t *)malloc (want ? want : 1);
    if (!data) {
        errno = ENOMEM;
        return NULL;
    }
    while (*size < want) {
        ssize_t n = pread (fd, data + *size, want - *size, (off_t)*size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *read_error = n < 0 ? errno : 0; /* 0: the file shrank meanwhile */
            break;
        }
        *size += (size_t)n;
    }
    return data;
}
