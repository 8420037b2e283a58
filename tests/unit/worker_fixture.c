/*  worker_fixture.c - see worker_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fling_log.h"
#include "unit_support.h"
#include "worker_fixture.h"

/* ---- DISPATCH building and RESULT collecting ----------------------------- */

void batch_add_ex (batch_t *batch, uint64_t seq, uint16_t attempt, uint32_t timeout_ms,
                   const char *name, const char *payload)
{
    fling_task_id_t id;
    fling_task_id_make (&id, PRODUCER_ID, seq);
    size_t size = fling_record_size (strlen (name), strlen (payload));
    assert_true (batch->size + size <= sizeof batch->data);
    batch->size += fling_record_write (batch->data + batch->size, &id, attempt, 0, timeout_ms, 0,
                                       name, strlen (name), payload, strlen (payload));
    batch->count++;
}

void batch_add (batch_t *batch, uint64_t seq, const char *name, const char *payload)
{
    batch_add_ex (batch, seq, 1, 0, name, payload);
}

void broker_dispatch (fake_broker_t *b, batch_t *batch)
{
    fake_broker_send (b, fling_msg_dispatch (batch->count, batch->data, batch->size));
    batch->size = 0;
    batch->count = 0;
}

void results_reset (results_t *r)
{
    memset (r, 0, sizeof *r);
    for (int i = 0; i < SEQ_MAX; i++)
        r->outcome[i] = -1;
}

results_t results_new (void)
{
    results_t r;
    results_reset (&r);
    return r;
}

void results_read (results_t *r, const fling_msg_t *msg)
{
    const uint8_t *cursor = msg->body, *end = msg->body + msg->body_size;
    fling_result_t result;
    fling_reason_t reason;
    if (r->messages++ == 0)
        r->first_message_count = (int)msg->count;
    while (fling_result_next (&cursor, end, &result, &reason) == 1) {
        assert_int_equal (fling_task_id_producer (&result.id), PRODUCER_ID);
        uint64_t seq = fling_task_id_seq (&result.id);
        assert_true (seq < SEQ_MAX);
        assert_int_equal (r->outcome[seq], -1); /* one result per task */
        r->outcome[seq] = result.outcome;
        r->arrival[seq] = r->count; /* 0 for the first result that came */
        snprintf (r->error[seq], sizeof r->error[seq], "%.*s", (int)result.error_size,
                  result.error ? result.error : "");
        r->count++;
    }
}

/* Collects RESULTs until `count` results came in. */
void broker_results (fake_broker_t *b, results_t *r, int count)
{
    while (r->count < count)
        results_read (r, fake_broker_expect (b, FLING_CMD_RESULT, WAIT_MS));
}

/* The outcomes of tasks `first`, `first` + 1, ... as their names, one
   space apart ("DONE RELEASED"): a failure shows the whole run at once. */
void assert_outcomes (const results_t *r, int first, const char *expected)
{
    int count = 1;
    for (const char *c = expected; *c; c++)
        count += *c == ' ';
    assert_true (first >= 0 && first + count <= SEQ_MAX);
    char actual[512] = "";
    size_t used = 0;
    for (int seq = first; seq < first + count && used < sizeof actual; seq++)
        used += (size_t)snprintf (actual + used, sizeof actual - used, "%s%s",
                                  seq > first ? " " : "", fling_outcome_name (r->outcome[seq]));
    assert_string_equal (actual, expected);
}

/* ---- handlers under test ------------------------------------------------ */

worker_counts_t counts;
static int hook_states[64]; /* static: an abandoned thread never runs its stop hook */
static int slot = -1;

static long payload_ms (const char *payload)
{
    const char *ms = strstr (payload, "\"ms\":");
    return ms ? strtol (ms + 5, NULL, 10) : 0;
}

static int async_timer (zloop_t *loop, int timer_id, void *arg)
{
    fling_task_complete ((fling_task_t *)arg, FLING_OK);
    return 0;
}

/* Payload says what to do: "retry", "fail", {"ms":N} or anything else: OK.
   Runs on the worker's thread: no cmocka asserts here (they would jump
   into the test thread's stack); mistakes are counted and checked later. */
void handle_async (fling_task_t *task, void *arg)
{
    const char *payload = fling_task_payload (task);
    if (strlen (payload) != fling_task_payload_size (task) ||
        strcmp (fling_task_name (task), "t.async") != 0 || fling_task_attempt (task) != 1 ||
        strlen (fling_task_id (task)) < 18)
        atomic_fetch_add (&counts.handler_errors, 1);
    if (strstr (payload, "retry")) {
        fling_task_set_error (task, "try later");
        fling_task_complete (task, FLING_RETRY);
    } else if (strstr (payload, "fail")) {
        fling_task_set_error (task, "broken: %d", 42);
        fling_task_complete (task, FLING_FAIL);
    } else if (payload_ms (payload) > 0)
        zloop_timer (fling_worker_loop (fling_task_worker (task)), (size_t)payload_ms (payload), 1,
                     async_timer, task);
    else
        fling_task_complete (task, FLING_OK);
}

