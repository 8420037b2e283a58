/*  fling.c - the `fling` command line: send tasks, read broker stats, ping,
    manage the dead-letter queue.

    Usage: fling [OPTIONS] COMMAND [ARGS]. Options may stand before or after
    the command; `--` ends them. See usage() for the list.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fling_cli.h"

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
             "  stats [--json]     show the broker's counters, store, queues and workers\n"
             "  ping               exit 0 and print \"ok\" if the broker answers\n"
             "  dead list [--name NAME] [--limit N] [--json]\n"
             "                     show tasks that ran out of attempts (failed, timed out\n"
             "                     or crashed their worker): id, name, attempts, crashes,\n"
             "                     reason, error (--json: the broker's reply, with payloads)\n"
             "  dead retry (--id ID | --name NAME | --all)\n"
             "                     put dead tasks back in their queue with fresh attempts;\n"
             "                     prints how many\n"
             "  dead purge (--id ID | --name NAME | --all)\n"
             "                     delete dead tasks for good; prints how many\n"
             "  keygen --role ROLE [--dir DIR] NAME\n"
             "                     make a CURVE key pair: DIR/NAME.pub (public, with the role:\n"
             "                     producer, worker, admin or broker) and DIR/NAME.secret\n"
             "                     (private, mode 0600); never overwrites (SECURITY.md)\n"
             "\n"
             "options:\n"
             "  --endpoint EP      broker's producer endpoint (env FLING_PRODUCER_ENDPOINT,\n"
             "                     default " DEFAULT_ENDPOINT ")\n"
             "  --timeout-ms N     how long to wait for the broker (send, stats, dead: 5000;\n"
             "                     ping: 2000)\n"
             "  --curve-broker-key K  CURVE: the broker's .pub file or Z85 public key\n"
             "                     (env FLING_CURVE_BROKER_KEY)\n"
             "  --curve-key FILE   CURVE: this client's NAME.secret file (env FLING_CURVE_KEY)\n"
             "  --json             stats, dead: print the broker's reply as JSON\n"
             "  --name NAME        dead: only tasks of this name\n"
             "  --id ID            dead: only this task (as printed by send / dead list)\n"
             "  --all              dead retry/purge: every dead task\n"
             "  --limit N          dead list: show at most N tasks (broker default 100)\n"
             "  --max-attempts N   send: attempts before the task fails (0 = queue default)\n"
             "  --task-timeout-ms N  send: run time limit per attempt (0 = queue default)\n"
             "  --backoff-ms N     send: first retry delay (0 = queue default)\n"
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

static int parse_uint (const char *text, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long value = strtoul (text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || value > 0xffffffffUL)
        return -1;
    *out = (unsigned)value;
    return 0;
}

typedef struct {
    fling_cli_t cli;
    const char *positional[4];
    int positional_count;
    bool help, version;
} parsed_t;

/* Options that take a number, and where each one lands. */
static unsigned *number_option (parsed_t *p, const char *name)
{
    if (strcmp (name, "--timeout-ms") == 0)
        return &p->cli.timeout_ms;
    if (strcmp (name, "--max-attempts") == 0)
        return &p->cli.send.max_attempts;
    if (strcmp (name, "--task-timeout-ms") == 0)
        return &p->cli.send.timeout_ms;
    if (strcmp (name, "--backoff-ms") == 0)
        return &p->cli.send.backoff_ms;
    if (strcmp (name, "--limit") == 0) {
        p->cli.limit_set = true;
        return &p->cli.limit;
    }
    return NULL;
}

static bool *flag_option (parsed_t *p, const char *name)
{
    if (strcmp (name, "-h") == 0 || strcmp (name, "--help") == 0)
        return &p->help;
    if (strcmp (name, "--version") == 0)
        return &p->version;
    if (strcmp (name, "--json") == 0)
        return &p->cli.json;
    if (strcmp (name, "--all") == 0)
        return &p->cli.all;
    return NULL;
}

