/*  test_outbox.c - the bounded outbox between fling_send() callers and the
    producer's I/O thread (producer/fling_outbox.c), from one thread:
    batching, bounds and overflow policies, task ids, wake-ups, flush.
    Several threads at once (shards, concurrent appends and takes) are in
    test_outbox_threads.c.
*/
/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fling_error.h"
#include "fling_log.h"
#include "fling_outbox.h"
#include "fling_proto.h"
#include "outbox_fixture.h"

static bool wake_readable (fling_outbox_t *outbox)
{
    struct pollfd pfd = {.fd = fling_outbox_wake_fd (outbox), .events = POLLIN};
    return poll (&pfd, 1, 0) == 1;
}

static void test_batch_by_count (void **state)
{
    (void)state;
    fling_outbox_config_t config = outbox_config (1000, 10);
    fling_outbox_t *outbox = fling_outbox_new (&config);
    assert_non_null (outbox);
    for (int i = 0; i < 25; i++)
        assert_int_equal (outbox_append (outbox, NULL), 0);
    assert_int_equal (fling_outbox_held (outbox), 25);

    /* Two sealed batches of 10; the open one (5) stays while linger < 0. */
    int64_t due = 0;
    fling_batch_t *a = fling_outbox_take (outbox, fling_clock_us (), -1, &due);
    fling_batch_t *b = fling_outbox_take (outbox, fling_clock_us (), -1, &due);
    assert_non_null (a);
    assert_non_null (b);
    assert_null (fling_outbox_take (outbox, fling_clock_us (), -1, &due));
    assert_int_equal (due, -1);
    uint64_t first, last;
    assert_int_equal (outbox_count_records (a, &first, &last), 10);
    assert_int_equal (first, 1);
    assert_int_equal (last, 10);
    assert_int_equal (fling_batch_count (b), 10);
    assert_int_equal (fling_batch_first_seq (b), 11);

    /* A long linger leaves the open batch and says when it is due. */
    int64_t now = fling_clock_us ();
    assert_null (fling_outbox_take (outbox, now, 1000000, &due));
    assert_true (due > now && due <= now + 1000000);
    fling_batch_t *c = fling_outbox_take (outbox, now, 0, &due);
    assert_non_null (c);
    assert_int_equal (outbox_count_records (c, &first, &last), 5);
    assert_int_equal (first, 21);
    assert_int_equal (last, 25);
    assert_null (fling_outbox_take (outbox, now, 0, &due));

    assert_int_equal (fling_outbox_held (outbox), 25);
    fling_outbox_resolve (outbox, &a, fling_batch_first_seq (b));
    assert_null (a);
    fling_outbox_resolve (outbox, &b, fling_batch_first_seq (c));
    fling_outbox_resolve (outbox, &c, UINT64_MAX);
    assert_int_equal (fling_outbox_held (outbox), 0);
    fling_outbox_destroy (&outbox);
    assert_null (outbox);
}

static void test_batch_by_bytes (void **state)
{
    (void)state;
    size_t record = fling_record_size (1, sizeof OUTBOX_PAYLOAD - 1);
    fling_outbox_config_t config = outbox_config (1000, 1000);
    config.batch_max_bytes = record * 3 + record / 2; /* room for 3 records, not 4 */
    fling_outbox_t *outbox = fling_outbox_new (&config);
    for (int i = 0; i < 7; i++)
        assert_int_equal (outbox_append (outbox, NULL), 0);
    fling_batch_t *a = fling_outbox_take (outbox, fling_clock_us (), -1, NULL);
    fling_batch_t *b = fling_outbox_take (outbox, fling_clock_us (), -1, NULL);
    assert_non_null (a);
    assert_non_null (b);
    assert_int_equal (fling_batch_count (a), 3);
    assert_int_equal (fling_batch_size (a), record * 3);
    assert_int_equal (fling_batch_count (b), 3);
    assert_null (fling_outbox_take (outbox, fling_clock_us (), -1, NULL));

    /* A task bigger than a whole batch travels alone. */
    char *big = (char *)malloc (config.batch_max_bytes * 2);
    memset (big, ' ', config.batch_max_bytes * 2 - 3);
    strcpy (big + config.batch_max_bytes * 2 - 3, "{}");
    fling_outbox_task_t big_task = {
        .name = "big", .name_size = 3, .payload = big, .payload_size = strlen (big)};
    assert_int_equal (fling_outbox_append (outbox, &big_task, NULL), 0);
    fling_batch_t *c = fling_outbox_take (outbox, fling_clock_us (), -1, NULL); /* the 7th */
    fling_batch_t *d = fling_outbox_take (outbox, fling_clock_us (), -1, NULL); /* the big one */
    assert_int_equal (fling_batch_count (c), 1);
    assert_int_equal (fling_batch_count (d), 1);
    assert_int_equal (outbox_count_records (d, NULL, NULL), 1);
    free (big);
    fling_outbox_resolve (outbox, &a, UINT64_MAX);
    fling_outbox_resolve (outbox, &b, UINT64_MAX);
    fling_outbox_resolve (outbox, &c, UINT64_MAX);
    fling_outbox_resolve (outbox, &d, UINT64_MAX);
    assert_int_equal (fling_outbox_held (outbox), 0);
    fling_outbox_destroy (&outbox);
}

