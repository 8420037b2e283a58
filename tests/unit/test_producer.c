/*  test_producer.c - the producer library end to end against the fake
    broker (fake_broker.h, serving on a thread of this test): batching, ACK statuses, flush, a
   broker that is absent or silent, resends, signal dispositions, many threads, destroy.

    Every wait is bounded; ports are picked free at run time.
*/
/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_broker.h"
#include "fling_error.h"
#include "fling_log.h"
#include "fling_producer.h"
#include "fling_proto.h"

#define PAYLOAD "{\"to\":\"someone@example.com\",\"subject\":\"hello\",\"n\":42}"

/* ---- the fake broker, serving (fake_broker.h) ------------------------------- */

static fake_broker_t *broker_new (int port, fake_mode_t mode)
{
    fake_broker_t *broker = fake_broker_new (port);
    fake_broker_serve (broker, mode);
    return broker;
}

/* A port nothing listens on: a fake broker bound it and let it go. */
static int free_port (void)
{
    fake_broker_t *probe = fake_broker_new (0);
    int port = probe->port;
    fake_broker_destroy (&probe);
    return port;
}

/* ---- producer helpers ------------------------------------------------------- */

typedef struct {
    atomic_uint accepted, rejected, dropped, queue_full, closed;
} acks_t;

static void count_ack (const char *task_id, fling_ack_t ack, int err, void *arg)
{
    acks_t *acks = (acks_t *)arg;
    fling_task_id_t id;
    if (fling_task_id_parse (&id, task_id) != 0)
        return; /* counted nowhere: the test sees the shortfall */
    if (ack == FLING_ACK_ACCEPTED && err == 0)
        atomic_fetch_add (&acks->accepted, 1);
    if (ack == FLING_ACK_REJECTED)
        atomic_fetch_add (&acks->rejected, 1);
    if (ack == FLING_ACK_REJECTED && err == FLING_EQUEUEFULL)
        atomic_fetch_add (&acks->queue_full, 1);
    if (ack == FLING_ACK_DROPPED)
        atomic_fetch_add (&acks->dropped, 1);
    if (ack == FLING_ACK_DROPPED && err == FLING_ECLOSED)
        atomic_fetch_add (&acks->closed, 1);
}

static fling_producer_options_t options_for (int port, acks_t *acks)
{
    static char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    fling_producer_options_t options;
    fling_producer_options_init (&options);
    options.endpoint = endpoint;
    options.heartbeat_ms = 100;
    options.ack_timeout_ms = 500;
    options.linger_ms = 1000;
    options.ack_fn = acks ? count_ack : NULL;
    options.ack_arg = acks;
    return options;
}

static fling_producer_t *producer_new (const fling_producer_options_t *options)
{
    fling_producer_t *producer = fling_producer_new (options);
    if (!producer)
        fail_msg ("fling_producer_new: %s", fling_strerror (errno));
    return producer;
}

static fling_producer_stats_t stats_of (fling_producer_t *producer)
{
    fling_producer_stats_t stats;
    fling_producer_stats (producer, &stats);
    return stats;
}

/* ---- tests ------------------------------------------------------------------ */

static volatile sig_atomic_t own_handler_ran;
static void own_sigint_handler (int sig)
{
    (void)sig;
    own_handler_ran = 1;
}

/* Runs first, before anything in the process has started czmq. */
static void test_signal_dispositions_kept (void **state)
{
    (void)state;
    struct sigaction own = {.sa_handler = own_sigint_handler}, now;
    sigemptyset (&own.sa_mask);
    sigaction (SIGINT, &own, NULL);
    sigaction (SIGTERM, NULL, &now);
    assert_true (now.sa_handler == SIG_DFL);

    /* Port 1: nothing listens, and no test socket has started czmq yet. */
    fling_producer_options_t options = options_for (1, NULL);
    fling_producer_t *producer = producer_new (&options);
    sigaction (SIGTERM, NULL, &now);
    assert_true (now.sa_handler == SIG_DFL);
    sigaction (SIGINT, NULL, &now);
    assert_true (now.sa_handler == own_sigint_handler);
    raise (SIGINT);
    assert_int_equal (own_handler_ran, 1);

    /* A second producer (czmq already started) changes nothing either. */
    fling_producer_t *second = producer_new (&options);
    sigaction (SIGINT, NULL, &now);
    assert_true (now.sa_handler == own_sigint_handler);
    fling_producer_destroy (&second);
    fling_producer_destroy (&producer);
    assert_null (producer);
    sigaction (SIGTERM, NULL, &now);
    assert_true (now.sa_handler == SIG_DFL);
    signal (SIGINT, SIG_DFL);
}

