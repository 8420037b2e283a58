/*  fling_broker.c - the broker's loop, sockets, shared task bookkeeping
    and life cycle.

    One thread, one loop (see fling_broker.h). A turn reads up to
    FLING_BROKER_DRAIN_MAX messages from each socket, then once: commits the
    store and sends the turn's ACKs (fling_producers.c), declares silent
    workers dead (fling_workers.c) and dispatches (fling_dispatch.c).
*/
#include "fling_broker_private.h"
#include "fling_error.h"
#include "fling_log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- sending and refusing ---------------------------------------------- */

int fling_broker_send (fling_broker_t *self, zsock_t *sock, const fling_peer_t *peer,
                       zmsg_t **msg_p)
{
    zmsg_t *msg = *msg_p;
    *msg_p = NULL;
    if (!msg) {
        errno = ENOMEM;
        return -1;
    }
    /* Raw zmq_send with DONTWAIT: a ROUTER with ROUTER_MANDATORY reports an
       unknown peer (EHOSTUNREACH) or a full pipe (EAGAIN) on the routing
       frame, where it would otherwise drop silently or block the loop. */
    void *handle = zsock_resolve (sock);
    int rc = zmq_send (handle, peer->bytes, peer->size, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    size_t left = zmsg_size (msg);
    for (zframe_t *frame = zmsg_first (msg); rc >= 0 && frame; frame = zmsg_next (msg)) {
        int more = --left ? ZMQ_SNDMORE : 0;
        rc = zmq_send (handle, zframe_data (frame), zframe_size (frame), more | ZMQ_DONTWAIT);
    }
    int err = errno;
    zmsg_destroy (&msg);
    if (rc >= 0)
        return 0;
    self->counters.router_unroutable++;
    errno = err;
    return -1;
}

const char *fling_broker_refusal_name (int slot)
{
    return slot == FLING_REFUSED_EMPTY ? "EMPTY" : fling_reason_name (slot);
}

void fling_peer_hex (const fling_peer_t *peer, char out[FLING_PEER_HEX_SIZE])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < peer->size; i++) {
        out[2 * i] = digits[peer->bytes[i] >> 4];
        out[2 * i + 1] = digits[peer->bytes[i] & 15];
    }
    out[2 * peer->size] = '\0';
}

void fling_broker_refuse (fling_broker_t *self, zsock_t *sock, const fling_peer_t *peer, int reason,
                          const char *why)
{
    int slot = reason >= 0 && reason < FLING_REASON_MAX ? reason : FLING_REFUSED_EMPTY;
    self->refused[slot]++;
    self->refused_quiet[slot]++;
    /* A hostile peer must not be able to flood the log: one line per
       reason per second, carrying the count of the lines it stands for. */
    if (self->now_ms - self->refused_logged_ms[slot] >= 1000 ||
        self->refused_logged_ms[slot] == 0) {
        char hex[FLING_PEER_HEX_SIZE];
        fling_peer_hex (peer, hex);
        fling_warn ("refused reason=%s socket=%s peer=%s count=%" PRIu64 " why=\"%s\"",
                    fling_broker_refusal_name (slot),
                    sock == self->producer_sock ? "producer" : "worker", hex,
                    self->refused_quiet[slot], why);
        self->refused_quiet[slot] = 0;
        self->refused_logged_ms[slot] = self->now_ms;
    }
    if (slot == FLING_REFUSED_EMPTY || reason == FLING_REASON_BAD_SIGNATURE)
        return; /* cannot trust the framing: answer nothing (SPEC.md, bad input) */
    zmsg_t *reply = fling_msg_error ((fling_reason_t)reason, why);
    fling_broker_send (self, sock, peer, &reply);
}

/* ---- tasks and queues -------------------------------------------------- */

fling_queue_t *fling_broker_queue (fling_broker_t *self, const char *name, size_t name_size,
                                   bool create)
{
    char key[FLING_NAME_MAX + 1];
    if (name_size > FLING_NAME_MAX) {
        errno = EINVAL;
        return NULL;
    }
    memcpy (key, name, name_size);
    key[name_size] = '\0';
    fling_queue_t *queue = (fling_queue_t *)zhashx_lookup (self->queue_index, key);
    if (queue || !create)
        return queue;
    if (self->queue_count >= FLING_BROKER_QUEUES_MAX) {
        errno = ENOSPC;
        return NULL;
    }
    if (self->queue_count == self->queue_alloc) {
        size_t alloc = self->queue_alloc ? self->queue_alloc * 2 : 16;
        fling_queue_t **grown = (fling_queue_t **)realloc (self->queues, alloc * sizeof *grown);
        if (!grown) {
            errno = ENOMEM;
            return NULL;
        }
        self->queues = grown;
        self->queue_alloc = alloc;
    }
    queue = fling_queue_new (name, name_size);
    if (!queue || zhashx_insert (self->queue_index, key, queue)) {
        fling_queue_destroy (&queue);
        errno = ENOMEM;
        return NULL;
    }
    self->queues[self->queue_count++] = queue;
    return queue;
}