/* Options that take text, and where each one lands. */
static const char **text_option (parsed_t *p, const char *name)
{
    if (strcmp (name, "--endpoint") == 0)
        return &p->cli.endpoint;
    if (strcmp (name, "--name") == 0)
        return &p->cli.name;
    if (strcmp (name, "--id") == 0)
        return &p->cli.id;
    if (strcmp (name, "--curve-broker-key") == 0)
        return &p->cli.curve.broker_key;
    if (strcmp (name, "--curve-key") == 0)
        return &p->cli.curve.key;
    if (strcmp (name, "--role") == 0)
        return &p->cli.role;
    if (strcmp (name, "--dir") == 0)
        return &p->cli.dir;
    return NULL;
}

/* Handles one option at argv[*i] (and its value). Returns 0 or an exit code. */
static int parse_option (parsed_t *p, int argc, char **argv, int *i)
{
    char name[64];
    const char *arg = argv[*i], *value = NULL;
    const char *eq = strchr (arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen (arg);
    if (len >= sizeof name)
        return usage_error ("unknown option '%s'", arg);
    memcpy (name, arg, len);
    name[len] = '\0';
    bool *flag = flag_option (p, name);
    if (flag) {
        if (eq)
            return usage_error ("option '%s' takes no value", name);
        *flag = true;
        return 0;
    }
    unsigned *number = number_option (p, name);
    const char **text = number ? NULL : text_option (p, name);
    if (!number && !text)
        return usage_error ("unknown option '%s'", arg);
    if (eq)
        value = eq + 1;
    else if (*i + 1 < argc)
        value = argv[++*i];
    else
        return usage_error ("option '%s' needs a value", name);
    if (text) {
        if (!*value)
            return usage_error ("option '%s' needs a non-empty value", name);
        *text = value;
    } else if (parse_uint (value, number))
        return usage_error ("bad number '%s'", value);
    return 0;
}

static int parse_args (parsed_t *p, int argc, char **argv)
{
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && strcmp (arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && arg[0] == '-' && arg[1] != '\0') {
            int rc = parse_option (p, argc, argv, &i);
            if (rc)
                return rc;
            continue;
        }
        if (p->positional_count == 4)
            return usage_error ("too many arguments at '%s'", arg);
        p->positional[p->positional_count++] = arg;
    }
    return 0;
}

static int run_command (parsed_t *p)
{
    const char *command = p->positional[0];
    int args = p->positional_count - 1;
    if (strcmp (command, "send") == 0) {
        if (args < 1 || args > 2)
            return usage_error ("%s", "usage: fling send NAME [JSON|-]");
        const char *json = args == 2 ? p->positional[2] : NULL;
        if (json && strcmp (json, "-") == 0)
            json = NULL;
        return fling_cli_send (&p->cli, p->positional[1], json);
    }
    if (strcmp (command, "stats") == 0 || strcmp (command, "ping") == 0) {
        if (args != 0)
            return usage_error ("'%s' takes no arguments", command);
        return command[1] == 't' ? fling_cli_stats (&p->cli) : fling_cli_ping (&p->cli);
    }
    if (strcmp (command, "dead") == 0) {
        if (args != 1)
            return usage_error ("%s", "usage: fling dead list|retry|purge [selectors]");
        return fling_cli_dead (&p->cli, p->positional[1]);
    }
    if (strcmp (command, "keygen") == 0) {
        if (args != 1)
            return usage_error ("%s", "usage: fling keygen --role ROLE [--dir DIR] NAME");
        return fling_cli_keygen (&p->cli, p->positional[1]);
    }
    if (strcmp (command, "help") == 0) {
        usage (stdout);
        return FLING_CLI_EXIT_OK;
    }
    return usage_error ("unknown command '%s'", command);
}

int main (int argc, char **argv)
{
    parsed_t p = {.positional_count = 0};
    int rc = parse_args (&p, argc, argv);
    if (rc)
        return rc;
    if (p.help) {
        usage (stdout);
        return FLING_CLI_EXIT_OK;
    }
    if (p.version) {
        printf ("fling %s\n", FLING_VERSION);
        return FLING_CLI_EXIT_OK;
    }
    if (p.positional_count == 0)
        return usage_error ("%s", "no command given");
    if (!p.cli.endpoint) {
        const char *env = getenv ("FLING_PRODUCER_ENDPOINT");
        p.cli.endpoint = env && *env ? env : DEFAULT_ENDPOINT;
    }
    fling_curve_client_from_env (&p.cli.curve);
    return run_command (&p);
}
