/*  fling_conns.h - the broker's connections: who is connected, on which
    file descriptor, with which key, and the limits no peer may exceed.

    A ROUTER hides its connections; two things reveal them. libzmq's socket
    monitor reports each accepted connection with its file descriptor, and
    each message's first frame carries the descriptor it arrived on
    (ZMQ_SRCFD) and, with CURVE, the sender's public key ("User-Id"). From
    those this table keeps one record per connection and enforces:

    - a total (`max_connections`, both sockets): a new connection over it
      pushes out the oldest *silent* one (connected, no message yet: a
      slowloris or a flood), else it is closed at once;
    - per key (`max_key_connections`): per public key with CURVE (checked
      at the connection's first message), per client address without;
    - an idle timeout: a connection that sends nothing for `idle_timeout_ms`
      is closed (every fling client sends at least a PING per heartbeat);
    - with CURVE, a connection whose key was revoked or changed role is
      closed, and one that sends under another key than its first is cut.

    Closing means shutdown(2) of the descriptor (after checking it still
    leads to the same peer): libzmq then sees the connection end and frees
    it, and whatever it had queued for that peer. That is also how the
    broker frees what a lost worker or a deaf client never read.
*/
#ifndef FLING_CONNS_H_INCLUDED
#define FLING_CONNS_H_INCLUDED

#include "fling_auth.h"

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t max_connections;     /* both sockets together */
    size_t max_key_connections; /* per key (CURVE) or per client address */
    unsigned idle_timeout_ms;   /* 0 = never */
} fling_conns_limits_t;

/*  Counters (stats "connections"). */
typedef struct {
    uint64_t accepted;
    uint64_t closed;         /* connections that ended, any cause */
    uint64_t refused_total;  /* closed at once: over max_connections */
    uint64_t refused_key;    /* closed: over max_key_connections */
    uint64_t evicted_silent; /* silent connections pushed out by new ones */
    uint64_t idle_closed;    /* closed after idle_timeout_ms */
    uint64_t revoked_closed; /* closed: key revoked or role changed */
    uint64_t policy_closed;  /* closed by the broker: lost worker, deaf peer */
    uint64_t key_mismatch;   /* a message under another key than the connection's */
    uint64_t unknown_key;    /* CURVE messages whose key the broker does not list */
    uint64_t handshake_succeeded;
    uint64_t handshake_failed_auth;     /* unlisted key (ZAP 400) */
    uint64_t handshake_failed_protocol; /* garbage, wrong mechanism, old ZMTP */
    uint64_t handshake_failed_no_detail;
} fling_conns_counters_t;

typedef enum {
    FLING_CONNS_PRODUCER = 0,
    FLING_CONNS_WORKER = 1,
    FLING_CONNS_SOCKETS = 2
} fling_conns_socket_t;

/*  What to do with a message (fling_conns_message). */
typedef enum {
    FLING_CONN_OK = 0,      /* serve it */
    FLING_CONN_UNKNOWN_KEY, /* CURVE: key not in the allowed directory: answer FORBIDDEN */
    FLING_CONN_DROP         /* drop it silently: the connection is being closed */
} fling_conn_verdict_t;

typedef struct fling_conns fling_conns_t;

/*  `auth` NULL = CURVE off (per-address limits, no keys). NULL + ENOMEM. */
fling_conns_t *fling_conns_new (const fling_conns_limits_t *limits, fling_auth_t *auth);
void fling_conns_destroy (fling_conns_t **self_p);

/*  Starts watching one of the broker's ROUTERs (before it binds). */
int fling_conns_watch (fling_conns_t *self, fling_conns_socket_t which, zsock_t *sock);

/*  The monitor PAIR of socket `which`, to poll for ZMQ_POLLIN. */
void *fling_conns_monitor (fling_conns_t *self, fling_conns_socket_t which);

/*  Reads every pending monitor event: new connections (limits applied),
    ended ones, handshake outcomes. */
void fling_conns_events (fling_conns_t *self, int64_t now_ms);

/*  A message's first frame arrived on socket `which`, descriptor `fd` (ZMQ_SRCFD; -1 if
    libzmq gave none) from routing id `rid`, under key `user_id` (NULL
    without CURVE). Binds the connection on its first message; *principal
    gets its key's principal (NULL without CURVE). */
fling_conn_verdict_t fling_conns_message (fling_conns_t *self, fling_conns_socket_t which, int fd,
                                          const uint8_t *rid, size_t rid_size, const char *user_id,
                                          const fling_principal_t **principal, int64_t now_ms);

/*  Closes the connection on `fd` if it still carries routing id `rid`
    (a lost worker, a peer that does not read). */
void fling_conns_close (fling_conns_t *self, int fd, const uint8_t *rid, size_t rid_size);

/*  Called for each connection the table closes on its own (idle, revoked)
    that had sent a message: its socket, descriptor and routing id, so the
    broker forgets a worker there at once. */
typedef void (fling_conns_closed_fn) (fling_conns_socket_t which, int fd, const uint8_t *rid,
                                      size_t rid_size, void *arg);

/*  Once a second or so: closes idle connections and those of revoked
    keys. */
void fling_conns_tick (fling_conns_t *self, int64_t now_ms, fling_conns_closed_fn *closed,
                       void *arg);

/*  Connections open now (tracked, not closing). */
size_t fling_conns_open (const fling_conns_t *self);
/*  Of those, the ones on one endpoint. */
size_t fling_conns_open_on (const fling_conns_t *self, fling_conns_socket_t which);
const fling_conns_counters_t *fling_conns_counters (const fling_conns_t *self);
const fling_conns_limits_t *fling_conns_limits (const fling_conns_t *self);

#endif