/* Runs on pool threads: no cmocka asserts here, errors become outcomes. */
fling_status_t handle_block (fling_task_t *task, void *arg)
{
    atomic_fetch_add (&counts.block_started, 1);
    int running = atomic_fetch_add (&counts.block_running, 1) + 1;
    for (int most = atomic_load (&counts.block_most); running > most;)
        if (atomic_compare_exchange_weak (&counts.block_most, &most, running))
            break;
    const char *payload = fling_task_payload (task);
    fling_status_t status = FLING_OK;
    int *index = (int *)fling_thread_state (slot);
    if (!index) {
        fling_task_set_error (task, "no thread state");
        status = FLING_FAIL;
    } else if (strstr (payload, "retry")) {
        fling_task_set_error (task, "not yet");
        status = FLING_RETRY;
    } else if (strstr (payload, "fail")) {
        fling_task_set_error (task, "%s", "disk on fire");
        status = FLING_FAIL;
    }
    /* A stuck handler, until the test lets it go (bounded all the same). */
    int64_t hang_until = fling_clock_ms () + 20000;
    while (strstr (payload, "hang") && !atomic_load (&counts.release_hang) &&
           fling_clock_ms () < hang_until)
        zclock_sleep (2);
    zclock_sleep (payload_ms (payload));
    atomic_fetch_sub (&counts.block_running, 1);
    atomic_fetch_add (&counts.block_finished, 1);
    return status;
}

void *hook_start (unsigned index, void *arg)
{
    atomic_fetch_add (&counts.hook_starts, 1);
    hook_states[index % 64] = (int)index;
    return &hook_states[index % 64];
}

void hook_stop (unsigned index, void *state, void *arg)
{
    if (state != &hook_states[index % 64])
        atomic_fetch_add (&counts.handler_errors, 1);
    atomic_fetch_add (&counts.hook_stops, 1);
}

static void on_registered (fling_worker_t *worker, void *arg)
{
    atomic_fetch_add (&counts.registered, 1);
}

/* ---- the worker on a thread ------------------------------------------------ */

/* The runner of the test in progress, so a failed test's teardown can stop
   its worker instead of leaving it running into the next test. */
static runner_t *current;

static void *run_thread (void *arg)
{
    runner_t *runner = (runner_t *)arg;
    runner->rc = fling_worker_run (runner->worker);
    return NULL;
}

fling_worker_t *worker_new_ex (fake_broker_t *b, unsigned pool, unsigned async_limit,
                               unsigned drain_ms, unsigned prefetch)
{
    atomic_store (&counts.block_started, 0);
    atomic_store (&counts.block_finished, 0);
    atomic_store (&counts.hook_starts, 0);
    atomic_store (&counts.hook_stops, 0);
    atomic_store (&counts.registered, 0);
    atomic_store (&counts.handler_errors, 0);
    atomic_store (&counts.release_hang, 0);
    atomic_store (&counts.block_running, 0);
    atomic_store (&counts.block_most, 0);
    fling_worker_options_t options;
    fling_worker_options_init (&options);
    options.endpoint = b->endpoint;
    options.name = "test-worker";
    options.pool_size = pool;
    options.async_limit = async_limit;
    options.heartbeat_ms = HEARTBEAT_MS;
    options.drain_timeout_ms = drain_ms;
    options.prefetch = prefetch;
    fling_worker_t *worker = fling_worker_new (&options);
    assert_non_null (worker);
    assert_int_equal (fling_worker_register_blocking (worker, "t.block", handle_block, NULL), 0);
    assert_int_equal (fling_worker_register_async (worker, "t.async", handle_async, NULL), 0);
    slot = fling_worker_add_thread_hooks (worker, hook_start, hook_stop, NULL);
    assert_int_equal (slot, 0);
    fling_worker_on_registered (worker, on_registered, NULL);
    return worker;
}

/* Without prefetch: the worker holds no more than it runs, so these tests
   see exactly which task runs when. */
fling_worker_t *worker_new (fake_broker_t *b, unsigned pool, unsigned async_limit,
                            unsigned drain_ms)
{
    return worker_new_ex (b, pool, async_limit, drain_ms, 0);
}

void runner_start (runner_t *runner, fling_worker_t *worker)
{
    runner->worker = worker;
    runner->rc = 99;
    runner->joined = false;
    assert_int_equal (pthread_create (&runner->thread, NULL, run_thread, runner), 0);
    current = runner;
}

