/*  fling_sender.c - see fling_sender.h.

    The thread is a plain pthread rather than a zactor: its only commands
    are "new work" (the outbox's eventfd) and "stop" (a flag plus the same
    eventfd), and a joined thread lets destroy know for certain that the
    socket and the batches are no longer touched (czmq detaches actor
    threads).

    Delivery never relies on ZeroMQ queues: the DEALER has ZMQ_IMMEDIATE=1,
    so with no connection to the broker a send fails with EAGAIN at once
    instead of queueing into a pipe that may never connect, and czmq closes
    sockets with linger 0, so whatever libzmq still holds at close is lost.
    Each batch stays here until its ACK; a batch without one is sent again.
*/
#include "fling_sender.h"
#include "fling_error.h"
#include "fling_log.h"
#include "fling_monitor.h"
#include "fling_proto.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SILENT_HEARTBEATS 3   /* broker silent this many intervals = gone */
#define RECV_BURST        256 /* messages read per wake-up, to stay fair */
#define WINDOW_MAX        1024

/* One batch taken from the outbox, waiting for its ACK. */
typedef struct {
    fling_batch_t *batch;
    uint64_t batch_seq;
    int64_t sent_ms; /* last successful send; 0 = never sent */
    bool resend_now; /* the broker came back after a silence */
} slot_t;

struct fling_sender {
    fling_sender_config_t config;
    char *endpoint;
    fling_outbox_t *outbox;
    zsock_t *dealer;
    fling_monitor_t *monitor; /* CURVE: handshake outcomes; NULL without */
    pthread_t thread;
    atomic_bool stop;

    /* I/O thread only */
    slot_t *slots; /* in batch_seq order, oldest first */
    size_t slot_count;
    uint64_t last_batch_seq;
    int64_t last_send_ms; /* anything sent, PING included */
    int64_t heard_ms;     /* last message from the broker; 0 = never */
    int64_t error_logged_ms;
    bool blocked;      /* a SUBMIT hit EAGAIN: wait for POLLOUT */
    bool ping_pending; /* a PING hit EAGAIN: send it on POLLOUT */

    /* read by other threads */
    _Atomic int64_t heard_at_ms;
    _Atomic uint64_t accepted, rejected, dropped, resent, broker_errors, bad_messages, unavailable;
    _Atomic uint64_t handshake_failures;
};

/* ---- sending -------------------------------------------------------------- */

/* Sends without blocking and destroys the message. Only the first frame can
   fail with EAGAIN: libzmq accepts the rest of a message once it took the
   first. */
static int send_msg (zsock_t *sock, zmsg_t **msg_p)
{
    zmsg_t *msg = *msg_p;
    if (!msg) {
        errno = ENOMEM;
        return -1;
    }
    int rc = 0;
    size_t left = zmsg_size (msg);
    for (zframe_t *frame = zmsg_first (msg); frame; frame = zmsg_next (msg)) {
        int flags = ZFRAME_REUSE | ZFRAME_DONTWAIT | (--left ? ZFRAME_MORE : 0);
        if (zframe_send (&frame, sock, flags)) {
            rc = -1;
            break;
        }
    }
    int err = errno;
    zmsg_destroy (msg_p);
    errno = err;
    return rc;
}

static int send_batch (fling_sender_t *self, const slot_t *slot)
{
    zmsg_t *msg = fling_msg_submit (slot->batch_seq, fling_batch_count (slot->batch),
                                    fling_batch_data (slot->batch), fling_batch_size (slot->batch));
    /* Only a batch whose tasks carry extensions needs FLP/1.2 (SPEC.md §2.3). */
    if (fling_batch_extended (slot->batch))
        fling_msg_set_version (msg, FLING_PROTO_VERSION_SCHED);
    return send_msg (self->dealer, &msg);
}

/* Sends batches never sent, and resends those whose ACK is overdue or that
   went out before the broker fell silent. Stops at the first EAGAIN. */
static void send_due (fling_sender_t *self, int64_t now_ms)
{
    for (size_t i = 0; i < self->slot_count && !self->blocked; i++) {
        slot_t *slot = &self->slots[i];
        bool resend =
            slot->sent_ms &&
            (slot->resend_now || now_ms - slot->sent_ms >= (int64_t)self->config.ack_timeout_ms);
        if (slot->sent_ms && !resend)
            continue;
        if (send_batch (self, slot)) {
            self->blocked = true;
            break;
        }
        if (resend)
            atomic_fetch_add_explicit (&self->resent, 1, memory_order_relaxed);
        slot->sent_ms = now_ms > 0 ? now_ms : 1;
        slot->resend_now = false;
        self->last_send_ms = now_ms;
    }
}

