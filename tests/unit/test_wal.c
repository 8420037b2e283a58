/*  test_wal.c - the broker's append-only log: durability, torn tails,
    corruption, failed fsync, full disk, segment removal; damaged segments
    (recovered, kept, quarantined), torn tail against damage, reservations
    that grow past one segment. */
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

#define SEGMENT 65536

typedef struct {
    int count;
    uint64_t sum;
    uint32_t last_segment;
    fling_wal_t *wal; /* if set, replayed records are counted live */
} replayed_t;

static void on_record (uint8_t type, const uint8_t *body, size_t size, uint32_t segment, void *arg)
{
    replayed_t *r = arg;
    uint32_t value;
    if (r->wal)
        fling_wal_segment_live (r->wal, segment, +1);
    assert_int_equal (type, 7);
    assert_true (size >= sizeof value);
    memcpy (&value, body, sizeof value);
    r->count++;
    r->sum += value;
    r->last_segment = segment;
}

static fling_wal_t *open_log_ex (const char *dir, const fling_io_t *io, uint64_t max_bytes,
                                 replayed_t *replayed, fling_wal_replay_stats_t *stats, bool spares,
                                 bool read_only)
{
    fling_wal_options_t options;
    fling_wal_options_init (&options);
    options.segment_bytes = SEGMENT;
    options.free_floor_bytes = 0;
    options.max_bytes = max_bytes;
    options.io = io;
    options.spare_segment = spares;
    options.read_only = read_only;
    fling_wal_t *wal = fling_wal_open (dir, &options);
    assert_non_null (wal);
    replayed_t local = {0};
    replayed = replayed ? replayed : &local;
    replayed->wal = wal;
    assert_int_equal (fling_wal_replay (wal, on_record, replayed, stats), 0);
    return wal;
}

static fling_wal_t *open_log (const char *dir, const fling_io_t *io, uint64_t max_bytes,
                              replayed_t *replayed, fling_wal_replay_stats_t *stats)
{
    return open_log_ex (dir, io, max_bytes, replayed, stats, false, false);
}

static void append_values (fling_wal_t *wal, uint32_t from, uint32_t count, size_t pad)
{
    uint8_t body[512] = {0};
    assert_true (pad + 4 <= sizeof body);
    for (uint32_t v = from; v < from + count; v++) {
        memcpy (body, &v, 4);
        int64_t segment = fling_wal_append (wal, 7, false, NULL, 0, body, 4 + pad);
        assert_true (segment > 0);
        fling_wal_segment_live (wal, (uint32_t)segment, +1); /* else commit deletes it */
    }
}

static void test_roundtrip_across_segments (void **state)
{
    char *dir = store_dir_new ("wal");
    fling_wal_t *wal = open_log (dir, NULL, 0, NULL, NULL);
    append_values (wal, 1, 2000, 100); /* ~230 KB: several 64 KiB segments */
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_stats_t st;
    fling_wal_stats (wal, &st);
    assert_true (st.segments >= 3);
    fling_wal_destroy (&wal);
    assert_null (wal);

    replayed_t r = {0};
    fling_wal_replay_stats_t stats;
    wal = open_log (dir, NULL, 0, &r, &stats);
    assert_int_equal (r.count, 2000);
    assert_int_equal (r.sum, 2000ull * 2001 / 2);
    assert_int_equal (stats.corrupt_records, 0);
    assert_int_equal (stats.torn_bytes, 0);
    /* appends after a reopen continue the log */
    append_values (wal, 5000, 1, 0);
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_destroy (&wal);
    r = (replayed_t){0};
    wal = open_log (dir, NULL, 0, &r, NULL);
    assert_int_equal (r.count, 2001);
    fling_wal_destroy (&wal);
    store_dir_remove (dir);
}

