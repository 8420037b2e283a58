/*  test_broker_input.c - a real broker (broker/fling_broker.c) in a thread,
    fed by raw DEALER sockets: hostile and malformed input must be refused
    with the right reason (or dropped), counted, and never stop the broker;
    and the basic flows work: SUBMIT -> ACK, READY -> DISPATCH -> RESULT,
    duplicates, retries, released tasks, stale results, limits, a worker
    that goes silent or away. Every wait is bounded by a zpoller timeout.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "broker_fixture.h"
#include "fling_log.h"

#define WAIT_MS    2000 /* a reply that should come comes well within this */
#define SILENCE_MS 200  /* a reply that should not come has had this long */

typedef fixture_t ctx_t; /* the broker under test and its producer, admin sockets */

/* ---- broker in a thread ------------------------------------------------- */

static ctx_t *start_broker (void (*tune) (fling_broker_config_t *))
{
    ctx_t *ctx = fixture_new (WAIT_MS);
    if (tune)
        tune (&ctx->config);
    fling_log_init ("broker", FLING_LOG_ERROR); /* refusals are expected here */
    fixture_launch (ctx);
    assert_null (fling_broker_endpoint (ctx->broker, "other"));
    assert_non_null (strstr (fling_broker_endpoint (ctx->broker, "producer"), "tcp://127.0.0.1:"));
    return ctx;
}

static int setup (void **state)
{
    *state = start_broker (NULL);
    return 0;
}

static int teardown (void **state)
{
    ctx_t *ctx = (ctx_t *)*state;
    fixture_destroy (&ctx);
    return 0;
}

/* ---- messages ----------------------------------------------------------- */

static void expect_error (zsock_t *sock, fling_reason_t reason)
{
    fling_msg_t decoded;
    zmsg_t *msg = fixture_expect (sock, FLING_CMD_ERROR, &decoded, WAIT_MS);
    if (decoded.reason != reason)
        fail_msg ("ERROR %s, expected %s", fling_reason_name (decoded.reason),
                  fling_reason_name (reason));
    assert_true (decoded.text_size > 0);
    zmsg_destroy (&msg);
}

/* Nothing but RESULT_ACKs (the broker's receipts for RESULTs, which come
   whenever a turn applied some) for SILENCE_MS. */
static void expect_silence (zsock_t *sock)
{
    zmsg_t *msg;
    while ((msg = fixture_recv (sock, SILENCE_MS))) {
        fling_msg_t decoded;
        fling_reason_t reason;
        bool receipt =
            fling_msg_decode (msg, &decoded, &reason) == 0 && decoded.cmd == FLING_CMD_RESULT_ACK;
        zmsg_destroy (&msg);
        if (!receipt)
            fail_msg ("unexpected reply");
    }
}

/* No DISPATCH for SILENCE_MS. Other messages may come: a worker that holds
   tasks and says nothing is probed with PINGs (SPEC.md 6.1), and its
   RESULTs are acknowledged. */
static void expect_no_dispatch (zsock_t *sock)
{
    for (int64_t end = fling_clock_ms () + SILENCE_MS; fling_clock_ms () < end;) {
        fling_msg_t decoded;
        zmsg_t *msg = fixture_recv_decoded (sock, 20, &decoded);
        if (!msg)
            continue;
        zmsg_destroy (&msg);
        if (decoded.cmd == FLING_CMD_DISPATCH)
            fail_msg ("unexpected DISPATCH");
    }
}

/* A message of raw frames: header bytes, then (data, size) pairs. */
static void send_raw (zsock_t *sock, const char *header, size_t header_size, size_t extra_frames,
                      ...)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, header, header_size);
    va_list args;
    va_start (args, extra_frames);
    for (size_t i = 0; i < extra_frames; i++) {
        const void *data = va_arg (args, const void *);
        size_t size = va_arg (args, size_t);
        zmsg_addmem (msg, data, size);
    }
    va_end (args);
    fixture_send (sock, msg);
}

/* ---- the fixture's producer and workers ------------------------------------ */

