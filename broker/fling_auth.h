/*  fling_auth.h - who may talk to the broker, and what each may say
    (CurveZMQ, SECURITY.md).

    With CURVE on, the broker has a key pair and an *allowed directory* of
    public certificates (NAME.pub, made by `fling keygen`), each carrying
    a `role`: producer, worker or admin. One zauth actor (czmq) answers
    libzmq's ZAP requests from that directory, so a client whose key is
    not there never completes its handshake. Every message that does
    reach the broker carries its sender's public key (libzmq's "User-Id"
    property); the broker looks the key up in its OWN copy of the
    directory, kept here, and takes the role from there, never from the
    client.

    Start-up fails closed: CURVE support and libzmq >= 4.3.3 are checked,
    the broker's secret file must be private, and a probe client with a
    fresh, unlisted key must be refused before any real socket binds. The
    directory is read again on fling_auth_rescan (SIGHUP, and every 10 s by
    default): a key that left it is revoked, a key whose role changed is
    re-issued (its epoch moves), and the broker stops serving both.
*/
#ifndef FLING_AUTH_H_INCLUDED
#define FLING_AUTH_H_INCLUDED

#include "fling_curve.h"
#include "fling_proto.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    FLING_ROLE_NONE = 0, /* missing or unknown role: may only PING */
    FLING_ROLE_PRODUCER,
    FLING_ROLE_WORKER,
    FLING_ROLE_ADMIN,
    FLING_ROLE_COUNT
} fling_role_t;

/*  One allowed key, as the broker's copy of its certificate says. Never
    freed before the auth object: connections keep pointers to it. */
typedef struct {
    char key[FLING_CURVE_KEY_TEXT]; /* Z85 public key = libzmq's User-Id */
    char name[64];                  /* the certificate's `name`, printable */
    fling_role_t role;
    uint64_t tag;   /* producer tag (fling_curve_tag): the prefix of its task ids */
    uint32_t epoch; /* moves when the key is revoked or its role changes */
    bool revoked;   /* its certificate left the allowed directory */
    uint32_t seen;  /* the scan that last found it */
} fling_principal_t;

typedef struct fling_auth fling_auth_t;

/*  Loads the broker's secret key file and the allowed directory, starts
    the zauth actor and runs the self-test. NULL with a readable reason in
    `error`: the broker must not start. */
fling_auth_t *fling_auth_new (const char *key_file, const char *allowed_dir, char *error,
                              size_t error_size);

/*  Stops the zauth actor and frees every principal. */
void fling_auth_destroy (fling_auth_t **self_p);

/*  Makes `sock` (a ROUTER, before it binds) a CURVE server with the
    broker's key, in ZAP domain "fling". */
void fling_auth_serve (fling_auth_t *self, zsock_t *sock);

/*  The principal of a client key (Z85 User-Id), or NULL if the allowed
    directory has no such key (revoked ones are returned, marked). A key
    not known yet makes one quick rescan (at most one a second): zauth
    reads the directory at each handshake, so a freshly added key may
    reach the broker before the next scheduled scan. */
const fling_principal_t *fling_auth_find (fling_auth_t *self, const char *user_id, int64_t now_ms);

/*  Reads the allowed directory again. Returns how many keys were revoked
    or changed role (their epochs moved). */
int fling_auth_rescan (fling_auth_t *self);

/*  Keys in the allowed directory now. */
size_t fling_auth_key_count (const fling_auth_t *self);

/*  May a key of `role` send `cmd` on the worker socket (`worker_socket`)
    or on the producer socket? Producers SUBMIT, workers do everything on
    the worker socket, admins send ADMIN; on the producer socket PING and
    the no-ops (PONG, BYE, ERROR) are open to every listed key, even one
    without a known role (a health check's). */
bool fling_auth_permits (fling_role_t role, bool worker_socket, fling_cmd_t cmd);

const char *fling_role_name (fling_role_t role);

/*  Parses "producer", "worker", "admin"; FLING_ROLE_NONE otherwise. */
fling_role_t fling_role_parse (const char *text);

#endif
