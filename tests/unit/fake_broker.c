/*  fake_broker.c - see fake_broker.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "fake_broker.h"
#include "fling_log.h"

fake_broker_t *fake_broker_new (int port)
{
    fake_broker_t *self = (fake_broker_t *)calloc (1, sizeof *self);
    assert_non_null (self);
    pthread_mutex_init (&self->lock, NULL);
    self->answer_pings = true;
    self->ack_results = true;
    self->welcome_heartbeat_ms = 1000;
    self->mode = FAKE_ACK;
    self->max_version = FLING_PROTO_VERSION;
    self->pattern[0] = FLING_REASON_OK;
    self->pattern_size = 1;
    self->router = zsock_new (ZMQ_ROUTER);
    assert_non_null (self->router);
    /* libzmq's bind, not zsock_bind: for ":*" czmq walks ports up from 49152
       in every process, so tests running side by side meet each other's
       stale peers; libzmq lets the kernel pick. A port just released may
       take a moment to be free again. */
    char wanted[64];
    snprintf (wanted, sizeof wanted, port ? "tcp://127.0.0.1:%d" : "tcp://127.0.0.1:*", port);
    int rc = -1;
    for (int64_t until = fling_clock_ms () + 1000; rc != 0 && fling_clock_ms () < until;)
        if ((rc = zmq_bind (zsock_resolve (self->router), wanted)) != 0)
            zclock_sleep (10);
    assert_int_equal (rc, 0);
    size_t size = sizeof self->endpoint;
    assert_int_equal (
        zmq_getsockopt (zsock_resolve (self->router), ZMQ_LAST_ENDPOINT, self->endpoint, &size), 0);
    const char *colon = strrchr (self->endpoint, ':');
    self->port = colon ? atoi (colon + 1) : 0;
    assert_true (self->port > 0);
    return self;
}

void fake_broker_destroy (fake_broker_t **self_p)
{
    fake_broker_t *self = *self_p;
    if (!self)
        return;
    if (self->serving) {
        atomic_store (&self->stop, true);
        pthread_join (self->thread, NULL);
    }
    zmsg_destroy (&self->msg);
    zframe_destroy (&self->peer);
    zsock_destroy (&self->router);
    pthread_mutex_destroy (&self->lock);
    free (self->seen);
    free (self);
    *self_p = NULL;
}

/* ---- step by step --------------------------------------------------------- */

void fake_broker_send (fake_broker_t *self, zmsg_t *msg)
{
    assert_non_null (msg);
    assert_non_null (self->peer);
    zframe_t *peer = zframe_dup (self->peer);
    zmsg_prepend (msg, &peer);
    assert_int_equal (zmsg_send (&msg, self->router), 0);
}

/* Pops the routing id of self->msg and remembers a new peer. */
static void note_peer (fake_broker_t *self)
{
    zframe_t *peer = zmsg_pop (self->msg);
    if (!self->peer || !zframe_eq (peer, self->peer)) {
        self->peers_seen++;
        zframe_destroy (&self->peer);
        self->peer = peer;
    } else
        zframe_destroy (&peer);
}

fling_msg_t *fake_broker_next (fake_broker_t *self, int timeout_ms, bool want_ping)
{
    int64_t deadline = fling_clock_ms () + timeout_ms;
    while (true) {
        int64_t left = deadline - fling_clock_ms ();
        if (left <= 0)
            return NULL;
        zsock_set_rcvtimeo (self->router, (int)left);
        zmsg_destroy (&self->msg);
        self->msg = zmsg_recv (self->router);
        if (!self->msg)
            return NULL;
        note_peer (self);
        fling_reason_t reason;
        if (fling_msg_decode_v (self->msg, &self->decoded, &reason, self->max_version))
            fail_msg ("the peer sent a bad message: %s", fling_reason_name (reason));
        /* A broker's answers a worker waits for (FLP/1.1): WELCOME to READY,
           RESULT_ACK to RESULT. */
        if (self->decoded.cmd == FLING_CMD_READY && self->answer_pings)
            fake_broker_send (self, fling_msg_welcome (self->welcome_heartbeat_ms,
                                                       3 * self->welcome_heartbeat_ms));
        if (self->decoded.cmd == FLING_CMD_RESULT) {
            assert_true (self->decoded.batch_seq > 0);
            self->result_seq = self->decoded.batch_seq;
            if (self->ack_results)
                fake_broker_send (self, fling_msg_result_ack (self->decoded.batch_seq));
        }
        if (self->decoded.cmd != FLING_CMD_PING)
            return &self->decoded;
        self->pings++;
        if (self->answer_pings)
            fake_broker_send (self, fling_msg_pong ());
        if (want_ping)
            return &self->decoded;
    }
}

fling_msg_t *fake_broker_expect (fake_broker_t *self, fling_cmd_t cmd, int wait_ms)
{
    fling_msg_t *msg = fake_broker_next (self, wait_ms, cmd == FLING_CMD_PING);
    if (!msg)
        fail_msg ("no %s within %d ms", fling_cmd_name (cmd), wait_ms);
    if (msg->cmd != cmd)
        fail_msg ("expected %s, got %s", fling_cmd_name (cmd), fling_cmd_name (msg->cmd));
    return msg;
}

/* ---- serving producers ------------------------------------------------------ */