static void test_batched_and_acked (void **state)
{
    (void)state;
    fake_broker_t *broker = broker_new (0, FAKE_ACK);
    acks_t acks = {0};
    fling_producer_options_t options = options_for (broker->port, &acks);
    options.batch_max_tasks = 50;
    options.batch_linger_us = 2000;
    fling_producer_t *producer = producer_new (&options);

    char previous[FLING_TASK_ID_TEXT_SIZE] = "";
    for (int i = 0; i < 1000; i++) {
        char task_id[FLING_TASK_ID_TEXT_SIZE];
        assert_int_equal (fling_send_ex (producer, "email.send", PAYLOAD, 0, NULL, task_id), 0);
        assert_string_not_equal (task_id, previous);
        strcpy (previous, task_id);
    }
    assert_int_equal (fling_producer_flush (producer, 10000), 0);
    fling_producer_stats_t stats = stats_of (producer);
    assert_int_equal (stats.sent, 1000);
    assert_int_equal (stats.accepted, 1000);
    assert_int_equal (stats.rejected, 0);
    assert_int_equal (stats.queued, 0);
    assert_int_equal (stats.dropped, 0);
    assert_int_equal (atomic_load (&acks.accepted), 1000);
    assert_int_equal (fling_producer_connected (producer), 1);

    size_t total = 0;
    assert_int_equal (fake_broker_distinct (broker, &total), 1000);
    assert_int_equal (total, 1000);
    assert_true (fake_broker_submits (broker) < 1000); /* batched */
    uint32_t largest = fake_broker_largest_batch (broker);
    assert_true (largest > 1 && largest <= 50);

    fling_producer_destroy (&producer);
    assert_int_equal (atomic_load (&acks.dropped), 0);
    fake_broker_destroy (&broker);
}

static void test_rejected_statuses (void **state)
{
    (void)state;
    fake_broker_t *broker = broker_new (0, FAKE_ACK);
    static const uint8_t pattern[4] = {FLING_REASON_OK, FLING_REASON_QUEUE_FULL,
                                       FLING_REASON_DUPLICATE, FLING_REASON_STORE_FULL};
    fake_broker_set_pattern (broker, pattern, 4);
    acks_t acks = {0};
    fling_producer_options_t options = options_for (broker->port, &acks);
    options.batch_max_tasks = 4; /* each batch sees the whole pattern */
    fling_producer_t *producer = producer_new (&options);
    for (int i = 0; i < 40; i++)
        assert_int_equal (fling_send (producer, "t", PAYLOAD), 0);
    assert_int_equal (fling_producer_flush (producer, 10000), 0);
    fling_producer_stats_t stats = stats_of (producer);
    assert_int_equal (stats.accepted + stats.rejected, 40);
    assert_int_equal (stats.accepted, atomic_load (&acks.accepted));
    assert_int_equal (stats.rejected, atomic_load (&acks.rejected));
    assert_true (stats.rejected >= 10);
    assert_true (atomic_load (&acks.queue_full) >= 5);
    assert_int_equal (stats.queued, 0);
    fling_producer_destroy (&producer);
    fake_broker_destroy (&broker);
}

/* UNAVAILABLE (store failed, broker stopping) is "outcome unknown": the
   producer keeps the batch and resends it with the same ids; nothing is
   reported rejected. */
static void test_unavailable_is_resent (void **state)
{
    (void)state;
    fake_broker_t *broker = broker_new (0, FAKE_ACK);
    static const uint8_t unavailable[1] = {FLING_REASON_UNAVAILABLE};
    static const uint8_t ok[1] = {FLING_REASON_OK};
    fake_broker_set_pattern (broker, unavailable, 1);
    acks_t acks = {0};
    fling_producer_options_t options = options_for (broker->port, &acks);
    options.ack_timeout_ms = 200;
    fling_producer_t *producer = producer_new (&options);
    for (int i = 0; i < 20; i++)
        assert_int_equal (fling_send (producer, "t", PAYLOAD), 0);
    assert_int_equal (fling_producer_flush (producer, 500), -1); /* still unresolved */
    fling_producer_stats_t stats = stats_of (producer);
    assert_int_equal (stats.rejected, 0);
    assert_int_equal (stats.queued, 20);
    fake_broker_set_pattern (broker, ok, 1);
    assert_int_equal (fling_producer_flush (producer, 5000), 0);
    stats = stats_of (producer);
    assert_int_equal (stats.accepted, 20);
    assert_int_equal (stats.rejected, 0);
    assert_int_equal (atomic_load (&acks.rejected), 0);
    size_t total = 0;
    assert_int_equal (fake_broker_distinct (broker, &total), 20); /* same ids every time */
    assert_true (total > 20);
    fling_producer_destroy (&producer);
    fake_broker_destroy (&broker);
}

