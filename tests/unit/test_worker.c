/*  test_worker.c - the worker library against the fake broker
    (worker_fixture.h): registration, outcomes, heartbeats, reconnects,
    drains, bad messages from the broker, many async tasks at once.
    test_worker_flight.c has the tasks in the worker's hands: prefetch,
    refill marks, deadlines, stuck threads, HOLDING.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka needs the four headers above first */
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fling_error.h"
#include "fling_log.h"
#include "unit_support.h"
#include "worker_fixture.h"

/* ---- tests ---------------------------------------------------------------- */

static void test_registration_errors (void **state)
{
    fling_worker_t *worker = fling_worker_new (NULL);
    assert_non_null (worker);
    assert_int_equal (fling_worker_register_async (worker, "bad name", handle_async, NULL), -1);
    assert_int_equal (errno, FLING_EBADNAME);
    assert_int_equal (fling_worker_register_async (worker, "", handle_async, NULL), -1);
    assert_int_equal (errno, FLING_EBADNAME);
    assert_int_equal (fling_worker_register_async (worker, "x", NULL, NULL), -1);
    assert_int_equal (errno, EINVAL);
    assert_int_equal (fling_worker_register_async (worker, "x", handle_async, NULL), 0);
    assert_int_equal (fling_worker_register_blocking (worker, "x", handle_block, NULL), -1);
    assert_int_equal (errno, EEXIST);
    for (int i = 0; i < 16; i++)
        assert_int_equal (fling_worker_add_thread_hooks (worker, hook_start, NULL, NULL), i);
    assert_int_equal (fling_worker_add_thread_hooks (worker, hook_start, NULL, NULL), -1);
    assert_non_null (fling_worker_loop (worker));
    fling_worker_request_stop (NULL);
    fling_worker_destroy (&worker);
    assert_null (worker);
    fling_worker_destroy (&worker);

    /* No handler: run refuses. */
    worker = fling_worker_new (NULL);
    assert_int_equal (fling_worker_run (worker), -1);
    assert_int_equal (errno, EINVAL);
    fling_worker_destroy (&worker);
}

static void test_tasks_results_heartbeats_drain (void **state)
{
    fake_broker_t *b;
    static runner_t runner;
    fling_worker_t *worker = start_registered (&b, &runner, 2, 8, 5000);

    /* Async outcomes in one DISPATCH come back in one RESULT. */
    batch_t *batch = batch_new ();
    results_t r = results_new ();
    batch_add (batch, 1, "t.async", "{}");
    batch_add (batch, 2, "t.async", "{\"do\":\"retry\"}");
    batch_add (batch, 3, "t.async", "{\"do\":\"fail\"}");
    batch_add (batch, 4, "t.unknown", "{}");
    broker_dispatch (b, batch);
    broker_results (b, &r, 4);
    assert_int_equal (r.messages, 1);
    assert_int_equal (r.first_message_count, 4);
    assert_int_equal (r.outcome[1], FLING_OUTCOME_DONE);
    assert_string_equal (r.error[1], "");
    assert_int_equal (r.outcome[2], FLING_OUTCOME_RETRY);
    assert_string_equal (r.error[2], "try later");
    assert_int_equal (r.outcome[3], FLING_OUTCOME_FAIL);
    assert_string_equal (r.error[3], "broken: 42");
    assert_int_equal (r.outcome[4], FLING_OUTCOME_FAIL);
    assert_non_null (strstr (r.error[4], "no handler"));

    /* Blocking outcomes, with the pool thread's hook state visible. */
    results_reset (&r);
    batch_add (batch, 5, "t.block", "{}");
    batch_add (batch, 6, "t.block", "{\"do\":\"retry\"}");
    batch_add (batch, 7, "t.block", "{\"do\":\"fail\"}");
    batch_add (batch, 8, "t.async", "{\"ms\":50}"); /* completes from a timer */
    broker_dispatch (b, batch);
    broker_results (b, &r, 4);
    assert_int_equal (r.outcome[5], FLING_OUTCOME_DONE);
    assert_int_equal (r.outcome[6], FLING_OUTCOME_RETRY);
    assert_string_equal (r.error[6], "not yet");
    assert_int_equal (r.outcome[7], FLING_OUTCOME_FAIL);
    assert_string_equal (r.error[7], "disk on fire");
    assert_int_equal (r.outcome[8], FLING_OUTCOME_DONE);

    /* Heartbeats: PINGs keep coming while idle, and nothing else (the
       bound is generous: a stalled machine delays them, it must not fail
       the test). */
    int pings = b->pings;
    for (int64_t until = fling_clock_ms () + WAIT_MS;
         b->pings - pings < 2 && fling_clock_ms () < until;) {
        fling_msg_t *unexpected = fake_broker_next (b, HEARTBEAT_MS, false);
        if (unexpected)
            fail_msg ("unexpected %s while idle", fling_cmd_name (unexpected->cmd));
    }
    assert_true (b->pings - pings >= 2);

    /* Drain: two blocking tasks running (pool of 2), two more waiting in the
       worker (beyond its capacity), one async on a timer. */
    results_reset (&r);
    batch_add (batch, 10, "t.block", "{\"ms\":400}");
    batch_add (batch, 11, "t.block", "{\"ms\":400}");
    batch_add (batch, 12, "t.block", "{}");
    batch_add (batch, 13, "t.block", "{}");
    batch_add (batch, 14, "t.async", "{\"ms\":300}");
    int started = atomic_load (&counts.block_started);
    broker_dispatch (b, batch);
    test_wait_atomic (&counts.block_started, started + 2, WAIT_MS);
    fling_worker_request_stop (worker);

    fling_msg_t *msg = fake_broker_expect (b, FLING_CMD_CAPACITY, WAIT_MS);
    assert_int_equal (msg->capacity[FLING_CLASS_POOL], 0);
    assert_int_equal (msg->capacity[FLING_CLASS_LOOP], 0);
    /* One that crossed our CAPACITY(0, 0) on the wire. */
    batch_add (batch, 15, "t.async", "{}");
    broker_dispatch (b, batch);
    broker_results (b, &r, 6);
    assert_outcomes (&r, 10, "DONE DONE RELEASED RELEASED DONE RELEASED");
    expect_bye_and_join (b, &runner);

    fling_worker_stats_t stats; /* the loop has returned: safe to read */
    fling_worker_stats (worker, &stats);
    assert_int_equal (stats.done, 6);
    assert_int_equal (stats.retried, 2);
    assert_int_equal (stats.failed, 3);
    assert_int_equal (stats.released, 3);
    assert_int_equal (stats.running, 0);
    /* The hooks ran once per pool thread, start and stop. */
    assert_int_equal (atomic_load (&counts.hook_starts), 2);
    assert_int_equal (atomic_load (&counts.hook_stops), 2);
    finish_test (b, &worker, batch);
}

