/*  fling_auth.c - see fling_auth.h.

    czmq's zauth answers the handshakes; this file keeps the broker's own
    copy of the allowed directory (key -> role) for the per-message checks.
    Both read the same files. A key zauth admits but this copy lacks (a
    file added a moment ago, or one that is not NAME.pub) is served
    nothing: the two views can only disagree towards refusing.
*/
#include "fling_auth.h"
#include "fling_log.h"
#include "fling_monitor.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SELF_TEST_MS       5000 /* loopback handshakes take milliseconds */
#define QUICK_RESCAN_MS    1000 /* unknown keys rescan at most this often */
#define TEST_HOOK_NO_ZAUTH "FLING_TEST_SKIP_ZAUTH"

struct fling_auth {
    zcert_t *cert;    /* the broker's key pair */
    zactor_t *zauth;  /* the ZAP handler of this process */
    char *dir;        /* allowed directory */
    zhashx_t *keys;   /* Z85 key -> fling_principal_t (owned) */
    uint32_t scan;    /* scans made */
    size_t key_count; /* keys found by the last scan */
    size_t ignored;   /* files the last scan skipped (logged when it changes) */
    int64_t quick_rescan_ms;
};

static const char *role_names[FLING_ROLE_COUNT] = {"none", "producer", "worker", "admin"};

const char *fling_role_name (fling_role_t role)
{
    return role < FLING_ROLE_COUNT ? role_names[role] : "none";
}

fling_role_t fling_role_parse (const char *text)
{
    for (int role = FLING_ROLE_PRODUCER; text && role < FLING_ROLE_COUNT; role++)
        if (strcmp (text, role_names[role]) == 0)
            return (fling_role_t)role;
    return FLING_ROLE_NONE;
}

bool fling_auth_permits (fling_role_t role, bool worker_socket, fling_cmd_t cmd)
{
    if (worker_socket)
        return role == FLING_ROLE_WORKER;
    switch (cmd) {
    case FLING_CMD_SUBMIT:
        return role == FLING_ROLE_PRODUCER;
    case FLING_CMD_ADMIN:
        return role == FLING_ROLE_ADMIN;
    case FLING_CMD_PING: /* liveness: every listed key, even one with no known role */
    case FLING_CMD_PONG:
    case FLING_CMD_BYE:
    case FLING_CMD_ERROR:
        return true;
    default:
        return role == FLING_ROLE_PRODUCER; /* the producer socket answers BAD_STATE */
    }
}

/* ---- the allowed directory ------------------------------------------------ */

static bool ends_with (const char *text, const char *suffix)
{
    size_t n = strlen (text), m = strlen (suffix);
    return n >= m && strcmp (text + n - m, suffix) == 0;
}

/* Adds or refreshes the key of one certificate file. */
static void scan_cert (fling_auth_t *self, const char *path, const char *file)
{
    zcert_t *cert = zcert_load (path);
    if (!cert) {
        self->ignored++;
        return;
    }
    const char *key = zcert_public_txt (cert);
    fling_role_t role = fling_role_parse (zcert_meta (cert, "role"));
    fling_principal_t *p = (fling_principal_t *)zhashx_lookup (self->keys, key);
    bool news = !p || p->revoked || p->role != role;
    if (!p) {
        p = (fling_principal_t *)calloc (1, sizeof *p);
        if (!p || zhashx_insert (self->keys, key, p)) {
            free (p);
            zcert_destroy (&cert);
            return;
        }
        snprintf (p->key, sizeof p->key, "%s", key);
        p->tag = fling_curve_tag (zcert_public_key (cert));
    } else if (news) {
        p->epoch++; /* connections bound under the old role or revocation end */
    }
    const char *name = zcert_meta (cert, "name");
    char stem[64];
    snprintf (stem, sizeof stem, "%.*s", (int)(strlen (file) - 4), file);
    if (!name)
        name = stem;
    fling_log_printable (p->name, sizeof p->name, name, strlen (name));
    if (news && role == FLING_ROLE_NONE)
        fling_warn ("allowed key name=%s file=%s has no known role (producer, worker, admin): it "
                    "may only PING",
                    p->name, file);
    else if (news)
        fling_info ("allowed key name=%s role=%s file=%s%s", p->name, fling_role_name (role), file,
                    p->epoch ? " (changed)" : "");
    p->role = role;
    p->revoked = false;
    p->seen = self->scan;
    self->key_count++;
    zcert_destroy (&cert);
}

/* Only NAME.pub files count, regular (symbolic links followed: mounted
   secrets are links) and writable by their owner only. */
