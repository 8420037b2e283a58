/*  fling_admin.c - `fling stats`, `fling ping` and the ADMIN exchange that
    `fling dead` uses: one request on a raw DEALER to the broker's producer
    endpoint, one reply, or a timeout.

    These paths use czmq directly, so czmq's signal handler is switched off
    first: Ctrl-C must simply end a command that waits for a silent broker.
    With CURVE the socket takes the keys of --curve-broker-key and
    --curve-key, and a failed handshake is reported as such.
    Frames are built and read by proto/ only (fling_msg_admin, _ping,
    fling_msg_decode).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fling_cli.h"
#include "fling_log.h"
#include "fling_monitor.h"
#include "fling_proto.h"

#define STATS_TIMEOUT_MS 5000
#define PING_TIMEOUT_MS  2000

/* One DEALER to the broker, and with CURVE a monitor of its handshakes,
   so a refused key is told apart from a broker that is not there. */
typedef struct {
    zsock_t *sock;
    fling_monitor_t *monitor;
    uint16_t handshake_failure; /* the last ZMQ_EVENT_HANDSHAKE_FAILED_*, 0 = none */
} link_t;

static void link_close (link_t *link)
{
    fling_monitor_destroy (&link->monitor); /* before the socket it watches */
    zsock_destroy (&link->sock);
}