static void test_bound_fail (void **state)
{
    (void)state;
    fling_outbox_config_t config = outbox_config (5, 2);
    fling_outbox_t *outbox = fling_outbox_new (&config);
    for (int i = 0; i < 5; i++)
        assert_int_equal (outbox_append (outbox, NULL), 0);
    errno = 0;
    assert_int_equal (outbox_append (outbox, NULL), -1);
    assert_int_equal (errno, EAGAIN);
    /* Taken but unresolved still counts: room comes back only on resolve. */
    fling_batch_t *batch = fling_outbox_take (outbox, fling_clock_us (), -1, NULL);
    assert_non_null (batch);
    assert_int_equal (outbox_append (outbox, NULL), -1);
    fling_outbox_resolve (outbox, &batch, UINT64_MAX);
    assert_int_equal (outbox_append (outbox, NULL), 0);
    assert_int_equal (outbox_append (outbox, NULL), 0);
    assert_int_equal (outbox_append (outbox, NULL), -1);
    assert_int_equal (fling_outbox_held (outbox), 5);
    /* Only appends that returned 0 count as appended (the producer's `sent`). */
    assert_int_equal (fling_outbox_appended (outbox), 7);
    fling_outbox_destroy (&outbox);

    /* The byte bound: room for two records only. */
    config = outbox_config (1000, 100);
    config.max_bytes = fling_record_size (1, sizeof OUTBOX_PAYLOAD - 1) * 2;
    outbox = fling_outbox_new (&config);
    assert_int_equal (outbox_append (outbox, NULL), 0);
    assert_int_equal (outbox_append (outbox, NULL), 0);
    assert_int_equal (outbox_append (outbox, NULL), -1);
    assert_int_equal (errno, EAGAIN);
    fling_outbox_destroy (&outbox);
}

static void test_bound_drop (void **state)
{
    (void)state;
    fling_outbox_config_t config = outbox_config (3, 100);
    config.overflow = FLING_OVERFLOW_DROP;
    fling_outbox_t *outbox = fling_outbox_new (&config);
    fling_task_id_t id;
    for (int i = 0; i < 3; i++)
        assert_int_equal (outbox_append (outbox, &id), 0);
    assert_int_equal (outbox_append (outbox, &id), 1);
    assert_int_equal (outbox_append (outbox, &id), 1);
    assert_int_equal (fling_outbox_held (outbox), 3);
    /* Dropped tasks take no sequence number. */
    fling_batch_t *batch = fling_outbox_take (outbox, fling_clock_us (), 0, NULL);
    assert_int_equal (outbox_count_records (batch, NULL, NULL), 3);
    fling_outbox_resolve (outbox, &batch, UINT64_MAX);
    assert_int_equal (outbox_append (outbox, &id), 0);
    assert_int_equal (fling_task_id_seq (&id), 4);
    assert_int_equal (fling_outbox_appended (outbox), 4);
    fling_outbox_destroy (&outbox);
}

static void test_ids_unique_increasing (void **state)
{
    (void)state;
    fling_outbox_config_t config = outbox_config (10000, 7);
    fling_outbox_t *outbox = fling_outbox_new (&config);
    fling_task_id_t previous = {{0}};
    for (int i = 0; i < 1000; i++) {
        fling_task_id_t id;
        assert_int_equal (outbox_append (outbox, &id), 0);
        assert_int_equal (fling_task_id_producer (&id), OUTBOX_PRODUCER_ID);
        assert_int_equal (fling_task_id_seq (&id), (uint64_t)i + 1);
        /* Big-endian bytes: byte order is seq order. */
        assert_true (memcmp (previous.bytes, id.bytes, FLING_TASK_ID_SIZE) < 0);
        previous = id;
    }
    /* Records carry the same ids, in order, across batches. */
    uint64_t expected = 1;
    fling_batch_t *batch;
    while ((batch = fling_outbox_take (outbox, fling_clock_us (), 0, NULL))) {
        uint64_t first, last;
        uint32_t count = outbox_count_records (batch, &first, &last);
        assert_int_equal (first, expected);
        assert_int_equal (last, expected + count - 1);
        expected += count;
        fling_outbox_resolve (outbox, &batch, UINT64_MAX);
    }
    assert_int_equal (expected, 1001);
    fling_outbox_destroy (&outbox);
}

static void test_closed (void **state)
{
    (void)state;
    fling_outbox_config_t config = outbox_config (10, 10);
    fling_outbox_t *outbox = fling_outbox_new (&config);
    fling_outbox_close (outbox);
    errno = 0;
    assert_int_equal (outbox_append (outbox, NULL), -1);
    assert_int_equal (errno, FLING_ECLOSED);
    fling_outbox_destroy (&outbox);

    config.batch_max_tasks = FLING_BATCH_TASKS_MAX + 1;
    assert_null (fling_outbox_new (&config));
    assert_int_equal (errno, EINVAL);
}

