/*  test_worker.c - the worker library against a fake broker.

    The fake broker is a ROUTER socket in the test, on tcp://127.0.0.1:*,
    speaking FLP through the codec. The worker's loop (fling_worker_run)
    runs on a thread of the test. Every wait is bounded.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka needs the four headers above first */
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fling_error.h"
#include "fling_proto.h"
#include "fling_worker.h"
#include "fling_worker_host.h"

#define WAIT_MS      5000 /* bound on any single expected message */
#define PRODUCER_ID  0x0123456789abcdefULL
#define HEARTBEAT_MS 200 /* short, yet 3 of them outlast a busy machine's stalls */

#if defined(__SANITIZE_THREAD__)
/* libzmq is not instrumented: ThreadSanitizer cannot see how its I/O
   thread hands message buffers over, and reports those as races: ignore
   the memory accesses libzmq itself makes (recv into its buffers...). */
const char *__tsan_default_suppressions (void);
const char *__tsan_default_suppressions (void)
{
    return "called_from_lib:libzmq.so.5\n";
}
#endif

static int64_t now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms (long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep (&ts, NULL);
}

/* ---- the fake broker ---------------------------------------------------- */

typedef struct {
    zsock_t *router;
    char endpoint[64];
    zframe_t *peer; /* routing id of the last worker heard */
    int peers_seen; /* distinct routing ids: a new one per reconnect */
    int pings;
    bool answer_pings;   /* PONG to PING, WELCOME to READY */
    bool ack_results;    /* RESULT_ACK to RESULT */
    unsigned welcome_heartbeat_ms; /* announced in WELCOME */
    uint64_t result_seq; /* of the last RESULT */
    zmsg_t *msg; /* the last message returned (decoded points into it) */
    fling_msg_t decoded;
} broker_t;

/* The broker of the test in progress, for teardown after a failure. */
static broker_t *s_broker;

static void broker_start (broker_t *b)
{
    memset (b, 0, sizeof *b);
    s_broker = b;
    b->router = zsock_new (ZMQ_ROUTER);
    assert_non_null (b->router);
    /* Not zsock_bind: czmq turns ":*" into the first free port from 49152
       up, the same sequence in every process, so tests running side by
       side meet each other's stale peers. libzmq's own ":*" lets the
       kernel pick a random free port. */
    assert_int_equal (zmq_bind (zsock_resolve (b->router), "tcp://127.0.0.1:*"), 0);
    size_t size = sizeof b->endpoint;
    assert_int_equal (
        zmq_getsockopt (zsock_resolve (b->router), ZMQ_LAST_ENDPOINT, b->endpoint, &size), 0);
    b->answer_pings = true;
    b->ack_results = true;
    b->welcome_heartbeat_ms = HEARTBEAT_MS;
}

static void broker_stop (broker_t *b)
{
    s_broker = NULL;
    zmsg_destroy (&b->msg);
    zframe_destroy (&b->peer);
    zsock_destroy (&b->router);
}

static void broker_send (broker_t *b, zmsg_t *msg)
{
    assert_non_null (msg);
    assert_non_null (b->peer);
    zframe_t *peer = zframe_dup (b->peer);
    zmsg_prepend (msg, &peer);
    assert_int_equal (zmsg_send (&msg, b->router), 0);
}

/* Receives the next message (any command) within `timeout_ms`; NULL on
   timeout. PINGs are counted and, if enabled, answered, then skipped
   unless `want_ping`. */
static fling_msg_t *broker_next (broker_t *b, int timeout_ms, bool want_ping)
{
    int64_t deadline = now_ms () + timeout_ms;
    while (true) {
        int64_t left = deadline - now_ms ();
        if (left <= 0)
            return NULL;
        zsock_set_rcvtimeo (b->router, (int)left);
        zmsg_destroy (&b->msg);
        b->msg = zmsg_recv (b->router);
        if (!b->msg)
            return NULL;
        zframe_t *peer = zmsg_pop (b->msg);
        if (!b->peer || !zframe_eq (peer, b->peer)) {
            b->peers_seen++;
            zframe_destroy (&b->peer);
            b->peer = peer;
        } else
            zframe_destroy (&peer);
        fling_reason_t reason;
        if (fling_msg_decode (b->msg, &b->decoded, &reason))
            fail_msg ("worker sent a bad message: %s", fling_reason_name (reason));
        if (b->decoded.cmd == FLING_CMD_READY && b->answer_pings)
            broker_send (b, fling_msg_welcome (b->welcome_heartbeat_ms, 3 * b->welcome_heartbeat_ms));
        if (b->decoded.cmd == FLING_CMD_RESULT) {
            assert_true (b->decoded.batch_seq > 0);
            b->result_seq = b->decoded.batch_seq;
            if (b->ack_results)
                broker_send (b, fling_msg_result_ack (b->decoded.batch_seq));
        }
        if (b->decoded.cmd != FLING_CMD_PING)
            return &b->decoded;
        b->pings++;
        if (b->answer_pings)
            broker_send (b, fling_msg_pong ());
        if (want_ping)
            return &b->decoded;
    }
}

static fling_msg_t *broker_expect (broker_t *b, fling_cmd_t cmd)
{
    fling_msg_t *msg = broker_next (b, WAIT_MS, cmd == FLING_CMD_PING);
    if (!msg)
        fail_msg ("no %s from the worker within %d ms", fling_cmd_name (cmd), WAIT_MS);
    if (msg->cmd != cmd)
        fail_msg ("expected %s, got %s", fling_cmd_name (cmd), fling_cmd_name (msg->cmd));
    return msg;
}

/* ---- DISPATCH building and RESULT collecting ----------------------------- */

typedef struct {
    uint8_t data[1 << 17];
    size_t size;
    uint32_t count;
} batch_t;

