/*  test_wal_damage.c - the broker's append-only log against damaged
    segments: damage before a commit marker is not a torn tail; bad headers
    recovered and quarantined; a directory named like a segment; format
    versions read or refused. */
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

#include "fling_crc32c.h"
#include "fling_wal.h"
#include "store_fixture.h"
#include "wal_fixture.h"

/* ---- damage ---------------------------------------------------------------- */

static void segment_file (const char *dir, uint32_t id, char *path, size_t size)
{
    snprintf (path, size, "%s/%016x.seg", dir, id);
}

static void flip_byte (const char *path, off_t where)
{
    int fd = open (path, O_RDWR);
    assert_true (fd >= 0);
    uint8_t byte;
    assert_int_equal (pread (fd, &byte, 1, where), 1);
    byte ^= 0x10;
    assert_int_equal (pwrite (fd, &byte, 1, where), 1);
    close (fd);
}

static size_t file_size (const char *path)
{
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    return (size_t)st.st_size;
}

/* Offset of the last record of type 7 in a segment (walks the framing). */
static off_t last_value_record (const char *path)
{
    int fd = open (path, O_RDONLY);
    assert_true (fd >= 0);
    off_t at = 32, last = -1;
    uint8_t head[9];
    while (pread (fd, head, 9, at) == 9 && head[8] != 0) {
        uint32_t size;
        memcpy (&size, head + 4, 4);
        if (head[8] == 7)
            last = at;
        at += 9 + (off_t)size;
    }
    close (fd);
    assert_true (last > 0);
    return last;
}

/* A flipped bit in the newest segment's last committed record is damage
   (a marker follows it), not a torn tail: counted, and the segment is
   never written again. Garbage after the last marker is a torn tail. */
static void test_damage_before_marker_is_not_torn (void **state)
{
    char *dir = store_dir_new ("wal");
    wal_write_closed (dir, 1, 100, 20);
    char path[4096];
    segment_file (dir, 1, path, sizeof path);
    flip_byte (path, last_value_record (path) + 9 + 1);

    wal_replayed_t r = {0};
    fling_wal_replay_stats_t stats;
    fling_wal_t *wal = wal_open (dir, NULL, 0, &r, &stats);
    assert_int_equal (r.count, 99);
    assert_int_equal (stats.corrupt_records, 1);
    assert_int_equal (stats.torn_bytes, 0);
    assert_int_equal (stats.damaged_segments, 1);
    wal_append_values (wal, 500, 1, 0); /* goes to a new segment */
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_stats_t st;
    fling_wal_stats (wal, &st);
    assert_int_equal (st.active_segment, 2);
    fling_wal_destroy (&wal);

    /* the same, uncommitted: a torn tail, cut off, no damage */
    char *dir2 = store_dir_new ("wal");
    wal = wal_open (dir2, NULL, 0, NULL, NULL);
    wal_append_values (wal, 1, 100, 20);
    assert_int_equal (fling_wal_commit (wal), 0);
    wal_append_values (wal, 101, 5, 20);
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_destroy (&wal);
    segment_file (dir2, 1, path, sizeof path);
    /* drop the last commit's marker: its records were never acknowledged */
    off_t last = last_value_record (path);
    uint8_t zero[21] = {0};
    int fd = open (path, O_RDWR);
    assert_int_equal (pwrite (fd, zero, sizeof zero, last + 9 + 24), (ssize_t)sizeof zero);
    close (fd);
    flip_byte (path, last + 9 + 1);
    r = (wal_replayed_t){0};
    wal = wal_open (dir2, NULL, 0, &r, &stats);
    assert_int_equal (r.count, 104);
    assert_int_equal (stats.corrupt_records, 0);
    assert_true (stats.torn_bytes > 0);
    assert_int_equal (stats.damaged_segments, 0);
    fling_wal_destroy (&wal);
    store_dir_remove (dir2);
    store_dir_remove (dir);
}

/* A bad header or a cut file: every intact record is read anyway; the
   segment stays (never deleted) while it holds live records, is named by
   the compaction candidate, then goes to the quarantine, not away. */
static void test_bad_header_recovered_and_quarantined (void **state)
{
    char *dir = store_dir_new ("wal");
    wal_write_closed (dir, 1, 1000, 100); /* segments 1, 2 */
    char path[4096], moved[4200];
    segment_file (dir, 1, path, sizeof path);
    flip_byte (path, 0);
    flip_byte (path, 1);
    size_t size = file_size (path);

    wal_replayed_t r = {0};
    fling_wal_replay_stats_t stats;
    fling_wal_t *wal = wal_open (dir, NULL, 0, &r, &stats);
    assert_int_equal (r.count, 1000);
    assert_int_equal (stats.damaged_segments, 1);
    assert_int_equal (fling_wal_compaction_candidate (wal), 1);
    wal_append_values (wal, 2000, 1, 0);
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_sweep (wal);
    assert_int_equal (file_size (path), size); /* live: kept in place */
    fling_wal_segment_live (wal, 1, -1000000);
    fling_wal_segment_live (wal, 2, -1000000);
    fling_wal_sweep (wal);
    assert_int_equal (access (path, F_OK), -1);
    snprintf (moved, sizeof moved, "%s/quarantine/%016x.seg", dir, 1);
    assert_int_equal (file_size (moved), size);
    fling_wal_destroy (&wal);

    wal = wal_open (dir, NULL, 0, NULL, &stats);
    assert_int_equal (stats.quarantined, 1);
    fling_wal_destroy (&wal);
    /* the newest cut to 10 bytes: nothing to recover, nothing deleted */
    segment_file (dir, 2, path, sizeof path);
    assert_int_equal (truncate (path, 10), 0);
    r = (wal_replayed_t){0};
    wal = wal_open (dir, NULL, 0, &r, &stats);
    assert_int_equal (r.count, 0);
    assert_int_equal (stats.damaged_segments, 1);
    assert_int_equal (stats.quarantined, 1);
    assert_int_equal (fling_wal_commit (wal), 0); /* the new segment is durable first */
    fling_wal_sweep (wal);
    snprintf (moved, sizeof moved, "%s/quarantine/%016x.seg", dir, 2);
    assert_int_equal (file_size (moved), 10);
    fling_wal_destroy (&wal);
    store_dir_remove (dir);
}

