/*  fling_admin.c - `fling stats`, `fling ping` and the ADMIN exchange that
    `fling dead` uses: one request on a raw DEALER to the broker's producer
    endpoint, one reply, or a timeout.

    These paths use czmq directly, so czmq's signal handler is switched off
    first: Ctrl-C must simply end a command that waits for a silent broker.
    Frames are built and read by proto/ only (fling_msg_admin, _ping,
    fling_msg_decode).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fling_cli.h"
#include "fling_log.h"
#include "fling_proto.h"

#define STATS_TIMEOUT_MS 5000
#define PING_TIMEOUT_MS  2000

zsock_t *fling_cli_connect (const char *endpoint)
{
    zsys_handler_set (NULL);
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock) {
        fprintf (stderr, "fling: cannot create a socket: %s\n", zmq_strerror (zmq_errno ()));
        return NULL;
    }
    zsock_set_linger (sock, 0);
    if (zsock_connect (sock, "%s", endpoint)) {
        fprintf (stderr, "fling: bad endpoint '%s': %s\n", endpoint, zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
    }
    return sock;
}

/* Sends `request` and waits until `timeout_ms` for a reply of command `want`
   or an ERROR, skipping anything else. Returns the reply (decoded into *out,
   which points into it) or NULL on timeout. */
static zmsg_t *exchange (zsock_t *sock, zmsg_t **request, fling_cmd_t want, unsigned timeout_ms,
                         fling_msg_t *out)
{
    if (!*request || zmsg_send (request, sock)) {
        zmsg_destroy (request);
        return NULL;
    }
    int64_t deadline = fling_clock_ms () + timeout_ms;
    for (int64_t left; (left = deadline - fling_clock_ms ()) > 0;) {
        zsock_set_rcvtimeo (sock, (int)left);
        zmsg_t *reply = zmsg_recv (sock);
        if (!reply)
            continue; /* timeout or EINTR: the loop re-checks the deadline */
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

char *fling_cli_request (zsock_t *sock, const char *request_json, unsigned timeout_ms,
                         size_t *size, char *error, size_t error_size)
{
    zmsg_t *request = fling_msg_admin (request_json);
    fling_msg_t m;
    zmsg_t *reply = exchange (sock, &request, FLING_CMD_ADMIN_REPLY, timeout_ms, &m);
    char *json = NULL;
    if (!reply)
        snprintf (error, error_size, "no reply in %u ms", timeout_ms);
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
    unsigned timeout_ms = cli->timeout_ms ? cli->timeout_ms : STATS_TIMEOUT_MS;
    zsock_t *sock = fling_cli_connect (cli->endpoint);
    *reply_json = NULL;
    if (!sock)
        return FLING_CLI_EXIT_FAIL;
    char error[1200];
    *reply_json = fling_cli_request (sock, request_json, timeout_ms, reply_size, error, sizeof error);
    zsock_destroy (&sock);
    if (*reply_json)
        return FLING_CLI_EXIT_OK;
    if (strncmp (error, "no reply", 8) == 0)
        fprintf (stderr, "fling: broker not reachable at %s (%s)\n", cli->endpoint, error);
    else
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
    zsock_t *sock = fling_cli_connect (cli->endpoint);
    if (!sock)
        return FLING_CLI_EXIT_FAIL;
    zmsg_t *request = fling_msg_ping ();
    fling_msg_t m;
    zmsg_t *reply = exchange (sock, &request, FLING_CMD_PONG, timeout_ms, &m);
    int rc = FLING_CLI_EXIT_FAIL;
    if (!reply)
        fprintf (stderr, "fling: broker not reachable at %s (no PONG in %u ms)\n", cli->endpoint,
                 timeout_ms);
    else {
        /* Any answer proves the broker alive; an ERROR (say UNKNOWN_PEER on a
           worker endpoint) is worth a note but is still an answer. */
        if (m.cmd == FLING_CMD_ERROR)
            print_error_reply (&m);
        printf ("ok\n");
        rc = FLING_CLI_EXIT_OK;
    }
    zmsg_destroy (&reply);
    zsock_destroy (&sock);
    return rc;
}
