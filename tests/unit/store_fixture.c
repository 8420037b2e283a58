/*  store_fixture.c - see store_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "fling_wal.h"
#include "store_fixture.h"

char *store_dir_new (const char *name)
{
    char *dir = NULL;
    assert_true (asprintf (&dir, "/tmp/fling-test-%s-XXXXXX", name) > 0);
    assert_non_null (mkdtemp (dir));
    return dir;
}

void store_dir_remove (char *dir)
{
    char cmd[512];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal (system (cmd), 0);
    free (dir);
}

int store_disk_full;

int store_fallocate (int fd, off_t offset, off_t size)
{
    if (store_disk_full) {
        errno = ENOSPC;
        return -1;
    }
    return fling_io_default.fallocate (fd, offset, size);
}
