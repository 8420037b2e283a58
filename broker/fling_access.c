/*  fling_access.c - the broker's doors: CURVE or loopback, connection
    limits, and the periodic duties that keep them shut (re-reading the
    allowed directory, closing idle and revoked connections).

    The policies live in fling_auth.c (keys, roles) and fling_conns.c
    (connections); this file wires them into the broker's life cycle and
    loop, and tells the loop which connections it closed (a worker there
    is gone now, not after its silence).
*/
#include "fling_access.h"
#include "fling_fdreserve.h"
#include "fling_log.h"
#include "fling_ratelog.h"
#include "fling_wire.h"

#include <errno.h>
#include <jansson.h>
#include <linux/sockios.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>

#define TICK_MS          1000 /* idle and revocation checks */
#define FD_RESERVE       128  /* descriptors kept for the store and libzmq itself */
#define AUTO_CONNECTIONS 10000
#define DEAF_UNSENT      (256 * 1024) /* bytes a peer left unread: it does not read */

/* Is the endpoint reachable only from this host? ipc and inproc are;
   tcp only on a loopback address. */
bool fling_endpoint_is_local (const char *endpoint)
{
    if (strncmp (endpoint, "ipc://", 6) == 0 || strncmp (endpoint, "inproc://", 9) == 0)
        return true;
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return false;
    const char *host = endpoint + 6;
    const char *colon = strrchr (host, ':');
    size_t size = colon ? (size_t)(colon - host) : strlen (host);
    if (size > 4 && strncmp (host, "127.", 4) == 0) {
        for (size_t i = 4; i < size; i++)
            if (!(host[i] == '.' || (host[i] >= '0' && host[i] <= '9')))
                return false;
        return true;
    }
    return (size == 9 && strncmp (host, "localhost", 9) == 0) ||
           (size == 5 && strncmp (host, "[::1]", 5) == 0);
}

/* The connection cap when none is given: what the descriptor limit
   leaves after a reserve for the store's segments, libzmq's own, and the
   connections libzmq accepts in a flood before the broker closes them (a
   quarter of the limit, at least 128). */
static uint64_t auto_max_connections (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
        return AUTO_CONNECTIONS;
    uint64_t reserve = limit.rlim_cur / 4 > FD_RESERVE ? limit.rlim_cur / 4 : FD_RESERVE;
    uint64_t room = limit.rlim_cur > reserve + 16 ? limit.rlim_cur - reserve : 16;
    return room < AUTO_CONNECTIONS ? room : AUTO_CONNECTIONS;
}

static int check_binds (fling_broker_t *self)
{
    const char *endpoints[2] = {self->config.producer_endpoint, self->config.worker_endpoint};
    bool local = fling_endpoint_is_local (endpoints[0]) && fling_endpoint_is_local (endpoints[1]);
    if (local) {
        fling_warn ("CURVE off: no peer is authenticated; the endpoints are loopback only "
                    "(SECURITY.md: turn CURVE on with --curve-key and --curve-allowed)");
        return 0;
    }
    if (!self->config.insecure_bind) {
        fling_error ("CURVE off and an endpoint is not loopback (%s, %s): anyone who reaches it "
                     "could submit tasks or take them. Turn CURVE on (--curve-key, "
                     "--curve-allowed), or pass --insecure-bind on a network you trust",
                     endpoints[0], endpoints[1]);
        errno = EACCES;
        return -1;
    }
    fling_warn ("CURVE off with --insecure-bind: endpoints %s and %s accept ANY peer that "
                "reaches them, unauthenticated and unencrypted",
                endpoints[0], endpoints[1]);
    return 0;
}

int fling_access_open (fling_broker_t *self)
{
    if (self->config.curve_key[0]) {
        char error[512];
        self->auth = fling_auth_new (self->config.curve_key, self->config.curve_allowed, error,
                                     sizeof error);
        if (!self->auth) {
            fling_error ("cannot start with CURVE: %s", error);
            errno = EACCES;
            return -1;
        }
    } else if (check_binds (self))
        return -1;
    /* One producer key may hold half of what the broker holds, unless told. */
    const fling_broker_config_t *c = &self->config;
    self->limits =
        fling_limits_new (c->max_producer_tasks ? c->max_producer_tasks : (c->max_tasks + 1) / 2,
                          c->max_producer_bytes ? c->max_producer_bytes : (c->max_bytes + 1) / 2,
                          c->max_producer_names ? c->max_producer_names : (c->max_names + 1) / 2);
    if (!self->limits)
        return -1;
    fling_conns_limits_t limits = {
        .max_connections =
            self->config.max_connections ? self->config.max_connections : auto_max_connections (),
        .max_key_connections = self->config.max_key_connections,
        .idle_timeout_ms = self->config.idle_timeout_ms,
    };
    self->conns = fling_conns_new (&limits, self->auth);
    if (!self->conns || (self->auth && !(self->owners = fling_owners_new ())))
        return -1;
    fling_fdreserve_fill ();
    self->next_rescan_ms = self->now_ms + self->config.curve_rescan_ms;
    self->next_tick_ms = self->now_ms + TICK_MS;
    return 0;
}