/* Waits for the ACK of `batch_seq`: `count` statuses, every one `status`. */
static void expect_ack (ctx_t *ctx, uint64_t batch_seq, size_t count, fling_reason_t status)
{
    assert_int_equal (fixture_ack_count (ctx, batch_seq, status), count);
}

static zsock_t *worker_ready (ctx_t *ctx, const char *name, uint32_t loop_capacity)
{
    return fixture_worker (ctx, name, 0, loop_capacity, NULL, NULL, NULL);
}

typedef struct {
    fixture_lease_t items[FLING_BATCH_TASKS_MAX];
    size_t count;
} leased_t;

/* Receives DISPATCHes until `count` tasks have arrived (more is a failure). */
static void expect_tasks (zsock_t *worker, leased_t *leased, size_t count)
{
    leased->count = 0;
    while (leased->count < count) {
        fling_msg_t dispatch;
        zmsg_t *msg = fixture_expect (worker, FLING_CMD_DISPATCH, &dispatch, WAIT_MS);
        fixture_leases (&dispatch, leased->items, &leased->count, count);
        zmsg_destroy (&msg);
    }
}

static void send_results (zsock_t *worker, const leased_t *leased, fling_outcome_t outcome)
{
    fixture_results (worker, leased->items, leased->count, outcome, "boom");
}

/* ---- hostile input ------------------------------------------------------ */

static const char HEADER_PING[4] = {'F', 'L', FLING_PROTO_VERSION, FLING_CMD_PING};

static void test_producer_socket_bad_input (void **state)
{
    ctx_t *ctx = (ctx_t *)*state;
    zsock_t *p = ctx->producer;

    send_raw (p, "", 0, 0); /* empty: no signature, dropped */
    expect_silence (p);
    send_raw (p, "XL\x01\x03", 4, 0); /* bad signature: dropped */
    expect_silence (p);
    send_raw (p, "FL\x04\x03", 4, 0); /* version 4: none spoken */
    expect_error (p, FLING_REASON_BAD_VERSION);
    send_raw (p, "FL\x01\x63", 4, 0);
    expect_error (p, FLING_REASON_BAD_COMMAND);
    send_raw (p, HEADER_PING, 4, 1, "x", (size_t)1); /* PING has no frames */
    expect_error (p, FLING_REASON_MALFORMED);
    static const char submit_header[4] = {'F', 'L', 1, FLING_CMD_SUBMIT};
    send_raw (p, submit_header, 4, 2, "12345678901", (size_t)11, "", (size_t)0);
    expect_error (p, FLING_REASON_MALFORMED); /* truncated fields */

    uint8_t buf[256];
    size_t size = fixture_records (buf, 1, 1, "email", 0);
    buf[33] = '/'; /* a byte not allowed in a name: that task is refused */
    fixture_send (p, fling_msg_submit (1, 1, buf, size));
    expect_ack (ctx, 1, 1, FLING_REASON_BAD_TASK);

    zmsg_t *many = zmsg_new ();
    zmsg_addmem (many, HEADER_PING, 4);
    for (int i = 1; i < FLING_FRAMES_MAX + 1; i++)
        zmsg_addmem (many, "f", 1);
    assert_int_equal (zmsg_size (many), FLING_FRAMES_MAX + 1);
    fixture_send (p, many);
    expect_error (p, FLING_REASON_MALFORMED);

    uint32_t capacity[FLING_CLASS_COUNT] = {1, 1};
    const char *names[] = {"email"};
    fling_class_t classes[] = {FLING_CLASS_LOOP};
    fixture_send (p, fling_msg_ready (capacity, NULL, 1, "w", 1, names, classes));
    expect_error (p, FLING_REASON_BAD_STATE); /* worker command, producer socket */
    fixture_send (p, fling_msg_bye ());
    expect_error (p, FLING_REASON_BAD_STATE); /* BYE too */
    fixture_send (p, fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_MALFORMED, 0, 0, "x"));
    expect_silence (p); /* an ERROR is never answered */

    /* Still serving: a valid SUBMIT is accepted, PING answered. */
    fixture_submit (ctx, 7, 100, 3, "email", 0);
    expect_ack (ctx, 7, 3, FLING_REASON_OK);
    fixture_send (p, fling_msg_ping ());
    fling_msg_t pong;
    zmsg_t *msg = fixture_expect (p, FLING_CMD_PONG, &pong, WAIT_MS);
    zmsg_destroy (&msg);

    assert_int_equal (fixture_stat (ctx, "refused", "EMPTY"), -1);
    assert_int_equal (fixture_stat (ctx, "refused", "BAD_SIGNATURE"), 2);
    assert_int_equal (fixture_stat (ctx, "refused", "BAD_VERSION"), 1);
    assert_int_equal (fixture_stat (ctx, "refused", "BAD_COMMAND"), 1);
    assert_int_equal (fixture_stat (ctx, "refused", "MALFORMED"), 3);
    assert_int_equal (fixture_stat (ctx, "refused", "BAD_TASK"), -1);
    assert_int_equal (fixture_stat (ctx, "rejected", "BAD_TASK"), 1);
    assert_int_equal (fixture_stat (ctx, "refused", "BAD_STATE"), 2);
    assert_int_equal (fixture_stat (ctx, NULL, "tasks"), 3);
    assert_int_equal (fixture_stat (ctx, "counters", "accepted"), 3);
}

