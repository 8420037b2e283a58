/*  store_fixture.h - what the tests of the disk store and of its log
    (test_store_disk*.c, test_wal*.c, the broker fixture) need: a scratch
    directory, and a disk that fills up on demand. Part of the unit
    support library; its failures are cmocka failures of the test that
    called it.
*/
#ifndef STORE_FIXTURE_H_INCLUDED
#define STORE_FIXTURE_H_INCLUDED

#include <sys/types.h>

/* A new empty directory /tmp/fling-test-<name>-XXXXXX, its path on the
   heap: give it back to store_dir_remove. */
char *store_dir_new (const char *name);

/* Removes `dir` with all in it, then frees the path. */
void store_dir_remove (char *dir);

/* While set, store_fallocate refuses with ENOSPC as a full disk would;
   a test that sets it clears it before it opens a store again. */
extern int store_disk_full;

/* For fling_io_t.fallocate: the default one unless store_disk_full. */
int store_fallocate (int fd, off_t offset, off_t size);

#endif
