/*  fling_curve.h - CurveZMQ key files, shared by the broker and its clients.

    Every party has its own long-term key pair, made by `fling keygen`:
    NAME.pub holds the public key and a short `role` and `name` (the broker
    admits the certificates in its allowed directory and takes each peer's
    role from its copy there), NAME.secret holds both keys and must be
    readable by its owner only. Files are czmq's certificate format
    (zcert_save_public / zcert_save_secret).

    A client (producer, worker, `fling`) needs its own secret file and the
    broker's public key (the broker's .pub file, or the 40-character Z85
    text of the key). Nothing here starts a ZAP handler: only the broker
    does (broker/fling_auth.c), one per process.
*/
#ifndef FLING_CURVE_H_INCLUDED
#define FLING_CURVE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLING_CURVE_KEY_TEXT 41 /* Z85 text of a 32-byte key, and its NUL */

/*  What a client needs to speak CURVE. Both NULL (or empty) = CURVE off;
    one without the other is an error. */
typedef struct {
    const char *broker_key; /* broker's .pub file, or its public key in Z85 */
    const char *key;        /* this client's NAME.secret file */
} fling_curve_client_t;

/*  Fills `config` from $FLING_CURVE_BROKER_KEY and $FLING_CURVE_KEY for
    the fields that are NULL. */
void fling_curve_client_from_env (fling_curve_client_t *config);

/*  True when the config asks for CURVE (either field set). */
bool fling_curve_client_on (const fling_curve_client_t *config);

/*  Loads a secret certificate: refuses a file that group or others may
    read or write (like ssh with its private keys), a missing file, or one
    without a secret key. NULL with a readable reason in `error`. */
zcert_t *fling_curve_load_secret (const char *path, char *error, size_t error_size);

/*  Reads a public key: the Z85 text itself, or a certificate file holding
    it. 0, or -1 with a reason in `error`. */
int fling_curve_load_public (const char *file_or_z85, char out[FLING_CURVE_KEY_TEXT], char *error,
                             size_t error_size);

/*  Makes `sock` a CURVE client of the broker: loads both keys and applies
    them (`sock` NULL: only loads them, to check the files). Returns 0
    (also when the config asks for no CURVE: nothing is applied), or -1
    with a reason in `error`. If `tag` is not NULL it receives the
    client's producer tag (see fling_curve_tag), 0 when CURVE is off. */
int fling_curve_client_apply (const fling_curve_client_t *config, zsock_t *sock, uint64_t *tag,
                              char *error, size_t error_size);

/*  The producer tag of a public key: its first 8 bytes, big-endian. With
    CURVE on, the broker accepts a task only if its id starts with the tag
    of the key that sent it, so no key can take another's task ids. */
uint64_t fling_curve_tag (const uint8_t public_key[32]);

/*  The same from the Z85 text of the key; 0 if it is not valid Z85. */
uint64_t fling_curve_tag_z85 (const char *public_z85);

#endif
