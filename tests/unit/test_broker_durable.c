/*  test_broker_durable.c - what the broker's disk store keeps across a
    restart and when it is full: a real broker on a thread fed by raw
    DEALER sockets (broker_fixture.h). The duplicate window (refilled from
    the log, and expiring), a full store refusing then accepting again, and
    a stop that commits the last completions.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_fixture.h"

#include "fling_store_check.h"

/* A reply or task that should come comes within this. Generous on
   purpose: a loaded 2-core CI machine (fsync behind other builds, the
   broker thread descheduled) is slow, and a green run never waits it out. */
#define WAIT_MS 20000

/* Submits task 1 in batch 1 and has `worker` run it to DONE. */
static void run_one_task (fixture_t *ctx, zsock_t *worker)
{
    fixture_submit_acked (ctx, 1, 1, 1, FLING_REASON_OK);
    fixture_lease_t lease;
    fixture_next_task (ctx, worker, &lease);
    fixture_results (worker, &lease, 1, FLING_OUTCOME_DONE, "");
    fixture_wait_stat (ctx, "counters", "done", 1);
}

static void test_duplicate_window_after_completion (void **state)
{
    fixture_t *ctx = fixture_start_disk (WAIT_MS, NULL);
    zsock_t *worker = fixture_worker_ready (ctx, "w", NULL);
    run_one_task (ctx, worker);
    fixture_submit_acked (ctx, 1, 1, 1, FLING_REASON_DUPLICATE); /* a resend after the task ran */
    fixture_worker_close (ctx, &worker);
    fixture_restart (ctx); /* the window is refilled from the log */
    fixture_submit_acked (ctx, 2, 1, 1, FLING_REASON_DUPLICATE);
    assert_int_equal (fixture_stat (ctx, NULL, "tasks"), 0);
    fixture_finish (&ctx, NULL);
}

static void short_window (fling_broker_config_t *config)
{
    config->dedup_window_ms = 200;
}

static void test_duplicate_window_expires (void **state)
{
    fixture_t *ctx = fixture_start_disk (WAIT_MS, short_window);
    zsock_t *worker = fixture_worker_ready (ctx, "w", NULL);
    run_one_task (ctx, worker);
    /* Not a sleep racing the window: wait (bounded) until the broker has
       forgotten the id, then the same id is a new task. */
    fixture_wait_stat (ctx, NULL, "dedup_ids", 0);
    fixture_submit_acked (ctx, 2, 1, 1, FLING_REASON_OK); /* outside the window: a new task */
    fixture_finish (&ctx, &worker);
}

static void tiny_store (fling_broker_config_t *config)
{
    config->segment_bytes = 8192;
    config->store_max_bytes = 3 * 8192;
}

static void test_store_full_then_room_again (void **state)
{
    fixture_t *ctx = fixture_start_disk (WAIT_MS, tiny_store);
    size_t refused = 0;
    uint64_t seq = 1;
    for (uint64_t batch = 1; batch <= 40 && !refused; batch++) {
        fixture_submit (ctx, batch, seq, 20, "email", 0);
        seq += 20;
        refused = fixture_ack_count (ctx, batch, FLING_REASON_STORE_FULL);
    }
    assert_true (refused > 0);
    assert_true (fixture_stat (ctx, "counters", "store_full") > 0);
    json_int_t held = fixture_stat (ctx, NULL, "tasks");
    /* Drain what is held: completions fit, segments empty, room returns. */
    zsock_t *worker = fixture_worker_ready (ctx, "w", NULL);
    for (json_int_t i = 0; i < held; i++) {
        fixture_lease_t lease;
        fixture_next_task (ctx, worker, &lease);
        fixture_results (worker, &lease, 1, FLING_OUTCOME_DONE, "");
    }
    fixture_wait_stat (ctx, NULL, "tasks", 0);
    size_t accepted = 0;
    for (int64_t deadline = fling_clock_ms () + WAIT_MS;
         !accepted && fling_clock_ms () < deadline;) {
        zclock_sleep (200); /* free space is re-checked about once a second */
        fixture_submit (ctx, 100 + seq, seq, 1, "email", 0);
        accepted = fixture_ack_count (ctx, 100 + seq, FLING_REASON_OK);
        seq++;
    }
    assert_int_equal (accepted, 1);
    fixture_finish (&ctx, &worker);
}

static void test_stop_commits_completions (void **state)
{
    fixture_t *ctx = fixture_start_disk (WAIT_MS, NULL);
    zsock_t *worker = fixture_worker_ready (ctx, "w", NULL);
    fixture_submit_acked (ctx, 1, 1, 5, FLING_REASON_OK);
    for (int i = 0; i < 5; i++) {
        fixture_lease_t lease;
        fixture_next_task (ctx, worker, &lease);
        if (i < 3)
            fixture_results (worker, &lease, 1, FLING_OUTCOME_DONE, "");
    }
    fixture_wait_stat (ctx, "counters", "done", 3);
    fixture_worker_close (ctx, &worker);
    fixture_halt (ctx); /* as on SIGTERM: the last completions are committed */
    char path[sizeof ctx->config.store_dir + 16];
    snprintf (path, sizeof path, "%s/check.out", ctx->config.store_dir);
    FILE *out = fopen (path, "w+");
    assert_non_null (out);
    assert_int_equal (fling_store_check (ctx->config.store_dir, false, out), 0);
    rewind (out);
    char line[256];
    assert_non_null (fgets (line, sizeof line, out));
    assert_non_null (strstr (line, "\"live_tasks\":2,"));
    fclose (out);
    fixture_launch (ctx);
    assert_int_equal (fixture_stat (ctx, NULL, "tasks"), 2);
    json_t *root = fixture_admin (ctx, "{\"op\":\"stats\"}");
    json_t *store = json_object_get (root, "store");
    assert_string_equal (json_string_value (json_object_get (store, "kind")), "disk");
    assert_true (json_integer_value (json_object_get (store, "segments")) >= 1);
    json_decref (root);
    fixture_finish (&ctx, NULL);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_duplicate_window_after_completion, fixture_teardown),
        cmocka_unit_test_teardown (test_duplicate_window_expires, fixture_teardown),
        cmocka_unit_test_teardown (test_store_full_then_room_again, fixture_teardown),
        cmocka_unit_test_teardown (test_stop_commits_completions, fixture_teardown),
    };
    return cmocka_run_group_tests_name ("broker_durable", tests, NULL, NULL);
}
