/*  worker_fixture.h - the worker library on a thread of the test, against
    the fake broker (fake_broker.h) driven step by step: DISPATCH building,
    RESULT collecting, the handlers under test ("t.block" on the pool,
    "t.async" on the loop; the payload says what to do: "retry", "fail",
    "hang", {"ms":N}), and the expectations most worker tests share.
    Used by test_worker.c and test_worker_flight.c. Every wait is bounded
    by WAIT_MS; handlers never assert (they run on the worker's threads):
    they count mistakes in counts.handler_errors, checked by finish_test.
*/
#ifndef WORKER_FIXTURE_H_INCLUDED
#define WORKER_FIXTURE_H_INCLUDED

#include <stdatomic.h>
#include <stdbool.h>

#include "fake_broker.h"
#include "fling_worker.h"
#include "fling_worker_host.h"

#define WAIT_MS      5000 /* bound on any single expected message */
#define PRODUCER_ID  0x0123456789abcdefULL
#define HEARTBEAT_MS 200 /* short, yet 3 of them outlast a busy machine's stalls */

/* What the handlers and hooks saw; reset by worker_new_ex. */
typedef struct {
    atomic_int block_started, block_finished;
    atomic_int block_running, block_most; /* blocking handlers running now, and at most */
    atomic_int hook_starts, hook_stops;
    atomic_int registered;
    atomic_int handler_errors;
    atomic_int release_hang; /* set: "hang" handlers return */
} worker_counts_t;
extern worker_counts_t counts;

typedef struct {
    uint8_t data[1 << 17];
    size_t size;
    uint32_t count;
} batch_t;

#define SEQ_MAX 64
typedef struct {
    int outcome[SEQ_MAX]; /* -1: no result yet */
    int arrival[SEQ_MAX]; /* in which place the result came, from 0 */
    char error[SEQ_MAX][128];
    int count;
    int messages;
    int first_message_count;
} results_t;

typedef struct {
    fling_worker_t *worker;
    pthread_t thread;
    int rc;
    bool joined;
} runner_t;

/* ---- DISPATCH building and RESULT collecting ------------------------------ */

void batch_add_ex (batch_t *batch, uint64_t seq, uint16_t attempt, uint32_t timeout_ms,
                   const char *name, const char *payload);
void batch_add (batch_t *batch, uint64_t seq, const char *name, const char *payload);
batch_t *batch_new (void); /* on the heap: a batch is 128 KiB */
void broker_dispatch (fake_broker_t *b, batch_t *batch);
results_t results_new (void);
void results_reset (results_t *r);
void results_read (results_t *r, const fling_msg_t *msg);
/* Collects RESULTs until `count` results came in. */
void broker_results (fake_broker_t *b, results_t *r, int count);
/* The outcomes of tasks first, first + 1... as names ("DONE RELEASED"). */
void assert_outcomes (const results_t *r, int first, const char *expected);

/* ---- handlers under test ----------------------------------------------------- */

void handle_async (fling_task_t *task, void *arg);
fling_status_t handle_block (fling_task_t *task, void *arg);
void *hook_start (unsigned index, void *arg);
void hook_stop (unsigned index, void *state, void *arg);

/* ---- the worker on a thread ------------------------------------------------- */

/* The fake broker of the test (remembered for teardown_worker). */
fake_broker_t *broker_start (void);
void broker_stop (void);
/* A worker with both handlers, hooks and counts reset; prefetch as given. */
fling_worker_t *worker_new_ex (fake_broker_t *b, unsigned pool, unsigned async_limit,
                               unsigned drain_ms, unsigned prefetch);
/* Without prefetch: the worker holds no more than it runs. */
fling_worker_t *worker_new (fake_broker_t *b, unsigned pool, unsigned async_limit,
                            unsigned drain_ms);
void runner_start (runner_t *runner, fling_worker_t *worker);
void runner_join (runner_t *runner, int timeout_ms);
/* cmocka teardown: stops a worker a failed test left running, and its broker. */
int teardown_worker (void **state);
/* The fake broker up and a worker without prefetch registered with it. */
fling_worker_t *start_registered (fake_broker_t **b, runner_t *runner, unsigned pool,
                                  unsigned async_limit, unsigned drain_ms);

/* ---- expectations ------------------------------------------------------------- */

void expect_ready (fake_broker_t *b, uint32_t pool, uint32_t loop);
/* READY, answered WELCOME by the fake broker: the worker is registered. */
void expect_registration (fake_broker_t *b, uint32_t pool, uint32_t loop);
/* Nothing but PINGs for `ms`. */
void expect_quiet (fake_broker_t *b, int ms);
/* BYE, then the loop returns 0. */
void expect_bye_and_join (fake_broker_t *b, runner_t *runner);
/* CAPACITY, BYE, the loop returns 0. */
void expect_stop (fake_broker_t *b, runner_t *runner);
void stop_and_join (fake_broker_t *b, runner_t *runner, fling_worker_t *worker);
/* Stats, read once the loop has returned (the loop thread owns them). */
fling_worker_stats_t stop_and_read_stats (fake_broker_t *b, runner_t *runner,
                                          fling_worker_t *worker);
/* Destroys the worker, checks the handlers' mistakes, frees, stops the broker. */
void finish_test (fake_broker_t *b, fling_worker_t **worker, batch_t *batch);

#endif
