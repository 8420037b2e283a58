/*  test_producer.c - the producer library end to end against a fake broker
    (a ROUTER socket in a thread of this test, speaking FLP/1 through the
    codec): batching, ACK statuses, flush, a broker that is absent or
    silent, resends, signal dispositions, many threads, destroy.

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

#include "fling_error.h"
#include "fling_log.h"
#include "fling_producer.h"
#include "fling_proto.h"

/* libzmq is not built with TSan: it hands message buffers between its own
   threads through lock-free pipes TSan cannot see, so a buffer malloc'ed in
   the producer's thread and freed by libzmq's I/O thread looks like a race.
   Ignore what libzmq's own calls to malloc/free/memcpy do; races in our
   code are still reported. */
#if defined(__SANITIZE_THREAD__)
const char *__tsan_default_suppressions (void);
const char *__tsan_default_suppressions (void)
{
    return "called_from_lib:libzmq.so\n";
}
#endif

#define PAYLOAD "{\"to\":\"someone@example.com\",\"subject\":\"hello\",\"n\":42}"

/* ---- fake broker ------------------------------------------------------------ */

typedef enum {
    MODE_ACK,           /* ACK every SUBMIT with the status pattern */
    MODE_SILENT,        /* read everything, answer nothing (PING included) */
    MODE_NO_ACK,        /* answer PING, never ACK */
    MODE_DROP_FIRST,    /* ignore the first SUBMIT of each batch_seq, ACK the next */
    MODE_ERROR_AND_ACK, /* ERROR, garbage, then ACK for every SUBMIT */
} broker_mode_t;

typedef struct {
    fling_task_id_t id;
    uint64_t batch_seq;
} seen_t;

typedef struct {
    pthread_t thread;
    zsock_t *router;
    int port;
    atomic_bool stop;
    pthread_mutex_t lock; /* guards everything below */
    broker_mode_t mode;
    uint8_t pattern[4]; /* status of task i = pattern[i % pattern_size] */
    size_t pattern_size;
    seen_t *seen; /* every record received, resends included */
    size_t seen_count;
    size_t seen_capacity;
    size_t submits;
    uint32_t largest_batch;
    uint64_t first_seqs[4096]; /* batch_seqs already seen, for MODE_DROP_FIRST */
    size_t first_seq_count;
} broker_t;

static void broker_record (broker_t *self, const fling_msg_t *submit)
{
    const uint8_t *cursor = submit->body, *end = submit->body + submit->body_size;
    fling_record_t record;
    fling_reason_t why;
    while (fling_record_next (&cursor, end, &record, &why) == 1) {
        if (self->seen_count == self->seen_capacity) {
            self->seen_capacity = self->seen_capacity ? self->seen_capacity * 2 : 1024;
            self->seen = (seen_t *)realloc (self->seen, self->seen_capacity * sizeof (seen_t));
        }
        self->seen[self->seen_count++] = (seen_t){record.id, submit->batch_seq};
    }
    self->submits++;
    if (submit->count > self->largest_batch)
        self->largest_batch = submit->count;
}

/* Whether MODE_DROP_FIRST lets this SUBMIT through. */
static bool broker_second_time (broker_t *self, uint64_t batch_seq)
{
    for (size_t i = 0; i < self->first_seq_count; i++)
        if (self->first_seqs[i] == batch_seq)
            return true;
    if (self->first_seq_count < 4096)
        self->first_seqs[self->first_seq_count++] = batch_seq;
    return false;
}

static void broker_send (broker_t *self, zframe_t *routing_id, zmsg_t *reply)
{
    zmsg_prepend (reply, &routing_id);
    zmsg_send (&reply, self->router);
}

static void broker_answer_submit (broker_t *self, zframe_t *routing_id, const fling_msg_t *msg)
{
    broker_mode_t mode = self->mode;
    if (mode == MODE_SILENT || mode == MODE_NO_ACK ||
        (mode == MODE_DROP_FIRST && !broker_second_time (self, msg->batch_seq)))
        return;
    if (mode == MODE_ERROR_AND_ACK) {
        broker_send (self, zframe_dup (routing_id),
                     fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_BAD_STATE, 0, 0, "test\nerror \x01text"));
        zmsg_t *garbage = zmsg_new ();
        zmsg_addstr (garbage, "not fling");
        broker_send (self, zframe_dup (routing_id), garbage);
    }
    uint8_t statuses[FLING_BATCH_TASKS_MAX];
    for (uint32_t i = 0; i < msg->count; i++)
        statuses[i] = self->pattern[i % self->pattern_size];
    broker_send (self, zframe_dup (routing_id),
                 fling_msg_ack (msg->batch_seq, msg->count, statuses));
}

