/*  test_broker_keys.c - unique keys and paused queues in the real broker
    (broker/fling_unique.c, broker/fling_pause.c; proto/SPEC.md §6.8), on
    a thread with raw FLP clients (broker_fixture.h):
    - a dead-lettered task still holds its key; purged, it holds it for its
      TTL, then the key is free;
    - in one batch, the second record with a key is DUPLICATE; a task
      queued with a key keeps it across a restart of a disk store;
    - a paused name dispatches nothing to a ready worker, across a restart,
      until resumed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "broker_fixture.h"
#include "unit_support.h"

#define WAIT_MS 5000

/* SUBMITs (FLP/1.2) one "email" task per key, ids FIXTURE_PRODUCER_ID:first..;
   returns the ACK statuses in `statuses`. */
static void submit_keyed (fixture_t *ctx, uint64_t batch_seq, uint64_t first, const char **keys,
                          size_t count, uint32_t ttl_ms, uint16_t max_attempts, uint8_t *statuses)
{
    uint8_t buf[8192];
    size_t size = 0;
    for (size_t i = 0; i < count; i++) {
        fling_task_id_t id;
        fling_task_id_make (&id, FIXTURE_PRODUCER_ID, first + i);
        fling_task_ext_t ext = {.key = keys[i], .key_size = strlen (keys[i]), .key_ttl_ms = ttl_ms};
        size += fling_record_write_ext (buf + size, &id, 0, max_attempts, 0, 0, "email", 5,
                                        FIXTURE_PAYLOAD, strlen (FIXTURE_PAYLOAD), &ext);
    }
    zmsg_t *msg = fling_msg_submit (batch_seq, (uint32_t)count, buf, size);
    fling_msg_set_version (msg, FLING_PROTO_VERSION_SCHED);
    fixture_send (ctx->producer, msg);
    fling_msg_t ack;
    zmsg_t *reply = fixture_expect (ctx->producer, FLING_CMD_ACK, &ack, ctx->wait_ms);
    assert_int_equal (ack.batch_seq, batch_seq);
    assert_int_equal (ack.count, count);
    memcpy (statuses, ack.body, count);
    zmsg_destroy (&reply);
}

static uint8_t submit_one (fixture_t *ctx, uint64_t seq, const char *key, uint32_t ttl_ms,
                           uint16_t max_attempts)
{
    uint8_t status;
    submit_keyed (ctx, seq, seq, &key, 1, ttl_ms, max_attempts, &status);
    return status;
}

static void test_dead_then_purged (void **state)
{
    fixture_t *ctx = fixture_new (WAIT_MS);
    fixture_launch (ctx);
    zsock_t *worker = fixture_worker_ready (ctx, "w", NULL);
    assert_int_equal (submit_one (ctx, 1, "user:42", 300, 1), FLING_REASON_OK);
    fixture_lease_t lease;
    fixture_next_task (ctx, worker, &lease);
    fixture_results (worker, &lease, 1, FLING_OUTCOME_FAIL, "no");
    fixture_wait_stat (ctx, NULL, "dead", 1);
    assert_int_equal (submit_one (ctx, 2, "user:42", 300, 1), FLING_REASON_DUPLICATE);
    json_decref (fixture_admin (ctx, "{\"op\":\"dead_purge\",\"all\":true}"));
    fixture_wait_stat (ctx, NULL, "dead", 0);
    assert_int_equal (submit_one (ctx, 3, "user:42", 300, 1), FLING_REASON_DUPLICATE); /* TTL */
    assert_int_equal (fixture_stat (ctx, NULL, "keys"), 1);
    zclock_sleep (400);
    assert_int_equal (submit_one (ctx, 4, "user:42", 0, 1), FLING_REASON_OK);
    fixture_next_task (ctx, worker, &lease);
    assert_int_equal (lease.id.bytes[15], 4);
    fixture_results (worker, &lease, 1, FLING_OUTCOME_DONE, "");
    fixture_wait_stat (ctx, NULL, "keys", 0); /* TTL 0: free once done */
    assert_int_equal (fixture_stat (ctx, "counters", "key_duplicates"), 2);
    fixture_finish (&ctx, &worker);
}

