/*  broker_fixture.c - see broker_fixture.h. Part of the unit tests' support
    library; its failures are cmocka failures of the test that called it.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "broker_fixture.h"
#include "fling_log.h"
#include "store_fixture.h"

/* The fixture alive now, for fixture_teardown: a test that fails jumps
   out before its own cleanup, leaving the broker thread running. */
static fixture_t *live_fixture;

fixture_t *fixture_new (int wait_ms)
{
    fixture_t *self = (fixture_t *)calloc (1, sizeof *self);
    assert_non_null (self);
    live_fixture = self;
    self->wait_ms = wait_ms;
    fling_broker_config_t *config = &self->config;
    fling_broker_config_init (config);
    strcpy (config->producer_endpoint, "tcp://127.0.0.1:*");
    strcpy (config->worker_endpoint, "tcp://127.0.0.1:*");
    config->http_addr[0] = '\0'; /* no HTTP port: tests run side by side */
    config->heartbeat_ms = 100;  /* stop within 50 ms */
    config->worker_timeout_ms = 10000;
    config->backoff_ms = 10; /* retries come back quickly */
    /* Not the broker's default disk store in ./fling-store, which would be
       shared by every test and kept between runs: fixture_start_disk gives
       a store of the test's own. */
    strcpy (config->store, "memory");
    return self;
}

void fixture_destroy (fixture_t **self_p)
{
    fixture_t *self = *self_p;
    if (self->broker)
        fixture_halt (self);
    free (self->scratch_dir);
    if (live_fixture == self)
        live_fixture = NULL;
    free (self);
    *self_p = NULL;
}

static void *run_broker (void *arg)
{
    fling_broker_run ((fling_broker_t *)arg);
    return NULL;
}

void fixture_launch (fixture_t *self)
{
    self->broker = fling_broker_new (&self->config);
    assert_non_null (self->broker);
    assert_int_equal (pthread_create (&self->thread, NULL, run_broker, self->broker), 0);
    self->producer = fixture_dealer (self, "producer");
    self->admin = fixture_dealer (self, "producer");
}

void fixture_halt (fixture_t *self)
{
    zsock_destroy (&self->producer);
    zsock_destroy (&self->admin);
    fling_broker_stop (self->broker);
    assert_int_equal (pthread_join (self->thread, NULL), 0);
    fling_broker_destroy (&self->broker);
    assert_null (self->broker);
    self->pending_count = 0;
}

fixture_t *fixture_start_disk (int wait_ms, void (*tune) (fling_broker_config_t *))
{
    fling_log_init ("broker", getenv ("TEST_LOG") ? FLING_LOG_DEBUG : FLING_LOG_ERROR);
    fixture_t *self = fixture_new (wait_ms);
    fling_broker_config_t *config = &self->config;
    self->scratch_dir = store_dir_new ("broker");
    strcpy (config->store, "disk");
    assert_true (strlen (self->scratch_dir) < sizeof config->store_dir);
    strcpy (config->store_dir, self->scratch_dir);
    config->segment_bytes = 1 << 20;
    config->store_free_floor_bytes = 0;
    /* Tuned once: a tune may append a queue, and every restart reuses it. */
    if (tune)
        tune (config);
    fixture_launch (self);
    return self;
}

int fixture_teardown (void **state)
{
    (void)state;
    if (live_fixture) {
        fixture_t *self = live_fixture;
        fixture_finish (&self, NULL);
    }
    return 0;
}

void fixture_restart (fixture_t *self)
{
    fixture_halt (self);
    fixture_launch (self);
}

void fixture_finish (fixture_t **self_p, zsock_t **worker)
{
    fixture_t *self = *self_p;
    if (worker) {
        /* BYE hands back what it holds, so the stop has no leases to give
           its grace (up to 2 s) to. */
        fixture_send (*worker, fling_msg_bye ());
        fixture_wait_no_workers (self);
        fixture_worker_close (self, worker);
    }
    if (self->broker)
        fixture_halt (self);
    if (self->scratch_dir) {
        store_dir_remove (self->scratch_dir);
        self->scratch_dir = NULL;
    }
    fixture_destroy (self_p);
}

zsock_t *fixture_dealer (fixture_t *self, const char *which)
{
    zsock_t *sock = zsock_new_dealer (fling_broker_endpoint (self->broker, which));
    assert_non_null (sock);
    zsock_set_linger (sock, 0);
    return sock;
}

