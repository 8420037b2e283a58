/*  broker_fixture.h - a real broker (broker/fling_broker.c) on a thread and
    the raw DEALER clients that drive it, a producer and workers speaking
    FLP through the codec, shared by the test_broker_*.c files. Every wait
    is bounded: the
    socket helpers take their bound, the fixture's own use its wait_ms, so
    each test keeps the bound it chose.
*/
#ifndef BROKER_FIXTURE_H_INCLUDED
#define BROKER_FIXTURE_H_INCLUDED

#include <jansson.h>
#include <pthread.h>

#include "fling_broker.h"
#include "fling_proto.h"

/* One task a raw worker was sent. */
typedef struct {
    fling_task_id_t id;
    uint16_t attempt;
    uint32_t timeout_ms;
} fixture_lease_t;

typedef struct {
    fling_broker_config_t config; /* kept, so a restart reopens the same store */
    fling_broker_t *broker;       /* NULL while halted */
    pthread_t thread;
    zsock_t *producer; /* DEALER on the producer endpoint */
    zsock_t *admin;    /* DEALER on the producer endpoint, ADMIN only */
    int wait_ms;       /* a reply that should come comes within this */
    char *scratch_dir; /* the disk store's directory (fixture_start_disk), or NULL */
    /* Tasks DISPATCHed to raw workers but not handed out by
       fixture_next_task yet, oldest first. */
    struct {
        zsock_t *worker;
        fixture_lease_t lease;
    } pending[FLING_BATCH_TASKS_MAX];
    size_t pending_count;
} fixture_t;

/* A halted fixture whose config has the defaults the tests share (tcp on
   127.0.0.1, a 100 ms heartbeat, quick retries, the memory store); tune
   self->config, then fixture_launch. Fails the test on error. */
fixture_t *fixture_new (int wait_ms);

/* Halts the broker if it runs, frees the fixture and nulls *self_p. */
void fixture_destroy (fixture_t **self_p);

/* Starts a broker from self->config on a thread and connects the producer
   and admin sockets. */
void fixture_launch (fixture_t *self);

/* Closes the sockets, stops the broker, joins its thread, destroys it;
   forgets the tasks pending for raw workers. */
void fixture_halt (fixture_t *self);

/* A fixture on a disk store in a new scratch directory (1 MiB segments, no
   free-space floor), tuned by `tune` (NULL: none) once, then launched. Every
   fixture_restart reopens the same store. Logs errors only (TEST_LOG set:
   everything). */
fixture_t *fixture_start_disk (int wait_ms, void (*tune) (fling_broker_config_t *));

/* A cmocka teardown: finishes the fixture a failed test left alive (its
   broker thread still running would hang the program at exit, until
   CTest's timeout, instead of reporting the failure). */
int fixture_teardown (void **state);

/* Halts and launches again on the same config (and store). */
void fixture_restart (fixture_t *self);

/* Halts the broker, removes the scratch store, destroys the fixture. A raw
   worker still connected (`worker` not NULL) says BYE first and is closed
   once the broker has let it go; any other must be gone already. */
void fixture_finish (fixture_t **self_p, zsock_t **worker);

/* A new DEALER (linger 0) on the broker's `which` endpoint. */
zsock_t *fixture_dealer (fixture_t *self, const char *which);

/* Sends `msg`, which must not be NULL (a constructor failed otherwise). */
void fixture_send (zsock_t *sock, zmsg_t *msg);

/* The next message within timeout_ms, or NULL. */
zmsg_t *fixture_recv (zsock_t *sock, int timeout_ms);

/* The next message within timeout_ms decoded into `decoded` (which points
   into it: destroy it after use), or NULL; one that does not decode fails
   the test. */
zmsg_t *fixture_recv_decoded (zsock_t *sock, int timeout_ms, fling_msg_t *decoded);

/* The next message of command `cmd` within wait_ms, skipping others
   (PONGs...), decoded into `decoded`; fails the test if none comes. */
zmsg_t *fixture_expect (zsock_t *sock, fling_cmd_t cmd, fling_msg_t *decoded, int wait_ms);

/* The reply to an ADMIN `request`, parsed; the caller owns it. */
json_t *fixture_admin (fixture_t *self, const char *request);

/* The reply to {"op":"stats"}, parsed; the caller owns it. */
json_t *fixture_stats (fixture_t *self);

/* stats[section][key] (stats[key] when section is NULL) as an integer;
   -1 when absent. */