static void test_batch_and_restart (void **state)
{
    fixture_t *ctx = fixture_start_disk (WAIT_MS, NULL);
    const char *keys[] = {"a", "b", "a", "c", "b"};
    uint8_t statuses[5];
    submit_keyed (ctx, 1, 1, keys, 5, 60000, 0, statuses);
    const uint8_t expected[] = {FLING_REASON_OK, FLING_REASON_OK, FLING_REASON_DUPLICATE,
                                FLING_REASON_OK, FLING_REASON_DUPLICATE};
    assert_memory_equal (statuses, expected, 5);
    fixture_restart (ctx);
    assert_int_equal (fixture_stat (ctx, NULL, "keys"), 3);
    assert_int_equal (fixture_stat (ctx, NULL, "tasks"), 3);
    submit_keyed (ctx, 2, 10, keys, 5, 60000, 0, statuses);
    for (int i = 0; i < 5; i++)
        assert_int_equal (statuses[i], FLING_REASON_DUPLICATE);
    /* The task that holds "a" runs; its key outlives it (60 s), also
       across another restart. */
    zsock_t *worker = fixture_worker_ready (ctx, "w", NULL);
    fixture_run_done (ctx, worker, 3);
    fixture_wait_stat (ctx, NULL, "tasks", 0);
    fixture_worker_close (ctx, &worker);
    fixture_restart (ctx);
    assert_int_equal (fixture_stat (ctx, NULL, "keys"), 3);
    assert_int_equal (submit_one (ctx, 20, "c", 0, 0), FLING_REASON_DUPLICATE);
    assert_int_equal (submit_one (ctx, 21, "d", 0, 0), FLING_REASON_OK);
    fixture_finish (&ctx, NULL);
}

static json_t *queue_of (fixture_t *ctx, const char *name)
{
    json_t *stats = fixture_stats (ctx), *queue = NULL;
    size_t i;
    json_t *q;
    json_array_foreach (json_object_get (stats, "queues"), i, q)
    {
        if (strcmp (json_string_value (json_object_get (q, "name")), name) == 0)
            queue = json_incref (q);
    }
    json_decref (stats);
    return queue; /* NULL: the broker holds nothing of that name */
}

static bool paused (fixture_t *ctx)
{
    json_t *queue = queue_of (ctx, "email");
    bool is = queue && json_is_true (json_object_get (queue, "paused"));
    json_decref (queue);
    return is;
}

static void test_pause_across_restart (void **state)
{
    fixture_t *ctx = fixture_start_disk (WAIT_MS, NULL);
    json_t *reply = fixture_admin (ctx, "{\"op\":\"queue_pause\",\"name\":\"email\"}");
    assert_true (json_is_true (json_object_get (reply, "paused")));
    json_decref (reply);
    reply = fixture_admin (ctx, "{\"op\":\"queue_pause\",\"name\":\"bad name\"}");
    assert_non_null (json_object_get (reply, "error"));
    json_decref (reply);
    fixture_submit_acked (ctx, 1, 1, 3, FLING_REASON_OK);
    zsock_t *worker = fixture_worker_ready (ctx, "w", NULL);
    fixture_no_task (worker, 300);
    fixture_worker_close (ctx, &worker);
    fixture_restart (ctx);
    assert_true (paused (ctx));
    worker = fixture_worker_ready (ctx, "w2", NULL);
    fixture_no_task (worker, 300);
    reply = fixture_admin (ctx, "{\"op\":\"queue_resume\",\"name\":\"email\"}");
    assert_false (json_is_true (json_object_get (reply, "paused")));
    assert_int_equal (json_integer_value (json_object_get (reply, "queued")), 3);
    json_decref (reply);
    fixture_run_done (ctx, worker, 3);
    fixture_wait_stat (ctx, NULL, "tasks", 0);
    fixture_worker_close (ctx, &worker);
    fixture_restart (ctx);       /* the resume is durable too */
    assert_false (paused (ctx)); /* nothing held: its name is forgotten */
    fixture_finish (&ctx, NULL);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_dead_then_purged, fixture_teardown),
        cmocka_unit_test_teardown (test_batch_and_restart, fixture_teardown),
        cmocka_unit_test_teardown (test_pause_across_restart, fixture_teardown),
    };
    return cmocka_run_group_tests_name ("broker_keys", tests, NULL, NULL);
}