static void batch_add_ex (batch_t *batch, uint64_t seq, uint16_t attempt, uint32_t timeout_ms,
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

static void batch_add (batch_t *batch, uint64_t seq, const char *name, const char *payload)
{
    batch_add_ex (batch, seq, 1, 0, name, payload);
}

static void broker_dispatch (broker_t *b, batch_t *batch)
{
    broker_send (b, fling_msg_dispatch (batch->count, batch->data, batch->size));
    batch->size = 0;
    batch->count = 0;
}

#define SEQ_MAX 64
typedef struct {
    int outcome[SEQ_MAX]; /* -1: no result yet */
    char error[SEQ_MAX][128];
    int count;
    int messages;
    int first_message_count;
} results_t;

static void results_reset (results_t *r)
{
    memset (r, 0, sizeof *r);
    for (int i = 0; i < SEQ_MAX; i++)
        r->outcome[i] = -1;
}

static results_t results_new (void)
{
    results_t r;
    results_reset (&r);
    return r;
}

static void results_read (results_t *r, const fling_msg_t *msg)
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
        snprintf (r->error[seq], sizeof r->error[seq], "%.*s", (int)result.error_size,
                  result.error ? result.error : "");
        r->count++;
    }
}

/* Collects RESULTs until `count` results came in. */
static void broker_results (broker_t *b, results_t *r, int count)
{
    while (r->count < count)
        results_read (r, broker_expect (b, FLING_CMD_RESULT));
}

/* The outcomes of tasks `first`, `first` + 1, ... as their names, one
   space apart ("DONE RELEASED"): a failure shows the whole run at once. */
static void assert_outcomes (const results_t *r, int first, const char *expected)
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

