/*  test_wal.c - the broker's append-only log: durability, torn tails,
    corruption, failed fsync, full disk, segment removal, reservations that
    grow past one segment. Damaged segments: test_wal_damage.c. */
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
#include <unistd.h>

#include "fling_wal.h"
#include "store_fixture.h"
#include "wal_fixture.h"

static void test_roundtrip_across_segments (void **state)
{
    char *dir = store_dir_new ("wal");
    fling_wal_t *wal = wal_open (dir, NULL, 0, NULL, NULL);
    wal_append_values (wal, 1, 2000, 100); /* ~230 KB: several 64 KiB segments */
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_stats_t st;
    fling_wal_stats (wal, &st);
    assert_true (st.segments >= 3);
    fling_wal_destroy (&wal);
    assert_null (wal);

    wal_replayed_t r = {0};
    fling_wal_replay_stats_t stats;
    wal = wal_open (dir, NULL, 0, &r, &stats);
    assert_int_equal (r.count, 2000);
    assert_int_equal (r.sum, 2000ull * 2001 / 2);
    assert_int_equal (stats.corrupt_records, 0);
    assert_int_equal (stats.torn_bytes, 0);
    /* appends after a reopen continue the log */
    wal_append_values (wal, 5000, 1, 0);
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_destroy (&wal);
    r = (wal_replayed_t){0};
    wal = wal_open (dir, NULL, 0, &r, NULL);
    assert_int_equal (r.count, 2001);
    fling_wal_destroy (&wal);
    store_dir_remove (dir);
}

/* Power cut: keep only what was fdatasynced, then a torn partial record. */
static void test_torn_tail_is_truncated (void **state)
{
    char *dir = store_dir_new ("wal");
    fling_wal_t *wal = wal_open (dir, NULL, 0, NULL, NULL);
    wal_append_values (wal, 1, 100, 20);
    assert_int_equal (fling_wal_commit (wal), 0);
    char path[4096];
    uint64_t synced = fling_wal_synced_offset (wal, path, sizeof path);
    wal_append_values (wal, 101, 50, 20); /* written, not committed */
    fling_wal_destroy (&wal);

    int fd = open (path, O_RDWR);
    assert_true (fd >= 0);
    assert_int_equal (ftruncate (fd, (off_t)synced), 0);
    uint8_t garbage[300];
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (uint8_t)(i * 37 + 11);
    assert_int_equal (pwrite (fd, garbage, sizeof garbage, (off_t)synced), (ssize_t)sizeof garbage);
    close (fd);

    wal_replayed_t r = {0};
    fling_wal_replay_stats_t stats;
    wal = wal_open (dir, NULL, 0, &r, &stats);
    assert_int_equal (r.count, 100);
    assert_true (stats.torn_bytes > 0);
    assert_int_equal (stats.corrupt_records, 0);
    wal_append_values (wal, 1000, 10, 20);
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_destroy (&wal);

    r = (wal_replayed_t){0};
    wal = wal_open (dir, NULL, 0, &r, &stats);
    assert_int_equal (r.count, 110); /* nothing of the garbage survives */
    assert_int_equal (stats.torn_bytes, 0);
    fling_wal_destroy (&wal);
    store_dir_remove (dir);
}

/* A bit flip in a sealed segment: that record is skipped and counted,
   every other record is kept. */
static void test_corrupt_record_in_sealed_segment (void **state)
{
    char *dir = store_dir_new ("wal");
    wal_write_closed (dir, 1, 1000, 100);

    char path[4096];
    snprintf (path, sizeof path, "%s/%016x.seg", dir, 1);
    int fd = open (path, O_RDWR);
    assert_true (fd >= 0);
    uint8_t byte;
    off_t where = 32 + 9 + 2; /* inside the first record's body */
    assert_int_equal (pread (fd, &byte, 1, where), 1);
    byte ^= 0x10;
    assert_int_equal (pwrite (fd, &byte, 1, where), 1);
    close (fd);

    wal_replayed_t r = {0};
    fling_wal_replay_stats_t stats;
    fling_wal_t *wal = wal_open (dir, NULL, 0, &r, &stats);
    assert_int_equal (r.count, 999);
    assert_int_equal (stats.corrupt_records, 1);
    fling_wal_destroy (&wal);
    store_dir_remove (dir);
}

