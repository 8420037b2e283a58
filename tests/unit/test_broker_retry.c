/*  test_broker_retry.c - how the broker runs a task again, with the disk
    store: a real broker (broker/fling_broker.c) on a thread, restarted on
    the same store directory, fed by raw DEALER sockets (broker_fixture.h).
    Retries with growing backoff, the dead-letter queue and its ADMIN ops,
    lease deadlines fencing late results, HOLDING after a restart, refills
    for a worker that prefetches. Time assertions are lower bounds only
    (never upper wall-clock bounds). Poison tasks: test_broker_poison.c;
    the duplicate window, a full store, a stop: test_broker_durable.c.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_fixture.h"
#include "fling_state.h"
#include "fling_tasks.h"

/* A reply or task that should come comes within this. Generous on
   purpose: a loaded 2-core CI machine (fsync behind other builds, the
   broker thread descheduled) is slow, and a green run never waits it out. */
#define WAIT_MS 20000

static void retry_settings (fling_broker_config_t *config)
{
    fling_queue_config_t *q = &config->queues[config->queue_count++];
    strcpy (q->name, "email");
    q->max_attempts = 4;
    q->backoff_ms = 100;
    q->set = 1 | 2;
}

static void test_backoff_then_dead_letter (void **state)
{
    fixture_t *ctx = fixture_start_disk (WAIT_MS, retry_settings);
    zsock_t *worker = fixture_worker_ready (ctx, "w", NULL);
    fixture_submit_acked (ctx, 1, 1, 1, FLING_REASON_OK);
    fixture_lease_t lease;
    fixture_next_task (ctx, worker, &lease);
    assert_int_equal (lease.attempt, 1);
    assert_int_equal (lease.timeout_ms, 300000); /* the default, written for the worker */
    /* Delays: 100, 200, 400 ms (+-20%): each at least 80% of its nominal. */
    int64_t minimum[] = {0, 80, 160, 320};
    for (int attempt = 1; attempt < 4; attempt++) {
        char error[32];
        snprintf (error, sizeof error, "boom %d", attempt);
        int64_t failed_at = fling_clock_ms ();
        fixture_results (worker, &lease, 1, FLING_OUTCOME_FAIL, error);
        fixture_next_task (ctx, worker, &lease);
        assert_int_equal (lease.attempt, attempt + 1);
        assert_true (fling_clock_ms () - failed_at >= minimum[attempt]);
    }
    fixture_results (worker, &lease, 1, FLING_OUTCOME_FAIL, "boom 4");
    fixture_wait_stat (ctx, NULL, "dead", 1);
    assert_int_equal (fixture_stat (ctx, "counters", "retried"), 3);

    json_t *root = fixture_admin (ctx, "{\"op\":\"dead_list\",\"name\":\"email\"}");
    assert_int_equal (json_integer_value (json_object_get (root, "total")), 1);
    json_t *dead = json_array_get (json_object_get (root, "dead"), 0);
    assert_string_equal (json_string_value (json_object_get (dead, "reason")), "failed");
    assert_string_equal (json_string_value (json_object_get (dead, "error")), "boom 4");
    assert_string_equal (json_string_value (json_object_get (dead, "name")), "email");
    assert_string_equal (json_string_value (json_object_get (dead, "payload")),
                         "{\"hello\":\"world\"}");
    assert_int_equal (json_integer_value (json_object_get (dead, "attempts")), 4);
    char id_text[64];
    snprintf (id_text, sizeof id_text, "%s", json_string_value (json_object_get (dead, "id")));
    json_decref (root);

    /* The dead-letter queue survives a restart, error text and all. */
    fixture_worker_close (ctx, &worker);
    fixture_restart (ctx);
    worker = fixture_worker_ready (ctx, "w2", NULL);
    root = fixture_admin (ctx, "{\"op\":\"dead_list\"}");
    dead = json_array_get (json_object_get (root, "dead"), 0);
    assert_string_equal (json_string_value (json_object_get (dead, "error")), "boom 4");
    json_decref (root);
    fixture_no_task (worker, 200);

    /* dead_retry by id: back in its queue, attempts reset. */
    char request[160];
    snprintf (request, sizeof request, "{\"op\":\"dead_retry\",\"id\":\"%s\"}", id_text);
    root = fixture_admin (ctx, request);
    assert_int_equal (json_integer_value (json_object_get (root, "retried")), 1);
    json_decref (root);
    fixture_next_task (ctx, worker, &lease);
    assert_int_equal (lease.attempt, 1);
    fixture_results (worker, &lease, 1, FLING_OUTCOME_TIMEOUT, "too slow");
    fixture_next_task (ctx, worker, &lease);
    fixture_results (worker, &lease, 1, FLING_OUTCOME_TIMEOUT, "too slow");
    fixture_next_task (ctx, worker, &lease);
    fixture_results (worker, &lease, 1, FLING_OUTCOME_TIMEOUT, "too slow");
    fixture_next_task (ctx, worker, &lease);
    fixture_results (worker, &lease, 1, FLING_OUTCOME_TIMEOUT, "too slow");
    fixture_wait_stat (ctx, NULL, "dead", 1);
    root = fixture_admin (ctx, "{\"op\":\"dead_list\",\"limit\":5}");
    dead = json_array_get (json_object_get (root, "dead"), 0);
    assert_string_equal (json_string_value (json_object_get (dead, "reason")), "timeout");
    json_decref (root);

    /* dead_purge: gone for good, also after a restart. */
    root = fixture_admin (ctx, "{\"op\":\"dead_purge\",\"all\":true}");
    assert_int_equal (json_integer_value (json_object_get (root, "purged")), 1);
    json_decref (root);
    root = fixture_admin (ctx, "{\"op\":\"dead_purge\"}");
    assert_non_null (json_object_get (root, "error"));
    json_decref (root);
    fixture_worker_close (ctx, &worker);
    fixture_restart (ctx);
    assert_int_equal (fixture_stat (ctx, NULL, "tasks"), 0);
    assert_int_equal (fixture_stat (ctx, NULL, "dead"), 0);
    fixture_finish (&ctx, NULL);
}