/* Bounded join: the worker must return within `timeout_ms`. */
void runner_join (runner_t *runner, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime (CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000 + 1;
    int rc = pthread_timedjoin_np (runner->thread, NULL, &deadline);
    if (rc)
        fail_msg ("fling_worker_run did not return within %d ms", timeout_ms);
    runner->joined = true;
    current = NULL;
}

/* The fake broker of the test in progress, for teardown after a failure. */
static fake_broker_t *broker;

fake_broker_t *broker_start (void)
{
    broker = fake_broker_new (0);
    return broker;
}

void broker_stop (void)
{
    fake_broker_destroy (&broker);
}

int teardown_worker (void **state)
{
    runner_t *runner = current;
    current = NULL;
    if (!runner || runner->joined) {
        broker_stop ();
        return 0;
    }
    fling_worker_request_stop (runner->worker);
    struct timespec deadline;
    clock_gettime (CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    if (pthread_timedjoin_np (runner->thread, NULL, &deadline) == 0)
        fling_worker_destroy (&runner->worker);
    broker_stop ();
    return 0;
}

void expect_ready (fake_broker_t *b, uint32_t pool, uint32_t loop)
{
    fling_msg_t *ready = fake_broker_expect (b, FLING_CMD_READY, WAIT_MS);
    assert_int_equal (ready->capacity[FLING_CLASS_POOL], pool);
    assert_int_equal (ready->capacity[FLING_CLASS_LOOP], loop);
    assert_int_equal (ready->pid, (uint32_t)getpid ());
    assert_int_equal (ready->worker_name_size, strlen ("test-worker"));
    assert_memory_equal (ready->worker_name, "test-worker", ready->worker_name_size);
    assert_int_equal (ready->count, 2);
    const uint8_t *cursor = ready->body, *end = ready->body + ready->body_size;
    fling_class_t cls;
    const char *name;
    size_t name_size;
    int seen = 0;
    while (fling_ready_name_next (&cursor, end, &cls, &name, &name_size) == 1) {
        if (name_size == 7 && memcmp (name, "t.block", 7) == 0)
            assert_int_equal (cls, FLING_CLASS_POOL);
        else if (name_size == 7 && memcmp (name, "t.async", 7) == 0)
            assert_int_equal (cls, FLING_CLASS_LOOP);
        else
            fail_msg ("unexpected name %.*s", (int)name_size, name);
        seen++;
    }
    assert_int_equal (seen, 2);
}

/* READY, then the PING that confirms it; the PONG registers the worker. */
void expect_registration (fake_broker_t *b, uint32_t pool, uint32_t loop)
{
    expect_ready (b, pool, loop); /* answered WELCOME by the fake broker */
    test_wait_atomic (&counts.registered, 1, WAIT_MS);
}

/* Nothing but PINGs from the worker for `ms`. */
void expect_quiet (fake_broker_t *b, int ms)
{
    fling_msg_t *msg = fake_broker_next (b, ms, false);
    if (msg)
        fail_msg ("unexpected %s from the worker", fling_cmd_name (msg->cmd));
}

/* The end of a drain that finished in time: BYE, then the loop returns 0. */
void expect_bye_and_join (fake_broker_t *b, runner_t *runner)
{
    fake_broker_expect (b, FLING_CMD_BYE, WAIT_MS);
    runner_join (runner, WAIT_MS);
    assert_int_equal (runner->rc, 0);
}

/* A stop with nothing left to drain: CAPACITY, BYE, the loop returns 0. */
void expect_stop (fake_broker_t *b, runner_t *runner)
{
    fake_broker_expect (b, FLING_CMD_CAPACITY, WAIT_MS);
    expect_bye_and_join (b, runner);
}

void stop_and_join (fake_broker_t *b, runner_t *runner, fling_worker_t *worker)
{
    fling_worker_request_stop (worker);
    expect_stop (b, runner);
}

/* Stats are read once the loop has returned: the loop thread owns them. */
fling_worker_stats_t stop_and_read_stats (fake_broker_t *b, runner_t *runner,
                                          fling_worker_t *worker)
{
    stop_and_join (b, runner, worker);
    fling_worker_stats_t stats;
    fling_worker_stats (worker, &stats);
    return stats;
}

/* The common end of a test whose worker has returned. Handler mistakes
   are checked after the destroy, which runs the last stop hooks: the
   count only grows, so this is the strictest place to look. */
void finish_test (fake_broker_t *b, fling_worker_t **worker, batch_t *batch)
{
    fling_worker_destroy (worker);
    assert_int_equal (atomic_load (&counts.handler_errors), 0);
    free (batch);
    broker_stop ();
}

/* The fake broker up and a worker without prefetch running against it,
   registered: the common start of a test. */
fling_worker_t *start_registered (fake_broker_t **b, runner_t *runner, unsigned pool,
                                  unsigned async_limit, unsigned drain_ms)
{
    *b = broker_start ();
    fling_worker_t *worker = worker_new (*b, pool, async_limit, drain_ms);
    runner_start (runner, worker);
    expect_registration (*b, pool, async_limit);
    return worker;
}

/* On the heap: a batch is 128 KiB. */
batch_t *batch_new (void)
{
    batch_t *batch = (batch_t *)calloc (1, sizeof *batch);
    assert_non_null (batch);
    return batch;
}