void fixture_send (zsock_t *sock, zmsg_t *msg)
{
    assert_non_null (msg);
    assert_int_equal (zmsg_send (&msg, sock), 0);
}

zmsg_t *fixture_recv (zsock_t *sock, int timeout_ms)
{
    zpoller_t *poller = zpoller_new (sock, NULL);
    assert_non_null (poller);
    zmsg_t *msg = zpoller_wait (poller, timeout_ms) ? zmsg_recv (sock) : NULL;
    zpoller_destroy (&poller);
    return msg;
}

zmsg_t *fixture_recv_decoded (zsock_t *sock, int timeout_ms, fling_msg_t *decoded)
{
    zmsg_t *msg = fixture_recv (sock, timeout_ms);
    fling_reason_t reason;
    if (msg)
        assert_int_equal (fling_msg_decode_v (msg, decoded, &reason, FLING_PROTO_VERSION_SCHED), 0);
    return msg;
}

zmsg_t *fixture_expect (zsock_t *sock, fling_cmd_t cmd, fling_msg_t *decoded, int wait_ms)
{
    int64_t deadline = fling_clock_ms () + wait_ms;
    while (fling_clock_ms () < deadline) {
        zmsg_t *msg = fixture_recv_decoded (sock, (int)(deadline - fling_clock_ms ()), decoded);
        if (!msg)
            break;
        if (decoded->cmd == cmd)
            return msg;
        zmsg_destroy (&msg);
    }
    fail_msg ("no %s within %d ms", fling_cmd_name (cmd), wait_ms);
    return NULL;
}

json_t *fixture_admin (fixture_t *self, const char *request)
{
    fixture_send (self->admin, fling_msg_admin (request));
    fling_msg_t reply;
    zmsg_t *msg = fixture_expect (self->admin, FLING_CMD_ADMIN_REPLY, &reply, self->wait_ms);
    json_t *root = json_loadb (reply.text, reply.text_size, 0, NULL);
    zmsg_destroy (&msg);
    assert_non_null (root);
    return root;
}

json_t *fixture_stats (fixture_t *self)
{
    return fixture_admin (self, "{\"op\":\"stats\"}");
}

json_int_t fixture_stat (fixture_t *self, const char *section, const char *key)
{
    json_t *root = fixture_stats (self);
    json_t *value = json_object_get (section ? json_object_get (root, section) : root, key);
    json_int_t result = value ? json_integer_value (value) : -1;
    json_decref (root);
    return result;
}

void fixture_wait_stat (fixture_t *self, const char *section, const char *key, json_int_t expected)
{
    json_int_t value = -1;
    for (int64_t deadline = fling_clock_ms () + self->wait_ms; fling_clock_ms () < deadline;) {
        if ((value = fixture_stat (self, section, key)) == expected)
            return;
        zclock_sleep (20);
    }
    fail_msg ("%s.%s = %lld, expected %lld", section ? section : "", key, (long long)value,
              (long long)expected);
}

/* ---- a raw producer --------------------------------------------------------- */

size_t fixture_records (uint8_t *buf, uint64_t first, size_t count, const char *name,
                        uint16_t max_attempts)
{
    size_t size = 0;
    for (size_t i = 0; i < count; i++) {
        fling_task_id_t id;
        fling_task_id_make (&id, FIXTURE_PRODUCER_ID, first + i);
        size += fling_record_write (buf + size, &id, 0, max_attempts, 0, 0, name, strlen (name),
                                    FIXTURE_PAYLOAD, strlen (FIXTURE_PAYLOAD));
    }
    return size;
}

void fixture_submit (fixture_t *self, uint64_t batch_seq, uint64_t first, size_t count,
                     const char *name, uint16_t max_attempts)
{
    uint8_t buf[64 * 1024];
    assert_true (count * fling_record_size (strlen (name), strlen (FIXTURE_PAYLOAD)) <= sizeof buf);
    size_t size = fixture_records (buf, first, count, name, max_attempts);
    fixture_send (self->producer, fling_msg_submit (batch_seq, (uint32_t)count, buf, size));
}

void fixture_submit_acked (fixture_t *self, uint64_t batch_seq, uint64_t first, size_t count,
                           fling_reason_t status)
{
    fixture_submit (self, batch_seq, first, count, "email", 0);
    assert_int_equal (fixture_ack_count (self, batch_seq, status), count);
}

