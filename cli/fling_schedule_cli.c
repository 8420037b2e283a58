/*  fling_schedule_cli.c - `fling schedule add|list|remove|next` and `fling
    queue pause|resume`: the admin requests of proto/SPEC.md §5.3 (FLP/1.2)
    for broker-owned schedules and paused queues.

    A schedule is checked here first with the broker's own module
    (common/fling_schedule.h: cron expression, zone, interval), so a typo
    is a usage error before anything is sent; `schedule next` shows the
    fire times without a broker at all. A broker that does not speak
    FLP/1.2 answers these requests {"error":"unknown op"}: said in words.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fling_cli.h"
#include "fling_proto.h"
#include "fling_schedule.h"
#include "fling_timetext.h"
#include "fling_tz.h"

#define NEXT_DEFAULT 5

static int usage (const char *text)
{
    fprintf (stderr, "fling: %s\nTry 'fling --help'.\n", text);
    return FLING_CLI_EXIT_USAGE;
}

/* The schedule the options describe, checked; NULL after a message. */
static fling_schedule_t *checked (const fling_cli_t *cli, const char *name)
{
    fling_schedule_def_t def = {.name = name,
                                .cron = cli->cron,
                                .every_ms = cli->every_ms,
                                .tz = cli->tz,
                                .missed = cli->missed};
    char error[160];
    fling_schedule_t *schedule = fling_schedule_new (&def, error, sizeof error);
    if (!schedule)
        fprintf (stderr, "fling: schedule %s: %s\n", name, error);
    return schedule;
}

typedef void (printer_t) (const json_t *reply);

/* Sends `request` (taken), prints the reply: its JSON with --json, else
   with `print`, else `done` with the reply's `key` number. */
static int request_as (const fling_cli_t *cli, json_t *req, const char *done, const char *key,
                       printer_t *print)
{
    char *text = req ? json_dumps (req, JSON_COMPACT) : NULL;
    json_decref (req);
    if (!text) {
        fprintf (stderr, "fling: out of memory\n");
        return FLING_CLI_EXIT_FAIL;
    }
    char *reply_text = NULL;
    size_t size = 0;
    int rc = fling_cli_admin (cli, text, &reply_text, &size);
    free (text);
    if (rc != FLING_CLI_EXIT_OK)
        return rc;
    json_t *reply = json_loadb (reply_text, size, 0, NULL);
    const json_t *error = json_object_get (reply, "error");
    if (!json_is_object (reply)) {
        fprintf (stderr, "fling: the broker's reply is not a JSON object\n");
        rc = FLING_CLI_EXIT_FAIL;
    } else if (error) {
        const char *why = json_is_string (error) ? json_string_value (error) : "?";
        fprintf (stderr, "fling: broker: %s%s\n", why,
                 strcmp (why, "unknown op") == 0
                     ? " (schedules and paused queues need a broker that speaks FLP/1.2)"
                     : "");
        rc = FLING_CLI_EXIT_FAIL;
    } else if (cli->json || (!done && !print)) {
        rc = fling_cli_print_json (reply_text, size);
    } else if (print) {
        print (reply);
    } else {
        const json_t *value = json_object_get (reply, key);
        printf ("%s", done);
        if (json_is_integer (value))
            printf (" %s=%" JSON_INTEGER_FORMAT, key, json_integer_value (value));
        printf ("\n");
    }
    json_decref (reply);
    free (reply_text);
    return rc;
}

static int request (const fling_cli_t *cli, json_t *req, const char *done, const char *key)
{
    return request_as (cli, req, done, key, NULL);
}

static const char *utc_text (const json_t *ms, char buf[FLING_UTC_TEXT_SIZE])
{
    if (!json_is_integer (ms))
        return "-";
    return fling_utc_format ((int64_t)json_integer_value (ms), buf);
}

static void print_added (const json_t *reply)
{
    char next[FLING_UTC_TEXT_SIZE];
    bool added = json_is_true (json_object_get (reply, "added"));
    bool replaced = json_is_true (json_object_get (reply, "replaced"));
    printf ("schedule %s, next fire %s\n",
            replaced ? "replaced"
            : added  ? "added"
                     : "unchanged (the broker holds the same one)",
            utc_text (json_object_get (reply, "next_ms"), next));
}

/* One line a schedule: name, task, when it fires, missed policy, next fire
   time and fired-up-to mark (UTC). */
static void print_list (const json_t *reply)
{
    const json_t *list = json_object_get (reply, "schedules");
    printf ("%-24s %-20s %-28s %-6s %-24s %s\n", "NAME", "TASK", "SPEC", "MISSED", "NEXT (UTC)",
            "FIRED UP TO (UTC)");
    size_t i;
    json_t *s;
    json_array_foreach (list, i, s)
    {
        char spec[160], next[FLING_UTC_TEXT_SIZE], last[FLING_UTC_TEXT_SIZE];
        const char *cron = json_string_value (json_object_get (s, "cron"));
        if (cron)
            snprintf (spec, sizeof spec, "%s %s", cron,
                      json_string_value (json_object_get (s, "tz")));
        else
            snprintf (spec, sizeof spec, "every %" JSON_INTEGER_FORMAT " ms",
                      json_integer_value (json_object_get (s, "every_ms")));
        printf ("%-24s %-20s %-28s %-6s %-24s %s\n",
                json_string_value (json_object_get (s, "name")),
                json_string_value (json_object_get (s, "task")), spec,
                json_string_value (json_object_get (s, "missed")),
                utc_text (json_object_get (s, "next_ms"), next),
                utc_text (json_object_get (s, "last_ms"), last));
    }
    json_int_t total = json_integer_value (json_object_get (reply, "total"));
    if (total > (json_int_t)json_array_size (list))
        printf ("(%zu of %" JSON_INTEGER_FORMAT " shown: --limit N shows more)\n",
                json_array_size (list), total);
}

