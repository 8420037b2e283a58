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

fixture_t *fixture_new (int wait_ms)
{
    fixture_t *self = (fixture_t *)calloc (1, sizeof *self);
    assert_non_null (self);
    self->wait_ms = wait_ms;
    fling_broker_config_t *config = &self->config;
    fling_broker_config_init (config);
    strcpy (config->producer_endpoint, "tcp://127.0.0.1:*");
    strcpy (config->worker_endpoint, "tcp://127.0.0.1:*");
    config->http_addr[0] = '\0'; /* no HTTP port: tests run side by side */
    config->heartbeat_ms = 100;  /* stop within 50 ms */
    config->worker_timeout_ms = 10000;
    config->backoff_ms = 10; /* retries come back quickly */
    return self;
}

void fixture_destroy (fixture_t **self_p)
{
    fixture_t *self = *self_p;
    if (self->broker)
        fixture_halt (self);
    free (self);
    *self_p = NULL;
}

static void *s_run_broker (void *arg)
{
    fling_broker_run ((fling_broker_t *)arg);
    return NULL;
}

void fixture_launch (fixture_t *self)
{
    self->broker = fling_broker_new (&self->config);
    assert_non_null (self->broker);
    assert_int_equal (pthread_create (&self->thread, NULL, s_run_broker, self->broker), 0);
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

zmsg_t *fixture_expect (zsock_t *sock, fling_cmd_t cmd, fling_msg_t *decoded, int wait_ms)
{
    int64_t deadline = fling_clock_ms () + wait_ms;
    while (fling_clock_ms () < deadline) {
        zmsg_t *msg = fixture_recv (sock, (int)(deadline - fling_clock_ms ()));
        if (!msg)
            break;
        fling_reason_t reason;
        assert_int_equal (fling_msg_decode_v (msg, decoded, &reason, FLING_PROTO_VERSION_SCHED), 0);
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
        zmsg_t *msg = fixture_recv (worker, 50);
        if (!msg)
            continue;
        fling_msg_t decoded;
        fling_reason_t reason;
        assert_int_equal (fling_msg_decode (msg, &decoded, &reason), 0);
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