static void test_flush_timeout_then_resend (void **state)
{
    (void)state;
    fake_broker_t *broker = broker_new (0, FAKE_NO_ACK);
    fling_producer_options_t options = options_for (broker->port, NULL);
    options.ack_timeout_ms = 300;
    fling_producer_t *producer = producer_new (&options);
    for (int i = 0; i < 10; i++)
        assert_int_equal (fling_send (producer, "t", PAYLOAD), 0);
    int64_t start = fling_clock_ms ();
    errno = 0;
    assert_int_equal (fling_producer_flush (producer, 200), -1);
    assert_int_equal (errno, ETIMEDOUT);
    assert_true (fling_clock_ms () - start >= 190);
    assert_int_equal (stats_of (producer).queued, 10);

    fake_broker_set_mode (broker, FAKE_ACK);
    assert_int_equal (fling_producer_flush (producer, 5000), 0);
    fling_producer_stats_t stats = stats_of (producer);
    assert_int_equal (stats.accepted, 10);
    assert_true (stats.resent >= 1);
    assert_int_equal (fake_broker_distinct (broker, NULL), 10);
    fling_producer_destroy (&producer);
    fake_broker_destroy (&broker);
}

static void test_no_broker_never_blocks (void **state)
{
    (void)state;
    int port = free_port ();
    acks_t acks = {0};
    fling_producer_options_t options = options_for (port, &acks);
    fling_producer_t *producer = producer_new (&options);
    int64_t start = fling_clock_us ();
    for (int i = 0; i < 1000; i++)
        assert_int_equal (fling_send (producer, "t", PAYLOAD), 0);
    int64_t elapsed_us = fling_clock_us () - start;
    /* A correctness bound ("never waits for the network"), not a speed goal. */
    assert_true (elapsed_us < 500000);
    fling_producer_stats_t stats = stats_of (producer);
    assert_int_equal (stats.sent, 1000);
    assert_int_equal (stats.queued, 1000);
    assert_int_equal (stats.accepted, 0);
    assert_int_equal (fling_producer_connected (producer), 0);
    assert_int_equal (fling_producer_flush (producer, 100), -1);

    /* The broker appears on that endpoint: everything is delivered. */
    fake_broker_t *broker = broker_new (port, FAKE_ACK);
    assert_int_equal (fling_producer_flush (producer, 10000), 0);
    stats = stats_of (producer);
    assert_int_equal (stats.accepted, 1000);
    assert_int_equal (stats.queued, 0);
    assert_int_equal (fake_broker_distinct (broker, NULL), 1000);
    assert_int_equal (atomic_load (&acks.accepted), 1000);
    fling_producer_destroy (&producer);
    fake_broker_destroy (&broker);
}

static void test_resend_carries_same_ids (void **state)
{
    (void)state;
    fake_broker_t *broker = broker_new (0, FAKE_DROP_FIRST);
    fling_producer_options_t options = options_for (broker->port, NULL);
    options.ack_timeout_ms = 200;
    fling_producer_t *producer = producer_new (&options);
    for (int i = 0; i < 5; i++)
        assert_int_equal (fling_send (producer, "t", PAYLOAD), 0);
    assert_int_equal (fling_producer_flush (producer, 5000), 0);
    fling_producer_stats_t stats = stats_of (producer);
    assert_int_equal (stats.accepted, 5);
    assert_true (stats.resent >= 1);

    /* Every id arrived exactly twice, both times in the same batch_seq. */
    size_t total = 0;
    assert_int_equal (fake_broker_distinct (broker, &total), 5);
    assert_int_equal (total, 10);
    pthread_mutex_lock (&broker->lock);
    for (size_t i = 0; i < total; i += 2) {
        assert_memory_equal (broker->seen[i].id.bytes, broker->seen[i + 1].id.bytes,
                             FLING_TASK_ID_SIZE);
        assert_int_equal (broker->seen[i].batch_seq, broker->seen[i + 1].batch_seq);
    }
    pthread_mutex_unlock (&broker->lock);
    fling_producer_destroy (&producer);
    fake_broker_destroy (&broker);
}