/* ---- fault injection ---- */

static int fail_fdatasync_after = -1;
static int fdatasync_calls;

static int failing_fdatasync (int fd)
{
    if (fail_fdatasync_after >= 0 && fdatasync_calls++ >= fail_fdatasync_after) {
        errno = EIO;
        return -1;
    }
    return fdatasync (fd);
}

static void test_failed_fdatasync_is_never_retried (void **state)
{
    char *dir = store_dir_new ("wal");
    fling_io_t io = fling_io_default;
    io.fdatasync = failing_fdatasync;
    fdatasync_calls = 0;
    fail_fdatasync_after = 1000000;
    fling_wal_t *wal = wal_open (dir, &io, 0, NULL, NULL);
    wal_append_values (wal, 1, 10, 0);
    assert_int_equal (fling_wal_commit (wal), 0);
    fail_fdatasync_after = fdatasync_calls; /* the next one fails */
    wal_append_values (wal, 11, 10, 0);
    assert_int_equal (fling_wal_commit (wal), -1);
    assert_true (fling_wal_failed (wal));
    /* even if the disk recovers, the log stays failed: no later success */
    fail_fdatasync_after = -1;
    assert_int_equal (fling_wal_commit (wal), -1);
    assert_true (fling_wal_append (wal, 7, false, NULL, 0, "abcd", 4) < 0);
    assert_int_equal (errno, EIO);
    fling_wal_destroy (&wal);

    wal_replayed_t r = {0};
    wal = wal_open (dir, NULL, 0, &r, NULL);
    assert_true (r.count >= 10); /* the committed ones at least */
    fling_wal_destroy (&wal);
    store_dir_remove (dir);
}

static void test_full_disk_refuses_then_recovers (void **state)
{
    char *dir = store_dir_new ("wal");
    fling_io_t io = fling_io_default;
    io.fallocate = store_fallocate;
    store_disk_full = 0;
    fling_wal_t *wal = wal_open (dir, &io, 0, NULL, NULL);
    store_disk_full = 1;
    /* fill the first segment; the roll to a second one fails */
    uint8_t body[1000] = {0};
    int64_t rc = 0;
    for (int i = 0; i < 200 && rc >= 0; i++)
        rc = fling_wal_append (wal, 7, false, NULL, 0, body, sizeof body);
    assert_true (rc < 0);
    assert_int_equal (errno, ENOSPC);
    assert_true (fling_wal_full (wal));
    assert_false (fling_wal_failed (wal));
    assert_false (fling_wal_has_room (wal, 65536, 0));
    assert_int_equal (fling_wal_commit (wal), 0); /* what fit is durable */
    store_disk_full = 0;
    fling_wal_check_space (wal);
    assert_false (fling_wal_full (wal));
    assert_true (fling_wal_append (wal, 7, false, NULL, 0, body, sizeof body) > 0);
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_destroy (&wal);
    store_dir_remove (dir);
}

static void test_cap_and_segment_removal (void **state)
{
    char *dir = store_dir_new ("wal");
    fling_wal_t *wal = wal_open (dir, NULL, 3 * WAL_SEGMENT, NULL, NULL);
    uint8_t body[1000] = {0};
    int64_t first = fling_wal_append (wal, 7, false, NULL, 0, body, sizeof body);
    assert_true (first > 0);
    fling_wal_segment_live (wal, (uint32_t)first, +1);
    int64_t rc = first;
    int appended = 1;
    while (rc >= 0 && appended < 1000) {
        rc = fling_wal_append (wal, 7, false, NULL, 0, body, sizeof body);
        if (rc >= 0) {
            fling_wal_segment_live (wal, (uint32_t)rc, +1);
            appended++;
        }
    }
    assert_true (rc < 0 && errno == ENOSPC); /* the 3-segment cap */
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_stats_t st;
    fling_wal_stats (wal, &st);
    assert_int_equal (st.segments, 3);
    /* a full log still takes the records that end tasks */
    assert_false (fling_wal_has_room (wal, sizeof body, 0));
    int64_t end_rec = 0;
    for (int i = 0; i < 100 && end_rec >= 0; i++)
        end_rec = fling_wal_append (wal, 8, true, NULL, 0, body, 16);
    assert_true (end_rec > 0);
    /* the oldest segment's tasks all end: the sweep after a commit deletes it */
    fling_wal_segment_live (wal, (uint32_t)first, -1000000);
    fling_wal_stats (wal, &st);
    uint32_t before = st.segments;
    fling_wal_sweep (wal);
    fling_wal_stats (wal, &st);
    assert_int_equal (st.segments, before); /* not before the commit */
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_sweep (wal);
    fling_wal_stats (wal, &st);
    assert_int_equal (st.segments, before - 1);
    fling_wal_destroy (&wal);
    store_dir_remove (dir);
}