static void test_worker_socket_bad_input (void **state)
{
    ctx_t *ctx = (ctx_t *)*state;
    zsock_t *w = fixture_dealer (ctx, "worker");
    leased_t fake = {.count = 1};
    fling_task_id_make (&fake.items[0].id, 1, 1);
    fake.items[0].attempt = 1;
    send_results (w, &fake, FLING_OUTCOME_DONE);
    expect_error (w, FLING_REASON_UNKNOWN_PEER);
    fixture_send (w, fling_msg_ping ());
    expect_error (w, FLING_REASON_UNKNOWN_PEER);
    uint32_t capacity[FLING_CLASS_COUNT] = {0, 0};
    fixture_send (w, fling_msg_capacity (capacity, NULL));
    expect_error (w, FLING_REASON_UNKNOWN_PEER);
    fixture_send (w, fling_msg_bye ());
    expect_silence (w);
    uint8_t buf[256];
    size_t size = fixture_records (buf, 1, 1, "email", 0);
    fixture_send (w, fling_msg_submit (1, 1, buf, size));
    expect_error (w, FLING_REASON_BAD_STATE); /* producer command, worker socket */
    fixture_send (w, fling_msg_admin ("{\"op\":\"stats\"}"));
    expect_error (w, FLING_REASON_BAD_STATE);
    send_raw (w, "", 0, 0);
    expect_silence (w);

    assert_int_equal (fixture_stat (ctx, "refused", "UNKNOWN_PEER"), 3);
    assert_int_equal (fixture_stat (ctx, "refused", "BAD_STATE"), 2);
    assert_int_equal (fixture_stat (ctx, "refused", "BAD_SIGNATURE"), 1);
    zsock_destroy (&w);

    /* A registered worker gets PONG, and a RESULT for a task it does not
       hold is only counted. */
    zsock_t *good = worker_ready (ctx, "good", 10);
    send_results (good, &fake, FLING_OUTCOME_DONE);
    fixture_wait_stat (ctx, "counters", "stale_results", 1);
    zsock_destroy (&good);
}

static void test_admin_bad_requests (void **state)
{
    ctx_t *ctx = (ctx_t *)*state;
    static const char *requests[] = {"not json", "[1,2]", "{\"op\":\"nope\"}", "{\"op\":1}",
                                     "{\"op\":\"stats\",\"op\":\"stats\"}"};
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        fixture_send (ctx->admin, fling_msg_admin (requests[i]));
        fling_msg_t reply;
        zmsg_t *msg = fixture_expect (ctx->admin, FLING_CMD_ADMIN_REPLY, &reply, WAIT_MS);
        json_t *root = json_loadb (reply.text, reply.text_size, 0, NULL);
        assert_non_null (root);
        assert_true (json_is_string (json_object_get (root, "error")));
        json_decref (root);
        zmsg_destroy (&msg);
    }
    json_t *root = fixture_stats (ctx);
    json_t *store = json_object_get (root, "store");
    assert_string_equal (json_string_value (json_object_get (store, "kind")), "memory");
    assert_false (json_is_true (json_object_get (store, "failed")));
    assert_int_equal (json_integer_value (json_object_get (root, "dead")), 0);
    assert_true (json_is_integer (json_object_get (root, "uptime_ms")));
    assert_true (json_is_array (json_object_get (root, "queues")));
    assert_true (json_is_array (json_object_get (root, "workers")));
    json_decref (root);
}

