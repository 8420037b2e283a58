/*  broker_fixture.c - see broker_fixture.h. Built into the test_broker_*
    executables only (tests/CMakeLists.txt); its failures are cmocka
    failures of the test that called it.
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
    config->heartbeat_ms = 100; /* stop within 50 ms */
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
        assert_int_equal (fling_msg_decode (msg, decoded, &reason), 0);
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

void fixture_wait_stat (fixture_t *self, const char *section, const char *key,
                        json_int_t expected)
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
