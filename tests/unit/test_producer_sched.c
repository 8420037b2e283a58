/*  test_producer_sched.c - fling_send_ex's FLP/1.2 options (delay, due
    time, priority, unique key) against the fake broker (fake_broker.h):
    what goes on the wire, in which version and batch, how a broker that
    does not speak FLP/1.2 refuses them (proto/SPEC.md §2.3), and which
    options are refused before anything leaves the process.

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
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "fake_broker.h"
#include "fling_error.h"
#include "fling_producer.h"
#include "fling_proto.h"

#define FLUSH_MS 5000

typedef struct {
    atomic_uint accepted, rejected, version_refused;
} acks_t;

static void count_ack (const char *task_id, fling_ack_t ack, int err, void *arg)
{
    (void)task_id;
    acks_t *acks = (acks_t *)arg;
    if (ack == FLING_ACK_ACCEPTED)
        atomic_fetch_add (&acks->accepted, 1);
    if (ack == FLING_ACK_REJECTED)
        atomic_fetch_add (&acks->rejected, 1);
    if (ack == FLING_ACK_REJECTED && err == FLING_EVERSION)
        atomic_fetch_add (&acks->version_refused, 1);
}

/* A fake broker that decodes up to `max_version`, serving, and a producer
   on it reporting to `acks`. */
static fling_producer_t *setup (fake_broker_t **broker_p, uint8_t max_version, acks_t *acks)
{
    fake_broker_t *broker = fake_broker_new (0);
    broker->max_version = max_version;
    fake_broker_serve (broker, FAKE_ACK);
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", broker->port);
    fling_producer_options_t options;
    fling_producer_options_init (&options);
    options.endpoint = endpoint;
    options.heartbeat_ms = 100;
    options.ack_timeout_ms = 500;
    options.ack_fn = count_ack;
    options.ack_arg = acks;
    fling_producer_t *producer = fling_producer_new (&options);
    assert_non_null (producer);
    *broker_p = broker;
    return producer;
}

static const fake_seen_t *seen_of (fake_broker_t *broker, const char *task_id)
{
    fling_task_id_t id;
    assert_int_equal (fling_task_id_parse (&id, task_id), 0);
    for (size_t i = 0; i < broker->seen_count; i++)
        if (memcmp (broker->seen[i].id.bytes, id.bytes, FLING_TASK_ID_SIZE) == 0)
            return &broker->seen[i];
    fail_msg ("task %s never reached the broker", task_id);
    return NULL;
}

static void test_extensions_on_the_wire (void **state)
{
    (void)state;
    acks_t acks = {0};
    fake_broker_t *broker;
    fling_producer_t *producer = setup (&broker, FLING_PROTO_VERSION_SCHED, &acks);
    char plain[FLING_TASK_ID_TEXT_SIZE], delayed[FLING_TASK_ID_TEXT_SIZE],
        at[FLING_TASK_ID_TEXT_SIZE], last[FLING_TASK_ID_TEXT_SIZE];
    fling_send_options_t delay = {
        .delay_ms = 5000, .priority = 7, .unique_key = "user:42:welcome", .key_ttl_ms = 3600000};
    fling_send_options_t due = {.at_ms = 1796666400000LL};
    assert_int_equal (fling_send_ex (producer, "t", "{}", 0, NULL, plain), 0);
    assert_int_equal (fling_send_ex (producer, "t", "{}", 0, &delay, delayed), 0);
    assert_int_equal (fling_send_ex (producer, "t", "{}", 0, &due, at), 0);
    assert_int_equal (fling_send_ex (producer, "t", "{}", 0, NULL, last), 0);
    assert_int_equal (fling_producer_flush (producer, FLUSH_MS), 0);
    assert_int_equal (atomic_load (&acks.accepted), 4);

    pthread_mutex_lock (&broker->lock);
    const fake_seen_t *p = seen_of (broker, plain), *d = seen_of (broker, delayed),
                      *a = seen_of (broker, at), *l = seen_of (broker, last);
    /* Plain tasks stay FLP/1.1, byte for byte; extended ones go as FLP/1.2,
       never in a batch with plain ones. */
    assert_int_equal (p->version, FLING_PROTO_VERSION);
    assert_int_equal (p->ext_size, 0);
    assert_int_equal (l->version, FLING_PROTO_VERSION);
    assert_int_equal (d->version, FLING_PROTO_VERSION_SCHED);
    assert_int_equal (a->version, FLING_PROTO_VERSION_SCHED);
    assert_true (d->batch_seq != p->batch_seq && d->batch_seq != l->batch_seq);
    assert_int_equal (d->delay_ms, 5000);
    assert_int_equal (d->priority, 7);
    assert_int_equal (d->key_size, strlen ("user:42:welcome"));
    assert_true (a->due_at_ms == 1796666400000ULL);
    assert_int_equal (a->delay_ms, 0);
    pthread_mutex_unlock (&broker->lock);
    fling_producer_destroy (&producer);
    fake_broker_destroy (&broker);
}