static void short_deadline (fling_broker_config_t *config)
{
    /* Long enough that a test thread descheduled on a loaded machine
       between its PINGs is not taken for dead. */
    config->worker_timeout_ms = 1000;
    fling_queue_config_t *q = &config->queues[config->queue_count++];
    strcpy (q->name, "email");
    q->timeout_ms = 100;
    q->set = 4;
}

static void test_lease_deadline_fences_late_result (void **state)
{
    fixture_t *ctx = fixture_start_disk (WAIT_MS, short_deadline);
    zsock_t *worker = fixture_worker_ready (ctx, "w", NULL);
    /* Before the SUBMIT, so before the lease began: taken when the task
       arrives, a loaded machine's delivery lag would shorten the interval
       measured below the broker's real one and fail a correct broker. */
    int64_t leased_at = fling_clock_ms ();
    fixture_submit_acked (ctx, 1, 1, 1, FLING_REASON_OK);
    fixture_lease_t first, second;
    fixture_next_task (ctx, worker, &first);
    assert_int_equal (first.timeout_ms, 100);
    /* No RESULT: after 2 x 100 + 2 x 1000 ms the broker takes the lease
       back, frees the credit and runs it again (attempt 2). */
    fixture_next_task (ctx, worker, &second);
    assert_true (fling_clock_ms () - leased_at >= 2200);
    assert_int_equal (second.attempt, 2);
    assert_int_equal (fixture_stat (ctx, "counters", "lease_expired"), 1);
    assert_int_equal (fixture_stat (ctx, "counters", "timed_out"), 1);
    fixture_results (worker, &first, 1, FLING_OUTCOME_DONE, ""); /* late: fenced */
    fixture_wait_stat (ctx, "counters", "stale_results", 1);
    assert_int_equal (fixture_stat (ctx, "counters", "done"), 0);
    fixture_results (worker, &second, 1, FLING_OUTCOME_DONE, "");
    fixture_wait_stat (ctx, "counters", "done", 1);
    assert_int_equal (fixture_stat (ctx, NULL, "tasks"), 0);
    fixture_finish (&ctx, &worker);
}

static void long_park (fling_broker_config_t *config)
{
    config->worker_timeout_ms = 2000;
}

