/*  test_pool.c - the worker's blocking thread pool (worker/fling_pool.c).

    Jobs go to idle threads only, each runs once, no more than `size` run
    at once, hooks run once per thread with per-thread state, a slow job
    does not hold up the others, and destroy never waits for a stuck job.
    Run under TSan too: the pool is the worker's threaded code.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka needs the four headers above first */
#include <cmocka.h>

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fling_log.h"
#include "fling_pool.h"

#define WAIT_MS 10000 /* bound on every wait; the jobs take far less */

/* ThreadSanitizer: libzmq's suppressions are in tests/tsan.supp. */

/* ---- a job and its bookkeeping ---------------------------------------- */

typedef struct {
    int id;
    long sleep_ms;
    atomic_int runs;
    atomic_int hold; /* set: the job stays inside run (a stuck handler) until cleared */
} job_t;

typedef struct {
    atomic_int running; /* jobs inside run now */
    atomic_int max_running;
    atomic_int discarded;
    atomic_int state_errors; /* a job saw the wrong thread state */
    int slot;                /* hook slot to check, -1 for none */
    int done;                /* loop thread only */
    int target;
    int reaped;          /* loop thread only: detached threads joined */
    int reaped_target;   /* run_until_done also waits for this many */
    int done_order[512]; /* job ids in the order they came back */
    bool timed_out;
} ctx_t;

typedef struct {
    unsigned index;
    pthread_t thread;
} thread_state_t;

static void run_job (void *job_p, void *arg)
{
    job_t *job = (job_t *)job_p;
    ctx_t *ctx = (ctx_t *)arg;
    int now = atomic_fetch_add (&ctx->running, 1) + 1;
    int max = atomic_load (&ctx->max_running);
    while (now > max && !atomic_compare_exchange_weak (&ctx->max_running, &max, now))
        ;
    if (ctx->slot >= 0) {
        thread_state_t *state = (thread_state_t *)fling_thread_state (ctx->slot);
        if (!state || !pthread_equal (state->thread, pthread_self ()))
            atomic_fetch_add (&ctx->state_errors, 1);
    }
    if (job->sleep_ms)
        zclock_sleep ((int)job->sleep_ms);
    for (int i = 0; i < WAIT_MS && atomic_load (&job->hold); i++)
        zclock_sleep (1);
    atomic_fetch_add (&job->runs, 1);
    atomic_fetch_sub (&ctx->running, 1);
}

static void job_done (void *job_p, void *arg)
{
    ctx_t *ctx = (ctx_t *)arg;
    if (ctx->done < (int)(sizeof ctx->done_order / sizeof ctx->done_order[0]))
        ctx->done_order[ctx->done] = ((job_t *)job_p)->id;
    ctx->done++;
}

static ctx_t *discard_ctx;

static void discard_job (void *job_p)
{
    atomic_fetch_add (&discard_ctx->discarded, 1);
}

/* Runs `loop` until ctx->done reaches ctx->target, bounded by WAIT_MS. */
static int check_done (zloop_t *loop, int timer_id, void *arg)
{
    ctx_t *ctx = (ctx_t *)arg;
    return ctx->done >= ctx->target && ctx->reaped >= ctx->reaped_target ? -1 : 0;
}

static int deadline (zloop_t *loop, int timer_id, void *arg)
{
    ((ctx_t *)arg)->timed_out = true;
    return -1;
}

static void run_until_done (zloop_t *loop, ctx_t *ctx)
{
    zloop_timer (loop, 1, 0, check_done, ctx);
    zloop_timer (loop, WAIT_MS, 1, deadline, ctx);
    zloop_start (loop);
    assert_false (ctx->timed_out);
}

static ctx_t *ctx_new (int target)
{
    ctx_t *ctx = (ctx_t *)calloc (1, sizeof *ctx);
    assert_non_null (ctx);
    ctx->slot = -1;
    ctx->target = target;
    discard_ctx = ctx;
    return ctx;
}

/* ---- tests ------------------------------------------------------------ */

