/*  test_store_disk.c - the "disk" store alone (broker/fling_store_disk.c):
    put/state/complete/commit/recover round trips, crashes (no commit, torn
    tail), attempts, crash counts and dead letters surviving, compaction
    freeing the oldest segment, a full store refusing and recovering, a
    failed fdatasync never reported as success, and the read-only checker. */
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

static char *make_dir (void)
{
    char *dir = strdup ("/tmp/fling-test-store-XXXXXX");
    assert_non_null (mkdtemp (dir));
    return dir;
}

static void remove_dir (char *dir)
{
    char cmd[512];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal (system (cmd), 0);
    free (dir);
}

static fling_store_t *open_store (const char *dir, size_t segment, uint64_t max_bytes,
                                  const fling_io_t *io, table_t *t)
{
    fling_store_options_t options;
    fling_store_options_init (&options);
    snprintf (options.dir, sizeof options.dir, "%s", dir);
    options.wal.segment_bytes = segment;
    options.wal.max_bytes = max_bytes;
    options.wal.free_floor_bytes = 0;
    options.wal.io = io;
    fling_store_t *store = fling_store_open ("disk", &options);
    assert_non_null (store);
    memset (t, 0, sizeof *t);
    assert_int_equal (fling_store_recover (store, on_event, t), 0);
    return store;
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

/* Puts task `seq`; returns its segment. */
static uint32_t put_task (fling_store_t *store, uint64_t seq)
{
    rec_t r;
    make_record (&r, seq);
    fling_store_task_t task = {.record = r.raw, .record_size = r.size};
    uint32_t segment = 0;
    assert_int_equal (fling_store_put (store, &r.id, &task, &segment), 0);
    assert_true (segment > 0);
    return segment;
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
    char *dir = make_dir ();
    table_t *t = calloc (1, sizeof *t);
    fling_store_t *store = open_store (dir, 1 << 20, 0, NULL, t);
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
    fling_store_destroy (&store);

    store = open_store (dir, 1 << 20, 0, NULL, t);
    assert_int_equal (t->live, 2);
    assert_true (t->entries[1].live && !t->entries[2].live && t->entries[3].live);
    assert_int_equal (t->done_events, 1);
    fling_store_destroy (&store);
    free (t);
    remove_dir (dir);
}

static void test_crash_keeps_committed (void **state)
{
    char *dir = make_dir ();
    table_t *t = calloc (1, sizeof *t);
    fling_store_t *store = open_store (dir, 1 << 20, 0, NULL, t);
    put_task (store, 1);
    put_task (store, 2);
    assert_int_equal (fling_store_commit (store), 0);
    put_task (store, 3); /* staged, never committed: the "crash" loses only this */
    fling_store_destroy (&store);
    store = open_store (dir, 1 << 20, 0, NULL, t);
    assert_true (t->live >= 2);
    assert_true (t->entries[1].live && t->entries[2].live);
    assert_int_equal (fling_store_commit (store), 0);
    fling_store_destroy (&store);

    /* A torn write after the last commit: garbage at the tail. */
    char path[600];
    snprintf (path, sizeof path, "%s/%016x.seg", dir, 1);
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
    store = open_store (dir, 1 << 20, 0, NULL, t);
    fling_store_status_t status;
    fling_store_status (store, &status);
    assert_true (status.torn_bytes > 0);
    assert_int_equal (status.corrupt_records, 0);
    assert_true (t->entries[1].live && t->entries[2].live);
    /* and it keeps working after the truncation */
    put_task (store, 9);
    assert_int_equal (fling_store_commit (store), 0);
    fling_store_destroy (&store);
    store = open_store (dir, 1 << 20, 0, NULL, t);
    assert_true (t->entries[9].live);
    fling_store_destroy (&store);
    free (t);
    remove_dir (dir);
}

static void test_state_and_dead_letters_survive (void **state)
{
    char *dir = make_dir ();
    table_t *t = calloc (1, sizeof *t);
    fling_store_t *store = open_store (dir, 1 << 20, 0, NULL, t);
    uint32_t seg[5];
    for (uint64_t i = 1; i <= 4; i++)
        seg[i] = put_task (store, i);
    set_state (store, 1, 2, 1, 0, NULL, true);             /* attempt 2, one crash, in flight */
    set_state (store, 2, 3, 0, FLING_DEAD_FAILED, "boom", false);
    set_state (store, 3, 3, 3, FLING_DEAD_CRASHED, "worker died while running it 3 times", false);
    set_state (store, 4, 1, 0, FLING_DEAD_TIMEOUT, "slow", false);
    assert_int_equal (fling_store_commit (store), 0);
    fling_store_destroy (&store);

    store = open_store (dir, 1 << 20, 0, NULL, t);
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
    fling_store_destroy (&store);

    store = open_store (dir, 1 << 20, 0, NULL, t);
    assert_int_equal (t->live, 3);
    assert_false (t->entries[2].live);
    assert_int_equal (t->entries[3].reason, 0);
    assert_int_equal (t->entries[3].attempt, 0);
    assert_int_equal (t->entries[3].crashes, 0);
    assert_int_equal (t->entries[4].reason, FLING_DEAD_TIMEOUT);
    fling_store_destroy (&store);

    /* The offline checker sees the same. */
    char out_path[600];
    snprintf (out_path, sizeof out_path, "%s.check", dir);
    FILE *out = fopen (out_path, "w+");
    assert_non_null (out);
    assert_int_equal (fling_store_check (dir, true, out), 0);
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
    free (t);
    remove_dir (dir);
}

static bool segment_exists (const char *dir, uint32_t id)
{
    char path[600];
    snprintf (path, sizeof path, "%s/%016x.seg", dir, id);
    return access (path, F_OK) == 0;
}

static void test_compaction_frees_oldest_segment (void **state)
{
    char *dir = make_dir ();
    table_t *t = calloc (1, sizeof *t);
    fling_store_t *store = open_store (dir, 8192, 0, NULL, t);
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
            rec_t r;
            make_record (&r, 1);
            fling_store_task_t task = {.record = r.raw, .record_size = r.size, .attempt = 2};
            assert_int_equal (fling_store_put (store, &r.id, &task, &keeper), 0);
            assert_true (keeper > 1);
        }
    }
    assert_int_equal (fling_store_commit (store), 0);
    fling_store_maintain (store, now += 10);
    assert_true (keeper > 1);
    assert_false (segment_exists (dir, 1));
    fling_store_status_t status;
    fling_store_status (store, &status);
    assert_true (status.segments <= 4); /* bounded, not one per 8 KiB written */
    fling_store_destroy (&store);

    store = open_store (dir, 8192, 0, NULL, t);
    assert_int_equal (t->live, 1);
    assert_true (t->entries[1].live);
    assert_int_equal (t->entries[1].attempt, 2);
    fling_store_destroy (&store);
    free (t);
    remove_dir (dir);
}

