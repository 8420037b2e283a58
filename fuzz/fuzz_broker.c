/*  fuzz_broker.c - libFuzzer target: a real broker (memory store, on a
    thread of this process) fed fuzzed messages over TCP, on both endpoints,
    with CURVE off, or on (FLING_FUZZ_CURVE=1: the fuzzer is then an
    authenticated producer and worker).

    The decoder has its own target (fuzz_proto); this one goes further in:
    the connection table, the role checks, SUBMIT, READY, RESULT, HOLDING,
    ADMIN and the state they build up across inputs (a READY in one input,
    a RESULT in the next). Any crash, sanitizer report or hang of the broker
    fails the run. Each input waits for the broker's answer to a PING sent
    after it, so inputs are handled one at a time.

    Input: byte 0 picks the endpoint (bit 0: worker, else producer); the
    rest is fuzz_proto.h's format (a frame count, then length-prefixed
    frames), so the proto seeds, prefixed with one byte, are seeds here.
*/
#include "fling_broker.h"
#include "fling_log.h"
#include "fling_proto.h"
#include "fuzz_proto.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SYNC_MS 2000

static fling_broker_t *broker;
static pthread_t thread;
static zsock_t *producer, *worker;

static void *run_broker (void *arg)
{
    fling_broker_run ((fling_broker_t *)arg);
    return NULL;
}

/* A key pair in `dir`: NAME.pub (role) and NAME.secret. */
static zcert_t *make_key (const char *dir, const char *name, const char *role, bool allow)
{
    zcert_t *cert = zcert_new ();
    char path[512];
    zcert_set_meta (cert, "role", "%s", role);
    if (allow) {
        snprintf (path, sizeof path, "%s/allowed/%s.pub", dir, name);
        zcert_save_public (cert, path);
    }
    snprintf (path, sizeof path, "%s/%s.secret", dir, name);
    zcert_save_secret (cert, path);
    chmod (path, 0600);
    return cert;
}

static zsock_t *client (const char *endpoint, zcert_t *cert, zcert_t *server)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (cert) {
        zcert_apply (cert, sock);
        zsock_set_curve_serverkey (sock, zcert_public_txt (server));
    }
    zsock_set_linger (sock, 0);
    zsock_set_rcvtimeo (sock, 0);
    zsock_set_sndtimeo (sock, 1000);
    zsock_connect (sock, "%s", endpoint);
    return sock;
}

/* At exit, before czmq's own clean-up (registered earlier, so run later):
   stop the broker's thread, then close what it and the clients hold. */
static void stop_broker (void)
{
    fling_broker_stop (broker);
    pthread_join (thread, NULL);
    zsock_destroy (&producer);
    zsock_destroy (&worker);
    fling_broker_destroy (&broker);
}

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    zsys_handler_set (NULL);
    fling_log_init ("fuzz", FLING_LOG_ERROR);
    fling_broker_config_t config;
    fling_broker_config_init (&config);
    strcpy (config.store, "memory");
    strcpy (config.producer_endpoint, "tcp://127.0.0.1:*");
    strcpy (config.worker_endpoint, "tcp://127.0.0.1:*");
    config.heartbeat_ms = 200;
    config.worker_timeout_ms = 600;
    zcert_t *keys[3] = {NULL, NULL, NULL}; /* broker, producer, worker */
    if (getenv ("FLING_FUZZ_CURVE")) {
        char dir[] = "/tmp/fling-fuzz-broker-XXXXXX", allowed[600];
        if (!mkdtemp (dir))
            abort ();
        snprintf (allowed, sizeof allowed, "%s/allowed", dir);
        mkdir (allowed, 0700);
        keys[0] = make_key (dir, "broker", "broker", false);
        keys[1] = make_key (dir, "producer", "producer", true);
        keys[2] = make_key (dir, "worker", "worker", true);
        snprintf (config.curve_key, sizeof config.curve_key, "%s/broker.secret", dir);
        snprintf (config.curve_allowed, sizeof config.curve_allowed, "%s", allowed);
    }
    broker = fling_broker_new (&config);
    if (!broker || pthread_create (&thread, NULL, run_broker, broker))
        abort ();
    producer = client (fling_broker_endpoint (broker, "producer"), keys[1], keys[0]);
    worker = client (fling_broker_endpoint (broker, "worker"), keys[2], keys[0]);
    for (int i = 0; i < 3; i++)
        zcert_destroy (&keys[i]);
    atexit (stop_broker);
    return 0;
}

/* Waits for the answer to a PING (PONG, or ERROR UNKNOWN_PEER from the
   worker endpoint before a READY), reading whatever comes before it. */
static void sync_with (zsock_t *sock)
{
    zmsg_t *ping = fling_msg_ping ();
    if (zmsg_send (&ping, sock)) {
        zmsg_destroy (&ping);
        return;
    }
    zpoller_t *poller = zpoller_new (sock, NULL);
    int64_t deadline = fling_clock_ms () + SYNC_MS;
    while (fling_clock_ms () < deadline) {
        if (!zpoller_wait (poller, (int)(deadline - fling_clock_ms ())))
            continue;
        zmsg_t *reply = zmsg_recv (sock);
        fling_msg_t m;
        fling_reason_t reason;
        bool marker = reply && fling_msg_decode (reply, &m, &reason) == 0 &&
                      (m.cmd == FLING_CMD_PONG ||
                       (m.cmd == FLING_CMD_ERROR && m.reason == FLING_REASON_UNKNOWN_PEER));
        zmsg_destroy (&reply);
        if (marker)
            break;
    }
    zpoller_destroy (&poller);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    zsock_t *sock = data[0] & 1 ? worker : producer;
    zmsg_t *msg = fuzz_input_to_msg (data + 1, size - 1);
    if (msg && zmsg_size (msg) > 0 && zmsg_send (&msg, sock) == 0)
        sync_with (sock);
    zmsg_destroy (&msg);
    return 0;
}
