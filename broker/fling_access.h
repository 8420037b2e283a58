/*  fling_access.h - the broker's doors: CURVE or loopback, connection
    limits, and the periodic duties that keep them shut.
*/
#ifndef FLING_ACCESS_H_INCLUDED
#define FLING_ACCESS_H_INCLUDED

#include "fling_state.h"

/*  CURVE (fling_auth) or the loopback-only rule, then the connection
    table. -1 with errno and a logged reason: the broker must not start. */
int fling_access_open (fling_broker_t *self);

/*  Prepares a new ROUTER (before it binds): CURVE server, monitored. */
int fling_access_serve (fling_broker_t *self, zsock_t *sock, fling_conns_socket_t which);

/*  Once a turn: re-reads the allowed directory when due (or after
    SIGHUP), closes idle and revoked connections, and calls `closed` with
    `arg` for each connection it closed. */
void fling_access_turn (fling_broker_t *self, fling_conns_closed_fn *closed, void *arg);

void fling_access_close (fling_broker_t *self);

/*  A worker is being declared dead (CURVE): notes the key that held each
    of its tasks, so that only that key may claim them back. */
void fling_access_note_leases (fling_broker_t *self, const fling_bworker_t *worker);

/*  May `worker` claim `task`, a run whose end the broker never saw? With
    CURVE only under the key that held it; a task parked by a restart (no
    key noted) may be claimed by any worker key (SECURITY.md). */
bool fling_access_may_claim (fling_broker_t *self, const fling_bworker_t *worker,
                             const fling_btask_t *task);

/*  True (and the connection closed) when the peer leaves what it asked
    for unread: more than 256 KiB waiting in its socket. Checked before an
    ADMIN reply, the only large answer a peer can ask for at will. */
bool fling_access_deaf (fling_broker_t *self, const fling_peer_t *peer);

/*  The stats reply's "security" and "connections" sections (jansson). */
struct json_t;
struct json_t *fling_access_security_json (fling_broker_t *self);
struct json_t *fling_access_connections_json (fling_broker_t *self);

/*  True for ipc://, inproc:// and tcp:// on a loopback address. */
bool fling_endpoint_is_local (const char *endpoint);

#endif
