/*  fling_task.c - `fling task ID`: where one task is now, from the broker's
    {"op":"task"} (proto/SPEC.md §5.3): queued (with how many wait ahead of
    it), running on a worker since when, waiting to retry until when, dead
    with its reason and error, or ended within the duplicate window.
*/
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fling_cli.h"

/* Wall-clock ms as "2026-12-07T13:20:35.123Z", like the daemons' logs. */
static const char *time_text (json_int_t ms, char *out, size_t size)
{
    time_t seconds = (time_t)(ms / 1000);
    struct tm utc;
    gmtime_r (&seconds, &utc);
    size_t n = strftime (out, size, "%Y-%m-%dT%H:%M:%S", &utc);
    snprintf (out + n, size - n, ".%03dZ", (int)(ms % 1000));
    return out;
}

static json_int_t number (const json_t *object, const char *key)
{
    return json_integer_value (json_object_get (object, key));
}

static const char *text (const json_t *object, const char *key)
{
    const char *value = json_string_value (json_object_get (object, key));
    return value ? value : "?";
}

/* The state line: what the broker said, in words. */
static void print_state (const json_t *reply)
{
    const char *state = text (reply, "state");
    char when[64];
    const json_t *detail = json_object_get (reply, state);
    if (strcmp (state, "queued") == 0)
        printf ("%-9s queued, %s%" JSON_INTEGER_FORMAT " tasks ahead of it\n", "state",
                json_is_true (json_object_get (detail, "ahead_at_least")) ? "at least " : "",
                number (detail, "ahead"));
    else if (strcmp (state, "inflight") == 0) {
        printf ("%-9s running on worker %s (pid %" JSON_INTEGER_FORMAT ", %s) since %s, for %.1f s",
                "state", text (detail, "worker"), number (detail, "pid"), text (detail, "class"),
                time_text (number (detail, "since_ms"), when, sizeof when),
                (double)number (detail, "for_ms") / 1000);
        if (json_object_get (detail, "deadline_in_ms"))
            printf ("; lease deadline in %.1f s", (double)number (detail, "deadline_in_ms") / 1000);
        printf ("\n");
    } else if (strcmp (state, "delayed") == 0)
        printf ("%-9s waiting to retry until %s (in %.1f s)\n", "state",
                time_text (number (detail, "until_ms"), when, sizeof when),
                (double)number (detail, "in_ms") / 1000);
    else if (strcmp (state, "parked") == 0)
        printf ("%-9s in flight when the broker restarted; its worker may claim it until %s, then "
                "it is queued\n",
                "state", time_text (number (detail, "until_ms"), when, sizeof when));
    else if (strcmp (state, "suspect") == 0)
        printf ("%-9s suspect: a worker died while running it with others; it waits for a trial "
                "run apart from them\n",
                "state");
    else if (strcmp (state, "dead") == 0)
        printf ("%-9s dead (%s): %s\n", "state", text (detail, "reason"), text (detail, "error"));
    else if (strcmp (state, "ended") == 0)
        printf ("%-9s ended (done, or purged when dead) %.1f s ago, at %s; a resend of this id is "
                "a DUPLICATE for the rest of the duplicate window\n",
                "state", (double)number (reply, "ago_ms") / 1000,
                time_text (number (reply, "ended_ms"), when, sizeof when));
    else
        printf ("%-9s %s: the broker does not hold it and it did not end within the duplicate "
                "window (never accepted, or ended earlier)\n",
                "state", state);
}

static int print_task (const char *json, size_t size)
{
    json_error_t error;
    json_t *reply = json_loadb (json, size, 0, &error);
    if (!json_is_object (reply)) {
        fprintf (stderr, "fling: the broker's reply is not a JSON object\n");
        json_decref (reply);
        return FLING_CLI_EXIT_FAIL;
    }
    if (json_object_get (reply, "error")) {
        fprintf (stderr, "fling: broker: %s\n", text (reply, "error"));
        json_decref (reply);
        return FLING_CLI_EXIT_FAIL;
    }
    printf ("%-9s %s\n", "task", text (reply, "id"));
    if (json_object_get (reply, "name"))
        printf ("%-9s %s\n", "name", text (reply, "name"));
    print_state (reply);
    if (json_object_get (reply, "attempt")) {
        printf ("%-9s %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT
                " (runs started), crashes %" JSON_INTEGER_FORMAT ", timeout %" JSON_INTEGER_FORMAT
                " ms\n",
                "attempt", number (reply, "attempt"), number (reply, "max_attempts"),
                number (reply, "crashes"), number (reply, "timeout_ms"));
        printf ("%-9s %s\n", "payload", text (reply, "payload"));
    }
    bool unknown = strcmp (text (reply, "state"), "unknown") == 0;
    json_decref (reply);
    if (fflush (stdout) != 0)
        return FLING_CLI_EXIT_FAIL;
    return unknown ? FLING_CLI_EXIT_FAIL : FLING_CLI_EXIT_OK;
}

int fling_cli_task (const fling_cli_t *cli, const char *id)
{
    json_t *request = json_pack ("{ss ss}", "op", "task", "id", id);
    char *request_text = request ? json_dumps (request, JSON_COMPACT) : NULL;
    json_decref (request);
    if (!request_text) {
        fprintf (stderr, "fling: out of memory\n");
        return FLING_CLI_EXIT_FAIL;
    }
    char *reply;
    size_t size;
    int rc = fling_cli_admin (cli, request_text, &reply, &size);
    free (request_text);
    if (rc == FLING_CLI_EXIT_OK)
        rc = cli->json ? fling_cli_print_json (reply, size) : print_task (reply, size);
    free (reply);
    return rc;
}