static void broker_handle (broker_t *self, zmsg_t *msg)
{
    zframe_t *routing_id = zmsg_pop (msg);
    fling_msg_t decoded;
    fling_reason_t why;
    if (routing_id && fling_msg_decode (msg, &decoded, &why) == 0) {
        pthread_mutex_lock (&self->lock);
        if (decoded.cmd == FLING_CMD_SUBMIT) {
            broker_record (self, &decoded);
            broker_answer_submit (self, routing_id, &decoded);
        } else if (decoded.cmd == FLING_CMD_PING && self->mode != MODE_SILENT) {
            broker_send (self, zframe_dup (routing_id), fling_msg_pong ());
        }
        pthread_mutex_unlock (&self->lock);
    }
    zframe_destroy (&routing_id);
}

static void *broker_run (void *arg)
{
    broker_t *self = (broker_t *)arg;
    while (!atomic_load (&self->stop)) {
        zmq_pollitem_t item = {zsock_resolve (self->router), 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, 10) <= 0)
            continue;
        zmsg_t *msg = zmsg_recv (self->router);
        if (msg)
            broker_handle (self, msg);
        zmsg_destroy (&msg);
    }
    return NULL;
}

/* Binds port `port` (0: any free one) and starts answering. */
static broker_t *broker_new (int port, broker_mode_t mode)
{
    broker_t *self = (broker_t *)calloc (1, sizeof *self);
    pthread_mutex_init (&self->lock, NULL);
    self->mode = mode;
    self->pattern[0] = FLING_REASON_OK;
    self->pattern_size = 1;
    self->router = zsock_new (ZMQ_ROUTER);
    assert_non_null (self->router);
    /* A port just released may take a moment to be free again. */
    for (int tries = 0; tries < 100; tries++) {
        self->port = port ? zsock_bind (self->router, "tcp://127.0.0.1:%d", port)
                          : zsock_bind (self->router, "tcp://127.0.0.1:*");
        if (self->port > 0)
            break;
        zclock_sleep (10);
    }
    assert_true (self->port > 0);
    assert_int_equal (pthread_create (&self->thread, NULL, broker_run, self), 0);
    return self;
}

static void broker_destroy (broker_t **self_p)
{
    broker_t *self = *self_p;
    atomic_store (&self->stop, true);
    pthread_join (self->thread, NULL);
    zsock_destroy (&self->router);
    pthread_mutex_destroy (&self->lock);
    free (self->seen);
    free (self);
    *self_p = NULL;
}

static void broker_set_mode (broker_t *self, broker_mode_t mode)
{
    pthread_mutex_lock (&self->lock);
    self->mode = mode;
    pthread_mutex_unlock (&self->lock);
}

static void broker_set_pattern (broker_t *self, const uint8_t *pattern, size_t size)
{
    pthread_mutex_lock (&self->lock);
    memcpy (self->pattern, pattern, size);
    self->pattern_size = size;
    pthread_mutex_unlock (&self->lock);
}

static int compare_ids (const void *a, const void *b)
{
    return memcmp (((const seen_t *)a)->id.bytes, ((const seen_t *)b)->id.bytes,
                   FLING_TASK_ID_SIZE);
}

/* Distinct task ids the broker received (it keeps every copy). */
static size_t broker_distinct (broker_t *self, size_t *total)
{
    pthread_mutex_lock (&self->lock);
    qsort (self->seen, self->seen_count, sizeof (seen_t), compare_ids);
    size_t distinct = 0;
    for (size_t i = 0; i < self->seen_count; i++)
        if (i == 0 || compare_ids (&self->seen[i - 1], &self->seen[i]) != 0)
            distinct++;
    if (total)
        *total = self->seen_count;
    pthread_mutex_unlock (&self->lock);
    return distinct;
}

static int free_port (void)
{
    zsock_t *probe = zsock_new (ZMQ_ROUTER);
    int port = zsock_bind (probe, "tcp://127.0.0.1:*");
    zsock_destroy (&probe);
    assert_true (port > 0);
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
    broker_t *broker = broker_new (0, MODE_ACK);
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
    assert_int_equal (broker_distinct (broker, &total), 1000);
    assert_int_equal (total, 1000);
    pthread_mutex_lock (&broker->lock);
    assert_true (broker->submits < 1000); /* batched */
    assert_true (broker->largest_batch > 1 && broker->largest_batch <= 50);
    pthread_mutex_unlock (&broker->lock);

    fling_producer_destroy (&producer);
    assert_int_equal (atomic_load (&acks.dropped), 0);
    broker_destroy (&broker);
}

static void test_rejected_statuses (void **state)
{
    (void)state;
    broker_t *broker = broker_new (0, MODE_ACK);
    static const uint8_t pattern[4] = {FLING_REASON_OK, FLING_REASON_QUEUE_FULL,
                                       FLING_REASON_DUPLICATE, FLING_REASON_STORE_FULL};
    broker_set_pattern (broker, pattern, 4);
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
    broker_destroy (&broker);
}

/* UNAVAILABLE (store failed, broker stopping) is "outcome unknown": the
   producer keeps the batch and resends it with the same ids; nothing is
   reported rejected. */