static void test_reconnects (void **state)
{
    fake_broker_t *b = broker_start ();
    b->answer_pings = false;
    fling_worker_t *worker = worker_new (b, 1, 4, 2000);
    static runner_t runner;
    runner_start (&runner, worker);

    /* A silent broker: after 3 heartbeats a new socket says READY. */
    expect_ready (b, 1, 4);
    int64_t first = fling_clock_ms ();
    assert_int_equal (b->peers_seen, 1);
    expect_ready (b, 1, 4);
    assert_true (fling_clock_ms () - first >= 3 * HEARTBEAT_MS - 50);
    assert_int_equal (b->peers_seen, 2);
    assert_int_equal (atomic_load (&counts.registered), 0);

    /* Answer now: the next READY is welcomed, and nothing but READY came
       before (no PING before WELCOME). */
    b->answer_pings = true;
    expect_ready (b, 1, 4);
    assert_int_equal (b->peers_seen, 3);
    assert_int_equal (b->pings, 0);
    test_wait_atomic (&counts.registered, 1, WAIT_MS);

    /* ERROR(UNKNOWN_PEER): the broker forgot us; READY again from a new socket. */
    fake_broker_send (b, fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_UNKNOWN_PEER,
                                          FLING_CMD_PING, 0, "who are you"));
    expect_ready (b, 1, 4);
    assert_int_equal (b->peers_seen, 4);
    test_wait_atomic (&counts.registered, 2, WAIT_MS);

    /* Still works on the new socket. */
    batch_t *batch = batch_new ();
    results_t r = results_new ();
    batch_add (batch, 1, "t.block", "{}");
    broker_dispatch (b, batch);
    broker_results (b, &r, 1);
    assert_int_equal (r.outcome[1], FLING_OUTCOME_DONE);

    fling_worker_stats_t stats = stop_and_read_stats (b, &runner, worker);
    assert_true (stats.reconnects >= 2);
    finish_test (b, &worker, batch);
}

