/*  test_broker_rate.c - a name's rate limit in the real broker
    (broker/fling_dispatch.c, fling_names.c; proto/SPEC.md §6.8): over
    any time T at most burst + rate x T tasks of the name are dispatched,
    whichever workers come and go. Here every worker of the name goes, with
    its bucket spent and no task left: the name must not be forgotten (and
    come back with a full bucket) until its bucket has refilled; and a
    restart must not hand out a new burst either.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "broker_fixture.h"

#define WAIT_MS 20000

/* "email" at one task a minute, burst 1: after the first task, none
   before a minute has passed. */
static void rate_limited (fling_broker_config_t *config)
{
    fling_queue_config_t *queue = &config->queues[0];
    memset (queue, 0, sizeof *queue);
    strcpy (queue->name, "email");
    queue->rate = 1;
    queue->rate_period_ms = 60000;
    queue->burst = 1;
    queue->set = 16 | 32;
    config->queue_count = 1;
    config->worker_timeout_ms = 500; /* a closed worker is noticed soon */
}

static fixture_t *start_rate_limited (void)
{
    fixture_t *ctx = fixture_new (WAIT_MS);
    rate_limited (&ctx->config);
    fixture_launch (ctx);
    return ctx;
}

/* One "email" task dispatched to a new worker and done: with the limit
   above, the one token. */
static void spend_the_token (fixture_t *ctx, uint64_t seq, zsock_t **worker)
{
    *worker = fixture_worker_ready (ctx, "email", NULL);
    fixture_submit_acked (ctx, seq, seq, 1, FLING_REASON_OK);
    fixture_run_done (ctx, *worker, 1);
    fixture_wait_stat (ctx, "counters", "done", 1);
}

/* A second "email" task, and a new worker that must not get it within
   1.5 s (a full bucket would send it at once). */
static zsock_t *no_second_task (fixture_t *ctx)
{
    fixture_submit_acked (ctx, 2, 2, 1, FLING_REASON_OK);
    zsock_t *worker = fixture_worker_ready (ctx, "email", NULL);
    fixture_no_task (worker, 1500);
    return worker;
}

static void test_spent_bucket_outlives_its_workers (void **state)
{
    fixture_t *ctx = start_rate_limited ();
    *state = ctx;
    zsock_t *worker;
    spend_the_token (ctx, 1, &worker);

    /* No task, no worker: the name is swept unless its bucket holds it. */
    fixture_worker_close (ctx, &worker);
    fixture_wait_no_workers (ctx);
    worker = no_second_task (ctx);
    assert_int_equal (fixture_stat (ctx, "counters", "names_freed"), 0);
    fixture_finish (&ctx, &worker);
    *state = NULL;
}

/* The bucket is not stored: a broker restarting on its store cannot know
   what the last run spent, so it starts the bucket empty (refilling from
   its start). A full one would run a second task within the minute. */
static void test_restart_starts_the_bucket_empty (void **state)
{
    fixture_t *ctx = fixture_start_disk (WAIT_MS, rate_limited);
    *state = ctx;
    zsock_t *worker;
    spend_the_token (ctx, 1, &worker);
    fixture_worker_close (ctx, &worker);
    fixture_restart (ctx);
    worker = no_second_task (ctx);
    fixture_finish (&ctx, &worker);
    *state = NULL;
}

/* Without a rate limit a name with no task and no worker still goes. */
static void test_plain_name_is_swept (void **state)
{
    fixture_t *ctx = fixture_new (WAIT_MS);
    *state = ctx;
    ctx->config.worker_timeout_ms = 500;
    fixture_launch (ctx);
    zsock_t *worker;
    spend_the_token (ctx, 1, &worker); /* no limit here: just one task run */
    fixture_worker_close (ctx, &worker);
    fixture_wait_no_workers (ctx);
    fixture_wait_stat (ctx, "counters", "names_freed", 1);
    fixture_finish (&ctx, NULL);
    *state = NULL;
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_spent_bucket_outlives_its_workers, fixture_teardown),
        cmocka_unit_test_teardown (test_restart_starts_the_bucket_empty, fixture_teardown),
        cmocka_unit_test_teardown (test_plain_name_is_swept, fixture_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
