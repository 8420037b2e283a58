/*  fling_broker.c - the broker's loop, sockets and life cycle.

    One thread, one loop (see fling_broker.h). A turn reads up to
    FLING_BROKER_DRAIN_MAX messages from each socket and hands each to
    intake (fling_producers.c) or the worker table (fling_workers.c), then
    once: promotes due retries (fling_tasks.c), declares silent workers
    dead (fling_reaper.c), dispatches (fling_dispatch.c), commits the store
    and sends the turn's ACKs, RESULT_ACKs and DISPATCHes. The loop calls
    out; nothing calls back into it (fling_state.h).
*/
#include "fling_broker.h"
#include "fling_access.h"
#include "fling_deliver.h"
#include "fling_dispatch.h"
#include "fling_error.h"
#include "fling_log.h"
#include "fling_logfmt.h"
#include "fling_names.h"
#include "fling_ops.h"
#include "fling_producers.h"
#include "fling_ratelog.h"
#include "fling_reaper.h"
#include "fling_recover.h"
#include "fling_schedules.h"
#include "fling_schedules_admin.h"
#include "fling_tasks.h"
#include "fling_unique.h"
#include "fling_wire.h"
#include "fling_workers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the turn: read, commit, acknowledge, dispatch ---------------------- */

/* The connection's key (CURVE), its limits and its state: 0 = go on,
   -1 = dropped or refused already. */
static int admit (fling_broker_t *self, zsock_t *sock, fling_peer_t *peer, const char *user_id)
{
    bool from_worker = sock == self->worker_sock;
    const fling_principal_t *principal;
    fling_conn_verdict_t verdict =
        fling_conns_message (self->conns, from_worker ? FLING_CONNS_WORKER : FLING_CONNS_PRODUCER,
                             peer->fd, peer->bytes, peer->size, user_id, &principal, self->now_ms);
    if (verdict == FLING_CONN_DROP)
        return -1;
    if (verdict == FLING_CONN_UNKNOWN_KEY) {
        fling_wire_refuse (self, sock, peer, NULL, FLING_REASON_FORBIDDEN,
                           "key not in the broker's allowed directory");
        return -1;
    }
    peer->principal = principal;
    return 0;
}

/* May this key send this command here (CURVE)? Checked on the command
   byte, before the message is decoded; a refusal names the command (and
   a SUBMIT's batch, answered with an ACK of FORBIDDEN statuses, so the
   producer resolves it instead of sending it again). 0 = go on. */
static int authorise (fling_broker_t *self, zsock_t *sock, const fling_peer_t *peer, zmsg_t *msg)
{
    bool from_worker = sock == self->worker_sock;
    zframe_t *header = zmsg_first (msg);
    if (!self->auth || !header || zframe_size (header) != 4)
        return 0; /* a bad header is refused by the decoder, answering nothing */
    fling_cmd_t cmd = (fling_cmd_t)zframe_data (header)[3];
    if (fling_auth_permits (peer->principal->role, from_worker, cmd))
        return 0;
    char why[128];
    snprintf (why, sizeof why, "a %s key may not send %s on the %s endpoint",
              fling_role_name (peer->principal->role), fling_cmd_name (cmd),
              from_worker ? "worker" : "producer");
    fling_msg_t about;
    fling_reason_t reason;
    bool decoded =
        fling_msg_decode_v (msg, &about, &reason, FLING_PROTO_VERSION_SCHED) == 0 || about.cmd;
    if (decoded && about.has_batch && !from_worker)
        fling_producers_refuse_batch (self, peer, &about, FLING_REASON_FORBIDDEN);
    else
        fling_wire_refuse (self, sock, peer, decoded ? &about : NULL, FLING_REASON_FORBIDDEN, why);
    return -1;
}

