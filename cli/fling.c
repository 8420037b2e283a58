/*  fling.c - the `fling` command line: send tasks, read broker stats, ping,
    manage the dead-letter queue.

    Usage: fling [OPTIONS] COMMAND [ARGS]. Options may stand before or after
    the command; `--` ends them. See usage() for the list.
*/
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fling_cli.h"
#include "fling_options.h"
#include "fling_proto.h"
#include "fling_schedule.h"
#include "fling_timetext.h"

#define DEFAULT_ENDPOINT "tcp://127.0.0.1:5555"

#ifndef FLING_VERSION
#define FLING_VERSION "unknown"
#endif

static void usage (FILE *out)
{
    fprintf (out,
             "usage: fling [OPTIONS] COMMAND [ARGS]\n"
             "\n"
             "commands:\n"
             "  send NAME JSON     send one task; prints its id once the broker accepted it\n"
             "  send NAME [-]      send one task per line of stdin (JSON objects; empty lines\n"
             "                     skipped); prints sent/accepted/rejected/invalid on stderr\n"
             "  send ... --json    also print one JSON line per task on stdout as the broker\n"
             "                     answers: {\"line\":N,\"id\":ID,\"status\":S} where S is\n"
             "                     accepted, rejected, dropped, invalid, unsent or\n"
             "                     unconfirmed (with \"error\" and \"message\" when refused)\n"
             "  stats [--json]     show the broker's counters, store, queues and workers\n"
             "  ping               exit 0 and print \"ok\" if the broker answers\n"
             "  task ID [--json]   where a task is: queued (and how many ahead), running on\n"
             "                     which worker since when, waiting to retry until when,\n"
             "                     dead (reason, error), or ended within the duplicate window;\n"
             "                     exit 1 when the broker knows nothing of it\n"
             "  events [--name NAME]\n"
             "                     task and worker lifecycle events as JSON lines (accepted,\n"
             "                     leased, done, failed, dead, requeued, dead_retried, purged,\n"
             "                     worker_joined, worker_left, worker_lost) until Ctrl-C\n"
             "  top                a live view of queues, rates and workers, redrawn every\n"
             "                     second (--interval-ms); q or Ctrl-C quits\n"
             "  dead list [--name NAME] [--limit N] [--json]\n"
             "                     show tasks that ran out of attempts (failed, timed out\n"
             "                     or crashed their worker): id, name, attempts, crashes,\n"
             "                     reason, error (--json: the broker's reply, with payloads)\n"
             "  dead retry (--id ID | --name NAME | --all)\n"
             "                     put dead tasks back in their queue with fresh attempts;\n"
             "                     prints how many\n"
             "  dead purge (--id ID | --name NAME | --all)\n"
             "                     delete dead tasks for good; prints how many\n"
             "  queue purge NAME   remove the waiting tasks (queued, or waiting for a retry) of\n"
             "                     one name; tasks in flight finish; prints how many\n"
             "  queue pause|resume NAME\n"
             "                     stop / restart dispatching a name's tasks; they are still\n"
             "                     accepted and kept (FLP/1.2 broker)\n"
             "  schedule add NAME TASK [JSON] (--cron EXPR | --every D) [--tz ZONE]\n"
             "           [--missed once|skip] [--priority N] [--max-attempts N]\n"
             "           [--task-timeout-ms N] [--backoff-ms N]\n"
             "                     the broker sends TASK at each fire time, once per fire\n"
             "                     time even across restarts (FLP/1.2 broker; proto/SPEC.md 6.8)\n"
             "  schedule list | remove NAME\n"
             "  schedule next (--cron EXPR | --every D) [--tz ZONE] [--count N]\n"
             "                     the next fire times, computed here (no broker needed)\n"
             "  keygen --role ROLE [--dir DIR] NAME\n"
             "                     make a CURVE key pair: DIR/NAME.pub (public, with the role:\n"
             "                     producer, worker, admin or broker) and DIR/NAME.secret\n"
             "                     (private, mode 0600); never overwrites (SECURITY.md)\n"
             "\n"
             "options:\n"
             "  --endpoint EP      broker's producer endpoint (env FLING_PRODUCER_ENDPOINT,\n"
             "                     default " DEFAULT_ENDPOINT ")\n"
             "  --curve-broker-key K  CURVE: the broker's .pub file or Z85 public key\n"
             "                     (env FLING_CURVE_BROKER_KEY)\n"
             "  --curve-key FILE   CURVE: this client's NAME.secret file (env FLING_CURVE_KEY)\n"
             "  --timeout-ms N     how long to wait for the broker (send, stats, dead: 5000;\n"
             "                     ping: 2000)\n"
             "  --json             stats, dead: print the broker's reply as JSON; send: one\n"
             "                     JSON line per task (see send)\n"
             "  --name NAME        dead, events: only tasks of this name\n"
             "  --id ID            dead: only this task (as printed by send / dead list)\n"
             "  --all              dead retry/purge: every dead task\n"
             "  --limit N          dead list: show at most N tasks (broker default 100)\n"
             "  --max-attempts N   send: attempts before the task fails (0 = queue default)\n"
             "  --task-timeout-ms N  send: run time limit per attempt (0 = queue default)\n"
             "  --backoff-ms N     send: first retry delay (0 = queue default)\n"
             "  --delay D          send: hold the task D after the broker accepts it (250ms,\n"
             "                     5s, 2m, 1h30m, 1d; at most 49 days)\n"
             "  --at TIME          send: hold the task until TIME, RFC 3339 with a zone\n"
             "                     (2026-12-07T18:00:00Z, 2026-12-07T19:00:00+01:00)\n"
             "  --priority N       send: 0-9 within the task's name, 9 first (default 0)\n"
             "  --key KEY          send: unique key (1-128 printable bytes, no space): while a\n"
             "                     task with it is held, another is answered duplicate\n"
             "  --key-ttl D        send: how long the key outlives its task (default 0)\n"
             "                     (--delay, --at, --priority, --key need a broker that speaks\n"
             "                     FLP/1.2; an older one refuses such tasks, exit 1)\n"
             "  --cron EXPR        schedule: minute hour day month weekday, or @hourly...\n"
             "  --every D          schedule: an interval (5s, 1h...), aligned on the epoch\n"
             "  --tz ZONE          schedule: IANA time zone of --cron (default UTC)\n"
             "  --missed P         schedule: a firing missed while the broker was down:\n"
             "                     once (default) or skip\n"
             "  --interval-ms N    top: refresh interval (default 1000); events: poll\n"
             "                     interval (default 200)\n"
             "  --count N          top: refresh N times, then exit; events: exit after N\n"
             "  --version          print the version\n"
             "  -h, --help         this text\n"
             "\n"
             "exit status: 0 success, 1 failure (message on stderr), 2 usage error\n");
}

