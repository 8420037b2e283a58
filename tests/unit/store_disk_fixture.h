/*  store_disk_fixture.h - what the tests of the disk store
    (test_store_disk.c, test_store_disk_faults.c) share: a scratch store
    directory per test, the store opened and recovered into a table as a
    broker would rebuild it, tasks put, completed and given states. Its
    failures are cmocka failures of the test that called it.
*/
#ifndef STORE_DISK_FIXTURE_H_INCLUDED
#define STORE_DISK_FIXTURE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#include "fling_store.h"

#define DISK_MAX_TASKS 4096 /* task seqs the table holds */

/* What a broker would rebuild from the events: one entry per id. */
typedef struct {
    uint64_t seq;
    bool live;
    uint16_t attempt;
    uint8_t crashes;
    uint8_t reason;
    bool leased;
    char error[64];
    uint32_t segment;
    int64_t due_ms; /* waiting for its retry until then (0 = not) */
} disk_entry_t;

typedef struct {
    disk_entry_t entries[DISK_MAX_TASKS];
    size_t live;
    size_t done_events;
} disk_table_t;

/* A test's store directory, the limits the store is opened with (every
   restart reuses them), and what its last recovery rebuilt. On the heap:
   the table is large. */
typedef struct {
    char *dir;
    size_t segment_bytes;
    uint64_t max_bytes;
    disk_table_t table;
} disk_t;

/* cmocka setup and teardown: a disk_t with a new scratch directory in
   *state; teardown runs after a failed test too, so no directory is left
   behind. */
int disk_setup (void **state);
int disk_teardown (void **state);

/* Opens the disk store in d->dir with these limits (kept for
   disk_reopen_store) and I/O table (NULL: plain), and recovers it into
   d->table. */
fling_store_t *disk_open_store (disk_t *d, size_t segment, uint64_t max_bytes,
                                const fling_io_t *io);

/* A restart: closes *store and opens the directory again with the same
   limits and plain I/O, as a broker would after a crash or a stop. */
void disk_reopen_store (disk_t *d, fling_store_t **store);

/* fling_store_put of task `seq` at `attempt`: what it returns, errno as
   it left it, for the tests that expect a refusal. */
int disk_put_attempt (fling_store_t *store, uint64_t seq, uint16_t attempt, uint32_t *segment);

/* Puts task `seq`; returns its segment. */
uint32_t disk_put_task (fling_store_t *store, uint64_t seq);

/* Puts tasks `first`, `first` + 1, ... until the store refuses one, which
   must be for want of room (ENOSPC); commits after each seq that
   `commit_every` divides (0: never). Returns how many it took; seg[seq]
   is the segment of each. */
uint64_t disk_put_until_full (fling_store_t *store, uint64_t first, uint32_t *seg,
                              uint64_t commit_every);

/* Completes task `seq`, stored in `segment`. */
void disk_complete_task (fling_store_t *store, uint64_t seq, uint32_t segment);

/* Records a new state of task `seq`. */
void disk_set_state (fling_store_t *store, uint64_t seq, uint16_t attempt, uint8_t crashes,
                     uint8_t reason, const char *error, bool leased);

/* Records that task `seq` waits for its retry until `due_ms` (wall ms). */
void disk_set_due (fling_store_t *store, uint64_t seq, uint16_t attempt, uint8_t crashes,
                   int64_t due_ms);

#endif
