/*  test_store_disk_faults.c - the "disk" store (broker/fling_store_disk.c)
    when things go wrong: a failed fdatasync never reported as success, a
    disk that fills up suddenly keeping completions, one broker per store
    (the lock) and the read-only checker, a damaged segment recovered and
    reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fling_store.h"
#include "fling_store_check.h"
#include "fling_store_lock.h"
#include "store_disk_fixture.h"
#include "store_fixture.h"

static int fail_sync;
static int failing_fdatasync (int fd)
{
    if (fail_sync) {
        errno = EIO;
        return -1;
    }
    return fdatasync (fd);
}

static void test_failed_fdatasync_never_succeeds (void **state)
{
    disk_t *d = *state;
    fling_io_t io = fling_io_default;
    io.fdatasync = failing_fdatasync;
    fail_sync = 0;
    fling_store_t *store = disk_open_store (d, 1 << 20, 0, &io);
    disk_put_task (store, 1);
    assert_int_equal (fling_store_commit (store), 0);
    disk_put_task (store, 2);
    fail_sync = 1;
    assert_int_equal (fling_store_commit (store), -1);
    fail_sync = 0; /* even if the disk "recovers", nothing later succeeds */
    uint32_t segment = 0;
    assert_int_equal (disk_put_attempt (store, 3, 0, &segment), -1);
    assert_int_equal (errno, EIO);
    assert_int_equal (fling_store_commit (store), -1);
    fling_store_status_t status;
    fling_store_status (store, &status);
    assert_true (status.failed);
    disk_reopen_store (d, &store);
    assert_true (d->table.entries[1].live); /* the committed one is there */
    fling_store_destroy (&store);
}

/* The disk refuses to allocate (no cap, statvfs still shows space): new
   tasks get ENOSPC, but every accepted task can still be completed, in
   the room kept in the active and spare segments. */
static void test_sudden_full_disk_keeps_completions (void **state)
{
    disk_t *d = *state;
    fling_io_t io = fling_io_default;
    io.fallocate = store_fallocate;
    store_disk_full = 0;
    fling_store_t *store = disk_open_store (d, 8192, 0, &io);
    static uint32_t seg[DISK_MAX_TASKS];
    uint64_t accepted = 0;
    for (uint64_t i = 1; i <= 50; i++, accepted++)
        seg[i] = disk_put_task (store, i);
    assert_int_equal (fling_store_commit (store), 0);
    store_disk_full = 1;
    accepted += disk_put_until_full (store, 51, seg, 10);
    assert_true (accepted > 50 && accepted < DISK_MAX_TASKS - 1);
    assert_int_equal (fling_store_commit (store), 0);
    for (uint64_t i = 1; i <= accepted; i++)
        disk_complete_task (store, i, seg[i]);
    assert_int_equal (fling_store_commit (store), 0);
    fling_store_destroy (&store);
    store_disk_full = 0;
    store = disk_open_store (d, 8192, 0, NULL);
    assert_int_equal (d->table.live, 0);
    fling_store_destroy (&store);
}

static FILE *null_out (void)
{
    FILE *out = fopen ("/dev/null", "w");
    assert_non_null (out);
    return out;
}

/* Reads the lock file: what its holder wrote ("" once it let go). */
static void lock_text (const char *dir, char *text, size_t size)
{
    char path[600];
    snprintf (path, sizeof path, "%s/%s", dir, FLING_STORE_LOCK_FILE);
    FILE *f = fopen (path, "r");
    assert_non_null (f);
    size_t n = fread (text, 1, size - 1, f);
    text[n] = 0;
    fclose (f);
}

/* One broker per store: a second open of the directory is refused while
   the first is open (also inside one process: flock belongs to the open
   file, not the process), the offline check too; a shared (check) lock
   keeps a broker out and lets other checks in. */