static int link_open (link_t *link, const fling_cli_t *cli)
{
    memset (link, 0, sizeof *link);
    zsys_handler_set (NULL);
    link->sock = zsock_new (ZMQ_DEALER);
    if (!link->sock) {
        fprintf (stderr, "fling: cannot create a socket: %s\n", zmq_strerror (zmq_errno ()));
        return -1;
    }
    zsock_set_linger (link->sock, 0);
    char error[256];
    if (fling_curve_client_apply (&cli->curve, link->sock, NULL, error, sizeof error)) {
        fprintf (stderr, "fling: %s\n", error);
        link_close (link);
        return -1;
    }
    if (fling_curve_client_on (&cli->curve))
        link->monitor = fling_monitor_new (link->sock, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                                           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
    if (zsock_connect (link->sock, "%s", cli->endpoint)) {
        fprintf (stderr, "fling: bad endpoint '%s': %s\n", cli->endpoint,
                 zmq_strerror (zmq_errno ()));
        link_close (link);
        return -1;
    }
    return 0;
}

/* Why no reply came: the broker's absence, or a CURVE handshake that
   failed (and how). */
static void print_no_reply (const link_t *link, const fling_cli_t *cli, const char *what,
                            unsigned timeout_ms)
{
    if (link->handshake_failure == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        fprintf (stderr,
                 "fling: the broker at %s refused this key (CURVE): it is not in the "
                 "broker's allowed directory, or was revoked\n",
                 cli->endpoint);
    else if (link->handshake_failure)
        fprintf (stderr,
                 "fling: CURVE handshake with %s failed: is --curve-broker-key the "
                 "broker's public key?\n",
                 cli->endpoint);
    else
        fprintf (stderr, "fling: broker not reachable at %s (no %s in %u ms)\n", cli->endpoint,
                 what, timeout_ms);
}

/* Sends `request` and waits until `timeout_ms` for a reply of command `want`
   or an ERROR, skipping anything else. Returns the reply (decoded into *out,
   which points into it) or NULL on timeout. */
static zmsg_t *exchange (link_t *link, zmsg_t **request, fling_cmd_t want, unsigned timeout_ms,
                         fling_msg_t *out)
{
    if (!*request || zmsg_send (request, link->sock)) {
        zmsg_destroy (request);
        return NULL;
    }
    int64_t deadline = fling_clock_ms () + timeout_ms;
    zmq_pollitem_t items[2] = {
        {zsock_resolve (link->sock), 0, ZMQ_POLLIN, 0},
        {link->monitor ? fling_monitor_handle (link->monitor) : NULL, 0, ZMQ_POLLIN, 0}};
    for (int64_t left; (left = deadline - fling_clock_ms ()) > 0;) {
        if (zmq_poll (items, link->monitor ? 2 : 1, (long)left) <= 0)
            continue; /* timeout or EINTR: the loop re-checks the deadline */
        uint16_t event;
        uint32_t value;
        while (link->monitor && fling_monitor_next (link->monitor, &event, &value))
            link->handshake_failure = event;
        if (!(items[0].revents & ZMQ_POLLIN))
            continue;
        zmsg_t *reply = zmsg_recv (link->sock);
        if (!reply)
            continue;
        fling_reason_t reason;
        if (fling_msg_decode (reply, out, &reason))
            fprintf (stderr, "fling: ignoring a malformed message from the broker (%s)\n",
                     fling_reason_name (reason));
        else if (out->cmd == want || out->cmd == FLING_CMD_ERROR)
            return reply;
        zmsg_destroy (&reply);
    }
    return NULL;
}

zsock_t *fling_cli_connect (const fling_cli_t *cli)
{
    link_t link;
    if (link_open (&link, cli))
        return NULL;
    fling_monitor_destroy (&link.monitor); /* its callers report no handshake detail */
    return link.sock;
}

char *fling_cli_request (zsock_t *sock, const char *request_json, unsigned timeout_ms, size_t *size,
                         char *error, size_t error_size)
{
    link_t link = {.sock = sock};
    zmsg_t *request = fling_msg_admin (request_json);
    fling_msg_t m;
    zmsg_t *reply = exchange (&link, &request, FLING_CMD_ADMIN_REPLY, timeout_ms, &m);
    char *json = NULL;
    if (!reply)
        snprintf (error, error_size, "no reply in %u ms", timeout_ms);
    else if (m.cmd == FLING_CMD_ERROR)
        snprintf (error, error_size, "broker answered ERROR %s: %.*s", fling_reason_name (m.reason),
                  (int)m.text_size, m.text ? m.text : "");
    else if ((json = (char *)malloc (m.text_size + 1)) == NULL)
        snprintf (error, error_size, "out of memory");
    else {
        memcpy (json, m.text, m.text_size);
        json[m.text_size] = '\0';
        *size = m.text_size;
    }
    zmsg_destroy (&reply);
    return json;
}

static void print_error_reply (const fling_msg_t *m)
{
    fprintf (stderr, "fling: broker answered ERROR %s: %.*s\n", fling_reason_name (m->reason),
             (int)m->text_size, m->text ? m->text : "");
}

int fling_cli_admin (const fling_cli_t *cli, const char *request_json, char **reply_json,
                     size_t *reply_size)
{
    *reply_json = NULL;
    *reply_size = 0;
    unsigned timeout_ms = cli->timeout_ms ? cli->timeout_ms : STATS_TIMEOUT_MS;
    link_t link;
    if (link_open (&link, cli))
        return FLING_CLI_EXIT_FAIL;
    zmsg_t *request = fling_msg_admin (request_json);
    fling_msg_t m;
    zmsg_t *reply = exchange (&link, &request, FLING_CMD_ADMIN_REPLY, timeout_ms, &m);
    int rc = FLING_CLI_EXIT_FAIL;
    if (!reply)
        print_no_reply (&link, cli, "reply", timeout_ms);
    else if (m.cmd == FLING_CMD_ERROR)
        print_error_reply (&m);
    else if ((*reply_json = (char *)malloc (m.text_size + 1)) == NULL)
        fprintf (stderr, "fling: out of memory\n");
    else {
        memcpy (*reply_json, m.text, m.text_size);
        (*reply_json)[m.text_size] = '\0';
        *reply_size = m.text_size;
        rc = FLING_CLI_EXIT_OK;
    }
    zmsg_destroy (&reply);
    link_close (&link);
    return rc;
}

int fling_cli_print_json (const char *json, size_t json_size)
{
    fwrite (json, 1, json_size, stdout);
    fputc ('\n', stdout);
    return fflush (stdout) == 0 ? FLING_CLI_EXIT_OK : FLING_CLI_EXIT_FAIL;
}

int fling_cli_stats (const fling_cli_t *cli)
{
    char *reply;
    size_t size;
    int rc = fling_cli_admin (cli, "{\"op\":\"stats\"}", &reply, &size);
    if (rc == FLING_CLI_EXIT_OK)
        rc = cli->json ? fling_cli_print_json (reply, size) : fling_cli_print_stats (reply, size);
    free (reply);
    return rc;
}

int fling_cli_ping (const fling_cli_t *cli)
{
    unsigned timeout_ms = cli->timeout_ms ? cli->timeout_ms : PING_TIMEOUT_MS;
    link_t link;
    if (link_open (&link, cli))
        return FLING_CLI_EXIT_FAIL;
    zmsg_t *request = fling_msg_ping ();
    fling_msg_t m;
    zmsg_t *reply = exchange (&link, &request, FLING_CMD_PONG, timeout_ms, &m);
    int rc = FLING_CLI_EXIT_FAIL;
    if (!reply)
        print_no_reply (&link, cli, "PONG", timeout_ms);
    else {
        /* Any answer proves the broker alive; an ERROR (say UNKNOWN_PEER on a
           worker endpoint) is worth a note but is still an answer. */
        if (m.cmd == FLING_CMD_ERROR)
            print_error_reply (&m);
        printf ("ok\n");
        rc = FLING_CLI_EXIT_OK;
    }
    zmsg_destroy (&reply);
    link_close (&link);
    return rc;
}