static int scan_dir (fling_auth_t *self)
{
    DIR *dir = opendir (self->dir);
    if (!dir)
        return -1;
    self->scan++;
    self->key_count = 0;
    size_t ignored = self->ignored;
    self->ignored = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        const char *file = entry->d_name;
        if (file[0] == '.')
            continue;
        char path[4096];
        struct stat st;
        snprintf (path, sizeof path, "%s/%s", self->dir, file);
        if (!ends_with (file, ".pub") || stat (path, &st) != 0 || !S_ISREG (st.st_mode) ||
            (st.st_mode & (S_IWGRP | S_IWOTH))) {
            self->ignored++;
            continue;
        }
        scan_cert (self, path, file);
    }
    closedir (dir);
    if (self->ignored != ignored)
        fling_warn ("allowed directory %s: %zu files ignored (only NAME.pub certificates that "
                    "only their owner may write count)",
                    self->dir, self->ignored);
    return 0;
}

int fling_auth_rescan (fling_auth_t *self)
{
    if (scan_dir (self)) {
        /* Gone or unreadable: serve nobody rather than the stale list. */
        fling_error ("cannot read the allowed directory %s: %s; revoking every key", self->dir,
                     strerror (errno));
        self->scan++;
        self->key_count = 0;
    }
    int changed = 0;
    for (fling_principal_t *p = (fling_principal_t *)zhashx_first (self->keys); p;
         p = (fling_principal_t *)zhashx_next (self->keys)) {
        if (p->seen == self->scan || p->revoked)
            continue;
        p->revoked = true;
        p->epoch++;
        changed++;
        fling_warn ("key revoked name=%s role=%s: its connections are closed", p->name,
                    fling_role_name (p->role));
    }
    return changed;
}

const fling_principal_t *fling_auth_find (fling_auth_t *self, const char *user_id, int64_t now_ms)
{
    fling_principal_t *p = (fling_principal_t *)zhashx_lookup (self->keys, user_id);
    if (!p && now_ms - self->quick_rescan_ms >= QUICK_RESCAN_MS) {
        self->quick_rescan_ms = now_ms;
        fling_auth_rescan (self);
        p = (fling_principal_t *)zhashx_lookup (self->keys, user_id);
    }
    return p;
}

size_t fling_auth_key_count (const fling_auth_t *self)
{
    return self->key_count;
}

/* ---- start-up ----------------------------------------------------------- */

void fling_auth_serve (fling_auth_t *self, zsock_t *sock)
{
    zcert_apply (self->cert, sock);
    zsock_set_curve_server (sock, 1);
    zsock_set_zap_domain (sock, "fling");
}

/* The guard against libzmq's quiet fallback: a CURVE server with no ZAP
   handler in its process admits any client that knows its public key. A
   probe ROUTER, set up exactly as the real ones, must refuse a client
   with a fresh key that no certificate names. */
static int self_test (fling_auth_t *self, char *error, size_t error_size)
{
    int rc = -1;
    zsock_t *probe = zsock_new (ZMQ_ROUTER), *client = zsock_new (ZMQ_DEALER);
    zcert_t *stranger = zcert_new ();
    fling_monitor_t *monitor = NULL;
    if (!probe || !client || !stranger) {
        snprintf (error, error_size, "CURVE self-test: out of memory");
        goto done;
    }
    fling_auth_serve (self, probe);
    zsock_set_rcvtimeo (probe, 0);
    monitor =
        fling_monitor_new (probe, ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                      ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL);
    if (!monitor || zmq_bind (zsock_resolve (probe), "tcp://127.0.0.1:*")) {
        snprintf (error, error_size, "CURVE self-test: cannot listen on loopback: %s",
                  zmq_strerror (zmq_errno ()));
        goto done;
    }
    char *endpoint = zsock_last_endpoint (probe);
    zcert_apply (stranger, client);
    zsock_set_curve_serverkey (client, zcert_public_txt (self->cert));
    zsock_set_linger (client, 0);
    int connected = endpoint ? zsock_connect (client, "%s", endpoint) : -1;
    zstr_free (&endpoint);
    if (connected || zstr_send (client, "probe")) {
        snprintf (error, error_size, "CURVE self-test: cannot connect the probe client");
        goto done;
    }
    zmq_pollitem_t items[2] = {{zsock_resolve (probe), 0, ZMQ_POLLIN, 0},
                               {fling_monitor_handle (monitor), 0, ZMQ_POLLIN, 0}};
    int64_t deadline = fling_clock_ms () + SELF_TEST_MS;
    const char *verdict = "no handshake answer within 5 s";
    while (fling_clock_ms () < deadline) {
        if (zmq_poll (items, 2, 100) < 0 && zmq_errno () != EINTR)
            break;
        if (items[0].revents & ZMQ_POLLIN) {
            verdict = "an unlisted key got a message through";
            break;
        }
        uint16_t event;
        uint32_t value;
        while (fling_monitor_next (monitor, &event, &value)) {
            if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
                rc = 0;
                goto done;
            }
            if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
                verdict = "an unlisted key completed the handshake";
                deadline = 0;
            }
        }
    }
    snprintf (error, error_size,
              "CURVE self-test failed: %s. No ZAP handler (zauth) answers in this process, so "
              "libzmq would admit ANY client that knows the broker's public key; refusing to start",
              verdict);
