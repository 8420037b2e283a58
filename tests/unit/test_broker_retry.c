/*  test_broker_retry.c - the broker's reliability with the disk store: a
    real broker (broker/fling_broker.c) in a thread, restarted on the same
    store directory, fed by raw DEALER sockets. Retries with growing
    backoff, the dead-letter queue and its ADMIN ops, poison tasks (workers
    that die), lease deadlines fencing late results, HOLDING after a
    restart, the duplicate window, a full store, and a stop that commits.
    Time assertions are lower bounds only (never upper wall-clock bounds).
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
#include <unistd.h>

#include "broker_fixture.h"
#include "fling_log.h"
#include "fling_store_check.h"

#define WAIT_MS    3000
#define SILENCE_MS 200

typedef void (tune_fn) (fling_broker_config_t *);

/* The broker under test, its sockets, and its config: config.store_dir is
   this test's store, reopened by every restart. */
typedef fixture_t ctx_t;

/* Tasks received in a DISPATCH but not handed out by next_task yet. */
static struct {
    zsock_t *worker;
    fixture_lease_t lease;
} pending[FLING_BATCH_TASKS_MAX];
static size_t pending_count;

static void halt (ctx_t *ctx)
{
    pending_count = 0;
    fixture_halt (ctx);
}

static ctx_t *start (tune_fn *tune)
{
    fling_log_init ("broker", getenv ("TEST_LOG") ? FLING_LOG_DEBUG : FLING_LOG_ERROR);
    ctx_t *ctx = fixture_new (WAIT_MS);
    fling_broker_config_t *config = &ctx->config;
    strcpy (config->store, "disk");
    strcpy (config->store_dir, "/tmp/fling-test-retry-XXXXXX");
    assert_non_null (mkdtemp (config->store_dir));
    config->segment_bytes = 1 << 20;
    config->store_free_floor_bytes = 0;
    /* Tuned once: a tune may append a queue, and every restart reuses it. */
    if (tune)
        tune (config);
    fixture_launch (ctx);
    return ctx;
}

static void restart (ctx_t *ctx)
{
    halt (ctx);
    fixture_launch (ctx);
}

static void finish (ctx_t *ctx)
{
    halt (ctx);
    char cmd[sizeof ctx->config.store_dir + 16];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", ctx->config.store_dir);
    assert_int_equal (system (cmd), 0);
    fixture_destroy (&ctx);
}

/* finish, for a test whose worker is still connected: the fixture does
   not know that socket, so it is closed here. */
static void finish_with_worker (ctx_t *ctx, zsock_t **worker)
{
    zsock_destroy (worker);
    finish (ctx);
}

/* ---- messages ----------------------------------------------------------- */

static void submit (ctx_t *ctx, uint64_t batch_seq, uint64_t first, size_t count, const char *name)
{
    fixture_submit (ctx, batch_seq, first, count, name, 0);
}

/* Submits `count` "email" tasks from seq `first` as batch `batch_seq`:
   the ACK must give every one of them `status`. */
static void submit_acked (ctx_t *ctx, uint64_t batch_seq, uint64_t first, size_t count,
                          fling_reason_t status)
{
    submit (ctx, batch_seq, first, count, "email");
    assert_int_equal (fixture_ack_count (ctx, batch_seq, status), count);
}

/* ---- a raw worker ------------------------------------------------------- */

/* The next message to `worker` within `timeout_ms`, decoded into
   `decoded`, which points into it: destroy it after use. NULL if none
   came; a message that does not decode fails the test. */
static zmsg_t *recv_decoded (zsock_t *worker, int timeout_ms, fling_msg_t *decoded)
{
    zmsg_t *msg = fixture_recv (worker, timeout_ms);
    if (!msg)
        return NULL;
    fling_reason_t reason;
    assert_int_equal (fling_msg_decode (msg, decoded, &reason), 0);
    return msg;
}

