/*  test_store_disk.c - the "disk" store alone (broker/fling_store_disk.c):
    put/state/complete/commit/recover round trips, crashes (no commit, torn
    tail), attempts, crash counts and dead letters surviving, compaction
    freeing the oldest segment, a full store refusing and recovering, a
    failed fdatasync never reported as success, the read-only checker, one
    broker per store (the lock), a damaged segment recovered and reported. */
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
#include "store_fixture.h"

#define MAX_TASKS 4096

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
} entry_t;

typedef struct {
    entry_t entries[MAX_TASKS];
    size_t live;
    size_t done_events;
} table_t;

static entry_t *entry_of (table_t *t, const fling_task_id_t *id)
{
    uint64_t seq = fling_task_id_seq (id);
    assert_true (seq < MAX_TASKS);
    t->entries[seq].seq = seq;
    return &t->entries[seq];
}

static void apply_state (entry_t *e, const fling_store_task_t *task)
{
    e->attempt = task->attempt;
    e->crashes = task->crashes;
    e->reason = task->reason;
    e->leased = task->leased;
    snprintf (e->error, sizeof e->error, "%.*s", (int)task->error_size, task->error);
}

static int on_event (const fling_store_event_t *event, void *arg)
{
    table_t *t = (table_t *)arg;
    entry_t *e = entry_of (t, &event->id);
    switch (event->kind) {
    case FLING_STORE_EV_TASK:
        if (!e->live)
            t->live++;
        e->live = true;
        e->segment = event->segment;
        apply_state (e, &event->task);
        break;
    case FLING_STORE_EV_STATE:
        if (e->live)
            apply_state (e, &event->task);
        break;
    case FLING_STORE_EV_DONE:
        t->done_events++;
        if (e->live)
            t->live--;
        e->live = false;
        break;
    }
    return 0;
}

/* A test's store directory, the limits the store is opened with (every
   restart reuses them), and what its last recovery rebuilt. On the heap:
   the table is large. */
typedef struct {
    char *dir;
    size_t segment_bytes;
    uint64_t max_bytes;
    table_t table;
} disk_t;

static int setup_disk (void **state)
{
    disk_t *d = calloc (1, sizeof *d);
    assert_non_null (d);
    d->dir = store_dir_new ("store");
    *state = d;
    return 0;
}

/* Runs after a failed test too: no directory is left behind. */
static int teardown_disk (void **state)
{
    disk_t *d = *state;
    store_dir_remove (d->dir);
    free (d);
    return 0;
}

static fling_store_t *open_store (disk_t *d, size_t segment, uint64_t max_bytes,
                                  const fling_io_t *io)
{
    d->segment_bytes = segment;
    d->max_bytes = max_bytes;
    fling_store_options_t options;
    fling_store_options_init (&options);
    snprintf (options.dir, sizeof options.dir, "%s", d->dir);
    options.wal.segment_bytes = segment;
    options.wal.max_bytes = max_bytes;
    options.wal.free_floor_bytes = 0;
    options.wal.io = io;
    fling_store_t *store = fling_store_open ("disk", &options);
    assert_non_null (store);
    memset (&d->table, 0, sizeof d->table);
    assert_int_equal (fling_store_recover (store, on_event, &d->table), 0);
    return store;
}

/* A restart: closes *store and opens the directory again with the same
   limits and plain I/O, as a broker would after a crash or a stop. */
static void reopen_store (disk_t *d, fling_store_t **store)
{
    fling_store_destroy (store);
    *store = open_store (d, d->segment_bytes, d->max_bytes, NULL);
}

typedef struct {
    uint8_t raw[256];
    size_t size;
    fling_task_id_t id;
} rec_t;

static void make_record (rec_t *r, uint64_t seq)
{
    fling_task_id_make (&r->id, 0xabcdef, seq);
    r->size = fling_record_write (r->raw, &r->id, 0, 0, 1000, 0, "email", 5,
                                  "{\"to\":\"someone@example.com\",\"n\":12345678}", 40);
}

/* fling_store_put of task `seq` at `attempt`: what it returns, errno as
   it left it, for the tests that expect a refusal. */
static int put_attempt (fling_store_t *store, uint64_t seq, uint16_t attempt, uint32_t *segment)
{
    rec_t r;
    make_record (&r, seq);
    fling_store_task_t task = {.record = r.raw, .record_size = r.size, .attempt = attempt};
    return fling_store_put (store, &r.id, &task, segment);
}

/* Puts task `seq`; returns its segment. */
static uint32_t put_task (fling_store_t *store, uint64_t seq)
{
    uint32_t segment = 0;
    assert_int_equal (put_attempt (store, seq, 0, &segment), 0);
    assert_true (segment > 0);
    return segment;
}