static void handle_message (fling_broker_t *self, zsock_t *sock, fling_peer_t *peer,
                            const char *user_id, zmsg_t *msg)
{
    if (admit (self, sock, peer, user_id) || authorise (self, sock, peer, msg))
        return;
    bool from_worker = sock == self->worker_sock;
    fling_bworker_t *worker = from_worker ? fling_workers_touch (self, peer) : NULL;
    if (worker && worker->peer.principal != peer->principal) {
        /* A routing id a client chose, once another key's: never its leases. */
        fling_wire_refuse (self, sock, peer, NULL, FLING_REASON_FORBIDDEN,
                           "routing id registered by another key");
        return;
    }
    fling_msg_t decoded;
    fling_reason_t reason;
    /* FLP/1.2: due times (proto/SPEC.md §3.6, §6.8); answered in its version. */
    if (fling_msg_decode_v (msg, &decoded, &reason, FLING_PROTO_VERSION_SCHED)) {
        /* A SUBMIT whose batch can be named is answered for that batch:
           an ACK, so that any producer can tell which batch it was. */
        if (decoded.has_batch && !from_worker)
            fling_producers_refuse_batch (self, peer, &decoded, reason);
        else if (decoded.cmd == FLING_CMD_ERROR || decoded.cmd == FLING_CMD_PONG)
            /* never answered, even malformed: no ping-pong of errors */
            fling_wire_count_refusal (self, sock, peer, &decoded, reason, decoded.problem);
        else
            fling_wire_refuse (self, sock, peer, &decoded, reason, decoded.problem);
        return;
    }
    if (from_worker)
        fling_workers_handle (self, peer, worker, &decoded);
    else
        fling_producers_handle (self, peer, &decoded);
}

/* Reads a message. The routing-id frame and the FLP header frame by hand:
   libzmq attaches to the header what the broker needs to know of the
   sender, the connection's descriptor (ZMQ_SRCFD) and, with CURVE, its key
   (User-Id). Not to the routing id: a poll that prefetched the message
   made that frame without them (libzmq 4.3). The header is put back in
   front of the other frames for the decoder (cut at 64 bytes: anything
   longer than 4 is refused the same way). */
static void drain (fling_broker_t *self, zsock_t *sock)
{
    void *handle = zsock_resolve (sock);
    for (int i = 0; i < FLING_BROKER_DRAIN_MAX; i++) {
        zmq_msg_t routing, header;
        zmq_msg_init (&routing);
        if (zmq_msg_recv (&routing, handle, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&routing);
            return;
        }
        fling_peer_t peer = {.size = 0, .fd = -1};
        if (zmq_msg_size (&routing) <= FLING_ROUTING_ID_MAX) {
            peer.size = (uint8_t)zmq_msg_size (&routing);
            memcpy (peer.bytes, zmq_msg_data (&routing), peer.size);
        }
        zmq_msg_init (&header);
        bool have_header =
            zmq_msg_more (&routing) && zmq_msg_recv (&header, handle, ZMQ_DONTWAIT) >= 0;
        zmq_msg_close (&routing);
        const char *user_id = NULL;
        zmsg_t *msg = NULL;
        if (have_header) {
            peer.fd = zmq_msg_get (&header, ZMQ_SRCFD);
            user_id = self->auth ? zmq_msg_gets (&header, "User-Id") : NULL;
            msg = zmq_msg_more (&header) ? zmsg_recv (sock) : zmsg_new ();
            size_t size = zmq_msg_size (&header);
            if (msg && zmsg_pushmem (msg, zmq_msg_data (&header), size < 64 ? size : 64))
                zmsg_destroy (&msg);
        } else
            msg = zmsg_new ();
        if (msg)
            handle_message (self, sock, &peer, user_id, msg);
        zmsg_destroy (&msg);
        zmq_msg_close (&header); /* after user_id's last use: it points into its metadata */
    }
}

/* A connection the table closed (idle, revoked): a worker there is gone
   now, not after its silence. */
static void worker_closed (fling_conns_socket_t which, int fd, const uint8_t *rid, size_t rid_size,
                           void *arg)
{
    fling_broker_t *self = (fling_broker_t *)arg;
    if (which != FLING_CONNS_WORKER)
        return;
    fling_peer_t peer = {.size = (uint8_t)rid_size, .fd = fd};
    memcpy (peer.bytes, rid, rid_size);
    fling_bworker_t *worker = fling_workers_touch (self, &peer);
    if (worker && worker->peer.fd == fd)
        fling_workers_drop (self, worker, FLING_WORKER_UNREACHABLE);
}

/* The turn's duties, in the order that keeps every promise: tasks leave
   for workers (dispatch) before the commit, so the commit that makes this
   turn's SUBMITs and completions durable also records the leases, and only
   then do ACKs, RESULT_ACKs and DISPATCHes go out. */
