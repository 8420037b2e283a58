/*  test_broker_rate.c - a name's rate limit in the real broker
    (broker/fling_dispatch.c, fling_names.c; proto/SPEC.md §6.8): over
    any time T at most burst + rate x T tasks of the name are dispatched,
    whichever workers come and go. Here every worker of the name goes, with
    its bucket spent and no task left: the name must not be forgotten (and
    come back with a full bucket) until its bucket has refilled.
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
static fixture_t *start_rate_limited (void)
{
    fixture_t *ctx = fixture_new (WAIT_MS);
    fling_queue_config_t *queue = &ctx->config.queues[0];
    memset (queue, 0, sizeof *queue);
    strcpy (queue->name, "email");
    queue->rate = 1;
    queue->rate_period_ms = 60000;
    queue->burst = 1;
    queue->set = 16 | 32;
    ctx->config.queue_count = 1;
    ctx->config.worker_timeout_ms = 500; /* a closed worker is noticed soon */
    fixture_launch (ctx);
    return ctx;
}

static void test_spent_bucket_outlives_its_workers (void **state)
{
    fixture_t *ctx = start_rate_limited ();
    *state = ctx;
    zsock_t *worker = fixture_worker_ready (ctx, "email", NULL);
    fixture_submit_acked (ctx, 1, 1, 1, FLING_REASON_OK);
    fixture_lease_t lease;
    fixture_next_task (ctx, worker, &lease); /* the one token */
    fixture_results (worker, &lease, 1, FLING_OUTCOME_DONE, "");
    fixture_wait_stat (ctx, "counters", "done", 1);

    /* No task, no worker: the name is swept unless its bucket holds it. */
    fixture_worker_close (ctx, &worker);
    fixture_wait_no_workers (ctx);
    fixture_submit_acked (ctx, 2, 2, 1, FLING_REASON_OK);
    worker = fixture_worker_ready (ctx, "email", NULL);
    fixture_no_task (worker, 1500); /* a full bucket would send it at once */
    assert_int_equal (fixture_stat (ctx, "counters", "names_freed"), 0);
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
    zsock_t *worker = fixture_worker_ready (ctx, "email", NULL);
    fixture_submit_acked (ctx, 1, 1, 1, FLING_REASON_OK);
    fixture_lease_t lease;
    fixture_next_task (ctx, worker, &lease);
    fixture_results (worker, &lease, 1, FLING_OUTCOME_DONE, "");
    fixture_wait_stat (ctx, "counters", "done", 1);
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
        cmocka_unit_test_teardown (test_plain_name_is_swept, fixture_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