/* Keeps a DISPATCH's tasks for next_task. */
static void keep_tasks (zsock_t *worker, const fling_msg_t *dispatch, void *arg)
{
    fixture_lease_t leases[FLING_BATCH_TASKS_MAX];
    size_t count = 0;
    fixture_leases (dispatch, leases, &count, FLING_BATCH_TASKS_MAX);
    for (size_t i = 0; i < count; i++) {
        assert_true (pending_count < FLING_BATCH_TASKS_MAX);
        pending[pending_count].worker = worker;
        pending[pending_count++].lease = leases[i];
    }
}

/* A worker that holds 10 tasks of each class and runs `slots` of them at
   once (NULL: all 10, no prefetch). */
static zsock_t *worker_ready_slots (ctx_t *ctx, const char *name, const uint32_t *slots)
{
    return fixture_worker (ctx, name, 10, 10, slots, keep_tasks, NULL);
}

static zsock_t *worker_ready (ctx_t *ctx, const char *name)
{
    return worker_ready_slots (ctx, name, NULL);
}

static bool take_pending (zsock_t *worker, fixture_lease_t *lease)
{
    for (size_t i = 0; i < pending_count; i++)
        if (pending[i].worker == worker) {
            *lease = pending[i].lease;
            memmove (&pending[i], &pending[i + 1], (pending_count - i - 1) * sizeof pending[0]);
            pending_count--;
            return true;
        }
    return false;
}

/* Waits (PINGing, so a short worker timeout does not reap this worker)
   for one DISPATCHed task; fails after WAIT_MS. */
static void next_task (zsock_t *worker, fixture_lease_t *lease)
{
    if (take_pending (worker, lease))
        return;
    int64_t deadline = fling_clock_ms () + WAIT_MS, next_ping = 0;
    while (fling_clock_ms () < deadline) {
        if (fling_clock_ms () >= next_ping) {
            fixture_send (worker, fling_msg_ping ());
            next_ping = fling_clock_ms () + 50;
        }
        fling_msg_t decoded;
        zmsg_t *msg = recv_decoded (worker, 20, &decoded);
        if (!msg)
            continue;
        if (decoded.cmd == FLING_CMD_DISPATCH) {
            keep_tasks (worker, &decoded, NULL);
            zmsg_destroy (&msg);
            if (take_pending (worker, lease))
                return;
            continue;
        }
        zmsg_destroy (&msg);
    }
    fail_msg ("no DISPATCH within %d ms", WAIT_MS);
}

/* PINGs for `ms` and fails if a DISPATCH arrives. */
static void no_task (zsock_t *worker, int ms)
{
    for (int64_t end = fling_clock_ms () + ms; fling_clock_ms () < end;) {
        fixture_send (worker, fling_msg_ping ());
        fling_msg_t decoded;
        zmsg_t *msg = recv_decoded (worker, 50, &decoded);
        if (!msg)
            continue;
        zmsg_destroy (&msg);
        if (decoded.cmd == FLING_CMD_DISPATCH)
            fail_msg ("unexpected DISPATCH");
    }
}

static void send_result (zsock_t *worker, const fixture_lease_t *lease, fling_outcome_t outcome,
                         const char *error)
{
    fixture_results (worker, lease, 1, outcome, error);
}

