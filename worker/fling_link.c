/*  fling_link.c - the worker's connection to the broker (SPEC.md: READY,
    WELCOME, RESULT, RESULT_ACK, heartbeats).

    One DEALER socket. READY, then nothing until the broker answers: WELCOME
    (registered: the broker's heartbeat interval is followed when it is
    shorter than ours) or ERROR naming READY (refused: for good, unless the
    broker was only short of something). HOLDING, with the tasks still in
    our hands, goes right behind READY; after WELCOME, every RESULT the
    broker has not acknowledged is sent again. Any message from the broker proves it alive;
    after 3 heartbeat intervals of silence, or on ERROR(UNKNOWN_PEER), the
    socket is thrown away and a new one (a new routing id for the broker)
    says READY again. Tasks keep running across a reconnect.

    Each RESULT is kept (fling_unacked.c) until a RESULT_ACK covers it, so a
    RESULT the broker did not make durable (it died, or the connection
    broke) is sent again instead of the task running again.
*/
#include "fling_link.h"
#include "fling_capacity.h"
#include "fling_log.h"
#include "fling_worker_impl.h"

#include <errno.h>
#include <unistd.h>

#define SILENT_BEATS 3 /* broker gone after this many silent intervals */

static int connect_socket (fling_worker_t *self);

void fling_link_send (fling_worker_t *self, zmsg_t *msg)
{
    if (!msg) {
        fling_error ("out of memory building a message for the broker");
        return;
    }
    /* The socket never blocks (sndtimeo 0): at the high-water mark the
       broker is not reading, and the message is dropped. A dropped RESULT
       is sent again (it is kept until acknowledged); a stuck event loop
       would help nobody. */
    if (!self->sock || zmsg_send (&msg, self->sock)) {
        zmsg_destroy (&msg);
        self->stats.send_failures++;
        fling_debug ("send to broker failed: %s", zmq_strerror (zmq_errno ()));
        return;
    }
    self->last_send_ms = fling_clock_ms ();
}

void fling_link_send_results (fling_worker_t *self)
{
    size_t count = fling_results_count (self->results);
    if (!count)
        return;
    uint64_t seq = ++self->result_seq;
    self->stats.results_forgotten +=
        fling_unacked_add (self->unacked, seq, (uint32_t)count, fling_results_data (self->results),
                           fling_results_size (self->results));
    /* Not registered (yet, or any more): kept, they go out after WELCOME. */
    void *sock = self->registered && self->sock ? zsock_resolve (self->sock) : NULL;
    if (fling_results_send (self->results, sock, seq)) {
        if (sock) {
            self->stats.send_failures++;
            self->resend_pending = true;
            fling_debug ("RESULT to broker failed: %s", zmq_strerror (errno));
        }
        return;
    }
    self->last_send_ms = fling_clock_ms ();
}

/* SPEC.md: right after READY, name every task still in our hands (running, or
   waiting for a slot) so the broker can lease it back to us instead of
   running it a second time elsewhere. Tasks already reported TIMEOUT are
   not ours any more and are left out. Oldest first (the list is newest
   first): the broker leases them back in this order and counts the oldest
   as the running ones if we die. */
static void send_holding (fling_worker_t *self)
{
    uint8_t leases[FLING_BATCH_TASKS_MAX * FLING_LEASE_SIZE];
    uint32_t count = 0;
    for (fling_task_t *task = fling_task_of_flight (self->running.tail); task;
         task = fling_task_of_flight (task->flight_link.prev)) {
        fling_lease_write (leases + (size_t)count * FLING_LEASE_SIZE, &task->id, task->attempt);
        self->stats.holding_sent++;
        if (++count == FLING_BATCH_TASKS_MAX) {
            fling_link_send (self, fling_msg_holding (count, leases, sizeof leases));
            count = 0;
        }
    }
    if (count)
        fling_link_send (self, fling_msg_holding (count, leases, (size_t)count * FLING_LEASE_SIZE));
}

static int resend_one (uint64_t seq, uint32_t count, const uint8_t *body, size_t size, void *arg)
{
    fling_worker_t *self = (fling_worker_t *)arg;
    zmsg_t *msg = fling_msg_result (seq, count, body, size);
    if (!msg || zmsg_send (&msg, self->sock)) {
        zmsg_destroy (&msg);
        self->stats.send_failures++;
        self->resend_pending = true;
        return -1; /* at the high-water mark: the rest at the next heartbeat */
    }
    self->stats.results_resent += count;
    self->last_send_ms = fling_clock_ms ();
    return 0;
}

/* Every RESULT not acknowledged, oldest first, on the current socket: the
   broker applies those it still can and ignores the rest (SPEC.md). */
static void resend_unacked (fling_worker_t *self)
{
    self->resend_pending = false;
    if (self->sock && fling_unacked_messages (self->unacked))
        fling_unacked_each (self->unacked, resend_one, self);
}