static void test_all_run_once_at_most_size (void **state)
{
    enum { N = 200 };
    ctx_t *ctx = ctx_new (N);
    job_t *jobs = (job_t *)calloc (N, sizeof *jobs);
    assert_non_null (jobs);
    fling_pool_t *pool = fling_pool_new (4, NULL, 0, run_job, ctx, discard_job);
    assert_non_null (pool);
    assert_int_equal (fling_pool_size (pool), 4);
    zloop_t *loop = zloop_new ();
    assert_int_equal (fling_pool_attach (pool, loop, job_done, ctx), 0);
    for (int i = 0; i < N; i++) {
        jobs[i].id = i;
        jobs[i].sleep_ms = 1;
        assert_int_equal (fling_pool_submit (pool, &jobs[i]), 0);
    }
    assert_int_equal (fling_pool_busy (pool), 4);
    assert_int_equal (fling_pool_queued (pool), N - 4);
    run_until_done (loop, ctx);

    assert_int_equal (ctx->done, N);
    for (int i = 0; i < N; i++)
        assert_int_equal (atomic_load (&jobs[i].runs), 1);
    assert_true (atomic_load (&ctx->max_running) <= 4);
    assert_true (atomic_load (&ctx->max_running) >= 2);
    /* FIFO: job k cannot start before k - 3 jobs came back (4 threads,
       jobs handed out in order), so it comes back at position k - 3 or later. */
    int position[N];
    for (int i = 0; i < N; i++)
        position[ctx->done_order[i]] = i;
    for (int k = 4; k < N; k++)
        assert_true (position[k] >= k - 3);
    assert_int_equal (fling_pool_busy (pool), 0);
    assert_int_equal (fling_pool_queued (pool), 0);
    fling_pool_destroy (&pool);
    assert_null (pool);
    assert_int_equal (atomic_load (&ctx->discarded), 0);
    zloop_destroy (&loop);
    free (jobs);
    free (ctx);
}

/* ---- hooks ---- */

static atomic_int starts[2][4];
static atomic_int stops[2][4];
static atomic_int stop_state_errors;

static void *hook_start (unsigned index, void *arg)
{
    int set = (int)(intptr_t)arg;
    if (index < 4)
        atomic_fetch_add (&starts[set][index], 1);
    thread_state_t *state = (thread_state_t *)malloc (sizeof *state);
    state->index = index;
    state->thread = pthread_self ();
    return state;
}

static void hook_stop (unsigned index, void *state_p, void *arg)
{
    int set = (int)(intptr_t)arg;
    thread_state_t *state = (thread_state_t *)state_p;
    if (!state || state->index != index || !pthread_equal (state->thread, pthread_self ()))
        atomic_fetch_add (&stop_state_errors, 1);
    if (index < 4)
        atomic_fetch_add (&stops[set][index], 1);
    free (state);
}

static void test_hooks_once_per_thread (void **state)
{
    enum { N = 64 };
    ctx_t *ctx = ctx_new (N);
    ctx->slot = 1; /* the second set: each set has its own slot */
    job_t jobs[N];
    memset (jobs, 0, sizeof jobs);
    fling_pool_hooks_t hooks[2] = {
        {hook_start, hook_stop, (void *)(intptr_t)0},
        {hook_start, hook_stop, (void *)(intptr_t)1},
    };
    fling_pool_t *pool = fling_pool_new (4, hooks, 2, run_job, ctx, discard_job);
    assert_non_null (pool);
    zloop_t *loop = zloop_new ();
    assert_int_equal (fling_pool_attach (pool, loop, job_done, ctx), 0);
    for (int i = 0; i < N; i++) {
        jobs[i].id = i;
        jobs[i].sleep_ms = 2;
        assert_int_equal (fling_pool_submit (pool, &jobs[i]), 0);
    }
    run_until_done (loop, ctx);
    assert_int_equal (atomic_load (&ctx->state_errors), 0);
    /* Not a pool thread: no state. */
    assert_null (fling_thread_state (0));
    assert_null (fling_thread_state (1));
    assert_null (fling_thread_state (-1));
    assert_null (fling_thread_state (FLING_POOL_HOOKS_MAX));
    fling_pool_destroy (&pool);
    for (int set = 0; set < 2; set++)
        for (int i = 0; i < 4; i++) {
            assert_int_equal (atomic_load (&starts[set][i]), 1);
            assert_int_equal (atomic_load (&stops[set][i]), 1);
        }
    assert_int_equal (atomic_load (&stop_state_errors), 0);
    zloop_destroy (&loop);
    free (ctx);
}

