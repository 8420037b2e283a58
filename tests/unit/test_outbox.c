/*  test_outbox.c - the bounded outbox between fling_send() callers and the
    producer's I/O thread (producer/fling_outbox.c): batching, bounds and
    overflow policies, task ids, wake-ups, flush, and appends from several
    threads at once (run this under TSan too).
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

#define PRODUCER_ID 0x0123456789abcdefULL
#define PAYLOAD     "{\"n\":1}"

static fling_outbox_config_t config_of (size_t max_tasks, size_t batch_tasks)
{
    return (fling_outbox_config_t){
        .max_tasks = max_tasks,
        .max_bytes = 1 << 30,
        .overflow = FLING_OVERFLOW_FAIL,
        .batch_max_tasks = batch_tasks,
        .batch_max_bytes = 1 << 20,
        .producer_id = PRODUCER_ID,
    };
}

static const fling_outbox_task_t task_small = {
    .name = "t", .name_size = 1, .payload = PAYLOAD, .payload_size = sizeof PAYLOAD - 1};

static int append (fling_outbox_t *outbox, fling_task_id_t *id)
{
    return fling_outbox_append (outbox, &task_small, id);
}

/* Decodes every record of a batch; checks the names, returns the count. */
static uint32_t count_records (const fling_batch_t *batch, uint64_t *first_seq, uint64_t *last_seq)
{
    const uint8_t *cursor = fling_batch_data (batch);
    const uint8_t *end = cursor + fling_batch_size (batch);
    fling_record_t record;
    fling_reason_t why;
    uint32_t count = 0;
    int rc;
    while ((rc = fling_record_next (&cursor, end, &record, &why)) == 1) {
        assert_int_equal (record.attempt, 0);
        assert_int_equal (fling_task_id_producer (&record.id), PRODUCER_ID);
        uint64_t seq = fling_task_id_seq (&record.id);
        if (count == 0 && first_seq)
            *first_seq = seq;
        if (last_seq)
            *last_seq = seq;
        count++;
    }
    assert_int_equal (rc, 0);
    return count;
}

static bool wake_readable (fling_outbox_t *outbox)
{
    struct pollfd pfd = {.fd = fling_outbox_wake_fd (outbox), .events = POLLIN};
    return poll (&pfd, 1, 0) == 1;
}

static void test_batch_by_count (void **state)
{
    (void)state;
    fling_outbox_config_t config = config_of (1000, 10);
    fling_outbox_t *outbox = fling_outbox_new (&config);
    assert_non_null (outbox);
    for (int i = 0; i < 25; i++)
        assert_int_equal (append (outbox, NULL), 0);
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
    assert_int_equal (count_records (a, &first, &last), 10);
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
    assert_int_equal (count_records (c, &first, &last), 5);
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
    size_t record = fling_record_size (1, sizeof PAYLOAD - 1);
    fling_outbox_config_t config = config_of (1000, 1000);
    config.batch_max_bytes = record * 3 + record / 2; /* room for 3 records, not 4 */
    fling_outbox_t *outbox = fling_outbox_new (&config);
    for (int i = 0; i < 7; i++)
        assert_int_equal (append (outbox, NULL), 0);
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
    assert_int_equal (count_records (d, NULL, NULL), 1);
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
    fling_outbox_config_t config = config_of (5, 2);
    fling_outbox_t *outbox = fling_outbox_new (&config);
    for (int i = 0; i < 5; i++)
        assert_int_equal (append (outbox, NULL), 0);
    errno = 0;
    assert_int_equal (append (outbox, NULL), -1);
    assert_int_equal (errno, EAGAIN);
    /* Taken but unresolved still counts: room comes back only on resolve. */
    fling_batch_t *batch = fling_outbox_take (outbox, fling_clock_us (), -1, NULL);
    assert_non_null (batch);
    assert_int_equal (append (outbox, NULL), -1);
    fling_outbox_resolve (outbox, &batch, UINT64_MAX);
    assert_int_equal (append (outbox, NULL), 0);
    assert_int_equal (append (outbox, NULL), 0);
    assert_int_equal (append (outbox, NULL), -1);
    assert_int_equal (fling_outbox_held (outbox), 5);
    /* Only appends that returned 0 count as appended (the producer's `sent`). */
    assert_int_equal (fling_outbox_appended (outbox), 7);
    fling_outbox_destroy (&outbox);

    /* The byte bound: room for two records only. */
    config = config_of (1000, 100);
    config.max_bytes = fling_record_size (1, sizeof PAYLOAD - 1) * 2;
    outbox = fling_outbox_new (&config);
    assert_int_equal (append (outbox, NULL), 0);
    assert_int_equal (append (outbox, NULL), 0);
    assert_int_equal (append (outbox, NULL), -1);
    assert_int_equal (errno, EAGAIN);
    fling_outbox_destroy (&outbox);
}