void fling_broker_forget_task (fling_broker_t *self, fling_btask_t *task)
{
    fling_task_id_t id;
    fling_btask_id (task, &id);
    fling_idmap_remove (self->ids, &id);
    self->bytes -= task->size;
    fling_btask_destroy (&task);
}

void fling_broker_finish_task (fling_broker_t *self, fling_btask_t *task)
{
    fling_task_id_t id;
    fling_btask_id (task, &id);
    if (fling_store_complete (self->store, &id))
        fling_error ("store complete failed: %s", fling_strerror (errno));
    self->store_dirty = true;
    fling_broker_forget_task (self, task);
}

void fling_broker_store_attempt (fling_broker_t *self, const fling_btask_t *task)
{
    fling_task_id_t id;
    fling_btask_id (task, &id);
    if (fling_store_attempt (self->store, &id, task->attempt))
        fling_error ("store attempt failed: %s", fling_strerror (errno));
    self->store_dirty = true;
}

fling_reason_t fling_broker_hold_task (fling_broker_t *self, const fling_record_t *record,
                                       fling_queue_t *queue, uint16_t attempt, fling_btask_t **held)
{
    fling_btask_t *task = fling_btask_new (record, queue, attempt);
    if (!task)
        return FLING_REASON_UNAVAILABLE;
    if (fling_idmap_insert (self->ids, &record->id, task)) {
        fling_btask_destroy (&task);
        return FLING_REASON_UNAVAILABLE;
    }
    fling_queue_push_tail (queue, task);
    self->bytes += task->size;
    self->dispatch_needed = true;
    *held = task;
    return FLING_REASON_OK;
}

/* ---- the turn: read, commit, acknowledge, dispatch ---------------------- */

static const char *decode_text (fling_reason_t reason)
{
    switch (reason) {
    case FLING_REASON_BAD_VERSION:
        return "unsupported protocol version";
    case FLING_REASON_BAD_COMMAND:
        return "unknown command";
    case FLING_REASON_MALFORMED:
        return "wrong frame count or field size";
    case FLING_REASON_BAD_FIELD:
        return "field value out of range";
    case FLING_REASON_BAD_TASK:
        return "malformed task record or bad task name";
    case FLING_REASON_TOO_LARGE:
        return "message or payload too large";
    default:
        return "cannot decode message";
    }
}

static void handle_message (fling_broker_t *self, zsock_t *sock, zmsg_t *msg)
{
    fling_peer_t peer = {.size = 0};
    zframe_t *routing = zmsg_pop (msg);
    if (routing && zframe_size (routing) <= FLING_ROUTING_ID_MAX) {
        peer.size = (uint8_t)zframe_size (routing);
        memcpy (peer.bytes, zframe_data (routing), peer.size);
    }
    zframe_destroy (&routing);
    bool from_worker = sock == self->worker_sock;
    fling_bworker_t *worker = from_worker ? fling_workers_touch (self, &peer) : NULL;
    /* Empty: no frame after the routing id, or one frame of zero bytes. */
    zframe_t *first = zmsg_first (msg);
    if (!first || (zmsg_size (msg) == 1 && zframe_size (first) == 0)) {
        fling_broker_refuse (self, sock, &peer, FLING_REFUSED_EMPTY, "empty message");
        return;
    }
    fling_msg_t decoded;
    fling_reason_t reason;
    if (fling_msg_decode (msg, &decoded, &reason)) {
        fling_broker_refuse (self, sock, &peer, reason, decode_text (reason));
        return;
    }
    if (from_worker)
        fling_workers_handle (self, &peer, worker, &decoded);
    else
        fling_producers_handle (self, &peer, &decoded);
}

static void drain (fling_broker_t *self, zsock_t *sock)
{
    for (int i = 0; i < FLING_BROKER_DRAIN_MAX; i++) {
        zmsg_t *msg = zmsg_recv (sock); /* RCVTIMEO 0: NULL when nothing is left */
        if (!msg)
            return;
        handle_message (self, sock, msg);
        zmsg_destroy (&msg);
    }
}

