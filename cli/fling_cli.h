/*  fling_cli.h - the subcommands of the `fling` command line.

    fling.c parses the command line into one fling_cli_t; each subcommand
    takes it and returns the process exit code: 0 success, 1 failure (a
    readable message is on stderr), 2 usage error.
*/
#ifndef FLING_CLI_H_INCLUDED
#define FLING_CLI_H_INCLUDED

#include <stdbool.h>

#include <czmq.h>

#include "fling_curve.h"
#include "fling_producer.h"

#define FLING_CLI_EXIT_OK    0
#define FLING_CLI_EXIT_FAIL  1
#define FLING_CLI_EXIT_USAGE 2

#include <stddef.h>

typedef struct {
    const char *endpoint;      /* broker's producer endpoint */
    unsigned timeout_ms;       /* 0 = the subcommand's default */
    bool json;                 /* stats, dead: print the broker's JSON as is */
    fling_send_options_t send; /* send: per-task options */
    /* dead: selectors */
    const char *name; /* --name: one queue (task name) */
    const char *id;   /* --id: one task */
    bool all;         /* --all */
    unsigned limit;   /* --limit (list): entries shown */
    bool limit_set;
    fling_curve_client_t curve; /* --curve-broker-key, --curve-key (or their env) */
    /* keygen */
    const char *role; /* --role */
    const char *dir;  /* --dir (default .) */
    /* top */
    unsigned interval_ms; /* --interval-ms: between refreshes */
    unsigned count;       /* --count: refreshes, then exit (0 = until q); schedule next: times */
    /* schedule */
    const char *cron;  /* --cron */
    uint64_t every_ms; /* --every */
    const char *tz;    /* --tz (NULL = UTC) */
    int missed;        /* --missed: fling_missed_t */
} fling_cli_t;

/*  `fling send NAME JSON`: one task; prints its id once accepted.
    `json` NULL: one JSON object per line of stdin, summary on stderr. */
int fling_cli_send (const fling_cli_t *cli, const char *name, const char *json);

/*  `fling stats [--json]`: asks the broker for its counters. */
int fling_cli_stats (const fling_cli_t *cli);

/*  `fling ping`: PING -> PONG; prints "ok". */
int fling_cli_ping (const fling_cli_t *cli);

/*  `fling dead list|retry|purge`: the broker's dead-letter queue.
    `action` is "list", "retry" or "purge"; selectors come from `cli`. */
int fling_cli_dead (const fling_cli_t *cli, const char *action);

/*  One ADMIN request (JSON text) -> the ADMIN_REPLY's JSON, NUL-terminated,
    in *reply_json (free() it). Returns an exit code; on failure a message
    is on stderr and *reply_json is NULL. */
int fling_cli_admin (const fling_cli_t *cli, const char *request_json, char **reply_json,
                     size_t *reply_size);

/*  A DEALER (linger 0) on the broker's producer endpoint, with the CURVE
    keys of `cli` if any, czmq's signal handler off; NULL after a message
    on stderr. */
zsock_t *fling_cli_connect (const fling_cli_t *cli);

/*  One ADMIN request on `sock`: the reply's JSON text (NUL-terminated,
    `*size` bytes; free() it), or NULL with the reason in `error` (no reply
    within timeout_ms, an ERROR, no memory). Prints nothing. */
char *fling_cli_request (zsock_t *sock, const char *request_json, unsigned timeout_ms, size_t *size,
                         char *error, size_t error_size);

/*  `fling task ID [--json]`: where one task is now. */
int fling_cli_task (const fling_cli_t *cli, const char *id);

/*  `fling events [--name NAME]`: lifecycle events as JSON lines until
    Ctrl-C or `count` events. */
int fling_cli_events (const fling_cli_t *cli, unsigned count);

/*  `fling top`: a live view of queues, rates and workers, redrawn every
    interval until 'q', Ctrl-C or `count` refreshes (0 = no end). */
int fling_cli_top (const fling_cli_t *cli, unsigned interval_ms, unsigned count);
/*  `fling queue purge NAME`: the waiting tasks of one name, removed. */
int fling_cli_queue (const fling_cli_t *cli, const char *action, const char *name);

/*  `fling schedule add|list|remove|next ...`: `args` are the words after
    "schedule" (fling_schedule_cli.c). */
int fling_cli_schedule (const fling_cli_t *cli, const char *const *args, size_t count);

/*  `fling queue pause|resume NAME`. */
int fling_cli_queue_pause (const fling_cli_t *cli, const char *action, const char *name);

/*  `fling keygen --role ROLE NAME`: writes DIR/NAME.pub and DIR/NAME.secret. */
int fling_cli_keygen (const fling_cli_t *cli, const char *name);

/*  Prints JSON text and a newline on stdout; returns an exit code. */
int fling_cli_print_json (const char *json, size_t json_size);

/*  Prints a stats reply (JSON text, not NUL-terminated) as readable tables.
    Returns an exit code (1 for a reply that holds {"error":...}). */
int fling_cli_print_stats (const char *json, size_t json_size);

#endif
