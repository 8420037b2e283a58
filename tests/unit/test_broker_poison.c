/*  test_broker_poison.c - tasks that kill their workers, with the disk
    store: a real broker on a thread fed by raw DEALER sockets
    (broker_fixture.h) whose workers die holding tasks. A task charged
    three deaths is dead-lettered ("crashed"), durably; a worker that dies
    holding several charges nobody and its tasks go to trials, halved down
    to the poison; trials wait for a prover; a closed connection is found
    by a probe long before the worker timeout.
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

/* A reply or task that should come comes within this. Generous on
   purpose: a loaded 2-core CI machine (fsync behind other builds, the
   broker thread descheduled) is slow, and a green run never waits it out. */
#define WAIT_MS 20000

static void crash_limit_only (fling_broker_config_t *config)
{
    /* Deaths are seen as closed connections; the timeout is a backstop,
       long enough that a live worker whose test thread a loaded machine
       descheduled between PINGs is not taken for dead (charged a crash). */
    config->worker_timeout_ms = 2000;
    config->max_attempts = 10; /* only the poison limit (3) ends it */
}

static void test_poison_task_after_three_deaths (void **state)
{
    fixture_t *ctx = fixture_start_disk (WAIT_MS, crash_limit_only);
    fixture_submit_acked (ctx, 1, 1, 1, FLING_REASON_OK);
    for (int death = 1; death <= 3; death++) {
        zsock_t *worker = fixture_worker_ready (ctx, "doomed", NULL);
        fixture_lease_t lease;
        fixture_next_task (ctx, worker, &lease);
        assert_int_equal (lease.attempt, death);
        fixture_worker_close (ctx, &worker); /* dies: no BYE, no more heartbeats */
        if (death < 3)
            fixture_wait_stat (ctx, "counters", "crashed", 1);
        if (death == 1) {
            fixture_restart (ctx); /* the crash count is durable */
            assert_int_equal (fixture_stat (ctx, NULL, "tasks"), 1);
        }
    }
    fixture_wait_stat (ctx, NULL, "dead", 1);
    json_t *root = fixture_admin (ctx, "{\"op\":\"dead_list\"}");
    json_t *dead = json_array_get (json_object_get (root, "dead"), 0);
    assert_string_equal (json_string_value (json_object_get (dead, "reason")), "crashed");
    assert_int_equal (json_integer_value (json_object_get (dead, "crashes")), 3);
    assert_string_equal (json_string_value (json_object_get (dead, "error")),
                         "worker died while running it 3 times");
    json_decref (root);
    fixture_restart (ctx);
    assert_int_equal (fixture_stat (ctx, NULL, "dead"), 1);
    fixture_finish (&ctx, NULL);
}

/* A worker that prefetches dies holding 3 tasks: no crash is charged (it
   did not hold one task alone); the one it was running (its oldest `slots`
   leases) goes back as a run that counted, the two waiting behind it go
   back as never started, their attempt not counted. */
static void test_crash_spares_prefetched_tasks (void **state)
{
    fixture_t *ctx = fixture_start_disk (WAIT_MS, crash_limit_only);
    fixture_submit_acked (ctx, 1, 1, 3, FLING_REASON_OK);
    uint32_t slots[FLING_CLASS_COUNT] = {[FLING_CLASS_POOL] = 10, [FLING_CLASS_LOOP] = 1};
    zsock_t *worker = fixture_worker_ready (ctx, "prefetcher", slots);
    fixture_lease_t first, lease;
    fixture_next_task (ctx, worker, &first);
    for (int i = 0; i < 2; i++) {
        fixture_next_task (ctx, worker, &lease);
        assert_int_equal (lease.attempt, 1);
    }
    fixture_worker_close (ctx, &worker); /* dies: no BYE, no more heartbeats */
    fixture_wait_stat (ctx, "counters", "requeued", 3);

    /* The next worker gets the one that ran first, on its second attempt,
       and the two that never started still on their first. */
    worker = fixture_worker_ready (ctx, "next", NULL);
    fixture_next_task (ctx, worker, &lease);
    assert_memory_equal (&lease.id, &first.id, sizeof first.id);
    assert_int_equal (lease.attempt, 2);
    for (int i = 0; i < 2; i++) {
        fixture_next_task (ctx, worker, &lease);
        assert_int_equal (lease.attempt, 1);
    }
    assert_int_equal (fixture_stat (ctx, "counters", "crashed"), 0);
    assert_int_equal (fixture_stat (ctx, "counters", "suspected"), 0);
    fixture_finish (&ctx, &worker);
}