static void test_wake_only_when_needed (void **state)
{
    (void)state;
    fling_outbox_config_t config = outbox_config (1000, 4);
    fling_outbox_t *outbox = fling_outbox_new (&config);
    assert_false (wake_readable (outbox));
    /* Empty -> non-empty wakes. */
    assert_int_equal (outbox_append (outbox, NULL), 0);
    assert_true (wake_readable (outbox));
    fling_outbox_wake_clear (outbox);
    assert_false (wake_readable (outbox));
    /* More tasks into a non-empty open batch: no wake-up (no syscall). */
    assert_int_equal (outbox_append (outbox, NULL), 0);
    assert_int_equal (outbox_append (outbox, NULL), 0);
    assert_false (wake_readable (outbox));
    /* Sealing a batch wakes. */
    assert_int_equal (outbox_append (outbox, NULL), 0);
    assert_true (wake_readable (outbox));
    /* A pending wake-up is not written twice before the thread clears it. */
    for (int i = 0; i < 8; i++)
        assert_int_equal (outbox_append (outbox, NULL), 0);
    uint64_t value = 0;
    assert_int_equal (read (fling_outbox_wake_fd (outbox), &value, sizeof value), sizeof value);
    assert_int_equal (value, 1);
    fling_outbox_wake_clear (outbox);
    fling_outbox_wake_force (outbox);
    assert_true (wake_readable (outbox));
    fling_outbox_destroy (&outbox);
}

/* While the I/O thread holds batches awaiting ACKs it looks at the outbox
   again when one comes, so appends do not wake it: a wake-up write costs
   7-15 us on a VM and was fling_send's p99.9. */
static void test_no_wake_while_batches_in_flight (void **state)
{
    (void)state;
    fling_outbox_config_t config = outbox_config (1000, 4);
    fling_outbox_t *outbox = fling_outbox_new (&config);
    fling_outbox_set_in_flight (outbox, 1);
    for (int i = 0; i < 6; i++) /* starts a batch, seals it, starts another */
        assert_int_equal (outbox_append (outbox, NULL), 0);
    assert_false (wake_readable (outbox));
    /* The I/O thread's look, after its ACK: it publishes what it holds
       now, then takes, and finds the sealed batch without a wake-up. */
    fling_outbox_set_in_flight (outbox, 0);
    fling_batch_t *batch = fling_outbox_take (outbox, fling_clock_us (), -1, NULL);
    assert_non_null (batch);
    assert_int_equal (fling_batch_count (batch), 4);
    fling_outbox_resolve (outbox, &batch, UINT64_MAX);
    /* Holding nothing, it sleeps until woken: the next seal wakes it. */
    assert_int_equal (outbox_append (outbox, NULL), 0);
    assert_int_equal (outbox_append (outbox, NULL), 0);
    assert_true (wake_readable (outbox));
    fling_outbox_destroy (&outbox);
}

static void test_flush_waits_for_earlier_tasks (void **state)
{
    (void)state;
    fling_outbox_config_t config = outbox_config (1000, 10);
    fling_outbox_t *outbox = fling_outbox_new (&config);
    assert_int_equal (fling_outbox_flush (outbox, 0), 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal (outbox_append (outbox, NULL), 0);
    fling_batch_t *a = fling_outbox_take (outbox, fling_clock_us (), -1, NULL);
    fling_batch_t *b = fling_outbox_take (outbox, fling_clock_us (), -1, NULL);
    errno = 0;
    assert_int_equal (fling_outbox_flush (outbox, 10), -1);
    assert_int_equal (errno, ETIMEDOUT);
    /* The later batch answered first: the earlier one still blocks flush. */
    fling_outbox_resolve (outbox, &b, fling_batch_first_seq (a));
    assert_int_equal (fling_outbox_flush (outbox, 0), -1);
    fling_outbox_resolve (outbox, &a, UINT64_MAX);
    assert_int_equal (fling_outbox_flush (outbox, 0), 0);
    /* A new task holds flush up until it is resolved. */
    assert_int_equal (outbox_append (outbox, NULL), 0);
    assert_int_equal (fling_outbox_flush (outbox, 0), -1);
    fling_batch_t *c = fling_outbox_take (outbox, fling_clock_us (), 0, NULL);
    fling_outbox_resolve (outbox, &c, UINT64_MAX);
    assert_int_equal (fling_outbox_flush (outbox, 0), 0);
    fling_outbox_destroy (&outbox);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_batch_by_count),
        cmocka_unit_test (test_batch_by_bytes),
        cmocka_unit_test (test_bound_fail),
        cmocka_unit_test (test_bound_drop),
        cmocka_unit_test (test_ids_unique_increasing),
        cmocka_unit_test (test_closed),
        cmocka_unit_test (test_wake_only_when_needed),
        cmocka_unit_test (test_no_wake_while_batches_in_flight),
        cmocka_unit_test (test_flush_waits_for_earlier_tasks),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