static void end_turn (fling_broker_t *self)
{
    fling_producers_commit_and_ack (self);
    if (self->now_ms >= self->next_reap_ms) {
        fling_workers_reap (self);
        unsigned step = self->config.heartbeat_ms / 4;
        self->next_reap_ms = self->now_ms + (step ? step : 1);
    }
    if (self->dispatch_needed) {
        self->dispatch_needed = false;
        fling_dispatch (self);
    }
}

static void announce (fling_broker_t *self)
{
    fling_info ("listening producer=%s worker=%s", self->producer_endpoint, self->worker_endpoint);
    int fd = self->config.ready_fd;
    if (fd < 0)
        return;
    self->config.ready_fd = -1;
    char line[2 * FLING_ENDPOINT_MAX + 32];
    int size = snprintf (line, sizeof line, "ready producer=%s worker=%s\n",
                         self->producer_endpoint, self->worker_endpoint);
    for (int sent = 0; sent < size;) {
        ssize_t n = write (fd, line + sent, (size_t)(size - sent));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fling_warn ("cannot write the ready line to fd %d: %s", fd, strerror (errno));
            break;
        }
        sent += (int)n;
    }
    close (fd);
}

static void log_counters (fling_broker_t *self, const char *event)
{
    const fling_broker_counters_t *c = &self->counters;
    uint64_t refused = 0;
    for (int i = 0; i < FLING_REFUSED_SLOTS; i++)
        refused += self->refused[i];
    fling_info ("%s tasks=%zu accepted=%" PRIu64 " duplicates=%" PRIu64 " rejected=%" PRIu64
                " dispatched=%" PRIu64 " done=%" PRIu64 " failed=%" PRIu64 " retried=%" PRIu64
                " requeued=%" PRIu64 " stale_results=%" PRIu64 " worker_lost=%" PRIu64
                " router_unroutable=%" PRIu64 " refused=%" PRIu64,
                event, fling_idmap_size (self->ids), c->accepted, c->duplicates, c->rejected,
                c->dispatched, c->done, c->failed, c->retried, c->requeued, c->stale_results,
                c->worker_lost, c->router_unroutable, refused);
}

int fling_broker_run (fling_broker_t *self)
{
    announce (self);
    zmq_pollitem_t items[2] = {
        {zsock_resolve (self->producer_sock), 0, ZMQ_POLLIN, 0},
        {zsock_resolve (self->worker_sock), 0, ZMQ_POLLIN, 0},
    };
    /* Never sleep longer than half a heartbeat: worker liveness and stop
       requests are checked between polls. */
    long timeout_ms = self->config.heartbeat_ms / 2;
    while (!zsys_interrupted && !atomic_load (&self->stopping)) {
        int rc = zmq_poll (items, 2, timeout_ms > 0 ? timeout_ms : 1);
        if (rc < 0 && errno != EINTR) {
            fling_error ("poll failed: %s", zmq_strerror (errno));
            break;
        }
        self->now_ms = fling_clock_ms ();
        if (rc > 0) {
            if (items[0].revents & ZMQ_POLLIN)
                drain (self, self->producer_sock);
            if (items[1].revents & ZMQ_POLLIN)
                drain (self, self->worker_sock);
        }
        end_turn (self);
    }
    log_counters (self, "shutdown");
    return 0;
}

void fling_broker_stop (fling_broker_t *self)
{
    /* A flag, not a message: like zsys_interrupted it must work from a
       signal handler, and a lock-free atomic store is async-signal-safe. */
    atomic_store (&self->stopping, 1);
}

/* ---- life cycle -------------------------------------------------------- */

static zsock_t *open_router (const char *endpoint, char bound[FLING_ENDPOINT_MAX],
                             const char *which)
{
    zsock_t *sock = zsock_new (ZMQ_ROUTER);
    if (!sock) {
        fling_error ("cannot create the %s socket: %s", which, zmq_strerror (errno));
        return NULL;
    }
    zsock_set_router_mandatory (sock, 1);             /* a ROUTER drops silently otherwise */
    zsock_set_maxmsgsize (sock, FLING_MSG_BYTES_MAX); /* per frame; the codec caps the total */
    zsock_set_handshake_ivl (sock, 5000);             /* slowloris: drop silent connections */
    zsock_set_sndhwm (sock, 100000);
    zsock_set_rcvhwm (sock, 100000);
    zsock_set_linger (sock, 0);
    zsock_set_rcvtimeo (sock, 0);
    /* libzmq's own bind, not zsock_bind: for "tcp://host:*" czmq walks ports
       up from 49152 in every process, so brokers started side by side (tests)
       collide; libzmq lets the kernel pick a free ephemeral port. */
    if (zmq_bind (zsock_resolve (sock), endpoint) == -1) {
        int err = errno;
        fling_error ("cannot bind the %s socket to %s: %s", which, endpoint, zmq_strerror (err));
        zsock_destroy (&sock);
        errno = err;
        return NULL;
    }
    char *last = zsock_last_endpoint (sock);
    snprintf (bound, FLING_ENDPOINT_MAX, "%s", last ? last : endpoint);
    zstr_free (&last);
    return sock;
}