static int usage_error (const char *format, const char *arg)
{
    fprintf (stderr, "fling: ");
    fprintf (stderr, format, arg);
    fprintf (stderr, "\nTry 'fling --help'.\n");
    return FLING_CLI_EXIT_USAGE;
}

typedef struct {
    fling_cli_t cli;
    bool version;
} parsed_t;

static int parse_limit (void *arg, const char *value, bool from_env, char *why, size_t why_size)
{
    parsed_t *p = arg;
    uint64_t limit;
    if (fling_number_parse (value, 1, 1000000, &limit)) {
        snprintf (why, why_size, "not a number from 1 to 1000000");
        return -1;
    }
    p->cli.limit = (unsigned)limit;
    p->cli.limit_set = true;
    return 0;
}

/* A duration that fits a uint32 of milliseconds (the wire's field). */
static int parse_ms32 (const char *value, unsigned *out, char *why, size_t why_size)
{
    uint64_t ms;
    if (fling_duration_parse (value, UINT32_MAX, &ms)) {
        snprintf (why, why_size, "not a duration (250ms, 5s, 2m, 1h30m, 1d) up to 49 days");
        return -1;
    }
    *out = (unsigned)ms;
    return 0;
}

static int parse_delay (void *arg, const char *value, bool from_env, char *why, size_t why_size)
{
    (void)from_env;
    return parse_ms32 (value, &((parsed_t *)arg)->cli.send.delay_ms, why, why_size);
}

static int parse_key_ttl (void *arg, const char *value, bool from_env, char *why, size_t why_size)
{
    (void)from_env;
    return parse_ms32 (value, &((parsed_t *)arg)->cli.send.key_ttl_ms, why, why_size);
}

static int parse_at (void *arg, const char *value, bool from_env, char *why, size_t why_size)
{
    (void)from_env;
    int64_t ms;
    if (fling_utc_parse (value, &ms) || ms == 0) {
        snprintf (why, why_size, "not an RFC 3339 time with a zone (2026-12-07T18:00:00Z)");
        return -1;
    }
    ((parsed_t *)arg)->cli.send.at_ms = ms;
    return 0;
}

