/*  test_outbox_threads.c - the producer's outbox (producer/fling_outbox.c)
    from several threads at once: each calling thread's shard, bounds and
    flush across shards, and concurrent appends against the I/O thread's
    takes, with nothing lost or torn (run this under TSan too). One thread
    alone is test_outbox.c.
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
        job->rc = outbox_append (job->outbox, &job->last_id);
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
    fling_outbox_config_t config = outbox_config (100, 1000);
    fling_outbox_t *outbox = fling_outbox_new (&config);
    one_shot_t job = {.outbox = outbox, .count = 1};
    append_elsewhere (&job);
    int appended = 0;
    while (outbox_append (outbox, NULL) == 0)
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
    assert_int_equal (outbox_append (outbox, NULL), -1);
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
    fling_outbox_config_t config = outbox_config (1000, 10);
    fling_outbox_t *outbox = fling_outbox_new (&config);
    one_shot_t job = {.outbox = outbox, .count = 1};
    append_elsewhere (&job); /* seq 1, alone in the other shard's open batch */
    assert_int_equal (fling_task_id_seq (&job.last_id), 1);
    fling_task_id_t id;
    for (int i = 0; i < 10; i++) /* seqs 2..11: this shard seals a batch of 10 */
        assert_int_equal (outbox_append (outbox, &id), 0);
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
    assert_int_equal (outbox_count_records (other, &first, &last), 1);
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
        if (outbox_append (job->outbox, NULL) != 0) {
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
        fling_outbox_config_t config = outbox_config (FILLERS * SHARE, 256);
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
        while (outbox_append (outbox, NULL) == 0)
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
        fling_outbox_task_t task = outbox_task_small;
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
        while (fling_outbox_append (shared->outbox, &outbox_task_small, NULL) != 0)
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
    fling_outbox_config_t config = outbox_config (MAX_HELD, 64);
    shared_t shared = {.outbox = fling_outbox_new (&config)};
    run_appenders_and_taker (&shared, bursty_appender, sender_like_taker);
    fling_outbox_destroy (&shared.outbox);
}

static void run_concurrent_appends (bool varied)
{
    /* Small: the bound is hit too. Batches of 7 keep more batches in
       flight than the outbox recycles, so new ones are allocated while the
       other threads append. */
    fling_outbox_config_t config = outbox_config (MAX_HELD, varied ? 256 : 7);
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
        cmocka_unit_test (test_bound_with_idle_shard),
        cmocka_unit_test (test_flush_across_shards),
        cmocka_unit_test (test_fill_to_bound_from_threads),
        cmocka_unit_test (test_concurrent_appends),
        cmocka_unit_test (test_no_lost_wakeup_with_a_window),
        cmocka_unit_test (test_concurrent_appends_varied_sizes),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
