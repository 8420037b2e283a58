/*  fling_attack.h - the hostile test peer's options and shared helpers
    (fling_attack.c: actions; fling_attack_options.c: command line;
    fling_attack_input.c: the malformed-message battery).
*/
#ifndef FLING_ATTACK_H_INCLUDED
#define FLING_ATTACK_H_INCLUDED

#include "fling_curve.h"
#include "fling_log.h"
#include "fling_proto.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *endpoint;        /* the endpoint to attack */
    const char *worker_endpoint; /* badinput: the broker's worker endpoint too */
    fling_curve_client_t curve;
    const char *worker_key; /* badinput: the worker's secret, for the worker endpoint */
    const char *plain;      /* USER:PASSWORD: a PLAIN client (wrong mechanism) */
    const char *source;     /* connect from this local address (another "host") */
    uint64_t count;         /* tasks or results */
    uint64_t names;         /* distinct made-up names (0: --name) */
    uint64_t messages;      /* READYs per connection */
    uint64_t connections;
    uint64_t capacity; /* credit a worker asks for */
    uint64_t repeat;   /* admin requests */
    uint64_t hold_ms;  /* how long to keep connections */
    uint64_t seq_start;
    unsigned timeout_ms; /* wait for one answer */
    const char *prefix;  /* task id prefix, 16 hex digits */
    const char *name;
    const char *op;       /* admin request JSON */
    bool deaf;            /* worker: never read */
    bool ping;            /* worker: keep pinging (with --deaf) */
    bool take;            /* worker: answer DONE to every DISPATCH */
    bool no_read;         /* admin: never read the replies */
    bool stop_on_silence; /* submit: stop at the first batch with no answer */
    uint64_t salt;        /* makes made-up names unique per run */
} attack_t;

/*  Parses the command line; -1 to go on with *action, else an exit code. */
int attack_options (attack_t *a, int argc, char **argv, const char **action);

/*  A DEALER to `endpoint` with the CURVE keys of `a`. NULL on failure. */
zsock_t *attack_dealer (const attack_t *a, const char *endpoint);

/*  The next decodable message within timeout_ms (decoded into *out when
    not NULL), or NULL. */
zmsg_t *attack_recv (zsock_t *sock, int timeout_ms, fling_msg_t *out);

/*  Sends every malformed message of the battery and checks each answer.
    0 when every case got what it should. */
int attack_bad_input (const attack_t *a);

#endif
