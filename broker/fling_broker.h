/*  fling_broker.h - the broker daemon's core.

    One thread runs everything: two ROUTER sockets (producers, workers),
    the task tables, the store. fling_broker_run() turns a loop of: poll,
    drain what both sockets have, then once per turn commit the store,
    send the ACKs of every SUBMIT of the turn, and hand waiting tasks to
    workers with free credit. Committing once per turn is what lets a
    durable store group-commit many batches with one flush.
*/
#ifndef FLING_BROKER_H_INCLUDED
#define FLING_BROKER_H_INCLUDED

#include "fling_broker_config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fling_broker fling_broker_t;

/*  Opens the store, recovers its tasks, creates and binds both sockets.
    `config` is copied. Returns NULL with errno (and a logged reason) if a
    socket cannot bind or the store cannot open. */
fling_broker_t *fling_broker_new (const fling_broker_config_t *config);

/*  Writes the ready line (--ready-fd), then serves until SIGINT/SIGTERM
    (czmq's zsys_interrupted) or fling_broker_stop(). Returns 0. */
int fling_broker_run (fling_broker_t *self);

/*  Asks fling_broker_run to return within one poll interval (at most
    heartbeat_ms / 2). Safe from any thread and from a signal handler. */
void fling_broker_stop (fling_broker_t *self);

/*  Asks the broker to read its allowed directory again (CURVE) at its next
    turn. Safe from any thread and from a signal handler (SIGHUP). */
void fling_broker_reload (fling_broker_t *self);

/*  Frees everything, tasks included, and sets *self_p to NULL. */
void fling_broker_destroy (fling_broker_t **self_p);

/*  The endpoint a socket is bound to ("producer" or "worker"), wildcards
    resolved (tcp://127.0.0.1:* -> tcp://127.0.0.1:49152), or the HTTP
    port's address ("http": "127.0.0.1:5557", NULL when there is none).
    NULL for any other name. Valid until destroy. */
const char *fling_broker_endpoint (const fling_broker_t *self, const char *which);

#ifdef __cplusplus
}
#endif

#endif
