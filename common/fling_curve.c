/*  fling_curve.c - see fling_curve.h. */
#include "fling_curve.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void fling_curve_client_from_env (fling_curve_client_t *config)
{
    if (!config->broker_key)
        config->broker_key = getenv ("FLING_CURVE_BROKER_KEY");
    if (!config->key)
        config->key = getenv ("FLING_CURVE_KEY");
}

static bool set (const char *text)
{
    return text && *text;
}

bool fling_curve_client_on (const fling_curve_client_t *config)
{
    return set (config->broker_key) || set (config->key);
}

zcert_t *fling_curve_load_secret (const char *path, char *error, size_t error_size)
{
    struct stat st;
    if (stat (path, &st) != 0) {
        snprintf (error, error_size, "cannot read the key file %s: %s", path, strerror (errno));
        return NULL;
    }
    if (!S_ISREG (st.st_mode)) {
        snprintf (error, error_size, "the key file %s is not a regular file", path);
        return NULL;
    }
    /* A secret others can read is a secret no more: refuse it, as ssh does. */
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf (error, error_size,
                  "the secret key file %s is open to group or others (mode %04o): "
                  "chmod 600 it",
                  path, (unsigned)(st.st_mode & 07777));
        return NULL;
    }
    zcert_t *cert = zcert_load (path);
    if (!cert) {
        snprintf (error, error_size, "%s is not a certificate file (make one with fling keygen)",
                  path);
        return NULL;
    }
    static const uint8_t zero[32];
    if (memcmp (zcert_secret_key (cert), zero, sizeof zero) == 0) {
        snprintf (error, error_size, "%s holds no secret key (a .pub file? give the .secret file)",
                  path);
        zcert_destroy (&cert);
        return NULL;
    }
    return cert;
}

static bool z85_key (const char *text)
{
    uint8_t key[32];
    return strlen (text) == FLING_CURVE_KEY_TEXT - 1 && zmq_z85_decode (key, text) != NULL;
}

int fling_curve_load_public (const char *file_or_z85, char out[FLING_CURVE_KEY_TEXT], char *error,
                             size_t error_size)
{
    struct stat st;
    if (z85_key (file_or_z85) && stat (file_or_z85, &st) != 0) {
        memcpy (out, file_or_z85, FLING_CURVE_KEY_TEXT);
        return 0;
    }
    zcert_t *cert = zcert_load (file_or_z85);
    if (!cert) {
        snprintf (error, error_size,
                  "%s is neither a public key (40 Z85 characters) nor a certificate file",
                  file_or_z85);
        return -1;
    }
    snprintf (out, FLING_CURVE_KEY_TEXT, "%s", zcert_public_txt (cert));
    zcert_destroy (&cert);
    return 0;
}

int fling_curve_client_apply (const fling_curve_client_t *config, zsock_t *sock, uint64_t *tag,
                              char *error, size_t error_size)
{
    if (tag)
        *tag = 0;
    if (!fling_curve_client_on (config))
        return 0;
    if (!set (config->broker_key) || !set (config->key)) {
        snprintf (error, error_size,
                  "CURVE needs both the broker's public key (%s) and this "
                  "client's secret key file (%s)",
                  "--curve-broker-key / FLING_CURVE_BROKER_KEY", "--curve-key / FLING_CURVE_KEY");
        return -1;
    }
    if (!zmq_has ("curve")) {
        snprintf (error, error_size, "this libzmq has no CURVE support");
        return -1;
    }
    char broker[FLING_CURVE_KEY_TEXT];
    if (fling_curve_load_public (config->broker_key, broker, error, error_size))
        return -1;
    zcert_t *cert = fling_curve_load_secret (config->key, error, error_size);
    if (!cert)
        return -1;
    if (sock) {
        zcert_apply (cert, sock);
        zsock_set_curve_serverkey (sock, broker);
    }
    if (tag)
        *tag = fling_curve_tag (zcert_public_key (cert));
    zcert_destroy (&cert);
    return 0;
}

uint64_t fling_curve_tag (const uint8_t public_key[32])
{
    uint64_t tag = 0;
    for (int i = 0; i < 8; i++)
        tag = tag << 8 | public_key[i];
    return tag;
}

uint64_t fling_curve_tag_z85 (const char *public_z85)
{
    uint8_t key[32];
    if (!public_z85 || strlen (public_z85) != FLING_CURVE_KEY_TEXT - 1 ||
        !zmq_z85_decode (key, public_z85))
        return 0;
    return fling_curve_tag (key);
}
