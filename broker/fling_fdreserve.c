/*  fling_fdreserve.c - see fling_fdreserve.h. */
#include "fling_fdreserve.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static int reserve[FLING_FDRESERVE_COUNT];
static int held;

void fling_fdreserve_fill (void)
{
    while (held < FLING_FDRESERVE_COUNT) {
        int fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return;
        reserve[held++] = fd;
    }
}

int fling_fdreserve_open (const char *path, int flags, mode_t mode)
{
    int fd = open (path, flags, mode);
    if (fd >= 0 || (errno != EMFILE && errno != ENFILE) || held == 0)
        return fd;
    close (reserve[--held]);
    return open (path, flags, mode);
}

void fling_fdreserve_release (void)
{
    while (held > 0)
        close (reserve[--held]);
}

int fling_fdreserve_held (void)
{
    return held;
}