size_t fixture_ack_count (fixture_t *self, uint64_t batch_seq, fling_reason_t status)
{
    fling_msg_t ack;
    zmsg_t *msg = fixture_expect (self->producer, FLING_CMD_ACK, &ack, self->wait_ms);
    assert_int_equal (ack.batch_seq, batch_seq);
    size_t n = 0;
    for (size_t i = 0; i < ack.count; i++)
        n += ack.body[i] == status;
    zmsg_destroy (&msg);
    return n;
}

/* ---- raw workers -------------------------------------------------------------- */

zsock_t *fixture_worker (fixture_t *self, const char *name, uint32_t pool, uint32_t loop,
                         const uint32_t *slots, fixture_dispatch_fn *early, void *arg)
{
    zsock_t *worker = fixture_dealer (self, "worker");
    uint32_t capacity[FLING_CLASS_COUNT] = {0};
    capacity[FLING_CLASS_POOL] = pool;
    capacity[FLING_CLASS_LOOP] = loop;
    const char *names[] = {"email"};
    fling_class_t classes[] = {FLING_CLASS_LOOP};
    fixture_send (worker, fling_msg_ready (capacity, slots, 4242, name, 1, names, classes));
    /* READY is answered: WELCOME, with the broker's timings (FLP/1.1). */
    for (int64_t deadline = fling_clock_ms () + self->wait_ms; fling_clock_ms () < deadline;) {
        fling_msg_t decoded;
        zmsg_t *msg = fixture_recv_decoded (worker, 50, &decoded);
        if (!msg)
            continue;
        if (decoded.cmd == FLING_CMD_DISPATCH) {
            if (!early)
                fail_msg ("a DISPATCH before the WELCOME");
            early (worker, &decoded, arg);
        }
        if (decoded.cmd == FLING_CMD_WELCOME) {
            assert_int_equal (decoded.heartbeat_ms, self->config.heartbeat_ms);
            assert_int_equal (decoded.worker_timeout_ms, self->config.worker_timeout_ms);
        }
        zmsg_destroy (&msg);
        if (decoded.cmd == FLING_CMD_WELCOME)
            return worker;
    }
    fail_msg ("no WELCOME after READY within %d ms", self->wait_ms);
    return NULL;
}

void fixture_leases (const fling_msg_t *dispatch, fixture_lease_t *leases, size_t *count,
                     size_t max)
{
    const uint8_t *cursor = dispatch->body, *end = dispatch->body + dispatch->body_size;
    fling_record_t record;
    fling_reason_t reason;
    while (fling_record_next (&cursor, end, &record, &reason) == 1) {
        assert_true (*count < max);
        leases[(*count)++] = (fixture_lease_t){record.id, record.attempt, record.timeout_ms};
    }
}

void fixture_results (zsock_t *worker, const fixture_lease_t *leases, size_t count,
                      fling_outcome_t outcome, const char *error)
{
    size_t each = FLING_RESULT_OVERHEAD + strlen (error);
    uint8_t *buf = (uint8_t *)malloc (count * each + 1);
    assert_non_null (buf);
    size_t size = 0;
    for (size_t i = 0; i < count; i++) {
        fling_result_t result = {.id = leases[i].id,
                                 .attempt = leases[i].attempt,
                                 .outcome = (uint8_t)outcome,
                                 .error = error,
                                 .error_size = strlen (error)};
        size += fling_result_write (buf + size, &result);
    }
    /* result_seq from 1 up, one counter for every raw worker: the broker
       acknowledges each RESULT above the last it saw from that worker. */
    static uint64_t result_seq;
    fixture_send (worker, fling_msg_result (++result_seq, (uint32_t)count, buf, size));
    free (buf);
}

void fixture_run_done (fixture_t *self, zsock_t *worker, size_t count)
{
    assert_true (count <= FLING_BATCH_TASKS_MAX);
    fixture_lease_t *leases = (fixture_lease_t *)calloc (count ? count : 1, sizeof *leases);
    assert_non_null (leases);
    for (size_t i = 0; i < count; i++)
        fixture_next_task (self, worker, &leases[i]);
    fixture_results (worker, leases, count, FLING_OUTCOME_DONE, "");
    free (leases);
}

/* ---- raw workers that keep what they are sent --------------------------------- */

