/*  test_store_disk.c - the "disk" store alone (broker/fling_store_disk.c):
    put/state/complete/commit/recover round trips, crashes (no commit, torn
    tail), attempts, crash counts and dead letters surviving, compaction
    freeing the oldest segment, a full store refusing and recovering; the
    memory store's kind. Faults (fdatasync, full disk, the lock, damage):
    test_store_disk_faults.c. */
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

/* ---- tests ------------------------------------------------------------------ */

static void test_round_trip (void **state)
{
    disk_t *d = *state;
    disk_table_t *t = &d->table;
    fling_store_t *store = disk_open_store (d, 1 << 20, 0, NULL);
    assert_int_equal (t->live, 0);
    uint32_t seg[4];
    for (uint64_t i = 1; i <= 3; i++)
        seg[i] = disk_put_task (store, i);
    assert_int_equal (fling_store_commit (store), 0);
    disk_complete_task (store, 2, seg[2]);
    assert_int_equal (fling_store_commit (store), 0);
    fling_store_status_t status;
    fling_store_status (store, &status);
    assert_int_equal (status.commits, 2);
    assert_false (status.failed);

    disk_reopen_store (d, &store);
    assert_int_equal (t->live, 2);
    assert_true (t->entries[1].live && !t->entries[2].live && t->entries[3].live);
    assert_int_equal (t->done_events, 1);
    fling_store_destroy (&store);
}

static void test_crash_keeps_committed (void **state)
{
    disk_t *d = *state;
    disk_table_t *t = &d->table;
    fling_store_t *store = disk_open_store (d, 1 << 20, 0, NULL);
    disk_put_task (store, 1);
    disk_put_task (store, 2);
    assert_int_equal (fling_store_commit (store), 0);
    disk_put_task (store, 3); /* staged, never committed: the "crash" loses only this */
    disk_reopen_store (d, &store);
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
    store = disk_open_store (d, 1 << 20, 0, NULL);
    fling_store_status_t status;
    fling_store_status (store, &status);
    assert_true (status.torn_bytes > 0);
    assert_int_equal (status.corrupt_records, 0);
    assert_true (t->entries[1].live && t->entries[2].live);
    /* and it keeps working after the truncation */
    disk_put_task (store, 9);
    assert_int_equal (fling_store_commit (store), 0);
    disk_reopen_store (d, &store);
    assert_true (t->entries[9].live);
    fling_store_destroy (&store);
}