static void test_bound_drop (void **state)
{
    (void)state;
    fling_outbox_config_t config = config_of (3, 100);
    config.overflow = FLING_OVERFLOW_DROP;
    fling_outbox_t *outbox = fling_outbox_new (&config);
    fling_task_id_t id;
    for (int i = 0; i < 3; i++)
        assert_int_equal (append (outbox, &id), 0);
    assert_int_equal (append (outbox, &id), 1);
    assert_int_equal (append (outbox, &id), 1);
    assert_int_equal (fling_outbox_held (outbox), 3);
    /* Dropped tasks take no sequence number. */
    fling_batch_t *batch = fling_outbox_take (outbox, fling_clock_us (), 0, NULL);
    assert_int_equal (count_records (batch, NULL, NULL), 3);
    fling_outbox_resolve (outbox, &batch, UINT64_MAX);
    assert_int_equal (append (outbox, &id), 0);
    assert_int_equal (fling_task_id_seq (&id), 4);
    assert_int_equal (fling_outbox_appended (outbox), 4);
    fling_outbox_destroy (&outbox);
}

static void test_ids_unique_increasing (void **state)
{
    (void)state;
    fling_outbox_config_t config = config_of (10000, 7);
    fling_outbox_t *outbox = fling_outbox_new (&config);
    fling_task_id_t previous = {{0}};
    for (int i = 0; i < 1000; i++) {
        fling_task_id_t id;
        assert_int_equal (append (outbox, &id), 0);
        assert_int_equal (fling_task_id_producer (&id), PRODUCER_ID);
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
        uint32_t count = count_records (batch, &first, &last);
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
    fling_outbox_config_t config = config_of (10, 10);
    fling_outbox_t *outbox = fling_outbox_new (&config);
    fling_outbox_close (outbox);
    errno = 0;
    assert_int_equal (append (outbox, NULL), -1);
    assert_int_equal (errno, FLING_ECLOSED);
    fling_outbox_destroy (&outbox);

    config.batch_max_tasks = FLING_BATCH_TASKS_MAX + 1;
    assert_null (fling_outbox_new (&config));
    assert_int_equal (errno, EINVAL);
}

static void test_wake_only_when_needed (void **state)
{
    (void)state;
    fling_outbox_config_t config = config_of (1000, 4);
    fling_outbox_t *outbox = fling_outbox_new (&config);
    assert_false (wake_readable (outbox));
    /* Empty -> non-empty wakes. */
    assert_int_equal (append (outbox, NULL), 0);
    assert_true (wake_readable (outbox));
    fling_outbox_wake_clear (outbox);
    assert_false (wake_readable (outbox));
    /* More tasks into a non-empty open batch: no wake-up (no syscall). */
    assert_int_equal (append (outbox, NULL), 0);
    assert_int_equal (append (outbox, NULL), 0);
    assert_false (wake_readable (outbox));
    /* Sealing a batch wakes. */
    assert_int_equal (append (outbox, NULL), 0);
    assert_true (wake_readable (outbox));
    /* A pending wake-up is not written twice before the thread clears it. */
    for (int i = 0; i < 8; i++)
        assert_int_equal (append (outbox, NULL), 0);
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
    fling_outbox_config_t config = config_of (1000, 4);
    fling_outbox_t *outbox = fling_outbox_new (&config);
    fling_outbox_set_in_flight (outbox, 1);
    for (int i = 0; i < 6; i++) /* starts a batch, seals it, starts another */
        assert_int_equal (append (outbox, NULL), 0);
    assert_false (wake_readable (outbox));
    /* The I/O thread's look, after its ACK: it publishes what it holds
       now, then takes, and finds the sealed batch without a wake-up. */
    fling_outbox_set_in_flight (outbox, 0);
    fling_batch_t *batch = fling_outbox_take (outbox, fling_clock_us (), -1, NULL);
    assert_non_null (batch);
    assert_int_equal (fling_batch_count (batch), 4);
    fling_outbox_resolve (outbox, &batch, UINT64_MAX);
    /* Holding nothing, it sleeps until woken: the next seal wakes it. */
    assert_int_equal (append (outbox, NULL), 0);
    assert_int_equal (append (outbox, NULL), 0);
    assert_true (wake_readable (outbox));
    fling_outbox_destroy (&outbox);
}

static void test_flush_waits_for_earlier_tasks (void **state)
{
    (void)state;
    fling_outbox_config_t config = config_of (1000, 10);
    fling_outbox_t *outbox = fling_outbox_new (&config);
    assert_int_equal (fling_outbox_flush (outbox, 0), 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal (append (outbox, NULL), 0);
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
    assert_int_equal (append (outbox, NULL), 0);
    assert_int_equal (fling_outbox_flush (outbox, 0), -1);
    fling_batch_t *c = fling_outbox_take (outbox, fling_clock_us (), 0, NULL);
    fling_outbox_resolve (outbox, &c, UINT64_MAX);
    assert_int_equal (fling_outbox_flush (outbox, 0), 0);
    fling_outbox_destroy (&outbox);
}

/* ---- shards: each calling thread appends to a shard of its own -------------- */

typedef struct {
    fling_outbox_t *outbox;
    int count;
    int rc;
    fling_task_id_t last_id;
} one_shot_t;

/* Appends `count` tasks from a thread of its own (so from another shard)
   and ends, leaving whatever credit its shard took. */
static void *append_from_thread (void *arg)
{
    one_shot_t *job = (one_shot_t *)arg;
    for (int i = 0; i < job->count && job->rc == 0; i++)
        job->rc = append (job->outbox, &job->last_id);
    return NULL;
}

static void append_elsewhere (one_shot_t *job)
{
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, append_from_thread, job), 0);
    assert_int_equal (pthread_join (thread, NULL), 0);
    assert_int_equal (job->rc, 0);
}