static atomic_int s_block_started;
static atomic_int s_block_finished;
static atomic_int s_hook_starts;
static atomic_int s_hook_stops;
static atomic_int s_registered;
static atomic_int s_handler_errors;
static atomic_int s_release_hang; /* set: "hang" handlers return */
static int s_hook_states[64];     /* static: an abandoned thread never runs its stop hook */
static int s_slot = -1;

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
static void handle_async (fling_task_t *task, void *arg)
{
    const char *payload = fling_task_payload (task);
    if (strlen (payload) != fling_task_payload_size (task) ||
        strcmp (fling_task_name (task), "t.async") != 0 || fling_task_attempt (task) != 1 ||
        strlen (fling_task_id (task)) < 18)
        atomic_fetch_add (&s_handler_errors, 1);
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
static fling_status_t handle_block (fling_task_t *task, void *arg)
{
    atomic_fetch_add (&s_block_started, 1);
    const char *payload = fling_task_payload (task);
    fling_status_t status = FLING_OK;
    int *index = (int *)fling_thread_state (s_slot);
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
    int64_t hang_until = now_ms () + 20000;
    while (strstr (payload, "hang") && !atomic_load (&s_release_hang) && now_ms () < hang_until)
        sleep_ms (2);
    sleep_ms (payload_ms (payload));
    atomic_fetch_add (&s_block_finished, 1);
    return status;
}

static void *hook_start (unsigned index, void *arg)
{
    atomic_fetch_add (&s_hook_starts, 1);
    s_hook_states[index % 64] = (int)index;
    return &s_hook_states[index % 64];
}

static void hook_stop (unsigned index, void *state, void *arg)
{
    if (state != &s_hook_states[index % 64])
        atomic_fetch_add (&s_handler_errors, 1);
    atomic_fetch_add (&s_hook_stops, 1);
}

static void on_registered (fling_worker_t *worker, void *arg)
{
    atomic_fetch_add (&s_registered, 1);
}

/* ---- the worker on a thread ------------------------------------------------ */

typedef struct {
    fling_worker_t *worker;
    pthread_t thread;
    int rc;
    bool joined;
} runner_t;

/* The runner of the test in progress, so a failed test's teardown can stop
   its worker instead of leaving it running into the next test. */
static runner_t *s_current;

static void *run_thread (void *arg)
{
    runner_t *runner = (runner_t *)arg;
    runner->rc = fling_worker_run (runner->worker);
    return NULL;
}

static fling_worker_t *worker_new_ex (broker_t *b, unsigned pool, unsigned async_limit,
                                      unsigned drain_ms, unsigned prefetch)
{
    atomic_store (&s_block_started, 0);
    atomic_store (&s_block_finished, 0);
    atomic_store (&s_hook_starts, 0);
    atomic_store (&s_hook_stops, 0);
    atomic_store (&s_registered, 0);
    atomic_store (&s_handler_errors, 0);
    atomic_store (&s_release_hang, 0);
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
    s_slot = fling_worker_add_thread_hooks (worker, hook_start, hook_stop, NULL);
    assert_int_equal (s_slot, 0);
    fling_worker_on_registered (worker, on_registered, NULL);
    return worker;
}

/* Without prefetch: the worker holds no more than it runs, so these tests
   see exactly which task runs when. */
static fling_worker_t *worker_new (broker_t *b, unsigned pool, unsigned async_limit,
                                   unsigned drain_ms)
{
    return worker_new_ex (b, pool, async_limit, drain_ms, 0);
}

static void runner_start (runner_t *runner, fling_worker_t *worker)
{
    runner->worker = worker;
    runner->rc = 99;
    runner->joined = false;
    assert_int_equal (pthread_create (&runner->thread, NULL, run_thread, runner), 0);
    s_current = runner;
}

/* Bounded join: the worker must return within `timeout_ms`. */
static void runner_join (runner_t *runner, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime (CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000 + 1;
    int rc = pthread_timedjoin_np (runner->thread, NULL, &deadline);
    if (rc)
        fail_msg ("fling_worker_run did not return within %d ms", timeout_ms);
    runner->joined = true;
    s_current = NULL;
}

static int teardown_worker (void **state)
{
    runner_t *runner = s_current;
    s_current = NULL;
    if (!runner || runner->joined) {
        if (s_broker)
            broker_stop (s_broker);
        return 0;
    }
    fling_worker_request_stop (runner->worker);
    struct timespec deadline;
    clock_gettime (CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    if (pthread_timedjoin_np (runner->thread, NULL, &deadline) == 0)
        fling_worker_destroy (&runner->worker);
    if (s_broker)
        broker_stop (s_broker);
    return 0;
}

static void expect_ready (broker_t *b, uint32_t pool, uint32_t loop)
{
    fling_msg_t *ready = broker_expect (b, FLING_CMD_READY);
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

/* Waits up to WAIT_MS for a counter the worker's threads raise. */
static void wait_atomic (atomic_int *value, int want)
{
    int64_t deadline = now_ms () + WAIT_MS;
    while (atomic_load (value) < want && now_ms () < deadline)
        sleep_ms (1);
    assert_int_equal (atomic_load (value), want);
}

/* READY, answered WELCOME (broker_next): the worker is registered. */
static void expect_registration (broker_t *b, uint32_t pool, uint32_t loop)
{
    expect_ready (b, pool, loop);
    wait_atomic (&s_registered, 1);
}

/* Nothing but PINGs from the worker for `ms`. */
static void expect_quiet (broker_t *b, int ms)
{
    fling_msg_t *msg = broker_next (b, ms, false);
    if (msg)
        fail_msg ("unexpected %s from the worker", fling_cmd_name (msg->cmd));
}

/* The end of a drain that finished in time: BYE, then the loop returns 0. */
static void expect_bye_and_join (broker_t *b, runner_t *runner)
{
    broker_expect (b, FLING_CMD_BYE);
    runner_join (runner, WAIT_MS);
    assert_int_equal (runner->rc, 0);
}

/* A stop with nothing left to drain: CAPACITY, BYE, the loop returns 0. */
static void expect_stop (broker_t *b, runner_t *runner)
{
    broker_expect (b, FLING_CMD_CAPACITY);
    expect_bye_and_join (b, runner);
}

static void stop_and_join (broker_t *b, runner_t *runner, fling_worker_t *worker)
{
    fling_worker_request_stop (worker);
    expect_stop (b, runner);
}

/* Stats are read once the loop has returned: the loop thread owns them. */
static fling_worker_stats_t stop_and_read_stats (broker_t *b, runner_t *runner,
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
static void finish_test (broker_t *b, fling_worker_t **worker, batch_t *batch)
{
    fling_worker_destroy (worker);
    assert_int_equal (atomic_load (&s_handler_errors), 0);
    free (batch);
    broker_stop (b);
}

/* The fake broker up and a worker without prefetch running against it,
   registered: the common start of a test. */
static fling_worker_t *start_registered (broker_t *b, runner_t *runner, unsigned pool,
                                         unsigned async_limit, unsigned drain_ms)
{
    broker_start (b);
    fling_worker_t *worker = worker_new (b, pool, async_limit, drain_ms);
    runner_start (runner, worker);
    expect_registration (b, pool, async_limit);
    return worker;
}

/* On the heap: a batch is 128 KiB. */
static batch_t *batch_new (void)
{
    batch_t *batch = (batch_t *)calloc (1, sizeof *batch);
    assert_non_null (batch);
    return batch;
}

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
    static broker_t b; /* static: teardown may use it after a failure */
    static runner_t runner;
    fling_worker_t *worker = start_registered (&b, &runner, 2, 8, 5000);

    /* Async outcomes in one DISPATCH come back in one RESULT. */
    batch_t *batch = batch_new ();
    results_t r = results_new ();
    batch_add (batch, 1, "t.async", "{}");
    batch_add (batch, 2, "t.async", "{\"do\":\"retry\"}");
    batch_add (batch, 3, "t.async", "{\"do\":\"fail\"}");
    batch_add (batch, 4, "t.unknown", "{}");
    broker_dispatch (&b, batch);
    broker_results (&b, &r, 4);
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
    broker_dispatch (&b, batch);
    broker_results (&b, &r, 4);
    assert_int_equal (r.outcome[5], FLING_OUTCOME_DONE);
    assert_int_equal (r.outcome[6], FLING_OUTCOME_RETRY);
    assert_string_equal (r.error[6], "not yet");
    assert_int_equal (r.outcome[7], FLING_OUTCOME_FAIL);
    assert_string_equal (r.error[7], "disk on fire");
    assert_int_equal (r.outcome[8], FLING_OUTCOME_DONE);

    /* Heartbeats: a PING every interval while idle. */
    int pings = b.pings;
    fling_msg_t *unexpected = broker_next (&b, 5 * HEARTBEAT_MS / 2, false);
    if (unexpected)
        fail_msg ("unexpected %s while idle", fling_cmd_name (unexpected->cmd));
    assert_true (b.pings - pings >= 2);

    /* Drain: two blocking tasks running (pool of 2), two more waiting in the
       worker (beyond its capacity), one async on a timer. */
    results_reset (&r);
    batch_add (batch, 10, "t.block", "{\"ms\":400}");
    batch_add (batch, 11, "t.block", "{\"ms\":400}");
    batch_add (batch, 12, "t.block", "{}");
    batch_add (batch, 13, "t.block", "{}");
    batch_add (batch, 14, "t.async", "{\"ms\":300}");
    int started = atomic_load (&s_block_started);
    broker_dispatch (&b, batch);
    wait_atomic (&s_block_started, started + 2);
    fling_worker_request_stop (worker);

    fling_msg_t *msg = broker_expect (&b, FLING_CMD_CAPACITY);
    assert_int_equal (msg->capacity[FLING_CLASS_POOL], 0);
    assert_int_equal (msg->capacity[FLING_CLASS_LOOP], 0);
    /* One that crossed our CAPACITY(0, 0) on the wire. */
    batch_add (batch, 15, "t.async", "{}");
    broker_dispatch (&b, batch);
    broker_results (&b, &r, 6);
    assert_outcomes (&r, 10, "DONE DONE RELEASED RELEASED DONE RELEASED");
    expect_bye_and_join (&b, &runner);

    fling_worker_stats_t stats; /* the loop has returned: safe to read */
    fling_worker_stats (worker, &stats);
    assert_int_equal (stats.done, 6);
    assert_int_equal (stats.retried, 2);
    assert_int_equal (stats.failed, 3);
    assert_int_equal (stats.released, 3);
    assert_int_equal (stats.running, 0);
    /* The hooks ran once per pool thread, start and stop. */
    assert_int_equal (atomic_load (&s_hook_starts), 2);
    assert_int_equal (atomic_load (&s_hook_stops), 2);
    finish_test (&b, &worker, batch);
}

static void test_reconnects (void **state)
{
    static broker_t b; /* static: teardown may use it after a failure */
    broker_start (&b);
    b.answer_pings = false;
    fling_worker_t *worker = worker_new (&b, 1, 4, 2000);
    static runner_t runner;
    runner_start (&runner, worker);

    /* A silent broker: after 3 heartbeats a new socket says READY. */
    expect_ready (&b, 1, 4);
    int64_t first = now_ms ();
    assert_int_equal (b.peers_seen, 1);
    expect_ready (&b, 1, 4);
    assert_true (now_ms () - first >= 3 * HEARTBEAT_MS - 50);
    assert_int_equal (b.peers_seen, 2);
    assert_int_equal (atomic_load (&s_registered), 0);

    /* Answer now: the next READY is welcomed, and nothing but READY came
       before (no PING before WELCOME). */
    b.answer_pings = true;
    expect_ready (&b, 1, 4);
    assert_int_equal (b.peers_seen, 3);
    assert_int_equal (b.pings, 0);
    wait_atomic (&s_registered, 1);

    /* ERROR(UNKNOWN_PEER): the broker forgot us; READY again from a new socket. */
    broker_send (&b, fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_UNKNOWN_PEER,
                                      FLING_CMD_PING, 0, "who are you"));
    expect_ready (&b, 1, 4);
    assert_int_equal (b.peers_seen, 4);
    wait_atomic (&s_registered, 2);

    /* Still works on the new socket. */
    batch_t *batch = batch_new ();
    results_t r = results_new ();
    batch_add (batch, 1, "t.block", "{}");
    broker_dispatch (&b, batch);
    broker_results (&b, &r, 1);
    assert_int_equal (r.outcome[1], FLING_OUTCOME_DONE);

    fling_worker_stats_t stats = stop_and_read_stats (&b, &runner, worker);
    assert_true (stats.reconnects >= 2);
    finish_test (&b, &worker, batch);
}

static void test_drain_timeout (void **state)
{
    static broker_t b; /* static: teardown may use it after a failure */
    static runner_t runner;
    fling_worker_t *worker = start_registered (&b, &runner, 1, 4, 200);

    batch_t *batch = batch_new ();
    batch_add (batch, 1, "t.block", "{\"ms\":700}");
    broker_dispatch (&b, batch);
    int64_t deadline = now_ms () + WAIT_MS;
    while (atomic_load (&s_block_started) == 0 && now_ms () < deadline)
        sleep_ms (1);
    int64_t stop_at = now_ms ();
    fling_worker_request_stop (worker);
    broker_expect (&b, FLING_CMD_CAPACITY);
    broker_expect (&b, FLING_CMD_BYE); /* no RESULT: the task never finished */
    runner_join (&runner, WAIT_MS);
    assert_int_equal (runner.rc, -1);
    int64_t took = now_ms () - stop_at;
    assert_true (took >= 150 && took < 600);
    fling_worker_destroy (&worker); /* abandons the stuck pool thread */

    /* The abandoned thread finishes its task and frees it on its own. */
    wait_atomic (&s_block_finished, 1);
    sleep_ms (50);
    free (batch);
    broker_stop (&b);
}

static void test_stop_before_run (void **state)
{
    static broker_t b; /* static: teardown may use it after a failure */
    broker_start (&b);
    fling_worker_t *worker = worker_new (&b, 1, 4, 2000);
    fling_worker_request_stop (worker);
    static runner_t runner;
    runner_start (&runner, worker);
    expect_ready (&b, 1, 4);
    /* CAPACITY(0, 0) if the WELCOME came before the stop was seen, then BYE */
    fling_msg_t *msg = broker_next (&b, WAIT_MS, false);
    assert_non_null (msg);
    if (msg->cmd == FLING_CMD_CAPACITY)
        msg = broker_next (&b, WAIT_MS, false);
    assert_non_null (msg);
    assert_int_equal (msg->cmd, FLING_CMD_BYE);
    runner_join (&runner, WAIT_MS);
    assert_int_equal (runner.rc, 0);
    assert_int_equal (fling_worker_run (worker), -1); /* once only */
    fling_worker_destroy (&worker);
    broker_stop (&b);
}

/* Throughput of the async path: no-op tasks, 1000 a DISPATCH, a window of
   DISPATCHes in flight as a broker with credit would keep. */
static void noop (fling_task_t *task, void *arg)
{
    fling_task_complete (task, FLING_OK);
}

static void test_async_throughput (void **state)
{
    enum { PER_BATCH = 1000, BATCHES = 200, WINDOW = 8 };
    static broker_t b; /* static: teardown may use it after a failure */
    broker_start (&b);
    fling_worker_options_t options;
    fling_worker_options_init (&options);
    options.endpoint = b.endpoint;
    options.name = "test-worker";
    options.async_limit = PER_BATCH * WINDOW;
    options.heartbeat_ms = 1000;
    fling_worker_t *worker = fling_worker_new (&options);
    assert_int_equal (fling_worker_register_async (worker, "t.noop", noop, NULL), 0);
    static runner_t runner;
    runner_start (&runner, worker);
    broker_expect (&b, FLING_CMD_READY);

    batch_t *batch = batch_new ();
    /* Every task has a (distant) deadline: the heap's cost is in the rate. */
    for (int i = 0; i < PER_BATCH; i++)
        batch_add_ex (batch, (uint64_t)i, 1, 60000, "t.noop", "{\"n\":1}");
    int64_t started = now_ms ();
    int sent = 0, results = 0;
    while (sent < BATCHES && sent < WINDOW) {
        broker_send (&b, fling_msg_dispatch (batch->count, batch->data, batch->size));
        sent++;
    }
    while (results < BATCHES * PER_BATCH) {
        fling_msg_t *msg = broker_expect (&b, FLING_CMD_RESULT);
        int before = results / PER_BATCH;
        results += (int)msg->count;
        for (int i = before; i < results / PER_BATCH && sent < BATCHES; i++, sent++)
            broker_send (&b, fling_msg_dispatch (batch->count, batch->data, batch->size));
    }
    int64_t took = now_ms () - started;
    double rate = took > 0 ? (double)results * 1000.0 / (double)took : 0;
    print_message ("async no-op: %d tasks in %lld ms = %.0f tasks/s (fake broker in-process)\n",
                   results, (long long)took, rate);
    /* Loose bound: sanitizer builds are several times slower. */
    assert_true (rate > 5000);

    stop_and_join (&b, &runner, worker);
    fling_worker_destroy (&worker);
    free (batch);
    broker_stop (&b);
}

/* Async tasks that complete on zloop timers: once the worker knows how long
   they take, it places a refill mark behind every 256 starts (fling_flight.c),
   so a group's slots are flushed and refilled as soon as its timers have
   fired, not once the whole clump of due timers has. Seen from the broker:
   no RESULT carries more than a mark's group, where one end-of-scan flush
   would carry every task whose timer fell due in the same millisecond. */
static int read_done (broker_t *b, int *largest)
{
    fling_msg_t *msg = broker_expect (b, FLING_CMD_RESULT);
    const uint8_t *cursor = msg->body, *end = msg->body + msg->body_size;
    fling_result_t result;
    fling_reason_t reason;
    while (fling_result_next (&cursor, end, &result, &reason) == 1)
        assert_int_equal (result.outcome, FLING_OUTCOME_DONE);
    if ((int)msg->count > *largest)
        *largest = (int)msg->count;
    return (int)msg->count;
}

static void run_async_wave (broker_t *b, batch_t *batch, uint64_t *seq, int tasks, int *largest)
{
    for (int i = 0; i < tasks; i++) {
        batch_add (batch, (*seq)++, "t.async", "{\"ms\":40}");
        if (batch->count == 512 || i == tasks - 1)
            broker_dispatch (b, batch); /* at most 1,000 tasks a DISPATCH */
    }
    for (int done = 0; done < tasks;)
        done += read_done (b, largest);
}

static void test_refill_marks (void **state)
{
    enum { SLOTS = 1024 };
    static broker_t b; /* static: teardown may use it after a failure */
    broker_start (&b);
    fling_worker_t *worker = worker_new_ex (&b, 1, SLOTS, 5000, 1);
    static runner_t runner;
    runner_start (&runner, worker);
    expect_registration (&b, 2, 2 * SLOTS);
    batch_t *batch = batch_new ();
    uint64_t seq = 1;
    int largest = 0;
    /* First the worker learns how long these tasks take. */
    run_async_wave (&b, batch, &seq, 256, &largest);
    /* Then all slots at once and as many waiting: every 40 ms timer of a
       wave falls due within a millisecond or two of the others. A loaded
       machine that stalls the loop for tens of ms skews what the worker
       learns: up to three tries, one must show the groups. */
    int tries = 0;
    do {
        largest = 0;
        run_async_wave (&b, batch, &seq, 2 * SLOTS, &largest);
        print_message ("refill marks: largest RESULT %d of %d tasks in flight\n", largest, SLOTS);
    } while (largest > 256 + 32 && ++tries < 3); /* a group, and what finished beside it */
    assert_true (largest > 0);
    assert_true (largest <= 256 + 32);
    assert_int_equal (atomic_load (&s_handler_errors), 0);
    fling_worker_stats_t stats = stop_and_read_stats (&b, &runner, worker);
    assert_int_equal (stats.done, 256 + (tries + 1) * 2 * SLOTS);
    finish_test (&b, &worker, batch);
}

/* ---- deadlines, stuck threads, HOLDING ------------------------------------ */

/* Prefetch 1: the worker asks for twice its slots, runs its slots' worth,
   and starts a waiting task the moment a slot frees, in arrival order. */
static void test_prefetch_backlog (void **state)
{
    static broker_t b; /* static: teardown may use it after a failure */
    broker_start (&b);
    fling_worker_t *worker = worker_new_ex (&b, 1, 2, 5000, 1);
    static runner_t runner;
    runner_start (&runner, worker);
    expect_registration (&b, 2, 4);

    /* Blocking, one thread: the second waits for the first. */
    batch_t *batch = batch_new ();
    results_t r = results_new ();
    batch_add (batch, 1, "t.block", "{\"ms\":200}");
    batch_add (batch, 2, "t.block", "{}");
    broker_dispatch (&b, batch);
    wait_atomic (&s_block_started, 1);
    sleep_ms (100);
    assert_int_equal (atomic_load (&s_block_started), 1);
    broker_results (&b, &r, 2);
    assert_int_equal (r.outcome[1], FLING_OUTCOME_DONE);
    assert_int_equal (r.outcome[2], FLING_OUTCOME_DONE);

    /* A waiting task's time limit runs from its start: 250 ms waiting plus
       100 ms running is within a 300 ms limit. */
    results_reset (&r);
    batch_add (batch, 3, "t.block", "{\"ms\":250}");
    batch_add_ex (batch, 4, 1, 300, "t.block", "{\"ms\":100}");
    broker_dispatch (&b, batch);
    broker_results (&b, &r, 2);
    assert_int_equal (r.outcome[3], FLING_OUTCOME_DONE);
    assert_int_equal (r.outcome[4], FLING_OUTCOME_DONE);

    /* One that cannot start within its limit goes back unrun, at once. */
    results_reset (&r);
    int started = atomic_load (&s_block_started);
    batch_add (batch, 5, "t.block", "{\"ms\":600}");
    batch_add_ex (batch, 6, 1, 100, "t.block", "{}");
    broker_dispatch (&b, batch);
    int64_t sent_at = now_ms ();
    broker_results (&b, &r, 1);
    assert_int_equal (r.outcome[6], FLING_OUTCOME_RELEASED);
    assert_true (now_ms () - sent_at < 500);
    broker_results (&b, &r, 2);
    assert_int_equal (r.outcome[5], FLING_OUTCOME_DONE);
    assert_int_equal (atomic_load (&s_block_started), started + 1);

    /* Async, limit 2: four 150 ms tasks run in two waves, in arrival order. */
    results_reset (&r);
    for (uint64_t seq = 7; seq <= 10; seq++)
        batch_add (batch, seq, "t.async", "{\"ms\":150}");
    sent_at = now_ms ();
    broker_dispatch (&b, batch);
    broker_results (&b, &r, 2);
    assert_int_equal (r.outcome[7], FLING_OUTCOME_DONE);
    assert_int_equal (r.outcome[8], FLING_OUTCOME_DONE);
    assert_int_equal (r.outcome[9], -1);
    assert_int_equal (r.outcome[10], -1);
    broker_results (&b, &r, 4);
    assert_true (now_ms () - sent_at >= 290);
    for (int seq = 7; seq <= 10; seq++)
        assert_int_equal (r.outcome[seq], FLING_OUTCOME_DONE);

    /* Drain: what waits goes back unrun, what runs finishes. */
    results_reset (&r);
    batch_add (batch, 11, "t.block", "{\"ms\":300}");
    batch_add (batch, 12, "t.block", "{}");
    for (uint64_t seq = 13; seq <= 16; seq++)
        batch_add (batch, seq, "t.async", "{\"ms\":200}");
    started = atomic_load (&s_block_started);
    broker_dispatch (&b, batch);
    wait_atomic (&s_block_started, started + 1);
    fling_worker_request_stop (worker);
    broker_expect (&b, FLING_CMD_CAPACITY);
    broker_results (&b, &r, 6);
    assert_outcomes (&r, 11, "DONE RELEASED DONE DONE RELEASED RELEASED");
    expect_bye_and_join (&b, &runner);
    fling_worker_stats_t stats; /* the loop has returned: safe to read */
    fling_worker_stats (worker, &stats);
    assert_int_equal (stats.released, 4);
    assert_int_equal (stats.running, 0);
    assert_int_equal (stats.waiting, 0);
    finish_test (&b, &worker, batch);
}

static void test_async_overrun (void **state)
{
    static broker_t b; /* static: teardown may use it after a failure */
    static runner_t runner;
    fling_worker_t *worker = start_registered (&b, &runner, 1, 8, 5000);

    /* Completes after 400 ms; the deadline is 100 ms. */
    batch_t *batch = batch_new ();
    results_t r = results_new ();
    batch_add_ex (batch, 1, 1, 100, "t.async", "{\"ms\":400}");
    batch_add_ex (batch, 2, 1, 5000, "t.async", "{\"ms\":20}"); /* in time */
    int64_t sent = now_ms ();
    broker_dispatch (&b, batch);
    broker_results (&b, &r, 2);
    int64_t took = now_ms () - sent;
    assert_int_equal (r.outcome[2], FLING_OUTCOME_DONE);
    assert_int_equal (r.outcome[1], FLING_OUTCOME_TIMEOUT);
    assert_non_null (strstr (r.error[1], "deadline"));
    assert_true (took >= 90 && took < 350);
    /* The late fling_task_complete (at 400 ms) sends nothing. */
    expect_quiet (&b, 500);

    fling_worker_stats_t stats = stop_and_read_stats (&b, &runner, worker);
    assert_int_equal (stats.timed_out, 1);
    assert_int_equal (stats.done, 1);
    assert_int_equal (stats.running, 0);
    finish_test (&b, &worker, batch);
}

/* Task `seq` hangs in its handler, far past its 100 ms limit. */
static void dispatch_hanging (broker_t *b, batch_t *batch, uint64_t seq)
{
    batch_add_ex (batch, seq, 1, 100, "t.block", "{\"do\":\"hang\"}");
    broker_dispatch (b, batch);
}

/* Task 1 hangs: its RESULT says TIMEOUT, and a new pool thread (its start
   hooks the second to run) takes the stuck one's place. */
static void hang_first_task (broker_t *b, batch_t *batch, results_t *r)
{
    dispatch_hanging (b, batch, 1);
    broker_results (b, r, 1);
    assert_int_equal (r->outcome[1], FLING_OUTCOME_TIMEOUT);
    wait_atomic (&s_hook_starts, 2);
}

static void test_blocking_overrun_replaces_thread (void **state)
{
    static broker_t b; /* static: teardown may use it after a failure */
    static runner_t runner;
    fling_worker_t *worker = start_registered (&b, &runner, 1, 4, 5000);
    wait_atomic (&s_hook_starts, 1);

    batch_t *batch = batch_new ();
    results_t r = results_new ();
    hang_first_task (&b, batch, &r);
    /* The replacement thread keeps the pool at 1: a second task runs while
       the first handler is still stuck. No CAPACITY. */
    batch_add_ex (batch, 2, 1, 5000, "t.block", "{}");
    broker_dispatch (&b, batch);
    broker_results (&b, &r, 2);
    assert_int_equal (r.outcome[2], FLING_OUTCOME_DONE);
    assert_int_equal (atomic_load (&s_block_finished), 1);

    /* The stuck handler returns: its outcome is dropped, its thread runs
       its stop hooks and ends. */
    atomic_store (&s_release_hang, 1);
    wait_atomic (&s_block_finished, 2);
    wait_atomic (&s_hook_stops, 1);
    expect_quiet (&b, 300);

    fling_worker_stats_t stats = stop_and_read_stats (&b, &runner, worker);
    assert_int_equal (stats.timed_out, 1);
    assert_int_equal (stats.done, 1);
    assert_int_equal (stats.stuck_threads, 0);
    finish_test (&b, &worker, batch);
    /* The destroy (in finish_test) ran the last thread's stop hooks. */
    assert_int_equal (atomic_load (&s_hook_starts), 2);
    assert_int_equal (atomic_load (&s_hook_stops), 2);
}

/* Reads messages until a RESULT for `seq` and a CAPACITY came, in any order. */
static void expect_timeout_and_capacity (broker_t *b, results_t *r, int seq, uint32_t pool,
                                         uint32_t loop)
{
    bool capacity = false;
    while (!capacity || r->outcome[seq] == -1) {
        fling_msg_t *msg = broker_next (b, WAIT_MS, false);
        if (!msg)
            fail_msg ("no RESULT %d / CAPACITY within %d ms", seq, WAIT_MS);
        if (msg->cmd == FLING_CMD_RESULT)
            results_read (r, msg);
        else if (msg->cmd == FLING_CMD_CAPACITY) {
            assert_false (capacity);
            assert_int_equal (msg->capacity[FLING_CLASS_POOL], pool);
            assert_int_equal (msg->capacity[FLING_CLASS_LOOP], loop);
            capacity = true;
        } else
            fail_msg ("unexpected %s", fling_cmd_name (msg->cmd));
    }
    assert_int_equal (r->outcome[seq], FLING_OUTCOME_TIMEOUT);
}

static void test_stuck_cap_reduces_capacity (void **state)
{
    static broker_t b; /* static: teardown may use it after a failure */
    static runner_t runner;
    fling_worker_t *worker = start_registered (&b, &runner, 1, 4, 5000);

    batch_t *batch = batch_new ();
    results_t r = results_new ();
    /* First stuck thread: replaced (cap = pool size = 1). */
    hang_first_task (&b, batch, &r);
    /* Second: above the cap, so no thread; CAPACITY(0, 4) instead. */
    dispatch_hanging (&b, batch, 2);
    expect_timeout_and_capacity (&b, &r, 2, 0, 4);
    /* One the broker sent anyway waits for a thread that never comes, and
       goes back unrun when its time limit passes (RELEASED: that attempt
       does not count). */
    batch_add_ex (batch, 3, 1, 100, "t.block", "{}");
    broker_dispatch (&b, batch);
    broker_results (&b, &r, 3);
    assert_int_equal (r.outcome[3], FLING_OUTCOME_RELEASED);
    assert_int_equal (atomic_load (&s_block_started), 2);
    expect_quiet (&b, 200);

    /* The stuck handlers return: a thread again, CAPACITY(1, 4). */
    atomic_store (&s_release_hang, 1);
    fling_msg_t *msg = broker_expect (&b, FLING_CMD_CAPACITY);
    assert_int_equal (msg->capacity[FLING_CLASS_POOL], 1);
    assert_int_equal (msg->capacity[FLING_CLASS_LOOP], 4);
    wait_atomic (&s_hook_stops, 2);
    wait_atomic (&s_hook_starts, 3);
    batch_add_ex (batch, 4, 1, 5000, "t.block", "{}");
    broker_dispatch (&b, batch);
    broker_results (&b, &r, 4);
    assert_int_equal (r.outcome[4], FLING_OUTCOME_DONE);

    fling_worker_stats_t stats = stop_and_read_stats (&b, &runner, worker);
    assert_int_equal (stats.timed_out, 2);
    assert_int_equal (stats.released, 1);
    assert_int_equal (stats.stuck_threads, 0);
    finish_test (&b, &worker, batch);
    /* The destroy (in finish_test) ran the last thread's stop hooks. */
    assert_int_equal (atomic_load (&s_hook_stops), 3);
}

static void test_holding_after_reregistration (void **state)
{
    static broker_t b; /* static: teardown may use it after a failure */
    static runner_t runner;
    fling_worker_t *worker = start_registered (&b, &runner, 1, 4, 5000);

    batch_t *batch = batch_new ();
    results_t r = results_new ();
    batch_add_ex (batch, 1, 3, 0, "t.block", "{\"ms\":700}");
    batch_add_ex (batch, 2, 1, 0, "t.async", "{\"ms\":700}");
    batch_add_ex (batch, 3, 1, 0, "t.async", "{}"); /* done before the reconnect */
    broker_dispatch (&b, batch);
    broker_results (&b, &r, 1);
    assert_int_equal (r.outcome[3], FLING_OUTCOME_DONE);
    wait_atomic (&s_block_started, 1);

    /* The broker forgot us: READY, WELCOME, then HOLDING naming both. */
    broker_send (&b, fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_UNKNOWN_PEER,
                                      FLING_CMD_PING, 0, "who are you"));
    expect_ready (&b, 1, 4);
    fling_msg_t *msg = broker_expect (&b, FLING_CMD_HOLDING);
    assert_int_equal (msg->count, 2);
    assert_int_equal (msg->body_size, 2 * FLING_LEASE_SIZE);
    const uint8_t *cursor = msg->body, *end = msg->body + msg->body_size;
    fling_task_id_t id;
    uint16_t attempt;
    int seen = 0;
    while (fling_lease_next (&cursor, end, &id, &attempt) == 1) {
        assert_int_equal (fling_task_id_producer (&id), PRODUCER_ID);
        uint64_t seq = fling_task_id_seq (&id);
        if (seq == 1)
            assert_int_equal (attempt, 3);
        else if (seq == 2)
            assert_int_equal (attempt, 1);
        else
            fail_msg ("unexpected lease %llu", (unsigned long long)seq);
        seen |= 1 << seq;
    }
    assert_int_equal (seen, 6);

    /* Their results follow on the new socket as usual. */
    broker_results (&b, &r, 3);
    assert_int_equal (r.outcome[1], FLING_OUTCOME_DONE);
    assert_int_equal (r.outcome[2], FLING_OUTCOME_DONE);

    fling_worker_stats_t stats = stop_and_read_stats (&b, &runner, worker);
    assert_int_equal (stats.holding_sent, 2);
    finish_test (&b, &worker, batch);
}


/* A READY refused for what it says is refused for good: the worker says
   why and stops, instead of registering again and again (SPEC.md §5.2). */
static void test_ready_refused (void **state)
{
    static broker_t b; /* static: teardown may use it after a failure */
    broker_start (&b);
    b.answer_pings = false;
    fling_worker_t *worker = worker_new (&b, 1, 4, 2000);
    static runner_t runner;
    runner_start (&runner, worker);
    expect_ready (&b, 1, 4);
    broker_send (&b, fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_BAD_TASK, FLING_CMD_READY,
                                      0, "READY names: a task name is empty"));
    runner_join (&runner, WAIT_MS);
    assert_int_equal (runner.rc, -1);
    expect_quiet (&b, 4 * HEARTBEAT_MS); /* no second READY, no PING */
    assert_int_equal (b.peers_seen, 1);
    assert_int_equal (b.pings, 0);
    assert_int_equal (atomic_load (&s_registered), 0);
    fling_worker_destroy (&worker);
    broker_stop (&b);
}

/* An FLP/1 broker answers READY with BAD_VERSION in the FLP/1 layout: final
   too, with the reason, instead of a READY every 3 heartbeats for ever. */
static void test_ready_bad_version (void **state)
{
    static broker_t b; /* static: teardown may use it after a failure */
    broker_start (&b);
    b.answer_pings = false;
    fling_worker_t *worker = worker_new (&b, 1, 4, 2000);
    static runner_t runner;
    runner_start (&runner, worker);
    expect_ready (&b, 1, 4);
    broker_send (&b, fling_msg_error (1, FLING_REASON_BAD_VERSION, 0, 0,
                                      "unsupported protocol version"));
    runner_join (&runner, WAIT_MS);
    assert_int_equal (runner.rc, -1);
    expect_quiet (&b, 4 * HEARTBEAT_MS);
    assert_int_equal (b.peers_seen, 1);
    fling_worker_destroy (&worker);
    broker_stop (&b);
}

/* UNAVAILABLE is the broker's want, not ours: READY again later. */
static void test_ready_unavailable_retries (void **state)
{
    static broker_t b; /* static: teardown may use it after a failure */
    broker_start (&b);
    b.answer_pings = false;
    fling_worker_t *worker = worker_new (&b, 1, 4, 2000);
    static runner_t runner;
    runner_start (&runner, worker);
    expect_ready (&b, 1, 4);
    broker_send (&b, fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_UNAVAILABLE,
                                      FLING_CMD_READY, 0, "out of memory"));
    b.answer_pings = true;
    expect_ready (&b, 1, 4);
    wait_atomic (&s_registered, 1);
    batch_t *batch = batch_new ();
    stop_and_join (&b, &runner, worker);
    finish_test (&b, &worker, batch);
}