/* A poison task among 8, on workers that run everything they are sent at
   once and die whenever they are sent the poison (as a supervisor would
   restart them, a new one each time). The first death charges nobody:
   its 8 tasks go back, marked. The second sends them to trials in
   halves, each on a worker that holds nothing else; the half that kills
   its worker is halved again, down to the poison alone, which is charged
   each time it kills a worker alone: 3 charges, dead-lettered "crashed".
   Nothing else is charged, and every other task runs. */
static void test_only_the_poison_is_charged (void **state)
{
    fixture_t *ctx = fixture_start_disk (WAIT_MS, crash_limit_only);
    fixture_submit_acked (ctx, 1, 1, 8, FLING_REASON_OK);
    fling_task_id_t poison;
    fling_task_id_make (&poison, FIXTURE_PRODUCER_ID, 5);
    size_t done = 0, sizes[16], deaths = 0;
    for (int round = 0; round < 30 && fixture_stat (ctx, NULL, "dead") < 1; round++) {
        zsock_t *worker = fixture_worker_ready (ctx, "w", NULL);
        fixture_lease_t leases[16];
        size_t n = fixture_take_all (ctx, worker, leases, 16, 150), i;
        for (i = 0; i < n && memcmp (&leases[i].id, &poison, sizeof poison) != 0; i++)
            ;
        if (i < n) {
            assert_true (deaths < 16);
            sizes[deaths++] = n;
            fixture_worker_close (ctx, &worker); /* killed by the poison: no RESULT, no BYE */
            fixture_wait_no_workers (ctx);
            continue;
        }
        for (i = 0; i < n; i++)
            fixture_results (worker, &leases[i], 1, FLING_OUTCOME_DONE, "");
        done += n;
        fixture_send (worker, fling_msg_bye ());
        fixture_worker_close (ctx, &worker);
    }
    fixture_wait_stat (ctx, NULL, "dead", 1);
    assert_int_equal (done, 7);
    /* Who held the poison when it killed: everything twice, then halves. */
    size_t expected[] = {8, 8, 4, 2, 1, 1, 1};
    assert_int_equal (deaths, sizeof expected / sizeof expected[0]);
    for (size_t d = 0; d < deaths; d++)
        assert_int_equal (sizes[d], expected[d]);
    json_t *root = fixture_admin (ctx, "{\"op\":\"dead_list\"}");
    json_t *dead = json_array_get (json_object_get (root, "dead"), 0);
    assert_string_equal (json_string_value (json_object_get (dead, "id")), "5eed5eed5eed5eed:5");
    assert_string_equal (json_string_value (json_object_get (dead, "reason")), "crashed");
    assert_int_equal (json_integer_value (json_object_get (dead, "crashes")), 3);
    json_decref (root);
    assert_int_equal (fixture_stat (ctx, "counters", "crashed"), 3);
    assert_int_equal (fixture_stat (ctx, "counters", "done"), 7);
    assert_int_equal (fixture_stat (ctx, NULL, "suspects"), 0);
    fixture_finish (&ctx, NULL);
}

static void long_worker_timeout (fling_broker_config_t *config)
{
    config->worker_timeout_ms = 60000; /* deaths are found by probes, not silence */
}

/* True if every lease in `leases` has a sequence in [first, last]. */
static bool all_in (const fixture_lease_t *leases, size_t n, uint64_t first, uint64_t last)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t seq = fling_task_id_seq (&leases[i].id);
        if (seq < first || seq > last)
            return false;
    }
    return true;
}

/* Suspects wait for a prover. The only server of the name is busy: it is
   reserved (no new work, though it has credit and tasks are queued), and
   once it holds nothing it runs the trials, each half alone, then the
   queued work. The deaths are noticed by probes: the worker timeout is
   60 s. */