/* Puts tasks `first`, `first` + 1, ... until the store refuses one, which
   must be for want of room (ENOSPC); commits after each seq that
   `commit_every` divides (0: never). Returns how many it took; seg[seq]
   is the segment of each. */
static uint64_t put_until_full (fling_store_t *store, uint64_t first, uint32_t *seg,
                                uint64_t commit_every)
{
    uint64_t accepted = 0;
    for (uint64_t i = first; i < MAX_TASKS; i++) {
        seg[i] = 0;
        if (put_attempt (store, i, 0, &seg[i])) {
            assert_int_equal (errno, ENOSPC);
            break;
        }
        accepted++;
        if (commit_every && i % commit_every == 0)
            assert_int_equal (fling_store_commit (store), 0);
    }
    return accepted;
}

static void complete_task (fling_store_t *store, uint64_t seq, uint32_t segment)
{
    fling_task_id_t id;
    fling_task_id_make (&id, 0xabcdef, seq);
    assert_int_equal (fling_store_complete (store, &id, segment, fling_store_wall_ms ()), 0);
}

static void set_state (fling_store_t *store, uint64_t seq, uint16_t attempt, uint8_t crashes,
                       uint8_t reason, const char *error, bool leased)
{
    fling_task_id_t id;
    fling_task_id_make (&id, 0xabcdef, seq);
    fling_store_task_t task = {.attempt = attempt,
                               .crashes = crashes,
                               .reason = reason,
                               .leased = leased,
                               .error = error,
                               .error_size = error ? strlen (error) : 0};
    assert_int_equal (fling_store_state (store, &id, &task), 0);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_round_trip (void **state)
{
    disk_t *d = *state;
    table_t *t = &d->table;
    fling_store_t *store = open_store (d, 1 << 20, 0, NULL);
    assert_int_equal (t->live, 0);
    uint32_t seg[4];
    for (uint64_t i = 1; i <= 3; i++)
        seg[i] = put_task (store, i);
    assert_int_equal (fling_store_commit (store), 0);
    complete_task (store, 2, seg[2]);
    assert_int_equal (fling_store_commit (store), 0);
    fling_store_status_t status;
    fling_store_status (store, &status);
    assert_int_equal (status.commits, 2);
    assert_false (status.failed);

    reopen_store (d, &store);
    assert_int_equal (t->live, 2);
    assert_true (t->entries[1].live && !t->entries[2].live && t->entries[3].live);
    assert_int_equal (t->done_events, 1);
    fling_store_destroy (&store);
}

static void test_crash_keeps_committed (void **state)
{
    disk_t *d = *state;
    table_t *t = &d->table;
    fling_store_t *store = open_store (d, 1 << 20, 0, NULL);
    put_task (store, 1);
    put_task (store, 2);
    assert_int_equal (fling_store_commit (store), 0);
    put_task (store, 3); /* staged, never committed: the "crash" loses only this */
    reopen_store (d, &store);
    assert_true (t->live >= 2);
    assert_true (t->entries[1].live && t->entries[2].live);
    assert_int_equal (fling_store_commit (store), 0);
    fling_store_destroy (&store);

    /* A torn write after the last commit: garbage at the tail. */
    char path[600];
    snprintf (path, sizeof path, "%s/%016x.seg", d->dir, 1);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    int fd = open (path, O_RDWR);
    assert_true (fd >= 0);
    /* find the end of the written part: the first all-zero 64 bytes */
    uint8_t buf[64], zero[64] = {0};
    off_t end = 32;
    while (pread (fd, buf, sizeof buf, end) == (ssize_t)sizeof buf && memcmp (buf, zero, 64))
        end += 1;
    static const uint8_t junk[] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};
    assert_int_equal (pwrite (fd, junk, sizeof junk, end + 8), (ssize_t)sizeof junk);
    close (fd);
    store = open_store (d, 1 << 20, 0, NULL);
    fling_store_status_t status;
    fling_store_status (store, &status);
    assert_true (status.torn_bytes > 0);
    assert_int_equal (status.corrupt_records, 0);
    assert_true (t->entries[1].live && t->entries[2].live);
    /* and it keeps working after the truncation */
    put_task (store, 9);
    assert_int_equal (fling_store_commit (store), 0);
    reopen_store (d, &store);
    assert_true (t->entries[9].live);
    fling_store_destroy (&store);
}