/* Power cut: keep only what was fdatasynced, then a torn partial record. */
static void test_torn_tail_is_truncated (void **state)
{
    char *dir = store_dir_new ("wal");
    fling_wal_t *wal = open_log (dir, NULL, 0, NULL, NULL);
    append_values (wal, 1, 100, 20);
    assert_int_equal (fling_wal_commit (wal), 0);
    char path[4096];
    uint64_t synced = fling_wal_synced_offset (wal, path, sizeof path);
    append_values (wal, 101, 50, 20); /* written, not committed */
    fling_wal_destroy (&wal);

    int fd = open (path, O_RDWR);
    assert_true (fd >= 0);
    assert_int_equal (ftruncate (fd, (off_t)synced), 0);
    uint8_t garbage[300];
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (uint8_t)(i * 37 + 11);
    assert_int_equal (pwrite (fd, garbage, sizeof garbage, (off_t)synced), (ssize_t)sizeof garbage);
    close (fd);

    replayed_t r = {0};
    fling_wal_replay_stats_t stats;
    wal = open_log (dir, NULL, 0, &r, &stats);
    assert_int_equal (r.count, 100);
    assert_true (stats.torn_bytes > 0);
    assert_int_equal (stats.corrupt_records, 0);
    append_values (wal, 1000, 10, 20);
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_destroy (&wal);

    r = (replayed_t){0};
    wal = open_log (dir, NULL, 0, &r, &stats);
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
    fling_wal_t *wal = open_log (dir, NULL, 0, NULL, NULL);
    append_values (wal, 1, 1000, 100);
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_destroy (&wal);

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

    replayed_t r = {0};
    fling_wal_replay_stats_t stats;
    wal = open_log (dir, NULL, 0, &r, &stats);
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
    fling_wal_t *wal = open_log (dir, &io, 0, NULL, NULL);
    append_values (wal, 1, 10, 0);
    assert_int_equal (fling_wal_commit (wal), 0);
    fail_fdatasync_after = fdatasync_calls; /* the next one fails */
    append_values (wal, 11, 10, 0);
    assert_int_equal (fling_wal_commit (wal), -1);
    assert_true (fling_wal_failed (wal));
    /* even if the disk recovers, the log stays failed: no later success */
    fail_fdatasync_after = -1;
    assert_int_equal (fling_wal_commit (wal), -1);
    assert_true (fling_wal_append (wal, 7, false, NULL, 0, "abcd", 4) < 0);
    assert_int_equal (errno, EIO);
    fling_wal_destroy (&wal);

    replayed_t r = {0};
    wal = open_log (dir, NULL, 0, &r, NULL);
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
    fling_wal_t *wal = open_log (dir, &io, 0, NULL, NULL);
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
    fling_wal_t *wal = open_log (dir, NULL, 3 * SEGMENT, NULL, NULL);
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
    fling_wal_t *wal = open_log (dir, NULL, 0, NULL, NULL);
    append_values (wal, 1, 100, 20);
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_destroy (&wal);
    char path[4096];
    segment_file (dir, 1, path, sizeof path);
    flip_byte (path, last_value_record (path) + 9 + 1);

    replayed_t r = {0};
    fling_wal_replay_stats_t stats;
    wal = open_log (dir, NULL, 0, &r, &stats);
    assert_int_equal (r.count, 99);
    assert_int_equal (stats.corrupt_records, 1);
    assert_int_equal (stats.torn_bytes, 0);
    assert_int_equal (stats.damaged_segments, 1);
    append_values (wal, 500, 1, 0); /* goes to a new segment */
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_stats_t st;
    fling_wal_stats (wal, &st);
    assert_int_equal (st.active_segment, 2);
    fling_wal_destroy (&wal);

    /* the same, uncommitted: a torn tail, cut off, no damage */
    char *dir2 = store_dir_new ("wal");
    wal = open_log (dir2, NULL, 0, NULL, NULL);
    append_values (wal, 1, 100, 20);
    assert_int_equal (fling_wal_commit (wal), 0);
    append_values (wal, 101, 5, 20);
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
    r = (replayed_t){0};
    wal = open_log (dir2, NULL, 0, &r, &stats);
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
    fling_wal_t *wal = open_log (dir, NULL, 0, NULL, NULL);
    append_values (wal, 1, 1000, 100); /* segments 1, 2 */
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_destroy (&wal);
    char path[4096], moved[4200];
    segment_file (dir, 1, path, sizeof path);
    flip_byte (path, 0);
    flip_byte (path, 1);
    size_t size = file_size (path);

    replayed_t r = {0};
    fling_wal_replay_stats_t stats;
    wal = open_log (dir, NULL, 0, &r, &stats);
    assert_int_equal (r.count, 1000);
    assert_int_equal (stats.damaged_segments, 1);
    assert_int_equal (fling_wal_compaction_candidate (wal), 1);
    append_values (wal, 2000, 1, 0);
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

    wal = open_log (dir, NULL, 0, NULL, &stats);
    assert_int_equal (stats.quarantined, 1);
    fling_wal_destroy (&wal);
    /* the newest cut to 10 bytes: nothing to recover, nothing deleted */
    segment_file (dir, 2, path, sizeof path);
    assert_int_equal (truncate (path, 10), 0);
    r = (replayed_t){0};
    wal = open_log (dir, NULL, 0, &r, &stats);
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
    fling_wal_t *wal = open_log (dir, NULL, 0, NULL, NULL);
    append_values (wal, 1, 10, 0);
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_destroy (&wal);
    char path[4096];
    segment_file (dir, 2, path, sizeof path);
    assert_int_equal (mkdir (path, 0700), 0);

    replayed_t r = {0};
    fling_wal_replay_stats_t stats;
    wal = open_log_ex (dir, NULL, 0, &r, &stats, false, true);
    assert_int_equal (r.count, 10);
    assert_int_equal (stats.damaged_segments, 1);
    fling_wal_destroy (&wal);
    r = (replayed_t){0};
    wal = open_log (dir, NULL, 0, &r, &stats);
    assert_int_equal (r.count, 10);
    assert_int_equal (stats.damaged_segments, 1);
    append_values (wal, 11, 1, 0);
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_stats_t st;
    fling_wal_stats (wal, &st);
    assert_int_equal (st.active_segment, 3);
    fling_wal_destroy (&wal);
    r = (replayed_t){0};
    wal = open_log (dir, NULL, 0, &r, NULL);
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
    fling_wal_t *wal = open_log (dir, NULL, 0, NULL, NULL);
    append_values (wal, 1, 10, 0);
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_destroy (&wal);
    char path[4096];
    segment_file (dir, 1, path, sizeof path);
    set_version (path, FLING_WAL_VERSION + 1);
    size_t size = file_size (path);
    fling_wal_options_t options;
    fling_wal_options_init (&options);
    options.segment_bytes = SEGMENT;
    options.free_floor_bytes = 0;
    wal = fling_wal_open (dir, &options);
    assert_non_null (wal);
    replayed_t r = {0};
    assert_int_equal (fling_wal_replay (wal, on_record, &r, NULL), -1);
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
    fling_wal_t *wal = open_log (dir, NULL, 0, NULL, NULL);
    append_values (wal, 1, 10, 0);
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_destroy (&wal);
    char path[4096];
    segment_file (dir, 1, path, sizeof path);
    set_version (path, 1);
    replayed_t r = {0};
    fling_wal_replay_stats_t stats;
    wal = open_log (dir, NULL, 0, &r, &stats);
    assert_int_equal (r.count, 10);
    assert_int_equal (stats.damaged_segments, 0);
    fling_wal_stats_t st;
    fling_wal_stats (wal, &st);
    assert_int_equal (st.active_segment, 2);
    fling_wal_destroy (&wal);
    store_dir_remove (dir);
}