/* ---- tests -------------------------------------------------------------- */

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
    ctx_t *ctx = start (retry_settings);
    zsock_t *worker = worker_ready (ctx, "w");
    submit_acked (ctx, 1, 1, 1, FLING_REASON_OK);
    fixture_lease_t lease;
    next_task (worker, &lease);
    assert_int_equal (lease.attempt, 1);
    assert_int_equal (lease.timeout_ms, 300000); /* the default, written for the worker */
    /* Delays: 100, 200, 400 ms (+-20%): each at least 80% of its nominal. */
    int64_t minimum[] = {0, 80, 160, 320};
    for (int attempt = 1; attempt < 4; attempt++) {
        char error[32];
        snprintf (error, sizeof error, "boom %d", attempt);
        int64_t failed_at = fling_clock_ms ();
        send_result (worker, &lease, FLING_OUTCOME_FAIL, error);
        next_task (worker, &lease);
        assert_int_equal (lease.attempt, attempt + 1);
        assert_true (fling_clock_ms () - failed_at >= minimum[attempt]);
    }
    send_result (worker, &lease, FLING_OUTCOME_FAIL, "boom 4");
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
    zsock_destroy (&worker);
    restart (ctx);
    worker = worker_ready (ctx, "w2");
    root = fixture_admin (ctx, "{\"op\":\"dead_list\"}");
    dead = json_array_get (json_object_get (root, "dead"), 0);
    assert_string_equal (json_string_value (json_object_get (dead, "error")), "boom 4");
    json_decref (root);
    no_task (worker, 200);

    /* dead_retry by id: back in its queue, attempts reset. */
    char request[160];
    snprintf (request, sizeof request, "{\"op\":\"dead_retry\",\"id\":\"%s\"}", id_text);
    root = fixture_admin (ctx, request);
    assert_int_equal (json_integer_value (json_object_get (root, "retried")), 1);
    json_decref (root);
    next_task (worker, &lease);
    assert_int_equal (lease.attempt, 1);
    send_result (worker, &lease, FLING_OUTCOME_TIMEOUT, "too slow");
    next_task (worker, &lease);
    send_result (worker, &lease, FLING_OUTCOME_TIMEOUT, "too slow");
    next_task (worker, &lease);
    send_result (worker, &lease, FLING_OUTCOME_TIMEOUT, "too slow");
    next_task (worker, &lease);
    send_result (worker, &lease, FLING_OUTCOME_TIMEOUT, "too slow");
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
    zsock_destroy (&worker);
    restart (ctx);
    assert_int_equal (fixture_stat (ctx, NULL, "tasks"), 0);
    assert_int_equal (fixture_stat (ctx, NULL, "dead"), 0);
    finish (ctx);
}

static void short_worker_timeout (fling_broker_config_t *config)
{
    config->worker_timeout_ms = 300;
    config->max_attempts = 10; /* only the poison limit (3) ends it */
}