/* A thread that stopped sending keeps the credit its shard took ahead;
   the outbox still fills to its bound exactly, not short of it. */
static void test_bound_with_idle_shard (void **state)
{
    (void)state;
    fling_outbox_config_t config = config_of (100, 1000);
    fling_outbox_t *outbox = fling_outbox_new (&config);
    one_shot_t job = {.outbox = outbox, .count = 1};
    append_elsewhere (&job);
    int appended = 0;
    while (append (outbox, NULL) == 0)
        appended++;
    assert_int_equal (errno, EAGAIN);
    assert_int_equal (appended, 99);
    assert_int_equal (fling_outbox_held (outbox), 100);
    assert_int_equal (fling_outbox_appended (outbox), 100);
    /* Room made by a resolve goes to whoever asks, idle shard or not. */
    fling_batch_t *batch;
    while ((batch = fling_outbox_take (outbox, fling_clock_us (), 0, NULL)))
        fling_outbox_resolve (outbox, &batch, UINT64_MAX);
    assert_int_equal (fling_outbox_held (outbox), 0);
    job.count = 100;
    append_elsewhere (&job);
    assert_int_equal (append (outbox, NULL), -1);
    assert_int_equal (errno, EAGAIN);
    assert_int_equal (fling_outbox_held (outbox), 100);
    fling_outbox_destroy (&outbox);
}

/* Shards seal and the I/O thread takes in any order: flush still waits
   for every task appended before it, whichever shard holds it, and ids
   stay unique and dense across shards. */
