/*  fling_events.c - `fling events`: the broker's task and worker lifecycle
    events as JSON lines on stdout, as they happen, until Ctrl-C.

    Polls ADMIN {"op":"events","after":SEQ} (proto/SPEC.md §5.3) on one
    connection: the broker records events only while someone reads them,
    in a bounded ring, and says how many a slow reader missed ("dropped",
    reported here on stderr). A broker that stops answering is waited for.
*/
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fling_cli.h"

#define POLL_MS 200

static volatile sig_atomic_t stop_requested;

static void on_signal (int signum)
{
    (void)signum;
    stop_requested = 1;
}

/* The next request: after SEQ (none yet: from now), of one name. */
static char *request_text (const fling_cli_t *cli, json_int_t after, bool have_after)
{
    json_t *request = json_pack ("{ss}", "op", "events");
    if (request && have_after)
        json_object_set_new (request, "after", json_integer (after));
    if (request && cli->name)
        json_object_set_new (request, "name", json_string (cli->name));
    char *text = request ? json_dumps (request, JSON_COMPACT) : NULL;
    json_decref (request);
    return text;
}

/* Prints the events of one reply; returns how many, -1 on a bad reply. */
static int print_events (json_t *reply, unsigned *printed, unsigned count)
{
    json_t *events = json_object_get (reply, "events");
    json_int_t dropped = json_integer_value (json_object_get (reply, "dropped"));
    if (!json_is_array (events))
        return -1;
    if (dropped)
        fprintf (stderr,
                 "fling: %" JSON_INTEGER_FORMAT " events missed (the broker keeps the "
                 "last 8192; read faster or filter with --name)\n",
                 dropped);
    if (json_is_true (json_object_get (reply, "unrecorded")))
        fprintf (stderr, "fling: events of the last pause were not recorded (the broker records "
                         "only while someone reads, and nobody did for 10 s)\n");
    size_t i;
    json_t *event;
    json_array_foreach (events, i, event)
    {
        char *line = json_dumps (event, JSON_COMPACT);
        if (line)
            printf ("%s\n", line);
        free (line);
        if (count && ++*printed >= count)
            break;
    }
    fflush (stdout);
    return (int)json_array_size (events);
}

int fling_cli_events (const fling_cli_t *cli, unsigned count)
{
    zsock_t *sock = fling_cli_connect (cli);
    if (!sock)
        return FLING_CLI_EXIT_FAIL;
    signal (SIGINT, on_signal);
    signal (SIGTERM, on_signal);
    unsigned interval = cli->interval_ms ? cli->interval_ms : POLL_MS;
    json_int_t after = 0;
    bool have_after = false, warned = false;
    unsigned printed = 0;
    int rc = FLING_CLI_EXIT_OK;
    while (!stop_requested && !(count && printed >= count)) {
        char *request = request_text (cli, after, have_after);
        char error[1200];
        size_t size;
        char *text =
            request ? fling_cli_request (sock, request, 5000, &size, error, sizeof error) : NULL;
        free (request);
        json_t *reply = text ? json_loadb (text, size, 0, NULL) : NULL;
        free (text);
        if (reply && json_object_get (reply, "error")) {
            fprintf (stderr, "fling: broker: %s\n",
                     json_string_value (json_object_get (reply, "error")));
            json_decref (reply);
            rc = FLING_CLI_EXIT_FAIL;
            break;
        }
        int got = reply ? print_events (reply, &printed, count) : -1;
        if (got >= 0) {
            after = json_integer_value (json_object_get (reply, "next"));
            have_after = true;
            warned = false;
        } else if (!warned) {
            fprintf (stderr, "fling: broker not answering at %s (%s); waiting\n", cli->endpoint,
                     reply ? "bad reply" : error);
            warned = true;
        }
        json_decref (reply);
        if (got < 1000) /* a full reply: more wait, ask again at once */
            usleep (interval * 1000u);
    }
    zsock_destroy (&sock);
    return rc;
}