/* The broker's heartbeat bounds ours: a worker configured for 10 s pings
   at the 100 ms the broker announced, so the broker never drops it. */
static void test_follows_broker_heartbeat (void **state)
{
    static broker_t b; /* static: teardown may use it after a failure */
    broker_start (&b);
    b.welcome_heartbeat_ms = 100;
    fling_worker_options_t options;
    fling_worker_options_init (&options);
    options.endpoint = b.endpoint;
    options.name = "test-worker";
    options.heartbeat_ms = 10000;
    fling_worker_t *worker = fling_worker_new (&options);
    assert_non_null (worker);
    assert_int_equal (fling_worker_register_async (worker, "t.async", handle_async, NULL), 0);
    static runner_t runner;
    runner_start (&runner, worker);
    broker_expect (&b, FLING_CMD_READY);
    int64_t started = now_ms ();
    expect_quiet (&b, 1000);
    int64_t took = now_ms () - started;
    /* a PING per half interval while idle: ~20 in a second; 4 leaves room
       for a loaded machine, and 10 s would have given none */
    if (b.pings < 4)
        fail_msg ("%d PINGs in %lld ms: the announced 100 ms heartbeat is not followed", b.pings,
                  (long long)took);
    fling_worker_request_stop (worker);
    broker_expect (&b, FLING_CMD_CAPACITY);
    expect_bye_and_join (&b, &runner);
    fling_worker_destroy (&worker);
    broker_stop (&b);
}