static void record_submit (fake_broker_t *self, const fling_msg_t *submit)
{
    const uint8_t *cursor = submit->body, *end = submit->body + submit->body_size;
    fling_record_t record;
    fling_reason_t why;
    while (fling_record_next (&cursor, end, &record, &why) == 1) {
        if (self->seen_count == self->seen_capacity) {
            self->seen_capacity = self->seen_capacity ? self->seen_capacity * 2 : 1024;
            self->seen =
                (fake_seen_t *)realloc (self->seen, self->seen_capacity * sizeof (fake_seen_t));
        }
        self->seen[self->seen_count++] = (fake_seen_t){
            record.id,           submit->batch_seq,    submit->version,     record.ext_size,
            record.ext.delay_ms, record.ext.due_at_ms, record.ext.priority, record.ext.key_size};
    }
    self->submits++;
    if (submit->count > self->largest_batch)
        self->largest_batch = submit->count;
}

/* Whether FAKE_DROP_FIRST lets this SUBMIT through. */
static bool second_time (fake_broker_t *self, uint64_t batch_seq)
{
    for (size_t i = 0; i < self->first_seq_count; i++)
        if (self->first_seqs[i] == batch_seq)
            return true;
    if (self->first_seq_count < 4096)
        self->first_seqs[self->first_seq_count++] = batch_seq;
    return false;
}

static void reply (fake_broker_t *self, zframe_t *routing_id, zmsg_t *msg)
{
    zframe_t *copy = zframe_dup (routing_id);
    zmsg_prepend (msg, &copy);
    zmsg_send (&msg, self->router);
}

static void answer_submit (fake_broker_t *self, zframe_t *routing_id, const fling_msg_t *msg)
{
    fake_mode_t mode = self->mode;
    if (mode == FAKE_SILENT || mode == FAKE_NO_ACK ||
        (mode == FAKE_DROP_FIRST && !second_time (self, msg->batch_seq)))
        return;
    if (mode == FAKE_ERROR_AND_ACK) {
        reply (self, routing_id,
               fling_msg_error (FLING_PROTO_VERSION, FLING_REASON_BAD_STATE, 0, 0,
                                "test\nerror \x01text"));
        zmsg_t *garbage = zmsg_new ();
        zmsg_addstr (garbage, "not fling");
        reply (self, routing_id, garbage);
    }
    uint8_t statuses[FLING_BATCH_TASKS_MAX];
    for (uint32_t i = 0; i < msg->count; i++)
        statuses[i] = self->pattern[i % self->pattern_size];
    reply (self, routing_id, fling_msg_ack (msg->batch_seq, msg->count, statuses));
}

static void serve_one (fake_broker_t *self, zmsg_t *msg)
{
    zframe_t *routing_id = zmsg_pop (msg);
    fling_msg_t decoded;
    fling_reason_t why;
    int rc = routing_id ? fling_msg_decode_v (msg, &decoded, &why, self->max_version) : -1;
    if (routing_id && rc != 0 && why == FLING_REASON_BAD_VERSION)
        reply (self, routing_id,
               fling_msg_error (FLING_PROTO_VERSION_MIN, why, 0, 0, decoded.problem));
    if (rc == 0) {
        pthread_mutex_lock (&self->lock);
        if (decoded.cmd == FLING_CMD_SUBMIT) {
            record_submit (self, &decoded);
            answer_submit (self, routing_id, &decoded);
        } else if (decoded.cmd == FLING_CMD_PING && self->mode != FAKE_SILENT)
            reply (self, routing_id, fling_msg_pong ());
        pthread_mutex_unlock (&self->lock);
    }
    zframe_destroy (&routing_id);
}

static void *serve (void *arg)
{
    fake_broker_t *self = (fake_broker_t *)arg;
    while (!atomic_load (&self->stop)) {
        zmq_pollitem_t item = {zsock_resolve (self->router), 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, 10) <= 0)
            continue;
        zmsg_t *msg = zmsg_recv (self->router);
        if (msg)
            serve_one (self, msg);
        zmsg_destroy (&msg);
    }
    return NULL;
}

void fake_broker_serve (fake_broker_t *self, fake_mode_t mode)
{
    self->mode = mode;
    self->serving = true;
    assert_int_equal (pthread_create (&self->thread, NULL, serve, self), 0);
}

void fake_broker_set_mode (fake_broker_t *self, fake_mode_t mode)
{
    pthread_mutex_lock (&self->lock);
    self->mode = mode;
    pthread_mutex_unlock (&self->lock);
}

void fake_broker_set_pattern (fake_broker_t *self, const uint8_t *pattern, size_t size)
{
    pthread_mutex_lock (&self->lock);
    memcpy (self->pattern, pattern, size);
    self->pattern_size = size;
    pthread_mutex_unlock (&self->lock);
}

static int compare_ids (const void *a, const void *b)
{
    return memcmp (((const fake_seen_t *)a)->id.bytes, ((const fake_seen_t *)b)->id.bytes,
                   FLING_TASK_ID_SIZE);
}

size_t fake_broker_distinct (fake_broker_t *self, size_t *total)
{
    pthread_mutex_lock (&self->lock);
    qsort (self->seen, self->seen_count, sizeof (fake_seen_t), compare_ids);
    size_t distinct = 0;
    for (size_t i = 0; i < self->seen_count; i++)
        if (i == 0 || compare_ids (&self->seen[i - 1], &self->seen[i]) != 0)
            distinct++;
    if (total)
        *total = self->seen_count;
    pthread_mutex_unlock (&self->lock);
    return distinct;
}

size_t fake_broker_submits (fake_broker_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t submits = self->submits;
    pthread_mutex_unlock (&self->lock);
    return submits;
}

uint32_t fake_broker_largest_batch (fake_broker_t *self)
{
    pthread_mutex_lock (&self->lock);
    uint32_t largest = self->largest_batch;
    pthread_mutex_unlock (&self->lock);
    return largest;
}