static void test_poison_task_after_three_deaths (void **state)
{
    ctx_t *ctx = start (short_worker_timeout);
    submit_acked (ctx, 1, 1, 1, FLING_REASON_OK);
    for (int death = 1; death <= 3; death++) {
        zsock_t *worker = worker_ready (ctx, "doomed");
        fixture_lease_t lease;
        next_task (worker, &lease);
        assert_int_equal (lease.attempt, death);
        zsock_destroy (&worker); /* dies: no BYE, no more heartbeats */
        if (death < 3)
            fixture_wait_stat (ctx, "counters", "crashed", 1);
        if (death == 1) {
            restart (ctx); /* the crash count is durable */
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
    restart (ctx);
    assert_int_equal (fixture_stat (ctx, NULL, "dead"), 1);
    finish (ctx);
}

/* A worker that prefetches dies holding 3 tasks: no crash is charged (it
   did not hold one task alone); the one it was running (its oldest `slots`
   leases) goes back as a run that counted, the two waiting behind it go
   back as never started, their attempt not counted. */
static void test_crash_spares_prefetched_tasks (void **state)
{
    ctx_t *ctx = start (short_worker_timeout);
    submit_acked (ctx, 1, 1, 3, FLING_REASON_OK);
    uint32_t slots[FLING_CLASS_COUNT] = {[FLING_CLASS_POOL] = 10, [FLING_CLASS_LOOP] = 1};
    zsock_t *worker = worker_ready_slots (ctx, "prefetcher", slots);
    fixture_lease_t first, lease;
    next_task (worker, &first);
    for (int i = 0; i < 2; i++) {
        next_task (worker, &lease);
        assert_int_equal (lease.attempt, 1);
    }
    zsock_destroy (&worker); /* dies: no BYE, no more heartbeats */
    fixture_wait_stat (ctx, "counters", "requeued", 3);

    /* The next worker gets the one that ran first, on its second attempt,
       and the two that never started still on their first. */
    worker = worker_ready (ctx, "next");
    next_task (worker, &lease);
    assert_memory_equal (&lease.id, &first.id, sizeof first.id);
    assert_int_equal (lease.attempt, 2);
    for (int i = 0; i < 2; i++) {
        next_task (worker, &lease);
        assert_int_equal (lease.attempt, 1);
    }
    assert_int_equal (fixture_stat (ctx, "counters", "crashed"), 0);
    assert_int_equal (fixture_stat (ctx, "counters", "suspected"), 0);
    finish_with_worker (ctx, &worker);
}

/* Every task a worker is sent within `ms` of its first DISPATCH (PINGing
   meanwhile); returns how many. */
static size_t take_all (zsock_t *worker, fixture_lease_t *leases, size_t max, int ms)
{
    size_t n = 0;
    fixture_lease_t lease;
    next_task (worker, &leases[n++]);
    for (int64_t end = fling_clock_ms () + ms; fling_clock_ms () < end;) {
        fixture_send (worker, fling_msg_ping ());
        fling_msg_t decoded;
        zmsg_t *msg = recv_decoded (worker, 10, &decoded);
        if (msg && decoded.cmd == FLING_CMD_DISPATCH)
            keep_tasks (worker, &decoded, NULL);
        zmsg_destroy (&msg);
    }
    while (n < max && take_pending (worker, &lease))
        leases[n++] = lease;
    return n;
}

/* Waits until the broker has noticed that its workers are gone. */
static void wait_no_workers (ctx_t *ctx)
{
    for (int64_t deadline = fling_clock_ms () + WAIT_MS; fling_clock_ms () < deadline;) {
        json_t *stats = fixture_stats (ctx);
        size_t workers = json_array_size (json_object_get (stats, "workers"));
        json_decref (stats);
        if (workers == 0)
            return;
        usleep (10 * 1000);
    }
    fail_msg ("a dead worker still registered after %d ms", WAIT_MS);
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
    ctx_t *ctx = start (short_worker_timeout);
    submit_acked (ctx, 1, 1, 8, FLING_REASON_OK);
    fling_task_id_t poison;
    fling_task_id_make (&poison, FIXTURE_PRODUCER_ID, 5);
    size_t done = 0, sizes[16], deaths = 0;
    for (int round = 0; round < 30 && fixture_stat (ctx, NULL, "dead") < 1; round++) {
        zsock_t *worker = worker_ready (ctx, "w");
        fixture_lease_t leases[16];
        size_t n = take_all (worker, leases, 16, 150), i;
        for (i = 0; i < n && memcmp (&leases[i].id, &poison, sizeof poison) != 0; i++)
            ;
        if (i < n) {
            assert_true (deaths < 16);
            sizes[deaths++] = n;
            zsock_destroy (&worker); /* killed by the poison: no RESULT, no BYE */
            wait_no_workers (ctx);
            continue;
        }
        for (i = 0; i < n; i++)
            send_result (worker, &leases[i], FLING_OUTCOME_DONE, "");
        done += n;
        fixture_send (worker, fling_msg_bye ());
        zsock_destroy (&worker);
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
    finish (ctx);
}

static void long_worker_timeout (fling_broker_config_t *config)
{
    config->worker_timeout_ms = 30000; /* deaths are found by probes, not silence */
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
   30 s. */
static void test_trials_reserve_a_busy_worker (void **state)
{
    ctx_t *ctx = start (long_worker_timeout);
    zsock_t *busy = fixture_worker (ctx, "busy", 3, 3, NULL, keep_tasks, NULL);
    submit_acked (ctx, 1, 1, 2, FLING_REASON_OK);
    fixture_lease_t own[2], got[10], lease;
    next_task (busy, &own[0]);
    next_task (busy, &own[1]);
    /* Tasks 3-6 go to a roomier worker; it dies, and so does the next. */
    zsock_t *doomed = worker_ready (ctx, "doomed");
    submit_acked (ctx, 2, 3, 4, FLING_REASON_OK);
    assert_int_equal (take_all (doomed, got, 10, 150), 4);
    zsock_t *next = worker_ready (ctx, "next");
    zsock_destroy (&doomed);
    assert_int_equal (take_all (next, got, 10, 150), 4); /* back to the head, marked */
    assert_true (all_in (got, 4, 3, 6));
    zsock_destroy (&next);
    fixture_wait_stat (ctx, "counters", "suspected", 4);
    assert_int_equal (fixture_stat (ctx, NULL, "suspects"), 4);

    /* Reserved: the queued tasks 7-8 do not go to it, credit or not. */
    submit_acked (ctx, 3, 7, 2, FLING_REASON_OK);
    json_t *stats = fixture_stats (ctx);
    json_t *worker = json_array_get (json_object_get (stats, "workers"), 0);
    assert_true (json_is_true (json_object_get (worker, "prover")));
    json_decref (stats);
    no_task (busy, 300);

    /* Drained: each half alone, then the queued work. */
    send_result (busy, &own[0], FLING_OUTCOME_DONE, "");
    send_result (busy, &own[1], FLING_OUTCOME_DONE, "");
    for (int half = 0; half < 2; half++) {
        size_t n = take_all (busy, got, 10, 150);
        assert_int_equal (n, 2);
        assert_true (all_in (got, n, 3, 6));
        for (size_t i = 0; i < n; i++)
            send_result (busy, &got[i], FLING_OUTCOME_DONE, "");
    }
    for (int i = 0; i < 2; i++) {
        next_task (busy, &lease);
        assert_true (all_in (&lease, 1, 7, 8));
        send_result (busy, &lease, FLING_OUTCOME_DONE, "");
    }
    fixture_wait_stat (ctx, "counters", "done", 8);
    assert_int_equal (fixture_stat (ctx, "counters", "trials"), 2);
    assert_int_equal (fixture_stat (ctx, "counters", "crashed"), 0);
    assert_int_equal (fixture_stat (ctx, NULL, "suspects"), 0);
    finish_with_worker (ctx, &busy);
}

/* A worker holding a task whose connection closes (the process died) is
   found by a probe long before the worker timeout, and its task, held
   alone, is charged. */
static void test_dead_connection_found_by_probe (void **state)
{
    ctx_t *ctx = start (long_worker_timeout);
    submit_acked (ctx, 1, 1, 1, FLING_REASON_OK);
    zsock_t *worker = worker_ready (ctx, "w");
    fixture_lease_t lease;
    next_task (worker, &lease);
    int64_t died = fling_clock_ms ();
    zsock_destroy (&worker);
    fixture_wait_stat (ctx, "counters", "crashed", 1); /* within WAIT_MS, not 30 s */
    assert_true (fling_clock_ms () - died < WAIT_MS);
    assert_true (fixture_stat (ctx, "counters", "probes") >= 1);
    assert_int_equal (fixture_stat (ctx, "counters", "worker_lost"), 1);
    finish (ctx);
}

/* A worker with prefetch gets no refill while at least half its prefetch
   still waits (SPEC.md 6.3): its slots have work, and refills come in
   fewer, larger DISPATCHes. 10 tasks held, 4 run at once: refilled once
   fewer than 4 + 3 are leased, with everything that is free. */
static void test_refill_waits_for_half_the_prefetch (void **state)
{
    ctx_t *ctx = start (NULL);
    submit_acked (ctx, 1, 1, 20, FLING_REASON_OK);
    uint32_t slots[FLING_CLASS_COUNT] = {[FLING_CLASS_POOL] = 10, [FLING_CLASS_LOOP] = 4};
    zsock_t *worker = worker_ready_slots (ctx, "prefetcher", slots);
    fixture_lease_t leases[10];
    for (int i = 0; i < 10; i++)
        next_task (worker, &leases[i]);
    for (int i = 0; i < 3; i++) /* 7 leased: 3 of the 6 prefetched still wait */
        send_result (worker, &leases[i], FLING_OUTCOME_DONE, "");
    no_task (worker, 300);
    send_result (worker, &leases[3], FLING_OUTCOME_DONE, ""); /* 6 leased */
    fixture_lease_t lease;
    for (int i = 0; i < 4; i++)
        next_task (worker, &lease);
    no_task (worker, 200); /* 10 leased: full */
    fixture_wait_stat (ctx, "counters", "done", 4);
    finish_with_worker (ctx, &worker);
}

static void short_deadline (fling_broker_config_t *config)
{
    config->worker_timeout_ms = 300;
    fling_queue_config_t *q = &config->queues[config->queue_count++];
    strcpy (q->name, "email");
    q->timeout_ms = 100;
    q->set = 4;
}

static void test_lease_deadline_fences_late_result (void **state)
{
    ctx_t *ctx = start (short_deadline);
    zsock_t *worker = worker_ready (ctx, "w");
    submit_acked (ctx, 1, 1, 1, FLING_REASON_OK);
    fixture_lease_t first, second;
    next_task (worker, &first);
    assert_int_equal (first.timeout_ms, 100);
    int64_t leased_at = fling_clock_ms ();
    /* No RESULT: after 2 x 100 + 2 x 300 ms the broker takes the lease
       back, frees the credit and runs it again (attempt 2). */
    next_task (worker, &second);
    assert_true (fling_clock_ms () - leased_at >= 800);
    assert_int_equal (second.attempt, 2);
    assert_int_equal (fixture_stat (ctx, "counters", "lease_expired"), 1);
    assert_int_equal (fixture_stat (ctx, "counters", "timed_out"), 1);
    send_result (worker, &first, FLING_OUTCOME_DONE, ""); /* late: fenced */
    fixture_wait_stat (ctx, "counters", "stale_results", 1);
    assert_int_equal (fixture_stat (ctx, "counters", "done"), 0);
    send_result (worker, &second, FLING_OUTCOME_DONE, "");
    fixture_wait_stat (ctx, "counters", "done", 1);
    assert_int_equal (fixture_stat (ctx, NULL, "tasks"), 0);
    finish_with_worker (ctx, &worker);
}

static void long_park (fling_broker_config_t *config)
{
    config->worker_timeout_ms = 2000;
}

static void test_holding_after_restart (void **state)
{
    ctx_t *ctx = start (long_park);
    zsock_t *worker = worker_ready (ctx, "w");
    submit_acked (ctx, 1, 1, 2, FLING_REASON_OK);
    fixture_lease_t a, b;
    next_task (worker, &a);
    next_task (worker, &b);
    zsock_destroy (&worker);
    restart (ctx); /* both were in flight: parked for HOLDING */
    worker = worker_ready (ctx, "w");
    uint8_t buf[2 * FLING_LEASE_SIZE];
    size_t size = fling_lease_write (buf, &a.id, a.attempt);
    size += fling_lease_write (buf + size, &b.id, (uint16_t)(b.attempt + 5)); /* wrong attempt */
    fixture_send (worker, fling_msg_holding (2, buf, size));
    fixture_wait_stat (ctx, "counters", "holding_leased", 1);
    assert_int_equal (fixture_stat (ctx, "counters", "holding_ignored"), 1);
    send_result (worker, &a, FLING_OUTCOME_DONE, ""); /* same attempt: accepted */
    fixture_wait_stat (ctx, "counters", "done", 1);
    /* b was not claimed: queued once the parking time is over. */
    fixture_lease_t again;
    next_task (worker, &again);
    assert_int_equal (memcmp (again.id.bytes, b.id.bytes, FLING_TASK_ID_SIZE), 0);
    assert_int_equal (again.attempt, b.attempt + 1);
    finish_with_worker (ctx, &worker);
}

/* Submits task 1 in batch 1 and has `worker` run it to DONE. */
static void run_one_task (ctx_t *ctx, zsock_t *worker)
{
    submit_acked (ctx, 1, 1, 1, FLING_REASON_OK);
    fixture_lease_t lease;
    next_task (worker, &lease);
    send_result (worker, &lease, FLING_OUTCOME_DONE, "");
    fixture_wait_stat (ctx, "counters", "done", 1);
}

static void test_duplicate_window_after_completion (void **state)
{
    ctx_t *ctx = start (NULL);
    zsock_t *worker = worker_ready (ctx, "w");
    run_one_task (ctx, worker);
    submit_acked (ctx, 1, 1, 1, FLING_REASON_DUPLICATE); /* a resend after the task ran */
    zsock_destroy (&worker);
    restart (ctx); /* the window is refilled from the log */
    submit_acked (ctx, 2, 1, 1, FLING_REASON_DUPLICATE);
    assert_int_equal (fixture_stat (ctx, NULL, "tasks"), 0);
    finish (ctx);
}

static void short_window (fling_broker_config_t *config)
{
    config->dedup_window_ms = 200;
}

static void test_duplicate_window_expires (void **state)
{
    ctx_t *ctx = start (short_window);
    zsock_t *worker = worker_ready (ctx, "w");
    run_one_task (ctx, worker);
    /* Not a sleep racing the window: wait (bounded) until the broker has
       forgotten the id, then the same id is a new task. */
    fixture_wait_stat (ctx, NULL, "dedup_ids", 0);
    submit_acked (ctx, 2, 1, 1, FLING_REASON_OK); /* outside the window: a new task */
    finish_with_worker (ctx, &worker);
}

static void tiny_store (fling_broker_config_t *config)
{
    config->segment_bytes = 8192;
    config->store_max_bytes = 3 * 8192;
}

static void test_store_full_then_room_again (void **state)
{
    ctx_t *ctx = start (tiny_store);
    size_t refused = 0;
    uint64_t seq = 1;
    for (uint64_t batch = 1; batch <= 40 && !refused; batch++) {
        submit (ctx, batch, seq, 20, "email");
        seq += 20;
        refused = fixture_ack_count (ctx, batch, FLING_REASON_STORE_FULL);
    }
    assert_true (refused > 0);
    assert_true (fixture_stat (ctx, "counters", "store_full") > 0);
    json_int_t held = fixture_stat (ctx, NULL, "tasks");
    /* Drain what is held: completions fit, segments empty, room returns. */
    zsock_t *worker = worker_ready (ctx, "w");
    for (json_int_t i = 0; i < held; i++) {
        fixture_lease_t lease;
        next_task (worker, &lease);
        send_result (worker, &lease, FLING_OUTCOME_DONE, "");
    }
    fixture_wait_stat (ctx, NULL, "tasks", 0);
    size_t accepted = 0;
    for (int64_t deadline = fling_clock_ms () + WAIT_MS;
         !accepted && fling_clock_ms () < deadline;) {
        zclock_sleep (200); /* free space is re-checked about once a second */
        submit (ctx, 100 + seq, seq, 1, "email");
        accepted = fixture_ack_count (ctx, 100 + seq, FLING_REASON_OK);
        seq++;
    }
    assert_int_equal (accepted, 1);
    finish_with_worker (ctx, &worker);
}

static void test_stop_commits_completions (void **state)
{
    ctx_t *ctx = start (NULL);
    zsock_t *worker = worker_ready (ctx, "w");
    submit_acked (ctx, 1, 1, 5, FLING_REASON_OK);
    for (int i = 0; i < 5; i++) {
        fixture_lease_t lease;
        next_task (worker, &lease);
        if (i < 3)
            send_result (worker, &lease, FLING_OUTCOME_DONE, "");
    }
    fixture_wait_stat (ctx, "counters", "done", 3);
    zsock_destroy (&worker);
    halt (ctx); /* as on SIGTERM: the last completions are committed */
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
    finish (ctx);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_backoff_then_dead_letter),
        cmocka_unit_test (test_poison_task_after_three_deaths),
        cmocka_unit_test (test_crash_spares_prefetched_tasks),
        cmocka_unit_test (test_only_the_poison_is_charged),
        cmocka_unit_test (test_trials_reserve_a_busy_worker),
        cmocka_unit_test (test_dead_connection_found_by_probe),
        cmocka_unit_test (test_refill_waits_for_half_the_prefetch),
        cmocka_unit_test (test_lease_deadline_fences_late_result),
        cmocka_unit_test (test_holding_after_restart),
        cmocka_unit_test (test_duplicate_window_after_completion),
        cmocka_unit_test (test_duplicate_window_expires),
        cmocka_unit_test (test_store_full_then_room_again),
        cmocka_unit_test (test_stop_commits_completions),
    };
    return cmocka_run_group_tests_name ("broker_retry", tests, NULL, NULL);
}