static void test_unavailable_is_resent (void **state)
{
    (void)state;
    broker_t *broker = broker_new (0, MODE_ACK);
    static const uint8_t unavailable[1] = {FLING_REASON_UNAVAILABLE};
    static const uint8_t ok[1] = {FLING_REASON_OK};
    broker_set_pattern (broker, unavailable, 1);
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
    broker_set_pattern (broker, ok, 1);
    assert_int_equal (fling_producer_flush (producer, 5000), 0);
    stats = stats_of (producer);
    assert_int_equal (stats.accepted, 20);
    assert_int_equal (stats.rejected, 0);
    assert_int_equal (atomic_load (&acks.rejected), 0);
    size_t total = 0;
    assert_int_equal (broker_distinct (broker, &total), 20); /* same ids every time */
    assert_true (total > 20);
    fling_producer_destroy (&producer);
    broker_destroy (&broker);
}

static void test_flush_timeout_then_resend (void **state)
{
    (void)state;
    broker_t *broker = broker_new (0, MODE_NO_ACK);
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

    broker_set_mode (broker, MODE_ACK);
    assert_int_equal (fling_producer_flush (producer, 5000), 0);
    fling_producer_stats_t stats = stats_of (producer);
    assert_int_equal (stats.accepted, 10);
    assert_true (stats.resent >= 1);
    assert_int_equal (broker_distinct (broker, NULL), 10);
    fling_producer_destroy (&producer);
    broker_destroy (&broker);
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
    broker_t *broker = broker_new (port, MODE_ACK);
    assert_int_equal (fling_producer_flush (producer, 10000), 0);
    stats = stats_of (producer);
    assert_int_equal (stats.accepted, 1000);
    assert_int_equal (stats.queued, 0);
    assert_int_equal (broker_distinct (broker, NULL), 1000);
    assert_int_equal (atomic_load (&acks.accepted), 1000);
    fling_producer_destroy (&producer);
    broker_destroy (&broker);
}

static void test_resend_carries_same_ids (void **state)
{
    (void)state;
    broker_t *broker = broker_new (0, MODE_DROP_FIRST);
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
    assert_int_equal (broker_distinct (broker, &total), 5);
    assert_int_equal (total, 10);
    pthread_mutex_lock (&broker->lock);
    for (size_t i = 0; i < total; i += 2) {
        assert_int_equal (compare_ids (&broker->seen[i], &broker->seen[i + 1]), 0);
        assert_int_equal (broker->seen[i].batch_seq, broker->seen[i + 1].batch_seq);
    }
    pthread_mutex_unlock (&broker->lock);
    fling_producer_destroy (&producer);
    broker_destroy (&broker);
}

static void test_silence_then_resend_all (void **state)
{
    (void)state;
    broker_t *broker = broker_new (0, MODE_ACK);
    fling_producer_options_t options = options_for (broker->port, NULL);
    options.ack_timeout_ms = 60000; /* only the reconnect rule can resend */
    fling_producer_t *producer = producer_new (&options);
    int64_t deadline = fling_clock_ms () + 3000;
    while (!fling_producer_connected (producer) && fling_clock_ms () < deadline)
        zclock_sleep (10);
    assert_int_equal (fling_producer_connected (producer), 1);

    broker_set_mode (broker, MODE_SILENT);
    for (int i = 0; i < 20; i++)
        assert_int_equal (fling_send (producer, "t", PAYLOAD), 0);
    deadline = fling_clock_ms () + 3000;
    while (fling_producer_connected (producer) && fling_clock_ms () < deadline)
        zclock_sleep (10);
    assert_int_equal (fling_producer_connected (producer), 0); /* 3 heartbeats of silence */
    assert_int_equal (fling_producer_flush (producer, 0), -1);

    broker_set_mode (broker, MODE_ACK);
    assert_int_equal (fling_producer_flush (producer, 5000), 0);
    fling_producer_stats_t stats = stats_of (producer);
    assert_int_equal (stats.accepted, 20);
    assert_true (stats.resent >= 1);
    assert_int_equal (fling_producer_connected (producer), 1);
    fling_producer_destroy (&producer);
    broker_destroy (&broker);
}

static void test_broker_errors_tolerated (void **state)
{
    (void)state;
    broker_t *broker = broker_new (0, MODE_ERROR_AND_ACK);
    fling_producer_options_t options = options_for (broker->port, NULL);
    options.batch_max_tasks = 1;
    fling_producer_t *producer = producer_new (&options);
    for (int i = 0; i < 50; i++)
        assert_int_equal (fling_send (producer, "t", PAYLOAD), 0);
    assert_int_equal (fling_producer_flush (producer, 5000), 0);
    assert_int_equal (stats_of (producer).accepted, 50);
    fling_producer_destroy (&producer);
    broker_destroy (&broker);
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
    broker_t *broker = broker_new (0, MODE_ACK);
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
    assert_int_equal (broker_distinct (broker, &total), THREADS * PER_THREAD);
    fling_producer_destroy (&shared.producer);
    broker_destroy (&broker);
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