done:
    fling_monitor_destroy (&monitor);
    zsock_destroy (&client);
    zsock_destroy (&probe);
    zcert_destroy (&stranger);
    return rc;
}

static int check_library (char *error, size_t error_size)
{
    int major, minor, patch;
    zmq_version (&major, &minor, &patch);
    if (!zmq_has ("curve")) {
        snprintf (error, error_size, "this libzmq (%d.%d.%d) has no CURVE support", major, minor,
                  patch);
        return -1;
    }
    if (major < 4 || (major == 4 && (minor < 3 || (minor == 3 && patch < 3)))) {
        snprintf (error, error_size,
                  "libzmq %d.%d.%d is too old for CURVE here: 4.3.3 or later "
                  "is needed (CVE-2020-15166 and friends)",
                  major, minor, patch);
        return -1;
    }
    return 0;
}

/* Whoever may write the allowed directory decides who gets in. */
static int check_dir (const char *dir, char *error, size_t error_size)
{
    struct stat st;
    if (stat (dir, &st) != 0 || !S_ISDIR (st.st_mode)) {
        snprintf (error, error_size, "the allowed directory %s is not a readable directory", dir);
        return -1;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf (error, error_size,
                  "the allowed directory %s is writable by group or others (mode %04o): anyone "
                  "who can write there can let keys in; chmod go-w it",
                  dir, (unsigned)(st.st_mode & 07777));
        return -1;
    }
    return 0;
}

static void destroy_principal (void **item)
{
    free (*item);
    *item = NULL;
}

static int start_zauth (fling_auth_t *self)
{
    if (getenv (TEST_HOOK_NO_ZAUTH)) {
        /* Test hook for the fail-closed path: without zauth the self-test
           below must refuse to start. It cannot make an open broker. */
        fling_warn ("test hook %s: zauth not started", TEST_HOOK_NO_ZAUTH);
        return 0;
    }
    self->zauth = zactor_new (zauth, NULL);
    if (!self->zauth)
        return -1;
    zstr_sendx (self->zauth, "CURVE", self->dir, NULL);
    return zsock_wait (self->zauth) == 0 ? 0 : -1;
}

fling_auth_t *fling_auth_new (const char *key_file, const char *allowed_dir, char *error,
                              size_t error_size)
{
    if (check_library (error, error_size) || check_dir (allowed_dir, error, error_size))
        return NULL;
    fling_auth_t *self = (fling_auth_t *)calloc (1, sizeof *self);
    if (!self || !(self->dir = strdup (allowed_dir)) || !(self->keys = zhashx_new ())) {
        snprintf (error, error_size, "out of memory");
        fling_auth_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->keys, destroy_principal);
    if (!(self->cert = fling_curve_load_secret (key_file, error, error_size))) {
        fling_auth_destroy (&self);
        return NULL;
    }
    fling_auth_rescan (self);
    if (start_zauth (self)) {
        snprintf (error, error_size, "cannot start the ZAP handler (zauth)");
        fling_auth_destroy (&self);
        return NULL;
    }
    if (self_test (self, error, error_size)) {
        fling_auth_destroy (&self);
        return NULL;
    }
    fling_info ("CURVE on: broker key %s, %zu allowed keys in %s, self-test passed (an unlisted "
                "key is refused)",
                zcert_public_txt (self->cert), self->key_count, self->dir);
    return self;
}

void fling_auth_destroy (fling_auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_auth_t *self = *self_p;
    zactor_destroy (&self->zauth);
    zcert_destroy (&self->cert);
    zhashx_destroy (&self->keys);
    free (self->dir);
    free (self);
    *self_p = NULL;
}