static void test_trials_reserve_a_busy_worker (void **state)
{
    fixture_t *ctx = fixture_start_disk (WAIT_MS, long_worker_timeout);
    zsock_t *busy = fixture_worker (ctx, "busy", 3, 3, NULL, fixture_keep_tasks, ctx);
    fixture_submit_acked (ctx, 1, 1, 2, FLING_REASON_OK);
    fixture_lease_t own[2], got[10], lease;
    fixture_next_task (ctx, busy, &own[0]);
    fixture_next_task (ctx, busy, &own[1]);
    /* Tasks 3-6 go to a roomier worker; it dies, and so does the next. */
    zsock_t *doomed = fixture_worker_ready (ctx, "doomed", NULL);
    fixture_submit_acked (ctx, 2, 3, 4, FLING_REASON_OK);
    assert_int_equal (fixture_take_all (ctx, doomed, got, 10, 150), 4);
    zsock_t *next = fixture_worker_ready (ctx, "next", NULL);
    fixture_worker_close (ctx, &doomed);
    assert_int_equal (fixture_take_all (ctx, next, got, 10, 150), 4); /* back to the head, marked */
    assert_true (all_in (got, 4, 3, 6));
    fixture_worker_close (ctx, &next);
    fixture_wait_stat (ctx, "counters", "suspected", 4);
    assert_int_equal (fixture_stat (ctx, NULL, "suspects"), 4);

    /* Reserved: the queued tasks 7-8 do not go to it, credit or not. */
    fixture_submit_acked (ctx, 3, 7, 2, FLING_REASON_OK);
    json_t *stats = fixture_stats (ctx);
    json_t *worker = json_array_get (json_object_get (stats, "workers"), 0);
    assert_true (json_is_true (json_object_get (worker, "prover")));
    json_decref (stats);
    fixture_no_task (busy, 300);

    /* Drained: each half alone, then the queued work. */
    fixture_results (busy, &own[0], 1, FLING_OUTCOME_DONE, "");
    fixture_results (busy, &own[1], 1, FLING_OUTCOME_DONE, "");
    for (int half = 0; half < 2; half++) {
        size_t n = fixture_take_all (ctx, busy, got, 10, 150);
        assert_int_equal (n, 2);
        assert_true (all_in (got, n, 3, 6));
        for (size_t i = 0; i < n; i++)
            fixture_results (busy, &got[i], 1, FLING_OUTCOME_DONE, "");
    }
    for (int i = 0; i < 2; i++) {
        fixture_next_task (ctx, busy, &lease);
        assert_true (all_in (&lease, 1, 7, 8));
        fixture_results (busy, &lease, 1, FLING_OUTCOME_DONE, "");
    }
    fixture_wait_stat (ctx, "counters", "done", 8);
    assert_int_equal (fixture_stat (ctx, "counters", "trials"), 2);
    assert_int_equal (fixture_stat (ctx, "counters", "crashed"), 0);
    assert_int_equal (fixture_stat (ctx, NULL, "suspects"), 0);
    fixture_finish (&ctx, &busy);
}

/* A worker holding a task whose connection closes (the process died) is
   found by a probe long before the worker timeout, and its task, held
   alone, is charged. */
static void test_dead_connection_found_by_probe (void **state)
{
    fixture_t *ctx = fixture_start_disk (WAIT_MS, long_worker_timeout);
    fixture_submit_acked (ctx, 1, 1, 1, FLING_REASON_OK);
    zsock_t *worker = fixture_worker_ready (ctx, "w", NULL);
    fixture_lease_t lease;
    fixture_next_task (ctx, worker, &lease);
    int64_t died = fling_clock_ms ();
    fixture_worker_close (ctx, &worker);
    fixture_wait_stat (ctx, "counters", "crashed", 1); /* within WAIT_MS, not 60 s */
    assert_true (fling_clock_ms () - died < WAIT_MS);
    assert_true (fixture_stat (ctx, "counters", "probes") >= 1);
    assert_int_equal (fixture_stat (ctx, "counters", "worker_lost"), 1);
    fixture_finish (&ctx, NULL);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_poison_task_after_three_deaths, fixture_teardown),
        cmocka_unit_test_teardown (test_crash_spares_prefetched_tasks, fixture_teardown),
        cmocka_unit_test_teardown (test_only_the_poison_is_charged, fixture_teardown),
        cmocka_unit_test_teardown (test_trials_reserve_a_busy_worker, fixture_teardown),
        cmocka_unit_test_teardown (test_dead_connection_found_by_probe, fixture_teardown),
    };
    return cmocka_run_group_tests_name ("broker_poison", tests, NULL, NULL);
}