/* With spares, reservations grow past one segment: 64 KiB segments hold
   far more than 2,000 reserved completions; a cap makes the log full,
   and a full log refuses new records that reserve room. */
static void test_reservations_span_segments (void **state)
{
    char *dir = store_dir_new ("wal");
    fling_wal_t *wal = open_log_ex (dir, NULL, 0, NULL, NULL, true, false);
    uint8_t body[150] = {0};
    /* a record no segment can take: refused as too large, nothing allocated
       for it (once, it allocated spares until the disk was full) */
    fling_wal_stats_t before;
    fling_wal_stats (wal, &before);
    assert_false (fling_wal_has_room (wal, SEGMENT, 54));
    assert_int_equal (errno, EMSGSIZE);
    assert_false (fling_wal_has_room (wal, SEGMENT - 100, 0));
    assert_int_equal (errno, EMSGSIZE);
    assert_false (fling_wal_full (wal));
    fling_wal_stats_t after;
    fling_wal_stats (wal, &after);
    assert_int_equal (after.spares, before.spares);
    assert_true (fling_wal_append (wal, 7, false, NULL, 0, body, SEGMENT) < 0);
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
    assert_true (st.spares * (uint64_t)(SEGMENT - 160) >= 10000 * 54 - SEGMENT);
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
    wal = open_log_ex (dir, NULL, 8 * SEGMENT, NULL, NULL, true, false);
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
        cmocka_unit_test (test_damage_before_marker_is_not_torn),
        cmocka_unit_test (test_bad_header_recovered_and_quarantined),
        cmocka_unit_test (test_directory_named_like_a_segment),
        cmocka_unit_test (test_version_1_segment_is_read),
        cmocka_unit_test (test_newer_format_is_refused),
        cmocka_unit_test (test_reservations_span_segments),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