static void print_removed (const json_t *reply)
{
    printf ("%s\n", json_is_true (json_object_get (reply, "removed"))
                        ? "schedule removed"
                        : "no such schedule: nothing removed");
}

static int add (const fling_cli_t *cli, const char *name, const char *task, const char *payload)
{
    fling_schedule_t *schedule = checked (cli, name);
    if (!schedule)
        return FLING_CLI_EXIT_USAGE;
    fling_schedule_destroy (&schedule);
    payload = payload ? payload : "{}";
    if (fling_task_validate (task, payload, 0)) {
        fprintf (stderr, "fling: invalid task: %s\n", fling_last_error ());
        return FLING_CLI_EXIT_USAGE;
    }
    json_t *def = json_pack ("{ss ss so ss ss}", "name", name, "task", task, "payload",
                             json_loads (payload, 0, NULL), "tz", cli->tz ? cli->tz : "UTC",
                             "missed", cli->missed == FLING_MISSED_SKIP ? "skip" : "once");
    if (def && cli->cron)
        json_object_set_new (def, "cron", json_string (cli->cron));
    if (def && cli->every_ms)
        json_object_set_new (def, "every_ms", json_integer ((json_int_t)cli->every_ms));
    if (def && cli->send.priority)
        json_object_set_new (def, "priority", json_integer (cli->send.priority));
    return request_as (cli, json_pack ("{ss so}", "op", "schedule_add", "schedule", def), NULL,
                       NULL, print_added);
}

/* The next fire times, computed here: no broker needed. */
static int next (const fling_cli_t *cli)
{
    fling_schedule_t *schedule = checked (cli, "preview");
    if (!schedule)
        return FLING_CLI_EXIT_USAGE;
    fling_tz_t *tz = fling_tz_new (cli->tz ? cli->tz : "UTC");
    int64_t t = zclock_time ();
    unsigned count = cli->count ? cli->count : NEXT_DEFAULT;
    for (unsigned i = 0; i < count && (t = fling_schedule_next (schedule, t)) >= 0; i++) {
        char utc[FLING_UTC_TEXT_SIZE], local[FLING_UTC_TEXT_SIZE];
        int32_t offset = tz ? fling_tz_offset (tz, t / 1000) : 0;
        fling_utc_format (t + (int64_t)offset * 1000, local);
        local[19] = 0; /* wall time without the fraction and the Z */
        printf ("%s  %s %+03d:%02d\n", fling_utc_format (t, utc), local, offset / 3600,
                (offset < 0 ? -offset : offset) / 60 % 60);
    }
    fling_tz_destroy (&tz);
    fling_schedule_destroy (&schedule);
    return fflush (stdout) == 0 ? FLING_CLI_EXIT_OK : FLING_CLI_EXIT_FAIL;
}

int fling_cli_schedule (const fling_cli_t *cli, const char *const *args, size_t count)
{
    const char *action = count ? args[0] : "";
    if (strcmp (action, "add") == 0 && (count == 3 || count == 4))
        return add (cli, args[1], args[2], count == 4 ? args[3] : NULL);
    if (strcmp (action, "list") == 0 && count == 1) {
        json_t *req = json_pack ("{ss}", "op", "schedule_list");
        if (req && cli->limit_set)
            json_object_set_new (req, "limit", json_integer (cli->limit));
        return request_as (cli, req, NULL, NULL, print_list);
    }
    if (strcmp (action, "remove") == 0 && count == 2)
        return request_as (cli, json_pack ("{ss ss}", "op", "schedule_remove", "name", args[1]),
                           NULL, NULL, print_removed);
    if (strcmp (action, "next") == 0 && count == 1)
        return next (cli);
    return usage ("usage: fling schedule add NAME TASK [JSON] (--cron EXPR | --every D) "
                  "[--tz ZONE] [--missed once|skip] | list | remove NAME | next (--cron EXPR | "
                  "--every D) [--tz ZONE] [--count N]");
}

int fling_cli_queue_pause (const fling_cli_t *cli, const char *action, const char *name)
{
    if (!fling_name_valid (name, strlen (name)))
        return usage ("queue: not a valid task name");
    bool pause = strcmp (action, "pause") == 0;
    json_t *req = json_pack ("{ss ss}", "op", pause ? "queue_pause" : "queue_resume", "name", name);
    return request (cli, req, pause ? "paused" : "resumed", "queued");
}