/* ---- a slow job does not hold up the others ---- */

static void test_slow_job_does_not_block_others (void **state)
{
    enum { N = 101 };
    ctx_t *ctx = ctx_new (N);
    job_t jobs[N];
    memset (jobs, 0, sizeof jobs);
    fling_pool_t *pool = fling_pool_new (4, NULL, 0, run_job, ctx, discard_job);
    zloop_t *loop = zloop_new ();
    assert_int_equal (fling_pool_attach (pool, loop, job_done, ctx), 0);
    jobs[0].id = 0;
    jobs[0].sleep_ms = 1500;
    assert_int_equal (fling_pool_submit (pool, &jobs[0]), 0);
    for (int i = 1; i < N; i++) {
        jobs[i].id = i;
        jobs[i].sleep_ms = 1;
        assert_int_equal (fling_pool_submit (pool, &jobs[i]), 0);
    }
    int64_t started = fling_clock_ms ();
    ctx->target = N - 1;
    run_until_done (loop, ctx);
    int64_t quick_ms = fling_clock_ms () - started;
    /* 100 jobs of 1 ms on 3 free threads: far below the slow job's 1.5 s. */
    assert_true (quick_ms < 1200);
    for (int i = 0; i < N - 1; i++)
        assert_int_not_equal (ctx->done_order[i], 0);
    assert_int_equal (atomic_load (&jobs[0].runs), 0);
    ctx->target = N;
    run_until_done (loop, ctx);
    assert_int_equal (ctx->done_order[N - 1], 0);
    fling_pool_destroy (&pool);
    zloop_destroy (&loop);
    free (ctx);
}

/* ---- queued jobs can be taken back ---- */

static void test_take_queued (void **state)
{
    ctx_t *ctx = ctx_new (1);
    job_t jobs[4];
    memset (jobs, 0, sizeof jobs);
    fling_pool_t *pool = fling_pool_new (1, NULL, 0, run_job, ctx, discard_job);
    zloop_t *loop = zloop_new ();
    assert_int_equal (fling_pool_attach (pool, loop, job_done, ctx), 0);
    jobs[0].sleep_ms = 100;
    for (int i = 0; i < 4; i++) {
        jobs[i].id = i;
        assert_int_equal (fling_pool_submit (pool, &jobs[i]), 0);
    }
    assert_int_equal (fling_pool_queued (pool), 3);
    assert_ptr_equal (fling_pool_take_queued (pool), &jobs[1]);
    assert_ptr_equal (fling_pool_take_queued (pool), &jobs[2]);
    assert_ptr_equal (fling_pool_take_queued (pool), &jobs[3]);
    assert_null (fling_pool_take_queued (pool));
    run_until_done (loop, ctx);
    assert_int_equal (atomic_load (&jobs[0].runs), 1);
    for (int i = 1; i < 4; i++)
        assert_int_equal (atomic_load (&jobs[i].runs), 0);
    fling_pool_destroy (&pool);
    zloop_destroy (&loop);
    free (ctx);
}

/* ---- destroy with a job still running: the thread is abandoned ---- */

static void test_destroy_abandons_stuck_thread (void **state)
{
    static ctx_t *ctx;
    ctx = ctx_new (0);
    static job_t job;
    memset (&job, 0, sizeof job);
    job.sleep_ms = 400;
    fling_pool_t *pool = fling_pool_new (1, NULL, 0, run_job, ctx, discard_job);
    zloop_t *loop = zloop_new ();
    assert_int_equal (fling_pool_attach (pool, loop, job_done, ctx), 0);
    assert_int_equal (fling_pool_submit (pool, &job), 0);
    for (int i = 0; i < 1000 && atomic_load (&ctx->running) == 0; i++)
        zclock_sleep (1);
    assert_int_equal (atomic_load (&ctx->running), 1);
    int64_t started = fling_clock_ms ();
    fling_pool_destroy (&pool);
    assert_true (fling_clock_ms () - started < 200); /* did not wait for the job */
    assert_int_equal (ctx->done, 0);
    /* The abandoned thread discards the job when it returns. */
    for (int i = 0; i < WAIT_MS && atomic_load (&ctx->discarded) == 0; i++)
        zclock_sleep (1);
    assert_int_equal (atomic_load (&ctx->discarded), 1);
    assert_int_equal (atomic_load (&job.runs), 1);
    zclock_sleep (50); /* let it free its slot and exit before the next test */
    zloop_destroy (&loop);
    free (ctx);
}