/* A directory named like a segment: the log opens (read-write and
   read-only alike), counts it damaged, and starts a segment after it. */
static void test_directory_named_like_a_segment (void **state)
{
    char *dir = store_dir_new ("wal");
    wal_write_closed (dir, 1, 10, 0);
    char path[4096];
    segment_file (dir, 2, path, sizeof path);
    assert_int_equal (mkdir (path, 0700), 0);

    wal_replayed_t r = {0};
    fling_wal_replay_stats_t stats;
    fling_wal_t *wal = wal_open_ex (dir, NULL, 0, &r, &stats, false, true);
    assert_int_equal (r.count, 10);
    assert_int_equal (stats.damaged_segments, 1);
    fling_wal_destroy (&wal);
    r = (wal_replayed_t){0};
    wal = wal_open (dir, NULL, 0, &r, &stats);
    assert_int_equal (r.count, 10);
    assert_int_equal (stats.damaged_segments, 1);
    wal_append_values (wal, 11, 1, 0);
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_stats_t st;
    fling_wal_stats (wal, &st);
    assert_int_equal (st.active_segment, 3);
    fling_wal_destroy (&wal);
    r = (wal_replayed_t){0};
    wal = wal_open (dir, NULL, 0, &r, NULL);
    assert_int_equal (r.count, 11);
    fling_wal_destroy (&wal);
    store_dir_remove (dir);
}

static void set_version (const char *path, uint32_t version)
{
    int fd = open (path, O_RDWR);
    assert_true (fd >= 0);
    uint8_t header[32];
    assert_int_equal (pread (fd, header, 32, 0), 32);
    memcpy (header + 8, &version, 4);
    uint32_t crc = fling_crc32c (0, header, 16);
    memcpy (header + 16, &crc, 4);
    assert_int_equal (pwrite (fd, header, 32, 0), 32);
    close (fd);
}

/* A segment of a newer store format: the log refuses to replay (ENOTSUP)
   and changes nothing; it is not damage. */
static void test_newer_format_is_refused (void **state)
{
    char *dir = store_dir_new ("wal");
    wal_write_closed (dir, 1, 10, 0);
    char path[4096];
    segment_file (dir, 1, path, sizeof path);
    set_version (path, FLING_WAL_VERSION + 1);
    size_t size = file_size (path);
    fling_wal_options_t options;
    fling_wal_options_init (&options);
    options.segment_bytes = WAL_SEGMENT;
    options.free_floor_bytes = 0;
    fling_wal_t *wal = fling_wal_open (dir, &options);
    assert_non_null (wal);
    wal_replayed_t r = {0};
    assert_int_equal (fling_wal_replay (wal, wal_on_record, &r, NULL), -1);
    assert_int_equal (errno, ENOTSUP);
    fling_wal_destroy (&wal);
    assert_int_equal (file_size (path), size);
    segment_file (dir, 2, path, sizeof path);
    assert_int_equal (access (path, F_OK), -1); /* no new segment either */
    store_dir_remove (dir);
}

/* A segment of the older format (no commit markers) is read as before,
   and appends go on in a new segment of this format. */
static void test_version_1_segment_is_read (void **state)
{
    char *dir = store_dir_new ("wal");
    wal_write_closed (dir, 1, 10, 0);
    char path[4096];
    segment_file (dir, 1, path, sizeof path);
    set_version (path, 1);
    wal_replayed_t r = {0};
    fling_wal_replay_stats_t stats;
    fling_wal_t *wal = wal_open (dir, NULL, 0, &r, &stats);
    assert_int_equal (r.count, 10);
    assert_int_equal (stats.damaged_segments, 0);
    fling_wal_stats_t st;
    fling_wal_stats (wal, &st);
    assert_int_equal (st.active_segment, 2);
    fling_wal_destroy (&wal);
    store_dir_remove (dir);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_damage_before_marker_is_not_torn),
        cmocka_unit_test (test_bad_header_recovered_and_quarantined),
        cmocka_unit_test (test_directory_named_like_a_segment),
        cmocka_unit_test (test_version_1_segment_is_read),
        cmocka_unit_test (test_newer_format_is_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