static void test_flush_across_shards (void **state)
{
    (void)state;
    fling_outbox_config_t config = config_of (1000, 10);
    fling_outbox_t *outbox = fling_outbox_new (&config);
    one_shot_t job = {.outbox = outbox, .count = 1};
    append_elsewhere (&job); /* seq 1, alone in the other shard's open batch */
    assert_int_equal (fling_task_id_seq (&job.last_id), 1);
    fling_task_id_t id;
    for (int i = 0; i < 10; i++) /* seqs 2..11: this shard seals a batch of 10 */
        assert_int_equal (append (outbox, &id), 0);
    assert_int_equal (fling_task_id_seq (&id), 11);
    /* The sealed batch comes first; the other shard's open one only once due. */
    fling_batch_t *mine = fling_outbox_take (outbox, fling_clock_us (), -1, NULL);
    assert_non_null (mine);
    assert_int_equal (fling_batch_first_seq (mine), 2);
    assert_null (fling_outbox_take (outbox, fling_clock_us (), -1, NULL));
    int64_t due = 0;
    assert_null (fling_outbox_take (outbox, fling_clock_us (), 3600 * 1000000LL, &due));
    assert_true (due > fling_clock_us ());
    fling_outbox_resolve (outbox, &mine, UINT64_MAX);
    errno = 0;
    assert_int_equal (fling_outbox_flush (outbox, 0), -1); /* seq 1 is still open */
    assert_int_equal (errno, ETIMEDOUT);
    fling_batch_t *other = fling_outbox_take (outbox, fling_clock_us (), 0, NULL);
    assert_non_null (other);
    uint64_t first = 0, last = 0;
    assert_int_equal (count_records (other, &first, &last), 1);
    assert_int_equal (first, 1);
    fling_outbox_resolve (outbox, &other, UINT64_MAX);
    assert_int_equal (fling_outbox_flush (outbox, 0), 0);
    assert_int_equal (fling_outbox_held (outbox), 0);
    fling_outbox_destroy (&outbox);
}

/* Threads that fill the outbox to exactly its bound together are never
   refused: credit a finished thread's shard still holds is taken back
   rather than refused around (send_only in bench/run runs the same). */
static void *fill_share (void *arg)
{
    one_shot_t *job = (one_shot_t *)arg;
    for (int i = 0; i < job->count; i++)
        if (append (job->outbox, NULL) != 0) {
            job->rc = -1;
            break;
        }
    return NULL;
}

static void test_fill_to_bound_from_threads (void **state)
{
    (void)state;
    enum { FILLERS = 4, SHARE = 2500 };
    for (int round = 0; round < 20; round++) {
        fling_outbox_config_t config = config_of (FILLERS * SHARE, 256);
        fling_outbox_t *outbox = fling_outbox_new (&config);
        one_shot_t jobs[FILLERS];
        pthread_t threads[FILLERS];
        for (int i = 0; i < FILLERS; i++) {
            jobs[i] = (one_shot_t){.outbox = outbox, .count = SHARE - 7 * i};
            assert_int_equal (pthread_create (&threads[i], NULL, fill_share, &jobs[i]), 0);
        }
        for (int i = 0; i < FILLERS; i++) {
            assert_int_equal (pthread_join (threads[i], NULL), 0);
            assert_int_equal (jobs[i].rc, 0);
        }
        /* What the threads left is exactly what this one still gets. */
        int more = 0;
        while (append (outbox, NULL) == 0)
            more++;
        assert_int_equal (errno, EAGAIN);
        assert_int_equal (more, 7 * (0 + 1 + 2 + 3));
        assert_int_equal (fling_outbox_held (outbox), FILLERS * SHARE);
        fling_outbox_destroy (&outbox);
    }
}

/* ---- concurrency ------------------------------------------------------------ */

#define THREADS    4
#define PER_THREAD 10000
#define MAX_HELD   5000

typedef struct {
    fling_outbox_t *outbox;
    bool varied; /* records of 20 bytes to 20 KB, so open batches must grow or seal */
    atomic_int appenders_left;
    atomic_bool taker_failed; /* appenders stop retrying a full outbox */
    uint8_t *seen;            /* one byte per sequence number */
    uint64_t taken;
} shared_t;

#define VARIED_MAX 20000

/* {"p":"ddd..."}: one digit repeated, so a torn or moved record shows. */
static size_t varied_payload (char *out, int i)
{
    size_t pad = (size_t)(i * 7919) % VARIED_MAX;
    memcpy (out, "{\"p\":\"", 6);
    memset (out + 6, '0' + i % 10, pad);
    memcpy (out + 6 + pad, "\"}", 3);
    return 6 + pad + 2;
}