static void test_holding_after_restart (void **state)
{
    fixture_t *ctx = fixture_start_disk (WAIT_MS, long_park);
    zsock_t *worker = fixture_worker_ready (ctx, "w", NULL);
    fixture_submit_acked (ctx, 1, 1, 2, FLING_REASON_OK);
    fixture_lease_t a, b;
    fixture_next_task (ctx, worker, &a);
    fixture_next_task (ctx, worker, &b);
    fixture_worker_close (ctx, &worker);
    fixture_restart (ctx); /* both were in flight: parked for HOLDING */
    worker = fixture_worker_ready (ctx, "w", NULL);
    uint8_t buf[2 * FLING_LEASE_SIZE];
    size_t size = fling_lease_write (buf, &a.id, a.attempt);
    size += fling_lease_write (buf + size, &b.id, (uint16_t)(b.attempt + 5)); /* wrong attempt */
    fixture_send (worker, fling_msg_holding (2, buf, size));
    fixture_wait_stat (ctx, "counters", "holding_leased", 1);
    assert_int_equal (fixture_stat (ctx, "counters", "holding_ignored"), 1);
    fixture_results (worker, &a, 1, FLING_OUTCOME_DONE, ""); /* same attempt: accepted */
    fixture_wait_stat (ctx, "counters", "done", 1);
    /* b was not claimed: queued once the parking time is over. */
    fixture_lease_t again;
    fixture_next_task (ctx, worker, &again);
    assert_int_equal (memcmp (again.id.bytes, b.id.bytes, FLING_TASK_ID_SIZE), 0);
    assert_int_equal (again.attempt, b.attempt + 1);
    fixture_finish (&ctx, &worker);
}

/* A worker with prefetch gets no refill while at least half its prefetch
   still waits (SPEC.md 6.3): its slots have work, and refills come in
   fewer, larger DISPATCHes. 10 tasks held, 4 run at once: refilled once
   fewer than 4 + 3 are leased, with everything that is free. */
static void test_refill_waits_for_half_the_prefetch (void **state)
{
    fixture_t *ctx = fixture_start_disk (WAIT_MS, NULL);
    fixture_submit_acked (ctx, 1, 1, 20, FLING_REASON_OK);
    uint32_t slots[FLING_CLASS_COUNT] = {[FLING_CLASS_POOL] = 10, [FLING_CLASS_LOOP] = 4};
    zsock_t *worker = fixture_worker_ready (ctx, "prefetcher", slots);
    fixture_lease_t leases[10];
    for (int i = 0; i < 10; i++)
        fixture_next_task (ctx, worker, &leases[i]);
    for (int i = 0; i < 3; i++) /* 7 leased: 3 of the 6 prefetched still wait */
        fixture_results (worker, &leases[i], 1, FLING_OUTCOME_DONE, "");
    fixture_no_task (worker, 300);
    fixture_results (worker, &leases[3], 1, FLING_OUTCOME_DONE, ""); /* 6 leased */
    fixture_lease_t lease;
    for (int i = 0; i < 4; i++)
        fixture_next_task (ctx, worker, &lease);
    fixture_no_task (worker, 200); /* 10 leased: full */
    fixture_wait_stat (ctx, "counters", "done", 4);
    fixture_finish (&ctx, &worker);
}

static void long_backoff (fling_broker_config_t *config)
{
    retry_settings (config);
    config->queues[config->queue_count - 1].backoff_ms = 5000;
    config->segment_bytes = 8192; /* a few rounds of tasks make a compaction */
}

/* The oldest .seg file of the store: the name, or "" if none. */
static void oldest_segment (const char *dir, char *name, size_t size)
{
    name[0] = '\0';
    DIR *d = opendir (dir);
    assert_non_null (d);
    struct dirent *e;
    while ((e = readdir (d)))
        if (strstr (e->d_name, ".seg") && (!name[0] || strcmp (e->d_name, name) < 0))
            snprintf (name, size, "%s", e->d_name);
    closedir (d);
}

/* Runs rounds of 10 other tasks (what the worker holds at once; batches
   and seqs from 2, the one task the test keeps is seq 1) until the oldest
   segment of the store is no longer `first`, 80 rounds at most; `now` gets
   the oldest segment when it stops. */
static void run_until_compacted (fixture_t *ctx, zsock_t *worker, const char *first, char *now,
                                 size_t size)
{
    uint64_t seq = 2;
    for (int round = 0; round < 80; round++) {
        oldest_segment (ctx->scratch_dir, now, size);
        if (strcmp (now, first) != 0)
            break;
        fixture_submit_acked (ctx, (uint64_t)round + 2, seq, 10, FLING_REASON_OK);
        seq += 10;
        fixture_run_done (ctx, worker, 10);
        fixture_wait_stat (ctx, NULL, "tasks", 1);
    }
}

/* A retry's wait is kept across restarts and a compaction that moves its
   task (proto/SPEC.md §6.8): the task comes back no earlier than 80 % of
   its backoff after the FAIL. The restart checks are skipped when the
   machine was too slow to make them before the wait ended. */