void fixture_keep_tasks (zsock_t *worker, const fling_msg_t *dispatch, void *arg)
{
    fixture_t *self = (fixture_t *)arg;
    fixture_lease_t leases[FLING_BATCH_TASKS_MAX];
    size_t count = 0;
    fixture_leases (dispatch, leases, &count, FLING_BATCH_TASKS_MAX);
    for (size_t i = 0; i < count; i++) {
        assert_true (self->pending_count < FLING_BATCH_TASKS_MAX);
        self->pending[self->pending_count].worker = worker;
        self->pending[self->pending_count++].lease = leases[i];
    }
}

zsock_t *fixture_worker_ready (fixture_t *self, const char *name, const uint32_t *slots)
{
    return fixture_worker (self, name, 10, 10, slots, fixture_keep_tasks, self);
}

static bool take_pending (fixture_t *self, zsock_t *worker, fixture_lease_t *lease)
{
    for (size_t i = 0; i < self->pending_count; i++)
        if (self->pending[i].worker == worker) {
            *lease = self->pending[i].lease;
            memmove (&self->pending[i], &self->pending[i + 1],
                     (self->pending_count - i - 1) * sizeof self->pending[0]);
            self->pending_count--;
            return true;
        }
    return false;
}

/* Receives for up to `timeout_ms`, PINGing first so a short worker timeout
   does not reap the worker; keeps a DISPATCH's tasks. True if one came. */
static bool receive_tasks (fixture_t *self, zsock_t *worker, int timeout_ms)
{
    fixture_send (worker, fling_msg_ping ());
    fling_msg_t decoded;
    zmsg_t *msg = fixture_recv_decoded (worker, timeout_ms, &decoded);
    if (!msg)
        return false;
    bool dispatch = decoded.cmd == FLING_CMD_DISPATCH;
    if (dispatch)
        fixture_keep_tasks (worker, &decoded, self);
    zmsg_destroy (&msg);
    return dispatch;
}

void fixture_next_task (fixture_t *self, zsock_t *worker, fixture_lease_t *lease)
{
    int64_t deadline = fling_clock_ms () + self->wait_ms;
    while (!take_pending (self, worker, lease)) {
        if (fling_clock_ms () >= deadline)
            fail_msg ("no DISPATCH within %d ms", self->wait_ms);
        receive_tasks (self, worker, 50);
    }
}

void fixture_no_task (zsock_t *worker, int ms)
{
    for (int64_t end = fling_clock_ms () + ms; fling_clock_ms () < end;) {
        fixture_send (worker, fling_msg_ping ());
        fling_msg_t decoded;
        zmsg_t *msg = fixture_recv_decoded (worker, 50, &decoded);
        if (!msg)
            continue;
        zmsg_destroy (&msg);
        if (decoded.cmd == FLING_CMD_DISPATCH)
            fail_msg ("unexpected DISPATCH");
    }
}

size_t fixture_take_all (fixture_t *self, zsock_t *worker, fixture_lease_t *leases, size_t max,
                         int quiet_ms)
{
    size_t n = 0;
    assert_true (max > 0);
    fixture_next_task (self, worker, &leases[n++]);
    /* Until quiet, not a fixed window from the first DISPATCH: a loaded
       broker sends the later ones later. Bounded by wait_ms all the same. */
    int64_t deadline = fling_clock_ms () + self->wait_ms,
            quiet_until = fling_clock_ms () + quiet_ms;
    while (fling_clock_ms () < quiet_until && fling_clock_ms () < deadline)
        if (receive_tasks (self, worker, 10))
            quiet_until = fling_clock_ms () + quiet_ms;
    while (n < max && take_pending (self, worker, &leases[n]))
        n++;
    return n;
}

void fixture_worker_close (fixture_t *self, zsock_t **worker)
{
    fixture_lease_t lease;
    while (take_pending (self, *worker, &lease))
        ;
    zsock_destroy (worker);
}

void fixture_wait_no_workers (fixture_t *self)
{
    for (int64_t deadline = fling_clock_ms () + self->wait_ms; fling_clock_ms () < deadline;) {
        json_t *stats = fixture_stats (self);
        size_t workers = json_array_size (json_object_get (stats, "workers"));
        json_decref (stats);
        if (workers == 0)
            return;
        zclock_sleep (10);
    }
    fail_msg ("a dead worker still registered after %d ms", self->wait_ms);
}