static int recover_one (const uint8_t *raw, size_t size, uint16_t attempt, void *arg)
{
    fling_broker_t *self = (fling_broker_t *)arg;
    const uint8_t *cursor = raw;
    fling_record_t record;
    fling_reason_t reason;
    fling_btask_t *task;
    if (fling_record_next (&cursor, raw + size, &record, &reason) != 1 || cursor != raw + size) {
        fling_error ("store returned a malformed record (%s); skipped", fling_reason_name (reason));
        return 0;
    }
    if (fling_idmap_lookup (self->ids, &record.id))
        return 0;
    fling_queue_t *queue = fling_broker_queue (self, record.name, record.name_size, true);
    if (!queue || fling_broker_hold_task (self, &record, queue, attempt, &task) != FLING_REASON_OK)
        return -1;
    return 0;
}

static int open_store (fling_broker_t *self)
{
    self->store = fling_store_open (self->config.store);
    if (!self->store) {
        fling_error ("cannot open the %s store: %s", self->config.store, fling_strerror (errno));
        return -1;
    }
    if (fling_store_recover (self->store, recover_one, self)) {
        fling_error ("cannot recover the %s store: %s", self->config.store, fling_strerror (errno));
        return -1;
    }
    if (fling_idmap_size (self->ids))
        fling_info ("recovered tasks=%zu bytes=%" PRIu64, fling_idmap_size (self->ids),
                    self->bytes);
    return 0;
}

/* The id index keeps no copy of ids: each task's record holds its own. */
static void task_key (const void *task, fling_task_id_t *id)
{
    fling_btask_id ((const fling_btask_t *)task, id);
}

fling_broker_t *fling_broker_new (const fling_broker_config_t *config)
{
    fling_broker_t *self = (fling_broker_t *)calloc (1, sizeof *self);
    if (!self) {
        errno = ENOMEM;
        return NULL;
    }
    self->config = *config;
    self->started_ms = self->now_ms = fling_clock_ms ();
    self->ids = fling_idmap_new (task_key, NULL);
    self->queue_index = zhashx_new ();
    self->workers = zhashx_new ();
    self->scratch = (uint8_t *)malloc (FLING_DISPATCH_BYTES_MAX +
                                       fling_record_size (FLING_NAME_MAX, FLING_PAYLOAD_MAX));
    if (!self->ids || !self->queue_index || !self->workers || !self->scratch) {
        fling_broker_destroy (&self);
        errno = ENOMEM;
        return NULL;
    }
    int err = 0;
    if (open_store (self) ||
        !(self->producer_sock =
              open_router (config->producer_endpoint, self->producer_endpoint, "producer")) ||
        !(self->worker_sock =
              open_router (config->worker_endpoint, self->worker_endpoint, "worker"))) {
        err = errno;
        fling_broker_destroy (&self);
        errno = err;
        return NULL;
    }
    fling_info ("start store=%s max_tasks=%" PRIu64 " max_queue_tasks=%" PRIu64
                " max_bytes=%" PRIu64 " max_attempts=%u heartbeat_ms=%u worker_timeout_ms=%u",
                config->store, config->max_tasks, config->max_queue_tasks, config->max_bytes,
                config->max_attempts, config->heartbeat_ms, config->worker_timeout_ms);
    return self;
}

void fling_broker_destroy (fling_broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_broker_t *self = *self_p;
    if (self->workers)
        fling_workers_destroy_all (self);
    fling_producers_discard_acks (self);
    for (size_t i = 0; i < self->queue_count; i++)
        fling_queue_destroy (&self->queues[i]); /* frees the tasks still queued */
    free (self->queues);
    zhashx_destroy (&self->queue_index);
    zhashx_destroy (&self->workers);
    fling_idmap_destroy (&self->ids);
    fling_store_destroy (&self->store);
    zsock_destroy (&self->producer_sock);
    zsock_destroy (&self->worker_sock);
    free (self->scratch);
    free (self);
    *self_p = NULL;
}

const char *fling_broker_endpoint (const fling_broker_t *self, const char *which)
{
    if (strcmp (which, "producer") == 0)
        return self->producer_endpoint;
    if (strcmp (which, "worker") == 0)
        return self->worker_endpoint;
    return NULL;
}