/* ---- flows -------------------------------------------------------------- */

static void test_submit_dispatch_done (void **state)
{
    ctx_t *ctx = (ctx_t *)*state;
    zsock_t *worker = worker_ready (ctx, "w1", 100);
    fixture_submit (ctx, 1, 1, 10, "email", 0);
    expect_ack (ctx, 1, 10, FLING_REASON_OK);
    leased_t leased;
    expect_tasks (worker, &leased, 10);
    for (size_t i = 0; i < leased.count; i++)
        assert_int_equal (leased.items[i].attempt, 1);

    /* The producer resends the batch (lost ACK): nothing doubles. */
    fixture_submit (ctx, 1, 1, 10, "email", 0);
    expect_ack (ctx, 1, 10, FLING_REASON_DUPLICATE);
    assert_int_equal (fixture_stat (ctx, NULL, "tasks"), 10);
    assert_int_equal (fixture_stat (ctx, "counters", "duplicates"), 10);

    send_results (worker, &leased, FLING_OUTCOME_DONE);
    /* The receipt: the RESULT is applied and stored (FLP/1.1). */
    fling_msg_t receipt;
    zmsg_t *ack = fixture_expect (worker, FLING_CMD_RESULT_ACK, &receipt, WAIT_MS);
    assert_true (receipt.batch_seq > 0);
    zmsg_destroy (&ack);
    fixture_wait_stat (ctx, "counters", "done", 10);
    assert_int_equal (fixture_stat (ctx, NULL, "tasks"), 0);
    assert_int_equal (fixture_stat (ctx, NULL, "bytes"), 0);
    assert_int_equal (fixture_stat (ctx, "counters", "dispatched"), 10);

    json_t *root = fixture_stats (ctx);
    json_t *queue = json_array_get (json_object_get (root, "queues"), 0);
    assert_string_equal (json_string_value (json_object_get (queue, "name")), "email");
    assert_int_equal (json_integer_value (json_object_get (queue, "done")), 10);
    assert_int_equal (json_integer_value (json_object_get (queue, "inflight")), 0);
    json_t *w = json_array_get (json_object_get (root, "workers"), 0);
    assert_string_equal (json_string_value (json_object_get (w, "name")), "w1");
    assert_int_equal (json_integer_value (json_object_get (w, "pid")), 4242);
    assert_int_equal (json_integer_value (json_object_get (w, "done")), 10);
    assert_int_equal (
        json_integer_value (json_object_get (json_object_get (w, "capacity"), "loop")), 100);
    json_decref (root);

    /* Late duplicate RESULTs are stale, not a second completion. */
    send_results (worker, &leased, FLING_OUTCOME_DONE);
    fixture_wait_stat (ctx, "counters", "stale_results", 10);
    fixture_send (worker, fling_msg_bye ());
    fixture_wait_stat (ctx, NULL, "tasks", 0);
    zsock_destroy (&worker);
}