/* PING when nothing went out for a heartbeat, or as soon as the connection
   is up if the last one could not be sent (so the broker is heard early). */
static void heartbeat (fling_sender_t *self, int64_t now_ms)
{
    if (!self->ping_pending && now_ms - self->last_send_ms < (int64_t)self->config.heartbeat_ms)
        return;
    self->last_send_ms = now_ms;
    zmsg_t *ping = fling_msg_ping ();
    self->ping_pending = send_msg (self->dealer, &ping) != 0 && errno == EAGAIN;
}

/* ---- the window ----------------------------------------------------------- */

/* Takes batches from the outbox while the window has room. The open batch
   is taken at once when nothing is in flight, after the linger otherwise,
   and left to fill while the socket is blocked. Returns when the open batch
   will be due (monotonic us), or -1. */
static int64_t fill_window (fling_sender_t *self, int64_t now_us)
{
    int64_t due_us = -1;
    while (self->slot_count < self->config.window_batches) {
        int64_t linger_us = self->blocked           ? -1
                            : self->slot_count == 0 ? 0
                                                    : (int64_t)self->config.batch_linger_us;
        fling_batch_t *batch = fling_outbox_take (self->outbox, now_us, linger_us, &due_us);
        if (!batch)
            break;
        self->slots[self->slot_count++] =
            (slot_t){.batch = batch, .batch_seq = ++self->last_batch_seq};
    }
    return due_us;
}

/* The lowest first task sequence among the batches in flight. Not the
   oldest batch's: the outbox's shards seal batches in any order. */
static uint64_t unresolved_min_seq (const fling_sender_t *self)
{
    uint64_t lowest = UINT64_MAX;
    for (size_t i = 0; i < self->slot_count; i++) {
        uint64_t first = fling_batch_first_seq (self->slots[i].batch);
        if (first < lowest)
            lowest = first;
    }
    return lowest;
}

/* Calls ack_fn for every task of the batch and counts the outcomes.
   `statuses` has one byte per task; NULL means all dropped. */