int fling_access_serve (fling_broker_t *self, zsock_t *sock, fling_conns_socket_t which)
{
    if (self->auth)
        fling_auth_serve (self->auth, sock);
    return fling_conns_watch (self->conns, which, sock);
}

void fling_access_turn (fling_broker_t *self, fling_conns_closed_fn *closed, void *arg)
{
    fling_fdreserve_fill (); /* what a store open took back (fling_fdreserve.h) */
    bool hup = atomic_exchange (&self->rescan, 0) != 0;
    bool due = self->now_ms >= self->next_rescan_ms;
    if (self->auth && (hup || due)) {
        self->next_rescan_ms = self->now_ms + self->config.curve_rescan_ms;
        if (hup)
            fling_info ("SIGHUP: reading the allowed directory again");
        if (fling_auth_rescan (self->auth) > 0)
            self->next_tick_ms = self->now_ms; /* close their connections now */
    }
    if (self->now_ms >= self->next_tick_ms) {
        self->next_tick_ms = self->now_ms + TICK_MS;
        fling_conns_tick (self->conns, self->now_ms, closed, arg);
        if (self->owners)
            fling_owners_expire (self->owners, self->now_ms);
    }
}

void fling_access_note_leases (fling_broker_t *self, const fling_bworker_t *worker)
{
    if (!self->owners)
        return;
    for (fling_btask_t *task = fling_tasklist_head (&worker->leased); task;
         task = fling_tasklist_next (task)) {
        fling_task_id_t id;
        fling_btask_id (task, &id);
        fling_owners_note (self->owners, &id, worker->peer.principal, self->now_ms);
    }
}

bool fling_access_may_claim (fling_broker_t *self, const fling_bworker_t *worker,
                             const fling_btask_t *task)
{
    if (!self->owners)
        return true;
    fling_task_id_t id;
    fling_btask_id (task, &id);
    const void *owner = fling_owners_find (self->owners, &id);
    if (owner)
        return owner == worker->peer.principal;
    return fling_btask_state (task) == FLING_TASK_PARKED;
}

bool fling_access_deaf (fling_broker_t *self, const fling_peer_t *peer)
{
    /* libzmq writes a peer's messages into the kernel as fast as the peer
       takes them, so bytes piling up unsent in the socket mean a peer
       that asks and does not read. */
    int unsent = 0;
    if (peer->fd < 0 || ioctl (peer->fd, SIOCOUTQ, &unsent) != 0 || unsent < DEAF_UNSENT)
        return false;
    self->counters.deaf_closed++;
    FLING_LOG_LIMITED (FLING_LOG_WARN, "connection closed: %d bytes of replies left unread fd=%d",
                       unsent, peer->fd);
    fling_wire_close_peer (self, peer);
    return true;
}

void fling_access_close (fling_broker_t *self)
{
    fling_fdreserve_release ();
    fling_owners_destroy (&self->owners);
    fling_conns_destroy (&self->conns);
    fling_auth_destroy (&self->auth);
}

json_t *fling_access_security_json (fling_broker_t *self)
{
    return json_pack ("{sb sI sb}", "curve", self->auth != NULL, "allowed_keys",
                      (json_int_t)(self->auth ? fling_auth_key_count (self->auth) : 0),
                      "insecure_bind", !self->auth && self->config.insecure_bind);
}

json_t *fling_access_connections_json (fling_broker_t *self)
{
    const fling_conns_counters_t *c = fling_conns_counters (self->conns);
    const fling_conns_limits_t *limits = fling_conns_limits (self->conns);
    json_t *json = json_pack (
        "{sI sI sI sI sI sI sI sI sI sI sI sI sI sI}", "open",
        (json_int_t)fling_conns_open (self->conns), "max", (json_int_t)limits->max_connections,
        "max_per_key", (json_int_t)limits->max_key_connections, "idle_timeout_ms",
        (json_int_t)limits->idle_timeout_ms, "accepted", (json_int_t)c->accepted, "closed",
        (json_int_t)c->closed, "refused_total", (json_int_t)c->refused_total, "refused_key",
        (json_int_t)c->refused_key, "evicted_silent", (json_int_t)c->evicted_silent, "idle_closed",
        (json_int_t)c->idle_closed, "revoked_closed", (json_int_t)c->revoked_closed,
        "policy_closed", (json_int_t)c->policy_closed, "unknown_key", (json_int_t)c->unknown_key,
        "key_mismatch", (json_int_t)c->key_mismatch);
    json_t *handshakes =
        json_pack ("{sI sI sI sI}", "succeeded", (json_int_t)c->handshake_succeeded, "failed_auth",
                   (json_int_t)c->handshake_failed_auth, "failed_protocol",
                   (json_int_t)c->handshake_failed_protocol, "failed_no_detail",
                   (json_int_t)c->handshake_failed_no_detail);
    if (json && handshakes)
        json_object_set_new (json, "handshakes", handshakes);
    else
        json_decref (handshakes);
    return json;
}