static void test_full_store_refuses_then_recovers (void **state)
{
    char *dir = make_dir ();
    table_t *t = calloc (1, sizeof *t);
    fling_store_t *store = open_store (dir, 8192, 3 * 8192, NULL, t);
    uint32_t seg[MAX_TASKS];
    uint64_t accepted = 0;
    for (uint64_t i = 1; i < MAX_TASKS; i++) {
        rec_t r;
        make_record (&r, i);
        fling_store_task_t task = {.record = r.raw, .record_size = r.size};
        seg[i] = 0;
        if (fling_store_put (store, &r.id, &task, &seg[i])) {
            assert_int_equal (errno, ENOSPC);
            break;
        }
        accepted++;
    }
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
    fling_store_destroy (&store);
    store = open_store (dir, 8192, 3 * 8192, NULL, t);
    assert_int_equal (t->live, 1);
    fling_store_destroy (&store);
    free (t);
    remove_dir (dir);
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
    char *dir = make_dir ();
    table_t *t = calloc (1, sizeof *t);
    fling_io_t io = fling_io_default;
    io.fdatasync = failing_fdatasync;
    fail_sync = 0;
    fling_store_t *store = open_store (dir, 1 << 20, 0, &io, t);
    put_task (store, 1);
    assert_int_equal (fling_store_commit (store), 0);
    put_task (store, 2);
    fail_sync = 1;
    assert_int_equal (fling_store_commit (store), -1);
    fail_sync = 0; /* even if the disk "recovers", nothing later succeeds */
    rec_t r;
    make_record (&r, 3);
    fling_store_task_t task = {.record = r.raw, .record_size = r.size};
    uint32_t segment = 0;
    assert_int_equal (fling_store_put (store, &r.id, &task, &segment), -1);
    assert_int_equal (errno, EIO);
    assert_int_equal (fling_store_commit (store), -1);
    fling_store_status_t status;
    fling_store_status (store, &status);
    assert_true (status.failed);
    fling_store_destroy (&store);
    store = open_store (dir, 1 << 20, 0, NULL, t);
    assert_true (t->entries[1].live); /* the committed one is there */
    fling_store_destroy (&store);
    free (t);
    remove_dir (dir);
}