static bool varied_payload_intact (const char *payload, size_t size)
{
    if (size < 8 || memcmp (payload, "{\"p\":\"", 6) != 0)
        return false;
    for (size_t k = 6; k < size - 2; k++)
        if (payload[k] != payload[6])
            return false;
    return memcmp (payload + size - 2, "\"}", 2) == 0;
}

static void *appender (void *arg)
{
    shared_t *shared = (shared_t *)arg;
    char *payload = (char *)malloc (VARIED_MAX + 16);
    for (int i = 0; i < PER_THREAD; i++) {
        fling_outbox_task_t task = task_small;
        if (shared->varied) {
            task.payload = payload;
            task.payload_size = varied_payload (payload, i);
        }
        while (fling_outbox_append (shared->outbox, &task, NULL) != 0)
            if (errno != EAGAIN || atomic_load (&shared->taker_failed)) {
                /* full is fine while the taker makes room */
                free (payload);
                return (void *)1;
            }
    }
    free (payload);
    atomic_fetch_sub (&shared->appenders_left, 1);
    return NULL;
}

/* Plays the I/O thread: waits on the wake fd, takes, checks, resolves. */
static void *take_all (void *arg)
{
    shared_t *shared = (shared_t *)arg;
    struct pollfd pfd = {.fd = fling_outbox_wake_fd (shared->outbox), .events = POLLIN};
    while (true) {
        bool done = atomic_load (&shared->appenders_left) == 0;
        fling_batch_t *batch;
        while ((batch = fling_outbox_take (shared->outbox, fling_clock_us (), 0, NULL))) {
            const uint8_t *cursor = fling_batch_data (batch);
            const uint8_t *end = cursor + fling_batch_size (batch);
            fling_record_t record;
            fling_reason_t why;
            while (fling_record_next (&cursor, end, &record, &why) == 1) {
                uint64_t seq = fling_task_id_seq (&record.id);
                if (seq == 0 || seq > THREADS * PER_THREAD || shared->seen[seq]++)
                    return (void *)1; /* bad or duplicate id */
                if (shared->varied && !varied_payload_intact (record.payload, record.payload_size))
                    return (void *)1; /* read before its writer finished, or moved */
                shared->taken++;
            }
            /* The bound holds while appenders race the lock-free check. */
            if (fling_outbox_held (shared->outbox) > MAX_HELD)
                return (void *)1;
            fling_outbox_resolve (shared->outbox, &batch, UINT64_MAX);
        }
        if (done)
            return NULL;
        if (poll (&pfd, 1, 10) == 1)
            fling_outbox_wake_clear (shared->outbox);
    }
}

static void *taker (void *arg)
{
    shared_t *shared = (shared_t *)arg;
    void *result = take_all (shared);
    if (result)
        atomic_store (&shared->taker_failed, true);
    return result;
}

/* Runs THREADS appenders and one taker on `shared` to the end; checks that
   every thread succeeded and every task was taken and resolved. */