static void test_one_broker_per_store (void **state)
{
    disk_t *d = *state;
    fling_store_t *store = disk_open_store (d, 1 << 20, 0, NULL);
    disk_put_task (store, 1);
    assert_int_equal (fling_store_commit (store), 0);
    char text[512], expect[64];
    lock_text (d->dir, text, sizeof text);
    snprintf (expect, sizeof expect, "pid=%ld ", (long)getpid ());
    assert_non_null (strstr (text, expect));

    fling_store_options_t options;
    fling_store_options_init (&options);
    snprintf (options.dir, sizeof options.dir, "%s", d->dir);
    options.wal.free_floor_bytes = 0;
    errno = 0;
    assert_null (fling_store_open ("disk", &options));
    assert_int_equal (errno, EBUSY);
    char error[1024];
    assert_null (fling_store_lock_new (d->dir, false, error, sizeof error));
    assert_int_equal (errno, EBUSY);
    assert_non_null (strstr (error, d->dir));
    snprintf (expect, sizeof expect, "pid %ld", (long)getpid ());
    assert_non_null (strstr (error, expect));
    FILE *out = null_out ();
    assert_int_equal (fling_store_check (d->dir, false, out), 1);

    fling_store_destroy (&store); /* the lock goes with the store */
    lock_text (d->dir, text, sizeof text);
    assert_string_equal (text, "");
    assert_int_equal (fling_store_check (d->dir, false, out), 0);
    fclose (out);

    fling_store_lock_t *check = fling_store_lock_new (d->dir, true, error, sizeof error);
    fling_store_lock_t *check2 = fling_store_lock_new (d->dir, true, error, sizeof error);
    assert_non_null (check);
    assert_non_null (check2); /* checks share */
    assert_null (fling_store_lock_new (d->dir, false, error, sizeof error));
    assert_int_equal (errno, EBUSY);
    assert_non_null (strstr (error, "check-store"));
    fling_store_lock_destroy (&check);
    fling_store_lock_destroy (&check2);
    assert_null (check);
    store = disk_open_store (d, 1 << 20, 0, NULL);
    assert_true (d->table.entries[1].live);
    fling_store_destroy (&store);

    /* A shared lock on a directory no broker opened takes nothing. */
    char *empty = store_dir_new ("nolock");
    check = fling_store_lock_new (empty, true, error, sizeof error);
    assert_non_null (check);
    fling_store_lock_destroy (&check);
    store_dir_remove (empty);
}

/* A damaged segment header: the checker exits 2, the store still
   recovers every task in that segment and says it is damaged. */
static void test_damaged_header_recovered_and_reported (void **state)
{
    disk_t *d = *state;
    fling_store_t *store = disk_open_store (d, 1 << 20, 0, NULL);
    for (uint64_t i = 1; i <= 100; i++)
        disk_put_task (store, i);
    assert_int_equal (fling_store_commit (store), 0);
    fling_store_destroy (&store);
    FILE *out = null_out ();
    assert_int_equal (fling_store_check (d->dir, false, out), 0);
    char path[600];
    snprintf (path, sizeof path, "%s/%016x.seg", d->dir, 1);
    int fd = open (path, O_RDWR);
    assert_true (fd >= 0);
    assert_int_equal (pwrite (fd, "XY", 2, 0), 2);
    close (fd);
    assert_int_equal (fling_store_check (d->dir, false, out), 2);
    fclose (out);
    store = disk_open_store (d, 1 << 20, 0, NULL);
    assert_int_equal (d->table.live, 100);
    fling_store_status_t status;
    fling_store_status (store, &status);
    assert_int_equal (status.damaged_segments, 1);
    assert_int_equal (fling_store_compaction_candidate (store), 1);
    fling_store_destroy (&store);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_failed_fdatasync_never_succeeds, disk_setup,
                                         disk_teardown),
        cmocka_unit_test_setup_teardown (test_sudden_full_disk_keeps_completions, disk_setup,
                                         disk_teardown),
        cmocka_unit_test_setup_teardown (test_one_broker_per_store, disk_setup, disk_teardown),
        cmocka_unit_test_setup_teardown (test_damaged_header_recovered_and_reported, disk_setup,
                                         disk_teardown),
    };
    return cmocka_run_group_tests_name ("store_disk_faults", tests, NULL, NULL);
}