static void end_turn (fling_broker_t *self)
{
    fling_schedules_fire (self, fling_producers_accept);
    fling_tasks_promote_due (self);
    fling_tasks_release_parked (self);
    fling_unique_expire (self);
    if (self->now_ms >= self->next_reap_ms) {
        fling_reaper_reap (self);
        fling_reaper_expire_leases (self);
        fling_dedup_expire (self->dedup, self->now_ms);
        unsigned step = self->config.heartbeat_ms / 4;
        self->next_reap_ms = self->now_ms + (step ? step : 1);
    }
    if (self->names_sweep)
        fling_names_sweep (self);
    fling_access_turn (self, worker_closed, self);
    if (self->rate_wake_ms && self->now_ms >= self->rate_wake_ms)
        self->dispatch_needed = true; /* a rate-limited name has a token again */
    if (self->dispatch_needed) {
        self->dispatch_needed = false;
        fling_dispatch (self);
    }
    fling_producers_commit_and_ack (self);
    fling_workers_ack_results (self);
    fling_deliver_send (self);
    fling_ops_tick (self);
    /* After the ACKs went out: unlinking a segment takes ~15 ms. */
    if (!self->store_failed) {
        fling_store_maintain (self->store, self->now_ms);
        fling_tasks_compact (self);
        fling_schedules_compact (self);
    }
}