static void test_drain_timeout (void **state)
{
    fake_broker_t *b;
    static runner_t runner;
    fling_worker_t *worker = start_registered (&b, &runner, 1, 4, 200);

    batch_t *batch = batch_new ();
    /* 3 s: the drain (200 ms) must end long before the task could. */
    batch_add (batch, 1, "t.block", "{\"ms\":3000}");
    broker_dispatch (b, batch);
    test_wait_atomic (&counts.block_started, 1, WAIT_MS);
    int64_t stop_at = fling_clock_ms ();
    fling_worker_request_stop (worker);
    fake_broker_expect (b, FLING_CMD_CAPACITY, WAIT_MS);
    fake_broker_expect (b, FLING_CMD_BYE, WAIT_MS); /* no RESULT: the task never finished */
    runner_join (&runner, WAIT_MS);
    assert_int_equal (runner.rc, -1);
    /* It waited for the drain timeout (a lower bound only), and gave up on
       the task before it finished (an order, not a time). */
    assert_true (fling_clock_ms () - stop_at >= 150);
    assert_int_equal (atomic_load (&counts.block_finished), 0);
    fling_worker_destroy (&worker); /* abandons the stuck pool thread */

    /* The abandoned thread finishes its task and frees it on its own. */
    test_wait_atomic (&counts.block_finished, 1, WAIT_MS);
    zclock_sleep (50);
    free (batch);
    broker_stop ();
}

static void test_stop_before_run (void **state)
{
    fake_broker_t *b = broker_start ();
    fling_worker_t *worker = worker_new (b, 1, 4, 2000);
    fling_worker_request_stop (worker);
    static runner_t runner;
    runner_start (&runner, worker);
    expect_ready (b, 1, 4);
    /* CAPACITY(0, 0) if the WELCOME came before the stop was seen, then BYE */
    fling_msg_t *msg = fake_broker_next (b, WAIT_MS, false);
    assert_non_null (msg);
    if (msg->cmd == FLING_CMD_CAPACITY)
        msg = fake_broker_next (b, WAIT_MS, false);
    assert_non_null (msg);
    assert_int_equal (msg->cmd, FLING_CMD_BYE);
    runner_join (&runner, WAIT_MS);
    assert_int_equal (runner.rc, 0);
    assert_int_equal (fling_worker_run (worker), -1); /* once only */
    fling_worker_destroy (&worker);
    broker_stop ();
}

/* Many async tasks at once, 1000 a DISPATCH, a window of DISPATCHes in
   flight as a broker with credit would keep: every one comes back DONE,
   once. How fast is bench/'s question (W1, W3), not this test's. */
static void noop (fling_task_t *task, void *arg)
{
    fling_task_complete (task, FLING_OK);
}

static void test_many_async_tasks (void **state)
{
    enum { PER_BATCH = 1000, BATCHES = 50, WINDOW = 8 };
    fake_broker_t *b = broker_start ();
    fling_worker_options_t options;
    fling_worker_options_init (&options);
    options.endpoint = b->endpoint;
    options.name = "test-worker";
    options.async_limit = PER_BATCH * WINDOW;
    options.heartbeat_ms = 1000;
    fling_worker_t *worker = fling_worker_new (&options);
    assert_int_equal (fling_worker_register_async (worker, "t.noop", noop, NULL), 0);
    static runner_t runner;
    runner_start (&runner, worker);
    fake_broker_expect (b, FLING_CMD_READY, WAIT_MS);

    batch_t *batch = batch_new ();
    /* Every task has a (distant) deadline, so the deadline heap works too. */
    for (int i = 0; i < PER_BATCH; i++)
        batch_add_ex (batch, (uint64_t)i, 1, 60000, "t.noop", "{\"n\":1}");
    int sent = 0, results = 0, done = 0;
    while (sent < BATCHES && sent < WINDOW) {
        fake_broker_send (b, fling_msg_dispatch (batch->count, batch->data, batch->size));
        sent++;
    }
    while (results < BATCHES * PER_BATCH) {
        fling_msg_t *msg = fake_broker_expect (b, FLING_CMD_RESULT, WAIT_MS);
        const uint8_t *cursor = msg->body, *end = msg->body + msg->body_size;
        fling_result_t result;
        fling_reason_t reason;
        while (fling_result_next (&cursor, end, &result, &reason) == 1)
            done += result.outcome == FLING_OUTCOME_DONE;
        int before = results / PER_BATCH;
        results += (int)msg->count;
        for (int i = before; i < results / PER_BATCH && sent < BATCHES; i++, sent++)
            fake_broker_send (b, fling_msg_dispatch (batch->count, batch->data, batch->size));
    }
    assert_int_equal (results, BATCHES * PER_BATCH);
    assert_int_equal (done, BATCHES * PER_BATCH);
    fling_worker_stats_t stats = stop_and_read_stats (b, &runner, worker);
    assert_int_equal (stats.done, BATCHES * PER_BATCH);
    assert_int_equal (stats.running, 0);
    fling_worker_destroy (&worker);
    free (batch);
    broker_stop ();
}