json_int_t fixture_stat (fixture_t *self, const char *section, const char *key);

/* Polls stats until stats[section][key] == expected; fails the test after
   self->wait_ms. */
void fixture_wait_stat (fixture_t *self, const char *section, const char *key, json_int_t expected);

/* ---- a raw producer (self->producer) ------------------------------------- */

/* The producer half of the task ids the fixture sends, and their payload. */
#define FIXTURE_PRODUCER_ID 0x5eed5eed5eed5eedull
#define FIXTURE_PAYLOAD     "{\"hello\":\"world\"}"

/* `count` records of `name` with FIXTURE_PAYLOAD and ids FIXTURE_PRODUCER_ID:first..
   written into `buf` (room for them); returns their size. */
size_t fixture_records (uint8_t *buf, uint64_t first, size_t count, const char *name,
                        uint16_t max_attempts);

/* SUBMITs those records as batch `batch_seq`. */
void fixture_submit (fixture_t *self, uint64_t batch_seq, uint64_t first, size_t count,
                     const char *name, uint16_t max_attempts);

/* Waits for the ACK of `batch_seq`: returns how many of its statuses are
   `status`. */
size_t fixture_ack_count (fixture_t *self, uint64_t batch_seq, fling_reason_t status);

/* Submits `count` "email" tasks from seq `first` as batch `batch_seq`: the
   ACK must give every one of them `status`. */
void fixture_submit_acked (fixture_t *self, uint64_t batch_seq, uint64_t first, size_t count,
                           fling_reason_t status);

/* ---- raw workers -------------------------------------------------------------- */

/* Called with a DISPATCH that came before the PONG confirming a READY. */
typedef void (fixture_dispatch_fn) (zsock_t *worker, const fling_msg_t *dispatch, void *arg);

/* A worker for the name "email" (loop class) holding `pool` and `loop`
   tasks, running `slots` of them at once (NULL: all, no prefetch):
   READY, then a PING whose PONG proves the registration. A DISPATCH before
   the PONG goes to `early` (NULL: the test fails). */
zsock_t *fixture_worker (fixture_t *self, const char *name, uint32_t pool, uint32_t loop,
                         const uint32_t *slots, fixture_dispatch_fn *early, void *arg);

/* A fixture_dispatch_fn (arg: the fixture) that keeps a DISPATCH's tasks
   for fixture_next_task. */
void fixture_keep_tasks (zsock_t *worker, const fling_msg_t *dispatch, void *arg);

/* A worker that holds 10 tasks of each class and runs `slots` of them at
   once (NULL: all 10, no prefetch); what it is sent goes to
   fixture_next_task. */
zsock_t *fixture_worker_ready (fixture_t *self, const char *name, const uint32_t *slots);

/* The next task DISPATCHed to `worker`, kept or waited for (PINGing, so a
   short worker timeout does not reap it); fails after self->wait_ms. */
void fixture_next_task (fixture_t *self, zsock_t *worker, fixture_lease_t *lease);

/* PINGs for `ms` and fails the test if a DISPATCH arrives. */
void fixture_no_task (zsock_t *worker, int ms);

/* Every task `worker` is sent from its first DISPATCH until none has come
   for `quiet_ms` (PINGing meanwhile), at most `max`; returns how many. */
size_t fixture_take_all (fixture_t *self, zsock_t *worker, fixture_lease_t *leases, size_t max,
                         int quiet_ms);

/* Closes a raw worker as a dying process would (no BYE), forgetting what
   was kept for it. */
void fixture_worker_close (fixture_t *self, zsock_t **worker);

/* Waits until the broker lists no worker (it noticed the dead ones). */
void fixture_wait_no_workers (fixture_t *self);

/* The tasks of a DISPATCH, appended to leases[*count...max). */
void fixture_leases (const fling_msg_t *dispatch, fixture_lease_t *leases, size_t *count,
                     size_t max);

/* One RESULT with an outcome and error text for each of `count` leases. */
void fixture_results (zsock_t *worker, const fixture_lease_t *leases, size_t count,
                      fling_outcome_t outcome, const char *error);

/* Takes the next `count` tasks sent to `worker` (fixture_next_task; at
   most FLING_BATCH_TASKS_MAX) and reports them all DONE in one RESULT. */
void fixture_run_done (fixture_t *self, zsock_t *worker, size_t count);

#endif