static void test_retry_release_fail (void **state)
{
    ctx_t *ctx = (ctx_t *)*state;
    zsock_t *worker = worker_ready (ctx, "w1", 10);
    fixture_submit (ctx, 1, 1, 1, "email", 2); /* at most 2 runs */
    expect_ack (ctx, 1, 1, FLING_REASON_OK);
    leased_t leased;
    expect_tasks (worker, &leased, 1);
    assert_int_equal (leased.items[0].attempt, 1);

    /* A stale attempt number changes nothing. */
    leased.items[0].attempt = 7;
    send_results (worker, &leased, FLING_OUTCOME_DONE);
    fixture_wait_stat (ctx, "counters", "stale_results", 1);
    leased.items[0].attempt = 1;

    send_results (worker, &leased, FLING_OUTCOME_RELEASED); /* never ran */
    expect_tasks (worker, &leased, 1);
    assert_int_equal (leased.items[0].attempt, 1);
    send_results (worker, &leased, FLING_OUTCOME_FAIL);
    expect_tasks (worker, &leased, 1);
    assert_int_equal (leased.items[0].attempt, 2);
    send_results (worker, &leased, FLING_OUTCOME_RETRY);
    fixture_wait_stat (ctx, "counters", "failed", 1);
    assert_int_equal (fixture_stat (ctx, "counters", "retried"), 1);
    assert_int_equal (fixture_stat (ctx, "counters", "requeued"), 1);
    /* Out of attempts: held in the dead-letter queue, not run again. */
    assert_int_equal (fixture_stat (ctx, NULL, "tasks"), 1);
    assert_int_equal (fixture_stat (ctx, NULL, "dead"), 1);
    assert_int_equal (fixture_stat (ctx, "counters", "dead_lettered"), 1);
    expect_silence (worker);
    zsock_destroy (&worker);
}

/* Two idle workers share a batch; a worker at its capacity gets nothing. */
static void test_dispatch_spreads_by_credit (void **state)
{
    ctx_t *ctx = (ctx_t *)*state;
    zsock_t *a = worker_ready (ctx, "a", 4);
    zsock_t *b = worker_ready (ctx, "b", 4);
    fixture_submit (ctx, 1, 1, 6, "email", 0);
    expect_ack (ctx, 1, 6, FLING_REASON_OK);
    leased_t got_a, got_b;
    expect_tasks (a, &got_a, 3);
    expect_tasks (b, &got_b, 3);

    /* 4 more: each worker has 1 free slot; 2 stay queued. */
    fixture_submit (ctx, 2, 100, 4, "email", 0);
    expect_ack (ctx, 2, 4, FLING_REASON_OK);
    expect_tasks (a, &got_a, 1);
    expect_tasks (b, &got_b, 1);
    expect_no_dispatch (a);
    fixture_wait_stat (ctx, NULL, "tasks", 10);

    /* Draining (capacity 0): a's freed slot is not refilled; b's is. */
    uint32_t none[FLING_CLASS_COUNT] = {0, 0};
    fixture_send (a, fling_msg_capacity (none, NULL));
    send_results (a, &got_a, FLING_OUTCOME_DONE);
    fixture_wait_stat (ctx, "counters", "done", 1);
    expect_no_dispatch (a);
    send_results (b, &got_b, FLING_OUTCOME_DONE);
    expect_tasks (b, &got_b, 1);
    expect_no_dispatch (a);
    assert_int_equal (fixture_stat (ctx, NULL, "tasks"), 8);
    zsock_destroy (&a);
    zsock_destroy (&b);
}

static void short_worker_timeout (fling_broker_config_t *config)
{
    config->worker_timeout_ms = 300;
}