/* Whatever the broker sends, the worker never crashes: a message that does
   not decode is dropped and counted (bad_messages), and the worker goes on
   serving on the same socket. */
static void test_bad_messages_from_broker (void **state)
{
    fake_broker_t *b;
    static runner_t runner;
    fling_worker_t *worker = start_registered (&b, &runner, 1, 4, 2000);
    const char header[4] = {'F', 'L', FLING_PROTO_VERSION, FLING_CMD_DISPATCH};
    zmsg_t *garbage[4] = {zmsg_new (), zmsg_new (), zmsg_new (), zmsg_new ()};
    zmsg_addstr (garbage[0], "not fling");
    zmsg_addmem (garbage[1], "FL\x09\x05", 4); /* a version we do not speak */
    zmsg_addmem (garbage[2], header, 4);       /* DISPATCH without its frames */
    zmsg_addmem (garbage[3], header, 4);       /* DISPATCH with a torn record */
    zmsg_addmem (garbage[3], "\0\0\0\1", 4);
    zmsg_addmem (garbage[3], "\0\0\0\x20torn", 8);
    for (int i = 0; i < 4; i++)
        fake_broker_send (b, garbage[i]);
    batch_t *batch = batch_new ();
    results_t r = results_new ();
    batch_add (batch, 1, "t.block", "{}");
    broker_dispatch (b, batch);
    broker_results (b, &r, 1);
    assert_int_equal (r.outcome[1], FLING_OUTCOME_DONE);
    assert_int_equal (b->peers_seen, 1); /* no reconnect: the same socket */
    fling_worker_stats_t stats = stop_and_read_stats (b, &runner, worker);
    assert_int_equal (stats.bad_messages, 4);
    assert_int_equal (stats.done, 1);
    finish_test (b, &worker, batch);
}

/* A READY refused for what it says is refused for good: the worker says
   why and stops, instead of registering again and again (SPEC.md §5.2). */
static void test_ready_refused (void **state)
{
    fake_broker_t *b = broker_start ();
    b->answer_pings = false;
    fling_worker_t *worker = worker_new (b, 1, 4, 2000);
    static runner_t runner;
    runner_start (&runner, worker);
    expect_ready (b, 1, 4);
    fake_broker_send (b, fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_BAD_TASK,
                                          FLING_CMD_READY, 0, "READY names: a task name is empty"));
    runner_join (&runner, WAIT_MS);
    assert_int_equal (runner.rc, -1);
    expect_quiet (b, 4 * HEARTBEAT_MS); /* no second READY, no PING */
    assert_int_equal (b->peers_seen, 1);
    assert_int_equal (b->pings, 0);
    assert_int_equal (atomic_load (&counts.registered), 0);
    fling_worker_destroy (&worker);
    broker_stop ();
}

/* An FLP/1 broker answers READY with BAD_VERSION in the FLP/1 layout: final
   too, with the reason, instead of a READY every 3 heartbeats for ever. */
static void test_ready_bad_version (void **state)
{
    fake_broker_t *b = broker_start ();
    b->answer_pings = false;
    fling_worker_t *worker = worker_new (b, 1, 4, 2000);
    static runner_t runner;
    runner_start (&runner, worker);
    expect_ready (b, 1, 4);
    fake_broker_send (
        b, fling_msg_error (1, FLING_REASON_BAD_VERSION, 0, 0, "unsupported protocol version"));
    runner_join (&runner, WAIT_MS);
    assert_int_equal (runner.rc, -1);
    expect_quiet (b, 4 * HEARTBEAT_MS);
    assert_int_equal (b->peers_seen, 1);
    fling_worker_destroy (&worker);
    broker_stop ();
}

/* UNAVAILABLE is the broker's want, not ours: READY again later. */
static void test_ready_unavailable_retries (void **state)
{
    fake_broker_t *b = broker_start ();
    b->answer_pings = false;
    fling_worker_t *worker = worker_new (b, 1, 4, 2000);
    static runner_t runner;
    runner_start (&runner, worker);
    expect_ready (b, 1, 4);
    fake_broker_send (b, fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_UNAVAILABLE,
                                          FLING_CMD_READY, 0, "out of memory"));
    b->answer_pings = true;
    expect_ready (b, 1, 4);
    test_wait_atomic (&counts.registered, 1, WAIT_MS);
    batch_t *batch = batch_new ();
    stop_and_join (b, &runner, worker);
    finish_test (b, &worker, batch);
}

/* The broker's heartbeat bounds ours: a worker configured for 10 s pings
   at the 100 ms the broker announced, so the broker never drops it. */