static void send_ready (fling_worker_t *self)
{
    const char *names[FLING_NAMES_MAX];
    fling_class_t classes[FLING_NAMES_MAX];
    for (size_t i = 0; i < self->handler_count; i++) {
        names[i] = self->handler_list[i]->name;
        classes[i] = self->handler_list[i]->cls;
    }
    uint32_t capacity[FLING_CLASS_COUNT];
    uint32_t slots[FLING_CLASS_COUNT];
    fling_capacity_get (self, capacity, slots);
    fling_link_send (self, fling_msg_ready (capacity, slots, (uint32_t)getpid (), self->name,
                                            self->handler_count, names, classes));
    self->announced_pool = slots[FLING_CLASS_POOL];
}

/* The heartbeat timer ticks once per interval we follow. */
static int arm_heartbeat (fling_worker_t *self, unsigned interval_ms)
{
    if (self->heartbeat_timer != -1 && interval_ms == self->heartbeat_now_ms)
        return 0;
    if (self->heartbeat_timer != -1)
        zloop_timer_end (self->loop, self->heartbeat_timer);
    self->heartbeat_now_ms = interval_ms;
    self->heartbeat_timer = zloop_timer (self->loop, interval_ms, 0, self->on_heartbeat, self);
    return self->heartbeat_timer == -1 ? -1 : 0;
}

int fling_link_start (fling_worker_t *self, zloop_reader_fn *on_broker,
                      zloop_timer_fn *on_heartbeat)
{
    self->on_broker = on_broker;
    self->on_heartbeat = on_heartbeat;
    self->heartbeat_timer = -1;
    if (arm_heartbeat (self, self->heartbeat_ms))
        return -1;
    return connect_socket (self);
}

static int connect_socket (fling_worker_t *self)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return -1;
    zsock_set_rcvtimeo (sock, 0);
    zsock_set_sndtimeo (sock, 0);
    zsock_set_maxmsgsize (sock, FLING_MSG_BYTES_MAX);
    if (self->curve_cert) {
        zcert_apply (self->curve_cert, sock);
        zsock_set_curve_serverkey (sock, self->curve_broker);
    }
    if (zsock_connect (sock, "%s", self->endpoint)) {
        zsock_destroy (&sock);
        errno = EINVAL;
        return -1;
    }
    if (zloop_reader (self->loop, sock, self->on_broker, self)) {
        zsock_destroy (&sock);
        errno = ENOMEM;
        return -1;
    }
    self->sock = sock;
    self->registered = false;
    self->reconnect_pending = false;
    self->last_connect_ms = self->last_recv_ms = fling_clock_ms ();
    send_ready (self);
    /* Right behind READY, not after WELCOME: the broker reads one
       connection's messages in order, so it claims these back before the
       end of the turn that registers us, when it may lease us work. Sent
       after WELCOME, a task we still run could come back to us as a new
       attempt and run twice. */
    send_holding (self);
    return 0;
}

void fling_link_close (fling_worker_t *self, int linger_ms)
{
    if (!self->sock)
        return;
    zloop_reader_end (self->loop, self->sock);
    /* czmq sets linger 0, which would discard a final RESULT and BYE. */
    zsock_set_linger (self->sock, linger_ms);
    zsock_destroy (&self->sock);
    self->registered = false;
}

static void reconnect (fling_worker_t *self, const char *why)
{
    self->stats.reconnects++;
    self->failed_connects++;
    /* A broker that stays away would print a line every few seconds:
       say it once, then every tenth attempt. */
    if (self->failed_connects == 1)
        fling_warn ("broker lost (%s), reconnecting to %s", why, self->endpoint);
    else if (self->failed_connects % 10 == 0)
        fling_warn ("still no broker at %s after %u attempts (%s)", self->endpoint,
                    self->failed_connects, why);
    else
        fling_debug ("broker lost (%s), reconnecting", why);
    fling_link_close (self, 0);
    if (connect_socket (self)) {
        fling_error ("cannot open a socket to %s: %s", self->endpoint, fling_strerror (errno));
        self->reconnect_pending = true;
    }
}

/* READY accepted. The broker's heartbeat interval bounds ours: a worker
   that pinged less often than the broker expects would be declared dead
   while alive (SPEC.md §4.6). */
static void on_welcome (fling_worker_t *self, const fling_msg_t *msg)
{
    self->failed_connects = 0;
    unsigned interval = self->heartbeat_ms;
    if (msg->heartbeat_ms && msg->heartbeat_ms < interval)
        interval = msg->heartbeat_ms;
    if (arm_heartbeat (self, interval))
        fling_error ("cannot re-arm the heartbeat timer: keeping %u ms", self->heartbeat_now_ms);
    bool again = self->registered;
    self->registered = true;
    if (again) {
        fling_debug ("WELCOME again: registration replaced");
        return;
    }
    fling_info ("%s with broker at %s heartbeat_ms=%u broker_heartbeat_ms=%u "
                "worker_timeout_ms=%u",
                self->ever_registered ? "re-registered" : "registered", self->endpoint,
                self->heartbeat_now_ms, (unsigned)msg->heartbeat_ms,
                (unsigned)msg->worker_timeout_ms);
    self->ever_registered = true;
    resend_unacked (self);
    if (self->draining) {
        /* Registered during a drain: take nothing new. */
        uint32_t none[FLING_CLASS_COUNT] = {0, 0};
        fling_link_send (self, fling_msg_capacity (none, NULL));
    }
    if (self->on_registered)
        self->on_registered (self, self->on_registered_arg);
}