static int parse_every (void *arg, const char *value, bool from_env, char *why, size_t why_size)
{
    (void)from_env;
    uint64_t ms;
    if (fling_duration_parse (value, FLING_EVERY_MS_MAX, &ms) || ms < FLING_EVERY_MS_MIN) {
        snprintf (why, why_size, "not a duration from 1s to 24d");
        return -1;
    }
    ((parsed_t *)arg)->cli.every_ms = ms;
    return 0;
}

static int parse_missed (void *arg, const char *value, bool from_env, char *why, size_t why_size)
{
    (void)from_env;
    if (strcmp (value, "once") != 0 && strcmp (value, "skip") != 0) {
        snprintf (why, why_size, "once or skip");
        return -1;
    }
    ((parsed_t *)arg)->cli.missed = value[0] == 's' ? FLING_MISSED_SKIP : FLING_MISSED_ONCE;
    return 0;
}

#define FIELD(name) offsetof (parsed_t, name)

/* The options of every command; usage() describes them. */
static const fling_option_t options[] = {
    {"--endpoint", "FLING_PRODUCER_ENDPOINT", FLING_OPT_ENDPOINT, FIELD (cli.endpoint), 0, 0, 0,
     NULL, "EP", "", NULL},
    {"--timeout-ms", NULL, FLING_OPT_UINT, FIELD (cli.timeout_ms), 0, 1, 3600000, NULL, "N", "",
     NULL},
    {"--json", NULL, FLING_OPT_FLAG, FIELD (cli.json), 0, 0, 0, NULL, NULL, "", NULL},
    {"--name", NULL, FLING_OPT_TEXT, FIELD (cli.name), 0, 0, 0, NULL, "NAME", "", NULL},
    {"--id", NULL, FLING_OPT_TEXT, FIELD (cli.id), 0, 0, 0, NULL, "ID", "", NULL},
    {"--all", NULL, FLING_OPT_FLAG, FIELD (cli.all), 0, 0, 0, NULL, NULL, "", NULL},
    {"--limit", NULL, FLING_OPT_CUSTOM, 0, 0, 0, 0, parse_limit, "N", "", NULL},
    {"--max-attempts", NULL, FLING_OPT_UINT, FIELD (cli.send.max_attempts), 0, 0, 65535, NULL, "N",
     "", NULL},
    {"--task-timeout-ms", NULL, FLING_OPT_UINT, FIELD (cli.send.timeout_ms), 0, 0, 1u << 30, NULL,
     "N", "", NULL},
    {"--backoff-ms", NULL, FLING_OPT_UINT, FIELD (cli.send.backoff_ms), 0, 0, 1u << 30, NULL, "N",
     "", NULL},
    {"--delay", NULL, FLING_OPT_CUSTOM, 0, 0, 0, 0, parse_delay, "D", "", NULL},
    {"--at", NULL, FLING_OPT_CUSTOM, 0, 0, 0, 0, parse_at, "TIME", "", NULL},
    {"--priority", NULL, FLING_OPT_UINT, FIELD (cli.send.priority), 0, 0, FLING_PRIORITY_MAX, NULL,
     "N", "", NULL},
    {"--key", NULL, FLING_OPT_TEXT, FIELD (cli.send.unique_key), 0, 0, FLING_UNIQUE_KEY_MAX, NULL,
     "KEY", "", NULL},
    {"--key-ttl", NULL, FLING_OPT_CUSTOM, 0, 0, 0, 0, parse_key_ttl, "D", "", NULL},
    {"--cron", NULL, FLING_OPT_TEXT, FIELD (cli.cron), 0, 0, 200, NULL, "EXPR", "", NULL},
    {"--every", NULL, FLING_OPT_CUSTOM, 0, 0, 0, 0, parse_every, "D", "", NULL},
    {"--tz", NULL, FLING_OPT_TEXT, FIELD (cli.tz), 0, 0, 200, NULL, "ZONE", "", NULL},
    {"--missed", NULL, FLING_OPT_CUSTOM, 0, 0, 0, 0, parse_missed, "P", "", NULL},
    {"--interval-ms", NULL, FLING_OPT_UINT, FIELD (cli.interval_ms), 0, 100, 3600000, NULL, "N", "",
     NULL},
    {"--count", NULL, FLING_OPT_UINT, FIELD (cli.count), 0, 1, 1000000, NULL, "N", "", NULL},
    {"--version", NULL, FLING_OPT_FLAG, FIELD (version), 0, 0, 0, NULL, NULL, "", NULL},
    {"--curve-broker-key", "FLING_CURVE_BROKER_KEY", FLING_OPT_TEXT, FIELD (cli.curve.broker_key),
     0, 0, 0, NULL, "KEY", "", NULL},
    {"--curve-key", "FLING_CURVE_KEY", FLING_OPT_TEXT, FIELD (cli.curve.key), 0, 0, 0, NULL, "FILE",
     "", NULL},
    {"--role", NULL, FLING_OPT_TEXT, FIELD (cli.role), 0, 0, 0, NULL, "ROLE", "", NULL},
    {"--dir", NULL, FLING_OPT_TEXT, FIELD (cli.dir), 0, 0, 0, NULL, "DIR", "", NULL},
};