static void test_follows_broker_heartbeat (void **state)
{
    fake_broker_t *b = broker_start ();
    b->welcome_heartbeat_ms = 100;
    fling_worker_options_t options;
    fling_worker_options_init (&options);
    options.endpoint = b->endpoint;
    options.name = "test-worker";
    options.heartbeat_ms = 10000;
    fling_worker_t *worker = fling_worker_new (&options);
    assert_non_null (worker);
    assert_int_equal (fling_worker_register_async (worker, "t.async", handle_async, NULL), 0);
    static runner_t runner;
    runner_start (&runner, worker);
    fake_broker_expect (b, FLING_CMD_READY, WAIT_MS);
    expect_quiet (b, 1000);
    /* a PING per half interval while idle: ~20 in a second; 4 leaves room
       for a loaded machine, and 10 s would have given none */
    if (b->pings < 4)
        fail_msg ("%d PINGs in a second: the announced 100 ms heartbeat is not followed", b->pings);
    fling_worker_request_stop (worker);
    fake_broker_expect (b, FLING_CMD_CAPACITY, WAIT_MS);
    expect_bye_and_join (b, &runner);
    fling_worker_destroy (&worker);
    broker_stop ();
}

/* A RESULT stays with the worker until a RESULT_ACK covers it: after a
   reconnect it is sent again, same result_seq, same results; once
   acknowledged it is never sent again. A drain waits for the ack. */
static void test_results_kept_until_acked (void **state)
{
    fake_broker_t *b;
    static runner_t runner;
    fling_worker_t *worker = start_registered (&b, &runner, 1, 4, 5000);
    b->ack_results = false;
    batch_t *batch = batch_new ();
    results_t r = results_new ();
    batch_add (batch, 1, "t.async", "{}");
    batch_add (batch, 2, "t.block", "{}");
    broker_dispatch (b, batch);
    broker_results (b, &r, 2);
    uint64_t last_seq = b->result_seq;
    assert_true (last_seq >= 1);

    /* The broker forgot us before acknowledging: after the new WELCOME,
       the same RESULTs again. */
    fake_broker_send (b, fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_UNKNOWN_PEER,
                                          FLING_CMD_PING, 0, "who are you"));
    expect_ready (b, 1, 4);
    results_reset (&r);
    broker_results (b, &r, 2);
    assert_true (b->result_seq == last_seq);
    assert_outcomes (&r, 1, "DONE DONE");

    /* Acknowledged now: a later reconnect sends nothing again. */
    fake_broker_send (b, fling_msg_result_ack (last_seq));
    fake_broker_send (b, fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_UNKNOWN_PEER,
                                          FLING_CMD_PING, 0, "who are you"));
    expect_ready (b, 1, 4);
    expect_quiet (b, 3 * HEARTBEAT_MS / 2);

    /* A drain ends with BYE only once its last RESULT is acknowledged. */
    batch_add (batch, 3, "t.async", "{}");
    broker_dispatch (b, batch);
    results_reset (&r);
    broker_results (b, &r, 1);
    fling_worker_request_stop (worker);
    fake_broker_expect (b, FLING_CMD_CAPACITY, WAIT_MS);
    expect_quiet (b, 2 * HEARTBEAT_MS);
    fake_broker_send (b, fling_msg_result_ack (b->result_seq));
    expect_bye_and_join (b, &runner);
    fling_worker_stats_t stats;
    fling_worker_stats (worker, &stats);
    assert_int_equal (stats.results_resent, 2);
    assert_int_equal (stats.results_unacked, 0);
    assert_int_equal (stats.results_forgotten, 0);
    finish_test (b, &worker, batch);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_registration_errors),
        cmocka_unit_test_teardown (test_tasks_results_heartbeats_drain, teardown_worker),
        cmocka_unit_test_teardown (test_reconnects, teardown_worker),
        cmocka_unit_test_teardown (test_bad_messages_from_broker, teardown_worker),
        cmocka_unit_test_teardown (test_drain_timeout, teardown_worker),
        cmocka_unit_test_teardown (test_stop_before_run, teardown_worker),
        cmocka_unit_test_teardown (test_many_async_tasks, teardown_worker),
        cmocka_unit_test_teardown (test_ready_refused, teardown_worker),
        cmocka_unit_test_teardown (test_ready_bad_version, teardown_worker),
        cmocka_unit_test_teardown (test_ready_unavailable_retries, teardown_worker),
        cmocka_unit_test_teardown (test_follows_broker_heartbeat, teardown_worker),
        cmocka_unit_test_teardown (test_results_kept_until_acked, teardown_worker),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