static void test_state_and_dead_letters_survive (void **state)
{
    disk_t *d = *state;
    disk_table_t *t = &d->table;
    fling_store_t *store = disk_open_store (d, 1 << 20, 0, NULL);
    uint32_t seg[5];
    for (uint64_t i = 1; i <= 4; i++)
        seg[i] = disk_put_task (store, i);
    disk_set_state (store, 1, 2, 1, 0, NULL, true); /* attempt 2, one crash, in flight */
    disk_set_state (store, 2, 3, 0, FLING_DEAD_FAILED, "boom", false);
    disk_set_state (store, 3, 3, 3, FLING_DEAD_CRASHED, "worker died while running it 3 times",
                    false);
    disk_set_state (store, 4, 1, 0, FLING_DEAD_TIMEOUT, "slow", false);
    assert_int_equal (fling_store_commit (store), 0);

    disk_reopen_store (d, &store);
    assert_int_equal (t->live, 4);
    assert_int_equal (t->entries[1].attempt, 2);
    assert_int_equal (t->entries[1].crashes, 1);
    assert_true (t->entries[1].leased);
    assert_int_equal (t->entries[2].reason, FLING_DEAD_FAILED);
    assert_string_equal (t->entries[2].error, "boom");
    assert_int_equal (t->entries[3].reason, FLING_DEAD_CRASHED);
    assert_int_equal (t->entries[3].crashes, 3);
    /* dead_purge of 2 (a completion) and dead_retry of 3 (state reset) persist */
    disk_complete_task (store, 2, seg[2]);
    disk_set_state (store, 3, 0, 0, 0, NULL, false);
    assert_int_equal (fling_store_commit (store), 0);

    disk_reopen_store (d, &store);
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
    disk_table_t *t = &d->table;
    fling_store_t *store = disk_open_store (d, 8192, 0, NULL);
    uint32_t keeper = disk_put_task (store, 1); /* long-lived: pins segment 1 */
    assert_int_equal (keeper, 1);
    int64_t now = 0;
    /* Steady load: tasks come and go; the log rolls over several segments. */
    for (uint64_t i = 2; i < 600; i++) {
        uint32_t seg = disk_put_task (store, i);
        assert_int_equal (fling_store_commit (store), 0);
        disk_complete_task (store, i, seg);
        assert_int_equal (fling_store_commit (store), 0);
        fling_store_maintain (store, now += 10);
        /* the broker's part: move what pins the candidate */
        int64_t candidate = fling_store_compaction_candidate (store);
        if (candidate == (int64_t)keeper) {
            assert_int_equal (disk_put_attempt (store, 1, 2, &keeper), 0);
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

    disk_reopen_store (d, &store);
    assert_int_equal (t->live, 1);
    assert_true (t->entries[1].live);
    assert_int_equal (t->entries[1].attempt, 2);
    fling_store_destroy (&store);
}

static void test_full_store_refuses_then_recovers (void **state)
{
    disk_t *d = *state;
    disk_table_t *t = &d->table;
    fling_store_t *store = disk_open_store (d, 8192, 3 * 8192, NULL);
    uint32_t seg[DISK_MAX_TASKS];
    uint64_t accepted = disk_put_until_full (store, 1, seg, 0);
    assert_true (accepted > 10 && accepted < DISK_MAX_TASKS - 1);
    assert_int_equal (fling_store_commit (store), 0);
    fling_store_status_t status;
    fling_store_status (store, &status);
    assert_true (status.full);
    /* Completions still fit (essential records use the headroom). */
    for (uint64_t i = 1; i <= accepted; i++)
        disk_complete_task (store, i, seg[i]);
    assert_int_equal (fling_store_commit (store), 0);
    fling_store_maintain (store, 5000); /* sweep + space check */
    fling_store_status (store, &status);
    assert_false (status.full);
    disk_put_task (store, DISK_MAX_TASKS - 1);
    assert_int_equal (fling_store_commit (store), 0);
    disk_reopen_store (d, &store);
    assert_int_equal (t->live, 1);
    fling_store_destroy (&store);
}

static void test_memory_store (void **state)
{
    fling_store_t *store = fling_store_open ("memory", NULL);
    assert_non_null (store);
    assert_string_equal (fling_store_kind (store), "memory");
    uint32_t segment = 5;
    assert_int_equal (disk_put_attempt (store, 1, 0, &segment), 0);
    assert_int_equal (segment, 0);
    assert_int_equal (fling_store_commit (store), 0);
    assert_int_equal (fling_store_compaction_candidate (store), -1);
    fling_store_destroy (&store);
    assert_null (fling_store_open ("tape", NULL));
    assert_true (fling_store_kind_valid ("disk"));
}

/* A retry's wait is kept as a UTC due time (STATE_DUE, proto/SPEC.md
   §6.8) and replaced by the task's next state; the checker reads it. */
static void test_retry_due_time_survives (void **state)
{
    disk_t *d = *state;
    disk_table_t *t = &d->table;
    fling_store_t *store = disk_open_store (d, 1 << 20, 0, NULL);
    const int64_t due = 1796000000123; /* 2026-12-10, ms */
    for (uint64_t i = 1; i <= 3; i++)
        disk_put_task (store, i);
    disk_set_due (store, 1, 1, 0, due);
    disk_set_due (store, 2, 2, 1, due + 1);
    disk_set_state (store, 2, 3, 1, 0, NULL, true); /* due, then dispatched again */
    disk_set_due (store, 3, 4, 2, INT64_MAX);       /* any instant round-trips */
    assert_int_equal (fling_store_commit (store), 0);

    disk_reopen_store (d, &store);
    assert_int_equal (t->live, 3);
    assert_int_equal (t->entries[1].due_ms, due);
    assert_int_equal (t->entries[1].attempt, 1);
    assert_false (t->entries[1].leased);
    assert_int_equal (t->entries[1].reason, FLING_DEAD_NONE);
    assert_int_equal (t->entries[2].due_ms, 0);
    assert_int_equal (t->entries[2].attempt, 3);
    assert_true (t->entries[2].leased);
    assert_int_equal (t->entries[3].due_ms, INT64_MAX);
    assert_int_equal (t->entries[3].attempt, 4);
    assert_int_equal (t->entries[3].crashes, 2);
    /* A dead-letter or lease state never carries a due time (it would be
       a STATE_DUE of a task that is not waiting). */
    fling_task_id_t id;
    fling_task_id_make (&id, 0xabcdef, 1);
    fling_store_task_t dead = {.attempt = 3, .reason = FLING_DEAD_FAILED, .due_ms = due};
    assert_int_equal (fling_store_state (store, &id, &dead), 0);
    assert_int_equal (fling_store_commit (store), 0);
    disk_reopen_store (d, &store);
    assert_int_equal (t->entries[1].reason, FLING_DEAD_FAILED);
    assert_int_equal (t->entries[1].due_ms, 0);
    fling_store_destroy (&store);
    FILE *out = tmpfile (); /* the checker counts no record as corrupt */
    assert_non_null (out);
    assert_int_equal (fling_store_check (d->dir, false, out), 0);
    fclose (out);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_round_trip, disk_setup, disk_teardown),
        cmocka_unit_test_setup_teardown (test_crash_keeps_committed, disk_setup, disk_teardown),
        cmocka_unit_test_setup_teardown (test_state_and_dead_letters_survive, disk_setup,
                                         disk_teardown),
        cmocka_unit_test_setup_teardown (test_retry_due_time_survives, disk_setup, disk_teardown),
        cmocka_unit_test_setup_teardown (test_compaction_frees_oldest_segment, disk_setup,
                                         disk_teardown),
        cmocka_unit_test_setup_teardown (test_full_store_refuses_then_recovers, disk_setup,
                                         disk_teardown),
        cmocka_unit_test (test_memory_store),
    };
    return cmocka_run_group_tests_name ("store_disk", tests, NULL, NULL);
}