static void test_retry_wait_kept_across_restart (void **state)
{
    fixture_t *ctx = fixture_start_disk (WAIT_MS, long_backoff);
    zsock_t *worker = fixture_worker_ready (ctx, "w", NULL);
    fixture_submit_acked (ctx, 1, 1, 1, FLING_REASON_OK);
    fixture_lease_t lease;
    fixture_next_task (ctx, worker, &lease);
    int64_t failed_at = fling_clock_ms (), earliest = failed_at + 4000;
    fixture_results (worker, &lease, 1, FLING_OUTCOME_FAIL, "later");
    fixture_wait_stat (ctx, NULL, "delayed", 1);
    assert_int_equal (fixture_stat (ctx, NULL, "retrying"), 1);
    char first[256], now[256];
    oldest_segment (ctx->scratch_dir, first, sizeof first);
    /* Other tasks run until the segment with the task's records is gone:
       compaction moved its TASK record, and its wait with it. */
    run_until_compacted (ctx, worker, first, now, sizeof now);
    assert_string_not_equal (now, first);
    fixture_worker_close (ctx, &worker);
    for (int restart = 0; restart < 2; restart++) {
        fixture_restart (ctx);
        if (fling_clock_ms () < earliest - 500) {
            assert_int_equal (fixture_stat (ctx, NULL, "delayed"), 1);
            assert_int_equal (fixture_stat (ctx, NULL, "retrying"), 1);
        }
    }
    worker = fixture_worker_ready (ctx, "w2", NULL);
    fixture_next_task (ctx, worker, &lease);
    assert_true (fling_clock_ms () >= earliest);
    assert_int_equal (lease.attempt, 2);
    assert_int_equal (lease.id.bytes[15], 1); /* task 1 */
    assert_int_equal (fixture_stat (ctx, NULL, "retrying"), 0);
    fixture_finish (&ctx, &worker);
}

/* A new delayed task is held without its due-at (the heap keeps the time):
   its TASK record still carries it, also the copy a compaction writes, so
   the task comes back no earlier than its due time after restarts. */
static void test_delay_kept_across_compaction (void **state)
{
    fixture_t *ctx = fixture_start_disk (WAIT_MS, long_backoff);
    zsock_t *worker = fixture_worker_ready (ctx, "w", NULL);
    uint8_t buf[512];
    fling_task_id_t id;
    fling_task_id_make (&id, FIXTURE_PRODUCER_ID, 1);
    fling_task_ext_t ext = {.delay_ms = 5000};
    size_t size = fling_record_write_ext (buf, &id, 0, 0, 0, 0, "email", 5, FIXTURE_PAYLOAD,
                                          strlen (FIXTURE_PAYLOAD), &ext);
    int64_t earliest = fling_clock_ms () + 5000;
    zmsg_t *msg = fling_msg_submit (1, 1, buf, size);
    fling_msg_set_version (msg, FLING_PROTO_VERSION_SCHED);
    fixture_send (ctx->producer, msg);
    assert_int_equal (fixture_ack_count (ctx, 1, FLING_REASON_OK), 1);
    fixture_wait_stat (ctx, NULL, "delayed", 1);
    char first[256], now[256];
    oldest_segment (ctx->scratch_dir, first, sizeof first);
    run_until_compacted (ctx, worker, first, now, sizeof now);
    assert_string_not_equal (now, first);
    fixture_worker_close (ctx, &worker);
    for (int restart = 0; restart < 2; restart++) {
        fixture_restart (ctx);
        if (fling_clock_ms () < earliest - 500)
            assert_int_equal (fixture_stat (ctx, NULL, "delayed"), 1);
    }
    worker = fixture_worker_ready (ctx, "w2", NULL);
    fixture_lease_t lease;
    fixture_next_task (ctx, worker, &lease);
    assert_true (fling_clock_ms () >= earliest);
    assert_int_equal (lease.attempt, 1);
    assert_int_equal (lease.id.bytes[15], 1); /* task 1 */
    fixture_finish (&ctx, &worker);
}

/* One rule for a new task and a recovered one: a record loses its due-at
   (the delay heap's `due` has it) only when due within FLING_DELAY_MAX_MS
   less a margin for the rounding; recovery had no margin, so a task due
   about 12 days out could be released a millisecond early. */