static void announce (fling_broker_t *self)
{
    const char *http = fling_ops_http_address (self);
    fling_info ("listening producer=%s worker=%s%s%s", self->producer_endpoint,
                self->worker_endpoint, http ? " http=" : "", http ? http : "");
    int fd = self->config.ready_fd;
    if (fd < 0)
        return;
    self->config.ready_fd = -1;
    char line[3 * FLING_ENDPOINT_MAX + 48];
    int size =
        snprintf (line, sizeof line, "ready producer=%s worker=%s%s%s\n", self->producer_endpoint,
                  self->worker_endpoint, http ? " http=" : "", http ? http : "");
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

/* The turn's clocks: monotonic now, the wall clock when first needed. */
static void start_turn (fling_broker_t *self)
{
    self->now_ms = fling_clock_ms ();
    self->wall_ms = 0;
}

static void log_counters (fling_broker_t *self, const char *event)
{
    const fling_broker_counters_t *c = &self->counters;
    uint64_t refused = 0;
    for (int i = 0; i < FLING_REASON_MAX; i++)
        refused += self->refused[i];
    fling_info ("%s tasks=%zu accepted=%" PRIu64 " duplicates=%" PRIu64 " rejected=%" PRIu64
                " dispatched=%" PRIu64 " done=%" PRIu64 " failed=%" PRIu64 " retried=%" PRIu64
                " requeued=%" PRIu64 " stale_results=%" PRIu64 " worker_lost=%" PRIu64
                " router_unroutable=%" PRIu64 " refused=%" PRIu64 " dead_lettered=%" PRIu64
                " crashed=%" PRIu64 " suspected=%" PRIu64 " trials=%" PRIu64 " timed_out=%" PRIu64
                " store_full=%" PRIu64 " unavailable=%" PRIu64 " holding_leased=%" PRIu64
                " holding_ignored=%" PRIu64,
                event, fling_idmap_size (self->ids), c->accepted, c->duplicates, c->rejected,
                c->dispatched, c->done, c->failed, c->retried, c->requeued, c->stale_results,
                c->worker_lost, c->router_unroutable, refused, c->dead_lettered, c->crashed,
                c->suspected, c->trials, c->timed_out, c->store_full, c->unavailable,
                c->holding_leased, c->holding_ignored);
}

static bool leases_out (fling_broker_t *self)
{
    for (fling_bworker_t *worker = (fling_bworker_t *)zhashx_first (self->workers); worker;
         worker = (fling_bworker_t *)zhashx_next (self->workers))
        if (worker->leased.count)
            return true;
    return false;
}

/* Stop: no more DISPATCH; SUBMITs get UNAVAILABLE; RESULTs are still
   applied for a short grace (min(worker timeout, 2 s)) while workers hold
   leases, so work that finishes during the stop is not run again after
   the restart; then one last commit makes every completion durable. */
static void shut_down (fling_broker_t *self, zmq_pollitem_t *items)
{
    self->shutting_down = true;
    start_turn (self);
    unsigned grace = self->config.worker_timeout_ms < 2000 ? self->config.worker_timeout_ms : 2000;
    int64_t until = self->now_ms + grace;
    do {
        drain (self, self->producer_sock);
        drain (self, self->worker_sock);
        fling_producers_commit_and_ack (self);
        fling_workers_ack_results (self);
        if (!leases_out (self) || self->now_ms >= until)
            break;
        zmq_poll (items, 2, 20);
        start_turn (self);
    } while (true);
    if (!self->store_failed && fling_store_commit (self->store)) {
        fling_error ("store commit at shutdown failed: %s", fling_strerror (errno));
        self->store_failed = true;
    }
    log_counters (self, "shutdown");
}

/* How long the next poll may sleep: never longer than half a heartbeat
   (stop requests are checked between polls), and no later than the next
   timed duty of end_turn: the earliest retry's due time, the reap tick
   (worker liveness, lease deadlines, dedup expiry), the release of
   parked tasks, the next firing of a schedule and the next token of a
   rate-limited name with tasks waiting. Otherwise a 300 ms retry fires up
   to 500 ms late.
   0 = poll without blocking. */
static long poll_timeout (const fling_broker_t *self)
{
    long timeout = self->config.heartbeat_ms / 2 > 0 ? (long)(self->config.heartbeat_ms / 2) : 1;
    int64_t now = fling_clock_ms ();
    timeout = fling_tasks_next_due_ms (self, now, timeout);
    timeout = fling_schedules_timeout_ms (self, timeout);
    if (self->next_reap_ms - now < timeout)
        timeout = (long)(self->next_reap_ms - now);
    if (self->parked.count && self->parked_until_ms - now < timeout)
        timeout = (long)(self->parked_until_ms - now);
    if (self->rate_wake_ms && self->rate_wake_ms - now < timeout)
        timeout = (long)(self->rate_wake_ms - now);
    return timeout > 0 ? timeout : 0;
}

int fling_broker_run (fling_broker_t *self)
{
    announce (self);
    zmq_pollitem_t items[4 + FLING_OPS_POLL_MAX] = {
        {zsock_resolve (self->producer_sock), 0, ZMQ_POLLIN, 0},
        {zsock_resolve (self->worker_sock), 0, ZMQ_POLLIN, 0},
        {fling_conns_monitor (self->conns, FLING_CONNS_PRODUCER), 0, ZMQ_POLLIN, 0},
        {fling_conns_monitor (self->conns, FLING_CONNS_WORKER), 0, ZMQ_POLLIN, 0},
    };
    int count = 4 + (int)fling_ops_poll_items (self, items + 4);
    while (!zsys_interrupted && !atomic_load (&self->stopping)) {
        int rc = zmq_poll (items, count, poll_timeout (self));
        if (rc < 0 && errno != EINTR) {
            fling_error ("poll failed: %s", zmq_strerror (errno));
            break;
        }
        start_turn (self);
        if (rc > 0) {
            /* Connection events first: a message may come from a
               connection whose ACCEPTED is still in the monitor pipe. */
            if ((items[2].revents | items[3].revents) & ZMQ_POLLIN)
                fling_conns_events (self->conns, self->now_ms);
            if (items[0].revents & ZMQ_POLLIN)
                drain (self, self->producer_sock);
            if (items[1].revents & ZMQ_POLLIN)
                drain (self, self->worker_sock);
        }
        end_turn (self);
        if (rc > 0) /* after the turn: the tables are consistent, the store committed */
            fling_ops_handle (self, items + 4);
    }
    shut_down (self, items);
    return 0;
}

void fling_broker_reload (fling_broker_t *self)
{
    atomic_store (&self->rescan, 1);
}

void fling_broker_stop (fling_broker_t *self)
{
    /* A flag, not a message: like zsys_interrupted it must work from a
       signal handler, and a lock-free atomic store is async-signal-safe. */
    atomic_store (&self->stopping, 1);
}

/* ---- life cycle -------------------------------------------------------- */

static zsock_t *open_router (fling_broker_t *self, const char *endpoint,
                             char bound[FLING_ENDPOINT_MAX], fling_conns_socket_t kind)
{
    const char *which = kind == FLING_CONNS_WORKER ? "worker" : "producer";
    zsock_t *sock = zsock_new (ZMQ_ROUTER);
    if (!sock || fling_access_serve (self, sock, kind)) {
        fling_error ("cannot create the %s socket: %s", which, zmq_strerror (errno));
        zsock_destroy (&sock);
        return NULL;
    }
    zsock_set_router_mandatory (sock, 1);             /* a ROUTER drops silently otherwise */
    zsock_set_maxmsgsize (sock, FLING_MSG_BYTES_MAX); /* per frame; the codec caps the total */
    zsock_set_handshake_ivl (sock, 5000);             /* slowloris: drop silent connections */
    /* Per peer, in messages. Workers: credit bounds what is queued to
       one. Producers and admin clients are owed an ACK per SUBMIT in their
       window (at most 1,024) and one reply per request: a peer past 4,096
       does not read, and is closed at the EAGAIN (fling_wire_send). */
    zsock_set_sndhwm (sock, kind == FLING_CONNS_WORKER ? 100000 : 4096);
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

/* ---- recovery: the store's events, in log order ------------------------ */
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
    self->pool = fling_blockpool_new (FLING_TASKPOOL_BYTES);
    self->ids = fling_idmap_new (task_key, NULL);
    self->dedup = fling_dedup_new ((size_t)config->dedup_max, (int64_t)config->dedup_window_ms);
    self->suspects = fling_suspects_new ();
    self->keys = fling_unique_table_new (self);
    self->rng = (uint64_t)fling_clock_us () * 0x9E3779B97F4A7C15ull | 1;
    self->queue_index = zhashx_new ();
    self->workers = zhashx_new ();
    self->schedules = fling_schedules_new ((size_t)config->max_schedules);
    if (!self->pool || !self->ids || !self->dedup || !self->suspects || !self->keys ||
        !self->queue_index || !self->workers || !self->schedules) {
        fling_broker_destroy (&self);
        errno = ENOMEM;
        return NULL;
    }
    int err = 0;
    if (fling_access_open (self) || fling_recover_open_store (self) ||
        (config->schedules_file[0] && fling_schedules_load_file (self, config->schedules_file)) ||
        !(self->producer_sock = open_router (self, config->producer_endpoint,
                                             self->producer_endpoint, FLING_CONNS_PRODUCER)) ||
        !(self->worker_sock = open_router (self, config->worker_endpoint, self->worker_endpoint,
                                           FLING_CONNS_WORKER)) ||
        fling_ops_new (self)) {
        err = errno;
        fling_broker_destroy (&self);
        errno = err;
        return NULL;
    }
    fling_info ("start store=%s max_tasks=%" PRIu64 " max_queue_tasks=%" PRIu64
                " max_bytes=%" PRIu64 " max_attempts=%u backoff_ms=%u poison_limit=%u"
                " task_timeout_ms=%u heartbeat_ms=%u worker_timeout_ms=%u",
                config->store, config->max_tasks, config->max_queue_tasks, config->max_bytes,
                config->max_attempts, config->backoff_ms, config->poison_limit,
                config->task_timeout_ms, config->heartbeat_ms, config->worker_timeout_ms);
    return self;
}

void fling_broker_destroy (fling_broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_broker_t *self = *self_p;
    fling_deliver_cancel (self); /* none outside a turn; before the workers go */
    if (self->workers)
        fling_workers_destroy_all (self);
    fling_producers_discard_acks (self);
    free (self->held);
    fling_tasks_destroy_waiting (self);
    fling_dedup_destroy (&self->dedup);
    fling_keys_destroy (&self->keys);         /* calls nothing back */
    fling_suspects_destroy (&self->suspects); /* before the queues: tasks use their pool */
    fling_limits_destroy (&self->limits);
    for (size_t i = 0; i < self->queue_count; i++)
        fling_queue_destroy (&self->queues[i]); /* frees the tasks still queued */
    free (self->queues);
    zhashx_destroy (&self->queue_index);
    zhashx_destroy (&self->workers);
    fling_schedules_destroy (&self->schedules);
    fling_idmap_destroy (&self->ids);
    fling_blockpool_destroy (&self->pool); /* after every task went back to it */
    fling_store_destroy (&self->store);
    fling_ops_destroy (self);
    fling_access_close (self); /* its monitors first: they watch the sockets */
    zsock_destroy (&self->producer_sock);
    zsock_destroy (&self->worker_sock);
    free (self);
    *self_p = NULL;
}

const char *fling_broker_endpoint (const fling_broker_t *self, const char *which)
{
    if (strcmp (which, "producer") == 0)
        return self->producer_endpoint;
    if (strcmp (which, "worker") == 0)
        return self->worker_endpoint;
    if (strcmp (which, "http") == 0)
        return fling_ops_http_address (self);
    return NULL;
}