static int run_command (parsed_t *p, const char *const *positional, size_t count)
{
    const char *command = positional[0];
    int args = (int)count - 1;
    if (strcmp (command, "send") == 0) {
        if (args < 1 || args > 2)
            return usage_error ("%s", "usage: fling send NAME [JSON|-]");
        const char *json = args == 2 ? positional[2] : NULL;
        if (json && strcmp (json, "-") == 0)
            json = NULL;
        return fling_cli_send (&p->cli, positional[1], json);
    }
    if (strcmp (command, "stats") == 0 || strcmp (command, "ping") == 0) {
        if (args != 0)
            return usage_error ("'%s' takes no arguments", command);
        return command[1] == 't' ? fling_cli_stats (&p->cli) : fling_cli_ping (&p->cli);
    }
    if (strcmp (command, "task") == 0) {
        if (args != 1)
            return usage_error ("%s", "usage: fling task ID [--json]");
        return fling_cli_task (&p->cli, positional[1]);
    }
    if (strcmp (command, "events") == 0) {
        if (args != 0)
            return usage_error ("%s", "usage: fling events [--name NAME]");
        return fling_cli_events (&p->cli, p->cli.count);
    }
    if (strcmp (command, "top") == 0) {
        if (args != 0)
            return usage_error ("%s", "'top' takes no arguments");
        return fling_cli_top (&p->cli, p->cli.interval_ms ? p->cli.interval_ms : 1000,
                              p->cli.count);
    }
    if (strcmp (command, "dead") == 0) {
        if (args != 1)
            return usage_error ("%s", "usage: fling dead list|retry|purge [selectors]");
        return fling_cli_dead (&p->cli, positional[1]);
    }
    if (strcmp (command, "queue") == 0) {
        if (args != 2)
            return usage_error ("%s", "usage: fling queue purge|pause|resume NAME");
        if (strcmp (positional[1], "pause") == 0 || strcmp (positional[1], "resume") == 0)
            return fling_cli_queue_pause (&p->cli, positional[1], positional[2]);
        return fling_cli_queue (&p->cli, positional[1], positional[2]);
    }
    if (strcmp (command, "schedule") == 0)
        return fling_cli_schedule (&p->cli, positional + 1, count - 1);
    if (strcmp (command, "keygen") == 0) {
        if (args != 1)
            return usage_error ("%s", "usage: fling keygen --role ROLE [--dir DIR] NAME");
        return fling_cli_keygen (&p->cli, positional[1]);
    }
    if (strcmp (command, "help") == 0) {
        usage (stdout);
        return FLING_CLI_EXIT_OK;
    }
    return usage_error ("unknown command '%s'", command);
}

int main (int argc, char **argv)
{
    parsed_t p;
    memset (&p, 0, sizeof p);
    p.cli.endpoint = DEFAULT_ENDPOINT;
    const char *positional[5];
    fling_options_t spec = {.program = "fling",
                            .options = options,
                            .count = sizeof options / sizeof options[0],
                            .positional = positional,
                            .positional_max = 5};
    char error[512];
    int rc = fling_options_parse (&spec, &p, argc, argv, error, sizeof error);
    if (rc == 1) {
        usage (stdout);
        return FLING_CLI_EXIT_OK;
    }
    if (rc < 0)
        return usage_error ("%s", error);
    if (p.version) {
        printf ("fling %s\n", FLING_VERSION);
        return FLING_CLI_EXIT_OK;
    }
    if (spec.positional_count == 0)
        return usage_error ("%s", "no command given");
    return run_command (&p, positional, spec.positional_count);
}