static void test_silence_then_resend_all (void **state)
{
    (void)state;
    fake_broker_t *broker = broker_new (0, FAKE_ACK);
    fling_producer_options_t options = options_for (broker->port, NULL);
    options.ack_timeout_ms = 60000; /* only the reconnect rule can resend */
    fling_producer_t *producer = producer_new (&options);
    int64_t deadline = fling_clock_ms () + 3000;
    while (!fling_producer_connected (producer) && fling_clock_ms () < deadline)
        zclock_sleep (10);
    assert_int_equal (fling_producer_connected (producer), 1);

    fake_broker_set_mode (broker, FAKE_SILENT);
    for (int i = 0; i < 20; i++)
        assert_int_equal (fling_send (producer, "t", PAYLOAD), 0);
    deadline = fling_clock_ms () + 3000;
    while (fling_producer_connected (producer) && fling_clock_ms () < deadline)
        zclock_sleep (10);
    assert_int_equal (fling_producer_connected (producer), 0); /* 3 heartbeats of silence */
    assert_int_equal (fling_producer_flush (producer, 0), -1);

    fake_broker_set_mode (broker, FAKE_ACK);
    assert_int_equal (fling_producer_flush (producer, 5000), 0);
    fling_producer_stats_t stats = stats_of (producer);
    assert_int_equal (stats.accepted, 20);
    assert_true (stats.resent >= 1);
    assert_int_equal (fling_producer_connected (producer), 1);
    fling_producer_destroy (&producer);
    fake_broker_destroy (&broker);
}

static void test_broker_errors_tolerated (void **state)
{
    (void)state;
    fake_broker_t *broker = broker_new (0, FAKE_ERROR_AND_ACK);
    fling_producer_options_t options = options_for (broker->port, NULL);
    options.batch_max_tasks = 1;
    fling_producer_t *producer = producer_new (&options);
    for (int i = 0; i < 50; i++)
        assert_int_equal (fling_send (producer, "t", PAYLOAD), 0);
    assert_int_equal (fling_producer_flush (producer, 5000), 0);
    assert_int_equal (stats_of (producer).accepted, 50);
    fling_producer_destroy (&producer);
    fake_broker_destroy (&broker);
}

#define THREADS    4
#define PER_THREAD 10000

typedef struct {
    fling_producer_t *producer;
    atomic_int failures;
} sender_arg_t;

static void *send_many (void *arg)
{
    sender_arg_t *shared = (sender_arg_t *)arg;
    for (int i = 0; i < PER_THREAD; i++)
        if (fling_send (shared->producer, "bulk.task", PAYLOAD) != 0)
            atomic_fetch_add (&shared->failures, 1);
    return NULL;
}