/* A RESULT stays with the worker until a RESULT_ACK covers it: after a
   reconnect it is sent again, same result_seq, same results; once
   acknowledged it is never sent again. A drain waits for the ack. */
static void test_results_kept_until_acked (void **state)
{
    static broker_t b; /* static: teardown may use it after a failure */
    static runner_t runner;
    fling_worker_t *worker = start_registered (&b, &runner, 1, 4, 5000);
    b.ack_results = false;
    batch_t *batch = batch_new ();
    results_t r = results_new ();
    batch_add (batch, 1, "t.async", "{}");
    batch_add (batch, 2, "t.block", "{}");
    broker_dispatch (&b, batch);
    broker_results (&b, &r, 2);
    uint64_t last_seq = b.result_seq;
    assert_true (last_seq >= 1);

    /* The broker forgot us before acknowledging: after the new WELCOME,
       the same RESULTs again. */
    broker_send (&b, fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_UNKNOWN_PEER,
                                      FLING_CMD_PING, 0, "who are you"));
    expect_ready (&b, 1, 4);
    results_reset (&r);
    broker_results (&b, &r, 2);
    assert_true (b.result_seq == last_seq);
    assert_outcomes (&r, 1, "DONE DONE");

    /* Acknowledged now: a later reconnect sends nothing again. */
    broker_send (&b, fling_msg_result_ack (last_seq));
    broker_send (&b, fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_UNKNOWN_PEER,
                                      FLING_CMD_PING, 0, "who are you"));
    expect_ready (&b, 1, 4);
    expect_quiet (&b, 3 * HEARTBEAT_MS / 2);

    /* A drain ends with BYE only once its last RESULT is acknowledged. */
    batch_add (batch, 3, "t.async", "{}");
    broker_dispatch (&b, batch);
    results_reset (&r);
    broker_results (&b, &r, 1);
    fling_worker_request_stop (worker);
    broker_expect (&b, FLING_CMD_CAPACITY);
    expect_quiet (&b, 2 * HEARTBEAT_MS);
    broker_send (&b, fling_msg_result_ack (b.result_seq));
    fling_worker_stats_t stats;
    expect_bye_and_join (&b, &runner);
    fling_worker_stats (worker, &stats);
    assert_int_equal (stats.results_resent, 2);
    assert_int_equal (stats.results_unacked, 0);
    assert_int_equal (stats.results_forgotten, 0);
    finish_test (&b, &worker, batch);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_registration_errors),
        cmocka_unit_test_teardown (test_tasks_results_heartbeats_drain, teardown_worker),
        cmocka_unit_test_teardown (test_reconnects, teardown_worker),
        cmocka_unit_test_teardown (test_drain_timeout, teardown_worker),
        cmocka_unit_test_teardown (test_stop_before_run, teardown_worker),
        cmocka_unit_test_teardown (test_async_throughput, teardown_worker),
        cmocka_unit_test_teardown (test_prefetch_backlog, teardown_worker),
        cmocka_unit_test_teardown (test_refill_marks, teardown_worker),
        cmocka_unit_test_teardown (test_async_overrun, teardown_worker),
        cmocka_unit_test_teardown (test_blocking_overrun_replaces_thread, teardown_worker),
        cmocka_unit_test_teardown (test_stuck_cap_reduces_capacity, teardown_worker),
        cmocka_unit_test_teardown (test_holding_after_reregistration, teardown_worker),
        cmocka_unit_test_teardown (test_ready_refused, teardown_worker),
        cmocka_unit_test_teardown (test_ready_bad_version, teardown_worker),
        cmocka_unit_test_teardown (test_ready_unavailable_retries, teardown_worker),
        cmocka_unit_test_teardown (test_follows_broker_heartbeat, teardown_worker),
        cmocka_unit_test_teardown (test_results_kept_until_acked, teardown_worker),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