static void test_state_and_dead_letters_survive (void **state)
{
    disk_t *d = *state;
    table_t *t = &d->table;
    fling_store_t *store = open_store (d, 1 << 20, 0, NULL);
    uint32_t seg[5];
    for (uint64_t i = 1; i <= 4; i++)
        seg[i] = put_task (store, i);
    set_state (store, 1, 2, 1, 0, NULL, true); /* attempt 2, one crash, in flight */
    set_state (store, 2, 3, 0, FLING_DEAD_FAILED, "boom", false);
    set_state (store, 3, 3, 3, FLING_DEAD_CRASHED, "worker died while running it 3 times", false);
    set_state (store, 4, 1, 0, FLING_DEAD_TIMEOUT, "slow", false);
    assert_int_equal (fling_store_commit (store), 0);

    reopen_store (d, &store);
    assert_int_equal (t->live, 4);
    assert_int_equal (t->entries[1].attempt, 2);
    assert_int_equal (t->entries[1].crashes, 1);
    assert_true (t->entries[1].leased);
    assert_int_equal (t->entries[2].reason, FLING_DEAD_FAILED);
    assert_string_equal (t->entries[2].error, "boom");
    assert_int_equal (t->entries[3].reason, FLING_DEAD_CRASHED);
    assert_int_equal (t->entries[3].crashes, 3);
    /* dead_purge of 2 (a completion) and dead_retry of 3 (state reset) persist */
    complete_task (store, 2, seg[2]);
    set_state (store, 3, 0, 0, 0, NULL, false);
    assert_int_equal (fling_store_commit (store), 0);

    reopen_store (d, &store);
    assert_int_equal (t->live, 3);
    assert_false (t->entries[2].live);
    assert_int_equal (t->entries[3].reason, 0);
    assert_int_equal (t->entries[3].attempt, 0);
    assert_int_equal (t->entries[3].crashes, 0);
    assert_int_equal (t->entries[4].reason, FLING_DEAD_TIMEOUT);
    fling_store_destroy (&store);

    /* The offline checker sees the same. */
    char out_path[600];
    snprintf (out_path, sizeof out_path, "%s.check", d->dir);
    FILE *out = fopen (out_path, "w+");
    assert_non_null (out);
    assert_int_equal (fling_store_check (d->dir, true, out), 0);
    rewind (out);
    char line[512];
    assert_non_null (fgets (line, sizeof line, out));
    assert_non_null (strstr (line, "\"live_tasks\":2,\"dead_tasks\":1"));
    assert_non_null (strstr (line, "\"corrupt_records\":0"));
    int ids = 0;
    while (fgets (line, sizeof line, out))
        ids++;
    assert_int_equal (ids, 3);
    fclose (out);
    unlink (out_path);
}

static bool segment_exists (const char *dir, uint32_t id)
{
    char path[600];
    snprintf (path, sizeof path, "%s/%016x.seg", dir, id);
    return access (path, F_OK) == 0;
}

static void test_compaction_frees_oldest_segment (void **state)
{
    disk_t *d = *state;
    table_t *t = &d->table;
    fling_store_t *store = open_store (d, 8192, 0, NULL);
    uint32_t keeper = put_task (store, 1); /* long-lived: pins segment 1 */
    assert_int_equal (keeper, 1);
    int64_t now = 0;
    /* Steady load: tasks come and go; the log rolls over several segments. */
    for (uint64_t i = 2; i < 600; i++) {
        uint32_t seg = put_task (store, i);
        assert_int_equal (fling_store_commit (store), 0);
        complete_task (store, i, seg);
        assert_int_equal (fling_store_commit (store), 0);
        fling_store_maintain (store, now += 10);
        /* the broker's part: move what pins the candidate */
        int64_t candidate = fling_store_compaction_candidate (store);
        if (candidate == (int64_t)keeper) {
            assert_int_equal (put_attempt (store, 1, 2, &keeper), 0);
            assert_true (keeper > 1);
        }
    }
    assert_int_equal (fling_store_commit (store), 0);
    fling_store_maintain (store, now += 10);
    assert_true (keeper > 1);
    assert_false (segment_exists (d->dir, 1));
    fling_store_status_t status;
    fling_store_status (store, &status);
    assert_true (status.segments <= 4); /* bounded, not one per 8 KiB written */

    reopen_store (d, &store);
    assert_int_equal (t->live, 1);
    assert_true (t->entries[1].live);
    assert_int_equal (t->entries[1].attempt, 2);
    fling_store_destroy (&store);
}