static void test_four_threads (void **state)
{
    (void)state;
    fake_broker_t *broker = broker_new (0, FAKE_ACK);
    acks_t acks = {0};
    fling_producer_options_t options = options_for (broker->port, &acks);
    sender_arg_t shared = {.producer = producer_new (&options)};
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal (pthread_create (&threads[i], NULL, send_many, &shared), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join (threads[i], NULL);
    assert_int_equal (atomic_load (&shared.failures), 0);
    assert_int_equal (fling_producer_flush (shared.producer, 60000), 0);
    fling_producer_stats_t stats = stats_of (shared.producer);
    assert_int_equal (stats.sent, THREADS * PER_THREAD);
    assert_int_equal (stats.accepted, THREADS * PER_THREAD);
    assert_int_equal (stats.queued, 0);
    assert_int_equal (atomic_load (&acks.accepted), THREADS * PER_THREAD);
    size_t total = 0;
    assert_int_equal (fake_broker_distinct (broker, &total), THREADS * PER_THREAD);
    fling_producer_destroy (&shared.producer);
    fake_broker_destroy (&broker);
}

static void test_overflow_policies (void **state)
{
    (void)state;
    fling_producer_options_t options = options_for (free_port (), NULL);
    options.outbox_max_tasks = 10;
    options.linger_ms = 0;
    fling_producer_t *producer = producer_new (&options);
    for (int i = 0; i < 10; i++)
        assert_int_equal (fling_send (producer, "t", PAYLOAD), 0);
    errno = 0;
    assert_int_equal (fling_send (producer, "t", PAYLOAD), -1);
    assert_int_equal (errno, EAGAIN);
    fling_producer_destroy (&producer);

    options.overflow = FLING_OVERFLOW_DROP;
    producer = producer_new (&options);
    for (int i = 0; i < 15; i++)
        assert_int_equal (fling_send (producer, "t", PAYLOAD), 0);
    fling_producer_stats_t stats = stats_of (producer);
    assert_int_equal (stats.sent, 10);
    assert_int_equal (stats.dropped, 5);
    assert_int_equal (stats.queued, 10);

    /* Invalid tasks are counted and never queued. */
    assert_int_equal (fling_send (producer, "bad name", PAYLOAD), -1);
    assert_int_equal (errno, FLING_EBADNAME);
    assert_int_equal (fling_send (producer, "t", "[1]"), -1);
    assert_int_equal (errno, FLING_EBADJSON);
    fling_send_options_t send_options = {.max_attempts = 70000};
    assert_int_equal (fling_send_ex (producer, "t", PAYLOAD, 0, &send_options, NULL), -1);
    assert_int_equal (stats_of (producer).invalid, 3);
    fling_producer_destroy (&producer);

    options.batch_max_tasks = FLING_BATCH_TASKS_MAX + 1;
    assert_null (fling_producer_new (&options));
    assert_int_equal (errno, EINVAL);
    options = options_for (1, NULL);
    options.endpoint = "nonsense://x";
    assert_null (fling_producer_new (&options));
    assert_int_equal (errno, EINVAL);
}

typedef struct {
    fling_producer_t *producer;
    atomic_bool go;
    atomic_int closed_errors;
} closer_arg_t;

/* Sends until the producer says it is closing. */
static void *send_until_closed (void *arg)
{
    closer_arg_t *shared = (closer_arg_t *)arg;
    while (!atomic_load (&shared->go))
        zclock_sleep (1);
    for (int i = 0; i < 5000; i++) {
        if (fling_send (shared->producer, "t", PAYLOAD) == -1 && errno == FLING_ECLOSED) {
            atomic_fetch_add (&shared->closed_errors, 1);
            return NULL;
        }
        zclock_sleep (1);
    }
    return NULL;
}

static void test_destroy_without_broker (void **state)
{
    (void)state;
    acks_t acks = {0};
    fling_producer_options_t options = options_for (free_port (), &acks);
    options.linger_ms = 300;
    closer_arg_t shared = {.producer = producer_new (&options)};
    for (int i = 0; i < 100; i++)
        assert_int_equal (fling_send (shared.producer, "t", PAYLOAD), 0);
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, send_until_closed, &shared), 0);
    atomic_store (&shared.go, true);
    zclock_sleep (20);
    int64_t start = fling_clock_ms ();
    /* The other thread sees FLING_ECLOSED within a millisecond of destroy
       starting, well inside the 300 ms linger, and stops calling. */
    fling_producer_destroy (&shared.producer);
    int64_t elapsed = fling_clock_ms () - start;
    pthread_join (thread, NULL);
    assert_true (elapsed >= 290);
    assert_true (elapsed < 2000);
    assert_int_equal (atomic_load (&shared.closed_errors), 1);
    assert_true (atomic_load (&acks.dropped) >= 100);
    assert_int_equal (atomic_load (&acks.dropped), atomic_load (&acks.closed));
    assert_int_equal (atomic_load (&acks.accepted), 0);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_signal_dispositions_kept), /* first: before czmq starts */
        cmocka_unit_test (test_batched_and_acked),
        cmocka_unit_test (test_rejected_statuses),
        cmocka_unit_test (test_flush_timeout_then_resend),
        cmocka_unit_test (test_unavailable_is_resent),
        cmocka_unit_test (test_no_broker_never_blocks),
        cmocka_unit_test (test_resend_carries_same_ids),
        cmocka_unit_test (test_silence_then_resend_all),
        cmocka_unit_test (test_broker_errors_tolerated),
        cmocka_unit_test (test_four_threads),
        cmocka_unit_test (test_overflow_policies),
        cmocka_unit_test (test_destroy_without_broker),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