static void test_old_broker_refuses_clearly (void **state)
{
    (void)state;
    acks_t acks = {0};
    fake_broker_t *broker;
    fling_producer_t *producer = setup (&broker, FLING_PROTO_VERSION, &acks);
    fling_send_options_t delay = {.delay_ms = 1000};
    fling_send_options_t priority = {.priority = 3};
    assert_int_equal (fling_send (producer, "t", "{}"), 0);
    assert_int_equal (fling_send_ex (producer, "t", "{}", 0, &delay, NULL), 0);
    assert_int_equal (fling_send_ex (producer, "t", "{}", 0, &priority, NULL), 0);
    assert_int_equal (fling_send (producer, "t", "{}"), 0);
    /* Answered, not resent forever: flush returns. */
    assert_int_equal (fling_producer_flush (producer, FLUSH_MS), 0);
    assert_int_equal (atomic_load (&acks.accepted), 2);
    assert_int_equal (atomic_load (&acks.rejected), 2);
    assert_int_equal (atomic_load (&acks.version_refused), 2);
    fling_producer_stats_t stats;
    fling_producer_stats (producer, &stats);
    assert_int_equal (stats.accepted, 2);
    assert_int_equal (stats.rejected, 2);
    /* The old broker decoded only the plain batches: it never held the others. */
    size_t total = 0;
    assert_int_equal (fake_broker_distinct (broker, &total), 2);
    fling_producer_destroy (&producer);
    fake_broker_destroy (&broker);
}

static void expect_refused (fling_producer_t *producer, const fling_send_options_t *options)
{
    errno = 0;
    assert_int_equal (fling_send_ex (producer, "t", "{}", 0, options, NULL), -1);
    assert_int_equal (errno, EINVAL);
}

static void test_bad_options_never_leave (void **state)
{
    (void)state;
    acks_t acks = {0};
    fake_broker_t *broker;
    fling_producer_t *producer = setup (&broker, FLING_PROTO_VERSION_SCHED, &acks);
    char long_key[FLING_UNIQUE_KEY_MAX + 2];
    memset (long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = 0;
    expect_refused (producer, &(fling_send_options_t){.delay_ms = 1, .at_ms = 1});
    expect_refused (producer, &(fling_send_options_t){.priority = 10});
    expect_refused (producer, &(fling_send_options_t){.at_ms = -1});
    expect_refused (producer, &(fling_send_options_t){.unique_key = ""});
    expect_refused (producer, &(fling_send_options_t){.unique_key = "a b"});
    expect_refused (producer, &(fling_send_options_t){.unique_key = long_key});
    expect_refused (producer, &(fling_send_options_t){.key_ttl_ms = 5});
    long_key[FLING_UNIQUE_KEY_MAX] = 0; /* 128 bytes: the most a key may have */
    assert_int_equal (fling_send_ex (producer, "t", "{}", 0,
                                     &(fling_send_options_t){.unique_key = long_key}, NULL),
                      0);
    assert_int_equal (fling_producer_flush (producer, FLUSH_MS), 0);
    fling_producer_stats_t stats;
    fling_producer_stats (producer, &stats);
    assert_int_equal (stats.invalid, 7);
    assert_int_equal (stats.sent, 1);
    fling_producer_destroy (&producer);
    fake_broker_destroy (&broker);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_extensions_on_the_wire),
        cmocka_unit_test (test_old_broker_refuses_clearly),
        cmocka_unit_test (test_bad_options_never_leave),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