/* ---- destroy before a thread picked its job up: the job is cancelled ---- */

static void *slow_start (unsigned index, void *arg)
{
    zclock_sleep (200);
    return NULL;
}

static void test_destroy_cancels_unstarted_job (void **state)
{
    ctx_t *ctx = ctx_new (0);
    job_t job;
    memset (&job, 0, sizeof job);
    fling_pool_hooks_t hooks = {slow_start, NULL, NULL};
    fling_pool_t *pool = fling_pool_new (1, &hooks, 1, run_job, ctx, discard_job);
    zloop_t *loop = zloop_new ();
    assert_int_equal (fling_pool_attach (pool, loop, job_done, ctx), 0);
    assert_int_equal (fling_pool_submit (pool, &job), 0);
    fling_pool_destroy (&pool); /* the thread is still in its start hook */
    assert_int_equal (atomic_load (&ctx->discarded), 1);
    assert_int_equal (atomic_load (&job.runs), 0);
    assert_int_equal (ctx->done, 0);
    zloop_destroy (&loop);
    free (ctx);
}

/* ---- detached threads: replaced up to `size`, then capacity drops ---- */

static atomic_int detach_starts;
static atomic_int detach_stops;

static void *count_start (unsigned index, void *arg)
{
    atomic_fetch_add (&detach_starts, 1);
    return NULL;
}

static void count_stop (unsigned index, void *state, void *arg)
{
    atomic_fetch_add (&detach_stops, 1);
}

static void on_reaped (void *arg)
{
    ((ctx_t *)arg)->reaped++;
}

static void wait_running (ctx_t *ctx, int want)
{
    for (int i = 0; i < WAIT_MS && atomic_load (&ctx->running) < want; i++)
        zclock_sleep (1);
    assert_int_equal (atomic_load (&ctx->running), want);
}

static void test_detach_replaces_then_caps (void **state)
{
    ctx_t *ctx = ctx_new (0);
    static job_t jobs[5]; /* static: threads may outlive a failed test */
    memset (jobs, 0, sizeof jobs);
    for (int i = 0; i < 5; i++)
        jobs[i].id = i;
    atomic_store (&detach_starts, 0);
    atomic_store (&detach_stops, 0);
    fling_pool_hooks_t hooks = {count_start, count_stop, NULL};
    fling_pool_t *pool = fling_pool_new (1, &hooks, 1, run_job, ctx, discard_job);
    zloop_t *loop = zloop_new ();
    assert_int_equal (fling_pool_attach (pool, loop, job_done, ctx), 0);
    fling_pool_on_reaped (pool, on_reaped, ctx);

    /* A stuck job: detached, and a replacement thread starts. */
    atomic_store (&jobs[0].hold, 1);
    assert_int_equal (fling_pool_submit (pool, &jobs[0]), 0);
    wait_running (ctx, 1);
    assert_int_equal (fling_pool_detach (pool, &jobs[0]), 0);
    assert_int_equal (fling_pool_detach (pool, &jobs[0]), -1);
    assert_int_equal (errno, ENOENT);
    assert_int_equal (fling_pool_stuck (pool), 1);
    assert_int_equal (fling_pool_capacity (pool), 1);
    assert_int_equal (fling_pool_busy (pool), 0);

    /* The replacement runs the next job. */
    assert_int_equal (fling_pool_submit (pool, &jobs[1]), 0);
    ctx->target = 1;
    run_until_done (loop, ctx);
    assert_int_equal (ctx->done_order[0], 1);
    assert_int_equal (atomic_load (&detach_starts), 2);

    /* A second stuck job is above the cap (size 1): no thread, capacity 0. */
    atomic_store (&jobs[2].hold, 1);
    assert_int_equal (fling_pool_submit (pool, &jobs[2]), 0);
    wait_running (ctx, 2);
    assert_int_equal (fling_pool_detach (pool, &jobs[2]), 0);
    assert_int_equal (fling_pool_stuck (pool), 2);
    assert_int_equal (fling_pool_capacity (pool), 0);
    assert_int_equal (atomic_load (&detach_starts), 2);
    /* A job now waits: no thread takes it. It can be taken out. */
    assert_int_equal (fling_pool_submit (pool, &jobs[3]), 0);
    assert_int_equal (fling_pool_queued (pool), 1);
    assert_int_equal (fling_pool_remove_queued (pool, &jobs[3]), 0);
    assert_int_equal (fling_pool_remove_queued (pool, &jobs[3]), -1);
    assert_int_equal (errno, ENOENT);
    assert_int_equal (fling_pool_queued (pool), 0);

    /* The stuck jobs return: their threads run their stop hooks and are
       joined, their jobs discarded (not done), and a thread comes back. */
    atomic_store (&jobs[0].hold, 0);
    atomic_store (&jobs[2].hold, 0);
    ctx->reaped_target = 2;
    run_until_done (loop, ctx);
    assert_int_equal (ctx->done, 1);
    assert_int_equal (atomic_load (&ctx->discarded), 2);
    assert_int_equal (fling_pool_stuck (pool), 0);
    assert_int_equal (fling_pool_capacity (pool), 1);
    assert_int_equal (atomic_load (&detach_stops), 2);
    /* The thread that came back runs its start hook on its own time. */
    for (int i = 0; i < WAIT_MS && atomic_load (&detach_starts) < 3; i++)
        zclock_sleep (1);
    assert_int_equal (atomic_load (&detach_starts), 3);
    assert_int_equal (fling_pool_submit (pool, &jobs[4]), 0);
    ctx->target = 2;
    run_until_done (loop, ctx);
    assert_int_equal (ctx->done_order[1], 4);

    fling_pool_destroy (&pool);
    assert_int_equal (atomic_load (&detach_stops), 3);
    for (int i = 0; i < 5; i++)
        assert_int_equal (atomic_load (&jobs[i].runs), i == 3 ? 0 : 1);
    zloop_destroy (&loop);
    free (ctx);
}

