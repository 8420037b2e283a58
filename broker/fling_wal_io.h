/*  fling_wal_io.h - the system calls the broker's log makes on its files.

    The writes, syncs and allocations go through a swappable table (as
    beanstalkd does with falloc), so tests can make fallocate, pwrite or
    fdatasync fail like a full or failing disk. Reads go straight to the
    system: a read error is damage to report, not a fault to inject.
*/
#ifndef FLING_WAL_IO_H_INCLUDED
#define FLING_WAL_IO_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*  Each returns as the system call does (-1 and errno on failure). */
typedef struct {
    ssize_t (*pwrite) (int fd, const void *buf, size_t size, off_t offset);
    int (*fdatasync) (int fd);
    int (*fallocate) (int fd, off_t offset, off_t size); /* -1 + errno, unlike posix_fallocate */
} fling_io_t;

extern const fling_io_t fling_io_default;

/*  Writes all `size` bytes at `offset` (retrying short writes and EINTR).
    0, or -1 + errno (EIO for a write that made no progress). */
int fling_io_write_all (const fling_io_t *io, int fd, const void *buf, size_t size, off_t offset);

/*  Reads the whole file into a new buffer (free it), its size in *size.
    A read error ends the read early: *size is what was read and
    *read_error the errno (0 if none). NULL + ENOMEM. */
uint8_t *fling_io_read_all (int fd, size_t *size, int *read_error);

#endif
