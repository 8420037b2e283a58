/*  fling_cli.h - the subcommands of the `fling` command line.

    fling.c parses the command line into one fling_cli_t; each subcommand
    takes it and returns the process exit code: 0 success, 1 failure (a
    readable message is on stderr), 2 usage error.
*/
#ifndef FLING_CLI_H_INCLUDED
#define FLING_CLI_H_INCLUDED

#include <stdbool.h>

#include "fling_producer.h"

#define FLING_CLI_EXIT_OK    0
#define FLING_CLI_EXIT_FAIL  1
#define FLING_CLI_EXIT_USAGE 2

typedef struct {
    const char *endpoint;      /* broker's producer endpoint */
    unsigned timeout_ms;       /* 0 = the subcommand's default */
    bool json;                 /* stats: print the broker's JSON as is */
    fling_send_options_t send; /* send: per-task options */
} fling_cli_t;

/*  `fling send NAME JSON`: one task; prints its id once accepted.
    `json` NULL: one JSON object per line of stdin, summary on stderr. */
int fling_cli_send (const fling_cli_t *cli, const char *name, const char *json);

/*  `fling stats [--json]`: asks the broker for its counters. */
int fling_cli_stats (const fling_cli_t *cli);

/*  `fling ping`: PING -> PONG; prints "ok". */
int fling_cli_ping (const fling_cli_t *cli);

/*  Prints a stats reply (JSON text, not NUL-terminated) as readable tables.
    Returns an exit code (1 for a reply that holds {"error":...}). */
int fling_cli_print_stats (const char *json, size_t json_size);

#endif