/* Destroy while a detached thread is still stuck: it is abandoned and
   frees its job alone; destroy does not wait for it. */
static void test_destroy_with_detached_thread (void **state)
{
    static ctx_t *ctx;
    ctx = ctx_new (0);
    static job_t job;
    memset (&job, 0, sizeof job);
    atomic_store (&job.hold, 1);
    fling_pool_t *pool = fling_pool_new (1, NULL, 0, run_job, ctx, discard_job);
    zloop_t *loop = zloop_new ();
    assert_int_equal (fling_pool_attach (pool, loop, job_done, ctx), 0);
    assert_int_equal (fling_pool_submit (pool, &job), 0);
    wait_running (ctx, 1);
    assert_int_equal (fling_pool_detach (pool, &job), 0);
    int64_t started = fling_clock_ms ();
    fling_pool_destroy (&pool);
    assert_true (fling_clock_ms () - started < 200);
    atomic_store (&job.hold, 0);
    for (int i = 0; i < WAIT_MS && atomic_load (&ctx->discarded) == 0; i++)
        zclock_sleep (1);
    assert_int_equal (atomic_load (&ctx->discarded), 1);
    zclock_sleep (50); /* let it free its slot and exit before the next test */
    zloop_destroy (&loop);
    free (ctx);
}

static void test_bad_arguments (void **state)
{
    fling_pool_hooks_t hooks[FLING_POOL_HOOKS_MAX + 1];
    memset (hooks, 0, sizeof hooks);
    assert_null (fling_pool_new (1, NULL, 0, NULL, NULL, NULL));
    assert_null (fling_pool_new (1, hooks, FLING_POOL_HOOKS_MAX + 1, run_job, NULL, NULL));
    assert_true (fling_pool_default_size () >= 1);
    fling_pool_t *pool = NULL;
    fling_pool_destroy (&pool); /* NULL is fine */
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_all_run_once_at_most_size),
        cmocka_unit_test (test_hooks_once_per_thread),
        cmocka_unit_test (test_slow_job_does_not_block_others),
        cmocka_unit_test (test_take_queued),
        cmocka_unit_test (test_destroy_abandons_stuck_thread),
        cmocka_unit_test (test_destroy_cancels_unstarted_job),
        cmocka_unit_test (test_detach_replaces_then_caps),
        cmocka_unit_test (test_destroy_with_detached_thread),
        cmocka_unit_test (test_bad_arguments),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
