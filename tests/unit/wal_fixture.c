/*  wal_fixture.c - see wal_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "wal_fixture.h"

void wal_on_record (uint8_t type, const uint8_t *body, size_t size, uint32_t segment, void *arg)
{
    wal_replayed_t *r = arg;
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

fling_wal_t *wal_open_ex (const char *dir, const fling_io_t *io, uint64_t max_bytes,
                          wal_replayed_t *replayed, fling_wal_replay_stats_t *stats, bool spares,
                          bool read_only)
{
    fling_wal_options_t options;
    fling_wal_options_init (&options);
    options.segment_bytes = WAL_SEGMENT;
    options.free_floor_bytes = 0;
    options.max_bytes = max_bytes;
    options.io = io;
    options.spare_segment = spares;
    options.read_only = read_only;
    fling_wal_t *wal = fling_wal_open (dir, &options);
    assert_non_null (wal);
    wal_replayed_t local = {0};
    replayed = replayed ? replayed : &local;
    replayed->wal = wal;
    assert_int_equal (fling_wal_replay (wal, wal_on_record, replayed, stats), 0);
    return wal;
}

fling_wal_t *wal_open (const char *dir, const fling_io_t *io, uint64_t max_bytes,
                       wal_replayed_t *replayed, fling_wal_replay_stats_t *stats)
{
    return wal_open_ex (dir, io, max_bytes, replayed, stats, false, false);
}

void wal_append_values (fling_wal_t *wal, uint32_t from, uint32_t count, size_t pad)
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

void wal_write_closed (const char *dir, uint32_t from, uint32_t count, size_t pad)
{
    fling_wal_t *wal = wal_open (dir, NULL, 0, NULL, NULL);
    wal_append_values (wal, from, count, pad);
    assert_int_equal (fling_wal_commit (wal), 0);
    fling_wal_destroy (&wal);
}