/* With spares, reservations grow past one segment: 64 KiB segments hold
   far more than 2,000 reserved completions; a cap makes the log full,
   and a full log refuses new records that reserve room. */
static void test_reservations_span_segments (void **state)
{
    char *dir = store_dir_new ("wal");
    fling_wal_t *wal = wal_open_ex (dir, NULL, 0, NULL, NULL, true, false);
    uint8_t body[150] = {0};
    /* a record no segment can take: refused as too large, nothing allocated
       for it (once, it allocated spares until the disk was full) */
    fling_wal_stats_t before;
    fling_wal_stats (wal, &before);
    assert_false (fling_wal_has_room (wal, WAL_SEGMENT, 54));
    assert_int_equal (errno, EMSGSIZE);
    assert_false (fling_wal_has_room (wal, WAL_SEGMENT - 100, 0));
    assert_int_equal (errno, EMSGSIZE);
    assert_false (fling_wal_full (wal));
    fling_wal_stats_t after;
    fling_wal_stats (wal, &after);
    assert_int_equal (after.spares, before.spares);
    assert_true (fling_wal_append (wal, 7, false, NULL, 0, body, WAL_SEGMENT) < 0);
    assert_int_equal (errno, EMSGSIZE);
    for (int i = 0; i < 10000; i++) {
        assert_true (fling_wal_has_room (wal, sizeof body, 54));
        int64_t seg = fling_wal_append (wal, 7, false, NULL, 0, body, sizeof body);
        assert_true (seg > 0);
        fling_wal_segment_live (wal, (uint32_t)seg, +1);
        fling_wal_reserve (wal, 54);
        if (i % 100 == 0)
            assert_int_equal (fling_wal_commit (wal), 0);
    }
    assert_int_equal (fling_wal_commit (wal), 0);
    assert_false (fling_wal_full (wal));
    fling_wal_stats_t st;
    fling_wal_stats (wal, &st);
    assert_true (st.spares * (uint64_t)(WAL_SEGMENT - 160) >= 10000 * 54 - WAL_SEGMENT);
    /* every reserved completion fits even if allocation stops now */
    for (int i = 0; i < 10000; i++) {
        fling_wal_reserve (wal, -54);
        assert_true (fling_wal_append (wal, 8, true, NULL, 0, body, 24) > 0);
        if (i % 7 == 0)
            assert_int_equal (fling_wal_commit (wal), 0);
    }
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_destroy (&wal);
    store_dir_remove (dir);

    dir = store_dir_new ("wal");
    wal = wal_open_ex (dir, NULL, 8 * WAL_SEGMENT, NULL, NULL, true, false);
    int taken = 0;
    while (taken < 100000 && fling_wal_has_room (wal, sizeof body, 54)) {
        assert_true (fling_wal_append (wal, 7, false, NULL, 0, body, sizeof body) > 0);
        fling_wal_reserve (wal, 54);
        taken++;
    }
    assert_true (taken > 1000 && taken < 100000);
    assert_true (fling_wal_full (wal)); /* the refusal and the state agree */
    assert_false (fling_wal_has_room (wal, 10, 54));
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_destroy (&wal);
    store_dir_remove (dir);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_roundtrip_across_segments),
        cmocka_unit_test (test_torn_tail_is_truncated),
        cmocka_unit_test (test_corrupt_record_in_sealed_segment),
        cmocka_unit_test (test_failed_fdatasync_is_never_retried),
        cmocka_unit_test (test_full_disk_refuses_then_recovers),
        cmocka_unit_test (test_cap_and_segment_removal),
        cmocka_unit_test (test_reservations_span_segments),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