static void report (fling_sender_t *self, const fling_batch_t *batch, const uint8_t *statuses)
{
    uint32_t count = fling_batch_count (batch);
    uint64_t accepted = 0;
    for (uint32_t i = 0; statuses && i < count; i++)
        accepted += statuses[i] == FLING_REASON_OK || statuses[i] == FLING_REASON_DUPLICATE;
    if (statuses) {
        atomic_fetch_add_explicit (&self->accepted, accepted, memory_order_relaxed);
        atomic_fetch_add_explicit (&self->rejected, count - accepted, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit (&self->dropped, count, memory_order_relaxed);
    }
    if (!self->config.ack_fn)
        return;
    const uint8_t *cursor = fling_batch_data (batch);
    const uint8_t *end = cursor + fling_batch_size (batch);
    fling_record_t record;
    fling_reason_t why;
    char text[FLING_TASK_ID_TEXT_SIZE];
    for (uint32_t i = 0; fling_record_next (&cursor, end, &record, &why) == 1; i++) {
        fling_task_id_format (&record.id, text);
        if (!statuses) {
            self->config.ack_fn (text, FLING_ACK_DROPPED, FLING_ECLOSED, self->config.ack_arg);
            continue;
        }
        int err = fling_reason_errno (statuses[i]);
        /* A keyed task answered DUPLICATE: another task holds its key (a
           resend of the one that holds it is told the same; either way
           this send added nothing the caller can wait for). */
        bool keyed_duplicate = statuses[i] == FLING_REASON_DUPLICATE && record.ext.key;
        fling_ack_t ack = err               ? FLING_ACK_REJECTED
                          : keyed_duplicate ? FLING_ACK_DUPLICATE
                                            : FLING_ACK_ACCEPTED;
        self->config.ack_fn (text, ack, err, self->config.ack_arg);
    }
}

/* ---- receiving ------------------------------------------------------------ */

/* The slot of the batch `batch_seq`, or slot_count when it is not ours
   (any more): an answer to a resend of a batch already resolved. */
static size_t slot_of (const fling_sender_t *self, uint64_t batch_seq)
{
    size_t i = 0;
    while (i < self->slot_count && self->slots[i].batch_seq != batch_seq)
        i++;
    return i;
}

/* The broker answered for the batch in slot i: give it back. */
static void resolve (fling_sender_t *self, size_t i, const uint8_t *statuses)
{
    fling_batch_t *batch = self->slots[i].batch;
    memmove (&self->slots[i], &self->slots[i + 1], (self->slot_count - i - 1) * sizeof (slot_t));
    self->slot_count--;
    report (self, batch, statuses);
    fling_outbox_resolve (self->outbox, &batch, unresolved_min_seq (self));
}

static void on_ack (fling_sender_t *self, const fling_msg_t *ack)
{
    size_t i = slot_of (self, ack->batch_seq);
    if (i == self->slot_count)
        return;
    if (ack->count != fling_batch_count (self->slots[i].batch)) {
        atomic_fetch_add_explicit (&self->bad_messages, 1, memory_order_relaxed);
        return;
    }
    /* UNAVAILABLE means the broker could not make the batch durable (its
       store failed) or is shutting down: the outcome is unknown, not a
       refusal. Keep the batch and resend it, same ids, after the ack timeout:
       a broker that did keep some of it answers DUPLICATE (SPEC.md §5.1). */
    if (memchr (ack->body, FLING_REASON_UNAVAILABLE, ack->count)) {
        atomic_fetch_add_explicit (&self->unavailable, 1, memory_order_relaxed);
        return;
    }
    resolve (self, i, ack->body);
}

/* An ERROR naming one of our batches (FLP/1.1) refuses it whole: every
   task of it gets the reason, as an ACK would say, and it is not sent
   again. UNAVAILABLE alone is not an answer (see on_ack). */
static void refuse_batch (fling_sender_t *self, const fling_msg_t *error)
{
    size_t i = slot_of (self, error->batch_seq);
    if (i == self->slot_count)
        return;
    if (error->reason == FLING_REASON_UNAVAILABLE) {
        atomic_fetch_add_explicit (&self->unavailable, 1, memory_order_relaxed);
        return;
    }
    uint8_t statuses[FLING_BATCH_TASKS_MAX];
    uint32_t count = fling_batch_count (self->slots[i].batch);
    /* 0 and 1 would read as accepted: an ERROR is never that. */
    memset (statuses,
            error->reason > FLING_REASON_DUPLICATE ? error->reason : FLING_REASON_MALFORMED, count);
    resolve (self, i, statuses);
}

/* ERROR(BAD_VERSION) names no batch (FLP/1 layout, SPEC.md §2.3): the
   broker does not speak FLP/1.2, so every FLP/1.2 batch sent and not
   answered is refused, each task BAD_VERSION, and not sent again. Plain
   batches are the broker's version and stay. */
static void refuse_extended (fling_sender_t *self)
{
    uint8_t statuses[FLING_BATCH_TASKS_MAX];
    memset (statuses, FLING_REASON_BAD_VERSION, sizeof statuses);
    for (size_t i = 0; i < self->slot_count;) {
        if (self->slots[i].sent_ms && fling_batch_extended (self->slots[i].batch))
            resolve (self, i, statuses); /* moves the next slot into i */
        else
            i++;
    }
}

/* Logs at most once a second: a broker that refuses everything must not
   flood the service's stderr. */
static void on_error (fling_sender_t *self, const fling_msg_t *error, int64_t now_ms)
{
    atomic_fetch_add_explicit (&self->broker_errors, 1, memory_order_relaxed);
    if (error->refused_cmd == FLING_CMD_SUBMIT && error->batch_seq)
        refuse_batch (self, error);
    else if (error->reason == FLING_REASON_BAD_VERSION)
        refuse_extended (self);
    if (self->error_logged_ms && now_ms - self->error_logged_ms < 1000)
        return;
    self->error_logged_ms = now_ms;
    char text[201];
    size_t size = error->text_size < sizeof text - 1 ? error->text_size : sizeof text - 1;
    for (size_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)error->text[i];
        text[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    text[size] = 0;
    fprintf (stderr, "fling producer: broker error %s: %s\n", fling_reason_name (error->reason),
             text);
}

/* Any message is a sign of life. After a silence of SILENT_HEARTBEATS the
   broker may have restarted and lost what it had not stored: resend every
   batch it has not acknowledged, now rather than at each ack timeout. */
static void heard (fling_sender_t *self, int64_t now_ms)
{
    int64_t silence_ms = (int64_t)self->config.heartbeat_ms * SILENT_HEARTBEATS;
    if (self->heard_ms && now_ms - self->heard_ms >= silence_ms)
        for (size_t i = 0; i < self->slot_count; i++)
            self->slots[i].resend_now = self->slots[i].sent_ms != 0;
    self->heard_ms = now_ms;
    atomic_store_explicit (&self->heard_at_ms, now_ms, memory_order_relaxed);
}

static void handle (fling_sender_t *self, zmsg_t *msg, int64_t now_ms)
{
    fling_msg_t decoded;
    fling_reason_t why;
    heard (self, now_ms);
    if (fling_msg_decode_v (msg, &decoded, &why, FLING_PROTO_VERSION_SCHED)) {
        atomic_fetch_add_explicit (&self->bad_messages, 1, memory_order_relaxed);
        return;
    }
    if (decoded.cmd == FLING_CMD_ACK)
        on_ack (self, &decoded);
    else if (decoded.cmd == FLING_CMD_ERROR)
        on_error (self, &decoded, now_ms);
    /* PONG and anything else: the sign of life was all we needed. */
}

static void receive_all (fling_sender_t *self)
{
    int64_t now_ms = fling_clock_ms ();
    for (int n = 0; n < RECV_BURST; n++) {
        zmsg_t *msg = zmsg_recv (self->dealer); /* RCVTIMEO 0: NULL when empty */
        if (!msg)
            break;
        handle (self, msg, now_ms);
        zmsg_destroy (&msg);
    }
}

/* ---- the loop ------------------------------------------------------------- */

static int64_t min64 (int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Poll timeout in ms: the next PING, ACK deadline or open batch due. While
   blocked only POLLOUT (or a PING timer) can move things. */
static long next_timeout (fling_sender_t *self, int64_t now_ms, int64_t now_us, int64_t due_us)
{
    int64_t timeout = self->last_send_ms + (int64_t)self->config.heartbeat_ms - now_ms;
    if (!self->blocked) {
        for (size_t i = 0; i < self->slot_count; i++)
            if (self->slots[i].sent_ms)
                timeout = min64 (timeout, self->slots[i].sent_ms +
                                              (int64_t)self->config.ack_timeout_ms - now_ms);
        /* zmq_poll counts in ms: a linger under 1 ms waits 1 ms. */
        if (due_us >= 0)
            timeout = min64 (timeout, (due_us - now_us + 999) / 1000);
    }
    return timeout < 0 ? 0 : (long)timeout;
}

static void drop_all (fling_sender_t *self)
{
    while (self->slot_count) {
        fling_batch_t *batch = self->slots[0].batch;
        memmove (&self->slots[0], &self->slots[1], (self->slot_count - 1) * sizeof (slot_t));
        self->slot_count--;
        report (self, batch, NULL);
        fling_outbox_resolve (self->outbox, &batch, unresolved_min_seq (self));
    }
    fling_batch_t *batch;
    while ((batch = fling_outbox_take (self->outbox, fling_clock_us (), 0, NULL))) {
        report (self, batch, NULL);
        fling_outbox_resolve (self->outbox, &batch, UINT64_MAX);
    }
}

/* A refused or failed CURVE handshake (key not allowed, wrong broker
   key) looks like a broker that is not there; count it, so
   fling_producer_stats can tell the two apart. */
static void count_handshakes (fling_sender_t *self)
{
    uint16_t event;
    uint32_t value;
    while (fling_monitor_next (self->monitor, &event, &value))
        atomic_fetch_add_explicit (&self->handshake_failures, 1, memory_order_relaxed);
}

static void *run (void *arg)
{
    fling_sender_t *self = (fling_sender_t *)arg;
    void *dealer = zsock_resolve (self->dealer);
    int wake_fd = fling_outbox_wake_fd (self->outbox);
    while (!atomic_load (&self->stop)) {
        int64_t now_us = fling_clock_us (), now_ms = now_us / 1000;
        /* Before the look (fling_outbox.c: why no wake-up is lost), and
           after it for what it took. */
        fling_outbox_set_in_flight (self->outbox, self->slot_count);
        int64_t due_us = fill_window (self, now_us);
        fling_outbox_set_in_flight (self->outbox, self->slot_count);
        send_due (self, now_ms);
        heartbeat (self, now_ms);
        short out = self->blocked || self->ping_pending ? ZMQ_POLLOUT : 0;
        zmq_pollitem_t items[3] = {
            {dealer, 0, (short)(ZMQ_POLLIN | out), 0},
            {NULL, wake_fd, ZMQ_POLLIN, 0},
            {self->monitor ? fling_monitor_handle (self->monitor) : NULL, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll (items, self->monitor ? 3 : 2, next_timeout (self, now_ms, now_us, due_us)) <
            0) {
            if (zmq_errno () == ETERM)
                break;
            continue;
        }
        if (items[1].revents & ZMQ_POLLIN)
            fling_outbox_wake_clear (self->outbox);
        if (items[0].revents & ZMQ_POLLIN)
            receive_all (self);
        if (items[0].revents & ZMQ_POLLOUT)
            self->blocked = false;
        if (self->monitor && (items[2].revents & ZMQ_POLLIN))
            count_handshakes (self);
    }
    drop_all (self);
    fling_monitor_destroy (&self->monitor);
    zsock_destroy (&self->dealer);
    return NULL;
}

/* ---- construction --------------------------------------------------------- */

static zsock_t *open_dealer (fling_sender_t *self, const fling_sender_config_t *config)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    if (!dealer)
        return NULL;
    char error[256];
    if (fling_curve_client_apply (&config->curve, dealer, NULL, error, sizeof error)) {
        zsock_destroy (&dealer);
        fling_set_last_error (EINVAL, error);
        return NULL;
    }
    /* Watched before it connects, so the first handshake is seen too. */
    if (fling_curve_client_on (&config->curve))
        self->monitor = fling_monitor_new (dealer, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                                       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                                       ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
    zsock_set_immediate (dealer, 1);
    zsock_set_sndtimeo (dealer, 0);
    zsock_set_rcvtimeo (dealer, 0);
    zsock_set_maxmsgsize (dealer, FLING_MSG_BYTES_MAX);
    /* ZMTP heartbeats drop a dead TCP connection, so IMMEDIATE turns a
       vanished broker into EAGAIN instead of sends into the void. */
    zsock_set_heartbeat_ivl (dealer, (int)config->heartbeat_ms);
    zsock_set_heartbeat_timeout (dealer, (int)config->heartbeat_ms * SILENT_HEARTBEATS);
    if (zsock_connect (dealer, "%s", config->endpoint)) {
        fling_monitor_destroy (&self->monitor); /* before the socket it watches */
        zsock_destroy (&dealer);
        errno = EINVAL;
        return NULL;
    }
    return dealer;
}

static void free_self (fling_sender_t *self)
{
    fling_monitor_destroy (&self->monitor);
    zsock_destroy (&self->dealer);
    free (self->slots);
    free (self->endpoint);
    free (self);
}

fling_sender_t *fling_sender_new (const fling_sender_config_t *config, fling_outbox_t *outbox)
{
    if (!config || !outbox || !config->endpoint || !config->window_batches ||
        config->window_batches > WINDOW_MAX || !config->ack_timeout_ms || !config->heartbeat_ms ||
        config->heartbeat_ms > INT32_MAX / SILENT_HEARTBEATS) {
        errno = EINVAL;
        return NULL;
    }
    fling_sender_t *self = (fling_sender_t *)calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    self->outbox = outbox;
    self->endpoint = strdup (config->endpoint);
    self->slots = (slot_t *)calloc (config->window_batches, sizeof (slot_t));
    if (!self->endpoint || !self->slots) {
        free_self (self);
        errno = ENOMEM;
        return NULL;
    }
    self->config.endpoint = self->endpoint;
    self->dealer = open_dealer (self, config);
    self->config.curve = (fling_curve_client_t){NULL, NULL}; /* the caller's strings */
    if (!self->dealer) {
        int err = errno ? errno : ENOMEM;
        free_self (self);
        errno = err;
        return NULL;
    }
    atomic_init (&self->stop, false);
    /* pthread_create is a full barrier: the socket moves to the new thread
       safely, as libzmq requires. */
    int rc = pthread_create (&self->thread, NULL, run, self);
    if (rc) {
        free_self (self);
        errno = rc;
        return NULL;
    }
    return self;
}

void fling_sender_destroy (fling_sender_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_sender_t *self = *self_p;
    atomic_store (&self->stop, true);
    fling_outbox_wake_force (self->outbox);
    pthread_join (self->thread, NULL);
    free_self (self);
    *self_p = NULL;
}

void fling_sender_counts (fling_sender_t *self, fling_sender_counts_t *counts)
{
    counts->accepted = atomic_load_explicit (&self->accepted, memory_order_relaxed);
    counts->rejected = atomic_load_explicit (&self->rejected, memory_order_relaxed);
    counts->dropped = atomic_load_explicit (&self->dropped, memory_order_relaxed);
    counts->resent = atomic_load_explicit (&self->resent, memory_order_relaxed);
    counts->broker_errors = atomic_load_explicit (&self->broker_errors, memory_order_relaxed);
    counts->bad_messages = atomic_load_explicit (&self->bad_messages, memory_order_relaxed);
    counts->handshake_failures =
        atomic_load_explicit (&self->handshake_failures, memory_order_relaxed);
}

bool fling_sender_connected (fling_sender_t *self)
{
    int64_t heard = atomic_load_explicit (&self->heard_at_ms, memory_order_relaxed);
    int64_t silence_ms = (int64_t)self->config.heartbeat_ms * SILENT_HEARTBEATS;
    return heard && fling_clock_ms () - heard < silence_ms;
}
