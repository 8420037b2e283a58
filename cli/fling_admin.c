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
struct fling_cli_link {
    zsock_t *sock;
    const char *endpoint;
    fling_monitor_t *monitor;
    uint16_t handshake_failure; /* the last ZMQ_EVENT_HANDSHAKE_FAILED_*, 0 = none */
};

void fling_cli_disconnect (fling_cli_link_t **link_p)
{
    fling_cli_link_t *link = *link_p;
    if (!link)
        return;
    fling_monitor_destroy (&link->monitor); /* before the socket it watches */
    zsock_destroy (&link->sock);
    free (link);
    *link_p = NULL;
}

fling_cli_link_t *fling_cli_connect (const fling_cli_t *cli)
{
    zsys_handler_set (NULL);
    fling_cli_link_t *link = (fling_cli_link_t *)calloc (1, sizeof *link);
    if (!link || !(link->sock = zsock_new (ZMQ_DEALER))) {
        fprintf (stderr, "fling: cannot create a socket: %s\n", zmq_strerror (zmq_errno ()));
        free (link);
        return NULL;
    }
    link->endpoint = cli->endpoint;
    zsock_set_linger (link->sock, 0);
    char error[256];
    if (fling_curve_client_apply (&cli->curve, link->sock, NULL, error, sizeof error)) {
        fprintf (stderr, "fling: %s\n", error);
        fling_cli_disconnect (&link);
        return NULL;
    }
    if (fling_curve_client_on (&cli->curve))
        link->monitor = fling_monitor_new (link->sock, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                                           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
    if (zsock_connect (link->sock, "%s", cli->endpoint)) {
        fprintf (stderr, "fling: bad endpoint '%s': %s\n", cli->endpoint,
                 zmq_strerror (zmq_errno ()));
        fling_cli_disconnect (&link);
        return NULL;
    }
    return link;
}

/* Why no reply came: the broker's absence, or a CURVE handshake that
   failed (and how). */
static void no_reply_text (const fling_cli_link_t *link, const char *what, unsigned timeout_ms,
                           char *error, size_t error_size)
{
    if (link->handshake_failure == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        snprintf (error, error_size,
                  "the broker at %s refused this key (CURVE): it is not in the broker's allowed "
                  "directory, or was revoked",
                  link->endpoint);
    else if (link->handshake_failure)
        snprintf (error, error_size,
                  "CURVE handshake with %s failed: is --curve-broker-key the broker's public key?",
                  link->endpoint);
    else
        snprintf (error, error_size, "broker not reachable at %s (no %s in %u ms)",
                  link->endpoint, what, timeout_ms);
}

/* Sends `request` and waits until `timeout_ms` for a reply of command `want`
   or an ERROR, skipping anything else. Returns the reply (decoded into *out,
   which points into it) or NULL on timeout. */
static zmsg_t *exchange (fling_cli_link_t *link, zmsg_t **request, fling_cmd_t want,
                         unsigned timeout_ms, fling_msg_t *out)
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

static void print_error_reply (const fling_msg_t *m)
{
    fprintf (stderr, "fling: broker answered ERROR %s: %.*s\n", fling_reason_name (m->reason),
             (int)m->text_size, m->text ? m->text : "");
}

char *fling_cli_request (fling_cli_link_t *link, const char *request_json, unsigned timeout_ms,
                         size_t *size, char *error, size_t error_size)
{
    zmsg_t *request = fling_msg_admin (request_json);
    fling_msg_t m;
    zmsg_t *reply = exchange (link, &request, FLING_CMD_ADMIN_REPLY, timeout_ms, &m);
    char *json = NULL;
    if (!reply)
        no_reply_text (link, "reply", timeout_ms, error, error_size);
    else if (m.cmd == FLING_CMD_ERROR)
        snprintf (error, error_size, "broker answered ERROR %s: %.*s",
                  fling_reason_name (m.reason), (int)m.text_size, m.text ? m.text : "");
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

int fling_cli_admin (const fling_cli_t *cli, const char *request_json, char **reply_json,
                     size_t *reply_size)
{
    *reply_size = 0;
    *reply_json = NULL;
    unsigned timeout_ms = cli->timeout_ms ? cli->timeout_ms : STATS_TIMEOUT_MS;
    fling_cli_link_t *link = fling_cli_connect (cli);
    if (!link)
        return FLING_CLI_EXIT_FAIL;
    char error[1200];
    *reply_json = fling_cli_request (link, request_json, timeout_ms, reply_size, error, sizeof error);
    fling_cli_disconnect (&link);
    if (*reply_json)
        return FLING_CLI_EXIT_OK;
    fprintf (stderr, "fling: %s\n", error);
    return FLING_CLI_EXIT_FAIL;
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
    fling_cli_link_t *link = fling_cli_connect (cli);
    if (!link)
        return FLING_CLI_EXIT_FAIL;
    zmsg_t *request = fling_msg_ping ();
    fling_msg_t m;
    zmsg_t *reply = exchange (link, &request, FLING_CMD_PONG, timeout_ms, &m);
    int rc = FLING_CLI_EXIT_FAIL;
    if (!reply) {
        char error[512];
        no_reply_text (link, "PONG", timeout_ms, error, sizeof error);
        fprintf (stderr, "fling: %s\n", error);
    } else {
        /* Any answer proves the broker alive; an ERROR (say UNKNOWN_PEER on a
           worker endpoint) is worth a note but is still an answer. */
        if (m.cmd == FLING_CMD_ERROR)
            print_error_reply (&m);
        printf ("ok\n");
        rc = FLING_CLI_EXIT_OK;
    }
    zmsg_destroy (&reply);
    fling_cli_disconnect (&link);
    return rc;
}
