/*  wal_fixture.h - what the tests of the broker's log (test_wal.c,
    test_wal_damage.c) share: a log opened and replayed with small
    segments, records of known values appended and counted back. Its
    failures are cmocka failures of the test that called it.
*/
#ifndef WAL_FIXTURE_H_INCLUDED
#define WAL_FIXTURE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "fling_wal.h"

#define WAL_SEGMENT 65536 /* bytes a segment of the test logs holds */

/* What a replay saw: records of type 7 carrying a uint32 value. */
typedef struct {
    int count;
    uint64_t sum;
    uint32_t last_segment;
    fling_wal_t *wal; /* if set, replayed records are counted live */
} wal_replayed_t;

/* A fling_wal_replay callback (arg: a wal_replayed_t) that counts and sums
   the values. */
void wal_on_record (uint8_t type, const uint8_t *body, size_t size, uint32_t segment, void *arg);

/* Opens the log in `dir` (WAL_SEGMENT segments, no free-space floor) and
   replays it into `replayed` (may be NULL) and `stats`; fails the test if
   either fails. */
fling_wal_t *wal_open_ex (const char *dir, const fling_io_t *io, uint64_t max_bytes,
                          wal_replayed_t *replayed, fling_wal_replay_stats_t *stats, bool spares,
                          bool read_only);

/* wal_open_ex without spare segments, writable. */
fling_wal_t *wal_open (const char *dir, const fling_io_t *io, uint64_t max_bytes,
                       wal_replayed_t *replayed, fling_wal_replay_stats_t *stats);

/* Appends records of type 7 with the values from..from+count-1, each
   padded by `pad` bytes, and counts each live. */
void wal_append_values (fling_wal_t *wal, uint32_t from, uint32_t count, size_t pad);

/* A closed log in `dir` to damage: opens it, appends values as
   wal_append_values does, commits (asserting success) and closes it. */
void wal_write_closed (const char *dir, uint32_t from, uint32_t count, size_t pad);

#endif