static void test_full_store_refuses_then_recovers (void **state)
{
    disk_t *d = *state;
    table_t *t = &d->table;
    fling_store_t *store = open_store (d, 8192, 3 * 8192, NULL);
    uint32_t seg[MAX_TASKS];
    uint64_t accepted = put_until_full (store, 1, seg, 0);
    assert_true (accepted > 10 && accepted < MAX_TASKS - 1);
    assert_int_equal (fling_store_commit (store), 0);
    fling_store_status_t status;
    fling_store_status (store, &status);
    assert_true (status.full);
    /* Completions still fit (essential records use the headroom). */
    for (uint64_t i = 1; i <= accepted; i++)
        complete_task (store, i, seg[i]);
    assert_int_equal (fling_store_commit (store), 0);
    fling_store_maintain (store, 5000); /* sweep + space check */
    fling_store_status (store, &status);
    assert_false (status.full);
    put_task (store, MAX_TASKS - 1);
    assert_int_equal (fling_store_commit (store), 0);
    reopen_store (d, &store);
    assert_int_equal (t->live, 1);
    fling_store_destroy (&store);
}

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
    fling_store_t *store = open_store (d, 1 << 20, 0, &io);
    put_task (store, 1);
    assert_int_equal (fling_store_commit (store), 0);
    put_task (store, 2);
    fail_sync = 1;
    assert_int_equal (fling_store_commit (store), -1);
    fail_sync = 0; /* even if the disk "recovers", nothing later succeeds */
    uint32_t segment = 0;
    assert_int_equal (put_attempt (store, 3, 0, &segment), -1);
    assert_int_equal (errno, EIO);
    assert_int_equal (fling_store_commit (store), -1);
    fling_store_status_t status;
    fling_store_status (store, &status);
    assert_true (status.failed);
    reopen_store (d, &store);
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
    fling_store_t *store = open_store (d, 8192, 0, &io);
    static uint32_t seg[MAX_TASKS];
    uint64_t accepted = 0;
    for (uint64_t i = 1; i <= 50; i++, accepted++)
        seg[i] = put_task (store, i);
    assert_int_equal (fling_store_commit (store), 0);
    store_disk_full = 1;
    accepted += put_until_full (store, 51, seg, 10);
    assert_true (accepted > 50 && accepted < MAX_TASKS - 1);
    assert_int_equal (fling_store_commit (store), 0);
    for (uint64_t i = 1; i <= accepted; i++)
        complete_task (store, i, seg[i]);
    assert_int_equal (fling_store_commit (store), 0);
    fling_store_destroy (&store);
    store_disk_full = 0;
    store = open_store (d, 8192, 0, NULL);
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
    fling_store_t *store = open_store (d, 1 << 20, 0, NULL);
    put_task (store, 1);
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
    store = open_store (d, 1 << 20, 0, NULL);
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
    fling_store_t *store = open_store (d, 1 << 20, 0, NULL);
    for (uint64_t i = 1; i <= 100; i++)
        put_task (store, i);
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
    store = open_store (d, 1 << 20, 0, NULL);
    assert_int_equal (d->table.live, 100);
    fling_store_status_t status;
    fling_store_status (store, &status);
    assert_int_equal (status.damaged_segments, 1);
    assert_int_equal (fling_store_compaction_candidate (store), 1);
    fling_store_destroy (&store);
}

static void test_memory_store (void **state)
{
    fling_store_t *store = fling_store_open ("memory", NULL);
    assert_non_null (store);
    assert_string_equal (fling_store_kind (store), "memory");
    uint32_t segment = 5;
    assert_int_equal (put_attempt (store, 1, 0, &segment), 0);
    assert_int_equal (segment, 0);
    assert_int_equal (fling_store_commit (store), 0);
    assert_int_equal (fling_store_compaction_candidate (store), -1);
    fling_store_destroy (&store);
    assert_null (fling_store_open ("tape", NULL));
    assert_true (fling_store_kind_valid ("disk"));
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_round_trip, setup_disk, teardown_disk),
        cmocka_unit_test_setup_teardown (test_crash_keeps_committed, setup_disk, teardown_disk),
        cmocka_unit_test_setup_teardown (test_state_and_dead_letters_survive, setup_disk,
                                         teardown_disk),
        cmocka_unit_test_setup_teardown (test_compaction_frees_oldest_segment, setup_disk,
                                         teardown_disk),
        cmocka_unit_test_setup_teardown (test_full_store_refuses_then_recovers, setup_disk,
                                         teardown_disk),
        cmocka_unit_test_setup_teardown (test_failed_fdatasync_never_succeeds, setup_disk,
                                         teardown_disk),
        cmocka_unit_test_setup_teardown (test_sudden_full_disk_keeps_completions, setup_disk,
                                         teardown_disk),
        cmocka_unit_test_setup_teardown (test_one_broker_per_store, setup_disk, teardown_disk),
        cmocka_unit_test_setup_teardown (test_damaged_header_recovered_and_reported, setup_disk,
                                         teardown_disk),
        cmocka_unit_test (test_memory_store),
    };
    return cmocka_run_group_tests_name ("store_disk", tests, NULL, NULL);
}