static void test_silent_worker_is_lost (void **state)
{
    ctx_t *ctx = start_broker (short_worker_timeout);
    zsock_t *silent = worker_ready (ctx, "silent", 10);
    fixture_submit (ctx, 1, 1, 3, "email", 0);
    expect_ack (ctx, 1, 3, FLING_REASON_OK);
    leased_t leased;
    expect_tasks (silent, &leased, 3);

    zsock_t *alive = fixture_dealer (ctx, "worker");
    uint32_t capacity[FLING_CLASS_COUNT] = {0};
    capacity[FLING_CLASS_LOOP] = 10;
    const char *names[] = {"email"};
    fling_class_t classes[] = {FLING_CLASS_LOOP};
    fixture_send (alive, fling_msg_ready (capacity, NULL, 1, "alive", 1, names, classes));
    /* Keep `alive` alive with PINGs until the silent worker's tasks arrive,
       still counted as their first run's attempt + 1. */
    size_t got = 0;
    for (int64_t deadline = fling_clock_ms () + 3000; got < 3 && fling_clock_ms () < deadline;) {
        fixture_send (alive, fling_msg_ping ());
        zmsg_t *msg = fixture_recv (alive, 50);
        fling_msg_t decoded;
        fling_reason_t reason;
        if (!msg)
            continue;
        assert_int_equal (fling_msg_decode (msg, &decoded, &reason), 0);
        if (decoded.cmd == FLING_CMD_DISPATCH) {
            const uint8_t *cursor = decoded.body, *end = decoded.body + decoded.body_size;
            fling_record_t record;
            while (fling_record_next (&cursor, end, &record, &reason) == 1) {
                assert_int_equal (record.attempt, 2);
                got++;
            }
        }
        zmsg_destroy (&msg);
    }
    assert_int_equal (got, 3);
    assert_int_equal (fixture_stat (ctx, "counters", "worker_lost"), 1);
    assert_int_equal (fixture_stat (ctx, "counters", "requeued"), 3);
    zsock_destroy (&silent);
    zsock_destroy (&alive);
    fixture_destroy (&ctx);
}

static void small_limits (fling_broker_config_t *config)
{
    config->max_queue_tasks = 5;
    config->max_tasks = 8;
}

static void test_limits (void **state)
{
    ctx_t *ctx = start_broker (small_limits);
    fixture_submit (ctx, 1, 1, 5, "email", 0);
    expect_ack (ctx, 1, 5, FLING_REASON_OK);
    fixture_submit (ctx, 2, 10, 2, "email", 0);
    expect_ack (ctx, 2, 2, FLING_REASON_QUEUE_FULL); /* per queue */
    fixture_submit (ctx, 3, 20, 3, "sms", 0);
    expect_ack (ctx, 3, 3, FLING_REASON_OK);
    fixture_submit (ctx, 4, 30, 1, "push", 0);
    expect_ack (ctx, 4, 1, FLING_REASON_QUEUE_FULL); /* all queues */
    assert_int_equal (fixture_stat (ctx, "counters", "rejected"), 3);
    assert_int_equal (fixture_stat (ctx, NULL, "tasks"), 8);
    fixture_destroy (&ctx);
}

static void test_vanished_worker_is_unroutable (void **state)
{
    ctx_t *ctx = (ctx_t *)*state;
    zsock_t *gone = worker_ready (ctx, "gone", 10);
    zsock_destroy (&gone);
    zclock_sleep (300); /* let the broker's ROUTER see the disconnect */
    fixture_submit (ctx, 1, 1, 2, "email", 0);
    expect_ack (ctx, 1, 2, FLING_REASON_OK);
    fixture_wait_stat (ctx, "counters", "router_unroutable", 1);
    json_t *root = fixture_stats (ctx);
    assert_int_equal (json_array_size (json_object_get (root, "workers")), 0);
    json_t *queue = json_array_get (json_object_get (root, "queues"), 0);
    assert_int_equal (json_integer_value (json_object_get (queue, "queued")), 2);
    json_decref (root);

    /* A new worker gets them, as first attempts: they were never delivered. */
    zsock_t *worker = worker_ready (ctx, "w2", 10);
    leased_t leased;
    expect_tasks (worker, &leased, 2);
    assert_int_equal (leased.items[0].attempt, 1);
    zsock_destroy (&worker);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_producer_socket_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown (test_worker_socket_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown (test_admin_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown (test_submit_dispatch_done, setup, teardown),
        cmocka_unit_test_setup_teardown (test_retry_release_fail, setup, teardown),
        cmocka_unit_test_setup_teardown (test_dispatch_spreads_by_credit, setup, teardown),
        cmocka_unit_test_setup_teardown (test_vanished_worker_is_unroutable, setup, teardown),
        cmocka_unit_test (test_silent_worker_is_lost),
        cmocka_unit_test (test_limits),
    };
    return cmocka_run_group_tests_name ("broker_input", tests, NULL, NULL);
}