static void run_appenders_and_taker (shared_t *shared, void *(*append_fn) (void *),
                                     void *(*take_fn) (void *))
{
    atomic_init (&shared->appenders_left, THREADS);
    atomic_init (&shared->taker_failed, false);
    pthread_t threads[THREADS], take_thread;
    assert_int_equal (pthread_create (&take_thread, NULL, take_fn, shared), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal (pthread_create (&threads[i], NULL, append_fn, shared), 0);
    void *result = NULL;
    for (int i = 0; i < THREADS; i++) {
        pthread_join (threads[i], &result);
        assert_null (result);
    }
    pthread_join (take_thread, &result);
    assert_null (result);
    assert_int_equal (shared->taken, THREADS * PER_THREAD);
    assert_int_equal (fling_outbox_held (shared->outbox), 0);
}

/* Plays the I/O thread as fling_sender.c does, with a window of batches
   "sent" and acknowledged a millisecond later, and sleeps on the wake fd
   without a timeout while it holds none: a lost wake-up leaves it asleep
   with tasks waiting, which the 5 s limit turns into a failure. */
#define WINDOW 4
static void *take_as_sender (void *arg)
{
    shared_t *shared = (shared_t *)arg;
    struct pollfd pfd = {.fd = fling_outbox_wake_fd (shared->outbox), .events = POLLIN};
    fling_batch_t *window[WINDOW];
    size_t held = 0;
    while (true) {
        fling_outbox_set_in_flight (shared->outbox, held);
        fling_batch_t *batch;
        while (held < WINDOW && (batch = fling_outbox_take (shared->outbox, fling_clock_us (),
                                                            held ? 500 : 0, NULL))) {
            shared->taken += fling_batch_count (batch);
            window[held++] = batch;
        }
        usleep (100); /* slow after its look: appenders seal meanwhile */
        fling_outbox_set_in_flight (shared->outbox, held);
        if (held == 0 && atomic_load (&shared->appenders_left) == 0 &&
            fling_outbox_held (shared->outbox) == 0)
            return NULL;
        int ready = poll (&pfd, 1, held ? 1 : 5000); /* held: the "ACK" comes in 1 ms */
        if (ready == 1)
            fling_outbox_wake_clear (shared->outbox);
        else if (held == 0)
            return (void *)1; /* asleep with nothing held: a wake-up was lost */
        if (held) {
            fling_outbox_resolve (shared->outbox, &window[0], UINT64_MAX);
            memmove (&window[0], &window[1], (held - 1) * sizeof window[0]);
            held--;
        }
    }
}

static void *sender_like_taker (void *arg)
{
    void *result = take_as_sender (arg);
    if (result)
        atomic_store (&((shared_t *)arg)->taker_failed, true);
    return result;
}

/* Appends in bursts of a batch with pauses, so the taker often holds
   nothing and sleeps: the moment a lost wake-up would strand it. */
static void *bursty_appender (void *arg)
{
    shared_t *shared = (shared_t *)arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    for (int i = 0; i < PER_THREAD; i++) {
        while (fling_outbox_append (shared->outbox, &task_small, NULL) != 0)
            if (errno != EAGAIN || atomic_load (&shared->taker_failed))
                return (void *)1;
        if (i % 64 == 63)
            usleep ((useconds_t)(rand_r (&seed) % 300));
    }
    atomic_fetch_sub (&shared->appenders_left, 1);
    return NULL;
}

static void test_no_lost_wakeup_with_a_window (void **state)
{
    (void)state;
    fling_outbox_config_t config = config_of (MAX_HELD, 64);
    shared_t shared = {.outbox = fling_outbox_new (&config)};
    run_appenders_and_taker (&shared, bursty_appender, sender_like_taker);
    fling_outbox_destroy (&shared.outbox);
}

static void run_concurrent_appends (bool varied)
{
    /* Small: the bound is hit too. Batches of 7 keep more batches in
       flight than the outbox recycles, so new ones are allocated while the
       other threads append. */
    fling_outbox_config_t config = config_of (MAX_HELD, varied ? 256 : 7);
    shared_t shared = {.outbox = fling_outbox_new (&config), .varied = varied};
    shared.seen = (uint8_t *)calloc (THREADS * PER_THREAD + 1, 1);
    run_appenders_and_taker (&shared, appender, taker);
    assert_int_equal (fling_outbox_appended (shared.outbox), THREADS * PER_THREAD);
    for (uint64_t seq = 1; seq <= THREADS * PER_THREAD; seq++)
        assert_int_equal (shared.seen[seq], 1);
    assert_int_equal (fling_outbox_flush (shared.outbox, 0), 0);
    free (shared.seen);
    fling_outbox_destroy (&shared.outbox);
}

static void test_concurrent_appends (void **state)
{
    (void)state;
    run_concurrent_appends (false);
}

/* Records write outside the lock: the I/O thread must never read one
   before its writer is done, and a batch buffer must never move (grow)
   under a writer. Records up to 20 KB make open batches outgrow their
   first 64 KB buffer while other threads are still writing into them. */
static void test_concurrent_appends_varied_sizes (void **state)
{
    (void)state;
    run_concurrent_appends (true);
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
        cmocka_unit_test (test_bound_with_idle_shard),
        cmocka_unit_test (test_flush_across_shards),
        cmocka_unit_test (test_fill_to_bound_from_threads),
        cmocka_unit_test (test_concurrent_appends),
        cmocka_unit_test (test_no_lost_wakeup_with_a_window),
        cmocka_unit_test (test_concurrent_appends_varied_sizes),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