/* A READY refused for what it says (a name, a field, our key) is refused
   again if sent again: stop, loudly, instead of re-registering in a loop.
   A refusal for want of something at the broker is tried again later. */
static void on_ready_refused (fling_worker_t *self, const fling_msg_t *msg)
{
    int text_size = (int)(msg->text_size > 300 ? 300 : msg->text_size);
    if (msg->reason == FLING_REASON_UNAVAILABLE) {
        fling_warn ("broker cannot register us now (%s %.*s): trying again",
                    fling_reason_name (msg->reason), text_size, msg->text);
        self->reconnect_pending = true;
        return;
    }
    fling_error ("broker refused our READY: %s %.*s; stopping", fling_reason_name (msg->reason),
                 text_size, msg->text);
    self->finished = true;
    self->rc = -1;
}

static void on_error (fling_worker_t *self, const fling_msg_t *msg)
{
    /* BAD_VERSION comes in the FLP/1 layout, which cannot name READY: before
       WELCOME it can only be the answer to our READY (an FLP/1 broker). */
    if (msg->refused_cmd == FLING_CMD_READY ||
        (msg->reason == FLING_REASON_BAD_VERSION && !self->registered)) {
        on_ready_refused (self, msg);
        return;
    }
    if (msg->reason != FLING_REASON_UNKNOWN_PEER) {
        fling_warn ("broker refused a %s: %s %.*s", fling_cmd_name (msg->refused_cmd),
                    fling_reason_name (msg->reason),
                    (int)(msg->text_size > 200 ? 200 : msg->text_size), msg->text);
        return;
    }
    if (!self->registered)
        return; /* an answer to something sent before our READY: WELCOME follows */
    /* At most one new socket per heartbeat interval, so a broker that keeps
       refusing us cannot make us spin. */
    if (fling_clock_ms () - self->last_connect_ms >= (int64_t)self->heartbeat_now_ms)
        reconnect (self, "broker does not know us");
    else
        self->reconnect_pending = true;
}

/* The broker's input is checked by the codec; a message that fails is
   dropped (the spec gives workers no ERROR to send) and counted. */
int fling_link_handle (fling_worker_t *self, zmsg_t *msg, fling_msg_t *decoded)
{
    fling_reason_t reason;
    if (fling_msg_decode (msg, decoded, &reason)) {
        if (self->stats.bad_messages++ % 1000 == 0)
            fling_warn ("dropped a bad message from the broker: %s (%llu so far)",
                        fling_reason_name (reason), (unsigned long long)self->stats.bad_messages);
        return 0;
    }
    switch (decoded->cmd) {
    case FLING_CMD_PONG:
        break; /* a sign of life, as any message is */
    case FLING_CMD_WELCOME:
        on_welcome (self, decoded);
        break;
    case FLING_CMD_RESULT_ACK:
        fling_unacked_ack (self->unacked, decoded->batch_seq);
        break;
    case FLING_CMD_DISPATCH:
        return 1;
    case FLING_CMD_ERROR:
        on_error (self, decoded);
        break;
    case FLING_CMD_BYE:
        reconnect (self, "broker said BYE");
        break;
    default:
        fling_debug ("ignored %s from the broker", fling_cmd_name (decoded->cmd));
        break;
    }
    return 0;
}

/* Every interval: reconnect after a silence, else PING if either side has
   been quiet for half an interval (registered only: before WELCOME there
   is nothing to keep alive). PING on our silence alone is not enough: a
   worker that only sends RESULTs to a broker with nothing to dispatch
   would hear nothing back and declare the broker gone, so a quiet broker
   is pinged too. */
void fling_link_heartbeat (fling_worker_t *self)
{
    int64_t now = fling_clock_ms ();
    int64_t interval = self->heartbeat_now_ms;
    if (self->reconnect_pending)
        reconnect (self, self->registered ? "broker does not know us" : "registering again");
    else if (now - self->last_recv_ms >= SILENT_BEATS * interval)
        reconnect (self, !self->registered ? "no WELCOME"
                         : self->curve_cert
                             ? "no answer for 3 heartbeats; with CURVE, also check the broker's "
                               "public key and that this worker's key is in its allowed "
                               "directory"
                             : "no answer for 3 heartbeats");
    else if (self->registered) {
        if (self->resend_pending)
            resend_unacked (self);
        if (now - self->last_send_ms >= interval / 2 || now - self->last_recv_ms >= interval / 2)
            fling_link_send (self, fling_msg_ping ());
    }
}