static int fail_alloc;
static int failing_fallocate (int fd, off_t offset, off_t size)
{
    if (fail_alloc) {
        errno = ENOSPC;
        return -1;
    }
    return fling_io_default.fallocate (fd, offset, size);
}

/* The disk refuses to allocate (no cap, statvfs still shows space): new
   tasks get ENOSPC, but every accepted task can still be completed, in
   the room kept in the active and spare segments. */
static void test_sudden_full_disk_keeps_completions (void **state)
{
    char *dir = make_dir ();
    table_t *t = calloc (1, sizeof *t);
    fling_io_t io = fling_io_default;
    io.fallocate = failing_fallocate;
    fail_alloc = 0;
    fling_store_t *store = open_store (dir, 8192, 0, &io, t);
    static uint32_t seg[MAX_TASKS];
    uint64_t accepted = 0;
    for (uint64_t i = 1; i <= 50; i++, accepted++)
        seg[i] = put_task (store, i);
    assert_int_equal (fling_store_commit (store), 0);
    fail_alloc = 1;
    for (uint64_t i = 51; i < MAX_TASKS; i++) {
        rec_t r;
        make_record (&r, i);
        fling_store_task_t task = {.record = r.raw, .record_size = r.size};
        seg[i] = 0;
        if (fling_store_put (store, &r.id, &task, &seg[i])) {
            assert_int_equal (errno, ENOSPC);
            break;
        }
        accepted++;
        if (i % 10 == 0)
            assert_int_equal (fling_store_commit (store), 0);
    }
    assert_true (accepted > 50 && accepted < MAX_TASKS - 1);
    assert_int_equal (fling_store_commit (store), 0);
    for (uint64_t i = 1; i <= accepted; i++)
        complete_task (store, i, seg[i]);
    assert_int_equal (fling_store_commit (store), 0);
    fling_store_destroy (&store);
    fail_alloc = 0;
    store = open_store (dir, 8192, 0, NULL, t);
    assert_int_equal (t->live, 0);
    fling_store_destroy (&store);
    free (t);
    remove_dir (dir);
}

static void test_memory_store (void **state)
{
    fling_store_t *store = fling_store_open ("memory", NULL);
    assert_non_null (store);
    assert_string_equal (fling_store_kind (store), "memory");
    uint32_t segment = 5;
    rec_t r;
    make_record (&r, 1);
    fling_store_task_t task = {.record = r.raw, .record_size = r.size};
    assert_int_equal (fling_store_put (store, &r.id, &task, &segment), 0);
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
        cmocka_unit_test (test_round_trip),
        cmocka_unit_test (test_crash_keeps_committed),
        cmocka_unit_test (test_state_and_dead_letters_survive),
        cmocka_unit_test (test_compaction_frees_oldest_segment),
        cmocka_unit_test (test_full_store_refuses_then_recovers),
        cmocka_unit_test (test_failed_fdatasync_never_succeeds),
        cmocka_unit_test (test_sudden_full_disk_keeps_completions),
        cmocka_unit_test (test_memory_store),
    };
    return cmocka_run_group_tests_name ("store_disk", tests, NULL, NULL);
}