static void lean_case (fling_broker_t *broker, int64_t due_in_ms, size_t room, bool expect_lean)
{
    fling_task_id_t id = {{0}};
    fling_task_ext_t ext = {0};
    ext.due_at_ms = (uint64_t)(broker->wall_ms + due_in_ms);
    uint8_t raw[256], dest[256];
    size_t size = fling_record_write_ext (raw, &id, 0, 0, 0, 0, "t.due", 5, "{}", 2, &ext);
    const uint8_t *cursor = raw;
    fling_record_t record, lean;
    fling_reason_t reason;
    assert_int_equal (fling_record_next (&cursor, raw + size, &record, &reason), 1);
    int64_t due = fling_tasks_lean_record (broker, &record, dest, room, &lean);
    if (expect_lean) {
        assert_int_equal (due, (int64_t)ext.due_at_ms);
        assert_int_equal (lean.ext.due_at_ms, 0);
        assert_int_equal (lean.raw_size, size - FLING_DUE_EXT_SIZE);
        assert_memory_equal (lean.payload, "{}", 2);
    } else {
        assert_int_equal (due, 0);
        assert_ptr_equal (lean.raw, record.raw);
        assert_int_equal (lean.ext.due_at_ms, ext.due_at_ms);
    }
}

static void test_lean_record_margin (void **state)
{
    (void)state;
    fling_broker_t *broker = (fling_broker_t *)calloc (1, sizeof *broker);
    assert_non_null (broker);
    broker->wall_ms = 1800000000000; /* the turn's wall clock, read once */
    lean_case (broker, 60000, 256, true);
    lean_case (broker, (int64_t)FLING_DELAY_MAX_MS - 1001, 256, true);
    lean_case (broker, (int64_t)FLING_DELAY_MAX_MS - 500, 256, false); /* in the margin */
    lean_case (broker, (int64_t)FLING_DELAY_MAX_MS + 5000, 256, false);
    lean_case (broker, 0, 256, false);   /* due now */
    lean_case (broker, -5, 256, false);  /* past */
    lean_case (broker, 60000, 8, false); /* no room to write the lean copy */
    free (broker);
}

/* The delay heap: 5,000 tasks due at random times come out each exactly
   when due, none early, none late, none lost, whether they entered one
   by one or in bulk (recovery: fling_tasks_bulk_begin/end). */
static void heap_run (bool bulk)
{
    fling_broker_t *broker = (fling_broker_t *)calloc (1, sizeof *broker);
    fling_queue_t *queue = fling_queue_new ("t.due", 5);
    assert_non_null (broker);
    assert_non_null (queue);
    enum { N = 5000, SPAN = 20000 };
    static uint32_t due[N];
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    if (bulk)
        fling_tasks_bulk_begin (broker);
    for (uint64_t i = 0; i < N; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        due[i] = 1 + (uint32_t)(rng % SPAN);
        fling_task_id_t id;
        fling_task_id_make (&id, 1, i);
        uint8_t raw[128];
        size_t size = fling_record_write (raw, &id, 0, 0, 0, 0, "t.due", 5, "{}", 2);
        const uint8_t *cursor = raw;
        fling_record_t record;
        fling_reason_t reason;
        assert_int_equal (fling_record_next (&cursor, raw + size, &record, &reason), 1);
        fling_tasks_delay (broker, fling_btask_new (&record, queue, 0, 0), due[i]);
    }
    if (bulk)
        fling_tasks_bulk_end (broker);
    size_t out = 0;
    for (broker->now_ms = 0; broker->now_ms <= SPAN; broker->now_ms++) {
        fling_tasks_promote_due (broker);
        fling_btask_t *task;
        while ((task = fling_queue_pop (queue))) {
            fling_task_id_t id;
            fling_btask_id (task, &id);
            assert_int_equal (due[fling_task_id_seq (&id)], broker->now_ms);
            fling_btask_destroy (&task);
            out++;
        }
    }
    assert_int_equal (out, N);
    fling_queue_destroy (&queue);
    free (broker);
}

static void test_delay_heap_order (void **state)
{
    (void)state;
    heap_run (false);
    heap_run (true);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_lean_record_margin),
        cmocka_unit_test (test_delay_heap_order),
        cmocka_unit_test_teardown (test_backoff_then_dead_letter, fixture_teardown),
        cmocka_unit_test_teardown (test_lease_deadline_fences_late_result, fixture_teardown),
        cmocka_unit_test_teardown (test_holding_after_restart, fixture_teardown),
        cmocka_unit_test_teardown (test_refill_waits_for_half_the_prefetch, fixture_teardown),
        cmocka_unit_test_teardown (test_retry_wait_kept_across_restart, fixture_teardown),
        cmocka_unit_test_teardown (test_delay_kept_across_compaction, fixture_teardown),
    };
    return cmocka_run_group_tests_name ("broker_retry", tests, NULL, NULL);
}
